//! The prefetching cache: threads, locks and the life of a key.
//!
//! # Threads
//! - Callers run [`PrefetchCache::get`]. A hit reads one shard without locking and returns; anything else takes
//!   the control lock. A miss loads on the caller's own thread, so a demand load never waits behind a prefetch.
//! - One scheduler thread drains the access log, feeds the predictor, rescoring resident keys and rebuilding the
//!   prefetch queue. The predictor runs only here.
//! - `workers` prefetch threads pop the queue and load.
//! - An optional event thread delivers [`Event`]s to the callback, in the order they were produced.
//!
//! # Locks
//! - `shards`: `ArcSwap<HashTable<(K, Arc<V>)>>` per shard (about 256 entries each), only resident values.
//!   A hit loads one shard without writing shared memory (read-copy-update); writers copy the shard under `control`.
//! - `control`: one `Mutex` over everything else (eviction index, in-flight loads, the queue, counters).
//!   It is taken once per miss, per load completion and per scheduler batch, never on a hit.
//! - Order: `control` before a shard. Nothing blocks (loads, predictor, callback) while holding either.
//!
//! # The life of a key
//! absent → in flight (a [`Flight`] in `control.inflight`, demand or prefetch) → resident (in a shard and in the
//! index) → evicted. Single-flight holds because a load is registered under `control` after checking both maps.
//! A queued prefetch is not in flight: a demand `get` of a queued key loads it itself, and the worker later
//! skips it.
//!
//! # Scores
//! The latest prediction's scores are kept in `control.predicted`; resident keys carry their current score in the
//! index (0 if not predicted). The victim is the first entry of a `BTreeMap` ordered by (score, tie, seq), so
//! eviction is `O(log n)` and rescoring costs `O(k log n)` for a prediction of `k` keys.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use hashbrown::{DefaultHashBuilder, HashMap, HashSet, HashTable};

use crate::error::panic_message;

mod index;
use crate::{
    AccessPredictor, BuildError, CacheError, DataProvider, Event, EvictionPolicy, NoPrefetch, PredictContext, Stats,
};
use index::Index;

/// Builds a [`PrefetchCache`]; see [`PrefetchCache::builder`].
///
/// Defaults follow the Python original: 100 entries, 20 prefetches queued or running, a history of 30 requests;
/// plus 4 prefetch workers, the [`Oldest`](EvictionPolicy::Oldest) tie-break and no prefetching until a
/// predictor is set.
pub struct PrefetchCacheBuilder<P: DataProvider> {
    provider: P,
    predictor: Box<dyn AccessPredictor<P::Key>>,
    max_entries: Option<usize>,
    max_weight: Option<u64>,
    weigher: Option<Box<WeigherFn<P>>>,
    max_prefetch: usize,
    workers: usize,
    history_len: usize,
    policy: EvictionPolicy,
    on_event: Option<Box<Callback<P::Key>>>,
    spin: Duration,
}

type WeigherFn<P> = dyn Fn(&<P as DataProvider>::Key, &<P as DataProvider>::Value) -> u64 + Send + Sync;
type Callback<K> = dyn Fn(&Event<K>) + Send + Sync;

impl<P: DataProvider> std::fmt::Debug for PrefetchCacheBuilder<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefetchCacheBuilder")
            .field("predictor", &self.predictor.name())
            .field("max_entries", &self.max_entries)
            .field("max_weight", &self.max_weight)
            .field("max_prefetch", &self.max_prefetch)
            .field("workers", &self.workers)
            .field("history_len", &self.history_len)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<P: DataProvider> PrefetchCacheBuilder<P> {
    /// The predictor that scores likely next keys (default: [`NoPrefetch`]).
    pub fn predictor(mut self, predictor: impl AccessPredictor<P::Key>) -> Self {
        self.predictor = Box::new(predictor);
        self
    }

    /// The most entries resident at once (default 100 when no weight bound is set either).
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = Some(n);
        self
    }

    /// The most total weight resident at once, as measured by the [`weigher`](Self::weigher)
    /// (each entry weighs 1 without one).
    pub fn max_weight(mut self, weight: u64) -> Self {
        self.max_weight = Some(weight);
        self
    }

    /// Measures each entry for the weight bound, for example its size in bytes.
    pub fn weigher(mut self, weigher: impl Fn(&P::Key, &P::Value) -> u64 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Box::new(weigher));
        self
    }

    /// The most prefetch loads queued or running at once (default 20); the top-scored keys of each prediction
    /// fill it, and queued ones that fall out of a newer prediction are dropped before they start.
    pub fn max_prefetch(mut self, n: usize) -> Self {
        self.max_prefetch = n;
        self
    }

    /// Prefetch worker threads, which is the most prefetch loads running at the same time (default 4).
    /// Zero disables prefetching. Demand loads run on the caller's thread and are not limited by this.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// How many recent requests the predictor sees (default 30, at least 1).
    pub fn history_len(mut self, n: usize) -> Self {
        self.history_len = n;
        self
    }

    /// The tie-break among equally unlikely eviction victims (default [`EvictionPolicy::Oldest`]).
    pub fn eviction_policy(mut self, policy: EvictionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Requests arriving more often than this keep the scheduler awake between them (for up to twice their
    /// interval), so that a `get` never pays for waking it; rarer requests let it sleep (default 2 ms).
    /// Zero always sleeps, which saves CPU and costs each `get` a wake-up system call.
    pub fn spin_wait(mut self, cap: Duration) -> Self {
        self.spin = cap;
        self
    }

    /// A callback for [`Event`]s. It runs on a dedicated thread, in event order, and may call into the cache.
    /// A panic in it is caught and ignored.
    pub fn on_event(mut self, callback: impl Fn(&Event<P::Key>) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Box::new(callback));
        self
    }

    /// Checks the settings and starts the scheduler, the workers and the event thread.
    pub fn build(self) -> Result<PrefetchCache<P>, BuildError> {
        let invalid = |msg: &str| Err(BuildError::InvalidConfig(msg.to_string()));
        if self.max_entries == Some(0) {
            return invalid("max_entries must be at least 1");
        }
        if self.max_weight == Some(0) {
            return invalid("max_weight must be at least 1");
        }
        if self.history_len == 0 {
            return invalid("history_len must be at least 1 (the history holds the current key)");
        }
        if self.workers > MAX_WORKERS {
            return invalid(&format!("workers must be at most {MAX_WORKERS}"));
        }
        let max_entries = match (self.max_entries, self.max_weight) {
            (None, None) => Some(DEFAULT_MAX_ENTRIES),
            (entries, _) => entries,
        };
        // Writers copy a whole shard (read-copy-update), so shards are kept small: about 256 entries each.
        let expected = max_entries.unwrap_or(1 << 16);
        let shard_count = (expected / 256).clamp(16, 1 << 16).next_power_of_two();
        let (event_tx, event_rx) = match self.on_event {
            Some(_) => {
                let (tx, rx) = crossbeam_channel::unbounded();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            provider: self.provider,
            hasher: DefaultHashBuilder::default(),
            shard_shift: 64 - shard_count.trailing_zeros(),
            shards: (0..shard_count).map(|_| ArcSwap::from_pointee(HashTable::new())).collect(),
            stripes: (0..STRIPES)
                .map(|_| {
                    CachePadded::new(Stripe {
                        log: ArrayQueue::new(LOG_CAPACITY),
                        counters: CachePadded::new(StripeCounters {
                            hits: AtomicU64::new(0),
                            dropped: AtomicU64::new(0),
                        }),
                    })
                })
                .collect(),
            closed: AtomicBool::new(false),
            pending: CachePadded::new(AtomicBool::new(false)),
            scheduler: std::sync::OnceLock::new(),
            control: Mutex::new(Control::new(self.policy)),
            work: Condvar::new(),
            idle: Condvar::new(),
            events: event_tx,
            latency_ns: AtomicU64::new(0),
            weigher: self.weigher,
            max_entries,
            max_weight: self.max_weight,
            max_prefetch: self.max_prefetch,
            workers: self.workers,
            history_len: self.history_len,
            spin_cap: self.spin,
        });

        let mut threads = Threads::default();
        let spawn_err = |e: std::io::Error| BuildError::Spawn(e.to_string());
        let started = || -> Result<(), BuildError> {
            if let (Some(callback), Some(rx)) = (self.on_event, event_rx) {
                let handle = thread::Builder::new()
                    .name("dpc-events".into())
                    .spawn(move || deliver(rx, callback))
                    .map_err(spawn_err)?;
                threads.events = Some(handle);
            }
            for i in 0..self.workers {
                let s = Arc::clone(&shared);
                let handle = thread::Builder::new()
                    .name(format!("dpc-worker-{i}"))
                    .spawn(move || s.worker())
                    .map_err(spawn_err)?;
                threads.scheduler_and_workers.push(handle);
            }
            let s = Arc::clone(&shared);
            let predictor = self.predictor;
            let handle = thread::Builder::new()
                .name("dpc-scheduler".into())
                .spawn(move || s.schedule(predictor))
                .map_err(spawn_err)?;
            let _ = shared.scheduler.set(handle.thread().clone());
            threads.scheduler_and_workers.push(handle);
            Ok(())
        };
        let result = started();
        threads.ids =
            threads.scheduler_and_workers.iter().chain(threads.events.iter()).map(|h| h.thread().id()).collect();
        let cache = PrefetchCache { shared, threads: Mutex::new(threads), closed_cv: Condvar::new() };
        // On a failed spawn, dropping `cache` closes it and joins whatever did start.
        result.map(|()| cache)
    }
}

/// A bounded, thread-safe cache that loads the keys its predictor expects before they are requested.
///
/// Share it by `&self` or `Arc`. See the [crate docs](crate) for an example and `cache.rs` for the design.
pub struct PrefetchCache<P: DataProvider> {
    shared: Arc<Shared<P>>,
    threads: Mutex<Threads>,
    /// Signalled when the first `close` has joined everything.
    closed_cv: Condvar,
}

/// The background threads, taken (and joined) by the first `close`.
#[derive(Default)]
struct Threads {
    scheduler_and_workers: Vec<JoinHandle<()>>,
    events: Option<JoinHandle<()>>,
    ids: Vec<thread::ThreadId>,
    closing: bool,
    done: bool,
}

impl<P: DataProvider> std::fmt::Debug for PrefetchCache<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefetchCache")
            .field("max_entries", &self.shared.max_entries)
            .field("max_weight", &self.shared.max_weight)
            .field("workers", &self.shared.workers)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<P: DataProvider> PrefetchCache<P> {
    /// Starts building a cache over `provider`.
    pub fn builder(provider: P) -> PrefetchCacheBuilder<P> {
        PrefetchCacheBuilder {
            provider,
            predictor: Box::new(NoPrefetch),
            max_entries: None,
            max_weight: None,
            weigher: None,
            max_prefetch: DEFAULT_MAX_PREFETCH,
            workers: DEFAULT_WORKERS,
            history_len: DEFAULT_HISTORY,
            policy: EvictionPolicy::default(),
            on_event: None,
            spin: DEFAULT_SPIN,
        }
    }

    /// Returns the value of `key`: at once if resident, after the load already in flight if there is one
    /// (a late hit), otherwise loaded now on this thread. Every call is recorded in the history and wakes
    /// the scheduler.
    ///
    /// A provider error or panic is returned to this caller (and to callers who joined this load) and is not
    /// cached. After [`close`](Self::close) every call returns [`CacheError::Closed`].
    pub fn get(&self, key: &P::Key) -> Result<Arc<P::Value>, CacheError> {
        let s = &*self.shared;
        if s.closed.load(Ordering::Relaxed) {
            return Err(CacheError::Closed);
        }
        let stripe = s.stripe();
        s.record(stripe, key);
        let hash = s.hasher.hash_one(key);
        if let Some(value) = s.resident(hash, key) {
            stripe.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(value);
        }
        s.get_slow(key, hash)
    }

    /// The value of `key` if it is resident now; never loads, never records an access.
    pub fn peek(&self, key: &P::Key) -> Option<Arc<P::Value>> {
        let s = &*self.shared;
        s.resident(s.hasher.hash_one(key), key)
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

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let s = &*self.shared;
        let (hits, dropped) = s.stripes.iter().fold((0, 0), |(h, d), st| {
            (h + st.counters.hits.load(Ordering::Relaxed), d + st.counters.dropped.load(Ordering::Relaxed))
        });
        let c = s.lock();
        let mut stats = c.counters.clone();
        stats.hits += hits;
        stats.history_dropped = dropped;
        stats.resident_entries = c.index.len() as u64;
        stats.resident_weight = c.index.total_weight;
        stats.in_flight = c.inflight.len() as u64;
        stats
    }

    /// Blocks until the cache has caught up: every request so far has been seen by the predictor, and every
    /// prefetch it asked for has finished or been dropped. Demand loads of other threads are not waited for.
    ///
    /// Useful in tests and replays that need a deterministic state; a provider that never returns makes it
    /// wait forever. Returns at once after [`close`](Self::close).
    pub fn quiesce(&self) {
        let s = &*self.shared;
        let mut c = s.lock();
        loop {
            let logged = s.stripes.iter().any(|st| !st.log.is_empty());
            let busy = c.scheduling || logged || !c.queue.is_empty() || c.prefetching > 0;
            if !busy || s.closed.load(Ordering::Acquire) {
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
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Stops and joins every thread: queued prefetches are cancelled, running loads finish first (their waiters
    /// get their values), resident entries are dropped. Idempotent; a second call waits for the first to finish.
    /// Called by `Drop`.
    pub fn close(&self) {
        let me = thread::current().id();
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        if threads.closing {
            // Another call is closing. Wait for it, unless this is one of our own threads (a provider or the
            // event callback calling close), which the first call may be joining right now.
            if !threads.ids.contains(&me) {
                while !threads.done {
                    threads = self.closed_cv.wait(threads).unwrap_or_else(PoisonError::into_inner);
                }
            }
            return;
        }
        threads.closing = true;
        let workers = std::mem::take(&mut threads.scheduler_and_workers);
        let events = threads.events.take();
        // Join without holding the lock: a thread being joined may itself call close.
        drop(threads);

        let s = &*self.shared;
        s.closed.store(true, Ordering::Release);
        {
            let mut c = s.lock();
            let cancelled: Vec<_> = c.queue.drain(..).collect();
            c.counters.prefetch_cancelled += cancelled.len() as u64;
            for (key, _) in cancelled {
                s.emit(Event::PrefetchCancel { key });
            }
        }
        s.work.notify_all();
        s.idle.notify_all();
        if let Some(t) = s.scheduler.get() {
            t.unpark();
        }
        // Never join the calling thread (close may be called from a provider or the event callback).
        for handle in workers {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
        {
            // Under the lock, like every other shard write, so no late admission can publish an older copy.
            let mut c = s.lock();
            c.index = Index::new(c.index.policy);
            c.predicted.clear();
            for shard in s.shards.iter() {
                shard.store(Arc::new(HashTable::new()));
            }
        }
        // The event thread goes last: the others may emit until they are joined.
        if let Some(handle) = events {
            if let Some(tx) = &s.events {
                let _ = tx.send(None);
            }
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
        self.threads.lock().unwrap_or_else(PoisonError::into_inner).done = true;
        self.closed_cv.notify_all();
    }
}

impl<P: DataProvider> Drop for PrefetchCache<P> {
    fn drop(&mut self) {
        self.close();
    }
}

const DEFAULT_MAX_ENTRIES: usize = 100;
const DEFAULT_MAX_PREFETCH: usize = 20;
const DEFAULT_HISTORY: usize = 30;
const DEFAULT_WORKERS: usize = 4;
/// Measured on the replay of BENCHMARKS.md §1 (a request per ~1 ms): waking a parked scheduler cost 6 us per hit.
const DEFAULT_SPIN: Duration = Duration::from_millis(2);
const MAX_WORKERS: usize = 1024;
/// Access-log stripes: callers on different threads push to different stripes, so hits do not contend.
const STRIPES: usize = 8;
/// Per-stripe access-log capacity; beyond it requests are counted as `history_dropped`.
const LOG_CAPACITY: usize = 1024;
/// How long the scheduler lets a flooded access log fill before draining it again.
const FLOOD_PAUSE: Duration = Duration::from_millis(1);
/// The most scores kept from one prediction.
const MAX_PREDICTED: usize = 4096;
/// How many failed prefetch keys are remembered (and not prefetched again until a demand load succeeds).
const FAILED_MEMORY: usize = 256;
/// Weight of the newest sample in the moving averages of load latency and request interval.
const EWMA_ALPHA: f64 = 0.25;

type Key<P> = <P as DataProvider>::Key;
type Value<P> = <P as DataProvider>::Value;
/// A shard of resident values. Readers load it without writing any shared memory; writers (always under the
/// `control` lock, so never two at once) copy it, change the copy and publish it.
type Shard<K, V> = ArcSwap<HashTable<(K, Arc<V>)>>;

struct Shared<P: DataProvider> {
    provider: P,
    hasher: DefaultHashBuilder,
    shard_shift: u32,
    shards: Box<[Shard<Key<P>, Value<P>>]>,
    stripes: Box<[CachePadded<Stripe<Key<P>>>]>,
    closed: AtomicBool,
    /// Set by callers when they record an access; cleared by the scheduler before it drains the log.
    pending: CachePadded<AtomicBool>,
    scheduler: std::sync::OnceLock<Thread>,
    control: Mutex<Control<Key<P>, Value<P>>>,
    /// Workers wait here for queued prefetches.
    work: Condvar,
    /// Signalled whenever the scheduler finishes a batch or a prefetch settles; see `quiesce`.
    idle: Condvar,
    events: Option<Sender<Option<Event<Key<P>>>>>,
    /// Moving average of load latency in nanoseconds (0 = not measured yet).
    latency_ns: AtomicU64,
    weigher: Option<Box<WeigherFn<P>>>,
    max_entries: Option<usize>,
    max_weight: Option<u64>,
    max_prefetch: usize,
    workers: usize,
    history_len: usize,
    spin_cap: Duration,
}

struct Stripe<K> {
    log: ArrayQueue<K>,
    /// Written by callers only; kept off the cache lines the scheduler reads while draining `log`.
    counters: CachePadded<StripeCounters>,
}

struct StripeCounters {
    hits: AtomicU64,
    dropped: AtomicU64,
}

/// One load in flight, joined by every `get` of its key until it completes.
struct Flight<V> {
    prefetch: bool,
    /// Set when a request joined this prefetch, so its value counts as used.
    used: AtomicBool,
    result: Mutex<Option<Result<Arc<V>, CacheError>>>,
    done: Condvar,
}

impl<V> Flight<V> {
    fn new(prefetch: bool) -> Arc<Self> {
        Arc::new(Flight { prefetch, used: AtomicBool::new(false), result: Mutex::new(None), done: Condvar::new() })
    }

    fn complete(&self, result: Result<Arc<V>, CacheError>) {
        let mut slot = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(result);
        }
        self.done.notify_all();
    }

    fn wait(&self) -> Result<Arc<V>, CacheError> {
        let mut slot = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(result) = &*slot {
                return result.clone();
            }
            slot = self.done.wait(slot).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Completes a flight and unregisters it even if the loading thread unwinds past our own code,
/// so that no waiter can hang.
struct FlightGuard<'a, P: DataProvider> {
    shared: &'a Shared<P>,
    key: &'a Key<P>,
    flight: Arc<Flight<Value<P>>>,
    armed: bool,
}

impl<P: DataProvider> Drop for FlightGuard<'_, P> {
    fn drop(&mut self) {
        if self.armed {
            let mut c = self.shared.lock();
            if c.inflight.get(self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flight)) {
                c.inflight.remove(self.key);
            }
            drop(c);
            self.flight.complete(Err(CacheError::Panicked {
                key: format!("{:?}", self.key),
                message: "the load was abandoned".into(),
            }));
        }
    }
}

struct Control<K, V> {
    index: Index<K>,
    inflight: HashMap<K, Arc<Flight<V>>>,
    /// Queued prefetches, best score first.
    queue: VecDeque<(K, f64)>,
    /// Prefetches running on workers now.
    prefetching: usize,
    /// The latest prediction's scores.
    predicted: HashMap<K, f64>,
    failed: HashSet<K>,
    failed_order: VecDeque<K>,
    counters: Stats,
    /// True while the scheduler holds a batch it has drained but not applied yet.
    scheduling: bool,
}

impl<K: crate::Key, V> Control<K, V> {
    fn new(policy: EvictionPolicy) -> Self {
        Control {
            index: Index::new(policy),
            inflight: HashMap::new(),
            queue: VecDeque::new(),
            prefetching: 0,
            predicted: HashMap::new(),
            failed: HashSet::new(),
            failed_order: VecDeque::new(),
            counters: Stats::default(),
            scheduling: false,
        }
    }

    fn remember_failure(&mut self, key: K) {
        if self.failed.insert(key.clone()) {
            self.failed_order.push_back(key);
            if self.failed_order.len() > FAILED_MEMORY
                && let Some(old) = self.failed_order.pop_front()
            {
                self.failed.remove(&old);
            }
        }
    }
}

impl<P: DataProvider> Shared<P> {
    fn lock(&self) -> MutexGuard<'_, Control<Key<P>, Value<P>>> {
        // A panic never happens inside our critical sections (user code runs outside them), but if one did,
        // the state is still consistent enough to serve: take it rather than poison every caller.
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn shard(&self, hash: u64) -> &Shard<Key<P>, Value<P>> {
        let i = if self.shard_shift >= 64 { 0 } else { (hash >> self.shard_shift) as usize };
        &self.shards[i]
    }

    fn resident(&self, hash: u64, key: &Key<P>) -> Option<Arc<Value<P>>> {
        self.shard(hash).load().find(hash, |(k, _)| k == key).map(|(_, v)| Arc::clone(v))
    }

    fn stripe(&self) -> &Stripe<Key<P>> {
        thread_local! {
            static SLOT: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
            };
        }
        &self.stripes[SLOT.with(|s| *s)]
    }

    /// Appends a request to the access log and wakes the scheduler if it may be asleep.
    fn record(&self, stripe: &Stripe<Key<P>>, key: &Key<P>) {
        // A full log means the scheduler is behind (or pausing on purpose): drop the entry without trying,
        // because a failed `push` costs a SeqCst fence.
        if stripe.log.is_full() || stripe.log.push(key.clone()).is_err() {
            stripe.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // Lost wake-ups are impossible: `push` publishes the entry with a SeqCst CAS and the load below is
        // SeqCst, while the scheduler stores `pending = false` (SeqCst) and then looks for entries after a SeqCst
        // fence (inside `ArrayQueue::pop`, and its own). If our load still sees `true`, it precedes that store in
        // the single total order, so the scheduler's drain sees our entry. Either way no fence is needed here,
        // and while the scheduler is busy a hit costs one read of a shared cache line.
        if !self.pending.load(Ordering::SeqCst)
            && !self.pending.swap(true, Ordering::SeqCst)
            && let Some(t) = self.scheduler.get()
        {
            t.unpark();
        }
    }

    fn emit(&self, event: Event<Key<P>>) {
        if let Some(tx) = &self.events {
            let _ = tx.send(Some(event));
        }
    }

    fn weigh(&self, key: &Key<P>, value: &Value<P>) -> Result<u64, String> {
        match &self.weigher {
            None => Ok(1),
            Some(w) => catch_unwind(AssertUnwindSafe(|| w(key, value))).map_err(|p| panic_message(&*p)),
        }
    }

    fn observe_latency(&self, elapsed: Duration) {
        let sample = elapsed.as_nanos().min(u128::from(u64::MAX)) as f64;
        let old = self.latency_ns.load(Ordering::Relaxed);
        let new = if old == 0 { sample } else { old as f64 * (1.0 - EWMA_ALPHA) + sample * EWMA_ALPHA };
        // A lost update between two concurrent loads only drops one sample of a moving average.
        self.latency_ns.store((new as u64).max(1), Ordering::Relaxed);
    }

    fn get_slow(&self, key: &Key<P>, hash: u64) -> Result<Arc<Value<P>>, CacheError> {
        let mut retried = false;
        loop {
            let mut c = self.lock();
            if self.closed.load(Ordering::Relaxed) {
                return Err(CacheError::Closed);
            }
            // It may have become resident between the lock-free look and now.
            if let Some(value) = self.resident(hash, key) {
                c.counters.hits += 1;
                return Ok(value);
            }
            if let Some(flight) = c.inflight.get(key).cloned() {
                if !retried {
                    c.counters.late_hits += 1;
                }
                if flight.prefetch && !flight.used.swap(true, Ordering::Relaxed) {
                    c.counters.prefetch_used += 1;
                }
                drop(c);
                match flight.wait() {
                    // A failed prefetch is not this caller's error: load it as a demand, once.
                    Err(_) if flight.prefetch && !retried => {
                        retried = true;
                        continue;
                    }
                    result => return result,
                }
            }
            if !retried {
                c.counters.misses += 1;
            }
            c.counters.loads += 1;
            let flight = Flight::new(false);
            c.inflight.insert(key.clone(), Arc::clone(&flight));
            self.emit(Event::LoadStart { key: key.clone() });
            drop(c);
            return self.load(key, flight, None);
        }
    }

    /// Runs one registered load (demand if `score` is `None`, else prefetch) and settles it.
    fn load(
        &self,
        key: &Key<P>,
        flight: Arc<Flight<Value<P>>>,
        score: Option<f64>,
    ) -> Result<Arc<Value<P>>, CacheError> {
        let mut guard = FlightGuard { shared: self, key, flight, armed: true };
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.provider.load(key)));
        let elapsed = start.elapsed();
        self.observe_latency(elapsed);
        let result = match outcome {
            Ok(Ok(value)) => Ok(Arc::new(value)),
            Ok(Err(e)) => Err(CacheError::Provider { key: format!("{key:?}"), source: Arc::new(e) }),
            Err(payload) => Err(CacheError::Panicked { key: format!("{key:?}"), message: panic_message(&*payload) }),
        };
        let weight = match &result {
            Ok(v) => Some(self.weigh(key, v)),
            Err(_) => None,
        };

        let mut c = self.lock();
        c.inflight.remove(key);
        let prefetch = score.is_some();
        if prefetch {
            c.prefetching -= 1;
        }
        match (&result, weight) {
            (Ok(value), Some(weight)) => {
                let used = guard.flight.used.load(Ordering::Relaxed);
                let score_now = c.predicted.get(key).copied().unwrap_or(0.0);
                let admitted = match weight {
                    Ok(w) => self.admit(&mut c, key, value, w, score_now, prefetch, used),
                    Err(message) => {
                        self.emit(Event::WorkerError {
                            message: format!("the weigher panicked on {key:?}: {message}"),
                        });
                        false
                    }
                };
                if prefetch {
                    c.counters.prefetch_completed += 1;
                    if !admitted && !used {
                        c.counters.prefetch_wasted += 1;
                    }
                    self.emit(Event::PrefetchSuccess { key: key.clone(), elapsed, admitted });
                } else {
                    if c.failed.remove(key) {
                        c.failed_order.retain(|k| k != key);
                    }
                    self.emit(Event::LoadComplete { key: key.clone(), elapsed });
                }
            }
            (Err(e), _) => {
                if prefetch {
                    c.counters.prefetch_failed += 1;
                    c.remember_failure(key.clone());
                    self.emit(Event::PrefetchError { key: key.clone(), error: e.to_string() });
                } else {
                    c.counters.load_errors += 1;
                    self.emit(Event::LoadError { key: key.clone(), error: e.to_string() });
                }
            }
            (Ok(_), None) => unreachable!("a loaded value is always weighed"),
        }
        drop(c);
        if prefetch {
            // A slot freed up: the queue may hold work that was waiting for room.
            self.work.notify_one();
            self.idle.notify_all();
        }
        guard.armed = false;
        guard.flight.complete(result.clone());
        result
    }

    /// Makes `key` resident if it fits, evicting the lowest-scored entries. A prefetch displaces only entries
    /// scored strictly lower than itself (do no harm); a demand load displaces whatever it must.
    /// Returns whether the value was cached.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        c: &mut Control<Key<P>, Value<P>>,
        key: &Key<P>,
        value: &Arc<Value<P>>,
        weight: u64,
        score: f64,
        prefetch: bool,
        used: bool,
    ) -> bool {
        if self.closed.load(Ordering::Relaxed) || self.max_weight.is_some_and(|m| weight > m) {
            return false;
        }
        // First find the victims without touching anything, so that a refused prefetch evicts nothing.
        let mut entries = c.index.len() + 1;
        let mut total = c.index.total_weight + weight;
        let mut victims = Vec::new();
        let over = |entries: usize, total: u64| {
            self.max_entries.is_some_and(|m| entries > m) || self.max_weight.is_some_and(|m| total > m)
        };
        {
            let mut candidates = c.index.victims();
            while over(entries, total) {
                let Some((victim, victim_score, victim_weight)) = candidates.next() else { return false };
                if prefetch && victim_score >= score {
                    return false;
                }
                victims.push(victim.clone());
                entries -= 1;
                total -= victim_weight;
            }
        }
        for victim in victims {
            self.evict(c, &victim);
        }
        c.index.insert(key.clone(), weight, score, prefetch, used);
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        let mut table = HashTable::clone(&shard.load());
        match table.find_entry(hash, |(k, _)| k == key) {
            Ok(mut entry) => entry.get_mut().1 = Arc::clone(value),
            Err(_) => {
                table.insert_unique(hash, (key.clone(), Arc::clone(value)), |(k, _)| self.hasher.hash_one(k));
            }
        }
        shard.store(Arc::new(table));
        true
    }

    fn evict(&self, c: &mut Control<Key<P>, Value<P>>, key: &Key<P>) {
        let Some(meta) = c.index.remove(key) else { return };
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        let mut table = HashTable::clone(&shard.load());
        if let Ok(entry) = table.find_entry(hash, |(k, _)| k == key) {
            entry.remove();
            shard.store(Arc::new(table));
        }
        c.counters.evictions += 1;
        let unused = meta.prefetched() && !meta.used();
        if unused {
            c.counters.prefetch_wasted += 1;
        }
        self.emit(Event::Evict { key: key.clone(), score: meta.score, prefetched_unused: unused });
    }

    /// Whether a prefetch scored `score` could be admitted now without displacing anything likelier.
    fn has_room(&self, c: &Control<Key<P>, Value<P>>, score: f64) -> bool {
        let pending = c.prefetching;
        let entries_ok = self.max_entries.is_none_or(|m| c.index.len() + pending < m);
        let weight_ok = self.max_weight.is_none_or(|m| {
            let avg = if c.index.len() == 0 { 1 } else { c.index.total_weight / c.index.len() as u64 };
            c.index.total_weight + avg.max(1) * (pending as u64 + 1) <= m
        });
        (entries_ok && weight_ok) || c.index.victims().next().is_some_and(|(_, s, _)| s < score)
    }

    /// The prefetch worker: pops queued keys and loads them until the cache closes.
    fn worker(&self) {
        loop {
            let mut c = self.lock();
            let (key, score) = loop {
                if self.closed.load(Ordering::Acquire) {
                    return;
                }
                if let Some(job) = c.queue.pop_front() {
                    break job;
                }
                c = self.work.wait(c).unwrap_or_else(PoisonError::into_inner);
            };
            if c.index.contains(&key) || c.inflight.contains_key(&key) {
                drop(c);
                self.idle.notify_all();
                continue;
            }
            if !self.has_room(&c, score) {
                c.counters.prefetch_cancelled += 1;
                self.emit(Event::PrefetchCancel { key });
                drop(c);
                self.idle.notify_all();
                continue;
            }
            let flight = Flight::new(true);
            c.inflight.insert(key.clone(), Arc::clone(&flight));
            c.prefetching += 1;
            c.counters.prefetch_issued += 1;
            self.emit(Event::PrefetchStart { key: key.clone(), score });
            drop(c);
            let _ = self.load(&key, flight, Some(score));
        }
    }

    /// The scheduler: drains the access log, feeds the predictor and refreshes scores and the queue.
    fn schedule(&self, mut predictor: Box<dyn AccessPredictor<Key<P>>>) {
        let mut history: VecDeque<Key<P>> = VecDeque::with_capacity(self.history_len + 1);
        let mut batch: Vec<Key<P>> = Vec::new();
        let mut scores: Vec<(Key<P>, f64)> = Vec::new();
        let mut interval: Option<f64> = None;
        let mut last_seen: Option<Instant> = None;
        let mut flooded = false;
        // Whether the scheduler already waited awake since its last batch.
        let mut spun = false;
        loop {
            if flooded {
                // Requests arrive faster than one per microsecond, so they are hits and the predictor only needs
                // the latest few: let the log fill for a moment instead of competing with the callers for a core.
                // `pending` is still set, so callers do not try to wake us meanwhile.
                thread::sleep(FLOOD_PAUSE);
            }
            self.pending.store(false, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            batch.clear();
            // Marked before draining, so that `quiesce` never sees an empty log and an idle scheduler while a
            // batch is in hand.
            self.lock().scheduling = true;
            for stripe in self.stripes.iter() {
                while let Some(key) = stripe.log.pop() {
                    batch.push(key);
                }
            }
            if batch.is_empty() {
                self.lock().scheduling = false;
                self.idle.notify_all();
                if !spun && let Some(until) = self.spin_until(interval, last_seen) {
                    spun = true;
                    self.spin(until);
                } else {
                    thread::park();
                }
                continue;
            }
            spun = false;
            flooded = batch.len() >= LOG_CAPACITY / 2;
            let now = Instant::now();
            if let Some(last) = last_seen {
                let sample = now.duration_since(last).as_secs_f64() / batch.len() as f64;
                interval = Some(interval.map_or(sample, |i| i * (1.0 - EWMA_ALPHA) + sample * EWMA_ALPHA));
            }
            last_seen = Some(now);

            let mut panicked = None;
            for key in &batch {
                if history.len() == self.history_len {
                    history.pop_front();
                }
                history.push_back(key.clone());
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| predictor.observe(key))) {
                    panicked = Some(panic_message(&*p));
                }
            }
            scores.clear();
            let history_slice = history.make_contiguous();
            let current = history_slice.last().expect("the batch is not empty");
            let latency = self.latency_ns.load(Ordering::Relaxed);
            let ctx = PredictContext {
                current,
                history: history_slice,
                capacity: self.max_entries,
                max_prefetch: self.max_prefetch,
                workers: self.workers,
                load_latency: (latency > 0).then(|| Duration::from_nanos(latency)),
                request_interval: interval.map(Duration::from_secs_f64),
            };
            let predicted = catch_unwind(AssertUnwindSafe(|| {
                predictor.predict(&ctx, &mut scores);
                sanitize(&mut scores, &self.provider)
            }));
            let predicted = match predicted {
                Ok(p) => p,
                Err(p) => {
                    panicked = Some(panic_message(&*p));
                    HashMap::new()
                }
            };

            let mut c = self.lock();
            for key in &batch {
                if c.index.touch(key) {
                    c.counters.prefetch_used += 1;
                }
            }
            if let Some(message) = panicked {
                c.counters.predictor_panics += 1;
                self.emit(Event::WorkerError { message: format!("the predictor panicked: {message}") });
            }
            self.apply_prediction(&mut c, predicted, &scores);
            c.scheduling = false;
            drop(c);
            self.idle.notify_all();
        }
    }

    /// When requests come often (their moving-average interval is below the `spin` setting), the scheduler waits
    /// for the next one awake, for up to twice that interval: waking a parked thread costs the caller a system
    /// call (several microseconds on a VM) inside `get`, which is most of a hit's cost at such rates.
    fn spin_until(&self, interval: Option<f64>, last_seen: Option<Instant>) -> Option<Instant> {
        let interval = interval?;
        let cap = self.spin_cap.as_secs_f64();
        if interval >= cap {
            return None;
        }
        let until = last_seen? + Duration::from_secs_f64((2.0 * interval).min(cap));
        (Instant::now() < until).then_some(until)
    }

    /// Waits awake until a request arrives, the cache closes or `until` passes. While it does, `pending` stays
    /// set so that callers do not try to wake it; the next loop clears it and drains the log as usual.
    fn spin(&self, until: Instant) {
        self.pending.store(true, Ordering::SeqCst);
        while Instant::now() < until
            && !self.closed.load(Ordering::Acquire)
            && self.stripes.iter().all(|s| s.log.is_empty())
        {
            std::hint::spin_loop();
            thread::yield_now();
        }
    }

    /// Rescores resident keys and rebuilds the prefetch queue from a new prediction.
    /// `ranked` holds the predicted keys best first (already sanitized).
    fn apply_prediction(
        &self,
        c: &mut Control<Key<P>, Value<P>>,
        predicted: HashMap<Key<P>, f64>,
        ranked: &[(Key<P>, f64)],
    ) {
        let old = std::mem::replace(&mut c.predicted, predicted);
        for key in old.keys() {
            if !c.predicted.contains_key(key) {
                c.index.rescore(key, 0.0);
            }
        }
        let mut wanted = Vec::new();
        for (key, score) in ranked {
            if c.index.rescore(key, *score) || c.inflight.contains_key(key) || c.failed.contains(key) {
                continue;
            }
            wanted.push((key.clone(), *score));
        }

        // Take candidates best first while there is a free slot or a victim scored strictly lower
        // (do no harm); both lists are sorted, so this is a merge.
        let budget = if self.workers == 0 { 0 } else { self.max_prefetch.saturating_sub(c.prefetching) };
        let mut free = match self.max_entries {
            Some(m) => m.saturating_sub(c.index.len() + c.prefetching),
            None => usize::MAX,
        };
        if let Some(m) = self.max_weight {
            let avg = if c.index.len() == 0 { 1 } else { (c.index.total_weight / c.index.len() as u64).max(1) };
            let by_weight = m.saturating_sub(c.index.total_weight + avg * c.prefetching as u64) / avg;
            free = free.min(usize::try_from(by_weight).unwrap_or(usize::MAX));
        }
        let mut queue = VecDeque::new();
        {
            let mut victims = c.index.victims();
            for (key, score) in wanted {
                if queue.len() >= budget {
                    break;
                }
                if free > 0 {
                    free -= 1;
                } else if !victims.next().is_some_and(|(_, victim, _)| victim < score) {
                    break;
                }
                queue.push_back((key, score));
            }
        }
        let fresh: HashSet<&Key<P>> = queue.iter().map(|(k, _)| k).collect();
        let mut cancelled = Vec::new();
        for (key, _) in &c.queue {
            if !fresh.contains(key) {
                cancelled.push(key.clone());
            }
        }
        drop(fresh);
        c.counters.prefetch_cancelled += cancelled.len() as u64;
        for key in cancelled {
            self.emit(Event::PrefetchCancel { key });
        }
        let n = queue.len();
        c.queue = queue;
        match n {
            0 => {}
            1 => self.work.notify_one(),
            _ => self.work.notify_all(),
        }
    }
}

/// Keeps finite positive scores of keys the provider has, one score per key (the highest), best first
/// (ties keep the predictor's order, so runs are deterministic), at most [`MAX_PREDICTED`];
/// returns them as a map too.
fn sanitize<P: DataProvider>(scores: &mut Vec<(Key<P>, f64)>, provider: &P) -> HashMap<Key<P>, f64> {
    let mut position: HashMap<Key<P>, usize> = HashMap::with_capacity(scores.len());
    let mut kept: Vec<(Key<P>, f64)> = Vec::with_capacity(scores.len());
    for (key, score) in scores.drain(..) {
        if !(score.is_finite() && score > 0.0) {
            continue;
        }
        match position.get(&key) {
            Some(&i) => kept[i].1 = kept[i].1.max(score),
            None => {
                if provider.contains(&key) {
                    position.insert(key.clone(), kept.len());
                    kept.push((key, score));
                }
            }
        }
    }
    kept.sort_by(|a, b| b.1.total_cmp(&a.1));
    kept.truncate(MAX_PREDICTED);
    let best = kept.iter().cloned().collect();
    *scores = kept;
    best
}

/// The event thread: delivers events in order until `None` arrives (or every sender is gone).
fn deliver<K>(rx: Receiver<Option<Event<K>>>, callback: Box<Callback<K>>) {
    while let Ok(Some(event)) = rx.recv() {
        let _ = catch_unwind(AssertUnwindSafe(|| callback(&event)));
    }
}
