//! Access traces: one key per line, loaded from files or generated deterministically.
//!
//! A trace whose every line parses as a non-negative integer holds frame numbers ([`Trace::Frames`]);
//! any other trace holds string keys ([`Trace::Strings`]). Blank lines and surrounding whitespace are ignored.
//!
//! [`generate`] makes traces of several [`TraceKind`]s from a seed: the same kind, length and seed always
//! give the same trace, on every machine.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A sequence of requested keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trace {
    /// Frame numbers.
    Frames(Vec<u64>),
    /// Any other keys, such as page names.
    Strings(Vec<Arc<str>>),
}

/// Why a trace could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum TraceError {
    /// The file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is not valid UTF-8.
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
    },
    /// The trace has no keys.
    Empty {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TraceError::NotUtf8 { path, line } => write!(f, "{}:{line}: the line is not valid UTF-8", path.display()),
            TraceError::Empty { path } => write!(f, "{}: the trace has no keys", path.display()),
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TraceError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Trace {
    /// Reads a trace file.
    pub fn load(path: impl AsRef<Path>) -> Result<Trace, TraceError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TraceError::Io { path: path.to_path_buf(), source })?;
        Trace::parse_bytes(&bytes, path)
    }

    /// Parses the contents of a trace file; `path` only names the source in errors.
    pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Trace, TraceError> {
        let mut lines = Vec::new();
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line =
                std::str::from_utf8(line).map_err(|_| TraceError::NotUtf8 { path: path.to_path_buf(), line: i + 1 })?;
            let line = line.trim();
            if !line.is_empty() {
                lines.push(line);
            }
        }
        if lines.is_empty() {
            return Err(TraceError::Empty { path: path.to_path_buf() });
        }
        let frames: Option<Vec<u64>> = lines.iter().map(|l| l.parse::<u64>().ok()).collect();
        Ok(match frames {
            Some(frames) => Trace::Frames(frames),
            None => Trace::Strings(lines.into_iter().map(Arc::from).collect()),
        })
    }

    /// Writes the trace, one key per line.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), TraceError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_text()).map_err(|source| TraceError::Io { path: path.to_path_buf(), source })
    }

    /// The trace as text, one key per line.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        match self {
            Trace::Frames(keys) => keys.iter().for_each(|k| {
                s.push_str(&k.to_string());
                s.push('\n');
            }),
            Trace::Strings(keys) => keys.iter().for_each(|k| {
                s.push_str(k);
                s.push('\n');
            }),
        }
        s
    }

    /// The number of requests.
    pub fn len(&self) -> usize {
        match self {
            Trace::Frames(k) => k.len(),
            Trace::Strings(k) => k.len(),
        }
    }

    /// True if the trace has no requests.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps only the first `n` requests.
    pub fn truncate(&mut self, n: usize) {
        match self {
            Trace::Frames(k) => k.truncate(n),
            Trace::Strings(k) => k.truncate(n),
        }
    }
}

/// The kinds of generated traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceKind {
    /// Video playback: mostly the next frame, jumps of -15, -5, -1, +5, +15, +30, and rare seeks anywhere.
    Playback,
    /// Annotation: forward steps, steps back, repeats, jumps of ±10, rare seeks.
    Annotate,
    /// A sequential scan from frame 5000.
    Scan,
    /// A user walking a graph of 400 pages with skewed links and random jumps (string keys `page_N`).
    Markov,
    /// Uniformly random frames: nothing to predict.
    Random,
    /// Playback in reverse: mostly the previous frame, mirrored jumps, rare seeks.
    Backward,
    /// Two playback cursors interleaved: each request goes to one of them at random.
    Interleaved,
    /// Playback with another jump set: -30, -10, +3, +10, +60, +120.
    Jumps,
}

impl TraceKind {
    /// Every kind, in a stable order.
    pub const ALL: [TraceKind; 8] = [
        TraceKind::Playback,
        TraceKind::Annotate,
        TraceKind::Scan,
        TraceKind::Markov,
        TraceKind::Random,
        TraceKind::Backward,
        TraceKind::Interleaved,
        TraceKind::Jumps,
    ];

    /// The kind's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TraceKind::Playback => "playback",
            TraceKind::Annotate => "annotate",
            TraceKind::Scan => "scan",
            TraceKind::Markov => "markov",
            TraceKind::Random => "random",
            TraceKind::Backward => "backward",
            TraceKind::Interleaved => "interleaved",
            TraceKind::Jumps => "jumps",
        }
    }
}

impl fmt::Display for TraceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown trace kind name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = TraceKind::ALL.iter().map(|k| k.name()).collect();
        write!(f, "unknown trace kind {:?}; known: {}", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownKind {}

impl FromStr for TraceKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// Frames of the generated frame traces lie in `0..FRAMES`.
pub const FRAMES: u64 = 100_000;

/// Pages of the `markov` kind.
pub const PAGES: usize = 400;

/// Generates `n` requests of `kind` from `seed`. A pure function of its arguments.
pub fn generate(kind: TraceKind, n: usize, seed: u64) -> Trace {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (kind as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    match kind {
        TraceKind::Playback => Trace::Frames(cursor_walk(&mut rng, n, 1, &[-15, -5, -1, 5, 15, 30], 0.084, 0.016)),
        TraceKind::Backward => Trace::Frames(cursor_walk(&mut rng, n, -1, &[15, 5, 1, -5, -15, -30], 0.084, 0.016)),
        TraceKind::Jumps => Trace::Frames(cursor_walk(&mut rng, n, 1, &[-30, -10, 3, 10, 60, 120], 0.084, 0.016)),
        TraceKind::Annotate => Trace::Frames(annotate(&mut rng, n)),
        TraceKind::Scan => Trace::Frames((5000..5000 + n as u64).collect()),
        TraceKind::Random => Trace::Frames((0..n).map(|_| rng.random_range(0..FRAMES)).collect()),
        TraceKind::Interleaved => Trace::Frames(interleaved(&mut rng, n)),
        TraceKind::Markov => Trace::Strings(markov(&mut rng, n)),
    }
}

/// One playback cursor: `step` with the remaining probability, a jump from `jumps` with `p_jump`,
/// a seek anywhere with `p_seek`. Frames stay in `0..FRAMES`.
fn cursor_walk(rng: &mut ChaCha8Rng, n: usize, step: i64, jumps: &[i64], p_jump: f64, p_seek: f64) -> Vec<u64> {
    let mut cursor = Cursor { pos: rng.random_range(0..FRAMES) as i64, step, jumps: jumps.to_vec(), p_jump, p_seek };
    (0..n).map(|i| if i == 0 { cursor.pos as u64 } else { cursor.advance(rng) }).collect()
}

struct Cursor {
    pos: i64,
    step: i64,
    jumps: Vec<i64>,
    p_jump: f64,
    p_seek: f64,
}

impl Cursor {
    fn advance(&mut self, rng: &mut ChaCha8Rng) -> u64 {
        let r: f64 = rng.random();
        let next = if r < self.p_seek {
            rng.random_range(0..FRAMES) as i64
        } else if r < self.p_seek + self.p_jump {
            self.pos + self.jumps[rng.random_range(0..self.jumps.len())]
        } else {
            self.pos + self.step
        };
        self.pos = next.rem_euclid(FRAMES as i64);
        self.pos as u64
    }
}

fn annotate(rng: &mut ChaCha8Rng, n: usize) -> Vec<u64> {
    let mut pos = rng.random_range(0..FRAMES) as i64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            let r: f64 = rng.random();
            pos += match r {
                r if r < 0.70 => 1,
                r if r < 0.825 => -1,
                r if r < 0.895 => 0,
                r if r < 0.945 => 10,
                r if r < 0.992 => -10,
                _ => rng.random_range(0..FRAMES) as i64 - pos,
            };
            pos = pos.rem_euclid(FRAMES as i64);
        }
        out.push(pos as u64);
    }
    out
}

fn interleaved(rng: &mut ChaCha8Rng, n: usize) -> Vec<u64> {
    let jumps = [-15, -5, -1, 5, 15, 30];
    let mut cursors: Vec<Cursor> = (0..2)
        .map(|_| Cursor {
            pos: rng.random_range(0..FRAMES) as i64,
            step: 1,
            jumps: jumps.to_vec(),
            p_jump: 0.03,
            p_seek: 0.005,
        })
        .collect();
    (0..n)
        .map(|i| {
            if i < 2 {
                return cursors[i].pos as u64;
            }
            let c = rng.random_range(0..2);
            cursors[c].advance(rng)
        })
        .collect()
}

fn markov(rng: &mut ChaCha8Rng, n: usize) -> Vec<Arc<str>> {
    let names: Vec<Arc<str>> = (0..PAGES).map(|i| Arc::from(format!("page_{i}"))).collect();
    // Each page links to 2..=5 others with skewed weights (the first link is the likeliest).
    let links: Vec<Vec<(usize, f64)>> = (0..PAGES)
        .map(|_| {
            let k = rng.random_range(2..=5);
            let raw: Vec<f64> = (0..k).map(|j| 1.0 / (j as f64 + 1.0).powf(1.5)).collect();
            let sum: f64 = raw.iter().sum();
            raw.into_iter().map(|w| (rng.random_range(0..PAGES), w / sum)).collect()
        })
        .collect();
    let mut page = 0;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            if rng.random_bool(0.05) {
                page = rng.random_range(0..PAGES);
            } else {
                let mut r: f64 = rng.random();
                let mut next = links[page][0].0;
                for &(to, w) in &links[page] {
                    next = to;
                    if r < w {
                        break;
                    }
                    r -= w;
                }
                page = next;
            }
        }
        out.push(names[page].clone());
    }
    out
}
