//! A full streaming parse: every row of a stream of any size, in constant memory.

use std::io::Read;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::index::{IndexError, MAX_DIAGNOSTICS, for_each_block};
use crate::parse::{Sink, parse_chunk};
use crate::{Detection, LineError, Mode};

/// What [`scan`] saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Scan {
    /// Bytes read.
    pub bytes: u64,
    /// Lines, blank ones included.
    pub lines: u64,
    /// Lines holding only whitespace.
    pub blank_lines: u64,
    /// Good rows.
    pub rows: u64,
    /// Bad lines (lenient mode; strict mode fails on the first).
    pub bad_lines: u64,
    /// `columns[n]`: good rows with `n` columns (6 to 10).
    pub columns: [u64; 11],
    /// The first 1000 bad lines.
    pub diagnostics: Vec<LineError>,
    /// Whether the stream starts with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Whether lines end with CRLF (judged on the first line that is not empty).
    pub crlf: bool,
    /// Wall time of the pass.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Parses every line of `reader`, calling `on_row` for each good row in file order, in 1 MiB blocks.
/// The stream is read once, front to back (a pipe works), in constant memory: a line longer than
/// [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES) ends the scan with [`LineErrorKind::LineTooLong`](crate::LineErrorKind::LineTooLong) in either mode.
///
/// ```
/// let mut ids = std::collections::BTreeSet::new();
/// let scan = dpc_mot::scan(&b"1,7,0,0,1,1\n\n2,9,0,0,1,1,0.5\n"[..], dpc_mot::Mode::Strict, |d| {
///     ids.insert(d.id);
/// })?;
/// assert_eq!((scan.rows, scan.blank_lines, scan.columns[7]), (2, 1, 1));
/// assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec![7, 9]);
/// # Ok::<(), dpc_mot::IndexError>(())
/// ```
pub fn scan<R: Read>(reader: R, mode: Mode, on_row: impl FnMut(&Detection)) -> Result<Scan, IndexError> {
    let started = Instant::now();
    let mut s = Scan::default();
    let mut sink = ScanSink { mode, on_row, bad_lines: 0, diagnostics: Vec::new() };
    let mut crlf_known = false;
    // Whole blocks of lines go through the same parser as a frame load (its fast paths need the bytes after
    // a line, which a line-by-line split would hide).
    let (bytes, bom) = for_each_block(reader, |block, offset| {
        let counts = parse_chunk(block, offset, s.lines + 1, &mut sink)?;
        s.lines += counts.lines;
        s.blank_lines += counts.blank;
        for (total, n) in s.columns.iter_mut().zip(counts.columns) {
            *total += n;
        }
        if !crlf_known {
            // Judged on the first line that is not empty, as the index does.
            if let Some(line) = block.split(|&b| b == b'\n').find(|l| !l.is_empty()) {
                crlf_known = true;
                s.crlf = line.ends_with(b"\r");
            }
        }
        Ok(counts.lines)
    })?;
    s.rows = s.columns.iter().sum();
    s.bad_lines = sink.bad_lines;
    s.diagnostics = sink.diagnostics;
    s.bytes = bytes;
    s.bom = bom;
    s.elapsed = started.elapsed();
    Ok(s)
}

/// Hands rows to the caller and keeps the first [`MAX_DIAGNOSTICS`] skipped lines.
struct ScanSink<F> {
    mode: Mode,
    on_row: F,
    bad_lines: u64,
    diagnostics: Vec<LineError>,
}

impl<F: FnMut(&Detection)> Sink for ScanSink<F> {
    fn mode(&self) -> Mode {
        self.mode
    }

    #[inline]
    fn row(&mut self, d: Detection) {
        (self.on_row)(&d);
    }

    fn skipped(&mut self, error: LineError) {
        self.bad_lines += 1;
        if self.diagnostics.len() < MAX_DIAGNOSTICS {
            self.diagnostics.push(error);
        }
    }
}
