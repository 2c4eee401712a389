//! The self-weighting ensemble, the default predictor (`auto`).

use dpc_core::{AccessPredictor, PredictContext};

use crate::scores::Scores;
use crate::{DeltaMarkov, Markov, OffsetKey, Stride};

/// Merges several predictors, weighting each by how well it has predicted lately.
///
/// After every prediction, the next request is checked against each member's scores: the score the member
/// gave that key (clamped to [0, 1], 0 if it did not predict it) is its reward, and the member's weight is an
/// exponential moving average of its rewards (rate `learning_rate`, starting at 0.5). A key's score is the
/// weighted mean of its members' scores, `sum(w_m * s_m) / sum(w_m)`; members whose weight fell below
/// `min_weight` are left out entirely, so a predictor that keeps missing stops costing loads.
///
/// Members should score like probabilities (in (0, 1]), as every adaptive and classic predictor of this
/// crate does except [`Sequential`](crate::Sequential); the parity predictors score up to about 10.
///
/// [`Ensemble::auto`] is the default predictor: [`DeltaMarkov`] (learned jumps), [`Stride`] (cursors,
/// growing windows) and [`Markov`] (learned successors, any key). On string keys only the Markov member
/// predicts; the others stay silent and lose their weight.
pub struct Ensemble<K> {
    members: Vec<Member<K>>,
    learning_rate: f64,
    min_weight: f64,
    scores: Scores<K>,
}

struct Member<K> {
    predictor: Box<dyn AccessPredictor<K>>,
    weight: f64,
    /// The member's latest prediction, for its reward at the next request.
    last: Vec<(K, f64)>,
    fresh: bool,
}

impl<K: 'static> std::fmt::Debug for Ensemble<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<(&str, f64)> = self.members.iter().map(|m| (m.predictor.name(), m.weight)).collect();
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
        Ensemble { members: Vec::new(), learning_rate: 0.05, min_weight: 0.02, scores: Scores::new() }
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
        self.members.push(Member { predictor: Box::new(predictor), weight: 0.5, last: Vec::new(), fresh: false });
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

    /// Each member's name and current weight, in the order they were added.
    pub fn weights(&self) -> Vec<(&str, f64)> {
        self.members.iter().map(|m| (m.predictor.name(), m.weight)).collect()
    }
}

impl<K: OffsetKey> AccessPredictor<K> for Ensemble<K> {
    fn observe(&mut self, key: &K) {
        let rate = self.learning_rate;
        for m in &mut self.members {
            if m.fresh {
                let reward =
                    m.last.iter().filter(|(k, _)| k == key).map(|(_, s)| *s).fold(0.0, f64::max).clamp(0.0, 1.0);
                m.weight += rate * (reward - m.weight);
                m.fresh = false;
            }
            m.predictor.observe(key);
        }
    }

    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
        // Every member predicts (so that its reward stays measured), but only the weighty ones count.
        let total: f64 = self.members.iter().map(|m| m.weight).filter(|&w| w >= self.min_weight).sum();
        for m in &mut self.members {
            m.last.clear();
            m.predictor.predict(ctx, &mut m.last);
            m.last.retain(|(_, s)| s.is_finite() && *s > 0.0);
            m.fresh = true;
            if m.weight >= self.min_weight && total > 0.0 {
                let w = m.weight / total;
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
    }

    fn name(&self) -> &str {
        "auto"
    }
}
