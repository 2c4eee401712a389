//! The three extension points of the cache: where values come from, which keys come next, and who goes first.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

/// What a cache key must be: cheap to clone, hashable, printable and shareable between threads.
///
/// Integers are the usual keys (frame numbers, record ids); for string keys prefer `Arc<str>`,
/// whose clone does not allocate, so the hit path stays allocation-free.
pub trait Key: Clone + Eq + Hash + Debug + Send + Sync + 'static {}

impl<T: Clone + Eq + Hash + Debug + Send + Sync + 'static> Key for T {}

/// Where values come from: a slow source such as a file, a decoder, a database or a web service.
///
/// `load` is called from several threads at once (the caller of a missing key and the prefetch workers),
/// but never twice at the same time for the same key.
pub trait DataProvider: Send + Sync + 'static {
    /// The key type, for example a frame number.
    type Key: Key;
    /// The loaded value; the cache hands out `Arc<Value>`.
    type Value: Send + Sync + 'static;
    /// The provider's error; it reaches the caller of a demand load and is never cached.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Loads one value. May block on I/O.
    fn load(&self, key: &Self::Key) -> Result<Self::Value, Self::Error>;

    /// Whether `key` exists at all, so that predictions such as frame `-1` or a frame past the end are never
    /// prefetched. Must be cheap: it is called for every predicted key. Defaults to `true`.
    fn contains(&self, key: &Self::Key) -> bool {
        let _ = key;
        true
    }
}

/// What a predictor sees when it is asked for scores.
///
/// The cache builds it; predictor tests and simulators build one with [`new`](Self::new) and the setters:
///
/// ```
/// use std::time::Duration;
/// use dpc_core::PredictContext;
///
/// let history = [3u64, 4, 5];
/// let cx = PredictContext::new(&5, &history)
///     .workers(4)
///     .load_latency(Some(Duration::from_millis(8)))
///     .request_interval(Some(Duration::from_millis(1)));
/// assert_eq!(cx.lookahead(), 8);
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct PredictContext<'a, K> {
    /// The key requested last.
    pub current: &'a K,
    /// Recent requests, oldest first; the last element is `current`. At most the configured history length.
    pub history: &'a [K],
    /// The cache's entry bound, if it has one: there is no use in scoring more keys than fit.
    pub capacity: Option<usize>,
    /// How many prefetch loads may be queued or running at once.
    pub max_prefetch: usize,
    /// How many prefetch loads can run at the same time (the worker count).
    pub workers: usize,
    /// Moving average of the time one load takes, once some loads have been measured.
    pub load_latency: Option<Duration>,
    /// Moving average of the time between two requests, once there have been a few.
    pub request_interval: Option<Duration>,
}

impl<'a, K> PredictContext<'a, K> {
    /// A context for `current` after `history` (oldest first, ending with `current`), with the cache's defaults:
    /// no entry bound, 20 prefetches, 4 workers, nothing measured yet.
    pub fn new(current: &'a K, history: &'a [K]) -> Self {
        PredictContext {
            current,
            history,
            capacity: None,
            max_prefetch: 20,
            workers: 4,
            load_latency: None,
            request_interval: None,
        }
    }

    /// Sets the entry bound.
    #[must_use]
    pub fn capacity(mut self, capacity: Option<usize>) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets how many prefetch loads may be queued or running at once.
    #[must_use]
    pub fn max_prefetch(mut self, n: usize) -> Self {
        self.max_prefetch = n;
        self
    }

    /// Sets the worker count.
    #[must_use]
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Sets the measured load latency.
    #[must_use]
    pub fn load_latency(mut self, latency: Option<Duration>) -> Self {
        self.load_latency = latency;
        self
    }

    /// Sets the measured time between requests.
    #[must_use]
    pub fn request_interval(mut self, interval: Option<Duration>) -> Self {
        self.request_interval = interval;
        self
    }

    /// How many requests ahead a prefetch must be issued to arrive in time: load latency divided by the
    /// request interval, rounded up, at least 1. Fast consumers of slow data get a deeper window.
    pub fn lookahead(&self) -> usize {
        match (self.load_latency, self.request_interval) {
            (Some(lat), Some(int)) if !int.is_zero() => {
                let ratio = lat.as_secs_f64() / int.as_secs_f64();
                if ratio.is_finite() { (ratio.ceil() as usize).clamp(1, 1 << 16) } else { 1 << 16 }
            }
            (Some(lat), Some(_)) if !lat.is_zero() => 1 << 16,
            _ => 1,
        }
    }
}

/// Guesses which keys will be requested next.
///
/// Runs on the cache's scheduler thread, never on the caller's `get` path, so it may take a few microseconds.
/// A panic is caught and reported as [`Event::PredictorPanic`](crate::Event::PredictorPanic); the cache keeps working.
pub trait AccessPredictor<K>: Send + 'static {
    /// Learns from one request. Called once for every request, in order, before [`predict`](Self::predict).
    /// Markov-style predictors count transitions here; the default does nothing.
    fn observe(&mut self, key: &K) {
        let _ = key;
    }

    /// Pushes `(key, score)` pairs for likely next keys into `out` (which arrives empty).
    /// Scores are `>= 0`, higher meaning sooner or more likely; keys not pushed score 0.
    /// Duplicate keys keep their highest score; negative, NaN and infinite scores are ignored.
    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>);

    /// A short name for reports.
    fn name(&self) -> &str {
        "custom"
    }
}

impl<K: 'static> AccessPredictor<K> for Box<dyn AccessPredictor<K>> {
    fn observe(&mut self, key: &K) {
        (**self).observe(key)
    }
    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
        (**self).predict(ctx, out)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
}

/// The tie-break among equally unlikely eviction victims.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EvictionPolicy {
    /// The entry inserted first goes first.
    #[default]
    Oldest,
    /// The entry requested least recently goes first.
    LeastRecentlyUsed,
    /// The heaviest entry goes first (frees the most weight).
    Largest,
    /// The lightest entry goes first (keeps the most entries).
    Smallest,
}

/// A shared provider is a provider: keep an `Arc` to read its own statistics while the cache uses it.
impl<P: DataProvider> DataProvider for std::sync::Arc<P> {
    type Key = P::Key;
    type Value = P::Value;
    type Error = P::Error;

    fn load(&self, key: &Self::Key) -> Result<Self::Value, Self::Error> {
        (**self).load(key)
    }

    fn contains(&self, key: &Self::Key) -> bool {
        (**self).contains(key)
    }
}
