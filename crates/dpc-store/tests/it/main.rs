//! The integration tests of dpc-store, one binary with a module per area.

mod compute;
mod corrupt;
mod hostile;
mod multiprocess;
mod ownership;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_server;
mod stream;
mod support;
mod tiered;
