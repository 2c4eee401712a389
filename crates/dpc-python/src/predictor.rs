//! Predictors: dpc-predictors' native ones, and Python objects with `get_likelihoods(current, history)`.

use std::collections::BTreeMap;
use std::sync::Arc;

use dpc_core::{AccessPredictor, PredictContext};
use dpc_predictors::{DistanceDecayPredictor, DynamicDataPredictor, DynamicDistanceDecayPredictor};
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::events::EventSink;
use crate::provider::PyKey;

#[derive(Clone, Debug)]
enum Spec {
    DistanceDecay(DistanceDecayPredictor),
    DynamicDistanceDecay(DynamicDistanceDecayPredictor),
    DynamicData(DynamicDataPredictor),
    Named(String),
}

/// A native predictor's recipe; each cache built from it gets its own predictor (they learn per cache).
#[pyclass(frozen, module = "dpc._native")]
#[derive(Debug)]
pub struct NativePredictor {
    spec: Spec,
}

impl NativePredictor {
    pub fn build(&self) -> Box<dyn AccessPredictor<PyKey>> {
        match &self.spec {
            Spec::DistanceDecay(p) => Box::new(p.clone()),
            Spec::DynamicDistanceDecay(p) => Box::new(p.clone()),
            Spec::DynamicData(p) => Box::new(p.clone()),
            Spec::Named(name) => dpc_predictors::by_name::<PyKey>(name).expect("the name was checked when made"),
        }
    }
}

#[pymethods]
impl NativePredictor {
    #[staticmethod]
    fn distance_decay(max_span: i64, decay: f64) -> Self {
        NativePredictor { spec: Spec::DistanceDecay(DistanceDecayPredictor { max_span, decay }) }
    }

    #[staticmethod]
    fn dynamic_distance_decay(forward_bias: f64, max_span: i64) -> Self {
        let p = DynamicDistanceDecayPredictor { forward_bias, max_span };
        NativePredictor { spec: Spec::DynamicDistanceDecay(p) }
    }

    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    fn dynamic_data(
        possible_jumps: Vec<i64>,
        forward_bias: f64,
        backward_bias: f64,
        jump_boost: f64,
        proximity_boost: f64,
        history_boost: f64,
        max_span: i64,
        forward_exp: f64,
        backward_exp: f64,
        proximity_range: i64,
        length: Option<i64>,
    ) -> Self {
        let p = DynamicDataPredictor {
            possible_jumps,
            forward_bias,
            backward_bias,
            jump_boost,
            proximity_boost,
            history_boost,
            max_span,
            forward_exp,
            backward_exp,
            proximity_range,
            length,
        };
        NativePredictor { spec: Spec::DynamicData(p) }
    }

    /// One of dpc-predictors' named predictors (`auto`, `sequential`, `markov`, ...).
    #[staticmethod]
    fn named(name: &str) -> PyResult<Self> {
        dpc_predictors::by_name::<PyKey>(name).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(NativePredictor { spec: Spec::Named(name.to_string()) })
    }

    /// Every name `named` accepts.
    #[staticmethod]
    fn names() -> Vec<&'static str> {
        dpc_predictors::NAMES.to_vec()
    }

    /// The original's `get_likelihoods`, computed natively (only the three parity predictors have it).
    fn get_likelihoods(&self, current: i64, history: Vec<i64>) -> PyResult<BTreeMap<i64, f64>> {
        Ok(match &self.spec {
            Spec::DistanceDecay(p) => p.get_likelihoods(current, &history),
            Spec::DynamicDistanceDecay(p) => p.get_likelihoods(current, &history),
            Spec::DynamicData(p) => p.get_likelihoods(current, &history),
            Spec::Named(name) => {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "predictor {name:?} learns from the cache's requests and has no get_likelihoods"
                )));
            }
        })
    }

    #[getter]
    fn name(&self) -> String {
        self.build().name().to_string()
    }

    fn __repr__(&self) -> String {
        format!("NativePredictor({:?})", self.spec)
    }
}

/// A Python predictor: `get_likelihoods(current, history)` called on the scheduler thread with the GIL held
/// for the call only.
///
/// Like the original, it is asked only when the current key changes (a repeated `get` of the same key reuses
/// the last scores), and the history it sees has no immediate repeats (the original appends a key only when
/// it differs from the current one).
#[derive(Debug)]
pub struct PyPredictor {
    obj: Py<PyAny>,
    sink: Arc<EventSink>,
    last: Option<PyKey>,
    scores: Vec<(PyKey, f64)>,
    history: Vec<PyKey>,
}

impl PyPredictor {
    pub fn new(obj: Py<PyAny>, sink: Arc<EventSink>) -> Self {
        PyPredictor { obj, sink, last: None, scores: Vec::new(), history: Vec::new() }
    }

    fn ask(&mut self, py: Python<'_>, current: PyKey) -> PyResult<()> {
        self.scores.clear();
        let history = PyList::new(py, &self.history)?;
        let result = self.obj.bind(py).call_method1(intern!(py, "get_likelihoods"), (current, history))?;
        let mut push = |item: Bound<'_, PyAny>| -> PyResult<()> {
            let (key, score): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            // Keys that are not 64-bit integers cannot be cached; scores that are not numbers are refused.
            if let Ok(key) = key.extract::<PyKey>() {
                self.scores.push((key, score.extract::<f64>()?));
            }
            Ok(())
        };
        match result.cast::<PyDict>() {
            Ok(dict) => dict.items().iter().try_for_each(&mut push)?,
            // Any mapping: its items().
            Err(_) => result.call_method0(intern!(py, "items"))?.try_iter()?.try_for_each(|i| push(i?))?,
        }
        Ok(())
    }
}

impl AccessPredictor<PyKey> for PyPredictor {
    fn predict(&mut self, ctx: &PredictContext<'_, PyKey>, out: &mut Vec<(PyKey, f64)>) {
        let current = *ctx.current;
        if self.last != Some(current) {
            self.last = Some(current);
            self.history.clear();
            for &k in ctx.history {
                if self.history.last() != Some(&k) {
                    self.history.push(k);
                }
            }
            Python::attach(|py| {
                if let Err(e) = self.ask(py, current) {
                    self.scores.clear();
                    let message = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
                    self.sink.worker_error(py, format!("predictor failed: {message}"));
                }
            });
        }
        out.extend_from_slice(&self.scores);
    }

    fn name(&self) -> &str {
        "python"
    }
}
