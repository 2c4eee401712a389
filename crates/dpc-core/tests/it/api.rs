//! The management API: insert, invalidate, invalidate_all, prefetch hints, snapshot, get_async, close_timeout,
//! and extreme weights.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use dpc_core::{CacheError, DataProvider, LoadKind, Lookahead, PrefetchCache, SchedulerState};

use crate::support::{Scripted, TestProvider, get_in_background, must_finish, value_of, wait_for_late_hits};

/// A source whose data changes: each key has a version, bumped by the test; a load returns the version it saw
/// when it started, and may be held at a gate.
#[derive(Default)]
struct Versioned {
    versions: Vec<AtomicU64>,
    loads: AtomicU64,
    gate: crate::support::Gate,
    gated: std::sync::Mutex<Vec<u64>>,
    started: std::sync::Mutex<Option<crossbeam_channel::Sender<u64>>>,
}

impl Versioned {
    fn new(keys: usize) -> Arc<Self> {
        Arc::new(Versioned { versions: (0..keys).map(|_| AtomicU64::new(0)).collect(), ..Default::default() })
    }

    fn bump(&self, key: u64) -> u64 {
        self.versions[key as usize].fetch_add(1, Ordering::SeqCst) + 1
    }

    fn watch_starts(&self) -> crossbeam_channel::Receiver<u64> {
        let (tx, rx) = crossbeam_channel::unbounded();
        *self.started.lock().unwrap() = Some(tx);
        rx
    }
}

impl DataProvider for Versioned {
    type Key = u64;
    type Value = (u64, u64);
    type Error = std::convert::Infallible;

    fn load(&self, key: &u64) -> Result<(u64, u64), Self::Error> {
        let version = self.versions[*key as usize].load(Ordering::SeqCst);
        self.loads.fetch_add(1, Ordering::SeqCst);
        if let Some(tx) = &*self.started.lock().unwrap() {
            let _ = tx.send(*key);
        }
        if self.gated.lock().unwrap().contains(key) {
            self.gate.wait();
        }
        Ok((*key, version))
    }

    fn contains(&self, key: &u64) -> bool {
        (*key as usize) < self.versions.len()
    }
}

#[test]
fn insert_makes_a_value_resident_and_takes_room_like_a_demand_load() {
    let p = Arc::new(TestProvider::default());
    let cache = PrefetchCache::builder(Arc::clone(&p)).max_entries(2).build().unwrap();
    assert!(cache.insert(1, "one".into()));
    assert!(cache.insert(2, "two".into()));
    assert_eq!(*cache.get(&1).unwrap(), "one", "an inserted value is served as is");
    // Full: a third insert evicts the oldest unscored entry.
    assert!(cache.insert(3, "three".into()));
    assert!(!cache.contains(&1));
    // Replacing a resident value is not an eviction.
    assert!(cache.insert(3, "THREE".into()));
    assert_eq!(*cache.get(&3).unwrap(), "THREE");
    let s = cache.stats();
    assert_eq!((s.inserted, s.evictions, s.resident_entries), (4, 1, 2));
    assert_eq!(p.total_loads.load(Ordering::SeqCst), 0, "nothing was loaded");
    cache.close();
    assert!(!cache.insert(4, "late".into()), "a closed cache keeps nothing");
}

#[test]
fn insert_of_a_value_heavier_than_the_bound_keeps_nothing() {
    let cache = PrefetchCache::builder(TestProvider::default())
        .max_weight(10)
        .weigher(|_, v: &String| v.len() as u64)
        .build()
        .unwrap();
    assert!(cache.insert(1, "short".into()));
    assert!(!cache.insert(2, "far too long for the bound".into()));
    assert!(!cache.contains(&2));
    assert!(cache.contains(&1), "a refused insert evicts nothing");
}

#[test]
fn insert_wins_over_a_load_in_flight() {
    let p = Versioned::new(8);
    p.gated.lock().unwrap().push(5);
    let starts = p.watch_starts();
    let cache = Arc::new(PrefetchCache::builder(Arc::clone(&p)).build().unwrap());
    let waiter = {
        let cache = Arc::clone(&cache);
        std::thread::spawn(move || *cache.get(&5).unwrap())
    };
    assert_eq!(starts.recv().unwrap(), 5);
    assert!(cache.insert(5, (5, 99)));
    assert_eq!(*cache.get(&5).unwrap(), (5, 99), "the inserted value is served while the load still runs");
    p.gate.open();
    assert_eq!(waiter.join().unwrap(), (5, 0), "the caller of the load gets what it loaded");
    assert_eq!(*cache.get(&5).unwrap(), (5, 99), "the late load did not replace the inserted value");
    assert_eq!(p.loads.load(Ordering::SeqCst), 1);
}

#[test]
fn invalidate_drops_a_resident_value_so_the_next_get_loads_afresh() {
    let p = Versioned::new(8);
    let cache = PrefetchCache::builder(Arc::clone(&p)).build().unwrap();
    assert_eq!(*cache.get(&3).unwrap(), (3, 0));
    p.bump(3);
    assert_eq!(*cache.get(&3).unwrap(), (3, 0), "without invalidate the cached value stays");
    cache.invalidate(&3);
    assert!(!cache.contains(&3));
    assert_eq!(*cache.get(&3).unwrap(), (3, 1));
    cache.invalidate(&7); // not resident: nothing happens
    let s = cache.stats();
    assert_eq!((s.invalidated, s.misses, p.loads.load(Ordering::SeqCst)), (1, 2, 2));
}

#[test]
fn invalidate_discards_a_load_in_flight() {
    let p = Versioned::new(8);
    p.gated.lock().unwrap().push(4);
    let starts = p.watch_starts();
    let cache = Arc::new(PrefetchCache::builder(Arc::clone(&p)).build().unwrap());
    let stale = {
        let cache = Arc::clone(&cache);
        std::thread::spawn(move || *cache.get(&4).unwrap())
    };
    assert_eq!(starts.recv().unwrap(), 4);
    // The data changes while the old version is being read.
    p.bump(4);
    cache.invalidate(&4);
    // A request after invalidate returned does not join the stale load: it loads version 1 itself.
    p.gated.lock().unwrap().clear();
    let fresh = {
        let cache = Arc::clone(&cache);
        std::thread::spawn(move || *cache.get(&4).unwrap())
    };
    assert_eq!(starts.recv().unwrap(), 4, "a second load started");
    assert_eq!(fresh.join().unwrap(), (4, 1));
    p.gate.open();
    assert_eq!(stale.join().unwrap(), (4, 0), "the waiter of the stale load still gets its value");
    assert_eq!(*cache.get(&4).unwrap(), (4, 1), "the stale value was not kept");
    assert_eq!(cache.stats().invalidated, 1);
}

#[test]
fn invalidate_discards_a_prefetch_in_flight() {
    let p = Versioned::new(16);
    p.gated.lock().unwrap().push(2);
    let starts = p.watch_starts();
    let cache = PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(1)).build().unwrap();
    cache.get(&1).unwrap();
    // The request is recorded before its own load starts, so the prefetch may start first.
    assert_eq!(crate::support::next_starts(&starts, 2), [1, 2]);
    p.bump(2);
    cache.invalidate(&2);
    p.gate.open();
    cache.quiesce();
    assert_eq!(cache.snapshot().resident_entry(&2).map(|_| ()), None, "the stale prefetch was not kept");
    assert_eq!(*cache.get(&2).unwrap(), (2, 1));
}

/// Readers check that no value older than the last completed invalidation is ever served, while a writer keeps
/// changing the data and invalidating, and prefetching runs.
#[test]
fn no_stale_value_is_served_after_invalidate_returns() {
    for round in 0..5 {
        let keys = 32u64;
        let p = Versioned::new(keys as usize);
        let cache = Arc::new(
            PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(4)).max_entries(16).build().unwrap(),
        );
        // The version each key was at when its last invalidate returned.
        let floor: Arc<Vec<AtomicU64>> = Arc::new((0..keys).map(|_| AtomicU64::new(0)).collect());
        let done = Arc::new(AtomicU64::new(0));
        let barrier = Arc::new(Barrier::new(4));
        let readers: Vec<_> = (0..3u64)
            .map(|t| {
                let (cache, floor, barrier, done) =
                    (Arc::clone(&cache), Arc::clone(&floor), Arc::clone(&barrier), Arc::clone(&done));
                std::thread::spawn(move || {
                    barrier.wait();
                    for i in 0..3000u64 {
                        let key = (i * (t + 1) + round) % keys;
                        let min = floor[key as usize].load(Ordering::SeqCst);
                        let (k, version) = *cache.get(&key).unwrap();
                        assert_eq!(k, key);
                        assert!(version >= min, "key {key}: version {version} served after {min} was invalidated");
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        barrier.wait();
        for i in 0..2000u64 {
            // Keep the writer and the readers interleaved (the readers make 9000 requests in all).
            while done.load(Ordering::SeqCst) < i * 4 {
                std::thread::yield_now();
            }
            let key = (i * 7) % keys;
            let version = p.bump(key);
            cache.invalidate(&key);
            floor[key as usize].store(version, Ordering::SeqCst);
        }
        for r in readers {
            r.join().unwrap();
        }
        cache.quiesce();
        let s = cache.stats();
        assert!(s.invalidated > 0 && s.misses > keys, "round {round}: the invalidations overlapped nothing: {s:?}");
        // Every load is accounted for: a demand load or a prefetch, never a lost one.
        assert_eq!(p.loads.load(Ordering::SeqCst), s.loads + s.prefetch_issued, "round {round}");
        assert_eq!(s.in_flight, 0);
    }
}

#[test]
fn invalidate_all_during_a_get_storm_serves_nothing_stale() {
    let keys = 16u64;
    let p = Versioned::new(keys as usize);
    let cache = Arc::new(PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(2)).build().unwrap());
    let floor = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(3));
    let readers: Vec<_> = (0..2u64)
        .map(|t| {
            let (cache, floor, barrier, done) =
                (Arc::clone(&cache), Arc::clone(&floor), Arc::clone(&barrier), Arc::clone(&done));
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..5000u64 {
                    let key = (i + t * 5) % keys;
                    let min = floor.load(Ordering::SeqCst);
                    let (_, version) = *cache.get(&key).unwrap();
                    assert!(version >= min, "key {key}: version {version} served after invalidate_all of {min}");
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    barrier.wait();
    for generation in 1..=300u64 {
        // Let the readers make progress between two generations, so the storm and the invalidations overlap.
        while done.load(Ordering::SeqCst) < generation * 20 {
            std::thread::yield_now();
        }
        for key in 0..keys {
            p.bump(key);
        }
        cache.invalidate_all();
        floor.store(generation, Ordering::SeqCst);
    }
    for r in readers {
        r.join().unwrap();
    }
    cache.quiesce();
    let s = cache.stats();
    assert!(s.invalidated > 0, "{s:?}");
}

#[test]
fn snapshot_shows_resident_in_flight_queued_and_predicted_keys() {
    let p = Arc::new(TestProvider::default());
    p.gate_keys(&[10]);
    let starts = p.watch_starts();
    let script = Scripted::default();
    let cache =
        PrefetchCache::builder(Arc::clone(&p)).predictor(script.clone()).workers(1).max_entries(8).build().unwrap();
    cache.get(&1).unwrap();
    cache.get(&2).unwrap();
    cache.quiesce();
    assert_eq!([starts.recv().unwrap(), starts.recv().unwrap()], [1, 2]);
    script.set(&[(10, 0.9), (11, 0.5), (12, 0.25), (2, 0.1)]);
    cache.get(&1).unwrap();
    // The one worker takes 10 (stuck at the gate); 11 and 12 wait in the queue.
    assert_eq!(starts.recv().unwrap(), 10);
    let snap = must_finish("the queue settles", {
        let cache = Arc::new(cache);
        move || loop {
            let snap = cache.snapshot();
            if snap.queued.len() == 2 {
                break (snap, cache);
            }
            std::thread::yield_now();
        }
    });
    let (snap, cache) = snap;
    assert_eq!(snap.queued, [(11, 0.5), (12, 0.25)]);
    assert_eq!(snap.in_flight_kind(&10), Some(LoadKind::Prefetch));
    assert_eq!(snap.predicted, [(10, 0.9), (11, 0.5), (12, 0.25), (2, 0.1)]);
    let mut resident: Vec<_> = snap.resident.iter().map(|r| (r.key, r.score, r.prefetched)).collect();
    resident.sort_by_key(|r| r.0);
    assert_eq!(resident, [(1, 0.0, false), (2, 0.1, false)]);
    assert_eq!(snap.stats.resident_entries, 2);
    assert_eq!(snap.stats.in_flight, 1);
    p.gate.open();
    cache.quiesce();
    let snap = cache.snapshot();
    assert!(snap.in_flight.is_empty() && snap.queued.is_empty());
    assert!(snap.resident_entry(&10).is_some_and(|r| r.prefetched && !r.used));
}

#[test]
fn snapshot_under_concurrent_gets_never_shows_a_key_both_resident_and_in_flight() {
    let p = Arc::new(TestProvider::default());
    let cache =
        Arc::new(PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(3)).max_entries(12).build().unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2u64)
        .map(|t| {
            let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    cache.get(&((i * (t + 2)) % 40)).unwrap();
                    i += 1;
                }
            })
        })
        .collect();
    for _ in 0..2000 {
        let snap = cache.snapshot();
        for f in &snap.in_flight {
            assert!(snap.resident_entry(&f.key).is_none(), "{:?} is both resident and in flight", f.key);
        }
        assert_eq!(snap.stats.resident_entries as usize, snap.resident.len());
        assert_eq!(snap.stats.in_flight as usize, snap.in_flight.len());
        assert!(snap.resident.len() <= 12);
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
}

#[test]
fn prefetch_hints_load_keys_ahead_of_requests() {
    let p = Arc::new(TestProvider { limit: Some(100), ..Default::default() });
    let cache = PrefetchCache::builder(Arc::clone(&p)).build().unwrap();
    // No predictor: only the hints load anything. Keys the provider does not have are ignored.
    cache.prefetch([5, 6, 7, 500]);
    cache.quiesce();
    assert!([5, 6, 7].iter().all(|k| cache.contains(k)));
    assert_eq!(p.loads_of(500), 0);
    let s = cache.stats();
    assert_eq!(s.prefetch_issued, 3);
    assert_eq!(*cache.get(&6).unwrap(), value_of(6));
    cache.quiesce();
    assert_eq!(cache.stats().prefetch_used, 1);
    // A requested hint is spent; the others stay in force.
    let hinted: Vec<u64> = cache.snapshot().predicted.iter().map(|(k, _)| *k).collect();
    assert_eq!(hinted, [5, 7]);
}

struct ThreadWaker(std::thread::Thread);
impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let waker: Waker = Arc::new(ThreadWaker(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn get_async_serves_hits_at_once_and_loads_misses_on_the_cache_s_own_threads() {
    /// Records which thread ran each load.
    struct Where(std::sync::Mutex<Vec<String>>);
    impl DataProvider for Where {
        type Key = u64;
        type Value = u64;
        type Error = std::convert::Infallible;
        fn load(&self, key: &u64) -> Result<u64, Self::Error> {
            self.0.lock().unwrap().push(std::thread::current().name().unwrap_or("?").to_string());
            Ok(*key * 10)
        }
    }
    let cache = PrefetchCache::builder(Where(Default::default())).build().unwrap();
    let fut = cache.get_async(&4);
    assert_send(&fut);
    assert_eq!(*block_on(fut).unwrap(), 40);
    assert!(cache.provider().0.lock().unwrap()[0].starts_with("dpc-demand"), "the miss ran on a demand thread");
    // A hit is ready on the first poll.
    let noop: Waker = Arc::new(ThreadWaker(std::thread::current())).into();
    let mut fut = std::pin::pin!(cache.get_async(&4));
    match fut.as_mut().poll(&mut Context::from_waker(&noop)) {
        Poll::Ready(v) => assert_eq!(*v.unwrap(), 40),
        Poll::Pending => panic!("a hit must be ready at once"),
    }
    let s = cache.stats();
    assert_eq!((s.hits, s.misses), (1, 1));
    cache.close();
    assert!(matches!(block_on(cache.get_async(&5)), Err(CacheError::Closed)));
}

#[test]
fn get_async_joins_a_load_in_flight_and_close_releases_it() {
    let p = Arc::new(TestProvider::default());
    p.gate_keys(&[9]);
    let starts = p.watch_starts();
    let cache = Arc::new(PrefetchCache::builder(Arc::clone(&p)).build().unwrap());
    let first = get_in_background(&cache, 9);
    assert_eq!(starts.recv().unwrap(), 9);
    let joiner = {
        let cache = Arc::clone(&cache);
        std::thread::spawn(move || block_on(cache.get_async(&9)).map(|v| (*v).clone()))
    };
    wait_for_late_hits(&cache, 1);
    p.gate.open();
    assert_eq!(joiner.join().unwrap().unwrap(), value_of(9));
    assert_eq!(first.join().unwrap().unwrap(), value_of(9));
    assert_eq!(p.loads_of(9), 1, "the async caller joined the load");
}

/// `get` and `get_async` share the path after the lock-free look (`Shared::claim`); this is the one branch of it
/// the other async tests do not reach: a future waiting on a prefetch that fails loads the key itself, on a
/// demand thread, counted as `get` is (`faults::a_waiter_on_a_failed_prefetch_loads_on_demand`).
#[test]
fn a_future_waiting_on_a_failed_prefetch_loads_on_demand() {
    crate::support::check_a_waiter_on_a_failed_prefetch_loads_on_demand(|cache| {
        let cache = Arc::clone(cache);
        std::thread::spawn(move || block_on(cache.get_async(&2)).map(|v| (*v).clone()))
    });
}

#[test]
fn a_future_waiting_when_the_cache_closes_gets_closed() {
    let p = Arc::new(TestProvider::default());
    p.gate_keys(&[3]);
    let starts = p.watch_starts();
    let cache = Arc::new(PrefetchCache::builder(Arc::clone(&p)).build().unwrap());
    let stuck = get_in_background(&cache, 3);
    assert_eq!(starts.recv().unwrap(), 3);
    let waiting = {
        let cache = Arc::clone(&cache);
        std::thread::spawn(move || block_on(cache.get_async(&3)).map(|v| (*v).clone()))
    };
    wait_for_late_hits(&cache, 1);
    let _ = cache.close_timeout(Duration::ZERO);
    assert!(matches!(waiting.join().unwrap(), Err(CacheError::Closed)));
    p.gate.open();
    let _ = stuck.join().unwrap();
}

#[test]
fn extreme_weights_neither_overflow_nor_stop_the_cache() {
    for weight in [1u64 << 63, u64::MAX, (1 << 62) + 1] {
        let cache = PrefetchCache::builder(TestProvider::default())
            .predictor(Lookahead::new(2))
            .max_weight(u64::MAX)
            .weigher(move |_, _| weight)
            .build()
            .unwrap();
        for k in 0..20 {
            assert_eq!(*cache.get(&k).unwrap(), value_of(k));
        }
        must_finish("quiesce with huge weights", {
            let cache = Arc::new(cache);
            move || {
                cache.quiesce();
                let s = cache.stats();
                assert!(s.resident_entries >= 1, "{weight}: {s:?}");
                assert!(s.resident_weight > 0);
            }
        });
    }
}

#[test]
fn an_idle_cache_parks_its_scheduler() {
    let cache = PrefetchCache::builder(TestProvider::default()).predictor(Lookahead::new(2)).build().unwrap();
    // Frequent requests, then none: the scheduler polls for a moment, then parks for good.
    for k in 0..200 {
        cache.get(&(k % 50)).unwrap();
    }
    // Without this, the scheduler could be seen parked *before* it woke for the last requests' batch, and its
    // polling naps after that batch would then count as wake-ups of a parked scheduler (seen once under load).
    cache.quiesce();
    let cache = Arc::new(cache);
    must_finish("the scheduler parks once requests stop", {
        let cache = Arc::clone(&cache);
        move || {
            while cache.snapshot().scheduler != SchedulerState::Parked {
                std::thread::yield_now();
            }
        }
    });
    // Parked means parked: it does not wake up again by itself. (At most once: an unpark token left by a
    // caller while it was busy may end its first park at once; it then parks again.)
    let wakeups = cache.stats().scheduler_wakeups;
    for _ in 0..2000 {
        std::thread::yield_now();
    }
    assert!(cache.stats().scheduler_wakeups <= wakeups + 1, "the idle scheduler keeps waking up");
    must_finish("the scheduler is parked again", {
        let cache = Arc::clone(&cache);
        move || {
            while cache.snapshot().scheduler != SchedulerState::Parked {
                std::thread::yield_now();
            }
        }
    });
    let wakeups = cache.stats().scheduler_wakeups;
    // A request wakes it, and it sees the request.
    cache.get(&77).unwrap();
    cache.quiesce();
    assert!(cache.stats().scheduler_wakeups > wakeups);
}

/// An async source whose every load is completed by another thread (as an I/O reactor would), after the
/// future has returned `Pending` once.
struct Reactor;

impl dpc_core::AsyncDataProvider for Reactor {
    type Key = u64;
    type Value = String;
    type Error = crate::support::Refused;

    fn load(&self, key: &u64) -> impl std::future::Future<Output = Result<String, Self::Error>> + Send {
        struct Pending {
            key: u64,
            done: Arc<std::sync::atomic::AtomicBool>,
            started: bool,
        }
        impl std::future::Future for Pending {
            type Output = Result<String, crate::support::Refused>;
            fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                if self.done.load(Ordering::SeqCst) {
                    return Poll::Ready(if self.key == 13 {
                        Err(crate::support::Refused(13))
                    } else {
                        Ok(value_of(self.key))
                    });
                }
                if !self.started {
                    self.started = true;
                    let (done, waker) = (Arc::clone(&self.done), cx.waker().clone());
                    std::thread::spawn(move || {
                        done.store(true, Ordering::SeqCst);
                        waker.wake();
                    });
                }
                Poll::Pending
            }
        }
        Pending { key: *key, done: Arc::default(), started: false }
    }

    fn contains(&self, key: &u64) -> bool {
        *key < 100
    }
}

#[test]
fn an_async_provider_is_driven_by_the_cache_s_threads_on_no_runtime() {
    let cache = PrefetchCache::builder(dpc_core::BlockOn::new(Reactor)).predictor(Lookahead::new(3)).build().unwrap();
    assert_eq!(*cache.get(&1).unwrap(), value_of(1), "a demand load on the caller's thread");
    cache.quiesce();
    assert!((2..=4).all(|k| cache.contains(&k)), "prefetches ran on the workers");
    assert_eq!(*block_on(cache.get_async(&50)).unwrap(), value_of(50), "a miss of get_async on a demand thread");
    match cache.get(&13) {
        Err(CacheError::Provider { key: 13, source }) => assert_eq!(*source, crate::support::Refused(13)),
        other => panic!("expected the provider's own error, got {other:?}"),
    }
    cache.prefetch([200]);
    cache.quiesce();
    assert!(!cache.contains(&200), "contains() of the async provider is honoured");
}

#[test]
fn hits_from_more_threads_than_stripes_are_all_counted() {
    // Up to 8 threads own a stripe and count their hits with plain stores; the rest share the stripes' atomic
    // counters. Every hit must be counted either way, with the owners and the sharers hitting at the same time.
    let cache = PrefetchCache::builder(TestProvider::default()).max_entries(64).build().unwrap();
    for k in 0..32 {
        cache.get(&k).unwrap();
    }
    let before = cache.stats();
    let threads = 20u64;
    let per_thread = 5_000u64;
    let barrier = Barrier::new(threads as usize);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (cache, barrier) = (&cache, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..per_thread {
                    cache.get(&((t + i) % 32)).unwrap();
                }
            });
        }
    });
    let after = cache.stats();
    assert_eq!(after.misses, before.misses, "every key stayed resident");
    assert_eq!(after.hits - before.hits, threads * per_thread);
}
