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
//! The map from key to what the index knows of it holds 16 bytes a key (tie, weight and flags); the scores above 0
//! live in a second, small map, so the many keys scoring 0 do not carry an 8-byte score (about 10 bytes an entry
//! with the hash map's slack; docs/BENCHMARKS.md, core).
//!
//! The victim is the first valid FIFO entry scoring 0, else the first scored key. Finding it skips at most the
//! scored keys older than it (a prediction's worth), never the whole cache.

use std::collections::{BTreeMap, VecDeque};

use hashbrown::HashMap;

use crate::EvictionPolicy;

/// What the index knows of one resident key, as its methods return it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub(crate) score: f64,
    /// Insertion sequence number, or the tick of the last use under LRU. Unique among resident keys.
    tie: u64,
    /// Weight in the low 62 bits, then `prefetched`, then `used`.
    packed: u64,
}

/// What the index stores for every resident key: its tie in the low 62 bits, then `prefetched` and `used`. The
/// score and the weight live in side maps for the keys where they differ from 0 and 1, so a cache without a
/// weigher and with a small prediction pays 8 bytes an entry here (16 with the key) instead of 24 (32).
#[derive(Clone, Copy, Debug)]
struct Entry(u64);

const WEIGHT_MASK: u64 = (1 << 62) - 1;
/// Ties count insertions and LRU touches: 2^62 of them would take a century at a billion a second.
const TIE_MASK: u64 = WEIGHT_MASK;
const PREFETCHED: u64 = 1 << 62;
const USED: u64 = 1 << 63;

impl Entry {
    fn new(tie: u64, packed: u64) -> Entry {
        Entry((tie & TIE_MASK) | (packed & !WEIGHT_MASK))
    }

    fn tie(self) -> u64 {
        self.0 & TIE_MASK
    }

    fn flags(self) -> u64 {
        self.0 & !TIE_MASK
    }
}

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
    meta: HashMap<K, Entry>,
    /// The weights of the resident keys weighing other than 1 (only with a weigher).
    weights: HashMap<K, u64>,
    /// The scores of the resident keys scoring more than 0 (a prediction's worth); every other key scores 0.
    scores: HashMap<K, f64>,
    zero: ZeroOrder<K>,
    scored: BTreeMap<(u64, u64, u64), K>,
    /// How many FIFO entries are stale (their key gone or re-queued); 0 lets the front be trusted unasked.
    stale: usize,
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
        Index {
            policy,
            meta: HashMap::new(),
            scores: HashMap::new(),
            weights: HashMap::new(),
            stale: 0,
            zero,
            scored: BTreeMap::new(),
            total_weight: 0,
            next_tie: 0,
        }
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
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, Meta)> {
        self.meta.iter().map(|(k, e)| (k, self.full(k, e)))
    }

    fn score(&self, key: &K) -> f64 {
        self.scores.get(key).copied().unwrap_or(0.0)
    }

    fn weight_of(&self, key: &K) -> u64 {
        self.weights.get(key).copied().unwrap_or(1)
    }

    fn full(&self, key: &K, e: &Entry) -> Meta {
        Meta { score: self.score(key), tie: e.tie(), packed: self.weight_of(key) | e.flags() }
    }

    /// Stores `meta` for `key`, returning what was there before.
    fn store(&mut self, key: &K, meta: &Meta) -> Option<Meta> {
        let old_score =
            if meta.score > 0.0 { self.scores.insert(key.clone(), meta.score) } else { self.scores.remove(key) };
        let old_weight = self.set_weight(key, meta.weight());
        let old = self.meta.insert(key.clone(), Entry::new(meta.tie, meta.packed))?;
        Some(Meta { score: old_score.unwrap_or(0.0), tie: old.tie(), packed: old_weight | old.flags() })
    }

    /// Sets `key`'s weight, returning the one it had (1 if none was stored).
    fn set_weight(&mut self, key: &K, weight: u64) -> u64 {
        let old = if weight == 1 {
            if self.weights.is_empty() { None } else { self.weights.remove(key) }
        } else {
            self.weights.insert(key.clone(), weight)
        };
        old.unwrap_or(1)
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
                fifo.retain(|(t, k)| meta.get(k).is_some_and(|m| m.tie() == *t));
                self.stale = 0;
            }
        }
    }

    /// Drops stale entries from the FIFO's front. With none anywhere (the usual case under `Oldest`: keys leave
    /// from the front), it asks the map nothing.
    fn trim_front(&mut self) {
        if let ZeroOrder::Fifo(fifo) = &mut self.zero {
            while self.stale > 0
                && let Some((t, k)) = fifo.front()
            {
                if self.meta.get(k).is_some_and(|m| m.tie() == *t) {
                    break;
                }
                fifo.pop_front();
                self.stale -= 1;
            }
        }
    }

    /// Whether the FIFO entry `(tie, key)` is its key's current one and scores 0.
    fn zero_and_current(&self, tie: u64, key: &K) -> bool {
        // (A lookup in an empty map returns before hashing; a removal does not, hence the guards elsewhere.)
        (self.stale == 0 || self.meta.get(key).is_some_and(|m| m.tie() == tie)) && !self.scores.contains_key(key)
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
        // An older entry of the key comes back from `store` (its FIFO entry is now stale, since its tie differs,
        // and is skipped like any other).
        if let Some(old) = self.store(&key, &meta) {
            self.unlink(&old);
            self.total_weight -= u128::from(old.weight());
            self.stale += 1;
        }
        // After the map knows the key: a compaction inside keeps only entries the map confirms.
        self.push_fifo(tie, &key);
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<Meta> {
        let e = self.meta.remove(key)?;
        let score = if self.scores.is_empty() { 0.0 } else { self.scores.remove(key).unwrap_or(0.0) };
        let weight = if self.weights.is_empty() { 1 } else { self.weights.remove(key).unwrap_or(1) };
        let meta = Meta { score, tie: e.tie(), packed: weight | e.flags() };
        self.unlink(&meta);
        self.total_weight -= u128::from(meta.weight());
        // The usual removal is the eviction of the front entry: drop it without asking the map.
        if let ZeroOrder::Fifo(fifo) = &mut self.zero {
            if fifo.front().is_some_and(|(t, k)| *t == meta.tie && k == key) {
                fifo.pop_front();
            } else {
                self.stale += 1;
            }
        }
        self.trim_front();
        Some(meta)
    }

    /// Changes a resident key's score; returns false if it is not resident.
    pub(crate) fn rescore(&mut self, key: &K, score: f64) -> bool {
        let Some(e) = self.meta.get(key) else { return false };
        let meta = self.full(key, e);
        if meta.score.to_bits() != score.to_bits() {
            self.unlink(&meta);
            let meta = Meta { score, ..meta };
            self.link(key, &meta);
            if score > 0.0 {
                self.scores.insert(key.clone(), score);
            } else {
                self.scores.remove(key);
            }
        }
        true
    }

    /// Records a request of a resident key: refreshes its recency (LRU) and marks it used.
    /// Returns true when this is the first use of a prefetched value.
    pub(crate) fn touch(&mut self, key: &K) -> bool {
        let Some(e) = self.meta.get_mut(key) else { return false };
        let first_use = e.0 & (PREFETCHED | USED) == PREFETCHED;
        // Written only when it changes: the scheduler touches every request, and a store would take the entry's
        // cache line from the core that serves the next miss.
        if e.0 & USED == 0 {
            e.0 |= USED;
        }
        if self.policy == EvictionPolicy::LeastRecentlyUsed {
            let old = *e;
            let meta = self.full(key, &old);
            self.unlink(&meta);
            let new = Meta { tie: self.next_tie, ..meta };
            self.next_tie += 1;
            self.link(key, &new);
            if let Some(e) = self.meta.get_mut(key) {
                *e = Entry::new(new.tie, e.flags());
            }
            self.stale += 1;
            self.push_fifo(new.tie, key);
            self.trim_front();
        }
        first_use
    }

    /// Resident entries from the likeliest victim on: `(key, score, weight)`.
    pub(crate) fn victims(&self) -> impl Iterator<Item = (&K, f64, u64)> {
        let zero: Box<dyn Iterator<Item = &K>> = match &self.zero {
            ZeroOrder::Fifo(fifo) => {
                Box::new(fifo.iter().filter(|(t, k)| self.zero_and_current(*t, k)).map(|(_, k)| k))
            }
            ZeroOrder::Sorted(map) => Box::new(map.values()),
        };
        zero.chain(self.scored.values()).map(|k| (k, self.score(k), self.weight_of(k)))
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
    fn only_resident_keys_scoring_above_zero_keep_a_score() {
        const { assert!(std::mem::size_of::<Entry>() == 8) };
        let mut ix = Index::new(EvictionPolicy::LeastRecentlyUsed);
        for k in 0..6 {
            ix.insert(k, 1, if k < 3 { 0.5 } else { 0.0 }, true, false);
        }
        assert_eq!(ix.scores.len(), 3);
        ix.rescore(&0, 0.0);
        ix.rescore(&3, 0.25);
        ix.remove(&1);
        ix.insert(2, 1, 0.0, false, false);
        assert!(ix.touch(&4), "first use of a prefetched key");
        let mut scored: Vec<_> = ix.scores.iter().map(|(k, s)| (*k, *s)).collect();
        scored.sort_by_key(|(k, _)| *k);
        assert_eq!(scored, [(3, 0.25)]);
        assert_eq!(order(&ix), [0, 5, 2, 4, 3], "zero scores in LRU order, then the scored key");
        let snapshot: Vec<_> = {
            let mut v: Vec<_> = ix.iter().map(|(k, m)| (*k, m.score, m.prefetched(), m.used())).collect();
            v.sort_by_key(|(k, ..)| *k);
            v
        };
        assert_eq!(
            snapshot,
            [
                (0, 0.0, true, false),
                (2, 0.0, false, false),
                (3, 0.25, true, false),
                (4, 0.0, true, true),
                (5, 0.0, true, false)
            ]
        );
    }

    #[test]
    fn victims_are_always_exactly_the_resident_keys() {
        // Random inserts, re-inserts, removals, touches and rescores: the FIFO's stale-entry count decides when
        // its front is trusted without a lookup, so a count that fell short would name a key no longer resident.
        for policy in [EvictionPolicy::Oldest, EvictionPolicy::LeastRecentlyUsed] {
            let mut ix = Index::new(policy);
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            for step in 0..5_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = x % 64;
                match (x >> 8) % 5 {
                    0 | 1 => ix.insert(key, 1 + (x >> 24) % 3, 0.0, (x >> 30) % 2 == 0, false),
                    2 => {
                        ix.remove(&key);
                    }
                    3 => {
                        ix.touch(&key);
                    }
                    _ => {
                        ix.rescore(&key, if (x >> 16) % 3 == 0 { 0.5 } else { 0.0 });
                    }
                }
                let victims: Vec<u64> = ix.victims().map(|(k, _, _)| *k).collect();
                assert_eq!(victims.len(), ix.len(), "{policy:?}, step {step}");
                let weights: u128 = ix.victims().map(|(_, _, w)| u128::from(w)).sum();
                assert_eq!(weights, ix.total_weight(), "{policy:?}, step {step}: weights and their total disagree");
                assert!(victims.iter().all(|k| ix.contains(k)), "{policy:?}, step {step}: a victim is not resident");
            }
        }
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
