//! Providers and predictors that fail, panic or lie; the cache keeps working.

use std::sync::Arc;

use dpc_core::{CacheError, Event, Lookahead, PrefetchCache};

use crate::support::{Events, Scripted, TestProvider, get_in_background, value_of};

#[test]
fn a_provider_error_reaches_the_caller_and_is_not_cached() {
    let p = Arc::new(TestProvider::default());
    p.failing.lock().unwrap().push(5);
    let cache = PrefetchCache::builder(Arc::clone(&p)).build().unwrap();
    for attempt in 1..=2 {
        match cache.get(&5) {
            Err(CacheError::Provider { key, source }) => {
                assert_eq!(key, 5);
                assert_eq!(source.to_string(), "refused 5");
            }
            other => panic!("expected a provider error, got {other:?}"),
        }
        assert_eq!(p.loads_of(5), attempt, "errors are not cached: every get tries again");
    }
    p.failing.lock().unwrap().clear();
    assert_eq!(*cache.get(&5).unwrap(), value_of(5));
    let s = cache.stats();
    assert_eq!((s.load_errors, s.misses), (2, 3));
}

#[test]
fn a_panicking_provider_is_contained() {
    let p = Arc::new(TestProvider::default());
    p.panicking.lock().unwrap().push(3);
    let cache = PrefetchCache::builder(Arc::clone(&p)).build().unwrap();
    match cache.get(&3) {
        Err(CacheError::Panicked { key, message }) => {
            assert_eq!(key, 3);
            assert!(message.contains("provider panics on 3"), "{message}");
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
    assert_eq!(*cache.get(&4).unwrap(), value_of(4));
    p.panicking.lock().unwrap().clear();
    assert_eq!(*cache.get(&3).unwrap(), value_of(3));
}

#[test]
fn failed_prefetches_are_counted_reported_and_not_retried() {
    let p = Arc::new(TestProvider::default());
    p.failing.lock().unwrap().push(2);
    p.panicking.lock().unwrap().push(3);
    let events = Events::default();
    let cache =
        PrefetchCache::builder(Arc::clone(&p)).predictor(Lookahead::new(3)).on_event(events.sink()).build().unwrap();
    cache.get(&1).unwrap();
    cache.quiesce();
    // A second request predicts 2 and 3 again: they failed, so they are not prefetched again.
    cache.get(&1).unwrap();
    cache.quiesce();
    assert_eq!((p.loads_of(2), p.loads_of(3), p.loads_of(4)), (1, 1, 1));
    let s = cache.stats();
    assert_eq!(s.prefetch_failed, 2);
    // A demand for a key whose prefetch failed loads it itself and gets the provider's answer.
    assert!(matches!(cache.get(&2), Err(CacheError::Provider { .. })));
    p.failing.lock().unwrap().clear();
    assert_eq!(*cache.get(&2).unwrap(), value_of(2));
    cache.close();
    let errors: Vec<u64> = events
        .all()
        .into_iter()
        .filter_map(|e| if let Event::PrefetchError { key, .. } = e { Some(key) } else { None })
        .collect();
    assert_eq!(errors.len(), 2);
    assert!(errors.contains(&2) && errors.contains(&3));
}

#[test]
fn a_waiter_on_a_failed_prefetch_loads_on_demand() {
    crate::support::check_a_waiter_on_a_failed_prefetch_loads_on_demand(|cache| get_in_background(cache, 2));
}

#[test]
fn a_panicking_predictor_is_reported_and_the_cache_keeps_working() {
    let p = Arc::new(TestProvider::default());
    let script = Scripted::default();
    *script.panic_on.lock().unwrap() = Some(5);
    script.set(&[(100, 1.0)]);
    let events = Events::default();
    let cache =
        PrefetchCache::builder(Arc::clone(&p)).predictor(script.clone()).on_event(events.sink()).build().unwrap();
    assert_eq!(*cache.get(&5).unwrap(), value_of(5));
    cache.quiesce();
    assert_eq!(cache.stats().predictor_panics, 1);
    assert_eq!(p.loads_of(100), 0);
    // The next request predicts normally again.
    cache.get(&6).unwrap();
    cache.quiesce();
    assert_eq!(p.loads_of(100), 1);
    cache.close();
    assert!(
        events
            .all()
            .iter()
            .any(|e| matches!(e, Event::PredictorPanic { message } if message.contains("predictor panics on 5")))
    );
}

#[test]
fn keys_the_provider_does_not_have_are_never_prefetched() {
    let p = Arc::new(TestProvider { limit: Some(10), ..TestProvider::default() });
    let script = Scripted::default();
    // Scores that must be ignored: NaN, infinite, negative, zero, and keys past the end.
    script.set(&[(8, 1.0), (9, 0.9), (10, 0.8), (11, 0.7), (7, f64::NAN), (6, f64::INFINITY), (5, -1.0), (4, 0.0)]);
    let cache = PrefetchCache::builder(Arc::clone(&p)).predictor(script).build().unwrap();
    cache.get(&1).unwrap();
    cache.quiesce();
    assert_eq!((p.loads_of(8), p.loads_of(9)), (1, 1));
    for k in [4, 5, 6, 7, 10, 11] {
        assert_eq!(p.loads_of(k), 0, "key {k}");
    }
}

#[test]
fn a_panicking_weigher_does_not_cache_but_returns() {
    let cache = PrefetchCache::builder(Arc::new(TestProvider::default()))
        .max_weight(100)
        .weigher(|k: &u64, _v: &String| if *k == 3 { panic!("weigher panics") } else { 1 })
        .build()
        .unwrap();
    assert_eq!(*cache.get(&3).unwrap(), value_of(3));
    assert!(!cache.contains(&3));
    assert_eq!(*cache.get(&4).unwrap(), value_of(4));
    assert!(cache.contains(&4));
}
