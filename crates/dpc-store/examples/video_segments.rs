//! Caches per-segment video analysis across runs of a program.
//!
//! A "video" of 12 two-second segments is analysed segment by segment (brightness, motion, scene cuts).
//! Each result goes into a [`TieredCache`] keyed by video, analysis version and segment,
//! so a second run, in this process or a later one, computes nothing.
//!
//! ```sh
//! cargo run -p dpc-store --example video_segments              # twice: the second invocation computes nothing
//! cargo run -p dpc-store --example video_segments -- --fresh   # start from an empty cache
//! cargo run -p dpc-store --example video_segments -- DIR       # use DIR instead of the system's temp directory
//! ```

use std::time::Instant;

use dpc_store::TieredCache;
use serde::{Deserialize, Serialize};

const VIDEO: &str = "demo.mp4";
/// Part of every key: a new version of the analysis must not read the old results (and can invalidate them).
const ANALYSIS_VERSION: &str = "v1";
const SEGMENTS: u32 = 12;
const FPS: u32 = 25;
const SEGMENT_SECONDS: u32 = 2;
const WIDTH: usize = 96;
const HEIGHT: usize = 54;

/// What the analysis finds in one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SegmentAnalysis {
    segment: u32,
    start_s: f64,
    mean_luma: f64,
    motion: f64,
    scene_cuts: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let fresh = args.iter().any(|a| a == "--fresh");
    args.retain(|a| a != "--fresh");
    let dir = args.pop().map_or_else(|| std::env::temp_dir().join("dpc-store-video-segments"), Into::into);

    let cache: TieredCache<SegmentAnalysis> = TieredCache::open(&dir)?;
    if fresh {
        cache.clear()?;
    }
    println!("cache directory: {}", dir.display());
    let before = cache.stats().file_entries;
    let first = analyse_video(&cache);
    report("run 1 (this process)", &first, &cache);

    // A restart: a new cache on the same directory starts with an empty memory tier.
    drop(cache);
    let cache: TieredCache<SegmentAnalysis> = TieredCache::open(&dir)?;
    let second = analyse_video(&cache);
    report("run 2 (a new cache on the same directory)", &second, &cache);

    if second.computed != 0 || second.results != first.results {
        return Err("the second run should have found every segment in the cache".into());
    }
    let total_cuts: u32 = second.results.iter().map(|a| a.scene_cuts).sum();
    println!("{VIDEO}: {SEGMENTS} segments, {total_cuts} scene cuts");
    if before == 0 {
        println!("run the example again: its first run will find every segment on disk");
    }
    Ok(())
}

struct Run {
    results: Vec<SegmentAnalysis>,
    computed: u32,
    ms: f64,
}

fn analyse_video(cache: &TieredCache<SegmentAnalysis>) -> Run {
    let start = Instant::now();
    let mut computed = 0;
    let results = (0..SEGMENTS)
        .map(|segment| {
            let key = format!("{VIDEO}/{ANALYSIS_VERSION}/segment/{segment:04}");
            let analysis = cache.get_or_compute(&key, || {
                computed += 1;
                analyse_segment(segment)
            });
            (*analysis).clone()
        })
        .collect();
    Run { results, computed, ms: start.elapsed().as_secs_f64() * 1e3 }
}

fn report(name: &str, run: &Run, cache: &TieredCache<SegmentAnalysis>) {
    let stats = cache.stats();
    println!(
        "{name}: {} segments, {} computed, {} from memory, {} from files, in {:.1} ms",
        run.results.len(),
        run.computed,
        stats.memory_hits,
        stats.file_hits,
        run.ms
    );
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
