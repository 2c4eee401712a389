//! The prefetching cache: threads, locks and the life of a key.
//!
//! # Files
//! - `builder.rs`: the settings and starting the threads.
//! - `state.rs`: what the threads share, and the control state under its lock.
//! - `resident.rs`: the resident values, read without locks.
//! - `index.rs`: the eviction order of the resident keys by score.
//! - `flight.rs`: one load in flight and its waiters.
//! - `load.rs`: loading, admission, eviction and the prefetch workers.
//! - `schedule.rs`: the scheduler thread, its wake-up protocol, and turning a prediction into a queue.
//!
//! # Threads
//! - Callers run [`PrefetchCache::get`]. A hit reads one shard without locking and returns; anything else takes
//!   the control lock. A miss loads on the caller's own thread, so a demand load never waits behind a prefetch.
//! - One scheduler thread drains the access log, feeds the predictor, rescores resident keys and rebuilds the
//!   prefetch queue. The predictor runs only here.
//! - `workers` prefetch threads pop the queue and load.
//! - An optional event thread delivers [`Event`]s to the callback, in the order they were produced.
//!
//! # Locks
//! - The resident map: one open-addressing table of node pointers. A hit pins its thread (plain stores to its own
//!   slot, `cache/reclaim.rs`) and probes without writing shared memory; writers change slots in place under
//!   `control` and retire the old nodes, which are freed once no pinned reader can hold them.
//! - `control`: one `Mutex` over everything else (eviction index, in-flight loads, the queue, the prediction,
//!   counters). It is taken once per miss, per load completion, per scheduler batch and per management call
//!   (`insert`, `invalidate`, `prefetch`, `snapshot`, `stats`), never on a hit.
//! - Order: `control` before the resident map's writes. Nothing blocks (loads, predictor, weigher, callback) while holding either.
//!
//! # The life of a key
//! absent → in flight (a flight in `control.inflight`, demand or prefetch) → resident (in the resident map and in
//! the index) → evicted or invalidated. Single-flight holds because a load is registered under `control` after
//! checking both maps. A queued prefetch is not in flight: a demand `get` of a queued key loads it itself, and
//! the worker later skips it. `invalidate` and `insert` *discard* a flight: it leaves `control.inflight` (so the
//! next request loads afresh) and its value goes to the callers already waiting, but is not kept.
//!
//! # Scores
//! The scores in force (`control.predicted`) are the latest prediction's, with explicit `prefetch` hints first;
//! resident keys carry their current score in the index (0 if not predicted). The victim is the lowest score,
//! ties by the [`EvictionPolicy`]: unscored keys sit in a FIFO in tie order (or a B-tree by weight for the size
//! policies), scored ones in a small B-tree, so eviction and rescoring never scan the cache.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

mod builder;
mod flight;
mod index;
mod load;
mod reclaim;
mod resident;
mod schedule;
mod state;

pub use builder::PrefetchCacheBuilder;
use crossbeam_channel::Sender;
use index::Index;
use load::{Admission, Claim, retry_after};
use state::{FlightOf, Key, Shared, closed};

use crate::snapshot::{InFlight, Resident};
use crate::{CacheError, DataProvider, Event, SchedulerState, Snapshot, Stats};

/// The error of a [`PrefetchCache`] over provider `P`: its key type and its own error type.
pub type GetError<P> = CacheError<<P as DataProvider>::Key, <P as DataProvider>::Error>;

/// How long [`close`](PrefetchCache::close) (and so `Drop`) waits for the background threads before it leaves
/// behind those stuck in user code.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A bounded, thread-safe cache that loads the keys its predictor expects before they are requested.
///
/// Share it by `&self` or `Arc`. See the [crate docs](crate) for an example and `cache.rs` for the design.
pub struct PrefetchCache<P: DataProvider> {
    shared: Arc<Shared<P>>,
    threads: Mutex<Threads>,
    /// Signalled when the first `close` has finished.
    closed_cv: Condvar,
    /// The demand threads of [`get_async`](Self::get_async), started at its first miss; `None` stops one.
    demand: OnceLock<Sender<Option<DemandJob<P>>>>,
}

/// A demand load handed from `get_async` to a demand thread.
struct DemandJob<P: DataProvider> {
    key: Key<P>,
    hash: u64,
    flight: Arc<FlightOf<P>>,
}

/// How many demand threads serve the misses of `get_async`.
const DEMAND_THREADS: usize = 4;

/// The background threads, taken (and joined) by the first `close`.
#[derive(Default)]
struct Threads {
    scheduler_and_workers: Vec<JoinHandle<()>>,
    events: Option<JoinHandle<()>>,
    ids: Vec<thread::ThreadId>,
    /// How many of `scheduler_and_workers` are demand threads (each stopped by a `None` job).
    demand_threads: usize,
    closing: bool,
    done: bool,
    left_running: Vec<String>,
}

/// What [`close_timeout`](PrefetchCache::close_timeout) left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseReport {
    /// The names of the background threads still running when the deadline passed (stuck in a provider, a
    /// predictor or the event callback). They exit on their own when that code returns.
    pub left_running: Vec<String>,
}

impl CloseReport {
    /// Whether every background thread finished in time.
    pub fn is_clean(&self) -> bool {
        self.left_running.is_empty()
    }
}

impl<P: DataProvider> std::fmt::Debug for PrefetchCache<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cfg = &self.shared.config;
        f.debug_struct("PrefetchCache")
            .field("max_entries", &cfg.max_entries)
            .field("max_weight", &cfg.max_weight)
            .field("workers", &cfg.workers)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<P: DataProvider> PrefetchCache<P> {
    /// Starts building a cache over `provider`.
    pub fn builder(provider: P) -> PrefetchCacheBuilder<P> {
        PrefetchCacheBuilder::new(provider)
    }

    /// Returns the value of `key`: at once if resident, after the load already in flight if there is one
    /// (a late hit), otherwise loaded now on this thread. Every call is recorded in the history for the
    /// predictor.
    ///
    /// A provider error or panic is returned to this caller (and to callers who joined this load) and is not
    /// cached. After [`close`](Self::close) every call returns [`CacheError::Closed`], and so do calls waiting
    /// for a load when `close` is called.
    #[inline]
    pub fn get(&self, key: &P::Key) -> Result<Arc<P::Value>, GetError<P>> {
        let s = &*self.shared;
        if s.is_closed() {
            return Err(closed::<P>());
        }
        let (stripe, me) = s.stripe();
        s.record(stripe, key, me);
        let hash = s.resident.hash(key);
        if let Some(value) = s.resident.get(hash, key) {
            stripe.count_hit(me);
            return Ok(value);
        }
        s.get_slow(key, hash)
    }

    /// [`get`](Self::get) for async callers, on any executor: it never blocks the executor's thread. A hit is
    /// ready at once; a late hit awaits the load in flight; a miss runs the load on one of the cache's own
    /// demand threads (never behind a prefetch) and awaits it. Dropping the future abandons the wait, not the
    /// load, whose value is still cached. The first poll of a hit never blocks and takes no lock, so a caller
    /// may poll it once while holding a lock of its own (the Python bindings serve hits this way with the GIL
    /// held); any other first poll takes the control lock briefly.
    ///
    /// With tokio: `let frame = cache.get_async(&7).await?;` in any task; no `spawn_blocking` is needed.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use dpc_core::{DataProvider, PrefetchCache};
    /// # struct Frames;
    /// # impl DataProvider for Frames {
    /// #     type Key = u64; type Value = String; type Error = Infallible;
    /// #     fn load(&self, key: &u64) -> Result<String, Infallible> { Ok(format!("frame {key}")) }
    /// # }
    /// let cache = PrefetchCache::builder(Frames).build()?;
    /// // In a tokio service: `let frame = cache.get_async(&7).await?;` The same future runs on any executor:
    /// let frame = futures_lite_block_on(cache.get_async(&7))?;
    /// assert_eq!(*frame, "frame 7");
    /// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct W(std::thread::Thread);
    /// #     impl std::task::Wake for W { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::sync::Arc::new(W(std::thread::current())).into();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } std::thread::park() }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn get_async(&self, key: &P::Key) -> Result<Arc<P::Value>, GetError<P>> {
        let s = &*self.shared;
        if s.is_closed() {
            return Err(closed::<P>());
        }
        let (stripe, me) = s.stripe();
        s.record(stripe, key, me);
        let hash = s.resident.hash(key);
        if let Some(value) = s.resident.get(hash, key) {
            stripe.count_hit(me);
            return Ok(value);
        }
        let mut retried = false;
        loop {
            let claim = s.claim(&mut s.lock(), key, hash, retried);
            let flight = match claim {
                Claim::Done(result) => return result,
                Claim::Join(flight) => flight,
                Claim::Load(flight) => {
                    let job = DemandJob { key: key.clone(), hash, flight: Arc::clone(&flight) };
                    // No demand thread takes it only while closing: settle the flight so nobody waits for it.
                    if self.demand_sender().is_none_or(|tx| tx.send(Some(job)).is_err()) {
                        s.lock().unregister(key, &flight);
                        flight.complete(Err(closed::<P>()));
                    }
                    flight
                }
            };
            match (FlightWait::<P> { flight: &flight }).await {
                Err(e) if retry_after(&flight, &e, retried) => retried = true,
                result => return result,
            }
        }
    }

    /// The sender to the demand threads, starting them at the first call; `None` once closing.
    fn demand_sender(&self) -> Option<&Sender<Option<DemandJob<P>>>> {
        if let Some(tx) = self.demand.get() {
            return Some(tx);
        }
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        if threads.closing {
            return None;
        }
        if let Some(tx) = self.demand.get() {
            return Some(tx);
        }
        let (tx, rx) = crossbeam_channel::unbounded::<Option<DemandJob<P>>>();
        for i in 0..DEMAND_THREADS {
            let s = Arc::clone(&self.shared);
            let rx = rx.clone();
            let spawned = thread::Builder::new().name(format!("dpc-demand-{i}")).spawn(move || {
                s.run_thread(|| {
                    while let Ok(Some(job)) = rx.recv() {
                        let _ = s.load(&job.key, job.hash, job.flight, None);
                    }
                })
            });
            // Without a thread the jobs still run: the first demand thread, or none at all (then `send` fails
            // once the receiver is gone and the caller gets `Closed`, which is the best a broken system offers).
            if let Ok(handle) = spawned {
                threads.ids.push(handle.thread().id());
                threads.scheduler_and_workers.push(handle);
                threads.demand_threads += 1;
            }
        }
        let _ = self.demand.set(tx);
        self.demand.get()
    }

    /// The value of `key` if it is resident now; never loads, never records an access.
    pub fn peek(&self, key: &P::Key) -> Option<Arc<P::Value>> {
        let s = &*self.shared;
        s.resident.get(s.resident.hash(key), key)
    }

    /// The value of `key` if it is resident now, recorded exactly like a hit of [`get`](Self::get) (in the
    /// history the predictor observes, and in `hits`); `None`, recording nothing, if it is not resident or the
    /// cache is closed. It never loads, never blocks and takes no lock: a binding serves hits inline with it
    /// and hands anything else to `get` or `get_async`, which then record that request once.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use std::sync::{Arc, Mutex};
    /// # use dpc_core::{AccessPredictor, DataProvider, PredictContext, PrefetchCache};
    /// # struct Frames;
    /// # impl DataProvider for Frames {
    /// #     type Key = u64; type Value = String; type Error = Infallible;
    /// #     fn load(&self, key: &u64) -> Result<String, Infallible> { Ok(format!("frame {key}")) }
    /// # }
    /// struct Seen(Arc<Mutex<Vec<u64>>>);
    /// impl AccessPredictor<u64> for Seen {
    ///     fn observe(&mut self, key: &u64) { self.0.lock().unwrap().push(*key) }
    ///     fn predict(&mut self, _: &PredictContext<'_, u64>, _: &mut Vec<(u64, f64)>) {}
    /// }
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let cache = PrefetchCache::builder(Frames).predictor(Seen(Arc::clone(&seen))).build()?;
    /// assert!(cache.get_resident(&7).is_none()); // not resident: not a request
    /// cache.get(&7)?; // a miss, loaded
    /// assert_eq!(cache.get_resident(&7).as_deref().map(String::as_str), Some("frame 7"));
    /// cache.quiesce();
    /// assert_eq!(*seen.lock().unwrap(), [7, 7]); // the miss and the resident hit
    /// let stats = cache.stats();
    /// assert_eq!((stats.hits, stats.misses), (1, 1));
    /// cache.close();
    /// assert!(cache.get_resident(&7).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get_resident(&self, key: &P::Key) -> Option<Arc<P::Value>> {
        let s = &*self.shared;
        if s.is_closed() {
            return None;
        }
        let value = s.resident.get(s.resident.hash(key), key)?;
        let (stripe, me) = s.stripe();
        s.record(stripe, key, me);
        stripe.count_hit(me);
        Some(value)
    }

    /// Whether `key` is resident now.
    pub fn contains(&self, key: &P::Key) -> bool {
        self.peek(key).is_some()
    }

    /// How many entries are resident now.
    pub fn len(&self) -> usize {
        self.shared.lock().index.len()
    }

    /// Whether nothing is resident.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes `value` resident under `key`, as if it had just been loaded on demand: it takes the key's current
    /// score and evicts the lowest-scored entries if the cache is full. It replaces a resident value, and it
    /// wins over a load of the key in flight (whose value still goes to the callers waiting for it, but is not
    /// kept). Returns false, keeping nothing, if the cache is closed, the value is heavier than the weight
    /// bound, or the weigher panicked.
    ///
    /// An inserted value counts as neither a hit nor a load; it is not recorded in the history.
    pub fn insert(&self, key: P::Key, value: P::Value) -> bool {
        let s = &*self.shared;
        if s.is_closed() {
            return false;
        }
        let value = Arc::new(value);
        let weight = match s.weigh(&key, &value) {
            Ok(w) => w,
            Err(message) => {
                s.emit(Event::WeigherPanic { key, message });
                return false;
            }
        };
        let hash = s.resident.hash(&key);
        let mut c = s.lock();
        if let Some(flight) = c.inflight.remove(&key) {
            flight.discard();
        }
        if c.index.remove(&key).is_some() {
            s.resident.remove(hash, &key, &mut c.garbage);
        }
        let score = c.predicted.get(&key).copied().unwrap_or(0.0);
        let admitted = s.admit(&mut c, &key, hash, &value, Admission { weight, score, prefetch: false, used: false });
        if admitted {
            c.counters.inserted += 1;
        }
        admitted
    }

    /// Drops the value of `key`: once this returns, no `get` is served a value loaded before the call. A load
    /// of `key` in flight is discarded (its value goes to the callers already waiting, but is not kept), so the
    /// next `get` loads afresh. Use it when the data behind a key has changed.
    pub fn invalidate(&self, key: &P::Key) {
        let s = &*self.shared;
        let mut c = s.lock();
        if s.drop_key(&mut c, key) {
            c.counters.invalidated += 1;
            if s.emits() {
                s.emit(Event::Invalidate { key: key.clone() });
            }
        }
    }

    /// Drops every value, and discards every load in flight, as [`invalidate`](Self::invalidate) does for one.
    /// The prediction, the hints and the queue stay.
    pub fn invalidate_all(&self) {
        let s = &*self.shared;
        let mut c = s.lock();
        let flights: Vec<_> = c.inflight.drain().collect();
        let mut dropped: Vec<Key<P>> = Vec::with_capacity(c.index.len() + flights.len());
        let mut wasted = 0;
        for (key, meta) in c.index.iter() {
            if meta.prefetched() && !meta.used() {
                wasted += 1;
            }
            dropped.push(key.clone());
        }
        for (key, flight) in flights {
            flight.discard();
            dropped.push(key);
        }
        let policy = c.index.policy;
        c.index = Index::new(policy);
        s.resident.clear(&mut c.garbage);
        c.counters.prefetch_wasted += wasted;
        c.counters.invalidated += dropped.len() as u64;
        if s.emits() {
            for key in dropped {
                s.emit(Event::Invalidate { key });
            }
        }
    }

    /// An explicit hint: `keys` will be requested soon (the user opened this range), in this order. They are
    /// queued ahead of the predictor's keys, scored as its best, under the same rules (no duplicate loads, do
    /// no harm, at most `max_prefetch` at once); a hint stays in force until its key is requested, and the most
    /// recent 4 096 hints are kept. Keys the provider does not have are ignored.
    pub fn prefetch(&self, keys: impl IntoIterator<Item = P::Key>) {
        let s = &*self.shared;
        let keys: Vec<Key<P>> = keys.into_iter().filter(|k| s.provider.contains(k)).collect();
        if keys.is_empty() || s.is_closed() {
            return;
        }
        let mut c = s.lock();
        let mut known: hashbrown::HashSet<Key<P>> = c.hints.iter().cloned().collect();
        for key in keys {
            if known.insert(key.clone()) {
                c.hints.push_back(key);
            }
        }
        while c.hints.len() > state::MAX_HINTS {
            c.hints.pop_front();
        }
        s.apply_prediction(&mut c);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let s = &*self.shared;
        let c = s.lock();
        s.stats_locked(&c)
    }

    /// The state of the cache at one instant: resident keys with their scores, loads in flight, the queue, the
    /// prediction in force and the counters, all taken together under the control lock (so no key is both
    /// resident and in flight). Costs time in proportion to what it returns; nothing on the hit path.
    pub fn snapshot(&self) -> Snapshot<P::Key> {
        let s = &*self.shared;
        let c = s.lock();
        Snapshot {
            resident: c
                .index
                .iter()
                .map(|(key, m)| Resident {
                    key: key.clone(),
                    score: m.score,
                    weight: m.weight(),
                    prefetched: m.prefetched(),
                    used: m.used(),
                })
                .collect(),
            in_flight: c.inflight.iter().map(|(key, f)| InFlight { key: key.clone(), kind: f.kind }).collect(),
            queued: c.queue.iter().cloned().collect(),
            predicted: c.applied.clone(),
            stats: s.stats_locked(&c),
            scheduler: SchedulerState::from_u8(s.scheduler_state.load(std::sync::atomic::Ordering::Relaxed)),
        }
    }

    /// Blocks until the cache has caught up: every request so far has been seen by the predictor, and every
    /// prefetch it asked for has finished or been dropped. Demand loads of other threads are not waited for.
    /// Values evicted or invalidated so far are dropped, unless a thread is reading the cache at that moment.
    ///
    /// Useful in tests and replays that need a deterministic state; a provider that never returns makes it
    /// wait forever. Returns at once after [`close`](Self::close).
    pub fn quiesce(&self) {
        let s = &*self.shared;
        let mut c = s.lock();
        loop {
            let logged = s.stripes.iter().any(|st| !st.log.is_empty());
            let busy = c.scheduling || logged || !c.queue.is_empty() || c.prefetching > 0;
            if !busy || s.is_closed() {
                // Caught up: the values evicted so far are freed too, unless a reader may still hold one.
                c.garbage.collect();
                return;
            }
            // Every change of these conditions notifies `idle`; the timeout is only a backstop.
            c = s.idle.wait_timeout(c, Duration::from_millis(5)).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The provider, for its own statistics.
    pub fn provider(&self) -> &P {
        &self.shared.provider
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// [`close_timeout`](Self::close_timeout) with [`DEFAULT_CLOSE_TIMEOUT`] (5 s). Called by `Drop`.
    pub fn close(&self) {
        let _ = self.close_timeout(DEFAULT_CLOSE_TIMEOUT);
    }

    /// Stops the cache and joins its threads, waiting at most `timeout` for them:
    /// - every later `get` returns [`CacheError::Closed`], and so do the callers waiting for a load now;
    /// - queued prefetches are cancelled, resident entries are dropped;
    /// - a background thread still running user code at the deadline (a provider, predictor or callback that
    ///   does not return) is left behind, named in the report, and exits on its own when that code returns.
    ///
    /// Idempotent: a second call waits (at most its own `timeout`) for the first to finish and returns its
    /// report. Safe to call from the cache's own threads (a provider or the event callback).
    pub fn close_timeout(&self, timeout: Duration) -> CloseReport {
        let deadline = Instant::now().checked_add(timeout);
        let me = thread::current().id();
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        if threads.closing {
            // Another call is closing. Wait for it, unless this is one of our own threads (a provider or the
            // event callback calling close), which the first call may be waiting for right now.
            if !threads.ids.contains(&me) {
                while !threads.done {
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    if left == Some(Duration::ZERO) {
                        break;
                    }
                    threads = match left {
                        Some(left) => {
                            self.closed_cv.wait_timeout(threads, left).unwrap_or_else(PoisonError::into_inner).0
                        }
                        None => self.closed_cv.wait(threads).unwrap_or_else(PoisonError::into_inner),
                    };
                }
            }
            return CloseReport { left_running: threads.left_running.clone() };
        }
        threads.closing = true;
        let workers = std::mem::take(&mut threads.scheduler_and_workers);
        let demand_threads = threads.demand_threads;
        let events = threads.events.take();
        // Wait without holding the lock: a thread being waited for may itself call close.
        drop(threads);

        let s = &*self.shared;
        s.closed.store(true, std::sync::atomic::Ordering::Release);
        let flights = {
            let mut c = s.lock();
            let cancelled: Vec<_> = c.queue.drain(..).collect();
            c.counters.prefetch_cancelled += cancelled.len() as u64;
            for (key, _) in cancelled {
                s.emit(Event::PrefetchCancel { key });
            }
            c.inflight.drain().map(|(_, f)| f).collect::<Vec<_>>()
        };
        for flight in flights {
            flight.complete(Err(closed::<P>()));
        }
        s.work.notify_all();
        s.idle.notify_all();
        s.wake_scheduler();
        if let Some(tx) = self.demand.get() {
            for _ in 0..demand_threads {
                let _ = tx.send(None);
            }
        }

        let mut left_running = Vec::new();
        let others: Vec<_> = workers.into_iter().filter(|h| h.thread().id() != me).collect();
        self.wait_exits(others.iter().map(|h| h.thread().id()), deadline);
        self.join_or_leave(others, &mut left_running);
        {
            // Under the lock, like every other shard write, so no late admission can publish an older copy.
            let mut c = s.lock();
            let policy = c.index.policy;
            c.index = Index::new(policy);
            c.predicted.clear();
            c.applied.clear();
            c.hints.clear();
            s.resident.clear(&mut c.garbage);
        }
        // The event thread goes last: the others may emit until they are done.
        if let Some(handle) = events {
            if let Some(tx) = &s.events {
                let _ = tx.send(None);
            }
            if handle.thread().id() != me {
                self.wait_exits([handle.thread().id()].into_iter(), deadline);
                self.join_or_leave(vec![handle], &mut left_running);
            }
        }
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        threads.done = true;
        threads.left_running = left_running.clone();
        drop(threads);
        self.closed_cv.notify_all();
        CloseReport { left_running }
    }

    /// Waits until every thread of `ids` has finished its work, or the deadline passes.
    fn wait_exits(&self, ids: impl Iterator<Item = thread::ThreadId>, deadline: Option<Instant>) {
        let ids: Vec<_> = ids.collect();
        let s = &*self.shared;
        let mut exited = s.exited.lock().unwrap_or_else(PoisonError::into_inner);
        while !ids.iter().all(|id| exited.contains(id)) {
            match deadline {
                None => exited = s.exited_cv.wait(exited).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return;
                    }
                    exited = s.exited_cv.wait_timeout(exited, left).unwrap_or_else(PoisonError::into_inner).0;
                }
            }
        }
    }

    /// Joins the threads that have finished their work (they are ending, so this is quick) and names the rest.
    fn join_or_leave(&self, handles: Vec<JoinHandle<()>>, left_running: &mut Vec<String>) {
        for handle in handles {
            let done =
                self.shared.exited.lock().unwrap_or_else(PoisonError::into_inner).contains(&handle.thread().id());
            if done {
                let _ = handle.join();
            } else {
                left_running.push(handle.thread().name().unwrap_or("dpc thread").to_string());
            }
        }
    }
}

/// Awaits a flight: registers the task's waker and is woken when the load settles.
struct FlightWait<'a, P: DataProvider> {
    flight: &'a Arc<FlightOf<P>>,
}

impl<P: DataProvider> Future for FlightWait<'_, P> {
    type Output = Result<Arc<P::Value>, GetError<P>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.flight.poll(cx.waker()) {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}

impl<P: DataProvider> Drop for PrefetchCache<P> {
    /// Closes the cache, waiting at most [`DEFAULT_CLOSE_TIMEOUT`] for its threads.
    fn drop(&mut self) {
        self.close();
    }
}
