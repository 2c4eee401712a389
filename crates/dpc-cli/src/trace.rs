//! `dpc gen trace KIND -n N --seed S -o FILE`: deterministic access traces.

use std::io::Write;
use std::path::PathBuf;

use dpc_gen::trace::{TraceKind, TraceParams, generate_with};

use crate::CliResult;

/// `dpc gen trace KIND [-n N] [--seed S] [-o FILE]`
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// playback, annotate, scan, markov (string keys), random, backward, interleaved (two cursors), jumps
    /// (another jump set), fastforward (changing speeds) or scrub (big steps, then a fine search).
    pub kind: TraceKind,
    /// Number of requests.
    #[arg(short = 'n', long, default_value_t = 3000)]
    pub requests: usize,
    /// The seed: the same kind, length and seed always give the same trace.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The jump set, comma-separated (playback kinds, annotate, interleaved, fastforward).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub jumps: Option<Vec<i64>>,
    /// The chance of a jump per request, in [0, 1].
    #[arg(long)]
    pub jump_rate: Option<f64>,
    /// The chance of a seek to a random frame per request, in [0, 1].
    #[arg(long)]
    pub seek_rate: Option<f64>,
    /// fastforward: the speeds in frames per request, comma-separated (default 1,2,4).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub speeds: Option<Vec<i64>>,
    /// interleaved: the number of cursors, 1 to 64 (default 2).
    #[arg(long)]
    pub cursors: Option<usize>,
    /// scrub: the big step sizes, comma-separated (default 30,60,120).
    #[arg(long, value_delimiter = ',')]
    pub scrub_steps: Option<Vec<i64>>,
    /// Output file (standard output if absent).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

pub fn generate(args: GenArgs) -> CliResult {
    let mut params = TraceParams::new();
    (params.jumps, params.jump_rate, params.seek_rate) = (args.jumps, args.jump_rate, args.seek_rate);
    (params.speeds, params.cursors, params.scrub_steps) = (args.speeds, args.cursors, args.scrub_steps);
    let trace = generate_with(args.kind, args.requests, args.seed, &params)?;
    match &args.output {
        Some(path) => {
            trace.save(path)?;
            eprintln!("wrote {} requests of {} to {}", trace.len(), args.kind, path.display());
        }
        None => std::io::stdout().lock().write_all(trace.to_text().as_bytes())?,
    }
    Ok(())
}
