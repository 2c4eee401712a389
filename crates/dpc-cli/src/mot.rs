//! `dpc gen mot` and `dpc inspect mot`.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use dpc_gen::mot::{MotParams, generate_with_progress};
use dpc_mot::{LineError, Mode, MotError, Separator, SeqInfo, WriteFormat};
use serde::Serialize;

use crate::CliResult;

/// Options of `dpc gen mot` (those of the Python reference script, plus the line layout).
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Output file; `-` or nothing writes to stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Number of tracks (ids 1..=N).
    #[arg(short, long, default_value_t = 100)]
    tracks: u32,
    /// Number of frames (1..=N).
    #[arg(short, long, default_value_t = 1000)]
    frames: u64,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1920)]
    width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 1080)]
    height: u32,
    /// Shortest track, in frames.
    #[arg(long, default_value_t = 50)]
    min_track_length: u64,
    /// Longest track, in frames [default: 40 % of the frames].
    #[arg(long)]
    max_track_length: Option<u64>,
    /// Random seed: the same seed and options give the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Columns per line: 6 (box), 7 (+conf), 8 (+class), 9 (+visibility, MOT16+), 10 (conf,x,y,z, MOT15).
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u8).range(6..=10))]
    columns: u8,
    /// Column separator.
    #[arg(long, value_enum, default_value_t = SepArg::Comma)]
    separator: SepArg,
    /// End lines with CRLF.
    #[arg(long)]
    crlf: bool,
    /// Digits after the decimal point.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=9))]
    decimals: u8,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Print a JSON summary on the last line of stdout (needs --output).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SepArg {
    Comma,
    CommaSpace,
    Space,
    Tab,
}

/// Options of `dpc inspect mot`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The MOT file: a path, or a file://, s3://, gs://, az:// or http(s):// URL.
    file: PathBuf,
    /// Fail on the first bad line instead of reporting bad lines as diagnostics.
    #[arg(long)]
    strict: bool,
    /// How many diagnostics to list.
    #[arg(long, default_value_t = 10)]
    max_diagnostics: usize,
    /// Print one JSON object on the last line of stdout.
    #[arg(long)]
    json: bool,
}

pub fn generate(args: GenArgs) -> CliResult {
    let separator = match args.separator {
        SepArg::Comma => Separator::Comma,
        SepArg::CommaSpace => Separator::CommaSpace,
        SepArg::Space => Separator::Space,
        SepArg::Tab => Separator::Tab,
    };
    let params = MotParams {
        tracks: args.tracks,
        frames: args.frames,
        width: args.width,
        height: args.height,
        min_track_length: args.min_track_length,
        max_track_length: args.max_track_length,
        seed: args.seed,
        format: WriteFormat { separator, crlf: args.crlf, columns: args.columns, decimals: args.decimals },
    };
    let to_stdout = args.output.as_ref().is_none_or(|p| p.as_os_str() == "-");
    if to_stdout && args.json {
        return Err("--json needs --output: stdout already carries the data".into());
    }
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(params.frames);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} frames {msg} ({eta})")
                .map_err(|e| e.to_string())?,
        );
        bar
    };
    let started = Instant::now();
    let mut on_progress = |p: &dpc_gen::mot::Progress| {
        bar.set_position(p.frames_done);
        bar.set_message(format!("{:.1} MB", p.bytes as f64 / 1e6));
    };
    let summary = match args.output.as_ref().filter(|_| !to_stdout) {
        None => generate_with_progress(&params, io::stdout().lock(), &mut on_progress)?,
        Some(path) => {
            let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            generate_with_progress(&params, BufWriter::with_capacity(0, file), &mut on_progress)
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if to_stdout {
        return Ok(());
    }
    let path = args.output.unwrap_or_default();
    let mb_per_s = summary.bytes as f64 / 1e6 / secs.max(1e-9);
    if args.json {
        let json = serde_json::json!({
            "path": path,
            "rows": summary.rows,
            "bytes": summary.bytes,
            "frames": summary.frames,
            "tracks": summary.tracks,
            "empty_frames": summary.empty_frames,
            "seconds": secs,
            "mb_per_s": mb_per_s,
        });
        println!("{json}");
    } else {
        println!(
            "wrote {}: {} rows, {} frames, {} tracks, {:.1} MB in {:.2} s ({:.0} MB/s)",
            path.display(),
            summary.rows,
            summary.frames,
            summary.tracks,
            summary.bytes as f64 / 1e6,
            secs,
            mb_per_s
        );
    }
    Ok(())
}

/// The report of `dpc inspect mot`.
#[derive(Debug, Serialize)]
struct Report {
    path: PathBuf,
    bytes: u64,
    first_frame: Option<u64>,
    last_frame: Option<u64>,
    frames: u64,
    frames_with_rows: u64,
    empty_frames: u64,
    rows: u64,
    /// Rows per frame over the whole range (empty frames count as 0): min, mean, max.
    rows_per_frame: [f64; 3],
    ids: u64,
    columns: BTreeMap<usize, u64>,
    sorted: bool,
    runs: u64,
    bom: bool,
    crlf: bool,
    lines: u64,
    blank_lines: u64,
    bad_lines: u64,
    index_ms: f64,
    index_mb_per_s: f64,
    parse_ms: f64,
    seqinfo: Option<SeqInfo>,
    diagnostics: Vec<LineError>,
}

pub fn inspect(args: InspectArgs) -> CliResult {
    let mode = if args.strict { Mode::Strict } else { Mode::Lenient };
    let provider = crate::source::mot_builder(&args.file).mode(mode).cache_frames(0).build()?;
    let index = provider.index().summary().clone();
    let file = provider.source().stream(0..provider.source().len())?;
    let mut ids = HashSet::new();
    let scan = dpc_mot::scan(file, mode, |d| {
        ids.insert(d.id);
    })
    .map_err(|e| match e {
        dpc_mot::IndexError::Line(error) => MotError::Line { path: args.file.clone(), error }.to_string(),
        other => format!("{}: {other}", args.file.display()),
    })?;
    let columns = (6..=10).filter(|&c| scan.columns[c] > 0).map(|c| (c, scan.columns[c])).collect();
    let index_secs = index.elapsed.as_secs_f64();
    let per_frame: Vec<u64> = provider.frames_with_rows().iter().map(|&f| provider.index().rows(f)).collect();
    let empty = provider.total_frames() - per_frame.len() as u64;
    let rows_per_frame = [
        if empty > 0 { 0.0 } else { per_frame.iter().copied().min().unwrap_or(0) as f64 },
        scan.rows as f64 / provider.total_frames().max(1) as f64,
        per_frame.iter().copied().max().unwrap_or(0) as f64,
    ];
    let report = Report {
        path: args.file.clone(),
        bytes: index.bytes,
        first_frame: provider.range().map(|r| r.0),
        last_frame: provider.range().map(|r| r.1),
        frames: provider.total_frames(),
        frames_with_rows: provider.frames_with_rows().len() as u64,
        empty_frames: provider.total_frames() - provider.frames_with_rows().len() as u64,
        rows: scan.rows,
        rows_per_frame,
        ids: ids.len() as u64,
        columns,
        sorted: index.sorted,
        runs: index.runs,
        bom: index.bom,
        crlf: index.crlf,
        lines: scan.lines,
        blank_lines: scan.blank_lines,
        bad_lines: scan.bad_lines,
        index_ms: index_secs * 1e3,
        index_mb_per_s: index.bytes as f64 / 1e6 / index_secs.max(1e-9),
        parse_ms: scan.elapsed.as_secs_f64() * 1e3,
        seqinfo: provider.seqinfo().cloned(),
        diagnostics: scan.diagnostics.into_iter().take(args.max_diagnostics).collect(),
    };
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(());
    }
    let r = &report;
    writeln!(out, "{}", r.path.display())?;
    writeln!(out, "  bytes          {}", r.bytes)?;
    match (r.first_frame, r.last_frame) {
        (Some(a), Some(b)) => writeln!(
            out,
            "  frames         {} ({a}..={b}), {} with rows, {} empty",
            r.frames, r.frames_with_rows, r.empty_frames
        )?,
        _ => writeln!(out, "  frames         none")?,
    }
    writeln!(out, "  rows           {} ({} ids)", r.rows, r.ids)?;
    let [lo, mean, hi] = r.rows_per_frame;
    writeln!(out, "  rows per frame {lo:.0} to {hi:.0}, mean {mean:.1}")?;
    let cols: Vec<String> = r.columns.iter().map(|(c, n)| format!("{c} columns: {n}")).collect();
    writeln!(out, "  columns        {}", if cols.is_empty() { "-".to_string() } else { cols.join(", ") })?;
    writeln!(
        out,
        "  order          {}",
        if r.sorted { "sorted by frame".to_string() } else { format!("not sorted by frame ({} ranges)", r.runs) }
    )?;
    writeln!(
        out,
        "  lines          {} ({} blank, {} bad){}{}",
        r.lines,
        r.blank_lines,
        r.bad_lines,
        if r.crlf { ", CRLF" } else { "" },
        if r.bom { ", BOM" } else { "" }
    )?;
    writeln!(out, "  index          {:.2} ms ({:.0} MB/s)", r.index_ms, r.index_mb_per_s)?;
    writeln!(out, "  full parse     {:.2} ms", r.parse_ms)?;
    if let Some(s) = &r.seqinfo {
        writeln!(
            out,
            "  seqinfo.ini    {}, {} fps, length {}, {}x{}",
            s.name.as_deref().unwrap_or("?"),
            s.frame_rate.map_or("?".into(), |v| v.to_string()),
            s.length.map_or("?".into(), |v| v.to_string()),
            s.width.map_or("?".into(), |v| v.to_string()),
            s.height.map_or("?".into(), |v| v.to_string()),
        )?;
    }
    for d in &r.diagnostics {
        writeln!(out, "  bad line       {d}")?;
    }
    if r.bad_lines > r.diagnostics.len() as u64 {
        writeln!(out, "  ...            {} more bad lines", r.bad_lines - r.diagnostics.len() as u64)?;
    }
    Ok(())
}
