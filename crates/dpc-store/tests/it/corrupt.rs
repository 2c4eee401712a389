//! Corrupt, truncated and foreign files are misses: removed, counted, never a panic.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::support::{cache, entries, files_only};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Segment {
    id: u32,
    scores: Vec<f64>,
}

fn segment(id: u32) -> Segment {
    Segment { id, scores: vec![0.5, 0.25, f64::from(id)] }
}

/// Writes a valid entry for `key`, lets `spoil` rewrite its file, and checks the result is a counted, removed miss
/// that a later `set` replaces.
fn check(spoil: impl FnOnce(&Path, &[u8])) {
    let dir = tempfile::tempdir().unwrap();
    let (writer, clock) = cache::<Segment>(dir.path());
    writer.set("seg", segment(1)).unwrap();
    let path = entries(dir.path()).pop().unwrap();
    let good = fs::read(&path).unwrap();
    spoil(&path, &good);

    let reader = files_only::<Segment>(dir.path(), &clock);
    assert_eq!(reader.get("seg").unwrap(), None);
    assert_eq!(reader.stats().corrupt_removed, 1);
    assert!(!path.exists(), "the bad file is removed");
    reader.set("seg", segment(2)).unwrap();
    assert_eq!(reader.get("seg").unwrap().as_deref(), Some(&segment(2)));
}

#[test]
fn an_empty_file_is_a_miss() {
    check(|path, _| fs::write(path, b"").unwrap());
}

#[test]
fn truncated_files_are_misses() {
    for keep in [1, 10, 40] {
        check(|path, good| fs::write(path, &good[..keep.min(good.len() - 1)]).unwrap());
    }
    check(|path, good| fs::write(path, &good[..good.len() - 1]).unwrap());
}

#[test]
fn binary_garbage_is_a_miss() {
    check(|path, _| fs::write(path, [0xff, 0xfe, 0x00, 0x80, 0x7b]).unwrap());
}

#[test]
fn foreign_json_is_a_miss() {
    check(|path, _| fs::write(path, br#"{"hello":"world"}"#).unwrap());
    check(|path, _| fs::write(path, b"[1,2,3]").unwrap());
}

#[test]
fn another_format_version_is_a_miss() {
    check(|path, good| {
        let text = String::from_utf8(good.to_vec()).unwrap().replace("\"version\":1", "\"version\":99");
        fs::write(path, text).unwrap();
    });
}

#[test]
fn a_document_of_another_key_is_a_miss() {
    check(|path, good| {
        let text = String::from_utf8(good.to_vec()).unwrap().replace("\"key\":\"seg\"", "\"key\":\"other\"");
        fs::write(path, text).unwrap();
    });
}

#[test]
fn a_value_of_another_type_is_a_miss() {
    check(|path, good| {
        let text = String::from_utf8(good.to_vec()).unwrap().replace("\"id\":1", "\"id\":\"one\"");
        fs::write(path, text).unwrap();
    });
}

#[test]
fn cleanup_and_invalidation_remove_and_count_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<Segment>(dir.path());
    cache.set("a", segment(1)).unwrap();
    cache.set("b", segment(2)).unwrap();
    let paths = entries(dir.path());
    fs::write(&paths[0], b"{\"format\":\"dpc-store\",\"vers").unwrap();
    assert_eq!(cache.invalidate_prefix("zzz").unwrap(), 0);
    assert_eq!(cache.stats().corrupt_removed, 1);
    fs::write(&paths[0], b"garbage").unwrap();
    let report = cache.cleanup().unwrap();
    assert_eq!((report.corrupt, report.entries), (1, 1));
    assert_eq!(cache.stats().corrupt_removed, 2);
}
