//! Helpers: record what consumers receive, and the stream that was written.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, bounded};
use dpc_ocycle::{Chunk, Sample};

/// Everything a callback saw of one chunk.
#[derive(Clone, Debug, PartialEq)]
pub struct Got<T> {
    pub seq: u64,
    pub start: u64,
    pub data: Vec<T>,
    pub padded: usize,
    pub time: Duration,
    pub end_time: Duration,
    pub disc: bool,
}

impl<T: Sample> Got<T> {
    pub fn of(c: &Chunk<'_, T>) -> Self {
        Got {
            seq: c.seq(),
            start: c.start(),
            data: c.data().to_vec(),
            padded: c.padded(),
            time: c.time(),
            end_time: c.end_time(),
            disc: c.is_discontinuity(),
        }
    }

    pub fn end(&self) -> u64 {
        self.start + (self.data.len() - self.padded) as u64
    }
}

/// A shared list that callbacks on any thread push to.
#[derive(Clone, Debug)]
pub struct Rec<T>(pub Arc<Mutex<Vec<T>>>);

impl<T: Clone> Rec<T> {
    pub fn new() -> Self {
        Rec(Arc::new(Mutex::new(Vec::new())))
    }

    pub fn push(&self, x: T) {
        self.0.lock().unwrap().push(x);
    }

    pub fn get(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
}

/// The test stream: sample `i` has value `i`.
pub fn ramp(n: usize) -> Vec<i32> {
    (0..n as i32).collect()
}

/// Writes `stream` in frames of the given sizes, cycling through them.
pub fn write_frames(mut write: impl FnMut(&[i32]), stream: &[i32], frames: &[usize]) {
    let mut pos = 0;
    let mut k = 0;
    while pos < stream.len() {
        let n = frames[k % frames.len()].min(stream.len() - pos);
        write(&stream[pos..pos + n]);
        pos += n;
        k += 1;
    }
}

/// Checks that every chunk holds exactly the stream's samples at its indices.
pub fn assert_faithful(got: &[Got<i32>], stream: &[i32], pad: i32) {
    for g in got {
        let real = g.data.len() - g.padded;
        let s = g.start as usize;
        assert_eq!(&g.data[..real], &stream[s..s + real], "chunk {} starting at {}", g.seq, g.start);
        assert!(g.data[real..].iter().all(|&x| x == pad), "chunk {} padding", g.seq);
    }
}

/// Runs `f` on a thread of its own and returns its result, or fails the test if it has not returned within `limit`:
/// a test of a wait that must be bounded fails instead of hanging the run when the bound is missing.
pub fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = bounded(1);
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        // `f` panicked: show its panic.
        Err(RecvTimeoutError::Disconnected) => std::panic::resume_unwind(handle.join().unwrap_err()),
        Err(RecvTimeoutError::Timeout) => panic!("still blocked after {limit:?}"),
    }
}
