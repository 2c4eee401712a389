//! Integration tests of dpc-ocycle, one binary with a module per area.

mod alloc;
mod backpressure;
mod basics;
mod errors;
mod flush;
mod modes;
mod process;
mod prop;
mod support;
mod time;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;
