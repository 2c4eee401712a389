//! Typed errors: a bad line (with its line number, byte offset and text) and everything a provider can hit.

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

/// The names of the ten columns, for messages.
pub const COLUMN_NAMES: [&str; 10] =
    ["frame", "id", "left", "top", "width", "height", "conf", "class", "visibility", "x/y/z"];

/// What is wrong with one line. Columns are numbered from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LineErrorKind {
    /// Fewer than the six mandatory columns.
    TooFewColumns {
        /// How many columns the line has.
        found: usize,
    },
    /// More than ten columns.
    TooManyColumns {
        /// How many columns the line has (counted up to 11).
        found: usize,
    },
    /// Two separators with nothing between them, or a separator at the start or the end.
    EmptyField {
        /// The empty column.
        column: usize,
    },
    /// A column that is not a finite number.
    InvalidNumber {
        /// The offending column.
        column: usize,
    },
    /// The frame, id or class column holds a number with a fractional part (`1.0` is accepted, `1.5` is not).
    NotAnInteger {
        /// The offending column.
        column: usize,
    },
    /// An integer column too large for 64 bits.
    IntegerOverflow {
        /// The offending column.
        column: usize,
    },
    /// A negative frame number.
    NegativeFrame,
    /// A line longer than `limit` bytes ([`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES)). No MOT line is near that
    /// long, so the input is not a MOT file (a binary, `/dev/zero`); this ends a parse or index in lenient
    /// mode too, after reading at most `limit` bytes of the line.
    LineTooLong {
        /// The longest accepted line, bytes (line ending excluded).
        limit: usize,
    },
}

impl fmt::Display for LineErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |c: usize| COLUMN_NAMES.get(c.wrapping_sub(1)).copied().unwrap_or("?");
        match *self {
            LineErrorKind::TooFewColumns { found } => {
                write!(f, "{found} column(s), a MOT line needs at least 6 (frame,id,left,top,width,height)")
            }
            LineErrorKind::TooManyColumns { found } => write!(f, "{found} columns, a MOT line has at most 10"),
            LineErrorKind::EmptyField { column } => write!(f, "column {column} ({}) is empty", name(column)),
            LineErrorKind::InvalidNumber { column } => {
                write!(f, "column {column} ({}) is not a finite number", name(column))
            }
            LineErrorKind::NotAnInteger { column } => {
                write!(f, "column {column} ({}) must be an integer", name(column))
            }
            LineErrorKind::IntegerOverflow { column } => {
                write!(f, "column {column} ({}) does not fit in 64 bits", name(column))
            }
            LineErrorKind::NegativeFrame => f.write_str("column 1 (frame) is negative"),
            LineErrorKind::LineTooLong { limit } => {
                write!(f, "the line is longer than {limit} bytes: this is not a MOT file")
            }
        }
    }
}

/// A bad line: an error in strict mode, a diagnostic (and a skipped line) in lenient mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// The line number, counting from 1.
    pub line: u64,
    /// The byte offset of the line's first byte in the file (or buffer).
    pub offset: u64,
    /// The line's text (lossy UTF-8, at most 200 characters, without the line ending).
    pub text: String,
    /// What is wrong with it.
    pub kind: LineErrorKind,
}

impl LineError {
    pub(crate) fn new(line: u64, offset: u64, bytes: &[u8], kind: LineErrorKind) -> Self {
        // 200 characters are at most 800 bytes: a long line is not converted whole.
        let mut text: String = String::from_utf8_lossy(&bytes[..bytes.len().min(800)]).chars().take(200).collect();
        if text.ends_with('\r') {
            text.pop();
        }
        LineError { line, offset, text, kind }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} (byte {}): {}: {:?}", self.line, self.offset, self.kind, self.text)
    }
}

impl std::error::Error for LineError {}

/// A malformed `seqinfo.ini`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqInfoError {
    /// The line number, counting from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SeqInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SeqInfoError {}

/// Everything opening or loading a MOT file can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum MotError {
    /// Reading or writing a local file beside the source failed (`seqinfo.ini`, a saved index).
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Opening or reading the source failed: not found, not a regular file, a timeout, an HTTP error...
    /// (see [`dpc_io::IoError`]; a source changed since open is [`MotError::Changed`] when a frame load finds it).
    Source {
        /// The file's path or URL.
        path: PathBuf,
        /// What failed.
        source: dpc_io::IoError,
    },
    /// A bad line, in strict mode.
    Line {
        /// The file.
        path: PathBuf,
        /// The line, its position and what is wrong with it.
        error: LineError,
    },
    /// A malformed `seqinfo.ini` beside the file, in strict mode.
    SeqInfo {
        /// The `seqinfo.ini` file.
        path: PathBuf,
        /// The line and what is wrong with it.
        error: SeqInfoError,
    },
    /// A frame outside the file's frame range was requested.
    FrameOutOfRange {
        /// The requested frame.
        frame: u64,
        /// The first and last frame of the file, or `None` for a file without rows.
        range: Option<(u64, u64)>,
    },
    /// A frame's bytes no longer hold the rows the index found there: the file changed after it was opened.
    Changed {
        /// The file.
        path: PathBuf,
        /// The frame being loaded.
        frame: u64,
        /// Byte offset of the frame's first row at indexing time.
        offset: u64,
    },
}

impl fmt::Display for MotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MotError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            // The source's error names its path or URL already.
            MotError::Source { source, .. } => source.fmt(f),
            MotError::Line { path, error } => write!(f, "{}: {error}", path.display()),
            MotError::SeqInfo { path, error } => write!(f, "{}: {error}", path.display()),
            MotError::FrameOutOfRange { frame, range: Some((first, last)) } => {
                write!(f, "frame {frame} is outside the file's frames {first}..={last}")
            }
            MotError::FrameOutOfRange { frame, range: None } => {
                write!(f, "frame {frame} does not exist: the file has no rows")
            }
            MotError::Changed { path, frame, offset } => write!(
                f,
                "{}: frame {frame} (byte {offset}) no longer holds the rows indexed at open: the file changed; reopen it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for MotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MotError::Io { source, .. } => Some(source),
            MotError::Source { source, .. } => Some(source),
            MotError::Line { error, .. } => Some(error),
            MotError::SeqInfo { error, .. } => Some(error),
            MotError::FrameOutOfRange { .. } | MotError::Changed { .. } => None,
        }
    }
}
