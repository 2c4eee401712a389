//! MOT values and the native MOT file handle behind `dpc.providers.MOTDataProvider`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use dpc_mot::{Detection, Frame, Mode, MotError, MotProvider};
use pyo3::basic::CompareOp;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use crate::provider::{PyKey, load_frame};

/// One detection, with the fields (and their order) of the original's `MOTDetection` dataclass.
#[pyclass(module = "dpc.types", from_py_object)]
#[derive(Clone, Debug, PartialEq)]
pub struct MOTDetection {
    #[pyo3(get, set)]
    pub frame: i64,
    #[pyo3(get, set)]
    pub track_id: i64,
    #[pyo3(get, set)]
    pub bb_left: f64,
    #[pyo3(get, set)]
    pub bb_top: f64,
    #[pyo3(get, set)]
    pub bb_width: f64,
    #[pyo3(get, set)]
    pub bb_height: f64,
    #[pyo3(get, set)]
    pub confidence: f64,
    #[pyo3(get, set)]
    pub class_id: i64,
    #[pyo3(get, set)]
    pub visibility_ratio: f64,
}

impl MOTDetection {
    fn from_native(d: &Detection) -> Self {
        MOTDetection {
            frame: i64::try_from(d.frame).unwrap_or(i64::MAX),
            track_id: d.id,
            bb_left: d.left,
            bb_top: d.top,
            bb_width: d.width,
            bb_height: d.height,
            confidence: d.conf,
            class_id: d.class,
            visibility_ratio: d.visibility,
        }
    }
}

const DETECTION_FIELDS: [&str; 9] =
    ["frame", "track_id", "bb_left", "bb_top", "bb_width", "bb_height", "confidence", "class_id", "visibility_ratio"];

#[pymethods]
impl MOTDetection {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        frame: i64,
        track_id: i64,
        bb_left: f64,
        bb_top: f64,
        bb_width: f64,
        bb_height: f64,
        confidence: f64,
        class_id: i64,
        visibility_ratio: f64,
    ) -> Self {
        MOTDetection { frame, track_id, bb_left, bb_top, bb_width, bb_height, confidence, class_id, visibility_ratio }
    }

    #[classattr]
    fn __match_args__() -> [&'static str; 9] {
        DETECTION_FIELDS
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        // Floats are printed by Python, so the text is exactly the dataclass's.
        let f = |v: f64| -> PyResult<String> { Ok(pyo3::types::PyFloat::new(py, v).repr()?.to_string()) };
        Ok(format!(
            "MOTDetection(frame={}, track_id={}, bb_left={}, bb_top={}, bb_width={}, bb_height={}, confidence={}, \
             class_id={}, visibility_ratio={})",
            self.frame,
            self.track_id,
            f(self.bb_left)?,
            f(self.bb_top)?,
            f(self.bb_width)?,
            f(self.bb_height)?,
            f(self.confidence)?,
            self.class_id,
            f(self.visibility_ratio)?
        ))
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        let py = other.py();
        let Ok(other) = other.cast::<MOTDetection>() else { return py.NotImplemented() };
        let equal = *self == *other.borrow();
        match op {
            CompareOp::Eq => equal.into_pyobject(py).map(|b| b.to_owned().into_any().unbind()).unwrap_or(py.None()),
            CompareOp::Ne => (!equal).into_pyobject(py).map(|b| b.to_owned().into_any().unbind()).unwrap_or(py.None()),
            _ => py.NotImplemented(),
        }
    }

    // Like a dataclass with `eq=True`: mutable, so not hashable.
    #[classattr]
    #[pyo3(name = "__hash__")]
    fn hash_none(py: Python<'_>) -> Py<PyAny> {
        py.None()
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyType>, Bound<'py, PyTuple>)> {
        let d = slf.borrow();
        let args = (
            d.frame,
            d.track_id,
            d.bb_left,
            d.bb_top,
            d.bb_width,
            d.bb_height,
            d.confidence,
            d.class_id,
            d.visibility_ratio,
        )
            .into_pyobject(slf.py())?;
        Ok((slf.get_type(), args))
    }
}

/// All detections of one frame, like the original's `MOTFrameData` dataclass.
///
/// A frame loaded natively keeps its rows in Rust; `detections` becomes a Python list of `MOTDetection` on
/// first access (and is the same list afterwards), so a load that only counts or forwards frames pays for no
/// Python objects per row.
#[pyclass(module = "dpc.types")]
#[derive(Debug)]
pub struct MOTFrameData {
    #[pyo3(get, set)]
    frame_number: i64,
    native: Option<Frame>,
    detections: Option<Py<PyList>>,
}

impl MOTFrameData {
    pub fn from_frame(number: PyKey, frame: Frame) -> Self {
        MOTFrameData { frame_number: number, native: Some(frame), detections: None }
    }

    fn list<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        if let Some(list) = &self.detections {
            return Ok(list.bind(py).clone());
        }
        let rows = self.native.as_ref().map(|f| f.detections()).unwrap_or(&[]);
        let list = PyList::empty(py);
        for d in rows {
            list.append(Py::new(py, MOTDetection::from_native(d))?)?;
        }
        self.detections = Some(list.clone().unbind());
        self.native = None;
        Ok(list)
    }
}

#[pymethods]
impl MOTFrameData {
    #[new]
    fn new(frame_number: i64, detections: Bound<'_, PyList>) -> Self {
        MOTFrameData { frame_number, native: None, detections: Some(detections.unbind()) }
    }

    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("frame_number", "detections")
    }

    #[getter]
    fn detections<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.list(py)
    }

    #[setter]
    fn set_detections(&mut self, value: Bound<'_, PyList>) {
        self.native = None;
        self.detections = Some(value.unbind());
    }

    fn __repr__(&mut self, py: Python<'_>) -> PyResult<String> {
        let list = self.list(py)?;
        Ok(format!("MOTFrameData(frame_number={}, detections={})", self.frame_number, list.repr()?))
    }

    fn __richcmp__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(other) = other.cast::<MOTFrameData>() else { return Ok(py.NotImplemented()) };
        if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Ok(py.NotImplemented());
        }
        let equal = if slf.is(other) {
            true
        } else {
            let (mut a, mut b) = (slf.borrow_mut(), other.borrow_mut());
            match (&a.native, &b.native) {
                // Both still native: compare the rows without making Python objects.
                (Some(x), Some(y)) => a.frame_number == b.frame_number && x.detections() == y.detections(),
                _ => a.frame_number == b.frame_number && a.list(py)?.eq(b.list(py)?)?,
            }
        };
        let result = if matches!(op, CompareOp::Eq) { equal } else { !equal };
        Ok(result.into_pyobject(py)?.to_owned().into_any().unbind())
    }

    #[classattr]
    #[pyo3(name = "__hash__")]
    fn hash_none(py: Python<'_>) -> Py<PyAny> {
        py.None()
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        match (&self.native, &self.detections) {
            (Some(f), _) => f.len(),
            (None, Some(list)) => list.bind(py).len(),
            (None, None) => 0,
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyType>, (i64, Bound<'py, PyList>))> {
        let py = slf.py();
        let mut d = slf.borrow_mut();
        let list = d.list(py)?;
        Ok((slf.get_type(), (d.frame_number, list)))
    }
}

/// A MOT file opened natively: the index is built once (without the GIL) and frames are read by their bytes.
#[pyclass(frozen, module = "dpc._native")]
#[derive(Debug)]
pub struct MotFile {
    pub inner: Arc<MotProvider>,
    cache_size: usize,
    /// Distinct frames put in the provider's LRU since it was last cleared, up to its size: the LRU's length,
    /// which dpc-mot does not report.
    cached: Mutex<HashSet<u64>>,
}

pub fn mot_error(e: MotError) -> PyErr {
    match e {
        MotError::Io { path, source } => {
            std::io::Error::new(source.kind(), format!("{}: {source}", path.display())).into()
        }
        // Files are read through dpc-io: a missing one is still `FileNotFoundError`, other source failures
        // (not a regular file, changed, unreachable) are `OSError`, as the original's `open` raised.
        MotError::Source { source, .. } => {
            let kind = match source {
                dpc_io::IoError::NotFound { .. } => std::io::ErrorKind::NotFound,
                _ => std::io::ErrorKind::Other,
            };
            std::io::Error::new(kind, source.to_string()).into()
        }
        other => pyo3::exceptions::PyValueError::new_err(other.to_string()),
    }
}

impl MotFile {
    fn note_cached(&self, frame: i64) {
        let Ok(frame) = u64::try_from(frame) else { return };
        if self.cache_size == 0 || !self.inner.contains(frame) {
            return;
        }
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.len() < self.cache_size {
            cached.insert(frame);
        }
    }

    /// Loads a frame without the GIL (the caller detaches), as the original's `load` does.
    pub fn load_raw(&self, frame: i64) -> Result<Frame, MotError> {
        let loaded = load_frame(&self.inner, frame)?;
        self.note_cached(frame);
        Ok(loaded)
    }

    fn load_native(&self, py: Python<'_>, frame: i64) -> PyResult<MOTFrameData> {
        let loaded = py.detach(|| self.load_raw(frame)).map_err(mot_error)?;
        Ok(MOTFrameData::from_frame(frame, loaded))
    }
}

#[pymethods]
impl MotFile {
    /// Opens and indexes `path`. `strict` makes the first bad line an error; otherwise bad lines are skipped
    /// (as the original does) and counted.
    #[new]
    #[pyo3(signature = (path, cache_size = 100, strict = false))]
    fn new(py: Python<'_>, path: PathBuf, cache_size: usize, strict: bool) -> PyResult<Self> {
        let mode = if strict { Mode::Strict } else { Mode::Lenient };
        let inner =
            py.detach(|| MotProvider::builder(path).mode(mode).cache_frames(cache_size).build()).map_err(mot_error)?;
        Ok(MotFile { inner: Arc::new(inner), cache_size, cached: Mutex::new(HashSet::new()) })
    }

    fn load(&self, py: Python<'_>, frame: i64) -> PyResult<MOTFrameData> {
        self.load_native(py, frame)
    }

    fn load_batch<'py>(&self, py: Python<'py>, frames: Vec<i64>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for f in frames {
            out.set_item(f, Py::new(py, self.load_native(py, f)?)?)?;
        }
        Ok(out)
    }

    /// Frame numbers that have at least one row, ascending.
    fn frames_with_rows(&self) -> Vec<u64> {
        self.inner.frames_with_rows().to_vec()
    }

    /// The first and last frame of the file, or `None` for a file without rows.
    fn range(&self) -> Option<(u64, u64)> {
        self.inner.range()
    }

    fn cached_frames(&self) -> usize {
        self.cached.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn clear_cache(&self) {
        self.inner.clear_cache();
        self.cached.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// dpc-mot's counters, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("path", s.path.to_string_lossy().into_owned())?;
        d.set_item("first_frame", s.first_frame)?;
        d.set_item("last_frame", s.last_frame)?;
        d.set_item("total_frames", s.total_frames)?;
        d.set_item("frames_with_rows", s.frames_with_rows)?;
        d.set_item("rows", s.rows)?;
        d.set_item("sorted", s.sorted)?;
        d.set_item("file_bytes", s.file_bytes)?;
        d.set_item("index_ms", s.index_ms)?;
        d.set_item("loads", s.loads)?;
        d.set_item("cache_hits", s.cache_hits)?;
        d.set_item("cache_misses", s.cache_misses)?;
        d.set_item("cache_hit_rate", s.cache_hit_rate)?;
        d.set_item("bytes_read", s.bytes_read)?;
        d.set_item("block_reads", s.block_reads)?;
        d.set_item("mean_miss_us", s.mean_miss_us)?;
        d.set_item("bad_lines", s.bad_lines)?;
        Ok(d)
    }

    /// The bad lines seen so far (first 1000): `(line, byte_offset, message)`.
    fn diagnostics(&self) -> Vec<(u64, u64, String)> {
        self.inner.diagnostics().iter().map(|e| (e.line, e.offset, e.to_string())).collect()
    }
}
