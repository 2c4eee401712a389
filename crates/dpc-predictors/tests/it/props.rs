//! Every predictor, on any key sequence: no panic, and only finite, non-negative scores.

use std::time::Duration;

use dpc_core::{AccessPredictor, PredictContext};
use proptest::prelude::*;

fn all<K: dpc_predictors::OffsetKey>() -> Vec<Box<dyn AccessPredictor<K>>> {
    dpc_predictors::NAMES.iter().filter_map(|n| dpc_predictors::by_name::<K>(n).ok()).collect()
}

fn drive<K: dpc_predictors::OffsetKey>(keys: &[K], latency_us: u64, interval_us: u64) {
    for mut p in all::<K>() {
        let mut out = Vec::new();
        for i in 0..keys.len() {
            p.observe(&keys[i]);
            let history = &keys[i.saturating_sub(29)..=i];
            let ctx = PredictContext::new(&keys[i], history)
                .capacity(Some(64))
                .max_prefetch(20)
                .workers(4)
                .load_latency(Some(Duration::from_micros(latency_us)))
                .request_interval(Some(Duration::from_micros(interval_us)));
            out.clear();
            p.predict(&ctx, &mut out);
            for (k, s) in &out {
                assert!(s.is_finite() && *s >= 0.0, "{}: {k:?} scored {s}", p.name());
            }
        }
    }
}

/// Keys that stress the arithmetic: around 0 and the ends of the type, and small steps.
fn edgy_i64() -> impl Strategy<Value = i64> {
    prop_oneof![-40i64..40, (i64::MAX - 40)..=i64::MAX, i64::MIN..(i64::MIN + 40), any::<i64>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn i64_keys(keys in prop::collection::vec(edgy_i64(), 1..60), lat in 0u64..5000, int in 0u64..5000) {
        drive(&keys, lat, int);
    }

    #[test]
    fn u64_keys(keys in prop::collection::vec(prop_oneof![0u64..50, (u64::MAX - 50)..=u64::MAX, (i64::MAX as u64 - 5)..(i64::MAX as u64 + 5)], 1..60), lat in 0u64..5000, int in 0u64..5000) {
        drive(&keys, lat, int);
    }

    #[test]
    fn string_keys(keys in prop::collection::vec("[a-d]{1,2}", 1..60)) {
        let keys: Vec<std::sync::Arc<str>> = keys.into_iter().map(Into::into).collect();
        drive(&keys, 2000, 1000);
    }
}
