//! Stride streams, trend and delta transitions on hand-checked cases.

use dpc_core::AccessPredictor;
use dpc_predictors::{DeltaMarkov, Stride, Trend};

use super::{run, score_of};

fn top(pred: &[(u64, f64)], n: usize) -> Vec<u64> {
    pred.iter().take(n).map(|(k, _)| *k).collect()
}

#[test]
fn stride_finds_forward_backward_and_every_other_frame() {
    let forward = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &[10, 11, 12, 13]);
    assert_eq!(top(&forward, 3), vec![14, 15, 16]);
    let backward = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &[50, 49, 48, 47]);
    assert_eq!(top(&backward, 3), vec![46, 45, 44]);
    let double = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &[10, 12, 14, 16]);
    assert_eq!(top(&double, 2), vec![18, 20]);
    // Backward towards 0 stops at 0 for u64 keys.
    let low = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &[3, 2, 1]);
    assert_eq!(top(&low, 5), vec![0]);
}

#[test]
fn stride_window_grows_while_it_hits() {
    let short = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &[100, 101]).len();
    let long = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &(100..120).collect::<Vec<u64>>()).len();
    assert!(long > short, "{long} > {short}");
    assert_eq!(long, 32, "capped at the maximum window");
}

#[test]
fn stride_keeps_one_stream_per_cursor() {
    // Two cursors at 1000 and 5000, interleaved irregularly: both next frames are predicted.
    let history = [1000, 5000, 1001, 1002, 5001, 1003, 5002, 5003, 1004, 5004];
    let pred = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &history);
    assert!(score_of(&pred, &5005) > 0.3, "{pred:?}");
    assert!(score_of(&pred, &1005) > 0.2, "{pred:?}");
}

#[test]
fn trend_ignores_an_occasional_jump() {
    let pred = run(&mut Trend::with_depth(3) as &mut dyn AccessPredictor<u64>, &[10, 9, 8, 7, 30, 29, 28]);
    // Steps: -1 x5 and +23 once: the majority is -1 with share 5/6.
    assert_eq!(top(&pred, 3), vec![27, 26, 25]);
    assert!((pred[0].1 - 5.0 / 6.0).abs() < 1e-9);
    // No majority: nothing.
    assert!(run(&mut Trend::new() as &mut dyn AccessPredictor<u64>, &[1, 5, 2, 40, 7]).is_empty());
}

#[test]
fn delta_markov_learns_a_jump_set() {
    // A cursor that steps +1 and every fifth step jumps +100.
    let mut history = vec![0u64];
    for i in 1..200 {
        let last = *history.last().unwrap();
        history.push(if i % 5 == 0 { last + 100 } else { last + 1 });
    }
    let mut d = DeltaMarkov::new();
    let pred = run(&mut d as &mut dyn AccessPredictor<u64>, &history);
    let cur = *history.last().unwrap();
    // 199 % 5 == 4: the next step is a jump; after +1 steps, +1 and +100 were both seen.
    assert!(score_of(&pred, &(cur + 1)) > 0.5, "{pred:?}");
    assert!(score_of(&pred, &(cur + 100)) > 0.1, "{pred:?}");
    assert!(d.probability(1, 100) > 0.2 && d.probability(100, 1) > 0.9);
    assert_eq!(score_of(&pred, &(cur + 50)), 0.0);
}

#[test]
fn delta_markov_learns_the_alternation_of_two_cursors() {
    // Strict alternation between cursors 1000 apart: deltas +1000, -999, +1000, ...
    let history: Vec<u64> = (0..60).map(|i| if i % 2 == 0 { 10 + i / 2 } else { 1010 + i / 2 }).collect();
    let pred = run(&mut DeltaMarkov::new() as &mut dyn AccessPredictor<u64>, &history);
    let cur = *history.last().unwrap();
    // The last request was the second cursor; next comes the first cursor's next frame.
    let next = cur - 999;
    assert_eq!(pred[0].0, next, "{pred:?}");
}

#[test]
fn adaptive_predictors_are_silent_on_strings() {
    use std::sync::Arc;
    let keys: Vec<Arc<str>> = vec!["a".into(), "b".into(), "a".into()];
    assert!(run(&mut Stride::new() as &mut dyn AccessPredictor<Arc<str>>, &keys).is_empty());
    assert!(run(&mut Trend::new() as &mut dyn AccessPredictor<Arc<str>>, &keys).is_empty());
    assert!(run(&mut DeltaMarkov::new() as &mut dyn AccessPredictor<Arc<str>>, &keys).is_empty());
}

#[test]
fn delta_markov_memory_stays_bounded_on_random_keys() {
    let mut d = DeltaMarkov::new();
    let mut x: u64 = 12345;
    for _ in 0..20_000 {
        // A cheap LCG: every delta is new.
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 1;
        AccessPredictor::<u64>::observe(&mut d, &x);
    }
    assert!(d.contexts() <= 4096, "{}", d.contexts());
}

#[test]
fn stride_scores_by_hand() {
    // 10 opens a stream (stride 1 inherited, confidence 0.5, window 4); 11, 12, 13 continue it: confidence
    // 0.55, 0.595, 0.6355 and window 8, 16, 32. The key i strides ahead scores 0.6355 * 0.85^(i-1).
    let pred = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &[10, 11, 12, 13]);
    assert_eq!(pred.len(), 32);
    assert_eq!(pred[0].0, 14);
    assert!((pred[0].1 - 0.6355).abs() < 1e-12, "{pred:?}");
    assert_eq!(pred[1].0, 15);
    assert!((pred[1].1 - 0.6355 * 0.85).abs() < 1e-12);
}

#[test]
fn delta_markov_scores_by_hand() {
    // Steps: +1 (first), +1, +1, +10, +1. Overall: +1 four times, +10 once. After +1: +1 twice, +10 once.
    // P(b | a) = (count(a, b) + P_overall(b)) / (count(a) + 1):
    // P(+1 | +1) = (2 + 4/5) / 4 = 0.7 and P(+10 | +1) = (1 + 1/5) / 4 = 0.3.
    let mut d = DeltaMarkov::new();
    let pred = run(&mut d as &mut dyn AccessPredictor<u64>, &[0, 1, 2, 3, 13, 14]);
    assert!((d.probability(1, 1) - 0.7).abs() < 1e-12);
    assert!((d.probability(1, 10) - 0.3).abs() < 1e-12);
    // From 14 after a +1: 15 with 0.7 and 24 with 0.3 at the first step, and never again (steps only go up).
    assert!((score_of(&pred, &15) - 0.7).abs() < 1e-12, "{pred:?}");
    assert!((score_of(&pred, &24) - 0.3).abs() < 1e-12, "{pred:?}");
    // A pure +1 history is certain all the way: 8 steps at lookahead 2.
    let pred = run(&mut DeltaMarkov::new() as &mut dyn AccessPredictor<u64>, &[0, 1, 2, 3]);
    assert_eq!(pred.len(), 8, "{pred:?}");
    assert!(pred.iter().all(|(k, s)| (4..12).contains(k) && (*s - 1.0).abs() < 1e-12));
}

#[test]
fn stride_recovers_the_direction_of_a_cursor_that_jumped() {
    // A forward cursor at 1000 and a backward one at 5000, alternating; then the backward one seeks to 9000.
    let mut history = vec![1000, 5000, 1001, 4999, 1002, 4998, 1003, 9000];
    let pred = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &history);
    // The new stream's stride is a guess (the last stride used, +1): it looks both ways, forward first.
    assert!(score_of(&pred, &9001) > score_of(&pred, &8999), "{pred:?}");
    assert!(score_of(&pred, &8999) > 0.0, "{pred:?}");
    // One step back is enough to adopt stride -1 (the other way keeps half the weight until a step confirms).
    history.extend([1004, 8999, 1005]);
    let pred = run(&mut Stride::new() as &mut dyn AccessPredictor<u64>, &history);
    assert!(score_of(&pred, &8998) > 0.3, "{pred:?}");
    assert!((score_of(&pred, &9000) - score_of(&pred, &8998) / 2.0).abs() < 1e-12, "{pred:?}");
    assert!(score_of(&pred, &1006) > score_of(&pred, &8998));
}
