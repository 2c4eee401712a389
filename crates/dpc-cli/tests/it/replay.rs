//! `dpc replay` and `dpc oracle` end to end (latency and think 0 for replay, so nothing sleeps).

use std::process::Command;

fn dpc(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpc")).args(args).output().expect("run dpc");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().expect("a last line")).expect("the last line is JSON")
}

fn trace_file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[test]
fn replay_json_has_the_spec_fields_and_deterministic_counts() {
    let f = trace_file("1\n2\n1\n3\n1\n2\n");
    let path = f.path().to_str().unwrap();
    let (ok, stdout, stderr) =
        dpc(&["replay", path, "--latency-ms", "0", "--think-ms", "0", "--predictor", "none", "--json"]);
    assert!(ok, "{stderr}");
    let j = last_json(&stdout);
    for field in [
        "requests",
        "hits",
        "late_hits",
        "misses",
        "stall_ms",
        "p50_us",
        "p99_us",
        "max_us",
        "loads",
        "prefetch_issued",
        "prefetch_used",
        "prefetch_wasted",
        "wall_ms",
        "predictor",
    ] {
        assert!(j.get(field).is_some(), "missing {field} in {j}");
    }
    assert_eq!((j["requests"].as_u64(), j["hits"].as_u64(), j["misses"].as_u64()), (Some(6), Some(3), Some(3)));
    assert_eq!(j["predictor"], "none");
}

#[test]
fn replay_takes_every_predictor_name_on_frames() {
    let f = trace_file(&(0..40).map(|i| format!("{i}\n")).collect::<String>());
    let path = f.path().to_str().unwrap();
    for name in dpc_predictors::NAMES {
        let (ok, stdout, stderr) =
            dpc(&["replay", path, "--latency-ms", "0", "--think-ms", "0", "--predictor", name, "--json"]);
        assert!(ok, "{name}: {stderr}");
        assert_eq!(last_json(&stdout)["requests"], 40, "{name}");
    }
}

#[test]
fn string_traces_refuse_integer_only_predictors() {
    let f = trace_file("home\nnews\nhome\n");
    let path = f.path().to_str().unwrap();
    let (ok, stdout, _) = dpc(&["replay", path, "--latency-ms", "0", "--think-ms", "0", "--json"]);
    assert!(ok);
    assert_eq!(last_json(&stdout)["predictor"], "auto");
    let (ok, _, stderr) = dpc(&["replay", path, "--predictor", "python"]);
    assert!(!ok);
    assert!(stderr.contains("needs integer keys"), "{stderr}");
    let (ok, _, stderr) = dpc(&["replay", path, "--predictor", "psychic"]);
    assert!(!ok && stderr.contains("unknown predictor"), "{stderr}");
}

#[test]
fn oracle_json_matches_the_worked_example() {
    // See dpc-gen's oracle tests: 1 misses (stall 2 ms), 2 and 3 are prefetched meanwhile and hit.
    let f = trace_file("1\n2\n3\n");
    let (ok, stdout, stderr) = dpc(&["oracle", f.path().to_str().unwrap(), "--json"]);
    assert!(ok, "{stderr}");
    let j = last_json(&stdout);
    assert_eq!(j["stall_ms"], 2.0);
    assert_eq!(
        (j["hits"].as_u64(), j["late_hits"].as_u64(), j["misses"].as_u64(), j["loads"].as_u64()),
        (Some(2), Some(0), Some(1), Some(3))
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let (ok, _, stderr) = dpc(&["oracle", "/nonexistent/trace.txt"]);
    assert!(!ok && stderr.contains("/nonexistent/trace.txt"), "{stderr}");
    let f = trace_file("1\n");
    let (ok, _, stderr) = dpc(&["replay", f.path().to_str().unwrap(), "--capacity", "0"]);
    assert!(!ok && stderr.contains("capacity"), "{stderr}");
    let (ok, _, stderr) = dpc(&["replay", f.path().to_str().unwrap(), "--latency-ms=-1"]);
    assert!(!ok && stderr.contains("latency"), "{stderr}");
    let (ok, _, stderr) = dpc(&["oracle", f.path().to_str().unwrap(), "--think-ms", "1e300"]);
    assert!(!ok && stderr.contains("think"), "{stderr}");
}
