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
    /// A line is longer than [`MAX_LINE`] bytes: not a trace (for example a binary file or `/dev/zero`).
    LineTooLong {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
    },
}

/// The longest line a trace file may hold, in bytes; keys are short, and the cap keeps a file that is
/// not a trace from being buffered whole.
pub const MAX_LINE: usize = 4096;

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TraceError::NotUtf8 { path, line } => write!(f, "{}:{line}: the line is not valid UTF-8", path.display()),
            TraceError::Empty { path } => write!(f, "{}: the trace has no keys", path.display()),
            TraceError::LineTooLong { path, line } => {
                write!(f, "{}:{line}: the line is longer than {MAX_LINE} bytes: not a trace", path.display())
            }
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
    /// Reads a trace file. It is read once, front to back, so a pipe or FIFO works too; a line longer
    /// than [`MAX_LINE`] stops the read with [`TraceError::LineTooLong`].
    pub fn load(path: impl AsRef<Path>) -> Result<Trace, TraceError> {
        let path = path.as_ref();
        let io = |source| TraceError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let bytes = read_lines_capped(file).map_err(|e| match e {
            Capped::Io(source) => io(source),
            Capped::TooLong(line) => TraceError::LineTooLong { path: path.to_path_buf(), line },
        })?;
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

enum Capped {
    Io(std::io::Error),
    /// The 1-based number of the line that is too long.
    TooLong(usize),
}

/// Reads all of `reader`, failing as soon as one line exceeds [`MAX_LINE`] bytes.
fn read_lines_capped(mut reader: impl std::io::Read) -> Result<Vec<u8>, Capped> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let (mut line, mut line_len) = (1usize, 0usize);
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Capped::Io(e)),
        };
        for &b in &chunk[..n] {
            if b == b'\n' {
                line += 1;
                line_len = 0;
            } else {
                line_len += 1;
                if line_len > MAX_LINE {
                    return Err(Capped::TooLong(line));
                }
            }
        }
        bytes.extend_from_slice(&chunk[..n]);
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

/// Generates `n` requests of `kind` from `seed`. A pure function of its arguments: the first `n` keys of
/// [`keys`]`(kind, seed)`. It holds the whole trace in memory; [`write()`] streams one of any length.
pub fn generate(kind: TraceKind, n: usize, seed: u64) -> Trace {
    let keys = keys(kind, seed).take(n);
    if kind == TraceKind::Markov {
        Trace::Strings(keys.map(|k| k.into_str()).collect())
    } else {
        Trace::Frames(keys.map(|k| k.frame().unwrap_or(0)).collect())
    }
}

/// Writes the first `n` keys of `kind` from `seed`, one per line, as they are generated: constant memory
/// whatever `n`. The bytes are those of [`generate`]`(kind, n, seed).to_text()`. Returns the lines written.
pub fn write(kind: TraceKind, n: u64, seed: u64, mut out: impl std::io::Write) -> std::io::Result<u64> {
    let mut buf = Vec::with_capacity(1 << 16);
    let mut written = 0;
    for key in keys(kind, seed) {
        if written == n {
            break;
        }
        match &key {
            Key::Frame(f) => {
                let mut digits = [0u8; 20];
                let mut i = digits.len();
                let mut v = *f;
                loop {
                    i -= 1;
                    digits[i] = b'0' + (v % 10) as u8;
                    v /= 10;
                    if v == 0 {
                        break;
                    }
                }
                buf.extend_from_slice(&digits[i..]);
            }
            Key::Str(s) => buf.extend_from_slice(s.as_bytes()),
        }
        buf.push(b'\n');
        written += 1;
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(written)
}

/// One generated key: a frame number, or a string key (the `markov` kind's page names).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Key {
    /// A frame number.
    Frame(u64),
    /// A string key.
    Str(Arc<str>),
}

impl Key {
    /// The frame number, for frame keys.
    pub fn frame(&self) -> Option<u64> {
        match self {
            Key::Frame(f) => Some(*f),
            Key::Str(_) => None,
        }
    }

    /// The key as a string (frame numbers in decimal).
    pub fn into_str(self) -> Arc<str> {
        match self {
            Key::Frame(f) => Arc::from(f.to_string()),
            Key::Str(s) => s,
        }
    }
}

/// The endless stream of keys of `kind` from `seed`, generated one at a time in constant memory
/// (the `markov` kind keeps its 400-page graph). A pure function of its arguments: take as many as needed.
pub fn keys(kind: TraceKind, seed: u64) -> Keys {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (kind as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let walk = |rng: &mut ChaCha8Rng, step, jumps: &[i64]| {
        let pos = rng.random_range(0..FRAMES) as i64;
        State::Walk(Cursor { pos, step, jumps: jumps.to_vec(), p_jump: 0.084, p_seek: 0.016 })
    };
    let state = match kind {
        TraceKind::Playback => walk(&mut rng, 1, &[-15, -5, -1, 5, 15, 30]),
        TraceKind::Backward => walk(&mut rng, -1, &[15, 5, 1, -5, -15, -30]),
        TraceKind::Jumps => walk(&mut rng, 1, &[-30, -10, 3, 10, 60, 120]),
        TraceKind::Annotate => State::Annotate { pos: rng.random_range(0..FRAMES) as i64 },
        TraceKind::Scan => State::Scan,
        TraceKind::Random => State::Random,
        TraceKind::Interleaved => {
            let jumps = [-15, -5, -1, 5, 15, 30];
            let mut cursor = || Cursor {
                pos: rng.random_range(0..FRAMES) as i64,
                step: 1,
                jumps: jumps.to_vec(),
                p_jump: 0.03,
                p_seek: 0.005,
            };
            let cursors = [cursor(), cursor()];
            State::Interleaved(Box::new(cursors))
        }
        TraceKind::Markov => State::Markov(Box::new(Markov::new(&mut rng))),
    };
    Keys { rng, state, i: 0 }
}

/// The iterator of [`keys`]: endless, deterministic.
#[derive(Debug)]
pub struct Keys {
    rng: ChaCha8Rng,
    state: State,
    /// Keys produced so far (wrapping past `u64::MAX`, which no caller reaches).
    i: u64,
}

#[derive(Debug)]
enum State {
    Walk(Cursor),
    Annotate { pos: i64 },
    Scan,
    Random,
    Interleaved(Box<[Cursor; 2]>),
    Markov(Box<Markov>),
}

impl Iterator for Keys {
    type Item = Key;

    fn next(&mut self) -> Option<Key> {
        let (i, rng) = (self.i, &mut self.rng);
        self.i = self.i.wrapping_add(1);
        let key = match &mut self.state {
            State::Walk(cursor) if i == 0 => Key::Frame(cursor.pos as u64),
            State::Walk(cursor) => Key::Frame(cursor.advance(rng)),
            State::Annotate { pos } => {
                if i > 0 {
                    let r: f64 = rng.random();
                    *pos += match r {
                        r if r < 0.70 => 1,
                        r if r < 0.825 => -1,
                        r if r < 0.895 => 0,
                        r if r < 0.945 => 10,
                        r if r < 0.992 => -10,
                        _ => rng.random_range(0..FRAMES) as i64 - *pos,
                    };
                    *pos = pos.rem_euclid(FRAMES as i64);
                }
                Key::Frame(*pos as u64)
            }
            // The scan runs on from frame 5000 (past `u64::MAX` it would wrap, which no trace reaches).
            State::Scan => Key::Frame(5000u64.wrapping_add(i)),
            State::Random => Key::Frame(rng.random_range(0..FRAMES)),
            State::Interleaved(cursors) if i < 2 => Key::Frame(cursors[i as usize].pos as u64),
            State::Interleaved(cursors) => {
                let c = rng.random_range(0..2);
                Key::Frame(cursors[c].advance(rng))
            }
            State::Markov(m) => Key::Str(m.next(rng, i)),
        };
        Some(key)
    }
}

#[derive(Debug)]
struct Cursor {
    pos: i64,
    step: i64,
    jumps: Vec<i64>,
    p_jump: f64,
    p_seek: f64,
}

impl Cursor {
    /// One step: `step` with the remaining probability, a jump from `jumps` with `p_jump`, a seek anywhere
    /// with `p_seek`. Frames stay in `0..FRAMES`.
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

/// A user walking a graph of [`PAGES`] pages.
#[derive(Debug)]
struct Markov {
    names: Vec<Arc<str>>,
    links: Vec<Vec<(usize, f64)>>,
    page: usize,
}

impl Markov {
    fn new(rng: &mut ChaCha8Rng) -> Self {
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
        Markov { names, links, page: 0 }
    }

    fn next(&mut self, rng: &mut ChaCha8Rng, i: u64) -> Arc<str> {
        if i > 0 {
            if rng.random_bool(0.05) {
                self.page = rng.random_range(0..PAGES);
            } else {
                let mut r: f64 = rng.random();
                let links = &self.links[self.page];
                let mut next = links[0].0;
                for &(to, w) in links {
                    next = to;
                    if r < w {
                        break;
                    }
                    r -= w;
                }
                self.page = next;
            }
        }
        self.names[self.page].clone()
    }
}
