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

/// The "done when": `dpc demo --file s3://bucket/demo.txt` with no injected latency prints the
/// side-by-side table, and `auto` waits far less than no prefetching, the loads being the network reads.
#[test]
fn demo_table_over_s3_shows_auto_stalling_far_less_than_none() {
    let (server, dir, _file) = server_with_demo_file();
    let cache = dir.path().join("index-cache");
    let requests = 600;
    let out = dpc(
        &server,
        &cache,
        &["demo", "--file", "s3://bucket/demo.txt", "--latency-ms", "0", "--requests", &requests.to_string()],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("s3://bucket/demo.txt: frames "), "{text}");
    assert!(text.contains("load 0 ms"), "no injected latency: {text}");
    let header: Vec<&str> = text.lines().find(|l| l.starts_with("predictor")).unwrap().split_whitespace().collect();
    assert_eq!(header, crate::demo::DEMO_HEADER);
    let row = |name: &str| -> Vec<f64> {
        let line = text.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("{text}"));
        line.split_whitespace().skip(1).map(|v| v.trim_end_matches('x').parse().unwrap_or(f64::NAN)).collect()
    };
    let (none, auto) = (row("none"), row("auto"));
    for (name, r) in [("none", &none), ("python", &row("python")), ("auto", &auto)] {
        assert_eq!(r.len(), 10, "{name}: {r:?}");
        assert_eq!(r[0] + r[1] + r[2], requests as f64, "{name}: hits + late + miss");
        assert_eq!(r[4] + r[5] + r[6], r[3], "{name}: used + wasted + unused = prefetch");
    }
    // Without prefetching every distinct frame is a network load the user waits for.
    assert_eq!(none[3], 0.0, "none prefetches nothing");
    assert!(none[2] > 0.0 && none[7] > 0.0, "none waits for real network loads: {none:?}");
    // With auto most requests are served from frames fetched ahead.
    assert!(auto[2] * 4.0 < none[2], "auto misses {} vs none {}", auto[2], none[2]);
    assert!(auto[7] * 2.0 < none[7], "auto stalls {} ms vs none {} ms:\n{text}", auto[7], none[7]);
    assert!(text.contains("oracle"), "{text}");
}

/// A `tmux` server of the test's own (its own socket), killed when the test ends, whatever happens.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        Tmux { socket: format!("dpc-view-test-{}-{:?}", std::process::id(), std::thread::current().id()) }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux is installed")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "view"]).stdout).into_owned()
    }

    /// Polls the screen until `done` holds, for at most 60 s.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            let pane =
                self.run(&["display-message", "-p", "-t", "view", "#{pane_dead} #{pane_dead_status} #{pane_pid}"]);
            let pane = String::from_utf8_lossy(&pane.stdout).trim().to_string();
            assert!(
                std::time::Instant::now() < deadline,
                "no {what} on the screen after 60 s (pane dead, status, pid: {pane}):\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// `dpc view s3://...` in a real terminal (a tmux pane): the file opens over the network and its frames
/// are drawn, with the same box counts as the local file, as the cursor moves.
#[test]
fn view_opens_an_s3_file_and_shows_its_frames() {
    let (server, dir, file) = server_with_demo_file();
    let local = dpc_mot::MotProvider::open(&file).unwrap();
    let (first, last) = local.range().unwrap();
    let title = |frame: u64| {
        let n = local.load_frame(frame).unwrap().len();
        match n {
            0 => format!(" frame {frame}: no rows "),
            1 => format!(" frame {frame}: 1 box "),
            n => format!(" frame {frame}: {n} boxes "),
        }
    };
    let mut command = format!("env DPC_INDEX_CACHE='{}'", dir.path().join("index-cache").display());
    for (k, v) in server.env() {
        command.push_str(&format!(" {k}='{v}'"));
    }
    command.push_str(&format!(" '{}' view s3://bucket/demo.txt --latency-ms 0", env!("CARGO_BIN_EXE_dpc")));
    let tmux = Tmux::new();
    // The server and `remain-on-exit` first, so that the pane stays, with whatever the viewer printed, even if
    // it exits at once (a session started before the option was set would vanish with it, leaving nothing to read).
    let started = tmux.run(&[
        "start-server",
        ";",
        "set-option",
        "-g",
        "remain-on-exit",
        "on",
        ";",
        "new-session",
        "-d",
        "-s",
        "view",
        "-x",
        "160",
        "-y",
        "48",
        &command,
    ]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));

    let header = format!(" frame {first} / {last}");
    let shown = title(first);
    let screen = tmux.wait_for("first frame", |s| s.contains(&header) && s.contains(&shown));
    assert!(screen.contains("demo.txt"), "the header names the file:\n{screen}");
    // Fifteen frames on (PgDn): loaded over the network and drawn.
    tmux.run(&["send-keys", "-t", "view", "PgDn"]);
    let next = first + 15;
    let (header, shown) = (format!(" frame {next} / {last}"), title(next));
    tmux.wait_for("frame after PgDn", |s| s.contains(&header) && s.contains(&shown));
    tmux.run(&["send-keys", "-t", "view", "q"]);
    // tmux 3.3 can mark the pane dead (its terminal closed) before it has reaped the viewer, and then shows no
    // status: a dead pane with status 0 or with none yet both mean the viewer quit; any other status fails.
    let pane = || {
        let out = tmux.run(&["display-message", "-p", "-t", "view", "#{pane_dead} #{pane_dead_status}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let screen = tmux.wait_for("exit", |_| pane().starts_with('1'));
    let dead = pane();
    assert!(dead == "1" || dead == "1 0", "the viewer exits with status 0, not {dead:?}:\n{screen}");
}
