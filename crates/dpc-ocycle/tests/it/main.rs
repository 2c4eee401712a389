//! Integration tests of dpc-ocycle, one binary with a module per area.

mod backpressure;
mod basics;
mod errors;
mod flush;
mod modes;
mod prop;
mod support;
mod time;
