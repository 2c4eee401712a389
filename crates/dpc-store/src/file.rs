//! The file tier's on-disk format and primitives: entry naming, atomic writes, decoding, directory scans.
//!
//! One entry is one JSON document, `<xxh3-128 of the key, 32 hex digits>.json`:
//!
//! ```json
//! {"format":"dpc-store","version":1,"key":"segment/7","created_ms":1700000000000,"expires_ms":1700086400000,"value":…}
//! ```
//!
//! A writer serializes the whole document, writes it to a fresh temporary file in the same directory
//! (`.dpc-store-tmp-<pid>-<counter>-<16 hex digits>`, opened with `create_new`), optionally fsyncs it, and renames it
//! over the entry.
//! `rename` within one directory is atomic on POSIX (and replaces the target on Windows), so a reader opens either
//! the old complete document or the new complete one, never a mixture.
//!
//! The directory is the cache's own: the cache writes a `CACHEDIR.TAG` (the standard tag that backup tools skip, with
//! a line naming dpc-store) into a directory it creates or finds empty, refuses a non-empty directory without one,
//! and checks it again before any bulk removal (`clear`, `cleanup`, `invalidate_prefix`).
//!
//! Entries are read with `O_NOFOLLOW | O_NONBLOCK` (on Unix), then checked to be regular files, and at most the
//! entry size limit is read: a symbolic link, a FIFO, a device or an oversized file at an entry path is foreign.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, Read, Write};
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
/// Temporary files are `<this><pid>-<counter>-<16 hex digits>` (a dot first, so they never look like entries).
const TEMP_PREFIX: &str = ".dpc-store-tmp-";
/// The name of the tag that marks a directory as a cache's own.
pub(crate) const TAG_NAME: &str = "CACHEDIR.TAG";
/// The tag's contents: the standard signature (<https://bford.info/cachedir/>), then the line that says it is ours.
const TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by dpc-store (a TieredCache's file tier).\n\
# Every file here may be removed by the cache: do not keep other files in this directory.\n";
/// The line a tag must hold to be ours (another tool's CACHEDIR.TAG, like cargo's in target/, is not).
const TAG_OWNER_LINE: &str = "# This file is a cache directory tag created by dpc-store";
/// Tags longer than this are not ours (and are not read further).
const TAG_MAX_BYTES: u64 = 4096;
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

/// Classifies a file name: an entry (`<32 lowercase hex>.json`), a temporary file
/// (`.dpc-store-tmp-<decimal>-<decimal>-<16 lowercase hex>`), or not ours (`None`).
pub(crate) fn classify(name: &str) -> Option<ItemKind> {
    if let Some(rest) = name.strip_prefix(TEMP_PREFIX) {
        let mut parts = rest.split('-');
        let decimal = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit()))
        };
        let ours = decimal(parts.next())
            && decimal(parts.next())
            && parts.next().is_some_and(|p| p.len() == 16 && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            && parts.next().is_none();
        return ours.then_some(ItemKind::Temp);
    }
    let stem = name.strip_suffix(ENTRY_SUFFIX)?;
    if stem.len() == 32 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        u128::from_str_radix(stem, 16).ok().map(ItemKind::Entry)
    } else {
        None
    }
}

/// What reading an entry path found.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// No file there.
    Missing,
    /// The whole file, no longer than the limit.
    Bytes(Vec<u8>),
    /// Something that is not an entry: a symbolic link, not a regular file, or over the size limit.
    Foreign,
}

/// Whether a directory is ours, judged by its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// The directory does not exist (an empty cache).
    Missing,
    /// It holds our tag.
    Ours,
    /// It has no tag of ours.
    NotOurs,
}

/// The file tier's directory and its writer state.
#[derive(Debug)]
pub(crate) struct FileTier {
    dir: PathBuf,
    /// Off for a cache without a file tier (memory over Redis): nothing is read, written, listed or removed.
    enabled: bool,
    fsync: bool,
    counter: AtomicU64,
    random: RandomState,
}

impl FileTier {
    pub fn new(dir: PathBuf, fsync: bool) -> Self {
        FileTier { dir, enabled: true, fsync, counter: AtomicU64::new(0), random: RandomState::new() }
    }

    /// A file tier that holds nothing and touches no file.
    pub fn disabled() -> Self {
        FileTier { enabled: false, ..FileTier::new(PathBuf::new(), false) }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the entry with this key hash: always directly inside the directory, whatever the key.
    pub fn entry_path(&self, hash: u128) -> PathBuf {
        self.dir.join(format!("{hash:032x}{ENTRY_SUFFIX}"))
    }

    /// Reads a whole entry file of at most `limit` bytes without following a symbolic link or blocking on a FIFO.
    pub fn read(&self, path: &Path, limit: u64) -> io::Result<ReadOutcome> {
        if !self.enabled {
            return Ok(ReadOutcome::Missing);
        }
        let file = match open_no_follow(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ReadOutcome::Missing),
            Err(e) if is_symlink_refusal(&e) => return Ok(ReadOutcome::Foreign),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Ok(ReadOutcome::Foreign);
        }
        if meta.len() > limit {
            return Ok(ReadOutcome::Foreign);
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        // The file may grow after the stat: read one byte past the limit to notice.
        file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Ok(ReadOutcome::Foreign);
        }
        Ok(ReadOutcome::Bytes(bytes))
    }

    /// Whether the directory is ours (holds our tag).
    pub fn ownership(&self) -> Result<Ownership, StoreError> {
        let tag = self.dir.join(TAG_NAME);
        match self.read(&tag, TAG_MAX_BYTES) {
            Ok(ReadOutcome::Bytes(bytes)) => {
                let ours = std::str::from_utf8(&bytes).is_ok_and(|t| t.lines().any(|l| l.starts_with(TAG_OWNER_LINE)));
                Ok(if ours { Ownership::Ours } else { Ownership::NotOurs })
            }
            Ok(ReadOutcome::Foreign) => Ok(Ownership::NotOurs),
            Ok(ReadOutcome::Missing) => match fs::symlink_metadata(&self.dir) {
                Ok(_) => Ok(Ownership::NotOurs),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ownership::Missing),
                Err(e) => Err(StoreError::from_io("open directory", &self.dir, e)),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ownership::Missing),
            Err(e) => Err(StoreError::from_io("read tag", &tag, e)),
        }
    }

    /// Fails with [`StoreError::NotOwned`] unless the directory is ours or missing: the check before bulk removals.
    pub fn check_owned(&self) -> Result<(), StoreError> {
        if !self.enabled {
            return Ok(());
        }
        match self.ownership()? {
            Ownership::Ours | Ownership::Missing => Ok(()),
            Ownership::NotOurs => Err(self.not_owned()),
        }
    }

    /// Creates the directory if needed and makes sure it is ours: a new or empty directory gets our tag;
    /// a non-empty one without it is refused.
    pub fn claim(&self) -> Result<(), StoreError> {
        if !self.enabled {
            return Ok(());
        }
        if self.dir.as_os_str().is_empty() {
            return Err(StoreError::InvalidConfig {
                reason: "the cache directory path is empty (it would be the current directory)",
            });
        }
        fs::create_dir_all(&self.dir).map_err(|e| StoreError::from_io("create directory", &self.dir, e))?;
        if self.ownership()? == Ownership::Ours {
            return Ok(());
        }
        let listing = fs::read_dir(&self.dir).map_err(|e| StoreError::from_io("list directory", &self.dir, e))?;
        let names: Vec<_> = listing.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        if !names.is_empty() {
            // Another process may have claimed the directory between our look for the tag and the listing.
            if names.iter().all(|n| n == TAG_NAME) && (self.ownership()? == Ownership::Ours || self.tag_being_written())
            {
                return Ok(());
            }
            return Err(self.not_owned());
        }
        // Written before any other file, with create_new: two processes claiming one new directory both succeed.
        let tag = self.dir.join(TAG_NAME);
        match OpenOptions::new().write(true).create_new(true).open(&tag) {
            Ok(file) => write_all_and_sync(file, TAG.as_bytes(), self.fsync)
                .map_err(|e| StoreError::from_io("write tag", &tag, e)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match self.ownership()? {
                Ownership::Ours => Ok(()),
                _ if self.tag_being_written() => Ok(()),
                _ => Err(self.not_owned()),
            },
            Err(e) => Err(StoreError::from_io("write tag", &tag, e)),
        }
    }

    /// Whether the tag holds the start of ours: another process created it and is writing it now.
    fn tag_being_written(&self) -> bool {
        matches!(self.read(&self.dir.join(TAG_NAME), TAG_MAX_BYTES), Ok(ReadOutcome::Bytes(b)) if TAG.as_bytes().starts_with(&b))
    }

    fn not_owned(&self) -> StoreError {
        let example = fs::read_dir(&self.dir).ok().and_then(|rd| {
            let mut names: Vec<String> =
                rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            names.into_iter().next()
        });
        StoreError::NotOwned { path: self.dir.clone(), example }
    }

    /// Removes a file; `Ok(false)` when it was already gone.
    pub fn remove(&self, path: &Path) -> io::Result<bool> {
        if !self.enabled {
            return Ok(false);
        }
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `bytes` to `path` atomically: a unique temporary file in the same directory, then a rename.
    /// Recreates the directory once if it was removed underneath us.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        if !self.enabled {
            return Ok(());
        }
        let (tmp, file) = match self.create_temp() {
            Ok(created) => created,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.claim()?;
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
            let tmp = self.dir.join(format!("{TEMP_PREFIX}{}-{n}-{random:016x}", std::process::id()));
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
        if !self.enabled {
            return Ok(Vec::new());
        }
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

/// Opens a file for reading without following a symbolic link at its last component and without blocking
/// (a FIFO with no writer would block `open` forever) or taking a terminal as controlling terminal.
#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> io::Result<File> {
    if fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(io::Error::other(SYMLINK_REFUSED));
    }
    File::open(path)
}

#[cfg(not(unix))]
const SYMLINK_REFUSED: &str = "refusing to follow a symbolic link";

/// Whether `open_no_follow` failed because the path is a symbolic link.
fn is_symlink_refusal(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        e.get_ref().is_some_and(|inner| inner.to_string() == SYMLINK_REFUSED)
    }
}

fn write_all_and_sync(mut file: File, bytes: &[u8], fsync: bool) -> io::Result<()> {
    file.write_all(bytes)?;
    if fsync {
        file.sync_all()?;
    }
    Ok(())
}
