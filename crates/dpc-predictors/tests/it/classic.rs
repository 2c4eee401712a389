//! Sequential, Markov (strings included), session and the weighted combinator, on hand-checked cases.

use std::sync::Arc;

use dpc_core::AccessPredictor;
use dpc_predictors::{Markov, Sequential, Weighted};

use super::{run, score_of};

fn keys(s: &str) -> Vec<Arc<str>> {
    s.split_whitespace().map(Arc::from).collect()
}

#[test]
fn sequential_scores_one_over_distance() {
    let pred = run(&mut Sequential::with_depth(3) as &mut dyn AccessPredictor<u64>, &[10]);
    assert_eq!(pred, vec![(11, 1.0), (12, 0.5), (13, 1.0 / 3.0)]);
    // Depth from the lookahead (2 in these tests): 2 * 2 + 2 = 6 keys; none past the key type's maximum.
    assert_eq!(run(&mut Sequential::default() as &mut dyn AccessPredictor<u64>, &[10]).len(), 6);
    assert_eq!(run(&mut Sequential::default() as &mut dyn AccessPredictor<u8>, &[254]), vec![(255, 1.0)]);
    assert!(run(&mut Sequential::default() as &mut dyn AccessPredictor<Arc<str>>, &keys("a")).is_empty());
}

#[test]
fn markov_learns_successors_of_string_keys() {
    // After "home": "news" 3 times, "mail" once. One step: P(news) = 0.75, P(mail) = 0.25.
    let mut m = Markov::new().steps(1).popular(0);
    let pred = run(&mut m as &mut dyn AccessPredictor<Arc<str>>, &keys("home news home news home news home mail home"));
    assert_eq!(pred.len(), 2, "{pred:?}");
    assert!((score_of(&pred, &Arc::from("news")) - 0.75).abs() < 1e-9, "{pred:?}");
    assert!((score_of(&pred, &Arc::from("mail")) - 0.25).abs() < 1e-9);
    assert!((m.probability(&Arc::from("news"), &Arc::from("home")) - 1.0).abs() < 1e-9);
}

#[test]
fn markov_follows_two_steps_and_applies_its_threshold() {
    // a -> b always, b -> c always: two steps from a predict b (1.0) and c, just as certain but needed a step
    // later, at 0.8, so that the cache loads b first.
    let mut m = Markov::new().steps(2).popular(0);
    let pred = run(&mut m as &mut dyn AccessPredictor<Arc<str>>, &keys("a b c a b c a"));
    assert_eq!(score_of(&pred, &Arc::from("b")), 1.0);
    assert!((score_of(&pred, &Arc::from("c")) - 0.8).abs() < 1e-12, "{pred:?}");
    // A 1-in-100 successor falls under a 0.05 threshold.
    let mut text = "x y ".repeat(99);
    text.push_str("x z x");
    let pred =
        run(&mut Markov::new().steps(1).threshold(0.05).popular(0) as &mut dyn AccessPredictor<Arc<str>>, &keys(&text));
    assert_eq!(pred.len(), 1, "{pred:?}");
}

#[test]
fn session_tells_contexts_apart_where_first_order_cannot() {
    // After "a s" comes "x", after "b s" comes "y": first order sees s -> x or y at 50 %; second order knows.
    let history = keys(&"a s x b s y ".repeat(10)).into_iter().chain(keys("a s")).collect::<Vec<_>>();
    let first = run(&mut Markov::new().steps(1).popular(0) as &mut dyn AccessPredictor<Arc<str>>, &history);
    assert!((score_of(&first, &Arc::from("x")) - 0.5).abs() < 0.01, "{first:?}");
    let session = run(&mut Markov::session().steps(1).popular(0) as &mut dyn AccessPredictor<Arc<str>>, &history);
    let x = score_of(&session, &Arc::from("x"));
    assert!(x > 0.9, "{session:?}");
    assert!(score_of(&session, &Arc::from("y")) < 0.1);
}

#[test]
fn weighted_sums_its_members() {
    let mut w = Weighted::new().with(Sequential::with_depth(2), 2.0).with(Sequential::with_depth(1), 1.0);
    let pred = run(&mut w as &mut dyn AccessPredictor<u64>, &[5]);
    // 6: 2 * 1 + 1 * 1 = 3; 7: 2 * 0.5 = 1.
    assert_eq!(pred, vec![(6, 3.0), (7, 1.0)]);
}

#[test]
fn markov_memory_stays_bounded_on_endless_new_keys() {
    let mut m = Markov::new().max_keys(1000);
    for i in 0..10_000u64 {
        AccessPredictor::<u64>::observe(&mut m, &i);
    }
    assert!(m.learned_keys() <= 1000, "{}", m.learned_keys());
    // Keys seen repeatedly survive the trimming.
    let mut m = Markov::new().max_keys(100);
    for round in 0..50u64 {
        for k in [1u64, 2, 3] {
            AccessPredictor::<u64>::observe(&mut m, &k);
        }
        AccessPredictor::<u64>::observe(&mut m, &(1000 + round));
    }
    assert!(m.probability(&1, &2) > 0.99);
}

#[test]
fn markov_keeps_popular_keys_at_a_low_score() {
    // "hub" is requested every other time; after "x" comes "y" once, so one step from "y" predicts nothing,
    // but the hub is popular: 0.05. Keys seen once ("z") are not popular.
    let history = keys("hub a hub b hub c hub d x y");
    let pred = run(&mut Markov::new().steps(1) as &mut dyn AccessPredictor<Arc<str>>, &history);
    assert_eq!(pred.len(), 1, "{pred:?}");
    assert!((score_of(&pred, &Arc::from("hub")) - 0.05).abs() < 1e-12, "{pred:?}");
    let pred = run(&mut Markov::new().steps(1).popular(0) as &mut dyn AccessPredictor<Arc<str>>, &history);
    assert!(pred.is_empty(), "{pred:?}");
}
