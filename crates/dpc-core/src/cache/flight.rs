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
