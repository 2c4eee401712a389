//! Integration tests of dpc-predictors.

mod adaptive;
mod classic;
mod ensemble;
mod parity;
mod props;

use dpc_core::{AccessPredictor, PredictContext};
use std::time::Duration;

/// Feeds `history` to the predictor (observe each key) and returns its prediction at the last key, sorted by
/// descending score. Latency 2 ms and interval 1 ms: a lookahead of 2, like the replay defaults.
pub fn run<K: Clone + 'static>(p: &mut dyn AccessPredictor<K>, history: &[K]) -> Vec<(K, f64)> {
    for k in history {
        p.observe(k);
    }
    predict(p, history)
}

/// Asks for a prediction at the last key of `history` without observing anything.
pub fn predict<K: Clone + 'static>(p: &mut dyn AccessPredictor<K>, history: &[K]) -> Vec<(K, f64)> {
    let tail = &history[history.len().saturating_sub(30)..];
    let ctx = PredictContext::new(tail.last().expect("non-empty history"), tail)
        .capacity(Some(512))
        .max_prefetch(20)
        .workers(4)
        .load_latency(Some(Duration::from_millis(2)))
        .request_interval(Some(Duration::from_millis(1)));
    let mut out = Vec::new();
    p.predict(&ctx, &mut out);
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// The score of `key` in a prediction, 0 if absent.
pub fn score_of<K: PartialEq>(pred: &[(K, f64)], key: &K) -> f64 {
    pred.iter().find(|(k, _)| k == key).map_or(0.0, |(_, s)| *s)
}
