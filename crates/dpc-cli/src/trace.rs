//! `dpc gen trace` (under construction).

use crate::CliResult;

#[derive(Debug, clap::Args)]
pub struct GenArgs {}

pub fn generate(_args: GenArgs) -> CliResult {
    Err("`dpc gen trace` is not built yet".into())
}
