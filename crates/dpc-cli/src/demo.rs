//! `dpc demo`: navigate a real MOT file as an annotator would, through the prefetching cache, and compare
//! the time spent waiting with the Python-parity predictor and with no prefetching.
//!
//! The file is generated on first run (under `target/dpc-demo/`). Frames are read from it for real by
//! [`MotProvider`]; each load also waits `--latency-ms`, standing in for decoding the video frame that goes
//! with the annotations, which is what makes prefetching worth it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpc_core::{AccessPredictor, DataProvider, PrefetchCache};
use dpc_gen::oracle::{Setup, oracle};
use dpc_gen::replay::wait;
use dpc_gen::trace::{Trace, TraceKind, generate};
use dpc_mot::{Frame, MotProvider};
use serde::Serialize;

use crate::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A MOT file to navigate instead of the generated demo file: a path, or a file://, s3://, gs://, az://
    /// or http(s):// URL (with `--latency-ms 0` the loads are the real network reads alone).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Requests in the navigation session.
    #[arg(long, default_value_t = 1500)]
    requests: usize,
    /// Extra time per frame load (decoding the video frame), in milliseconds.
    #[arg(long, default_value_t = 2.0)]
    latency_ms: f64,
    /// Time the user looks at a frame before the next request, in milliseconds.
    #[arg(long, default_value_t = 1.0)]
    think_ms: f64,
    /// Prefetch workers.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Frames the cache holds.
    #[arg(long, default_value_t = 512)]
    capacity: usize,
    /// Seed of the navigation session.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
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
    if !(args.latency_ms.is_finite() && args.latency_ms >= 0.0 && args.think_ms.is_finite() && args.think_ms >= 0.0) {
        return Err("--latency-ms and --think-ms must be finite and >= 0".into());
    }
    if args.capacity == 0 || args.requests == 0 {
        return Err("--capacity and --requests must be at least 1".into());
    }
    let say = |s: String| {
        if !args.json {
            println!("{s}");
        }
    };
    let path = match &args.file {
        Some(p) => p.clone(),
        None => {
            let path = PathBuf::from("target/dpc-demo/demo-mot.txt");
            let existed = path.exists();
            let t = Instant::now();
            dpc_gen::mot::ensure_demo_file(&path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            if !existed {
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
    let setup = Setup {
        latency: Duration::from_secs_f64(args.latency_ms / 1e3),
        think: Duration::from_secs_f64(args.think_ms / 1e3),
        workers: args.workers,
        capacity: args.capacity,
    };
    say(format!(
        "navigating {} requests (playback, then annotation steps and jumps); load {} ms, think {} ms, {} workers, {} frames cached\n",
        session.len(),
        args.latency_ms,
        args.think_ms,
        args.workers,
        args.capacity
    ));

    let mut runs = Vec::new();
    for name in ["none", "python", "auto"] {
        let predictor: Box<dyn AccessPredictor<u64>> = dpc_predictors::by_name(name)?;
        mot.clear_cache();
        runs.push(navigate(&mot, predictor, &session, &setup)?);
    }
    // The clairvoyant schedule pays what a load really cost: the injected latency plus the file read
    // (a network round trip for a URL), as measured.
    let read = Duration::from_secs_f64(mot.stats().mean_miss_us.max(0.0) / 1e6);
    let best = oracle(&session, &Setup { latency: setup.latency + read, ..setup });

    if !args.json {
        println!(
            "{:<8} {:>6} {:>6} {:>5} {:>6} {:>10} {:>8} {:>9} {:>9}",
            "predictor", "hits", "late", "miss", "loads", "stall ms", "p99 us", "accuracy", "vs none"
        );
        let none_stall = runs[0].stall_ms;
        for r in &runs {
            println!(
                "{:<9} {:>6} {:>6} {:>5} {:>6} {:>10.1} {:>8.0} {:>8.0}% {:>8.1}x",
                r.predictor,
                r.hits,
                r.late_hits,
                r.misses,
                r.misses + r.prefetch_issued,
                r.stall_ms,
                r.p99_us,
                r.accuracy * 100.0,
                if r.stall_ms > 0.0 { none_stall / r.stall_ms } else { f64::INFINITY },
            );
        }
        println!(
            "{:<9} {:>6} {:>6} {:>5} {:>6} {:>10.1}   (clairvoyant schedule: the best any predictor can do)",
            "oracle", best.hits, best.late_hits, best.misses, best.loads, best.stall_ms
        );
        let auto = &runs[2];
        let headroom = (none_stall - auto.stall_ms) / (none_stall - best.stall_ms);
        println!(
            "\nauto waited {:.1} ms instead of {:.1} ms without prefetching: {:.0}% of the possible saving.",
            auto.stall_ms,
            none_stall,
            headroom * 100.0
        );
    } else {
        let json = serde_json::json!({ "file": path, "runs": runs, "oracle": best });
        println!("{json}");
    }
    Ok(())
}

/// A navigation session over frames `first..=last`: a playback stretch, then annotation work
/// (steps forward and back, repeats, jumps), mapped into the file's frame range.
fn navigation(n: usize, seed: u64, first: u64, last: u64) -> Vec<u64> {
    let span = last - first + 1;
    let mut keys = Vec::with_capacity(n);
    for (kind, count) in [(TraceKind::Playback, n / 2), (TraceKind::Annotate, n - n / 2)] {
        if let Trace::Frames(frames) = generate(kind, count, seed) {
            keys.extend(frames.into_iter().map(|f| first + f % span));
        }
    }
    keys
}

fn navigate(
    mot: &Arc<MotProvider>,
    predictor: Box<dyn AccessPredictor<u64>>,
    session: &[u64],
    setup: &Setup,
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
    }
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
        prefetch_issued: stats.prefetch_issued,
        prefetch_used: stats.prefetch_used,
        accuracy: stats.accuracy(),
        detections_seen: detections,
    })
}
