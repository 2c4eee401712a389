//! Progress bars: drawn on a real terminal (a pseudo-terminal from `script`), silent everywhere else.

use std::process::Command;

/// Runs `dpc ARGS` on a pseudo-terminal and returns everything it drew there (stdout and stderr).
fn on_terminal(args: &str) -> String {
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_dpc"));
    let out = Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().expect("run script");
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn replay_and_demo_show_progress_on_a_terminal_only() {
    // Before, both ran for seconds without a word.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.txt");
    std::fs::write(&trace, dpc_gen::trace::generate(dpc_gen::trace::TraceKind::Annotate, 200, 1).to_text()).unwrap();
    let t = trace.to_str().unwrap();
    let replay = format!("replay {t} --latency-ms 1 --think-ms 0.5");
    assert!(on_terminal(&replay).contains("/200 requests"), "no progress bar on a terminal");
    let json = on_terminal(&format!("{replay} --json"));
    assert!(!json.contains("/200 requests"), "a progress bar with --json: {json}");

    let mot = dpc_gen::mot::ensure_demo_file(dir.path().join("demo.txt")).unwrap();
    let demo = format!("demo --requests 100 --latency-ms 1 --think-ms 0.5 --file {}", mot.display());
    assert!(on_terminal(&demo).contains("/300 requests"), "the demo's bar covers its three runs");
    assert!(!on_terminal(&format!("{demo} --json")).contains("/300 requests"));

    // Not a terminal: nothing on stderr.
    let out = Command::new(env!("CARGO_BIN_EXE_dpc")).args(demo.split(' ')).output().unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{:?}", String::from_utf8_lossy(&out.stderr));
}
