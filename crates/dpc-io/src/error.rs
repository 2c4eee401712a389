//! The one error type of every source: what failed, where, and whether trying again can help.

use std::fmt;
use std::io;
use std::ops::Range;
use std::time::Duration;

/// Why opening or reading a source failed. Every variant names the source (a path or a URL).
#[derive(Debug)]
#[non_exhaustive]
pub enum IoError {
    /// The file or object does not exist (HTTP 404).
    NotFound {
        /// The path or URL.
        location: String,
    },
    /// The path names something that is not a regular file (a directory, a FIFO, a socket, a device):
    /// such a thing cannot be read at an offset, and a FIFO would block its reader forever.
    NotRegularFile {
        /// The path.
        location: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// The source no longer is what was opened: its size, modification time or ETag changed (or the server
    /// refused the pinned ETag with 412). Nothing read after the change is returned; reopen to read the new
    /// version.
    Changed {
        /// The path or URL.
        location: String,
        /// What differs, for example `ETag "a1" became "b2"`.
        detail: String,
    },
    /// Every attempt ran past the per-request timeout.
    Timeout {
        /// The path or URL.
        location: String,
        /// The per-request timeout.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The server answered with an error status (after the retries for the statuses worth retrying:
    /// 5xx, 429 and 408).
    Http {
        /// The path or URL.
        location: String,
        /// The HTTP status of the last answer.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// What the server or the client said.
        message: String,
    },
    /// The server could not be reached, or the connection broke mid-answer, on every attempt.
    Connection {
        /// The path or URL.
        location: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// A local I/O error.
    Io {
        /// The path.
        location: String,
        /// The error.
        source: io::Error,
    },
    /// A read past the end of the source as it was opened.
    OutOfRange {
        /// The path or URL.
        location: String,
        /// The requested byte range.
        range: Range<u64>,
        /// The source's length.
        len: u64,
    },
    /// The path or URL cannot be parsed, or names a scheme dpc-io does not know.
    InvalidUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL needs support that is not compiled in (object stores need the `remote` feature).
    Unsupported {
        /// What was given.
        url: String,
        /// What is missing.
        reason: String,
    },
    /// The object store refused its configuration (a bad `AWS_*` setting, missing credentials) or failed in
    /// a way that is none of the above.
    Store {
        /// The URL.
        location: String,
        /// What the object store client said.
        message: String,
    },
    /// Page boundaries given to [`PagedProvider`](crate::PagedProvider) that do not describe the source.
    InvalidPages {
        /// The path or URL.
        location: String,
        /// What is wrong with them.
        reason: String,
    },
}

impl IoError {
    /// The path or URL the error is about.
    pub fn location(&self) -> &str {
        match self {
            IoError::NotFound { location }
            | IoError::NotRegularFile { location, .. }
            | IoError::Changed { location, .. }
            | IoError::Timeout { location, .. }
            | IoError::Http { location, .. }
            | IoError::Connection { location, .. }
            | IoError::Io { location, .. }
            | IoError::OutOfRange { location, .. }
            | IoError::Store { location, .. }
            | IoError::InvalidPages { location, .. } => location,
            IoError::InvalidUrl { url, .. } | IoError::Unsupported { url, .. } => url,
        }
    }

    /// Whether the source changed since it was opened.
    pub fn is_changed(&self) -> bool {
        matches!(self, IoError::Changed { .. })
    }

    /// Whether it is worth trying again later: timeouts, broken connections and server-side statuses
    /// (5xx, 429, 408). Retries within a call are already spent when an error reaches the caller.
    pub fn is_transient(&self) -> bool {
        match self {
            IoError::Timeout { .. } | IoError::Connection { .. } => true,
            IoError::Http { status, .. } => retryable_status(*status),
            _ => false,
        }
    }

    pub(crate) fn io(location: &str, source: io::Error) -> IoError {
        if source.kind() == io::ErrorKind::NotFound {
            IoError::NotFound { location: location.to_string() }
        } else {
            IoError::Io { location: location.to_string(), source }
        }
    }
}

/// HTTP statuses worth another attempt: server errors, throttling and request timeouts.
pub(crate) fn retryable_status(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::NotFound { location } => write!(f, "{location}: not found"),
            IoError::NotRegularFile { location, kind } => {
                write!(f, "{location}: is a {kind}, not a regular file (only regular files can be read by range)")
            }
            IoError::Changed { location, detail } => {
                write!(f, "{location}: changed since it was opened ({detail}); reopen it to read the new version")
            }
            IoError::Timeout { location, timeout, attempts } => {
                write!(f, "{location}: no answer within {timeout:?} ({attempts} attempt(s))")
            }
            IoError::Http { location, status, attempts, message } => {
                write!(f, "{location}: HTTP {status} after {attempts} attempt(s): {message}")
            }
            IoError::Connection { location, attempts, message } => {
                write!(f, "{location}: connection failed after {attempts} attempt(s): {message}")
            }
            IoError::Io { location, source } => write!(f, "{location}: {source}"),
            IoError::OutOfRange { location, range, len } => {
                write!(f, "{location}: bytes {}..{} are past the end ({len} bytes)", range.start, range.end)
            }
            IoError::InvalidUrl { url, reason } => write!(f, "{url:?}: not a valid path or URL: {reason}"),
            IoError::Unsupported { url, reason } => write!(f, "{url}: {reason}"),
            IoError::Store { location, message } => write!(f, "{location}: {message}"),
            IoError::InvalidPages { location, reason } => write!(f, "{location}: invalid pages: {reason}"),
        }
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IoError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Carries an [`IoError`] through [`std::io::Read`], so a streaming reader's caller can get it back typed
/// with [`IoError::from_io`].
impl From<IoError> for io::Error {
    fn from(e: IoError) -> io::Error {
        let kind = match &e {
            IoError::NotFound { .. } => io::ErrorKind::NotFound,
            IoError::Timeout { .. } => io::ErrorKind::TimedOut,
            IoError::OutOfRange { .. } => io::ErrorKind::UnexpectedEof,
            IoError::Io { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

impl IoError {
    /// The [`IoError`] inside an `io::Error` made by a source's reader, or the `io::Error` as
    /// [`IoError::Io`] of `location`.
    pub fn from_io(location: &str, e: io::Error) -> IoError {
        if !e.get_ref().is_some_and(|inner| inner.is::<IoError>()) {
            return IoError::io(location, e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<IoError>()) {
            Some(Ok(typed)) => *typed,
            Some(Err(other)) => IoError::io(location, io::Error::new(kind, other)),
            None => IoError::io(location, kind.into()),
        }
    }
}
