//! Keys cannot name files: whatever the key, its entry is a hash-named file directly inside the directory.

use crate::support::{assert_only_hash_named_entries, cache, names};

fn hostile_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "../escape",
        "../../x",
        "a/../../b",
        "/etc/passwd",
        "/tmp/absolute",
        "C:\\Windows\\system32",
        "\\\\server\\share",
        "nul\0byte",
        "\0",
        "",
        ".",
        "..",
        "CON",
        "line\nbreak",
        "emoji 🎞️ and ünïcödé",
        ".tmp.1.2.3",
        "00000000000000000000000000000000.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    keys.push("x".repeat(100_000));
    keys.push("../".repeat(10_000));
    keys
}

#[test]
fn hostile_keys_round_trip_and_stay_inside_the_directory() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    let (cache, clock) = cache::<String>(&dir);
    let keys = hostile_keys();
    for key in &keys {
        cache.set(key, format!("v:{key}")).unwrap();
    }
    assert_eq!(names(root.path()), ["cache"], "nothing was written beside the cache directory");
    assert_eq!(names(&dir).len(), keys.len() + 1, "one entry per key and the tag, no collisions");
    assert_only_hash_named_entries(&dir);
    // Read back through the file tier alone.
    let reader = crate::support::files_only::<String>(&dir, &clock);
    for key in &keys {
        assert_eq!(reader.get(key).unwrap().as_deref(), Some(&format!("v:{key}")), "{:.40?}", key);
    }
    assert_eq!(cache.invalidate_prefix("../").unwrap(), 3);
    assert_eq!(cache.invalidate_prefix("").unwrap(), keys.len() as u64 - 3, "the empty prefix matches every key");
    assert_eq!(names(&dir), ["CACHEDIR.TAG"]);
}

/// Runs `f` on another thread and waits for it at most 20 s: a hang fails the test instead of blocking it forever.
fn within_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or_else(|_| panic!("{what} hung"))
}

/// Replaces the entry file of `key` in `dir` with what `make` puts at its path.
fn replace_entry(dir: &std::path::Path, make: impl FnOnce(&std::path::Path)) -> std::path::PathBuf {
    let path = crate::support::entries(dir).pop().expect("one entry");
    std::fs::remove_file(&path).unwrap();
    make(&path);
    path
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("run mkfifo");
    assert!(status.success());
}

#[test]
fn a_fifo_at_an_entry_path_is_a_removed_miss_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = cache::<String>(dir.path());
    cache.set("k", "v".into()).unwrap();
    let fifo = replace_entry(dir.path(), mkfifo);
    let reader = crate::support::files_only::<String>(dir.path(), &clock);
    let (got, stats) =
        within_deadline("get of a FIFO", move || (reader.get("k").map_err(|e| e.to_string()), reader.stats()));
    assert_eq!(got, Ok(None));
    assert_eq!(stats.corrupt_removed, 1);
    assert!(fs_entry_gone(&fifo), "the FIFO is removed");
    // cleanup does not hang on one either.
    mkfifo(&fifo);
    let report = within_deadline("cleanup with a FIFO", move || cache.cleanup().map_err(|e| e.to_string())).unwrap();
    assert_eq!(report.corrupt, 1);
    assert!(fs_entry_gone(&fifo));
}

#[test]
fn a_symlink_at_an_entry_path_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let (cache, clock) = cache::<String>(dir.path());
    cache.set("k", "v".into()).unwrap();
    // A valid entry for "k", outside the cache directory.
    let target = outside.path().join("elsewhere.json");
    let path = crate::support::entries(dir.path()).pop().unwrap();
    std::fs::copy(&path, &target).unwrap();
    replace_entry(dir.path(), |p| std::os::unix::fs::symlink(&target, p).unwrap());
    let reader = crate::support::files_only::<String>(dir.path(), &clock);
    assert_eq!(reader.get("k").unwrap(), None, "the link is not followed");
    assert_eq!(reader.stats().corrupt_removed, 1);
    assert!(fs_entry_gone(&path), "the link is removed");
    assert!(target.exists(), "its target is left alone");
}

#[test]
fn a_symlink_to_dev_zero_is_a_removed_miss_in_get_and_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = cache::<String>(dir.path());
    cache.set("k", "v".into()).unwrap();
    let link = replace_entry(dir.path(), |p| std::os::unix::fs::symlink("/dev/zero", p).unwrap());
    let reader = crate::support::files_only::<String>(dir.path(), &clock);
    assert_eq!(within_deadline("get of /dev/zero", move || reader.get("k").map_err(|e| e.to_string())), Ok(None));
    assert!(fs_entry_gone(&link));
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let report = within_deadline("cleanup", move || cache.cleanup().map_err(|e| e.to_string())).unwrap();
    assert_eq!((report.corrupt, report.entries), (1, 0));
    assert!(fs_entry_gone(&link));
}

#[test]
fn an_entry_larger_than_the_read_limit_is_a_removed_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, clock) = cache::<String>(dir.path());
    writer.set("big", "b".repeat(10_000)).unwrap();
    let reader = dpc_store::TieredCache::<String>::builder(dir.path())
        .memory_capacity(0)
        .max_entry_bytes(1000)
        .clock(clock)
        .build()
        .unwrap();
    assert_eq!(reader.get("big").unwrap(), None);
    assert_eq!(reader.stats().corrupt_removed, 1);
    assert!(crate::support::entries(dir.path()).is_empty());
    // And such an entry is never written.
    let err = reader.set("big", "b".repeat(10_000)).unwrap_err();
    assert!(matches!(err, dpc_store::StoreError::EntryTooLarge { limit: 1000, .. }), "{err:?}");
}

fn fs_entry_gone(path: &std::path::Path) -> bool {
    std::fs::symlink_metadata(path).is_err()
}
