//! # dpc-core: the speculative prefetching cache
//!
//! A [`PrefetchCache`] sits between a caller and a slow [`DataProvider`].
//! After every [`get`](PrefetchCache::get) an [`AccessPredictor`] scores the keys likely to be requested next,
//! off the caller's thread; background workers load the best-scored ones before they are asked for,
//! and when the cache is full the least likely resident key is evicted (ties broken by an [`EvictionPolicy`]).
//!
//! ```
//! use std::convert::Infallible;
//! use dpc_core::{DataProvider, Lookahead, PrefetchCache};
//!
//! /// A provider that "decodes" frame `n` into a string.
//! struct Frames;
//!
//! impl DataProvider for Frames {
//!     type Key = u64;
//!     type Value = String;
//!     type Error = Infallible;
//!     fn load(&self, key: &u64) -> Result<String, Infallible> {
//!         Ok(format!("frame {key}"))
//!     }
//! }
//!
//! let cache = PrefetchCache::builder(Frames).predictor(Lookahead::new(4)).max_entries(64).build()?;
//! assert_eq!(*cache.get(&7)?, "frame 7");
//! println!("{:?}", cache.stats());
//! cache.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | piece | what it is |
//! |---|---|
//! | [`DataProvider`] | where values come from; called from several threads, never twice at once for one key |
//! | [`AccessPredictor`] | scores likely next keys; runs on the scheduler thread |
//! | [`EvictionPolicy`] | tie-break among equally unlikely victims |
//! | [`Stats`] | counters with hit rate, accuracy, coverage (serde) |
//! | [`Event`] | typed events for an optional callback, delivered in order |
//! | [`NoPrefetch`], [`Lookahead`] | built-in predictors; many more in `dpc-predictors` |

mod cache;
mod error;
mod event;
mod predict;
mod snapshot;
mod stats;
mod traits;

pub use cache::{CloseReport, DEFAULT_CLOSE_TIMEOUT, GetError, PrefetchCache, PrefetchCacheBuilder};
pub use error::{BuildError, CacheError};
pub use event::Event;
pub use predict::{Lookahead, NoPrefetch};
pub use snapshot::{InFlight, LoadKind, Resident, SchedulerState, Snapshot};
pub use stats::Stats;
pub use traits::{AccessPredictor, DataProvider, EvictionPolicy, Key, PredictContext};
