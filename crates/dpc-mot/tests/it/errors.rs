//! Each kind of bad line: an error with the right line number, byte offset and text in strict mode,
//! a diagnostic and a skipped line in lenient mode, through the parser and through the provider.

use dpc_mot::{LineError, LineErrorKind, Mode, MotError, MotProvider};

use crate::{fixture, temp_file};

const GOOD: &str = "1,1,10,20,30,40";

fn cases() -> Vec<(&'static str, LineErrorKind)> {
    use LineErrorKind::*;
    vec![
        ("1,2,10,20,30", TooFewColumns { found: 5 }),
        ("1", TooFewColumns { found: 1 }),
        ("1,4,10,20,30,40,1,1,1,1,1", TooManyColumns { found: 11 }),
        ("1,5,10,,30,40", EmptyField { column: 4 }),
        (",2,11,10,20,30,40", EmptyField { column: 1 }),
        ("1,5,10,20,30,40,", EmptyField { column: 7 }),
        ("1,6,10,abc,30,40", InvalidNumber { column: 4 }),
        ("x,1,10,20,30,40", InvalidNumber { column: 1 }),
        ("1,11,10,20,30,40,nan", InvalidNumber { column: 7 }),
        ("1,10,10 20,30,40,1", InvalidNumber { column: 3 }),
        ("1.5,7,10,20,30,40", NotAnInteger { column: 1 }),
        ("1,7.25,10,20,30,40", NotAnInteger { column: 2 }),
        ("1,9,10,20,30,40,1,2.5,1", NotAnInteger { column: 8 }),
        ("1,99999999999999999999,10,20,30,40", IntegerOverflow { column: 2 }),
        ("-2,8,10,20,30,40", NegativeFrame),
    ]
}

/// `bad` on line 3 of a small file (line 2 is blank), with `eol` line endings.
fn check(bad: &str, kind: LineErrorKind, eol: &str) {
    let text = format!("{GOOD}{eol}{eol}{bad}{eol}{GOOD}{eol}");
    let offset = (GOOD.len() + 2 * eol.len()) as u64;
    let expected = LineError { line: 3, offset, text: bad.to_string(), kind };

    // Parser, strict and lenient.
    let err = dpc_mot::parse(text.as_bytes(), Mode::Strict).unwrap_err();
    assert_eq!(err, expected, "{bad:?}");
    let lenient = dpc_mot::parse(text.as_bytes(), Mode::Lenient).unwrap();
    assert_eq!(lenient.detections.len(), 2, "{bad:?}");
    assert_eq!(lenient.diagnostics, vec![expected.clone()]);

    // Provider, strict: the index rejects a bad frame column at open, a load rejects the rest.
    let (_dir, path) = temp_file(text.as_bytes());
    let strict_error = match MotProvider::open(&path) {
        Err(MotError::Line { error, path: p }) => {
            assert_eq!(p, path);
            error
        }
        Err(other) => panic!("{bad:?}: {other}"),
        Ok(p) => match p.load_frame(1) {
            Err(MotError::Line { error, .. }) => error,
            other => panic!("{bad:?}: loading frame 1 gave {other:?}"),
        },
    };
    assert_eq!(strict_error, expected, "{bad:?}");

    // Provider, lenient: every frame loads, the bad line is skipped and reported once.
    let p = MotProvider::builder(&path).mode(Mode::Lenient).build().unwrap();
    let (first, last) = p.range().unwrap();
    let rows: usize = (first..=last).map(|f| p.load_frame(f).unwrap().len()).sum();
    let _ = p.load_frame(1).unwrap();
    assert_eq!(rows, 2, "{bad:?}");
    assert_eq!(p.diagnostics(), vec![expected], "{bad:?}");
    assert_eq!(p.stats().bad_lines, 1);
}

#[test]
fn every_kind_of_bad_line_with_lf() {
    for (bad, kind) in cases() {
        check(bad, kind, "\n");
    }
}

#[test]
fn every_kind_of_bad_line_with_crlf() {
    for (bad, kind) in cases() {
        check(bad, kind, "\r\n");
    }
}

#[test]
fn errors_name_the_file_line_offset_and_text() {
    let (_dir, path) = temp_file(b"1,1,1,1,1,1\n1,2,3\n");
    let p = MotProvider::open(&path).unwrap();
    let msg = p.load_frame(1).unwrap_err().to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("line 2 (byte 12)"), "{msg}");
    assert!(msg.contains("\"1,2,3\""), "{msg}");
    assert!(msg.contains("at least 6"), "{msg}");
}

#[test]
fn the_bad_lines_fixture_in_both_modes() {
    let path = fixture("bad_lines.txt");
    // Strict: the frame-column errors are found at open, first one wins (line 7, "1.5,...").
    match MotProvider::open(&path) {
        Err(MotError::Line { error, .. }) => {
            assert_eq!((error.line, error.kind), (7, LineErrorKind::NotAnInteger { column: 1 }))
        }
        other => panic!("{other:?}"),
    }
    // Lenient: 4 good rows survive; 12 diagnostics in file order.
    let p = MotProvider::builder(&path).mode(Mode::Lenient).build().unwrap();
    let (first, last) = p.range().unwrap();
    let rows: usize = (first..=last).map(|f| p.load_frame(f).unwrap().len()).sum();
    assert_eq!(rows, 4);
    let lines: Vec<u64> = p.diagnostics().iter().map(|d| d.line).collect();
    assert_eq!(lines, vec![2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]);
}

#[test]
fn a_malformed_seqinfo_is_an_error_in_strict_mode_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gt.txt");
    std::fs::write(&path, "1,1,1,1,1,1\n").unwrap();
    std::fs::write(dir.path().join("seqinfo.ini"), "[Sequence]\nseqLength=ten\n").unwrap();
    match MotProvider::open(&path) {
        Err(MotError::SeqInfo { error, .. }) => assert_eq!(error.line, 2),
        other => panic!("{other:?}"),
    }
    let p = MotProvider::builder(&path).mode(Mode::Lenient).build().unwrap();
    assert_eq!(p.seqinfo_error().unwrap().1.line, 2);
    assert_eq!(p.range(), Some((1, 1)));
}

#[test]
fn a_file_changed_after_indexing_is_reported_not_misread() {
    let (_dir, path) = temp_file(b"1,1,1,1,1,1\n2,1,1,1,1,1\n");
    let p = MotProvider::builder(&path).cache_frames(0).build().unwrap();
    std::fs::write(&path, b"7,1,1,1,1,1\n2,1,1,1,1,1\n").unwrap();
    assert!(matches!(p.load_frame(1), Err(MotError::Changed { frame: 1, .. })));
    std::fs::write(&path, b"1,1\n").unwrap();
    assert!(matches!(p.load_frame(2), Err(MotError::Changed { frame: 2, .. })));
}

// Issue 15: truncating a file under the provider gave "failed to fill whole buffer", and overwriting it gave
// a bad-line error, where the documented answer is `Changed`.
#[test]
fn a_truncated_file_is_changed_not_an_io_error() {
    let (_dir, path) = temp_file(b"1,1,1,1,1,1\n2,1,1,1,1,1\n3,1,1,1,1,1\n");
    let p = MotProvider::builder(&path).cache_frames(0).build().unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(12).unwrap();
    assert_eq!(p.load_frame(1).unwrap().len(), 1);
    match p.load_frame(3) {
        Err(e @ MotError::Changed { frame: 3, offset: 24, .. }) => {
            assert!(e.to_string().contains("the file changed; reopen it"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_overwritten_file_is_changed_not_a_bad_line() {
    let (_dir, path) = temp_file(b"1,1,1,1,1,1\n2,1,1,1,1,1\n");
    for cache_frames in [0, 100] {
        let p = MotProvider::builder(&path).cache_frames(cache_frames).build().unwrap();
        // Same length, and frame 2's bytes now hold a line that is not a MOT row at all.
        std::fs::write(&path, b"1,1,1,1,1,1\nxx,yy,zz,1\n").unwrap();
        assert!(matches!(p.load_frame(2), Err(MotError::Changed { frame: 2, .. })), "{:?}", p.load_frame(2));
        std::fs::write(&path, b"1,1,1,1,1,1\n2,1,1,1,1,1\n").unwrap();
    }
}

#[test]
fn a_fifo_or_directory_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    match MotProvider::open(dir.path()) {
        Err(MotError::Source { source: dpc_io::IoError::NotRegularFile { kind: "directory", .. }, .. }) => {}
        other => panic!("{other:?}"),
    }
    #[cfg(unix)]
    {
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        // Before the fix this blocked forever in open(2), waiting for a writer.
        match MotProvider::open(&fifo) {
            Err(e @ MotError::Source { source: dpc_io::IoError::NotRegularFile { kind: "FIFO", .. }, .. }) => {
                assert!(e.to_string().contains("not a regular file"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn many_bad_lines_are_counted_once_and_the_first_thousand_kept() {
    let mut text = String::new();
    for f in 1..=30 {
        text.push_str(&format!("{f},1,1,1,1,1\n"));
        for k in 0..50 {
            text.push_str(&format!("{f},{k},1,1,x,1\n"));
        }
    }
    let (_dir, path) = temp_file(text.as_bytes());
    let p = MotProvider::builder(&path).mode(Mode::Lenient).cache_frames(0).build().unwrap();
    for _ in 0..2 {
        for f in 1..=30 {
            assert_eq!(p.load_frame(f).unwrap().len(), 1);
        }
    }
    assert_eq!(p.stats().bad_lines, 1500);
    let kept = p.diagnostics();
    assert_eq!(kept.len(), 1000);
    assert!(kept.windows(2).all(|w| w[0].offset < w[1].offset));
    assert!(kept.iter().all(|d| d.kind == LineErrorKind::InvalidNumber { column: 5 }));
}

#[test]
fn validation_at_open_finds_the_first_bad_line_of_the_file() {
    // Line 3 has a bad box column (found only by a load without validation); line 5 a bad frame column.
    let text = "1,1,1,1,1,1\n1,2,1,1,1,1\n2,1,1,x,1,1\n2,2,1,1,1,1\nq,1,1,1,1,1\n3,1,1,1,1,1\n";
    let (_dir, path) = temp_file(text.as_bytes());
    match MotProvider::open(&path) {
        Err(MotError::Line { error, .. }) => assert_eq!(error.line, 5),
        other => panic!("{other:?}"),
    }
    match MotProvider::builder(&path).validate(true).build() {
        Err(MotError::Line { error, .. }) => {
            assert_eq!((error.line, error.kind), (3, LineErrorKind::InvalidNumber { column: 4 }))
        }
        other => panic!("{other:?}"),
    }
    let p = MotProvider::builder(&path).mode(Mode::Lenient).validate(true).build().unwrap();
    let lines: Vec<u64> = p.diagnostics().iter().map(|d| d.line).collect();
    assert_eq!(lines, vec![3, 5]);
    assert_eq!(p.stats().bad_lines, 2);
    for f in 1..=3 {
        p.load_frame(f).unwrap();
    }
    assert_eq!(p.stats().bad_lines, 2, "loads do not count validated lines again");
    assert_eq!(p.load_frame(2).unwrap().len(), 1);
}
