//! Events: dpc-core's typed events as `(name, fields)` calls into the Python layer.

use dpc_core::Event;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::provider::PyKey;

/// The Python callable that receives `(name, fields)`; the Python layer turns that into the original's
/// `on_event(name, **kwargs)` or into a `dpc.Event`.
#[derive(Debug)]
pub struct EventSink {
    callback: Option<Py<PyAny>>,
}

impl EventSink {
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        EventSink { callback }
    }

    pub fn is_set(&self) -> bool {
        self.callback.is_some()
    }

    /// Calls the callback with `name` and `fields`. An exception in it is reported as unraisable (the Python
    /// layer already catches and logs the user's own exceptions, as the original does).
    pub fn emit(&self, py: Python<'_>, name: &str, fields: &Bound<'_, PyDict>) {
        if let Some(cb) = &self.callback
            && let Err(e) = cb.call1(py, (name, fields))
        {
            e.write_unraisable(py, None);
        }
    }

    /// A fault the cache contained (a predictor or weigher that raised), reported as the original's
    /// `worker_error` event.
    pub fn worker_error(&self, py: Python<'_>, message: String) {
        if !self.is_set() {
            return;
        }
        let fields = PyDict::new(py);
        if fields.set_item("error", message).is_ok() {
            self.emit(py, "worker_error", &fields);
        }
    }

    /// Delivers one of dpc-core's events.
    pub fn deliver(&self, py: Python<'_>, event: &Event<PyKey>) {
        if !self.is_set() {
            return;
        }
        let fields = PyDict::new(py);
        match fill(&fields, event) {
            Ok(name) => self.emit(py, name, &fields),
            Err(e) => e.write_unraisable(py, None),
        }
    }
}

/// Fills `fields` and returns the event's name: the original's names, plus `prefetch_cancel` (dpc-core drops
/// queued prefetches that fell out of the prediction, which the original never did) and `invalidate`.
fn fill(fields: &Bound<'_, PyDict>, event: &Event<PyKey>) -> PyResult<&'static str> {
    Ok(match event {
        Event::LoadStart { key } => {
            fields.set_item("key", key)?;
            "cache_load_start"
        }
        Event::LoadComplete { key, elapsed } => {
            fields.set_item("key", key)?;
            fields.set_item("elapsed", elapsed.as_secs_f64())?;
            "cache_load_complete"
        }
        Event::LoadError { key, error } => {
            fields.set_item("key", key)?;
            fields.set_item("error", provider_message(*key, error))?;
            "cache_load_error"
        }
        Event::PrefetchStart { key, score } => {
            fields.set_item("key", key)?;
            fields.set_item("score", score)?;
            "prefetch_start"
        }
        Event::PrefetchSuccess { key, elapsed, admitted } => {
            fields.set_item("key", key)?;
            fields.set_item("elapsed", elapsed.as_secs_f64())?;
            fields.set_item("admitted", admitted)?;
            "prefetch_success"
        }
        Event::PrefetchError { key, error } => {
            fields.set_item("key", key)?;
            fields.set_item("error", provider_message(*key, error))?;
            "prefetch_error"
        }
        Event::PrefetchCancel { key } => {
            fields.set_item("key", key)?;
            "prefetch_cancel"
        }
        Event::Evict { key, score, prefetched_unused } => {
            fields.set_item("key", key)?;
            fields.set_item("score", score)?;
            fields.set_item("prefetched_unused", prefetched_unused)?;
            "cache_evict"
        }
        Event::PredictorPanic { message } => {
            fields.set_item("error", format!("predictor panicked: {message}"))?;
            "worker_error"
        }
        Event::WeigherPanic { key, message } => {
            fields.set_item("key", key)?;
            fields.set_item("error", format!("weigher panicked: {message}"))?;
            "worker_error"
        }
        Event::Invalidate { key } => {
            fields.set_item("key", key)?;
            "invalidate"
        }
        other => {
            fields.set_item("error", format!("{other:?}"))?;
            "worker_error"
        }
    })
}

/// The provider's own message, which is what the original passes as `error` (`str(exception)`): dpc-core's
/// load events carry the whole `CacheError` text, `loading key K failed: MESSAGE`.
fn provider_message(key: PyKey, error: &str) -> &str {
    error.strip_prefix(&format!("loading key {key:?} failed: ")).unwrap_or(error)
}
