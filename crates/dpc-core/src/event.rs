//! Typed events, delivered in order to an optional callback.

use std::time::Duration;

/// Something that happened inside the cache.
///
/// Events are produced under the cache's bookkeeping lock and delivered by one dedicated thread, so the callback
/// sees them in the order they happened (for one key: start, then success or error, then eviction) and may
/// call back into the cache without deadlocking. Hits produce no events.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event<K> {
    /// A demand load (a `get` of a key neither resident nor in flight) started on the caller's thread.
    LoadStart { key: K },
    /// A demand load finished and its value was returned (and cached, if it fits).
    LoadComplete { key: K, elapsed: Duration },
    /// A demand load failed; the error went to the caller and nothing was cached.
    LoadError { key: K, error: String },
    /// A prefetch load started on a worker.
    PrefetchStart { key: K, score: f64 },
    /// A prefetch load finished. `admitted` is false when, by then, the key no longer beat any resident entry
    /// and was dropped rather than displacing something likelier.
    PrefetchSuccess { key: K, elapsed: Duration, admitted: bool },
    /// A prefetch load failed; the key will not be prefetched again until a demand load succeeds.
    PrefetchError { key: K, error: String },
    /// A queued prefetch was dropped before it started because it fell out of the latest prediction.
    PrefetchCancel { key: K },
    /// A resident entry was evicted to make room.
    Evict { key: K, score: f64, prefetched_unused: bool },
    /// The predictor panicked; the scheduler caught it, skipped that prediction and keeps running.
    PredictorPanic { message: String },
    /// The weigher panicked on a loaded value; the value went to its callers but was not cached.
    WeigherPanic { key: K, message: String },
    /// A value was dropped by [`invalidate`](crate::PrefetchCache::invalidate) or
    /// [`invalidate_all`](crate::PrefetchCache::invalidate_all) (resident, or loading and then not kept).
    Invalidate { key: K },
}
