//! dpc-io's integration tests: local files here, object stores against a real S3-compatible server on
//! loopback (feature `remote`).

mod local;
mod paged;
#[cfg(feature = "remote")]
mod remote;

/// A temporary file holding `bytes`.
pub fn temp_file(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// `n` bytes that differ from their neighbours, so a misplaced range shows.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}
