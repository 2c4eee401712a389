//! The eviction index: resident keys with their current scores, ordered for eviction.
//!
//! Most resident keys score 0 (they are not in the latest prediction); only the few predicted ones score more.
//! So the index keeps two orders:
//! - `scored`: a `BTreeMap` of the keys scoring more than 0, by (score, tie): small, exact.
//! - `zero`: the tie order of the rest. For [`Oldest`](EvictionPolicy::Oldest) and
//!   [`LeastRecentlyUsed`](EvictionPolicy::LeastRecentlyUsed) it is a FIFO of `(tie, key)` holding every resident
//!   key at the position of its tie (insertion or last use), with lazy deletion: an entry is stale when its key is
//!   gone or has a newer tie, and is skipped (and dropped at the front, or in a compaction when stale entries
//!   outnumber live ones). Scored keys keep their FIFO entry, so a key that falls back to 0 is at once in its right
//!   place. This costs 16 bytes per entry instead of a B-tree's ~60. The size policies keep an exact `BTreeMap`.
//!
//! The victim is the first valid FIFO entry scoring 0, else the first scored key. Finding it skips at most the
//! scored keys older than it (a prediction's worth), never the whole cache.

use std::collections::{BTreeMap, VecDeque};

use hashbrown::HashMap;

use crate::EvictionPolicy;

/// What the index knows of one resident key. 24 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub(crate) score: f64,
    /// Insertion sequence number, or the tick of the last use under LRU. Unique among resident keys.
    tie: u64,
    /// Weight in the low 62 bits, then `prefetched`, then `used`.
    packed: u64,
}

const WEIGHT_MASK: u64 = (1 << 62) - 1;
const PREFETCHED: u64 = 1 << 62;
const USED: u64 = 1 << 63;

impl Meta {
    pub(crate) fn weight(&self) -> u64 {
        self.packed & WEIGHT_MASK
    }

    pub(crate) fn prefetched(&self) -> bool {
        self.packed & PREFETCHED != 0
    }

    pub(crate) fn used(&self) -> bool {
        self.packed & USED != 0
    }
}

enum ZeroOrder<K> {
    Fifo(VecDeque<(u64, K)>),
    Sorted(BTreeMap<(u64, u64), K>),
}

pub(crate) struct Index<K> {
    pub(crate) policy: EvictionPolicy,
    meta: HashMap<K, Meta>,
    zero: ZeroOrder<K>,
    scored: BTreeMap<(u64, u64, u64), K>,
    /// Exact even when weights are near `u64::MAX`: a sum of up to 2^64 entries of 2^62 fits in 128 bits.
    total_weight: u128,
    next_tie: u64,
}

impl<K: crate::Key> Index<K> {
    pub(crate) fn new(policy: EvictionPolicy) -> Self {
        let zero = match policy {
            EvictionPolicy::Largest | EvictionPolicy::Smallest => ZeroOrder::Sorted(BTreeMap::new()),
            _ => ZeroOrder::Fifo(VecDeque::new()),
        };
        Index { policy, meta: HashMap::new(), zero, scored: BTreeMap::new(), total_weight: 0, next_tie: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.meta.len()
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.meta.contains_key(key)
    }

    /// The total weight of the resident keys.
    pub(crate) fn total_weight(&self) -> u128 {
        self.total_weight
    }

    /// Every resident key with what the index knows of it, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &Meta)> {
        self.meta.iter()
    }

    /// The policy's primary order among equal scores (the tie breaks what remains).
    fn primary(&self, meta: &Meta) -> u64 {
        match self.policy {
            EvictionPolicy::Largest => u64::MAX - meta.weight(),
            EvictionPolicy::Smallest => meta.weight(),
            _ => 0,
        }
    }

    fn scored_key(&self, meta: &Meta) -> (u64, u64, u64) {
        (meta.score.to_bits(), self.primary(meta), meta.tie)
    }

    /// Puts a key in the order that fits its score (the FIFO already holds it, at its tie).
    fn link(&mut self, key: &K, meta: &Meta) {
        if meta.score > 0.0 {
            self.scored.insert(self.scored_key(meta), key.clone());
        } else {
            let k = (self.primary(meta), meta.tie);
            if let ZeroOrder::Sorted(map) = &mut self.zero {
                map.insert(k, key.clone());
            }
        }
    }

    fn unlink(&mut self, meta: &Meta) {
        if meta.score > 0.0 {
            let k = self.scored_key(meta);
            self.scored.remove(&k);
        } else {
            let k = (self.primary(meta), meta.tie);
            if let ZeroOrder::Sorted(map) = &mut self.zero {
                map.remove(&k);
            }
        }
    }

    fn push_fifo(&mut self, tie: u64, key: &K) {
        if let ZeroOrder::Fifo(fifo) = &mut self.zero {
            fifo.push_back((tie, key.clone()));
            // Stale entries (evicted keys, old LRU ticks) are dropped when they outnumber the live ones.
            if fifo.len() > 2 * self.meta.len() + 64 {
                let meta = &self.meta;
                fifo.retain(|(t, k)| meta.get(k).is_some_and(|m| m.tie == *t));
            }
        }
    }

    fn trim_front(&mut self) {
        if let ZeroOrder::Fifo(fifo) = &mut self.zero {
            while let Some((t, k)) = fifo.front() {
                if self.meta.get(k).is_some_and(|m| m.tie == *t) {
                    break;
                }
                fifo.pop_front();
            }
        }
    }

    /// Makes `key` resident (replacing an older entry of it). Weights above 2^62 count as 2^62 - 1.
    pub(crate) fn insert(&mut self, key: K, weight: u64, score: f64, prefetched: bool, used: bool) {
        let tie = self.next_tie;
        self.next_tie += 1;
        let weight = weight.min(WEIGHT_MASK);
        let packed = weight | if prefetched { PREFETCHED } else { 0 } | if used { USED } else { 0 };
        let meta = Meta { score, tie, packed };
        self.link(&key, &meta);
        self.total_weight += u128::from(weight);
        // One hash-map operation: an older entry of the key comes back from `insert` (its FIFO entry is now
        // stale, since its tie differs, and is skipped like any other).
        if let Some(old) = self.meta.insert(key.clone(), meta) {
            self.unlink(&old);
            self.total_weight -= u128::from(old.weight());
        }
        // After the map knows the key: a compaction inside keeps only entries the map confirms.
        self.push_fifo(tie, &key);
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<Meta> {
        let meta = self.meta.remove(key)?;
        self.unlink(&meta);
        self.total_weight -= u128::from(meta.weight());
        self.trim_front();
        Some(meta)
    }

    /// Changes a resident key's score; returns false if it is not resident.
    pub(crate) fn rescore(&mut self, key: &K, score: f64) -> bool {
        let Some(&meta) = self.meta.get(key) else { return false };
        if meta.score.to_bits() != score.to_bits() {
            self.unlink(&meta);
            let meta = Meta { score, ..meta };
            self.link(key, &meta);
            self.meta.insert(key.clone(), meta);
        }
        true
    }

    /// Records a request of a resident key: refreshes its recency (LRU) and marks it used.
    /// Returns true when this is the first use of a prefetched value.
    pub(crate) fn touch(&mut self, key: &K) -> bool {
        let Some(&meta) = self.meta.get(key) else { return false };
        let first_use = meta.prefetched() && !meta.used();
        let mut new = Meta { packed: meta.packed | USED, ..meta };
        if self.policy == EvictionPolicy::LeastRecentlyUsed {
            self.unlink(&meta);
            new.tie = self.next_tie;
            self.next_tie += 1;
            self.link(key, &new);
            self.meta.insert(key.clone(), new);
            self.push_fifo(new.tie, key);
            self.trim_front();
        } else {
            self.meta.insert(key.clone(), new);
        }
        first_use
    }

    /// Resident entries from the likeliest victim on: `(key, score, weight)`.
    pub(crate) fn victims(&self) -> impl Iterator<Item = (&K, f64, u64)> {
        let zero: Box<dyn Iterator<Item = &K>> = match &self.zero {
            ZeroOrder::Fifo(fifo) => Box::new(
                fifo.iter()
                    .filter(|(t, k)| self.meta.get(k).is_some_and(|m| m.tie == *t && m.score == 0.0))
                    .map(|(_, k)| k),
            ),
            ZeroOrder::Sorted(map) => Box::new(map.values()),
        };
        zero.chain(self.scored.values()).map(|k| {
            let m = &self.meta[k];
            (k, m.score, m.weight())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(index: &Index<u64>) -> Vec<u64> {
        index.victims().map(|(k, _, _)| *k).collect()
    }

    #[test]
    fn zero_scores_go_first_in_tie_order_then_by_score() {
        let mut ix = Index::new(EvictionPolicy::Oldest);
        for k in 1..=5 {
            ix.insert(k, 1, 0.0, false, false);
        }
        ix.rescore(&1, 0.9);
        ix.rescore(&3, 0.2);
        assert_eq!(order(&ix), [2, 4, 5, 3, 1]);
        // Back to 0: key 1 is the oldest again.
        ix.rescore(&1, 0.0);
        assert_eq!(order(&ix), [1, 2, 4, 5, 3]);
        assert_eq!(ix.remove(&1).map(|m| m.weight()), Some(1));
        assert_eq!(order(&ix), [2, 4, 5, 3]);
        assert_eq!(ix.total_weight(), 4);
    }

    #[test]
    fn lru_moves_used_keys_to_the_back() {
        let mut ix = Index::new(EvictionPolicy::LeastRecentlyUsed);
        for k in 1..=4 {
            ix.insert(k, 1, 0.0, k == 2, false);
        }
        assert!(!ix.touch(&1));
        assert!(ix.touch(&2), "first use of a prefetched key");
        assert!(!ix.touch(&2), "only the first use counts");
        assert_eq!(order(&ix), [3, 4, 1, 2]);
    }

    #[test]
    fn size_policies_order_by_weight() {
        for (policy, expect) in [(EvictionPolicy::Largest, [2, 3, 1]), (EvictionPolicy::Smallest, [1, 3, 2])] {
            let mut ix = Index::new(policy);
            ix.insert(1, 1, 0.0, false, false);
            ix.insert(2, 9, 0.0, false, false);
            ix.insert(3, 5, 0.0, false, false);
            assert_eq!(order(&ix), expect, "{policy:?}");
            ix.rescore(&2, 1.0);
            ix.rescore(&2, 0.0);
            assert_eq!(order(&ix), expect, "{policy:?} after a round trip through scored");
        }
    }

    #[test]
    fn stale_entries_are_compacted() {
        let mut ix = Index::new(EvictionPolicy::LeastRecentlyUsed);
        for k in 0..10 {
            ix.insert(k, 1, 0.0, false, false);
        }
        for round in 0..1000 {
            ix.touch(&(round % 10));
        }
        let ZeroOrder::Fifo(fifo) = &ix.zero else { unreachable!() };
        assert!(fifo.len() <= 2 * 10 + 64, "{} entries", fifo.len());
        assert_eq!(ix.victims().count(), 10);
        assert_eq!(order(&ix)[0], 0, "touched longest ago");
    }

    #[test]
    fn extreme_weights_add_up_exactly() {
        let mut ix = Index::new(EvictionPolicy::Largest);
        for k in 0..8 {
            ix.insert(k, u64::MAX, 0.0, false, false);
        }
        assert_eq!(ix.total_weight(), 8 * u128::from(WEIGHT_MASK));
        assert_eq!(ix.victims().count(), 8);
        for k in 0..8 {
            ix.remove(&k);
        }
        assert_eq!(ix.total_weight(), 0);
    }

    #[test]
    fn reinserting_a_key_replaces_it() {
        let mut ix = Index::new(EvictionPolicy::Oldest);
        ix.insert(1, 3, 0.0, false, false);
        ix.insert(2, 1, 0.0, false, false);
        ix.insert(1, 4, 0.5, true, false);
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.total_weight(), 5);
        assert_eq!(order(&ix), [2, 1]);
    }
}
