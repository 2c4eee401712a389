//! # dpc-python: the extension module `dpc._native`
//!
//! The Rust half of the Python package `dpc` (distribution `dpc-prefetch`, built by maturin from
//! `pyproject.toml`): dpc-core's `PrefetchCache` over integer keys, dpc-mot's `MotProvider`, and
//! dpc-predictors' predictors. The Python half (`python/dpc/`) gives them the API of
//! `dynamic-prefetching-cache` 0.1.2 and a Pythonic one; see `README.md` beside this crate.
//!
//! | Rust | Python |
//! |---|---|
//! | [`cache::Cache`] | `dpc._native.Cache`, wrapped by `dpc.PrefetchCache` and `dpc.cache.DynamicPrefetchingCache` |
//! | [`mot::MotFile`] | `dpc._native.MotFile`, wrapped by `dpc.providers.MOTDataProvider` |
//! | [`mot::MOTDetection`], [`mot::MOTFrameData`] | `dpc.types.MOTDetection`, `dpc.types.MOTFrameData` |
//! | [`predictor::NativePredictor`] | behind `dpc.predictors.*` and `predictor="auto"` |
//!
//! The GIL: native loads, prefetching and eviction run without it; a Python provider, predictor, weigher or
//! event callback holds it for its own call only; `get` releases it while it waits. No call into dpc-core is
//! made with the GIL held where dpc-core could block, and no code that dpc-core runs under its locks takes it.

use pyo3::prelude::*;

pub mod cache;
mod events;
pub mod mot;
pub mod predictor;
mod provider;
mod wait;

pyo3::create_exception!(
    dpc,
    CacheClosed,
    pyo3::exceptions::PyRuntimeError,
    "The cache was closed; no more requests are served."
);
pyo3::create_exception!(
    dpc,
    ProviderError,
    pyo3::exceptions::PyException,
    "The provider failed to load `key`; the provider's own exception is `__cause__`."
);

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<cache::Cache>()?;
    cache::install_get(&py.get_type::<cache::Cache>())?;
    m.add_class::<mot::MotFile>()?;
    m.add_class::<mot::MOTDetection>()?;
    m.add_class::<mot::MOTFrameData>()?;
    m.add_class::<predictor::NativePredictor>()?;
    m.add("CacheClosed", py.get_type::<CacheClosed>())?;
    m.add("ProviderError", py.get_type::<ProviderError>())?;
    Ok(())
}
