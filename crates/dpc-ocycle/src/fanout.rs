//! The fan-out: one stream buffer, several consumers cutting their own chunks from it.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use crate::chunk::{ChunkError, Meta};
use crate::consumer::{Consumer, ConsumerStats, Exec, Flush, MAX_POOL, Sampler, Stats};
use crate::error::{BuildError, Error};
use crate::sample::{Sample, SampleRate};
use crate::sink::{Ctx, Pool, ProcessHooks, SerialSink, Sink, ThreadSink};

/// Default tolerance between a write's timestamp and the clock's expectation before the clock re-anchors.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_millis(10);

/// One producer, several consumers: each write is copied once into a shared stream buffer,
/// and each consumer cuts chunks of its own size from it.
///
/// Memory is bounded: the stream buffer holds at most `capacity` samples (default twice the largest chunk size),
/// and each thread or process consumer owns at most `workers + queue` pooled chunk buffers.
pub struct FanOut<T: Sample> {
    buf: Vec<T>,
    /// Stream index of `buf[0]`.
    base: u64,
    cap: usize,
    clock: Clock,
    slots: Vec<Slot<T>>,
    errors: VecDeque<ChunkError>,
    scratch: Vec<T>,
    closed: bool,
    /// The smallest next chunk start among the consumers (cached; changes only when a chunk is cut or flushed).
    min_next: u64,
    /// The stream length at which some consumer will have a full chunk (cached likewise).
    due: u64,
}

/// Builds a [`FanOut`]: the stream's clock and buffer, and its consumers.
#[must_use = "a builder does nothing until `build()` is called"]
pub struct FanOutBuilder<T: Sample> {
    rate: SampleRate,
    tolerance: Duration,
    capacity: Option<usize>,
    entries: Vec<Entry<T>>,
}

/// Starts consumer `i`'s sink, given the stream buffer's capacity.
type MakeSink<T> = Box<dyn FnOnce(usize, usize) -> Result<Box<dyn Sink<T>>, BuildError> + Send>;

struct Entry<T> {
    size: usize,
    clip: bool,
    hop: Option<usize>,
    sampler: Sampler,
    flush: Flush<T>,
    workers: Option<usize>,
    queue: usize,
    /// The process modes' timeout (`None` for the other modes).
    timeout: Option<Duration>,
    make: MakeSink<T>,
}

impl<T: Sample> FanOut<T> {
    /// A builder with rate 1 Hz (times count samples), tolerance [`DEFAULT_TOLERANCE`], and no consumers.
    pub fn builder() -> FanOutBuilder<T> {
        FanOutBuilder { rate: SampleRate::default(), tolerance: DEFAULT_TOLERANCE, capacity: None, entries: Vec::new() }
    }

    /// Writes samples that continue the stream; their time follows from the sample count.
    pub fn write(&mut self, data: &[T]) -> Result<(), Error> {
        self.write_inner(data, None)
    }

    /// Writes samples whose first one was taken at `time`.
    /// If `time` differs from the clock's expectation by more than the tolerance, the clock re-anchors there
    /// and the chunks spanning the jump are flagged as discontinuities; smaller differences are ignored, so jitter does not accumulate.
    pub fn write_at(&mut self, data: &[T], time: Duration) -> Result<(), Error> {
        self.write_inner(data, Some(time))
    }

    /// Delivers the results of finished callbacks (thread and process modes) without writing.
    pub fn poll(&mut self) {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let mut ctx = Ctx { consumer: i, stats: &mut slot.stats, errors: &mut self.errors };
            slot.sink.poll(&mut ctx);
        }
    }

    /// Ends the stream so far: each consumer's partial chunk is emitted short, padded or dropped as its
    /// [`Flush`] policy says, then every outstanding callback is waited for and its result delivered.
    /// Writing may continue afterwards; new chunks start at the next sample.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        self.flush_inner();
        Ok(())
    }

    /// Flushes, then stops and joins every worker and waits for child processes (each wait bounded by the
    /// consumer's [`timeout`](Consumer::timeout)).
    /// Idempotent: a second call does nothing and returns `Ok`. Later writes return [`Error::Closed`].
    ///
    /// Returns the first problem of a process-mode consumer, in consumer order: its failed chunks
    /// ([`Error::ChunksFailed`], with the counts), else a persistent child that exited unsuccessfully
    /// ([`Error::Child`]) or did not exit in time ([`Error::ChildTimeout`]).
    /// Failures of serial and thread callbacks are the caller's own results, delivered by `on_done` or kept for
    /// [`take_errors`](Self::take_errors), and are not repeated here.
    pub fn close(&mut self) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        self.flush_inner();
        self.closed = true;
        let mut first = Ok(());
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let mut ctx = Ctx { consumer: i, stats: &mut slot.stats, errors: &mut self.errors };
            let r = slot.sink.close(&mut ctx);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Samples written so far (the index the next sample will get).
    pub fn written(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// The stream's sample rate.
    pub fn rate(&self) -> SampleRate {
        self.clock.rate
    }

    /// Number of consumers.
    pub fn consumers(&self) -> usize {
        self.slots.len()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let written = self.written();
        Stats {
            samples_written: written,
            discontinuities: self.clock.discontinuities,
            consumers: self
                .slots
                .iter()
                .map(|s| {
                    let mut st = s.stats.clone();
                    // A pause that reaches past the samples written so far has not skipped them yet.
                    st.samples_skipped = s.cut.skipped - s.cut.next.saturating_sub(written);
                    st
                })
                .collect(),
        }
    }

    /// Takes the callback failures of consumers without `on_done` (the most recent 64 are kept).
    pub fn take_errors(&mut self) -> Vec<ChunkError> {
        self.errors.drain(..).collect()
    }

    fn write_inner(&mut self, mut data: &[T], time: Option<Duration>) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        if let Some(t) = time {
            self.clock.observe(self.written(), t);
        }
        while !data.is_empty() {
            let written = self.written();
            let (need, min_next) = self.needs(written);
            if need == written {
                // Nothing buffered is needed any more; samples that every consumer skips are not even copied.
                self.base = written;
                self.buf.clear();
                if min_next > written {
                    let skip = usize::try_from(min_next - written).unwrap_or(usize::MAX).min(data.len());
                    self.base += skip as u64;
                    data = &data[skip..];
                    continue;
                }
            }
            let mut free = self.cap - self.buf.len();
            if free < data.len() && need > self.base {
                // Compact: keep only the samples some consumer still needs. At most one chunk's worth moves.
                let off = (need - self.base) as usize;
                self.buf.copy_within(off.., 0);
                self.buf.truncate(self.buf.len() - off);
                self.base = need;
                free = self.cap - self.buf.len();
            }
            let n = free.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            self.cut();
        }
        Ok(())
    }

    /// The first buffered index some consumer still needs, and the smallest next chunk start (which may lie ahead).
    fn needs(&self, written: u64) -> (u64, u64) {
        (self.min_next.min(written), self.min_next)
    }

    fn cut(&mut self) {
        let written = self.written();
        if written < self.due {
            // The common case for small frames: no consumer has a full chunk yet.
            return;
        }
        let FanOut { buf, base, clock, slots, errors, .. } = self;
        for (i, slot) in slots.iter_mut().enumerate() {
            let c = &mut slot.cut;
            while c.next < written && written - c.next >= c.size {
                let start = c.next;
                let len = if c.clip { c.size } else { written - start };
                let meta = c.meta(clock, start, len, 0);
                let off = (start - *base) as usize;
                // Advance first: if `on_done` panics out of `emit`, the chunk is still counted once and never re-emitted.
                c.advance(clock.rate, start, len);
                let mut ctx = Ctx { consumer: i, stats: &mut slot.stats, errors };
                ctx.stats.chunks_cut += 1;
                slot.sink.emit(meta, &buf[off..off + len as usize], &mut ctx);
            }
        }
        self.positions_changed();
    }

    /// Recomputes what the write path caches about the consumers' positions, and forgets anchors no chunk can use.
    fn positions_changed(&mut self) {
        let mut min_next = u64::MAX;
        let mut due = u64::MAX;
        let mut keep = u64::MAX;
        for s in &self.slots {
            min_next = min_next.min(s.cut.next);
            due = due.min(s.cut.next.saturating_add(s.cut.size));
            keep = keep.min(s.cut.flag_from());
        }
        self.min_next = min_next;
        self.due = due;
        self.clock.prune(keep);
    }

    fn flush_inner(&mut self) {
        let written = self.written();
        let FanOut { buf, base, clock, slots, errors, scratch, .. } = self;
        for (i, slot) in slots.iter_mut().enumerate() {
            let c = &mut slot.cut;
            let mut ctx = Ctx { consumer: i, stats: &mut slot.stats, errors };
            if c.next < written && written > c.delivered {
                let start = c.next;
                let real = written - start;
                let data = &buf[(start - *base) as usize..];
                match c.flush {
                    Flush::Short => {
                        let meta = c.meta(clock, start, real, 0);
                        c.emitted(start, written);
                        c.next = written;
                        ctx.stats.chunks_cut += 1;
                        slot.sink.emit(meta, data, &mut ctx);
                    }
                    Flush::Pad(value) => {
                        let size = c.size.max(real);
                        let padded = (size - real) as usize;
                        scratch.clear();
                        scratch.extend_from_slice(data);
                        scratch.resize(size as usize, value);
                        let meta = c.meta(clock, start, size, padded);
                        c.emitted(start, written);
                        c.next = written;
                        ctx.stats.chunks_cut += 1;
                        ctx.stats.samples_padded += padded as u64;
                        slot.sink.emit(meta, scratch, &mut ctx);
                    }
                    Flush::Drop => {
                        ctx.stats.samples_discarded += written - start.max(c.delivered);
                        c.delivered = written;
                    }
                }
                c.next = written;
            } else if c.next < written {
                // Everything buffered was already delivered in an overlapping window.
                c.next = written;
            }
            slot.sink.drain(&mut ctx);
        }
        self.positions_changed();
    }
}

impl<T: Sample> Drop for FanOut<T> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl<T: Sample> fmt::Debug for FanOut<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("written", &self.written())
            .field("capacity", &self.cap)
            .field("rate", &self.clock.rate)
            .field("consumers", &self.slots.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<T: Sample> FanOutBuilder<T> {
    /// The stream's sample rate (default 1 Hz, so times count samples).
    pub fn rate(mut self, rate: SampleRate) -> Self {
        self.rate = rate;
        self
    }

    /// How far a write's timestamp may be from the clock's expectation before the clock re-anchors (default 10 ms).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The stream buffer's capacity in samples (default twice the largest chunk size, which bounds the copying
    /// done to compact it to at most one extra copy per sample, and to none when chunk sizes divide it).
    pub fn capacity(mut self, samples: usize) -> Self {
        self.capacity = Some(samples);
        self
    }

    /// Adds a consumer.
    pub fn consumer<R: Send + 'static>(mut self, consumer: Consumer<T, R>) -> Self {
        let Consumer { size, clip, hop, sampler, flush, policy, queue, timeout, exec, on_done } = consumer;
        // A chunk is never longer than the stream buffer, so neither is a pooled buffer.
        let buf_hint = move |cap: usize| if clip { size } else { size.saturating_mul(2) }.min(cap);
        let (workers, process, make): (Option<usize>, bool, MakeSink<T>) = match exec {
            Exec::Serial(f) => {
                (None, false, Box::new(move |_, _| Ok(Box::new(SerialSink::new(f, on_done)) as Box<dyn Sink<T>>)))
            }
            Exec::Threads(n, f) => (
                Some(n),
                false,
                Box::new(move |i, cap| {
                    let pool = Pool { workers: n, queue, buf_hint: buf_hint(cap), policy };
                    Ok(Box::new(ThreadSink::new(i, pool, f, on_done, None)?) as Box<dyn Sink<T>>)
                }),
            ),
            Exec::Process { workers, command, start, .. } => (
                Some(workers),
                true,
                Box::new(move |i, cap| {
                    let (f, finish) = start(i, timeout)?;
                    let pool = Pool { workers, queue, buf_hint: buf_hint(cap), policy };
                    let process = ProcessHooks { command, finish };
                    Ok(Box::new(ThreadSink::new(i, pool, f, on_done, Some(process))?) as Box<dyn Sink<T>>)
                }),
            ),
        };
        self.entries.push(Entry {
            size,
            clip,
            hop,
            sampler,
            flush,
            workers,
            queue,
            timeout: process.then_some(timeout),
            make,
        });
        self
    }

    /// Validates everything, then starts workers and child processes.
    pub fn build(self) -> Result<FanOut<T>, BuildError> {
        let FanOutBuilder { rate, tolerance, capacity, entries } = self;
        if entries.is_empty() {
            return Err(BuildError::NoConsumers);
        }
        if !rate.is_valid() {
            return Err(BuildError::InvalidRate { num: rate.num(), den: rate.den() });
        }
        for (i, e) in entries.iter().enumerate() {
            if e.size == 0 {
                return Err(BuildError::ZeroSize { consumer: i });
            }
            match e.hop {
                Some(0) => return Err(BuildError::ZeroHop { consumer: i }),
                Some(h) if h != e.size && !e.clip => return Err(BuildError::HopWithoutClip { consumer: i }),
                _ => {}
            }
            if let Some(workers) = e.workers {
                if workers == 0 {
                    return Err(BuildError::ZeroWorkers { consumer: i });
                }
                if workers.checked_add(e.queue).is_none_or(|pool| pool > MAX_POOL) {
                    return Err(BuildError::PoolTooLarge { consumer: i, workers, queue: e.queue });
                }
            }
            if e.timeout == Some(Duration::ZERO) {
                return Err(BuildError::ZeroTimeout { consumer: i });
            }
            if !e.sampler.is_valid() {
                return Err(BuildError::InvalidSampler { consumer: i });
            }
        }
        let largest = entries.iter().map(|e| e.size).max().unwrap_or(1);
        let cap = match capacity {
            Some(c) if c < largest => return Err(BuildError::BufferTooSmall { capacity: c, needed: largest }),
            Some(c) => c,
            None => largest.saturating_mul(2),
        };
        // The whole stream buffer is allocated here, so a capacity the machine cannot hold is an error now,
        // never an abort or a capacity-overflow panic later.
        let mut buf = Vec::new();
        buf.try_reserve_exact(cap)
            .map_err(|_| BuildError::BufferAlloc { capacity: cap, sample_bytes: std::mem::size_of::<T>() })?;
        let mut slots = Vec::with_capacity(entries.len());
        for (i, e) in entries.into_iter().enumerate() {
            let sink = (e.make)(i, cap)?;
            slots.push(Slot {
                cut: Cutter {
                    size: e.size as u64,
                    clip: e.clip,
                    hop: e.hop.unwrap_or(e.size) as u64,
                    sampler: e.sampler,
                    flush: e.flush,
                    next: 0,
                    seq: 0,
                    prev_start: None,
                    delivered: 0,
                    skipped: 0,
                },
                sink,
                stats: ConsumerStats::default(),
            });
        }
        let mut fan = FanOut {
            buf,
            base: 0,
            cap,
            clock: Clock { rate, tolerance, anchors: VecDeque::with_capacity(16), discontinuities: 0 },
            slots,
            errors: VecDeque::new(),
            scratch: Vec::new(),
            closed: false,
            min_next: 0,
            due: 0,
        };
        fan.positions_changed();
        Ok(fan)
    }
}

impl<T: Sample> fmt::Debug for FanOutBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOutBuilder")
            .field("rate", &self.rate)
            .field("tolerance", &self.tolerance)
            .field("capacity", &self.capacity)
            .field("consumers", &self.entries.len())
            .finish()
    }
}

struct Slot<T> {
    cut: Cutter<T>,
    sink: Box<dyn Sink<T>>,
    stats: ConsumerStats,
}

/// One consumer's position in the stream.
struct Cutter<T> {
    size: u64,
    clip: bool,
    hop: u64,
    sampler: Sampler,
    flush: Flush<T>,
    /// Start of the next chunk (may lie beyond the samples written, during a pause).
    next: u64,
    seq: u64,
    prev_start: Option<u64>,
    /// End of the furthest chunk emitted (or discarded at flush).
    delivered: u64,
    /// Samples in gaps between chunks, including the part of the current pause not yet written.
    skipped: u64,
}

impl<T> Cutter<T> {
    fn meta(&self, clock: &Clock, start: u64, len: u64, padded: usize) -> Meta {
        let (time, end_time) = clock.span(start, start + len);
        let real_end = start + len - padded as u64;
        Meta {
            seq: self.seq,
            start,
            len: len as usize,
            padded,
            time,
            end_time,
            discontinuity: clock.jump_in(self.flag_from(), real_end),
        }
    }

    /// Anchors from here on may still flag this consumer's next chunk.
    fn flag_from(&self) -> u64 {
        self.prev_start.map_or(0, |p| p + 1)
    }

    fn emitted(&mut self, start: u64, end: u64) {
        self.seq += 1;
        self.prev_start = Some(start);
        self.delivered = self.delivered.max(end);
    }

    fn advance(&mut self, rate: SampleRate, start: u64, len: u64) {
        let end = start + len;
        self.emitted(start, end);
        let skip = self.sampler.next_skip(rate);
        let step = if self.clip { start + self.hop } else { end };
        // After a pause the next chunk starts past it, so a chunk never spans a gap.
        self.next = if skip > 0 { step.max(end.saturating_add(skip)) } else { step };
        if self.next > self.delivered {
            self.skipped += self.next - self.delivered;
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Anchor {
    index: u64,
    time: Duration,
    jump: bool,
}

/// Sample index to time: the last anchor before an index plus the samples since, at the stream's rate.
struct Clock {
    rate: SampleRate,
    tolerance: Duration,
    anchors: VecDeque<Anchor>,
    discontinuities: u64,
}

impl Clock {
    fn anchor_for(&self, index: u64) -> (u64, Duration) {
        self.anchors.iter().rev().find(|a| a.index <= index).map_or((0, Duration::ZERO), |a| (a.index, a.time))
    }

    fn time_at(&self, index: u64) -> Duration {
        let (ai, at) = self.anchor_for(index);
        at.saturating_add(self.rate.duration_of(index - ai))
    }

    fn span(&self, start: u64, end: u64) -> (Duration, Duration) {
        let (ai, at) = self.anchor_for(start);
        (at.saturating_add(self.rate.duration_of(start - ai)), at.saturating_add(self.rate.duration_of(end - ai)))
    }

    fn jump_in(&self, from: u64, end: u64) -> bool {
        self.anchors.iter().any(|a| a.jump && a.index >= from && a.index < end)
    }

    fn observe(&mut self, index: u64, time: Duration) {
        if self.anchors.is_empty() {
            // The first timestamp sets the timeline; it is not a jump.
            self.anchors.push_back(Anchor { index, time, jump: false });
            return;
        }
        let expected = self.time_at(index);
        let off = time.abs_diff(expected);
        if off <= self.tolerance {
            return;
        }
        self.discontinuities += 1;
        match self.anchors.back_mut() {
            Some(last) if last.index == index => {
                last.time = time;
                last.jump = true;
            }
            _ => self.anchors.push_back(Anchor { index, time, jump: true }),
        }
    }

    /// Forgets anchors that no future chunk (starting at `keep` or later) can use.
    fn prune(&mut self, keep: u64) {
        while self.anchors.len() >= 2 && self.anchors[1].index <= keep {
            self.anchors.pop_front();
        }
    }
}
