//! `dpc gen mot` and `dpc inspect mot` end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpc")).args(args).output().unwrap()
}

fn last_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mot").join(name)
}

#[test]
fn gen_mot_writes_the_generator_output_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.txt");
    let args = ["gen", "mot", "-t", "12", "-f", "80", "--seed", "9", "--quiet", "--json", "-o"];
    let json = last_json(&dpc(&[&args[..], &[a.to_str().unwrap()]].concat()));
    last_json(&dpc(&[&args[..], &[b.to_str().unwrap()]].concat()));
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap(), "same seed, same bytes");
    assert_eq!(json["bytes"].as_u64().unwrap(), bytes.len() as u64);

    // The file holds exactly the library generator's rows for the same parameters.
    let params = dpc_gen::mot::MotParams { tracks: 12, frames: 80, seed: 9, ..Default::default() };
    let parsed = dpc_mot::parse(&bytes, dpc_mot::Mode::Strict).unwrap();
    assert_eq!(parsed.detections, dpc_gen::mot::detections(&params).unwrap());
    assert_eq!(json["rows"].as_u64().unwrap(), parsed.detections.len() as u64);

    // Without -o the data goes to stdout.
    let out = dpc(&["gen", "mot", "-t", "12", "-f", "80", "--seed", "9", "--quiet"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, bytes);
}

#[test]
fn gen_mot_layout_options() {
    let out = dpc(&["gen", "mot", "-t", "2", "-f", "3", "--columns", "6", "--separator", "tab", "--crlf", "-q"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("\r\n").count(), 6, "{text:?}");
    assert!(text.lines().all(|l| l.split('\t').count() == 6), "{text:?}");
    let bad = dpc(&["gen", "mot", "--min-track-length", "10", "--max-track-length", "5", "-q"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("max track length"));
}

#[test]
fn inspect_mot_reports_frames_rows_columns_order_and_diagnostics() {
    let path = fixture("bad_lines.txt");
    let json = last_json(&dpc(&["inspect", "mot", "--json", path.to_str().unwrap()]));
    assert_eq!(json["rows"], 4);
    assert_eq!(json["ids"], 3);
    assert_eq!(json["bad_lines"], 12);
    assert_eq!(json["frames"], 3);
    assert_eq!(json["columns"], serde_json::json!({"9": 4}));
    assert_eq!(json["diagnostics"].as_array().unwrap().len(), 10, "--max-diagnostics defaults to 10");
    assert_eq!(json["diagnostics"][0]["line"], 2);
    assert_eq!(json["diagnostics"][0]["kind"]["kind"], "too_few_columns");

    let strict = dpc(&["inspect", "mot", "--strict", path.to_str().unwrap()]);
    assert_eq!(strict.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&strict.stderr);
    // The first bad line of the file (before, the frame-only index spoke first and named line 7).
    assert!(stderr.contains("line 2 (byte 22)") && stderr.contains("bad_lines.txt"), "{stderr}");
}

#[test]
fn inspect_mot_reads_seqinfo_and_sees_unsorted_files() {
    let path = fixture("seq/gt/gt.txt");
    let json = last_json(&dpc(&["inspect", "mot", "--json", path.to_str().unwrap()]));
    assert_eq!(json["sorted"], false);
    assert_eq!(json["frames"], 15);
    assert_eq!(json["empty_frames"], 3);
    assert_eq!(json["rows_per_frame"][0], 0.0, "empty frames count as 0 rows");
    assert_eq!(json["rows_per_frame"][2], 4.0);
    assert_eq!(json["seqinfo"]["frame_rate"], 25.0);
    let human = dpc(&["inspect", "mot", path.to_str().unwrap()]);
    assert!(human.status.success());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("not sorted by frame") && text.contains("25 fps"), "{text}");
}

/// The files in `dir` (names only), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn gen_mot_refuses_bad_options_without_touching_the_output() {
    // Before, `-f 0` and friends truncated the file and then failed.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.txt");
    std::fs::write(&p, "precious\n").unwrap();
    let out = p.to_str().unwrap();
    for bad in [
        &["-f", "0"][..],
        &["--width", "0"],
        &["--height", "15"],
        &["--width", "1000001"],
        &["--min-track-length", "10", "--max-track-length", "5"],
        &["-f", "18446744073709551615"],
        &["-f", "9223372036854775808"],
        &["-f", "1000", "-t", "4294967295"],
        &["-t", "0"],
        &["--decimals", "10"],
        &["--columns", "5"],
    ] {
        let r = dpc(&[&["gen", "mot", "-q", "-o", out][..], bad].concat());
        assert!(!r.status.success(), "{bad:?} was accepted");
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(!stderr.contains("panicked"), "{bad:?}: {stderr}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "precious\n", "{bad:?} touched the file");
    }
    assert_eq!(listing(dir.path()), ["p.txt"], "no temporary file is left behind");
    // The ranges are in --help.
    let help = String::from_utf8(dpc(&["gen", "mot", "--help"]).stdout).unwrap();
    assert!(help.contains("1 to 1000000") && help.contains("16 to 1000000") && help.contains("9223372036854775807"));

    // A good run replaces the file, and leaves nothing else.
    let json = last_json(&dpc(&["gen", "mot", "-q", "-t", "3", "-f", "20", "--json", "-o", out]));
    assert_eq!(std::fs::metadata(&p).unwrap().len(), json["bytes"].as_u64().unwrap());
    assert_eq!(listing(dir.path()), ["p.txt"]);
    // A target that is not a regular file is written in place.
    assert!(dpc(&["gen", "mot", "-q", "-t", "3", "-f", "20", "-o", "/dev/null"]).status.success());
}

#[test]
fn an_interrupted_gen_mot_leaves_the_old_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.txt");
    std::fs::write(&p, "precious\n").unwrap();
    // A generation of hours, killed once it has written its first block.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dpc"))
        .args(["gen", "mot", "-q", "-t", "1000", "-f", "9223372036854775807", "-o"])
        .arg(&p)
        .spawn()
        .unwrap();
    let tmp = loop {
        let written = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.file_name() != "p.txt" && e.metadata().unwrap().len() > 0);
        if let Some(e) = written {
            break e.path();
        }
        if std::fs::read(&p).unwrap() != b"precious\n" {
            // The generation writes into the target itself: stop it and fail (before, it truncated it at once).
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the target was overwritten while the generation ran");
        }
        assert!(child.try_wait().unwrap().is_none(), "the generation ended early");
        std::thread::yield_now();
    };
    assert!(tmp.file_name().unwrap().to_string_lossy().starts_with(".p.txt."), "{tmp:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "precious\n");
}

#[test]
fn inspect_mot_numbers_come_from_one_pass_and_agree() {
    // Frame columns that index, other columns that do not parse: before, the report said
    // "2 frames, 2 with rows" beside "rows 0" (index and parse disagreed).
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("odd.txt");
    std::fs::write(&f, "1,1,a,b,c,d\n2,2,x,1,1,1\n3,3,1,1,1,1\n").unwrap();
    let json = last_json(&dpc(&["inspect", "mot", "--json", f.to_str().unwrap()]));
    assert_eq!((json["rows"].as_u64(), json["bad_lines"].as_u64()), (Some(1), Some(2)), "{json}");
    assert_eq!((json["frames"].as_u64(), json["frames_with_rows"].as_u64()), (Some(1), Some(1)), "{json}");
    assert_eq!(json["first_frame"], 3);
    // Whatever the input, rows and frames agree with each other.
    for path in [Path::new("/bin/ls"), &fixture("bad_lines.txt"), &fixture("unsorted_scattered.txt")] {
        if !path.exists() {
            continue;
        }
        let j = last_json(&dpc(&["inspect", "mot", "--json", path.to_str().unwrap()]));
        let n = |k: &str| j[k].as_u64().unwrap();
        let columns: u64 = j["columns"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(columns, n("rows"), "{path:?}");
        assert!(n("frames_with_rows") <= n("rows") && n("runs") <= n("rows"), "{path:?}: {j}");
        assert_eq!(n("lines"), n("rows") + n("blank_lines") + n("bad_lines"), "{path:?}");
        assert_eq!(n("frames_with_rows") == 0, n("rows") == 0, "{path:?}");
    }
}

#[test]
fn inspect_mot_reads_pipes_and_fifos_once() {
    // Before, a FIFO blocked forever (opened twice) and `<(cat file)` lost its rows to the first read.
    // `timeout` turns a regression into a failure instead of a hung test.
    let file = fixture("unsorted_id_major.txt");
    let expected = last_json(&dpc(&["inspect", "mot", "--json", file.to_str().unwrap()]));
    assert!(expected["rows"].as_u64().unwrap() > 0);
    let same = |got: &serde_json::Value| {
        for k in ["rows", "frames", "frames_with_rows", "ids", "runs", "sorted", "lines", "bad_lines", "bytes"] {
            assert_eq!(got[k], expected[k], "{k}");
        }
    };
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!("cat '{}' | timeout 60 '{}' inspect mot --json -", file.display(), env!("CARGO_BIN_EXE_dpc")))
        .output()
        .unwrap();
    same(&last_json(&piped));

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("gt.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let writer = {
        let (fifo, file) = (fifo.clone(), file.clone());
        std::thread::spawn(move || std::fs::write(fifo, std::fs::read(file).unwrap()).unwrap())
    };
    let out = Command::new("timeout")
        .args(["60", env!("CARGO_BIN_EXE_dpc"), "inspect", "mot", "--json"])
        .arg(&fifo)
        .output()
        .unwrap();
    writer.join().unwrap();
    same(&last_json(&out));
}

#[test]
fn inspect_mot_stops_at_an_endless_line() {
    // Before, `dpc inspect mot /dev/zero` grew to gigabytes looking for a line end.
    for mode in [&[][..], &["--strict"]] {
        let out = Command::new("timeout")
            .args(["60", env!("CARGO_BIN_EXE_dpc"), "inspect", "mot", "/dev/zero"])
            .args(mode)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("/dev/zero: line 1 (byte 0)") && stderr.contains("longer than 65536 bytes"),
            "{stderr}"
        );
        assert!(stderr.len() < 2000, "the message quotes a bounded part of the line");
    }
}
