//! The resident values: one open-addressing table of node pointers, read without locks and written in place
//! under the control lock; freed nodes go through `reclaim.rs`.
//!
//! - A hit pins its thread (two plain stores to its own cache line, see `reclaim.rs`), probes the node pointers
//!   from the key's hash, compares each node's hash and key, and clones the value's `Arc`. Nothing shared is
//!   written, so hits on different keys scale across cores.
//! - A writer (always under the cache's control lock, so never two at once, and holding the [`Garbage`] that
//!   lives under it) stores a node pointer into a slot, or empties one, and retires the old node, which is freed
//!   once no reader that might have seen it is still pinned. A miss therefore allocates one node and copies
//!   nothing. Under the lock, reading needs no pin: only the lock's holder frees.
//! - Removal leaves a tombstone unless the chain ends right after it; tombstones are reused by inserts, and the
//!   table is rebuilt (live pointers copied into a fresh array, the old array retired the same way) when live
//!   entries and tombstones fill 80 % of it, or grown when live entries alone fill 70 % of it.
//! - The writer also keeps a 4-byte tag per slot (empty, tombstone, or 32 bits of its node's hash), so its probes
//!   and rebuilds read no node they do not need: before them, a cache of 4 096 entries under constant eviction
//!   spent 7 % of each miss rebuilding (one cache miss per node, for its hash) and as much again probing
//!   insertions through nodes (docs/BENCHMARKS.md, core). They cost 4 bytes a slot, 6 an entry. Readers do not
//!   read them: a hit that probed the tags too touched one more cache line and was 15 % slower.
//!
//! Every store is a release and every load an acquire, so a reader that finds a node sees it whole, and a reader
//! that starts after a writer's call returned sees that write; a reader racing a writer finds the old value, the
//! new one, or nothing, never another key's. The first round's read-copy-update shards
//! (`arc-swap`, copied whole by every insertion and removal) cost about 3 000 of the 5 300 instructions of a miss
//! (callgrind; docs/BENCHMARKS.md, core).
//!
//! With `reclaim.rs`, the modules of dpc-core with `unsafe`: dereferencing pinned pointers and retiring nodes.
//! Their tests also run under valgrind's memcheck, which reports a use after free or a double drop.
#![allow(unsafe_code)]

use std::hash::{BuildHasher, Hash};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use hashbrown::DefaultHashBuilder;

use super::reclaim::{self, Garbage, Retired};

/// The fewest slots a table has.
const MIN_SLOTS: usize = 16;
/// The tag of a slot that ends every chain through it.
const EMPTY: u32 = 0;
/// The tag of a slot whose node was removed while a chain still passes through it.
const TOMBSTONE: u32 = 1;

/// The tag of a node of `hash`: its high 32 bits, kept clear of [`EMPTY`] and [`TOMBSTONE`]. A slot's tag also
/// gives its node's first slot, so a rebuild places nodes without reading them.
///
/// In the pointer array, an empty slot is null and a tombstone is [`tombstone`]; readers go by those alone.
#[inline]
fn tag(hash: u64) -> u32 {
    ((hash >> 32) as u32).max(TOMBSTONE + 1)
}

/// The pointer a tombstone's slot holds: never dereferenced.
#[inline]
fn tombstone<K, V>() -> *mut Node<K, V> {
    ptr::without_provenance_mut(1)
}

struct Node<K, V> {
    hash: u64,
    key: K,
    value: Arc<V>,
}

struct Table<K, V> {
    slots: Box<[AtomicPtr<Node<K, V>>]>,
    tags: Box<[AtomicU32]>,
}

impl<K, V> Table<K, V> {
    /// Any number of slots, not only powers of two (a cache of 200 000 entries would otherwise round up to
    /// 524 288 slots, 31 bytes an entry, instead of 18): a tag picks its first slot by multiply-high.
    fn with_slots(n: usize) -> Self {
        let n = n.max(MIN_SLOTS);
        Table {
            slots: (0..n).map(|_| AtomicPtr::new(ptr::null_mut())).collect(),
            tags: (0..n).map(|_| AtomicU32::new(EMPTY)).collect(),
        }
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

    /// Fills slot `i` with `node` (writer only).
    fn fill(&self, i: usize, node: *mut Node<K, V>, tag: u32) {
        self.tags[i].store(tag, Ordering::Relaxed);
        self.slots[i].store(node, Ordering::Release);
    }

    /// The node at slot `i`, if any.
    ///
    /// # Safety
    /// The caller is pinned (or holds the control lock) for as long as it uses the reference.
    #[inline]
    unsafe fn node(&self, i: usize) -> Option<&Node<K, V>> {
        let p = self.slots[i].load(Ordering::Acquire);
        // SAFETY: a node is retired only after it is unlinked, and freed only once no pinned reader can hold it;
        // the caller's contract covers the rest. A tombstone is not a node.
        if p == tombstone() { None } else { unsafe { p.as_ref() } }
    }
}

/// Frees a table's slot arrays, not its nodes (another table holds them now).
unsafe fn free_table<K, V>(p: *mut ()) {
    // SAFETY: `p` is a `Box<Table>` retired once; dropping a `Table` frees its arrays only.
    drop(unsafe { Box::from_raw(p.cast::<Table<K, V>>()) });
}

/// Frees a table and every node it holds.
unsafe fn free_table_and_nodes<K, V>(p: *mut ()) {
    // SAFETY: `p` is a `Box<Table>` retired once, whose nodes no other table holds.
    let table = unsafe { Box::from_raw(p.cast::<Table<K, V>>()) };
    for slot in table.slots.iter() {
        let n = slot.load(Ordering::Relaxed);
        if !n.is_null() && n != tombstone() {
            // SAFETY: each node is in one slot of one table only.
            drop(unsafe { Box::from_raw(n) });
        }
    }
}

pub(crate) struct ResidentMap<K, V> {
    hasher: DefaultHashBuilder,
    /// Never null. Replaced only by the writer; the old one is retired.
    table: AtomicPtr<Table<K, V>>,
    /// Live nodes and tombstones of the current table. Written by the writer only; read by `len`-style callers.
    live: AtomicUsize,
    tombstones: AtomicUsize,
}

// SAFETY: the map owns its table and nodes (keys and values are `Send + Sync` by the impl bounds below); readers
// share them through `&self` under pins, the writer changes them under the control lock.
unsafe impl<K: Send + Sync, V: Send + Sync> Send for ResidentMap<K, V> {}
// SAFETY: as above.
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for ResidentMap<K, V> {}

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
        reclaim::init();
        ResidentMap {
            hasher: DefaultHashBuilder::default(),
            table: AtomicPtr::new(Box::into_raw(Box::new(Table::with_slots(expected.saturating_add(expected / 2))))),
            live: AtomicUsize::new(0),
            tombstones: AtomicUsize::new(0),
        }
    }

    pub(crate) fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The current table, valid while the caller is pinned or holds the control lock.
    fn current(&self) -> &Table<K, V> {
        // SAFETY: never null; a replaced table is retired and freed only once no pinned reader can hold it, and
        // only by the holder of the control lock.
        unsafe { &*self.table.load(Ordering::Acquire) }
    }

    /// The value of `key`, if resident. Lock-free.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &K) -> Option<Arc<V>> {
        let _pin = reclaim::pin();
        self.lookup(hash, key)
    }

    /// [`get`](Self::get) for the holder of the control lock (`_garbage` lives under it): no pin needed, since
    /// only that holder frees anything.
    pub(crate) fn get_locked(&self, hash: u64, key: &K, _garbage: &Garbage) -> Option<Arc<V>> {
        self.lookup(hash, key)
    }

    /// Only while pinned or under the control lock.
    #[inline]
    fn lookup(&self, hash: u64, key: &K) -> Option<Arc<V>> {
        let table = self.current();
        let mut i = table.start(tag(hash));
        loop {
            let p = table.slots[i].load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            if p != tombstone() {
                // SAFETY: pinned or under the lock (the callers'); not a tombstone.
                let node = unsafe { &*p };
                if node.hash == hash && node.key == *key {
                    return Some(Arc::clone(&node.value));
                }
            }
            i = table.next(i);
        }
    }

    /// Where `key` is (`Ok`) or where it would go (`Err`: the first tombstone of its chain, else the empty slot
    /// that ends it). Writer only.
    fn find(&self, table: &Table<K, V>, hash: u64, key: &K) -> Result<usize, usize> {
        let want = tag(hash);
        let mut i = table.start(want);
        let mut free = None;
        loop {
            match table.tags[i].load(Ordering::Relaxed) {
                EMPTY => return Err(free.unwrap_or(i)),
                TOMBSTONE => {
                    free.get_or_insert(i);
                }
                // SAFETY: the writer holds the control lock, so nothing frees the node meanwhile.
                t if t == want && unsafe { table.node(i) }.is_some_and(|n| n.hash == hash && n.key == *key) => {
                    return Ok(i);
                }
                _ => {}
            }
            i = table.next(i);
        }
    }

    /// Publishes `key -> value`, replacing an older value. Call under the control lock only (`garbage` is under
    /// it).
    pub(crate) fn insert(&self, hash: u64, key: &K, value: &Arc<V>, garbage: &mut Garbage) {
        let table = self.current();
        let node = Box::into_raw(Box::new(Node { hash, key: key.clone(), value: Arc::clone(value) }));
        match self.find(table, hash, key) {
            Ok(i) => {
                let old = table.slots[i].swap(node, Ordering::AcqRel);
                // SAFETY: `old` is unlinked and was made by `Box::into_raw` here.
                garbage.retire(unsafe { Retired::boxed(old) });
            }
            Err(i) => {
                if table.tags[i].load(Ordering::Relaxed) == TOMBSTONE {
                    writer_add(&self.tombstones, -1);
                }
                table.fill(i, node, tag(hash));
                let live = writer_add(&self.live, 1);
                let used = live + self.tombstones.load(Ordering::Relaxed);
                let len = table.slots.len();
                if used * 5 > len * 4 {
                    // Grow when live entries fill 70 % of the table; otherwise only clear the tombstones out.
                    let slots = if live * 10 > len * 7 { len * 2 } else { len };
                    self.rebuild(table, slots, garbage);
                }
            }
        }
    }

    /// Unpublishes `key`; returns whether it was there. Call under the control lock only.
    pub(crate) fn remove(&self, hash: u64, key: &K, garbage: &mut Garbage) -> bool {
        let table = self.current();
        let Ok(i) = self.find(table, hash, key) else { return false };
        // If the chain ends right after this slot, no probe passes through it: it can become empty, and so can
        // the tombstones just before it. The tag goes first, so a reader that sees the old tag may still find
        // the node (the removal has not returned yet) and one that sees the new tag does not look.
        let next_empty = table.tags[table.next(i)].load(Ordering::Relaxed) == EMPTY;
        table.tags[i].store(if next_empty { EMPTY } else { TOMBSTONE }, Ordering::Relaxed);
        let old = table.slots[i].swap(if next_empty { ptr::null_mut() } else { tombstone() }, Ordering::AcqRel);
        // SAFETY: as in `insert`.
        garbage.retire(unsafe { Retired::boxed(old) });
        writer_add(&self.live, -1);
        if next_empty {
            let mut j = i;
            loop {
                j = table.prev(j);
                if j == i || table.tags[j].load(Ordering::Relaxed) != TOMBSTONE {
                    break;
                }
                table.tags[j].store(EMPTY, Ordering::Relaxed);
                table.slots[j].store(ptr::null_mut(), Ordering::Release);
                writer_add(&self.tombstones, -1);
            }
        } else {
            writer_add(&self.tombstones, 1);
        }
        true
    }

    /// Unpublishes everything. Call under the control lock only.
    pub(crate) fn clear(&self, garbage: &mut Garbage) {
        let fresh = Box::into_raw(Box::new(Table::<K, V>::with_slots(MIN_SLOTS)));
        let old = self.table.swap(fresh, Ordering::AcqRel);
        self.live.store(0, Ordering::Relaxed);
        self.tombstones.store(0, Ordering::Relaxed);
        // SAFETY: the old table and its nodes are unlinked; `free_table_and_nodes` frees exactly those.
        garbage.retire(unsafe { Retired::with(old.cast(), free_table_and_nodes::<K, V>) });
        // A whole cache's memory: seal it now rather than after the next batch of removals.
        garbage.collect();
    }

    /// Copies the live pointers into a fresh table of `slots` slots, publishes it and retires the old array (not
    /// the nodes, which the new table now holds). Reads the tags and pointers only, never a node.
    fn rebuild(&self, table: &Table<K, V>, slots: usize, garbage: &mut Garbage) {
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
            fresh.slots[i].store(slot.load(Ordering::Relaxed), Ordering::Relaxed);
            fresh.tags[i].store(t, Ordering::Relaxed);
        }
        // The swap (a release) publishes every store above.
        let old = self.table.swap(Box::into_raw(Box::new(fresh)), Ordering::AcqRel);
        self.tombstones.store(0, Ordering::Relaxed);
        // SAFETY: the old array is unlinked; `free_table` frees its arrays only, never the nodes.
        garbage.retire(unsafe { Retired::with(old.cast(), free_table::<K, V>) });
    }

    /// Checks that every slot's tag says what the slot holds (tests only; no concurrent writer).
    #[cfg(test)]
    fn check_tags(&self) {
        let table = self.current();
        let (mut live, mut tombstones) = (0, 0);
        for i in 0..table.slots.len() {
            let t = table.tags[i].load(Ordering::Relaxed);
            // SAFETY: no concurrent writer, so nothing is freed meanwhile.
            match unsafe { table.node(i) } {
                Some(node) => {
                    assert_eq!(t, tag(node.hash), "a live slot's tag is its node's");
                    live += 1;
                }
                None => {
                    let tombstone_ptr = table.slots[i].load(Ordering::Relaxed) == tombstone();
                    assert!(t == EMPTY || t == TOMBSTONE, "an empty slot has the tag {t}");
                    assert_eq!(t == TOMBSTONE, tombstone_ptr, "the pointer and the tag of slot {i} disagree");
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
        let _pin = reclaim::pin();
        let table = self.current();
        (0..table.slots.len())
            // SAFETY: pinned.
            .filter_map(|i| unsafe { table.node(i) })
            .map(|n| (n.key.clone(), Arc::clone(&n.value)))
            .collect()
    }

    /// The current table's slot count (tests only).
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.current().slots.len()
    }
}

impl<K, V> Drop for ResidentMap<K, V> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader or writer is left, so the current table and its nodes can go now.
        unsafe { free_table_and_nodes::<K, V>(self.table.load(Ordering::Relaxed).cast()) };
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

    /// Frees what is ready until `live` reaches `want`. Other tests' threads pin slots of the same registry, so
    /// how many rounds that takes varies; a few million rounds mean a drop really is missing.
    fn collect_until(live: &AtomicUsize, want: usize, garbage: &mut Garbage) {
        for _ in 0..5_000_000 {
            if live.load(Ordering::SeqCst) == want {
                return;
            }
            garbage.collect();
            std::thread::yield_now();
        }
        assert_eq!(live.load(Ordering::SeqCst), want, "values still alive after the collector ran");
    }

    #[test]
    fn insert_replace_remove_and_clear_drop_every_value_once() {
        let live = Arc::new(AtomicUsize::new(0));
        let map = ResidentMap::<String, Counted>::new(8);
        let mut g = Garbage::default();
        for n in 0..2000u64 {
            let key = format!("k{n}");
            map.insert(map.hash(&key), &key, &Counted::new(n, &live), &mut g);
        }
        // Grown well past the expected size; every entry still found.
        for n in 0..2000u64 {
            let key = format!("k{n}");
            assert_eq!(map.get(map.hash(&key), &key).map(|v| v.0), Some(n));
        }
        for n in 0..500u64 {
            let key = format!("k{n}");
            map.insert(map.hash(&key), &key, &Counted::new(n + 10_000, &live), &mut g);
        }
        collect_until(&live, 2000, &mut g);
        assert_eq!(map.get(map.hash(&"k7".to_string()), &"k7".to_string()).map(|v| v.0), Some(10_007));
        for n in 500..1500u64 {
            let key = format!("k{n}");
            assert!(map.remove(map.hash(&key), &key, &mut g));
            assert!(!map.remove(map.hash(&key), &key, &mut g));
            assert!(map.get(map.hash(&key), &key).is_none());
        }
        collect_until(&live, 1000, &mut g);
        assert_eq!(map.entries().len(), 1000);
        map.check_tags();
        map.clear(&mut g);
        collect_until(&live, 0, &mut g);
        assert!(map.entries().is_empty());
        map.insert(map.hash(&"again".to_string()), &"again".to_string(), &Counted::new(1, &live), &mut g);
        drop(map);
        assert_eq!(live.load(Ordering::SeqCst), 0, "dropping the map drops its entries at once");
    }

    #[test]
    fn keys_whose_tags_collide_or_would_be_reserved_are_all_found() {
        // Hashes chosen by hand: high halves 0 and 1 (the reserved tags, moved to 2), 2, and one shared high half
        // with different low halves, and two keys with the very same hash.
        let hashes = [0u64, 1, 1 << 32, 2 << 32, (7 << 32) | 1, (7 << 32) | 2, (7 << 32) | 3, u64::MAX, u64::MAX];
        let map = ResidentMap::<u64, u64>::new(4);
        let mut g = Garbage::default();
        for (k, h) in hashes.iter().enumerate() {
            map.insert(*h, &(k as u64), &Arc::new(k as u64 * 10), &mut g);
        }
        for (k, h) in hashes.iter().enumerate() {
            assert_eq!(map.get(*h, &(k as u64)).as_deref(), Some(&(k as u64 * 10)), "key {k}");
            assert!(map.get(*h, &(k as u64 + 100)).is_none(), "same hash, another key");
        }
        map.check_tags();
        for (k, h) in hashes.iter().enumerate().step_by(2) {
            assert!(map.remove(*h, &(k as u64), &mut g));
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
        let mut g = Garbage::default();
        for k in 0..64u64 {
            map.insert(map.hash(&k), &k, &Arc::new(k), &mut g);
        }
        for k in 64..100_000u64 {
            map.insert(map.hash(&k), &k, &Arc::new(k), &mut g);
            let old = k - 64;
            assert!(map.remove(map.hash(&old), &old, &mut g));
        }
        for k in 100_000 - 64..100_000u64 {
            assert_eq!(map.get(map.hash(&k), &k).as_deref(), Some(&k));
        }
        assert_eq!(map.entries().len(), 64);
        map.check_tags();
        assert!(map.slots() <= 96, "tombstones were cleared, not grown over");
    }

    #[test]
    fn concurrent_readers_see_a_value_or_nothing_while_a_writer_churns() {
        let live = Arc::new(AtomicUsize::new(0));
        let map = ResidentMap::<u64, Counted>::new(16);
        let mut g = Garbage::default();
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
                        map.remove(map.hash(&k), &k, &mut g);
                    } else {
                        map.insert(map.hash(&k), &k, &Counted::new(k + 1000 * round, &live), &mut g);
                    }
                }
                if round % 100 == 99 {
                    map.clear(&mut g);
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        map.check_tags();
        collect_until(&live, map.entries().len(), &mut g);
        drop(map);
        collect_until(&live, 0, &mut g);
    }
}
