//! `dpc gen trace KIND -n N --seed S -o FILE`: deterministic access traces.

use std::io::Write;
use std::path::PathBuf;

use dpc_gen::trace::{TraceKind, generate as gen_trace};

use crate::CliResult;

/// `dpc gen trace KIND [-n N] [--seed S] [-o FILE]`
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// playback, annotate, scan, markov (string keys), random, backward, interleaved (two cursors) or jumps
    /// (another jump set).
    pub kind: TraceKind,
    /// Number of requests.
    #[arg(short = 'n', long, default_value_t = 3000)]
    pub requests: usize,
    /// The seed: the same kind, length and seed always give the same trace.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (standard output if absent).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

pub fn generate(args: GenArgs) -> CliResult {
    let trace = gen_trace(args.kind, args.requests, args.seed);
    match &args.output {
        Some(path) => {
            trace.save(path)?;
            eprintln!("wrote {} requests of {} to {}", trace.len(), args.kind, path.display());
        }
        None => std::io::stdout().lock().write_all(trace.to_text().as_bytes())?,
    }
    Ok(())
}
