//! Trace files and the generator.

use std::path::Path;
use std::sync::Arc;

use dpc_gen::trace::{Trace, TraceError, TraceKind, generate};

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
