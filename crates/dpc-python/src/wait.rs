//! Waiting for a load from the main thread without holding back Ctrl-C.
//!
//! Python runs signal handlers only on the main thread, between bytecodes, so a `get` that waits inside Rust
//! would hold a `KeyboardInterrupt` back until the load ends. A `get` therefore drives dpc-core's `get_async`
//! future: a hit is ready at once; otherwise the load runs on one of the cache's demand threads while this
//! thread sleeps (without the GIL) in short slices and runs `check_signals` between them. If a signal handler
//! raises, the future is dropped: the wait is abandoned, the load is not, and its value is cached.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use pyo3::prelude::*;

/// How often the main thread looks at pending signals while it waits.
const POLL: Duration = Duration::from_millis(20);

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread, delivering signals (`KeyboardInterrupt`) while it is pending.
///
/// The first poll runs with the GIL held and a no-op waker: polling never blocks, so a hit is served without
/// releasing the GIL or allocating a waker. Only a pending future gets a real waker and a wait without the GIL.
pub fn block_on<F: Future>(py: Python<'_>, future: F) -> PyResult<F::Output> {
    let mut future = pin!(future);
    if let Poll::Ready(value) = future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        return Ok(value);
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return Ok(value);
        }
        // A wake-up between the poll and the park leaves the token set, so the park returns at once.
        py.detach(|| thread::park_timeout(POLL));
        py.check_signals()?;
    }
}
