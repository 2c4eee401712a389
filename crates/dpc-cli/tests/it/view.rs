//! `dpc view` end to end, where no terminal is needed: its refusals, which come before it touches the terminal.
//! The screen itself is tested in the binary's `view::tests` through ratatui's `TestBackend`; a run that got
//! this far would open `/dev/tty` (crossterm does when stdin is not a terminal) and wait for keys.

use std::process::{Command, Stdio};

fn dpc_view(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dpc"))
        .arg("view")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn view_refuses_bad_settings() {
    for (args, says) in [
        (&["--capacity", "0"][..], "--capacity"),
        (&["--latency-ms=-1"][..], "--latency-ms"),
        (&["--latency-ms", "NaN"][..], "--latency-ms"),
        (&["--predictor", "psychic"][..], "psychic"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dpc_gen::mot::ensure_demo_file(dir.path().join("demo.txt")).unwrap();
        let mut all = args.to_vec();
        let file = file.to_string_lossy().into_owned();
        all.push(&file);
        let out = dpc_view(&all);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn view_names_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.txt");
    let out = dpc_view(&[missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.txt"), "{}", String::from_utf8_lossy(&out.stderr));
}
