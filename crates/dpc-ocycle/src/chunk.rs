//! What a consumer receives: chunks, and the results of its callback.

use std::ops::Deref;
use std::time::Duration;

use crate::error::CallbackError;

/// Where a chunk sits in the stream: everything about it except its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub seq: u64,
    pub start: u64,
    pub len: usize,
    pub padded: usize,
    pub time: Duration,
    pub end_time: Duration,
    pub discontinuity: bool,
}

/// One chunk handed to a consumer's callback.
///
/// It dereferences to its samples (`&[T]`).
/// Its samples are exactly the stream's samples `start .. start + len - padded`, followed by `padded` pad values
/// (only a chunk emitted by [`Flush::Pad`](crate::Flush::Pad) has any).
pub struct Chunk<'a, T> {
    pub(crate) meta: Meta,
    pub(crate) data: &'a [T],
}

impl<'a, T> Chunk<'a, T> {
    /// Sequence number among this consumer's chunks, from 0; dropped chunks use up their number too.
    pub fn seq(&self) -> u64 {
        self.meta.seq
    }

    /// Index in the written stream of the chunk's first sample (samples skipped or dropped still count).
    pub fn start(&self) -> u64 {
        self.meta.start
    }

    /// Number of samples, padding included.
    pub fn len(&self) -> usize {
        self.meta.len
    }

    /// Whether the chunk holds no samples (never true for an emitted chunk).
    pub fn is_empty(&self) -> bool {
        self.meta.len == 0
    }

    /// Number of pad values at the end (non-zero only for a chunk padded at flush).
    pub fn padded(&self) -> usize {
        self.meta.padded
    }

    /// Time of the first sample: the last anchor's time plus the samples since that anchor at the stream's rate.
    pub fn time(&self) -> Duration {
        self.meta.time
    }

    /// Time just after the last sample, on the same anchor as [`time`](Self::time);
    /// it equals the next chunk's time when chunks are contiguous, so durations sum exactly.
    pub fn end_time(&self) -> Duration {
        self.meta.end_time
    }

    /// `end_time - time`.
    pub fn duration(&self) -> Duration {
        self.meta.end_time.saturating_sub(self.meta.time)
    }

    /// Whether the timeline jumped (a write's timestamp was off by more than the tolerance)
    /// after the previous chunk's start and before this chunk's end.
    pub fn is_discontinuity(&self) -> bool {
        self.meta.discontinuity
    }

    /// The samples.
    pub fn data(&self) -> &'a [T] {
        self.data
    }
}

impl<T> std::fmt::Debug for Chunk<'_, T> {
    /// The chunk's position and time; the samples are left out (there may be millions).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunk")
            .field("seq", &self.meta.seq)
            .field("start", &self.meta.start)
            .field("len", &self.meta.len)
            .field("padded", &self.meta.padded)
            .field("time", &self.meta.time)
            .field("end_time", &self.meta.end_time)
            .field("discontinuity", &self.meta.discontinuity)
            .finish_non_exhaustive()
    }
}

impl<T> Deref for Chunk<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.data
    }
}

/// A finished callback, delivered to `on_done` on the producer's thread in emission order.
#[derive(Debug)]
#[non_exhaustive]
pub struct Done<R> {
    /// The chunk's sequence number.
    pub seq: u64,
    /// The chunk's first sample index.
    pub start: u64,
    /// The chunk's length, padding included.
    pub len: usize,
    /// The chunk's start time.
    pub time: Duration,
    /// What the callback returned, or how it failed.
    pub result: Result<R, CallbackError>,
}

impl<R> Done<R> {
    pub(crate) fn new(meta: Meta, result: Result<R, CallbackError>) -> Self {
        Done { seq: meta.seq, start: meta.start, len: meta.len, time: meta.time, result }
    }
}

/// A callback failure kept for [`FanOut::take_errors`](crate::FanOut::take_errors) when the consumer has no `on_done`.
#[derive(Debug)]
#[non_exhaustive]
pub struct ChunkError {
    /// Index of the consumer, in the order they were added.
    pub consumer: usize,
    /// The chunk's sequence number.
    pub seq: u64,
    /// The chunk's first sample index.
    pub start: u64,
    /// The failure.
    pub error: CallbackError,
}

/// What a process-mode consumer's chunk produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessOutput {
    /// Bytes written to the child's stdin for this chunk.
    pub bytes: u64,
    /// The child's stdout (per-chunk mode only; empty for a persistent child, whose stdout is the command's own).
    pub stdout: Vec<u8>,
}
