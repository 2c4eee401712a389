//! Waiting for a load from the main thread without losing Ctrl-C.
//!
//! Python runs signal handlers only on the main thread, between bytecodes. A `get` that waits inside Rust would
//! hold a `KeyboardInterrupt` back until the load ends, so on the main thread a `get` that is not a hit runs on
//! a helper thread while the main thread waits in short slices, running `check_signals` between them.
//! If a signal handler raises, the `get` raises; the load goes on in the background and its value is cached.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How often the main thread looks at pending signals while it waits.
const POLL: Duration = Duration::from_millis(20);

type Job = Box<dyn FnOnce() + Send>;

/// Helper threads, made when none is idle (only the main thread hands out work, one job at a time, but an
/// interrupted job may still be running when the next one comes), and kept for the life of the process.
struct Helpers {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    idle: AtomicUsize,
}

fn helpers() -> &'static Helpers {
    static HELPERS: OnceLock<Helpers> = OnceLock::new();
    HELPERS.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded();
        Helpers { tx, rx, idle: AtomicUsize::new(0) }
    })
}

fn submit(job: Job) -> PyResult<()> {
    let h = helpers();
    if h.idle.load(Ordering::Acquire) == 0 {
        let rx = h.rx.clone();
        std::thread::Builder::new()
            .name("dpc-py-wait".into())
            .spawn(move || {
                let h = helpers();
                loop {
                    h.idle.fetch_add(1, Ordering::AcqRel);
                    let Ok(job) = rx.recv() else { return };
                    h.idle.fetch_sub(1, Ordering::AcqRel);
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
            })
            .map_err(|e| PyRuntimeError::new_err(format!("could not start a helper thread: {e}")))?;
        // The new thread counts itself idle before it takes a job; meanwhile the job waits in the channel.
    }
    h.tx.send(job).map_err(|_| PyRuntimeError::new_err("the helper threads are gone"))
}

/// Runs `job` on a helper thread and waits for it, delivering signals (`KeyboardInterrupt`) meanwhile.
pub fn interruptible<T: Send + 'static>(py: Python<'_>, job: impl FnOnce() -> T + Send + 'static) -> PyResult<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    submit(Box::new(move || {
        let _ = tx.send(job());
    }))?;
    loop {
        match py.detach(|| rx.recv_timeout(POLL)) {
            Ok(value) => return Ok(value),
            Err(RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(RecvTimeoutError::Disconnected) => return Err(PyRuntimeError::new_err("a cache load panicked")),
        }
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
