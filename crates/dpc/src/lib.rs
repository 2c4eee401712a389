//! # dpc: speculative prefetching
//!
//! A predictor guesses which keys (video frames, records, pages, chunks) will be asked for next,
//! background workers load them before they are asked for, and a bounded cache keeps the likeliest.
//!
//! This umbrella crate re-exports the workspace's crates behind features:
//!
//! | feature | module | what it holds |
//! |---|---|---|
//! | (always) | [`core`] | traits, [`PrefetchCache`], stats, events, errors |
//! | `predictors` | `predictors` | Python-parity, classic and adaptive predictors |
//! | `mot` | `mot` | MOTChallenge parsing, frame index, `MotProvider` |
//! | `ocycle` | `ocycle` | stream rebuffering emitters |
//! | `store` | `store` | two-level memory+file cache, `StreamCache` memo |
//! | `gen` | `datagen` | data and trace generators, replay harness, oracle |

#[doc(inline)]
pub use dpc_core as core;
#[doc(inline)]
pub use dpc_core::{AccessPredictor, CacheError, DataProvider, GetError, PrefetchCache};

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

/// The README's example is compiled and run as a doctest, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
