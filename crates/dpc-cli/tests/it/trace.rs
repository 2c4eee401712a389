//! `dpc gen trace` end to end.

use std::process::Command;

fn dpc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dpc")).args(args).output().expect("run dpc")
}

#[test]
fn gen_trace_is_deterministic_and_readable_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.txt");
    for path in [&a, &b] {
        let out = dpc(&["gen", "trace", "backward", "-n", "200", "--seed", "4", "-o", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    assert_eq!(text.lines().count(), 200);
    // Without -o the trace goes to stdout, identical.
    let out = dpc(&["gen", "trace", "backward", "-n", "200", "--seed", "4"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
    let out = dpc(&["oracle", a.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
}

#[test]
fn every_kind_generates_and_unknown_kinds_fail() {
    for kind in ["playback", "annotate", "scan", "markov", "random", "backward", "interleaved", "jumps"] {
        let out = dpc(&["gen", "trace", kind, "-n", "50", "--seed", "1"]);
        assert!(out.status.success(), "{kind}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 50, "{kind}");
    }
    let out = dpc(&["gen", "trace", "sideways"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown trace kind"));
}
