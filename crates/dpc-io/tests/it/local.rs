use std::sync::{Arc, Barrier};

use dpc_io::{IoError, LocalFile, RangeSource, coalesce, open_source};

use crate::{pattern, temp_file};

#[test]
fn ranges_read_what_the_file_holds() {
    let data = pattern(100_000);
    let (_dir, path) = temp_file(&data);
    let f = LocalFile::open(&path).unwrap();
    assert_eq!(f.len(), 100_000);
    assert_eq!(f.read_range(0..0).unwrap(), b"");
    assert_eq!(f.read_range(99_990..100_000).unwrap(), &data[99_990..]);
    assert_eq!(f.read_range(12_345..54_321).unwrap(), &data[12_345..54_321]);
    let got = f.read_ranges(&[5000..5010, 0..4, 4..8, 90_000..100_000, 6..7]).unwrap();
    assert_eq!(got, vec![&data[5000..5010], &data[0..4], &data[4..8], &data[90_000..], &data[6..7]]);
    f.check().unwrap();
}

#[test]
fn reads_past_the_end_are_out_of_range() {
    let (_dir, path) = temp_file(b"0123456789");
    let f = LocalFile::open(&path).unwrap();
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 8..4;
    for r in [5..11, 11..12, reversed] {
        match f.read_range(r.clone()) {
            Err(IoError::OutOfRange { range, len: 10, .. }) => assert_eq!(range, r),
            other => panic!("{r:?}: {other:?}"),
        }
    }
    let mut buf = [0u8; 4];
    assert!(matches!(f.read_into(u64::MAX - 1, &mut buf), Err(IoError::OutOfRange { .. })));
}

#[test]
fn the_streaming_reader_reads_the_range_once() {
    let data = pattern(3 << 20 | 17);
    let (_dir, path) = temp_file(&data);
    let f = LocalFile::open(&path).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut f.stream(1000..data.len() as u64).unwrap(), &mut out).unwrap();
    assert_eq!(out, &data[1000..]);
}

#[test]
fn non_regular_files_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    match LocalFile::open(dir.path()) {
        Err(e @ IoError::NotRegularFile { kind: "directory", .. }) => {
            assert!(e.to_string().contains("not a regular file"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    #[cfg(unix)]
    {
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // Opening a FIFO for reading would block until a writer came.
        assert!(matches!(LocalFile::open(&fifo), Err(IoError::NotRegularFile { kind: "FIFO", .. })));
        assert!(matches!(open_source("/dev/null"), Err(IoError::NotRegularFile { kind: "character device", .. })));
    }
    match open_source(dir.path().join("missing").to_str().unwrap()) {
        Err(e @ IoError::NotFound { .. }) => assert!(e.to_string().ends_with("missing: not found"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_truncated_file_is_changed() {
    let (_dir, path) = temp_file(&pattern(10_000));
    let f = LocalFile::open(&path).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(5000).unwrap();
    assert_eq!(f.read_range(0..100).unwrap().len(), 100);
    match f.read_range(4000..6000) {
        Err(e @ IoError::Changed { .. }) => assert!(e.to_string().contains("size 10000 became 5000"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(f.check().unwrap_err().is_changed());
}

#[test]
fn an_overwritten_file_is_changed_when_checked() {
    let (_dir, path) = temp_file(b"first version");
    let f = LocalFile::open(&path).unwrap();
    let before = f.version().clone();
    std::fs::write(&path, b"other version").unwrap();
    let now = LocalFile::open(&path).unwrap();
    assert_eq!(now.len(), before.size);
    assert!(before.differs(now.version()).is_some(), "{before:?} vs {:?}", now.version());
    assert!(f.check().unwrap_err().is_changed());
}

#[test]
fn file_urls_and_plain_paths_name_the_same_file() {
    let (_dir, path) = temp_file(b"abc");
    let plain = open_source(path.to_str().unwrap()).unwrap();
    let url = open_source(&format!("file://{}", path.display())).unwrap();
    assert_eq!(plain.version(), url.version());
    assert_eq!(url.read_range(1..3).unwrap(), b"bc");
}

#[cfg(not(feature = "remote"))]
#[test]
fn urls_without_the_remote_feature_say_so() {
    match open_source("s3://bucket/key") {
        Err(e @ IoError::Unsupported { .. }) => assert!(e.to_string().contains("`remote` feature"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn many_threads_read_at_once_without_a_shared_cursor() {
    let data = Arc::new(pattern(1 << 20));
    let (_dir, path) = temp_file(&data);
    let f = Arc::new(LocalFile::open(&path).unwrap());
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (f, data, barrier) = (Arc::clone(&f), Arc::clone(&data), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..500u64 {
                    let start = (i * 7919 + t as u64 * 104_729) % (1 << 20);
                    let end = (start + 1 + i % 4096).min(1 << 20);
                    assert_eq!(f.read_range(start..end).unwrap(), &data[start as usize..end as usize]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn coalescing_merges_overlapping_and_near_ranges_only() {
    let plan = coalesce(&[100..200, 0..10, 5..20, 210..220, 1000..1001, 150..160], 10);
    let got: Vec<_> = plan.iter().map(|g| (g.range.clone(), g.members.clone())).collect();
    assert_eq!(got, vec![(0..20, vec![1, 2]), (100..220, vec![0, 5, 3]), (1000..1001, vec![4])]);
    assert!(coalesce(&[], 10).is_empty());
    // A gap one byte wider than allowed stays two reads.
    assert_eq!(coalesce(&[0..10, 21..30], 10).len(), 2);
    assert_eq!(coalesce(&[0..10, 20..30], 10).len(), 1);
}
