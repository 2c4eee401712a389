//! `cargo xtask bench [SUITE...]`: the suites defined in docs/BENCHMARKS.md ("What is measured").
//!
//! Each suite writes `target/bench/<suite>.json` (`{"suite", "git_rev", "host", "metrics": {name: {"value", "unit"}}}`)
//! and `target/bench/<suite>.md`; `target/bench/report.md` is rebuilt from every suite's Markdown after each run.
//! Timings mean something only as ratios against a baseline measured in the same run, so suites report both.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{SUITES, TaskResult, root};

mod core;
mod core_cost;
mod mot;
mod ocycle;
mod predict;
mod python;
mod remote;
mod store;

/// Runs the named suites (all of them if none is named); called from an optimised build only (`crate::bench`).
pub fn run(args: &[String]) -> TaskResult {
    let wanted: Vec<&str> = if args.is_empty() { SUITES.to_vec() } else { args.iter().map(String::as_str).collect() };
    for name in wanted {
        let mut suite = Suite::new(name);
        match name {
            "core" => {
                // `DPC_BENCH_CORE_PARTS=cost,cpu` runs a subset: `first` (the first round's measures), `cost` (beside
                // quick_cache and moka), `cpu` (the scheduler's CPU time).
                let parts = std::env::var("DPC_BENCH_CORE_PARTS").unwrap_or_else(|_| "first,cost,cpu".into());
                let part = |p: &str| parts.split(',').any(|x| x.trim() == p);
                if part("first") {
                    core::run(&mut suite)?;
                }
                if part("cost") {
                    core_cost::run(&mut suite)?;
                }
                if part("cpu") {
                    core_cost::cpu_table(&mut suite)?;
                }
            }
            "predict" => predict::run(&mut suite)?,
            "mot" => mot::run(&mut suite)?,
            "ocycle" => ocycle::run(&mut suite)?,
            "store" => store::run(&mut suite)?,
            "python" => python::run(&mut suite)?,
            "remote" => remote::run(&mut suite)?,
            other => return Err(format!("unknown suite {other:?}; known: {}", SUITES.join(", ")).into()),
        }
        suite.finish()?;
    }
    write_report()
}

/// One metric of a suite's JSON.
#[derive(Debug, Serialize)]
pub struct Metric {
    pub value: f64,
    pub unit: String,
}

/// A suite's results: named metrics for the JSON, Markdown and SVG plots for the human report.
#[derive(Debug)]
pub struct Suite {
    pub name: String,
    metrics: BTreeMap<String, Metric>,
    markdown: String,
}

impl Suite {
    pub fn new(name: &str) -> Self {
        let mut markdown = String::new();
        let _ = writeln!(markdown, "## {name}\n");
        Suite { name: name.to_string(), metrics: BTreeMap::new(), markdown }
    }

    /// Records a metric and echoes it to stdout so a run shows progress.
    pub fn metric(&mut self, name: &str, value: f64, unit: &str) {
        println!("{:>8} {name:<48} {value:>14.3} {unit}", self.name);
        self.metrics.insert(name.to_string(), Metric { value, unit: unit.to_string() });
    }

    /// Appends Markdown to the suite's section of the report.
    pub fn markdown(&mut self, text: &str) {
        self.markdown.push_str(text);
        if !text.ends_with('\n') {
            self.markdown.push('\n');
        }
    }

    /// Writes an SVG plot beside the report and links it from the suite's section.
    pub fn plot(&mut self, file: &str, svg: &str) -> std::io::Result<()> {
        let dir = bench_dir();
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(file), svg)?;
        self.markdown(&format!("\n![{file}]({file})\n"));
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        let dir = bench_dir();
        std::fs::create_dir_all(&dir)?;
        let json = serde_json::json!({
            "suite": self.name,
            "git_rev": git_rev(),
            "host": host(),
            "metrics": self.metrics,
        });
        std::fs::write(dir.join(format!("{}.json", self.name)), serde_json::to_string_pretty(&json)? + "\n")?;
        std::fs::write(dir.join(format!("{}.md", self.name)), &self.markdown)
    }
}

fn bench_dir() -> std::path::PathBuf {
    root().join("target/bench")
}

fn write_report() -> TaskResult {
    let dir = bench_dir();
    let mut report = format!("# dpc benchmark report\n\ngit {} on {}\n\n", git_rev(), host());
    for name in SUITES {
        if let Ok(md) = std::fs::read_to_string(dir.join(format!("{name}.md"))) {
            report.push_str(&md);
            report.push('\n');
        }
    }
    std::fs::write(dir.join("report.md"), report)?;
    println!("report: {}", dir.join("report.md").display());
    Ok(())
}

fn git_rev() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn host() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model} x{cpus}")
}

/// Runs `f` (which performs `iters` operations when called with `iters`) until `budget` has passed,
/// several times, and returns the median nanoseconds per operation.
/// The median of several samples is robust to the scheduling noise of a shared 2-core machine.
pub fn ns_per_op(budget: Duration, mut f: impl FnMut(u64)) -> f64 {
    // Calibrate: grow the batch until one batch takes about 10 ms.
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        f(iters);
        let el = t.elapsed();
        if el >= Duration::from_millis(10) || iters >= 1 << 40 {
            break;
        }
        iters *= 2;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || (start.elapsed() < budget && samples.len() < 1000) {
        let t = Instant::now();
        f(iters);
        samples.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    median(&mut samples)
}

/// The Python interpreter that has the reference packages (`dynamic-prefetching-cache` 0.1.2, `ocycle` 0.1.0),
/// for side-by-side numbers: `$DPC_REFERENCE_PYTHON`, else `../pyenv/bin/python` beside the workspace.
/// `None` when there is none; the suites then skip the Python rows. The project never depends on it.
pub fn reference_python() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("DPC_REFERENCE_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("../pyenv/bin/python"));
    path.exists().then_some(path)
}

/// Runs a Python script with the reference interpreter and parses the last line of its output as a number.
pub fn python_number(script: &str) -> Option<f64> {
    let out = std::process::Command::new(reference_python()?).arg("-c").arg(script).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).lines().last()?.trim().parse().ok()
}

/// The median of a sample; sorts it in place.
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() { f64::NAN } else { xs[xs.len() / 2] }
}

/// A grouped horizontal bar chart as a standalone SVG: one group per label, one bar per series.
pub fn bar_chart(title: &str, unit: &str, series: &[&str], groups: &[(String, Vec<f64>)]) -> String {
    const COLORS: [&str; 6] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948"];
    let bar_h = 14.0;
    let gap = 10.0;
    let left = 150.0;
    let width = 520.0;
    let max =
        groups.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite()).fold(0.0f64, f64::max).max(1e-12);
    let group_h = bar_h * series.len() as f64 + gap;
    let height = 40.0 + group_h * groups.len() as f64 + 20.0 * series.len() as f64 + 10.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="11">"#,
        left + width + 90.0
    );
    let _ = writeln!(svg, r#"<text x="10" y="18" font-size="14">{} ({unit})</text>"#, escape(title));
    for (g, (label, values)) in groups.iter().enumerate() {
        let y0 = 30.0 + g as f64 * group_h;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 6.0,
            y0 + group_h / 2.0,
            escape(label)
        );
        for (s, v) in values.iter().enumerate() {
            let w = if v.is_finite() { v / max * width } else { 0.0 };
            let y = y0 + s as f64 * bar_h;
            let _ = writeln!(
                svg,
                r#"<rect x="{left}" y="{y}" width="{w:.1}" height="{}" fill="{}"/>"#,
                bar_h - 2.0,
                COLORS[s % COLORS.len()]
            );
            let _ = writeln!(svg, r#"<text x="{:.1}" y="{}">{v:.3}</text>"#, left + w + 4.0, y + bar_h - 4.0);
        }
    }
    let ly = 40.0 + group_h * groups.len() as f64;
    for (s, name) in series.iter().enumerate() {
        let y = ly + 20.0 * s as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{left}" y="{y}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            COLORS[s % COLORS.len()],
            left + 18.0,
            y + 10.0,
            escape(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
