//! The scheduler thread: drains the access log, feeds the predictor, rescores resident keys and rebuilds the
//! prefetch queue. The predictor runs only here.
//!
//! # Waking up without costing the callers, and without burning a core
//! A caller records its request in the access log and, if the scheduler may be asleep, unparks it: a system
//! call of several microseconds on a VM, paid inside `get`. When requests come often (their moving-average
//! interval is below `poll_below`, 2 ms by default) the scheduler instead *polls*: it sleeps in short timed
//! naps (half the interval, at most [`MAX_NAP`]) with `pending` left set, so callers never unpark it,
//! and it sees each request within a nap. After a few intervals without requests it parks for good, which costs
//! nothing until the next request wakes it. The first round instead waited awake (spinning) between frequent
//! requests, which kept one core busy at 1 000 requests per second; see docs/BENCHMARKS.md for both costs.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{Ordering, fence};
use std::thread;
use std::time::{Duration, Instant};

use hashbrown::{HashMap, HashSet};

use super::state::{Control, EWMA_ALPHA, Key, LOG_CAPACITY, Shared};
use crate::error::panic_message;
use crate::{AccessPredictor, DataProvider, Event, PredictContext, SchedulerState};

/// The longest nap while polling: the most a prediction waits for the scheduler to notice a request.
pub(crate) const MAX_NAP: Duration = Duration::from_micros(500);
/// The shortest nap while polling.
const MIN_NAP: Duration = Duration::from_micros(50);
/// Polling stops after this many average intervals without a request (and after at least [`MIN_IDLE`]).
const IDLE_INTERVALS: f64 = 4.0;
const MIN_IDLE: Duration = Duration::from_millis(1);
/// How long the scheduler lets a flooded access log fill before draining it again.
const FLOOD_PAUSE: Duration = Duration::from_millis(1);
/// How many of each stripe's latest requests a flooded scheduler hands to the predictor (the rest count as
/// `history_dropped`).
const FLOOD_KEEP: usize = 64;
/// How often the scheduler seals and frees the values evicted meanwhile (see `reclaim.rs`).
const COLLECT_EVERY: Duration = Duration::from_millis(5);
/// The most scores kept from one prediction.
const MAX_PREDICTED: usize = 4096;

impl<P: DataProvider> Shared<P> {
    pub(crate) fn schedule(&self, mut predictor: Box<dyn AccessPredictor<Key<P>>>) {
        let history_len = self.config.history_len;
        let mut history: VecDeque<Key<P>> = VecDeque::with_capacity(history_len + 1);
        let mut batch: Vec<Key<P>> = Vec::new();
        let mut scores: Vec<(Key<P>, f64)> = Vec::new();
        let mut interval: Option<f64> = None;
        let mut last_seen: Option<Instant> = None;
        let mut flooded = false;
        let mut last_collect = Instant::now();
        // While polling, `pending` stays set and the scheduler wakes itself.
        let mut polling = false;
        loop {
            if flooded {
                // Requests arrive faster than one per microsecond, so they are hits and the predictor only needs
                // the latest few: let the log fill for a moment instead of competing with the callers for a core.
                // `pending` is still set, so callers do not try to wake us meanwhile.
                thread::sleep(FLOOD_PAUSE);
            }
            if !polling {
                self.pending.store(false, Ordering::SeqCst);
                fence(Ordering::SeqCst);
            }
            if self.is_closed() {
                return;
            }
            batch.clear();
            // Marked before draining, so that `quiesce` never sees an empty log and an idle scheduler while a
            // batch is in hand.
            self.lock().scheduling = true;
            let mut drained = 0;
            for stripe in self.stripes.iter() {
                let start = batch.len();
                while let Some(key) = stripe.log.pop() {
                    batch.push(key);
                }
                drained += batch.len() - start;
                // In a flood the predictor needs only the latest requests of each thread; touching every one
                // under the lock took a fifth of a core from the threads serving hits.
                if flooded && batch.len() - start > FLOOD_KEEP {
                    let skip = batch.len() - start - FLOOD_KEEP;
                    batch.drain(start..start + skip);
                    let skipped = self.flood_skipped.load(Ordering::Relaxed);
                    self.flood_skipped.store(skipped + skip as u64, Ordering::Relaxed);
                }
            }
            if batch.is_empty() {
                self.lock().scheduling = false;
                self.idle.notify_all();
                match self.nap(interval, last_seen) {
                    Some(nap) => {
                        if !polling {
                            polling = true;
                            self.pending.store(true, Ordering::SeqCst);
                        }
                        self.set_state(SchedulerState::Polling);
                        thread::park_timeout(nap);
                        self.woke();
                    }
                    // Stop polling: the next round clears `pending` and looks once more before parking.
                    None if polling => polling = false,
                    None => {
                        // Nothing dead outlives the last request by more than a park.
                        self.lock().garbage.collect();
                        self.set_state(SchedulerState::Parked);
                        thread::park();
                        self.woke();
                    }
                }
                continue;
            }
            flooded = drained >= LOG_CAPACITY / 2;
            let now = Instant::now();
            if let Some(last) = last_seen {
                let sample = now.duration_since(last).as_secs_f64() / drained as f64;
                interval = Some(interval.map_or(sample, |i| i * (1.0 - EWMA_ALPHA) + sample * EWMA_ALPHA));
            }
            last_seen = Some(now);

            let mut panicked = None;
            for key in &batch {
                if history.len() == history_len {
                    history.pop_front();
                }
                history.push_back(key.clone());
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| predictor.observe(key))) {
                    panicked = Some(panic_message(&*p));
                }
            }
            scores.clear();
            let history_slice = history.make_contiguous();
            let current = history_slice.last().expect("the batch is not empty");
            let latency = self.latency_ns.load(Ordering::Relaxed);
            let cfg = &self.config;
            let ctx = PredictContext::new(current, history_slice)
                .capacity(cfg.max_entries)
                .max_prefetch(cfg.max_prefetch)
                .workers(cfg.workers)
                .load_latency((latency > 0).then(|| Duration::from_nanos(latency)))
                .request_interval(interval.map(Duration::from_secs_f64));
            let predicted = catch_unwind(AssertUnwindSafe(|| {
                predictor.predict(&ctx, &mut scores);
                sanitize(&mut scores, &self.provider);
            }));
            if let Err(p) = predicted {
                panicked = Some(panic_message(&*p));
                scores.clear();
            }

            let mut c = self.lock();
            for key in &batch {
                if c.index.touch(key) {
                    c.counters.prefetch_used += 1;
                }
            }
            if !c.hints.is_empty() {
                let asked: HashSet<&Key<P>> = batch.iter().collect();
                c.hints.retain(|k| !asked.contains(k));
            }
            if let Some(message) = panicked {
                c.counters.predictor_panics += 1;
                self.emit(Event::PredictorPanic { message: format!("the predictor panicked: {message}") });
            }
            c.ranked.clear();
            c.ranked.append(&mut scores);
            self.apply_prediction(&mut c);
            // Evicted values are freed within a few milliseconds, not only every `reclaim::BATCH` evictions: a
            // cache of large values bounded by weight must not hold a hundred dead ones. (Each seal is a barrier,
            // so not after every batch.)
            if last_collect.elapsed() >= COLLECT_EVERY {
                c.garbage.collect();
                last_collect = Instant::now();
            }
            c.scheduling = false;
            drop(c);
            self.idle.notify_all();
        }
    }

    fn set_state(&self, state: SchedulerState) {
        self.scheduler_state.store(state as u8, Ordering::Relaxed);
    }

    fn woke(&self) {
        self.set_state(SchedulerState::Busy);
        self.scheduler_wakeups.fetch_add(1, Ordering::Relaxed);
    }

    /// How long to nap before looking at the log again while requests are frequent, or `None` to park until
    /// woken.
    fn nap(&self, interval: Option<f64>, last_seen: Option<Instant>) -> Option<Duration> {
        let interval = interval?;
        if interval >= self.config.poll_below.as_secs_f64() {
            return None;
        }
        let idle_after = Duration::from_secs_f64(interval * IDLE_INTERVALS).max(MIN_IDLE);
        if last_seen?.elapsed() >= idle_after {
            return None;
        }
        Some(Duration::from_secs_f64(interval / 2.0).clamp(MIN_NAP, MAX_NAP))
    }

    /// Rescores resident keys and rebuilds the prefetch queue from the latest prediction (`c.ranked`) and the
    /// explicit hints (`c.hints`), which come first, scored as the best prediction (or 1).
    pub(crate) fn apply_prediction(&self, c: &mut Control<P>) {
        let mut effective: Vec<(Key<P>, f64)> = Vec::with_capacity(c.hints.len() + c.ranked.len());
        if !c.hints.is_empty() {
            let hint_score = c.ranked.first().map_or(1.0, |(_, s)| *s);
            let hinted: HashSet<&Key<P>> = c.hints.iter().collect();
            effective.extend(c.hints.iter().map(|k| (k.clone(), hint_score)));
            effective.extend(c.ranked.iter().filter(|(k, _)| !hinted.contains(k)).cloned());
        } else {
            effective.extend(c.ranked.iter().cloned());
        }
        let predicted: HashMap<Key<P>, f64> = effective.iter().cloned().collect();
        let old = std::mem::replace(&mut c.predicted, predicted);
        for key in old.keys() {
            if !c.predicted.contains_key(key) {
                c.index.rescore(key, 0.0);
            }
        }
        let mut wanted = Vec::new();
        for (key, score) in &effective {
            if c.index.rescore(key, *score) || c.inflight.contains_key(key) || c.failed.contains(key) {
                continue;
            }
            wanted.push((key.clone(), *score));
        }
        c.applied = effective;

        // Take candidates best first while there is a free slot or a victim scored strictly lower
        // (do no harm); both lists are sorted, so this is a merge.
        let cfg = &self.config;
        let budget = if cfg.workers == 0 { 0 } else { cfg.max_prefetch.saturating_sub(c.prefetching) };
        let len = c.index.len();
        let mut free = match cfg.max_entries {
            Some(m) => m.saturating_sub(len + c.prefetching),
            None => usize::MAX,
        };
        if let Some(m) = cfg.max_weight {
            let total = c.index.total_weight();
            let avg = if len == 0 { 1 } else { (total / len as u128).max(1) };
            let by_weight = u128::from(m).saturating_sub(total + avg * c.prefetching as u128) / avg;
            free = free.min(usize::try_from(by_weight).unwrap_or(usize::MAX));
        }
        let mut queue = VecDeque::new();
        {
            let mut victims = c.index.victims();
            for (key, score) in wanted {
                if queue.len() >= budget {
                    break;
                }
                if free > 0 {
                    free -= 1;
                } else if !victims.next().is_some_and(|(_, victim, _)| victim < score) {
                    break;
                }
                queue.push_back((key, score));
            }
        }
        if !c.queue.is_empty() {
            let fresh: HashSet<&Key<P>> = queue.iter().map(|(k, _)| k).collect();
            let cancelled: Vec<Key<P>> =
                c.queue.iter().filter(|(k, _)| !fresh.contains(k)).map(|(k, _)| k.clone()).collect();
            drop(fresh);
            c.counters.prefetch_cancelled += cancelled.len() as u64;
            for key in cancelled {
                self.emit(Event::PrefetchCancel { key });
            }
        }
        let n = queue.len();
        c.queue = queue;
        match n {
            0 => {}
            1 => self.work.notify_one(),
            _ => self.work.notify_all(),
        }
    }
}

/// Keeps finite positive scores of keys the provider has, one score per key (the highest), best first
/// (ties keep the predictor's order, so runs are deterministic), at most [`MAX_PREDICTED`].
fn sanitize<P: DataProvider>(scores: &mut Vec<(Key<P>, f64)>, provider: &P) {
    let mut position: HashMap<Key<P>, usize> = HashMap::with_capacity(scores.len());
    let mut kept: Vec<(Key<P>, f64)> = Vec::with_capacity(scores.len());
    for (key, score) in scores.drain(..) {
        if !(score.is_finite() && score > 0.0) {
            continue;
        }
        match position.get(&key) {
            Some(&i) => kept[i].1 = kept[i].1.max(score),
            None => {
                if provider.contains(&key) {
                    position.insert(key.clone(), kept.len());
                    kept.push((key, score));
                }
            }
        }
    }
    kept.sort_by(|a, b| b.1.total_cmp(&a.1));
    kept.truncate(MAX_PREDICTED);
    *scores = kept;
}
