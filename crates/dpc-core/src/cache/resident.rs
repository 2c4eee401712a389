//! The resident values: one open-addressing table of node pointers, read without locks and written in place
//! under the control lock, with epoch-based reclamation (`crossbeam-epoch`).
//!
//! - A hit pins the epoch (a thread-local word), probes the table's tags from the key's hash (32 bits of it, a
//!   4-byte tag per slot beside the node pointers), compares the node's hash and key only where the tag matches,
//!   and clones the value's `Arc`. Nothing shared is written, so hits on different keys scale across cores.
//! - A writer (always under the cache's control lock, so never two at once) stores a node pointer into a slot, or
//!   a tombstone over one, and hands the old node to the epoch collector, which drops it once no reader that might
//!   have seen it is still pinned. A miss therefore allocates one node and copies nothing.
//! - Removal leaves a tombstone unless the chain ends right after it; tombstones are reused by inserts, and the
//!   table is rebuilt (live pointers copied into a fresh array, the old array retired the same way) when live
//!   entries and tombstones fill 80 % of it, or grown when live entries alone fill 70 % of it.
//! - The tags say what a slot is (empty, tombstone, or the tag of its node's hash), so neither a probe nor a
//!   rebuild reads a node it does not need: before them, a cache of 4 096 entries under constant eviction spent
//!   7 % of each miss rebuilding (one cache miss per node, for its hash) and as much again probing insertions
//!   through nodes (docs/BENCHMARKS.md, core). They cost 4 bytes a slot, 6 an entry.
//!
//! Every store is a release and every load an acquire, so a reader that finds a node sees it whole, and a reader
//! that starts after a writer's call returned sees that write. A writer stores a slot's pointer before its tag
//! when it fills the slot, and its tag before its pointer when it empties it; a reader loads the tag, then the
//! pointer. A tag is only a filter: the node's own hash and key decide, so a reader racing a writer finds the
//! old value, the new one, or nothing, never another key's (and a false "not here" only sends `get` to its
//! locked path, which looks again). The first round's read-copy-update shards
//! (`arc-swap`, copied whole by every insertion and removal) cost about 3 000 of the 5 300 instructions of a miss
//! (callgrind; docs/BENCHMARKS.md, core).
//!
//! The one module of dpc-core with `unsafe`: dereferencing epoch-protected pointers and retiring nodes. Its tests
//! also run under valgrind's memcheck, which reports a use after free or a double drop.
#![allow(unsafe_code)]

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use hashbrown::DefaultHashBuilder;

/// The fewest slots a table has.
const MIN_SLOTS: usize = 16;
/// The tag of a slot that ends every chain through it.
const EMPTY: u32 = 0;
/// The tag of a slot whose node was removed while a chain still passes through it.
const TOMBSTONE: u32 = 1;

/// The tag of a node of `hash`: its high 32 bits, kept clear of [`EMPTY`] and [`TOMBSTONE`]. A slot's tag also
/// gives its node's first slot, so a rebuild places nodes without reading them.
#[inline]
fn tag(hash: u64) -> u32 {
    ((hash >> 32) as u32).max(TOMBSTONE + 1)
}

struct Node<K, V> {
    hash: u64,
    key: K,
    value: Arc<V>,
}

struct Table<K, V> {
    slots: Box<[Atomic<Node<K, V>>]>,
    tags: Box<[AtomicU32]>,
}

impl<K, V> Table<K, V> {
    /// Any number of slots, not only powers of two (a cache of 200 000 entries would otherwise round up to
    /// 524 288 slots, 31 bytes an entry, instead of 18): a tag picks its first slot by multiply-high.
    fn with_slots(n: usize) -> Self {
        let n = n.max(MIN_SLOTS);
        Table { slots: (0..n).map(|_| Atomic::null()).collect(), tags: (0..n).map(|_| AtomicU32::new(EMPTY)).collect() }
    }

    #[inline]
    fn start(&self, tag: u32) -> usize {
        ((u128::from(tag) * self.slots.len() as u128) >> 32) as usize
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    #[inline]
    fn prev(&self, i: usize) -> usize {
        if i == 0 { self.slots.len() - 1 } else { i - 1 }
    }

    /// Fills slot `i` with `node` (writer only): the pointer first, so a reader that sees the tag finds it.
    fn fill(&self, i: usize, node: Shared<'_, Node<K, V>>, tag: u32) {
        self.slots[i].store(node, Ordering::Release);
        self.tags[i].store(tag, Ordering::Release);
    }
}

pub(crate) struct ResidentMap<K, V> {
    hasher: DefaultHashBuilder,
    table: Atomic<Table<K, V>>,
    /// Live nodes and tombstones of the current table. Written by the writer only; read by `len`-style callers.
    live: AtomicUsize,
    tombstones: AtomicUsize,
}

/// Adds `delta` to a counter only the writer changes (it holds the control lock), returning the new value: a load
/// and a store, since a read-modify-write would cost a locked instruction on every insertion and removal.
fn writer_add(counter: &AtomicUsize, delta: isize) -> usize {
    let new = counter.load(Ordering::Relaxed).wrapping_add_signed(delta);
    counter.store(new, Ordering::Relaxed);
    new
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static, V: Send + Sync + 'static> ResidentMap<K, V> {
    /// A table for about `expected` entries (it grows beyond that if needed): 1.5 slots an entry, so that a full
    /// cache fills two thirds of its table.
    pub(crate) fn new(expected: usize) -> Self {
        ResidentMap {
            hasher: DefaultHashBuilder::default(),
            table: Atomic::new(Table::with_slots(expected.saturating_add(expected / 2))),
            live: AtomicUsize::new(0),
            tombstones: AtomicUsize::new(0),
        }
    }

    pub(crate) fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    fn current<'g>(&self, guard: &'g Guard) -> &'g Table<K, V> {
        // SAFETY: the table pointer is never null, and a replaced table is retired through the collector, so it
        // stays valid while `guard` is pinned.
        unsafe { self.table.load(Ordering::Acquire, guard).deref() }
    }

    /// The value of `key`, if resident. Lock-free.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &K) -> Option<Arc<V>> {
        self.get_pinned(hash, key, &epoch::pin())
    }

    /// [`get`](Self::get) under a guard the caller holds: a miss keeps it for its look under the control lock,
    /// and each pin that is not nested costs a read-modify-write (crossbeam-epoch's fence).
    #[inline]
    pub(crate) fn get_pinned(&self, hash: u64, key: &K, guard: &Guard) -> Option<Arc<V>> {
        let table = self.current(guard);
        let want = tag(hash);
        let mut i = table.start(want);
        loop {
            match table.tags[i].load(Ordering::Acquire) {
                EMPTY => return None,
                t if t == want => {
                    let p = table.slots[i].load(Ordering::Acquire, guard);
                    // SAFETY: a node is retired through the collector after it is unlinked, so it is valid while
                    // pinned.
                    if let Some(node) = unsafe { p.as_ref() }
                        && node.hash == hash
                        && node.key == *key
                    {
                        return Some(Arc::clone(&node.value));
                    }
                }
                _ => {}
            }
            i = table.next(i);
        }
    }

    /// Where `key` is (`Ok`) or where it would go (`Err`: the first tombstone of its chain, else the empty slot
    /// that ends it). Writer only.
    fn find(&self, table: &Table<K, V>, hash: u64, key: &K, guard: &Guard) -> Result<usize, usize> {
        let want = tag(hash);
        let mut i = table.start(want);
        let mut free = None;
        loop {
            match table.tags[i].load(Ordering::Relaxed) {
                EMPTY => return Err(free.unwrap_or(i)),
                TOMBSTONE => {
                    free.get_or_insert(i);
                }
                t if t == want => {
                    let p = table.slots[i].load(Ordering::Relaxed, guard);
                    // SAFETY: as in `get`; the writer also holds the control lock, so nothing unlinks the node
                    // meanwhile.
                    if unsafe { p.as_ref() }.is_some_and(|node| node.hash == hash && node.key == *key) {
                        return Ok(i);
                    }
                }
                _ => {}
            }
            i = table.next(i);
        }
    }

    /// Publishes `key -> value`, replacing an older value. Call under the control lock only.
    pub(crate) fn insert(&self, hash: u64, key: &K, value: &Arc<V>) {
        let guard = &epoch::pin();
        let table = self.current(guard);
        let node = Owned::new(Node { hash, key: key.clone(), value: Arc::clone(value) });
        match self.find(table, hash, key, guard) {
            Ok(i) => {
                let old = table.slots[i].swap(node, Ordering::AcqRel, guard);
                // SAFETY: `old` is unlinked; readers that saw it are pinned, and the collector waits for them.
                unsafe { guard.defer_destroy(old) };
            }
            Err(i) => {
                if table.tags[i].load(Ordering::Relaxed) == TOMBSTONE {
                    writer_add(&self.tombstones, -1);
                }
                table.fill(i, node.into_shared(guard), tag(hash));
                let live = writer_add(&self.live, 1);
                let used = live + self.tombstones.load(Ordering::Relaxed);
                let len = table.slots.len();
                if used * 5 > len * 4 {
                    // Grow when live entries fill 70 % of the table; otherwise only clear the tombstones out.
                    let slots = if live * 10 > len * 7 { len * 2 } else { len };
                    self.rebuild(table, slots, guard);
                }
            }
        }
    }

    /// Unpublishes `key`; returns whether it was there. Call under the control lock only.
    pub(crate) fn remove(&self, hash: u64, key: &K) -> bool {
        let guard = &epoch::pin();
        let table = self.current(guard);
        let Ok(i) = self.find(table, hash, key, guard) else { return false };
        // If the chain ends right after this slot, no probe passes through it: it can become empty, and so can
        // the tombstones just before it. The tag goes first, so a reader that sees the old tag may still find
        // the node (the removal has not returned yet) and one that sees the new tag does not look.
        let next_empty = table.tags[table.next(i)].load(Ordering::Relaxed) == EMPTY;
        table.tags[i].store(if next_empty { EMPTY } else { TOMBSTONE }, Ordering::Release);
        let old = table.slots[i].swap(Shared::null(), Ordering::AcqRel, guard);
        // SAFETY: as in `insert`.
        unsafe { guard.defer_destroy(old) };
        writer_add(&self.live, -1);
        if next_empty {
            let mut j = i;
            loop {
                j = table.prev(j);
                if j == i || table.tags[j].load(Ordering::Relaxed) != TOMBSTONE {
                    break;
                }
                table.tags[j].store(EMPTY, Ordering::Release);
                writer_add(&self.tombstones, -1);
            }
        } else {
            writer_add(&self.tombstones, 1);
        }
        true
    }

    /// Unpublishes everything. Call under the control lock only.
    pub(crate) fn clear(&self) {
        let guard = &epoch::pin();
        let fresh = Owned::new(Table::with_slots(MIN_SLOTS));
        let old = self.table.swap(fresh, Ordering::AcqRel, guard);
        self.live.store(0, Ordering::Relaxed);
        self.tombstones.store(0, Ordering::Relaxed);
        // SAFETY: the old table and its nodes are unlinked; the collector drops them once no reader is pinned.
        unsafe { retire_with_nodes(old, guard) };
    }

    /// Copies the live pointers into a fresh table of `slots` slots, publishes it and retires the old array (not
    /// the nodes, which the new table now holds). Reads the tags and pointers only, never a node.
    fn rebuild(&self, table: &Table<K, V>, slots: usize, guard: &Guard) {
        let fresh = Table::with_slots(slots);
        for (slot, t) in table.slots.iter().zip(table.tags.iter()) {
            let t = t.load(Ordering::Relaxed);
            if t == EMPTY || t == TOMBSTONE {
                continue;
            }
            let mut i = fresh.start(t);
            while fresh.tags[i].load(Ordering::Relaxed) != EMPTY {
                i = fresh.next(i);
            }
            fresh.slots[i].store(slot.load(Ordering::Relaxed, guard), Ordering::Relaxed);
            fresh.tags[i].store(t, Ordering::Relaxed);
        }
        // The swap (a release) publishes every store above.
        let old = self.table.swap(Owned::new(fresh), Ordering::AcqRel, guard);
        self.tombstones.store(0, Ordering::Relaxed);
        // SAFETY: the old array is unlinked; dropping a `Table` frees its slot array only, never the nodes.
        unsafe { guard.defer_destroy(old) };
    }

    /// Checks that every slot's tag says what the slot holds (tests only; no concurrent writer).
    #[cfg(test)]
    fn check_tags(&self) {
        let guard = &epoch::pin();
        let table = self.current(guard);
        let (mut live, mut tombstones) = (0, 0);
        for (slot, t) in table.slots.iter().zip(table.tags.iter()) {
            let t = t.load(Ordering::Relaxed);
            // SAFETY: as in `get`.
            match unsafe { slot.load(Ordering::Acquire, guard).as_ref() } {
                Some(node) => {
                    assert_eq!(t, tag(node.hash), "a live slot's tag is its node's");
                    live += 1;
                }
                None => {
                    assert!(t == EMPTY || t == TOMBSTONE, "an empty slot has the tag {t}");
                    tombstones += usize::from(t == TOMBSTONE);
                }
            }
        }
        assert_eq!(live, self.live.load(Ordering::Relaxed));
        assert_eq!(tombstones, self.tombstones.load(Ordering::Relaxed));
        assert!(live + tombstones < table.slots.len(), "some slot is empty, so every probe ends");
    }

    /// Every resident entry (tests only); consistent only without concurrent writers.
    #[cfg(test)]
    fn entries(&self) -> Vec<(K, Arc<V>)> {
        let guard = &epoch::pin();
        let table = self.current(guard);
        table
            .slots
            .iter()
            // SAFETY: as in `get`.
            .filter_map(|s| unsafe { s.load(Ordering::Acquire, guard).as_ref() })
            .map(|n| (n.key.clone(), Arc::clone(&n.value)))
            .collect()
    }
}

/// Retires a table together with every node it holds.
///
/// # Safety
/// `table` must be unlinked, and its nodes held by no other table.
unsafe fn retire_with_nodes<K: Send + 'static, V: Send + Sync + 'static>(
    table: Shared<'_, Table<K, V>>,
    guard: &Guard,
) {
    // The pointer as an address, so the closure is `Send`: it runs on whichever thread collects the garbage.
    let addr = table.as_raw() as usize;
    // SAFETY: the caller's contract; the closure owns the table from here on.
    unsafe {
        guard.defer_unchecked(move || {
            let table = Box::from_raw(addr as *mut Table<K, V>);
            for slot in table.slots.iter() {
                let p = slot.load(Ordering::Relaxed, epoch::unprotected());
                if !p.as_raw().is_null() {
                    drop(p.into_owned());
                }
            }
        });
    }
}

impl<K, V> Drop for ResidentMap<K, V> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader or writer is left, so the current table and its nodes can go now.
        unsafe {
            let guard = epoch::unprotected();
            let table = self.table.load(Ordering::Relaxed, guard).into_owned();
            for slot in table.slots.iter() {
                let p = slot.load(Ordering::Relaxed, guard);
                if !p.as_raw().is_null() {
                    drop(p.into_owned());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// Counts its live instances, to show that every value is dropped exactly once.
    struct Counted(u64, Arc<AtomicUsize>);

    impl Counted {
        fn new(n: u64, live: &Arc<AtomicUsize>) -> Arc<Self> {
            live.fetch_add(1, Ordering::SeqCst);
            Arc::new(Counted(n, Arc::clone(live)))
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Runs the epoch collector until `live` reaches `want`. Other tests' threads pin the same global collector,
    /// so how many rounds that takes varies; a few million rounds mean a drop really is missing.
    fn collect_until(live: &AtomicUsize, want: usize) {
        for _ in 0..5_000_000 {
            if live.load(Ordering::SeqCst) == want {
                return;
            }
            epoch::pin().flush();
            std::thread::yield_now();
        }
        assert_eq!(live.load(Ordering::SeqCst), want, "values still alive after the collector ran");
    }

    #[test]
    fn insert_replace_remove_and_clear_drop_every_value_once() {
        let live = Arc::new(AtomicUsize::new(0));
        let map = ResidentMap::<String, Counted>::new(8);
        for n in 0..2000u64 {
            let key = format!("k{n}");
            map.insert(map.hash(&key), &key, &Counted::new(n, &live));
        }
        // Grown well past the expected size; every entry still found.
        for n in 0..2000u64 {
            let key = format!("k{n}");
            assert_eq!(map.get(map.hash(&key), &key).map(|v| v.0), Some(n));
        }
        for n in 0..500u64 {
            let key = format!("k{n}");
            map.insert(map.hash(&key), &key, &Counted::new(n + 10_000, &live));
        }
        collect_until(&live, 2000);
        assert_eq!(map.get(map.hash(&"k7".to_string()), &"k7".to_string()).map(|v| v.0), Some(10_007));
        for n in 500..1500u64 {
            let key = format!("k{n}");
            assert!(map.remove(map.hash(&key), &key));
            assert!(!map.remove(map.hash(&key), &key));
            assert!(map.get(map.hash(&key), &key).is_none());
        }
        collect_until(&live, 1000);
        assert_eq!(map.entries().len(), 1000);
        map.check_tags();
        map.clear();
        collect_until(&live, 0);
        assert!(map.entries().is_empty());
        map.insert(map.hash(&"again".to_string()), &"again".to_string(), &Counted::new(1, &live));
        drop(map);
        assert_eq!(live.load(Ordering::SeqCst), 0, "dropping the map drops its entries at once");
    }

    #[test]
    fn keys_whose_tags_collide_or_would_be_reserved_are_all_found() {
        // Hashes chosen by hand: high halves 0 and 1 (the reserved tags, moved to 2), 2, and one shared high half
        // with different low halves, and two keys with the very same hash.
        let hashes = [0u64, 1, 1 << 32, 2 << 32, (7 << 32) | 1, (7 << 32) | 2, (7 << 32) | 3, u64::MAX, u64::MAX];
        let map = ResidentMap::<u64, u64>::new(4);
        for (k, h) in hashes.iter().enumerate() {
            map.insert(*h, &(k as u64), &Arc::new(k as u64 * 10));
        }
        for (k, h) in hashes.iter().enumerate() {
            assert_eq!(map.get(*h, &(k as u64)).as_deref(), Some(&(k as u64 * 10)), "key {k}");
            assert!(map.get(*h, &(k as u64 + 100)).is_none(), "same hash, another key");
        }
        map.check_tags();
        for (k, h) in hashes.iter().enumerate().step_by(2) {
            assert!(map.remove(*h, &(k as u64)));
        }
        for (k, h) in hashes.iter().enumerate() {
            assert_eq!(map.get(*h, &(k as u64)).is_some(), k % 2 == 1, "key {k}");
        }
        map.check_tags();
    }

    #[test]
    fn fifo_churn_keeps_the_table_small_and_every_key_findable() {
        // The cache's own pattern: insert a fresh key, evict the oldest, forever.
        let map = ResidentMap::<u64, u64>::new(64);
        for k in 0..64u64 {
            map.insert(map.hash(&k), &k, &Arc::new(k));
        }
        for k in 64..100_000u64 {
            map.insert(map.hash(&k), &k, &Arc::new(k));
            let old = k - 64;
            assert!(map.remove(map.hash(&old), &old));
        }
        for k in 100_000 - 64..100_000u64 {
            assert_eq!(map.get(map.hash(&k), &k).as_deref(), Some(&k));
        }
        assert_eq!(map.entries().len(), 64);
        map.check_tags();
        let guard = &epoch::pin();
        assert!(map.current(guard).slots.len() <= 96, "tombstones were cleared, not grown over");
    }

    #[test]
    fn concurrent_readers_see_a_value_or_nothing_while_a_writer_churns() {
        let live = Arc::new(AtomicUsize::new(0));
        let map = ResidentMap::<u64, Counted>::new(16);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        for k in 0..256u64 {
                            if let Some(v) = map.get(map.hash(&k), &k) {
                                assert_eq!(v.0 % 1000, k, "a value is only ever found under its own key");
                            }
                        }
                    }
                });
            }
            for round in 0..300u64 {
                for k in 0..256u64 {
                    if (k + round) % 3 == 0 {
                        map.remove(map.hash(&k), &k);
                    } else {
                        map.insert(map.hash(&k), &k, &Counted::new(k + 1000 * round, &live));
                    }
                }
                if round % 100 == 99 {
                    map.clear();
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        map.check_tags();
        collect_until(&live, map.entries().len());
        drop(map);
        collect_until(&live, 0);
    }
}
