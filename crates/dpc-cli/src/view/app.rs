//! The viewer's state machine: keys become [`Action`]s, actions change the [`App`] and call the cache through
//! [`Control`]. Nothing here touches the terminal or a clock of its own, so tests drive it key by key.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use dpc_core::{Event, LoadKind, Snapshot, Stats};
use dpc_mot::Frame;

/// How many lines the events panel keeps.
const LOG_LINES: usize = 200;
/// How many `get` times the percentiles are taken over (the most recent ones).
const SAMPLES: usize = 100_000;
/// The latencies `+` and `-` step through, in milliseconds.
pub const LATENCY_STEPS_MS: [u64; 11] = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/// What reaches the viewer's event loop: input, or a load that finished.
#[derive(Debug)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// The terminal was resized.
    Resize,
    /// The loader finished (or skipped) a request.
    Loaded(Loaded),
}

/// The result of one request of the loader.
#[derive(Debug)]
pub struct Loaded {
    /// The frame requested.
    pub frame: u64,
    /// The frame, or the error message, or `Err(None)` when the request was skipped because a newer one was
    /// waiting and this frame was not resident.
    pub result: Result<Arc<Frame>, Option<String>>,
    /// How long the `get` took (the stall of this request).
    pub elapsed: Duration,
}

/// The cache calls the viewer makes; [`Live`](super::live::Live) is the real one.
pub trait Control {
    /// Requests `frame` without waiting: the loader `get`s it and reports [`Msg::Loaded`]. Returns the frame at
    /// once if it is resident now.
    fn request(&mut self, frame: u64) -> Option<Arc<Frame>>;
    /// Makes predictor `index` (of the cycle) the active one; the cache and its entries are kept.
    fn set_predictor(&mut self, index: usize);
    /// Sets the simulated load latency.
    fn set_latency(&mut self, latency: Duration);
    /// What the cache holds now.
    fn view(&mut self) -> CacheView;
    /// The cache events since the last call, oldest first.
    fn take_events(&mut self) -> Vec<dpc_core::Event<u64>>;
}

/// What the screen shows of the cache: a copy of the cache's snapshot.
#[derive(Clone, Debug, Default)]
pub struct CacheView {
    /// Resident frames and their current scores.
    pub resident: HashMap<u64, f64>,
    /// Loads running now.
    pub loading: HashMap<u64, LoadKind>,
    /// Queued prefetches in the order they will start, with their scores.
    pub queued: Vec<(u64, f64)>,
    /// The latest prediction, best first.
    pub predicted: Vec<(u64, f64)>,
    /// The counters.
    pub stats: Stats,
}

impl CacheView {
    /// The view of a cache snapshot.
    pub fn from_snapshot(snap: Snapshot<u64>) -> CacheView {
        CacheView {
            resident: snap.resident.into_iter().map(|r| (r.key, r.score)).collect(),
            loading: snap.in_flight.into_iter().map(|f| (f.key, f.kind)).collect(),
            queued: snap.queued,
            predicted: snap.predicted,
            stats: snap.stats,
        }
    }
}

/// The state of a timeline cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// The cursor.
    Current,
    /// Resident in the cache.
    Resident,
    /// Being loaded.
    Loading(LoadKind),
    /// Queued for prefetch.
    Queued,
    /// Not in the cache.
    Absent,
}

/// What a key does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Move the cursor by this many frames.
    Step(i64),
    /// Go to the first frame.
    First,
    /// Go to the last frame.
    Last,
    /// Start typing a frame number (`g`).
    JumpStart,
    /// A digit of the frame number.
    JumpDigit(char),
    /// Remove the last digit.
    JumpBackspace,
    /// Go to the typed frame (`Enter`).
    JumpCommit,
    /// Stop typing (`Esc`).
    JumpCancel,
    /// Play or pause (`space`).
    TogglePlay,
    /// Switch to the next predictor (`p`).
    CyclePredictor,
    /// One latency step up (`+`) or down (`-`).
    Latency(i8),
    /// Quit (`q`, `Esc`, Ctrl-C).
    Quit,
}

/// Maps a key to its action; `jumping` is true while a frame number is being typed.
pub fn action_for(key: KeyEvent, jumping: bool) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, KeyCode::Char('c' | 'C')).then_some(Action::Quit);
    }
    if jumping {
        return match key.code {
            KeyCode::Char(c) if c.is_ascii_digit() => Some(Action::JumpDigit(c)),
            KeyCode::Backspace => Some(Action::JumpBackspace),
            KeyCode::Enter => Some(Action::JumpCommit),
            KeyCode::Esc => Some(Action::JumpCancel),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Left => Action::Step(-1),
        KeyCode::Right => Action::Step(1),
        KeyCode::Char('[') => Action::Step(-5),
        KeyCode::Char(']') => Action::Step(5),
        KeyCode::PageUp => Action::Step(-15),
        KeyCode::PageDown => Action::Step(15),
        KeyCode::Home => Action::First,
        KeyCode::End => Action::Last,
        KeyCode::Char('g') => Action::JumpStart,
        KeyCode::Char(' ') => Action::TogglePlay,
        KeyCode::Char('p') => Action::CyclePredictor,
        KeyCode::Char('+' | '=') => Action::Latency(1),
        KeyCode::Char('-' | '_') => Action::Latency(-1),
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        _ => return None,
    })
}

/// The frame on screen.
#[derive(Clone, Debug)]
pub enum Shown {
    /// Loaded: its boxes are drawn.
    Ready(Arc<Frame>),
    /// Requested and not yet arrived.
    Loading,
    /// The load failed with this message.
    Failed(String),
}

/// Request timings measured by the viewer (the time each `get` of the loader took).
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// The stall of the last request.
    pub last: Duration,
    /// All stalls added up.
    pub total: Duration,
    /// The median `get` time.
    pub p50: Duration,
    /// The 99th percentile `get` time.
    pub p99: Duration,
    samples: VecDeque<Duration>,
}

impl Timings {
    fn record(&mut self, d: Duration) {
        self.last = d;
        self.total += d;
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(d);
    }

    /// Recomputes the percentiles (at each refresh, not per request: sorting is the costly part).
    fn update_percentiles(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let mut sorted: Vec<Duration> = self.samples.iter().copied().collect();
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        self.p50 = at(0.5);
        self.p99 = at(0.99);
    }
}

/// The viewer's state.
#[derive(Debug)]
pub struct App {
    /// The first frame of the file.
    pub first: u64,
    /// The last frame of the file.
    pub last: u64,
    /// The frame under the cursor.
    pub cursor: u64,
    /// The file name for the header.
    pub file: String,
    /// Image width and height the boxes are drawn in (from `seqinfo.ini`, else 1920x1080).
    pub image: (f64, f64),
    /// Playback rate (from `seqinfo.ini`, else 30).
    pub fps: f64,
    /// The predictor names `p` cycles through.
    pub predictors: Vec<String>,
    /// The active one.
    pub predictor: usize,
    /// The simulated load latency.
    pub latency: Duration,
    /// The frame number being typed after `g`.
    pub jump: Option<String>,
    /// Whether playback runs.
    pub playing: bool,
    /// The cursor frame.
    pub shown: Shown,
    /// Events panel lines, newest first.
    pub log: VecDeque<String>,
    /// `get` timings.
    pub timings: Timings,
    /// The cache as of the last refresh.
    pub cache: CacheView,
    /// The cache's entry bound, for the stats panel.
    pub capacity: usize,
    /// Set by [`Action::Quit`].
    pub quit: bool,
    /// When playback steps next.
    due: Option<Instant>,
}

impl App {
    /// A viewer of frames `first..=last`, cursor on `first` (not yet requested: call [`start`](Self::start)).
    pub fn new(first: u64, last: u64, file: String, predictors: Vec<String>, latency: Duration) -> App {
        App {
            first,
            last,
            cursor: first,
            file,
            image: (1920.0, 1080.0),
            fps: 30.0,
            predictors,
            predictor: 0,
            latency,
            jump: None,
            playing: false,
            shown: Shown::Loading,
            log: VecDeque::new(),
            timings: Timings::default(),
            cache: CacheView::default(),
            capacity: 0,
            quit: false,
            due: None,
        }
    }

    /// Requests the first frame and takes the first view of the cache.
    pub fn start(&mut self, ctl: &mut dyn Control) {
        self.go(self.cursor, ctl);
        self.refresh(ctl);
    }

    /// The name of the active predictor.
    pub fn predictor_name(&self) -> &str {
        self.predictors.get(self.predictor).map_or("?", String::as_str)
    }

    /// Applies one action.
    pub fn apply(&mut self, action: Action, ctl: &mut dyn Control, now: Instant) {
        match action {
            Action::Step(d) => {
                let to = if d < 0 {
                    self.cursor.saturating_sub(d.unsigned_abs()).max(self.first)
                } else {
                    self.cursor.saturating_add(d.unsigned_abs()).min(self.last)
                };
                self.go(to, ctl);
            }
            Action::First => self.go(self.first, ctl),
            Action::Last => self.go(self.last, ctl),
            Action::JumpStart => self.jump = Some(String::new()),
            Action::JumpDigit(c) => {
                if let Some(j) = &mut self.jump {
                    if j.len() < 20 {
                        j.push(c);
                    }
                }
            }
            Action::JumpBackspace => {
                if let Some(j) = &mut self.jump {
                    j.pop();
                }
            }
            Action::JumpCancel => self.jump = None,
            Action::JumpCommit => {
                let typed = self.jump.take().unwrap_or_default();
                match typed.parse::<u64>() {
                    Ok(n) => {
                        let to = n.clamp(self.first, self.last);
                        if to != n {
                            self.note(format!("no frame {n}: the file holds {}..={}", self.first, self.last));
                        }
                        self.go(to, ctl);
                    }
                    Err(_) if typed.is_empty() => {}
                    Err(_) => self.note(format!("not a frame number: {typed}")),
                }
            }
            Action::TogglePlay => {
                self.playing = !self.playing && self.cursor < self.last;
                self.due = self.playing.then(|| now + self.period());
            }
            Action::CyclePredictor => {
                if !self.predictors.is_empty() {
                    self.predictor = (self.predictor + 1) % self.predictors.len();
                    ctl.set_predictor(self.predictor);
                    self.note(format!("predictor {}", self.predictor_name()));
                    // Request the current frame again (a hit) so the new predictor runs now, not at the next step.
                    self.request(ctl);
                }
            }
            Action::Latency(dir) => {
                let ms = self.latency.as_secs_f64() * 1e3;
                let next = if dir > 0 {
                    LATENCY_STEPS_MS.iter().copied().find(|&s| s as f64 > ms + 1e-9)
                } else {
                    LATENCY_STEPS_MS.iter().rev().copied().find(|&s| (s as f64) < ms - 1e-9)
                };
                if let Some(s) = next {
                    self.latency = Duration::from_millis(s);
                    ctl.set_latency(self.latency);
                    self.note(format!("latency {s} ms"));
                }
            }
            Action::Quit => self.quit = true,
        }
    }

    /// Handles a key; returns whether it did anything.
    pub fn key(&mut self, key: KeyEvent, ctl: &mut dyn Control, now: Instant) -> bool {
        match action_for(key, self.jump.is_some()) {
            Some(a) => {
                self.apply(a, ctl, now);
                true
            }
            None => false,
        }
    }

    /// Advances playback if a step is due and the frame on screen has arrived; returns whether it stepped.
    pub fn tick(&mut self, ctl: &mut dyn Control, now: Instant) -> bool {
        let Some(due) = self.due.filter(|_| self.playing) else { return false };
        if now < due || !matches!(self.shown, Shown::Ready(_) | Shown::Failed(_)) {
            return false;
        }
        if self.cursor >= self.last {
            self.playing = false;
            self.due = None;
            return false;
        }
        let next = due + self.period();
        // Keep the cadence when on time; after a stall, show the frame one period from now.
        self.due = Some(if next > now { next } else { now + self.period() });
        self.go(self.cursor + 1, ctl);
        if self.cursor >= self.last {
            self.playing = false;
            self.due = None;
        }
        true
    }

    /// When playback wants to step next, if it plays.
    pub fn due(&self) -> Option<Instant> {
        self.due.filter(|_| self.playing)
    }

    /// Takes a finished request; returns whether the screen changed.
    pub fn loaded(&mut self, loaded: Loaded) -> bool {
        let current = loaded.frame == self.cursor;
        match loaded.result {
            Ok(frame) => {
                self.timings.record(loaded.elapsed);
                if current && !matches!(self.shown, Shown::Ready(_)) {
                    self.shown = Shown::Ready(frame);
                    return true;
                }
                false
            }
            Err(Some(message)) => {
                // The cache reports the failed load as an event, so the events panel shows it once.
                self.timings.record(loaded.elapsed);
                if current {
                    self.shown = Shown::Failed(message);
                }
                true
            }
            Err(None) => false,
        }
    }

    /// Takes a new view of the cache and its events.
    pub fn refresh(&mut self, ctl: &mut dyn Control) {
        self.cache = ctl.view();
        self.timings.update_percentiles();
        for e in ctl.take_events() {
            if let Some(line) = describe(&e) {
                self.note(line);
            }
        }
    }

    /// The state of `frame` for the timeline.
    pub fn cell(&self, frame: u64) -> Cell {
        if frame == self.cursor {
            Cell::Current
        } else if let Some(&kind) = self.cache.loading.get(&frame) {
            Cell::Loading(kind)
        } else if self.cache.resident.contains_key(&frame) {
            Cell::Resident
        } else if self.cache.queued.iter().any(|&(k, _)| k == frame) {
            Cell::Queued
        } else {
            Cell::Absent
        }
    }

    /// Adds a line to the events panel.
    pub fn note(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_back();
        }
        self.log.push_front(line);
    }

    fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.fps)
    }

    fn go(&mut self, to: u64, ctl: &mut dyn Control) {
        self.cursor = to;
        self.request(ctl);
    }

    fn request(&mut self, ctl: &mut dyn Control) {
        self.shown = match ctl.request(self.cursor) {
            Some(frame) => Shown::Ready(frame),
            None => Shown::Loading,
        };
    }
}

/// One line of the events panel for a cache event; hits have none.
fn describe(e: &Event<u64>) -> Option<String> {
    Some(match e {
        Event::LoadStart { key } => format!("miss {key}"),
        Event::LoadComplete { key, .. } => format!("load {key}"),
        Event::LoadError { key, error } => format!("error {key}: {error}"),
        Event::PrefetchStart { .. } => return None,
        Event::PrefetchSuccess { key, admitted: true, .. } => format!("prefetch {key}"),
        Event::PrefetchSuccess { key, admitted: false, .. } => format!("prefetch {key} dropped"),
        Event::PrefetchError { key, error } => format!("prefetch error {key}: {error}"),
        Event::PrefetchCancel { key } => format!("cancel {key}"),
        Event::Evict { key, .. } => format!("evict {key}"),
        Event::PredictorPanic { message } => format!("predictor panic: {message}"),
        Event::WeigherPanic { key, message } => format!("weigher panic {key}: {message}"),
        Event::Invalidate { key } => format!("invalidate {key}"),
        _ => return None,
    })
}
