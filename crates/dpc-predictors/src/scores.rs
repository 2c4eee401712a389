//! A small accumulator of per-key scores shared by the predictors.

use std::hash::Hash;

/// The maps of the predictors: hashbrown with a fixed seed, so that iteration order, and with it every
/// tie-break, is the same in every run (a predictor is a deterministic function of what it observed).
pub(crate) type HashMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

/// Scores by key, merged either by sum or by "at least once" (`1 - (1 - a)(1 - b)`), reused across calls.
#[derive(Clone, Debug)]
pub(crate) struct Scores<K> {
    map: HashMap<K, f64>,
}

impl<K: Hash + Eq + Clone> Scores<K> {
    pub(crate) fn new() -> Self {
        Scores { map: HashMap::default() }
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    /// Combines independent chances that `key` is requested: the chance it is requested at least once.
    pub(crate) fn add_chance(&mut self, key: K, p: f64) {
        let s = self.map.entry(key).or_insert(0.0);
        *s = 1.0 - (1.0 - *s) * (1.0 - p.clamp(0.0, 1.0));
    }

    /// Adds `value` to the key's score.
    pub(crate) fn add(&mut self, key: K, value: f64) {
        *self.map.entry(key).or_insert(0.0) += value;
    }

    /// Forgets the scores under `min`.
    pub(crate) fn retain_at_least(&mut self, min: f64) {
        self.map.retain(|_, s| *s >= min);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, f64)> {
        self.map.iter().map(|(k, &v)| (k, v))
    }

    /// Moves every score of at least `min` into `out`.
    pub(crate) fn drain_into(&mut self, min: f64, out: &mut Vec<(K, f64)>) {
        out.extend(self.map.drain().filter(|&(_, s)| s >= min && s.is_finite()));
    }
}

/// Successor counts of one context, kept small: at most `cap` entries, the rarest replaced first,
/// and all counts halved when the total passes `halve_at` so that the table follows a changing workload.
#[derive(Clone, Debug)]
pub(crate) struct Counts<T> {
    items: Vec<(T, f64)>,
    total: f64,
}

impl<T: PartialEq + Clone> Counts<T> {
    pub(crate) fn new() -> Self {
        Counts { items: Vec::new(), total: 0.0 }
    }

    pub(crate) fn add(&mut self, value: T, cap: usize, halve_at: f64) {
        self.total += 1.0;
        if let Some(item) = self.items.iter_mut().find(|(v, _)| *v == value) {
            item.1 += 1.0;
        } else if self.items.len() < cap {
            self.items.push((value, 1.0));
        } else if let Some(rarest) = self.items.iter_mut().min_by(|a, b| a.1.total_cmp(&b.1)) {
            // The replaced entry's count stays in `total`: unseen mass, which keeps probabilities honest.
            *rarest = (value, 1.0);
        }
        if self.total > halve_at {
            self.total /= 2.0;
            for item in &mut self.items {
                item.1 /= 2.0;
            }
            self.items.retain(|(_, c)| *c >= 0.25);
        }
    }

    pub(crate) fn total(&self) -> f64 {
        self.total
    }

    pub(crate) fn count(&self, value: &T) -> f64 {
        self.items.iter().find(|(v, _)| v == value).map_or(0.0, |(_, c)| *c)
    }

    pub(crate) fn items(&self) -> &[(T, f64)] {
        &self.items
    }
}
