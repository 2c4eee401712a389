//! `dpc demo` end to end, on a small generated MOT file in a temporary directory.

use std::process::Command;

#[test]
fn demo_compares_predictors_on_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let file = dpc_gen::mot::ensure_demo_file(dir.path().join("demo.txt")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dpc"))
        .args(["demo", "--requests", "300", "--latency-ms", "0.2", "--think-ms", "0", "--json", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["predictor"].as_str().unwrap()).collect();
    assert_eq!(names, ["none", "python", "auto"]);
    let seen = runs[0]["detections_seen"].as_u64().unwrap();
    assert!(seen > 0, "the demo file has detections");
    for r in runs {
        let n = |f: &str| r[f].as_u64().unwrap();
        assert_eq!(n("requests"), 300);
        assert_eq!(n("hits") + n("late_hits") + n("misses"), 300);
        // Every run reads the same frames, so it sees the same detections, whatever was prefetched.
        assert_eq!(n("detections_seen"), seen, "{}", r["predictor"]);
    }
    assert_eq!(runs[0]["prefetch_issued"], 0, "no prefetching without a predictor");
    assert!(runs[2]["prefetch_issued"].as_u64().unwrap() > 0, "auto prefetches");
    assert_eq!(json["oracle"]["misses"], 1, "the clairvoyant schedule stalls only on the first request");
}

#[test]
fn demo_refuses_bad_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_dpc")).args(["demo", "--capacity", "0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--capacity"));
}
