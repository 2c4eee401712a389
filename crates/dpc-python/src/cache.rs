//! `dpc._native.Cache`: dpc-core's `PrefetchCache` over integer keys, for the Python layer.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use dpc_core::{CacheError, EvictionPolicy, LoadKind, PrefetchCache, Snapshot, Stats};
use pyo3::Borrowed;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use crate::events::EventSink;
use crate::mot::MotFile;
use crate::predictor::{NativePredictor, PyPredictor};
use crate::provider::{ProvError, Provider, PyKey, Value};
use crate::wait;
use crate::{CacheClosed, ProviderError};

/// A `PyMethodDef` in a static: CPython only reads it.
struct MethodDef(ffi::PyMethodDef);

// `unsafe` for the C method `get`: the benchmark that proves the need is in docs/BENCHMARKS.md, `## python`.
#[allow(unsafe_code)]
// SAFETY: the definition is never written after initialisation, and its pointers are to static data.
unsafe impl Sync for MethodDef {}

/// `METH_FASTCALL`: CPython's vectorcall convention for C methods, in the stable ABI from 3.10 on (pyo3-ffi
/// hides it when built for the 3.9 limited API).
const METH_FASTCALL: std::ffi::c_int = 0x0080;

/// A `METH_FASTCALL | METH_KEYWORDS` C function (`PyCFunctionFastWithKeywords`).
type FastCallKw = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    ffi::Py_ssize_t,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

const GET_DOC: &std::ffi::CStr =
    c"get(key)\n--\n\nThe value of `key`: at once if resident, after the load in flight, or loaded now.";

/// `Cache.get` for CPython 3.10 and later: a vectorcall method, which gets its arguments as an array.
/// pyo3 makes `METH_VARARGS` methods under the 3.9 limited API (its `METH_FASTCALL` ones need the 3.10 one),
/// and with them every hit built an argument tuple and parsed it: on this machine a hit through such a method
/// cost about 100 ns more than through this one (docs/BENCHMARKS.md, `## python`).
#[allow(unsafe_code)]
static GET_FASTCALL: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"get".as_ptr(),
    // SAFETY: CPython casts `ml_meth` back to the signature its flags name, as C extensions rely on.
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: unsafe { std::mem::transmute::<FastCallKw, ffi::PyCFunction>(get_fastcall) },
    },
    ml_flags: METH_FASTCALL | ffi::METH_KEYWORDS,
    ml_doc: GET_DOC.as_ptr(),
});

/// `Cache.get` for CPython 3.9, whose stable ABI has no `METH_FASTCALL`: arguments in a tuple, parsed by hand.
static GET_VARARGS: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"get".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer { PyCFunctionWithKeywords: get_varargs },
    ml_flags: ffi::METH_VARARGS | ffi::METH_KEYWORDS,
    ml_doc: GET_DOC.as_ptr(),
});

/// Installs `get` on the class: `GET_FASTCALL` on CPython 3.10 and later, `GET_VARARGS` on 3.9.
#[allow(unsafe_code)]
pub fn install_get(ty: &Bound<'_, PyType>) -> PyResult<()> {
    let def = if ty.py().version_info() >= (3, 10) { &GET_FASTCALL } else { &GET_VARARGS };
    // SAFETY: `def` lives for the whole program and CPython never writes through the pointer; the flags it
    // carries are in the stable ABI of the running interpreter.
    let descr = unsafe { ffi::PyDescr_NewMethod(ty.as_type_ptr(), std::ptr::addr_of!(def.0).cast_mut()) };
    // SAFETY: a new reference, or null with an exception set.
    let descr = unsafe { Bound::from_owned_ptr_or_err(ty.py(), descr)? };
    ty.setattr("get", descr)
}

/// The C function behind `Cache.get` on 3.10+: `get(key)` is served by [`serve`] at once; `get(key=...)`
/// (the original's signature allows it) too; anything else is a `TypeError`.
#[allow(unsafe_code)]
unsafe extern "C" fn get_fastcall(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython passes `nargs` positional arguments then one value per name in the tuple `kwnames`
    // (or null), all valid for the call.
    let nkw = if kwnames.is_null() { 0 } else { unsafe { ffi::PyTuple_Size(kwnames) } };
    if nargs == 1 && nkw == 0 {
        return unsafe { serve(slf, *args) };
    }
    // SAFETY: item 0 of a tuple of one (keyword names are `str`); the comparison cannot fail.
    if nargs == 0
        && nkw == 1
        && unsafe { ffi::PyUnicode_CompareWithASCIIString(ffi::PyTuple_GetItem(kwnames, 0), c"key".as_ptr()) } == 0
    {
        return unsafe { serve(slf, *args) };
    }
    guard(|| Err(arity_error(nargs, nkw)))
}

/// The C function behind `Cache.get` on 3.9: a call with one positional argument, the common one, is served
/// by [`serve`] without parsing; `get(key=...)` and bad calls are parsed here.
#[allow(unsafe_code)]
unsafe extern "C" fn get_varargs(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython passes a tuple `args` and a dict or null `kwargs`, valid for the call.
    if kwargs.is_null() && unsafe { ffi::PyTuple_Size(args) } == 1 {
        // SAFETY: index 0 of a tuple of one; a borrowed reference that lives as long as `args`.
        return unsafe { serve(slf, ffi::PyTuple_GetItem(args, 0)) };
    }
    let key = guard(|| {
        Python::attach(|py| {
            // SAFETY: valid objects for the duration of the call, of the types CPython promises.
            let args = unsafe { Borrowed::from_ptr(py, args).cast_unchecked::<PyTuple>() };
            let kwargs = unsafe { Borrowed::from_ptr_or_opt(py, kwargs) };
            let kwargs = kwargs.map(|k| unsafe { k.cast_unchecked::<PyDict>() });
            let nkw = kwargs.as_ref().map_or(0, |k| k.len());
            let key = match (args.len(), nkw) {
                (1, 0) => Some(args.get_item(0)?),
                (0, 1) => kwargs.and_then(|k| k.get_item("key").transpose()).transpose()?,
                _ => None,
            };
            key.map(Bound::unbind).ok_or_else(|| arity_error(args.len() as ffi::Py_ssize_t, nkw as ffi::Py_ssize_t))
        })
    });
    if key.is_null() {
        return key;
    }
    // SAFETY: `key` is a new reference, released after the call.
    let value = unsafe { serve(slf, key) };
    unsafe { ffi::Py_DecRef(key) };
    value
}

/// The error of a call of `get` with other arguments than one `key`.
fn arity_error(nargs: ffi::Py_ssize_t, nkw: ffi::Py_ssize_t) -> PyErr {
    PyTypeError::new_err(format!("get() takes exactly one argument (key), got {nargs} positional and {nkw} keyword"))
}

/// Runs `f` with panics caught: a panic becomes a `PanicException`, and an error is raised; null either way.
fn guard(f: impl FnOnce() -> PyResult<Py<PyAny>>) -> *mut ffi::PyObject {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(obj)) => obj.into_ptr(),
        Ok(Err(e)) => {
            Python::attach(|py| e.restore(py));
            std::ptr::null_mut()
        }
        Err(payload) => raise_panic(payload),
    }
}

/// Raises a caught panic as a `PanicException`; returns null.
fn raise_panic(payload: Box<dyn std::any::Any + Send>) -> *mut ffi::PyObject {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic in Cache.get".into());
    Python::attach(|py| PanicException::new_err(message).restore(py));
    std::ptr::null_mut()
}

/// `get` of `key` on the cache `slf`. A hit (an `int` key that fits 64 bits, resident now) is served right
/// here: one lock-free lookup that records the access like any `get` ([`PrefetchCache::get_resident`]), and
/// the value's object. Anything else, including a key of the wrong type, goes through pyo3's machinery in
/// [`Cache::get_slow`], which raises the same errors as before.
///
/// # Safety
/// Called by CPython's method machinery (thread attached) with `slf` a `Cache` and `key` a valid object.
#[allow(unsafe_code)]
unsafe fn serve(slf: *mut ffi::PyObject, key: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the caller's contract; nothing borrowed here outlives the call.
    let py = unsafe { Python::assume_attached() };
    let cache = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<Cache>() };
    let cache = cache.get();
    let hit = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `key` is a valid object; an error is checked for (and cleared) at once.
        let k = unsafe { ffi::PyLong_AsLongLong(key) };
        if k == -1 && unsafe { !ffi::PyErr_Occurred().is_null() } {
            unsafe { ffi::PyErr_Clear() };
            return None;
        }
        let value = cache.inner.get_resident(&k)?;
        Some(match value.to_py(py) {
            Ok(obj) => obj.into_ptr(),
            Err(e) => {
                e.restore(py);
                std::ptr::null_mut()
            }
        })
    }));
    match hit {
        Ok(Some(result)) => return result,
        Ok(None) => {}
        Err(payload) => return raise_panic(payload),
    }
    // Not a hit: with pyo3's own bookkeeping of the attached thread, as any pyo3 method has.
    guard(|| {
        Python::attach(|py| {
            // SAFETY: `key` is a valid object for the duration of the call.
            let key = unsafe { Borrowed::from_ptr(py, key) };
            key.extract::<PyKey>().map_err(|e| argument_error(py, e)).and_then(|key| cache.get_slow(py, key))
        })
    })
}

/// A bad `key`, reported as pyo3 reports a bad argument: a `TypeError` gets the argument's name.
fn argument_error(py: Python<'_>, e: PyErr) -> PyErr {
    if e.is_instance_of::<PyTypeError>(py) {
        let err = PyTypeError::new_err(format!("argument 'key': {}", e.value(py)));
        err.set_cause(py, Some(e));
        err
    } else {
        e
    }
}

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

    /// The value of `key` if resident now; never loads, never counts as a request.
    fn peek(&self, py: Python<'_>, key: PyKey) -> PyResult<Option<Py<PyAny>>> {
        self.inner.peek(&key).map(|v| v.to_py(py)).transpose()
    }

    /// Makes `value` resident under `key` as if just loaded; false if it was not kept.
    fn insert(&self, py: Python<'_>, key: PyKey, value: Py<PyAny>) -> bool {
        let inner = &self.inner;
        py.detach(|| inner.insert(key, Value::Py(value)))
    }

    /// Drops `key`'s value, and discards a load of it in flight.
    fn invalidate(&self, py: Python<'_>, key: PyKey) {
        let inner = &self.inner;
        py.detach(|| inner.invalidate(&key));
    }

    /// Drops every value and discards every load in flight.
    fn invalidate_all(&self, py: Python<'_>) {
        let inner = &self.inner;
        py.detach(|| inner.invalidate_all());
    }

    /// Hints that `keys` will be requested soon, in this order.
    fn prefetch(&self, py: Python<'_>, keys: Vec<PyKey>) {
        let inner = &self.inner;
        py.detach(|| inner.prefetch(keys));
    }

    /// The state at one instant: `(resident, in_flight, queued, predicted, stats)`, where `resident` holds
    /// `(key, score, weight, prefetched, used)` and `in_flight` holds `(key, "demand" | "prefetch")`.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = &self.inner;
        let snap: Snapshot<PyKey> = py.detach(|| inner.snapshot());
        let d = PyDict::new(py);
        let resident: Vec<_> = snap.resident.iter().map(|r| (r.key, r.score, r.weight, r.prefetched, r.used)).collect();
        d.set_item("resident", PyList::new(py, resident)?)?;
        let in_flight: Vec<_> = snap
            .in_flight
            .iter()
            .map(|f| (f.key, if matches!(f.kind, LoadKind::Demand) { "demand" } else { "prefetch" }))
            .collect();
        d.set_item("in_flight", PyList::new(py, in_flight)?)?;
        d.set_item("queued", PyList::new(py, &snap.queued)?)?;
        d.set_item("predicted", PyList::new(py, &snap.predicted)?)?;
        d.set_item("stats", stats_dict(py, &snap.stats)?)?;
        Ok(d)
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

    /// Stops and joins every cache thread, waiting at most `timeout` seconds (default 5) for those inside
    /// user code; returns the names of the threads left running. Idempotent; safe from any thread.
    #[pyo3(signature = (timeout = None))]
    fn close(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Vec<String>> {
        let timeout = match timeout {
            None => dpc_core::DEFAULT_CLOSE_TIMEOUT,
            Some(t) => Duration::try_from_secs_f64(t).map_err(|e| PyValueError::new_err(format!("timeout: {e}")))?,
        };
        let inner = &self.inner;
        Ok(py.detach(|| inner.close_timeout(timeout)).left_running)
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
    /// `get` for anything but a hit: a miss, a late hit, a closed cache.
    fn get_slow(&self, py: Python<'_>, key: PyKey) -> PyResult<Py<PyAny>> {
        let result = if self.python_provider && !self.inner.contains(&key) {
            // A Python provider loads on the caller's thread, as in the original (its objects may be tied to
            // the thread), and sees signals itself; the GIL is released while dpc-core waits or locks.
            let inner = &self.inner;
            py.detach(|| inner.get(&key))
        } else {
            // A key that became resident since the caller looked is served by the first poll, with the GIL
            // held (polling never blocks); anything else waits without the GIL, delivering signals.
            wait::block_on(py, self.inner.get_async(&key))?
        };
        match result {
            Ok(value) => value.to_py(py),
            Err(e) => Err(self.error(py, key, e)),
        }
    }

    fn error(&self, py: Python<'_>, key: PyKey, e: CacheError<PyKey, ProvError>) -> PyErr {
        let cause = match &e {
            CacheError::Closed => return CacheClosed::new_err("the cache is closed"),
            CacheError::Provider { source, .. } => source.to_pyerr(py),
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
    d.set_item("inserted", s.inserted)?;
    d.set_item("invalidated", s.invalidated)?;
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
