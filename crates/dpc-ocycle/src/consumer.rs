//! A consumer's configuration: chunk size and shape, execution mode, backpressure, sampler, flush.

use std::fmt;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::chunk::{Chunk, Done, ProcessOutput};
use crate::error::{BoxError, BuildError};
use crate::process::{child_per_chunk, persistent_child};
use crate::sample::{Sample, SampleRate};
use crate::sink::Finish;

pub(crate) type SerialFn<T, R> = Box<dyn FnMut(&Chunk<'_, T>) -> Result<R, BoxError> + Send>;
pub(crate) type SharedFn<T, R> = Arc<dyn Fn(&Chunk<'_, T>) -> Result<R, BoxError> + Send + Sync>;
pub(crate) type OnDone<R> = Box<dyn FnMut(Done<R>) + Send>;

/// How long a process-mode consumer waits for its child by default: for a persistent child to take one chunk
/// on its stdin, or to exit once its stdin is closed at `close`; for a per-chunk child to take its chunk, answer
/// and exit. Set it per consumer with [`Consumer::timeout`].
pub const DEFAULT_PROCESS_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest pool a thread or process consumer may have: `workers + queue` buffers.
/// Each worker is a thread and each pooled buffer a slot in two channels allocated at build,
/// so the pool is bounded like the stream buffer is.
pub const MAX_POOL: usize = 1 << 16;

/// What happens when a thread or process consumer has no free buffer (every pooled buffer is queued or in a callback).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Wait for a callback to finish (lossless; the writer slows to the consumer's pace).
    #[default]
    Block,
    /// Discard the oldest chunk still waiting in the queue and reuse its buffer
    /// (if none is waiting, because every buffer is inside a callback, the new chunk is dropped instead).
    DropOldest,
    /// Discard the chunk being emitted.
    DropNewest,
}

/// What `flush` (end of stream) does with buffered samples that do not fill a chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Flush<T> {
    /// Emit them as a short chunk.
    #[default]
    Short,
    /// Emit a full-size chunk: them, then this value repeated.
    Pad(T),
    /// Discard them (counted in `samples_discarded`).
    Drop,
}

/// How long to pause writing after each emitted chunk, measured on the stream's clock in samples
/// (so it is deterministic and independent of how long callbacks take).
///
/// Samples written during the pause are skipped (counted in `samples_skipped`), and so is any remainder
/// buffered past the emitted chunk, so a chunk never spans a gap.
pub struct Sampler(pub(crate) SamplerKind);

pub(crate) enum SamplerKind {
    Off,
    Fixed(Duration),
    Samples(u64),
    Uniform { min: Duration, max: Duration, state: u64 },
    With(Box<dyn FnMut() -> Duration + Send>),
}

impl Sampler {
    /// No pause: the stream is collected continuously (the default).
    pub fn off() -> Self {
        Sampler(SamplerKind::Off)
    }

    /// Pause for a fixed duration after each emit.
    pub fn fixed(d: Duration) -> Self {
        Sampler(SamplerKind::Fixed(d))
    }

    /// Pause for a fixed number of samples after each emit.
    pub fn samples(n: u64) -> Self {
        Sampler(SamplerKind::Samples(n))
    }

    /// Pause for a duration drawn uniformly from `min ..= max` after each emit, from a seeded generator
    /// (the same seed gives the same pauses).
    pub fn uniform(min: Duration, max: Duration, seed: u64) -> Self {
        Sampler(SamplerKind::Uniform { min, max, state: seed })
    }

    /// Pause for the duration `f` returns after each emit.
    pub fn with(f: impl FnMut() -> Duration + Send + 'static) -> Self {
        Sampler(SamplerKind::With(Box::new(f)))
    }

    pub(crate) fn is_valid(&self) -> bool {
        match &self.0 {
            SamplerKind::Uniform { min, max, .. } => min <= max,
            _ => true,
        }
    }

    /// The number of samples to skip after an emit.
    pub(crate) fn next_skip(&mut self, rate: SampleRate) -> u64 {
        match &mut self.0 {
            SamplerKind::Off => 0,
            SamplerKind::Fixed(d) => rate.samples_in(*d),
            SamplerKind::Samples(n) => *n,
            SamplerKind::Uniform { min, max, state } => {
                let span = (*max - *min).as_nanos();
                let r = u128::from(splitmix64(state));
                let d = *min + crate::sample::duration_from_nanos(if span == 0 { 0 } else { r % (span + 1) });
                rate.samples_in(d)
            }
            SamplerKind::With(f) => rate.samples_in(f()),
        }
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::off()
    }
}

impl fmt::Debug for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            SamplerKind::Off => write!(f, "Sampler::off()"),
            SamplerKind::Fixed(d) => write!(f, "Sampler::fixed({d:?})"),
            SamplerKind::Samples(n) => write!(f, "Sampler::samples({n})"),
            SamplerKind::Uniform { min, max, .. } => write!(f, "Sampler::uniform({min:?}, {max:?})"),
            SamplerKind::With(_) => write!(f, "Sampler::with(..)"),
        }
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) enum Exec<T, R> {
    Serial(SerialFn<T, R>),
    Threads(usize, SharedFn<T, R>),
    /// Process modes become thread mode at build: `start` spawns what is needed and returns the callback
    /// and, for a persistent child, the hook that closes its stdin and waits for it.
    Process {
        desc: String,
        /// The command, as `Debug` prints it (for errors).
        command: String,
        workers: usize,
        start: StartProcess<T, R>,
    },
}

/// Starts a process mode for consumer `i` with a timeout.
pub(crate) type StartProcess<T, R> =
    Box<dyn FnOnce(usize, Duration) -> Result<(SharedFn<T, R>, Option<Finish>), BuildError> + Send>;

/// One consumer of the stream: its chunk size and shape, its callback and how it runs, and its policies.
///
/// Built with [`serial`](Consumer::serial), [`threads`](Consumer::threads), [`process`](Consumer::process)
/// or [`process_per_chunk`](Consumer::process_per_chunk), refined with the setters, and validated when the
/// [`FanOut`](crate::FanOut) or [`Emitter`](crate::Emitter) is built.
#[must_use = "a consumer does nothing until it is added to a `FanOut` or an `Emitter`"]
pub struct Consumer<T, R = ()> {
    pub(crate) size: usize,
    pub(crate) clip: bool,
    pub(crate) hop: Option<usize>,
    pub(crate) sampler: Sampler,
    pub(crate) flush: Flush<T>,
    pub(crate) policy: Policy,
    pub(crate) queue: usize,
    pub(crate) timeout: Duration,
    pub(crate) exec: Exec<T, R>,
    pub(crate) on_done: Option<OnDone<R>>,
}

impl<T: Sample, R: Send + 'static> Consumer<T, R> {
    fn new(size: usize, exec: Exec<T, R>) -> Self {
        Consumer {
            size,
            clip: false,
            hop: None,
            sampler: Sampler::off(),
            flush: Flush::Short,
            policy: Policy::Block,
            queue: 2,
            timeout: DEFAULT_PROCESS_TIMEOUT,
            exec,
            on_done: None,
        }
    }

    /// Runs `f` on the writer's thread, on a borrowed view of the stream buffer (no copy).
    pub fn serial(size: usize, f: impl FnMut(&Chunk<'_, T>) -> Result<R, BoxError> + Send + 'static) -> Self {
        Self::new(size, Exec::Serial(Box::new(f)))
    }

    /// Runs `f` on `workers` persistent threads; each chunk is copied into a pooled buffer.
    pub fn threads(
        size: usize,
        workers: usize,
        f: impl Fn(&Chunk<'_, T>) -> Result<R, BoxError> + Send + Sync + 'static,
    ) -> Self {
        Self::new(size, Exec::Threads(workers, Arc::new(f)))
    }

    /// Emit exactly `size` samples per chunk (`true`), or the whole buffer once it holds at least `size` (`false`, the default).
    pub fn clip(mut self, clip: bool) -> Self {
        self.clip = clip;
        self
    }

    /// Start a window every `hop` samples (needs `clip(true)`): `hop < size` overlaps windows, `hop > size` skips samples between them.
    pub fn hop(mut self, hop: usize) -> Self {
        self.hop = Some(hop);
        self
    }

    /// Pause writing after each emit.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// What `flush` does with a partial chunk (default [`Flush::Short`]).
    pub fn flush(mut self, flush: Flush<T>) -> Self {
        self.flush = flush;
        self
    }

    /// What happens when no pooled buffer is free (thread and process modes; default [`Policy::Block`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Chunks that may wait for a worker (default 2); the buffer pool holds `workers + queue` buffers.
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue;
        self
    }

    /// Receives every callback result on the producer's thread, in emission order
    /// (during `write`, `poll`, `flush` and `close`); dropped chunks have none.
    pub fn on_done(mut self, f: impl FnMut(Done<R>) + Send + 'static) -> Self {
        self.on_done = Some(Box::new(f));
        self
    }
}

impl<T: Sample> Consumer<T, ProcessOutput> {
    /// Starts `command` once, at build, and writes every chunk's samples (little-endian bytes) to its stdin, in order,
    /// from one worker thread; `close` closes its stdin and waits for it to exit.
    /// The command's stdout and stderr are whatever `command` says (inherited by default).
    ///
    /// Every wait is bounded by the [`timeout`](Consumer::timeout): a chunk the child does not take within it fails,
    /// the child is killed and every later chunk fails at once; a child that does not exit within it after its stdin
    /// closed is killed. A failed write (a child that exited early) likewise fails every later chunk at once.
    /// `close` reports failed chunks as [`Error::ChunksFailed`](crate::Error::ChunksFailed).
    pub fn process(size: usize, command: Command) -> Self {
        let desc = format!("process({command:?})");
        let name = format!("{command:?}");
        let start: StartProcess<T, ProcessOutput> = Box::new(move |i, timeout| {
            let (f, finish) = persistent_child::<T>(i, command, timeout)?;
            Ok((f, Some(finish)))
        });
        Self::new(size, Exec::Process { desc, command: name, workers: 1, start })
    }

    /// Starts `command` once per chunk on `workers` threads, writes the chunk's bytes to its stdin and collects its stdout
    /// as the chunk's result; a non-zero exit is a callback error.
    /// The child sees `OCYCLE_SEQ`, `OCYCLE_START` and `OCYCLE_LEN` in its environment.
    ///
    /// A child that has not exited within the [`timeout`](Consumer::timeout) is killed and its chunk fails
    /// with an [`io::ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut) error.
    /// `close` reports failed chunks as [`Error::ChunksFailed`](crate::Error::ChunksFailed).
    pub fn process_per_chunk(size: usize, workers: usize, command: Command) -> Self {
        let desc = format!("process_per_chunk({workers}, {command:?})");
        let name = format!("{command:?}");
        let start: StartProcess<T, ProcessOutput> =
            Box::new(move |_, timeout| Ok((child_per_chunk::<T>(command, timeout), None)));
        Self::new(size, Exec::Process { desc, command: name, workers, start })
    }

    /// Bounds every wait for a child process (default [`DEFAULT_PROCESS_TIMEOUT`], 10 s; process modes only):
    /// see [`process`](Consumer::process) and [`process_per_chunk`](Consumer::process_per_chunk).
    /// A timeout of zero is rejected at build.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<T: fmt::Debug, R> fmt::Debug for Consumer<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.exec {
            Exec::Serial(_) => "serial".to_string(),
            Exec::Threads(n, _) => format!("threads({n})"),
            Exec::Process { desc, .. } => desc.clone(),
        };
        f.debug_struct("Consumer")
            .field("size", &self.size)
            .field("clip", &self.clip)
            .field("hop", &self.hop)
            .field("sampler", &self.sampler)
            .field("flush", &self.flush)
            .field("policy", &self.policy)
            .field("queue", &self.queue)
            .field("timeout", &self.timeout)
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

/// Counters of one consumer.
///
/// Every sample written is, for each consumer, either in an emitted chunk or counted in exactly one of
/// `samples_skipped` (sampler pauses and hop gaps), `samples_dropped` (chunks dropped by backpressure; overlapping
/// windows may count a sample twice) or `samples_discarded` (flushed with [`Flush::Drop`]),
/// except the partial chunk still buffered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// Chunks cut from the stream (the next sequence number).
    /// Once the emitter is flushed, `chunks_cut = chunks_completed + chunks_failed + chunks_dropped`.
    pub chunks_cut: u64,
    /// Chunks whose callback succeeded.
    pub chunks_completed: u64,
    /// Chunks whose callback failed: it returned an error (`callback_errors`; in process modes also a child that
    /// failed, timed out or stopped taking input) or panicked (`callback_panics`).
    pub chunks_failed: u64,
    /// Chunks discarded by the backpressure policy.
    pub chunks_dropped: u64,
    /// Stream samples in the dropped chunks (pad values excluded).
    pub samples_dropped: u64,
    /// Samples never put in a chunk because of a sampler pause or a hop larger than the size.
    pub samples_skipped: u64,
    /// Samples discarded at flush by [`Flush::Drop`].
    pub samples_discarded: u64,
    /// Pad values added at flush by [`Flush::Pad`].
    pub samples_padded: u64,
    /// Callbacks that returned an error.
    pub callback_errors: u64,
    /// Callbacks that panicked.
    pub callback_panics: u64,
}

/// Counters of a fan-out: the stream and each consumer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Samples written so far.
    pub samples_written: u64,
    /// Timestamps that were off by more than the tolerance and re-anchored the clock.
    pub discontinuities: u64,
    /// One entry per consumer, in the order they were added.
    pub consumers: Vec<ConsumerStats>,
}
