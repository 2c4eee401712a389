//! `dpc replay` and `dpc oracle` (under construction).

use crate::CliResult;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {}

#[derive(Debug, clap::Args)]
pub struct OracleArgs {}

pub fn replay(_args: ReplayArgs) -> CliResult {
    Err("`dpc replay` is not built yet".into())
}

pub fn oracle(_args: OracleArgs) -> CliResult {
    Err("`dpc oracle` is not built yet".into())
}
