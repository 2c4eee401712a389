//! `dpc gen trace KIND -n N --seed S -o FILE`: deterministic access traces, written as they are generated.

use std::io::{self, Write};
use std::path::PathBuf;

use dpc_gen::trace::{IN_MEMORY_KEYS, TraceKind, TraceParams, generate_with, write as write_trace};

use crate::CliResult;
use crate::output::OutFile;

/// `dpc gen trace KIND [-n N] [--seed S] [-o FILE]`
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// playback, annotate, scan, markov (string keys), random, backward, interleaved (two cursors), jumps
    /// (another jump set), fastforward (changing speeds) or scrub (big steps, then a fine search).
    pub kind: TraceKind,
    /// Number of requests, 1 to 18446744073709551615. The trace is written as it is generated, in constant
    /// memory, whatever its length.
    #[arg(short = 'n', long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: u64,
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
    /// Output file (standard output if absent or `-`). An existing file is replaced only once the new trace
    /// is complete.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

pub fn generate(args: GenArgs) -> CliResult {
    let mut params = TraceParams::new();
    (params.jumps, params.jump_rate, params.seek_rate) = (args.jumps, args.jump_rate, args.seek_rate);
    (params.speeds, params.cursors, params.scrub_steps) = (args.speeds, args.cursors, args.scrub_steps);
    // With parameters (or for the kinds that plan ahead) the trace is generated in memory first; otherwise it
    // streams in constant memory whatever its length.
    let in_memory = params != TraceParams::new() || matches!(args.kind, TraceKind::FastForward | TraceKind::Scrub);
    let write = |out: &mut dyn Write| -> std::io::Result<u64> {
        if in_memory {
            let n = usize::try_from(args.requests).ok().filter(|n| *n <= IN_MEMORY_KEYS).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("with trace parameters or for {}, at most {IN_MEMORY_KEYS} requests", args.kind),
                )
            })?;
            let trace = generate_with(args.kind, n, args.seed, &params).map_err(io::Error::other)?;
            out.write_all(trace.to_text().as_bytes())?;
            Ok(n as u64)
        } else {
            write_trace(args.kind, args.requests, args.seed, out)
        }
    };
    match args.output.as_ref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let mut file = OutFile::create(path)?;
            let n = write(&mut file).map_err(|e| format!("{}: {e}", path.display()))?;
            file.commit()?;
            eprintln!("wrote {n} requests of {} to {}", args.kind, path.display());
        }
        None => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            match write(&mut out).and_then(|_| out.flush()) {
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
