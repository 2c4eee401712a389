//! The `predict` suite (shared/BENCHMARKS.md §1): replay every sample trace and the generalisation traces
//! through the real cache with no prefetching, the Python-parity predictor and `auto`, beside the oracle,
//! and report the headroom each predictor captures; then the cost of one `auto` prediction.
//!
//! Replays run in real time (latency 2 ms, think 1 ms, 4 workers, capacity 512; markov at capacity 64), so
//! each trace is trimmed to its first `DPC_BENCH_PREDICT_LIMIT` requests (default 2000) to keep the suite
//! within a few minutes (`DPC_BENCH_PREDICT_TRACES=playback,markov` runs a subset). The virtual-time model of the cache (`dpc_gen::oracle::simulate`) is run on the same
//! requests as a noise-free cross-check.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dpc_core::{AccessPredictor, PredictContext};
use dpc_gen::oracle::{OracleReport, Setup, SimOptions, oracle, simulate};
use dpc_gen::replay::{ReplayReport, replay};
use dpc_gen::trace::Trace;
use dpc_predictors::{DynamicDataPredictor, Ensemble, OffsetKey, by_name};

use super::{Suite, bar_chart, ns_per_op};
use crate::{TaskResult, root};

const PREDICTORS: [&str; 3] = ["none", "python", "auto"];

struct Row {
    trace: String,
    requests: usize,
    /// Stall per predictor (NaN when it does not apply), in `PREDICTORS` order.
    stall: [f64; 3],
    oracle: f64,
    model_headroom: [f64; 3],
    target: &'static str,
}

pub fn run(suite: &mut Suite) -> TaskResult {
    let limit: usize = std::env::var("DPC_BENCH_PREDICT_LIMIT").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let shared = root().join("../shared/traces");
    let fixtures = root().join("fixtures/traces");
    let traces: Vec<(&str, PathBuf, &'static str)> = vec![
        ("playback", shared.join("playback.txt"), ">= 0.95"),
        ("annotate", shared.join("annotate.txt"), ">= 0.95"),
        ("scan", shared.join("scan.txt"), ">= 0.95"),
        ("markov", shared.join("markov.txt"), ">= 0.60"),
        ("random", shared.join("random.txt"), "stall <= 1.05 x none"),
        ("backward", fixtures.join("backward.txt"), ">= 0.95"),
        ("interleaved", fixtures.join("interleaved.txt"), ">= 0.90"),
        ("jumps", fixtures.join("jumps.txt"), ">= 0.90 (issue)"),
    ];
    // A comma-separated subset of the traces, for quick runs while tuning.
    let only: Option<Vec<String>> =
        std::env::var("DPC_BENCH_PREDICT_TRACES").ok().map(|v| v.split(',').map(str::to_string).collect());
    let mut rows = Vec::new();
    for (name, path, target) in traces {
        if only.as_ref().is_some_and(|o| !o.iter().any(|t| t == name)) {
            continue;
        }
        let mut trace = Trace::load(&path)?;
        // Markov is 10 000 short requests with many hits; give it more of its length to learn from.
        trace.truncate(if name == "markov" { limit * 3 } else { limit });
        let setup = Setup { capacity: if name == "markov" { 64 } else { 512 }, ..Setup::default() };
        let row = match &trace {
            Trace::Frames(keys) => measure(name, keys, &setup, target)?,
            Trace::Strings(keys) => measure(name, keys, &setup, target)?,
        };
        for (p, stall) in PREDICTORS.iter().zip(row.stall) {
            if stall.is_finite() {
                suite.metric(&format!("{name}.{p}.stall_ms"), stall, "ms");
            }
        }
        suite.metric(&format!("{name}.oracle.stall_ms"), row.oracle, "ms");
        for p in ["python", "auto"] {
            let h = headroom(&row, p);
            if h.is_finite() {
                suite.metric(&format!("{name}.{p}.headroom"), h, "ratio");
            }
        }
        if name == "random" {
            suite.metric("random.auto.stall_vs_none", row.stall[2] / row.stall[0], "ratio");
        }
        rows.push(row);
    }

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Replay (BENCHMARKS.md §1 defaults: latency 2 ms, think 1 ms, 4 workers, capacity 512; markov at capacity 64), first {limit} requests of each trace ({} for markov), real cache, real time.",
        limit * 3
    );
    let _ = writeln!(
        md,
        "Headroom = (stall_none - stall) / (stall_none - stall_oracle). \"model\" = the same predictor in the virtual-time cache model (deterministic).\n"
    );
    let _ = writeln!(
        md,
        "| trace | requests | none ms | python ms | auto ms | oracle ms | python headroom | auto headroom | target (auto) | model python | model auto |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} |",
            r.trace,
            r.requests,
            r.stall[0],
            fmt(r.stall[1], 0),
            r.stall[2],
            r.oracle,
            fmt(headroom(r, "python"), 3),
            fmt(headroom(r, "auto"), 3),
            r.target,
            fmt(r.model_headroom[1], 3),
            fmt(r.model_headroom[2], 3),
        );
    }
    suite.markdown(&md);
    let groups: Vec<(String, Vec<f64>)> =
        rows.iter().map(|r| (r.trace.clone(), vec![r.stall[0], r.stall[1].max(0.0), r.stall[2], r.oracle])).collect();
    suite.plot(
        "predict_stall.svg",
        &bar_chart("Stall per trace", "ms", &["none", "python", "auto", "oracle"], &groups),
    )?;

    cost(suite)?;
    Ok(())
}

fn fmt(v: f64, digits: usize) -> String {
    if v.is_finite() { format!("{v:.digits$}") } else { "n/a".to_string() }
}

fn headroom(r: &Row, predictor: &str) -> f64 {
    let i = PREDICTORS.iter().position(|p| *p == predictor).expect("known predictor");
    (r.stall[0] - r.stall[i]) / (r.stall[0] - r.oracle)
}

fn measure<K: OffsetKey>(
    name: &str,
    keys: &[K],
    setup: &Setup,
    target: &'static str,
) -> Result<Row, Box<dyn std::error::Error>> {
    let best: OracleReport = oracle(keys, setup);
    let mut stall = [f64::NAN; 3];
    let mut model = [f64::NAN; 3];
    for (i, p) in PREDICTORS.iter().enumerate() {
        let Ok(predictor) = by_name::<K>(p) else { continue };
        let r: ReplayReport = replay(keys, predictor, setup)?;
        println!(
            "{name:>12} {p:<7} stall {:9.1} ms  hits {:5} late {:4} misses {:5} prefetched {:6} used {:5} wasted {:5}",
            r.stall_ms, r.hits, r.late_hits, r.misses, r.prefetch_issued, r.prefetch_used, r.prefetch_wasted
        );
        stall[i] = r.stall_ms;
        let mut predictor = by_name::<K>(p)?;
        model[i] = simulate(keys, &mut predictor, setup, &SimOptions::default()).stall_ms;
    }
    let model_headroom = model.map(|m| (model[0] - m) / (model[0] - best.stall_ms));
    Ok(Row { trace: name.to_string(), requests: keys.len(), stall, oracle: best.stall_ms, model_headroom, target })
}

/// The cost of one prediction at history 30, after the predictor has learned from 2000 requests.
fn cost(suite: &mut Suite) -> TaskResult {
    let mut md = String::from(
        "\nPredictor cost: one `predict` call at history 30 after learning 2000 requests (median of batches).\n\n| trace | auto us | python us |\n|---|---:|---:|\n",
    );
    for name in ["playback", "annotate"] {
        let Trace::Frames(keys) = Trace::load(root().join(format!("../shared/traces/{name}.txt")))? else {
            return Err(format!("{name} should hold frames").into());
        };
        let warm = &keys[..2000.min(keys.len())];
        let mut auto = Ensemble::<u64>::auto();
        let auto_ns = predict_cost(&mut auto, warm);
        let mut python = DynamicDataPredictor::video();
        let python_ns = predict_cost(&mut python, warm);
        suite.metric(&format!("cost.{name}.auto.predict_us"), auto_ns / 1e3, "us");
        suite.metric(&format!("cost.{name}.python.predict_us"), python_ns / 1e3, "us");
        let _ = writeln!(md, "| {name} | {:.2} | {:.2} |", auto_ns / 1e3, python_ns / 1e3);
    }
    let Trace::Strings(pages) = Trace::load(root().join("../shared/traces/markov.txt"))? else {
        return Err("markov should hold strings".into());
    };
    let mut auto = Ensemble::<Arc<str>>::auto();
    let ns = predict_cost(&mut auto, &pages[..2000.min(pages.len())]);
    suite.metric("cost.markov.auto.predict_us", ns / 1e3, "us");
    let _ = writeln!(md, "| markov | {:.2} | n/a |", ns / 1e3);
    suite.markdown(&md);
    Ok(())
}

fn predict_cost<K: OffsetKey>(p: &mut dyn AccessPredictor<K>, warm: &[K]) -> f64 {
    for k in warm {
        p.observe(k);
    }
    let history = &warm[warm.len().saturating_sub(30)..];
    let ctx = PredictContext::new(history.last().expect("a warm-up trace"), history)
        .capacity(Some(512))
        .max_prefetch(20)
        .workers(4)
        .load_latency(Some(Duration::from_millis(2)))
        .request_interval(Some(Duration::from_millis(1)));
    let mut out = Vec::new();
    ns_per_op(Duration::from_millis(300), |iters| {
        for _ in 0..iters {
            out.clear();
            p.predict(&ctx, &mut out);
            std::hint::black_box(&out);
        }
    })
}
