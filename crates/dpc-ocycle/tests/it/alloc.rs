//! No allocation per frame in steady state, checked with an allocator that counts this thread's allocations.
//!
//! This is the crate's only `unsafe`: implementing `GlobalAlloc` requires it. The allocator only counts and
//! delegates to the system allocator, and only in this test binary.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use dpc_ocycle::{Chunk, Consumer, FanOut, SampleRate};

pub struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method delegates to `System` with the same arguments; counting has no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which is `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn allocations_on_this_thread(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

fn touch(c: &Chunk<'_, f32>) -> Result<(), dpc_ocycle::BoxError> {
    std::hint::black_box(c.data()[0]);
    Ok(())
}

fn steady_state_allocations(threaded: bool) -> u64 {
    let mut b = FanOut::builder().rate(SampleRate::hz(48_000));
    for size in [240usize, 960, 4800] {
        b = b.consumer(if threaded {
            Consumer::threads(size, 1, touch).clip(true)
        } else {
            Consumer::serial(size, touch).clip(true)
        });
    }
    let mut fan = b.build().unwrap();
    let frame = vec![0.5f32; 48];
    // Warm up: fill the pools and let every buffer reach its size.
    for _ in 0..2000 {
        fan.write(&frame).unwrap();
    }
    fan.flush().unwrap();
    let n = allocations_on_this_thread(|| {
        for _ in 0..20_000 {
            fan.write(&frame).unwrap();
        }
    });
    fan.close().unwrap();
    n
}

#[test]
fn serial_fan_out_does_not_allocate_per_frame() {
    assert_eq!(steady_state_allocations(false), 0);
}

/// What the writer may allocate once, ever, however many frames it writes: each consumer's pool grows lazily up to
/// `workers + queue` buffers (3 consumers x 3), and the first time the writer waits for a free buffer crossbeam-channel
/// allocates its per-thread wait context (1) with the thread-local's destructor registration (1), and a waiter slot
/// in the done channel it waits on (1 per consumer). Whether any of these falls after the warm-up depends on how the
/// workers were scheduled (a loaded machine makes the writer wait later), so the bound counts all of them.
const ONE_TIME_WRITER_ALLOCATIONS: u64 = 3 * 3 + 2 + 3;

#[test]
fn threaded_fan_out_does_not_allocate_per_frame_on_the_writer() {
    // 20 000 frames cut 5 200 chunks: one allocation per frame or per chunk would be thousands.
    let n = steady_state_allocations(true);
    assert!(n <= ONE_TIME_WRITER_ALLOCATIONS, "{n} allocations");
}
