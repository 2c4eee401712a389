//! The classic strategies of the prefetching literature: sequential lookahead, Markov successors
//! (first order, or second order for user sessions), and a weighted combinator.

use dpc_core::{AccessPredictor, PredictContext};

use crate::OffsetKey;
use crate::scores::{Counts, HashMap, Scores};

/// Sequential lookahead: the next `depth` keys after the current one, scored `1 / distance`.
///
/// Without a fixed depth it looks `2 * lookahead + 2` keys ahead (at least 4), where `lookahead` is the
/// cache's measured load latency over request interval. Integer keys only; strings get no predictions.
#[derive(Clone, Debug, Default)]
pub struct Sequential {
    depth: Option<usize>,
}

impl Sequential {
    /// A fixed depth instead of the measured one.
    pub fn with_depth(depth: usize) -> Self {
        Sequential { depth: Some(depth) }
    }
}

impl<K: OffsetKey> AccessPredictor<K> for Sequential {
    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
        let depth = self.depth.unwrap_or_else(|| crate::window(ctx));
        for d in 1..=depth {
            let Some(key) = ctx.current.offset(d as i64) else { break };
            out.push((key, 1.0 / d as f64));
        }
    }

    fn name(&self) -> &str {
        "sequential"
    }
}

/// Learned successor counts on any key: after `a`, how often did `b` come next?
///
/// The scores are the chance that a key is requested within the next `steps` requests, following the
/// learned transitions (`steps` defaults to the cache's lookahead plus one), each step's chance discounted by
/// 0.8 per step ahead so that keys needed sooner rank first, and keys below `threshold` are not predicted. With [`order(2)`](Self::order) the first step is conditioned on the last two keys
/// (a user's session transitions: what they do after going from `a` to `b`), backing off to the last key
/// while a pair has been seen only once.
///
/// The most requested keys are also predicted at a low score (see [`popular`](Self::popular)), so that a small
/// cache keeps them rather than keys nobody predicts.
#[derive(Debug)]
pub struct Markov<K> {
    order: usize,
    threshold: f64,
    steps: Option<usize>,
    max_successors: usize,
    max_keys: usize,
    first: HashMap<K, Counts<K>>,
    second: HashMap<(K, K), Counts<K>>,
    prev: Option<K>,
    prev2: Option<K>,
    scores: Scores<K>,
    frontier: Vec<(K, f64)>,
    next: Scores<K>,
    /// The most requested keys lately (space-saving counters), kept resident at a low score.
    hot: Vec<(K, f64)>,
    hot_len: usize,
}

impl<K: OffsetKey> Default for Markov<K> {
    fn default() -> Self {
        Markov {
            order: 1,
            threshold: 0.1,
            steps: None,
            max_successors: 16,
            max_keys: 65_536,
            first: HashMap::default(),
            second: HashMap::default(),
            prev: None,
            prev2: None,
            scores: Scores::new(),
            frontier: Vec::new(),
            next: Scores::new(),
            hot: Vec::new(),
            hot_len: 48,
        }
    }
}

impl<K: OffsetKey> Markov<K> {
    /// First order, threshold 0.1, steps from the measured lookahead, 16 successors per key.
    pub fn new() -> Self {
        Self::default()
    }

    /// A second-order model of user sessions (see the type's documentation).
    pub fn session() -> Self {
        Self::default().order(2)
    }

    /// 1 (the last key decides) or 2 (the last two keys decide the first step). Other values are clamped.
    #[must_use]
    pub fn order(mut self, order: usize) -> Self {
        self.order = order.clamp(1, 2);
        self
    }

    /// The smallest chance still predicted, in (0, 1].
    #[must_use]
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold.clamp(1e-6, 1.0);
        self
    }

    /// Follows the transitions this many steps instead of the measured lookahead plus one.
    #[must_use]
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = Some(steps.max(1));
        self
    }

    /// How many successors are remembered per key (the rarest is replaced). Default 16.
    #[must_use]
    pub fn max_successors(mut self, n: usize) -> Self {
        self.max_successors = n.max(1);
        self
    }

    /// How many of the most requested keys are also predicted, at a low score (0.05 for the most popular,
    /// less for the others, combined with any learned chance as "at least once"), so that they stay resident
    /// in preference to keys nobody predicts and are fetched when nothing likelier is. Keys must have been seen
    /// twice. Default 48, and never more than 3/4 of the cache's capacity; 0 disables it.
    #[must_use]
    pub fn popular(mut self, n: usize) -> Self {
        self.hot_len = n;
        self.hot.clear();
        self
    }

    /// At most this many keys (and, for order 2, pairs) keep successor counts; past it the keys seen only
    /// once are forgotten, or everything if that is not enough, so memory stays bounded on endless streams
    /// of new keys. Default 65 536.
    #[must_use]
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n.max(16);
        self
    }

    /// How many keys (first order) have learned successors now.
    pub fn learned_keys(&self) -> usize {
        self.first.len()
    }

    /// The learned probability that `next` follows `key` (first order).
    pub fn probability(&self, key: &K, next: &K) -> f64 {
        self.first.get(key).map_or(0.0, |c| if c.total() > 0.0 { c.count(next) / c.total() } else { 0.0 })
    }

    fn first_step(&self, current: &K, out: &mut Scores<K>) {
        let one = self.first.get(current);
        let two = if self.order >= 2 {
            self.prev2.clone().and_then(|p| self.second.get(&(p, current.clone())))
        } else {
            None
        };
        match (one, two) {
            (Some(one), Some(two)) if two.total() >= 2.0 => {
                // Dirichlet back-off: the pair's counts with one pseudo-observation spread like the first order.
                for (k, c) in two.items() {
                    out.add(k.clone(), c / (two.total() + 1.0));
                }
                for (k, c) in one.items() {
                    out.add(k.clone(), c / one.total() / (two.total() + 1.0));
                }
            }
            (Some(one), _) => {
                for (k, c) in one.items() {
                    out.add(k.clone(), c / one.total());
                }
            }
            _ => {}
        }
    }
}

impl<K: OffsetKey> AccessPredictor<K> for Markov<K> {
    fn observe(&mut self, key: &K) {
        let cap = self.max_successors;
        if let Some(prev) = &self.prev {
            self.first.entry(prev.clone()).or_insert_with(Counts::new).add(key.clone(), cap, 4096.0);
            if self.order >= 2
                && let Some(prev2) = &self.prev2
            {
                let ctx = (prev2.clone(), prev.clone());
                self.second.entry(ctx).or_insert_with(Counts::new).add(key.clone(), cap, 4096.0);
            }
        }
        self.prev2 = self.prev.replace(key.clone());
        self.count_hot(key);
        let max = self.max_keys;
        bound(&mut self.first, max);
        bound(&mut self.second, max);
    }

    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
        // `observe` has seen `current` already, so `prev` is the current key and `prev2` the one before.
        let steps = self.steps.unwrap_or_else(|| ctx.lookahead() + 1).min(8);
        let floor = self.threshold / 4.0;
        // A key reached `s` steps ahead counts `URGENCY^(s-1)` of its chance: the cache loads in score order, so
        // of two equally likely keys the one needed sooner must rank first.
        let mut urgency = 1.0;
        let mut next = std::mem::replace(&mut self.next, Scores::new());
        next.clear();
        self.first_step(ctx.current, &mut next);
        for step in 0..steps {
            self.frontier.clear();
            self.frontier.extend(next.iter().filter(|&(_, p)| p >= floor).map(|(k, p)| (k.clone(), p)));
            next.clear();
            // Keep the frontier small: the 16 likeliest states.
            self.frontier.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
            self.frontier.truncate(16);
            for (k, p) in &self.frontier {
                self.scores.add_chance(k.clone(), *p * urgency);
            }
            urgency *= URGENCY;
            if step + 1 == steps {
                break;
            }
            for (k, p) in &self.frontier {
                if let Some(c) = self.first.get(k) {
                    for (n, count) in c.items() {
                        next.add(n.clone(), p * count / c.total());
                    }
                }
            }
        }
        self.next = next;
        // The popular keys add a score under any real prediction: they stay resident in preference to keys
        // nobody predicts, are fetched when there is nothing likelier to fetch, and a predicted key that is also
        // popular ranks above an equally likely one that is not.
        self.scores.retain_at_least(self.threshold);
        if let Some(max) = self.hot.iter().map(|(_, c)| *c).reduce(f64::max) {
            let n = self.hot_len.min(ctx.capacity.map_or(usize::MAX, |c| c * 3 / 4));
            let mut hot: Vec<&(K, f64)> = self.hot.iter().filter(|(_, c)| *c >= 2.0).collect();
            if hot.len() > n && n > 0 {
                hot.select_nth_unstable_by(n - 1, |a, b| b.1.total_cmp(&a.1));
            }
            // A key seen once is not popular (on random keys this predicts nothing).
            for (k, c) in hot.into_iter().take(n) {
                self.scores.add_chance(k.clone(), HOT_SCORE * c / max);
            }
        }
        self.scores.drain_into(f64::MIN_POSITIVE, out);
    }

    fn name(&self) -> &str {
        if self.order >= 2 { "session" } else { "markov" }
    }
}

/// How much less a key counts per step farther ahead it is reached (see [`Markov`]). Measured in the cache
/// model (markov family, 4 seeds, capacity 64; worst seed at 2/1 and 8/1 ms, and the sample trace): 1.0 (no
/// discount) 0.565, 0.420, 0.6943; 0.9 0.572, 0.424, 0.6970; 0.8 0.575, 0.421, 0.6956; 0.7 0.576, 0.419, 0.6942;
/// 0.5 0.573, 0.414.
const URGENCY: f64 = 0.8;

/// The score of the most popular key (see [`Markov`]); under any threshold-passing prediction.
const HOT_SCORE: f64 = 0.05;

impl<K: OffsetKey> Markov<K> {
    /// Space-saving heavy hitters: a request of a counted key adds one; an uncounted key replaces the smallest
    /// counter (inheriting its count, plus one). Counts halve past 1024 requests so popularity follows the workload.
    fn count_hot(&mut self, key: &K) {
        if self.hot_len == 0 {
            return;
        }
        if let Some(e) = self.hot.iter_mut().find(|(k, _)| k == key) {
            e.1 += 1.0;
        } else if self.hot.len() < 4 * self.hot_len {
            self.hot.push((key.clone(), 1.0));
        } else if let Some(min) = self.hot.iter_mut().min_by(|a, b| a.1.total_cmp(&b.1)) {
            *min = (key.clone(), min.1 + 1.0);
        }
        if self.hot.iter().map(|(_, c)| c).sum::<f64>() > 2048.0 {
            self.hot.iter_mut().for_each(|e| e.1 /= 2.0);
        }
    }
}

/// Keeps a table of successor counts under `max` contexts: forgets the contexts seen once, then all.
fn bound<C: std::hash::Hash + Eq, T: PartialEq + Clone>(table: &mut HashMap<C, Counts<T>>, max: usize) {
    if table.len() > max {
        table.retain(|_, c| c.total() >= 2.0);
        if table.len() > max * 3 / 4 {
            table.clear();
        }
    }
}

/// Merges several predictors with fixed weights: a key's score is the weighted sum of its members' scores.
///
/// Every member observes every request. For weights that adapt to which member has been right, use
/// [`Ensemble`](crate::Ensemble).
pub struct Weighted<K> {
    members: Vec<(Box<dyn AccessPredictor<K>>, f64)>,
    scratch: Vec<(K, f64)>,
    scores: Scores<K>,
}

impl<K: 'static> std::fmt::Debug for Weighted<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<(&str, f64)> = self.members.iter().map(|(p, w)| (p.name(), *w)).collect();
        f.debug_struct("Weighted").field("members", &members).finish()
    }
}

impl<K: OffsetKey> Default for Weighted<K> {
    fn default() -> Self {
        Weighted { members: Vec::new(), scratch: Vec::new(), scores: Scores::new() }
    }
}

impl<K: OffsetKey> Weighted<K> {
    /// No members yet: predicts nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a member with its weight (negative and non-finite weights count as 0).
    #[must_use]
    pub fn with(mut self, predictor: impl AccessPredictor<K>, weight: f64) -> Self {
        let weight = if weight.is_finite() { weight.max(0.0) } else { 0.0 };
        self.members.push((Box::new(predictor), weight));
        self
    }
}

impl<K: OffsetKey> AccessPredictor<K> for Weighted<K> {
    fn observe(&mut self, key: &K) {
        for (p, _) in &mut self.members {
            p.observe(key);
        }
    }

    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
        for (p, w) in &mut self.members {
            self.scratch.clear();
            p.predict(ctx, &mut self.scratch);
            for (k, s) in self.scratch.drain(..) {
                if s.is_finite() && s > 0.0 {
                    self.scores.add(k, *w * s);
                }
            }
        }
        self.scores.drain_into(f64::MIN_POSITIVE, out);
    }

    fn name(&self) -> &str {
        "weighted"
    }
}
