//! Ports of the three predictors of the Python original (`dynamic-prefetching-cache` 0.1.2),
//! parameter for parameter and score for score.
//!
//! Each has `get_likelihoods(current, history)` on `i64` keys, exactly like the Python method
//! (`history` is oldest first and its last element is `current`, like the Python deque),
//! and implements [`AccessPredictor`] for every [`OffsetKey`]: keys are converted to `i64`,
//! scored, and converted back; a key the type cannot hold (a negative frame for `u64`) is dropped,
//! as the Python cache's provider would have filtered it. Non-integer keys get no predictions.
//!
//! Keys the arithmetic would push past `i64` (Python has unbounded integers) are not scored.
//!
//! Scores are not probabilities (they reach about 10), but they are a fixed function of the position,
//! so they compare across calls as the cache's eviction requires.

use std::collections::BTreeMap;

use dpc_core::{AccessPredictor, PredictContext};

use crate::OffsetKey;

/// Scores every key within `max_span` of the current one by `1 / (distance + 1) ^ decay`, current included.
#[derive(Clone, Debug)]
pub struct DistanceDecayPredictor {
    /// Keys further than this from the current one are not scored. Python default 60.
    pub max_span: i64,
    /// The decay exponent. Python default 1.5.
    pub decay: f64,
}

impl Default for DistanceDecayPredictor {
    fn default() -> Self {
        DistanceDecayPredictor { max_span: 60, decay: 1.5 }
    }
}

impl DistanceDecayPredictor {
    /// The Python `get_likelihoods`: scores by key.
    pub fn get_likelihoods(&self, current: i64, _history: &[i64]) -> BTreeMap<i64, f64> {
        (-self.max_span..=self.max_span)
            .filter_map(|d| Some((current.checked_add(d)?, 1.0 / (d.unsigned_abs() as f64 + 1.0).powf(self.decay))))
            .collect()
    }
}

/// Forward bias `forward_bias / i^0.8` over `max_span` keys ahead, a weak backward bias `0.3 / i^1.2` over
/// `max_span / 2` keys behind (never below key 0), and the first nine keys ahead boosted by 1.5 after a
/// forward step.
#[derive(Clone, Debug)]
pub struct DynamicDistanceDecayPredictor {
    /// The forward numerator. Python default 2.0.
    pub forward_bias: f64,
    /// Keys ahead scored; half as many behind. Python default 25.
    pub max_span: i64,
}

impl Default for DynamicDistanceDecayPredictor {
    fn default() -> Self {
        DynamicDistanceDecayPredictor { forward_bias: 2.0, max_span: 25 }
    }
}

impl DynamicDistanceDecayPredictor {
    /// The Python `get_likelihoods`: scores by key.
    pub fn get_likelihoods(&self, current: i64, history: &[i64]) -> BTreeMap<i64, f64> {
        let mut scores = BTreeMap::new();
        for i in 1..=self.max_span {
            let Some(key) = current.checked_add(i) else { break };
            scores.insert(key, self.forward_bias / (i as f64).powf(0.8));
        }
        for i in 1..=self.max_span.div_euclid(2).min(current) {
            scores.insert(current - i, 0.3 / (i as f64).powf(1.2));
        }
        if let [.., a, b] = history
            && b > a
        {
            for i in 1..10 {
                if let Some(s) = current.checked_add(i).and_then(|k| scores.get_mut(&k)) {
                    *s *= 1.5;
                }
            }
        }
        scores
    }
}

/// The Python original's video predictor: additive forward and backward biases, exact jump targets,
/// proximity to jump targets, and a boost of the keys just ahead after a forward streak.
///
/// `DynamicDataPredictor::new(vec![-15, -5, -1, 5, 15, 30])` is the Python documentation's video setup,
/// the `python` predictor of the replay benchmark.
#[derive(Clone, Debug)]
pub struct DynamicDataPredictor {
    /// Relative offsets the user can jump by.
    pub possible_jumps: Vec<i64>,
    /// Forward numerator: `forward_bias / d^forward_exp`. Default 2.0.
    pub forward_bias: f64,
    /// Backward numerator: `backward_bias / d^backward_exp`. Default 0.3.
    pub backward_bias: f64,
    /// Added to each exact jump target. Default 5.0.
    pub jump_boost: f64,
    /// Added to keys near a jump target: `proximity_boost / (|offset| + 1)`. Default 2.0.
    pub proximity_boost: f64,
    /// Multiplies the first ten keys ahead after two forward steps. Default 2.0.
    pub history_boost: f64,
    /// Keys ahead scored; half as many behind. Default 30.
    pub max_span: i64,
    /// Forward exponent. Default 0.8.
    pub forward_exp: f64,
    /// Backward exponent. Default 1.2.
    pub backward_exp: f64,
    /// How far around a jump target the proximity term reaches. Default 5.
    pub proximity_range: i64,
    /// Total number of keys, if known: keys outside `[0, length)` are not scored. Default none.
    pub length: Option<i64>,
}

impl DynamicDataPredictor {
    /// The Python defaults with the given jump set.
    pub fn new(possible_jumps: Vec<i64>) -> Self {
        DynamicDataPredictor {
            possible_jumps,
            forward_bias: 2.0,
            backward_bias: 0.3,
            jump_boost: 5.0,
            proximity_boost: 2.0,
            history_boost: 2.0,
            max_span: 30,
            forward_exp: 0.8,
            backward_exp: 1.2,
            proximity_range: 5,
            length: None,
        }
    }

    /// The Python documentation's video setup: jumps `[-15, -5, -1, 5, 15, 30]`.
    pub fn video() -> Self {
        DynamicDataPredictor::new(vec![-15, -5, -1, 5, 15, 30])
    }

    fn in_range(&self, frame: i64) -> bool {
        frame >= 0 && self.length.is_none_or(|len| frame < len)
    }

    /// The Python `get_likelihoods`: scores by key.
    pub fn get_likelihoods(&self, current: i64, history: &[i64]) -> BTreeMap<i64, f64> {
        let mut scores: BTreeMap<i64, f64> = BTreeMap::new();
        for d in 1..=self.max_span {
            let Some(f) = current.checked_add(d) else { break };
            if self.in_range(f) {
                *scores.entry(f).or_default() += self.forward_bias / (d as f64).powf(self.forward_exp);
            }
        }
        // As in Python, the backward span is not clipped by `length`, only by key 0.
        for d in 1..=self.max_span.div_euclid(2).min(current) {
            *scores.entry(current - d).or_default() += self.backward_bias / (d as f64).powf(self.backward_exp);
        }
        for &j in &self.possible_jumps {
            if let Some(target) = current.checked_add(j)
                && self.in_range(target)
            {
                *scores.entry(target).or_default() += self.jump_boost;
            }
        }
        for &j in &self.possible_jumps {
            let Some(target) = current.checked_add(j).filter(|&t| self.in_range(t)) else { continue };
            for off in -self.proximity_range..=self.proximity_range {
                let Some(f) = target.checked_add(off) else { continue };
                if off != 0 && self.in_range(f) {
                    *scores.entry(f).or_default() += self.proximity_boost / (off.unsigned_abs() as f64 + 1.0);
                }
            }
        }
        if let [.., a, b, c] = history
            && a < b
            && b < c
        {
            for d in 1..=self.max_span.min(10) {
                if let Some(s) = current.checked_add(d).and_then(|k| scores.get_mut(&k)) {
                    *s *= self.history_boost;
                }
            }
        }
        scores
    }
}

macro_rules! parity_predictor {
    ($t:ty, $name:literal) => {
        impl<K: OffsetKey> AccessPredictor<K> for $t {
            fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
                let Some(current) = ctx.current.to_i64() else { return };
                let history: Vec<i64> = ctx.history.iter().filter_map(OffsetKey::to_i64).collect();
                for (key, score) in self.get_likelihoods(current, &history) {
                    // Keys the type cannot hold (negative frames for u64) do not exist: drop them.
                    if let Some(key) = K::from_i64(key) {
                        out.push((key, score));
                    }
                }
            }

            fn name(&self) -> &str {
                $name
            }
        }
    };
}

parity_predictor!(DistanceDecayPredictor, "distance-decay");
parity_predictor!(DynamicDistanceDecayPredictor, "dynamic-distance-decay");
parity_predictor!(DynamicDataPredictor, "python");
