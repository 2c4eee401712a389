//! Trace files and the generator.

use std::path::Path;
use std::sync::Arc;

use dpc_gen::trace::{Trace, TraceError, TraceKind, generate, keys, write};

fn parse(text: &str) -> Result<Trace, TraceError> {
    Trace::parse_bytes(text.as_bytes(), Path::new("t.txt"))
}

#[test]
fn integer_lines_are_frames_anything_else_strings() {
    assert_eq!(parse("3\n 4 \r\n\n5\n").unwrap(), Trace::Frames(vec![3, 4, 5]));
    let strings = parse("3\n-1\n5\n").unwrap();
    assert_eq!(strings, Trace::Strings(vec![Arc::from("3"), Arc::from("-1"), Arc::from("5")]));
    assert!(matches!(parse("page_1\npage_2").unwrap(), Trace::Strings(k) if k.len() == 2));
}

#[test]
fn bad_files_name_the_path_and_line() {
    let err = Trace::parse_bytes(b"1\n2\n\xff\xfe\n", Path::new("bad.txt")).unwrap_err();
    assert_eq!(err.to_string(), "bad.txt:3: the line is not valid UTF-8");
    assert!(matches!(parse("\n \n"), Err(TraceError::Empty { .. })));
    let missing = Trace::load("/nonexistent/trace.txt").unwrap_err();
    assert!(missing.to_string().starts_with("/nonexistent/trace.txt: "), "{missing}");
}

#[test]
fn save_and_load_round_trip() {
    let dir = std::env::temp_dir().join(format!("dpc-gen-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for kind in [TraceKind::Playback, TraceKind::Markov] {
        let t = generate(kind, 300, 1);
        let path = dir.join(format!("{kind}.txt"));
        t.save(&path).unwrap();
        assert_eq!(Trace::load(&path).unwrap(), t);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn generation_is_deterministic_per_seed() {
    for kind in TraceKind::ALL {
        let a = generate(kind, 500, 9);
        assert_eq!(a.len(), 500);
        assert_eq!(a, generate(kind, 500, 9), "{kind}");
        if kind != TraceKind::Scan {
            assert_ne!(a, generate(kind, 500, 10), "{kind} depends on the seed");
        }
        assert_eq!(kind.name().parse::<TraceKind>().unwrap(), kind);
    }
    assert!("sideways".parse::<TraceKind>().is_err());
}

fn deltas(kind: TraceKind) -> Vec<i64> {
    let Trace::Frames(k) = generate(kind, 3000, 5) else { panic!("{kind} has frame keys") };
    k.windows(2).map(|w| w[1] as i64 - w[0] as i64).collect()
}

fn share(deltas: &[i64], d: i64) -> f64 {
    deltas.iter().filter(|&&x| x == d).count() as f64 / deltas.len() as f64
}

#[test]
fn the_kinds_have_their_shapes() {
    assert!(share(&deltas(TraceKind::Playback), 1) > 0.85);
    assert!(share(&deltas(TraceKind::Backward), -1) > 0.85);
    assert_eq!(share(&deltas(TraceKind::Scan), 1), 1.0);
    let annotate = deltas(TraceKind::Annotate);
    assert!(share(&annotate, -1) > 0.08 && share(&annotate, 0) > 0.04 && share(&annotate, 10) > 0.03);
    let jumps = deltas(TraceKind::Jumps);
    assert!(share(&jumps, 120) > 0.005 && share(&jumps, 60) > 0.005 && share(&jumps, 30) == 0.0);
    // Two cursors: consecutive requests are often not adjacent, but almost every request is one past a
    // recent one (its cursor's previous position).
    let Trace::Frames(k) = generate(TraceKind::Interleaved, 3000, 5) else { panic!() };
    let adjacent = k.windows(2).filter(|w| w[1] == w[0] + 1).count();
    let recent = k.windows(6).filter(|w| w[..5].iter().any(|&x| x + 1 == w[5])).count();
    assert!(adjacent < 1800 && recent > 2700, "adjacent {adjacent}, one past a recent key {recent}");
    let Trace::Strings(pages) = generate(TraceKind::Markov, 3000, 5) else { panic!() };
    assert!(pages.iter().all(|p| p.starts_with("page_")));
}

#[test]
fn the_committed_generalisation_traces_match_the_generator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/traces");
    for kind in [TraceKind::Backward, TraceKind::Interleaved, TraceKind::Jumps] {
        let committed = Trace::load(dir.join(format!("{kind}.txt"))).unwrap();
        assert_eq!(committed, generate(kind, 3000, 42), "regenerate with: dpc gen trace {kind} -n 3000 --seed 42");
    }
}

mod params {
    use dpc_gen::trace::{Family, ParamError, Trace, TraceKind, TraceParams, generate, generate_with};

    fn frames(kind: TraceKind, n: usize, seed: u64, p: &TraceParams) -> Vec<u64> {
        match generate_with(kind, n, seed, p).unwrap() {
            Trace::Frames(k) => k,
            Trace::Strings(_) => panic!("{kind} has frame keys"),
        }
    }

    /// The steps between requests, on the circle of frames.
    fn deltas(k: &[u64]) -> Vec<i64> {
        let n = dpc_gen::trace::FRAMES as i64;
        k.windows(2)
            .map(|w| {
                let d = (w[1] as i64 - w[0] as i64).rem_euclid(n);
                if d > n / 2 { d - n } else { d }
            })
            .collect()
    }

    #[test]
    fn no_parameters_is_the_plain_generator_byte_for_byte() {
        for kind in TraceKind::ALL {
            assert_eq!(generate_with(kind, 700, 3, &TraceParams::new()).unwrap(), generate(kind, 700, 3), "{kind}");
        }
        // The kind's own values given explicitly change nothing either.
        let explicit = TraceParams::new().jumps([-15, -5, -1, 5, 15, 30]).jump_rate(0.084).seek_rate(0.016);
        assert_eq!(
            generate_with(TraceKind::Playback, 700, 3, &explicit).unwrap(),
            generate(TraceKind::Playback, 700, 3)
        );
        assert_eq!(
            generate_with(TraceKind::Interleaved, 700, 3, &TraceParams::new().cursors(2)).unwrap(),
            generate(TraceKind::Interleaved, 700, 3)
        );
    }

    #[test]
    fn parameters_are_respected() {
        let jumps = [-40, 7, 90];
        let p = TraceParams::new().jumps(jumps).jump_rate(0.2).seek_rate(0.0);
        let d = deltas(&frames(TraceKind::Playback, 4000, 1, &p));
        assert!(d.iter().all(|x| *x == 1 || jumps.contains(x)), "only the step and the jump set");
        let jumped = d.iter().filter(|&&x| x != 1).count() as f64 / d.len() as f64;
        assert!((0.17..0.23).contains(&jumped), "jump rate 0.2, measured {jumped}");
        let seeks = TraceParams::new().jump_rate(0.0).seek_rate(0.1);
        let d = deltas(&frames(TraceKind::Backward, 4000, 1, &seeks));
        let far = d.iter().filter(|&&x| x != -1).count() as f64 / d.len() as f64;
        assert!((0.08..0.12).contains(&far), "seek rate 0.1, measured {far}");

        let d = deltas(&frames(TraceKind::Annotate, 4000, 2, &TraceParams::new().jumps([25]).seek_rate(0.0)));
        assert!(d.iter().all(|x| [1, -1, 0, 25].contains(x)), "annotation steps and the jump set only");
        assert!(d.contains(&25) && d.contains(&0) && d.contains(&-1));
    }

    #[test]
    fn cursors_speeds_and_scrub_steps() {
        // Four cursors: every request but the first four is one past a cursor's previous position.
        let k = frames(TraceKind::Interleaved, 3000, 4, &TraceParams::new().cursors(4).jump_rate(0.0).seek_rate(0.0));
        let mut cursors: Vec<u64> = k[..4].to_vec();
        for &x in &k[4..] {
            let c = cursors.iter().position(|&c| c + 1 == x).expect("one past a cursor");
            cursors[c] = x;
        }
        let one = frames(TraceKind::Interleaved, 500, 4, &TraceParams::new().cursors(1).jump_rate(0.0).seek_rate(0.0));
        assert!(deltas(&one).iter().all(|&d| d == 1));

        let p = TraceParams::new().speeds([2, 4]).jump_rate(0.0).seek_rate(0.0);
        let d = deltas(&frames(TraceKind::FastForward, 4000, 5, &p));
        assert!(d.iter().all(|x| [2, 4].contains(x)));
        let changes = d.windows(2).filter(|w| w[0] != w[1]).count();
        assert!((40..130).contains(&changes), "speed changes about 2 % of requests: {changes}");
        let d = deltas(&frames(TraceKind::FastForward, 4000, 5, &TraceParams::new()));
        for speed in [1, 2, 4] {
            assert!(d.iter().filter(|&&x| x == speed).count() > 400, "default speeds 1, 2, 4: {speed}");
        }

        let p = TraceParams::new().scrub_steps([50, 130]).seek_rate(0.0);
        let d = deltas(&frames(TraceKind::Scrub, 6000, 6, &p));
        assert!(d.iter().all(|&x| [50, 130, -50, -130, 1, 2, 3, -1, -2, -3].contains(&x)), "{d:?}");
        // A run of big steps goes one way and is followed by a fine search.
        let runs = d.windows(2).filter(|w| w[0].abs() >= 50 && w[1].abs() >= 50).count();
        assert!(runs > 100, "big steps come in runs: {runs}");
        assert!(d.windows(2).all(|w| !(w[0].abs() >= 50 && w[1].abs() >= 50) || w[0].signum() == w[1].signum()));
        let after = d.windows(2).filter(|w| w[0].abs() >= 50 && w[1].abs() < 50).all(|w| w[1].abs() <= 3);
        assert!(after, "a fine search follows the big steps");
    }

    #[test]
    fn new_kinds_and_families_are_deterministic_per_seed() {
        for kind in [TraceKind::FastForward, TraceKind::Scrub] {
            let a = generate(kind, 800, 1);
            assert_eq!(a, generate(kind, 800, 1));
            assert_ne!(a, generate(kind, 800, 2));
        }
        for family in Family::ALL {
            assert_eq!(family.member(7), family.member(7), "{family}");
            assert_eq!(family.generate(600, 7), family.generate(600, 7), "{family}");
            assert_ne!(family.generate(600, 7), family.generate(600, 8), "{family}");
            assert_eq!(family.generate(600, 7).len(), 600);
        }
        // Members differ in their parameters, not only in their randomness.
        let sets: std::collections::HashSet<Vec<i64>> =
            (0..10).map(|s| Family::Seeks.member(s).1.jumps.unwrap()).collect();
        assert!(sets.len() >= 9, "jump sets per seed: {sets:?}");
        assert!((0..20).map(|s| Family::Cursors.member(s).1.cursors.unwrap()).any(|c| c == 4));
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        let check = |kind, p: TraceParams, want: ParamError, msg: &str| {
            let err = generate_with(kind, 10, 0, &p).unwrap_err();
            assert_eq!(err, want);
            assert_eq!(err.to_string(), msg);
        };
        check(
            TraceKind::Playback,
            TraceParams::new().cursors(3),
            ParamError::NotFor { kind: TraceKind::Playback, param: "cursors" },
            "trace kind playback does not use the parameter cursors",
        );
        check(
            TraceKind::Scan,
            TraceParams::new().seek_rate(0.1),
            ParamError::NotFor { kind: TraceKind::Scan, param: "seek_rate" },
            "trace kind scan does not use the parameter seek_rate",
        );
        check(
            TraceKind::Playback,
            TraceParams::new().jump_rate(1.5),
            ParamError::Rate { param: "jump_rate", value: 1.5 },
            "jump_rate must be in [0, 1], got 1.5",
        );
        check(
            TraceKind::Playback,
            TraceParams::new().jump_rate(0.6).seek_rate(0.5),
            ParamError::Rate { param: "jump_rate + seek_rate", value: 1.1 },
            "jump_rate + seek_rate must be in [0, 1], got 1.1",
        );
        check(
            TraceKind::FastForward,
            TraceParams::new().speeds([2, 0]),
            ParamError::ZeroStep { param: "speeds" },
            "speeds must not contain 0",
        );
        check(
            TraceKind::Playback,
            TraceParams::new().jumps(Vec::new()),
            ParamError::Empty { param: "jumps" },
            "jumps must not be empty",
        );
        check(
            TraceKind::Scrub,
            TraceParams::new().scrub_steps([100_000]),
            ParamError::TooFar { param: "scrub_steps", value: 100_000 },
            "scrub_steps: a step of 100000 is larger than the 100000 frames",
        );
        check(
            TraceKind::Interleaved,
            TraceParams::new().cursors(0),
            ParamError::Cursors { value: 0 },
            "cursors must be 1 to 64, got 0",
        );
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The digests of `generate(kind, 20000, 3).to_text()` as the collecting generators wrote them before the
/// generators became streams: the streaming form must not change a byte.
const PINNED: [(TraceKind, u64); 8] = [
    (TraceKind::Playback, 10469569275865089993),
    (TraceKind::Annotate, 13429633442567248452),
    (TraceKind::Scan, 11337411481061869509),
    (TraceKind::Markov, 18179495440871607238),
    (TraceKind::Random, 14816525416769933915),
    (TraceKind::Backward, 7773460865853993791),
    (TraceKind::Interleaved, 3006139523806103321),
    (TraceKind::Jumps, 4405292403843518620),
];

#[test]
fn streaming_generation_writes_the_pinned_bytes() {
    for (kind, digest) in PINNED {
        let text = generate(kind, 20_000, 3).to_text();
        assert_eq!(fnv(text.as_bytes()), digest, "{kind}: generate changed");
        let mut streamed = Vec::new();
        assert_eq!(write(kind, 20_000, 3, &mut streamed).unwrap(), 20_000);
        assert_eq!(streamed, text.as_bytes(), "{kind}: write differs from generate");
        // A prefix of the stream is the shorter trace.
        let mut short = Vec::new();
        write(kind, 7, 3, &mut short).unwrap();
        assert_eq!(short, generate(kind, 7, 3).to_text().as_bytes(), "{kind}");
        assert_eq!(keys(kind, 3).take(5).count(), 5);
    }
}

/// A writer that accepts `limit` bytes and then fails, counting what it was given.
struct Full {
    taken: u64,
    limit: u64,
}

impl std::io::Write for Full {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.taken >= self.limit {
            return Err(std::io::Error::other("full"));
        }
        self.taken += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn writing_a_huge_trace_streams_and_stops_at_the_first_write_error() {
    // `n` = u64::MAX would take centuries to write; it must start at once, in constant memory, and stop
    // at the writer's first error (before, it allocated `n` keys first and aborted).
    for kind in TraceKind::ALL {
        let mut out = Full { taken: 0, limit: 1 << 20 };
        if matches!(kind, TraceKind::FastForward | TraceKind::Scrub) {
            // These plan their runs ahead, so they are generated in memory: a length past that is refused.
            let err = write(kind, u64::MAX, 1, &mut out).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{kind}: {err}");
            assert_eq!(out.taken, 0);
            continue;
        }
        let err = write(kind, u64::MAX, 1, &mut out).unwrap_err();
        assert_eq!(err.to_string(), "full");
        assert!(out.taken >= 1 << 20 && out.taken < 2 << 20, "{kind}: {} bytes", out.taken);
    }
}

#[test]
fn loading_reads_a_fifo_once_and_refuses_endless_lines() {
    let dir = std::env::temp_dir().join(format!("dpc-gen-trace-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("trace.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, "4\n5\n4\n").unwrap())
    };
    assert_eq!(Trace::load(&fifo).unwrap(), Trace::Frames(vec![4, 5, 4]));
    writer.join().unwrap();

    // Before, `/dev/zero` was read into memory until the allocation failed.
    match Trace::load("/dev/zero") {
        Err(TraceError::LineTooLong { line: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    let long = dir.join("long.txt");
    std::fs::write(&long, format!("1\n{}\n", "x".repeat(dpc_gen::trace::MAX_LINE + 1))).unwrap();
    let err = Trace::load(&long).unwrap_err();
    assert!(matches!(err, TraceError::LineTooLong { line: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("long.txt:2"), "{err}");
    std::fs::write(&long, format!("{}\n", "x".repeat(dpc_gen::trace::MAX_LINE))).unwrap();
    assert!(Trace::load(&long).is_ok(), "a line of exactly MAX_LINE bytes is fine");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn jump_models_name_the_sets_the_walks_draw_from() {
    use dpc_gen::trace::{JumpModel, TraceParams, generate_with, jump_model};
    let playback = jump_model(TraceKind::Playback, &TraceParams::new()).unwrap();
    assert_eq!(playback, JumpModel { jumps: vec![-15, -5, -1, 5, 15, 30], steps: vec![1], rate: 0.084 });
    let p = TraceParams::new().jumps(vec![-40, 7]).jump_rate(0.2);
    let backward = jump_model(TraceKind::Backward, &p).unwrap();
    assert_eq!((backward.jumps, backward.steps, backward.rate), (vec![-40, 7], vec![-1], 0.2));
    assert_eq!(jump_model(TraceKind::Annotate, &TraceParams::new()).unwrap().steps, [1, -1, 0]);
    let ff = jump_model(TraceKind::FastForward, &TraceParams::new().speeds(vec![2, 4])).unwrap();
    assert_eq!(ff.steps, [2, 4]);
    // Every jump of a generated walk is a step of its model, a jump of its model, or a seek.
    let Trace::Frames(keys) = generate_with(TraceKind::Backward, 3000, 5, &p).unwrap() else { panic!("frames") };
    let odd = keys.windows(2).filter(|w| {
        let d = w[1] as i64 - w[0] as i64;
        !(d == -1 || d == -40 || d == 7 || d.abs() > 1000)
    });
    assert!(odd.count() <= 3, "only wrap-arounds at the ends of the frame range");
    for kind in [TraceKind::Scan, TraceKind::Random, TraceKind::Markov, TraceKind::Interleaved, TraceKind::Scrub] {
        assert_eq!(jump_model(kind, &TraceParams::new()), None, "{kind}");
    }
}
