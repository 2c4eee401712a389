//! `dpc._native.Cache`: dpc-core's `PrefetchCache` over integer keys, for the Python layer.

use std::sync::Arc;

use dpc_core::{CacheError, EvictionPolicy, PrefetchCache, Stats};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::events::EventSink;
use crate::mot::MotFile;
use crate::predictor::{NativePredictor, PyPredictor};
use crate::provider::{ProvError, Provider, PyKey, Value};
use crate::wait;
use crate::{CacheClosed, ProviderError};

type Inner = PrefetchCache<Provider>;

/// The native cache. The Python classes `dpc.PrefetchCache` and `dpc.cache.DynamicPrefetchingCache` wrap it.
#[pyclass(frozen, module = "dpc._native")]
#[derive(Debug)]
pub struct Cache {
    inner: Arc<Inner>,
    /// Raise `dpc.ProviderError` (with the provider's exception as `__cause__`) rather than the provider's
    /// exception itself (the original's behaviour).
    wrap_errors: bool,
    /// Whether `load` is Python code, which runs on the caller's thread and sees signals itself.
    python_provider: bool,
}

fn policy(name: &str) -> PyResult<EvictionPolicy> {
    Ok(match name {
        "oldest" => EvictionPolicy::Oldest,
        "lru" | "least_recently_used" => EvictionPolicy::LeastRecentlyUsed,
        "largest" => EvictionPolicy::Largest,
        "smallest" => EvictionPolicy::Smallest,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown eviction policy {other:?}; known: oldest, lru, largest, smallest"
            )));
        }
    })
}

/// `sys.getsizeof(value)`, the original's measure for its largest/smallest policies.
fn getsizeof(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    py.import("sys")?.call_method1("getsizeof", (value,))?.extract()
}

#[pymethods]
impl Cache {
    #[new]
    #[pyo3(signature = (
        provider, predictor = None, *, max_entries = None, max_weight = None, weigher = None,
        eviction = "oldest", workers = 4, max_prefetch = 20, history_len = 30, on_event = None,
        wrap_errors = false
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        provider: Bound<'_, PyAny>,
        predictor: Option<Bound<'_, PyAny>>,
        max_entries: Option<usize>,
        max_weight: Option<u64>,
        weigher: Option<Bound<'_, PyAny>>,
        eviction: &str,
        workers: usize,
        max_prefetch: usize,
        history_len: usize,
        on_event: Option<Py<PyAny>>,
        wrap_errors: bool,
    ) -> PyResult<Self> {
        let sink = Arc::new(EventSink::new(on_event));
        let (provider, python_provider) = match provider.cast::<MotFile>() {
            Ok(mot) => (Provider::Mot(mot.clone().unbind()), false),
            Err(_) => {
                if !provider.hasattr("load")? {
                    return Err(PyTypeError::new_err("a provider needs a load(key) method"));
                }
                (Provider::Py(provider.unbind()), true)
            }
        };
        let mut builder = PrefetchCache::builder(provider)
            .workers(workers)
            .max_prefetch(max_prefetch)
            .history_len(history_len)
            .eviction_policy(policy(eviction)?);
        builder = match predictor {
            None => builder,
            Some(p) => {
                if let Ok(native) = p.cast::<NativePredictor>() {
                    builder.predictor(native.get().build())
                } else if let Ok(name) = p.extract::<String>() {
                    let native =
                        dpc_predictors::by_name::<PyKey>(&name).map_err(|e| PyValueError::new_err(e.to_string()))?;
                    builder.predictor(native)
                } else if p.hasattr("get_likelihoods")? {
                    builder.predictor(PyPredictor::new(p.unbind(), Arc::clone(&sink)))
                } else {
                    return Err(PyTypeError::new_err(
                        "a predictor needs a get_likelihoods(current, history) method, or is a name such as \"auto\"",
                    ));
                }
            }
        };
        if let Some(n) = max_entries {
            builder = builder.max_entries(n);
        }
        if let Some(w) = max_weight {
            builder = builder.max_weight(w);
        }
        if let Some(w) = weigher {
            let native = w.extract::<String>().ok();
            let weigher_sink = Arc::clone(&sink);
            match native.as_deref() {
                // Native frames weigh their rows; Python values what sys.getsizeof says.
                Some("native") => {
                    builder = builder.weigher(move |_key: &PyKey, value: &Value| match value {
                        Value::Frame { frame, .. } => frame.weight(),
                        Value::Py(obj) => Python::attach(|py| {
                            getsizeof(py, obj.bind(py)).unwrap_or_else(|e| {
                                weigher_sink.worker_error(py, format!("weigher failed: {e}"));
                                1
                            })
                        }),
                    });
                }
                Some(other) => return Err(PyValueError::new_err(format!("unknown weigher {other:?}"))),
                None => {
                    let w = w.unbind();
                    builder = builder.weigher(move |key: &PyKey, value: &Value| {
                        Python::attach(|py| {
                            let weight =
                                value.to_py(py).and_then(|v| w.call1(py, (*key, v))).and_then(|r| r.extract::<u64>(py));
                            weight.unwrap_or_else(|e| {
                                weigher_sink.worker_error(py, format!("weigher failed: {e}"));
                                1
                            })
                        })
                    });
                }
            }
        }
        if sink.is_set() {
            let sink = Arc::clone(&sink);
            builder = builder.on_event(move |event| Python::attach(|py| sink.deliver(py, event)));
        }
        let inner = py.detach(|| builder.build()).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Cache { inner: Arc::new(inner), wrap_errors, python_provider })
    }

    /// The value of `key`: at once if resident, after the load in flight, or loaded now.
    fn get(&self, py: Python<'_>, key: PyKey) -> PyResult<Py<PyAny>> {
        let result = if !self.python_provider && !self.inner.contains(&key) && wait::on_main_thread(py) {
            let inner = Arc::clone(&self.inner);
            wait::interruptible(py, move || inner.get(&key))?
        } else {
            let inner = &self.inner;
            py.detach(|| inner.get(&key))
        };
        match result {
            Ok(value) => value.to_py(py),
            Err(e) => Err(self.error(py, key, e)),
        }
    }

    /// The value of `key` if resident now; never loads, never counts as a request.
    fn peek(&self, py: Python<'_>, key: PyKey) -> PyResult<Option<Py<PyAny>>> {
        self.inner.peek(&key).map(|v| v.to_py(py)).transpose()
    }

    fn __contains__(&self, key: PyKey) -> bool {
        self.inner.contains(&key)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        let inner = &self.inner;
        py.detach(|| inner.len())
    }

    /// The counters, as a dict (dpc-core's fields plus `requests`, `hit_rate`, `accuracy`, `coverage`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = &self.inner;
        let s = py.detach(|| inner.stats());
        stats_dict(py, &s)
    }

    /// Waits until every request so far has been seen by the predictor and its prefetches have settled.
    fn quiesce(&self, py: Python<'_>) {
        let inner = &self.inner;
        py.detach(|| inner.quiesce());
    }

    /// Stops and joins every cache thread. Idempotent; safe from any thread, callbacks included.
    fn close(&self, py: Python<'_>) {
        let inner = &self.inner;
        py.detach(|| inner.close());
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Whether loads run natively (the provider is a `MOTDataProvider`).
    #[getter]
    fn native_provider(&self) -> bool {
        !self.python_provider
    }
}

impl Cache {
    fn error(&self, py: Python<'_>, key: PyKey, e: CacheError) -> PyErr {
        let cause = match &e {
            CacheError::Closed => return CacheClosed::new_err("the cache is closed"),
            CacheError::Provider { source, .. } => match source.downcast_ref::<ProvError>() {
                Some(p) => p.to_pyerr(py),
                None => PyRuntimeError::new_err(source.to_string()),
            },
            CacheError::Panicked { message, .. } => {
                PyRuntimeError::new_err(format!("the provider panicked loading key {key}: {message}"))
            }
            other => PyRuntimeError::new_err(other.to_string()),
        };
        if !self.wrap_errors {
            return cause;
        }
        let message = cause.value(py).str().map(|s| s.to_string()).unwrap_or_default();
        let err = ProviderError::new_err(format!("loading key {key} failed: {message}"));
        if let Err(e) = err.value(py).setattr("key", key) {
            return e;
        }
        err.set_cause(py, Some(cause));
        err
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // Collected with the GIL held: close without it, so that workers inside Python code can finish.
        let inner = &self.inner;
        Python::attach(|py| py.detach(|| inner.close()));
    }
}

pub fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("hits", s.hits)?;
    d.set_item("late_hits", s.late_hits)?;
    d.set_item("misses", s.misses)?;
    d.set_item("loads", s.loads)?;
    d.set_item("load_errors", s.load_errors)?;
    d.set_item("prefetch_issued", s.prefetch_issued)?;
    d.set_item("prefetch_completed", s.prefetch_completed)?;
    d.set_item("prefetch_used", s.prefetch_used)?;
    d.set_item("prefetch_wasted", s.prefetch_wasted)?;
    d.set_item("prefetch_failed", s.prefetch_failed)?;
    d.set_item("prefetch_cancelled", s.prefetch_cancelled)?;
    d.set_item("evictions", s.evictions)?;
    d.set_item("history_dropped", s.history_dropped)?;
    d.set_item("predictor_panics", s.predictor_panics)?;
    d.set_item("resident_entries", s.resident_entries)?;
    d.set_item("resident_weight", s.resident_weight)?;
    d.set_item("in_flight", s.in_flight)?;
    d.set_item("requests", s.requests())?;
    d.set_item("hit_rate", s.hit_rate())?;
    d.set_item("accuracy", s.accuracy())?;
    d.set_item("coverage", s.coverage())?;
    Ok(d)
}
