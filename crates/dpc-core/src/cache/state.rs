//! What the cache's threads share: the resident map, the access log, and everything under the control lock.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::Duration;

use crossbeam_channel::Sender;
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use hashbrown::{HashMap, HashSet};

use super::flight::Flight;
use super::index::Index;
use super::reclaim::Garbage;
use super::resident::ResidentMap;
use crate::error::panic_message;
use crate::{CacheError, DataProvider, Event, EvictionPolicy, LoadKind, Stats};

pub(crate) type Key<P> = <P as DataProvider>::Key;
pub(crate) type Value<P> = <P as DataProvider>::Value;
pub(crate) type Error<P> = <P as DataProvider>::Error;
pub(crate) type FlightOf<P> = Flight<Key<P>, Value<P>, Error<P>>;
pub(crate) type WeigherFn<P> = dyn Fn(&Key<P>, &Value<P>) -> u64 + Send + Sync;
pub(crate) type Callback<K> = dyn Fn(&Event<K>) + Send + Sync;

/// Access-log stripes: callers on different threads push to different stripes, so hits do not contend.
pub(crate) const STRIPES: usize = 8;
/// Per-stripe access-log capacity; beyond it requests are counted as `history_dropped`.
pub(crate) const LOG_CAPACITY: usize = 1024;
/// How many settled flights are kept for reuse.
const SPARE_FLIGHTS: usize = 8;
/// How many failed prefetch keys are remembered (and not prefetched again until a demand load succeeds).
const FAILED_MEMORY: usize = 256;
/// How many explicit prefetch hints are kept until their keys are requested.
pub(crate) const MAX_HINTS: usize = 4096;
/// Loads slower than this (by the moving average) are all timed; faster ones are sampled, see
/// [`Shared::time_this_load`].
const TIME_EVERY_LOAD_ABOVE_NS: u64 = 20_000;
/// Weight of the newest sample in the moving averages of load latency and request interval.
pub(crate) const EWMA_ALPHA: f64 = 0.25;

/// The settings, fixed at build time.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) max_entries: Option<usize>,
    pub(crate) max_weight: Option<u64>,
    pub(crate) max_prefetch: usize,
    pub(crate) workers: usize,
    pub(crate) history_len: usize,
    /// Requests arriving more often than this are noticed by the scheduler polling; see `schedule.rs`.
    pub(crate) poll_below: Duration,
}

pub(crate) struct Shared<P: DataProvider> {
    pub(crate) provider: P,
    pub(crate) resident: ResidentMap<Key<P>, Value<P>>,
    pub(crate) stripes: Box<[CachePadded<Stripe<Key<P>>>]>,
    pub(crate) closed: AtomicBool,
    /// Set by callers when they record an access; cleared by the scheduler before it drains the log, and kept set
    /// while it polls. A caller that sets it wakes the scheduler.
    pub(crate) pending: CachePadded<AtomicBool>,
    pub(crate) scheduler: OnceLock<Thread>,
    /// A [`SchedulerState`](crate::SchedulerState) as a `u8`, and how often the scheduler woke up.
    pub(crate) scheduler_state: AtomicU8,
    pub(crate) scheduler_wakeups: AtomicU64,
    /// Requests a flooded scheduler drained but did not hand to the predictor. Written by the scheduler only.
    pub(crate) flood_skipped: AtomicU64,
    pub(crate) control: Mutex<Control<P>>,
    /// Workers wait here for queued prefetches.
    pub(crate) work: Condvar,
    /// Signalled whenever the scheduler finishes a batch or a prefetch settles; see `quiesce`.
    pub(crate) idle: Condvar,
    pub(crate) events: Option<Sender<Option<Event<Key<P>>>>>,
    /// Moving average of load latency in nanoseconds (0 = not measured yet).
    pub(crate) latency_ns: AtomicU64,
    pub(crate) weigher: Option<Box<WeigherFn<P>>>,
    pub(crate) config: Config,
    /// The background threads whose work has finished (they are about to end), so `close` can wait for them
    /// with a deadline and join only those.
    pub(crate) exited: Mutex<HashSet<std::thread::ThreadId>>,
    pub(crate) exited_cv: Condvar,
}

pub(crate) struct Stripe<K> {
    pub(crate) log: ArrayQueue<K>,
    /// Written by callers only; kept off the cache lines the scheduler reads while draining `log`.
    pub(crate) counters: CachePadded<StripeCounters>,
}

pub(crate) struct StripeCounters {
    /// The first thread to count a hit or a dropped request here (its id from [`Shared::stripe`]): it alone writes
    /// `owner_hits` and `owner_dropped`, with a plain load and store, so the usual hit (at most [`STRIPES`]
    /// threads) pays no atomic read-modify-write for its counts. Every other thread on this stripe adds to `hits`
    /// and `dropped`.
    owner: AtomicUsize,
    owner_hits: AtomicU64,
    hits: AtomicU64,
    owner_dropped: AtomicU64,
    dropped: AtomicU64,
}

impl<K> Stripe<K> {
    pub(crate) fn new() -> Self {
        Stripe {
            log: ArrayQueue::new(LOG_CAPACITY),
            counters: CachePadded::new(StripeCounters {
                owner: AtomicUsize::new(0),
                owner_hits: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                owner_dropped: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// Counts a hit of the calling thread `me` (nonzero, unique per thread).
    #[inline]
    pub(crate) fn count_hit(&self, me: usize) {
        let c = &self.counters;
        self.count(me, &c.owner_hits, &c.hits);
    }

    /// Counts a request of `me` that the full log could not take. A flooded log drops most requests (the hit
    /// benchmarks' case), so this is on the hit path too.
    #[inline]
    pub(crate) fn count_dropped(&self, me: usize) {
        let c = &self.counters;
        self.count(me, &c.owner_dropped, &c.dropped);
    }

    /// Adds one to `mine` if `me` owns the stripe (the first thread to count here), with a plain load and store
    /// since only the owner writes it, else to `shared` with a read-modify-write.
    #[inline]
    fn count(&self, me: usize, mine: &AtomicU64, shared: &AtomicU64) {
        let c = &self.counters;
        let owner = c.owner.load(Ordering::Relaxed);
        if owner == me || (owner == 0 && c.owner.compare_exchange(0, me, Ordering::Relaxed, Ordering::Relaxed).is_ok())
        {
            // Only the owner writes `mine`, so load-then-store loses nothing.
            mine.store(mine.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        } else {
            shared.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn hits(&self) -> u64 {
        self.counters.owner_hits.load(Ordering::Relaxed) + self.counters.hits.load(Ordering::Relaxed)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.counters.owner_dropped.load(Ordering::Relaxed) + self.counters.dropped.load(Ordering::Relaxed)
    }
}

/// Everything that changes together, under one lock: taken once per miss, per load completion, per scheduler
/// batch and per call of the management methods; never on a hit. Nothing blocks while holding it (loads, the
/// predictor, the weigher and callbacks run outside it).
pub(crate) struct Control<P: DataProvider> {
    pub(crate) index: Index<Key<P>>,
    pub(crate) inflight: HashMap<Key<P>, Arc<FlightOf<P>>>,
    /// Queued prefetches, in the order they start.
    pub(crate) queue: VecDeque<(Key<P>, f64)>,
    /// Prefetches running on workers now (discarded ones included, until they settle).
    pub(crate) prefetching: usize,
    /// The scores in force: the latest prediction plus the hints.
    pub(crate) predicted: HashMap<Key<P>, f64>,
    /// The latest prediction as the predictor ranked it (sanitized, best first).
    pub(crate) ranked: Vec<(Key<P>, f64)>,
    /// What is in force: the hints, then the prediction, best first (what `predicted` maps).
    pub(crate) applied: Vec<(Key<P>, f64)>,
    /// Explicit prefetch hints, oldest first, kept until requested.
    pub(crate) hints: VecDeque<Key<P>>,
    pub(crate) failed: HashSet<Key<P>>,
    pub(crate) failed_order: VecDeque<Key<P>>,
    pub(crate) counters: Stats,
    /// True while the scheduler holds a batch it has drained but not applied yet.
    pub(crate) scheduling: bool,
    /// What the resident table's writer (the lock's holder) retired and has not freed yet.
    pub(crate) garbage: Garbage,
    /// Settled flights that nobody holds, for the next loads (see [`Control::new_flight`]).
    spare_flights: Vec<Arc<FlightOf<P>>>,
}

impl<P: DataProvider> Control<P> {
    pub(crate) fn new(policy: EvictionPolicy) -> Self {
        Control {
            index: Index::new(policy),
            inflight: HashMap::new(),
            queue: VecDeque::new(),
            prefetching: 0,
            predicted: HashMap::new(),
            ranked: Vec::new(),
            applied: Vec::new(),
            hints: VecDeque::new(),
            failed: HashSet::new(),
            failed_order: VecDeque::new(),
            counters: Stats::default(),
            scheduling: false,
            garbage: Garbage::default(),
            spare_flights: Vec::new(),
        }
    }

    /// A fresh flight of `kind`, reusing a spare one if there is.
    pub(crate) fn new_flight(&mut self, kind: LoadKind) -> Arc<FlightOf<P>> {
        match self.spare_flights.pop() {
            Some(spare) => Flight::reuse(spare, kind),
            None => Flight::new(kind),
        }
    }

    /// Keeps a flight that was unregistered and that no other thread holds (the loader checked, under this
    /// lock, that its reference is the only one), for [`new_flight`](Self::new_flight).
    pub(crate) fn recycle(&mut self, flight: Arc<FlightOf<P>>) {
        if self.spare_flights.len() < SPARE_FLIGHTS {
            self.spare_flights.push(flight);
        }
    }

    pub(crate) fn remember_failure(&mut self, key: Key<P>) {
        if self.failed.insert(key.clone()) {
            self.failed_order.push_back(key);
            if self.failed_order.len() > FAILED_MEMORY
                && let Some(old) = self.failed_order.pop_front()
            {
                self.failed.remove(&old);
            }
        }
    }

    pub(crate) fn forget_failure(&mut self, key: &Key<P>) {
        if !self.failed.is_empty() && self.failed.remove(key) {
            self.failed_order.retain(|k| k != key);
        }
    }

    /// Unregisters the flight of `key` if it is this one (a discarded flight may have been replaced).
    pub(crate) fn unregister(&mut self, key: &Key<P>, flight: &Arc<FlightOf<P>>) {
        // One probe in the usual case; a flight registered since (this one was discarded) goes back.
        if let Some((k, registered)) = self.inflight.remove_entry(key)
            && !Arc::ptr_eq(&registered, flight)
        {
            self.inflight.insert(k, registered);
        }
    }
}

impl<P: DataProvider> Shared<P> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Control<P>> {
        // A panic never happens inside our critical sections (user code runs outside them), but if one did,
        // the state is still consistent enough to serve: take it rather than poison every caller.
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The calling thread's stripe, and the thread's id (nonzero, unique) for [`Stripe::count_hit`].
    pub(crate) fn stripe(&self) -> (&Stripe<Key<P>>, usize) {
        thread_local! {
            static ID: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(1);
                NEXT.fetch_add(1, Ordering::Relaxed)
            };
        }
        let id = ID.with(|id| *id);
        (&self.stripes[id % STRIPES], id)
    }

    /// Appends a request to the access log and wakes the scheduler if it may be asleep.
    #[inline]
    pub(crate) fn record(&self, stripe: &Stripe<Key<P>>, key: &Key<P>, me: usize) {
        // A full log means the scheduler is behind (or pausing on purpose): drop the entry without trying,
        // because a failed `push` costs a SeqCst fence.
        if stripe.log.is_full() || stripe.log.push(key.clone()).is_err() {
            stripe.count_dropped(me);
        }
        // Lost wake-ups are impossible: `push` publishes the entry with a SeqCst CAS and the load below is
        // SeqCst, while the scheduler stores `pending = false` (SeqCst) and then looks for entries after a SeqCst
        // fence (inside `ArrayQueue::pop`, and its own). If our load still sees `true`, it precedes that store in
        // the single total order, so the scheduler's drain sees our entry. Either way no fence is needed here,
        // and while the scheduler is busy or polling a request costs one read of a shared cache line.
        if !self.pending.load(Ordering::SeqCst) && !self.pending.swap(true, Ordering::SeqCst) {
            self.wake_scheduler();
        }
    }

    pub(crate) fn wake_scheduler(&self) {
        if let Some(t) = self.scheduler.get() {
            t.unpark();
        }
    }

    pub(crate) fn emit(&self, event: Event<Key<P>>) {
        if let Some(tx) = &self.events {
            let _ = tx.send(Some(event));
        }
    }

    /// Whether anyone listens for events (so that building one can be skipped).
    pub(crate) fn emits(&self) -> bool {
        self.events.is_some()
    }

    pub(crate) fn weigh(&self, key: &Key<P>, value: &Value<P>) -> Result<u64, String> {
        match &self.weigher {
            None => Ok(1),
            Some(w) => catch_unwind(AssertUnwindSafe(|| w(key, value))).map_err(|p| panic_message(&*p)),
        }
    }

    /// Whether to time the next load: always while the latency is unknown, slow (the clock is then cheap beside
    /// it), or events are on (they report it); otherwise one load in 16 per thread, since two clock reads cost
    /// about a tenth of a miss of an instant provider and the moving average needs no more samples than that.
    pub(crate) fn time_this_load(&self) -> bool {
        thread_local! {
            static COUNT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
        let latency = self.latency_ns.load(Ordering::Relaxed);
        latency == 0
            || latency > TIME_EVERY_LOAD_ABOVE_NS
            || self.emits()
            || COUNT.with(|c| {
                let n = c.get().wrapping_add(1);
                c.set(n);
                n % 16 == 0
            })
    }

    pub(crate) fn observe_latency(&self, elapsed: Duration) {
        let sample = elapsed.as_nanos().min(u128::from(u64::MAX)) as f64;
        let old = self.latency_ns.load(Ordering::Relaxed);
        let new = if old == 0 { sample } else { old as f64 * (1.0 - EWMA_ALPHA) + sample * EWMA_ALPHA };
        // A lost update between two concurrent loads only drops one sample of a moving average.
        self.latency_ns.store((new as u64).max(1), Ordering::Relaxed);
    }

    /// The counters, with the per-stripe ones summed in. Takes the control lock (`c`).
    pub(crate) fn stats_locked(&self, c: &Control<P>) -> Stats {
        let (hits, dropped) = self.stripes.iter().fold((0, 0), |(h, d), st| (h + st.hits(), d + st.dropped()));
        let mut stats = c.counters.clone();
        stats.hits += hits;
        stats.history_dropped = dropped + self.flood_skipped.load(Ordering::Relaxed);
        stats.resident_entries = c.index.len() as u64;
        stats.resident_weight = u64::try_from(c.index.total_weight()).unwrap_or(u64::MAX);
        stats.in_flight = c.inflight.len() as u64;
        stats.scheduler_wakeups = self.scheduler_wakeups.load(Ordering::Relaxed);
        stats
    }

    /// Marks the thread that runs `f` as one of ours for `close`: recorded as exited when `f` returns or unwinds.
    pub(crate) fn run_thread(&self, f: impl FnOnce()) {
        struct Exit<'a>(&'a Mutex<HashSet<std::thread::ThreadId>>, &'a Condvar);
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(std::thread::current().id());
                self.1.notify_all();
            }
        }
        let _exit = Exit(&self.exited, &self.exited_cv);
        f();
    }
}

/// A closed cache's error, typed for `P`.
pub(crate) fn closed<P: DataProvider>() -> CacheError<Key<P>, Error<P>> {
    CacheError::Closed
}
