//! TieredCache behaviour: tiers, TTL, promotion, invalidation, size limit, persistence, stats, errors.

use std::fs;
use std::time::Duration;

use dpc_store::{DEFAULT_TTL, StoreError, TieredCache};

use crate::support::{builder, cache, entries, files_only, names};

fn value(key: &str) -> String {
    format!("value of {key}")
}

#[test]
fn a_set_value_is_a_memory_hit() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<String>(dir.path());
    assert_eq!(cache.get("a").unwrap(), None);
    cache.set("a", value("a")).unwrap();
    assert_eq!(cache.get("a").unwrap().as_deref(), Some(&value("a")));
    let stats = cache.stats();
    assert_eq!((stats.memory_hits, stats.file_hits, stats.misses), (1, 0, 1));
    assert_eq!((stats.memory_entries, stats.file_entries), (1, 1));
    assert_eq!(stats.hit_rate(), 0.5);
}

#[test]
fn a_file_hit_is_promoted_to_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, clock) = cache::<String>(dir.path());
    writer.set("k", value("k")).unwrap();
    let reader = builder::<String>(dir.path()).0.clock(clock).build().unwrap();
    assert_eq!(reader.stats().memory_entries, 0);
    assert_eq!(reader.get("k").unwrap().as_deref(), Some(&value("k")));
    assert_eq!(reader.stats().file_hits, 1);
    assert_eq!(reader.stats().memory_entries, 1);
    // The next lookup does not touch the file: remove it and the memory copy still answers.
    fs::remove_file(&entries(dir.path())[0]).unwrap();
    assert_eq!(reader.get("k").unwrap().as_deref(), Some(&value("k")));
    assert_eq!((reader.stats().memory_hits, reader.stats().file_hits), (1, 1));
}

#[test]
fn values_persist_across_a_new_cache_on_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (first, _) = cache::<Vec<u64>>(dir.path());
        for i in 0..20 {
            first.set(&format!("k{i}"), vec![i; 3]).unwrap();
        }
    }
    let (second, _) = cache::<Vec<u64>>(dir.path());
    assert_eq!(second.stats().file_entries, 20, "the directory is scanned on open");
    for i in 0..20 {
        assert_eq!(second.get(&format!("k{i}")).unwrap().as_deref(), Some(&vec![i; 3]));
    }
    assert_eq!(second.stats().file_hits, 20);
}

#[test]
fn entries_expire_in_the_memory_tier_and_the_file_tier() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = cache::<String>(dir.path());
    cache.set_with_ttl("k", value("k"), Duration::from_secs(10)).unwrap();
    clock.advance(Duration::from_millis(9_999));
    assert!(cache.get("k").unwrap().is_some(), "alive 1 ms before expiry");
    clock.advance(Duration::from_millis(1));
    assert_eq!(cache.get("k").unwrap(), None, "expired at its expiry time");
    let stats = cache.stats();
    assert_eq!((stats.memory_expirations, stats.file_expirations, stats.misses), (1, 1, 1));
    assert_eq!((stats.memory_entries, stats.file_entries), (0, 0));
    assert!(entries(dir.path()).is_empty(), "the expired file is removed on read");
}

#[test]
fn an_expired_file_is_a_miss_for_a_reader_without_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, clock) = cache::<String>(dir.path());
    writer.set_with_ttl("k", value("k"), Duration::from_secs(1)).unwrap();
    let reader = files_only::<String>(dir.path(), &clock);
    assert!(reader.get("k").unwrap().is_some());
    clock.advance(Duration::from_secs(1));
    assert_eq!(reader.get("k").unwrap(), None);
    assert_eq!(reader.stats().file_expirations, 1);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn the_default_ttl_is_24_hours() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = cache::<String>(dir.path());
    assert_eq!(cache.default_ttl(), DEFAULT_TTL);
    assert_eq!(DEFAULT_TTL, Duration::from_secs(86_400));
    cache.set("k", value("k")).unwrap();
    clock.advance(DEFAULT_TTL - Duration::from_millis(1));
    assert!(files_only::<String>(dir.path(), &clock).get("k").unwrap().is_some());
    clock.advance(Duration::from_millis(1));
    assert_eq!(files_only::<String>(dir.path(), &clock).get("k").unwrap(), None);
    assert_eq!(cache.get("k").unwrap(), None);
}

#[test]
fn a_per_call_ttl_overrides_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let (b, clock) = builder::<u32>(dir.path());
    let cache = b.default_ttl(Duration::from_secs(5)).build().unwrap();
    cache.set("short", 1).unwrap();
    cache.set_with_ttl("long", 2, Duration::from_secs(60)).unwrap();
    let computed = cache.get_or_compute_with_ttl("computed", Duration::from_secs(60), || 3);
    assert_eq!(*computed, 3);
    clock.advance(Duration::from_secs(5));
    assert_eq!(cache.get("short").unwrap(), None);
    assert_eq!(cache.get("long").unwrap().as_deref(), Some(&2));
    assert_eq!(cache.get("computed").unwrap().as_deref(), Some(&3));
}

#[test]
fn an_expired_entry_is_never_written_and_replaces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<String>(dir.path());
    cache.set_with_ttl("k", value("k"), Duration::ZERO).unwrap();
    assert!(entries(dir.path()).is_empty());
    assert_eq!(cache.get("k").unwrap(), None);
    // Setting an already expired value over a live one removes the live one: the newest write wins.
    cache.set("k", value("k")).unwrap();
    cache.set_with_ttl("k", "new".to_string(), Duration::ZERO).unwrap();
    assert_eq!(cache.get("k").unwrap(), None);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn prefix_invalidation_removes_exactly_the_matching_keys_in_both_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = cache::<String>(dir.path());
    let keys = ["video/a/1", "video/a/2", "video/ab", "video/b/1", "audio/a/1"];
    for key in keys {
        cache.set(key, value(key)).unwrap();
    }
    // Another process's entry, only in the file tier as far as `cache` knows.
    files_only::<String>(dir.path(), &clock).set("video/a/3", value("video/a/3")).unwrap();
    assert_eq!(cache.invalidate_prefix("video/a/").unwrap(), 3);
    for key in ["video/a/1", "video/a/2", "video/a/3"] {
        assert_eq!(cache.get(key).unwrap(), None, "{key}");
    }
    for key in ["video/ab", "video/b/1", "audio/a/1"] {
        assert_eq!(files_only::<String>(dir.path(), &clock).get(key).unwrap().as_deref(), Some(&value(key)), "{key}");
    }
    assert_eq!(entries(dir.path()).len(), 3);
    assert_eq!(cache.invalidate_prefix("nothing/").unwrap(), 0);
}

#[test]
fn the_size_limit_removes_the_oldest_entries_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let probe = tempfile::tempdir().unwrap();
    let (one, _) = cache::<String>(probe.path());
    one.set("k0", "x".repeat(100)).unwrap();
    let size = one.stats().file_bytes;

    let (b, clock) = builder::<String>(dir.path());
    let cache = b.max_bytes(3 * size).build().unwrap();
    for i in 0..5 {
        cache.set(&format!("k{i}"), "x".repeat(100)).unwrap();
        assert!(cache.stats().file_bytes <= 3 * size, "over the limit after write {i}");
    }
    let stats = cache.stats();
    assert_eq!((stats.file_entries, stats.file_bytes, stats.size_evictions), (3, 3 * size, 2));
    let reader = files_only::<String>(dir.path(), &clock);
    let present: Vec<bool> = (0..5).map(|i| reader.get(&format!("k{i}")).unwrap().is_some()).collect();
    assert_eq!(present, [false, false, true, true, true]);
    // Rewriting k2 makes it the newest, so k3 goes next.
    cache.set("k2", "x".repeat(100)).unwrap();
    cache.set("k5", "x".repeat(100)).unwrap();
    let present: Vec<bool> = (2..6).map(|i| reader.get(&format!("k{i}")).unwrap().is_some()).collect();
    assert_eq!(present, [true, false, true, true]);
}

#[test]
fn an_entry_larger_than_the_limit_is_refused_but_kept_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _) = builder::<String>(dir.path());
    let cache = b.max_bytes(200).build().unwrap();
    cache.set("small", "s".into()).unwrap();
    let err = cache.set("big", "b".repeat(500)).unwrap_err();
    assert!(matches!(err, StoreError::EntryTooLarge { ref key, limit: 200, .. } if key == "big"), "{err}");
    assert_eq!(entries(dir.path()).len(), 1, "the small entry stays, the big one is not written");
    assert_eq!(cache.get("big").unwrap().map(|v| v.len()), Some(500));
    assert_eq!(cache.stats().write_errors, 1);
}

#[test]
fn stats_count_entries_and_bytes_per_tier() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _) = builder::<String>(dir.path());
    let cache = b.memory_capacity(2).build().unwrap();
    for key in ["a", "b", "c"] {
        cache.set(key, value(key)).unwrap();
    }
    let on_disk: u64 = entries(dir.path()).iter().map(|p| fs::metadata(p).unwrap().len()).sum();
    let stats = cache.stats();
    assert_eq!((stats.memory_entries, stats.file_entries, stats.memory_evictions), (2, 3, 1));
    assert_eq!(stats.file_bytes, on_disk);
    assert_eq!(stats.memory_bytes, on_disk * 2 / 3, "equal-sized entries, 2 of 3 in memory");
    // "a" was the least recently used: it comes from the file tier and pushes "b" out.
    assert!(cache.get("a").unwrap().is_some());
    assert_eq!((cache.stats().file_hits, cache.stats().memory_evictions), (1, 2));
}

#[test]
fn delete_and_clear_remove_entries_but_not_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<String>(dir.path());
    fs::write(dir.path().join("README.txt"), "not an entry").unwrap();
    for key in ["a", "b", "c"] {
        cache.set(key, value(key)).unwrap();
    }
    assert!(cache.delete("a").unwrap());
    assert!(!cache.delete("a").unwrap());
    assert_eq!(cache.get("a").unwrap(), None);
    assert_eq!(cache.clear().unwrap(), 2);
    assert_eq!(cache.get("b").unwrap(), None);
    assert_eq!(names(dir.path()), ["CACHEDIR.TAG", "README.txt"]);
    let stats = cache.stats();
    assert_eq!((stats.memory_entries, stats.memory_bytes, stats.file_entries, stats.file_bytes), (0, 0, 0, 0));
}

#[test]
fn cleanup_removes_expired_corrupt_and_stale_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = cache::<String>(dir.path());
    cache.set_with_ttl("short", value("short"), Duration::from_secs(1)).unwrap();
    cache.set_with_ttl("long", value("long"), Duration::from_secs(100)).unwrap();
    files_only::<String>(dir.path(), &clock).set_with_ttl("other", value("other"), Duration::from_secs(1)).unwrap();
    fs::write(dir.path().join(format!("{:032x}.json", 7)), b"{ not json").unwrap();
    let stale = dir.path().join(".dpc-store-tmp-1-0-00000000000000aa");
    let fresh = dir.path().join(".dpc-store-tmp-1-1-00000000000000bb");
    for path in [&stale, &fresh] {
        fs::write(path, b"half a docu").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    fs::File::options().write(true).open(&stale).unwrap().set_modified(two_hours_ago).unwrap();
    fs::write(dir.path().join("notes.txt"), b"mine").unwrap();

    clock.advance(Duration::from_secs(1));
    let report = cache.cleanup().unwrap();
    assert_eq!((report.expired, report.corrupt, report.stale_temp_files, report.evicted), (2, 1, 1, 0));
    assert_eq!(report.entries, 1);
    let stats = cache.stats();
    assert_eq!((stats.memory_entries, stats.file_entries, stats.memory_expirations), (1, 1, 1));
    assert_eq!(stats.file_bytes, report.bytes);
    assert!(!stale.exists() && fresh.exists(), "only temporary files older than an hour are leftovers");
    assert!(dir.path().join("notes.txt").exists());
    assert_eq!(cache.get("long").unwrap().as_deref(), Some(&value("long")));
}

#[test]
fn cleanup_enforces_the_size_limit_against_other_processes_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (b, clock) = builder::<String>(dir.path());
    let limited = b.max_bytes(1000).build().unwrap();
    let other = files_only::<String>(dir.path(), &clock);
    for i in 0..20 {
        other.set(&format!("k{i}"), "y".repeat(100)).unwrap();
    }
    let report = limited.cleanup().unwrap();
    assert!(report.evicted > 0);
    assert!(report.bytes <= 1000);
    let on_disk: u64 = entries(dir.path()).iter().map(|p| fs::metadata(p).unwrap().len()).sum();
    assert_eq!(on_disk, report.bytes);
}

#[test]
fn a_failing_file_tier_returns_typed_errors_and_the_memory_tier_still_serves() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    let (cache, _) = cache::<String>(&dir);
    cache.set("before", value("before")).unwrap();
    // Replace the directory with a file: every file operation now fails with "not a directory".
    fs::remove_dir_all(&dir).unwrap();
    fs::write(&dir, b"in the way").unwrap();
    let err = cache.set("k", value("k")).unwrap_err();
    assert!(err.path().is_some_and(|p| p.starts_with(&dir)), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&value("k")), "the memory tier kept it");
    assert_eq!(*cache.get_or_compute("computed", || value("computed")), value("computed"));
    assert_eq!(cache.get("computed").unwrap().as_deref(), Some(&value("computed")));
    assert_eq!(cache.stats().write_errors, 2);
    assert!(cache.cleanup().is_err());
    assert!(TieredCache::<String>::open(&dir).is_err(), "a file in the way of the directory");
}

#[test]
fn a_removed_directory_is_recreated_on_the_next_write() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    let (cache, _) = cache::<String>(&dir);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(cache.get("x").unwrap(), None, "a missing directory is an empty cache");
    cache.set("k", value("k")).unwrap();
    assert_eq!(entries(&dir).len(), 1);
}

#[test]
fn floats_read_back_from_the_file_tier_bit_for_bit() {
    // serde_json's default parser can be 1 ulp off; the crate enables `float_roundtrip` so a cache returns what it stored.
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = cache::<Vec<f64>>(dir.path());
    let values: Vec<f64> = (1..2000).map(|i| f64::from(i) / 7.0 * 1e-3 + 1.0 / f64::from(i * 3 + 1)).collect();
    cache.set("floats", values.clone()).unwrap();
    let back = files_only::<Vec<f64>>(dir.path(), &clock).get("floats").unwrap().unwrap();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back), bits(&values));
}

#[test]
fn a_sub_millisecond_ttl_is_refused_and_replaces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = cache::<String>(dir.path());
    cache.set("k", value("k")).unwrap();
    for ttl in [Duration::from_nanos(1), Duration::from_micros(999)] {
        let err = cache.set_with_ttl("k", "new".into(), ttl).unwrap_err();
        assert!(matches!(&err, StoreError::InvalidTtl { key, ttl: t } if key == "k" && *t == ttl), "{err:?}");
        assert!(err.to_string().contains("millisecond"), "{err}");
        assert_eq!(cache.get("k").unwrap().as_deref(), Some(&value("k")), "the old value stays");
    }
    // get_or_compute still returns its value, stores nothing, and counts the refusal.
    assert_eq!(*cache.get_or_compute_with_ttl("c", Duration::from_nanos(1), || value("c")), value("c"));
    assert_eq!(cache.stats().write_errors, 1);
    assert_eq!(entries(dir.path()).len(), 1);
    // One millisecond is kept.
    cache.set_with_ttl("ms", value("ms"), Duration::from_millis(1)).unwrap();
    assert_eq!(cache.get("ms").unwrap().as_deref(), Some(&value("ms")));
    // A default TTL under a millisecond would make every set a delete.
    assert!(matches!(
        TieredCache::<String>::builder(dir.path().join("d")).default_ttl(Duration::from_nanos(5)).build(),
        Err(StoreError::InvalidConfig { .. })
    ));
}

#[test]
fn a_cache_without_files_touches_no_directory() {
    let cwd_before = names(&std::env::current_dir().unwrap());
    let cache = TieredCache::<String>::builder_without_files().build().unwrap();
    cache.set("k", value("k")).unwrap();
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&value("k")));
    assert_eq!(cache.stats().file_entries, 0);
    assert_eq!(cache.cleanup().unwrap().entries, 0);
    assert!(cache.delete("k").unwrap());
    assert_eq!(names(&std::env::current_dir().unwrap()), cwd_before, "nothing written to the current directory");
}
