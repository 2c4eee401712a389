//! # dpc-gen: generators, the replay harness and the oracle
//!
//! Deterministic data for dpc's tests and benchmarks, and the measuring stick of its predictors
//! (docs/BENCHMARKS.md, "Replay and the oracle").
//!
//! ```
//! use dpc_gen::oracle::{Setup, oracle, simulate, SimOptions};
//! use dpc_gen::trace::{Trace, TraceKind, generate};
//!
//! let Trace::Frames(keys) = generate(TraceKind::Scan, 200, 7) else { unreachable!() };
//! let setup = Setup::default();
//! let best = oracle(&keys, &setup);
//! assert_eq!(best.misses, 1, "the clairvoyant schedule only stalls on the first request");
//!
//! let mut none = dpc_core::NoPrefetch;
//! let baseline = simulate(&keys, &mut none, &setup, &SimOptions::default());
//! assert_eq!(baseline.misses, 200);
//! ```
//!
//! | module | what it does |
//! |---|---|
//! | [`trace`] | read and write traces (one key per line); generate `playback`, `annotate`, `scan`, `markov`, `random`, `backward`, `interleaved`, `jumps` from a seed |
//! | [`replay`] | replay a trace through the real cache in real time against a sleeping provider (`dpc replay`) |
//! | [`oracle`] | the clairvoyant schedule in virtual time (`dpc oracle`), and a virtual-time model of the cache for any predictor |
//! | `mot` | MOT annotation data |
//!
//! **Generators are pure functions of their seed and parameters.**

pub mod mot;
pub mod oracle;
pub mod replay;
pub mod trace;
