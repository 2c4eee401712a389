//! A virtual-time model of the prefetching cache driven by any predictor.
//!
//! It follows the cache's documented behaviour, not its code: after every request the predictor observes the
//! key and scores candidates; the best `max_prefetch` candidates that are neither resident nor in flight form the
//! queue, best first; an idle worker takes the head of the queue, and when the cache is full evicts the resident
//! key with the lowest score in the latest prediction (absent keys score 0, ties: the oldest entry), but only if
//! the prefetch scores strictly higher. Demand loads run on the caller and evict the lowest-scored entry.
//! The clock is the oracle's: same think time, latency and workers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use dpc_core::{AccessPredictor, Key, PredictContext};

use super::{OracleReport, Setup};

/// The cache settings the model needs beyond [`Setup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimOptions {
    /// Candidates kept in the prefetch queue. Default 20, like the cache.
    pub max_prefetch: usize,
    /// Keys of history the predictor sees. Default 30.
    pub history_len: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions { max_prefetch: 20, history_len: 30 }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    Resident(u64),
    InFlight(u64),
}

/// How one request was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Resident: no stall.
    Hit,
    /// In flight: waited for the rest of the load.
    LateHit,
    /// Absent: loaded on demand.
    Miss,
}

/// Replays `keys` through the model with `predictor` and reports like the oracle.
pub fn simulate<K: Key>(
    keys: &[K],
    predictor: &mut dyn AccessPredictor<K>,
    setup: &Setup,
    options: &SimOptions,
) -> OracleReport {
    simulate_outcomes(keys, predictor, setup, options).0
}

/// [`simulate`], also returning how each request was served.
pub fn simulate_outcomes<K: Key>(
    keys: &[K],
    predictor: &mut dyn AccessPredictor<K>,
    setup: &Setup,
    options: &SimOptions,
) -> (OracleReport, Vec<Outcome>) {
    let mut outcomes = Vec::with_capacity(keys.len());
    let latency = setup.latency.as_nanos() as u64;
    let think = setup.think.as_nanos() as u64;
    let capacity = setup.capacity.max(1);
    let mut report = OracleReport::default();
    let mut slots: HashMap<K, Slot> = HashMap::new();
    let mut scores: HashMap<K, f64> = HashMap::new();
    let mut queue: VecDeque<(K, f64)> = VecDeque::new();
    let mut done: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut flight_keys: HashMap<u64, K> = HashMap::new();
    let mut idle = setup.workers;
    let mut history: VecDeque<K> = VecDeque::new();
    let mut out = Vec::new();
    let mut seq = 0u64;
    let mut in_flight = 0usize;
    let mut interval: Option<f64> = None;
    let mut last_issue: Option<u64> = None;
    let mut t = 0u64;
    let mut stall = 0u64;

    struct State<'s, K> {
        slots: &'s mut HashMap<K, Slot>,
        scores: &'s HashMap<K, f64>,
        queue: &'s mut VecDeque<(K, f64)>,
        done: &'s mut BinaryHeap<Reverse<(u64, u64)>>,
        flight_keys: &'s mut HashMap<u64, K>,
        idle: &'s mut usize,
        in_flight: &'s mut usize,
        seq: &'s mut u64,
        report: &'s mut OracleReport,
        capacity: usize,
        latency: u64,
    }

    impl<K: Key> State<'_, K> {
        fn resident(&self) -> usize {
            self.slots.len() - *self.in_flight
        }

        /// The resident key with the lowest score, the oldest among equals.
        fn victim(&self) -> Option<(K, f64)> {
            self.slots
                .iter()
                .filter_map(|(k, s)| match s {
                    Slot::Resident(order) => Some((k, *order, self.scores.get(k).copied().unwrap_or(0.0))),
                    Slot::InFlight(_) => None,
                })
                .min_by(|a, b| a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)))
                .map(|(k, _, s)| (k.clone(), s))
        }

        fn fill(&mut self, now: u64) {
            while *self.idle > 0 {
                let Some((key, score)) = self.queue.pop_front() else { return };
                if self.slots.contains_key(&key) {
                    continue;
                }
                if self.resident() + *self.in_flight >= self.capacity {
                    match self.victim() {
                        Some((v, s)) if score > s => {
                            self.slots.remove(&v);
                        }
                        _ => {
                            self.queue.clear();
                            return;
                        }
                    }
                }
                *self.seq += 1;
                self.slots.insert(key.clone(), Slot::InFlight(now + self.latency));
                self.flight_keys.insert(*self.seq, key);
                self.done.push(Reverse((now + self.latency, *self.seq)));
                *self.in_flight += 1;
                *self.idle -= 1;
                self.report.loads += 1;
                self.report.prefetch_issued += 1;
            }
        }

        fn complete_until(&mut self, until: u64) {
            while let Some(&Reverse((f, id))) = self.done.peek() {
                if f > until {
                    break;
                }
                self.done.pop();
                let key = self.flight_keys.remove(&id).expect("every load in flight has a key");
                *self.seq += 1;
                self.slots.insert(key, Slot::Resident(*self.seq));
                *self.in_flight -= 1;
                *self.idle += 1;
                self.fill(f);
            }
        }
    }

    // The simulation's state is borrowed afresh twice per request (before and after the predictor runs).
    macro_rules! state {
        () => {
            State {
                slots: &mut slots,
                scores: &scores,
                queue: &mut queue,
                done: &mut done,
                flight_keys: &mut flight_keys,
                idle: &mut idle,
                in_flight: &mut in_flight,
                seq: &mut seq,
                report: &mut report,
                capacity,
                latency,
            }
        };
    }

    for (i, key) in keys.iter().enumerate() {
        if let Some(prev) = last_issue {
            let dt = (t - prev) as f64;
            interval = Some(interval.map_or(dt, |iv| 0.9 * iv + 0.1 * dt));
        }
        last_issue = Some(t);
        let mut st = state!();
        st.complete_until(t);
        let state = st.slots.get(key).copied();
        let demand = match state {
            Some(Slot::Resident(_)) => {
                outcomes.push(Outcome::Hit);
                st.report.hits += 1;
                None
            }
            Some(Slot::InFlight(f)) => {
                outcomes.push(Outcome::LateHit);
                st.report.late_hits += 1;
                Some(f)
            }
            None => {
                outcomes.push(Outcome::Miss);
                st.report.misses += 1;
                st.report.loads += 1;
                if st.resident() + *st.in_flight >= capacity
                    && let Some((v, _)) = st.victim()
                {
                    st.slots.remove(&v);
                }
                *st.seq += 1;
                st.slots.insert(key.clone(), Slot::InFlight(t + latency));
                *st.in_flight += 1;
                Some(t + latency)
            }
        };

        // The scheduler: observe, predict, rebuild the queue, start what the idle workers can.
        history.push_back(key.clone());
        if history.len() > options.history_len.max(1) {
            history.pop_front();
        }
        predictor.observe(key);
        let hist = history.make_contiguous();
        let ctx = PredictContext::new(key, hist)
            .capacity(Some(capacity))
            .max_prefetch(options.max_prefetch)
            .workers(setup.workers)
            .load_latency(Some(setup.latency))
            .request_interval(interval.map(|ns| Duration::from_nanos(ns as u64)));
        out.clear();
        predictor.predict(&ctx, &mut out);
        scores.clear();
        for (k, s) in out.drain(..) {
            if s.is_finite() && s >= 0.0 {
                let e = scores.entry(k).or_insert(0.0);
                *e = e.max(s);
            }
        }
        let mut ranked: Vec<(K, f64)> =
            scores.iter().filter(|(k, _)| !slots.contains_key(*k)).map(|(k, s)| (k.clone(), *s)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(options.max_prefetch);
        queue.clear();
        queue.extend(ranked);

        let mut st = state!();
        st.fill(t);
        let served = match (state, demand) {
            (None, Some(f)) => {
                st.complete_until(f);
                *st.seq += 1;
                st.slots.insert(key.clone(), Slot::Resident(*st.seq));
                *st.in_flight -= 1;
                st.fill(f);
                f
            }
            (_, Some(f)) => {
                st.complete_until(f);
                f
            }
            _ => t,
        };
        stall += served - t;
        if i + 1 == keys.len() {
            report.wall_ms = served as f64 / 1e6;
        }
        t = served + think;
    }
    report.stall_ms = stall as f64 / 1e6;
    (report, outcomes)
}
