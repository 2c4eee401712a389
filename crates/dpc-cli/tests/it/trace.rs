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

#[test]
fn gen_trace_takes_the_family_parameters() {
    let out = dpc(&[
        "gen",
        "trace",
        "fastforward",
        "-n",
        "300",
        "--seed",
        "2",
        "--speeds",
        "2,4",
        "--jump-rate",
        "0",
        "--seek-rate",
        "0",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let frames: Vec<i64> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.parse().unwrap()).collect();
    let steps: Vec<i64> = frames.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.iter().all(|d| *d == 2 || *d == 4), "{steps:?}");
    for args in
        [&["scrub", "--scrub-steps", "40,90"][..], &["interleaved", "--cursors", "3"], &["playback", "--jumps=-30,7"]]
    {
        let out = dpc(&[&["gen", "trace", "-n", "50"][..], args].concat());
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 50);
    }
    let out = dpc(&["gen", "trace", "playback", "--cursors", "3"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("trace kind playback does not use the parameter cursors"));
}

#[test]
fn gen_trace_streams_any_length_and_replaces_files_whole() {
    // Before, -n 18446744073709551615 overflowed the capacity and -n 10000000000 allocated 80 GB first.
    // Now the first lines come at once; `head` closing the pipe ends the run without an error.
    for n in ["18446744073709551615", "10000000000"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dpc"))
            .args(["gen", "trace", "random", "-n", n])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
        assert!(first.trim().parse::<u64>().is_ok(), "{first:?}");
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{n}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = dpc(&["gen", "trace", "random", "-n", "0"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--requests"));

    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.txt");
    std::fs::write(&t, "precious\n").unwrap();
    let out = dpc(&["gen", "trace", "random", "-n", "0", "-o", t.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&t).unwrap(), "precious\n");
    assert!(dpc(&["gen", "trace", "scan", "-n", "3", "-o", t.to_str().unwrap()]).status.success());
    assert_eq!(std::fs::read_to_string(&t).unwrap(), "5000\n5001\n5002\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left behind");
}
