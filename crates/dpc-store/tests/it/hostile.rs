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
    assert_eq!(names(&dir).len(), keys.len(), "one entry per key, no collisions");
    assert_only_hash_named_entries(&dir);
    // Read back through the file tier alone.
    let reader = crate::support::files_only::<String>(&dir, &clock);
    for key in &keys {
        assert_eq!(reader.get(key).unwrap().as_deref(), Some(&format!("v:{key}")), "{:.40?}", key);
    }
    assert_eq!(cache.invalidate_prefix("../").unwrap(), 3);
    assert_eq!(cache.invalidate_prefix("").unwrap(), keys.len() as u64 - 3, "the empty prefix matches every key");
    assert!(names(&dir).is_empty());
}
