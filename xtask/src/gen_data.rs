//! `cargo xtask gen-data [--check]`: fixtures that are generated, committed and checked.

use crate::TaskResult;

pub fn run(args: &[String]) -> TaskResult {
    let check = args.iter().any(|a| a == "--check");
    let _ = check;
    Ok(())
}
