//! `dpc replay` and `dpc oracle`: how well a predictor hides load latency on a trace, and the best possible.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::builder::{RangedI64ValueParser, RangedU64ValueParser};
use dpc_gen::oracle::{OracleReport, Setup, oracle as run_oracle};
use dpc_gen::replay::{ReplayReport, replay_with_progress};
use dpc_gen::trace::Trace;

use crate::CliResult;
use crate::args::{MAX_WORKERS, as_ms, millis, progress};

/// What every line of `dpc replay`'s summary means (shown by `dpc replay --help`, and in the README).
const REPLAY_HELP: &str = "\
The summary, line by line (the --json fields in brackets):
  requests    Every request is exactly one of: a hit [hits], its key was resident and it was served at
              once; a late hit [late_hits], its key was already loading and the request waited for the
              rest of that load; a miss [misses], the request loaded its key itself and waited the whole
              load. So requests = hits + late hits + misses.
  stall       The time requests spent waiting inside the cache, summed [stall_ms], and the median, 99th
              percentile and longest single wait [p50_us, p99_us, max_us].
  loads       Provider loads = demand loads [loads] (one per miss, plus a retry for each late hit whose
              prefetch failed) + prefetch loads started in the background [prefetch_issued].
  prefetched  Where each prefetch load went, once the cache is quiet: used [prefetch_used], requested at
              least once (also while it was loading); wasted [prefetch_wasted], evicted or not admitted
              before anyone requested it; unused at the end [prefetch_unused], still resident and never
              requested when the trace ended; failed [prefetch_failed]. The four add up to the prefetch loads.
  cancelled   Queued prefetches dropped before they started [prefetch_cancelled]: a newer prediction no
              longer ranked them, or no room could be made. They never loaded and are not counted above.
  wall        Real time of the replay [wall_ms]; requests are issued --think-ms after the previous one
              was served.
A progress bar is drawn on stderr while the replay runs, only when stderr is a terminal and without --json.";

/// What every line of `dpc oracle`'s summary means.
const ORACLE_HELP: &str = "\
The clairvoyant schedule knows the whole trace: idle workers load the next keys that will be requested, and
a full cache evicts the key needed furthest in the future (only for a key needed sooner). Virtual time, no
sleeping. The summary (the --json fields in brackets):
  requests    = hits [hits] + late hits [late_hits] + misses [misses], as for dpc replay; the first
              request is always a miss.
  stall       Total waiting time [stall_ms]: the least any predictor can reach with these settings.
  loads       Provider loads [loads] = demand loads (one per miss) + prefetch loads [prefetch_issued].
              The oracle never wastes a prefetch.
  wall        Virtual time from the first request to the last served [wall_ms].";

/// The closed-loop setup shared by `replay` and `oracle` (docs/BENCHMARKS.md).
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// A trace file: one key per line (all non-negative integers: frame numbers; otherwise strings). Read
    /// once, so a pipe works; lines longer than 4096 bytes are refused.
    pub trace: PathBuf,
    /// Time one load takes, in milliseconds, 0 to 3600000.
    #[arg(long = "latency-ms", value_name = "MS", default_value = "2", value_parser = millis)]
    pub latency: Duration,
    /// Time between serving a request and issuing the next, in milliseconds, 0 to 3600000.
    #[arg(long = "think-ms", value_name = "MS", default_value = "1", value_parser = millis)]
    pub think: Duration,
    /// Loads that may run at once in the background, 0 (no prefetching) to 1024.
    #[arg(long, default_value_t = 4, value_parser = RangedI64ValueParser::<usize>::new().range(0..=MAX_WORKERS))]
    pub workers: usize,
    /// Entries the cache holds, at least 1.
    #[arg(long, default_value_t = 512, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub capacity: usize,
    /// Replay only the first N requests of the trace (at least 1).
    #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub limit: Option<usize>,
    /// Print one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,
}

/// `dpc replay TRACE [--latency-ms F] [--think-ms F] [--workers N] [--capacity N] [--predictor NAME] [--json]`
#[derive(Debug, clap::Args)]
#[command(after_long_help = REPLAY_HELP)]
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
#[command(after_long_help = ORACLE_HELP)]
pub struct OracleArgs {
    #[command(flatten)]
    pub setup: SetupArgs,
}

fn load(args: &SetupArgs) -> Result<(Trace, Setup), Box<dyn std::error::Error>> {
    let setup = Setup { latency: args.latency, think: args.think, workers: args.workers, capacity: args.capacity };
    let mut trace = Trace::load(&args.trace)?;
    if let Some(n) = args.limit {
        trace.truncate(n);
    }
    Ok((trace, setup))
}

pub fn replay(args: ReplayArgs) -> CliResult {
    let (trace, setup) = load(&args.setup)?;
    let bar = progress(trace.len() as u64, "requests", args.setup.json);
    let tick = |n: u64| bar.set_position(n);
    let report = match &trace {
        Trace::Frames(keys) => {
            replay_with_progress(keys, dpc_predictors::by_name::<u64>(&args.predictor)?, &setup, tick)?
        }
        Trace::Strings(keys) => {
            replay_with_progress(keys, dpc_predictors::by_name::<Arc<str>>(&args.predictor)?, &setup, tick)?
        }
    };
    bar.finish_and_clear();
    print_replay(&report, args.setup.json)
}

/// `requests N = H hits + L late hits + M misses`, the line both summaries share.
fn requests_line(requests: u64, hits: u64, late: u64, misses: u64) -> String {
    format!("requests    {requests} = {hits} hits + {late} late hits + {misses} misses")
}

fn print_replay(r: &ReplayReport, json: bool) -> CliResult {
    println!("predictor   {}", r.predictor);
    println!("{}", requests_line(r.requests, r.hits, r.late_hits, r.misses));
    println!(
        "stall       {:.1} ms waited in all (per request: p50 {:.0} us, p99 {:.0} us, max {:.0} us)",
        r.stall_ms, r.p50_us, r.p99_us, r.max_us
    );
    println!("loads       {} = {} demand + {} prefetched", r.loads + r.prefetch_issued, r.loads, r.prefetch_issued);
    println!(
        "prefetched  {} = {} used + {} wasted + {} unused at the end + {} failed",
        r.prefetch_issued, r.prefetch_used, r.prefetch_wasted, r.prefetch_unused, r.prefetch_failed
    );
    println!("cancelled   {} queued prefetches dropped before they started (not loads)", r.prefetch_cancelled);
    println!("wall        {:.1} ms", r.wall_ms);
    if json {
        println!("{}", serde_json::to_string(r)?);
    }
    Ok(())
}

pub fn oracle(args: OracleArgs) -> CliResult {
    let (trace, setup) = load(&args.setup)?;
    let r: OracleReport = match &trace {
        Trace::Frames(keys) => run_oracle(keys, &setup),
        Trace::Strings(keys) => run_oracle(keys, &setup),
    };
    println!("{}", requests_line(trace.len() as u64, r.hits, r.late_hits, r.misses));
    println!(
        "stall       {:.1} ms waited in all (load {} ms, think {} ms)",
        r.stall_ms,
        as_ms(setup.latency),
        as_ms(setup.think)
    );
    println!("loads       {} = {} demand + {} prefetched", r.loads, r.loads - r.prefetch_issued, r.prefetch_issued);
    println!("wall        {:.1} ms (virtual)", r.wall_ms);
    if args.setup.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
