//! `dpc demo`: navigate a real MOT file as an annotator would, through the prefetching cache, and compare
//! the time spent waiting with the Python-parity predictor and with no prefetching.
//!
//! The file is generated on first run, at [`demo_file_path`]. Frames are read from it for real by
//! [`MotProvider`]; each load also waits `--latency-ms`, standing in for decoding the video frame that goes
//! with the annotations, which is what makes prefetching worth it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::builder::{RangedI64ValueParser, RangedU64ValueParser};
use dpc_core::{AccessPredictor, DataProvider, PrefetchCache};
use dpc_gen::oracle::{Setup, oracle};
use dpc_gen::replay::{prefetches, wait};
use dpc_gen::trace::{TraceKind, keys};
use dpc_mot::{Frame, MotProvider};
use serde::Serialize;

use crate::CliResult;
use crate::args::{MAX_WORKERS, as_ms, millis, progress, regular_file};

/// The most requests of a session: the session, its timings and the oracle's schedule are held in memory.
pub const MAX_REQUESTS: u64 = 1_000_000;

/// What every column of the table means (shown by `dpc demo --help`, and in the README).
const DEMO_HELP: &str = "\
The table has one row per predictor (none: no prefetching; python: the Python original's video predictor;
auto: the adaptive default), all on the same session, and the oracle row (the clairvoyant schedule, the
best any predictor can do). Columns (the --json fields of each run in brackets):
  hits      Requests served at once from a resident frame [hits].
  late      Late hits: the frame was already loading and the request waited for the rest [late_hits].
  miss      Requests that loaded their frame themselves and waited the whole load [misses].
            hits + late + miss = the requests of the session, in every row.
  prefetch  Prefetch loads started in the background [prefetch_issued]; each ends as exactly one of:
  used      requested at least once, also while loading [prefetch_used];
  wasted    evicted, or not admitted, before anyone requested it [prefetch_wasted];
  unused    still resident and never requested when the session ended [prefetch_unused];
            (and failed [prefetch_failed], shown only when there are any), so used + wasted + unused
            (+ failed) = prefetch. The oracle row shows its prefetch loads; it never wastes one.
  stall ms  Time the user waited, summed over the requests [stall_ms].
  p99 us    The 99th percentile of one request's wait [p99_us].
  vs none   How many times less waiting than without prefetching.
Loads in all are miss + prefetch. A progress bar is drawn on stderr while the runs go, only when stderr
is a terminal and without --json.";

#[derive(Debug, clap::Args)]
#[command(after_long_help = DEMO_HELP)]
pub struct Args {
    /// A MOT file to navigate instead of the generated demo file: a path, or a file://, s3://, gs://, az://
    /// or http(s):// URL (with `--latency-ms 0` the loads are the real network reads alone).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Requests in the navigation session, 1 to 1000000.
    #[arg(long, default_value_t = 1500, value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_REQUESTS))]
    requests: usize,
    /// Extra time per frame load (decoding the video frame), in milliseconds, 0 to 3600000.
    #[arg(long = "latency-ms", value_name = "MS", default_value = "2", value_parser = millis)]
    latency: Duration,
    /// Time the user looks at a frame before the next request, in milliseconds, 0 to 3600000.
    #[arg(long = "think-ms", value_name = "MS", default_value = "1", value_parser = millis)]
    think: Duration,
    /// Prefetch workers, 0 (no prefetching) to 1024.
    #[arg(long, default_value_t = 4, value_parser = RangedI64ValueParser::<usize>::new().range(0..=MAX_WORKERS))]
    workers: usize,
    /// Frames the cache holds, at least 1.
    #[arg(long, default_value_t = 512, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    capacity: usize,
    /// Seed of the navigation session.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// Where `dpc demo` keeps its generated MOT file (and where other tools find it):
/// `<target>/dpc-demo/demo-mot.txt` when the binary runs from a cargo target directory (`cargo run`, tests),
/// otherwise the platform's cache directory: `$XDG_CACHE_HOME/dpc` or `~/.cache/dpc` on Linux,
/// `~/Library/Caches/dpc` on macOS, `%LOCALAPPDATA%\dpc` on Windows (the temporary directory if none is known).
/// Never the current directory.
pub fn demo_file_path() -> PathBuf {
    demo_dir().join("demo-mot.txt")
}

/// The demo file, generated (atomically) if it is not there yet; returns its path and whether it was generated.
pub fn ensure_demo_file() -> Result<(PathBuf, bool), String> {
    let path = demo_file_path();
    let existed = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() > 0);
    dpc_gen::mot::ensure_demo_file(&path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((path, !existed))
}

fn demo_dir() -> PathBuf {
    if let Some(target) = cargo_target_dir() {
        return target.join("dpc-demo");
    }
    platform_cache_dir().map_or_else(|| std::env::temp_dir().join("dpc"), |d| d.join("dpc"))
}

/// The cargo target directory the running binary was built into: `<target>/<profile>/dpc` or
/// `<target>/<triple>/<profile>/dpc`, where cargo marks `<target>` with `CACHEDIR.TAG` and `.rustc_info.json`.
fn cargo_target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(2)
        .take(2)
        .find(|d| d.join("CACHEDIR.TAG").is_file() && d.join(".rustc_info.json").is_file())
        .map(Path::to_path_buf)
}

fn platform_cache_dir() -> Option<PathBuf> {
    let env_dir = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if cfg!(windows) {
        return env_dir("LOCALAPPDATA");
    }
    if cfg!(target_os = "macos") {
        return env_dir("HOME").map(|h| h.join("Library/Caches"));
    }
    env_dir("XDG_CACHE_HOME").or_else(|| env_dir("HOME").map(|h| h.join(".cache")))
}

/// One predictor's run.
#[derive(Debug, Serialize)]
struct Run {
    predictor: String,
    requests: u64,
    hits: u64,
    late_hits: u64,
    misses: u64,
    stall_ms: f64,
    p99_us: f64,
    prefetch_issued: u64,
    prefetch_used: u64,
    prefetch_wasted: u64,
    prefetch_unused: u64,
    prefetch_failed: u64,
    prefetch_cancelled: u64,
    accuracy: f64,
    detections_seen: u64,
}

/// The MOT provider plus the decode time of the frame's image.
struct Decoding {
    mot: Arc<MotProvider>,
    latency: Duration,
}

impl DataProvider for Decoding {
    type Key = u64;
    type Value = Frame;
    type Error = dpc_mot::MotError;

    fn load(&self, frame: &u64) -> Result<Frame, Self::Error> {
        let loaded = self.mot.load(frame);
        wait(self.latency);
        loaded
    }

    fn contains(&self, frame: &u64) -> bool {
        DataProvider::contains(&*self.mot, frame)
    }
}

pub fn run(args: Args) -> CliResult {
    let say = |s: String| {
        if !args.json {
            println!("{s}");
        }
    };
    let path = match &args.file {
        Some(p) => {
            if !crate::source::is_remote(p) {
                regular_file(p, "dpc demo reads frames at their offsets, so it needs a regular file")?;
            }
            p.clone()
        }
        None => {
            let t = Instant::now();
            let (path, generated) = ensure_demo_file()?;
            if generated {
                say(format!("generated {} in {:.0} ms", path.display(), t.elapsed().as_secs_f64() * 1e3));
            }
            path
        }
    };
    let t = Instant::now();
    let mot = Arc::new(crate::source::mot_builder(&path).build()?);
    let (first, last) = mot.range().ok_or_else(|| format!("{} holds no frames", path.display()))?;
    let bytes = mot.stats().file_bytes;
    say(format!(
        "{}: frames {first}..={last}, {:.1} MB, indexed in {:.1} ms",
        path.display(),
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64() * 1e3
    ));

    let session = navigation(args.requests, args.seed, first, last);
    let setup = Setup { latency: args.latency, think: args.think, workers: args.workers, capacity: args.capacity };
    say(format!(
        "navigating {} requests (playback, then annotation steps and jumps); load {} ms, think {} ms, {} workers, {} frames cached\n",
        session.len(),
        as_ms(args.latency),
        as_ms(args.think),
        args.workers,
        args.capacity
    ));

    let names = ["none", "python", "auto"];
    let bar = progress((names.len() * session.len()) as u64, "requests", args.json);
    let mut runs = Vec::new();
    for name in names {
        let predictor: Box<dyn AccessPredictor<u64>> = dpc_predictors::by_name(name)?;
        mot.clear_cache();
        runs.push(navigate(&mot, predictor, &session, &setup, || bar.inc(1))?);
    }
    bar.finish_and_clear();
    // The clairvoyant schedule pays what a load really cost: the injected latency plus the file read
    // (a network round trip for a URL), as measured.
    let read = Duration::from_secs_f64(mot.stats().mean_miss_us.max(0.0) / 1e6);
    let best = oracle(&session, &Setup { latency: setup.latency + read, ..setup });

    if args.json {
        let json = serde_json::json!({ "file": path, "runs": runs, "oracle": best });
        println!("{json}");
        return Ok(());
    }
    let failed = runs.iter().any(|r| r.prefetch_failed > 0);
    println!(
        "{:<9} {:>6} {:>6} {:>5} {:>8} {:>6} {:>6} {:>6}{} {:>10} {:>8} {:>8}",
        "predictor",
        "hits",
        "late",
        "miss",
        "prefetch",
        "used",
        "wasted",
        "unused",
        if failed { "  failed" } else { "" },
        "stall ms",
        "p99 us",
        "vs none"
    );
    let none_stall = runs[0].stall_ms;
    for r in &runs {
        println!(
            "{:<9} {:>6} {:>6} {:>5} {:>8} {:>6} {:>6} {:>6}{} {:>10.1} {:>8.0} {:>7.1}x",
            r.predictor,
            r.hits,
            r.late_hits,
            r.misses,
            r.prefetch_issued,
            r.prefetch_used,
            r.prefetch_wasted,
            r.prefetch_unused,
            if failed { format!(" {:>7}", r.prefetch_failed) } else { String::new() },
            r.stall_ms,
            r.p99_us,
            if r.stall_ms > 0.0 { none_stall / r.stall_ms } else { f64::INFINITY },
        );
    }
    println!(
        "{:<9} {:>6} {:>6} {:>5} {:>8} {:>6} {:>6} {:>6}{} {:>10.1}   (clairvoyant: the best any predictor can do)",
        "oracle",
        best.hits,
        best.late_hits,
        best.misses,
        best.prefetch_issued,
        "-",
        "-",
        "-",
        if failed { format!(" {:>7}", "-") } else { String::new() },
        best.stall_ms
    );
    println!(
        "\nhits + late + miss = {} requests in every row; prefetch = used + wasted + unused{} (see dpc demo --help).",
        session.len(),
        if failed { " + failed" } else { "" }
    );
    let auto = &runs[2];
    if none_stall > best.stall_ms {
        let headroom = (none_stall - auto.stall_ms) / (none_stall - best.stall_ms);
        println!(
            "auto waited {:.1} ms instead of {:.1} ms without prefetching: {:.0}% of the possible saving.",
            auto.stall_ms,
            none_stall,
            headroom * 100.0
        );
    }
    Ok(())
}

/// A navigation session over frames `first..=last`: a playback stretch, then annotation work
/// (steps forward and back, repeats, jumps), mapped into the file's frame range.
fn navigation(n: usize, seed: u64, first: u64, last: u64) -> Vec<u64> {
    // The span of a file whose frames cover all of u64 does not fit; such a file maps frames to themselves.
    let span = (last - first).checked_add(1);
    let map = |f: u64| span.map_or(f, |span| first + f % span);
    let mut session = Vec::with_capacity(n);
    for (kind, count) in [(TraceKind::Playback, n / 2), (TraceKind::Annotate, n - n / 2)] {
        session.extend(keys(kind, seed).take(count).filter_map(|k| k.frame()).map(map));
    }
    session
}

fn navigate(
    mot: &Arc<MotProvider>,
    predictor: Box<dyn AccessPredictor<u64>>,
    session: &[u64],
    setup: &Setup,
    mut tick: impl FnMut(),
) -> Result<Run, Box<dyn std::error::Error>> {
    let name = predictor.name().to_string();
    let provider = Decoding { mot: Arc::clone(mot), latency: setup.latency };
    let cache = PrefetchCache::builder(provider)
        .predictor(predictor)
        .max_entries(setup.capacity)
        .workers(setup.workers)
        .build()?;
    let mut times = Vec::with_capacity(session.len());
    let mut detections = 0u64;
    for (i, frame) in session.iter().enumerate() {
        if i > 0 {
            wait(setup.think);
        }
        let t = Instant::now();
        let got = cache.get(frame)?;
        times.push(t.elapsed());
        if got.number() != *frame {
            return Err(format!("asked for frame {frame}, got frame {}", got.number()).into());
        }
        detections += got.len() as u64;
        tick();
    }
    let outcome = prefetches(&cache);
    let stats = cache.stats();
    cache.close();
    let stall: Duration = times.iter().sum();
    times.sort_unstable();
    let p99 = times[((times.len() - 1) as f64 * 0.99).round() as usize];
    Ok(Run {
        predictor: name,
        requests: stats.requests(),
        hits: stats.hits,
        late_hits: stats.late_hits,
        misses: stats.misses,
        stall_ms: stall.as_secs_f64() * 1e3,
        p99_us: p99.as_secs_f64() * 1e6,
        prefetch_issued: outcome.issued,
        prefetch_used: outcome.used,
        prefetch_wasted: outcome.wasted,
        prefetch_unused: outcome.unused,
        prefetch_failed: outcome.failed,
        prefetch_cancelled: outcome.cancelled,
        accuracy: stats.accuracy(),
        detections_seen: detections,
    })
}
