//! What the cache does, one rule at a time.

use std::sync::Arc;

use dpc_core::{BuildError, CacheError, Event, EvictionPolicy, Lookahead, PrefetchCache, Stats};

use crate::support::{Events, Scripted, TestProvider, value_of};

fn provider() -> Arc<TestProvider> {
    Arc::new(TestProvider::default())
}

#[test]
fn prefetched_keys_are_hits() {
    let p = provider();
    let cache = PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(4)).max_entries(16).build().unwrap();
    assert_eq!(*cache.get(&10).unwrap(), value_of(10));
    cache.quiesce();
    for k in 11..=14 {
        assert!(cache.contains(&k), "key {k} was not prefetched");
    }
    let before = cache.stats();
    for k in 11..=14 {
        assert_eq!(*cache.get(&k).unwrap(), value_of(k));
    }
    cache.quiesce();
    let s = cache.stats();
    assert_eq!(s.misses, 1);
    assert_eq!(s.hits - before.hits, 4);
    assert_eq!(s.prefetch_used, 4);
    // Each key was loaded exactly once: prefetch for 11..=14, demand for 10.
    for k in 10..=14 {
        assert_eq!(p.loads_of(k), 1, "key {k}");
    }
}

#[test]
fn without_a_predictor_nothing_is_prefetched() {
    let p = provider();
    let cache = PrefetchCache::builder(Arc::clone(&p)).build().unwrap();
    for k in 0..10 {
        cache.get(&k).unwrap();
    }
    cache.quiesce();
    let s = cache.stats();
    assert_eq!((s.misses, s.hits, s.prefetch_issued), (10, 0, 0));
    assert_eq!(p.total_loads.load(std::sync::atomic::Ordering::SeqCst), 10);
    assert_eq!(cache.get(&3).unwrap().as_str(), value_of(3));
    assert_eq!(cache.stats().hits, 1);
}

/// Fills a cache of capacity 3 (no prefetch workers) with 1, 2, 3 and applies `scores` to them.
fn full_cache(policy: EvictionPolicy, scores: &[(u64, f64)]) -> (PrefetchCache<Arc<TestProvider>>, Scripted) {
    let script = Scripted::default();
    let cache = PrefetchCache::builder(provider())
        .predictor(script.clone())
        .max_entries(3)
        .workers(0)
        .eviction_policy(policy)
        .build()
        .unwrap();
    for k in [1, 2, 3] {
        cache.get(&k).unwrap();
    }
    script.set(scores);
    // A hit makes the scheduler apply the new scores.
    cache.get(&3).unwrap();
    cache.quiesce();
    (cache, script)
}

fn resident(cache: &PrefetchCache<Arc<TestProvider>>) -> Vec<u64> {
    (0..20).filter(|k| cache.contains(k)).collect()
}

#[test]
fn eviction_takes_the_least_likely_key() {
    let (cache, _) = full_cache(EvictionPolicy::Oldest, &[(1, 0.9), (3, 0.5), (2, 0.1)]);
    cache.get(&4).unwrap();
    assert_eq!(resident(&cache), vec![1, 3, 4]);
    // Now 4 scores 0 (absent from the prediction): it is the least likely and goes next.
    cache.get(&5).unwrap();
    assert_eq!(resident(&cache), vec![1, 3, 5]);
    assert_eq!(cache.stats().evictions, 2);
}

#[test]
fn ties_follow_the_policy() {
    // All unscored: Oldest evicts the first inserted.
    let (cache, _) = full_cache(EvictionPolicy::Oldest, &[]);
    cache.get(&4).unwrap();
    assert_eq!(resident(&cache), vec![2, 3, 4]);

    // LRU: 1 was requested after 2, so 2 is least recently used.
    let script = Scripted::default();
    let cache = PrefetchCache::builder(provider())
        .predictor(script)
        .max_entries(3)
        .workers(0)
        .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
        .build()
        .unwrap();
    for k in [1, 2, 3, 1] {
        cache.get(&k).unwrap();
    }
    cache.quiesce();
    cache.get(&4).unwrap();
    assert_eq!(resident(&cache), vec![1, 3, 4]);
}

#[test]
fn size_policies_pick_by_weight() {
    for (policy, survivor_set) in [(EvictionPolicy::Largest, vec![1, 3, 4]), (EvictionPolicy::Smallest, vec![2, 3, 4])]
    {
        let cache = PrefetchCache::builder(provider())
            .max_entries(3)
            .workers(0)
            .weigher(|k: &u64, _v: &String| if *k == 2 { 100 } else { 1 })
            .eviction_policy(policy)
            .build()
            .unwrap();
        for k in [1, 2, 3] {
            cache.get(&k).unwrap();
        }
        cache.quiesce();
        cache.get(&4).unwrap();
        assert_eq!(resident(&cache), survivor_set, "{policy:?}");
    }
}

#[test]
fn the_weight_bound_holds() {
    let cache = PrefetchCache::builder(provider())
        .max_weight(10)
        .workers(0)
        .weigher(|k: &u64, _v: &String| *k)
        .build()
        .unwrap();
    for k in [4, 4, 3, 2] {
        cache.get(&k).unwrap();
    }
    assert_eq!(cache.stats().resident_weight, 9);
    cache.get(&5).unwrap(); // 4+3+2+5 = 14 > 10: the oldest (4) goes, leaving 3+2+5.
    let s = cache.stats();
    assert_eq!(s.resident_weight, 10);
    assert_eq!(resident(&cache), vec![2, 3, 5]);
    // Heavier than the whole bound: returned, never cached, nothing evicted for it.
    assert_eq!(*cache.get(&11).unwrap(), value_of(11));
    assert!(!cache.contains(&11));
    assert_eq!(cache.stats().resident_weight, 10);
    assert_eq!(cache.stats().evictions, s.evictions);
}

#[test]
fn a_prefetch_never_displaces_a_likelier_key() {
    let script = Scripted::default();
    let p = provider();
    let cache =
        PrefetchCache::builder(Arc::clone(&p)).predictor(script.clone()).max_entries(2).workers(1).build().unwrap();
    cache.get(&1).unwrap();
    cache.get(&2).unwrap();
    script.set(&[(1, 1.0), (2, 1.0), (3, 0.5)]);
    cache.get(&1).unwrap();
    cache.quiesce();
    assert_eq!(p.loads_of(3), 0, "3 is less likely than both residents");
    assert_eq!(cache.stats().prefetch_issued, 0);

    // Equal is not better either.
    script.set(&[(1, 1.0), (2, 0.7), (3, 0.7)]);
    cache.get(&1).unwrap();
    cache.quiesce();
    assert_eq!(p.loads_of(3), 0);

    script.set(&[(1, 1.0), (2, 0.2), (3, 0.5)]);
    cache.get(&1).unwrap();
    cache.quiesce();
    assert_eq!(p.loads_of(3), 1, "3 now beats 2");
    assert_eq!(resident(&cache), vec![1, 3]);
}

#[test]
fn stale_queued_prefetches_are_cancelled() {
    let p = provider();
    let starts = p.watch_starts();
    p.gate_keys(&[1]);
    let events = Events::default();
    let (cancel_tx, cancels) = crossbeam_channel::unbounded();
    let sink = events.sink();
    let cache = PrefetchCache::builder(Arc::clone(&p))
        .predictor(Lookahead::new(5))
        .max_entries(64)
        .workers(1)
        .on_event(move |e| {
            if matches!(e, Event::PrefetchCancel { .. }) {
                let _ = cancel_tx.send(());
            }
            sink(e)
        })
        .build()
        .unwrap();
    cache.get(&0).unwrap();
    // The single worker is now stuck on key 1; 2..=5 wait in the queue.
    // The request is recorded before its own load starts, so the prefetch may start first.
    assert_eq!(crate::support::next_starts(&starts, 2), [0, 1]);
    cache.get(&100).unwrap();
    // Wait until the scheduler has seen the jump and dropped the stale queue, then let the worker go.
    cancels.recv().unwrap();
    p.gate.open();
    cache.quiesce();
    for k in 2..=5 {
        assert_eq!(p.loads_of(k), 0, "stale key {k} was loaded");
    }
    for k in 101..=105 {
        assert!(cache.contains(&k), "key {k} missing");
    }
    let s = cache.stats();
    assert_eq!(s.prefetch_cancelled, 4);
    cache.close();
    let cancelled: Vec<u64> = events
        .all()
        .into_iter()
        .filter_map(|e| if let Event::PrefetchCancel { key } = e { Some(key) } else { None })
        .collect();
    assert_eq!(cancelled, vec![2, 3, 4, 5]);
}

#[test]
fn stats_arithmetic() {
    let mut s = Stats::default();
    assert_eq!((s.hit_rate(), s.accuracy(), s.coverage()), (0.0, 0.0, 0.0));
    s.hits = 6;
    s.late_hits = 2;
    s.misses = 2;
    s.prefetch_completed = 10;
    s.prefetch_used = 6;
    assert_eq!(s.requests(), 10);
    assert_eq!(s.hit_rate(), 0.6);
    assert_eq!(s.accuracy(), 0.6);
    assert_eq!(s.coverage(), 0.75);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["hits"], 6);
    let back: Stats = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn stats_count_what_happened() {
    let p = provider();
    let cache = PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(2)).max_entries(4).build().unwrap();
    for k in 0..8 {
        cache.get(&k).unwrap();
        cache.quiesce();
    }
    let s = cache.stats();
    assert_eq!(s.requests(), 8);
    assert_eq!(s.misses, 1, "only the first request misses");
    assert_eq!(s.hits, 7);
    assert_eq!(s.loads, 1);
    assert_eq!(s.prefetch_issued, 9, "1..=9 were prefetched");
    assert_eq!(s.prefetch_completed, 9);
    assert_eq!(s.prefetch_used, 7);
    assert_eq!(s.resident_entries, 4);
    assert_eq!(s.in_flight, 0);
    // 10 values entered a 4-entry cache: 6 evictions, of which 0..=5 minus the demand key 0 were used.
    assert_eq!(s.evictions, 6);
    assert_eq!(s.prefetch_wasted, 0);
    assert_eq!(s.accuracy(), 7.0 / 9.0);
}

#[test]
fn events_for_one_key_come_in_order() {
    let events = Events::default();
    let script = Scripted::default();
    let cache = PrefetchCache::builder(provider())
        .predictor(script.clone())
        .max_entries(2)
        .workers(1)
        .on_event(events.sink())
        .build()
        .unwrap();
    script.set(&[(7, 1.0)]);
    cache.get(&1).unwrap();
    cache.quiesce();
    script.set(&[]);
    cache.get(&2).unwrap(); // evicts 1 or 7, depending on whether the new prediction was applied yet
    cache.quiesce();
    cache.get(&3).unwrap(); // 7 now scores 0: it goes, if it is still here
    cache.quiesce();
    cache.close();
    let for_7: Vec<String> = events
        .all()
        .iter()
        .filter_map(|e| match e {
            Event::PrefetchStart { key: 7, score } => Some(format!("start {score}")),
            Event::PrefetchSuccess { key: 7, admitted, .. } => Some(format!("success admitted={admitted}")),
            Event::Evict { key: 7, prefetched_unused, .. } => Some(format!("evict unused={prefetched_unused}")),
            _ => None,
        })
        .collect();
    assert_eq!(for_7, vec!["start 1", "success admitted=true", "evict unused=true"]);
    let demand = events.all().iter().filter(|e| matches!(e, Event::LoadStart { key: 1 })).count();
    assert_eq!(demand, 1);
}

#[test]
fn history_and_context_reach_the_predictor() {
    let script = Scripted::default();
    let cache = PrefetchCache::builder(provider()).predictor(script.clone()).history_len(3).build().unwrap();
    for k in [5, 6, 7, 8] {
        cache.get(&k).unwrap();
        cache.quiesce();
    }
    assert_eq!(*script.observed.lock().unwrap(), vec![5, 6, 7, 8]);
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.last().unwrap(), &(8, vec![6, 7, 8]));
}

#[test]
fn bad_settings_are_refused() {
    let cases: Vec<(&str, Result<PrefetchCache<Arc<TestProvider>>, BuildError>)> = vec![
        ("entries", PrefetchCache::builder(provider()).max_entries(0).build()),
        ("weight", PrefetchCache::builder(provider()).max_weight(0).build()),
        ("history", PrefetchCache::builder(provider()).history_len(0).build()),
        ("workers", PrefetchCache::builder(provider()).workers(100_000).build()),
    ];
    for (what, result) in cases {
        match result {
            Err(BuildError::InvalidConfig(msg)) => assert!(msg.contains(what), "{msg}"),
            other => panic!("{what}: expected InvalidConfig, got {other:?}"),
        }
    }
}

#[test]
fn closed_caches_refuse_requests() {
    let cache = PrefetchCache::builder(provider()).predictor(Lookahead::new(3)).build().unwrap();
    cache.get(&1).unwrap();
    cache.close();
    cache.close();
    assert!(cache.is_closed());
    assert!(matches!(cache.get(&1), Err(CacheError::Closed)));
    assert_eq!(cache.len(), 0, "close drops resident entries");
}

#[test]
fn string_keys_work() {
    use std::convert::Infallible;
    struct Upper;
    impl dpc_core::DataProvider for Upper {
        type Key = Arc<str>;
        type Value = String;
        type Error = Infallible;
        fn load(&self, key: &Arc<str>) -> Result<String, Infallible> {
            Ok(key.to_uppercase())
        }
    }
    struct Next;
    impl dpc_core::AccessPredictor<Arc<str>> for Next {
        fn predict(&mut self, ctx: &dpc_core::PredictContext<'_, Arc<str>>, out: &mut Vec<(Arc<str>, f64)>) {
            out.push((format!("{}/next", ctx.current).into(), 1.0));
        }
    }
    let cache = PrefetchCache::builder(Upper).predictor(Next).build().unwrap();
    assert_eq!(*cache.get(&Arc::from("home")).unwrap(), "HOME");
    cache.quiesce();
    assert!(cache.contains(&Arc::from("home/next")));
    assert_eq!(*cache.get(&Arc::from("home/next")).unwrap(), "HOME/NEXT");
    cache.quiesce();
    assert_eq!(cache.stats().prefetch_used, 1);
}

/// Fast loads are timed one in 16 (the clock costs a tenth of an instant miss), so a source that turns slow must
/// still be noticed within a few loads, and from then on every load is timed.
#[test]
fn a_source_that_turns_slow_is_measured_within_a_few_loads() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use dpc_core::{AccessPredictor, DataProvider, PredictContext};

    struct Switching(AtomicBool);
    impl DataProvider for Switching {
        type Key = u64;
        type Value = u64;
        type Error = std::convert::Infallible;
        fn load(&self, key: &u64) -> Result<u64, Self::Error> {
            if self.0.load(Ordering::Relaxed) {
                // The workload itself: a slow source, not a wait for another thread.
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(*key)
        }
    }
    struct Seen(Arc<Mutex<Option<Duration>>>);
    impl AccessPredictor<u64> for Seen {
        fn predict(&mut self, ctx: &PredictContext<'_, u64>, _out: &mut Vec<(u64, f64)>) {
            *self.0.lock().unwrap() = ctx.load_latency;
        }
    }

    let seen = Arc::new(Mutex::new(None));
    let provider = Arc::new(Switching(AtomicBool::new(false)));
    let cache = PrefetchCache::builder(Arc::clone(&provider))
        .predictor(Seen(Arc::clone(&seen)))
        .max_entries(64)
        .build()
        .unwrap();
    for k in 0..1000 {
        cache.get(&k).unwrap();
    }
    cache.quiesce();
    let fast = seen.lock().unwrap().expect("the latency is measured from the first load");
    assert!(fast < Duration::from_millis(1), "{fast:?}");
    provider.0.store(true, Ordering::Relaxed);
    for k in 1000..1020 {
        cache.get(&k).unwrap();
    }
    cache.quiesce();
    let slow = seen.lock().unwrap().expect("measured");
    assert!(slow >= Duration::from_micros(200), "20 slow loads left the estimate at {slow:?}");
    cache.close();
}

/// Evicted values are freed in batches; a cache of large values that stops evicting must not keep its dead ones.
#[test]
fn evicted_and_invalidated_values_are_dropped_without_more_evictions() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use dpc_core::DataProvider;

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    struct Big(Arc<AtomicUsize>);
    impl DataProvider for Big {
        type Key = u64;
        type Value = Counted;
        type Error = std::convert::Infallible;
        fn load(&self, _key: &u64) -> Result<Counted, Self::Error> {
            Ok(Counted(Arc::clone(&self.0)))
        }
    }

    let dropped = Arc::new(AtomicUsize::new(0));
    let cache = PrefetchCache::builder(Big(Arc::clone(&dropped))).max_entries(2).build().unwrap();
    for k in 0..5 {
        drop(cache.get(&k).unwrap());
    }
    cache.invalidate(&4);
    // Other tests' threads read caches of their own at the same time and may hold a sealed batch back for an
    // instant, so look again until it is freed (a missing free never passes).
    let mut rounds = 0;
    while dropped.load(Ordering::SeqCst) < 4 && rounds < 1_000_000 {
        cache.quiesce();
        std::thread::yield_now();
        rounds += 1;
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 4, "3 evicted values and 1 invalidated one");
    assert_eq!(cache.len(), 1);
    cache.close();
}
