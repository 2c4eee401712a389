//! The resident values: small read-copy-update shards, read without locks and written under the control lock.
//!
//! A hit loads one shard's current table (`arc-swap`: a thread-local debt slot, no write to shared memory) and
//! clones the value's `Arc`. A writer (always under the cache's control lock, so never two at once) copies the
//! shard, changes the copy and publishes it. The copy is what a miss pays, so shards are kept small: about
//! [`ENTRIES_PER_SHARD`] entries each, a copy of a few hundred bytes.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use arc_swap::ArcSwap;
use hashbrown::{DefaultHashBuilder, HashTable};

/// The average number of entries per shard the shard count aims for. Measured with `cargo xtask bench core`
/// (see docs/BENCHMARKS.md): 256 made a miss cost 13 us (two copies of a 256-entry table); 8 costs a few
/// hundred nanoseconds, while the hit path does not depend on it.
pub(crate) const ENTRIES_PER_SHARD: usize = 8;
/// The most shards: 2^20 shards of 8 entries cover 8 M entries; larger caches get fuller shards.
const MAX_SHARDS: usize = 1 << 20;
const MIN_SHARDS: usize = 16;

type Table<K, V> = HashTable<(K, Arc<V>)>;

pub(crate) struct ResidentMap<K, V> {
    hasher: DefaultHashBuilder,
    shift: u32,
    shards: Box<[ArcSwap<Table<K, V>>]>,
}

impl<K: Hash + Eq + Clone, V> ResidentMap<K, V> {
    /// Shards for about `expected` entries.
    pub(crate) fn new(expected: usize) -> Self {
        let count = (expected / ENTRIES_PER_SHARD).clamp(MIN_SHARDS, MAX_SHARDS).next_power_of_two();
        ResidentMap {
            hasher: DefaultHashBuilder::default(),
            shift: 64 - count.trailing_zeros(),
            shards: (0..count).map(|_| ArcSwap::from_pointee(HashTable::new())).collect(),
        }
    }

    pub(crate) fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &ArcSwap<Table<K, V>> {
        // The top bits pick the shard; hashbrown uses the low bits and the top 7 inside it.
        &self.shards[(hash >> self.shift) as usize]
    }

    /// The value of `key`, if resident. Lock-free.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &K) -> Option<Arc<V>> {
        self.shard(hash).load().find(hash, |(k, _)| k == key).map(|(_, v)| Arc::clone(v))
    }

    /// Publishes `key -> value`, replacing an older value. Call under the control lock only.
    pub(crate) fn insert(&self, hash: u64, key: &K, value: &Arc<V>) {
        let shard = self.shard(hash);
        let old = shard.load();
        let mut table = HashTable::with_capacity(old.len() + 1);
        let mut replaced = false;
        for (k, v) in old.iter() {
            let v = if k == key {
                replaced = true;
                value
            } else {
                v
            };
            table.insert_unique(self.hasher.hash_one(k), (k.clone(), Arc::clone(v)), |(k, _)| self.hasher.hash_one(k));
        }
        if !replaced {
            table.insert_unique(hash, (key.clone(), Arc::clone(value)), |(k, _)| self.hasher.hash_one(k));
        }
        drop(old);
        shard.store(Arc::new(table));
    }

    /// Unpublishes `key`; returns whether it was there. Call under the control lock only.
    pub(crate) fn remove(&self, hash: u64, key: &K) -> bool {
        let shard = self.shard(hash);
        let old = shard.load();
        if old.find(hash, |(k, _)| k == key).is_none() {
            return false;
        }
        let mut table = HashTable::with_capacity(old.len().saturating_sub(1));
        for (k, v) in old.iter().filter(|(k, _)| k != key) {
            table.insert_unique(self.hasher.hash_one(k), (k.clone(), Arc::clone(v)), |(k, _)| self.hasher.hash_one(k));
        }
        drop(old);
        shard.store(Arc::new(table));
        true
    }

    /// Unpublishes everything. Call under the control lock only.
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            if !shard.load().is_empty() {
                shard.store(Arc::new(HashTable::new()));
            }
        }
    }
}
