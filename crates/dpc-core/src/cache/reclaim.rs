//! When a node the resident table no longer holds may be freed: readers announce themselves with a plain store,
//! and the writer pays for the fence (an asymmetric barrier, Linux's `membarrier`).
//!
//! A reader (a hit) *pins* its thread: it makes its slot's sequence number odd, reads the table, and makes it
//! even again. Both are plain stores to the thread's own cache line; no read-modify-write and, where `membarrier`
//! works, no fence. crossbeam-epoch's pin, used before, is a locked `cmpxchg`: one of the three atomic
//! read-modify-writes a hit paid, beside the value's reference count going up and (in the caller) down.
//!
//! The writer (always under the cache's control lock, holding `&mut` [`Garbage`]) unlinks a node and *retires*
//! it. Every [`BATCH`] retirements (and every few milliseconds, from the scheduler) it seals the open batch: one `membarrier(PRIVATE_EXPEDITED)`, which runs a full
//! fence on every thread of the process, then it notes each slot whose sequence is odd. After the barrier a
//! reader either is visible as pinned (its odd sequence was stored before the barrier), or it pins after the
//! barrier and so sees the unlinking stores made before it: it can hold no node of the batch. So the batch may be
//! freed once each slot noted has moved past the sequence noted (that reader has unpinned at least once). Sealed
//! batches are freed on later seals, never by waiting: a writer never blocks on a reader.
//!
//! Without `membarrier` (another OS, an old kernel, valgrind) readers fence after pinning and the writer fences
//! before noting; the protocol is then the classic store-fence-load pairing on both sides.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering, compiler_fence, fence};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_utils::CachePadded;

/// Retirements per batch: each sealed batch costs one barrier (0.2 to 0.8 us here) and one scan of the slots.
pub(crate) const BATCH: usize = 128;

/// One thread's announcement: odd while it reads the table.
struct Slot {
    seq: CachePadded<AtomicU64>,
    /// Held by a live thread (slots of exited threads are reused, their sequence carried on).
    taken: AtomicBool,
}

/// Every slot ever made. Only registration and sealing lock it.
static SLOTS: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());

const UNKNOWN: u8 = 0;
const BARRIER: u8 = 1;
const FENCES: u8 = 2;
/// Whether the writer can use `membarrier`: decided once (by [`init`]) and then fixed, so a reader that saw
/// [`BARRIER`] and skipped its fence can rely on every later seal issuing the barrier.
static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Decides the mode, once per process; called when a table is made, before any reader can pin for it.
pub(crate) fn init() {
    if MODE.load(Ordering::Acquire) != UNKNOWN {
        return;
    }
    let mode = if register_barrier() { BARRIER } else { FENCES };
    // Two threads may race here; both computed the same answer.
    let _ = MODE.compare_exchange(UNKNOWN, mode, Ordering::AcqRel, Ordering::Acquire);
}

#[cfg(target_os = "linux")]
fn register_barrier() -> bool {
    use rustix::thread::{MembarrierCommand, membarrier};
    membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
        && membarrier(MembarrierCommand::PrivateExpedited).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn register_barrier() -> bool {
    false
}

/// The heavy side: after it, every reader's earlier stores are visible here and its later loads see the stores
/// made here before it. False if the barrier failed (the batch is then never freed: leaked, never unsafe).
fn heavy_barrier() -> bool {
    fence(Ordering::SeqCst);
    if MODE.load(Ordering::Acquire) != BARRIER {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::thread::{MembarrierCommand, membarrier};
        membarrier(MembarrierCommand::PrivateExpedited).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    false
}

struct Local {
    slot: Arc<Slot>,
    depth: Cell<usize>,
}

impl Local {
    fn register() -> Local {
        let mut slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = match slots.iter().find(|s| !s.taken.load(Ordering::Relaxed)) {
            Some(free) => Arc::clone(free),
            None => {
                let slot = Arc::new(Slot { seq: CachePadded::new(AtomicU64::new(0)), taken: AtomicBool::new(false) });
                slots.push(Arc::clone(&slot));
                slot
            }
        };
        slot.taken.store(true, Ordering::Relaxed);
        Local { slot, depth: Cell::new(0) }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // The thread is not pinned here (a guard on the thread-local leaves it before the thread-local can be
        // destroyed, and a guard with its own slot leaves it before dropping it), so the sequence is even.
        let _slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
        self.slot.taken.store(false, Ordering::Relaxed);
    }
}

thread_local! {
    static LOCAL: Local = Local::register();
}

/// Marks `slot` as reading (odd) and orders the mark before the reads that follow.
#[inline]
fn enter(slot: &Slot) {
    let seq = slot.seq.load(Ordering::Relaxed);
    slot.seq.store(seq | 1, Ordering::Relaxed);
    if MODE.load(Ordering::Relaxed) == BARRIER {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// Marks `slot` as done (the next even number); the release orders the reads before it.
#[inline]
fn leave(slot: &Slot) {
    let seq = slot.seq.load(Ordering::Relaxed);
    slot.seq.store(seq + 1, Ordering::Release);
}

/// Proof that the thread is pinned: nodes read under it stay allocated until it is dropped. Not `Send`.
pub(crate) struct Guard {
    /// The thread's `Local`, which outlives the guard: a guard lives within one call on its thread, and a
    /// thread-local is destroyed only after the calls on its thread have returned.
    local: *const Local,
    /// A `Local` of the guard's own (then `local` points into it), when the thread-local is already destroyed (a
    /// pin from another thread-local's destructor). Released when the guard drops, after leaving its slot.
    _own: Option<Box<Local>>,
}

/// Pins the calling thread; nested pins cost no store.
#[inline]
pub(crate) fn pin() -> Guard {
    let local = LOCAL.try_with(|l| {
        let depth = l.depth.get();
        l.depth.set(depth + 1);
        if depth == 0 {
            enter(&l.slot);
        }
        l as *const Local
    });
    match local {
        Ok(local) => Guard { local, _own: None },
        Err(_) => pin_own(),
    }
}

#[cold]
fn pin_own() -> Guard {
    let own = Box::new(Local::register());
    own.depth.set(1);
    enter(&own.slot);
    Guard { local: &*own, _own: Some(own) }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: see `local`; an own `Local` is dropped only after this.
        let l = unsafe { &*self.local };
        let depth = l.depth.get() - 1;
        l.depth.set(depth);
        if depth == 0 {
            leave(&l.slot);
        }
    }
}

/// A retired allocation: freed by `free` once no reader can hold it.
pub(crate) struct Retired {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
}

// SAFETY: a retired pointer is owned by the garbage alone (unlinked, no longer reachable by new readers); the
// `free` functions are made only for `Send` contents (see `Retired::new`).
unsafe impl Send for Retired {}
// SAFETY: `Retired` is only touched through `&mut Garbage`.
unsafe impl Sync for Retired {}

impl Retired {
    /// # Safety
    /// `ptr` must come from `Box::into_raw` of a `T` that nothing else frees, and be unlinked from everything a
    /// new reader could reach.
    pub(crate) unsafe fn boxed<T: Send>(ptr: *mut T) -> Retired {
        unsafe fn free<T>(p: *mut ()) {
            // SAFETY: by `boxed`'s contract, `p` is a `Box<T>` that nobody else frees, and no reader holds it.
            drop(unsafe { Box::from_raw(p.cast::<T>()) });
        }
        Retired { ptr: ptr.cast(), free: free::<T> }
    }

    /// # Safety
    /// As for [`boxed`](Self::boxed); `free` must free `ptr` exactly once and touch nothing else a reader holds.
    pub(crate) unsafe fn with(ptr: *mut (), free: unsafe fn(*mut ())) -> Retired {
        Retired { ptr, free }
    }
}

/// A batch sealed by a barrier, waiting for the readers it noted.
struct Sealed {
    items: Vec<Retired>,
    /// Slots that were pinned right after the barrier, with the sequence they showed; `None` if the barrier
    /// failed, in which case the batch is never freed.
    wait: Option<Vec<(Arc<Slot>, u64)>>,
}

impl Sealed {
    fn ready(&self) -> bool {
        self.wait.as_ref().is_some_and(|w| w.iter().all(|(slot, seq)| slot.seq.load(Ordering::Acquire) != *seq))
    }
}

/// One writer's retired allocations. Lives under the cache's control lock; readers never touch it.
#[derive(Default)]
pub(crate) struct Garbage {
    open: Vec<Retired>,
    sealed: Vec<Sealed>,
}

impl Garbage {
    /// Takes `r` to free once no reader can hold it. Every [`BATCH`] retirements, seals the open batch and frees
    /// the sealed batches whose readers have all moved on.
    pub(crate) fn retire(&mut self, r: Retired) {
        self.open.push(r);
        if self.open.len() >= BATCH {
            self.collect();
        }
    }

    /// Seals the open batch (if any) and frees what is ready.
    pub(crate) fn collect(&mut self) {
        if !self.open.is_empty() {
            let items = std::mem::take(&mut self.open);
            let wait = heavy_barrier().then(|| {
                let slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
                slots
                    .iter()
                    .filter_map(|s| {
                        let seq = s.seq.load(Ordering::Acquire);
                        (seq & 1 == 1).then(|| (Arc::clone(s), seq))
                    })
                    .collect()
            });
            self.sealed.push(Sealed { items, wait });
        }
        self.sealed.retain_mut(|batch| {
            if !batch.ready() {
                return true;
            }
            for r in batch.items.drain(..) {
                // SAFETY: the batch's readers have all unpinned since its barrier, so none holds `r`.
                unsafe { (r.free)(r.ptr) };
            }
            false
        });
    }

    /// How many retired allocations are not freed yet.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.open.len() + self.sealed.iter().map(|b| b.items.len()).sum::<usize>()
    }
}

impl Drop for Garbage {
    fn drop(&mut self) {
        // Dropped with the cache: no reader is left (they borrow it), so everything goes now, leaked batches too.
        for r in self.open.drain(..).chain(self.sealed.drain(..).flat_map(|b| b.items)) {
            // SAFETY: no reader is left.
            unsafe { (r.free)(r.ptr) };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    use super::*;

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn retire_one(garbage: &mut Garbage, freed: &Arc<AtomicUsize>) {
        let p = Box::into_raw(Box::new(Counted(Arc::clone(freed))));
        // SAFETY: a fresh box that nothing else frees or reads.
        garbage.retire(unsafe { Retired::boxed(p) });
    }

    #[test]
    fn a_pinned_reader_holds_back_what_was_retired_before_it_left() {
        let freed = Arc::new(AtomicUsize::new(0));
        let mut garbage = Garbage::default();
        init();
        let (pinned_tx, pinned_rx) = mpsc::channel();
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let guard = pin();
            let nested = pin();
            pinned_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            drop(nested);
            drop(guard);
        });
        pinned_rx.recv().unwrap();
        for _ in 0..BATCH {
            retire_one(&mut garbage, &freed);
        }
        for _ in 0..100 {
            garbage.collect();
        }
        assert_eq!(freed.load(Ordering::SeqCst), 0, "freed while a reader that may hold it is pinned");
        assert_eq!(garbage.pending(), BATCH);
        leave_tx.send(()).unwrap();
        reader.join().unwrap();
        // Other tests' threads pin the same registry now and then, so it may take a few rounds.
        for _ in 0..1_000_000 {
            if garbage.pending() == 0 {
                break;
            }
            garbage.collect();
            std::thread::yield_now();
        }
        assert_eq!((freed.load(Ordering::SeqCst), garbage.pending()), (BATCH, 0));
    }

    #[test]
    fn slots_of_exited_threads_are_reused_and_dropping_garbage_frees_everything() {
        init();
        let before = SLOTS.lock().unwrap().len();
        for _ in 0..32 {
            std::thread::spawn(|| drop(pin())).join().unwrap();
        }
        // Other tests run threads at the same time; 32 threads one after another need far fewer new slots.
        assert!(SLOTS.lock().unwrap().len() < before + 16, "exited threads' slots were not reused");
        let freed = Arc::new(AtomicUsize::new(0));
        let mut garbage = Garbage::default();
        let guard = pin();
        for _ in 0..BATCH + 3 {
            retire_one(&mut garbage, &freed);
        }
        assert_eq!(freed.load(Ordering::SeqCst), 0, "this thread is pinned");
        drop(garbage);
        assert_eq!(freed.load(Ordering::SeqCst), BATCH + 3);
        drop(guard);
    }
}
