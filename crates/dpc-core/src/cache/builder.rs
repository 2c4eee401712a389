//! The builder: settings, their checks, and starting the threads.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crossbeam_channel::Receiver;
use crossbeam_utils::CachePadded;

use super::resident::ResidentMap;
use super::state::{Callback, Config, Control, STRIPES, Shared, Stripe, WeigherFn};
use super::{PrefetchCache, Threads};
use crate::{AccessPredictor, BuildError, DataProvider, Event, EvictionPolicy, NoPrefetch};

const DEFAULT_MAX_ENTRIES: usize = 100;
const DEFAULT_MAX_PREFETCH: usize = 20;
const DEFAULT_HISTORY: usize = 30;
const DEFAULT_WORKERS: usize = 4;
/// Requests closer together than this are noticed by polling rather than by a wake-up inside `get`.
/// Measured on the replay of docs/BENCHMARKS.md (a request per ~1 ms): waking a parked scheduler cost 6 us per
/// hit; polling costs about 1 % of a core at 1 000 requests per second.
const DEFAULT_POLL_BELOW: Duration = Duration::from_millis(2);
const MAX_WORKERS: usize = 1024;

/// Builds a [`PrefetchCache`]; see [`PrefetchCache::builder`].
///
/// Defaults follow the Python original: 100 entries, 20 prefetches queued or running, a history of 30 requests;
/// plus 4 prefetch workers, the [`Oldest`](EvictionPolicy::Oldest) tie-break and no prefetching until a
/// predictor is set.
#[must_use = "a builder does nothing until `build` is called"]
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
    poll_below: Duration,
}

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
            .field("poll_below", &self.poll_below)
            .finish_non_exhaustive()
    }
}

impl<P: DataProvider> PrefetchCacheBuilder<P> {
    pub(super) fn new(provider: P) -> Self {
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
            poll_below: DEFAULT_POLL_BELOW,
        }
    }

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

    /// Measures each entry for the weight bound, for example its size in bytes. Any `u64` is fine: totals are
    /// kept exactly, and an entry heavier than the bound is returned but not cached.
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

    /// Requests arriving on average more often than this are noticed by the scheduler *polling* (short timed
    /// sleeps of half the interval, at most 500 us, while requests keep coming), so that a `get` never
    /// pays for waking it (a system call of several microseconds); rarer requests wake it themselves.
    /// Default 2 ms. It never waits awake, and it parks for good a few intervals after the last request, so an
    /// idle cache uses no CPU. Zero never polls: each `get` after a pause pays the wake-up instead.
    pub fn poll_below(mut self, interval: Duration) -> Self {
        self.poll_below = interval;
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
        let (event_tx, event_rx) = match self.on_event {
            Some(_) => {
                let (tx, rx) = crossbeam_channel::unbounded();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            provider: self.provider,
            resident: ResidentMap::new(max_entries.unwrap_or(1 << 16)),
            stripes: (0..STRIPES).map(|_| CachePadded::new(Stripe::new())).collect(),
            closed: AtomicBool::new(false),
            pending: CachePadded::new(AtomicBool::new(false)),
            scheduler: OnceLock::new(),
            scheduler_state: AtomicU8::new(0),
            scheduler_wakeups: AtomicU64::new(0),
            flood_skipped: AtomicU64::new(0),
            control: Mutex::new(Control::new(self.policy)),
            work: Condvar::new(),
            idle: Condvar::new(),
            events: event_tx,
            latency_ns: AtomicU64::new(0),
            weigher: self.weigher,
            config: Config {
                max_entries,
                max_weight: self.max_weight,
                max_prefetch: self.max_prefetch,
                workers: self.workers,
                history_len: self.history_len,
                poll_below: self.poll_below,
            },
            exited: Mutex::new(hashbrown::HashSet::new()),
            exited_cv: Condvar::new(),
        });

        let mut threads = Threads::default();
        let spawn_err = |e: std::io::Error| BuildError::Spawn(e.to_string());
        let started = || -> Result<(), BuildError> {
            if let (Some(callback), Some(rx)) = (self.on_event, event_rx) {
                let s = Arc::clone(&shared);
                let handle = thread::Builder::new()
                    .name("dpc-events".into())
                    .spawn(move || s.run_thread(|| deliver(rx, callback)))
                    .map_err(spawn_err)?;
                threads.events = Some(handle);
            }
            for i in 0..self.workers {
                let s = Arc::clone(&shared);
                let handle = thread::Builder::new()
                    .name(format!("dpc-worker-{i}"))
                    .spawn(move || s.run_thread(|| s.worker()))
                    .map_err(spawn_err)?;
                threads.scheduler_and_workers.push(handle);
            }
            let s = Arc::clone(&shared);
            let predictor = self.predictor;
            let handle = thread::Builder::new()
                .name("dpc-scheduler".into())
                .spawn(move || s.run_thread(|| s.schedule(predictor)))
                .map_err(spawn_err)?;
            let _ = shared.scheduler.set(handle.thread().clone());
            threads.scheduler_and_workers.push(handle);
            Ok(())
        };
        let result = started();
        threads.ids =
            threads.scheduler_and_workers.iter().chain(threads.events.iter()).map(|h| h.thread().id()).collect();
        let cache =
            PrefetchCache { shared, threads: Mutex::new(threads), closed_cv: Condvar::new(), demand: OnceLock::new() };
        // On a failed spawn, dropping `cache` closes it and joins whatever did start.
        result.map(|()| cache)
    }
}

/// The event thread: delivers events in order until `None` arrives (or every sender is gone).
fn deliver<K>(rx: Receiver<Option<Event<K>>>, callback: Box<Callback<K>>) {
    while let Ok(Some(event)) = rx.recv() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(&event)));
    }
}
