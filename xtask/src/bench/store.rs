//! The `store` suite: docs/BENCHMARKS.md, "The other suites" (stores).
//!
//! Each timing comes with a baseline measured in the same run, so the ratio means something on a noisy machine:
//! - memory-tier `get` of a 1 KiB value against a bare `Mutex<HashMap<String, Arc<V>>>` lookup;
//! - file-tier `get` (memory tier off) against `fs::read` of the same file alone, and against read + JSON parse;
//! - file-tier `set` (temporary file + rename) against a plain `fs::write` of the same bytes over the entry;
//! - `cleanup` of 10 000 entries (all live: read and check every header; all expired: remove every file)
//!   against listing the directory and reading every file;
//! - `StreamCache` chunk lookup including the XXH3-128 of a 64 KiB chunk, against the hash alone;
//! - with a local `redis-server` installed (skipped with a note otherwise): the Redis tier's `get` (memory tier off,
//!   entries only in Redis) and write-through `set`, against a bare GET and SET of the same document on one
//!   connection of the `redis` crate.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dpc_store::{ChunkKey, ContentHash, ManualClock, RedisConfig, StreamCache, TieredCache};

use super::{Suite, bar_chart, median, ns_per_op};
use crate::TaskResult;

const BUDGET: Duration = Duration::from_secs(2);
const KEYS: usize = 1000;
const CLEANUP_ENTRIES: usize = 10_000;
const CHUNK: usize = 64 * 1024;

pub fn run(suite: &mut Suite) -> TaskResult {
    let value = "x".repeat(1024);
    let keys: Vec<String> = (0..KEYS).map(|i| format!("bench/segment/{i:05}")).collect();
    let dir = tempfile::tempdir()?;
    let mut rows: Vec<(String, f64, String, f64)> = Vec::new();

    // Memory tier.
    let cache: TieredCache<String> = TieredCache::builder(dir.path().join("memory")).memory_capacity(KEYS).build()?;
    for key in &keys {
        cache.set(key, value.clone())?;
    }
    let entry_bytes = cache.stats().file_bytes as f64 / KEYS as f64;
    let memory_get = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            black_box(cache.get(&keys[i % KEYS]).ok());
        }
    });
    let map: Mutex<HashMap<String, Arc<String>>> =
        Mutex::new(keys.iter().map(|k| (k.clone(), Arc::new(value.clone()))).collect());
    let map_get = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            black_box(map.lock().unwrap().get(&keys[i % KEYS]).cloned());
        }
    });
    let clock_now = ns_per_op(BUDGET, |iters| {
        for _ in 0..iters {
            black_box(std::time::SystemTime::now());
        }
    });
    assert_eq!(cache.stats().misses, 0, "every memory-tier lookup must hit");
    suite.metric("entry_document_bytes", entry_bytes, "B");
    suite.metric("memory_get_ns", memory_get, "ns");
    suite.metric("baseline_mutex_hashmap_get_ns", map_get, "ns");
    suite.metric("memory_get_vs_hashmap", memory_get / map_get, "x");
    suite.metric("baseline_system_clock_now_ns", clock_now, "ns");
    rows.push(("memory get".into(), memory_get / 1e3, "Mutex<HashMap> get".into(), map_get / 1e3));

    // File tier, memory tier off.
    let files: TieredCache<String> = TieredCache::builder(dir.path().join("memory")).memory_capacity(0).build()?;
    let file_get = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            black_box(files.get(&keys[i % KEYS]).ok());
        }
    });
    assert_eq!(files.stats().misses, 0, "every file-tier lookup must hit");
    let mut paths: Vec<_> =
        std::fs::read_dir(dir.path().join("memory"))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    // The entries only, not the cache's CACHEDIR.TAG.
    paths.retain(|p| p.extension().is_some_and(|x| x == "json"));
    let raw_read = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            black_box(std::fs::read(&paths[i % paths.len()]).ok());
        }
    });
    let read_parse = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            let bytes = std::fs::read(&paths[i % paths.len()]).unwrap_or_default();
            black_box(serde_json::from_slice::<serde_json::Value>(&bytes).ok());
        }
    });
    suite.metric("file_get_us", file_get / 1e3, "us");
    suite.metric("baseline_fs_read_us", raw_read / 1e3, "us");
    suite.metric("baseline_fs_read_and_json_parse_us", read_parse / 1e3, "us");
    suite.metric("file_get_vs_fs_read", file_get / raw_read, "x");
    rows.push(("file get".into(), file_get / 1e3, "fs::read".into(), raw_read / 1e3));

    let writer: TieredCache<String> = TieredCache::builder(dir.path().join("set")).memory_capacity(0).build()?;
    let file_set = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            black_box(writer.set(&keys[i % KEYS], value.clone()).ok());
        }
    });
    let document = std::fs::read(&paths[0])?;
    let plain_dir = dir.path().join("plain");
    std::fs::create_dir_all(&plain_dir)?;
    let plain_paths: Vec<_> = (0..KEYS).map(|i| plain_dir.join(format!("{i:032x}.json"))).collect();
    let plain_write = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            black_box(std::fs::write(&plain_paths[i % KEYS], &document).ok());
        }
    });
    let fsync_writer: TieredCache<String> =
        TieredCache::builder(dir.path().join("fsync")).memory_capacity(0).fsync(true).build()?;
    let fsync_set = ns_per_op(Duration::from_millis(500), |iters| {
        for i in 0..iters as usize {
            black_box(fsync_writer.set(&keys[i % KEYS], value.clone()).ok());
        }
    });
    assert_eq!(writer.stats().write_errors + fsync_writer.stats().write_errors, 0);
    suite.metric("file_set_us", file_set / 1e3, "us");
    suite.metric("file_set_fsync_us", fsync_set / 1e3, "us");
    suite.metric("baseline_fs_write_in_place_us", plain_write / 1e3, "us");
    suite.metric("file_set_vs_fs_write", file_set / plain_write, "x");
    rows.push(("file set".into(), file_set / 1e3, "fs::write in place".into(), plain_write / 1e3));

    // Cleanup of 10 000 entries.
    let (live_ms, expired_ms, scan_ms) = cleanup_times(&dir.path().join("cleanup"), &value)?;
    suite.metric("cleanup_10k_live_ms", live_ms, "ms");
    suite.metric("cleanup_10k_expired_ms", expired_ms, "ms");
    suite.metric("baseline_list_and_read_10k_ms", scan_ms, "ms");
    suite.metric("cleanup_live_vs_list_and_read", live_ms / scan_ms, "x");

    // StreamCache lookup including the hash of a 64 KiB chunk.
    let chunk: Vec<u8> = (0..CHUNK as u64).map(|i| (i.wrapping_mul(0x9e37_79b9) >> 13) as u8).collect();
    let config = ContentHash::of_bytes(b"filter config");
    let state = ContentHash::of_bytes(b"trained state");
    let stream: StreamCache<(), f64> = StreamCache::builder().max_chunks(1024).build()?;
    stream.insert_chunk(ChunkKey::for_bytes(config, state, &chunk), 1.0)?;
    let lookup = ns_per_op(BUDGET, |iters| {
        for _ in 0..iters {
            black_box(stream.chunk(&ChunkKey::for_bytes(config, state, black_box(&chunk))));
        }
    });
    let hash_only = ns_per_op(BUDGET, |iters| {
        for _ in 0..iters {
            black_box(ContentHash::of_bytes(black_box(&chunk)));
        }
    });
    let key = ChunkKey::for_bytes(config, state, &chunk);
    let prehashed = ns_per_op(BUDGET, |iters| {
        for _ in 0..iters {
            black_box(stream.chunk(black_box(&key)));
        }
    });
    assert_eq!(stream.misses(), 0);
    suite.metric("stream_chunk_lookup_64k_ns", lookup, "ns");
    suite.metric("baseline_xxh3_128_64k_ns", hash_only, "ns");
    suite.metric("stream_lookup_vs_hash_only", lookup / hash_only, "x");
    suite.metric("stream_chunk_lookup_prehashed_ns", prehashed, "ns");
    suite.metric("xxh3_128_gb_per_s", CHUNK as f64 / hash_only, "GB/s");
    rows.push(("StreamCache lookup 64 KiB".into(), lookup / 1e3, "XXH3-128 of 64 KiB".into(), hash_only / 1e3));

    let redis_note = match redis_times(dir.path(), &keys, &value)? {
        Some(r) => {
            suite.metric("redis_get_us", r.get / 1e3, "us");
            suite.metric("redis_set_write_through_us", r.set / 1e3, "us");
            suite.metric("baseline_redis_raw_get_us", r.raw_get / 1e3, "us");
            suite.metric("baseline_redis_raw_set_us", r.raw_set / 1e3, "us");
            suite.metric("redis_get_vs_raw_get", r.get / r.raw_get, "x");
            suite.metric("redis_set_vs_raw_set", r.set / r.raw_set, "x");
            rows.push(("Redis tier get".into(), r.get / 1e3, "redis GET".into(), r.raw_get / 1e3));
            rows.push(("Redis tier set (+ file)".into(), r.set / 1e3, "redis SET PX".into(), r.raw_set / 1e3));
            "The Redis rows use a local redis-server on a loopback port (no persistence): the tier's get with the \
             memory tier off and the entry only in Redis (no promotion), and a write-through set (memory, file, Redis), \
             against a bare GET and SET PX of the same document on one connection.\n"
                .to_string()
        }
        None => {
            "The Redis rows were skipped: redis-server is not installed (apt-get install -y redis-server).\n".into()
        }
    };

    let mut md =
        String::from("Two-level cache with 1 KiB values (a 1024-character string; each entry document is about ");
    md.push_str(&format!(
        "{entry_bytes:.0} bytes), {KEYS} keys, files in the page cache; StreamCache with a 64 KiB chunk.\n\n\
         | operation | time | baseline (same run) | baseline time | ratio |\n|---|---|---|---|---|\n"
    ));
    for (name, t, base, b) in &rows {
        md.push_str(&format!("| {name} | {t:.3} us | {base} | {b:.3} us | {:.2}x |\n", t / b));
    }
    md.push_str(&format!(
        "| cleanup, 10 000 live entries | {live_ms:.1} ms | list + read every file | {scan_ms:.1} ms | {:.2}x |\n\
         | cleanup, 10 000 expired entries | {expired_ms:.1} ms | list + read every file | {scan_ms:.1} ms | {:.2}x |\n\
         | file set with fsync | {:.1} us | | | |\n\n\
         Inside the memory-tier get, reading the system clock (for the TTL check) costs {clock_now:.0} ns; \
         a StreamCache lookup with the key already hashed costs {prehashed:.0} ns.\n",
        live_ms / scan_ms,
        expired_ms / scan_ms,
        fsync_set / 1e3
    ));
    md.push_str(&redis_note);
    suite.markdown(&md);
    let groups: Vec<(String, Vec<f64>)> = rows.iter().map(|(name, t, _, b)| (name.clone(), vec![*t, *b])).collect();
    suite.plot("store.svg", &bar_chart("store operations vs baselines", "us", &["dpc-store", "baseline"], &groups))?;
    Ok(())
}

/// Times `cleanup` over 10 000 live entries (median of 3), then over the same entries all expired,
/// and the baseline of listing the directory and reading every file (median of 3).
fn cleanup_times(dir: &Path, value: &str) -> Result<(f64, f64, f64), Box<dyn std::error::Error>> {
    let clock = ManualClock::new(1_700_000_000_000);
    let cache: TieredCache<String> = TieredCache::builder(dir).memory_capacity(0).clock(clock.clone()).build()?;
    for i in 0..CLEANUP_ENTRIES {
        cache.set_with_ttl(&format!("cleanup/{i:05}"), value.to_string(), Duration::from_secs(60))?;
    }
    let mut live = Vec::new();
    let mut scan = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let report = cache.cleanup()?;
        live.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(report.entries as usize, CLEANUP_ENTRIES);

        let t = Instant::now();
        let mut bytes = 0;
        for entry in std::fs::read_dir(dir)? {
            bytes += std::fs::read(entry?.path())?.len();
        }
        black_box(bytes);
        scan.push(t.elapsed().as_secs_f64() * 1e3);
    }
    clock.advance(Duration::from_secs(60));
    let t = Instant::now();
    let report = cache.cleanup()?;
    let expired = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!((report.expired as usize, report.entries), (CLEANUP_ENTRIES, 0));
    Ok((median(&mut live), expired, median(&mut scan)))
}

/// The Redis tier's timings (ns per op), or `None` when no redis-server is installed.
struct RedisTimes {
    get: f64,
    set: f64,
    raw_get: f64,
    raw_set: f64,
}

/// A redis-server on a free loopback port for the run, killed on drop (before its data directory goes).
struct LocalRedis {
    child: std::process::Child,
    _data: tempfile::TempDir,
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_times(dir: &Path, keys: &[String], value: &str) -> Result<Option<RedisTimes>, Box<dyn std::error::Error>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let data = tempfile::tempdir()?;
    let child = match std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(data.path())
        .stdout(std::process::Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(_) => return Ok(None),
    };
    let _server = LocalRedis { child, _data: data };
    let url = format!("redis://127.0.0.1:{port}/");
    let client = redis::Client::open(url.as_str())?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut con = loop {
        if let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(200))
            && redis::cmd("PING").query::<String>(&mut con).is_ok()
        {
            break con;
        }
        if Instant::now() >= deadline {
            return Err("redis-server did not answer PING".into());
        }
        // Polling while the server starts; PING decides.
        std::thread::sleep(Duration::from_millis(5));
    };
    let config = || RedisConfig::new(url.as_str()).namespace("bench").timeout(Duration::from_secs(2));
    let writer: TieredCache<String> = TieredCache::builder(dir.join("redis-writer")).redis(config()).build()?;
    let set = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            black_box(writer.set(&keys[i % keys.len()], value.to_string()).ok());
        }
    });
    // The timed sets wrote only the first keys (each batch starts at key 0): write them all before timing gets.
    for key in keys {
        writer.set(key, value.to_string())?;
    }
    // No memory tier and no file tier: every get asks Redis.
    let reader: TieredCache<String> =
        TieredCache::builder_without_files().memory_capacity(0).redis(config()).build()?;
    let get = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            black_box(reader.get(&keys[i % keys.len()]).ok());
        }
    });
    let stats = reader.stats();
    assert_eq!((stats.misses, stats.redis_errors + stats.redis_timeouts + writer.stats().redis_errors), (0, 0));
    let document: Vec<u8> = redis::cmd("GET").arg(format!("bench:{}", keys[0])).query(&mut con)?;
    let raw_get = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            let name = format!("bench:{}", keys[i % keys.len()]);
            black_box(redis::cmd("GET").arg(name).query::<Option<Vec<u8>>>(&mut con).ok());
        }
    });
    let raw_set = ns_per_op(BUDGET, |iters| {
        for i in 0..iters as usize {
            let name = format!("raw:{}", keys[i % keys.len()]);
            black_box(
                redis::cmd("SET").arg(name).arg(&document).arg("PX").arg(86_400_000u64).query::<()>(&mut con).ok(),
            );
        }
    });
    Ok(Some(RedisTimes { get, set, raw_get, raw_set }))
}
