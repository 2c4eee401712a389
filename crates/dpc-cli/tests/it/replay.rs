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

#[test]
fn replay_and_oracle_refuse_out_of_range_options() {
    // Before, `oracle --workers 18446744073709551615` aborted allocating one slot per worker.
    let f = trace_file("1\n2\n");
    let path = f.path().to_str().unwrap();
    for cmd in ["replay", "oracle"] {
        for (flag, value) in [
            ("--workers", "18446744073709551615"),
            ("--workers", "1025"),
            ("--workers", "-1"),
            ("--latency-ms", "1e300"),
            ("--latency-ms", "1e15"),
            ("--think-ms", "nan"),
            ("--capacity", "0"),
            ("--capacity", "18446744073709551616"),
            ("--limit", "0"),
        ] {
            let out =
                Command::new(env!("CARGO_BIN_EXE_dpc")).args([cmd, path, &format!("{flag}={value}")]).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {flag} {value}: {stderr}");
            assert!(stderr.contains(flag) && !stderr.contains("panicked"), "{cmd} {flag} {value}: {stderr}");
        }
        let (ok, _, stderr) = dpc(&[cmd, path, "--workers", "0", "--latency-ms", "0", "--think-ms", "0"]);
        assert!(ok, "0 workers means no prefetching: {stderr}");
        let (_, help, _) = dpc(&[cmd, "--help"]);
        assert!(help.contains("0 to 3600000") && help.contains("0 (no prefetching) to 1024"), "{help}");
    }
}

/// The numbers of a summary line `name  total = a x + b y + ...`.
fn sum_line(text: &str, name: &str) -> (u64, Vec<u64>) {
    let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} line in {text}"));
    let (total, parts) = line[name.len()..].split_once('=').unwrap();
    let parts = parts.split('+').map(|p| p.split_whitespace().next().unwrap().parse().unwrap()).collect();
    (total.trim().parse().unwrap(), parts)
}

#[test]
fn the_replay_summary_adds_up_and_is_explained() {
    // Before: "hits 2845 (late 47, misses 108)" and "N prefetched (U used, W wasted)" with U + W < N.
    let trace: String = dpc_gen::trace::generate(dpc_gen::trace::TraceKind::Annotate, 300, 2).to_text();
    let f = trace_file(&trace);
    let (ok, text, stderr) =
        dpc(&["replay", f.path().to_str().unwrap(), "--latency-ms", "0.2", "--think-ms", "0", "--capacity", "16"]);
    assert!(ok, "{stderr}");
    let (requests, parts) = sum_line(&text, "requests");
    assert_eq!((requests, parts.len(), parts.iter().sum::<u64>()), (300, 3, 300), "{text}");
    let (loads, parts) = sum_line(&text, "loads");
    assert_eq!(parts.iter().sum::<u64>(), loads, "{text}");
    let prefetched = parts[1];
    let (total, parts) = sum_line(&text, "prefetched");
    assert_eq!((total, parts.len(), parts.iter().sum::<u64>()), (prefetched, 4, prefetched), "{text}");
    assert!(prefetched > 0, "{text}");
    assert!(stderr.is_empty(), "no progress bar when stderr is not a terminal: {stderr:?}");

    let (ok, text, _) = dpc(&["oracle", f.path().to_str().unwrap()]);
    assert!(ok);
    let (requests, parts) = sum_line(&text, "requests");
    assert_eq!((requests, parts.iter().sum::<u64>()), (300, 300), "{text}");
    let (loads, parts) = sum_line(&text, "loads");
    assert_eq!(parts.iter().sum::<u64>(), loads, "{text}");

    let (_, help, _) = dpc(&["replay", "--help"]);
    for word in ["late hit", "wasted", "unused at the end", "cancelled", "p99_us", "add up"] {
        assert!(help.contains(word), "replay --help does not explain {word:?}");
    }
}

#[test]
fn traces_are_read_once_from_pipes_and_endless_lines_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("trace.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, "1\n2\n3\n").unwrap())
    };
    let (ok, stdout, stderr) = dpc(&["oracle", fifo.to_str().unwrap(), "--json"]);
    writer.join().unwrap();
    assert!(ok, "{stderr}");
    assert_eq!(last_json(&stdout)["misses"], 1);
    // Before, /dev/zero was read into memory until the allocation failed.
    let (ok, _, stderr) = dpc(&["replay", "/dev/zero"]);
    assert!(!ok && stderr.contains("/dev/zero:1") && stderr.contains("longer than"), "{stderr}");
}
