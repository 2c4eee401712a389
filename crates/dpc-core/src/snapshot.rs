//! A consistent view of the cache's state, for viewers and tools.

use crate::Stats;

/// Whether a load runs because a caller asked for the key or because the predictor expected it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LoadKind {
    /// A `get` found the key neither resident nor in flight and loads it on its own thread.
    Demand,
    /// A prefetch worker loads it ahead of a request.
    Prefetch,
}

/// The state of a [`PrefetchCache`](crate::PrefetchCache) at one instant: taken under its control lock, so no key
/// is both resident and in flight, and the counters match the entries.
///
/// Costs time proportional to the entries it returns and nothing on the hit path.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct Snapshot<K> {
    /// Every resident key with its current score (0 when the latest prediction does not name it), in no order.
    pub resident: Vec<Resident<K>>,
    /// The loads running now.
    pub in_flight: Vec<InFlight<K>>,
    /// The queued prefetches, in the order they will start, with their scores.
    pub queued: Vec<(K, f64)>,
    /// The latest prediction (with explicit [`prefetch`](crate::PrefetchCache::prefetch) hints first), best
    /// first, as the scheduler applied it.
    pub predicted: Vec<(K, f64)>,
    /// The counters at that instant.
    pub stats: Stats,
    /// What the scheduler thread is doing.
    pub scheduler: SchedulerState,
}

/// What the scheduler thread is doing, for tools that show what the cache costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SchedulerState {
    /// Handling requests (or about to look at the log again).
    Busy,
    /// Requests come often: it naps briefly between looks at the log, so callers never wake it.
    Polling,
    /// Parked until the next request wakes it; it costs no CPU.
    Parked,
}

impl SchedulerState {
    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            1 => SchedulerState::Polling,
            2 => SchedulerState::Parked,
            _ => SchedulerState::Busy,
        }
    }
}

impl<K: PartialEq> Snapshot<K> {
    /// The resident entry of `key`, if there is one.
    pub fn resident_entry(&self, key: &K) -> Option<&Resident<K>> {
        self.resident.iter().find(|r| &r.key == key)
    }

    /// The kind of the load of `key` in flight, if there is one.
    pub fn in_flight_kind(&self, key: &K) -> Option<LoadKind> {
        self.in_flight.iter().find(|f| &f.key == key).map(|f| f.kind)
    }

    /// Whether `key` is queued for prefetching.
    pub fn is_queued(&self, key: &K) -> bool {
        self.queued.iter().any(|(k, _)| k == key)
    }
}

/// One resident entry of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Resident<K> {
    /// The key.
    pub key: K,
    /// Its current score; the lowest is evicted first.
    pub score: f64,
    /// Its weight for the weight bound (1 without a weigher).
    pub weight: u64,
    /// Whether a prefetch loaded it.
    pub prefetched: bool,
    /// Whether it has been requested since it became resident.
    pub used: bool,
}

/// One load in flight in a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct InFlight<K> {
    /// The key being loaded.
    pub key: K,
    /// Why it is being loaded.
    pub kind: LoadKind,
}
