//! The self-weighting ensemble.

use std::sync::Arc;

use dpc_core::{AccessPredictor, PredictContext};
use dpc_predictors::{Ensemble, Markov, Sequential};

use super::{predict, run, score_of};

/// Always predicts the key `current - 1` with score 1.
#[derive(Debug)]
struct Backwards;

impl AccessPredictor<u64> for Backwards {
    fn predict(&mut self, ctx: &PredictContext<'_, u64>, out: &mut Vec<(u64, f64)>) {
        if let Some(k) = ctx.current.checked_sub(1) {
            out.push((k, 1.0));
        }
    }
    fn name(&self) -> &str {
        "backwards"
    }
}

#[test]
fn weight_shifts_to_the_member_that_has_been_right() {
    let mut e = Ensemble::empty().with(Sequential::with_depth(1)).with(Backwards);
    let history: Vec<u64> = (0..100).collect();
    // Predict after every request, as the cache does.
    for i in 0..history.len() {
        e.observe(&history[i]);
        predict(&mut e as &mut dyn AccessPredictor<u64>, &history[..=i]);
    }
    let w = e.weights();
    assert_eq!(w[0].0, "sequential");
    assert!(w[0].1 > 0.9, "{w:?}");
    assert!(w[1].1 < 0.01, "{w:?}");
    // The silent member fell under the minimum weight: its key is not predicted at all.
    let pred = predict(&mut e as &mut dyn AccessPredictor<u64>, &history);
    assert_eq!(pred, vec![(100, 1.0)]);
}

#[test]
fn auto_follows_playback_and_its_jumps() {
    let mut history = Vec::new();
    let mut k = 5000u64;
    for i in 0..300 {
        k = if i % 10 == 9 { k + 30 } else { k + 1 };
        history.push(k);
    }
    let mut auto = Ensemble::<u64>::auto();
    for i in 0..history.len() {
        auto.observe(&history[i]);
        predict(&mut auto as &mut dyn AccessPredictor<u64>, &history[..=i]);
    }
    let pred = predict(&mut auto as &mut dyn AccessPredictor<u64>, &history);
    let cur = *history.last().unwrap();
    assert_eq!(pred[0].0, cur + 1, "{pred:?}");
    // The last step was a jump, so the next is +1; a jump of +30 from there (cur + 31) is learned.
    assert!(score_of(&pred, &(cur + 31)) > 0.0, "the learned jump is predicted: {pred:?}");
    assert!(pred.iter().all(|(_, s)| *s > 0.0 && *s <= 1.0), "probability-like scores");
}

#[test]
fn auto_works_on_string_keys_through_markov() {
    let keys: Vec<Arc<str>> = "a b c ".repeat(30).split_whitespace().map(Arc::from).collect();
    let mut auto = Ensemble::<Arc<str>>::auto();
    assert_eq!(auto.weights().len(), 1, "only the Markov member applies to strings");
    let pred = run(&mut auto as &mut dyn AccessPredictor<Arc<str>>, &keys);
    // The last key is "c": next "a" then "b" then "c", all certain within the three steps it looks ahead
    // (lookahead 2 plus one), and ranked in the order they are needed (0.8 less per step ahead).
    assert_eq!(pred.len(), 3, "{pred:?}");
    let (a, b, c) =
        (score_of(&pred, &Arc::from("a")), score_of(&pred, &Arc::from("b")), score_of(&pred, &Arc::from("c")));
    assert!(a > 0.99, "{pred:?}");
    assert!(b > 0.79 && b < a, "{pred:?}");
    assert!(c > 0.6 && c < b, "{pred:?}");
    let _ = Markov::<Arc<str>>::new();
}

/// Always predicts the key `current + 50` with score 1.
#[derive(Debug)]
struct Leaps;

impl AccessPredictor<u64> for Leaps {
    fn predict(&mut self, ctx: &PredictContext<'_, u64>, out: &mut Vec<(u64, f64)>) {
        out.push((ctx.current + 50, 1.0));
    }
    fn name(&self) -> &str {
        "leaps"
    }
}

#[test]
fn weights_are_kept_apart_by_the_kind_of_step() {
    // Scrubbing-like: five steps of +1, then five leaps of +50, again and again. Overall both members are
    // right about half the time; but after a leap (a far move) the next step is a leap four times in five.
    let mut history = vec![1000u64];
    for _ in 0..40 {
        for step in [1, 1, 1, 1, 1, 50, 50, 50, 50, 50] {
            history.push(history.last().unwrap() + step);
        }
    }
    let mut e = Ensemble::empty().with(Sequential::with_depth(1)).with(Leaps);
    let feed = |e: &mut Ensemble<u64>, keys: &[u64], upto: usize| {
        for i in 0..upto {
            e.observe(&keys[i]);
            predict(e as &mut dyn AccessPredictor<u64>, &keys[..=i]);
        }
    };
    // Stop right after the first leap of a run.
    let first_leap = history.len() - 5;
    feed(&mut e, &history, first_leap + 1);
    let pred = predict(&mut e as &mut dyn AccessPredictor<u64>, &history[..=first_leap]);
    let cur = history[first_leap];
    let (leap, step) = (score_of(&pred, &(cur + 50)), score_of(&pred, &(cur + 1)));
    assert!(leap > 0.7 && step < 0.3, "after a far move the leaps member leads: {pred:?}");
    let w = e.weights();
    assert!(w[1].1 > 0.7 && w[0].1 < 0.3, "the weights of the far context: {w:?}");
}

/// A prediction of `e` at the last key of `history` (observing nothing) with 4 workers, 1 ms between requests and
/// loads of `latency_ms`.
fn predict_at(e: &mut Ensemble<u64>, history: &[u64], latency_ms: u64) -> Vec<(u64, f64)> {
    let tail = &history[history.len().saturating_sub(30)..];
    let ctx = PredictContext::new(tail.last().expect("a history"), tail)
        .capacity(Some(512))
        .workers(4)
        .load_latency(Some(std::time::Duration::from_millis(latency_ms)))
        .request_interval(Some(std::time::Duration::from_millis(1)));
    let mut out = Vec::new();
    e.predict(&ctx, &mut out);
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

fn learned(history: &[u64], budget: bool) -> Ensemble<u64> {
    let mut e = Ensemble::<u64>::auto().bandwidth_budget(budget);
    for k in history {
        e.observe(k);
    }
    e
}

#[test]
fn short_bandwidth_keeps_the_best_two_rounds_of_loads_per_place() {
    // Playback with a jump back of 40 every 10 frames: the learned jumps and a long stride window.
    let history: Vec<u64> = (0..300u64).map(|i| 10_000 + i - 40 * (i / 10)).collect();
    let recent = &history[history.len() - 30..];
    let fresh = |p: &[(u64, f64)]| p.iter().filter(|(k, _)| !recent.contains(k)).count();
    // 2 ms loads: 2 loads per request, no budget: the same prediction with it on or off.
    let ample = predict_at(&mut learned(&history, true), &history, 2);
    assert_eq!(ample, predict_at(&mut learned(&history, false), &history, 2));
    assert!(fresh(&ample) > 8, "{ample:?}");
    // 8 ms loads: half a load per request: 2 x 4 workers keys not requested lately, the best of the full prediction.
    let full = predict_at(&mut learned(&history, false), &history, 8);
    let short = predict_at(&mut learned(&history, true), &history, 8);
    assert!(fresh(&full) > 8, "{full:?}");
    assert_eq!(fresh(&short), 8, "{short:?}");
    let cut = short.last().expect("a prediction").1;
    assert!(full.iter().all(|(k, s)| *s <= cut || short.iter().any(|(x, _)| x == k)), "only the best are kept");
    assert!(short.iter().all(|x| full.contains(x)), "with their scores");
}

#[test]
fn short_bandwidth_keeps_as_many_per_cursor() {
    // Two cursors far apart, interleaved: two places, twice the keys of one.
    let history: Vec<u64> = (0..300u64).map(|i| if i % 2 == 0 { 1_000 + i / 2 } else { 50_000 + i / 2 }).collect();
    let recent = &history[history.len() - 30..];
    let short = predict_at(&mut learned(&history, true), &history, 8);
    let fresh: Vec<u64> = short.iter().map(|(k, _)| *k).filter(|k| !recent.contains(k)).collect();
    assert_eq!(fresh.len(), 16, "{short:?}");
    assert!(fresh.iter().any(|&k| k < 2_000) && fresh.iter().any(|&k| k > 40_000), "both cursors: {fresh:?}");
}

#[test]
fn string_keys_are_never_cut() {
    // More pages than the history holds, so that a cut would show.
    let pages: Vec<Arc<str>> = (0..2000).map(|i| Arc::from(format!("p{}", (i * 7) % 101))).collect();
    let mut on = Ensemble::<Arc<str>>::auto();
    let mut off = Ensemble::<Arc<str>>::auto().bandwidth_budget(false);
    for k in &pages {
        on.observe(k);
        off.observe(k);
    }
    let tail = &pages[pages.len() - 30..];
    let ctx = PredictContext::new(tail.last().expect("pages"), tail)
        .workers(1)
        .load_latency(Some(std::time::Duration::from_millis(50)))
        .request_interval(Some(std::time::Duration::from_millis(1)));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    on.predict(&ctx, &mut a);
    off.predict(&ctx, &mut b);
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    let fresh = |p: &[(Arc<str>, f64)]| p.iter().filter(|(k, _)| !tail.contains(k)).count();
    assert!(fresh(&a) > 2, "{a:?}");
    assert_eq!(a, b);
}
