//! `dpc view`: an interactive terminal viewer of a MOT file and the prefetching cache at work.
//!
//! - [`app`]: the state machine (keys, actions, the calls into the cache), testable without a terminal;
//! - [`live`]: the cache over the file, with a predictor and a latency switchable while it runs, and the loader
//!   thread that keeps every `get` off the UI thread;
//! - [`render`]: the screen, drawn with ratatui;
//! - [`term`]: the crossterm terminal and the event loop.
//!
//! What a user sees and does is in `docs/view.md`.

mod app;
mod live;
mod render;
mod term;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::CliResult;
use app::App;
use live::{Live, Settings};

/// The predictors `p` cycles through.
pub const CYCLE: [&str; 3] = ["auto", "python", "none"];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The MOT file to view: a path, or a file://, s3://, gs://, az:// or http(s):// URL; without it, the
    /// generated demo file that `dpc demo` uses.
    file: Option<PathBuf>,
    /// Extra time per frame load (decoding the video frame), in milliseconds; `+`/`-` change it.
    #[arg(long, default_value_t = 2.0)]
    latency_ms: f64,
    /// Frames the cache holds.
    #[arg(long, default_value_t = 512)]
    capacity: usize,
    /// Prefetch workers.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// The predictor at start (`p` cycles through auto, python and none).
    #[arg(long, default_value = "auto")]
    predictor: String,
}

pub fn run(args: Args) -> CliResult {
    if !(args.latency_ms.is_finite() && args.latency_ms >= 0.0) {
        return Err("--latency-ms must be finite and >= 0".into());
    }
    if args.capacity == 0 {
        return Err("--capacity must be at least 1".into());
    }
    let path = match args.file {
        Some(p) => p,
        None => {
            // The same file as `dpc demo`, in the target or the platform cache directory.
            crate::demo::ensure_demo_file()?.0
        }
    };
    let settings = Settings {
        latency: Duration::from_secs_f64(args.latency_ms / 1e3),
        capacity: args.capacity,
        workers: args.workers,
        predictors: cycle_from(&args.predictor),
    };
    let (outbox, inbox) = mpsc::channel();
    let mut live = Live::open(&path, &settings, outbox.clone())?;
    let mut app = new_app(&path, &live, &settings)?;
    term::run(&mut app, &mut live, &inbox, outbox)?;
    Ok(())
}

/// The predictor cycle, starting at `first`; a predictor outside [`CYCLE`] is put in front of it.
fn cycle_from(first: &str) -> Vec<String> {
    let mut cycle: Vec<String> = CYCLE.iter().map(|s| s.to_string()).collect();
    match cycle.iter().position(|n| n == first) {
        Some(i) => cycle.rotate_left(i),
        None => cycle.insert(0, first.to_string()),
    }
    cycle
}

/// The viewer state for the file `live` opened.
fn new_app(path: &Path, live: &Live, settings: &Settings) -> Result<App, Box<dyn std::error::Error>> {
    let mot = live.mot();
    let (first, last) = mot.range().ok_or_else(|| format!("{} holds no frames", path.display()))?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut app = App::new(first, last, name, live.predictor_names().to_vec(), settings.latency);
    app.capacity = settings.capacity;
    if let Some(info) = mot.seqinfo() {
        if let Some(fps) = info.frame_rate.filter(|r| r.is_finite() && *r > 0.0) {
            app.fps = fps;
        }
        if let (Some(w), Some(h)) = (info.width, info.height) {
            if w > 0 && h > 0 {
                app.image = (f64::from(w), f64::from(h));
            }
        }
    }
    Ok(app)
}
