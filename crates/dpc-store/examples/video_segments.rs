//! Caches per-segment video analysis across runs of a program, and across machines through Redis.
//!
//! A "video" of 12 two-second segments is analysed segment by segment (brightness, motion, scene cuts).
//! Each result goes into a [`TieredCache`] keyed by video, analysis version and segment,
//! so a second run, in this process or a later one, computes nothing. It prints one line: `computed N, reused M`.
//!
//! ```sh
//! cargo run -p dpc-store --example video_segments              # twice: the second invocation computes nothing
//! cargo run -p dpc-store --example video_segments -- --fresh   # start from an empty cache
//! cargo run -p dpc-store --example video_segments -- DIR       # use DIR instead of the system's temp directory
//! # Two processes (or machines) with their own directories sharing one Redis: the second reuses all 12.
//! cargo run -p dpc-store --example video_segments -- --redis redis://127.0.0.1:6379/ /tmp/a
//! cargo run -p dpc-store --example video_segments -- --redis redis://127.0.0.1:6379/ /tmp/b
//! ```
//!
//! `--redis` needs the crate's `redis` feature, which `cargo run --example` enables (the crate's own tests and
//! examples always have it). If Redis is down, the example still finishes, computing what it cannot reuse.

use std::path::PathBuf;

use dpc_store::{RedisConfig, TieredCache};
use serde::{Deserialize, Serialize};

const VIDEO: &str = "demo.mp4";
/// Part of every key: a new version of the analysis must not read the old results (and can invalidate them).
const ANALYSIS_VERSION: &str = "v1";
const SEGMENTS: u32 = 12;
const FPS: u32 = 25;
const SEGMENT_SECONDS: u32 = 2;
const WIDTH: usize = 96;
const HEIGHT: usize = 54;
const USAGE: &str = "usage: video_segments [--fresh] [--redis URL] [DIR]";

/// What the analysis finds in one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SegmentAnalysis {
    segment: u32,
    start_s: f64,
    mean_luma: f64,
    motion: f64,
    scene_cuts: u32,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("video_segments: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut fresh = false;
    let mut redis = None;
    let mut dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fresh" => fresh = true,
            "--redis" => redis = Some(args.next().ok_or(USAGE)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ if arg.starts_with('-') || dir.is_some() => return Err(format!("unexpected {arg:?}; {USAGE}").into()),
            _ => dir = Some(PathBuf::from(arg)),
        }
    }
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join("dpc-store-video-segments"));

    let mut builder = TieredCache::builder(&dir);
    if let Some(url) = redis {
        builder = builder.redis(RedisConfig::new(url).namespace("video_segments"));
    }
    let cache: TieredCache<SegmentAnalysis> = builder.build()?;
    if fresh {
        cache.clear()?;
    }
    let mut computed = 0;
    for segment in 0..SEGMENTS {
        let key = format!("{VIDEO}/{ANALYSIS_VERSION}/segment/{segment:04}");
        let analysis = cache.get_or_compute(&key, || {
            computed += 1;
            analyse_segment(segment)
        });
        assert_eq!(analysis.segment, segment, "a result under the wrong key");
    }
    println!("computed {computed}, reused {}", SEGMENTS - computed);
    Ok(())
}

/// The expensive part: decode (here: synthesise) the segment's frames and measure them.
fn analyse_segment(segment: u32) -> SegmentAnalysis {
    let frames = FPS * SEGMENT_SECONDS;
    let first_frame = segment * frames;
    let mut previous = frame(first_frame);
    let mut luma_sum = mean(&previous);
    let mut motion_sum = 0.0;
    let mut scene_cuts = 0;
    for n in first_frame + 1..first_frame + frames {
        let current = frame(n);
        let diff =
            previous.iter().zip(&current).map(|(&a, &b)| f64::from(a.abs_diff(b))).sum::<f64>() / current.len() as f64;
        motion_sum += diff;
        if diff > 40.0 {
            scene_cuts += 1;
        }
        luma_sum += mean(&current);
        previous = current;
    }
    SegmentAnalysis {
        segment,
        start_s: f64::from(first_frame) / f64::from(FPS),
        mean_luma: luma_sum / f64::from(frames),
        motion: motion_sum / f64::from(frames - 1),
        scene_cuts,
    }
}

/// A synthetic luma frame: a moving gradient whose scene changes every 37 frames.
fn frame(n: u32) -> Vec<u8> {
    let scene = n / 37;
    let shift = (n % 37) as usize * 3;
    let tint = (scene.wrapping_mul(2_654_435_761) >> 24) as usize;
    (0..WIDTH * HEIGHT)
        .map(|i| {
            let (x, y) = (i % WIDTH, i / WIDTH);
            ((x + shift + y / 2 + tint) % 256) as u8
        })
        .collect()
}

fn mean(frame: &[u8]) -> f64 {
    frame.iter().map(|&p| f64::from(p)).sum::<f64>() / frame.len() as f64
}
