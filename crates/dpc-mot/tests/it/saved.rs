//! Saved indexes: reused while the file is unchanged, rebuilt when stale or damaged, never misread.

use dpc_mot::{FrameIndex, IndexCache, Mode, MotProvider, SavedIndexError};

use crate::temp_file;

const TEXT: &[u8] = b"1,1,1,1,1,1\n3,1,1,1,1,1\n1,2,1,1,1,1\n2,7,1,1,1,1\n";

#[test]
fn an_index_round_trips_through_its_saved_form() {
    let index = FrameIndex::build(TEXT, Mode::Strict).unwrap();
    let bytes = index.encode("tag").unwrap();
    let back = FrameIndex::decode(&bytes, "tag").unwrap();
    assert_eq!(back.frames(), index.frames());
    assert_eq!(back.all_runs(), index.all_runs());
    assert_eq!(back.summary().rows, index.summary().rows);
    assert_eq!(back.summary().sorted, index.summary().sorted);
    assert!(matches!(FrameIndex::decode(&bytes, "other"), Err(SavedIndexError::Stale { .. })));
    let empty = FrameIndex::build(&b""[..], Mode::Strict).unwrap();
    assert!(FrameIndex::decode(&empty.encode("t").unwrap(), "t").unwrap().frames().is_empty());
}

#[test]
fn a_damaged_saved_index_is_refused_at_every_byte() {
    let bytes = FrameIndex::build(TEXT, Mode::Strict).unwrap().encode("tag").unwrap();
    for cut in 0..bytes.len() {
        assert!(FrameIndex::decode(&bytes[..cut], "tag").is_err(), "truncated at {cut}");
    }
    for at in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x40;
        assert!(FrameIndex::decode(&bad, "tag").is_err(), "byte {at} flipped");
    }
}

#[test]
fn an_index_with_bad_lines_is_not_saved() {
    let index = FrameIndex::build(&b"1,1,1,1,1,1\nx,1,1,1,1,1\n"[..], Mode::Lenient).unwrap();
    assert!(!index.can_save());
    assert!(index.encode("t").is_none());
}

#[test]
fn beside_a_local_file_the_index_is_written_reused_and_rebuilt_when_stale() {
    let (dir, path) = temp_file(TEXT);
    let open = || MotProvider::builder(&path).index_cache(IndexCache::Beside).build().unwrap();
    let first = open();
    assert!(!first.index_reused(), "nothing saved yet");
    assert!(dir.path().join("data.txt.dpcidx").exists());
    let second = open();
    assert!(second.index_reused());
    assert_eq!(second.load_frame(1).unwrap(), first.load_frame(1).unwrap());
    std::fs::write(&path, b"5,1,1,1,1,1\n").unwrap();
    let third = open();
    assert!(!third.index_reused(), "the file changed: its saved index is stale");
    assert_eq!(third.range(), Some((5, 5)));
    // Garbage in place of the index: rebuilt and overwritten.
    std::fs::write(dir.path().join("data.txt.dpcidx"), b"garbage").unwrap();
    assert!(!open().index_reused());
    assert!(open().index_reused());
}

#[test]
fn an_unwritable_cache_directory_does_not_fail_the_open() {
    let (dir, path) = temp_file(TEXT);
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let p = MotProvider::builder(&path).index_cache(IndexCache::Dir(blocker.join("sub"))).build().unwrap();
    assert!(p.index_cache_error().is_some());
    assert_eq!(p.load_frame(3).unwrap().len(), 1);
}
