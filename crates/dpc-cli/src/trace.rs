//! `dpc gen trace KIND -n N --seed S -o FILE`: deterministic access traces, written as they are generated.

use std::io::{self, Write};
use std::path::PathBuf;

use dpc_gen::trace::{TraceKind, write as write_trace};

use crate::CliResult;
use crate::output::OutFile;

/// `dpc gen trace KIND [-n N] [--seed S] [-o FILE]`
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// playback, annotate, scan, markov (string keys), random, backward, interleaved (two cursors) or jumps
    /// (another jump set).
    pub kind: TraceKind,
    /// Number of requests, 1 to 18446744073709551615. The trace is written as it is generated, in constant
    /// memory, whatever its length.
    #[arg(short = 'n', long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: u64,
    /// The seed: the same kind, length and seed always give the same trace.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (standard output if absent or `-`). An existing file is replaced only once the new trace
    /// is complete.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

pub fn generate(args: GenArgs) -> CliResult {
    match args.output.as_ref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let mut file = OutFile::create(path)?;
            let n = write_trace(args.kind, args.requests, args.seed, &mut file)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            file.commit()?;
            eprintln!("wrote {n} requests of {} to {}", args.kind, path.display());
        }
        None => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            match write_trace(args.kind, args.requests, args.seed, &mut out).and_then(|_| out.flush()) {
                // A reader that has seen enough (`| head`) is not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                other => {
                    other?;
                }
            }
        }
    }
    Ok(())
}
