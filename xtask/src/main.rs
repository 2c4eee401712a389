//! `cargo xtask`: the workspace's own automation (see matklad's cargo-xtask).
//!
//! - `cargo xtask gen-data [--check]`: write the committed fixtures deterministically, or check they are unchanged.
//! - `cargo xtask bench [SUITE...]`: run the benchmark suites of docs/BENCHMARKS.md and write `target/bench/`.
//! - `cargo xtask snapshots --check REFERENCES`: fail on committed insta snapshots no test referenced.
//! - `cargo xtask ci`: run `.ci/run`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[cfg(feature = "bench")]
mod bench;
mod gen_data;
mod snapshots;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen-data") => gen_data::run(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("snapshots") => snapshots::run(&args[1..]),
        Some("ci") => ci(),
        _ => {
            eprintln!(
                "usage: cargo xtask <gen-data [--check] | bench [{}] | snapshots --check REFERENCES | ci>",
                SUITES.join("|")
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The suites of `cargo xtask bench`, in the order a bare `cargo xtask bench` runs them.
pub const SUITES: &[&str] = &["core", "predict", "mot", "ocycle", "store", "python", "remote"];

/// `cargo xtask bench`: numbers from a debug build mean nothing, and the `cargo xtask` alias builds without the
/// suites, so anything but an optimised build with feature `bench` re-runs this command from one.
fn bench(args: &[String]) -> TaskResult {
    if cfg!(all(feature = "bench", not(debug_assertions))) {
        #[cfg(feature = "bench")]
        return bench::run(args);
    }
    let status = cargo()
        .args(["run", "--release", "--quiet", "--package", "xtask", "--features", "bench", "--", "bench"])
        .args(args)
        .current_dir(root())
        .status()?;
    if status.success() { Ok(()) } else { Err(format!("the optimised bench run failed: {status}").into()) }
}

/// What every task returns; errors are printed by `main`.
pub type TaskResult = Result<(), Box<dyn std::error::Error>>;

/// The workspace root, found from this crate's manifest directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives one level below the root").to_path_buf()
}

/// The cargo that runs us, so the pinned toolchain is used for child builds too.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn ci() -> TaskResult {
    let status = Command::new("bash").arg(root().join(".ci/run")).current_dir(root()).status()?;
    if status.success() { Ok(()) } else { Err(format!(".ci/run failed: {status}").into()) }
}
