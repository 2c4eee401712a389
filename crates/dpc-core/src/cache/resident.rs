//! The resident values: one open-addressing table of node pointers, read without locks and written in place
//! under the control lock, with epoch-based reclamation (`crossbeam-epoch`).
//!
//! - A hit pins the epoch (a thread-local word), probes the table from the key's hash, compares the node's hash and
//!   key, and clones the value's `Arc`. Nothing shared is written, so hits on different keys scale across cores.
//! - A writer (always under the cache's control lock, so never two at once) stores a node pointer into a slot, or
//!   a tombstone over one, and hands the old node to the epoch collector, which drops it once no reader that might
//!   have seen it is still pinned. A miss therefore allocates one node and copies nothing.
//! - Removal leaves a tombstone unless the chain ends right after it; tombstones are reused by inserts, and the
//!   table is rebuilt (live pointers copied into a fresh array, the old array retired the same way) when live
//!   entries and tombstones fill 80 % of it, or grown when live entries alone fill 70 % of it.
//!
//! Every store is a release and every load an acquire, so a reader that finds a node sees it whole, and a reader
//! that starts after a writer's call returned sees that write. The first round's read-copy-update shards
//! (`arc-swap`, copied whole by every insertion and removal) cost about 3 000 of the 5 300 instructions of a miss
//! (callgrind; docs/BENCHMARKS.md, core).
//!
//! The one module of dpc-core with `unsafe`: dereferencing epoch-protected pointers and retiring nodes. Its tests
//! also run under valgrind's memcheck, which reports a use after free or a double drop.
#![allow(unsafe_code)]

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use hashbrown::DefaultHashBuilder;

/// The fewest slots a table has.
const MIN_SLOTS: usize = 16;
/// The tag of a tombstone: a null pointer with this tag. An empty slot is a null pointer with tag 0.
const TOMBSTONE: usize = 1;

struct Node<K, V> {
    hash: u64,
    key: K,
    value: Arc<V>,
}

struct Table<K, V> {
    slots: Box<[Atomic<Node<K, V>>]>,
}

impl<K, V> Table<K, V> {
    /// Any number of slots, not only powers of two (a cache of 200 000 entries would otherwise round up to
    /// 524 288 slots, 21 bytes an entry, instead of 12): a hash picks its first slot by multiply-high.
    fn with_slots(n: usize) -> Self {
        Table { slots: (0..n.max(MIN_SLOTS)).map(|_| Atomic::null()).collect() }
    }

    #[inline]
    fn start(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.slots.len() as u128) >> 64) as usize
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    #[inline]
    fn prev(&self, i: usize) -> usize {
        if i == 0 { self.slots.len() - 1 } else { i - 1 }
    }
}

pub(crate) struct ResidentMap<K, V> {
    hasher: DefaultHashBuilder,
    table: Atomic<Table<K, V>>,
    /// Live nodes and tombstones of the current table. Written by the writer only; read by `len`-style callers.
    live: AtomicUsize,
    tombstones: AtomicUsize,
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
        let guard = &epoch::pin();
        let table = self.current(guard);
        let mut i = table.start(hash);
        loop {
            let p = table.slots[i].load(Ordering::Acquire, guard);
            // SAFETY: a node is retired through the collector after it is unlinked, so it is valid while pinned.
            match unsafe { p.as_ref() } {
                Some(node) if node.hash == hash && node.key == *key => return Some(Arc::clone(&node.value)),
                Some(_) => {}
                None if p.tag() == TOMBSTONE => {}
                None => return None,
            }
            i = table.next(i);
        }
    }

    /// Where `key` is (`Ok`) or where it would go (`Err`: the first tombstone of its chain, else the empty slot
    /// that ends it). Writer only.
    fn find(&self, table: &Table<K, V>, hash: u64, key: &K, guard: &Guard) -> Result<usize, usize> {
        let mut i = table.start(hash);
        let mut free = None;
        loop {
            let p = table.slots[i].load(Ordering::Relaxed, guard);
            // SAFETY: as in `get`; the writer also holds the control lock, so nothing unlinks the node meanwhile.
            match unsafe { p.as_ref() } {
                Some(node) if node.hash == hash && node.key == *key => return Ok(i),
                Some(_) => {}
                None if p.tag() == TOMBSTONE => {
                    free.get_or_insert(i);
                }
                None => return Err(free.unwrap_or(i)),
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
                if table.slots[i].load(Ordering::Relaxed, guard).tag() == TOMBSTONE {
                    self.tombstones.fetch_sub(1, Ordering::Relaxed);
                }
                table.slots[i].store(node, Ordering::Release);
                let live = self.live.fetch_add(1, Ordering::Relaxed) + 1;
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
        let next_empty = {
            let p = table.slots[table.next(i)].load(Ordering::Relaxed, guard);
            p.is_null() && p.tag() != TOMBSTONE
        };
        // If the chain ends right after this slot, no probe passes through it: it can become empty, and so can
        // the tombstones just before it.
        let mark = if next_empty { Shared::null() } else { Shared::null().with_tag(TOMBSTONE) };
        let old = table.slots[i].swap(mark, Ordering::AcqRel, guard);
        // SAFETY: as in `insert`.
        unsafe { guard.defer_destroy(old) };
        self.live.fetch_sub(1, Ordering::Relaxed);
        if next_empty {
            let mut j = i;
            loop {
                j = table.prev(j);
                let p = table.slots[j].load(Ordering::Relaxed, guard);
                if j == i || !(p.is_null() && p.tag() == TOMBSTONE) {
                    break;
                }
                table.slots[j].store(Shared::null(), Ordering::Release);
                self.tombstones.fetch_sub(1, Ordering::Relaxed);
            }
        } else {
            self.tombstones.fetch_add(1, Ordering::Relaxed);
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
    /// the nodes, which the new table now holds).
    fn rebuild(&self, table: &Table<K, V>, slots: usize, guard: &Guard) {
        let fresh = Table::with_slots(slots);
        for slot in table.slots.iter() {
            let p = slot.load(Ordering::Relaxed, guard);
            // SAFETY: as in `find`.
            let Some(node) = (unsafe { p.as_ref() }) else { continue };
            let mut i = fresh.start(node.hash);
            while !fresh.slots[i].load(Ordering::Relaxed, guard).is_null() {
                i = fresh.next(i);
            }
            fresh.slots[i].store(p, Ordering::Relaxed);
        }
        let old = self.table.swap(Owned::new(fresh), Ordering::AcqRel, guard);
        self.tombstones.store(0, Ordering::Relaxed);
        // SAFETY: the old array is unlinked; dropping a `Table` frees its slot array only, never the nodes.
        unsafe { guard.defer_destroy(old) };
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
        map.clear();
        collect_until(&live, 0);
        assert!(map.entries().is_empty());
        map.insert(map.hash(&"again".to_string()), &"again".to_string(), &Counted::new(1, &live));
        drop(map);
        assert_eq!(live.load(Ordering::SeqCst), 0, "dropping the map drops its entries at once");
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
        collect_until(&live, map.entries().len());
        drop(map);
        collect_until(&live, 0);
    }
}
