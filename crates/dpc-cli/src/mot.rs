//! `dpc gen mot` and `dpc inspect mot` (under construction).

use crate::CliResult;

#[derive(Debug, clap::Args)]
pub struct GenArgs {}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {}

pub fn generate(_args: GenArgs) -> CliResult {
    Err("`dpc gen mot` is not built yet".into())
}

pub fn inspect(_args: InspectArgs) -> CliResult {
    Err("`dpc inspect mot` is not built yet".into())
}
