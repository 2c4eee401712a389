//! The integration tests of dpc-store, one binary with a module per area.

mod compute;
mod corrupt;
mod hostile;
mod multiprocess;
mod ownership;
mod stream;
mod support;
mod tiered;
