//! Every committed fixture, parsed through the index and the provider, as an insta snapshot;
//! and every variant of the same sequence gives the same frames.

use std::collections::BTreeMap;
use std::path::Path;

use dpc_mot::{Detection, LineError, Mode, MotProvider, SeqInfo};
use serde::Serialize;

use crate::{fixture, frames_of, reference};

#[derive(Serialize)]
struct View {
    range: Option<(u64, u64)>,
    total_frames: u64,
    rows: u64,
    sorted: bool,
    bom: bool,
    crlf: bool,
    runs: u64,
    seqinfo: Option<SeqInfo>,
    /// One string per row: `id left top width height conf class visibility x y z`, floats in shortest round-trip form.
    frames: BTreeMap<u64, Vec<String>>,
    diagnostics: Vec<LineError>,
}

fn row(d: &Detection) -> String {
    format!(
        "{} {:?} {:?} {:?} {:?} {:?} {} {:?} {:?} {:?} {:?}",
        d.id, d.left, d.top, d.width, d.height, d.conf, d.class, d.visibility, d.x, d.y, d.z
    )
}

fn view(path: &Path) -> View {
    let p = MotProvider::builder(path).mode(Mode::Lenient).build().unwrap();
    let s = p.index().summary().clone();
    let frames = frames_of(&p);
    for (f, rows) in &frames {
        assert!(rows.iter().all(|d| d.frame == *f));
    }
    View {
        range: p.range(),
        total_frames: p.total_frames(),
        rows: s.rows,
        sorted: s.sorted,
        bom: s.bom,
        crlf: s.crlf,
        runs: s.runs,
        seqinfo: p.seqinfo().cloned(),
        frames: frames.iter().map(|(f, rows)| (*f, rows.iter().map(row).collect())).collect(),
        diagnostics: p.diagnostics(),
    }
}

#[test]
fn snapshots_of_every_fixture() {
    insta::glob!("../../../../fixtures/mot", "**/*.txt", |path| {
        // The generated sequence is an input for the provider tests, not a format variant.
        if path.ends_with("generated.txt") {
            return;
        }
        insta::assert_json_snapshot!(view(path));
    });
}

#[test]
fn good_fixtures_open_in_strict_mode_and_match_a_full_parse() {
    insta::glob!("../../../../fixtures/mot", "**/*.txt", |path| {
        if path.ends_with("bad_lines.txt") {
            return;
        }
        let p = MotProvider::open(path).unwrap();
        let bytes = std::fs::read(path).unwrap();
        let mut expected = reference(&bytes);
        if let Some((first, last)) = p.range() {
            for f in first..=last {
                expected.entry(f).or_default();
            }
        }
        assert_eq!(frames_of(&p), expected, "{}", path.display());
        assert!(p.diagnostics().is_empty());
    });
}

#[test]
fn every_layout_of_the_same_sequence_gives_the_same_frames() {
    let base = frames_of(&MotProvider::open(fixture("comma.txt")).unwrap());
    assert_eq!(base.values().map(Vec::len).sum::<usize>(), 23);
    for name in [
        "comma_spaces.txt",
        "whitespace.txt",
        "tabs.txt",
        "crlf.txt",
        "bom.txt",
        "blank_lines.txt",
        "integral_floats.txt",
        "unsorted_id_major.txt",
        "mixed.txt",
    ] {
        let p = MotProvider::open(fixture(name)).unwrap();
        assert_eq!(frames_of(&p), base, "{name}");
    }
    // The scattered file lists a frame's rows in another order: the same rows, in that file's order.
    let mut scattered = frames_of(&MotProvider::open(fixture("unsorted_scattered.txt")).unwrap());
    assert_ne!(scattered, base);
    scattered.values_mut().for_each(|rows| rows.sort_by_key(|d| d.id));
    assert_eq!(scattered, base);
}

#[test]
fn unsorted_files_are_indexed_in_several_runs_per_frame() {
    let sorted = MotProvider::open(fixture("comma.txt")).unwrap();
    let by_id = MotProvider::open(fixture("unsorted_id_major.txt")).unwrap();
    assert!(sorted.index().summary().sorted);
    assert_eq!(sorted.index().summary().runs, sorted.frames_with_rows().len() as u64);
    assert!(!by_id.index().summary().sorted);
    assert!(by_id.index().summary().runs > by_id.frames_with_rows().len() as u64);
    // Frame 5 has rows of tracks 1 to 4. In the id-major file track 1's last row (frame 5) is followed by
    // track 2's first (frame 5): those two coalesce, so four rows make three runs, in file order.
    let runs = by_id.index().runs(5);
    assert_eq!(runs.iter().map(|r| r.rows).collect::<Vec<_>>(), vec![2, 1, 1]);
    assert!(runs.windows(2).all(|w| w[0].end <= w[1].start));
}

#[test]
fn fewer_columns_read_back_as_unknown() {
    let nine = frames_of(&MotProvider::open(fixture("comma.txt")).unwrap());
    for (name, columns) in [("columns_6.txt", 6), ("columns_7.txt", 7), ("columns_8.txt", 8), ("columns_10.txt", 10)] {
        let got = frames_of(&MotProvider::open(fixture(name)).unwrap());
        for (f, rows) in &got {
            for (d, full) in rows.iter().zip(&nine[f]) {
                assert_eq!(
                    (d.frame, d.id, d.left, d.top, d.width, d.height),
                    (full.frame, full.id, full.left, full.top, full.width, full.height)
                );
                assert_eq!(d.conf, if columns >= 7 { full.conf } else { -1.0 }, "{name}");
                assert_eq!(d.class, if (8..10).contains(&columns) { full.class } else { -1 }, "{name}");
                assert_eq!(d.visibility, if columns == 9 { full.visibility } else { -1.0 }, "{name}");
                assert_eq!((d.x, d.y, d.z), (-1.0, -1.0, -1.0));
            }
        }
    }
}

#[test]
fn empty_frames_inside_the_range_load_empty() {
    let p = MotProvider::open(fixture("empty_frames.txt")).unwrap();
    assert_eq!(p.range(), Some((1, 12)));
    for f in [4, 5, 9] {
        assert!(p.contains(f));
        assert!(p.load_frame(f).unwrap().is_empty(), "frame {f}");
    }
    assert!(!p.load_frame(3).unwrap().is_empty());
}

#[test]
fn seqinfo_one_directory_up_extends_the_range() {
    let p = MotProvider::open(fixture("seq/gt/gt.txt")).unwrap();
    let info = p.seqinfo().unwrap();
    assert_eq!((info.frame_rate, info.length, info.width, info.height), (Some(25.0), Some(15), Some(1920), Some(1080)));
    assert_eq!(info.name.as_deref(), Some("dpc-fixture"));
    assert_eq!(p.range(), Some((1, 15)));
    assert!(p.load_frame(15).unwrap().is_empty());
    assert!(!p.contains(16));
    let no_ini = MotProvider::builder(fixture("seq/gt/gt.txt")).seqinfo(false).build().unwrap();
    assert_eq!(no_ini.range(), Some((1, 12)));
}

#[test]
fn files_without_rows_have_no_frames() {
    for name in ["empty.txt", "only_blank.txt"] {
        let p = MotProvider::open(fixture(name)).unwrap();
        assert_eq!(p.range(), None);
        assert_eq!(p.total_frames(), 0);
        assert!(!p.contains(0) && !p.contains(1));
        assert!(matches!(p.load_frame(1), Err(dpc_mot::MotError::FrameOutOfRange { frame: 1, range: None })));
    }
}
