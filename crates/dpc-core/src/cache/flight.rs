//! One load in flight, and what waits for it: threads (a condition variable) and futures (wakers).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::Waker;

use crate::{CacheError, LoadKind};

/// The result every waiter of one load receives.
pub(crate) type Outcome<K, V, E> = Result<Arc<V>, CacheError<K, E>>;

/// One load in flight, joined by every `get` of its key until it completes.
///
/// The first [`complete`](Self::complete) wins: `close` completes every flight with `Closed` at once, and the
/// load's own result, arriving later, is then only returned to the thread that ran it.
pub(crate) struct Flight<K, V, E> {
    pub(crate) kind: LoadKind,
    /// Set when a request joined this prefetch, so its value counts as used.
    pub(crate) used: AtomicBool,
    /// Set (under the control lock) by `invalidate` or `insert`: the value is returned to the waiters already
    /// here but not kept, and the flight is no longer registered, so later requests load afresh.
    pub(crate) discarded: AtomicBool,
    state: Mutex<State<K, V, E>>,
    done: Condvar,
}

struct State<K, V, E> {
    result: Option<Outcome<K, V, E>>,
    wakers: Vec<Waker>,
    /// Threads blocked in `wait`: `complete` signals the condition variable only if there are any, since a
    /// `notify_all` is a system call even with no one waiting, and most loads have no waiter.
    sleepers: usize,
}

impl<K: Clone, V, E> Flight<K, V, E> {
    pub(crate) fn new(kind: LoadKind) -> Arc<Self> {
        Arc::new(Flight {
            kind,
            used: AtomicBool::new(false),
            discarded: AtomicBool::new(false),
            state: Mutex::new(State { result: None, wakers: Vec::new(), sleepers: 0 }),
            done: Condvar::new(),
        })
    }

    /// A settled flight nobody else holds, made new for another load: a miss then allocates no flight.
    pub(crate) fn reuse(mut this: Arc<Self>, kind: LoadKind) -> Arc<Self> {
        match Arc::get_mut(&mut this) {
            Some(f) => {
                f.kind = kind;
                *f.used.get_mut() = false;
                *f.discarded.get_mut() = false;
                let state = f.state.get_mut().unwrap_or_else(PoisonError::into_inner);
                state.result = None;
                state.wakers.clear();
                state.sleepers = 0;
                this
            }
            None => Flight::new(kind),
        }
    }

    pub(crate) fn is_prefetch(&self) -> bool {
        self.kind == LoadKind::Prefetch
    }

    pub(crate) fn discard(&self) {
        self.discarded.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_discarded(&self) -> bool {
        self.discarded.load(Ordering::Relaxed)
    }

    /// Settles the flight unless it already was; wakes every thread and future waiting for it.
    pub(crate) fn complete(&self, result: Outcome<K, V, E>) {
        let (wakers, sleepers) = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.result.is_some() {
                return;
            }
            state.result = Some(result);
            (std::mem::take(&mut state.wakers), state.sleepers)
        };
        if sleepers > 0 {
            self.done.notify_all();
        }
        for waker in wakers {
            waker.wake();
        }
    }

    /// Blocks until the flight is settled.
    pub(crate) fn wait(&self) -> Outcome<K, V, E> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(result) = &state.result {
                return result.clone();
            }
            state.sleepers += 1;
            state = self.done.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.sleepers -= 1;
        }
    }

    /// The result if settled; otherwise registers `waker` to be woken when it is.
    pub(crate) fn poll(&self, waker: &Waker) -> Option<Outcome<K, V, E>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(result) = &state.result {
            return Some(result.clone());
        }
        if !state.wakers.iter().any(|w| w.will_wake(waker)) {
            state.wakers.push(waker.clone());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type F = Flight<u64, u64, std::convert::Infallible>;

    #[test]
    fn a_reused_flight_is_as_new_and_a_shared_one_is_not_reused() {
        let f = F::new(LoadKind::Prefetch);
        f.used.store(true, Ordering::Relaxed);
        f.discard();
        f.complete(Ok(Arc::new(7)));
        let ptr = Arc::as_ptr(&f);
        let f = Flight::reuse(f, LoadKind::Demand);
        assert_eq!(Arc::as_ptr(&f), ptr, "the only reference: the same allocation");
        assert_eq!(f.kind, LoadKind::Demand);
        assert!(!f.used.load(Ordering::Relaxed) && !f.is_discarded());
        // Unsettled again: a completion is delivered to the next waiter.
        f.complete(Ok(Arc::new(8)));
        assert_eq!(*f.wait().unwrap(), 8);

        let held = Arc::clone(&f);
        let fresh = Flight::reuse(f, LoadKind::Prefetch);
        assert!(!Arc::ptr_eq(&fresh, &held), "a flight someone holds is never reused");
        assert_eq!(*held.wait().unwrap(), 8, "and the holder's flight is untouched");
    }
}
