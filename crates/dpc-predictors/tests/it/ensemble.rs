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
