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
    /// Fast-forward at changing speeds: one cursor stepping 1, 2 or 4 frames per request, switching speed
    /// now and then, with the playback jumps and rare seeks.
    FastForward,
    /// Timeline scrubbing: playback, then a run of big steps in one direction, then a fine search around
    /// where it stopped, then playback again.
    Scrub,
}

impl TraceKind {
    /// Every kind, in a stable order.
    pub const ALL: [TraceKind; 10] = [
        TraceKind::Playback,
        TraceKind::Annotate,
        TraceKind::Scan,
        TraceKind::Markov,
        TraceKind::Random,
        TraceKind::Backward,
        TraceKind::Interleaved,
        TraceKind::Jumps,
        TraceKind::FastForward,
        TraceKind::Scrub,
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
            TraceKind::FastForward => "fastforward",
            TraceKind::Scrub => "scrub",
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
    match kind {
        TraceKind::FastForward | TraceKind::Scrub => {
            generate_with(kind, n, seed, &TraceParams::default()).expect("the default parameters are valid")
        }
        TraceKind::Markov => Trace::Strings(keys(kind, seed).take(n).map(|k| k.into_str()).collect()),
        _ => Trace::Frames(keys(kind, seed).take(n).map(|k| k.frame().unwrap_or(0)).collect()),
    }
}

/// One playback cursor for `n` requests: `step` with the remaining probability, a jump from `jumps` with
/// `p_jump`, a seek anywhere with `p_seek`. Frames stay in `0..FRAMES`.
fn cursor_walk(rng: &mut ChaCha8Rng, n: usize, step: i64, jumps: &[i64], p_jump: f64, p_seek: f64) -> Vec<u64> {
    let mut cursor = Cursor { pos: rng.random_range(0..FRAMES) as i64, step, jumps: jumps.to_vec(), p_jump, p_seek };
    (0..n).map(|i| if i == 0 { cursor.pos as u64 } else { cursor.advance(rng) }).collect()
}

/// Writes the first `n` keys of `kind` from `seed`, one per line, as they are generated: constant memory
/// whatever `n`. The bytes are those of [`generate`]`(kind, n, seed).to_text()`. Returns the lines written.
pub fn write(kind: TraceKind, n: u64, seed: u64, mut out: impl std::io::Write) -> std::io::Result<u64> {
    if matches!(kind, TraceKind::FastForward | TraceKind::Scrub) && n > IN_MEMORY_KEYS as u64 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{kind} traces are generated in memory: at most {IN_MEMORY_KEYS} requests"),
        ));
    }
    if matches!(kind, TraceKind::FastForward | TraceKind::Scrub) {
        out.write_all(generate(kind, n as usize, seed).to_text().as_bytes())?;
        out.flush()?;
        return Ok(n);
    }
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

/// The most keys of the kinds generated as a whole (`fastforward`, `scrub`): 4 Mi, 32 MiB.
pub const IN_MEMORY_KEYS: usize = 1 << 22;

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
        // These two kinds are generated as a whole (they plan runs ahead); their stream is the first
        // [`IN_MEMORY_KEYS`] keys.
        TraceKind::FastForward | TraceKind::Scrub => {
            match generate_with(kind, IN_MEMORY_KEYS, seed, &TraceParams::default()) {
                Ok(Trace::Frames(frames)) => State::Batch(frames.into_iter()),
                _ => State::Batch(Vec::new().into_iter()),
            }
        }
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
    Batch(std::vec::IntoIter<u64>),
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
            State::Batch(frames) => Key::Frame(frames.next()?),
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

/// Parameters of a generated trace beyond its kind, length and seed.
///
/// `None` keeps the kind's own value. [`generate_with`] with every parameter `None` is exactly [`generate`],
/// byte for byte; each kind accepts only the parameters it uses (see [`TraceKind::accepts`]).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct TraceParams {
    /// The jump set, as signed steps from the current frame. Playback kinds, `annotate`, `interleaved`,
    /// `fastforward`.
    pub jumps: Option<Vec<i64>>,
    /// The chance that a request jumps by one of `jumps`, in [0, 1].
    pub jump_rate: Option<f64>,
    /// The chance that a request seeks to a uniformly random frame, in [0, 1]. Every frame kind but `scan`
    /// and `random`.
    pub seek_rate: Option<f64>,
    /// `fastforward`: the speeds, in frames per request (negative: rewind). Default 1, 2 and 4.
    pub speeds: Option<Vec<i64>>,
    /// `interleaved`: how many cursors, 1 to 64. Default 2.
    pub cursors: Option<usize>,
    /// `scrub`: the sizes of the big steps (their sign is drawn per run). Default 30, 60 and 120.
    pub scrub_steps: Option<Vec<i64>>,
}

impl TraceParams {
    /// Every parameter at the kind's own value.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the jump set.
    pub fn jumps(mut self, jumps: impl Into<Vec<i64>>) -> Self {
        self.jumps = Some(jumps.into());
        self
    }

    /// Sets the chance of a jump per request.
    pub fn jump_rate(mut self, rate: f64) -> Self {
        self.jump_rate = Some(rate);
        self
    }

    /// Sets the chance of a seek anywhere per request.
    pub fn seek_rate(mut self, rate: f64) -> Self {
        self.seek_rate = Some(rate);
        self
    }

    /// Sets the fast-forward speeds.
    pub fn speeds(mut self, speeds: impl Into<Vec<i64>>) -> Self {
        self.speeds = Some(speeds.into());
        self
    }

    /// Sets the number of interleaved cursors.
    pub fn cursors(mut self, n: usize) -> Self {
        self.cursors = Some(n);
        self
    }

    /// Sets the scrubbing step sizes.
    pub fn scrub_steps(mut self, steps: impl Into<Vec<i64>>) -> Self {
        self.scrub_steps = Some(steps.into());
        self
    }

    /// The names of the parameters that are set, in declaration order.
    fn set(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let flags = [
            ("jumps", self.jumps.is_some()),
            ("jump_rate", self.jump_rate.is_some()),
            ("seek_rate", self.seek_rate.is_some()),
            ("speeds", self.speeds.is_some()),
            ("cursors", self.cursors.is_some()),
            ("scrub_steps", self.scrub_steps.is_some()),
        ];
        for (name, on) in flags {
            if on {
                v.push(name);
            }
        }
        v
    }
}

impl TraceKind {
    /// Whether `param` (a [`TraceParams`] field name: `jumps`, `jump_rate`, `seek_rate`, `speeds`, `cursors`,
    /// `scrub_steps`) changes traces of this kind.
    pub fn accepts(self, param: &str) -> bool {
        use TraceKind::*;
        match param {
            "jumps" | "jump_rate" => matches!(self, Playback | Backward | Jumps | Annotate | Interleaved | FastForward),
            "seek_rate" => !matches!(self, Scan | Random | Markov),
            "speeds" => self == FastForward,
            "cursors" => self == Interleaved,
            "scrub_steps" => self == Scrub,
            _ => false,
        }
    }
}

/// Why [`generate_with`] refused its parameters.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ParamError {
    /// The kind does not use this parameter (so it would be silently ignored).
    NotFor {
        /// The kind.
        kind: TraceKind,
        /// The parameter's name.
        param: &'static str,
    },
    /// A rate outside [0, 1], or jump and seek rates adding up to more than 1.
    Rate {
        /// The parameter's name (`jump_rate + seek_rate` for the sum).
        param: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A list that must not be empty is empty.
    Empty {
        /// The parameter's name.
        param: &'static str,
    },
    /// A step of 0 where the cursor must move (a speed or a scrub step).
    ZeroStep {
        /// The parameter's name.
        param: &'static str,
    },
    /// A step larger than the frame range (`FRAMES`).
    TooFar {
        /// The parameter's name.
        param: &'static str,
        /// The offending step.
        value: i64,
    },
    /// A cursor count outside 1 to 64.
    Cursors {
        /// The count asked for.
        value: usize,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::NotFor { kind, param } => write!(f, "trace kind {kind} does not use the parameter {param}"),
            ParamError::Rate { param, value } => write!(f, "{param} must be in [0, 1], got {value}"),
            ParamError::Empty { param } => write!(f, "{param} must not be empty"),
            ParamError::ZeroStep { param } => write!(f, "{param} must not contain 0"),
            ParamError::TooFar { param, value } => {
                write!(f, "{param}: a step of {value} is larger than the {FRAMES} frames")
            }
            ParamError::Cursors { value } => write!(f, "cursors must be 1 to 64, got {value}"),
        }
    }
}

impl std::error::Error for ParamError {}

/// How a cursor-walk kind jumps: the set its jumps are drawn from (uniformly), the chance per request, and the
/// walk's own steps (which a jump of the same size is indistinguishable from). See [`jump_model`].
#[derive(Clone, Debug, PartialEq)]
pub struct JumpModel {
    /// The jump set.
    pub jumps: Vec<i64>,
    /// The walk's own steps: +1 for playback, -1 backward, +1, -1 and 0 for annotation, the speeds of fast-forward.
    pub steps: Vec<i64>,
    /// The chance that a request is a jump.
    pub rate: f64,
}

/// The jump model of `kind` with `params`, for the kinds whose single cursor jumps within a set (`playback`,
/// `jumps`, `backward`, `annotate`, `fastforward`); `None` for the others. Annotation without parameters has its
/// fixed mix, +10 at 5 % and -10 at 4.7 %, which this reports as the set of both at 9.7 %.
pub fn jump_model(kind: TraceKind, params: &TraceParams) -> Option<JumpModel> {
    let (jumps, rate, _) = kind_defaults(kind);
    let steps = match kind {
        TraceKind::Playback | TraceKind::Jumps => vec![1],
        TraceKind::Backward => vec![-1],
        TraceKind::Annotate => vec![1, -1, 0],
        TraceKind::FastForward => params.speeds.clone().unwrap_or_else(|| vec![1, 2, 4]),
        _ => return None,
    };
    Some(JumpModel { jumps: params.jumps.clone().unwrap_or(jumps), steps, rate: params.jump_rate.unwrap_or(rate) })
}

/// The kind's own jump set, jump rate and seek rate (the values [`generate`] uses).
fn kind_defaults(kind: TraceKind) -> (Vec<i64>, f64, f64) {
    match kind {
        TraceKind::Backward => (vec![15, 5, 1, -5, -15, -30], 0.084, 0.016),
        TraceKind::Jumps => (vec![-30, -10, 3, 10, 60, 120], 0.084, 0.016),
        TraceKind::Annotate => (vec![10, -10], 0.097, 0.008),
        TraceKind::Interleaved | TraceKind::FastForward => (vec![-15, -5, -1, 5, 15, 30], 0.03, 0.005),
        TraceKind::Scrub => (Vec::new(), 0.0, 0.005),
        _ => (vec![-15, -5, -1, 5, 15, 30], 0.084, 0.016),
    }
}

fn check(params: &TraceParams, kind: TraceKind) -> Result<(), ParamError> {
    for param in params.set() {
        if !kind.accepts(param) {
            return Err(ParamError::NotFor { kind, param });
        }
    }
    let rate = |param, value: Option<f64>| match value {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(ParamError::Rate { param, value: v }),
        _ => Ok(()),
    };
    rate("jump_rate", params.jump_rate)?;
    rate("seek_rate", params.seek_rate)?;
    let (_, jump, seek) = kind_defaults(kind);
    let sum = params.jump_rate.unwrap_or(jump) + params.seek_rate.unwrap_or(seek);
    if sum > 1.0 {
        return Err(ParamError::Rate { param: "jump_rate + seek_rate", value: sum });
    }
    let steps = |param, list: &Option<Vec<i64>>, zero_ok: bool| {
        let Some(list) = list else { return Ok(()) };
        if list.is_empty() {
            return Err(ParamError::Empty { param });
        }
        if !zero_ok && list.contains(&0) {
            return Err(ParamError::ZeroStep { param });
        }
        match list.iter().find(|s| s.unsigned_abs() >= FRAMES) {
            Some(&value) => Err(ParamError::TooFar { param, value }),
            None => Ok(()),
        }
    };
    steps("jumps", &params.jumps, true)?;
    steps("speeds", &params.speeds, false)?;
    steps("scrub_steps", &params.scrub_steps, false)?;
    match params.cursors {
        Some(value) if !(1..=64).contains(&value) => Err(ParamError::Cursors { value }),
        _ => Ok(()),
    }
}

/// Generates `n` requests of `kind` from `seed` with `params`. A pure function of its arguments; with every
/// parameter `None` it is [`generate`].
///
/// On `annotate`, any parameter replaces the kind's fixed mix by: seeks at `seek_rate`, jumps at `jump_rate`
/// (uniform over `jumps`), and the rest split between +1, -1 and 0 like the default (70 : 12.5 : 7).
pub fn generate_with(kind: TraceKind, n: usize, seed: u64, params: &TraceParams) -> Result<Trace, ParamError> {
    check(params, kind)?;
    let new_kind = matches!(kind, TraceKind::FastForward | TraceKind::Scrub);
    if params.set().is_empty() && !new_kind {
        return Ok(generate(kind, n, seed));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (kind as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let (jumps, jump_rate, seek_rate) = kind_defaults(kind);
    let jumps = params.jumps.clone().unwrap_or(jumps);
    let jump_rate = params.jump_rate.unwrap_or(jump_rate);
    let seek_rate = params.seek_rate.unwrap_or(seek_rate);
    let frames = match kind {
        TraceKind::Playback | TraceKind::Jumps => cursor_walk(&mut rng, n, 1, &jumps, jump_rate, seek_rate),
        TraceKind::Backward => cursor_walk(&mut rng, n, -1, &jumps, jump_rate, seek_rate),
        TraceKind::Annotate => annotate_with(&mut rng, n, &jumps, jump_rate, seek_rate),
        TraceKind::Interleaved => {
            let cursor = Cursor { pos: 0, step: 1, jumps, p_jump: jump_rate, p_seek: seek_rate };
            several_cursors(&mut rng, n, params.cursors.unwrap_or(2), &cursor)
        }
        TraceKind::FastForward => {
            let speeds = params.speeds.clone().unwrap_or_else(|| vec![1, 2, 4]);
            fast_forward(&mut rng, n, &speeds, &jumps, jump_rate, seek_rate)
        }
        TraceKind::Scrub => {
            let steps = params.scrub_steps.clone().unwrap_or_else(|| vec![30, 60, 120]);
            scrub(&mut rng, n, &steps, seek_rate)
        }
        // `check` let no parameter through for the others, and no parameters means `generate` above.
        TraceKind::Scan | TraceKind::Random | TraceKind::Markov => return Ok(generate(kind, n, seed)),
    };
    Ok(Trace::Frames(frames))
}

fn wrap(pos: i64) -> i64 {
    pos.rem_euclid(FRAMES as i64)
}

/// Annotation with a given jump set and rates.
fn annotate_with(rng: &mut ChaCha8Rng, n: usize, jumps: &[i64], p_jump: f64, p_seek: f64) -> Vec<u64> {
    let mut pos = rng.random_range(0..FRAMES) as i64;
    let rest = 1.0 - p_jump - p_seek;
    let (fwd, back) = (rest * 0.70 / 0.895, rest * 0.825 / 0.895);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            let r: f64 = rng.random();
            pos = if r < p_seek {
                rng.random_range(0..FRAMES) as i64
            } else if r < p_seek + p_jump {
                pos + jumps[rng.random_range(0..jumps.len())]
            } else if r < p_seek + p_jump + fwd {
                pos + 1
            } else if r < p_seek + p_jump + back {
                pos - 1
            } else {
                pos
            };
            pos = wrap(pos);
        }
        out.push(pos as u64);
    }
    out
}

/// `count` cursors like `template` (its position is drawn per cursor), each request going to one of them at
/// random. With two cursors and the `interleaved` defaults it is the `interleaved` kind exactly.
fn several_cursors(rng: &mut ChaCha8Rng, n: usize, count: usize, template: &Cursor) -> Vec<u64> {
    let mut cursors: Vec<Cursor> = (0..count)
        .map(|_| Cursor {
            pos: rng.random_range(0..FRAMES) as i64,
            step: template.step,
            jumps: template.jumps.clone(),
            p_jump: template.p_jump,
            p_seek: template.p_seek,
        })
        .collect();
    (0..n)
        .map(|i| {
            if i < count {
                return cursors[i].pos as u64;
            }
            let c = rng.random_range(0..count);
            cursors[c].advance(rng)
        })
        .collect()
}

/// The chance per request that fast-forward changes its speed.
const SPEED_CHANGE: f64 = 0.02;

/// One cursor whose step is one of `speeds`, changed with [`SPEED_CHANGE`] per request to another speed.
fn fast_forward(rng: &mut ChaCha8Rng, n: usize, speeds: &[i64], jumps: &[i64], p_jump: f64, p_seek: f64) -> Vec<u64> {
    let mut cursor =
        Cursor { pos: rng.random_range(0..FRAMES) as i64, step: speeds[0], jumps: jumps.to_vec(), p_jump, p_seek };
    (0..n)
        .map(|i| {
            if i == 0 {
                return cursor.pos as u64;
            }
            if speeds.len() > 1 && rng.random_bool(SPEED_CHANGE) {
                // Another speed than the current one, uniformly.
                let k = rng.random_range(0..speeds.len() - 1);
                let current = speeds.iter().position(|&s| s == cursor.step).unwrap_or(0);
                cursor.step = speeds[if k >= current { k + 1 } else { k }];
            }
            cursor.advance(rng)
        })
        .collect()
}

/// Scrubbing: playback runs (mean 80 requests) alternate with scrubs: 3 to 12 big steps of `steps` sizes in
/// one direction, then a fine search of 4 to 16 steps of ±1 to ±3 around where the big steps stopped.
/// Seeks anywhere at `p_seek` during playback.
fn scrub(rng: &mut ChaCha8Rng, n: usize, steps: &[i64], p_seek: f64) -> Vec<u64> {
    let mut pos = rng.random_range(0..FRAMES) as i64;
    let mut out = Vec::with_capacity(n);
    // The moves still to make in the current scrub, in reverse order.
    let mut plan: Vec<i64> = Vec::new();
    for i in 0..n {
        if i > 0 {
            if let Some(step) = plan.pop() {
                pos += step;
            } else if rng.random_bool(1.0 / 80.0) {
                let sign = if rng.random_bool(0.5) { 1 } else { -1 };
                let fine: Vec<i64> = (0..rng.random_range(4..=16))
                    .map(|_| rng.random_range(1..=3) * if rng.random_bool(0.5) { 1 } else { -1 })
                    .collect();
                let big: Vec<i64> =
                    (0..rng.random_range(3..=12)).map(|_| sign * steps[rng.random_range(0..steps.len())]).collect();
                plan.extend(fine.into_iter().rev());
                plan.extend(big.into_iter().rev());
                pos += plan.pop().expect("a scrub has big steps");
            } else if rng.random_bool(p_seek) {
                pos = rng.random_range(0..FRAMES) as i64;
            } else {
                pos += 1;
            }
            pos = wrap(pos);
        }
        out.push(pos as u64);
    }
    out
}

/// The families of generated workloads that `cargo xtask bench predict` replays over many seeds: each seed
/// gives a trace kind and its own parameters (jump sets, rates, cursor counts, speeds, step sizes), so that
/// a predictor is measured on a family rather than on one trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// Playback with a jump set of 3 to 7 steps anywhere in ±150 (drawn per seed), jumps at 4 to 12 % and
    /// seeks anywhere at 0.5 to 2 % of requests.
    Seeks,
    /// Annotation with 2 to 4 jumps in ±30, jumps at 5 to 12 %, seeks at 0.4 to 1.2 %.
    Annotate,
    /// Reverse playback with a jump set like [`Family::Seeks`].
    Reverse,
    /// 2 to 4 interleaved playback cursors.
    Cursors,
    /// Fast-forward, speeds 1, 2 and 4 or 2 and 4 frames per request, changing.
    FastForward,
    /// Scrubbing with 2 or 3 big step sizes in 10 to 200, seeks at 0.2 to 1 %.
    Scrub,
    /// The `markov` kind: a new page graph per seed (string keys).
    Markov,
    /// The `random` kind.
    Random,
}

impl Family {
    /// Every family, in a stable order.
    pub const ALL: [Family; 8] = [
        Family::Seeks,
        Family::Annotate,
        Family::Reverse,
        Family::Cursors,
        Family::FastForward,
        Family::Scrub,
        Family::Markov,
        Family::Random,
    ];

    /// The family's name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Seeks => "seeks",
            Family::Annotate => "annotate",
            Family::Reverse => "reverse",
            Family::Cursors => "cursors",
            Family::FastForward => "fastforward",
            Family::Scrub => "scrub",
            Family::Markov => "markov",
            Family::Random => "random",
        }
    }

    /// True for the families of a user navigating frames (every one but `markov` and `random`).
    pub fn is_navigation(self) -> bool {
        !matches!(self, Family::Markov | Family::Random)
    }

    /// The kind and parameters of the family's member `seed`. A pure function of both.
    pub fn member(self, seed: u64) -> (TraceKind, TraceParams) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xD1B5_4A32_D192_ED03 ^ ((self as u64) << 56));
        let rate = |rng: &mut ChaCha8Rng, lo: f64, hi: f64| lo + (hi - lo) * rng.random::<f64>();
        match self {
            Family::Seeks | Family::Reverse => {
                let jumps = jump_set(&mut rng, 3..=7, 150);
                let p = TraceParams::new().jump_rate(rate(&mut rng, 0.04, 0.12)).seek_rate(rate(&mut rng, 0.005, 0.02));
                if self == Family::Seeks {
                    (TraceKind::Playback, p.jumps(jumps))
                } else {
                    (TraceKind::Backward, p.jumps(jumps.iter().map(|j| -j).collect::<Vec<_>>()))
                }
            }
            Family::Annotate => {
                let jumps = jump_set(&mut rng, 2..=4, 30);
                let p = TraceParams::new()
                    .jumps(jumps)
                    .jump_rate(rate(&mut rng, 0.05, 0.12))
                    .seek_rate(rate(&mut rng, 0.004, 0.012));
                (TraceKind::Annotate, p)
            }
            Family::Cursors => (TraceKind::Interleaved, TraceParams::new().cursors(rng.random_range(2..=4))),
            Family::FastForward => {
                let speeds = if rng.random_bool(0.5) { vec![1, 2, 4] } else { vec![2, 4] };
                (TraceKind::FastForward, TraceParams::new().speeds(speeds))
            }
            Family::Scrub => {
                let k = rng.random_range(2..=3);
                let steps: Vec<i64> = (0..k).map(|_| rng.random_range(10..=200)).collect();
                (TraceKind::Scrub, TraceParams::new().scrub_steps(steps).seek_rate(rate(&mut rng, 0.002, 0.01)))
            }
            Family::Markov => (TraceKind::Markov, TraceParams::new()),
            Family::Random => (TraceKind::Random, TraceParams::new()),
        }
    }

    /// The trace of the family's member `seed`, `n` requests long.
    pub fn generate(self, n: usize, seed: u64) -> Trace {
        let (kind, params) = self.member(seed);
        generate_with(kind, n, seed, &params).expect("family parameters are valid")
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `count` distinct jumps in `±max`, none of them 0 or +1 (the playback step), 60 % forward.
fn jump_set(rng: &mut ChaCha8Rng, count: std::ops::RangeInclusive<usize>, max: i64) -> Vec<i64> {
    let k = rng.random_range(count);
    let mut set = Vec::with_capacity(k);
    while set.len() < k {
        let j = rng.random_range(1..=max) * if rng.random_bool(0.6) { 1 } else { -1 };
        if j != 1 && !set.contains(&j) {
            set.push(j);
        }
    }
    set
}
