//! The `python` suite (shared/BENCHMARKS.md §6): dynamic-prefetching-cache 0.1.2 and dpc side by side, from
//! Python, in one run of `crates/dpc-python/bench/bench.py`.
//!
//! The suite builds the package (release profile) into a venv under `target/bench/python-venv` with the original
//! beside it, unless `$DPC_PYTHON_BENCH` names an interpreter that already has both. Measured:
//! - `get` hits from Python: a Python provider through the compatible cache, and the native `MOTDataProvider`
//!   (target: >= 10 x faster than the original);
//! - a random frame of a generated MOT file (about 50 rows) through `MOTDataProvider` with its cache off (>= 20 x);
//! - the real-time replay of `../shared/traces/playback.txt` (latency 2 ms, think 1 ms) with each package's
//!   `DynamicDataPredictor(possible_jumps=[-15, -5, -1, 5, 15, 30])`, with `"auto"`, and without prefetching
//!   (target: stall <= 0.3 x the original's).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use dpc_gen::mot::{MotParams, generate};
use serde_json::Value;

use super::{Suite, bar_chart};
use crate::{TaskResult, root};

pub fn run(suite: &mut Suite) -> TaskResult {
    let python = interpreter()?;
    // About 50 rows per frame, like the original's measured 50-row load: 200 tracks of 50 to 800 frames over 2000.
    let params = MotParams { tracks: 200, frames: 2000, seed: 11, ..MotParams::default() };
    let mot = ensure_mot(&params, "mot_t200_f2000.txt")?;
    // shared/ sits beside the checkout (CI) or one level further up (a worktree under `wt/`).
    let candidates = [root().join("../shared/traces/playback.txt"), root().join("../../shared/traces/playback.txt")];
    let trace = std::env::var_os("DPC_TRACE")
        .map(PathBuf::from)
        .or_else(|| candidates.iter().find(|p| p.is_file()).cloned())
        .ok_or_else(|| format!("the playback trace is missing: {} (or set DPC_TRACE)", candidates[0].display()))?;
    let out = Command::new(&python)
        .arg(root().join("crates/dpc-python/bench/bench.py"))
        .arg("--mot")
        .arg(&mot)
        .arg("--trace")
        .arg(&trace)
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        return Err(format!("bench.py failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().ok_or("bench.py printed nothing")?;
    let r: Value = serde_json::from_str(last)?;
    let num = |v: &Value, path: &[&str]| -> Result<f64, String> {
        path.iter()
            .try_fold(v, |v, k| v.get(*k))
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("bench.py's JSON has no {}", path.join(".")))
    };

    let hit_orig = num(&r, &["hit_ns", "original"])?;
    let hit_py = num(&r, &["hit_ns", "dpc (Python provider)"])?;
    let hit_orig_mot = num(&r, &["hit_ns", "original (MOT)"])?;
    let hit_native = num(&r, &["hit_ns", "dpc (native MOT)"])?;
    suite.metric("hit_original_ns", hit_orig, "ns");
    suite.metric("hit_dpc_python_provider_ns", hit_py, "ns");
    suite.metric("hit_speedup_python_provider", hit_orig / hit_py, "x");
    suite.metric("hit_original_mot_ns", hit_orig_mot, "ns");
    suite.metric("hit_dpc_native_mot_ns", hit_native, "ns");
    suite.metric("hit_speedup_native_mot", hit_orig_mot / hit_native, "x");

    let load_orig = num(&r, &["mot_load_us", "original"])?;
    let load_dpc = num(&r, &["mot_load_us", "dpc"])?;
    let rows = num(&r, &["mot_load_us", "rows"])?;
    suite.metric("mot_load_original_us", load_orig, "us");
    suite.metric("mot_load_dpc_us", load_dpc, "us");
    suite.metric("mot_load_speedup", load_orig / load_dpc, "x");
    suite.metric("mot_rows_per_frame", rows, "rows");

    let stall = |name: &str| num(&r, &["replay", name, "stall_ms"]);
    let s_orig = stall("original DynamicDataPredictor")?;
    let s_dd = stall("dpc DynamicDataPredictor")?;
    let s_auto = stall("dpc auto")?;
    let s_none = stall("dpc no prefetch")?;
    suite.metric("replay_stall_original_ms", s_orig, "ms");
    suite.metric("replay_stall_dpc_dynamic_data_ms", s_dd, "ms");
    suite.metric("replay_stall_dpc_auto_ms", s_auto, "ms");
    suite.metric("replay_stall_dpc_none_ms", s_none, "ms");
    suite.metric("replay_stall_ratio_dynamic_data", s_dd / s_orig, "x");
    suite.metric("replay_stall_ratio_auto", s_auto / s_orig, "x");

    let mark = |ok: bool| if ok { "met" } else { "missed" };
    suite.markdown(&format!(
        "Python {} with dynamic-prefetching-cache 0.1.2 beside dpc (release build), one run; medians of interleaved rounds.\n\n\
         | measure | original | dpc | ratio | target |\n|---|---|---|---|---|\n\
         | `get` hit, Python provider | {hit_orig:.0} ns | {hit_py:.0} ns | {:.1} x | >= 10 x ({}) |\n\
         | `get` hit, `MOTDataProvider` | {hit_orig_mot:.0} ns | {hit_native:.0} ns | {:.1} x | >= 10 x ({}) |\n\
         | random frame load, cache off ({rows:.0} rows) | {load_orig:.1} us | {load_dpc:.2} us | {:.0} x | >= 20 x ({}) |\n\
         | replay stall, `DynamicDataPredictor` | {s_orig:.0} ms | {s_dd:.0} ms | {:.2} x | <= 0.3 x ({}) |\n\
         | replay stall, `auto` | {s_orig:.0} ms | {s_auto:.0} ms | {:.2} x | <= 0.3 x ({}) |\n\
         | replay stall, no prefetch | | {s_none:.0} ms | | |\n",
        python.display(),
        hit_orig / hit_py,
        mark(hit_orig / hit_py >= 10.0),
        hit_orig_mot / hit_native,
        mark(hit_orig_mot / hit_native >= 10.0),
        load_orig / load_dpc,
        mark(load_orig / load_dpc >= 20.0),
        s_dd / s_orig,
        mark(s_dd / s_orig <= 0.3),
        s_auto / s_orig,
        mark(s_auto / s_orig <= 0.3),
    ));
    suite.plot(
        "python_replay.svg",
        &bar_chart(
            "playback replay stall (2 ms loads, 1 ms think)",
            "ms",
            &["stall"],
            &[
                ("original DynamicDataPredictor".to_string(), vec![s_orig]),
                ("dpc DynamicDataPredictor".to_string(), vec![s_dd]),
                ("dpc auto".to_string(), vec![s_auto]),
                ("dpc no prefetch".to_string(), vec![s_none]),
            ],
        ),
    )?;
    Ok(())
}

/// `$DPC_PYTHON_BENCH`, or a venv under `target/bench/` with maturin, the original and a release build of dpc.
fn interpreter() -> Result<PathBuf, Box<dyn std::error::Error>> {
    if let Some(p) = std::env::var_os("DPC_PYTHON_BENCH") {
        return Ok(PathBuf::from(p));
    }
    let venv = root().join("target/bench/python-venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        check(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    let bin = venv.join("bin");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    check(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(["maturin", "dynamic-prefetching-cache==0.1.2"]),
    )?;
    println!("  python building dpc into {}", venv.display());
    check(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-build-isolation"])
            .arg("--force-reinstall")
            .arg("--no-deps")
            .arg(root().join("crates/dpc-python"))
            .env("PATH", path)
            .env("MATURIN_PEP517_ARGS", "--profile release"),
    )?;
    Ok(python)
}

fn check(cmd: &mut Command) -> TaskResult {
    let status = cmd.status()?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}").into()) }
}

fn ensure_mot(params: &MotParams, name: &str) -> io::Result<PathBuf> {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path: PathBuf = dir.join(name);
    if !Path::new(&path).is_file() {
        let tmp = dir.join(format!("{name}.tmp"));
        generate(params, io::BufWriter::new(File::create(&tmp)?)).map_err(io::Error::other)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(path)
}
