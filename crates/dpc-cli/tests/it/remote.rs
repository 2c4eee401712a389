//! `dpc inspect mot` and `dpc demo --file` on s3:// URLs, against a real S3-compatible server on loopback,
//! configured through the standard `AWS_*` environment of the child process.

use std::process::{Command, Output};

use dpc_testserver::S3Server;

fn dpc(server: &S3Server, cache: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpc"))
        .args(args)
        .envs(server.env())
        .env("DPC_INDEX_CACHE", cache)
        .output()
        .unwrap()
}

fn last_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn server_with_demo_file() -> (S3Server, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dpc_gen::mot::ensure_demo_file(dir.path().join("demo.txt")).unwrap();
    let server = S3Server::start().unwrap();
    server.create_bucket("bucket").unwrap();
    server.put("bucket", "demo.txt", &std::fs::read(&file).unwrap()).unwrap();
    (server, dir, file)
}

#[test]
fn inspect_mot_reads_an_s3_url_like_the_local_file_and_saves_its_index() {
    let (server, dir, file) = server_with_demo_file();
    let cache = dir.path().join("index-cache");
    let local = last_json(&dpc(&server, &cache, &["inspect", "mot", "--json", file.to_str().unwrap()]));
    assert!(!cache.exists(), "local files are indexed each time, not cached");
    let remote = last_json(&dpc(&server, &cache, &["inspect", "mot", "--json", "s3://bucket/demo.txt"]));
    for field in ["bytes", "first_frame", "last_frame", "frames", "rows", "ids", "columns", "sorted", "lines"] {
        assert_eq!(remote[field], local[field], "{field}");
    }
    assert_eq!(remote["path"], "s3://bucket/demo.txt");
    let saved: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert_eq!(saved.len(), 1, "one saved index for the object");
    // Reopened with the saved index: the same report.
    let again = last_json(&dpc(&server, &cache, &["inspect", "mot", "--json", "s3://bucket/demo.txt"]));
    assert_eq!(again["frames"], local["frames"]);
    assert_eq!(again["rows"], local["rows"]);
}

#[test]
fn demo_runs_over_s3_with_real_network_loads() {
    let (server, dir, _file) = server_with_demo_file();
    let cache = dir.path().join("index-cache");
    let out = dpc(
        &server,
        &cache,
        &[
            "demo",
            "--file",
            "s3://bucket/demo.txt",
            "--requests",
            "300",
            "--latency-ms",
            "0",
            "--think-ms",
            "0.5",
            "--json",
        ],
    );
    let json = last_json(&out);
    let runs = json["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["predictor"].as_str().unwrap()).collect();
    assert_eq!(names, ["none", "python", "auto"]);
    let seen = runs[0]["detections_seen"].as_u64().unwrap();
    assert!(seen > 0);
    for r in runs {
        assert_eq!(r["detections_seen"].as_u64().unwrap(), seen, "{}", r["predictor"]);
    }
    assert!(runs[2]["prefetch_issued"].as_u64().unwrap() > 0, "auto prefetches over the network");
    assert!(runs[0]["stall_ms"].as_f64().unwrap() > 0.0, "network loads take time");
}

#[test]
fn errors_name_the_url_and_what_failed() {
    let (mut server, dir, _file) = server_with_demo_file();
    let cache = dir.path().join("index-cache");
    let missing = dpc(&server, &cache, &["inspect", "mot", "s3://bucket/missing.txt"]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("s3://bucket/missing.txt: not found"), "{err}");
    let bad = dpc(&server, &cache, &["inspect", "mot", "ftp://host/x"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scheme"), "{:?}", bad);
    server.stop();
    let down = dpc(&server, &cache, &["inspect", "mot", "s3://bucket/demo.txt"]);
    assert!(!down.status.success());
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(err.contains("s3://bucket/demo.txt: connection failed"), "{err}");
}
