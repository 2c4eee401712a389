//! The clairvoyant prefetch+cache schedule of a trace, simulated in virtual time (BENCHMARKS.md §1).
//!
//! The rules, exactly:
//! - the first request is issued at time 0; request `i + 1` is issued `think` after request `i` was served;
//! - whenever a worker is idle it loads the next future key that is neither resident nor in flight; when the
//!   cache is full it evicts the resident key whose next use is furthest away, but only if that next use is
//!   later than the key being fetched (do no harm); otherwise it stays idle until a request is served;
//! - a request finds its key resident (hit, no stall), in flight (late hit, stall = remaining load time), or
//!   absent (demand load on the caller's thread, not a worker: stall = latency, evicting by furthest next use).
//!
//! Capacity counts resident keys and keys in flight (a load reserves its slot when it starts).
//! Workers are idle before the first request is issued, so the first request is always a miss.
//! Ties (a completion at the instant a request is issued) resolve in favour of the request: the key is resident.
//! `loads` counts every provider load, demand and prefetch.
//!
//! [`simulate`] runs any [`AccessPredictor`](dpc_core::AccessPredictor) through a virtual-time model of the cache with the same clock, so
//! predictors can be compared with the oracle deterministically, without threads or sleeping.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Duration;

use serde::Serialize;

/// The parameters of a replay or an oracle run (BENCHMARKS.md §1; the defaults are its defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setup {
    /// Time one load takes.
    pub latency: Duration,
    /// Time between serving a request and issuing the next.
    pub think: Duration,
    /// Loads that may run at once in the background.
    pub workers: usize,
    /// Entries the cache holds (at least 1).
    pub capacity: usize,
}

impl Default for Setup {
    /// Latency 2 ms, think 1 ms, 4 workers, capacity 512.
    fn default() -> Self {
        Setup { latency: Duration::from_millis(2), think: Duration::from_millis(1), workers: 4, capacity: 512 }
    }
}

/// What the oracle (or a simulated predictor) achieves on a trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OracleReport {
    /// Total time requests waited, in milliseconds.
    pub stall_ms: f64,
    /// Requests served at once.
    pub hits: u64,
    /// Requests that waited for a load already in flight.
    pub late_hits: u64,
    /// Requests that loaded on demand.
    pub misses: u64,
    /// Provider loads, demand and prefetch.
    pub loads: u64,
    /// Prefetch loads started.
    pub prefetch_issued: u64,
    /// Virtual time from the first request to the last served, in milliseconds.
    pub wall_ms: f64,
}

/// Runs the clairvoyant schedule of `keys` (any hashable keys).
pub fn oracle<K: Hash + Eq>(keys: &[K], setup: &Setup) -> OracleReport {
    let ids = dense_ids(keys);
    Oracle::new(&ids, setup).run()
}

/// The clairvoyant schedule of `keys` blind to the requests marked in `unforeseeable`: such a request, and
/// everything after it, cannot be prefetched before it is issued (its load may start as soon as it is).
///
/// With the seeks of a trace marked ([`seeks`]), this is what the best *online* predictor could at most achieve:
/// no predictor can know where a seek to a random frame goes, nor what follows it, before it happens. Its
/// headroom against the plain oracle is the ceiling of any predictor on that trace.
pub fn oracle_blind<K: Hash + Eq>(keys: &[K], unforeseeable: &[bool], setup: &Setup) -> OracleReport {
    let ids = dense_ids(keys);
    let mut o = Oracle::new(&ids, setup);
    let mut next = keys.len();
    o.blind = (0..keys.len())
        .rev()
        .map(|i| {
            if unforeseeable.get(i).copied().unwrap_or(false) {
                next = i;
            }
            next
        })
        .collect();
    o.blind.reverse();
    o.run()
}

/// Marks the seeks of a frame trace: requests farther than `far` from every one of the `recent` requests
/// before them (the first request is not a seek: nothing is known before it anyway).
pub fn seeks(keys: &[u64], far: u64, recent: usize) -> Vec<bool> {
    (0..keys.len())
        .map(|i| i > 0 && keys[i.saturating_sub(recent)..i].iter().all(|&k| k.abs_diff(keys[i]) > far))
        .collect()
}

/// Marks the requests that no predictor learning from the trace itself could foresee: those whose transition
/// from the request before (the pair of keys) has not occurred earlier in the trace. The first request is not
/// marked (nothing is known before it anyway).
///
/// A learner knows only the transitions it has seen: the first time a user follows a link, or jumps to a random
/// page, nothing it has observed points there. With these marks [`oracle_blind`] is the ceiling of any online
/// predictor that learns successors (`markov`, `session`, `auto` on string keys): it still knows which of the
/// learned successors comes next and evicts clairvoyantly, so the bound is generous, never too low.
pub fn novel_transitions<K: Hash + Eq>(keys: &[K]) -> Vec<bool> {
    let ids = dense_ids(keys);
    let mut seen = std::collections::HashSet::new();
    (0..ids.len()).map(|i| i > 0 && seen.insert((ids[i - 1], ids[i]))).collect()
}

/// Maps keys to dense ids `0..distinct`.
fn dense_ids<K: Hash + Eq>(keys: &[K]) -> Vec<usize> {
    let mut map: HashMap<&K, usize> = HashMap::new();
    keys.iter()
        .map(|k| {
            let n = map.len();
            *map.entry(k).or_insert(n)
        })
        .collect()
}

const NEVER: usize = usize::MAX;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Absent,
    Resident,
    InFlight(u64),
}

struct Oracle<'a> {
    trace: &'a [usize],
    latency: u64,
    think: u64,
    capacity: usize,
    /// `next_use[i]`: the index of the next request for `trace[i]` after `i`, or NEVER.
    next_use: Vec<usize>,
    /// Per key: the index of its next request at or after `cur`.
    nu: Vec<usize>,
    slot: Vec<Slot>,
    /// Resident keys by next use, for furthest-next-use eviction.
    by_next_use: BTreeSet<(usize, usize)>,
    in_flight: usize,
    /// Completion events: (time, key, worker).
    done: BinaryHeap<Reverse<(u64, usize, usize)>>,
    idle: Vec<bool>,
    /// The next request not yet served.
    cur: usize,
    /// Every request before `scan` (and at or after `cur`) is resident or in flight.
    scan: usize,
    /// Requests issued so far (the one being served included).
    issued: usize,
    /// `blind[i]`: the first unforeseeable request at or after `i` (the trace's length if none); empty when
    /// every request is foreseeable.
    blind: Vec<usize>,
    report: OracleReport,
}

impl<'a> Oracle<'a> {
    fn new(trace: &'a [usize], setup: &Setup) -> Self {
        let distinct = trace.iter().copied().max().map_or(0, |m| m + 1);
        let mut next_use = vec![NEVER; trace.len()];
        let mut nu = vec![NEVER; distinct];
        for (i, &k) in trace.iter().enumerate().rev() {
            next_use[i] = nu[k];
            nu[k] = i;
        }
        Oracle {
            trace,
            latency: setup.latency.as_nanos() as u64,
            think: setup.think.as_nanos() as u64,
            capacity: setup.capacity.max(1),
            next_use,
            nu,
            slot: vec![Slot::Absent; distinct],
            by_next_use: BTreeSet::new(),
            in_flight: 0,
            done: BinaryHeap::new(),
            idle: vec![true; setup.workers],
            cur: 0,
            scan: 0,
            issued: 0,
            blind: Vec::new(),
            report: OracleReport::default(),
        }
    }

    fn run(mut self) -> OracleReport {
        let mut t = 0u64;
        let mut stall = 0u64;
        for i in 0..self.trace.len() {
            let key = self.trace[i];
            self.complete_until(t);
            self.issued = i + 1;
            let served = match self.slot[key] {
                Slot::Resident => {
                    self.report.hits += 1;
                    t
                }
                Slot::InFlight(f) => {
                    self.report.late_hits += 1;
                    self.complete_until(f);
                    f
                }
                Slot::Absent => {
                    self.report.misses += 1;
                    self.report.loads += 1;
                    if self.resident() + self.in_flight >= self.capacity
                        && let Some(&(n, victim)) = self.by_next_use.last()
                    {
                        self.evict(victim, n);
                    }
                    self.slot[key] = Slot::InFlight(t + self.latency);
                    self.in_flight += 1;
                    self.fill(t);
                    self.complete_until(t + self.latency);
                    self.in_flight -= 1;
                    self.make_resident(key);
                    t + self.latency
                }
            };
            stall += served - t;
            // Serve: the key's next use moves on, and so does the present.
            self.by_next_use.remove(&(self.nu[key], key));
            self.nu[key] = self.next_use[i];
            self.by_next_use.insert((self.nu[key], key));
            self.cur = i + 1;
            self.fill(served);
            t = served + self.think;
            if i + 1 == self.trace.len() {
                self.report.wall_ms = served as f64 / 1e6;
            }
        }
        self.report.stall_ms = stall as f64 / 1e6;
        self.report
    }

    fn resident(&self) -> usize {
        self.by_next_use.len()
    }

    fn evict(&mut self, key: usize, next: usize) {
        self.by_next_use.remove(&(next, key));
        self.slot[key] = Slot::Absent;
        if next < self.scan {
            self.scan = next;
        }
    }

    fn make_resident(&mut self, key: usize) {
        self.slot[key] = Slot::Resident;
        self.by_next_use.insert((self.nu[key], key));
    }

    /// Completes every prefetch finishing at or before `until`; each freed worker looks for work at once.
    fn complete_until(&mut self, until: u64) {
        while let Some(&Reverse((f, key, worker))) = self.done.peek() {
            if f > until {
                break;
            }
            self.done.pop();
            self.in_flight -= 1;
            self.make_resident(key);
            self.idle[worker] = true;
            self.fill(f);
        }
    }

    /// Every idle worker tries to start a prefetch at time `now`.
    fn fill(&mut self, now: u64) {
        for w in 0..self.idle.len() {
            if self.idle[w] && !self.start(w, now) {
                return;
            }
        }
    }

    fn start(&mut self, worker: usize, now: u64) -> bool {
        self.scan = self.scan.max(self.cur);
        while self.scan < self.trace.len() && self.slot[self.trace[self.scan]] != Slot::Absent {
            self.scan += 1;
        }
        if self.scan >= self.trace.len() {
            return false;
        }
        // Blind: nothing at or after the next unforeseeable request that has not been issued yet.
        if let Some(&b) = self.blind.get(self.issued)
            && self.scan >= b
        {
            return false;
        }
        let (j, key) = (self.scan, self.trace[self.scan]);
        if self.resident() + self.in_flight >= self.capacity {
            match self.by_next_use.last() {
                Some(&(n, victim)) if n > j => self.evict(victim, n),
                _ => return false,
            }
        }
        let f = now + self.latency;
        self.slot[key] = Slot::InFlight(f);
        self.in_flight += 1;
        self.idle[worker] = false;
        self.done.push(Reverse((f, key, worker)));
        self.report.loads += 1;
        self.report.prefetch_issued += 1;
        true
    }
}

mod sim;

pub use sim::{Outcome, SimOptions, simulate, simulate_outcomes};
