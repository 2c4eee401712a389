//! [`TieredCache`]: a bounded in-memory LRU tier over a persistent directory of JSON entries.
//!
//! # Locks
//! - `memory`: one mutex around the LRU; held only for a lookup or an insertion, never across I/O.
//! - `stripes`: 64 mutexes chosen by the key hash. Everything that changes a key's file, and the read of a file
//!   followed by its promotion to memory, holds the key's stripe, so a promotion can never resurrect a value that a
//!   concurrent `set` or `delete` replaced. Memory hits take no stripe.
//! - `index`: the process's view of the file tier (sizes, age order), for the size limit and the stats.
//! - `flights`: the keys being computed by `get_or_compute`.
//!
//! Lock order: stripe, then memory or index (never two of those at once), and flights alone.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Relaxed, SeqCst},
};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use lru::LruCache;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::clock::{Clock, SystemClock, expiry};
use crate::file::{self, FileTier, ItemKind, ReadOutcome};
#[cfg(feature = "redis")]
use crate::redis_tier::{RedisConfig, RedisTier};

/// The default time to live of an entry: 24 hours.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The default number of entries the memory tier holds.
pub const DEFAULT_MEMORY_CAPACITY: usize = 1024;
/// Temporary files older than this are leftovers of a crashed writer, removed by [`TieredCache::cleanup`].
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(60 * 60);
/// The default limit on one entry file: 64 MiB. Larger files are not read (a miss that removes them) nor written.
pub const DEFAULT_MAX_ENTRY_BYTES: u64 = 64 << 20;
/// The resolution of TTLs: entries store Unix milliseconds.
const TTL_RESOLUTION: Duration = Duration::from_millis(1);

/// A two-level result cache: a thread-safe bounded LRU in memory over one JSON file per entry in a directory.
///
/// - [`get`](Self::get) looks in memory, then in the directory; a file hit is promoted to memory.
/// - [`set`](Self::set) writes through to both tiers, with the default TTL (24 h) or a per-call one.
/// - [`get_or_compute`](Self::get_or_compute) computes a missing value once, however many threads ask at once.
/// - Entries expire lazily on read and in bulk through [`cleanup`](Self::cleanup); an expired entry is never
///   returned and never written.
///
/// Files are named by the XXH3-128 hash of the key, never by the key, so no key can reach outside the directory;
/// writes are atomic (temporary file and rename), so a reader in this or another process never sees a torn entry;
/// a corrupt, truncated or foreign file is a miss, removed and counted.
///
/// The memory tier is per process. Another process's writes to the directory are seen once this process's memory copy
/// of the key is gone (evicted, expired, deleted) or was never there.
///
/// ```
/// use std::time::Duration;
/// use dpc_store::TieredCache;
///
/// let dir = tempfile::tempdir()?;
/// let cache: TieredCache<Vec<u32>> = TieredCache::builder(dir.path()).memory_capacity(100).build()?;
/// cache.set("primes", vec![2, 3, 5, 7])?;
/// assert_eq!(*cache.get("primes")?.unwrap(), [2, 3, 5, 7]);
///
/// // A second cache on the same directory (a restart) finds it in the file tier.
/// let again: TieredCache<Vec<u32>> = TieredCache::open(dir.path())?;
/// let squares = again.get_or_compute("squares", || (1..4).map(|n| n * n).collect());
/// assert_eq!(*squares, [1, 4, 9]);
/// assert_eq!(again.get("primes")?.as_deref(), Some(&vec![2, 3, 5, 7]));
/// assert_eq!(again.stats().file_hits, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TieredCache<V> {
    memory: Option<Mutex<Memory<V>>>,
    files: FileTier,
    index: Mutex<FileIndex>,
    stripes: Box<[Mutex<()>]>,
    flights: Mutex<HashMap<String, Arc<Flight<V>>>>,
    default_ttl: Duration,
    max_bytes: Option<u64>,
    max_entry_bytes: u64,
    clock: Arc<dyn Clock>,
    counters: Counters,
    /// Bumped when a bulk invalidation (`clear`, `invalidate_prefix`) starts and ends.
    invalidations: AtomicU64,
    /// Bulk invalidations running now: a value read from Redis meanwhile is returned but not kept locally.
    invalidating: AtomicU64,
    #[cfg(feature = "redis")]
    redis: Option<RedisTier>,
}

/// Builds a [`TieredCache`]; see [`TieredCache::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct TieredCacheBuilder<V> {
    dir: PathBuf,
    memory_capacity: usize,
    default_ttl: Duration,
    max_bytes: Option<u64>,
    max_entry_bytes: u64,
    clock: Arc<dyn Clock>,
    fsync: bool,
    /// Whether there is a file tier (`TieredCache::builder_without_files` turns it off).
    files: bool,
    #[cfg(feature = "redis")]
    redis: Option<RedisConfig>,
    _value: PhantomData<fn() -> V>,
}

/// A snapshot of a [`TieredCache`]'s counters and sizes.
///
/// Sizes are in bytes of the entries' JSON documents. The file tier's entries and bytes are this process's view:
/// what it wrote, read or found when it opened the directory or last ran [`TieredCache::cleanup`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoreStats {
    /// Entries in the memory tier.
    pub memory_entries: u64,
    /// Bytes of the entries in the memory tier (their JSON documents' length).
    pub memory_bytes: u64,
    /// Entry files in the directory.
    pub file_entries: u64,
    /// Bytes of the entry files.
    pub file_bytes: u64,
    /// Lookups answered by the memory tier.
    pub memory_hits: u64,
    /// Lookups answered by the file tier (and promoted to memory).
    pub file_hits: u64,
    /// Lookups that found nothing valid.
    pub misses: u64,
    /// Expired entries dropped from the memory tier.
    pub memory_expirations: u64,
    /// Expired entry files removed (on read or by `cleanup`).
    pub file_expirations: u64,
    /// Corrupt, truncated or foreign entry files removed (foreign includes a symbolic link, a FIFO or another
    /// non-regular file at an entry path, and a file over the entry size limit).
    pub corrupt_removed: u64,
    /// Entries the memory tier's LRU bound pushed out (they stay in the file tier).
    pub memory_evictions: u64,
    /// Entry files removed to respect the size limit.
    pub size_evictions: u64,
    /// Writes to the file tier that failed (the value stayed in memory).
    pub write_errors: u64,
    /// Lookups answered by the Redis tier (and promoted to the local tiers). Zero without the `redis` feature.
    pub redis_hits: u64,
    /// Redis calls that failed other than by a timeout (refused, reset, an error answer).
    pub redis_errors: u64,
    /// Redis calls that hit the connect or response timeout.
    pub redis_timeouts: u64,
    /// Redis calls not made because the tier was backing off after a failure.
    pub redis_skipped: u64,
}

impl StoreStats {
    /// Hits in any tier.
    pub fn hits(&self) -> u64 {
        self.memory_hits + self.file_hits + self.redis_hits
    }

    /// Hits over lookups, 0 when there were none.
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits() + self.misses;
        if lookups == 0 { 0.0 } else { self.hits() as f64 / lookups as f64 }
    }
}

/// What one [`TieredCache::cleanup`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CleanupReport {
    /// Expired entries removed (files; memory copies are dropped too but not counted here).
    pub expired: u64,
    /// Corrupt, truncated or foreign entry files removed.
    pub corrupt: u64,
    /// Temporary files of crashed writers removed (older than [`STALE_TEMP_AGE`]).
    pub stale_temp_files: u64,
    /// Entry files removed, oldest first, to get under the size limit.
    pub evicted: u64,
    /// Entry files left.
    pub entries: u64,
    /// Bytes of the entry files left.
    pub bytes: u64,
}

impl<V> TieredCacheBuilder<V> {
    /// How many entries the memory tier holds (default [`DEFAULT_MEMORY_CAPACITY`]); 0 disables it,
    /// so that every lookup reads the directory.
    pub fn memory_capacity(mut self, entries: usize) -> Self {
        self.memory_capacity = entries;
        self
    }

    /// The TTL of entries set without one (default [`DEFAULT_TTL`], 24 h); at least one millisecond.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Bounds the bytes of the entry files; a write that goes over removes the oldest entries first.
    /// An entry larger than the whole limit is refused with [`StoreError::EntryTooLarge`].
    ///
    /// The limit is the file tier's (the memory tier is bounded by [`memory_capacity`](Self::memory_capacity)).
    /// "Oldest" is this process's view: files found when the cache opened, by modification time, then in the order
    /// this process wrote or first read them. Other processes' writes count once this process reads them or runs
    /// [`TieredCache::cleanup`], which re-reads the directory and enforces the limit against all of it.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// The largest entry file read or written (default [`DEFAULT_MAX_ENTRY_BYTES`], 64 MiB).
    ///
    /// A larger file at an entry path is a miss and is removed (counted in `corrupt_removed`), so a file that grows
    /// without end cannot exhaust memory; a larger entry is refused by `set` with [`StoreError::EntryTooLarge`].
    pub fn max_entry_bytes(mut self, bytes: u64) -> Self {
        self.max_entry_bytes = bytes;
        self
    }

    /// The clock for creation and expiry times (default [`SystemClock`]); tests pass a [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Adds a shared Redis tier below the file tier (feature `redis`): lookups that miss locally ask Redis, and
    /// every write and invalidation goes to Redis too. See [`RedisConfig`] and `docs/remote.md`.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, config: RedisConfig) -> Self {
        self.redis = Some(config);
        self
    }

    /// Whether each entry is fsynced before it is renamed into place (default off: a crash may lose recent entries,
    /// which are then misses, but never leaves a torn one).
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    /// Creates the directory if needed, makes sure it is the cache's own, and scans it.
    ///
    /// A new or empty directory gets a `CACHEDIR.TAG` naming dpc-store; a directory with that tag is reopened; any
    /// other non-empty directory is refused, so the cache never removes files it did not write.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] for an empty path (it would be the current directory) or a default TTL under one
    /// millisecond, [`StoreError::NotOwned`] for a non-empty directory without the cache's tag, and I/O errors
    /// when the directory cannot be created, tagged or listed.
    pub fn build(self) -> Result<TieredCache<V>, StoreError> {
        if self.default_ttl < TTL_RESOLUTION {
            return Err(StoreError::InvalidConfig { reason: "default_ttl must be at least 1 ms (the TTL resolution)" });
        }
        #[cfg(feature = "redis")]
        let redis = self.redis.map(|config| RedisTier::new(config, Arc::clone(&self.clock))).transpose()?;
        let files = if self.files { FileTier::new(self.dir, self.fsync) } else { FileTier::disabled() };
        files.claim()?;
        let mut index = FileIndex::default();
        index.rebuild(files.scan()?.into_iter().filter_map(|item| match item.kind {
            ItemKind::Entry(hash) => Some((item.modified, hash, item.len)),
            ItemKind::Temp => None,
        }));
        let memory =
            NonZeroUsize::new(self.memory_capacity).map(|cap| Mutex::new(Memory { lru: LruCache::new(cap), bytes: 0 }));
        Ok(TieredCache {
            memory,
            files,
            index: Mutex::new(index),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            flights: Mutex::new(HashMap::new()),
            default_ttl: self.default_ttl,
            max_bytes: self.max_bytes,
            max_entry_bytes: self.max_entry_bytes,
            clock: self.clock,
            counters: Counters::default(),
            invalidations: AtomicU64::new(0),
            invalidating: AtomicU64::new(0),
            #[cfg(feature = "redis")]
            redis,
        })
    }
}

impl<V> TieredCache<V> {
    /// A builder for a cache over `dir` (created if missing).
    pub fn builder(dir: impl Into<PathBuf>) -> TieredCacheBuilder<V> {
        TieredCacheBuilder {
            dir: dir.into(),
            memory_capacity: DEFAULT_MEMORY_CAPACITY,
            default_ttl: DEFAULT_TTL,
            max_bytes: None,
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
            clock: Arc::new(SystemClock),
            fsync: false,
            files: true,
            #[cfg(feature = "redis")]
            redis: None,
            _value: PhantomData,
        }
    }

    /// A builder for a cache without a file tier: the memory tier alone, or (feature `redis`) the memory tier over
    /// a Redis tier, for processes that share results through Redis and keep nothing on disk. No directory is
    /// created or read; [`dir`](Self::dir) is empty, and the file-tier stats stay zero.
    pub fn builder_without_files() -> TieredCacheBuilder<V> {
        TieredCacheBuilder { files: false, ..Self::builder(PathBuf::new()) }
    }

    /// A cache over `dir` with the defaults.
    ///
    /// # Errors
    /// As [`TieredCacheBuilder::build`]: an empty path, a non-empty directory the cache did not create, or a
    /// directory that cannot be created or listed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::builder(dir).build()
    }

    /// The cache directory (empty for a cache built with [`builder_without_files`](Self::builder_without_files)).
    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    /// The TTL of entries set without one.
    pub fn default_ttl(&self) -> Duration {
        self.default_ttl
    }

    /// A snapshot of the counters and sizes.
    pub fn stats(&self) -> StoreStats {
        let (memory_entries, memory_bytes) = self.memory.as_ref().map_or((0, 0), |m| {
            let m = lock(m);
            (m.lru.len() as u64, m.bytes)
        });
        let (file_entries, file_bytes) = {
            let index = lock(&self.index);
            (index.by_hash.len() as u64, index.total)
        };
        let c = &self.counters;
        #[cfg(feature = "redis")]
        let (redis_errors, redis_timeouts, redis_skipped) = self
            .redis
            .as_ref()
            .map_or((0, 0, 0), |r| (r.errors.load(Relaxed), r.timeouts.load(Relaxed), r.skipped.load(Relaxed)));
        #[cfg(not(feature = "redis"))]
        let (redis_errors, redis_timeouts, redis_skipped) = (0, 0, 0);
        StoreStats {
            memory_entries,
            memory_bytes,
            file_entries,
            file_bytes,
            memory_hits: c.memory_hits.load(Relaxed),
            file_hits: c.file_hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            memory_expirations: c.memory_expirations.load(Relaxed),
            file_expirations: c.file_expirations.load(Relaxed),
            corrupt_removed: c.corrupt_removed.load(Relaxed),
            memory_evictions: c.memory_evictions.load(Relaxed),
            size_evictions: c.size_evictions.load(Relaxed),
            write_errors: c.write_errors.load(Relaxed),
            redis_hits: c.redis_hits.load(Relaxed),
            redis_errors,
            redis_timeouts,
            redis_skipped,
        }
    }

    /// Removes a key from every tier; `true` if any held it.
    ///
    /// # Errors
    /// When the entry file exists but cannot be removed, or the Redis tier cannot be reached
    /// ([`StoreError::Redis`]; the local tiers are cleared first).
    pub fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let hash = file::key_hash(key);
        let path = self.files.entry_path(hash);
        let _stripe = self.stripe(hash);
        let in_memory = self.memory_remove(key);
        let in_file = self.files.remove(&path).map_err(|e| StoreError::from_io("remove entry", &path, e));
        lock(&self.index).remove(hash);
        #[cfg(feature = "redis")]
        let in_redis = match &self.redis {
            Some(redis) => redis.delete(key).map_err(|f| f.into_error("delete", Some(key)))?,
            None => false,
        };
        #[cfg(not(feature = "redis"))]
        let in_redis = false;
        Ok(in_file? || in_memory || in_redis)
    }

    /// Removes every entry from every tier (in Redis, every key of the namespace) and returns how many entries were
    /// removed (entry files, or Redis keys if there were more of those).
    /// Files in the directory that are not entries are left alone.
    ///
    /// # Errors
    /// [`StoreError::NotOwned`] when the directory lost its tag (nothing is removed), or when the directory cannot
    /// be listed or an entry cannot be removed.
    pub fn clear(&self) -> Result<u64, StoreError> {
        self.files.check_owned()?;
        let _bulk = BulkInvalidation::start(self);
        let _all: Vec<_> = self.stripes.iter().map(lock).collect();
        if let Some(m) = &self.memory {
            let mut m = lock(m);
            m.lru.clear();
            m.bytes = 0;
        }
        let mut removed = 0;
        let mut result = Ok(());
        for item in self.files.scan()? {
            if let ItemKind::Entry(hash) = item.kind {
                match self.files.remove(&item.path) {
                    Ok(gone) => removed += u64::from(gone),
                    Err(e) => result = Err(StoreError::from_io("remove entry", &item.path, e)),
                }
                lock(&self.index).remove(hash);
            }
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            let gone = redis.delete_prefix("").map_err(|f| f.into_error("clear", None))?;
            removed = removed.max(gone.len() as u64);
        }
        result.map(|()| removed)
    }

    fn stripe(&self, hash: u128) -> MutexGuard<'_, ()> {
        lock(&self.stripes[(hash as usize) % self.stripes.len()])
    }

    fn memory_get(&self, key: &str, now: u64) -> Option<Arc<V>> {
        let mut m = lock(self.memory.as_ref()?);
        let entry = m.lru.get(key)?;
        if entry.expires_ms > now {
            return Some(Arc::clone(&entry.value));
        }
        if let Some(old) = m.lru.pop(key) {
            m.bytes -= old.bytes;
        }
        self.counters.memory_expirations.fetch_add(1, Relaxed);
        None
    }

    fn memory_put(&self, key: &str, value: Arc<V>, expires_ms: u64, bytes: u64) {
        let Some(m) = &self.memory else { return };
        let mut m = lock(m);
        let entry = MemEntry { value, expires_ms, bytes };
        if let Some(slot) = m.lru.get_mut(key) {
            let old = std::mem::replace(slot, entry);
            m.bytes = m.bytes - old.bytes + bytes;
            return;
        }
        if let Some((_, evicted)) = m.lru.push(key.to_string(), entry) {
            m.bytes -= evicted.bytes;
            self.counters.memory_evictions.fetch_add(1, Relaxed);
        }
        m.bytes += bytes;
    }

    fn memory_remove(&self, key: &str) -> bool {
        let Some(m) = &self.memory else { return false };
        let mut m = lock(m);
        match m.lru.pop(key) {
            Some(old) => {
                m.bytes -= old.bytes;
                true
            }
            None => false,
        }
    }

    /// Removes an entry file that turned out expired or corrupt (the caller holds its stripe).
    fn discard_file(&self, hash: u128, path: &Path) {
        // A failure to remove (read-only directory) leaves the file to be judged again on the next read.
        let _ = self.files.remove(path);
        lock(&self.index).remove(hash);
    }

    /// Removes a corrupt or foreign entry file and counts it (the caller holds its stripe).
    fn discard_corrupt(&self, hash: u128, path: &Path) {
        self.discard_file(hash, path);
        self.counters.corrupt_removed.fetch_add(1, Relaxed);
    }

    /// Reads an entry file safely: no symbolic link followed, no FIFO blocked on, at most the entry limit read.
    fn read_entry(&self, path: &Path) -> Result<ReadOutcome, StoreError> {
        self.files.read(path, self.entry_limit()).map_err(|e| StoreError::from_io("read entry", path, e))
    }

    /// The largest entry file read or written.
    fn entry_limit(&self) -> u64 {
        self.max_bytes.map_or(self.max_entry_bytes, |total| total.min(self.max_entry_bytes))
    }

    /// Removes the oldest entry files until the file tier fits its limit.
    fn enforce_limit(&self) -> u64 {
        let Some(limit) = self.max_bytes else { return 0 };
        let mut evicted = 0;
        loop {
            let Some((seq, victim)) = ({
                let index = lock(&self.index);
                if index.total <= limit { None } else { index.by_age.first().copied() }
            }) else {
                return evicted;
            };
            let _stripe = self.stripe(victim);
            // The victim may have been rewritten (it is no longer the oldest) since we looked: look again.
            if !lock(&self.index).remove_if_seq(victim, seq) {
                continue;
            }
            let _ = self.files.remove(&self.files.entry_path(victim));
            self.counters.size_evictions.fetch_add(1, Relaxed);
            evicted += 1;
        }
    }
}

impl<V: Serialize + DeserializeOwned> TieredCache<V> {
    /// Looks a key up in memory, then in the directory (promoting a file hit to memory).
    /// Expired, corrupt and foreign entries are misses and are removed.
    ///
    /// # Errors
    /// When the entry file exists but cannot be read (the caller can treat it as a miss).
    pub fn get(&self, key: &str) -> Result<Option<Arc<V>>, StoreError> {
        let found = self.lookup(key);
        let counter = match &found {
            Ok(Some(Hit::Memory(_))) => &self.counters.memory_hits,
            Ok(Some(Hit::File(_))) => &self.counters.file_hits,
            Ok(Some(Hit::Redis(_))) => &self.counters.redis_hits,
            Ok(None) | Err(_) => &self.counters.misses,
        };
        counter.fetch_add(1, Relaxed);
        found.map(|hit| hit.map(Hit::into_value))
    }

    /// Stores a value in both tiers with the default TTL.
    ///
    /// # Errors
    /// When the file cannot be written ([`StoreError::ReadOnly`], [`StoreError::DiskFull`], ...), the value cannot be
    /// serialized, or it exceeds the size limit. Unless it could not be serialized, the value is still in the memory tier.
    pub fn set(&self, key: &str, value: V) -> Result<(), StoreError> {
        self.set_shared(key, Arc::new(value), self.default_ttl)
    }

    /// Stores a value in both tiers, expiring `ttl` from now. A zero TTL stores nothing and removes the key:
    /// an expired entry is never written.
    ///
    /// TTLs have millisecond resolution: a TTL is cut to whole milliseconds (an entry never outlives its TTL), and a
    /// TTL under one millisecond but not zero is refused with [`StoreError::InvalidTtl`], the key left as it was
    /// (cut to zero, it would silently delete the key).
    ///
    /// # Errors
    /// As [`set`](Self::set), and [`StoreError::InvalidTtl`].
    pub fn set_with_ttl(&self, key: &str, value: V, ttl: Duration) -> Result<(), StoreError> {
        self.set_shared(key, Arc::new(value), ttl)
    }

    /// [`set_with_ttl`](Self::set_with_ttl) for a value the caller shares: the memory tier keeps this `Arc`.
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn set_shared(&self, key: &str, value: Arc<V>, ttl: Duration) -> Result<(), StoreError> {
        if !ttl.is_zero() && ttl < TTL_RESOLUTION {
            return Err(StoreError::InvalidTtl { key: key.to_string(), ttl });
        }
        let now = self.clock.now_ms();
        let expires_ms = expiry(now, ttl);
        if expires_ms <= now {
            return self.delete(key).map(drop);
        }
        let doc = file::encode(key, now, expires_ms, &*value)
            .map_err(|source| StoreError::Serialize { key: key.to_string(), source })?;
        self.store(key, value, expires_ms, doc)
    }

    /// Returns the cached value, or computes it with `f`, stores it with the default TTL and returns it.
    ///
    /// When several threads ask for the same missing key at once, `f` runs in one of them and the others wait for
    /// its result. If `f` panics, the panic propagates to its caller and one of the waiting threads computes instead:
    /// nothing is poisoned and nobody hangs. A file tier that cannot be read or written is skipped (counted in
    /// [`StoreStats`]): the value is still computed, returned and kept in memory.
    pub fn get_or_compute(&self, key: &str, f: impl FnOnce() -> V) -> Arc<V> {
        self.get_or_compute_with_ttl(key, self.default_ttl, f)
    }

    /// [`get_or_compute`](Self::get_or_compute) with a TTL for a computed value.
    /// A TTL under one millisecond stores nothing (counted in `write_errors`; see [`set_with_ttl`](Self::set_with_ttl)).
    pub fn get_or_compute_with_ttl(&self, key: &str, ttl: Duration, f: impl FnOnce() -> V) -> Arc<V> {
        match self.try_get_or_compute_with_ttl(key, ttl, || Ok::<V, Infallible>(f())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// [`get_or_compute`](Self::get_or_compute) for a computation that can fail: an error is returned to the caller
    /// whose `f` failed, is not cached, and one of the waiting threads tries again.
    ///
    /// # Errors
    /// The error of `f`.
    pub fn try_get_or_compute<E>(&self, key: &str, f: impl FnOnce() -> Result<V, E>) -> Result<Arc<V>, E> {
        self.try_get_or_compute_with_ttl(key, self.default_ttl, f)
    }

    /// [`try_get_or_compute`](Self::try_get_or_compute) with a TTL for a computed value.
    ///
    /// # Errors
    /// The error of `f`.
    pub fn try_get_or_compute_with_ttl<E>(
        &self,
        key: &str,
        ttl: Duration,
        f: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Ok(Some(value)) = self.get(key) {
            return Ok(value);
        }
        loop {
            let (flight, leader) = {
                let mut flights = lock(&self.flights);
                match flights.get(key) {
                    Some(flight) => (Arc::clone(flight), false),
                    None => {
                        let flight = Arc::new(Flight::default());
                        flights.insert(key.to_string(), Arc::clone(&flight));
                        (flight, true)
                    }
                }
            };
            if !leader {
                match flight.wait() {
                    Some(value) => return Ok(value),
                    // The leader failed or panicked: try to lead.
                    None => continue,
                }
            }
            let guard = LeaderGuard { flights: &self.flights, key, flight, value: None };
            // A previous leader may have finished between our miss and our registration; it stored its value in the
            // local tiers, so asking Redis again would only cost a second round trip.
            if let Ok(Some(hit)) = self.lookup_in(key, false) {
                return Ok(guard.finish(hit.into_value()));
            }
            let value = Arc::new(f()?);
            let now = self.clock.now_ms();
            let expires_ms = expiry(now, ttl);
            if !ttl.is_zero() && ttl < TTL_RESOLUTION {
                self.counters.write_errors.fetch_add(1, Relaxed);
            } else if expires_ms > now {
                match file::encode(key, now, expires_ms, &*value) {
                    Ok(doc) => {
                        let _ = self.store(key, Arc::clone(&value), expires_ms, doc);
                    }
                    Err(_) => {
                        self.counters.write_errors.fetch_add(1, Relaxed);
                    }
                }
            }
            return Ok(guard.finish(value));
        }
    }

    /// Removes every entry whose key starts with `prefix`, in every tier, and returns how many keys were removed.
    /// Reads the header of every entry file (keys are not in the file names); in Redis, `SCAN MATCH` over the
    /// namespace (never `KEYS`), then `DEL`.
    ///
    /// # Errors
    /// [`StoreError::NotOwned`] when the directory lost its tag (nothing is removed), or when the directory cannot
    /// be listed, or an entry cannot be read or removed.
    pub fn invalidate_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        self.files.check_owned()?;
        let _bulk = BulkInvalidation::start(self);
        let mut removed: HashSet<String> = HashSet::new();
        if let Some(m) = &self.memory {
            let mut m = lock(m);
            let keys: Vec<String> =
                m.lru.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(k, _)| k.clone()).collect();
            for key in keys {
                if let Some(old) = m.lru.pop(&key) {
                    m.bytes -= old.bytes;
                }
                removed.insert(key);
            }
        }
        for item in self.files.scan()? {
            let ItemKind::Entry(hash) = item.kind else { continue };
            let _stripe = self.stripe(hash);
            let bytes = match self.read_entry(&item.path)? {
                ReadOutcome::Missing => continue,
                ReadOutcome::Foreign => {
                    self.discard_corrupt(hash, &item.path);
                    continue;
                }
                ReadOutcome::Bytes(bytes) => bytes,
            };
            match file::decode_header(&bytes) {
                Some(header) if file::key_hash(&header.key) == hash => {
                    if header.key.starts_with(prefix) {
                        self.files
                            .remove(&item.path)
                            .map_err(|e| StoreError::from_io("remove entry", &item.path, e))?;
                        lock(&self.index).remove(hash);
                        // A concurrent promotion may have put it back in memory since the memory pass.
                        self.memory_remove(&header.key);
                        removed.insert(header.key);
                    }
                }
                _ => {
                    self.discard_file(hash, &item.path);
                    self.counters.corrupt_removed.fetch_add(1, Relaxed);
                }
            }
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            let gone = redis.delete_prefix(prefix).map_err(|f| f.into_error("invalidate prefix", None))?;
            removed.extend(gone);
        }
        Ok(removed.len() as u64)
    }

    /// Removes expired entries from both tiers, corrupt entry files and stale temporary files,
    /// re-reads the directory's sizes (so other processes' writes count), and enforces the size limit.
    ///
    /// # Errors
    /// [`StoreError::NotOwned`] when the directory lost its tag (nothing is removed), or when the directory cannot
    /// be listed or an entry cannot be read.
    pub fn cleanup(&self) -> Result<CleanupReport, StoreError> {
        self.files.check_owned()?;
        let now = self.clock.now_ms();
        if let Some(m) = &self.memory {
            let mut m = lock(m);
            let before = m.lru.len();
            let mut freed = 0;
            m.lru.retain(|_, e| {
                let keep = e.expires_ms > now;
                if !keep {
                    freed += e.bytes;
                }
                keep
            });
            m.bytes -= freed;
            self.counters.memory_expirations.fetch_add((before - m.lru.len()) as u64, Relaxed);
        }
        let mut report = CleanupReport::default();
        let mut live = Vec::new();
        let wall_now = SystemTime::now();
        for item in self.files.scan()? {
            match item.kind {
                ItemKind::Temp => {
                    let stale = item
                        .modified
                        .and_then(|m| wall_now.duration_since(m).ok())
                        .is_some_and(|age| age >= STALE_TEMP_AGE);
                    if stale && self.files.remove(&item.path).unwrap_or(false) {
                        report.stale_temp_files += 1;
                    }
                }
                ItemKind::Entry(hash) => {
                    let _stripe = self.stripe(hash);
                    let bytes = match self.read_entry(&item.path)? {
                        ReadOutcome::Missing => continue,
                        ReadOutcome::Foreign => {
                            self.discard_corrupt(hash, &item.path);
                            report.corrupt += 1;
                            continue;
                        }
                        ReadOutcome::Bytes(bytes) => bytes,
                    };
                    match file::decode_header(&bytes) {
                        Some(header) if file::key_hash(&header.key) == hash => {
                            if header.expires_ms <= now {
                                self.discard_file(hash, &item.path);
                                self.counters.file_expirations.fetch_add(1, Relaxed);
                                report.expired += 1;
                            } else {
                                live.push((item.modified, hash, bytes.len() as u64));
                            }
                        }
                        _ => {
                            self.discard_file(hash, &item.path);
                            self.counters.corrupt_removed.fetch_add(1, Relaxed);
                            report.corrupt += 1;
                        }
                    }
                }
            }
        }
        lock(&self.index).rebuild(live);
        report.evicted = self.enforce_limit();
        let index = lock(&self.index);
        report.entries = index.by_hash.len() as u64;
        report.bytes = index.total;
        Ok(report)
    }

    fn lookup(&self, key: &str) -> Result<Option<Hit<V>>, StoreError> {
        self.lookup_in(key, true)
    }

    /// Looks in memory, then the file tier, then (if `remote`) Redis.
    fn lookup_in(&self, key: &str, remote: bool) -> Result<Option<Hit<V>>, StoreError> {
        let now = self.clock.now_ms();
        if let Some(value) = self.memory_get(key, now) {
            return Ok(Some(Hit::Memory(value)));
        }
        let hash = file::key_hash(key);
        let path = self.files.entry_path(hash);
        let (value, promoted) = {
            let _stripe = self.stripe(hash);
            // Another thread may have promoted the key while we waited for the stripe.
            if let Some(value) = self.memory_get(key, now) {
                return Ok(Some(Hit::Memory(value)));
            }
            let local = self.file_lookup(key, hash, &path, now);
            if let Ok(Some(value)) = local {
                return Ok(Some(Hit::File(value)));
            }
            // A file tier that cannot be read is still a miss worth asking Redis about.
            match remote.then(|| self.remote_lookup(key, hash, &path, now)).flatten() {
                Some(found) => found,
                None => return local.map(|_| None),
            }
        };
        if promoted {
            self.enforce_limit();
        }
        Ok(Some(Hit::Redis(value)))
    }

    /// The file tier's part of a lookup (the caller holds the key's stripe).
    fn file_lookup(&self, key: &str, hash: u128, path: &Path, now: u64) -> Result<Option<Arc<V>>, StoreError> {
        let bytes = match self.read_entry(path)? {
            ReadOutcome::Missing => {
                lock(&self.index).remove(hash);
                return Ok(None);
            }
            ReadOutcome::Foreign => {
                self.discard_corrupt(hash, path);
                return Ok(None);
            }
            ReadOutcome::Bytes(bytes) => bytes,
        };
        match file::decode::<V>(&bytes, Some(key)) {
            Some(entry) if entry.expires_ms > now => {
                let len = bytes.len() as u64;
                lock(&self.index).note(hash, len);
                let value = Arc::new(entry.value);
                self.memory_put(key, Arc::clone(&value), entry.expires_ms, len);
                Ok(Some(value))
            }
            Some(_) => {
                self.discard_file(hash, path);
                self.counters.file_expirations.fetch_add(1, Relaxed);
                Ok(None)
            }
            None => {
                self.discard_file(hash, path);
                self.counters.corrupt_removed.fetch_add(1, Relaxed);
                Ok(None)
            }
        }
    }

    /// The Redis tier's part of a lookup (the caller holds the key's stripe): the value, and whether it was written
    /// to the file tier (the caller then enforces the size limit, which takes other stripes).
    ///
    /// A failure, an expired document or one that does not decode as `V` for this key is a miss. A hit is promoted to
    /// memory and to the file tier with the document's own expiry, unless a bulk invalidation ran meanwhile.
    /// A document over the entry limit is a miss, as in the file tier.
    #[cfg(feature = "redis")]
    fn remote_lookup(&self, key: &str, hash: u128, path: &Path, now: u64) -> Option<(Arc<V>, bool)> {
        let redis = self.redis.as_ref()?;
        let epoch = self.invalidations.load(SeqCst);
        let bytes = redis.get(key).ok()??;
        // The entry limit bounds what a lookup decodes, whichever tier it comes from.
        if bytes.len() as u64 > self.entry_limit() {
            return None;
        }
        let entry = file::decode::<V>(&bytes, Some(key)).filter(|entry| entry.expires_ms > now)?;
        let value = Arc::new(entry.value);
        if self.invalidating.load(SeqCst) != 0 || self.invalidations.load(SeqCst) != epoch {
            return Some((value, false));
        }
        let len = bytes.len() as u64;
        self.memory_put(key, Arc::clone(&value), entry.expires_ms, len);
        if !self.files.enabled() {
            return Some((value, false));
        }
        match self.files.write_atomic(path, &bytes) {
            Ok(()) => {
                lock(&self.index).upsert(hash, len);
                Some((value, true))
            }
            Err(_) => {
                self.counters.write_errors.fetch_add(1, Relaxed);
                Some((value, false))
            }
        }
    }

    #[cfg(not(feature = "redis"))]
    fn remote_lookup(&self, _key: &str, _hash: u128, _path: &Path, _now: u64) -> Option<(Arc<V>, bool)> {
        None
    }

    /// Writes an encoded entry through every tier. A local failure is returned first; Redis is written either way.
    fn store(&self, key: &str, value: Arc<V>, expires_ms: u64, doc: Vec<u8>) -> Result<(), StoreError> {
        let hash = file::key_hash(key);
        let path = self.files.entry_path(hash);
        let len = doc.len() as u64;
        let result = {
            let _stripe = self.stripe(hash);
            self.memory_put(key, value, expires_ms, len);
            let limit = self.entry_limit();
            let written = if len > limit {
                Err(StoreError::EntryTooLarge { key: key.to_string(), size: len, limit })
            } else {
                self.files.write_atomic(&path, &doc)
            };
            match &written {
                Ok(()) if self.files.enabled() => {
                    lock(&self.index).upsert(hash, len);
                }
                Ok(()) => {}
                Err(_) => {
                    // The older entry must not resurface once the memory copy is gone.
                    self.discard_file(hash, &path);
                    self.counters.write_errors.fetch_add(1, Relaxed);
                }
            }
            let remote = self.remote_store(key, expires_ms, &doc);
            written.and(remote)
        };
        self.enforce_limit();
        result
    }

    /// Writes an entry document to Redis with an expiry matching the document's.
    #[cfg(feature = "redis")]
    fn remote_store(&self, key: &str, expires_ms: u64, doc: &[u8]) -> Result<(), StoreError> {
        let Some(redis) = &self.redis else { return Ok(()) };
        // Redis refuses expiry times past about 2^63 ms; the document's own expiry still says "never" exactly.
        let ttl_ms = expires_ms.saturating_sub(self.clock.now_ms()).clamp(1, 1 << 50);
        redis.set(key, doc, ttl_ms).map_err(|f| f.into_error("set", Some(key)))
    }

    #[cfg(not(feature = "redis"))]
    fn remote_store(&self, _key: &str, _expires_ms: u64, _doc: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }
}

impl<V> fmt::Debug for TieredCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredCache")
            .field("dir", &self.files.dir())
            .field("default_ttl", &self.default_ttl)
            .field("max_bytes", &self.max_bytes)
            .field("max_entry_bytes", &self.max_entry_bytes)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<V> fmt::Debug for TieredCacheBuilder<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredCacheBuilder")
            .field("dir", &self.dir)
            .field("memory_capacity", &self.memory_capacity)
            .field("default_ttl", &self.default_ttl)
            .field("max_bytes", &self.max_bytes)
            .field("max_entry_bytes", &self.max_entry_bytes)
            .field("clock", &self.clock)
            .field("fsync", &self.fsync)
            .field("files", &self.files)
            .finish()
    }
}

const STRIPES: usize = 64;

/// Locks a mutex, ignoring poisoning: every critical section here leaves its data consistent before anything that
/// can panic, so a panic elsewhere never makes the cache unusable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

enum Hit<V> {
    Memory(Arc<V>),
    File(Arc<V>),
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Redis(Arc<V>),
}

impl<V> Hit<V> {
    fn into_value(self) -> Arc<V> {
        match self {
            Hit::Memory(v) | Hit::File(v) | Hit::Redis(v) => v,
        }
    }
}

/// Marks a bulk invalidation from start to end, so that a concurrent Redis lookup does not keep locally a value
/// the invalidation is removing.
struct BulkInvalidation<'a> {
    invalidations: &'a AtomicU64,
    invalidating: &'a AtomicU64,
}

impl<'a> BulkInvalidation<'a> {
    fn start<V>(cache: &'a TieredCache<V>) -> Self {
        cache.invalidating.fetch_add(1, SeqCst);
        cache.invalidations.fetch_add(1, SeqCst);
        BulkInvalidation { invalidations: &cache.invalidations, invalidating: &cache.invalidating }
    }
}

impl Drop for BulkInvalidation<'_> {
    fn drop(&mut self) {
        self.invalidations.fetch_add(1, SeqCst);
        self.invalidating.fetch_sub(1, SeqCst);
    }
}

struct MemEntry<V> {
    value: Arc<V>,
    expires_ms: u64,
    bytes: u64,
}

struct Memory<V> {
    lru: LruCache<String, MemEntry<V>>,
    bytes: u64,
}

#[derive(Default)]
struct Counters {
    memory_hits: AtomicU64,
    file_hits: AtomicU64,
    misses: AtomicU64,
    memory_expirations: AtomicU64,
    file_expirations: AtomicU64,
    corrupt_removed: AtomicU64,
    memory_evictions: AtomicU64,
    size_evictions: AtomicU64,
    write_errors: AtomicU64,
    redis_hits: AtomicU64,
}

/// This process's view of the entry files: sizes, and an age order for the size limit.
///
/// Ages are sequence numbers: files found by a scan are numbered in modification-time order,
/// then every file this process writes or first reads gets the next number.
#[derive(Debug, Default)]
struct FileIndex {
    by_hash: HashMap<u128, (u64, u64)>,
    by_age: BTreeSet<(u64, u128)>,
    total: u64,
    next_seq: u64,
}

impl FileIndex {
    fn rebuild(&mut self, items: impl IntoIterator<Item = (Option<SystemTime>, u128, u64)>) {
        let mut items: Vec<_> = items.into_iter().collect();
        items.sort_by_key(|&(modified, hash, _)| (modified, hash));
        self.by_hash.clear();
        self.by_age.clear();
        self.total = 0;
        for (_, hash, len) in items {
            self.upsert(hash, len);
        }
    }

    /// Records a write: the entry becomes the newest.
    fn upsert(&mut self, hash: u128, len: u64) {
        self.remove(hash);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_hash.insert(hash, (seq, len));
        self.by_age.insert((seq, hash));
        self.total += len;
    }

    /// Records a file seen on a read: new to the index means newest, known keeps its age.
    fn note(&mut self, hash: u128, len: u64) {
        match self.by_hash.get_mut(&hash) {
            Some((_, old_len)) => {
                self.total = self.total - *old_len + len;
                *old_len = len;
            }
            None => self.upsert(hash, len),
        }
    }

    fn remove(&mut self, hash: u128) -> bool {
        match self.by_hash.remove(&hash) {
            Some((seq, len)) => {
                self.by_age.remove(&(seq, hash));
                self.total -= len;
                true
            }
            None => false,
        }
    }

    fn remove_if_seq(&mut self, hash: u128, seq: u64) -> bool {
        if self.by_hash.get(&hash).is_some_and(|&(s, _)| s == seq) { self.remove(hash) } else { false }
    }
}

/// One key being computed by `get_or_compute`.
struct Flight<V> {
    state: Mutex<FlightState<V>>,
    done: Condvar,
}

enum FlightState<V> {
    Running,
    Done(Arc<V>),
    Failed,
}

impl<V> Default for Flight<V> {
    fn default() -> Self {
        Flight { state: Mutex::new(FlightState::Running), done: Condvar::new() }
    }
}

impl<V> Flight<V> {
    /// Waits for the leader; `None` when it failed or panicked.
    fn wait(&self) -> Option<Arc<V>> {
        let mut state = lock(&self.state);
        loop {
            match &*state {
                FlightState::Running => state = self.done.wait(state).unwrap_or_else(PoisonError::into_inner),
                FlightState::Done(value) => return Some(Arc::clone(value)),
                FlightState::Failed => return None,
            }
        }
    }
}

/// The leader's duty to settle its flight: with a value on success, as failed on an error or a panic (in `Drop`).
struct LeaderGuard<'a, V> {
    flights: &'a Mutex<HashMap<String, Arc<Flight<V>>>>,
    key: &'a str,
    flight: Arc<Flight<V>>,
    value: Option<Arc<V>>,
}

impl<V> LeaderGuard<'_, V> {
    fn finish(mut self, value: Arc<V>) -> Arc<V> {
        self.value = Some(Arc::clone(&value));
        value
    }
}

impl<V> Drop for LeaderGuard<'_, V> {
    fn drop(&mut self) {
        {
            let mut flights = lock(self.flights);
            if flights.get(self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flight)) {
                flights.remove(self.key);
            }
        }
        let mut state = lock(&self.flight.state);
        *state = match self.value.take() {
            Some(value) => FlightState::Done(value),
            None => FlightState::Failed,
        };
        drop(state);
        self.flight.done.notify_all();
    }
}
