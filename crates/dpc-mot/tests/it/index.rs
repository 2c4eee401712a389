//! The streaming index: block boundaries, large files, and sorted versus unsorted input.

use std::io::Read;

use dpc_mot::{FrameIndex, LineErrorKind, MAX_LINE_BYTES, Mode, MotProvider, Separator, WriteFormat};
use proptest::prelude::*;

use crate::{fixture, frames_of, reference, render, synth, temp_file};

/// A reader that returns at most `step` bytes per call, to put block boundaries everywhere.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn runs_of(index: &FrameIndex) -> Vec<dpc_mot::Run> {
    index.all_runs().to_vec()
}

#[test]
fn any_read_size_gives_the_same_index() {
    for name in ["mixed.txt", "bom.txt", "blank_lines.txt", "unsorted_scattered.txt", "crlf.txt"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let whole = FrameIndex::from_bytes(&bytes, Mode::Strict).unwrap();
        for step in [1, 2, 3, 5, 7, 64] {
            let trickled = FrameIndex::build(Trickle { data: &bytes, step }, Mode::Strict).unwrap();
            assert_eq!(runs_of(&trickled), runs_of(&whole), "{name} step {step}");
            assert_eq!(trickled.summary().lines, whole.summary().lines);
            assert_eq!(trickled.summary().bom, whole.summary().bom);
        }
    }
}

#[test]
fn ranges_cover_exactly_the_rows_of_each_frame() {
    let bytes = std::fs::read(fixture("unsorted_scattered.txt")).unwrap();
    let index = FrameIndex::from_bytes(&bytes, Mode::Strict).unwrap();
    for &f in index.frames() {
        let mut rows = 0;
        for run in index.runs(f) {
            let text = &bytes[run.start as usize..run.end as usize];
            let parsed = dpc_mot::parse(text, Mode::Strict).unwrap();
            assert!(parsed.detections.iter().all(|d| d.frame == f));
            assert_eq!(parsed.detections.len() as u32, run.rows);
            // A range starts at a line start and ends just past a newline (or at the end of the file).
            assert!(run.start == 0 || bytes[run.start as usize - 1] == b'\n');
            assert!(run.end as usize == bytes.len() || bytes[run.end as usize - 1] == b'\n');
            rows += run.rows;
        }
        assert_eq!(u64::from(rows), index.rows(f));
    }
}

#[test]
fn a_file_larger_than_the_read_block_sorted_and_id_major() {
    // About 3 MB: the index crosses several 1 MiB blocks, lines straddle block ends.
    let rows = synth(2_000, 40, 11);
    let sorted = render(&rows, &WriteFormat::default());
    assert!(sorted.len() > 2 << 20, "{}", sorted.len());
    let mut by_id = rows.clone();
    by_id.sort_by_key(|d| (d.id, d.frame));
    let unsorted = render(&by_id, &WriteFormat { separator: Separator::Space, crlf: true, ..WriteFormat::default() });

    let expected = reference(&sorted);
    let (_a, sorted_path) = temp_file(&sorted);
    let (_b, unsorted_path) = temp_file(&unsorted);
    let p = MotProvider::open(&sorted_path).unwrap();
    let q = MotProvider::open(&unsorted_path).unwrap();
    assert!(p.index().summary().sorted && !q.index().summary().sorted);
    assert_eq!(p.index().summary().rows, rows.len() as u64);
    let from_sorted = frames_of(&p);
    let from_unsorted = frames_of(&q);
    // The unsorted file goes through the block cache: playing it reads each 4 KiB block once.
    let blocks = (unsorted.len() as u64).div_ceil(4 << 10);
    assert!(q.stats().block_reads <= blocks, "{} block reads for {blocks} blocks", q.stats().block_reads);
    assert_eq!(p.stats().block_reads, 0, "sorted files read each frame directly");
    // Without the block cache, each range is read directly, with the same result.
    let direct = MotProvider::builder(&unsorted_path).block_cache_bytes(0).build().unwrap();
    assert_eq!(frames_of(&direct), from_unsorted);
    assert_eq!(direct.stats().block_reads, 0);
    // A block cache smaller than the file evicts and reads again, with the same result.
    let small = MotProvider::builder(&unsorted_path).block_cache_bytes(8 << 10).cache_frames(0).build().unwrap();
    assert_eq!(frames_of(&small), from_unsorted);
    assert!(small.stats().block_reads > blocks);
    // Random access misses the block cache: after a while loads read their ranges directly, probing now and then.
    let random = MotProvider::builder(&unsorted_path).block_cache_bytes(8 << 10).cache_frames(0).build().unwrap();
    let (first, last) = random.range().unwrap();
    let mut ranges = 0;
    for i in 0..600u64 {
        let f = first + (i * 7919) % (last - first + 1);
        assert_eq!(random.load_frame(f).unwrap().detections(), &from_unsorted[&f][..]);
        ranges += random.index().runs(f).len() as u64;
    }
    assert!(random.stats().block_reads * 3 < ranges, "{} block reads for {ranges} ranges", random.stats().block_reads);
    for (f, rows) in &from_sorted {
        assert_eq!(rows, expected.get(f).unwrap_or(&Vec::new()), "frame {f}");
        // Within a frame the id-major file lists rows by id, as does the frame-major one.
        assert_eq!(rows, &from_unsorted[f], "frame {f}");
    }
}

/// A line of `len` bytes (line ending excluded) holding frame 2: `2,2,` then spaces, then the other columns.
fn padded_line(len: usize) -> Vec<u8> {
    let mut line = b"2,2,".to_vec();
    line.extend(std::iter::repeat_n(b' ', len - b"2,2,1,1,1,1".len()));
    line.extend_from_slice(b"1,1,1,1");
    assert_eq!(line.len(), len);
    line
}

#[test]
fn a_line_up_to_the_cap_is_indexed_across_reads() {
    let mut bytes = b"1,1,1,1,1,1\n".to_vec();
    bytes.extend(padded_line(MAX_LINE_BYTES));
    bytes.extend_from_slice(b"\n3,3,1,1,1,1");
    for step in [bytes.len(), 1000, 7] {
        let index = FrameIndex::build(Trickle { data: &bytes, step }, Mode::Strict).unwrap();
        assert_eq!(index.frames(), &[1, 2, 3], "step {step}");
        assert_eq!(index.runs(3)[0].end, bytes.len() as u64);
    }
    let (_dir, path) = temp_file(&bytes);
    let p = MotProvider::open(&path).unwrap();
    assert_eq!(p.load_frame(2).unwrap().detections()[0].id, 2);
    let scan = dpc_mot::scan(&bytes[..], Mode::Strict, |_| {}).unwrap();
    assert_eq!((scan.lines, scan.rows), (3, 3));
}

fn too_long(err: dpc_mot::IndexError) -> dpc_mot::LineError {
    match err {
        dpc_mot::IndexError::Line(e) if e.kind == LineErrorKind::LineTooLong { limit: MAX_LINE_BYTES } => e,
        other => panic!("not a LineTooLong: {other:?}"),
    }
}

#[test]
fn a_longer_line_is_an_error_naming_it_in_either_mode() {
    // Before, the pass grew its buffer to hold any line: a 200 MB line was buffered whole.
    let mut bytes = b"1,1,1,1,1,1\n\n".to_vec();
    bytes.extend(padded_line(MAX_LINE_BYTES + 1));
    bytes.extend_from_slice(b"\n3,3,1,1,1,1\n");
    for mode in [Mode::Strict, Mode::Lenient] {
        for step in [bytes.len(), 4096, 13] {
            let e = too_long(FrameIndex::build(Trickle { data: &bytes, step }, mode).unwrap_err());
            assert_eq!((e.line, e.offset), (3, 13), "index, {mode:?}, step {step}");
            let e = too_long(dpc_mot::scan(Trickle { data: &bytes, step }, mode, |_| {}).unwrap_err());
            assert_eq!((e.line, e.offset), (3, 13), "scan, {mode:?}, step {step}");
            assert!(e.text.len() <= 200 && e.to_string().contains("line 3"), "{e}");
        }
        let e = FrameIndex::from_bytes(&bytes, mode).unwrap_err();
        assert_eq!((e.line, e.kind), (3, LineErrorKind::LineTooLong { limit: MAX_LINE_BYTES }));
        let e = dpc_mot::parse(&bytes, mode).unwrap_err();
        assert_eq!((e.line, e.offset), (3, 13));
    }
    // The same line at the end of the stream, without a line ending.
    let e = too_long(dpc_mot::scan(&bytes[..bytes.len() - 13], Mode::Lenient, |_| {}).unwrap_err());
    assert_eq!(e.line, 3);
}

/// An endless stream of one byte, counting what was read.
struct Endless {
    byte: u8,
    read: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(self.byte);
        self.read += buf.len() as u64;
        Ok(buf.len())
    }
}

#[test]
fn an_endless_line_stops_after_a_bounded_read() {
    // `dpc inspect mot /dev/zero` grew to gigabytes. Now both passes stop within two blocks.
    for byte in [0u8, b'7', b' '] {
        let mut zero = Endless { byte, read: 0 };
        let e = too_long(dpc_mot::scan(&mut zero, Mode::Lenient, |_| {}).unwrap_err());
        assert_eq!((e.line, e.offset), (1, 0));
        assert!(zero.read <= 2 << 20, "read {} bytes", zero.read);
        let mut zero = Endless { byte, read: 0 };
        let e = too_long(FrameIndex::build(&mut zero, Mode::Lenient).unwrap_err());
        assert_eq!(e.line, 1);
        assert!(zero.read <= 2 << 20, "read {} bytes", zero.read);
    }
}

#[test]
fn sparse_frame_numbers_use_the_search_path() {
    let (_dir, path) = temp_file(b"5,1,1,1,1,1\n1000000000000,1,2,2,2,2\n70,1,3,3,3,3\n");
    let p = MotProvider::open(&path).unwrap();
    assert_eq!(p.frames_with_rows(), &[5, 70, 1_000_000_000_000]);
    assert_eq!(p.range(), Some((5, 1_000_000_000_000)));
    assert_eq!(p.load_frame(70).unwrap().detections()[0].left, 3.0);
    assert!(p.load_frame(71).unwrap().is_empty());
    assert_eq!(p.load_frame(1_000_000_000_000).unwrap().len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any order of the rows gives the same frames, each with its rows in file order.
    #[test]
    fn any_row_order_gives_the_same_frames(seed in 0u64..1000, keys in proptest::collection::vec(any::<u32>(), 300)) {
        let rows = synth(30, 4, seed);
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| keys[i % keys.len()] ^ i as u32);
        let shuffled: Vec<_> = order.iter().map(|&i| rows[i]).collect();
        let bytes = render(&shuffled, &WriteFormat::default());
        let (_dir, path) = temp_file(&bytes);
        let p = MotProvider::open(&path).unwrap();
        let got = frames_of(&p);
        let expected = reference(&bytes);
        let none = Vec::new();
        for (f, rows) in &got {
            prop_assert_eq!(rows, expected.get(f).unwrap_or(&none));
        }
        prop_assert_eq!(got.values().map(Vec::len).sum::<usize>(), shuffled.len());
    }
}
