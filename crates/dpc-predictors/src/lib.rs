//! # dpc-predictors: who comes next
//!
//! [`AccessPredictor`] implementations for the dpc prefetching cache:
//! ports of the Python original's predictors (score for score), the classic strategies of the prefetching
//! literature, and adaptive predictors that need no tuning, merged by a self-weighting [`Ensemble`] that is
//! the default (`auto`).
//!
//! ```
//! use std::convert::Infallible;
//! use dpc_core::{DataProvider, PrefetchCache};
//! use dpc_predictors::Ensemble;
//!
//! struct Frames;
//!
//! impl DataProvider for Frames {
//!     type Key = u64;
//!     type Value = u64;
//!     type Error = Infallible;
//!     fn load(&self, key: &u64) -> Result<u64, Infallible> {
//!         Ok(key * 2)
//!     }
//! }
//!
//! let cache = PrefetchCache::builder(Frames).predictor(Ensemble::<u64>::auto()).max_entries(256).build()?;
//! for frame in 0..10 {
//!     assert_eq!(*cache.get(&frame)?, frame * 2);
//! }
//! cache.close();
//!
//! // Predictors by name, as the CLI's `--predictor` takes them.
//! let markov = dpc_predictors::by_name::<std::sync::Arc<str>>("markov")?;
//! assert_eq!(markov.name(), "markov");
//! assert!(dpc_predictors::by_name::<std::sync::Arc<str>>("python").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | name (`by_name`) | type | keys | what it does |
//! |---|---|---|---|
//! | `auto` | [`Ensemble::auto`] | any | self-weighting mix of `delta-markov`, `stride` and `markov` (the default) |
//! | `python` | [`DynamicDataPredictor::video`] | integers | the Python original's video predictor, jumps `[-15,-5,-1,5,15,30]` |
//! | `distance-decay` | [`DistanceDecayPredictor`] | integers | Python parity: `1/(d+1)^1.5` within 60 keys |
//! | `dynamic-distance-decay` | [`DynamicDistanceDecayPredictor`] | integers | Python parity: forward-biased decay |
//! | `sequential` | [`Sequential`] | integers | the next keys, depth from the measured lookahead |
//! | `markov` | [`Markov`] | any | learned successor counts, followed a few steps |
//! | `session` | [`Markov::session`] | any | second-order (session) transitions with back-off |
//! | `stride` | [`Stride`] | integers | stride streams (several cursors) with growing windows |
//! | `trend` | [`Trend`] | integers | the majority delta of the history |
//! | `delta-markov` | [`DeltaMarkov`] | integers | learned next-delta transitions (jump sets) |
//! | `none` | [`NoPrefetch`] | any | predicts nothing |
//!
//! Keys: everything is generic over [`OffsetKey`], implemented for the integer types and for `Arc<str>`,
//! `String`, `Box<str>` and `&'static str`. Integer arithmetic that leaves the key type (frame `-1` for a
//! `u64`) drops the prediction.

mod adaptive;
mod classic;
mod ensemble;
mod key;
mod parity;
mod scores;

use std::fmt;

use dpc_core::{AccessPredictor, NoPrefetch};

pub use adaptive::{DeltaMarkov, Stride, Trend};
pub use classic::{Markov, Sequential, Weighted};
pub use ensemble::Ensemble;
pub use key::OffsetKey;
pub use parity::{DistanceDecayPredictor, DynamicDataPredictor, DynamicDistanceDecayPredictor};

/// The measured window of the sequential predictors: `2 * lookahead + 2` keys, at least 4, and at most the
/// cache's capacity or 1024 (a consumer faster than the clock can measure must not make a predictor list
/// a million keys).
fn window<K>(ctx: &dpc_core::PredictContext<'_, K>) -> usize {
    let cap = ctx.capacity.unwrap_or(1024).clamp(4, 1024);
    ctx.lookahead().saturating_mul(2).saturating_add(2).clamp(4, cap)
}

/// Every name [`by_name`] accepts.
pub const NAMES: &[&str] = &[
    "auto",
    "python",
    "none",
    "distance-decay",
    "dynamic-distance-decay",
    "sequential",
    "markov",
    "session",
    "stride",
    "trend",
    "delta-markov",
];

/// Why [`by_name`] could not build a predictor.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PredictorError {
    /// No predictor has this name.
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The predictor does arithmetic on keys and the keys are not integers (for example strings).
    NeedsIntegerKeys {
        /// The name asked for.
        name: String,
    },
}

impl fmt::Display for PredictorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PredictorError::Unknown { name } => {
                write!(f, "unknown predictor {name:?}; known: {}", NAMES.join(", "))
            }
            PredictorError::NeedsIntegerKeys { name } => {
                write!(f, "predictor {name:?} needs integer keys; use auto, markov or session for these keys")
            }
        }
    }
}

impl std::error::Error for PredictorError {}

/// Builds a predictor by name with its default parameters (see the table in the crate docs).
///
/// Predictors that only do key arithmetic are refused for non-integer keys rather than silently
/// predicting nothing.
pub fn by_name<K: OffsetKey>(name: &str) -> Result<Box<dyn AccessPredictor<K>>, PredictorError> {
    let integer_only = matches!(
        name,
        "python" | "distance-decay" | "dynamic-distance-decay" | "sequential" | "stride" | "trend" | "delta-markov"
    );
    if integer_only && !K::INTEGER {
        return Err(PredictorError::NeedsIntegerKeys { name: name.to_string() });
    }
    Ok(match name {
        "auto" => Box::new(Ensemble::<K>::auto()),
        "python" => Box::new(DynamicDataPredictor::video()),
        "none" => Box::new(NoPrefetch),
        "distance-decay" => Box::new(DistanceDecayPredictor::default()),
        "dynamic-distance-decay" => Box::new(DynamicDistanceDecayPredictor::default()),
        "sequential" => Box::new(Sequential::default()),
        "markov" => Box::new(Markov::<K>::new()),
        "session" => Box::new(Markov::<K>::session()),
        "stride" => Box::new(Stride::new()),
        "trend" => Box::new(Trend::new()),
        "delta-markov" => Box::new(DeltaMarkov::new()),
        _ => return Err(PredictorError::Unknown { name: name.to_string() }),
    })
}
