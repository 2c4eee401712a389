//! The viewer without a terminal: keys to actions to cache calls on a real cache over a fixture file, and the
//! screen drawn into ratatui's `TestBackend` and compared with insta snapshots.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use dpc_core::{AccessPredictor, Event, PredictContext};
use dpc_mot::Frame;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{Action, App, CacheView, Cell, Control, Msg, Shown, action_for};
use super::live::{Live, Settings, Switch};
use super::{cycle_from, new_app, render};

/// A cache call the app made.
#[derive(Clone, Debug, PartialEq)]
enum Call {
    Request(u64),
    Predictor(usize),
    Latency(Duration),
}

/// The real [`Live`] cache, with every call the app makes recorded on the way through.
struct Recorder {
    live: Live,
    calls: Vec<Call>,
    /// Requests sent to the loader whose results have not been taken yet.
    pending: usize,
    /// Sort each batch of cache events: a demand load on the loader thread and a prefetch on a worker may
    /// finish in either order, and the screen snapshots must not depend on it.
    sort_events: bool,
}

impl Control for Recorder {
    fn request(&mut self, frame: u64) -> Option<Arc<Frame>> {
        self.calls.push(Call::Request(frame));
        self.pending += 1;
        self.live.request(frame)
    }
    fn set_predictor(&mut self, index: usize) {
        self.calls.push(Call::Predictor(index));
        self.live.set_predictor(index);
    }
    fn set_latency(&mut self, latency: Duration) {
        self.calls.push(Call::Latency(latency));
        self.live.set_latency(latency);
    }
    fn view(&mut self) -> CacheView {
        self.live.view()
    }
    fn take_events(&mut self) -> Vec<Event<u64>> {
        let mut events = self.live.take_events();
        if self.sort_events {
            events.sort_by_key(|e| format!("{e:?}"));
        }
        events
    }
}

/// A viewer on a file, driven key by key.
struct Harness {
    app: App,
    ctl: Recorder,
    inbox: Receiver<Msg>,
    now: Instant,
    _dir: Option<tempfile::TempDir>,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mot/seq")
}

/// `fixtures/mot/seq` (frames 1..=15 after its `seqinfo.ini`, rows in 1..=12, 25 fps) copied to a temporary
/// directory, so a test may change it under the viewer.
fn copied_fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("gt")).unwrap();
    std::fs::copy(fixture_dir().join("seqinfo.ini"), dir.path().join("seqinfo.ini")).unwrap();
    let file = dir.path().join("gt/gt.txt");
    std::fs::copy(fixture_dir().join("gt/gt.txt"), &file).unwrap();
    (dir, file)
}

/// Deterministic settings: no latency, one worker (prefetches in queue order), a small cache, and a predictor
/// that does not depend on measured timings.
fn settings(first_predictor: &str) -> Settings {
    Settings { latency: Duration::ZERO, capacity: 6, workers: 1, predictors: cycle_from(first_predictor) }
}

impl Harness {
    fn open(path: &Path, settings: &Settings, dir: Option<tempfile::TempDir>) -> Harness {
        let (outbox, inbox) = mpsc::channel();
        let live = Live::open(path, settings, outbox).unwrap();
        let app = new_app(path, &live, settings).unwrap();
        let ctl = Recorder { live, calls: Vec::new(), pending: 0, sort_events: true };
        let mut h = Harness { app, ctl, inbox, now: Instant::now(), _dir: dir };
        h.app.start(&mut h.ctl);
        h.settle();
        h
    }

    fn fixture(first_predictor: &str) -> Harness {
        Harness::open(&fixture_dir().join("gt/gt.txt"), &settings(first_predictor), None)
    }

    /// Waits for every request the loader has been sent, then for the cache's prefetches, then refreshes.
    fn settle(&mut self) {
        while self.ctl.pending > 0 {
            match self.inbox.recv_timeout(Duration::from_secs(30)).expect("the loader answers every request") {
                Msg::Loaded(l) => {
                    self.ctl.pending -= 1;
                    self.app.loaded(l);
                }
                other => panic!("unexpected message {other:?}"),
            }
        }
        self.ctl.live.cache().quiesce();
        assert!(self.ctl.live.wait_events(Duration::from_secs(30)), "every counted event arrives");
        self.app.refresh(&mut self.ctl);
    }

    fn press(&mut self, code: KeyCode) {
        self.press_with(code, KeyModifiers::NONE);
    }

    fn press_with(&mut self, code: KeyCode, modifiers: KeyModifiers) {
        self.app.key(KeyEvent::new(code, modifiers), &mut self.ctl, self.now);
        self.settle();
    }

    fn typed(&mut self, keys: &str) {
        for c in keys.chars() {
            self.press(if c == '\n' { KeyCode::Enter } else { KeyCode::Char(c) });
        }
    }

    fn calls(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.ctl.calls)
    }

    fn screen(&self, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| render::draw(f, &self.app)).unwrap();
        redact(&buffer_text(terminal.backend()))
    }
}

fn buffer_text(backend: &TestBackend) -> String {
    let buf = backend.buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The stats panel's lines whose values vary from run to run: measured times, and the counts that depend on
/// whether the scheduler, predicting from the key just requested, started a prefetch of that same key before
/// the demand load registered (a miss, a late hit or even a hit). The tests with `none` check those counts.
const VARYING: [&str; 10] = [
    "hits",
    "late hits",
    "misses",
    "stalls",
    "stall last",
    "stall total",
    "get p50",
    "get p99",
    "accuracy",
    "coverage",
];

/// Masks the values of the [`VARYING`] stats lines and of "prefetched"; everything else is deterministic.
/// The tiny terminal cuts the panel's border off; then the value runs to the end of the line.
fn redact(screen: &str) -> String {
    let mut out = String::new();
    for line in screen.lines() {
        let label = VARYING
            .into_iter()
            .chain(["prefetched"])
            .map(|l| format!("│ {l:<12}"))
            .find_map(|l| line.find(&l).map(|at| at + l.len()));
        match label {
            Some(at) => {
                let (head, tail) = line.split_at(at);
                // The whole value up to the panel's border becomes `#`, so its width cannot vary either.
                let end = tail.find('│').unwrap_or(tail.len());
                let width = tail[..end].chars().count();
                out.push_str(head);
                out.push_str(&format!("{:<width$}", "#"));
                out.push_str(&tail[end..]);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn keys_map_to_actions() {
    use KeyCode::*;
    let check = |code, jumping, want: Option<Action>| assert_eq!(action_for(key(code), jumping), want, "{code:?}");
    check(Left, false, Some(Action::Step(-1)));
    check(Right, false, Some(Action::Step(1)));
    check(Char('['), false, Some(Action::Step(-5)));
    check(Char(']'), false, Some(Action::Step(5)));
    check(PageUp, false, Some(Action::Step(-15)));
    check(PageDown, false, Some(Action::Step(15)));
    check(Home, false, Some(Action::First));
    check(End, false, Some(Action::Last));
    check(Char('g'), false, Some(Action::JumpStart));
    check(Char(' '), false, Some(Action::TogglePlay));
    check(Char('p'), false, Some(Action::CyclePredictor));
    check(Char('+'), false, Some(Action::Latency(1)));
    check(Char('-'), false, Some(Action::Latency(-1)));
    check(Char('q'), false, Some(Action::Quit));
    check(Esc, false, Some(Action::Quit));
    check(Char('x'), false, None);
    // While a frame number is typed, digits are digits and Esc only cancels the jump.
    check(Char('7'), true, Some(Action::JumpDigit('7')));
    check(Backspace, true, Some(Action::JumpBackspace));
    check(Enter, true, Some(Action::JumpCommit));
    check(Esc, true, Some(Action::JumpCancel));
    check(Char('q'), true, None);
    check(Right, true, None);
    for jumping in [false, true] {
        assert_eq!(action_for(KeyEvent::new(Char('c'), KeyModifiers::CONTROL), jumping), Some(Action::Quit));
    }
    let release = KeyEvent { kind: KeyEventKind::Release, state: KeyEventState::NONE, ..key(Right) };
    assert_eq!(action_for(release, false), None, "a key release does nothing");
}

#[test]
fn steps_and_jumps_request_frames_within_the_file() {
    let mut h = Harness::fixture("none");
    assert_eq!((h.app.first, h.app.last), (1, 15), "seqinfo.ini's seqLength extends the range past the rows");
    assert_eq!(h.app.fps, 25.0, "the frame rate comes from seqinfo.ini");
    assert_eq!(h.calls(), [Call::Request(1)]);
    let script: &[(KeyCode, u64)] = &[
        (KeyCode::Left, 1),
        (KeyCode::Right, 2),
        (KeyCode::Char(']'), 7),
        (KeyCode::Char('['), 2),
        (KeyCode::PageDown, 15),
        (KeyCode::PageUp, 1),
        (KeyCode::End, 15),
        (KeyCode::Right, 15),
        (KeyCode::Home, 1),
    ];
    for &(code, want) in script {
        h.press(code);
        assert_eq!(h.app.cursor, want, "after {code:?}");
        assert_eq!(h.calls(), [Call::Request(want)], "after {code:?}");
        assert!(matches!(h.app.shown, Shown::Ready(ref f) if f.number() == want), "frame {want} is on screen");
    }
    h.typed("g12\n");
    assert_eq!((h.app.cursor, h.calls()), (12, vec![Call::Request(12)]), "digits only request at Enter");
    h.typed("g99\n");
    assert_eq!(h.app.cursor, 15, "a jump past the end lands on the last frame");
    assert_eq!(h.app.log[0], "no frame 99: the file holds 1..=15");
    h.typed("g");
    h.press(KeyCode::Backspace);
    h.typed("3");
    h.press(KeyCode::Esc);
    assert_eq!((h.app.cursor, h.app.jump.clone(), h.app.quit), (15, None, false), "Esc cancels the jump only");
    h.typed("g\n");
    assert_eq!(h.app.cursor, 15, "an empty jump goes nowhere");
    h.calls();
    // Every request reached the cache once, as a `get` on the loader.
    let stats = h.ctl.live.cache().stats();
    assert_eq!(stats.requests(), 1 + script.len() as u64 + 2);
    assert_eq!(stats.prefetch_issued, 0, "none prefetches nothing");
    h.press(KeyCode::Char('q'));
    assert!(h.app.quit);
    assert!(h.calls().is_empty());
}

#[test]
fn ctrl_c_quits_even_while_typing_a_jump() {
    let mut h = Harness::fixture("none");
    h.typed("g4");
    h.press_with(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(h.app.quit);
}

#[test]
fn the_predictor_switches_live_and_keeps_the_cache() {
    // Room for the whole file, so that no load evicts anything and "kept" means kept.
    let mut s = settings("python");
    s.capacity = 64;
    let mut h = Harness::open(&fixture_dir().join("gt/gt.txt"), &s, None);
    assert_eq!(h.app.predictors, ["python", "none", "auto"]);
    h.press(KeyCode::Right);
    let before = h.ctl.live.cache().snapshot();
    assert!(before.stats.prefetch_issued > 0, "python prefetches around the cursor");
    let resident: Vec<u64> = {
        let mut r: Vec<u64> = before.resident.iter().map(|r| r.key).collect();
        r.sort_unstable();
        r
    };
    h.calls();
    h.press(KeyCode::Char('p'));
    assert_eq!((h.app.predictor_name(), h.ctl.live.active_predictor()), ("none", 1));
    assert_eq!(h.calls(), [Call::Predictor(1), Call::Request(2)], "the switch re-requests the frame on screen");
    let after = h.ctl.live.cache().snapshot();
    let mut kept: Vec<u64> = after.resident.iter().map(|r| r.key).collect();
    kept.sort_unstable();
    assert!(resident.iter().all(|k| kept.contains(k)), "switching keeps every resident frame: {resident:?} {kept:?}");
    assert!(after.predicted.is_empty(), "none predicts nothing, at once");
    let issued = after.stats.prefetch_issued;
    h.typed("g9\n");
    assert_eq!(h.ctl.live.cache().stats().prefetch_issued, issued, "no prefetch after switching to none");
    h.press(KeyCode::Char('p'));
    assert_eq!(h.app.predictor_name(), "auto");
    h.press(KeyCode::Char('p'));
    assert_eq!((h.app.predictor_name(), h.ctl.live.active_predictor()), ("python", 0), "the cycle wraps");
    assert!(!h.ctl.live.cache().snapshot().predicted.is_empty(), "python predicts again, at once");
}

#[test]
fn a_predictor_outside_the_cycle_goes_first() {
    assert_eq!(cycle_from("auto"), ["auto", "python", "none"]);
    assert_eq!(cycle_from("none"), ["none", "auto", "python"]);
    assert_eq!(cycle_from("stride"), ["stride", "auto", "python", "none"]);
}

#[test]
fn latency_steps_through_the_ladder_and_reaches_the_provider() {
    let mut s = settings("none");
    s.latency = Duration::from_micros(3_000);
    let mut h = Harness::open(&fixture_dir().join("gt/gt.txt"), &s, None);
    h.calls();
    h.press(KeyCode::Char('+'));
    assert_eq!(h.calls(), [Call::Latency(Duration::from_millis(5))]);
    assert_eq!(h.ctl.live.latency(), Duration::from_millis(5));
    for want in [2, 1, 0] {
        h.press(KeyCode::Char('-'));
        assert_eq!(h.calls(), [Call::Latency(Duration::from_millis(want))]);
    }
    h.press(KeyCode::Char('-'));
    assert!(h.calls().is_empty(), "no latency below zero");
    assert_eq!(h.app.log[0], "latency 0 ms");
    for _ in 0..20 {
        h.press(KeyCode::Char('+'));
    }
    assert_eq!(h.ctl.live.latency(), Duration::from_secs(1), "the ladder stops at one second");
}

#[test]
fn playback_steps_at_the_frame_rate_and_waits_for_the_frame() {
    let mut h = Harness::fixture("none");
    let period = Duration::from_secs_f64(1.0 / 25.0);
    let t0 = h.now;
    h.press(KeyCode::Char(' '));
    assert!(h.app.playing);
    assert!(!h.app.tick(&mut h.ctl, t0), "not due yet");
    assert!(h.app.tick(&mut h.ctl, t0 + period));
    assert_eq!(h.app.cursor, 2);
    // Frame 2 is not resident with `none`: until it arrives, playback waits.
    if matches!(h.app.shown, Shown::Loading) {
        assert!(!h.app.tick(&mut h.ctl, t0 + period * 10), "playback waits for the frame on screen");
    }
    h.settle();
    assert!(matches!(h.app.shown, Shown::Ready(_)));
    // Late (a stall): the next step comes one period after now, not at once again.
    let late = t0 + period * 10;
    assert!(h.app.tick(&mut h.ctl, late));
    h.settle();
    assert!(!h.app.tick(&mut h.ctl, late + period / 2));
    assert!(h.app.tick(&mut h.ctl, late + period));
    h.settle();
    assert_eq!(h.app.cursor, 4);
    h.press(KeyCode::Char(' '));
    assert!(!h.app.playing && !h.app.tick(&mut h.ctl, late + period * 100), "paused");
    // Playing stops at the last frame.
    h.press(KeyCode::End);
    h.press(KeyCode::Char(' '));
    assert!(!h.app.playing, "nothing to play after the last frame");
    h.press(KeyCode::Char('['));
    h.press(KeyCode::Char(' '));
    let mut t = late + period * 200;
    let mut steps = 0;
    while h.app.playing {
        t += period;
        if h.app.tick(&mut h.ctl, t) {
            steps += 1;
        }
        h.settle();
        assert!(steps <= 5, "runaway playback");
    }
    assert_eq!((h.app.cursor, steps), (15, 5));
}

#[test]
fn a_step_to_a_frame_not_resident_shows_it_loading_then_draws_it() {
    let mut s = settings("none");
    s.latency = Duration::from_millis(1);
    let mut h = Harness::open(&fixture_dir().join("gt/gt.txt"), &s, None);
    h.app.key(key(KeyCode::Right), &mut h.ctl, h.now);
    // The key returns before the load: the UI thread never waits for one.
    assert!(matches!(h.app.shown, Shown::Loading), "{:?}", h.app.shown);
    assert!(h.screen(100, 40).contains("frame 2: loading"));
    h.settle();
    assert!(matches!(h.app.shown, Shown::Ready(ref f) if f.number() == 2));
    assert!(h.screen(100, 40).contains("frame 2: 1 box"));
    assert_eq!(h.app.cell(2), Cell::Current);
    assert_eq!(h.app.cell(1), Cell::Resident);
    assert_eq!(h.app.cell(3), Cell::Absent);
}

#[test]
fn requests_that_pile_up_skip_the_frames_already_left() {
    // Long enough that the five keys are surely pressed while the first load runs.
    let mut s = settings("none");
    s.latency = Duration::from_millis(200);
    let mut h = Harness::open(&fixture_dir().join("gt/gt.txt"), &s, None);
    for _ in 0..5 {
        h.app.key(key(KeyCode::Right), &mut h.ctl, h.now);
    }
    assert_eq!(h.app.cursor, 6);
    h.settle();
    assert!(matches!(h.app.shown, Shown::Ready(ref f) if f.number() == 6), "the last frame asked for is drawn");
    let stats = h.ctl.live.cache().stats();
    // The loader takes the first step at once; while it loads, the next ones queue and all but the newest
    // are skipped.
    assert!(stats.requests() <= 3, "at most frames 1, 2 and 6 were loaded: {stats:?}");
    assert!(h.ctl.live.cache().contains(&6) && !h.ctl.live.cache().contains(&4));
    assert!(h.app.timings.p99 >= Duration::from_millis(200), "each load took the latency");
}

#[test]
fn only_the_frame_under_the_cursor_is_drawn_when_it_arrives() {
    let mut app = App::new(1, 10, "f".into(), cycle_from("none"), Duration::ZERO);
    app.cursor = 2;
    let frame = |n| Ok(Arc::new(Frame::new(n, Vec::new())));
    assert!(!app.loaded(super::app::Loaded { frame: 1, result: frame(1), elapsed: Duration::from_millis(3) }));
    assert!(matches!(app.shown, Shown::Loading), "a frame the cursor has left is not drawn");
    assert!(!app.loaded(super::app::Loaded { frame: 2, result: Err(None), elapsed: Duration::ZERO }));
    assert!(matches!(app.shown, Shown::Loading), "a skipped request changes nothing");
    assert!(app.loaded(super::app::Loaded { frame: 2, result: frame(2), elapsed: Duration::from_millis(5) }));
    assert!(matches!(app.shown, Shown::Ready(ref f) if f.number() == 2));
    assert_eq!((app.timings.last, app.timings.total), (Duration::from_millis(5), Duration::from_millis(8)));
    let failed = super::app::Loaded { frame: 2, result: Err(Some("gone".into())), elapsed: Duration::ZERO };
    assert!(app.loaded(failed));
    assert!(matches!(app.shown, Shown::Failed(ref m) if m == "gone"));
}

#[test]
fn a_file_truncated_under_the_viewer_shows_the_error_and_keeps_running() {
    let (dir, file) = copied_fixture();
    let mut h = Harness::open(&file, &settings("none"), Some(dir));
    std::fs::write(&file, b"1,1,10,10,5,5\n").unwrap();
    h.press(KeyCode::Right);
    let Shown::Failed(message) = &h.app.shown else { panic!("frame 2 cannot load: {:?}", h.app.shown) };
    assert!(!message.is_empty());
    let screen = h.screen(100, 40);
    assert!(screen.contains("frame 2: failed"), "{screen}");
    let events = events_panel(&screen);
    assert!(events.iter().any(|l| l.contains("error")), "the events panel shows the error:\n{screen}");
    // The viewer goes on: frame 1 is still resident and comes back at once.
    h.press(KeyCode::Left);
    assert!(matches!(h.app.shown, Shown::Ready(ref f) if f.number() == 1));
    h.typed("g12\n");
    assert!(matches!(h.app.shown, Shown::Failed(_)), "frame 12's rows are gone too");
    assert!(!h.app.quit);
}

#[test]
fn prefetch_errors_reach_the_events_panel() {
    let (dir, file) = copied_fixture();
    let mut h = Harness::open(&file, &settings("python"), Some(dir));
    h.ctl.live.cache().invalidate_all();
    std::fs::write(&file, b"").unwrap();
    h.press(KeyCode::Char('p'));
    h.press(KeyCode::Char('p'));
    h.press(KeyCode::Char('p'));
    h.press(KeyCode::End);
    assert!(h.app.log.iter().any(|l| l.starts_with("prefetch error")), "{:?}", h.app.log);
}

fn events_panel(screen: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines.iter().position(|l| l.contains("┌ events")).expect("an events panel");
    let col = lines[start].chars().position(|c| c == '┌').unwrap_or(0);
    lines[start + 1..]
        .iter()
        .take_while(|l| l.chars().nth(col).is_none_or(|c| c != '└'))
        .map(|l| l.chars().skip(col).collect())
        .collect()
}

#[test]
fn scripted_session_snapshots() {
    // Room for every frame: with no eviction, which frames are resident does not depend on whether a demand
    // load or a prefetch finished first.
    let mut s = settings("python");
    s.capacity = 64;
    let mut h = Harness::open(&fixture_dir().join("gt/gt.txt"), &s, None);
    insta::assert_snapshot!("start", h.screen(100, 40));
    for code in [KeyCode::Right, KeyCode::Right, KeyCode::Right, KeyCode::Char(']'), KeyCode::Left] {
        h.press(code);
    }
    assert_eq!(h.app.cursor, 8);
    insta::assert_snapshot!("five_steps", h.screen(100, 40));
    h.typed("g1");
    insta::assert_snapshot!("typing_a_jump", h.screen(100, 40));
    h.typed("1\n");
    assert_eq!(h.app.cursor, 11);
    insta::assert_snapshot!("jump", h.screen(100, 40));
    h.press(KeyCode::Char('p'));
    insta::assert_snapshot!("predictor_switch", h.screen(100, 40));
    h.typed("g13\n");
    assert!(matches!(h.app.shown, Shown::Ready(ref f) if f.is_empty()), "frame 13 has no rows");
    insta::assert_snapshot!("no_rows", h.screen(100, 40));
    h.press(KeyCode::End);
    insta::assert_snapshot!("last_frame", h.screen(100, 40));
    let tiny = h.screen(40, 12);
    let lines: Vec<&str> = tiny.lines().collect();
    assert!(lines[0].contains("frame 15 / 15"), "{tiny}");
    assert!(lines[11].contains("←/→"), "{tiny}");
    insta::assert_snapshot!("tiny", tiny);
}

#[test]
fn any_terminal_size_draws_without_panicking() {
    let mut h = Harness::fixture("python");
    h.press(KeyCode::Right);
    for (w, hgt) in [(1, 1), (2, 3), (10, 5), (40, 12), (80, 8), (20, 60), (300, 100)] {
        let screen = h.screen(w, hgt);
        assert_eq!(screen.lines().count(), hgt as usize);
    }
}

/// Counts the calls each predictor of a switch sees.
#[derive(Debug)]
struct Counting {
    name: &'static str,
    observed: Arc<Mutex<Vec<u64>>>,
    predicted: Arc<AtomicUsize>,
}

impl AccessPredictor<u64> for Counting {
    fn observe(&mut self, key: &u64) {
        self.observed.lock().unwrap().push(*key);
    }
    fn predict(&mut self, ctx: &PredictContext<'_, u64>, out: &mut Vec<(u64, f64)>) {
        self.predicted.fetch_add(1, Ordering::Relaxed);
        out.push((ctx.current + 1, 1.0));
    }
    fn name(&self) -> &str {
        self.name
    }
}

#[test]
fn a_switch_feeds_every_predictor_and_asks_the_active_one() {
    let make = |name| {
        let observed = Arc::new(Mutex::new(Vec::new()));
        let predicted = Arc::new(AtomicUsize::new(0));
        let p = Counting { name, observed: Arc::clone(&observed), predicted: Arc::clone(&predicted) };
        (Box::new(p) as Box<dyn AccessPredictor<u64>>, observed, predicted)
    };
    let (a, a_seen, a_asked) = make("a");
    let (b, b_seen, b_asked) = make("b");
    let active = Arc::new(AtomicUsize::new(0));
    let mut switch = Switch::new(vec![a, b], Arc::clone(&active));
    let mut out = Vec::new();
    let ctx = |k: &'static u64| PredictContext::new(k, std::slice::from_ref(k));
    switch.observe(&1);
    switch.predict(&ctx(&1), &mut out);
    assert_eq!(switch.name(), "a");
    active.store(1, Ordering::Relaxed);
    switch.observe(&2);
    switch.predict(&ctx(&2), &mut out);
    assert_eq!(switch.name(), "b");
    active.store(7, Ordering::Relaxed);
    assert_eq!(switch.name(), "b", "an index past the set means the last one");
    assert_eq!(*a_seen.lock().unwrap(), [1, 2]);
    assert_eq!(*b_seen.lock().unwrap(), [1, 2], "the inactive predictor learns too");
    assert_eq!((a_asked.load(Ordering::Relaxed), b_asked.load(Ordering::Relaxed)), (1, 1));
    assert_eq!(out, [(2, 1.0), (3, 1.0)]);
}
