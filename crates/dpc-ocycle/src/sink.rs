//! Where chunks go once cut: run inline (serial), or copied into a pooled buffer and handed to worker threads.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded};

use crate::chunk::{Chunk, ChunkError, Done, Meta};
use crate::consumer::{ConsumerStats, OnDone, Policy, SerialFn, SharedFn};
use crate::error::{BoxError, BuildError, CallbackError, Error, panic_message};
use crate::sample::Sample;

/// Failures kept for `take_errors` when a consumer has no `on_done`: the most recent ones, bounded.
pub(crate) const ERROR_LOG_CAP: usize = 64;

/// What a sink may update while it works.
pub(crate) struct Ctx<'a> {
    pub consumer: usize,
    pub stats: &'a mut ConsumerStats,
    pub errors: &'a mut VecDeque<ChunkError>,
}

/// One consumer's execution mode.
pub(crate) trait Sink<T>: Send {
    /// Hands over a chunk; `data` is only borrowed for the call.
    fn emit(&mut self, meta: Meta, data: &[T], ctx: &mut Ctx<'_>);
    /// Delivers results that are ready, without waiting.
    fn poll(&mut self, ctx: &mut Ctx<'_>);
    /// Waits for every chunk handed over so far and delivers its result.
    fn drain(&mut self, ctx: &mut Ctx<'_>);
    /// Drains, then stops and joins the workers (and a child process); idempotent.
    fn close(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error>;
}

fn run_callback<R>(f: impl FnOnce() -> Result<R, BoxError>) -> Result<R, CallbackError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(CallbackError::Failed(e)),
        Err(payload) => Err(CallbackError::Panicked(panic_message(&*payload))),
    }
}

fn deliver<R>(on_done: &mut Option<OnDone<R>>, meta: Meta, result: Result<R, CallbackError>, ctx: &mut Ctx<'_>) {
    match &result {
        Ok(_) => ctx.stats.chunks_completed += 1,
        Err(e) => {
            ctx.stats.chunks_failed += 1;
            match e {
                CallbackError::Failed(_) => ctx.stats.callback_errors += 1,
                CallbackError::Panicked(_) => ctx.stats.callback_panics += 1,
            }
        }
    }
    match on_done {
        Some(f) => f(Done::new(meta, result)),
        None => {
            if let Err(error) = result {
                if ctx.errors.len() == ERROR_LOG_CAP {
                    ctx.errors.pop_front();
                }
                ctx.errors.push_back(ChunkError { consumer: ctx.consumer, seq: meta.seq, start: meta.start, error });
            }
        }
    }
}

/// Serial mode: the callback runs on the writer's thread on a borrowed view of the stream buffer.
pub(crate) struct SerialSink<T, R> {
    f: SerialFn<T, R>,
    on_done: Option<OnDone<R>>,
}

impl<T, R> SerialSink<T, R> {
    pub fn new(f: SerialFn<T, R>, on_done: Option<OnDone<R>>) -> Self {
        SerialSink { f, on_done }
    }
}

impl<T: Sample, R: Send + 'static> Sink<T> for SerialSink<T, R> {
    fn emit(&mut self, meta: Meta, data: &[T], ctx: &mut Ctx<'_>) {
        let chunk = Chunk { meta, data };
        let f = &mut self.f;
        let result = run_callback(|| f(&chunk));
        deliver(&mut self.on_done, meta, result, ctx);
    }

    fn poll(&mut self, _ctx: &mut Ctx<'_>) {}

    fn drain(&mut self, _ctx: &mut Ctx<'_>) {}

    fn close(&mut self, _ctx: &mut Ctx<'_>) -> Result<(), Error> {
        Ok(())
    }
}

struct Job<T> {
    meta: Meta,
    buf: Vec<T>,
}

struct Finished<T, R> {
    meta: Meta,
    result: Result<R, CallbackError>,
    buf: Vec<T>,
}

/// A chunk handed to the workers whose result has not been delivered yet.
struct InFlight<R> {
    seq: u64,
    done: Option<(Meta, Result<R, CallbackError>)>,
}

pub(crate) type Finish = Box<dyn FnOnce(usize) -> Result<(), Error> + Send>;

/// A thread or process consumer's pool: `workers + queue` buffers of `buf_hint` samples, and what to do when none is free.
pub(crate) struct Pool {
    pub workers: usize,
    pub queue: usize,
    pub buf_hint: usize,
    pub policy: Policy,
}

/// What a process-mode consumer adds to thread mode: failed chunks are reported at close,
/// and a persistent child is waited for.
pub(crate) struct ProcessHooks {
    /// The command, as `Debug` prints it.
    pub command: String,
    pub finish: Option<Finish>,
}

/// A process consumer's record of its failures, for `close`.
struct ProcessState {
    command: String,
    first_failure: Option<String>,
}

/// Thread mode (and process mode, which is thread mode with a callback that feeds a child):
/// each chunk is copied into a buffer from a bounded pool and sent to persistent workers over a bounded channel;
/// buffers come back with the results, which are delivered in emission order.
pub(crate) struct ThreadSink<T, R> {
    job_tx: Option<Sender<Job<T>>>,
    /// The producer's own receiver, to take back the oldest waiting chunk under [`Policy::DropOldest`].
    job_rx: Receiver<Job<T>>,
    done_rx: Receiver<Finished<T, R>>,
    workers: Vec<JoinHandle<()>>,
    free: Vec<Vec<T>>,
    allocated: usize,
    pool: usize,
    buf_hint: usize,
    policy: Policy,
    /// Chunks sent and not yet delivered, in sequence order; never longer than the pool.
    in_flight: VecDeque<InFlight<R>>,
    on_done: Option<OnDone<R>>,
    finish: Option<Finish>,
    process: Option<ProcessState>,
}

impl<T: Sample, R: Send + 'static> ThreadSink<T, R> {
    /// Starts the workers of consumer `consumer`; `pool.workers + pool.queue` was checked against `MAX_POOL`.
    pub fn new(
        consumer: usize,
        pool: Pool,
        f: SharedFn<T, R>,
        on_done: Option<OnDone<R>>,
        process: Option<ProcessHooks>,
    ) -> Result<Self, BuildError> {
        let Pool { workers, queue, buf_hint, policy } = pool;
        let pool = workers + queue;
        // Every job and every finished message carries one of the `pool` buffers, so neither channel can fill up.
        let (job_tx, job_rx) = bounded::<Job<T>>(pool);
        let (done_tx, done_rx) = bounded::<Finished<T, R>>(pool);
        let (finish, process) = match process {
            Some(ProcessHooks { command, finish }) => (finish, Some(ProcessState { command, first_failure: None })),
            None => (None, None),
        };
        let mut sink = ThreadSink {
            job_tx: Some(job_tx),
            job_rx: job_rx.clone(),
            done_rx,
            workers: Vec::with_capacity(workers),
            free: Vec::with_capacity(pool),
            allocated: 0,
            pool,
            buf_hint,
            policy,
            in_flight: VecDeque::with_capacity(pool),
            on_done,
            finish,
            process,
        };
        for _ in 0..workers {
            let rx = job_rx.clone();
            let tx = done_tx.clone();
            let f = Arc::clone(&f);
            let handle = std::thread::Builder::new()
                .name("ocycle-worker".into())
                .spawn(move || worker(&rx, &tx, &*f))
                // Dropping `sink` stops and joins the workers already started (and a child process).
                .map_err(|source| BuildError::Thread { consumer, source })?;
            sink.workers.push(handle);
        }
        Ok(sink)
    }

    fn position(&self, seq: u64) -> Option<usize> {
        self.in_flight.binary_search_by_key(&seq, |e| e.seq).ok()
    }

    fn finished(&mut self, fin: Finished<T, R>) {
        self.free.push(fin.buf);
        if let Some(i) = self.position(fin.meta.seq) {
            self.in_flight[i].done = Some((fin.meta, fin.result));
        }
    }

    fn collect(&mut self) {
        while let Ok(fin) = self.done_rx.try_recv() {
            self.finished(fin);
        }
    }

    fn deliver_ready(&mut self, ctx: &mut Ctx<'_>) {
        while self.in_flight.front().is_some_and(|e| e.done.is_some()) {
            let entry = self.in_flight.pop_front().expect("front exists");
            let (meta, result) = entry.done.expect("checked");
            if let (Some(p), Err(e)) = (&mut self.process, &result) {
                p.first_failure.get_or_insert_with(|| e.to_string());
            }
            deliver(&mut self.on_done, meta, result, ctx);
        }
    }

    fn take_buffer(&mut self, ctx: &mut Ctx<'_>) -> Option<Vec<T>> {
        if let Some(b) = self.free.pop() {
            return Some(b);
        }
        if self.allocated < self.pool {
            self.allocated += 1;
            return Some(Vec::with_capacity(self.buf_hint));
        }
        match self.policy {
            Policy::Block => loop {
                let fin = self.done_rx.recv().ok()?;
                self.finished(fin);
                self.deliver_ready(ctx);
                if let Some(b) = self.free.pop() {
                    return Some(b);
                }
            },
            Policy::DropNewest => None,
            Policy::DropOldest => match self.job_rx.try_recv() {
                Ok(job) => {
                    if let Some(i) = self.position(job.meta.seq) {
                        self.in_flight.remove(i);
                    }
                    ctx.stats.chunks_dropped += 1;
                    ctx.stats.samples_dropped += (job.meta.len - job.meta.padded) as u64;
                    Some(job.buf)
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => None,
            },
        }
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        self.job_tx = None;
        for h in self.workers.drain(..) {
            // Workers catch callback panics, so a join error would be a bug in this crate; nothing is lost by ignoring it.
            let _ = h.join();
        }
        match self.finish.take() {
            Some(finish) => finish(usize::MAX),
            None => Ok(()),
        }
    }
}

fn worker<T, R>(
    rx: &Receiver<Job<T>>,
    tx: &Sender<Finished<T, R>>,
    f: &(dyn Fn(&Chunk<'_, T>) -> Result<R, BoxError> + Send + Sync),
) {
    while let Ok(job) = rx.recv() {
        let chunk = Chunk { meta: job.meta, data: &job.buf };
        let result = run_callback(|| f(&chunk));
        if tx.send(Finished { meta: job.meta, result, buf: job.buf }).is_err() {
            break;
        }
    }
}

impl<T: Sample, R: Send + 'static> Sink<T> for ThreadSink<T, R> {
    fn emit(&mut self, meta: Meta, data: &[T], ctx: &mut Ctx<'_>) {
        self.collect();
        match self.take_buffer(ctx) {
            Some(mut buf) => {
                buf.clear();
                buf.extend_from_slice(data);
                self.in_flight.push_back(InFlight { seq: meta.seq, done: None });
                let sent = self.job_tx.as_ref().map(|tx| tx.send(Job { meta, buf }));
                if !matches!(sent, Some(Ok(()))) {
                    // Unreachable while the sink is open: workers only stop when the sender is dropped at close.
                    self.in_flight.pop_back();
                    ctx.stats.chunks_dropped += 1;
                    ctx.stats.samples_dropped += (meta.len - meta.padded) as u64;
                }
            }
            None => {
                ctx.stats.chunks_dropped += 1;
                ctx.stats.samples_dropped += (meta.len - meta.padded) as u64;
            }
        }
        self.deliver_ready(ctx);
    }

    fn poll(&mut self, ctx: &mut Ctx<'_>) {
        self.collect();
        self.deliver_ready(ctx);
    }

    fn drain(&mut self, ctx: &mut Ctx<'_>) {
        self.collect();
        self.deliver_ready(ctx);
        while !self.in_flight.is_empty() {
            match self.done_rx.recv() {
                Ok(fin) => self.finished(fin),
                Err(_) => break,
            }
            self.deliver_ready(ctx);
        }
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error> {
        if self.job_tx.is_none() {
            return Ok(());
        }
        self.drain(ctx);
        let finished = self.shutdown().map_err(|e| with_consumer(e, ctx.consumer));
        match self.process.take() {
            Some(ProcessState { command, first_failure: Some(first) }) => Err(Error::ChunksFailed {
                consumer: ctx.consumer,
                command,
                failed: ctx.stats.chunks_failed,
                completed: ctx.stats.chunks_completed,
                first,
                child: finished.err().map(Box::new),
            }),
            _ => finished,
        }
    }
}

impl<T, R> Drop for ThreadSink<T, R> {
    fn drop(&mut self) {
        self.job_tx = None;
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        if let Some(finish) = self.finish.take() {
            let _ = finish(usize::MAX);
        }
    }
}

fn with_consumer(e: Error, consumer: usize) -> Error {
    match e {
        Error::Child { command, status, .. } => Error::Child { consumer, command, status },
        Error::Wait { command, source, .. } => Error::Wait { consumer, command, source },
        Error::ChildTimeout { command, after, .. } => Error::ChildTimeout { consumer, command, after },
        other => other,
    }
}
