//! The error type of the crate.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong in a [`TieredCache`](crate::TieredCache) operation.
///
/// Every variant names the path or key involved, and every I/O failure keeps its [`io::Error`] as the
/// [`source`](Error::source).
/// The file tier is an optimisation: a caller can always fall back to computing the value,
/// and a failed `set` still leaves the value in the memory tier.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The cache directory (or an entry in it) cannot be written: permission denied or a read-only file system.
    ReadOnly {
        /// The file or directory that could not be written.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The disk or the user's quota is full.
    DiskFull {
        /// The file that could not be written.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Any other I/O failure.
    Io {
        /// What the cache was doing, for example `"create directory"` or `"rename entry"`.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A value could not be serialized to JSON (for example a map with non-string keys).
    Serialize {
        /// The key whose value failed.
        key: String,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// A builder was given a setting it cannot work with.
    InvalidConfig {
        /// What is wrong, for example `"max_chunks must be at least 1"`.
        reason: &'static str,
    },
    /// The directory is not empty and was not created by a dpc-store cache (it has no dpc-store `CACHEDIR.TAG`),
    /// so the cache refuses to write into it or remove anything from it: its files may be someone else's.
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// One of the files found in it, to help tell whose directory it is.
        example: Option<String>,
    },
    /// A TTL shorter than one millisecond but not zero: TTLs have millisecond resolution (entries store Unix
    /// milliseconds, Redis expiry is in milliseconds), and rounding it to zero would silently delete the key.
    InvalidTtl {
        /// The key being set.
        key: String,
        /// The TTL given.
        ttl: std::time::Duration,
    },
    /// The Redis tier (feature `redis`) could not be used. Lookups never return it (a Redis failure is a miss);
    /// writes and invalidations return it after the local tiers were updated, because another process may still
    /// read what Redis holds.
    Redis {
        /// What the cache was doing, for example `"set"`, `"delete"`, `"invalidate prefix"`, `"parse URL"`.
        op: &'static str,
        /// The key involved, if one.
        key: Option<String>,
        /// What kind of failure.
        kind: RedisFailure,
        /// The Redis client's message.
        detail: String,
    },
    /// A serialized entry is larger than the file tier's size limit (the whole limit, or the entry limit),
    /// so it was not written.
    EntryTooLarge {
        /// The key whose entry was refused.
        key: String,
        /// The entry's size in bytes.
        size: u64,
        /// The configured limit in bytes.
        limit: u64,
    },
}

/// What kind of Redis failure a [`StoreError::Redis`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisFailure {
    /// The connect or response timeout passed.
    Timeout,
    /// Redis could not be reached: refused, reset, closed.
    Connection,
    /// Redis answered with an error.
    Server,
    /// Not tried: the tier is backing off after a recent failure.
    BackingOff,
    /// The URL does not parse.
    InvalidUrl,
}

impl fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedisFailure::Timeout => "timed out",
            RedisFailure::Connection => "cannot connect",
            RedisFailure::Server => "error answer",
            RedisFailure::BackingOff => "backing off after a failure",
            RedisFailure::InvalidUrl => "invalid URL",
        })
    }
}

impl StoreError {
    /// Classifies an I/O error: permission and read-only file system errors become [`StoreError::ReadOnly`],
    /// a full disk or quota becomes [`StoreError::DiskFull`], anything else [`StoreError::Io`].
    pub fn from_io(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        let path = path.as_ref().to_path_buf();
        match source.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                StoreError::ReadOnly { path, source }
            }
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => StoreError::DiskFull { path, source },
            _ => StoreError::Io { op, path, source },
        }
    }

    /// The path involved, when the error is about a file or directory.
    pub fn path(&self) -> Option<&Path> {
        match self {
            StoreError::ReadOnly { path, .. }
            | StoreError::DiskFull { path, .. }
            | StoreError::Io { path, .. }
            | StoreError::NotOwned { path, .. } => Some(path),
            StoreError::Serialize { .. }
            | StoreError::EntryTooLarge { .. }
            | StoreError::InvalidConfig { .. }
            | StoreError::InvalidTtl { .. }
            | StoreError::Redis { .. } => None,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::ReadOnly { path, source } => {
                write!(f, "cache directory is not writable: {}: {source}", path.display())
            }
            StoreError::DiskFull { path, source } => write!(f, "disk full writing {}: {source}", path.display()),
            StoreError::Io { op, path, source } => write!(f, "cannot {op} {}: {source}", path.display()),
            StoreError::Serialize { key, source } => write!(f, "cannot serialize the value of key {key:?}: {source}"),
            StoreError::InvalidConfig { reason } => write!(f, "invalid configuration: {reason}"),
            StoreError::NotOwned { path, example } => {
                write!(f, "{} is not a dpc-store cache directory: it is not empty", path.display())?;
                if let Some(name) = example {
                    write!(f, " (it holds {name:?})")?;
                }
                write!(f, " and has no dpc-store CACHEDIR.TAG; give the cache a new or empty directory")
            }
            StoreError::Redis { op, key, kind, detail } => {
                write!(f, "Redis tier: cannot {op}")?;
                if let Some(key) = key {
                    write!(f, " key {key:?}")?;
                }
                write!(f, ": {kind}: {detail}")
            }
            StoreError::InvalidTtl { key, ttl } => write!(
                f,
                "TTL {ttl:?} for key {key:?} is shorter than one millisecond, the TTL resolution \
                 (use Duration::ZERO to delete, or at least 1 ms)"
            ),
            StoreError::EntryTooLarge { key, size, limit } => {
                write!(f, "entry for key {key:?} is {size} bytes, larger than the cache's limit of {limit} bytes")
            }
        }
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StoreError::ReadOnly { source, .. }
            | StoreError::DiskFull { source, .. }
            | StoreError::Io { source, .. } => Some(source),
            StoreError::Serialize { source, .. } => Some(source),
            StoreError::EntryTooLarge { .. }
            | StoreError::InvalidConfig { .. }
            | StoreError::NotOwned { .. }
            | StoreError::InvalidTtl { .. }
            | StoreError::Redis { .. } => None,
        }
    }
}
