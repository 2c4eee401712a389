//! [`StreamCache`]: a content-addressed memo of trained filter states and per-chunk results.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lru::LruCache;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{ContentHash, StoreError, TieredCache};

/// The default bound on memoized chunk results.
pub const DEFAULT_MAX_CHUNKS: usize = 1024;
/// The default bound on trained states kept per filter id.
pub const DEFAULT_MAX_STATES_PER_FILTER: usize = 8;

/// A content-addressed memo for inference pipelines that run trained filters over chunks of a stream.
///
/// - A filter's trained state is keyed by a [`StateKey`] (hash of its configuration, hash of its training data),
///   kept per filter id (at most `max_states_per_filter` per id, least recently used out first).
///   Its own [`ContentHash`] (of its JSON) identifies it in chunk keys.
/// - A chunk's result is keyed by a [`ChunkKey`] (configuration, state, chunk data hashes), at most `max_chunks` of
///   them, least recently used out first.
/// - Both can be persisted through a [`TieredCache`], so a second run of a pipeline starts warm.
///
/// Hashes are [`ContentHash`]es: XXH3-128, the same on every run and machine, so persisted keys stay valid.
/// Two threads missing the same chunk at once may both compute it; the memo keeps one result.
///
/// ```
/// use dpc_store::{ChunkKey, ContentHash, StateKey, StreamCache};
///
/// let cache: StreamCache<Vec<f32>, f32> = StreamCache::builder().max_chunks(64).build()?;
/// let config = ContentHash::of_json(&("lowpass", 0.25))?;
/// let training = ContentHash::of_f32s(&[0.0, 1.0, 0.5]);
/// let trained = cache.get_or_train("lowpass", StateKey { config, training }, || vec![0.25, 0.5, 0.25])?;
///
/// let chunk = [1.0f32, 2.0, 3.0, 4.0];
/// let key = ChunkKey::new(config, trained.hash, ContentHash::of_f32s(&chunk));
/// let energy = cache.get_or_compute_chunk(key, || chunk.iter().map(|x| x * x).sum());
/// assert_eq!(*energy, 30.0);
/// assert_eq!(*cache.get_or_compute_chunk(key, || unreachable!()), 30.0);
/// assert_eq!((cache.hits(), cache.misses()), (1, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamCache<S, R> {
    inner: Mutex<Inner<S, R>>,
    max_states_per_filter: NonZeroUsize,
    state_store: Option<Arc<TieredCache<S>>>,
    chunk_store: Option<Arc<TieredCache<R>>>,
    counters: Counters,
}

/// Builds a [`StreamCache`]; see [`StreamCache::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct StreamCacheBuilder<S, R> {
    max_chunks: usize,
    max_states_per_filter: usize,
    state_store: Option<Arc<TieredCache<S>>>,
    chunk_store: Option<Arc<TieredCache<R>>>,
}

/// The key of a trained state: what it was configured with and what it was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StateKey {
    /// Hash of the filter's configuration (for example [`ContentHash::of_json`]).
    pub config: ContentHash,
    /// Hash of the training data.
    pub training: ContentHash,
}

/// The key of a chunk result: the configuration and trained state that processed which data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkKey {
    /// Hash of the filter's configuration.
    pub config: ContentHash,
    /// Hash of the trained state ([`TrainedState::hash`]).
    pub state: ContentHash,
    /// Hash of the chunk's data.
    pub chunk: ContentHash,
}

impl ChunkKey {
    /// A key from its three hashes.
    pub fn new(config: ContentHash, state: ContentHash, chunk: ContentHash) -> Self {
        ChunkKey { config, state, chunk }
    }

    /// A key for a chunk of raw bytes, hashing them.
    pub fn for_bytes(config: ContentHash, state: ContentHash, chunk: &[u8]) -> Self {
        ChunkKey { config, state, chunk: ContentHash::of_bytes(chunk) }
    }

    /// The key under which a persisting [`TieredCache`] stores the result.
    pub fn store_key(&self) -> String {
        format!("chunk/{}/{}/{}", self.config, self.state, self.chunk)
    }
}

/// A trained filter state and the content hash that names it in [`ChunkKey`]s.
#[derive(Debug)]
pub struct TrainedState<S> {
    /// The state.
    pub state: Arc<S>,
    /// [`ContentHash::of_json`] of the state.
    pub hash: ContentHash,
}

impl<S> Clone for TrainedState<S> {
    fn clone(&self) -> Self {
        TrainedState { state: Arc::clone(&self.state), hash: self.hash }
    }
}

/// A snapshot of a [`StreamCache`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamStats {
    /// State lookups answered (from memory or the persisting store).
    pub state_hits: u64,
    /// State lookups that found nothing.
    pub state_misses: u64,
    /// Chunk lookups answered (from memory or the persisting store).
    pub chunk_hits: u64,
    /// Chunk lookups that found nothing.
    pub chunk_misses: u64,
    /// Chunk results pushed out by the `max_chunks` bound.
    pub chunk_evictions: u64,
    /// Chunk results held in memory.
    pub chunks: u64,
    /// Trained states held in memory, all filters together.
    pub states: u64,
}

impl StreamStats {
    /// State and chunk hits.
    pub fn hits(&self) -> u64 {
        self.state_hits + self.chunk_hits
    }

    /// State and chunk misses.
    pub fn misses(&self) -> u64 {
        self.state_misses + self.chunk_misses
    }

    /// Hits over lookups, 0 when there were none.
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits() + self.misses();
        if lookups == 0 { 0.0 } else { self.hits() as f64 / lookups as f64 }
    }
}

impl<S, R> StreamCacheBuilder<S, R> {
    /// The bound on memoized chunk results in memory (default [`DEFAULT_MAX_CHUNKS`]); at least 1.
    pub fn max_chunks(mut self, n: usize) -> Self {
        self.max_chunks = n;
        self
    }

    /// The bound on trained states kept per filter id (default [`DEFAULT_MAX_STATES_PER_FILTER`]); at least 1.
    pub fn max_states_per_filter(mut self, n: usize) -> Self {
        self.max_states_per_filter = n;
        self
    }

    /// Persists trained states through `store` (keys `state/<filter id>/<config>/<training>`).
    pub fn state_store(mut self, store: Arc<TieredCache<S>>) -> Self {
        self.state_store = Some(store);
        self
    }

    /// Persists chunk results through `store` (keys [`ChunkKey::store_key`]).
    pub fn chunk_store(mut self, store: Arc<TieredCache<R>>) -> Self {
        self.chunk_store = Some(store);
        self
    }

    /// Builds the cache.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] when a bound is 0.
    pub fn build(self) -> Result<StreamCache<S, R>, StoreError> {
        let max_chunks = NonZeroUsize::new(self.max_chunks)
            .ok_or(StoreError::InvalidConfig { reason: "max_chunks must be at least 1" })?;
        let max_states_per_filter = NonZeroUsize::new(self.max_states_per_filter)
            .ok_or(StoreError::InvalidConfig { reason: "max_states_per_filter must be at least 1" })?;
        Ok(StreamCache {
            inner: Mutex::new(Inner { states: HashMap::new(), chunks: LruCache::new(max_chunks) }),
            max_states_per_filter,
            state_store: self.state_store,
            chunk_store: self.chunk_store,
            counters: Counters::default(),
        })
    }
}

impl<S, R> Default for StreamCache<S, R> {
    fn default() -> Self {
        StreamCache::builder().build().expect("the default bounds are valid")
    }
}

impl<S, R> StreamCache<S, R> {
    /// A builder with the defaults: [`DEFAULT_MAX_CHUNKS`], [`DEFAULT_MAX_STATES_PER_FILTER`], no persistence.
    pub fn builder() -> StreamCacheBuilder<S, R> {
        StreamCacheBuilder {
            max_chunks: DEFAULT_MAX_CHUNKS,
            max_states_per_filter: DEFAULT_MAX_STATES_PER_FILTER,
            state_store: None,
            chunk_store: None,
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> StreamStats {
        let inner = lock(&self.inner);
        let c = &self.counters;
        StreamStats {
            state_hits: c.state_hits.load(Relaxed),
            state_misses: c.state_misses.load(Relaxed),
            chunk_hits: c.chunk_hits.load(Relaxed),
            chunk_misses: c.chunk_misses.load(Relaxed),
            chunk_evictions: c.chunk_evictions.load(Relaxed),
            chunks: inner.chunks.len() as u64,
            states: inner.states.values().map(|s| s.len() as u64).sum(),
        }
    }

    /// State and chunk hits so far.
    pub fn hits(&self) -> u64 {
        self.counters.state_hits.load(Relaxed) + self.counters.chunk_hits.load(Relaxed)
    }

    /// State and chunk misses so far.
    pub fn misses(&self) -> u64 {
        self.counters.state_misses.load(Relaxed) + self.counters.chunk_misses.load(Relaxed)
    }

    /// Hits over lookups, 0 when there were none.
    pub fn hit_rate(&self) -> f64 {
        let (hits, misses) = (self.hits(), self.misses());
        if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 }
    }

    /// Forgets a filter's states in memory (persisted ones stay).
    pub fn remove_filter(&self, filter_id: &str) -> bool {
        lock(&self.inner).states.remove(filter_id).is_some()
    }

    /// Forgets every state and chunk result in memory (persisted ones stay) and keeps the counters.
    pub fn clear(&self) {
        let mut inner = lock(&self.inner);
        inner.states.clear();
        inner.chunks.clear();
    }

    fn remember_state(&self, filter_id: &str, key: StateKey, trained: TrainedState<S>) {
        let mut inner = lock(&self.inner);
        let cap = self.max_states_per_filter;
        inner.states.entry(filter_id.to_string()).or_insert_with(|| LruCache::new(cap)).put(key, trained);
    }

    fn remember_chunk(&self, key: ChunkKey, result: Arc<R>) {
        if let Some((evicted, _)) = lock(&self.inner).chunks.push(key, result) {
            if evicted != key {
                self.counters.chunk_evictions.fetch_add(1, Relaxed);
            }
        }
    }
}

impl<S: Serialize + DeserializeOwned, R: Serialize + DeserializeOwned> StreamCache<S, R> {
    /// The trained state of `filter_id` for `key`, from memory or the persisting store.
    pub fn state(&self, filter_id: &str, key: StateKey) -> Option<TrainedState<S>> {
        let found = self.find_state(filter_id, key);
        let counter = if found.is_some() { &self.counters.state_hits } else { &self.counters.state_misses };
        counter.fetch_add(1, Relaxed);
        found
    }

    /// Remembers a trained state (and persists it, if a state store is set) and returns it with its hash.
    ///
    /// # Errors
    /// When the state cannot be serialized (to hash it), or the persisting store fails;
    /// in the latter case the state is still remembered in memory.
    pub fn insert_state(&self, filter_id: &str, key: StateKey, state: S) -> Result<TrainedState<S>, StoreError> {
        let trained = self.hashed(filter_id, state)?;
        self.remember_state(filter_id, key, trained.clone());
        if let Some(store) = &self.state_store {
            store.set_shared(&state_store_key(filter_id, key), Arc::clone(&trained.state), store.default_ttl())?;
        }
        Ok(trained)
    }

    /// The trained state for `key`, or `train()`'s, remembered and persisted (a persistence failure is ignored:
    /// it is counted in the store's stats).
    ///
    /// # Errors
    /// When a new state cannot be serialized to hash it.
    pub fn get_or_train(
        &self,
        filter_id: &str,
        key: StateKey,
        train: impl FnOnce() -> S,
    ) -> Result<TrainedState<S>, StoreError> {
        if let Some(found) = self.state(filter_id, key) {
            return Ok(found);
        }
        let trained = self.hashed(filter_id, train())?;
        self.remember_state(filter_id, key, trained.clone());
        if let Some(store) = &self.state_store {
            let _ = store.set_shared(&state_store_key(filter_id, key), Arc::clone(&trained.state), store.default_ttl());
        }
        Ok(trained)
    }

    /// The memoized result of a chunk, from memory or the persisting store.
    pub fn chunk(&self, key: &ChunkKey) -> Option<Arc<R>> {
        let found = self.find_chunk(key);
        let counter = if found.is_some() { &self.counters.chunk_hits } else { &self.counters.chunk_misses };
        counter.fetch_add(1, Relaxed);
        found
    }

    /// Remembers a chunk's result (and persists it, if a chunk store is set).
    ///
    /// # Errors
    /// When the persisting store fails; the result is still remembered in memory.
    pub fn insert_chunk(&self, key: ChunkKey, result: R) -> Result<Arc<R>, StoreError> {
        let result = Arc::new(result);
        self.remember_chunk(key, Arc::clone(&result));
        if let Some(store) = &self.chunk_store {
            store.set_shared(&key.store_key(), Arc::clone(&result), store.default_ttl())?;
        }
        Ok(result)
    }

    /// The memoized result of a chunk, or `compute()`'s, remembered and persisted
    /// (a persistence failure is ignored: it is counted in the store's stats).
    pub fn get_or_compute_chunk(&self, key: ChunkKey, compute: impl FnOnce() -> R) -> Arc<R> {
        if let Some(found) = self.chunk(&key) {
            return found;
        }
        let result = Arc::new(compute());
        self.remember_chunk(key, Arc::clone(&result));
        if let Some(store) = &self.chunk_store {
            let _ = store.set_shared(&key.store_key(), Arc::clone(&result), store.default_ttl());
        }
        result
    }

    fn find_state(&self, filter_id: &str, key: StateKey) -> Option<TrainedState<S>> {
        if let Some(found) = lock(&self.inner).states.get_mut(filter_id).and_then(|s| s.get(&key)).cloned() {
            return Some(found);
        }
        let store = self.state_store.as_ref()?;
        let state = store.get(&state_store_key(filter_id, key)).ok()??;
        let hash = ContentHash::of_json(&*state).ok()?;
        let trained = TrainedState { state, hash };
        self.remember_state(filter_id, key, trained.clone());
        Some(trained)
    }

    fn find_chunk(&self, key: &ChunkKey) -> Option<Arc<R>> {
        if let Some(found) = lock(&self.inner).chunks.get(key).cloned() {
            return Some(found);
        }
        let result = self.chunk_store.as_ref()?.get(&key.store_key()).ok()??;
        self.remember_chunk(*key, Arc::clone(&result));
        Some(result)
    }

    fn hashed(&self, filter_id: &str, state: S) -> Result<TrainedState<S>, StoreError> {
        let hash = ContentHash::of_json(&state)
            .map_err(|source| StoreError::Serialize { key: format!("state of filter {filter_id:?}"), source })?;
        Ok(TrainedState { state: Arc::new(state), hash })
    }
}

impl<S, R> fmt::Debug for StreamCache<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamCache")
            .field("stats", &self.stats())
            .field("max_states_per_filter", &self.max_states_per_filter)
            .field("persists_states", &self.state_store.is_some())
            .field("persists_chunks", &self.chunk_store.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, R> fmt::Debug for StreamCacheBuilder<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamCacheBuilder")
            .field("max_chunks", &self.max_chunks)
            .field("max_states_per_filter", &self.max_states_per_filter)
            .field("persists_states", &self.state_store.is_some())
            .field("persists_chunks", &self.chunk_store.is_some())
            .finish()
    }
}

fn state_store_key(filter_id: &str, key: StateKey) -> String {
    format!("state/{filter_id}/{}/{}", key.config, key.training)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Inner<S, R> {
    states: HashMap<String, LruCache<StateKey, TrainedState<S>>>,
    chunks: LruCache<ChunkKey, Arc<R>>,
}

#[derive(Default)]
struct Counters {
    state_hits: AtomicU64,
    state_misses: AtomicU64,
    chunk_hits: AtomicU64,
    chunk_misses: AtomicU64,
    chunk_evictions: AtomicU64,
}
