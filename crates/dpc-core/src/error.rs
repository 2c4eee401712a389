//! Typed errors of the cache.

use std::fmt;
use std::sync::Arc;

/// Why a [`PrefetchCache`](crate::PrefetchCache) call failed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CacheError {
    /// The cache was closed; no more requests are served.
    Closed,
    /// The provider returned an error for this key. It is not cached: the next `get` tries again.
    Provider {
        /// The key, formatted with `Debug`.
        key: String,
        /// The provider's error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The provider panicked while loading this key. The cache caught the panic and keeps working.
    Panicked {
        /// The key, formatted with `Debug`.
        key: String,
        /// The panic message, when it was a string.
        message: String,
    },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Closed => f.write_str("the cache is closed"),
            CacheError::Provider { key, source } => write!(f, "loading key {key} failed: {source}"),
            CacheError::Panicked { key, message } => write!(f, "the provider panicked loading key {key}: {message}"),
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CacheError::Provider { source, .. } => Some(&**source as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

/// Why a [`PrefetchCacheBuilder`](crate::PrefetchCacheBuilder) refused to build.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is out of range; the message says which and why.
    InvalidConfig(String),
    /// A background thread could not be spawned.
    Spawn(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidConfig(msg) => write!(f, "invalid cache configuration: {msg}"),
            BuildError::Spawn(msg) => write!(f, "could not start a cache thread: {msg}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Turns a caught panic payload into its message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
