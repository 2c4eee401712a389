//! `cargo xtask snapshots --check REFERENCES`: every committed insta snapshot is one a test checked.
//!
//! insta appends the path of every snapshot an assertion compares with to the file named by
//! `INSTA_SNAPSHOT_REFERENCES_FILE` (the mechanism behind `cargo insta test --unreferenced=reject`, without needing
//! cargo-insta installed). `.ci/run` sets it for `cargo test --workspace`, then this lists the `.snap` files under
//! `crates/` and `xtask/` that no test referenced, and any pending `.snap.new` or `.pending-snap` file, and fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{TaskResult, root};

pub fn run(args: &[String]) -> TaskResult {
    let [flag, references] = args else {
        return Err("usage: cargo xtask snapshots --check REFERENCES_FILE".into());
    };
    if flag != "--check" {
        return Err(format!("unknown option {flag:?}; usage: cargo xtask snapshots --check REFERENCES_FILE").into());
    }
    let root = root();
    let text = std::fs::read_to_string(references)
        .map_err(|e| format!("{references}: {e} (run the tests with INSTA_SNAPSHOT_REFERENCES_FILE set first)"))?;
    let referenced: BTreeSet<PathBuf> = text.lines().filter(|l| !l.is_empty()).map(|l| normalize(&root, l)).collect();
    let mut found = Vec::new();
    for dir in ["crates", "xtask"] {
        walk(&root.join(dir), &mut found)?;
    }
    let mut problems = Vec::new();
    for path in found {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let shown = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            problems.push(format!("pending snapshot {shown}: review it, then commit or delete it"));
        } else if name.ends_with(".snap") && !referenced.contains(&normalize(&root, &path.to_string_lossy())) {
            problems.push(format!("unreferenced snapshot {shown}: no test checks it; delete it"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(problems.join("\n").into())
}

/// An absolute path with `.` and `..` resolved through the file system where it exists.
fn normalize(root: &Path, path: &str) -> PathBuf {
    let p = root.join(path);
    p.canonicalize().unwrap_or(p)
}

/// Every file below `dir`, skipping build output.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> TaskResult {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "target" {
                walk(&path, out)?;
            }
        } else {
            out.push(path);
        }
    }
    Ok(())
}
