//! Typed errors of the cache.

use std::fmt;
use std::sync::Arc;

/// Why a [`PrefetchCache`](crate::PrefetchCache) call failed, with the key as its own type and the provider's
/// own error.
///
/// [`GetError<P>`](crate::GetError) names it for a provider `P`. It is `Clone` because one failed load answers
/// every caller that joined it; the provider's error is shared behind an `Arc`.
///
/// ```
/// use dpc_core::{CacheError, DataProvider, PrefetchCache};
///
/// #[derive(Debug)]
/// struct Gone(u64);
/// impl std::fmt::Display for Gone {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "record {} is gone", self.0) }
/// }
/// impl std::error::Error for Gone {}
///
/// struct Records;
/// impl DataProvider for Records {
///     type Key = u64;
///     type Value = String;
///     type Error = Gone;
///     fn load(&self, key: &u64) -> Result<String, Gone> { Err(Gone(*key)) }
/// }
///
/// let cache = PrefetchCache::builder(Records).build()?;
/// let err = cache.get(&7).unwrap_err();
/// assert_eq!(err.key(), Some(&7));
/// assert_eq!(err.provider_error().map(|e| e.0), Some(7));
/// assert!(matches!(err, CacheError::Provider { key: 7, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheError<K, E> {
    /// The cache was closed; no more requests are served.
    Closed,
    /// The provider returned an error for this key. It is not cached: the next `get` tries again.
    Provider {
        /// The key whose load failed.
        key: K,
        /// The provider's error, shared by every caller that joined the load.
        source: Arc<E>,
    },
    /// The provider panicked while loading this key (or the load was abandoned). The cache caught the panic
    /// and keeps working.
    Panicked {
        /// The key whose load panicked.
        key: K,
        /// The panic message, when it was a string.
        message: String,
    },
}

impl<K, E> CacheError<K, E> {
    /// The key whose load failed; `None` for [`Closed`](Self::Closed).
    pub fn key(&self) -> Option<&K> {
        match self {
            CacheError::Provider { key, .. } | CacheError::Panicked { key, .. } => Some(key),
            CacheError::Closed => None,
        }
    }

    /// The provider's own error, if the provider returned one.
    pub fn provider_error(&self) -> Option<&E> {
        match self {
            CacheError::Provider { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether the cache was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, CacheError::Closed)
    }
}

// Written by hand: a derive would ask `E: Clone`, but the error is shared behind an `Arc`.
impl<K: Clone, E> Clone for CacheError<K, E> {
    fn clone(&self) -> Self {
        match self {
            CacheError::Closed => CacheError::Closed,
            CacheError::Provider { key, source } => {
                CacheError::Provider { key: key.clone(), source: Arc::clone(source) }
            }
            CacheError::Panicked { key, message } => {
                CacheError::Panicked { key: key.clone(), message: message.clone() }
            }
        }
    }
}

impl<K: fmt::Debug, E: fmt::Display> fmt::Display for CacheError<K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Closed => f.write_str("the cache is closed"),
            CacheError::Provider { key, source } => write!(f, "loading key {key:?} failed: {source}"),
            CacheError::Panicked { key, message } => write!(f, "the provider panicked loading key {key:?}: {message}"),
        }
    }
}

impl<K: fmt::Debug, E: std::error::Error + 'static> std::error::Error for CacheError<K, E> {
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
