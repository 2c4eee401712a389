//! Two processes writing and reading the same keys of one directory never see a torn entry.
//!
//! The test binary re-runs itself as the second process: with `DPC_STORE_CHILD_DIR` set,
//! the test plays the child's part and returns.

use std::path::Path;
use std::process::{Command, Stdio};

use dpc_store::TieredCache;
use serde::{Deserialize, Serialize};

const CHILD_ENV: &str = "DPC_STORE_CHILD_DIR";
const TEST_NAME: &str = "multiprocess::two_processes_share_a_directory_without_torn_reads";
const KEYS: u32 = 8;
const ROUNDS: u32 = 150;

/// A value whose integrity can be checked: a payload of varying length and a checksum over everything.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    key: u32,
    writer: u32,
    round: u32,
    payload: Vec<u64>,
    checksum: u64,
}

fn checksum(key: u32, writer: u32, round: u32, payload: &[u64]) -> u64 {
    payload.iter().fold(u64::from(key) << 40 ^ u64::from(writer) << 32 ^ u64::from(round), |acc, &x| {
        acc.rotate_left(7).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ x
    })
}

fn record(key: u32, writer: u32, round: u32) -> Record {
    // Sizes vary from a few bytes to tens of kilobytes, so an unsynchronised reader would catch writes half done.
    let len = ((round * 7919 + key * 104_729 + writer * 31) % 3000) as usize;
    let payload: Vec<u64> = (0..len as u64).map(|i| i * u64::from(round + 1) + u64::from(writer)).collect();
    let checksum = checksum(key, writer, round, &payload);
    Record { key, writer, round, payload, checksum }
}

/// One round: write every key, read every key, sometimes delete one; returns the reads that found another writer's value.
fn round(cache: &TieredCache<Record>, writer: u32, round: u32) -> u64 {
    let mut foreign = 0;
    for key in 0..KEYS {
        cache.set(&format!("k{key}"), record(key, writer, round)).expect("set");
        let read_key = (key * 3 + round) % KEYS;
        if let Some(r) = cache.get(&format!("k{read_key}")).expect("get") {
            assert_eq!(r.key, read_key, "a value under the wrong key");
            assert_eq!(r.checksum, checksum(r.key, r.writer, r.round, &r.payload), "a torn value");
            foreign += u64::from(r.writer != writer);
        }
        if (round + key) % 11 == 0 {
            cache.delete(&format!("k{read_key}")).expect("delete");
        }
    }
    assert_eq!(cache.stats().corrupt_removed, 0, "a reader saw a torn or partial file");
    foreign
}

fn open(dir: &Path) -> TieredCache<Record> {
    // No memory tier: every read goes to the shared directory.
    TieredCache::builder(dir).memory_capacity(0).build().expect("open")
}

#[test]
fn two_processes_share_a_directory_without_torn_reads() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        let dir = Path::new(&dir);
        let cache = open(dir);
        for r in 0..ROUNDS {
            round(&cache, 2, r);
        }
        std::fs::write(dir.join("child-done"), b"ok").expect("marker");
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    // The parent works for the whole life of the child, so every child operation overlaps parent operations.
    let mut foreign = 0;
    let mut r = 0;
    // The child's output is a few lines, far below a pipe's buffer, so it cannot block on it.
    while child.try_wait().unwrap().is_none() || r < ROUNDS {
        foreign += round(&cache, 1, r);
        r += 1;
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the child failed: {}\n{text}", out.status);
    assert!(dir.path().join("child-done").exists(), "the child did not run the test (name changed?)\n{text}");
    // Leftovers of the child are visible even if the timing let it finish early.
    for key in 0..KEYS {
        if let Some(r) = cache.get(&format!("k{key}")).unwrap() {
            assert_eq!(r.checksum, checksum(r.key, r.writer, r.round, &r.payload));
        }
    }
    assert!(foreign > 0, "the parent never read the child's writes");
    assert!(cache.cleanup().unwrap().stale_temp_files == 0);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count() as u64,
        cache.stats().file_entries + 2,
        "entries, the child's marker and the tag"
    );
}
