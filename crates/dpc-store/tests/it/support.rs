//! Helpers shared by the test modules.

use std::fs;
use std::path::{Path, PathBuf};

use dpc_store::{ManualClock, TieredCache, TieredCacheBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A fixed start time for manual clocks: 2023-11-14T22:13:20Z.
pub const T0: u64 = 1_700_000_000_000;

/// A builder over `dir` with a manual clock at [`T0`] (returned too, to move it).
pub fn builder<V>(dir: &Path) -> (TieredCacheBuilder<V>, ManualClock) {
    let clock = ManualClock::new(T0);
    (TieredCache::builder(dir).clock(clock.clone()), clock)
}

/// A cache over `dir` with a manual clock, and the clock.
pub fn cache<V: Serialize + DeserializeOwned>(dir: &Path) -> (TieredCache<V>, ManualClock) {
    let (builder, clock) = builder(dir);
    (builder.build().expect("build"), clock)
}

/// A cache over `dir` with no memory tier, so every lookup reads the files, at the clock's time.
pub fn files_only<V: Serialize + DeserializeOwned>(dir: &Path, clock: &ManualClock) -> TieredCache<V> {
    TieredCache::builder(dir).memory_capacity(0).clock(clock.clone()).build().expect("build")
}

/// The names of everything in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("dirent").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The entry files of `dir`.
pub fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("dirent").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
}

/// Asserts that every file in `dir` but the cache's tag is an entry named by a hash (32 lowercase hex digits and `.json`).
pub fn assert_only_hash_named_entries(dir: &Path) {
    for name in names(dir).into_iter().filter(|n| n != "CACHEDIR.TAG") {
        let stem = name.strip_suffix(".json").unwrap_or_else(|| panic!("not an entry: {name:?}"));
        assert!(stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{name}");
    }
}
