//! Unit tests of the private pieces: file naming, the document format, the error classification.

use std::io;

use crate::StoreError;
use crate::file::{self, ItemKind, classify};

#[test]
fn entry_names_are_32_lowercase_hex_digits_and_json() {
    let hash = file::key_hash("a/b");
    let name = format!("{hash:032x}.json");
    assert_eq!(classify(&name), Some(ItemKind::Entry(hash)));
    assert_eq!(classify(&name.to_uppercase()), None);
    assert_eq!(classify("0123.json"), None);
    assert_eq!(classify("notes.txt"), None);
    assert_eq!(classify(".dpc-store-tmp-12-0-00000000000000ff"), Some(ItemKind::Temp));
    for not_ours in [
        ".tmp.12.0.00ff",
        ".dpc-store-tmp-12-0-00ff",
        ".dpc-store-tmp-12-0-00000000000000ff-x",
        ".dpc-store-tmp--0-00000000000000ff",
    ] {
        assert_eq!(classify(not_ours), None, "{not_ours}");
    }
}

#[test]
fn documents_round_trip_and_reject_other_keys_formats_and_versions() {
    let doc = file::encode("k", 10, 20, &vec![1u8, 2]).unwrap();
    let back = file::decode::<Vec<u8>>(&doc, Some("k")).unwrap();
    assert_eq!((back.key.as_str(), back.expires_ms, back.value), ("k", 20, vec![1, 2]));
    assert!(file::decode::<Vec<u8>>(&doc, Some("other")).is_none());
    assert!(file::decode::<String>(&doc, Some("k")).is_none(), "a value of another type is foreign");
    let text = String::from_utf8(doc).unwrap();
    assert!(file::decode::<Vec<u8>>(text.replace("\"version\":1", "\"version\":2").as_bytes(), None).is_none());
    assert!(file::decode::<Vec<u8>>(text.replace("dpc-store", "other").as_bytes(), None).is_none());
    assert_eq!(file::decode_header(text.as_bytes()).unwrap().expires_ms, 20);
}

#[test]
fn io_errors_are_classified_for_fallback() {
    let classify = |kind: io::ErrorKind| StoreError::from_io("write", "/x", io::Error::from(kind));
    assert!(matches!(classify(io::ErrorKind::PermissionDenied), StoreError::ReadOnly { .. }));
    assert!(matches!(classify(io::ErrorKind::ReadOnlyFilesystem), StoreError::ReadOnly { .. }));
    assert!(matches!(classify(io::ErrorKind::StorageFull), StoreError::DiskFull { .. }));
    assert!(matches!(classify(io::ErrorKind::QuotaExceeded), StoreError::DiskFull { .. }));
    let other = classify(io::ErrorKind::NotFound);
    assert!(matches!(other, StoreError::Io { op: "write", .. }));
    assert_eq!(other.path(), Some(std::path::Path::new("/x")));
    assert!(std::error::Error::source(&other).is_some());
    assert!(other.to_string().contains("/x"), "{other}");
}
