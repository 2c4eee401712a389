//! Errors: building, writing and closing, and callback failures.

use std::error::Error as StdError;
use std::fmt;
use std::process::ExitStatus;
use std::time::Duration;

/// The error type callbacks return: any error, boxed.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An invalid configuration, rejected by `build()`.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A fan-out needs at least one consumer.
    NoConsumers,
    /// A chunk size of zero would emit empty chunks forever.
    ZeroSize {
        /// Index of the consumer.
        consumer: usize,
    },
    /// A hop of zero would emit the same window forever.
    ZeroHop {
        /// Index of the consumer.
        consumer: usize,
    },
    /// Hop windows are exact-size windows: a hop other than the size needs `clip(true)`.
    HopWithoutClip {
        /// Index of the consumer.
        consumer: usize,
    },
    /// A thread pool needs at least one worker.
    ZeroWorkers {
        /// Index of the consumer.
        consumer: usize,
    },
    /// The sample rate's numerator and denominator must both be positive.
    InvalidRate {
        /// Numerator given.
        num: u64,
        /// Denominator given.
        den: u64,
    },
    /// The stream buffer must hold at least the largest chunk.
    BufferTooSmall {
        /// Capacity asked for, in samples.
        capacity: usize,
        /// Largest chunk size among the consumers.
        needed: usize,
    },
    /// A random sampler's minimum exceeds its maximum.
    InvalidSampler {
        /// Index of the consumer.
        consumer: usize,
    },
    /// The stream buffer cannot be allocated: `capacity` samples of `sample_bytes` bytes each
    /// (the default capacity is twice the largest chunk size).
    BufferAlloc {
        /// Capacity asked for, in samples.
        capacity: usize,
        /// Size of one sample in bytes.
        sample_bytes: usize,
    },
    /// A thread or process consumer's pool (`workers + queue` buffers, each with a thread or a channel slot)
    /// exceeds [`MAX_POOL`](crate::MAX_POOL).
    PoolTooLarge {
        /// Index of the consumer.
        consumer: usize,
        /// Workers asked for.
        workers: usize,
        /// Queue depth asked for.
        queue: usize,
    },
    /// A process-mode timeout of zero would fail every chunk.
    ZeroTimeout {
        /// Index of the consumer.
        consumer: usize,
    },
    /// A worker thread could not be started.
    Thread {
        /// Index of the consumer.
        consumer: usize,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A process-mode consumer's command could not be started.
    Spawn {
        /// Index of the consumer.
        consumer: usize,
        /// The command, as `Debug` prints it.
        command: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoConsumers => write!(f, "a fan-out needs at least one consumer"),
            BuildError::ZeroSize { consumer } => write!(f, "consumer {consumer}: chunk size must be at least 1"),
            BuildError::ZeroHop { consumer } => write!(f, "consumer {consumer}: hop must be at least 1"),
            BuildError::HopWithoutClip { consumer } => {
                write!(f, "consumer {consumer}: a hop other than the size needs clip(true) (exact-size windows)")
            }
            BuildError::ZeroWorkers { consumer } => {
                write!(f, "consumer {consumer}: a thread pool needs at least 1 worker")
            }
            BuildError::InvalidRate { num, den } => write!(f, "invalid sample rate {num}/{den}: both must be positive"),
            BuildError::BufferTooSmall { capacity, needed } => {
                write!(f, "stream buffer of {capacity} samples cannot hold a chunk of {needed}")
            }
            BuildError::InvalidSampler { consumer } => {
                write!(f, "consumer {consumer}: sampler minimum pause exceeds its maximum")
            }
            BuildError::BufferAlloc { capacity, sample_bytes } => {
                write!(f, "cannot allocate a stream buffer of {capacity} samples of {sample_bytes} bytes")
            }
            BuildError::PoolTooLarge { consumer, workers, queue } => write!(
                f,
                "consumer {consumer}: {workers} workers + a queue of {queue} exceed the limit of {} pooled buffers",
                crate::MAX_POOL
            ),
            BuildError::ZeroTimeout { consumer } => {
                write!(f, "consumer {consumer}: a process timeout must be positive")
            }
            BuildError::Thread { consumer, source } => {
                write!(f, "consumer {consumer}: cannot start a worker thread: {source}")
            }
            BuildError::Spawn { consumer, command, source } => {
                write!(f, "consumer {consumer}: cannot start {command}: {source}")
            }
        }
    }
}

impl StdError for BuildError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            BuildError::Spawn { source, .. } | BuildError::Thread { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// An error from writing, flushing or closing.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The emitter was closed; nothing more can be written.
    Closed,
    /// A persistent child process exited unsuccessfully (seen at close).
    Child {
        /// Index of the consumer.
        consumer: usize,
        /// The command, as `Debug` prints it.
        command: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// A persistent child process did not exit within the consumer's timeout after its stdin was closed;
    /// it was killed.
    ChildTimeout {
        /// Index of the consumer.
        consumer: usize,
        /// The command, as `Debug` prints it.
        command: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// Chunks of a process-mode consumer failed: they did not reach the child, or (per chunk) the child failed,
    /// timed out or could not start. Counted in [`ConsumerStats`](crate::ConsumerStats) too.
    ChunksFailed {
        /// Index of the consumer.
        consumer: usize,
        /// The command, as `Debug` prints it.
        command: String,
        /// Chunks whose delivery failed.
        failed: u64,
        /// Chunks delivered successfully.
        completed: u64,
        /// The first failure, as `Display` prints it.
        first: String,
        /// How the persistent child ended, if that failed too (also [`source`](StdError::source)).
        child: Option<Box<Error>>,
    },
    /// Waiting for a persistent child process failed.
    Wait {
        /// Index of the consumer.
        consumer: usize,
        /// The command, as `Debug` prints it.
        command: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => write!(f, "the emitter is closed"),
            Error::Child { consumer, command, status } => {
                write!(f, "consumer {consumer}: {command} exited with {status}")
            }
            Error::ChildTimeout { consumer, command, after } => {
                write!(f, "consumer {consumer}: {command} did not exit within {after:?} of its input ending; killed")
            }
            Error::ChunksFailed { consumer, command, failed, completed, first, .. } => write!(
                f,
                "consumer {consumer}: {failed} of {} chunks for {command} failed; the first: {first}",
                failed + completed
            ),
            Error::Wait { consumer, command, source } => {
                write!(f, "consumer {consumer}: waiting for {command} failed: {source}")
            }
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Wait { source, .. } => Some(source),
            Error::ChunksFailed { child: Some(child), .. } => Some(&**child),
            _ => None,
        }
    }
}

/// How a callback failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallbackError {
    /// It returned an error.
    Failed(BoxError),
    /// It panicked; the payload's message, if it was a string.
    Panicked(String),
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackError::Failed(e) => write!(f, "callback failed: {e}"),
            CallbackError::Panicked(msg) => write!(f, "callback panicked: {msg}"),
        }
    }
}

impl StdError for CallbackError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            CallbackError::Failed(e) => Some(&**e),
            CallbackError::Panicked(_) => None,
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
