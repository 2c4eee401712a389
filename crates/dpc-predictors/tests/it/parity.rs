//! Score-for-score parity with the Python original, against `fixtures/predictors/parity.json`
//! (recorded by `fixtures/predictors/record.py` from dynamic-prefetching-cache 0.1.2).

use std::collections::BTreeMap;

use dpc_predictors::{DistanceDecayPredictor, DynamicDataPredictor, DynamicDistanceDecayPredictor};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    predictor: String,
    params: serde_json::Map<String, Value>,
    label: String,
    current: i64,
    history: Vec<i64>,
    scores: Vec<(i64, f64)>,
}

fn f(params: &serde_json::Map<String, Value>, name: &str, default: f64) -> f64 {
    params.get(name).and_then(Value::as_f64).unwrap_or(default)
}

fn i(params: &serde_json::Map<String, Value>, name: &str, default: i64) -> i64 {
    params.get(name).and_then(Value::as_i64).unwrap_or(default)
}

fn likelihoods(case: &Case) -> BTreeMap<i64, f64> {
    let p = &case.params;
    match case.predictor.as_str() {
        "DistanceDecayPredictor" => {
            DistanceDecayPredictor { max_span: i(p, "max_span", 60), decay: f(p, "decay", 1.5) }
                .get_likelihoods(case.current, &case.history)
        }
        "DynamicDistanceDecayPredictor" => {
            DynamicDistanceDecayPredictor { forward_bias: f(p, "forward_bias", 2.0), max_span: i(p, "max_span", 25) }
                .get_likelihoods(case.current, &case.history)
        }
        "DynamicDataPredictor" => {
            let jumps = p["possible_jumps"].as_array().expect("jumps").iter().filter_map(Value::as_i64).collect();
            let d = DynamicDataPredictor::new(jumps);
            DynamicDataPredictor {
                forward_bias: f(p, "forward_bias", d.forward_bias),
                backward_bias: f(p, "backward_bias", d.backward_bias),
                jump_boost: f(p, "jump_boost", d.jump_boost),
                proximity_boost: f(p, "proximity_boost", d.proximity_boost),
                history_boost: f(p, "history_boost", d.history_boost),
                max_span: i(p, "max_span", d.max_span),
                forward_exp: f(p, "forward_exp", d.forward_exp),
                backward_exp: f(p, "backward_exp", d.backward_exp),
                proximity_range: i(p, "proximity_range", d.proximity_range),
                length: p.get("length").and_then(Value::as_i64),
                ..d
            }
            .get_likelihoods(case.current, &case.history)
        }
        other => panic!("unknown predictor {other} in the fixture"),
    }
}

#[test]
fn every_recorded_case_matches_to_1e_6() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/predictors/parity.json");
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    assert!(fixture.cases.len() >= 30, "a few dozen cases");
    for case in &fixture.cases {
        let ours = likelihoods(case);
        let theirs: BTreeMap<i64, f64> = case.scores.iter().copied().collect();
        let what = format!("{} {:?} {}", case.predictor, case.params, case.label);
        assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "keys of {what}");
        for (k, v) in &theirs {
            assert!((ours[k] - v).abs() <= 1e-6, "{what}: key {k}: ours {} python {v}", ours[k]);
        }
    }
}

#[test]
fn negative_keys_are_dropped_for_u64_and_kept_for_i64() {
    use dpc_core::AccessPredictor;
    let mut p = DistanceDecayPredictor { max_span: 3, decay: 1.0 };
    let unsigned = super::run(&mut p as &mut dyn AccessPredictor<u64>, &[1u64]);
    let mut keys: Vec<u64> = unsigned.iter().map(|(k, _)| *k).collect();
    keys.sort();
    assert_eq!(keys, vec![0, 1, 2, 3, 4], "-2 and -1 do not exist as u64 frames");
    let signed = super::run(&mut p as &mut dyn AccessPredictor<i64>, &[1i64]);
    assert_eq!(signed.len(), 7);
    assert_eq!(super::score_of(&signed, &-2), 0.25);
}

#[test]
fn python_predictor_is_silent_on_string_keys() {
    use dpc_core::AccessPredictor;
    use std::sync::Arc;
    let mut p = DynamicDataPredictor::video();
    let keys: Vec<Arc<str>> = vec!["a".into(), "b".into()];
    assert!(super::run(&mut p as &mut dyn AccessPredictor<Arc<str>>, &keys).is_empty());
}
