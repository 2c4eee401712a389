//! End-to-end tests of the `dpc` binary, one module per subcommand.

mod demo;
mod mot;
mod progress;
#[cfg(feature = "remote")]
mod remote;
mod replay;
mod trace;
mod view;
