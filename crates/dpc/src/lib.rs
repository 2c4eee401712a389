//! # dpc: speculative prefetching
//!
//! A predictor guesses which keys (video frames, records, pages, chunks) will be asked for next,
//! background workers load them before they are asked for, and a bounded cache keeps the likeliest.
//!
//! ```
//! use std::convert::Infallible;
//! use dpc::{DataProvider, PrefetchCache};
//!
//! struct Pages; // a slow source of values: a file, a decoder, a database, a web service
//! impl DataProvider for Pages {
//!     type Key = u64;
//!     type Value = String;
//!     type Error = Infallible;
//!     fn load(&self, page: &u64) -> Result<String, Infallible> {
//!         Ok(format!("page {page}"))
//!     }
//! }
//!
//! // The library's default predictor (feature `predictors`, on by default) adapts to the access pattern.
//! let predictor = dpc::predictors::by_name::<u64>("auto")?;
//! let cache = PrefetchCache::builder(Pages).predictor(predictor).max_entries(100).build()?;
//! assert_eq!(*cache.get(&1)?, "page 1"); // the next pages now load in the background
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The cache itself (dpc-core) is always here: its items are re-exported at the root (`dpc::PrefetchCache`,
//! `dpc::DataProvider`, `dpc::Stats`, ...). The other crates of the workspace are modules behind features:
//!
//! | feature | default | module | what it holds |
//! |---|---|---|---|
//! | (always) | | the root | dpc-core: traits, [`PrefetchCache`], stats, events, errors |
//! | `predictors` | yes | `predictors` | dpc-predictors: Python-parity, classic and adaptive predictors, `by_name` |
//! | `mot` | no | `mot` | dpc-mot: MOTChallenge parsing, frame index, `MotProvider` |
//! | `ocycle` | no | `ocycle` | dpc-ocycle: stream rebuffering emitters (independent of the cache) |
//! | `store` | no | `store` | dpc-store: two-level memory+file cache, `StreamCache` memo (independent of the cache) |
//! | `gen` | no | `datagen` | dpc-gen: data and trace generators, replay harness, oracle |
//! | `full` | no | | all of the above |
//!
//! Only `predictors` is on by default: it is what a user of the cache needs next to it, while the others are tools
//! for particular jobs that pull in their own dependencies.

#[doc(inline)]
pub use dpc_core::*;

#[cfg(feature = "gen")]
#[doc(inline)]
pub use dpc_gen as datagen;
#[cfg(feature = "mot")]
#[doc(inline)]
pub use dpc_mot as mot;
#[cfg(feature = "ocycle")]
#[doc(inline)]
pub use dpc_ocycle as ocycle;
#[cfg(feature = "predictors")]
#[doc(inline)]
pub use dpc_predictors as predictors;
#[cfg(feature = "store")]
#[doc(inline)]
pub use dpc_store as store;

/// The Rust examples of the READMEs (the workspace's and each crate's, the ones cargo publishes) are compiled and
/// run as doctests here, in one place, so they cannot rot; every crate is a dev-dependency of this one for that.
#[cfg(doctest)]
mod readme_doctests {
    #[doc = include_str!("../../../README.md")]
    struct Workspace;
    #[doc = include_str!("../README.md")]
    struct Dpc;
    #[doc = include_str!("../../dpc-core/README.md")]
    struct Core;
    #[doc = include_str!("../../dpc-predictors/README.md")]
    struct Predictors;
    #[doc = include_str!("../../dpc-mot/README.md")]
    struct Mot;
    #[doc = include_str!("../../dpc-ocycle/README.md")]
    struct Ocycle;
    #[doc = include_str!("../../dpc-store/README.md")]
    struct Store;
    #[doc = include_str!("../../dpc-gen/README.md")]
    struct Gen;
    #[doc = include_str!("../../dpc-cli/README.md")]
    struct Cli;
}
