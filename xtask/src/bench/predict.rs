//! The `predict` suite (docs/BENCHMARKS.md, "Replay and the oracle"): replay every sample trace and the generalisation traces
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
use dpc_gen::oracle::{
    OracleReport, Setup, SimOptions, jump_floor, novel_transitions, oracle, oracle_blind, seeks, simulate,
};
use dpc_gen::replay::{ReplayReport, replay};
use dpc_gen::trace::{Family, JumpModel, Trace, jump_model};
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
    let shared = shared_traces();
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

    families(suite)?;
    cost(suite)?;
    Ok(())
}

/// The two latency / think ratios of the families: BENCHMARKS.md §1's default, and loads 8 times slower
/// than the request interval.
const RATIOS: [(u64, u64); 2] = [(2, 1), (8, 1)];

/// One family at one ratio.
struct FamilyRow {
    family: Family,
    ratio: (u64, u64),
    /// Model headroom (random: stall / none) per seed.
    model: Vec<f64>,
    worst_seed: u64,
    /// The seek-blind oracle's headroom on the worst seed: what any online predictor could reach there.
    ceiling: f64,
    /// The jump floor's ceiling on the worst seed (see [`model_score`]), and the lowest over all seeds with its seed.
    jump_ceiling: f64,
    lowest_ceiling: Option<(f64, u64)>,
    /// Real-time replays of the worst seed (first `rt_len` requests): headroom of each run, and the model's on
    /// the same requests.
    real: Vec<f64>,
    real_model: f64,
    rt_len: usize,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn family_setup(family: Family, (latency, think): (u64, u64)) -> Setup {
    Setup {
        latency: Duration::from_millis(latency),
        think: Duration::from_millis(think),
        capacity: if family == Family::Markov { 64 } else { 512 },
        ..Setup::default()
    }
}

/// The score of a family: headroom, or for `random` the stall against no prefetching.
fn family_score(family: Family, none: f64, stall: f64, best: f64) -> f64 {
    if family == Family::Random { stall / none } else { (none - stall) / (none - best) }
}

/// Model headroom of `auto` on `keys`; with `marks` (the requests no online predictor can foresee) the blind
/// oracle's headroom, the ceiling of any online predictor there; and with the walk's jump model, the lower of that
/// and the jump floor's (`dpc_gen::oracle::jump_floor`: no online predictor knows which target of a jump set comes
/// next, and the workers cannot load them all).
fn model_score<K: OffsetKey>(
    family: Family,
    keys: &[K],
    setup: &Setup,
    marks: Option<&[bool]>,
    jumps: Option<(&[u64], &JumpModel)>,
) -> Scores {
    let none = simulate(keys, &mut dpc_core::NoPrefetch, setup, &SimOptions::default()).stall_ms;
    let best = oracle(keys, setup).stall_ms;
    let auto = simulate(keys, &mut Ensemble::<K>::auto(), setup, &SimOptions::default()).stall_ms;
    let blind = marks.filter(|_| family != Family::Random).map(|marks| oracle_blind(keys, marks, setup));
    let ceiling = blind.as_ref().map_or(f64::NAN, |b| family_score(family, none, b.stall_ms, best));
    let jump_ceiling = match (&blind, jumps) {
        (Some(b), Some((frames, m))) => {
            let floor = jump_floor(frames, &m.jumps, &m.steps, m.rate, b.misses as usize, setup);
            family_score(family, none, floor.max(b.stall_ms), best)
        }
        _ => f64::NAN,
    };
    Scores { model: family_score(family, none, auto, best), ceiling, jump_ceiling }
}

/// What [`model_score`] measures on one trace.
struct Scores {
    model: f64,
    ceiling: f64,
    jump_ceiling: f64,
}

/// A request farther than this from each of the 30 before it is a seek (the families' jumps and scrubbing
/// steps are at most 200 frames).
const SEEK_FAR: u64 = 1000;

/// Every family over many seeds in the model at both ratios; the worst seed of each also in real time.
fn families(suite: &mut Suite) -> TaskResult {
    let seeds = env_usize("DPC_BENCH_PREDICT_SEEDS", 12) as u64;
    let len = env_usize("DPC_BENCH_PREDICT_FAMILY_LEN", 2000);
    let rt_len = env_usize("DPC_BENCH_PREDICT_RT_LEN", 1000);
    let runs = env_usize("DPC_BENCH_PREDICT_RUNS", 3);
    let only: Option<Vec<String>> =
        std::env::var("DPC_BENCH_PREDICT_FAMILIES").ok().map(|v| v.split(',').map(str::to_string).collect());
    let mut rows = Vec::new();
    for ratio in RATIOS {
        for family in Family::ALL {
            if only.as_ref().is_some_and(|o| !o.iter().any(|f| f == family.name())) {
                continue;
            }
            let setup = family_setup(family, ratio);
            // Markov needs more requests to learn its graph (like the sample trace's row).
            let scale = if family == Family::Markov { 3 } else { 1 };
            let mut model = Vec::new();
            let mut ceilings = Vec::new();
            let mut jump_ceilings = Vec::new();
            for seed in 0..seeds {
                let (kind, params) = family.member(seed);
                let jumps = jump_model(kind, &params);
                let s = match family.generate(len * scale, seed) {
                    // Frames: the seeks (random frames); pages: the transitions not seen before in the trace.
                    Trace::Frames(k) => {
                        let marks = seeks(&k, SEEK_FAR, 30);
                        model_score(family, &k, &setup, Some(&marks), jumps.as_ref().map(|m| (&k[..], m)))
                    }
                    Trace::Strings(k) => model_score(family, &k, &setup, Some(&novel_transitions(&k)), None),
                };
                model.push(s.model);
                ceilings.push(s.ceiling);
                jump_ceilings.push(s.jump_ceiling);
            }
            let worst = if family == Family::Random {
                (0..model.len()).max_by(|&a, &b| model[a].total_cmp(&model[b]))
            } else {
                (0..model.len()).min_by(|&a, &b| model[a].total_cmp(&model[b]))
            }
            .expect("at least one seed");
            let mut trace = family.generate(len * scale, worst as u64);
            trace.truncate(rt_len * scale);
            let (real, real_model) = match &trace {
                Trace::Frames(k) => real_time(family, k, &setup, runs)?,
                Trace::Strings(k) => real_time(family, k, &setup, runs)?,
            };
            let row = FamilyRow {
                family,
                ratio,
                model,
                worst_seed: worst as u64,
                ceiling: ceilings[worst],
                jump_ceiling: jump_ceilings[worst],
                lowest_ceiling: jump_ceilings
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_finite())
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(s, c)| (*c, s as u64)),
                real,
                real_model,
                rt_len: rt_len * scale,
            };
            let tag = format!("family.{}.{}_{}", family.name(), ratio.0, ratio.1);
            let unit = if family == Family::Random { "x none" } else { "ratio" };
            suite.metric(&format!("{tag}.model_worst"), worst_of(&row), unit);
            suite.metric(&format!("{tag}.model_median"), median(&row.model), unit);
            if row.ceiling.is_finite() {
                suite.metric(&format!("{tag}.ceiling_worst_seed"), row.ceiling, unit);
            }
            if row.jump_ceiling.is_finite() {
                suite.metric(&format!("{tag}.jump_ceiling_worst_seed"), row.jump_ceiling, unit);
            }
            if let Some((c, _)) = row.lowest_ceiling {
                suite.metric(&format!("{tag}.jump_ceiling_lowest"), c, unit);
            }
            suite.metric(&format!("{tag}.real_worst_seed_min"), min(&row.real), unit);
            suite.metric(&format!("{tag}.real_worst_seed_max"), max(&row.real), unit);
            rows.push(row);
        }
    }

    let mut md = String::new();
    let _ = writeln!(
        md,
        "\nFamilies (`dpc_gen::trace::Family`): {seeds} seeds of each, {len} requests ({} for markov), 4 workers, capacity 512 (markov 64), `auto`.",
        len * 3
    );
    let _ = writeln!(
        md,
        "\"model\" = the virtual-time model over every seed (worst and median); \"ceiling\" = the blind oracle's headroom on the worst seed, blind to seeks (frames) or to transitions not seen before (markov): no online predictor can do better; \"jump ceiling\" = the lower of that and the jump floor's (`dpc_gen::oracle::jump_floor`: no online predictor knows which target of a jump set comes next, and the workers cannot load them all), on the worst seed and the lowest over the seeds; \"real\" = {runs} real-time replays of the worst seed's first {rt_len} requests ({} for markov): the range of the runs, beside the model on the same requests. Random: stall / stall of no prefetching.\n",
        rt_len * 3
    );
    let _ = writeln!(
        md,
        "| family | latency/think | model worst (seed) | model median | ceiling | jump ceiling | lowest jump ceiling (seed) | real worst seed (runs) | model, same requests | target |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        let target = match (r.family, r.ratio) {
            (Family::Random, _) => "<= 1.05 x none",
            (Family::Markov, (2, 1)) => ">= 0.75",
            (Family::Markov, _) => "",
            (_, (2, 1)) => ">= 0.95",
            _ => ">= 0.93",
        };
        let _ = writeln!(
            md,
            "| {} | {}/{} ms | {:.3} ({}) | {:.3} | {} | {} | {} | {:.3} to {:.3} | {:.3} | {target} |",
            r.family,
            r.ratio.0,
            r.ratio.1,
            worst_of(r),
            r.worst_seed,
            median(&r.model),
            fmt(r.ceiling, 3),
            fmt(r.jump_ceiling, 3),
            r.lowest_ceiling.map_or("n/a".to_string(), |(c, s)| format!("{c:.3} ({s})")),
            min(&r.real),
            max(&r.real),
            r.real_model,
        );
        let _ = r.rt_len;
    }
    suite.markdown(&md);
    Ok(())
}

fn worst_of(r: &FamilyRow) -> f64 {
    if r.family == Family::Random { max(&r.model) } else { min(&r.model) }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() { f64::NAN } else { s[s.len() / 2] }
}

/// `runs` real-time replays of `auto` on `keys`, one of no prefetching, and the oracle: each run's score,
/// and the model's on the same requests.
fn real_time<K: OffsetKey>(
    family: Family,
    keys: &[K],
    setup: &Setup,
    runs: usize,
) -> Result<(Vec<f64>, f64), Box<dyn std::error::Error>> {
    let best = oracle(keys, setup).stall_ms;
    let none = replay(keys, Box::new(dpc_core::NoPrefetch), setup)?.stall_ms;
    let mut scores = Vec::new();
    for _ in 0..runs.max(1) {
        let r = replay(keys, Box::new(Ensemble::<K>::auto()), setup)?;
        println!(
            "{:>12} {}/{} auto stall {:8.1} ms (none {none:8.1}, oracle {best:7.1}) hits {} late {} misses {}",
            family.name(),
            setup.latency.as_millis(),
            setup.think.as_millis(),
            r.stall_ms,
            r.hits,
            r.late_hits,
            r.misses
        );
        scores.push(family_score(family, none, r.stall_ms, best));
    }
    Ok((scores, model_score(family, keys, setup, None, None).model))
}

/// The sample traces: `$DPC_SHARED_TRACES`, else `../shared/traces` beside the checkout, else two levels up
/// (a worktree under `wt/`).
fn shared_traces() -> PathBuf {
    if let Some(dir) = std::env::var_os("DPC_SHARED_TRACES") {
        return PathBuf::from(dir);
    }
    let beside = root().join("../shared/traces");
    if beside.is_dir() { beside } else { root().join("../../shared/traces") }
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
        "\nPredictor cost: one `predict` call at history 30 after learning 2000 requests (median of batches).\n\n| trace | auto us (median) | auto us (best batch) | python us (median) | python us (best batch) |\n|---|---:|---:|---:|---:|\n",
    );
    for name in ["playback", "annotate"] {
        let Trace::Frames(keys) = Trace::load(shared_traces().join(format!("{name}.txt")))? else {
            return Err(format!("{name} should hold frames").into());
        };
        let warm = &keys[..2000.min(keys.len())];
        let mut auto = Ensemble::<u64>::auto();
        let auto_ns = predict_cost(&mut auto, warm);
        let auto_best = best_cost(&mut auto, warm);
        let mut python = DynamicDataPredictor::video();
        let python_ns = predict_cost(&mut python, warm);
        suite.metric(&format!("cost.{name}.auto.predict_us"), auto_ns / 1e3, "us");
        let python_best = best_cost(&mut python, warm);
        suite.metric(&format!("cost.{name}.python.predict_us"), python_ns / 1e3, "us");
        suite.metric(&format!("cost.{name}.auto.predict_best_us"), auto_best, "us");
        suite.metric(&format!("cost.{name}.python.predict_best_us"), python_best, "us");
        let _ = writeln!(
            md,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            auto_ns / 1e3,
            auto_best,
            python_ns / 1e3,
            python_best
        );
    }
    let Trace::Strings(pages) = Trace::load(shared_traces().join("markov.txt"))? else {
        return Err("markov should hold strings".into());
    };
    let mut auto = Ensemble::<Arc<str>>::auto();
    let ns = predict_cost(&mut auto, &pages[..2000.min(pages.len())]);
    suite.metric("cost.markov.auto.predict_us", ns / 1e3, "us");
    let best = best_cost(&mut auto, &pages[..2000.min(pages.len())]);
    suite.metric("cost.markov.auto.predict_best_us", best, "us");
    let _ = writeln!(md, "| markov | {:.2} | {best:.2} | n/a | n/a |", ns / 1e3);
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

/// The fastest of 200 batches of 20 `predict` calls, in microseconds per call: on a loaded machine the median
/// counts the time other processes held the core, the best batch much less.
fn best_cost<K: OffsetKey>(p: &mut dyn AccessPredictor<K>, warm: &[K]) -> f64 {
    let history = &warm[warm.len().saturating_sub(30)..];
    let Some(current) = history.last() else { return f64::NAN };
    let ctx = PredictContext::new(current, history)
        .capacity(Some(512))
        .max_prefetch(20)
        .workers(4)
        .load_latency(Some(Duration::from_millis(2)))
        .request_interval(Some(Duration::from_millis(1)));
    let mut out = Vec::new();
    let mut best = f64::INFINITY;
    for _ in 0..200 {
        let t = std::time::Instant::now();
        for _ in 0..20 {
            out.clear();
            p.predict(&ctx, &mut out);
            std::hint::black_box(&out);
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / 20.0);
    }
    best
}
