//! The one `DataProvider` the extension hands to dpc-core: a Python object with `load(key)`, or dpc-mot's
//! native `MotProvider`, behind integer keys.

use std::fmt;
use std::sync::OnceLock;

use dpc_core::DataProvider;
use dpc_mot::{Frame, MotError, MotProvider};
use pyo3::intern;
use pyo3::prelude::*;

use crate::mot::{MOTFrameData, MotFile};

/// The cache's key: Python `int`s that fit 64 bits (the original's keys are frame numbers).
pub type PyKey = i64;

/// A cached value: a Python object returned by a Python provider, or a native frame whose Python wrapper is
/// made on the first `get` that needs it (under the GIL) and then handed out again, so repeated hits return
/// the same object, as the original's dict did.
pub enum Value {
    Py(Py<PyAny>),
    Frame { number: PyKey, frame: Frame, wrapper: OnceLock<Py<PyAny>> },
}

impl Value {
    /// A native frame loaded for `number` (a negative key gives an empty frame of that number).
    pub fn frame(number: PyKey, frame: Frame) -> Self {
        Value::Frame { number, frame, wrapper: OnceLock::new() }
    }

    /// The Python object for this value.
    pub fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Value::Py(obj) => Ok(obj.clone_ref(py)),
            Value::Frame { number, frame, wrapper } => {
                if let Some(obj) = wrapper.get() {
                    return Ok(obj.clone_ref(py));
                }
                let obj = Py::new(py, MOTFrameData::from_frame(*number, frame.clone()))?.into_any();
                Ok(wrapper.get_or_init(|| obj).clone_ref(py))
            }
        }
    }
}

/// A provider's failure, with what the caller of `get` must receive.
///
/// The message is formatted when the error is made (with the GIL held), so that dpc-core can format the
/// error on any thread, under its own locks, without ever waiting for the GIL.
pub enum ProvError {
    /// The exception a Python provider raised: re-raised as the same object.
    Py { err: PyErr, message: String },
    /// The native MOT provider failed.
    Mot(MotError),
}

impl ProvError {
    pub fn py(py: Python<'_>, err: PyErr) -> Self {
        let message = err.value(py).str().map(|s| s.to_string()).unwrap_or_else(|_| "<unprintable error>".into());
        ProvError::Py { err, message }
    }

    /// The Python exception for this error: the very object a Python provider raised, or a new `OSError`
    /// (I/O) or `ValueError` (bad data) for a native failure.
    pub fn to_pyerr(&self, py: Python<'_>) -> PyErr {
        match self {
            ProvError::Py { err, .. } => err.clone_ref(py),
            ProvError::Mot(e @ MotError::Io { .. }) => pyo3::exceptions::PyOSError::new_err(e.to_string()),
            ProvError::Mot(e) => pyo3::exceptions::PyValueError::new_err(e.to_string()),
        }
    }
}

impl fmt::Display for ProvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProvError::Py { message, .. } => f.write_str(message),
            ProvError::Mot(e) => e.fmt(f),
        }
    }
}

// Written by hand: `PyErr`'s own `Debug` takes the GIL.
impl fmt::Debug for ProvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProvError::Py { message, .. } => f.debug_struct("Py").field("message", message).finish_non_exhaustive(),
            ProvError::Mot(e) => f.debug_tuple("Mot").field(e).finish(),
        }
    }
}

impl std::error::Error for ProvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProvError::Py { .. } => None,
            ProvError::Mot(e) => Some(e),
        }
    }
}

/// Where values come from.
pub enum Provider {
    /// Any Python object with `load(key)`; called with the GIL held for the call only.
    Py(Py<PyAny>),
    /// dpc-mot's provider (a frozen class, usable without the GIL): loads run without the GIL.
    Mot(Py<MotFile>),
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::Py(_) => f.write_str("Provider::Py"),
            Provider::Mot(m) => f.debug_tuple("Provider::Mot").field(&m.get().inner).finish(),
        }
    }
}

/// Loads a frame as the original `MOTDataProvider.load` does: a frame without rows, or outside the file, is an
/// empty frame rather than an error.
pub fn load_frame(mot: &MotProvider, key: PyKey) -> Result<Frame, MotError> {
    let Ok(frame) = u64::try_from(key) else { return Ok(Frame::new(0, Vec::new())) };
    match mot.load_frame(frame) {
        Err(MotError::FrameOutOfRange { .. }) => Ok(Frame::new(frame, Vec::new())),
        other => other,
    }
}

impl DataProvider for Provider {
    type Key = PyKey;
    type Value = Value;
    type Error = ProvError;

    fn load(&self, key: &PyKey) -> Result<Value, ProvError> {
        match self {
            Provider::Py(obj) => Python::attach(|py| {
                obj.bind(py)
                    .call_method1(intern!(py, "load"), (*key,))
                    .map(|v| Value::Py(v.unbind()))
                    .map_err(|e| ProvError::py(py, e))
            }),
            Provider::Mot(mot) => mot.get().load_raw(*key).map(|f| Value::frame(*key, f)).map_err(ProvError::Mot),
        }
    }

    fn contains(&self, key: &PyKey) -> bool {
        match self {
            // The original asks a provider nothing before loading; neither do we.
            Provider::Py(_) => true,
            Provider::Mot(mot) => u64::try_from(*key).is_ok_and(|k| MotProvider::contains(&mot.get().inner, k)),
        }
    }
}
