//! The file tier's on-disk format and primitives: entry naming, atomic writes, decoding, directory scans.
//!
//! One entry is one JSON document, `<xxh3-128 of the key, 32 hex digits>.json`:
//!
//! ```json
//! {"format":"dpc-store","version":1,"key":"segment/7","created_ms":1700000000000,"expires_ms":1700086400000,"value":…}
//! ```
//!
//! A writer serializes the whole document, writes it to a fresh temporary file in the same directory
//! (`.tmp.<pid>.<counter>.<random>`, opened with `create_new`), optionally fsyncs it, and renames it over the entry.
//! `rename` within one directory is atomic on POSIX (and replaces the target on Windows), so a reader opens either
//! the old complete document or the new complete one, never a mixture.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::StoreError;

/// The `format` field of every entry document: a file without it is not ours.
pub(crate) const FORMAT: &str = "dpc-store";
/// The `version` field; a different version is treated like a foreign file.
pub(crate) const VERSION: u32 = 1;
/// Temporary files start with this (a dot, so they never look like entries).
const TEMP_PREFIX: &str = ".tmp.";
const ENTRY_SUFFIX: &str = ".json";

/// The document as written.
#[derive(Serialize)]
struct EntryOut<'a, V> {
    format: &'static str,
    version: u32,
    key: &'a str,
    created_ms: u64,
    expires_ms: u64,
    value: &'a V,
}

/// The document as read; `V = IgnoredAny` reads only the header.
#[derive(Deserialize)]
struct EntryIn<V> {
    format: String,
    version: u32,
    key: String,
    #[allow(dead_code)] // Read to validate the document; kept for future age-based policies.
    created_ms: u64,
    expires_ms: u64,
    value: V,
}

/// A valid decoded entry.
#[derive(Debug)]
pub(crate) struct Decoded<V> {
    pub key: String,
    pub expires_ms: u64,
    pub value: V,
}

/// Serializes an entry document.
pub(crate) fn encode<V: Serialize>(
    key: &str,
    created_ms: u64,
    expires_ms: u64,
    value: &V,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&EntryOut { format: FORMAT, version: VERSION, key, created_ms, expires_ms, value })
}

/// Decodes an entry document; `None` when it is corrupt, truncated, foreign, of another version,
/// or when `expect_key` is given and the document holds another key.
pub(crate) fn decode<V: DeserializeOwned>(bytes: &[u8], expect_key: Option<&str>) -> Option<Decoded<V>> {
    let entry: EntryIn<V> = serde_json::from_slice(bytes).ok()?;
    if entry.format != FORMAT || entry.version != VERSION || expect_key.is_some_and(|k| k != entry.key) {
        return None;
    }
    Some(Decoded { key: entry.key, expires_ms: entry.expires_ms, value: entry.value })
}

/// Decodes only the header (key and expiry), skipping over the value.
pub(crate) fn decode_header(bytes: &[u8]) -> Option<Decoded<()>> {
    decode::<IgnoredAny>(bytes, None).map(|d| Decoded { key: d.key, expires_ms: d.expires_ms, value: () })
}

/// The 128-bit hash that names a key's file.
pub(crate) fn key_hash(key: &str) -> u128 {
    xxh3_128(key.as_bytes())
}

/// What a directory item is, judged by its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemKind {
    Entry(u128),
    Temp,
}

/// One of our files found by a scan.
#[derive(Debug)]
pub(crate) struct Item {
    pub kind: ItemKind,
    pub path: PathBuf,
    pub len: u64,
    pub modified: Option<SystemTime>,
}

/// Classifies a file name: an entry (`<32 lowercase hex>.json`), a temporary file, or not ours (`None`).
pub(crate) fn classify(name: &str) -> Option<ItemKind> {
    if name.starts_with(TEMP_PREFIX) {
        return Some(ItemKind::Temp);
    }
    let stem = name.strip_suffix(ENTRY_SUFFIX)?;
    if stem.len() == 32 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        u128::from_str_radix(stem, 16).ok().map(ItemKind::Entry)
    } else {
        None
    }
}

/// The file tier's directory and its writer state.
#[derive(Debug)]
pub(crate) struct FileTier {
    dir: PathBuf,
    fsync: bool,
    counter: AtomicU64,
    random: RandomState,
}

impl FileTier {
    pub fn new(dir: PathBuf, fsync: bool) -> Self {
        FileTier { dir, fsync, counter: AtomicU64::new(0), random: RandomState::new() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the entry with this key hash: always directly inside the directory, whatever the key.
    pub fn entry_path(&self, hash: u128) -> PathBuf {
        self.dir.join(format!("{hash:032x}{ENTRY_SUFFIX}"))
    }

    /// Reads a whole file; `Ok(None)` when it does not exist.
    pub fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes a file; `Ok(false)` when it was already gone.
    pub fn remove(&self, path: &Path) -> io::Result<bool> {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `bytes` to `path` atomically: a unique temporary file in the same directory, then a rename.
    /// Recreates the directory once if it was removed underneath us.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let (tmp, file) = match self.create_temp() {
            Ok(created) => created,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.dir).map_err(|e| StoreError::from_io("create directory", &self.dir, e))?;
                self.create_temp().map_err(|e| StoreError::from_io("create temporary file", &self.dir, e))?
            }
            Err(e) => return Err(StoreError::from_io("create temporary file", &self.dir, e)),
        };
        let written = write_all_and_sync(file, bytes, self.fsync);
        let result = written
            .map_err(|e| StoreError::from_io("write temporary file", &tmp, e))
            .and_then(|()| fs::rename(&tmp, path).map_err(|e| StoreError::from_io("rename entry", path, e)));
        if result.is_err() {
            // Best effort: a failed write must not leave its temporary file behind (cleanup() would catch it later).
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn create_temp(&self) -> io::Result<(PathBuf, File)> {
        loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let random = self.random.hash_one(n);
            let tmp = self.dir.join(format!("{TEMP_PREFIX}{}.{n}.{random:016x}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => return Ok((tmp, file)),
                // A leftover of a crashed process with the same pid and counter: take the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Lists our files (entries and temporary files); other files in the directory are left alone.
    pub fn scan(&self) -> Result<Vec<Item>, StoreError> {
        let read_dir = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::from_io("list directory", &self.dir, e)),
        };
        let mut items = Vec::new();
        for dirent in read_dir {
            let dirent = dirent.map_err(|e| StoreError::from_io("list directory", &self.dir, e))?;
            let Some(kind) = dirent.file_name().to_str().and_then(classify) else { continue };
            // A file removed between the listing and the stat is simply skipped.
            let Ok(meta) = dirent.metadata() else { continue };
            if meta.is_dir() {
                continue;
            }
            items.push(Item { kind, path: dirent.path(), len: meta.len(), modified: meta.modified().ok() });
        }
        Ok(items)
    }
}

fn write_all_and_sync(mut file: File, bytes: &[u8], fsync: bool) -> io::Result<()> {
    file.write_all(bytes)?;
    if fsync {
        file.sync_all()?;
    }
    Ok(())
}
