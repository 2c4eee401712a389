//! get_or_compute: one computation per key under concurrency, and panics or errors that hurt nobody else.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;

use crate::support::cache;

const THREADS: usize = 8;

/// Runs `THREADS` threads that all call `f(thread)` at once; returns their results.
fn all_at_once<T: Send>(f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(t)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a thread panicked")).collect()
    })
}

/// Spins until `arrived` reaches `n`: the computing thread holds its flight open until every thread has asked,
/// so the others really do wait for it (or find its result), without sleeping.
fn until(arrived: &AtomicUsize, n: usize) {
    while arrived.load(SeqCst) < n {
        thread::yield_now();
    }
}

#[test]
fn concurrent_callers_compute_each_key_once() {
    for rep in 0..50 {
        let dir = tempfile::tempdir().unwrap();
        let (cache, _) = cache::<u64>(dir.path());
        let computed = AtomicUsize::new(0);
        let arrived = AtomicUsize::new(0);
        let results = all_at_once(|_| {
            arrived.fetch_add(1, SeqCst);
            *cache.get_or_compute("key", || {
                computed.fetch_add(1, SeqCst);
                until(&arrived, THREADS);
                rep * 10
            })
        });
        assert_eq!(computed.load(SeqCst), 1, "repetition {rep}");
        assert!(results.iter().all(|&r| r == rep * 10), "{results:?}");
        assert_eq!(cache.stats().file_entries, 1);
    }
}

#[test]
fn different_keys_compute_in_parallel_and_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<usize>(dir.path());
    let computed: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
    let results = all_at_once(|t| {
        (0..200)
            .map(|i| {
                let key = (t + i) % 4;
                *cache.get_or_compute(&format!("k{key}"), || {
                    computed[key].fetch_add(1, SeqCst);
                    key * key
                })
            })
            .sum::<usize>()
    });
    assert!(computed.iter().all(|c| c.load(SeqCst) == 1));
    assert!(results.iter().all(|&r| r == 50 * 14), "each thread sums 50 rounds of 0 + 1 + 4 + 9");
}

#[test]
fn a_panicking_computation_neither_poisons_nor_hangs_the_waiters() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let (cache, _) = cache::<String>(dir.path());
        let attempts = AtomicUsize::new(0);
        let arrived = AtomicUsize::new(0);
        let results = all_at_once(|_| {
            arrived.fetch_add(1, SeqCst);
            catch_unwind(AssertUnwindSafe(|| {
                cache.get_or_compute("key", || {
                    if attempts.fetch_add(1, SeqCst) == 0 {
                        until(&arrived, THREADS);
                        panic!("the first computation fails");
                    }
                    "computed".to_string()
                })
            }))
        });
        let panicked = results.iter().filter(|r| r.is_err()).count();
        assert_eq!(panicked, 1, "only the panicking caller sees the panic");
        assert!(results.iter().flatten().all(|v| **v == "computed"));
        assert_eq!(attempts.load(SeqCst), 2, "one waiter took over, once");
        assert_eq!(cache.get("key").unwrap().as_deref().map(String::as_str), Some("computed"));
    }
}

#[test]
fn a_failed_computation_is_not_cached_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<u32>(dir.path());
    let err = cache.try_get_or_compute("k", || Err::<u32, _>("backend down")).unwrap_err();
    assert_eq!(err, "backend down");
    assert_eq!(cache.get("k").unwrap(), None);
    assert_eq!(*cache.try_get_or_compute("k", || Ok::<_, &str>(7)).unwrap(), 7);
    assert_eq!(*cache.try_get_or_compute("k", || Err::<u32, _>("not called")).unwrap(), 7);
}

#[test]
fn waiters_of_a_failed_computation_retry_until_one_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<usize>(dir.path());
    let attempts = AtomicUsize::new(0);
    let arrived = AtomicUsize::new(0);
    let results = all_at_once(|_| {
        arrived.fetch_add(1, SeqCst);
        cache.try_get_or_compute("k", || {
            let n = attempts.fetch_add(1, SeqCst);
            if n == 0 {
                until(&arrived, THREADS);
            }
            if n < 3 { Err(n) } else { Ok(n) }
        })
    });
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 3);
    assert!(results.iter().flatten().all(|v| **v == 3));
    assert_eq!(attempts.load(SeqCst), 4);
    assert_eq!(cache.stats().file_entries, 1);
}

#[test]
fn the_cache_and_the_memo_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<dpc_store::TieredCache<String>>();
    check::<dpc_store::StreamCache<Vec<f32>, f32>>();
}

/// Threads set, read, delete and invalidate overlapping keys; every read is a value of its own key, and when the
/// dust settles the memory tier agrees with the files (a promotion never resurrects a replaced or deleted value).
#[test]
fn concurrent_writers_readers_and_deleters_leave_the_tiers_consistent() {
    const KEYS: usize = 6;
    for rep in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let (cache, clock) = cache::<(usize, usize, usize)>(dir.path());
        all_at_once(|t| {
            for n in 0..200 {
                let k = (n * 7 + t) % KEYS;
                let key = format!("k{k}");
                match (n + t) % 10 {
                    0 => {
                        cache.delete(&key).unwrap();
                    }
                    1 if t == 0 && n % 50 == 1 => {
                        cache.invalidate_prefix("k1").unwrap();
                    }
                    2..=5 => cache.set(&key, (k, t, n)).unwrap(),
                    _ => {
                        if let Some(v) = cache.get(&key).unwrap() {
                            assert_eq!(v.0, k, "a value under the wrong key");
                        }
                    }
                }
            }
        });
        let files = crate::support::files_only::<(usize, usize, usize)>(dir.path(), &clock);
        for k in 0..KEYS {
            let key = format!("k{k}");
            assert_eq!(cache.get(&key).unwrap(), files.get(&key).unwrap(), "repetition {rep}, key {key}");
        }
        assert_eq!(cache.stats().corrupt_removed, 0);
    }
}
