//! `dpc demo` (under construction).

use crate::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err("`dpc demo` is not built yet".into())
}
