//! `dpc demo` end to end, on a small generated MOT file in a temporary directory.

/// The words of `dpc demo`'s table header, for every test that reads the table.
pub const DEMO_HEADER: [&str; 14] = [
    "predictor",
    "hits",
    "late",
    "miss",
    "prefetch",
    "used",
    "wasted",
    "unused",
    "stall",
    "ms",
    "p99",
    "us",
    "vs",
    "none",
];

use std::path::Path;
use std::process::{Command, Output};

fn dpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpc")).args(args).output().unwrap()
}

fn last_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn demo_compares_predictors_on_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let file = dpc_gen::mot::ensure_demo_file(dir.path().join("demo.txt")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dpc"))
        .args(["demo", "--requests", "300", "--latency-ms", "0.2", "--think-ms", "0", "--json", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    let json = last_json(&out);
    let runs = json["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["predictor"].as_str().unwrap()).collect();
    assert_eq!(names, ["none", "python", "auto"]);
    let seen = runs[0]["detections_seen"].as_u64().unwrap();
    assert!(seen > 0, "the demo file has detections");
    for r in runs {
        let n = |f: &str| r[f].as_u64().unwrap();
        assert_eq!(n("requests"), 300);
        assert_eq!(n("hits") + n("late_hits") + n("misses"), 300);
        // Every prefetch ends one way (before, used + wasted fell short of issued without a word).
        assert_eq!(
            n("prefetch_used") + n("prefetch_wasted") + n("prefetch_unused") + n("prefetch_failed"),
            n("prefetch_issued"),
            "{r}"
        );
        // Every run reads the same frames, so it sees the same detections, whatever was prefetched.
        assert_eq!(n("detections_seen"), seen, "{}", r["predictor"]);
    }
    assert_eq!(runs[0]["prefetch_issued"], 0, "no prefetching without a predictor");
    assert!(runs[2]["prefetch_issued"].as_u64().unwrap() > 0, "auto prefetches");
    assert_eq!(json["oracle"]["misses"], 1, "the clairvoyant schedule stalls only on the first request");
}

#[test]
fn demo_table_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let file = dpc_gen::mot::ensure_demo_file(dir.path().join("demo.txt")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dpc"))
        .args(["demo", "--requests", "200", "--latency-ms", "0.2", "--think-ms", "0", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text.lines().find(|l| l.starts_with("predictor")).unwrap();
    let cols: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(cols, DEMO_HEADER);
    // Each predictor row adds up as the footnote says.
    for name in ["none", "python", "auto"] {
        let row: Vec<u64> = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .take(7)
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(row[0] + row[1] + row[2], 200, "{name}: {row:?}");
        assert_eq!(row[4] + row[5] + row[6], row[3], "{name}: {row:?}");
    }
    assert!(text.contains("hits + late + miss = 200 requests in every row"), "{text}");
    let help = String::from_utf8(dpc(&["demo", "--help"]).stdout).unwrap();
    for word in [
        "late ",
        "wasted ",
        "unused ",
        "stall ms",
        "vs none",
        "0 to 3600000",
        "1 to 1000000",
        "0 (no prefetching) to 1024",
    ] {
        assert!(help.contains(word), "--help does not explain {word:?}:\n{help}");
    }
}

#[test]
fn demo_refuses_out_of_range_options_before_doing_anything() {
    // Before, 1e300 panicked in Duration::from_secs_f64, 1e15 slept for 31 years, and the request counts
    // allocated 8 TB or overflowed the capacity.
    for (flag, value) in [
        ("--latency-ms", "1e300"),
        ("--latency-ms", "1e15"),
        ("--latency-ms", "-1"),
        ("--latency-ms", "nan"),
        ("--think-ms", "1e300"),
        ("--think-ms", "inf"),
        ("--requests", "1000000000000"),
        ("--requests", "18446744073709551615"),
        ("--requests", "0"),
        ("--workers", "18446744073709551615"),
        ("--workers", "1025"),
        ("--capacity", "0"),
    ] {
        let out = dpc(&["demo", &format!("{flag}={value}")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag) && !stderr.contains("panicked"), "{flag} {value}: {stderr}");
        assert!(out.stdout.is_empty(), "{flag} {value}: it started");
    }
}

#[test]
fn demo_refuses_a_fifo_at_once() {
    // Before, a FIFO without a writer blocked the open forever, and with one the demo failed only at the
    // first load with "Illegal seek". `timeout` turns a regression into a failure instead of a hung test.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("frames.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for file in [fifo.as_path(), dir.path(), Path::new("/dev/null")] {
        let out = Command::new("timeout")
            .args(["60", env!("CARGO_BIN_EXE_dpc"), "demo", "--requests", "10", "--file"])
            .arg(file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file:?}: {stderr}");
        assert!(stderr.contains("needs a regular file") && stderr.contains(&*file.to_string_lossy()), "{stderr}");
    }
}

/// Runs the demo binary at `exe` in `cwd` with `env`, and returns the demo file it reports.
fn demo_file_of(exe: &Path, cwd: &Path, env: &[(&str, &Path)]) -> std::path::PathBuf {
    let mut cmd = Command::new(exe);
    cmd.args(["demo", "--requests", "20", "--latency-ms", "0", "--think-ms", "0", "--json"]).current_dir(cwd);
    cmd.env_remove("XDG_CACHE_HOME");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let json = last_json(&cmd.output().unwrap());
    std::path::PathBuf::from(json["file"].as_str().unwrap())
}

#[test]
fn demo_keeps_its_file_in_the_target_or_the_cache_directory() {
    // Before, the file went to ./target/dpc-demo of whatever directory the demo ran in.
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();

    // Built by cargo: beside the build, in the target directory.
    let exe = Path::new(env!("CARGO_BIN_EXE_dpc"));
    let file = demo_file_of(exe, &work, &[]);
    assert_eq!(file, exe.parent().unwrap().parent().unwrap().join("dpc-demo/demo-mot.txt"));
    assert!(file.is_file());

    // Installed elsewhere: the platform cache directory.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let installed = bin.join("dpc");
    std::fs::copy(exe, &installed).unwrap();
    let cache = dir.path().join("cache");
    let file = demo_file_of(&installed, &work, &[("XDG_CACHE_HOME", &cache)]);
    assert_eq!(file, cache.join("dpc/demo-mot.txt"));
    assert!(file.is_file());
    let home = dir.path().join("home");
    let file = demo_file_of(&installed, &work, &[("HOME", &home)]);
    assert_eq!(file, home.join(".cache/dpc/demo-mot.txt"));
    assert!(file.is_file());

    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0, "nothing is written in the current directory");
}
