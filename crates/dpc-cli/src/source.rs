//! Opening the data a command reads: a local path or any URL dpc-io takes, the same for every command.

use std::path::{Path, PathBuf};

use dpc_io::SourceName;
use dpc_mot::{IndexCache, MotProvider, MotProviderBuilder};

/// A MOT provider builder for `name`: a path, `file://`, `s3://bucket/key`, `gs://`, `az://` or
/// `http(s)://` (object stores read the standard `AWS_*`, `GOOGLE_*`, `AZURE_*` environment).
/// The index of a remote file is saved in the user's cache directory and reused while the object's size
/// and ETag match, so the next command does not scan the object again.
pub fn mot_builder(name: &Path) -> MotProviderBuilder {
    let builder = MotProvider::builder(name);
    let remote = is_remote(name);
    match index_dir() {
        Some(dir) if remote => builder.index_cache(IndexCache::Dir(dir)),
        _ => builder,
    }
}

/// Whether `name` is a URL of an object store or HTTP server rather than a local file.
pub fn is_remote(name: &Path) -> bool {
    name.to_str().is_some_and(|n| matches!(SourceName::parse(n), Ok(SourceName::Remote { .. })))
}

/// `$DPC_INDEX_CACHE`, else `$XDG_CACHE_HOME/dpc/index`, else `~/.cache/dpc/index`.
fn index_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DPC_INDEX_CACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|d| !d.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("dpc").join("index"))
}
