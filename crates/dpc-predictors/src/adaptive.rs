//! Adaptive predictors for integer keys that need no tuning: stride streams with a growing window,
//! the majority delta of the history, and learned next-delta transitions.

use hashbrown::HashMap;

use dpc_core::{AccessPredictor, PredictContext};

use crate::OffsetKey;
use crate::scores::{Counts, Scores};

/// Stride and direction detection on several streams at once, with a window that grows while the
/// predictions keep hitting (the Linux readahead idea).
///
/// A stream remembers its last key and its stride. A request equal to `last + stride` continues it and
/// doubles its window (up to `max_window`, default 32); a request near a stream (within `max_gap`) repositions it and
/// resets the window, and after two equal gaps adopts the new stride (so backward playback, stride -1,
/// and every-other-frame, stride 2, are found); a request far from every stream starts a new one that
/// inherits the stride of the stream used last as a guess: until it is confirmed the stream also looks the
/// other way at half weight, and its first step sets its stride. Up to `max_streams` streams are tracked (the least recently
/// used is replaced), so several cursors interleaved each keep their own stream.
///
/// Scores: `confidence * 0.85^(i-1)` for the key `i` strides ahead, where confidence is the stream's recent
/// rate of continuation, discounted for streams not touched lately. Integer keys only.
#[derive(Clone, Debug)]
pub struct Stride {
    max_streams: usize,
    initial_window: usize,
    max_window: usize,
    max_gap: i64,
    streams: Vec<Stream>,
    clock: u64,
    last_stride: i64,
}

#[derive(Clone, Debug)]
struct Stream {
    last: i64,
    stride: i64,
    pending: i64,
    window: usize,
    confidence: f64,
    touched: u64,
    /// Continuations seen; 0 means the stride is still a guess.
    hits: u32,
}

impl Default for Stride {
    fn default() -> Self {
        Stride {
            max_streams: 4,
            initial_window: 4,
            max_window: 32,
            max_gap: 8,
            streams: Vec::new(),
            clock: 0,
            last_stride: 1,
        }
    }
}

impl Stride {
    /// Four streams, windows from 4 to 32 keys, gaps up to 8 stay in a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many streams (cursors) are tracked at once. Default 4.
    #[must_use]
    pub fn max_streams(mut self, n: usize) -> Self {
        self.max_streams = n.max(1);
        self
    }

    /// The window's first and largest size, in keys. Defaults 4 and 32.
    #[must_use]
    pub fn window(mut self, initial: usize, max: usize) -> Self {
        self.initial_window = initial.max(1);
        self.max_window = max.max(self.initial_window);
        self
    }

    fn observe_i64(&mut self, x: i64) {
        self.clock += 1;
        let clock = self.clock;
        if let Some(s) = self.streams.iter_mut().find(|s| s.last.checked_add(s.stride) == Some(x)) {
            s.last = x;
            s.window = (s.window * 2).min(self.max_window);
            s.confidence = 0.9 * s.confidence + 0.1;
            s.touched = clock;
            s.hits = s.hits.saturating_add(1);
            self.last_stride = s.stride;
            return;
        }
        if let Some(s) = self.streams.iter_mut().find(|s| s.last == x) {
            s.touched = clock;
            return;
        }
        let near = self
            .streams
            .iter_mut()
            .filter_map(|s| {
                x.checked_sub(s.last).filter(|g| g.unsigned_abs() <= self.max_gap.unsigned_abs()).map(|g| (g, s))
            })
            .min_by_key(|(g, _)| g.unsigned_abs());
        if let Some((gap, s)) = near {
            // A guessed stride yields to the first step; a confirmed one to two equal steps.
            if s.hits == 0 || s.pending == gap {
                s.stride = gap;
            }
            s.pending = gap;
            s.last = x;
            s.window = self.initial_window;
            s.confidence *= 0.9;
            s.touched = clock;
            return;
        }
        let fresh = Stream {
            last: x,
            stride: self.last_stride,
            pending: 0,
            window: self.initial_window,
            confidence: 0.5,
            touched: clock,
            hits: 0,
        };
        if self.streams.len() < self.max_streams {
            self.streams.push(fresh);
        } else if let Some(oldest) = self.streams.iter_mut().min_by_key(|s| s.touched) {
            *oldest = fresh;
        }
    }
}

impl<K: OffsetKey> AccessPredictor<K> for Stride {
    fn observe(&mut self, key: &K) {
        if let Some(x) = key.to_i64() {
            self.observe_i64(x);
        }
    }

    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
        let floor = crate::window(ctx);
        for s in &self.streams {
            let age = self.clock - s.touched;
            if s.stride == 0 || age > 2 * self.max_streams as u64 {
                continue;
            }
            let weight = s.confidence * 0.8f64.powi(age as i32);
            let window = s.window.max(floor).min(self.max_window.max(floor));
            // A stream whose stride is still a guess (just opened by a jump) also looks the other way, at half
            // the weight: of two interleaved cursors, the one that jumped may run the other way.
            let directions: &[(i64, f64)] = if s.hits == 0 { &[(1, 1.0), (-1, 0.5)] } else { &[(1, 1.0)] };
            for &(sign, factor) in directions {
                let mut score = weight * factor;
                for i in 1..=window as i64 {
                    let Some(key) =
                        s.stride.checked_mul(i * sign).and_then(|d| s.last.checked_add(d)).and_then(K::from_i64)
                    else {
                        break;
                    };
                    out.push((key, score));
                    score *= 0.85;
                }
            }
        }
    }

    fn name(&self) -> &str {
        "stride"
    }
}

/// The majority delta of the recent history: if most steps were `+d`, predict `current + d`, `+2d`, ...
///
/// Robust to an occasional jump, since one odd step does not change the majority. Scores are `share^i` for
/// the key `i` steps ahead, where `share` is the majority's share of the history's steps (at least half,
/// or nothing is predicted). Integer keys only.
#[derive(Clone, Debug, Default)]
pub struct Trend {
    depth: Option<usize>,
    deltas: Vec<i64>,
}

impl Trend {
    /// Depth from the measured lookahead: `2 * lookahead + 2` keys, at least 4.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fixed depth instead.
    pub fn with_depth(depth: usize) -> Self {
        Trend { depth: Some(depth), deltas: Vec::new() }
    }
}

impl<K: OffsetKey> AccessPredictor<K> for Trend {
    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
        self.deltas.clear();
        self.deltas.extend(ctx.history.windows(2).filter_map(|w| w[1].delta(&w[0])).filter(|&d| d != 0));
        if self.deltas.is_empty() {
            return;
        }
        let n = self.deltas.len() as f64;
        self.deltas.sort_unstable();
        let (mut best, mut best_count, mut i) = (0, 0, 0);
        while i < self.deltas.len() {
            let j = self.deltas[i..].iter().position(|&d| d != self.deltas[i]).map_or(self.deltas.len(), |p| i + p);
            if j - i > best_count {
                (best, best_count) = (self.deltas[i], j - i);
            }
            i = j;
        }
        let share = best_count as f64 / n;
        if share < 0.5 {
            return;
        }
        let depth = self.depth.unwrap_or_else(|| crate::window(ctx));
        let mut score = share;
        for step in 1..=depth as i64 {
            let Some(key) = best.checked_mul(step).and_then(|d| ctx.current.offset(d)) else { break };
            out.push((key, score));
            score *= share;
        }
    }

    fn name(&self) -> &str {
        "trend"
    }
}

/// Learned next-delta transitions: after a step of `a`, how often was the next step `b`?
///
/// It learns the jump set of a workload (±1 for playback, ±10 for annotation, a cursor's stride, the
/// alternation of two interleaved cursors) without being told, backing off from the previous-delta context
/// to the overall delta frequencies while a context is new. A prediction follows the learned transitions
/// several steps ahead in a small beam and scores each key by the chance that it is requested at least once
/// on the way; keys below `threshold` are not predicted. Depth: four times the measured lookahead, between
/// 8 and 40 steps. Integer keys only.
#[derive(Clone, Debug)]
pub struct DeltaMarkov {
    threshold: f64,
    beam: usize,
    depth: Option<usize>,
    prev: Option<i64>,
    prev_delta: i64,
    global: Counts<i64>,
    by_prev: HashMap<i64, Counts<i64>>,
    states: Vec<(i64, i64, f64)>,
    next: Vec<(i64, i64, f64)>,
    /// Distributions computed during one prediction, by previous delta (few distinct ones per call).
    memo: Vec<(i64, Vec<(i64, f64)>)>,
    memo_len: usize,
    scores: Scores<i64>,
}

impl Default for DeltaMarkov {
    fn default() -> Self {
        DeltaMarkov {
            threshold: 0.01,
            beam: 12,
            depth: None,
            prev: None,
            prev_delta: 0,
            global: Counts::new(),
            by_prev: HashMap::new(),
            states: Vec::new(),
            next: Vec::new(),
            memo: Vec::new(),
            memo_len: 0,
            scores: Scores::new(),
        }
    }
}

const DELTA_CAP: usize = 24;
const DELTA_HALVE: f64 = 512.0;
const MAX_CONTEXTS: usize = 4096;

impl DeltaMarkov {
    /// Threshold 0.01, a beam of 12 states, depth from the measured lookahead.
    pub fn new() -> Self {
        Self::default()
    }

    /// The smallest chance still predicted, in (0, 1].
    #[must_use]
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold.clamp(1e-6, 1.0);
        self
    }

    /// A fixed number of steps instead of the measured depth.
    #[must_use]
    pub fn depth(mut self, steps: usize) -> Self {
        self.depth = Some(steps.max(1));
        self
    }

    /// How many previous-delta contexts have learned transitions now (at most 4096).
    pub fn contexts(&self) -> usize {
        self.by_prev.len()
    }

    /// The learned probability of a step of `next` after a step of `prev`.
    pub fn probability(&self, prev: i64, next: i64) -> f64 {
        let mut dist = Vec::new();
        self.distribution(prev, 0.0, &mut dist);
        dist.iter().find(|(d, _)| *d == next).map_or(0.0, |(_, p)| *p)
    }

    /// The distribution of the next delta after a step of `prev`, without the deltas rarer than `floor`.
    fn distribution(&self, prev: i64, floor: f64, out: &mut Vec<(i64, f64)>) {
        out.clear();
        let g_total = self.global.total();
        if g_total <= 0.0 {
            return;
        }
        // One pseudo-observation spread like the global frequencies: a new context follows the overall habit.
        const ALPHA: f64 = 1.0;
        let (ctx_items, ctx_total) = match self.by_prev.get(&prev) {
            Some(c) => (c.items(), c.total()),
            None => (&[][..], 0.0),
        };
        let denom = ctx_total + ALPHA;
        for (d, c) in self.global.items() {
            out.push((*d, ALPHA * c / g_total / denom));
        }
        for (d, c) in ctx_items {
            match out.iter_mut().find(|(x, _)| x == d) {
                Some(item) => item.1 += c / denom,
                None => out.push((*d, c / denom)),
            }
        }
        out.retain(|&(_, q)| q >= floor);
    }

    fn observe_i64(&mut self, x: i64) {
        if let Some(prev) = self.prev
            && let Some(d) = x.checked_sub(prev)
        {
            self.global.add(d, DELTA_CAP, DELTA_HALVE);
            self.by_prev.entry(self.prev_delta).or_insert_with(Counts::new).add(d, DELTA_CAP, DELTA_HALVE);
            // Random seeks make a new context each; keep the table bounded by forgetting the one-off ones.
            if self.by_prev.len() > MAX_CONTEXTS {
                self.by_prev.retain(|_, c| c.total() >= 2.0);
                if self.by_prev.len() > MAX_CONTEXTS * 3 / 4 {
                    self.by_prev.clear();
                }
            }
            self.prev_delta = d;
        }
        self.prev = Some(x);
    }

    /// Scores by offset from the current key.
    fn predict_offsets(&mut self, steps: usize) {
        self.scores.clear();
        self.states.clear();
        self.states.push((0, self.prev_delta, 1.0));
        let floor = self.threshold / 2.0;
        self.memo_len = 0;
        let mut memo = std::mem::take(&mut self.memo);
        for _ in 0..steps {
            self.next.clear();
            for &(pos, last, p) in &self.states {
                let slot = match memo[..self.memo_len].iter().position(|(prev, _)| *prev == last) {
                    Some(slot) => slot,
                    None => {
                        if memo.len() == self.memo_len {
                            memo.push((last, Vec::new()));
                        }
                        memo[self.memo_len].0 = last;
                        self.distribution(last, floor, &mut memo[self.memo_len].1);
                        self.memo_len += 1;
                        self.memo_len - 1
                    }
                };
                for &(d, q) in &memo[slot].1 {
                    let pq = p * q;
                    if pq >= floor
                        && let Some(np) = pos.checked_add(d)
                    {
                        self.next.push((np, d, pq));
                    }
                }
            }
            if self.next.is_empty() {
                break;
            }
            // Merge equal states, keep the likeliest `beam`.
            self.next.sort_unstable_by_key(|&(pos, d, _)| (pos, d));
            self.next.dedup_by(|b, a| {
                if a.0 == b.0 && a.1 == b.1 {
                    a.2 += b.2;
                    true
                } else {
                    false
                }
            });
            if self.next.len() > self.beam {
                self.next.select_nth_unstable_by(self.beam - 1, |a, b| b.2.total_cmp(&a.2));
                self.next.truncate(self.beam);
            }
            for &(pos, _, p) in &self.next {
                self.scores.add_chance(pos, p);
            }
            std::mem::swap(&mut self.states, &mut self.next);
        }
        self.memo = memo;
    }
}

impl<K: OffsetKey> AccessPredictor<K> for DeltaMarkov {
    fn observe(&mut self, key: &K) {
        if let Some(x) = key.to_i64() {
            self.observe_i64(x);
        }
    }

    fn predict(&mut self, ctx: &PredictContext<'_, K>, out: &mut Vec<(K, f64)>) {
        if !K::INTEGER {
            return;
        }
        let steps = self.depth.unwrap_or_else(|| (4 * ctx.lookahead()).clamp(8, 40));
        self.predict_offsets(steps);
        for (off, s) in self.scores.iter() {
            if s >= self.threshold
                && let Some(key) = ctx.current.offset(*off)
            {
                out.push((key, s));
            }
        }
    }

    fn name(&self) -> &str {
        "delta-markov"
    }
}
