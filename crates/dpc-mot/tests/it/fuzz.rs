//! Fuzzing the parser with mangled lines: never a panic, never a row silently lost,
//! and the index agrees with the full parser on every line. Crashers found are kept in `fixtures/mot/crashers/`.

use dpc_mot::{FrameIndex, Mode, frame_of, parse, parse_line};
use proptest::prelude::*;

use crate::fixture;

/// Mutations of a valid line: byte flips, insertions of separators and odd characters, deletions, truncations.
fn mangled_line() -> impl Strategy<Value = Vec<u8>> {
    let base = prop_oneof![
        Just(b"1,2,10.5,20,30,40,0.9,1,0.75".to_vec()),
        Just(b"12 3 1 2 3 4".to_vec()),
        Just(b"7, -1, 1.25, 2.5, 30, 40, 1, -1, -1, -1\r".to_vec()),
        Just(b"3.0,4.0,1e2,2E-1,+3,.5".to_vec()),
    ];
    let edits = proptest::collection::vec(
        (
            0usize..64,
            prop_oneof![
                Just(b','),
                Just(b' '),
                Just(b'\t'),
                Just(b'\r'),
                Just(b'.'),
                Just(b'-'),
                Just(b'e'),
                Just(b'9'),
                Just(0xEF),
                Just(0xFF),
                Just(b'n'),
                any::<u8>()
            ],
            0u8..3,
        ),
        0..6,
    );
    (base, edits).prop_map(|(mut line, edits)| {
        for (pos, byte, op) in edits {
            let pos = pos % (line.len() + 1);
            match op {
                0 => line.insert(pos, byte),
                1 if pos < line.len() => line[pos] = byte,
                _ if pos < line.len() => {
                    line.remove(pos);
                }
                _ => line.truncate(pos),
            }
        }
        line.retain(|&b| b != b'\n');
        line
    })
}

/// Lines built from number-like tokens near the fast paths' limits: 0 to 9 digits, a sign, a point anywhere,
/// joined by one of the separators (or a wrong one), with an optional stray byte and any line ending.
fn tokenized_line() -> impl Strategy<Value = Vec<u8>> {
    let token = (any::<bool>(), 0usize..10, proptest::option::of(0usize..10), 0u64..1_000_000_000).prop_map(
        |(neg, digits, point, seed)| {
            let mut t = String::new();
            if neg {
                t.push('-');
            }
            let body: String = format!("{seed:09}").chars().take(digits).collect();
            match point {
                Some(at) if at <= body.len() => t.push_str(&format!("{}.{}", &body[..at], &body[at..])),
                _ => t.push_str(&body),
            }
            t
        },
    );
    let sep = prop_oneof![Just(","), Just(" "), Just("\t"), Just(", "), Just(",,")];
    let stray =
        proptest::option::of((0usize..80, prop_oneof![Just(b'e'), Just(b'+'), Just(0u8), Just(0xC3), any::<u8>()]));
    let ending = prop_oneof![Just("\n"), Just("\r\n"), Just("\r\r\n"), Just(" \n")];
    (proptest::collection::vec(token, 4..12), sep, stray, ending).prop_map(|(tokens, sep, stray, ending)| {
        let mut line = tokens.join(sep).into_bytes();
        if let Some((at, byte)) = stray {
            let at = at.min(line.len());
            line.insert(at, byte);
        }
        line.retain(|&b| b != b'\n');
        line.extend_from_slice(ending.as_bytes());
        line
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Differential: the buffer parser (fast paths included, which read past a line's end and pad the last
    /// ones) against the one-line parser, bit for bit, on lines of number-like tokens.
    #[test]
    fn buffer_and_line_parsers_agree_on_tokenized_lines(lines in proptest::collection::vec(tokenized_line(), 1..8)) {
        let bytes = lines.concat();
        let parsed = parse(&bytes, Mode::Lenient).unwrap();
        let mut want = Vec::new();
        let mut bad = 0;
        for l in &lines {
            let content = l.strip_suffix(b"\n").unwrap_or(l);
            match parse_line(content) {
                Ok(d) => want.push(d),
                Err(_) if dpc_mot::is_blank(content) => {}
                Err(_) => bad += 1,
            }
        }
        let bits = |ds: &[dpc_mot::Detection]| -> Vec<_> {
            ds.iter().map(|d| (d.frame, d.id, d.class, [d.left, d.top, d.width, d.height, d.conf, d.visibility, d.x, d.y, d.z].map(f64::to_bits))).collect()
        };
        prop_assert_eq!(bits(&parsed.detections), bits(&want));
        prop_assert_eq!(parsed.diagnostics.len(), bad);
    }

    #[test]
    fn mangled_lines_never_panic_and_the_index_agrees(line in mangled_line()) {
        let full = parse_line(&line);
        let quick = frame_of(&line);
        match (&full, &quick) {
            (Ok(d), Ok(Some(f))) => prop_assert_eq!(d.frame, *f),
            (Ok(_), other) => prop_assert!(false, "parse_line accepted what frame_of rejected: {:?}", other),
            (Err(_), Ok(None)) => prop_assert!(dpc_mot::is_blank(&line)),
            _ => {}
        }
        if let Ok(d) = full {
            for v in [d.left, d.top, d.width, d.height, d.conf, d.visibility, d.x, d.y, d.z] {
                prop_assert!(v.is_finite());
            }
        }
    }

    #[test]
    fn mangled_files_lose_no_row_silently(lines in proptest::collection::vec(mangled_line(), 1..20)) {
        let mut bytes = Vec::new();
        for l in &lines {
            bytes.extend_from_slice(l);
            bytes.push(b'\n');
        }
        let lenient = parse(&bytes, Mode::Lenient).unwrap();
        let accounted = lenient.detections.len() as u64 + lenient.diagnostics.len() as u64 + lenient.blank_lines;
        prop_assert_eq!(accounted, lines.len() as u64);
        // The buffer parser (with its fast paths, which look past a line's end) reads each line as the
        // one-line parser does, bit for bit.
        let one_by_one: Vec<_> = lines.iter().filter_map(|l| parse_line(l).ok()).collect();
        prop_assert_eq!(format!("{:?}", lenient.detections), format!("{one_by_one:?}"));
        match parse(&bytes, Mode::Strict) {
            Ok(p) => prop_assert!(lenient.diagnostics.is_empty() && p.detections == lenient.detections),
            Err(e) => prop_assert_eq!(&e, &lenient.diagnostics[0]),
        }
        // The streaming parse sees the same rows and bad lines, however the reads split the stream.
        for piece in [bytes.len().max(1), 1, 2, 7, 61] {
            let mut streamed = Vec::new();
            let reader = Pieces { bytes: &bytes, piece };
            let scanned = dpc_mot::scan(reader, Mode::Lenient, |d| streamed.push(*d)).unwrap();
            prop_assert_eq!(&streamed, &lenient.detections);
            prop_assert_eq!(&scanned.diagnostics, &lenient.diagnostics);
            prop_assert_eq!(scanned.blank_lines, lenient.blank_lines);
            prop_assert_eq!(scanned.lines, lenient.lines);
            // So does the index.
            let pieced = FrameIndex::build(Pieces { bytes: &bytes, piece }, Mode::Lenient).unwrap();
            let whole = FrameIndex::from_bytes(&bytes, Mode::Lenient).unwrap();
            prop_assert_eq!(pieced.all_runs(), whole.all_runs());
            prop_assert_eq!(pieced.diagnostics(), whole.diagnostics());
        }
        // The index never panics and counts every non-blank line as a row or a bad line.
        let index = FrameIndex::from_bytes(&bytes, Mode::Lenient).unwrap();
        let s = index.summary();
        prop_assert_eq!(s.rows + s.bad_lines + s.blank_lines, lines.len() as u64);
    }
}

/// A reader that hands out at most `piece` bytes per read.
struct Pieces<'a> {
    bytes: &'a [u8],
    piece: usize,
}

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.piece.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// A stream of several MiB, so that the streaming parse crosses its 1 MiB block boundaries inside lines,
/// between `\r` and `\n`, and after a byte-order mark; and one line of the longest length accepted.
#[test]
fn scan_across_blocks_matches_the_buffer_parser() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    let (mut k, mut bad) = (0u64, 1u64);
    while bytes.len() < 3 << 20 {
        k += 1;
        let line = match k % 5 {
            0 => format!("{},{},{}.{:02},-{}.5,30,40,0.9,1,0.75\r\n", k / 7, k % 97, k % 1913, k % 100, k % 50),
            1 => format!("{} {} 1 2 3 4\n", k / 7, k % 13),
            2 => "\n".to_string(),
            3 => format!("{},-1,{}.123456789012,1,1,1,1,-1,-1,-1\n", k / 7, k),
            _ => {
                bad += 1;
                format!("{},{},bad,1,1,1\n", k / 7, k % 11)
            }
        };
        bytes.extend_from_slice(line.as_bytes());
        if k == 20_000 {
            // The longest line accepted (MAX_LINE_BYTES), bad for its frame number: one bad line.
            bytes.extend(std::iter::repeat_n(b'7', dpc_mot::MAX_LINE_BYTES - 10));
            bytes.extend_from_slice(b",1,1,1,1,1\n");
        }
    }
    let whole = parse(&bytes, Mode::Lenient).unwrap();
    let mut streamed = Vec::new();
    let scanned = dpc_mot::scan(&bytes[..], Mode::Lenient, |d| streamed.push(*d)).unwrap();
    assert!(scanned.bom);
    assert_eq!(streamed, whole.detections);
    assert_eq!((scanned.lines, scanned.blank_lines, scanned.columns), (whole.lines, whole.blank_lines, whole.columns));
    assert_eq!((scanned.bad_lines, whole.diagnostics.len() as u64), (bad, bad));
    assert_eq!(scanned.diagnostics[..], whole.diagnostics[..1000]);
}

/// Inputs at the edges of every parser path (kept in `fixtures/mot/crashers/*.in`, with any crasher found later):
/// each parses without a panic, every line is a row, a bad line or blank, strict mode stops at the first bad line,
/// the streaming parse agrees with the full parse row for row, and the index finds every row the full parse does.
#[test]
fn crashers_stay_fixed() {
    let dir = fixture("crashers");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "the crashers are missing from {}: {paths:?}", dir.display());
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.display();
        let lenient = parse(&bytes, Mode::Lenient).unwrap();
        let accounted = lenient.detections.len() as u64 + lenient.diagnostics.len() as u64 + lenient.blank_lines;
        assert_eq!(accounted, lenient.lines, "{name}: every line is a row, a bad line or blank");
        match parse(&bytes, Mode::Strict) {
            Ok(strict) => {
                assert!(lenient.diagnostics.is_empty(), "{name}");
                assert_eq!(strict.detections, lenient.detections, "{name}");
            }
            Err(e) => assert_eq!(e, lenient.diagnostics[0], "{name}: strict mode stops at the first bad line"),
        }
        let mut streamed = Vec::new();
        let scanned = dpc_mot::scan(&bytes[..], Mode::Lenient, |d| streamed.push(*d)).unwrap();
        assert_eq!(streamed, lenient.detections, "{name}");
        assert_eq!(scanned.diagnostics, lenient.diagnostics, "{name}");
        // The index reads only the frame column, so a line it counts as a row may still be bad for the full parse
        // (which reports it when the frame is loaded), never the reverse.
        let index = FrameIndex::from_bytes(&bytes, Mode::Lenient).unwrap();
        let s = index.summary();
        assert_eq!(s.rows + s.bad_lines + s.blank_lines, lenient.lines, "{name}");
        assert_eq!(s.blank_lines, lenient.blank_lines, "{name}");
        assert!(s.rows >= lenient.detections.len() as u64, "{name}: {s:?}");
        let mut per_frame = std::collections::BTreeMap::<u64, u64>::new();
        for d in &lenient.detections {
            *per_frame.entry(d.frame).or_default() += 1;
        }
        for (frame, rows) in per_frame {
            assert!(
                index.rows(frame) >= rows,
                "{name}: frame {frame} has {rows} rows, the index {}",
                index.rows(frame)
            );
        }
    }
}
