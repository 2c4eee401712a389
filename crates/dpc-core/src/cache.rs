//! Temporary stand-in with the final public API: loads on every get. Being replaced by the real cache.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{AccessPredictor, BuildError, CacheError, DataProvider, Event, EvictionPolicy, NoPrefetch, Stats};

type Callback<K> = Arc<dyn Fn(&Event<K>) + Send + Sync>;

/// Builds a [`PrefetchCache`].
pub struct PrefetchCacheBuilder<P: DataProvider> {
    provider: P,
    predictor: Box<dyn AccessPredictor<P::Key>>,
    max_entries: Option<usize>,
    max_weight: Option<u64>,
    weigher: Option<Arc<dyn Fn(&P::Key, &P::Value) -> u64 + Send + Sync>>,
    max_prefetch: usize,
    workers: usize,
    history_len: usize,
    policy: EvictionPolicy,
    on_event: Option<Callback<P::Key>>,
}

impl<P: DataProvider> std::fmt::Debug for PrefetchCacheBuilder<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefetchCacheBuilder").finish_non_exhaustive()
    }
}

impl<P: DataProvider> PrefetchCacheBuilder<P> {
    pub fn predictor(mut self, predictor: impl AccessPredictor<P::Key>) -> Self {
        self.predictor = Box::new(predictor);
        self
    }
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = Some(n);
        self
    }
    pub fn max_weight(mut self, w: u64) -> Self {
        self.max_weight = Some(w);
        self
    }
    pub fn weigher(mut self, f: impl Fn(&P::Key, &P::Value) -> u64 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Arc::new(f));
        self
    }
    pub fn max_prefetch(mut self, n: usize) -> Self {
        self.max_prefetch = n;
        self
    }
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }
    pub fn history_len(mut self, n: usize) -> Self {
        self.history_len = n;
        self
    }
    pub fn eviction_policy(mut self, p: EvictionPolicy) -> Self {
        self.policy = p;
        self
    }
    pub fn on_event(mut self, f: impl Fn(&Event<P::Key>) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }
    pub fn build(self) -> Result<PrefetchCache<P>, BuildError> {
        Ok(PrefetchCache { provider: self.provider, closed: AtomicBool::new(false) })
    }
}

/// The prefetching cache.
pub struct PrefetchCache<P: DataProvider> {
    provider: P,
    closed: AtomicBool,
}

impl<P: DataProvider> std::fmt::Debug for PrefetchCache<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefetchCache").finish_non_exhaustive()
    }
}

impl<P: DataProvider> PrefetchCache<P> {
    pub fn builder(provider: P) -> PrefetchCacheBuilder<P> {
        PrefetchCacheBuilder {
            provider,
            predictor: Box::new(NoPrefetch),
            max_entries: None,
            max_weight: None,
            weigher: None,
            max_prefetch: 20,
            workers: 4,
            history_len: 30,
            policy: EvictionPolicy::Oldest,
            on_event: None,
        }
    }
    pub fn get(&self, key: &P::Key) -> Result<Arc<P::Value>, CacheError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CacheError::Closed);
        }
        self.provider
            .load(key)
            .map(Arc::new)
            .map_err(|e| CacheError::Provider { key: format!("{key:?}"), source: Arc::new(e) })
    }
    pub fn stats(&self) -> Stats {
        Stats::default()
    }
    pub fn provider(&self) -> &P {
        &self.provider
    }
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}
