//! The frame index: frame number -> byte ranges, built in one streaming pass.
//!
//! The pass reads the input in large blocks, finds line ends with `memchr` and parses only the first column of
//! each line. Consecutive rows of the same frame coalesce into one [`Run`], so a file sorted by frame has exactly
//! one run per frame; a file that is not (official ground truth is sorted by track id) has several, and the
//! runs of each frame are kept in file order.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use memchr::{memchr_iter, memrchr};
use serde::Serialize;

use crate::parse::{MAX_LINE_BYTES, bom_len, frame_of};
use crate::{LineError, LineErrorKind, Mode};

mod saved;
pub use saved::SavedIndexError;

/// A contiguous byte range of the file holding rows of one frame (and possibly blank lines between them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Run {
    /// The frame.
    pub frame: u64,
    /// Byte offset of the first row.
    pub start: u64,
    /// Byte offset just past the last row's line ending.
    pub end: u64,
    /// Line number (from 1) of the first row.
    pub line: u64,
    /// Rows in the range.
    pub rows: u32,
}

/// Frame number -> byte ranges of its rows. Built by [`FrameIndex::build`].
#[derive(Clone, Debug, Default)]
pub struct FrameIndex {
    /// Distinct frames that have rows, ascending.
    frames: Vec<u64>,
    /// CSR offsets: the runs of `frames[i]` are `runs[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    runs: Vec<Run>,
    summary: IndexSummary,
    diagnostics: Vec<LineError>,
}

/// What the indexing pass saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexSummary {
    /// Bytes read.
    pub bytes: u64,
    /// Lines, blank ones included.
    pub lines: u64,
    /// Lines holding a row (a valid frame column).
    pub rows: u64,
    /// Lines holding only whitespace.
    pub blank_lines: u64,
    /// Lines whose frame column is bad (lenient mode; strict mode fails on the first).
    pub bad_lines: u64,
    /// Whether the rows are sorted by frame (each frame's rows are contiguous, bad lines aside).
    pub sorted: bool,
    /// Whether the file starts with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Whether lines end with CRLF (judged on the first line).
    pub crlf: bool,
    /// Contiguous ranges in the index (equal to the number of frames with rows when sorted).
    pub runs: u64,
    /// Wall time of the pass.
    #[serde(serialize_with = "as_millis")]
    pub elapsed: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

/// Why [`FrameIndex::build`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum IndexError {
    /// Reading the input failed.
    Io(io::Error),
    /// A line's frame column is bad (strict mode).
    Line(LineError),
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexError::Io(e) => write!(f, "reading failed: {e}"),
            IndexError::Line(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IndexError::Io(e) => Some(e),
            IndexError::Line(e) => Some(e),
        }
    }
}

/// Block size of the streaming passes.
const BLOCK: usize = 1 << 20;

/// Calls `f(line, start, end)` for every line of `reader` (without its `\n`; `[start, end)` is the line's byte
/// range in the stream, line ending included), reading 1 MiB blocks and skipping a leading byte-order mark.
/// Returns the bytes read and whether there was a byte-order mark.
pub(crate) fn for_each_line<R: Read>(
    reader: R,
    mut f: impl FnMut(&[u8], u64, u64) -> Result<(), LineError>,
) -> Result<(u64, bool), IndexError> {
    for_each_block(reader, |block, offset| {
        let mut start = 0usize;
        let mut lines = 0;
        for nl in memchr_iter(b'\n', block) {
            f(&block[start..nl], offset + start as u64, offset + nl as u64 + 1)?;
            start = nl + 1;
            lines += 1;
        }
        // Only the stream's last block can end without a line ending.
        if start < block.len() {
            f(&block[start..], offset + start as u64, offset + block.len() as u64)?;
            lines += 1;
        }
        Ok(lines)
    })
}

/// Reads `reader` in 1 MiB blocks and calls `f(lines, offset)` with each run of whole lines (each ending in
/// `\n`, but the stream's last line, which may have none) and the stream offset of its first byte; `f`
/// returns how many lines it was given. A UTF-8 byte-order mark at the start of the stream is skipped.
/// Memory is constant: a line that grows past [`MAX_LINE_BYTES`] without an end fails with
/// [`LineErrorKind::LineTooLong`] before more of it is read (the callers check the complete lines they get).
/// Returns the bytes read and whether there was a byte-order mark.
pub(crate) fn for_each_block<R: Read>(
    mut reader: R,
    mut f: impl FnMut(&[u8], u64) -> Result<u64, LineError>,
) -> Result<(u64, bool), IndexError> {
    // A partial line is at most MAX_LINE_BYTES, so the buffer always has room for a read after it.
    const _: () = assert!(MAX_LINE_BYTES < BLOCK / 2);
    let mut buf = vec![0u8; BLOCK];
    // `buf[..filled]` holds unprocessed bytes; `base` is the stream offset of `buf[0]`.
    let mut filled = 0usize;
    let mut base = 0u64;
    let mut total = 0u64;
    let mut lines = 0u64;
    let mut first = true;
    let mut bom = false;
    loop {
        let n = match reader.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IndexError::Io(e)),
        };
        let eof = n == 0;
        let fresh = filled;
        filled += n;
        total += n as u64;
        let mut start = 0usize;
        if first {
            if filled < 3 && !eof {
                continue;
            }
            first = false;
            start = bom_len(&buf[..filled]);
            bom = start > 0;
        }
        // Whole lines end at the last newline; only the bytes just read can hold one (the others had none).
        let end = if eof {
            filled
        } else {
            memrchr(b'\n', &buf[fresh.max(start)..filled]).map_or(start, |k| fresh.max(start) + k + 1)
        };
        if end > start {
            lines += f(&buf[start..end], base + start as u64).map_err(IndexError::Line)?;
        }
        if eof {
            return Ok((total, bom));
        }
        if filled - end > MAX_LINE_BYTES {
            let kind = LineErrorKind::LineTooLong { limit: MAX_LINE_BYTES };
            return Err(IndexError::Line(LineError::new(lines + 1, base + end as u64, &buf[end..filled], kind)));
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
        base += end as u64;
    }
}

impl FrameIndex {
    /// Indexes a MOT stream in one pass, reading it in 1 MiB blocks (it is never loaded whole).
    ///
    /// Only the frame column is checked here; the other columns are checked when a frame is parsed.
    /// In strict mode a bad frame column fails the build; in lenient mode the line is left out and
    /// reported in [`diagnostics`](Self::diagnostics).
    pub fn build<R: Read>(reader: R, mode: Mode) -> Result<FrameIndex, IndexError> {
        let started = Instant::now();
        let mut b = Builder::new(mode);
        let (bytes, bom) = for_each_line(reader, |line, start, end| b.line(line, start, end))?;
        let mut index = b.finish();
        index.summary.bytes = bytes;
        index.summary.bom = bom;
        index.summary.elapsed = started.elapsed();
        Ok(index)
    }

    /// Indexes a buffer already in memory (the same result as [`build`](Self::build) on it, without copying).
    pub fn from_bytes(bytes: &[u8], mode: Mode) -> Result<FrameIndex, LineError> {
        let started = Instant::now();
        let mut b = Builder::new(mode);
        let bom = bom_len(bytes);
        let mut start = bom;
        for nl in memchr_iter(b'\n', &bytes[bom..]) {
            let nl = bom + nl;
            b.line(&bytes[start..nl], start as u64, nl as u64 + 1)?;
            start = nl + 1;
        }
        if start < bytes.len() {
            b.line(&bytes[start..], start as u64, bytes.len() as u64)?;
        }
        let mut index = b.finish();
        index.summary.bytes = bytes.len() as u64;
        index.summary.bom = bom > 0;
        index.summary.elapsed = started.elapsed();
        Ok(index)
    }

    /// Distinct frames that have at least one row, ascending.
    pub fn frames(&self) -> &[u64] {
        &self.frames
    }

    /// The first and last frame with rows, or `None` for a file without rows.
    pub fn range(&self) -> Option<(u64, u64)> {
        Some((*self.frames.first()?, *self.frames.last()?))
    }

    /// The byte ranges of `frame`'s rows, in file order; empty for a frame without rows.
    pub fn runs(&self, frame: u64) -> &[Run] {
        match self.position(frame) {
            Some(i) => &self.runs[self.starts[i] as usize..self.starts[i + 1] as usize],
            None => &[],
        }
    }

    /// Every run, grouped by frame (ascending) and in file order within a frame.
    pub fn all_runs(&self) -> &[Run] {
        &self.runs
    }

    /// Rows of `frame`.
    pub fn rows(&self, frame: u64) -> u64 {
        self.runs(frame).iter().map(|r| u64::from(r.rows)).sum()
    }

    /// What the pass saw: bytes, lines, rows, sortedness, time.
    pub fn summary(&self) -> &IndexSummary {
        &self.summary
    }

    /// Lines left out because of a bad frame column (lenient mode), at most the first 1000.
    pub fn diagnostics(&self) -> &[LineError] {
        &self.diagnostics
    }

    fn position(&self, frame: u64) -> Option<usize> {
        let (first, last) = self.range()?;
        if frame < first || frame > last {
            return None;
        }
        // Dense frame numbers (the usual case) map directly; sparse ones take a binary search.
        if (last - first) as usize + 1 == self.frames.len() {
            return Some((frame - first) as usize);
        }
        self.frames.binary_search(&frame).ok()
    }
}

/// At most this many diagnostics are kept; the count is in the summary.
pub(crate) const MAX_DIAGNOSTICS: usize = 1000;

/// Sorts runs by frame, stably (the runs of one frame stay in file order): a counting sort when the frame
/// numbers are dense, as they are in MOT files, which is linear and several times faster than a merge sort
/// on the million single-row runs of an id-major file; a merge sort otherwise.
fn sort_runs(mut runs: Vec<Run>) -> Vec<Run> {
    let (Some(lo), Some(hi)) = (runs.iter().map(|r| r.frame).min(), runs.iter().map(|r| r.frame).max()) else {
        return runs;
    };
    let span = hi - lo;
    if span > 4 * runs.len() as u64 + 1024 || runs.len() >= u32::MAX as usize {
        runs.sort_by_key(|r| r.frame);
        return runs;
    }
    // `next[f]`: where the next run of frame `lo + f` goes.
    let mut next = vec![0u32; span as usize + 2];
    for r in &runs {
        next[(r.frame - lo) as usize + 1] += 1;
    }
    for i in 1..next.len() {
        next[i] += next[i - 1];
    }
    let mut out = runs.clone();
    for r in &runs {
        let slot = &mut next[(r.frame - lo) as usize];
        out[*slot as usize] = *r;
        *slot += 1;
    }
    out
}

struct Builder {
    mode: Mode,
    runs: Vec<Run>,
    /// The open run.
    cur: Option<Run>,
    line_no: u64,
    summary: IndexSummary,
    diagnostics: Vec<LineError>,
    crlf_known: bool,
}

impl Builder {
    fn new(mode: Mode) -> Self {
        Builder {
            mode,
            runs: Vec::new(),
            cur: None,
            line_no: 0,
            summary: IndexSummary::default(),
            diagnostics: Vec::new(),
            crlf_known: false,
        }
    }

    /// One line `bytes` (without `\n`) spanning `[start, end)` of the file, line ending included.
    #[inline]
    fn line(&mut self, bytes: &[u8], start: u64, end: u64) -> Result<(), LineError> {
        self.line_no += 1;
        if bytes.len() > MAX_LINE_BYTES {
            return Err(LineError::new(
                self.line_no,
                start,
                bytes,
                LineErrorKind::LineTooLong { limit: MAX_LINE_BYTES },
            ));
        }
        if !self.crlf_known && !bytes.is_empty() {
            self.crlf_known = true;
            self.summary.crlf = bytes.ends_with(b"\r");
        }
        match frame_of(bytes) {
            Ok(Some(frame)) => {
                self.summary.rows += 1;
                match &mut self.cur {
                    Some(run) if run.frame == frame && run.rows < u32::MAX => {
                        run.end = end;
                        run.rows += 1;
                    }
                    cur => {
                        if let Some(run) = cur.take() {
                            self.runs.push(run);
                        }
                        *cur = Some(Run { frame, start, end, line: self.line_no, rows: 1 });
                    }
                }
            }
            Ok(None) => self.summary.blank_lines += 1,
            Err(kind) => {
                let err = LineError::new(self.line_no, start, bytes, kind);
                if self.mode == Mode::Strict {
                    return Err(err);
                }
                self.summary.bad_lines += 1;
                if self.diagnostics.len() < MAX_DIAGNOSTICS {
                    self.diagnostics.push(err);
                }
                // A bad line ends the open run: the range must not cover it.
                if let Some(run) = self.cur.take() {
                    self.runs.push(run);
                }
            }
        }
        self.summary.lines = self.line_no;
        Ok(())
    }

    fn finish(mut self) -> FrameIndex {
        if let Some(run) = self.cur.take() {
            self.runs.push(run);
        }
        let mut runs = self.runs;
        // Non-decreasing: two runs of one frame in a row were only split by a bad line (lenient mode).
        let sorted = runs.windows(2).all(|w| w[0].frame <= w[1].frame);
        if !sorted {
            runs = sort_runs(runs);
        }
        let mut frames = Vec::new();
        let mut starts = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            if frames.last() != Some(&r.frame) {
                frames.push(r.frame);
                starts.push(i as u32);
            }
        }
        starts.push(runs.len() as u32);
        let mut summary = self.summary;
        summary.sorted = sorted;
        summary.runs = runs.len() as u64;
        FrameIndex { frames, starts, runs, summary, diagnostics: self.diagnostics }
    }
}
