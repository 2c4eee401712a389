//! dpc-gen: deterministic MOT data and access-trace generators, the replay harness and the oracle.

pub mod mot;
pub mod oracle;
pub mod replay;
pub mod trace;
