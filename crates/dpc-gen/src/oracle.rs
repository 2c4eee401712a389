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

/// A floor on the stall of any online predictor on a cursor walk whose jumps are drawn at random from a known set
/// (the `playback`, `backward` and `annotate` kinds with their `jumps` and `jump_rate`), in milliseconds.
///
/// The seek-blind oracle still knows which target of the jump set comes next; no online predictor can, since
/// the generator draws it uniformly and independently of everything before. To hit a jump, a predictor must
/// have loaded its target before it knew the jump would happen, so it pays for the targets that were not taken:
/// a frame that is the target of jumps from positions visited `v` times in all is taken with chance about
/// `h = v * jump_rate / k` (`k` targets per position), and loading it costs `1 - h` loads beyond the frames the
/// trace requests anyway (nothing if the trace requests that frame at any time, by any route). The floor lets the
/// predictor know every visit count and every frame the trace will request in advance, spend `E` extra loads on
/// the frames of the best `h / (1 - h)` first, counts every jump onto a frame requested before as a free hit,
/// every covered jump as a full hit (even if its load was late), and the seeks (`unforeseeable`, for example the
/// misses of [`oracle_blind`]) as one latency each; all of that is generous. It is a bound in expectation over
/// the generator's draws of jump targets, and it assumes what the generators do: the target is uniform over the
/// set and independent of everything before. What it cannot escape is the bandwidth: the
/// workers load at most `workers * wall / latency` frames and demand misses one each, so the trace's distinct
/// frames plus `E` must fit, and every jump left uncovered is a demand miss (one latency). The floor is the
/// smallest stall over `E` that satisfies both.
///
/// `steps` are the walk's own moves (+1 for playback; +1, -1 and 0 for annotation): a jump equal to one of them is
/// indistinguishable from it, so it is neither counted as a jump nor as a target (which only lowers the floor).
pub fn jump_floor(
    keys: &[u64],
    jumps: &[i64],
    steps: &[i64],
    jump_rate: f64,
    unforeseeable: usize,
    setup: &Setup,
) -> f64 {
    let k = jumps.len();
    let jumps: Vec<i64> = jumps.iter().copied().filter(|j| !steps.contains(j)).collect();
    if keys.len() < 2 || k == 0 {
        return unforeseeable as f64 * setup.latency.as_secs_f64() * 1e3;
    }
    let (n, w) = (keys.len() as f64, setup.workers.max(1) as f64);
    let (latency, think) = (setup.latency.as_secs_f64() * 1e3, setup.think.as_secs_f64() * 1e3);
    // Visits per position (as the position a request steps from), jumps taken, and jumps onto frames seen before.
    let mut visits: HashMap<u64, f64> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let (mut taken, mut free) = (0.0, 0.0);
    seen.insert(keys[0]);
    for i in 1..keys.len() {
        *visits.entry(keys[i - 1]).or_insert(0.0) += 1.0;
        let d = keys[i] as i64 - keys[i - 1] as i64;
        if jumps.contains(&d) {
            taken += 1.0;
            if seen.contains(&keys[i]) {
                free += 1.0;
            }
        }
        seen.insert(keys[i]);
    }
    let distinct = seen.len() as f64;
    // Every target frame's chance of being taken, then the frames best first by hits per extra load.
    let per_target = jump_rate / k as f64;
    let mut chance: HashMap<i64, f64> = HashMap::new();
    for (&x, &v) in &visits {
        for &j in &jumps {
            *chance.entry(x as i64 + j).or_insert(0.0) += v * per_target;
        }
    }
    // A target the trace requests anyway (before or after) costs nothing to load: only never-requested frames count.
    let mut frames: Vec<(f64, f64)> = chance
        .into_iter()
        .map(|(f, h)| {
            let requested = u64::try_from(f).is_ok_and(|f| seen.contains(&f));
            (h.min(1.0), if requested { 0.0 } else { (1.0 - h).max(0.0) })
        })
        .collect();
    frames.sort_by(|a, b| (b.0 * a.1).total_cmp(&(a.0 * b.1)));
    let seeks = unforeseeable as f64;
    let stall_for = |extra: f64, hits: f64| {
        let uncovered = (taken - free - hits).max(0.0);
        let misses = seeks + uncovered;
        let by_misses = latency * misses;
        let by_bandwidth = latency * (distinct + extra - misses) / w - (n - 1.0) * think;
        by_misses.max(by_bandwidth)
    };
    let (mut extra, mut hits) = (0.0, 0.0);
    let mut best = stall_for(0.0, 0.0);
    for (h, cost) in frames {
        extra += cost;
        hits += h;
        best = best.min(stall_for(extra, hits));
        if hits >= taken - free {
            break;
        }
    }
    best.max(seeks * latency)
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
