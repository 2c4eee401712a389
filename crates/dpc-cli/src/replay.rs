//! `dpc replay` and `dpc oracle`: how well a predictor hides load latency on a trace, and the best possible.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dpc_gen::oracle::{Setup, oracle as run_oracle};
use dpc_gen::replay::{ReplayReport, replay as run_replay};
use dpc_gen::trace::Trace;

use crate::CliResult;

/// The closed-loop setup shared by `replay` and `oracle` (docs/BENCHMARKS.md, "Replay and the oracle").
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// A trace file: one key per line (all non-negative integers: frame numbers; otherwise strings).
    pub trace: PathBuf,
    /// Time one load takes, in milliseconds.
    #[arg(long, default_value_t = 2.0)]
    pub latency_ms: f64,
    /// Time between serving a request and issuing the next, in milliseconds.
    #[arg(long, default_value_t = 1.0)]
    pub think_ms: f64,
    /// Loads that may run at once in the background.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Entries the cache holds.
    #[arg(long, default_value_t = 512)]
    pub capacity: usize,
    /// Replay only the first N requests of the trace.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,
}

/// `dpc replay TRACE [--latency-ms F] [--think-ms F] [--workers N] [--capacity N] [--predictor NAME] [--json]`
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub setup: SetupArgs,
    /// The predictor: auto (the default), python (the Python original's video predictor), none (no
    /// prefetching), or any built-in name: distance-decay, dynamic-distance-decay, sequential, markov,
    /// session, stride, trend, delta-markov.
    #[arg(long, default_value = "auto")]
    pub predictor: String,
}

/// `dpc oracle TRACE [--latency-ms F] [--think-ms F] [--workers N] [--capacity N] [--json]`
#[derive(Debug, clap::Args)]
pub struct OracleArgs {
    #[command(flatten)]
    pub setup: SetupArgs,
}

fn millis(name: &str, ms: f64) -> Result<Duration, String> {
    match Duration::try_from_secs_f64(ms / 1e3) {
        Ok(d) if d <= Duration::from_secs(3600) => Ok(d),
        _ => Err(format!("--{name} must be between 0 and 3600000 milliseconds, not {ms}")),
    }
}

fn load(args: &SetupArgs) -> Result<(Trace, Setup), Box<dyn std::error::Error>> {
    if args.capacity == 0 {
        return Err("--capacity must be at least 1".into());
    }
    let setup = Setup {
        latency: millis("latency-ms", args.latency_ms)?,
        think: millis("think-ms", args.think_ms)?,
        workers: args.workers,
        capacity: args.capacity,
    };
    let mut trace = Trace::load(&args.trace)?;
    if let Some(n) = args.limit {
        trace.truncate(n);
    }
    Ok((trace, setup))
}

pub fn replay(args: ReplayArgs) -> CliResult {
    let (trace, setup) = load(&args.setup)?;
    let report = match &trace {
        Trace::Frames(keys) => run_replay(keys, dpc_predictors::by_name::<u64>(&args.predictor)?, &setup)?,
        Trace::Strings(keys) => run_replay(keys, dpc_predictors::by_name::<Arc<str>>(&args.predictor)?, &setup)?,
    };
    print_replay(&report, args.setup.json)
}

fn print_replay(r: &ReplayReport, json: bool) -> CliResult {
    println!("predictor        {}", r.predictor);
    println!("requests         {}", r.requests);
    println!("hits             {} (late {}, misses {})", r.hits, r.late_hits, r.misses);
    println!(
        "stall            {:.1} ms (p50 {:.0} us, p99 {:.0} us, max {:.0} us)",
        r.stall_ms, r.p50_us, r.p99_us, r.max_us
    );
    println!(
        "loads            {} demand, {} prefetched ({} used, {} wasted)",
        r.loads, r.prefetch_issued, r.prefetch_used, r.prefetch_wasted
    );
    println!("wall             {:.1} ms", r.wall_ms);
    if json {
        println!("{}", serde_json::to_string(r)?);
    }
    Ok(())
}

pub fn oracle(args: OracleArgs) -> CliResult {
    let (trace, setup) = load(&args.setup)?;
    let r = match &trace {
        Trace::Frames(keys) => run_oracle(keys, &setup),
        Trace::Strings(keys) => run_oracle(keys, &setup),
    };
    println!("requests         {}", trace.len());
    println!("hits             {} (late {}, misses {})", r.hits, r.late_hits, r.misses);
    println!("stall            {:.1} ms", r.stall_ms);
    println!("loads            {} ({} prefetched)", r.loads, r.prefetch_issued);
    println!("wall             {:.1} ms (virtual)", r.wall_ms);
    if args.setup.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
