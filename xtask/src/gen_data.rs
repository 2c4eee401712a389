//! `cargo xtask gen-data [--check]`: fixtures that are generated, committed and checked.
//!
//! Every file is a pure function of the code below (and the seeded generators it calls), so `--check` can
//! regenerate them in memory and compare byte for byte. Hand-kept fixtures (fuzz crashers) live in
//! `fixtures/mot/crashers/` and are not touched.

use std::path::{Path, PathBuf};

use dpc_gen::mot::{MotParams, detections};
use dpc_mot::{Detection, Separator, WriteFormat, write_detection};

use crate::{TaskResult, root};

pub fn run(args: &[String]) -> TaskResult {
    let check = args.iter().any(|a| a == "--check");
    let dir = root().join("fixtures/mot");
    let files = mot_fixtures()?;
    let mut drift = Vec::new();
    for (rel, bytes) in &files {
        let path = dir.join(rel);
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        if check {
            drift.push(format!("{} {}", if current.is_some() { "changed:" } else { "missing:" }, path.display()));
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, bytes)?;
            println!("wrote {}", path.display());
        }
    }
    // Files in the generated part of the tree that the code no longer makes.
    let wanted: Vec<PathBuf> = files.iter().map(|(rel, _)| dir.join(rel)).collect();
    for path in walk(&dir)? {
        if path.starts_with(dir.join("crashers")) || wanted.contains(&path) {
            continue;
        }
        if check {
            drift.push(format!("stale: {}", path.display()));
        } else {
            std::fs::remove_file(&path)?;
            println!("removed {}", path.display());
        }
    }
    if !drift.is_empty() {
        return Err(format!(
            "generated fixtures drifted:\n  {}\nrun `cargo xtask gen-data` and commit",
            drift.join("\n  ")
        )
        .into());
    }
    if check {
        println!("gen-data: {} fixtures up to date", files.len());
    }
    Ok(())
}

fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(out) };
    for e in entries {
        let path = e?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// A fixture: its path under `fixtures/mot/` and its bytes.
type Fixture = (String, Vec<u8>);

/// The MOT fixtures: every format variant the parser accepts, from one small generated sequence.
fn mot_fixtures() -> Result<Vec<Fixture>, Box<dyn std::error::Error>> {
    let params = MotParams {
        tracks: 4,
        frames: 12,
        min_track_length: 3,
        max_track_length: Some(8),
        seed: 1,
        ..MotParams::default()
    };
    let rows = detections(&params)?;
    let fmt = WriteFormat::default();
    let render = |rows: &[Detection], fmt: WriteFormat| {
        let mut out = Vec::new();
        for d in rows {
            write_detection(d, &fmt, &mut out);
        }
        out
    };
    let mut files: Vec<Fixture> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| files.push((name.to_string(), bytes));

    add("comma.txt", render(&rows, fmt));
    add("comma_spaces.txt", render(&rows, WriteFormat { separator: Separator::CommaSpace, ..fmt }));
    add("whitespace.txt", render(&rows, WriteFormat { separator: Separator::Space, ..fmt }));
    add("tabs.txt", render(&rows, WriteFormat { separator: Separator::Tab, ..fmt }));
    add("crlf.txt", render(&rows, WriteFormat { crlf: true, ..fmt }));
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(render(&rows, fmt));
    add("bom.txt", bom);

    // Blank lines: empty, whitespace-only and CR-only lines between rows, inside a frame and between frames,
    // and a last line without a newline.
    let mut blank = b"\n  \n".to_vec();
    for (i, d) in rows.iter().enumerate() {
        write_detection(d, &fmt, &mut blank);
        if i % 3 == 1 {
            blank.extend_from_slice(if i % 2 == 0 { b"\n" } else { b" \t\r\n" });
        }
    }
    blank.pop();
    add("blank_lines.txt", blank);

    for columns in [6u8, 7, 8, 10] {
        add(&format!("columns_{columns}.txt"), render(&rows, WriteFormat { columns, ..fmt }));
    }

    // A detector's output: no identities, no class, no visibility (MOT17 det.txt style -1 sentinels).
    let det: Vec<Detection> = rows.iter().map(|d| Detection { id: -1, class: -1, visibility: -1.0, ..*d }).collect();
    add("sentinels.txt", render(&det, fmt));

    // Integral floats in integer columns, as some converters write them.
    let mut floats = Vec::new();
    for d in &rows {
        let mut line = Vec::new();
        write_detection(d, &fmt, &mut line);
        let text = String::from_utf8(line)?;
        let mut cols: Vec<String> = text.trim_end().split(',').map(str::to_string).collect();
        cols[0].push_str(".0");
        cols[1].push_str(".00");
        cols[7].push('.');
        floats.extend_from_slice(cols.join(",").as_bytes());
        floats.push(b'\n');
    }
    add("integral_floats.txt", floats);

    // Official ground truth is sorted by track id, then frame.
    let mut by_id = rows.clone();
    by_id.sort_by_key(|d| (d.id, d.frame));
    add("unsorted_id_major.txt", render(&by_id, fmt));

    // Rows of one frame scattered over the file in several runs, with adjacent rows that must coalesce.
    let mut shuffled = rows.clone();
    shuffled.sort_by_key(|d| (d.frame % 3, d.id % 2, d.frame, d.id));
    add("unsorted_scattered.txt", render(&shuffled, fmt));

    // Frames without rows inside the range: 4 and 5, and 9.
    let gaps: Vec<Detection> = rows.iter().filter(|d| !matches!(d.frame, 4 | 5 | 9)).copied().collect();
    add("empty_frames.txt", render(&gaps, fmt));

    // The MOTChallenge layout: SEQ/seqinfo.ini beside SEQ/gt/gt.txt; seqLength runs past the last row.
    add("seq/gt/gt.txt", render(&by_id, fmt));
    add(
        "seq/seqinfo.ini",
        b"[Sequence]\nname=dpc-fixture\nimDir=img1\nframeRate=25\nseqLength=15\nimWidth=1920\nimHeight=1080\nimExt=.jpg\n"
            .to_vec(),
    );

    // Everything at once: BOM, CRLF, comma with spaces, blank lines, id-major.
    let mut mixed = b"\xEF\xBB\xBF\r\n".to_vec();
    for (i, d) in by_id.iter().enumerate() {
        write_detection(d, &WriteFormat { separator: Separator::CommaSpace, crlf: true, ..fmt }, &mut mixed);
        if i % 5 == 4 {
            mixed.extend_from_slice(b"   \r\n");
        }
    }
    add("mixed.txt", mixed);

    add("empty.txt", Vec::new());
    add("only_blank.txt", b"\n\r\n  \n".to_vec());

    // One good row, then one line of each kind of bad line, each followed by a good row.
    let bad_lines: &[&str] = &[
        "1,1,10,20,30,40,1,1,1",
        "1,2,10,20,30",
        "1,3,10,20,30,40,1,1,1",
        "1,4,10,20,30,40,1,1,1,1,1",
        "1,5,10,,30,40",
        "1,6,10,abc,30,40",
        "1.5,7,10,20,30,40",
        "2,8,10,20,30,40,1,1,1",
        "-2,8,10,20,30,40",
        "2,9,10,20,30,40,1,2.5,1",
        "2,99999999999999999999,10,20,30,40",
        "x,1,10,20,30,40",
        "2,10,10 20,30,40,1",
        "2,11,10,20,30,40,nan",
        ",2,11,10,20,30,40",
        "3,1,10,20,30,40,1,1,1",
    ];
    add("bad_lines.txt", (bad_lines.join("\n") + "\n").into_bytes());

    // A larger generated sequence in the default layout, for the provider and cache tests.
    let generated = MotParams { tracks: 20, frames: 150, seed: 5, ..MotParams::default() };
    let mut gen_bytes = Vec::new();
    dpc_gen::mot::generate(&generated, &mut gen_bytes)?;
    add("generated.txt", gen_bytes);

    Ok(files)
}
