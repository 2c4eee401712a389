//! The cache owns its directory: it marks the directories it creates, and never cleans or writes into one it did not.

use std::fs;
use std::time::{Duration, SystemTime};

use dpc_store::{StoreError, TieredCache};

use crate::support::{cache, names};

/// Makes a file look like a leftover temporary file of a crashed writer: two hours old.
fn age(path: &std::path::Path) {
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    fs::File::options().write(true).open(path).unwrap().set_modified(two_hours_ago).unwrap();
}

#[test]
fn a_directory_the_cache_did_not_create_is_refused_and_left_intact() {
    let dir = tempfile::tempdir().unwrap();
    // A user's directory that happens to hold files named like the cache's own.
    let user_temp = dir.path().join(".tmp.notes");
    let user_json = dir.path().join(format!("{:032x}.json", 0xabcu32));
    fs::write(&user_temp, b"my notes").unwrap();
    fs::write(&user_json, b"{\"mine\": true}").unwrap();
    age(&user_temp);
    let opened = TieredCache::<String>::open(dir.path());
    if let Ok(cache) = &opened {
        let _ = cache.cleanup();
        let _ = cache.clear();
    }
    assert_eq!(fs::read(&user_temp).unwrap(), b"my notes");
    assert_eq!(fs::read(&user_json).unwrap(), b"{\"mine\": true}");
    let err = opened.unwrap_err();
    assert!(matches!(&err, StoreError::NotOwned { path, .. } if path == dir.path()), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    assert_eq!(names(dir.path()), [".tmp.notes", "00000000000000000000000000000abc.json"], "nothing was written");
}

#[test]
fn a_new_or_empty_directory_is_marked_and_reopens() {
    let root = tempfile::tempdir().unwrap();
    let created = root.path().join("created");
    let (cache, clock) = cache::<u32>(&created);
    cache.set("k", 1).unwrap();
    drop(cache);
    assert!(names(&created).contains(&"CACHEDIR.TAG".to_string()), "{:?}", names(&created));
    let tag = fs::read_to_string(created.join("CACHEDIR.TAG")).unwrap();
    assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"), "the standard cache tag: {tag}");
    let again = TieredCache::<u32>::builder(&created).clock(clock).build().unwrap();
    assert_eq!(again.get("k").unwrap().as_deref(), Some(&1));

    // An existing empty directory is as good as a new one.
    let empty = tempfile::tempdir().unwrap();
    TieredCache::<u32>::open(empty.path()).unwrap();
    assert_eq!(names(empty.path()), ["CACHEDIR.TAG"]);
}

#[test]
fn another_tools_cache_tag_does_not_make_a_directory_ours() {
    let dir = tempfile::tempdir().unwrap();
    // What cargo writes into target/.
    fs::write(
        dir.path().join("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cargo.\n",
    )
    .unwrap();
    let err = TieredCache::<u32>::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotOwned { .. }), "{err:?}");
}

#[test]
fn the_empty_path_is_refused() {
    // It would be the current directory.
    let err = TieredCache::<u32>::open("").unwrap_err();
    assert!(matches!(err, StoreError::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn cleanup_and_clear_leave_user_files_named_like_old_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<String>(dir.path());
    cache.set("k", "v".into()).unwrap();
    let user = dir.path().join(".tmp.1.2.3");
    fs::write(&user, b"mine").unwrap();
    age(&user);
    cache.cleanup().unwrap();
    cache.clear().unwrap();
    assert_eq!(fs::read(&user).unwrap(), b"mine");
    assert_eq!(names(dir.path()), [".tmp.1.2.3", "CACHEDIR.TAG"]);
}

#[test]
fn cleanup_refuses_a_directory_whose_tag_was_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<String>(dir.path());
    cache.set("k", "v".into()).unwrap();
    // The directory is swapped for someone else's: the tag is gone, an entry-named file is theirs.
    fs::remove_file(dir.path().join("CACHEDIR.TAG")).unwrap();
    let theirs = dir.path().join(format!("{:032x}.json", 1));
    fs::write(&theirs, b"not ours").unwrap();
    for result in [cache.cleanup().map(drop), cache.clear().map(drop), cache.invalidate_prefix("").map(drop)] {
        assert!(matches!(result, Err(StoreError::NotOwned { .. })), "{result:?}");
    }
    assert_eq!(fs::read(&theirs).unwrap(), b"not ours");
}

#[test]
fn a_removed_directory_is_recreated_with_its_tag() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    let (cache, _) = cache::<String>(&dir);
    fs::remove_dir_all(&dir).unwrap();
    cache.set("k", "v".into()).unwrap();
    assert!(dir.join("CACHEDIR.TAG").exists());
    cache.cleanup().unwrap();
}

#[test]
fn caches_opening_one_new_directory_at_once_all_succeed() {
    const THREADS: usize = 8;
    for _ in 0..50 {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("shared");
        let barrier = std::sync::Barrier::new(THREADS);
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        TieredCache::<u32>::open(&dir).map(drop).map_err(|e| e.to_string())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(names(&dir), ["CACHEDIR.TAG"]);
    }
}
