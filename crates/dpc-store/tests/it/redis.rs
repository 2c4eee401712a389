//! The Redis tier against a real `redis-server`: sharing, TTL, namespaces, prefix invalidation, and every fault
//! (not running, killed, slow, restarted empty) ending in a clean fallback within the timeout.

use std::path::Path;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use dpc_store::{ManualClock, RedisConfig, RedisFailure, StoreError, TieredCache};

use crate::redis_server::RedisServer;
use crate::support::{T0, entries};

const TIMEOUT: Duration = Duration::from_millis(200);
const BACKOFF: Duration = Duration::from_secs(5);
/// Far above the timeout and far below the faults' durations: a call that returns within this did not block on them.
const BOUND: Duration = Duration::from_secs(4);

fn config(url: &str) -> RedisConfig {
    RedisConfig::new(url).namespace("test").timeout(TIMEOUT).backoff(BACKOFF, 4 * BACKOFF)
}

/// A cache over `dir` with a Redis tier and a manual clock.
fn cache(dir: &Path, redis: RedisConfig, clock: &ManualClock) -> TieredCache<String> {
    TieredCache::builder(dir).clock(clock.clone()).redis(redis).build().expect("build")
}

#[test]
fn caches_with_different_directories_share_results_through_redis() {
    let server = RedisServer::start();
    let clock = ManualClock::new(T0);
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = cache(a_dir.path(), config(&server.url()), &clock);
    let b = cache(b_dir.path(), config(&server.url()), &clock);
    let computed = AtomicUsize::new(0);
    let compute = || {
        computed.fetch_add(1, SeqCst);
        "segment analysis".to_string()
    };
    assert_eq!(*a.get_or_compute("video/1", compute), "segment analysis");
    assert_eq!(*b.get_or_compute("video/1", compute), "segment analysis");
    assert_eq!(computed.load(SeqCst), 1, "the second cache reused the first one's result");
    let stats = b.stats();
    assert_eq!((stats.redis_hits, stats.misses, stats.redis_errors, stats.redis_timeouts), (1, 0, 0, 0));
    // Promoted: the next lookup is local, and the file holds the very document Redis holds.
    assert_eq!(entries(b_dir.path()).len(), 1);
    assert!(b.get("video/1").unwrap().is_some());
    assert_eq!(b.stats().memory_hits, 1);
    let in_redis = server.command(&["GET", "test:video/1"]);
    let in_file = std::fs::read_to_string(&entries(b_dir.path())[0]).unwrap();
    assert!(in_redis.ends_with(&format!("{in_file}\r\n")), "same JSON document: {in_redis:?} vs {in_file:?}");
    assert!(in_file.contains("\"format\":\"dpc-store\""));
}

#[test]
fn ttls_map_to_redis_expiry_and_deletes_reach_redis() {
    let server = RedisServer::start();
    let clock = ManualClock::new(T0);
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), config(&server.url()), &clock);
    c.set_with_ttl("short", "s".into(), Duration::from_secs(60)).unwrap();
    c.set("default", "d".into()).unwrap();
    let pttl = |key: &str| -> i64 {
        let reply = server.command(&["PTTL", key]);
        reply.trim().trim_start_matches(':').parse().unwrap()
    };
    assert!((59_000..=60_000).contains(&pttl("test:short")), "{}", pttl("test:short"));
    assert!((86_399_000..=86_400_000).contains(&pttl("test:default")), "24 h: {}", pttl("test:default"));
    // An expired document is never served, even if Redis still holds it (clocks of several machines disagree).
    clock.advance(Duration::from_secs(61));
    let other_dir = tempfile::tempdir().unwrap();
    let other = cache(other_dir.path(), config(&server.url()), &clock);
    assert_eq!(other.get("short").unwrap(), None);
    assert!(other.delete("default").unwrap());
    assert_eq!(server.command(&["EXISTS", "test:default"]), ":0\r\n");
    // A zero TTL deletes in Redis too.
    c.set("zero", "z".into()).unwrap();
    c.set_with_ttl("zero", "z".into(), Duration::ZERO).unwrap();
    assert_eq!(server.command(&["EXISTS", "test:zero"]), ":0\r\n");
}

#[test]
fn prefix_invalidation_matches_literally_and_stays_in_its_namespace() {
    let server = RedisServer::start();
    let clock = ManualClock::new(T0);
    let (dir, other_dir, reader_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let c = cache(dir.path(), config(&server.url()), &clock);
    let other = cache(other_dir.path(), config(&server.url()).namespace("other"), &clock);
    // Glob characters in keys must match only themselves.
    let keys = ["a*/1", "a*/2", "ab/1", "a?/1", "[a]/1", "a\\/1", "b/1"];
    for key in keys {
        c.set(key, key.to_string()).unwrap();
        other.set(key, key.to_string()).unwrap();
    }
    // A key only in Redis (written by another process's cache), not in c's local tiers.
    cache(tempfile::tempdir().unwrap().path(), config(&server.url()), &clock).set("a*/3", "x".into()).unwrap();
    assert_eq!(c.invalidate_prefix("a*/").unwrap(), 3);
    assert_eq!(c.invalidate_prefix("[a]").unwrap(), 1);
    assert_eq!(c.invalidate_prefix("a\\").unwrap(), 1);
    let reader = cache(reader_dir.path(), config(&server.url()), &clock);
    let present: Vec<&str> = keys.iter().copied().filter(|k| reader.get(k).unwrap().is_some()).collect();
    assert_eq!(present, ["ab/1", "a?/1", "b/1"]);
    assert_eq!(reader.get("a*/3").unwrap(), None);
    // The other namespace is untouched, and clear() empties only this one.
    assert_eq!(server.command(&["DBSIZE"]), format!(":{}\r\n", keys.len() + 3));
    assert_eq!(c.clear().unwrap(), 3);
    assert_eq!(server.command(&["DBSIZE"]), format!(":{}\r\n", keys.len()));
    let other_reader = cache(tempfile::tempdir().unwrap().path(), config(&server.url()).namespace("other"), &clock);
    assert!(keys.iter().all(|k| other_reader.get(k).unwrap().is_some()));
}

#[test]
fn a_redis_that_is_not_running_is_a_counted_fallback_within_the_timeout() {
    let clock = ManualClock::new(T0);
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), config(&RedisServer::refused_url()), &clock);
    let t = Instant::now();
    assert_eq!(*c.get_or_compute("k", || "computed".to_string()), "computed");
    assert!(t.elapsed() < BOUND, "{:?}", t.elapsed());
    // The local tiers serve it; the failed Redis calls are counted.
    assert_eq!(c.get("k").unwrap().as_deref().map(String::as_str), Some("computed"));
    let stats = c.stats();
    assert_eq!((stats.misses, stats.memory_hits, stats.redis_errors), (1, 1, 1), "{stats:?}");
    // Writes say what happened to Redis after the local tiers took the value.
    let err = c.set("w", "v".into()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Redis { op: "set", key: Some(k), kind: RedisFailure::BackingOff, .. } if k == "w"),
        "{err:?}"
    );
    assert_eq!(c.get("w").unwrap().as_deref().map(String::as_str), Some("v"));
    assert_eq!(entries(dir.path()).len(), 2);
}

#[test]
fn after_a_failure_the_tier_backs_off_then_probes_again() {
    let mut server = RedisServer::start();
    let clock = ManualClock::new(T0);
    let dir = tempfile::tempdir().unwrap();
    let c = TieredCache::<String>::builder(dir.path())
        .memory_capacity(0)
        .clock(clock.clone())
        .redis(config(&server.url()))
        .build()
        .unwrap();
    c.set("k", "v".into()).unwrap();
    server.kill();
    // Killed mid-session: the pooled connection is dead and the server gone.
    assert_eq!(c.get("missing").unwrap(), None);
    assert_eq!((c.stats().redis_errors, c.stats().redis_skipped), (1, 0));
    // While backing off, no call reaches for the dead server.
    for i in 0..100 {
        assert_eq!(*c.get_or_compute(&format!("x{i}"), || "computed".to_string()), "computed");
    }
    assert_eq!(c.stats().redis_errors, 1, "{:?}", c.stats());
    assert_eq!(c.stats().redis_skipped, 200, "a get and a set per get_or_compute");
    // After the back-off one call probes (and fails again, doubling the back-off).
    clock.advance(BACKOFF);
    assert_eq!(c.get("missing").unwrap(), None);
    assert_eq!(c.stats().redis_errors, 2);
    clock.advance(BACKOFF);
    assert_eq!(c.get("missing").unwrap(), None);
    assert_eq!(c.stats().redis_errors, 2, "the second back-off is twice as long");
    // The server comes back (empty): after the back-off the tier works again.
    server.restart_empty();
    clock.advance(BACKOFF);
    c.set("back", "again".into()).unwrap();
    assert_eq!(server.command(&["EXISTS", "test:back"]), ":1\r\n");
    assert_eq!(c.get("k").unwrap().as_deref().map(String::as_str), Some("v"), "the local file tier kept it");
}

#[test]
fn a_paused_redis_times_out_instead_of_blocking_every_caller() {
    let server = RedisServer::start();
    let clock = ManualClock::new(T0);
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), config(&server.url()), &clock);
    c.set("warm", "w".into()).unwrap(); // a pooled connection exists
    // Every client's commands now wait 30 s (a slow or stuck server), connection handshakes included.
    assert_eq!(server.command(&["CLIENT", "PAUSE", "30000", "ALL"]), "+OK\r\n");
    const THREADS: usize = 8;
    let barrier = Barrier::new(THREADS);
    let t = Instant::now();
    let results: Vec<(String, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (c, barrier) = (&c, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let t = Instant::now();
                    let v = c.get_or_compute(&format!("k{i}"), || format!("computed {i}"));
                    ((*v).clone(), t.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // No UNPAUSE: it would wait for the pause too. The server is killed when the test ends.
    for (i, (value, took)) in results.iter().enumerate() {
        assert_eq!(value, &format!("computed {i}"));
        assert!(*took < BOUND, "thread {i} took {took:?} while Redis was paused for 30 s");
    }
    assert!(t.elapsed() < BOUND);
    let stats = c.stats();
    assert!(stats.redis_timeouts >= 1, "{stats:?}");
    assert_eq!(stats.redis_timeouts + stats.redis_errors + stats.redis_skipped, 2 * THREADS as u64, "{stats:?}");
    // The local tiers kept every computed value.
    assert_eq!(entries(dir.path()).len(), THREADS + 1);
}

#[test]
fn a_redis_restarted_without_its_data_recomputes_and_serves_nothing_stale() {
    let mut server = RedisServer::start();
    let clock = ManualClock::new(T0);
    // Redis only as far as lookups go: no memory tier, and a fresh directory per reader.
    let url = server.url();
    let reader = || {
        TieredCache::<String>::builder(tempfile::tempdir().unwrap().keep())
            .memory_capacity(0)
            .clock(clock.clone())
            .redis(config(&url))
            .build()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let writer = cache(dir.path(), config(&server.url()), &clock);
    writer.set("k", "v1".into()).unwrap();
    assert_eq!(reader().get("k").unwrap().as_deref().map(String::as_str), Some("v1"));
    server.restart_empty();
    // The data is gone: a new process computes again, and its result is what others see next.
    let computed = AtomicUsize::new(0);
    let fresh = reader();
    let value = fresh.get_or_compute("k", || {
        computed.fetch_add(1, SeqCst);
        "v2".to_string()
    });
    assert_eq!((value.as_str(), computed.load(SeqCst)), ("v2", 1));
    assert_eq!(reader().get("k").unwrap().as_deref().map(String::as_str), Some("v2"));
    // The writer's pooled connection died with the old server: its next write reconnects at once, no back-off.
    writer.set("k", "v3".into()).unwrap();
    assert_eq!(writer.stats().redis_errors, 0, "{:?}", writer.stats());
    assert_eq!(reader().get("k").unwrap().as_deref().map(String::as_str), Some("v3"));
    writer.invalidate_prefix("k").unwrap();
    assert_eq!(reader().get("k").unwrap(), None, "an invalidated key is not served from Redis");
}

#[test]
fn invalid_redis_settings_are_refused_at_build() {
    let dir = tempfile::tempdir().unwrap();
    let err = TieredCache::<String>::builder(dir.path()).redis(RedisConfig::new("http://nope")).build().unwrap_err();
    assert!(matches!(err, StoreError::Redis { kind: RedisFailure::InvalidUrl, .. }), "{err:?}");
    let err = TieredCache::<String>::builder(dir.path())
        .redis(RedisConfig::new("redis://127.0.0.1:1/").timeout(Duration::ZERO))
        .build()
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidConfig { .. }), "{err:?}");
}

/// The example binary, which `cargo test` builds beside the test binary (`target/<profile>/examples/`).
fn example_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).map(|dir| dir.join("examples").join("video_segments")).unwrap();
    assert!(path.exists(), "{} is missing: `cargo test -p dpc-store` builds the examples", path.display());
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/video_segments.rs");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).unwrap();
    assert!(
        modified(&path) >= modified(&source),
        "{} is older than its source: run `cargo test -p dpc-store` (a `--test it` run does not rebuild examples)",
        path.display()
    );
    path
}

fn run_example(args: &[&str]) -> String {
    let out = std::process::Command::new(example_binary()).args(args).output().expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}: {}\n{stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn two_example_processes_with_their_own_directories_compute_each_segment_once() {
    let server = RedisServer::start();
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let url = server.url();
    assert_eq!(run_example(&["--redis", &url, a.to_str().unwrap()]), "computed 12, reused 0\n");
    assert_eq!(run_example(&["--redis", &url, b.to_str().unwrap()]), "computed 0, reused 12\n");
    // Without Redis, b's own directory now has them all; a third directory alone computes everything.
    assert_eq!(run_example(&[b.to_str().unwrap()]), "computed 0, reused 12\n");
    assert_eq!(run_example(&[root.path().join("c").to_str().unwrap()]), "computed 12, reused 0\n");
    // Redis down: the example still finishes, computing what it cannot reuse.
    drop(server);
    assert_eq!(run_example(&["--redis", &url, root.path().join("d").to_str().unwrap()]), "computed 12, reused 0\n");
}

#[test]
fn hostile_keys_and_huge_ttls_round_trip_through_redis() {
    let server = RedisServer::start();
    let clock = ManualClock::new(T0);
    let writer = cache(tempfile::tempdir().unwrap().path(), config(&server.url()), &clock);
    let keys = ["*", "?", "[", "\\", "../../x", "", "nul\0byte", "line\nbreak", "emoji 🎞️"];
    for key in keys {
        // Duration::MAX means "never expires" in the document; Redis gets the longest expiry it accepts.
        writer.set_with_ttl(key, format!("v:{key}"), Duration::MAX).unwrap();
    }
    let reader = cache(tempfile::tempdir().unwrap().path(), config(&server.url()), &clock);
    for key in keys {
        assert_eq!(reader.get(key).unwrap().as_deref(), Some(&format!("v:{key}")), "{key:?}");
    }
    assert_eq!(reader.stats().redis_hits, keys.len() as u64);
    let pttl: i64 = server.command(&["PTTL", "test:*"]).trim().trim_start_matches(':').parse().unwrap();
    assert!(pttl > 1 << 49, "{pttl}");
    // "*" as a prefix is literal: it removes the key "*" only, "" removes everything.
    assert_eq!(writer.invalidate_prefix("*").unwrap(), 1);
    assert_eq!(writer.invalidate_prefix("").unwrap(), keys.len() as u64 - 1);
    assert_eq!(server.command(&["DBSIZE"]), ":0\r\n");
}

#[test]
fn redis_can_replace_the_file_tier() {
    let server = RedisServer::start();
    let clock = ManualClock::new(T0);
    let only_redis = || {
        TieredCache::<String>::builder_without_files()
            .clock(clock.clone())
            .redis(config(&server.url()))
            .build()
            .unwrap()
    };
    let (a, b) = (only_redis(), only_redis());
    assert_eq!(a.dir(), Path::new(""));
    assert_eq!(*a.get_or_compute("k", || "computed by a".into()), "computed by a");
    assert_eq!(*b.get_or_compute("k", || unreachable!("b reuses a's result")), "computed by a");
    let stats = b.stats();
    assert_eq!((stats.redis_hits, stats.memory_entries, stats.file_entries, stats.file_bytes), (1, 1, 0, 0));
    assert_eq!(b.get("k").unwrap().as_deref().map(String::as_str), Some("computed by a"), "kept in memory");
    assert_eq!(a.invalidate_prefix("").unwrap(), 1);
    assert_eq!(only_redis().get("k").unwrap(), None);
    a.cleanup().unwrap();
    assert_eq!(a.clear().unwrap(), 0);
    // An oversized document in Redis is a miss, as an oversized file would be.
    a.set("big", "b".repeat(5000)).unwrap();
    let small = TieredCache::<String>::builder_without_files()
        .max_entry_bytes(1000)
        .clock(clock.clone())
        .redis(config(&server.url()))
        .build()
        .unwrap();
    assert_eq!(small.get("big").unwrap(), None);
}

#[test]
fn a_reader_without_memory_or_files_reads_every_time_from_redis() {
    let server = RedisServer::start();
    let writer: TieredCache<String> = TieredCache::builder(tempfile::tempdir().unwrap().path().join("w"))
        .redis(config(&server.url()))
        .build()
        .unwrap();
    let reader: TieredCache<String> =
        TieredCache::builder_without_files().memory_capacity(0).redis(config(&server.url())).build().unwrap();
    for i in 0..10 {
        writer.set(&format!("k{i}"), format!("v{i}")).unwrap();
    }
    for round in 0..3 {
        for i in 0..10 {
            assert_eq!(reader.get(&format!("k{i}")).unwrap().as_deref(), Some(&format!("v{i}")), "round {round}");
        }
    }
    let stats = reader.stats();
    assert_eq!((stats.redis_hits, stats.misses, stats.redis_errors), (30, 0, 0), "{stats:?}");
}
