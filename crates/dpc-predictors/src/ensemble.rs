//! The self-weighting ensemble, the default predictor (`auto`).

use dpc_core::{AccessPredictor, PredictContext};

use crate::scores::Scores;
use crate::{DeltaMarkov, Markov, OffsetKey, Stride};

/// Merges several predictors, weighting each by how well it has predicted lately.
///
/// After every prediction, the next request is checked against each member's scores: the score the member
/// gave that key (clamped to [0, 1], 0 if it did not predict it) is its reward, and the member's weight is an
/// exponential moving average of its rewards (rate `learning_rate`, starting at 0.5), kept apart for
/// predictions made after a far step (more than 32 keys: a jump, a seek) and after any other step, since the
/// member that knows what follows a jump is not the one that follows a cursor. A key's score is the
/// weighted mean of its members' scores, `sum(w_m * s_m) / sum(w_m)`; members whose weight fell below
/// `min_weight` are left out entirely, so a predictor that keeps missing stops costing loads.
///
/// Members should score like probabilities (in (0, 1]), as every adaptive and classic predictor of this
/// crate does except [`Sequential`](crate::Sequential); the parity predictors score up to about 10.
///
/// When the workers cannot keep up (fewer than 1.5 loads per request: `workers * request
/// interval / load latency`, from the [`PredictContext`]), the ensemble keeps, on integer keys, only its
/// `2 * workers` best keys per place the user is at (keys within 32 of each other among the last 8 requests are
/// one place), not counting keys requested lately (they are resident anyway): see
/// [`bandwidth_budget`](Self::bandwidth_budget).
///
/// [`Ensemble::auto`] is the default predictor: [`DeltaMarkov`] (learned jumps), [`Stride`] (cursors,
/// growing windows) and [`Markov`] (learned successors, any key). On string keys only the Markov member
/// predicts; the others stay silent and lose their weight.
pub struct Ensemble<K> {
    members: Vec<Member<K>>,
    learning_rate: f64,
    min_weight: f64,
    scores: Scores<K>,
    /// The context of the next prediction (see [`Context`]), and the one the members' latest predictions were
    /// made in.
    context: usize,
    predicted_in: usize,
    prev: Option<i64>,
    budget: bool,
    /// The scratch list of the keys a prediction keeps under the bandwidth budget.
    ranked: Vec<(K, f64)>,
}

/// Under this many loads per request (`workers * request interval / load latency`) the workers cannot keep up with
/// the user and the bandwidth budget applies (see [`Ensemble::bandwidth_budget`]). At 2 ms loads and 1 ms between
/// requests with 4 workers there are 2 and the budget stays off; at 8 ms there is 0.5 (about 1 as measured, since
/// the stalls stretch the interval). 1.25 and 1.8 left `seeks` and `annotate` worse at 8 ms / 1 ms in the cache model.
const SHORT_BANDWIDTH: f64 = 1.5;

/// Keys kept per place under the bandwidth budget, in units of the worker count: what the workers can start now and
/// once more before the next prediction replaces the queue. Measured in the cache model at 8 ms / 1 ms (12 seeds per
/// family): 1 left the `annotate` median under the one without the budget (0.828 against 0.840); 2.5 and 3 gave
/// back most of the gain on `seeks` and `annotate`.
const PER_PLACE: usize = 2;

/// How many of the latest requests count the places the user is at.
const PLACES_RECENT: usize = 8;

/// The kind of step that led to the current key, on integer keys: the weights are kept apart per kind.
///
/// After a far move (a jump, a seek, a big scrubbing step) the members that know best are not the ones that
/// are right while a cursor keeps going: stride streams are right while a stream continues, learned deltas
/// after a jump. String keys have one context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    /// A step of at most [`FAR`] keys (or the first request, or a string key).
    Near = 0,
    /// A step of more than [`FAR`] keys.
    Far = 1,
}

const CONTEXTS: usize = 2;

/// Steps longer than this (in keys) are far. Measured on the families in the cache model: 8 left the
/// fast-forward family 0.0006 worse at 8 ms / 1 ms (its ±15 and +30 jumps became far); 32 made no family
/// worse and scrubbing 0.009 better.
const FAR: i64 = 32;

struct Member<K> {
    predictor: Box<dyn AccessPredictor<K>>,
    /// The member's weight in each [`Context`].
    weights: [f64; CONTEXTS],
    /// The member's latest prediction, for its reward at the next request.
    last: Vec<(K, f64)>,
    fresh: bool,
}

impl<K: 'static> std::fmt::Debug for Ensemble<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<(&str, [f64; CONTEXTS])> =
            self.members.iter().map(|m| (m.predictor.name(), m.weights)).collect();
        f.debug_struct("Ensemble").field("members", &members).field("learning_rate", &self.learning_rate).finish()
    }
}

impl<K: OffsetKey> Default for Ensemble<K> {
    /// [`Ensemble::auto`].
    fn default() -> Self {
        Self::auto()
    }
}

impl<K: OffsetKey> Ensemble<K> {
    /// An ensemble without members (predicts nothing until [`with`](Self::with) adds some).
    pub fn empty() -> Self {
        Ensemble {
            members: Vec::new(),
            learning_rate: 0.05,
            min_weight: 0.02,
            scores: Scores::new(),
            context: Context::Near as usize,
            predicted_in: Context::Near as usize,
            prev: None,
            budget: true,
            ranked: Vec::new(),
        }
    }

    /// The default predictor: delta transitions, stride streams and Markov successors.
    pub fn auto() -> Self {
        let mut e = Self::empty().with(Markov::new());
        if K::INTEGER {
            e = e.with(DeltaMarkov::new()).with(Stride::new());
        }
        e
    }

    /// Adds a member.
    #[must_use]
    pub fn with(mut self, predictor: impl AccessPredictor<K>) -> Self {
        self.members.push(Member {
            predictor: Box::new(predictor),
            weights: [0.5; CONTEXTS],
            last: Vec::new(),
            fresh: false,
        });
        self
    }

    /// How fast weights follow the members' recent rewards, in (0, 1]. Default 0.05 (about 20 requests).
    #[must_use]
    pub fn learning_rate(mut self, rate: f64) -> Self {
        self.learning_rate = rate.clamp(1e-4, 1.0);
        self
    }

    /// Members weighing less are ignored until they recover. Default 0.02.
    #[must_use]
    pub fn min_weight(mut self, w: f64) -> Self {
        self.min_weight = w.clamp(0.0, 1.0);
        self
    }

    /// Whether to spend short bandwidth on the best keys only (default on).
    ///
    /// When the workers give fewer than 1.5 loads per request, every load of a key that is not
    /// needed holds a worker that the next frames will wait for, and when the user jumps, the loads still running
    /// for the old position delay the new one's. With the budget on, a prediction keeps only the `2 * workers` best
    /// keys per place the user is at, not counting keys among the latest requests (on integer keys; string keys are
    /// never cut). In the cache model at 8 ms loads and 1 ms think this raised the worst member of every navigation
    /// family (`seeks` 0.816 to 0.840, `annotate` 0.754 to 0.773, `fastforward` 0.931 to 0.938, `scrub` 0.878 to
    /// 0.890) and changed nothing at 2 ms / 1 ms, where the budget is off.
    #[must_use]
    pub fn bandwidth_budget(mut self, on: bool) -> Self {
        self.budget = on;
        self
    }

    /// Each member's name and its weight in the current context (the kind of the latest step), in the order
    /// they were added.
    pub fn weights(&self) -> Vec<(&str, f64)> {
        self.members.iter().map(|m| (m.predictor.name(), m.weights[self.context])).collect()
    }

    /// The context of the step to `key`.
    fn step_context(&mut self, key: &K) -> usize {
        let Some(x) = key.to_i64() else { return Context::Near as usize };
        let delta = self.prev.and_then(|p| x.checked_sub(p));
        self.prev = Some(x);
        let context = match delta {
            Some(d) if d.unsigned_abs() > FAR as u64 => Context::Far,
            _ => Context::Near,
        };
        context as usize
    }
}

impl<K: OffsetKey> Ensemble<K> {
    /// Keeps in `out[start..]` the best keys until `keep` of them are not in `recent`.
    fn keep_best(&mut self, recent: &[K], keep: usize, out: &mut Vec<(K, f64)>, start: usize) {
        // At most `keep + recent.len()` keys can be kept: rank only those.
        let tail = &mut out[start..];
        let m = (keep + recent.len()).min(tail.len());
        if m == 0 {
            return;
        }
        if m < tail.len() {
            tail.select_nth_unstable_by(m - 1, |a, b| b.1.total_cmp(&a.1));
        }
        tail[..m].sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        self.ranked.clear();
        let mut fresh = 0;
        for (k, s) in &tail[..m] {
            if !recent.contains(k) {
                if fresh == keep {
                    break;
                }
                fresh += 1;
            }
            self.ranked.push((k.clone(), *s));
        }
        out.truncate(start);
        out.append(&mut self.ranked);
    }
}

/// Loads the workers can make per request: `workers * request interval / load latency`; infinite until both are
/// measured.
fn loads_per_request<K>(ctx: &PredictContext<'_, K>) -> f64 {
    match (ctx.load_latency, ctx.request_interval) {
        (Some(latency), Some(interval)) if !latency.is_zero() => {
            ctx.workers as f64 * interval.as_secs_f64() / latency.as_secs_f64()
        }
        _ => f64::INFINITY,
    }
}

/// The places the latest `recent` requests are at: keys within [`FAR`] of each other are one place (at least 1;
/// string keys are one place).
fn places<K: OffsetKey>(history: &[K], recent: usize) -> usize {
    let mut places: Vec<i64> = Vec::new();
    for k in history.iter().rev().take(recent) {
        let Some(x) = k.to_i64() else { return 1 };
        if !places.iter().any(|p| p.abs_diff(x) <= FAR as u64) {
            places.push(x);
        }
    }
    places.len().max(1)
}

impl<K: OffsetKey> AccessPredictor<K> for Ensemble<K> {
    fn observe(&mut self, key: &K) {
        let rate = self.learning_rate;
        let c = self.predicted_in;
        for m in &mut self.members {
            if m.fresh {
                let reward =
                    m.last.iter().filter(|(k, _)| k == key).map(|(_, s)| *s).fold(0.0, f64::max).clamp(0.0, 1.0);
                m.weights[c] += rate * (reward - m.weights[c]);
                m.fresh = false;
            }
            m.predictor.observe(key);
        }
        self.context = self.step_context(key);
    }

    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
        // Every member predicts (so that its reward stays measured), but only the weighty ones count.
        let c = self.context;
        self.predicted_in = c;
        let weight = |m: &Member<K>| m.weights[c];
        let total: f64 = self.members.iter().map(weight).filter(|&w| w >= self.min_weight).sum();
        let min_weight = self.min_weight;
        for m in &mut self.members {
            let wm = weight(m);
            m.last.clear();
            m.predictor.predict(ctx, &mut m.last);
            m.last.retain(|(_, s)| s.is_finite() && *s > 0.0);
            m.fresh = true;
            if wm >= min_weight && total > 0.0 {
                let w = wm / total;
                for (k, s) in &m.last {
                    self.scores.add(k.clone(), w * s.min(1.0));
                }
            }
        }
        // A member naming a key twice (two stride streams) could push its sum past 1.
        let start = out.len();
        self.scores.drain_into(1e-4, out);
        for (_, s) in &mut out[start..] {
            *s = s.min(1.0);
        }
        if self.budget && K::INTEGER && loads_per_request(ctx) < SHORT_BANDWIDTH {
            let keep = PER_PLACE * ctx.workers.max(1) * places(ctx.history, PLACES_RECENT);
            self.keep_best(ctx.history, keep, out, start);
        }
    }

    fn name(&self) -> &str {
        "auto"
    }
}
