//! Model checks (loom) of the three protocols whose correctness rests on memory ordering and wake-ups, written
//! as small replicas of the code in `cache/state.rs`, `cache/schedule.rs`, `cache/flight.rs` and
//! `cache/reclaim.rs`: loom explores
//! every interleaving (and the weak-memory reorderings it models) and fails on a lost wake-up as a deadlock.
//! Keep them in step with that code: each step below names the line of the real protocol it stands for.

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// The access log and `pending` flag: callers push then wake the scheduler only if `pending` was clear; the
/// scheduler clears `pending`, fences, drains, and parks when it found nothing. No request may be left in the
/// log while the scheduler sleeps for good.
#[test]
fn the_wake_up_protocol_never_loses_a_request() {
    // Two preemptions cover the races that matter (a push between the scheduler's clear and its drain, and a
    // caller reading `pending` just before it is cleared) and keep the search to seconds.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| {
        let log = Arc::new(AtomicUsize::new(0)); // requests pushed (`ArrayQueue::push` is a SeqCst CAS)
        let pending = Arc::new(AtomicBool::new(false));
        let scheduler = {
            let (log, pending) = (log.clone(), pending.clone());
            thread::spawn(move || {
                let mut seen = 0;
                loop {
                    // schedule(): `pending.store(false, SeqCst); fence(SeqCst);` then drain.
                    pending.store(false, Ordering::SeqCst);
                    fence(Ordering::SeqCst);
                    let now = log.load(Ordering::SeqCst);
                    if now > seen {
                        seen = now;
                    }
                    if seen == 2 {
                        return seen;
                    }
                    // Nothing in the log: park until a caller wakes us. A lost wake-up parks it forever,
                    // which loom reports as a deadlock.
                    thread::park();
                }
            })
        };
        let scheduler_thread = scheduler.thread().clone();
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (log, pending, t) = (log.clone(), pending.clone(), scheduler_thread.clone());
                thread::spawn(move || {
                    // record(): push, then `!pending.load(SeqCst) && !pending.swap(true, SeqCst)` → unpark.
                    log.fetch_add(1, Ordering::SeqCst);
                    if !pending.load(Ordering::SeqCst) && !pending.swap(true, Ordering::SeqCst) {
                        t.unpark();
                    }
                })
            })
            .collect();
        for c in callers {
            c.join().unwrap();
        }
        assert_eq!(scheduler.join().unwrap(), 2, "the scheduler saw every request");
    });
}

/// One flight: a loader completes it, `close` may complete it first with `Closed`, and a waiter that joined it
/// under the control lock waits on its condition variable. The first completion wins and every waiter returns.
#[test]
fn a_flight_releases_its_waiter_whoever_completes_it_first() {
    loom::model(|| {
        struct Flight {
            result: Mutex<Option<&'static str>>,
            done: Condvar,
        }
        impl Flight {
            fn complete(&self, r: &'static str) {
                let mut slot = self.result.lock().unwrap();
                if slot.is_none() {
                    *slot = Some(r);
                }
                self.done.notify_all();
            }
            fn wait(&self) -> &'static str {
                let mut slot = self.result.lock().unwrap();
                loop {
                    if let Some(r) = *slot {
                        return r;
                    }
                    slot = self.done.wait(slot).unwrap();
                }
            }
        }
        let flight = Arc::new(Flight { result: Mutex::new(None), done: Condvar::new() });
        let waiter = {
            let f = flight.clone();
            thread::spawn(move || f.wait())
        };
        let closer = {
            let f = flight.clone();
            thread::spawn(move || f.complete("closed"))
        };
        flight.complete("value");
        closer.join().unwrap();
        let got = waiter.join().unwrap();
        let settled = flight.result.lock().unwrap().unwrap();
        assert_eq!(got, settled, "the waiter got the winning completion");
    });
}

/// Reclamation in its fence mode (`cache/reclaim.rs` where `membarrier` is missing; loom cannot model the
/// barrier itself, whose guarantee is that every reader behaves as if it had fenced): a reader marks its slot odd,
/// fences, loads the table's pointer and reads the node, then marks the slot even; the writer unlinks the node,
/// fences, notes the slot if odd, and frees the node only once the slot has moved past what it noted. A reader
/// must never read a freed node.
#[test]
fn a_retired_node_is_never_freed_under_a_reader() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let seq = Arc::new(AtomicUsize::new(0)); // the reader's slot
        let slot = Arc::new(AtomicUsize::new(1)); // the table's pointer: 1 = the node, 0 = unlinked
        let freed = Arc::new(AtomicBool::new(false)); // the node's memory
        let reader = {
            let (seq, slot, freed) = (seq.clone(), slot.clone(), freed.clone());
            thread::spawn(move || {
                // enter(): `seq | 1`, then the fence (a compiler fence where the barrier works).
                let s = seq.load(Ordering::Relaxed);
                seq.store(s | 1, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                // lookup(): an acquire load of the pointer, then the node's fields.
                if slot.load(Ordering::Acquire) == 1 {
                    assert!(!freed.load(Ordering::Relaxed), "read a freed node");
                }
                // leave(): the next even number, a release.
                seq.store((s | 1) + 1, Ordering::Release);
            })
        };
        // remove() then retire(); collect(): heavy_barrier() (here its fence), note odd slots, free when ready.
        slot.store(0, Ordering::Release);
        fence(Ordering::SeqCst);
        let noted = seq.load(Ordering::Acquire);
        loop {
            if noted & 1 == 0 || seq.load(Ordering::Acquire) != noted {
                freed.store(true, Ordering::Relaxed);
                break;
            }
            thread::yield_now();
        }
        reader.join().unwrap();
    });
}
