//! Integration tests of dpc-gen.

mod oracle;
mod replay;
mod sim;
mod trace;
