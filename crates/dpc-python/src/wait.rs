//! Waiting for a load from the main thread without holding back Ctrl-C.
//!
//! Python runs signal handlers only on the main thread, between bytecodes, so a `get` that waits inside Rust
//! would hold a `KeyboardInterrupt` back until the load ends. On the main thread, a `get` that is not a hit
//! therefore drives dpc-core's `get_async` future: its load runs on one of the cache's demand threads while
//! this thread sleeps (without the GIL) in short slices and runs `check_signals` between them. If a signal
//! handler raises, the future is dropped: the wait is abandoned, the load is not, and its value is cached.

use std::cell::Cell;
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
pub fn block_on<F: Future>(py: Python<'_>, future: F) -> PyResult<F::Output> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return Ok(value);
        }
        // A wake-up between the poll and the park leaves the token set, so the park returns at once.
        py.detach(|| thread::park_timeout(POLL));
        py.check_signals()?;
    }
}

/// Whether this is Python's main thread, the only one that runs signal handlers (asked once per thread).
pub fn on_main_thread(py: Python<'_>) -> bool {
    thread_local! {
        static MAIN: Cell<Option<bool>> = const { Cell::new(None) };
    }
    MAIN.with(|m| {
        if let Some(main) = m.get() {
            return main;
        }
        let main = (|| -> PyResult<bool> {
            let threading = py.import("threading")?;
            Ok(threading.call_method0("current_thread")?.is(&threading.call_method0("main_thread")?))
        })()
        .unwrap_or(false);
        m.set(Some(main));
        main
    })
}
