//! # dpc-store: persistent result caches
//!
//! Expensive results (a video segment's analysis, an API response, a trained filter's output on a chunk of data)
//! should survive a restart, so that a second run of a program does not compute them again.
//!
//! - [`TieredCache`] is a two-level cache: a thread-safe bounded LRU in memory over a directory holding one JSON
//!   document per entry, with TTLs, `get_or_compute` that computes once under concurrency, prefix invalidation,
//!   `cleanup`, an optional size limit and per-tier stats. It is safe against hostile keys, corrupt files and other
//!   processes sharing the directory.
//! - [`StreamCache`] is a content-addressed memo for inference pipelines: trained filter states keyed by
//!   (configuration, training data) hashes, chunk results keyed by (configuration, state, chunk) hashes, bounded and
//!   optionally persisted through a `TieredCache`.
//! - [`ContentHash`] is the stable 128-bit hash (XXH3-128) that both use: the same on every run and machine.
//!
//! ```
//! use dpc_store::TieredCache;
//!
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! struct Analysis { motion: f64, faces: u32 }
//!
//! let dir = tempfile::tempdir()?;
//! let cache: TieredCache<Analysis> = TieredCache::open(dir.path().join("segments"))?;
//! let analyse = |segment: u32| Analysis { motion: f64::from(segment) * 0.5, faces: segment % 3 };
//! let first = cache.get_or_compute("video.mp4/segment/4", || analyse(4));
//! assert_eq!(*first, Analysis { motion: 2.0, faces: 1 });
//!
//! // After a restart, the result comes from the file tier without computing.
//! drop(cache);
//! let cache: TieredCache<Analysis> = TieredCache::open(dir.path().join("segments"))?;
//! let again = cache.get_or_compute("video.mp4/segment/4", || unreachable!("cached"));
//! assert_eq!(again, first);
//! assert_eq!(cache.invalidate_prefix("video.mp4/")?, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | item | what it is |
//! |---|---|
//! | [`TieredCache`], [`TieredCacheBuilder`] | memory LRU + JSON file tier, TTL, `get_or_compute`, `cleanup`, size limit |
//! | [`StoreStats`], [`CleanupReport`] | entries and bytes per tier, hits per tier, misses, expirations, corrupt files |
//! | [`StreamCache`], [`StateKey`], [`ChunkKey`], [`TrainedState`] | content-addressed memo of states and chunk results |
//! | [`ContentHash`], [`ContentHasher`] | stable XXH3-128 content hash of bytes, samples or JSON |
//! | [`Clock`], [`SystemClock`], [`ManualClock`] | injectable wall clock, so TTL tests never sleep |
//! | [`StoreError`], [`RedisFailure`] | typed errors: read-only directory, full disk, other I/O, serialization, size, a directory that is not the cache's, a TTL under 1 ms, Redis |
//!
//! | `RedisConfig` (feature `redis`) | a shared Redis tier below the file tier, with timeouts and back-off |
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` (off by default) | `TieredCacheBuilder::redis`: the same documents in Redis under a namespace, TTL as expiry, prefix invalidation by `SCAN`; a down or slow Redis degrades to the local tiers within its timeouts |
//!
//! Without features it depends on `lru`, `serde`, `serde_json`, `xxhash-rust` (and `libc` on Unix).
//! See `docs/store.md` for the on-disk format and the guarantees in detail.

mod clock;
mod error;
mod file;
mod hash;
#[cfg(feature = "redis")]
mod redis_tier;
mod stream;
mod tiered;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{RedisFailure, StoreError};
pub use hash::{ContentHash, ContentHasher, ParseHashError};
#[cfg(feature = "redis")]
pub use redis_tier::{
    DEFAULT_REDIS_BACKOFF, DEFAULT_REDIS_CONNECT_TIMEOUT, DEFAULT_REDIS_MAX_BACKOFF, DEFAULT_REDIS_NAMESPACE,
    DEFAULT_REDIS_RESPONSE_TIMEOUT, RedisConfig,
};
pub use stream::{
    ChunkKey, DEFAULT_MAX_CHUNKS, DEFAULT_MAX_STATES_PER_FILTER, StateKey, StreamCache, StreamCacheBuilder,
    StreamStats, TrainedState,
};
pub use tiered::{
    CleanupReport, DEFAULT_MAX_ENTRY_BYTES, DEFAULT_MEMORY_CAPACITY, DEFAULT_TTL, STALE_TEMP_AGE, StoreStats,
    TieredCache, TieredCacheBuilder,
};

#[cfg(test)]
mod tests;
