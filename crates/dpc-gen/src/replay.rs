//! The replay harness of BENCHMARKS.md §1: one simulated user replays a trace through the real
//! [`PrefetchCache`], in real time, against a provider that sleeps `latency` per load.
//!
//! Closed loop: request `i + 1` is issued `think` after request `i` was served. Each `get` is timed; the
//! sum of those times is the stall, what the user waited for. Hits, late hits, misses, loads and prefetch
//! counters come from the cache's own [`Stats`](dpc_core::Stats).
//!
//! Sleeps are precise to a few microseconds: the last 100 us of every wait spin instead of sleeping.
//! With latency and think 0 nothing sleeps, and with `--predictor none` the counts depend only on the trace.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use dpc_core::{AccessPredictor, BuildError, CacheError, DataProvider, PrefetchCache};
use serde::Serialize;

use crate::oracle::Setup;

/// The JSON fields of `dpc replay --json` (BENCHMARKS.md §1), in that order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Requests replayed.
    pub requests: u64,
    /// Requests served from a resident entry at once.
    pub hits: u64,
    /// Requests that joined a load already in flight.
    pub late_hits: u64,
    /// Requests that loaded on demand.
    pub misses: u64,
    /// Total time spent inside `get`, in milliseconds.
    pub stall_ms: f64,
    /// Median `get` time, in microseconds.
    pub p50_us: f64,
    /// 99th percentile `get` time, in microseconds.
    pub p99_us: f64,
    /// Longest `get`, in microseconds.
    pub max_us: f64,
    /// Demand loads (the cache's `loads`).
    pub loads: u64,
    /// Prefetch loads started.
    pub prefetch_issued: u64,
    /// Prefetched entries requested at least once.
    pub prefetch_used: u64,
    /// Prefetched entries evicted or dropped unused.
    pub prefetch_wasted: u64,
    /// Wall time of the whole replay, in milliseconds.
    pub wall_ms: f64,
    /// The predictor's name.
    pub predictor: String,
}

/// Why a replay failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// The cache refused the settings (for example capacity 0).
    Build(BuildError),
    /// A `get` failed (the replay's provider never errs, so this is a panic or a closed cache); the key is
    /// shown with `Debug`, since the report is not generic over the key type.
    Cache(CacheError<String, std::convert::Infallible>),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Build(e) => write!(f, "could not build the cache: {e}"),
            ReplayError::Cache(e) => write!(f, "a request failed: {e}"),
        }
    }
}

impl std::error::Error for ReplayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplayError::Build(e) => Some(e),
            ReplayError::Cache(e) => Some(e),
        }
    }
}

/// A provider that takes `latency` per load and returns the key itself.
#[derive(Debug)]
pub struct SlowProvider<K> {
    latency: Duration,
    _key: PhantomData<fn() -> K>,
}

impl<K> SlowProvider<K> {
    /// A provider whose every load takes `latency`.
    pub fn new(latency: Duration) -> Self {
        SlowProvider { latency, _key: PhantomData }
    }
}

impl<K: dpc_core::Key> DataProvider for SlowProvider<K> {
    type Key = K;
    type Value = K;
    type Error = std::convert::Infallible;

    fn load(&self, key: &K) -> Result<K, Self::Error> {
        wait(self.latency);
        Ok(key.clone())
    }
}

/// Waits `d` precisely: sleeps all but the last 100 us, then spins.
pub fn wait(d: Duration) {
    if d.is_zero() {
        return;
    }
    let start = Instant::now();
    let spin = Duration::from_micros(100);
    if d > spin {
        std::thread::sleep(d - spin);
    }
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Replays `keys` through a fresh cache with `predictor` and the given setup.
pub fn replay<K: dpc_core::Key>(
    keys: &[K],
    predictor: Box<dyn AccessPredictor<K>>,
    setup: &Setup,
) -> Result<ReplayReport, ReplayError> {
    let name = predictor.name().to_string();
    let cache = PrefetchCache::builder(SlowProvider::<K>::new(setup.latency))
        .predictor(predictor)
        .max_entries(setup.capacity)
        .workers(setup.workers)
        .build()
        .map_err(ReplayError::Build)?;
    let mut times = Vec::with_capacity(keys.len());
    let start = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            wait(setup.think);
        }
        let t = Instant::now();
        let got = cache.get(key);
        times.push(t.elapsed());
        got.map_err(|e| {
            ReplayError::Cache(match e {
                CacheError::Panicked { key, message } => CacheError::Panicked { key: format!("{key:?}"), message },
                _ => CacheError::Closed,
            })
        })?;
    }
    let wall = start.elapsed();
    let stats = cache.stats();
    cache.close();
    let stall: Duration = times.iter().sum();
    times.sort_unstable();
    let pct = |q: f64| -> f64 {
        if times.is_empty() {
            return 0.0;
        }
        let i = ((times.len() - 1) as f64 * q).round() as usize;
        times[i].as_secs_f64() * 1e6
    };
    Ok(ReplayReport {
        requests: keys.len() as u64,
        hits: stats.hits,
        late_hits: stats.late_hits,
        misses: stats.misses,
        stall_ms: stall.as_secs_f64() * 1e3,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        max_us: pct(1.0),
        loads: stats.loads,
        prefetch_issued: stats.prefetch_issued,
        prefetch_used: stats.prefetch_used,
        prefetch_wasted: stats.prefetch_wasted,
        wall_ms: wall.as_secs_f64() * 1e3,
        predictor: name,
    })
}
