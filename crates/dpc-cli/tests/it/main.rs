//! End-to-end tests of the `dpc` binary, one module per subcommand.

mod demo;
mod replay;
mod trace;
