//! `dpc gen trace` (under construction).

use crate::CliResult;

#[derive(Debug, clap::Args)]
pub struct GenArgs {}

pub fn gen(_args: GenArgs) -> CliResult {
    Err("`dpc gen trace` is not built yet".into())
}
