//! The life of a load: register (single-flight), run, settle; admission, eviction and the prefetch workers.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::flight::{Flight, Outcome};
use super::state::{Control, Error, FlightOf, Key, Shared, Value, closed};
use crate::error::panic_message;
use crate::{CacheError, DataProvider, Event, LoadKind};

type Result<P> = Outcome<Key<P>, Value<P>, Error<P>>;

/// Completes a flight and unregisters it even if the loading thread unwinds past our own code,
/// so that no waiter can hang.
struct FlightGuard<'a, P: DataProvider> {
    shared: &'a Shared<P>,
    key: &'a Key<P>,
    /// Taken when the load settles it (or recycles it): while it is here, the guard is armed.
    flight: Option<Arc<FlightOf<P>>>,
}

impl<P: DataProvider> Drop for FlightGuard<'_, P> {
    fn drop(&mut self) {
        if let Some(flight) = &self.flight {
            let mut c = self.shared.lock();
            c.unregister(self.key, flight);
            drop(c);
            flight.complete(Err(CacheError::Panicked {
                key: self.key.clone(),
                message: "the load was abandoned".into(),
            }));
        }
    }
}

/// What [`Shared::claim`] found.
pub(crate) enum Claim<P: DataProvider> {
    /// Closed, or resident after all.
    Done(Result<P>),
    /// A load of the key is in flight: wait for it.
    Join(Arc<FlightOf<P>>),
    /// A demand load is registered: the caller runs it (or hands it to a demand thread) and settles it.
    Load(Arc<FlightOf<P>>),
}

/// Whether a request that waited for `flight` and got `error` loads the key itself (once): a failed prefetch is
/// not the caller's error.
pub(crate) fn retry_after<K: Clone, V, E>(flight: &Flight<K, V, E>, error: &CacheError<K, E>, retried: bool) -> bool {
    flight.is_prefetch() && !retried && !error.is_closed()
}

/// What a finished load asks of the admission step.
pub(crate) struct Admission {
    pub(crate) weight: u64,
    pub(crate) score: f64,
    /// A prefetch displaces only strictly lower scores (do no harm); a demand load or an insert what it must.
    pub(crate) prefetch: bool,
    pub(crate) used: bool,
}

impl<P: DataProvider> Shared<P> {
    /// What a request that missed the lock-free look does under the control lock, for `get` and `get_async`
    /// alike: it is served if the key became resident meanwhile (a hit), joins the load in flight (a late hit),
    /// or registers a demand load for the caller to run (a miss). `retried`: the request already waited for a
    /// prefetch that failed, and was counted then.
    pub(crate) fn claim(&self, c: &mut Control<P>, key: &Key<P>, hash: u64, retried: bool) -> Claim<P> {
        if self.is_closed() {
            return Claim::Done(Err(closed::<P>()));
        }
        if let Some(value) = self.resident.get_locked(hash, key, &c.garbage) {
            c.counters.hits += 1;
            return Claim::Done(Ok(value));
        }
        if let Some(flight) = c.inflight.get(key).cloned() {
            if !retried {
                c.counters.late_hits += 1;
            }
            if flight.is_prefetch() && !flight.used.swap(true, Ordering::Relaxed) {
                c.counters.prefetch_used += 1;
            }
            return Claim::Join(flight);
        }
        if !retried {
            c.counters.misses += 1;
        }
        c.counters.loads += 1;
        let flight = c.new_flight(LoadKind::Demand);
        c.inflight.insert(key.clone(), Arc::clone(&flight));
        if self.emits() {
            self.emit(Event::LoadStart { key: key.clone() });
        }
        Claim::Load(flight)
    }

    /// A `get` that missed the lock-free look: joins the flight in progress or loads on this thread.
    pub(crate) fn get_slow(&self, key: &Key<P>, hash: u64) -> Result<P> {
        let mut retried = false;
        loop {
            // The guard lives to the end of this statement: nothing below runs under the lock.
            let claim = self.claim(&mut self.lock(), key, hash, retried);
            let flight = match claim {
                Claim::Done(result) => return result,
                Claim::Load(flight) => return self.load(key, hash, flight, None),
                Claim::Join(flight) => flight,
            };
            match flight.wait() {
                // A failed prefetch is not this caller's error: load it as a demand, once.
                Err(e) if retry_after(&flight, &e, retried) => retried = true,
                result => return result,
            }
        }
    }

    /// Runs one registered load (demand if `score` is `None`, else prefetch) and settles it.
    pub(crate) fn load(&self, key: &Key<P>, hash: u64, flight: Arc<FlightOf<P>>, score: Option<f64>) -> Result<P> {
        let mut guard = FlightGuard { shared: self, key, flight: Some(flight) };
        let start = self.time_this_load().then(Instant::now);
        let outcome = catch_unwind(AssertUnwindSafe(|| self.provider.load(key)));
        let elapsed = start.map(|start| start.elapsed());
        if let Some(elapsed) = elapsed {
            self.observe_latency(elapsed);
        }
        let elapsed = elapsed.unwrap_or_default();
        let result: Result<P> = match outcome {
            Ok(Ok(value)) => Ok(Arc::new(value)),
            Ok(Err(e)) => Err(CacheError::Provider { key: key.clone(), source: Arc::new(e) }),
            Err(payload) => Err(CacheError::Panicked { key: key.clone(), message: panic_message(&*payload) }),
        };
        let weight = result.as_ref().ok().map(|v| self.weigh(key, v));

        let flight = guard.flight.as_ref().expect("armed");
        let prefetch = score.is_some();
        let mut c = self.lock();
        c.unregister(key, flight);
        if prefetch {
            c.prefetching -= 1;
        }
        match (&result, weight) {
            (Ok(value), Some(weight)) => {
                // A demand load was requested; a prefetch is used once a request joins it.
                let used = !prefetch || flight.used.load(Ordering::Relaxed);
                // An `insert` or `invalidate` since the load started wins over its value; so does `close`.
                let keep = !flight.is_discarded() && !self.is_closed() && !c.index.contains(key);
                let admitted = match weight {
                    Ok(w) if keep => {
                        let score = c.predicted.get(key).copied().unwrap_or(0.0);
                        self.admit(&mut c, key, hash, value, Admission { weight: w, score, prefetch, used })
                    }
                    Ok(_) => false,
                    Err(message) => {
                        self.emit(Event::WeigherPanic { key: key.clone(), message });
                        false
                    }
                };
                if prefetch {
                    c.counters.prefetch_completed += 1;
                    if !admitted && !used {
                        c.counters.prefetch_wasted += 1;
                    }
                    if self.emits() {
                        self.emit(Event::PrefetchSuccess { key: key.clone(), elapsed, admitted });
                    }
                } else {
                    c.forget_failure(key);
                    if self.emits() {
                        self.emit(Event::LoadComplete { key: key.clone(), elapsed });
                    }
                }
            }
            (Err(e), _) => {
                if prefetch {
                    c.counters.prefetch_failed += 1;
                    c.remember_failure(key.clone());
                    self.emit(Event::PrefetchError { key: key.clone(), error: e.to_string() });
                } else {
                    c.counters.load_errors += 1;
                    self.emit(Event::LoadError { key: key.clone(), error: e.to_string() });
                }
            }
            (Ok(_), None) => unreachable!("a loaded value is always weighed"),
        }
        // Unregistered, the flight can gain no new holder; if the guard holds the only reference, nobody waits
        // for it (the usual miss): there is nothing to settle, and the flight serves the next load.
        if Arc::strong_count(flight) == 1
            && let Some(flight) = guard.flight.take()
        {
            c.recycle(flight);
        }
        drop(c);
        if prefetch {
            // A slot freed up: the queue may hold work that was waiting for room.
            self.work.notify_one();
            self.idle.notify_all();
        }
        if let Some(flight) = guard.flight.take() {
            flight.complete(result.clone());
        }
        result
    }

    /// Makes `key` resident if it fits, evicting the lowest-scored entries. Returns whether it was cached.
    /// The key must not be resident already.
    pub(crate) fn admit(
        &self,
        c: &mut Control<P>,
        key: &Key<P>,
        hash: u64,
        value: &Arc<Value<P>>,
        a: Admission,
    ) -> bool {
        let cfg = &self.config;
        if self.is_closed() || cfg.max_weight.is_some_and(|m| a.weight > m) {
            return false;
        }
        let over = |entries: usize, total: u128| {
            cfg.max_entries.is_some_and(|m| entries > m) || cfg.max_weight.is_some_and(|m| total > u128::from(m))
        };
        let mut entries = c.index.len() + 1;
        let mut total = c.index.total_weight() + u128::from(a.weight);
        if over(entries, total) {
            // First find the victims without touching anything, so that a refused prefetch evicts nothing. The
            // first victim (usually the only one) is kept apart, so that the common case allocates nothing.
            let (mut first, mut more) = (None, Vec::new());
            {
                let mut candidates = c.index.victims();
                while over(entries, total) {
                    let Some((victim, victim_score, victim_weight)) = candidates.next() else { return false };
                    if a.prefetch && victim_score >= a.score {
                        return false;
                    }
                    if first.is_none() {
                        first = Some(victim.clone());
                    } else {
                        more.push(victim.clone());
                    }
                    entries -= 1;
                    total -= u128::from(victim_weight);
                }
            }
            for victim in first.into_iter().chain(more) {
                self.evict(c, &victim);
            }
        }
        c.index.insert(key.clone(), a.weight, a.score, a.prefetch, a.used);
        self.resident.insert(hash, key, value, &mut c.garbage);
        true
    }

    pub(crate) fn evict(&self, c: &mut Control<P>, key: &Key<P>) {
        let Some(meta) = c.index.remove(key) else { return };
        self.resident.remove(self.resident.hash(key), key, &mut c.garbage);
        c.counters.evictions += 1;
        let unused = meta.prefetched() && !meta.used();
        if unused {
            c.counters.prefetch_wasted += 1;
        }
        if self.emits() {
            self.emit(Event::Evict { key: key.clone(), score: meta.score, prefetched_unused: unused });
        }
    }

    /// Drops `key` if resident and discards its load in flight, if any. Returns whether anything was dropped.
    pub(crate) fn drop_key(&self, c: &mut Control<P>, key: &Key<P>) -> bool {
        let mut dropped = false;
        if let Some(flight) = c.inflight.remove(key) {
            flight.discard();
            dropped = true;
        }
        if let Some(meta) = c.index.remove(key) {
            self.resident.remove(self.resident.hash(key), key, &mut c.garbage);
            if meta.prefetched() && !meta.used() {
                c.counters.prefetch_wasted += 1;
            }
            dropped = true;
        }
        dropped
    }

    /// Whether a prefetch scored `score` could be admitted now without displacing anything likelier.
    fn has_room(&self, c: &Control<P>, score: f64) -> bool {
        let cfg = &self.config;
        let pending = c.prefetching;
        let len = c.index.len();
        let total = c.index.total_weight();
        let entries_ok = cfg.max_entries.is_none_or(|m| len + pending < m);
        let weight_ok = cfg.max_weight.is_none_or(|m| {
            let avg = if len == 0 { 1 } else { (total / len as u128).max(1) };
            total + avg * (pending as u128 + 1) <= u128::from(m)
        });
        (entries_ok && weight_ok) || c.index.victims().next().is_some_and(|(_, s, _)| s < score)
    }

    /// The prefetch worker: pops queued keys and loads them until the cache closes.
    pub(crate) fn worker(&self) {
        loop {
            let mut c = self.lock();
            let (key, score) = loop {
                if self.is_closed() {
                    return;
                }
                if let Some(job) = c.queue.pop_front() {
                    break job;
                }
                c = self.work.wait(c).unwrap_or_else(std::sync::PoisonError::into_inner);
            };
            if c.index.contains(&key) || c.inflight.contains_key(&key) {
                drop(c);
                self.idle.notify_all();
                continue;
            }
            if !self.has_room(&c, score) {
                c.counters.prefetch_cancelled += 1;
                self.emit(Event::PrefetchCancel { key });
                drop(c);
                self.idle.notify_all();
                continue;
            }
            let flight = c.new_flight(LoadKind::Prefetch);
            c.inflight.insert(key.clone(), Arc::clone(&flight));
            c.prefetching += 1;
            c.counters.prefetch_issued += 1;
            if self.emits() {
                self.emit(Event::PrefetchStart { key: key.clone(), score });
            }
            drop(c);
            let hash = self.resident.hash(&key);
            let _ = self.load(&key, hash, flight, Some(score));
        }
    }
}
