//! Many threads at once: single-flight, right values, demand never behind prefetch, clean shutdown.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use dpc_core::{CacheError, Lookahead, PrefetchCache};

use crate::support::{Gate, TestProvider, get_in_background, must_finish, value_of, wait_for_late_hits};

#[test]
fn no_key_is_loaded_twice_at_once_and_every_caller_gets_its_value() {
    for round in 0..20 {
        let p = Arc::new(TestProvider::default());
        let cache = Arc::new(
            PrefetchCache::builder(Arc::clone(&p))
                .predictor(Lookahead::new(3))
                .max_entries(8) // small, so keys are evicted and loaded again while others want them
                .workers(3)
                .build()
                .unwrap(),
        );
        let threads = 6;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let cache = Arc::clone(&cache);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    for i in 0..300u64 {
                        let key = (i * (t as u64 + 1) + round) % 24;
                        let v = cache.get(&key).unwrap();
                        assert_eq!(*v, value_of(key));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(p.max_running_same_key.load(Ordering::SeqCst), 1, "round {round}: a key was loaded twice at once");
        cache.quiesce();
        let s = cache.stats();
        assert_eq!(s.requests(), 6 * 300);
        assert!(s.resident_entries <= 8);
        assert_eq!(s.in_flight, 0);
    }
}

#[test]
fn concurrent_misses_of_one_key_share_one_load() {
    let p = Arc::new(TestProvider::default());
    p.gate_keys(&[42]);
    let starts = p.watch_starts();
    let cache = Arc::new(PrefetchCache::builder(Arc::clone(&p)).build().unwrap());
    let first = get_in_background(&cache, 42);
    assert_eq!(starts.recv().unwrap(), 42);
    let joiners: Vec<_> = (0..4).map(|_| get_in_background(&cache, 42)).collect();
    // Every joiner is counted as a late hit before it waits; wait until all four have joined.
    wait_for_late_hits(&cache, 4);
    p.gate.open();
    assert_eq!(first.join().unwrap().unwrap(), value_of(42));
    for j in joiners {
        assert_eq!(j.join().unwrap().unwrap(), value_of(42));
    }
    assert_eq!(p.loads_of(42), 1);
    let s = cache.stats();
    assert_eq!((s.misses, s.late_hits), (1, 4));
}

#[test]
fn a_request_joins_the_prefetch_in_flight() {
    let p = Arc::new(TestProvider::default());
    p.gate_keys(&[2]);
    let starts = p.watch_starts();
    let cache = Arc::new(PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(1)).build().unwrap());
    cache.get(&1).unwrap();
    // The request is recorded before its own load starts, so the prefetch may start first.
    assert_eq!(crate::support::next_starts(&starts, 2), [1, 2]);
    let waiter = get_in_background(&cache, 2);
    wait_for_late_hits(&cache, 1);
    p.gate.open();
    assert_eq!(waiter.join().unwrap().unwrap(), value_of(2));
    assert_eq!(p.loads_of(2), 1);
    cache.quiesce();
    let s = cache.stats();
    assert_eq!((s.late_hits, s.prefetch_used, s.misses), (1, 1, 1));
}

#[test]
fn a_slow_prefetch_does_not_delay_a_demand_load() {
    let p = Arc::new(TestProvider::default());
    // Every prefetch blocks: keys 1..=8 are predicted after key 0, and the one worker sticks on 1.
    p.gate_keys(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let starts = p.watch_starts();
    let cache =
        Arc::new(PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(8)).workers(1).build().unwrap());
    cache.get(&0).unwrap();
    // The request is recorded before its own load starts, so the prefetch may start first.
    assert_eq!(crate::support::next_starts(&starts, 2), [0, 1]);
    // Key 3 is queued behind the stuck prefetch; a demand for it must load at once on this thread,
    // and so must an unrelated key.
    let c = Arc::clone(&cache);
    let got = must_finish("demand load while a prefetch is stuck", move || {
        let a = c.get(&50).map(|v| (*v).clone());
        (a, c.stats().misses)
    });
    assert_eq!(got.0.unwrap(), value_of(50));
    assert_eq!(got.1, 2);
    p.gate.open();
    cache.quiesce();
}

#[test]
fn close_releases_waiters_at_once_and_joins_every_thread_once_loads_return() {
    for _ in 0..10 {
        let p = Arc::new(TestProvider::default());
        p.gate_keys(&[11, 12]);
        let starts = p.watch_starts();
        let token = Arc::new(());
        let cache =
            Arc::new(PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(4)).workers(2).build().unwrap());
        let marker = Arc::clone(&token);
        cache.get(&10).unwrap();
        // Both workers are stuck, on 11 and 12.
        let mut started = [starts.recv().unwrap(), starts.recv().unwrap(), starts.recv().unwrap()];
        started.sort();
        assert_eq!(started, [10, 11, 12]);
        let waiter = get_in_background(&cache, 11);
        wait_for_late_hits(&cache, 1);
        let closer = {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                let report = cache.close_timeout(Duration::from_secs(60));
                drop(marker);
                report
            })
        };
        // The waiter is released with `Closed` while the loads are still stuck: close does not wait for them
        // to answer it.
        assert!(matches!(waiter.join().unwrap(), Err(CacheError::Closed)), "a waiter is released by close");
        assert!(matches!(cache.get(&13), Err(CacheError::Closed)));
        // close() waits for the workers (within its timeout), so it can only return after the gate opens.
        p.gate.open();
        let report = closer.join().unwrap();
        assert!(report.is_clean(), "{report:?}");
        let stats = cache.stats();
        assert_eq!(stats.in_flight, 0);
        assert_eq!(stats.resident_entries, 0, "a load finishing after close is not kept");
        // The last owner drops the cache; the worker threads are gone, so the provider goes with it.
        let weak = Arc::downgrade(&p);
        drop(p);
        drop(Arc::try_unwrap(cache).unwrap());
        assert!(weak.upgrade().is_none(), "a cache thread still holds the provider");
        assert_eq!(Arc::strong_count(&token), 1);
    }
}

#[test]
fn close_timeout_leaves_a_stuck_worker_behind_and_reports_it() {
    let p = Arc::new(TestProvider::default());
    p.gate_keys(&[2]);
    let starts = p.watch_starts();
    let cache =
        Arc::new(PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(1)).workers(1).build().unwrap());
    cache.get(&1).unwrap();
    // The request is recorded before its own load starts, so the prefetch may start first.
    assert_eq!(crate::support::next_starts(&starts, 2), [1, 2]);
    let waiter = get_in_background(&cache, 2);
    wait_for_late_hits(&cache, 1);
    let report = must_finish("close_timeout with a stuck provider", {
        let cache = Arc::clone(&cache);
        move || cache.close_timeout(Duration::from_millis(50))
    });
    assert_eq!(report.left_running, ["dpc-worker-0"], "{report:?}");
    assert!(matches!(waiter.join().unwrap(), Err(CacheError::Closed)));
    // A second close returns the first one's report at once.
    assert_eq!(cache.close_timeout(Duration::from_secs(60)), report);
    // The stuck load returns later; its thread then ends by itself and lets go of the provider.
    p.gate.open();
    let weak = Arc::downgrade(&p);
    drop(p);
    drop(Arc::try_unwrap(cache).unwrap());
    must_finish("the left-behind worker ends once its load returns", move || {
        while weak.upgrade().is_some() {
            std::thread::yield_now();
        }
    });
}

#[test]
fn drop_closes() {
    let p = Arc::new(TestProvider::default());
    let weak = Arc::downgrade(&p);
    {
        let cache = PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(4)).build().unwrap();
        cache.get(&1).unwrap();
    }
    drop(p);
    assert!(weak.upgrade().is_none());
}

#[test]
fn close_from_the_event_callback_does_not_deadlock() {
    let slot: Arc<std::sync::Mutex<Option<std::sync::Weak<PrefetchCache<Arc<TestProvider>>>>>> = Arc::default();
    let s2 = Arc::clone(&slot);
    let cache = Arc::new(
        PrefetchCache::builder(Arc::new(TestProvider::default()))
            .on_event(move |_e| {
                if let Some(c) = s2.lock().unwrap().as_ref().and_then(|w| w.upgrade()) {
                    c.close();
                }
            })
            .build()
            .unwrap(),
    );
    *slot.lock().unwrap() = Some(Arc::downgrade(&cache));
    let c = Arc::clone(&cache);
    must_finish("close from the callback", move || {
        let _ = c.get(&1);
        c.close();
    });
    assert!(cache.is_closed());
}

#[test]
fn gate_helper_blocks_until_open() {
    // The tests above rely on Gate; make sure it really blocks and releases.
    let gate = Arc::new(Gate::default());
    let g = Arc::clone(&gate);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let h = std::thread::spawn(move || {
        g.wait();
        tx.send(()).unwrap();
    });
    assert!(rx.try_recv().is_err());
    gate.open();
    h.join().unwrap();
    assert!(rx.try_recv().is_ok());
}

#[test]
fn the_scheduler_never_misses_a_wake_up() {
    // Requests arrive while the scheduler is going to sleep; if a wake-up were lost, `quiesce` would return
    // before the predictor saw the last request (or hang), and the check below would fail.
    // Both ways the scheduler waits: parked (woken by callers) and polling between frequent requests.
    for spin in [Duration::ZERO, Duration::from_millis(2)] {
        must_finish("2000 bursts of requests, each followed by quiesce", move || {
            let script = crate::support::Scripted::default();
            let cache = PrefetchCache::builder(Arc::new(TestProvider::default()))
                .predictor(script.clone())
                .max_entries(64)
                .poll_below(spin)
                .build()
                .unwrap();
            for k in 0..64 {
                cache.get(&k).unwrap();
            }
            bursts(&cache, &script);
        });
    }
}

fn bursts(cache: &PrefetchCache<Arc<TestProvider>>, script: &crate::support::Scripted) {
    for round in 0..2000u64 {
        let burst = 1 + round % 5;
        let mut last = 0;
        for i in 0..burst {
            last = (round * 7 + i) % 64;
            cache.get(&last).unwrap();
        }
        cache.quiesce();
        let seen = script.seen.lock().unwrap();
        assert_eq!(seen.last().map(|(current, _)| *current), Some(last), "round {round}");
    }
}
