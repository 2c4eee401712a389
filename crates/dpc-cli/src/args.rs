//! Option parsers with documented ranges, and the progress bar the long-running subcommands show.

use std::io::IsTerminal;
use std::time::Duration;

/// The longest `--latency-ms` or `--think-ms`: one hour.
pub const MAX_MILLIS: f64 = 3_600_000.0;

/// The most prefetch workers (dpc-core's own limit).
pub const MAX_WORKERS: i64 = 1024;

/// A duration in milliseconds: finite, 0 to [`MAX_MILLIS`].
pub fn millis(s: &str) -> Result<Duration, String> {
    let ms: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of milliseconds"))?;
    if !(0.0..=MAX_MILLIS).contains(&ms) {
        return Err(format!("{} is not in 0 to {MAX_MILLIS} milliseconds (one hour)", s.trim()));
    }
    Ok(Duration::from_secs_f64(ms / 1e3))
}

/// Milliseconds of a duration, for messages.
pub fn as_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A progress bar of `len` steps on stderr, drawn only when stderr is a terminal and the output is not JSON
/// (a pipe, a log file and a `--json` reader see nothing of it).
pub fn progress(len: u64, what: &str, json: bool) -> indicatif::ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::stderr());
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what} ({{eta}})");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Checks that `path` is a regular file (after symlinks): what needs random access refuses FIFOs, devices
/// and directories up front, with a clear message, instead of blocking on open or failing at the first seek.
pub fn regular_file(path: &std::path::Path, why: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        return Ok(());
    }
    let kind = if meta.is_dir() { "a directory" } else { "not a regular file (a FIFO, socket or device)" };
    Err(format!("{}: {kind}; {why}", path.display()))
}
