//! Counters and their snapshot.

use serde::{Deserialize, Serialize};

/// A consistent-enough snapshot of the cache's counters (each counter is exact; they are read one by one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Requests served from a resident entry at once.
    pub hits: u64,
    /// Requests that joined a load already in flight.
    pub late_hits: u64,
    /// Requests that found nothing and loaded on the caller's thread.
    pub misses: u64,
    /// Demand loads performed (equal to `misses` unless a joined prefetch failed and was retried).
    pub loads: u64,
    /// Demand loads that failed (error or panic).
    pub load_errors: u64,
    /// Prefetch loads started.
    pub prefetch_issued: u64,
    /// Prefetch loads that finished successfully.
    pub prefetch_completed: u64,
    /// Prefetched entries requested at least once (including requests that joined the load in flight).
    pub prefetch_used: u64,
    /// Prefetched values evicted or dropped without ever being requested.
    pub prefetch_wasted: u64,
    /// Prefetch loads that failed (error or panic).
    pub prefetch_failed: u64,
    /// Queued prefetches dropped before they started.
    pub prefetch_cancelled: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
    /// Values made resident by [`insert`](crate::PrefetchCache::insert).
    pub inserted: u64,
    /// Values dropped by [`invalidate`](crate::PrefetchCache::invalidate) or
    /// [`invalidate_all`](crate::PrefetchCache::invalidate_all): resident ones, and loads in flight whose value
    /// was then not kept.
    pub invalidated: u64,
    /// Requests not recorded in the history because the access log was full (the scheduler fell behind), or
    /// drained but skipped while requests came faster than the scheduler's flood threshold (then the predictor
    /// sees each thread's latest 64 requests of every millisecond).
    pub history_dropped: u64,
    /// Times the scheduler thread woke up (to handle requests, or from a nap while polling): what it costs in
    /// CPU is about this many wake-ups of a few microseconds each, plus the predictor's work.
    pub scheduler_wakeups: u64,
    /// Predictor panics caught by the scheduler.
    pub predictor_panics: u64,
    /// Entries resident now.
    pub resident_entries: u64,
    /// Total weight of the resident entries now.
    pub resident_weight: u64,
    /// Loads (demand and prefetch) running now.
    pub in_flight: u64,
}

impl Stats {
    /// All requests: hits, late hits and misses.
    pub fn requests(&self) -> u64 {
        self.hits + self.late_hits + self.misses
    }

    /// Share of requests served at once, in [0, 1]; 0 when there were none.
    pub fn hit_rate(&self) -> f64 {
        ratio(self.hits, self.requests())
    }

    /// Share of completed prefetches that were used, in [0, 1]; 0 when none completed.
    pub fn accuracy(&self) -> f64 {
        ratio(self.prefetch_used, self.prefetch_completed)
    }

    /// Share of the would-be misses that prefetching removed: used / (used + misses), in [0, 1].
    pub fn coverage(&self) -> f64 {
        ratio(self.prefetch_used, self.prefetch_used + self.misses)
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}
