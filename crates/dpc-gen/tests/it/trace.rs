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
