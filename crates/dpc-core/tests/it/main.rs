//! Integration tests of dpc-core: behaviour, concurrency and faults, through the public API only.

mod api;
mod behaviour;
mod concurrency;
mod faults;
mod support;
