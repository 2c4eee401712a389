//! Model checks (loom) of the two protocols whose correctness rests on memory ordering and wake-ups, written
//! as small replicas of the code in `cache/state.rs`, `cache/schedule.rs` and `cache/flight.rs`: loom explores
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
