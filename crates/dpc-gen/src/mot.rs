//! The MOT data generator: plausible moving boxes, tracks born and dying, deterministic per seed.
//!
//! A pure function of ([`MotParams`], seed): the same parameters give the same bytes on every platform
//! (ChaCha8 for randomness, raw 64-bit draws mapped to numbers by this module's own arithmetic, IEEE `f64` math,
//! and fixed-point formatting). Output is sorted by frame, rows of a frame by track id, like a detector's output.
//! The options mirror the Python reference script: `-o`, `-t/--tracks`, `-f/--frames`, `--width`, `--height`,
//! `--min-track-length`, `--max-track-length`, `--seed`.
//!
//! ```
//! use dpc_gen::mot::{MotParams, generate};
//!
//! let params = MotParams { tracks: 5, frames: 50, ..MotParams::default() };
//! let mut out = Vec::new();
//! let summary = generate(&params, &mut out)?;
//! assert_eq!(summary.bytes, out.len() as u64);
//! let parsed = dpc_mot::parse(&out, dpc_mot::Mode::Strict)?;
//! assert_eq!(parsed.detections.len() as u64, summary.rows);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use dpc_mot::{Detection, WriteFormat, quantize, write_detection};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator's parameters. `Default` gives the Python script's small size (100 tracks x 1000 frames, ~1 MB).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MotParams {
    /// Number of tracks (ids `1..=tracks`) over the whole sequence.
    pub tracks: u32,
    /// Number of frames (`1..=frames`).
    pub frames: u64,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Shortest track, frames (clamped to `frames`).
    pub min_track_length: u64,
    /// Longest track, frames; `None` means 40 % of `frames` (at least `min_track_length`).
    pub max_track_length: Option<u64>,
    /// The seed: same seed and parameters, same bytes.
    pub seed: u64,
    /// Line layout (default: MOT16 style, comma, 9 columns, 2 decimals).
    pub format: WriteFormat,
}

impl Default for MotParams {
    fn default() -> Self {
        MotParams {
            tracks: 100,
            frames: 1000,
            width: 1920,
            height: 1080,
            min_track_length: 50,
            max_track_length: None,
            seed: 42,
            format: WriteFormat::default(),
        }
    }
}

impl MotParams {
    /// The parameters of the file `dpc demo` navigates: 100 tracks x 3000 frames (~3 MB), seed 7.
    pub fn demo() -> Self {
        MotParams { tracks: 100, frames: 3000, seed: 7, ..MotParams::default() }
    }

    /// The effective `(min, max)` track length.
    pub fn track_lengths(&self) -> (u64, u64) {
        let min = self.min_track_length.clamp(1, self.frames.max(1));
        // 40 % in 128-bit arithmetic: `frames * 2` overflows for frames above `u64::MAX / 2`.
        let default_max = (u128::from(self.frames) * 2 / 5) as u64;
        let max = self.max_track_length.unwrap_or(default_max).clamp(min, self.frames.max(1));
        (min, max)
    }

    /// Checks every parameter against its documented range ([`MAX_FRAMES`], [`MAX_TRACKS`], [`MIN_SIDE`] to
    /// [`MAX_SIDE`] pixels, a max track length not below the min, 6 to 10 columns, at most 9 decimals).
    /// [`generate`] calls it before writing anything; call it yourself to validate before creating an output.
    pub fn validate(&self) -> Result<(), GenError> {
        let bad = |m: String| Err(GenError::InvalidParams(m));
        if !(1..=MAX_FRAMES).contains(&self.frames) {
            return bad(format!("frames must be 1 to {MAX_FRAMES} (what a parser reads back), not {}", self.frames));
        }
        if !(1..=MAX_TRACKS).contains(&self.tracks) {
            return bad(format!("tracks must be 1 to {MAX_TRACKS}, not {}", self.tracks));
        }
        let sides = MIN_SIDE..=MAX_SIDE;
        if !sides.contains(&self.width) || !sides.contains(&self.height) {
            return bad(format!(
                "the image must be {MIN_SIDE} to {MAX_SIDE} pixels wide and high, not {}x{}",
                self.width, self.height
            ));
        }
        if self.format.decimals > 9 {
            return bad(format!("decimals must be 0 to 9, not {}", self.format.decimals));
        }
        if let Some(max) = self.max_track_length {
            if max < self.min_track_length {
                return bad(format!("max track length {max} is below the min track length {}", self.min_track_length));
            }
        }
        if !(6..=10).contains(&self.format.columns) {
            return bad(format!("columns must be 6 to 10, not {}", self.format.columns));
        }
        Ok(())
    }
}

/// The largest frame count: frame numbers above `i64::MAX` do not read back (the parser's integers are 64-bit signed).
pub const MAX_FRAMES: u64 = i64::MAX as u64;

/// The largest track count. Every track's state is kept from the start (tracks are drawn up front and born in
/// frame order), about 100 bytes each, so this bounds the generator's memory at about 100 MB.
pub const MAX_TRACKS: u32 = 1_000_000;

/// The smallest image side, pixels (boxes are at least 8 pixels high).
pub const MIN_SIDE: u32 = 16;

/// The largest image side, pixels: coordinates times 10^9 (9 decimals) stay below 2^53, so every written
/// value reads back exactly as [`detections`] reports it.
pub const MAX_SIDE: u32 = 1_000_000;

/// How far a generation has come, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Frames written so far.
    pub frames_done: u64,
    /// Frames in total.
    pub frames_total: u64,
    /// Bytes written so far.
    pub bytes: u64,
}

/// What a generation wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Rows (lines) written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Frames in the sequence.
    pub frames: u64,
    /// Tracks in the sequence.
    pub tracks: u32,
    /// Frames with no rows.
    pub empty_frames: u64,
}

/// Why a generation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum GenError {
    /// A parameter is out of range; the message says which.
    InvalidParams(String),
    /// Writing failed.
    Io(io::Error),
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::InvalidParams(m) => write!(f, "invalid MOT generator parameters: {m}"),
            GenError::Io(e) => write!(f, "writing the MOT file failed: {e}"),
        }
    }
}

impl std::error::Error for GenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GenError::Io(e) => Some(e),
            GenError::InvalidParams(_) => None,
        }
    }
}

impl From<GenError> for io::Error {
    fn from(e: GenError) -> io::Error {
        match e {
            GenError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// Writes a MOT file for `params` to `out`.
pub fn generate<W: Write>(params: &MotParams, out: W) -> Result<Summary, GenError> {
    generate_with_progress(params, out, |_| {})
}

/// Writes a MOT file for `params` to `out`, calling `progress` about every 4 MiB and once at the end.
pub fn generate_with_progress<W: Write>(
    params: &MotParams,
    mut out: W,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, GenError> {
    const FLUSH: usize = 4 << 20;
    let mut g = Generator::new(params)?;
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH + (64 << 10));
    let mut rows = Vec::new();
    let mut summary = Summary { rows: 0, bytes: 0, frames: params.frames, tracks: params.tracks, empty_frames: 0 };
    while let Some(frame) = g.next_frame(&mut rows) {
        for d in &rows {
            write_detection(d, &params.format, &mut buf);
        }
        summary.rows += rows.len() as u64;
        summary.empty_frames += u64::from(rows.is_empty());
        if buf.len() >= FLUSH {
            out.write_all(&buf).map_err(GenError::Io)?;
            summary.bytes += buf.len() as u64;
            buf.clear();
            progress(&Progress { frames_done: frame, frames_total: params.frames, bytes: summary.bytes });
        }
    }
    out.write_all(&buf).map_err(GenError::Io)?;
    out.flush().map_err(GenError::Io)?;
    summary.bytes += buf.len() as u64;
    progress(&Progress { frames_done: params.frames, frames_total: params.frames, bytes: summary.bytes });
    Ok(summary)
}

/// The rows `generate` writes, in memory and in file order, with the values a parser reads back
/// (rounded to the format's decimals).
pub fn detections(params: &MotParams) -> Result<Vec<Detection>, GenError> {
    let mut g = Generator::new(params)?;
    let mut all = Vec::new();
    let mut rows = Vec::new();
    while g.next_frame(&mut rows).is_some() {
        all.extend_from_slice(&rows);
    }
    Ok(all)
}

/// Makes sure the demo's MOT file exists at `path`, generating it ([`MotParams::demo`]) if it is missing or empty.
/// The file is written to a temporary name and renamed, so a concurrent or interrupted run never leaves half a file.
/// Returns `path`.
pub fn ensure_demo_file(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref();
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0) {
        return Ok(path.to_path_buf());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = std::fs::File::create(&tmp).and_then(|f| {
        generate(&MotParams::demo(), io::BufWriter::new(&f))?;
        f.sync_all()
    });
    match result.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(path.to_path_buf()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// One track's state.
#[derive(Clone, Debug)]
struct Track {
    id: i64,
    start: u64,
    end: u64,
    // Box centre, size and velocity, pixels and pixels per frame.
    cx: f64,
    cy: f64,
    w: f64,
    h: f64,
    vx: f64,
    vy: f64,
    conf: f64,
    class: i64,
    visibility: f64,
}

/// Frame-by-frame generation; `next_frame` fills the rows of the next frame.
#[derive(Debug)]
struct Generator {
    params: MotParams,
    rng: ChaCha8Rng,
    /// Tracks not yet born, sorted by start frame (then id).
    pending: Vec<Track>,
    next_pending: usize,
    active: Vec<Track>,
    frame: u64,
}

impl Generator {
    fn new(params: &MotParams) -> Result<Self, GenError> {
        params.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let (min_len, max_len) = params.track_lengths();
        let (w, h) = (f64::from(params.width), f64::from(params.height));
        let mut pending = Vec::with_capacity(params.tracks as usize);
        for id in 1..=i64::from(params.tracks) {
            let len = int_in(&mut rng, min_len, max_len);
            let mut start = int_in(&mut rng, 1, params.frames - len + 1);
            // The first track is born in frame 1 and the last dies in the last frame,
            // so that the file spans the whole sequence `1..=frames`.
            if id == 1 {
                start = 1;
            } else if id == i64::from(params.tracks) {
                start = params.frames - len + 1;
            }
            // Pedestrian-like boxes: height a few percent to a third of the image, width about 0.4 of the height.
            let bh = uniform(&mut rng, (h * 0.05).max(8.0), (h / 3.0).max(10.0));
            let bw = bh * uniform(&mut rng, 0.3, 0.55);
            let class = if unit(&mut rng) < 0.8 { 1 } else { int_in(&mut rng, 2, 12) as i64 };
            pending.push(Track {
                id,
                start,
                end: start + len - 1,
                cx: uniform(&mut rng, 0.0, w),
                cy: uniform(&mut rng, bh / 2.0, (h - bh / 2.0).max(bh / 2.0)),
                w: bw,
                h: bh,
                vx: uniform(&mut rng, -4.0, 4.0),
                vy: uniform(&mut rng, -1.0, 1.0),
                conf: uniform(&mut rng, 0.5, 1.0),
                class,
                visibility: 1.0,
            });
        }
        pending.sort_by_key(|t| (t.start, t.id));
        Ok(Generator { params: *params, rng, pending, next_pending: 0, active: Vec::new(), frame: 0 })
    }

    /// Fills `rows` with the next frame's detections and returns its number, or `None` after the last frame.
    fn next_frame(&mut self, rows: &mut Vec<Detection>) -> Option<u64> {
        rows.clear();
        if self.frame >= self.params.frames {
            return None;
        }
        self.frame += 1;
        let f = self.frame;
        self.active.retain(|t| t.end >= f);
        let born = self.next_pending;
        while self.next_pending < self.pending.len() && self.pending[self.next_pending].start == f {
            self.next_pending += 1;
        }
        if self.next_pending > born {
            self.active.extend_from_slice(&self.pending[born..self.next_pending]);
            self.active.sort_by_key(|t| t.id);
        }
        let (width, height) = (f64::from(self.params.width), f64::from(self.params.height));
        let dec = u32::from(self.params.format.decimals);
        let q = |v: f64| quantize(v, dec);
        for t in &mut self.active {
            if t.start < f {
                step(t, &mut self.rng, width, height);
            }
            rows.push(Detection {
                frame: f,
                id: t.id,
                left: q(t.cx - t.w / 2.0),
                top: q(t.cy - t.h / 2.0),
                width: q(t.w),
                height: q(t.h),
                conf: q(t.conf),
                class: t.class,
                visibility: q(t.visibility),
                x: -1.0,
                y: -1.0,
                z: -1.0,
            });
        }
        if self.params.format.columns < 10 {
            // Columns the format does not write read back as unknown.
            for d in rows.iter_mut() {
                let c = self.params.format.columns;
                if c < 7 {
                    d.conf = -1.0;
                }
                if c < 8 {
                    d.class = -1;
                }
                if c < 9 {
                    d.visibility = -1.0;
                }
            }
        } else {
            for d in rows.iter_mut() {
                d.class = -1;
                d.visibility = -1.0;
            }
        }
        Some(f)
    }
}

/// One frame of motion: velocity wanders, the box bounces off the image borders, size and visibility drift.
fn step(t: &mut Track, rng: &mut ChaCha8Rng, width: f64, height: f64) {
    let r = rng.next_u64();
    // Four small noises from one draw: 16 bits each, mapped to [-1, 1).
    let n = |k: u32| ((r >> (16 * k)) & 0xFFFF) as f64 / 32768.0 - 1.0;
    t.vx = (t.vx + 0.25 * n(0)).clamp(-6.0, 6.0);
    t.vy = (t.vy + 0.1 * n(1)).clamp(-2.0, 2.0);
    t.cx += t.vx;
    t.cy += t.vy;
    if t.cx < 0.0 || t.cx > width {
        t.vx = -t.vx;
        t.cx = t.cx.clamp(0.0, width);
    }
    let half = t.h / 2.0;
    if t.cy < half || t.cy > height - half {
        t.vy = -t.vy;
        t.cy = t.cy.clamp(half.min(height / 2.0), (height - half).max(height / 2.0));
    }
    let grow = 1.0 + 0.004 * n(2);
    t.h = (t.h * grow).clamp(8.0, height * 0.6);
    t.w = (t.w * grow).clamp(4.0, width * 0.5);
    t.visibility = (t.visibility + 0.05 * n(3)).clamp(0.0, 1.0);
}

/// A uniform draw in `[0, 1)` from the top 53 bits of one 64-bit output.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(rng)
}

/// A uniform integer in `lo..=hi` (Lemire's multiply-shift, bias below 2^-32 for our spans).
fn int_in(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    let span = hi - lo + 1;
    lo + ((u128::from(rng.next_u64()) * u128::from(span)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let p = MotParams { tracks: 20, frames: 200, ..MotParams::default() };
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        generate(&p, &mut a).unwrap();
        generate(&p, &mut b).unwrap();
        generate(&MotParams { seed: 43, ..p }, &mut c).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn the_bytes_are_pinned() {
        // Cross-platform determinism: this digest must never change without a deliberate decision.
        let mut out = Vec::new();
        generate(&MotParams { tracks: 10, frames: 100, ..MotParams::default() }, &mut out).unwrap();
        let fnv = out.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let text = String::from_utf8(out).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!((text.lines().count(), first, fnv), PINNED);
    }

    const PINNED: (usize, &str, u64) = (500, "1,1,245.70,275.75,84.43,184.82,0.62,1,1.00", 10851250118619190562);

    #[test]
    fn written_rows_parse_back_to_the_in_memory_rows() {
        for columns in 6..=10 {
            let format = WriteFormat { columns, ..WriteFormat::default() };
            let p = MotParams { tracks: 15, frames: 120, format, ..MotParams::default() };
            let mut out = Vec::new();
            let summary = generate(&p, &mut out).unwrap();
            let parsed = dpc_mot::parse(&out, dpc_mot::Mode::Strict).unwrap();
            assert_eq!(parsed.detections, detections(&p).unwrap(), "columns {columns}");
            assert_eq!(summary.rows, parsed.detections.len() as u64);
            assert_eq!(parsed.columns[columns as usize], summary.rows);
        }
    }

    #[test]
    fn tracks_are_born_and_die_inside_the_sequence_and_boxes_stay_plausible() {
        let p = MotParams {
            tracks: 30,
            frames: 300,
            min_track_length: 20,
            max_track_length: Some(100),
            ..MotParams::default()
        };
        let rows = detections(&p).unwrap();
        let mut per_id = std::collections::BTreeMap::<i64, Vec<u64>>::new();
        for d in &rows {
            per_id.entry(d.id).or_default().push(d.frame);
            assert!(d.width > 0.0 && d.height > 0.0);
            assert!((0.0..=1.0).contains(&d.visibility));
            assert!(d.left + d.width / 2.0 >= -0.01 && d.left + d.width / 2.0 <= 1920.01);
        }
        assert_eq!(per_id.len(), 30);
        for frames in per_id.values() {
            let len = frames.len() as u64;
            assert!((20..=100).contains(&len), "{len}");
            assert_eq!(frames.last().unwrap() - frames[0] + 1, len, "a track lives in consecutive frames");
            assert!(frames[0] >= 1 && *frames.last().unwrap() <= 300);
        }
        // Sorted by frame, then id.
        assert!(rows.windows(2).all(|w| (w[0].frame, w[0].id) < (w[1].frame, w[1].id)));
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(matches!(
            generate(&MotParams { frames: 0, ..MotParams::default() }, io::sink()),
            Err(GenError::InvalidParams(_))
        ));
        let p = MotParams { min_track_length: 10, max_track_length: Some(5), ..MotParams::default() };
        assert!(matches!(generate(&p, io::sink()), Err(GenError::InvalidParams(_))));
    }

    #[test]
    fn every_parameter_has_a_checked_range() {
        let d = MotParams::default();
        let bad = [
            MotParams { frames: MAX_FRAMES + 1, ..d },
            MotParams { frames: u64::MAX, ..d },
            MotParams { tracks: 0, ..d },
            MotParams { tracks: MAX_TRACKS + 1, ..d },
            MotParams { tracks: u32::MAX, ..d },
            MotParams { width: 0, ..d },
            MotParams { height: MIN_SIDE - 1, ..d },
            MotParams { width: MAX_SIDE + 1, ..d },
            MotParams { format: WriteFormat { decimals: 10, ..d.format }, ..d },
        ];
        for p in bad {
            let err = p.validate().unwrap_err();
            assert!(matches!(err, GenError::InvalidParams(_)), "{p:?}");
            assert!(matches!(generate(&p, io::sink()), Err(GenError::InvalidParams(_))), "{p:?}");
        }
        // The extremes themselves are accepted, and the default max track length does not overflow.
        let edge = MotParams { frames: MAX_FRAMES, tracks: 1, width: MAX_SIDE, height: MIN_SIDE, ..d };
        assert!(edge.validate().is_ok());
        assert_eq!(edge.track_lengths(), (50, MAX_FRAMES / 5 * 2 + (MAX_FRAMES % 5) * 2 / 5));
        let mut g = Generator::new(&edge).unwrap();
        let mut rows = Vec::new();
        assert_eq!(g.next_frame(&mut rows), Some(1), "the first frame of a huge sequence comes at once");
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn progress_reaches_the_end() {
        let mut last = None;
        let s = generate_with_progress(&MotParams::default(), io::sink(), |p| last = Some(*p)).unwrap();
        assert_eq!(last, Some(Progress { frames_done: 1000, frames_total: 1000, bytes: s.bytes }));
    }

    #[test]
    fn demo_file_is_created_once() {
        let dir = std::env::temp_dir().join(format!("dpc-gen-demo-{}", std::process::id()));
        let path = dir.join("sub/demo.txt");
        let got = ensure_demo_file(&path).unwrap();
        assert_eq!(got, path);
        let first = std::fs::read(&path).unwrap();
        assert!(!first.is_empty());
        std::fs::write(&path, b"1,1,1,1,1,1\n").unwrap();
        ensure_demo_file(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"1,1,1,1,1,1\n", "an existing file is left alone");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
