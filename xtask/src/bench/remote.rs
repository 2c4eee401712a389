//! The `remote` suite: shared/BENCHMARKS.md §7 (remote), against a real S3-compatible server (s3s-fs) in
//! this process on loopback, so the network part is a real HTTP stack with no injected latency.
//!
//! Each remote number has its local baseline measured in the same run:
//! - a random frame load (~200 rows, the provider's frame LRU off) over S3 against the same load from the
//!   local file;
//! - the index build of a ~24 MB file streamed from S3 against the build from the local file;
//! - reopening the S3 file with its saved index (`IndexCache::Dir`) against building the index again;
//! - the demo's navigation session over S3 (latency 0: loads are the network reads alone): stall with no
//!   prefetching, with `auto`, and the clairvoyant schedule at the measured load time, as a headroom.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dpc_core::{AccessPredictor, PrefetchCache};
use dpc_gen::mot::MotParams;
use dpc_gen::oracle::{Setup, oracle};
use dpc_gen::trace::{Trace, TraceKind, generate};
use dpc_io::SourceOptions;
use dpc_mot::{IndexCache, MotProvider};
use dpc_testserver::S3Server;
use rand::{Rng, SeedableRng};

use super::{Suite, median};
use crate::TaskResult;

const LOADS: usize = 400;
const ROUNDS: usize = 5;

pub fn run(suite: &mut Suite) -> TaskResult {
    let dir = tempfile::tempdir()?;
    let server = S3Server::start()?;
    server.create_bucket("bench")?;
    let mut options = SourceOptions::default().from_env(false);
    for (k, v) in server.settings() {
        options = options.setting(k, v);
    }

    // A file of 200 tracks x 2500 frames (200 rows a frame, about 24 MB), sorted by frame.
    let path = dir.path().join("gt.txt");
    let params = MotParams {
        tracks: 200,
        frames: 2500,
        seed: 11,
        min_track_length: 2500,
        max_track_length: Some(2500),
        ..MotParams::default()
    };
    dpc_gen::mot::generate(&params, std::io::BufWriter::new(std::fs::File::create(&path)?))?;
    let bytes = std::fs::read(&path)?;
    server.put("bench", "gt.txt", &bytes)?;
    let url = "s3://bench/gt.txt";
    let mb = bytes.len() as f64 / 1e6;
    suite.metric("file_mb", mb, "MB");

    // Index build.
    let (mut local_ms, mut remote_ms) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let local = MotProvider::builder(&path).seqinfo(false).build()?;
        local_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let remote = MotProvider::builder(url).source_options(options.clone()).build()?;
        remote_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(local.stats().rows, remote.stats().rows);
    }
    let (local_ms, remote_ms) = (median(&mut local_ms), median(&mut remote_ms));
    suite.metric("index_local_ms", local_ms, "ms");
    suite.metric("index_s3_ms", remote_ms, "ms");
    suite.metric("index_s3_mb_per_s", mb / (remote_ms / 1e3), "MB/s");
    suite.metric("index_s3_vs_local", remote_ms / local_ms, "x");

    // Saved-index reopen.
    let cache = dir.path().join("index-cache");
    let built = MotProvider::builder(url)
        .source_options(options.clone())
        .index_cache(IndexCache::Dir(cache.clone()))
        .build()?;
    assert!(!built.index_reused());
    let mut reopen_ms = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let p = MotProvider::builder(url)
            .source_options(options.clone())
            .index_cache(IndexCache::Dir(cache.clone()))
            .build()?;
        reopen_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(p.index_reused());
    }
    let reopen_ms = median(&mut reopen_ms);
    suite.metric("reopen_saved_index_s3_ms", reopen_ms, "ms");
    suite.metric("reopen_vs_index_s3", reopen_ms / remote_ms, "x");

    // Random frame loads.
    let local = MotProvider::builder(&path).seqinfo(false).cache_frames(0).build()?;
    let remote = MotProvider::builder(url).source_options(options.clone()).cache_frames(0).build()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let frames: Vec<u64> = (0..LOADS).map(|_| 1 + rng.next_u64() % 2500).collect();
    let time_loads = |p: &MotProvider| -> Result<f64, dpc_mot::MotError> {
        let t = Instant::now();
        let mut rows = 0;
        for &f in &frames {
            rows += p.load_frame(f)?.len();
        }
        assert!(rows > 0);
        Ok(t.elapsed().as_secs_f64() * 1e6 / frames.len() as f64)
    };
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        l.push(time_loads(&local)?);
        r.push(time_loads(&remote)?);
    }
    let (load_local, load_remote) = (median(&mut l), median(&mut r));
    let rows_per_frame = remote.stats().rows as f64 / 2500.0;
    suite.metric("rows_per_frame", rows_per_frame, "rows");
    suite.metric("frame_load_local_us", load_local, "us");
    suite.metric("frame_load_s3_us", load_remote, "us");
    suite.metric("frame_load_s3_vs_local", load_remote / load_local, "x");

    // The demo over S3.
    let demo = dpc_gen::mot::ensure_demo_file(dir.path().join("demo.txt"))?;
    server.put("bench", "demo.txt", &std::fs::read(&demo)?)?;
    let mot = Arc::new(MotProvider::builder("s3://bench/demo.txt").source_options(options).build()?);
    let (first, last) = mot.range().ok_or("the demo file has no frames")?;
    let session = navigation(1500, 7, first, last);
    let setup = Setup { latency: Duration::ZERO, think: Duration::from_millis(1), workers: 4, capacity: 512 };
    let mut stall = Vec::new();
    for name in ["none", "auto"] {
        mot.clear_cache();
        stall.push(navigate(&mot, dpc_predictors::by_name(name)?, &session, &setup)?);
    }
    let load = Duration::from_secs_f64(mot.stats().mean_miss_us / 1e6);
    let best = oracle(&session, &Setup { latency: load, ..setup });
    let headroom = (stall[0] - stall[1]) / (stall[0] - best.stall_ms);
    suite.metric("demo_s3_load_us", load.as_secs_f64() * 1e6, "us");
    suite.metric("demo_s3_stall_none_ms", stall[0], "ms");
    suite.metric("demo_s3_stall_auto_ms", stall[1], "ms");
    suite.metric("demo_s3_stall_oracle_ms", best.stall_ms, "ms");
    suite.metric("demo_s3_headroom_auto", headroom, "");

    suite.markdown(&format!(
        "| measure | S3 (loopback) | local | ratio |\n|---|---:|---:|---:|\n\
         | random frame load ({rows_per_frame:.0} rows) | {load_remote:.0} us | {load_local:.1} us | {:.0} x |\n\
         | index build ({mb:.1} MB) | {remote_ms:.1} ms | {local_ms:.1} ms | {:.1} x |\n\
         | reopen with the saved index | {reopen_ms:.2} ms | | {:.3} x the S3 build |\n\n\
         Demo over S3 (latency 0, think 1 ms, 4 workers): stall none {:.0} ms, auto {:.0} ms, oracle {:.0} ms \
         (load {:.0} us): headroom {:.2}.\n",
        load_remote / load_local,
        remote_ms / local_ms,
        reopen_ms / remote_ms,
        stall[0],
        stall[1],
        best.stall_ms,
        load.as_secs_f64() * 1e6,
        headroom
    ));
    Ok(())
}

/// The demo's navigation session: playback, then annotation steps and jumps, inside the file's frames.
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

/// Stall (ms) of one closed-loop session through a `PrefetchCache` over `mot`.
fn navigate(
    mot: &Arc<MotProvider>,
    predictor: Box<dyn AccessPredictor<u64>>,
    session: &[u64],
    setup: &Setup,
) -> Result<f64, Box<dyn std::error::Error>> {
    let cache = PrefetchCache::builder(Shared(Arc::clone(mot)))
        .predictor(predictor)
        .max_entries(setup.capacity)
        .workers(setup.workers)
        .build()?;
    let mut stall = Duration::ZERO;
    for (i, frame) in session.iter().enumerate() {
        if i > 0 {
            dpc_gen::replay::wait(setup.think);
        }
        let t = Instant::now();
        let got = cache.get(frame)?;
        stall += t.elapsed();
        assert_eq!(got.number(), *frame);
    }
    cache.close();
    Ok(stall.as_secs_f64() * 1e3)
}

/// A shared provider.
struct Shared(Arc<MotProvider>);

impl dpc_core::DataProvider for Shared {
    type Key = u64;
    type Value = dpc_mot::Frame;
    type Error = dpc_mot::MotError;

    fn load(&self, frame: &u64) -> Result<dpc_mot::Frame, Self::Error> {
        self.0.load_frame(*frame)
    }

    fn contains(&self, frame: &u64) -> bool {
        MotProvider::contains(&self.0, *frame)
    }
}
