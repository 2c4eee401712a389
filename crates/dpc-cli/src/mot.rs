//! `dpc gen mot` and `dpc inspect mot`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use dpc_gen::mot::{GenError, MAX_FRAMES, MAX_SIDE, MAX_TRACKS, MIN_SIDE, MotParams, generate_with_progress};
use dpc_mot::{IndexError, LineError, Mode, MotError, Separator, SeqInfo, WriteFormat};
use serde::Serialize;

use crate::CliResult;
use crate::output::OutFile;

/// Options of `dpc gen mot` (those of the Python reference script, plus the line layout).
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Output file; `-` or nothing writes to stdout. An existing file is replaced only once the new one is
    /// complete (it is written beside it and renamed), so a failed run leaves it as it was.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Number of tracks (ids 1..=N), 1 to 1000000.
    #[arg(short, long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TRACKS)))]
    tracks: u32,
    /// Number of frames (1..=N), 1 to 9223372036854775807 (the largest frame a parser reads back).
    #[arg(short, long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_FRAMES))]
    frames: u64,
    /// Image width in pixels, 16 to 1000000.
    #[arg(long, default_value_t = 1920, value_parser = side())]
    width: u32,
    /// Image height in pixels, 16 to 1000000.
    #[arg(long, default_value_t = 1080, value_parser = side())]
    height: u32,
    /// Shortest track, in frames (0 counts as 1; more than --frames counts as --frames).
    #[arg(long, default_value_t = 50)]
    min_track_length: u64,
    /// Longest track, in frames, at least --min-track-length [default: 40 % of the frames].
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

fn side() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(i64::from(MIN_SIDE)..=i64::from(MAX_SIDE))
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
    /// The MOT file: a path, `-` for standard input, or a file://, s3://, gs://, az:// or http(s):// URL.
    /// It is read once, front to back, so a pipe or FIFO works; a line longer than 65536 bytes stops it
    /// (not a MOT file).
    file: PathBuf,
    /// Fail on the first bad line instead of reporting bad lines as diagnostics.
    #[arg(long)]
    strict: bool,
    /// How many diagnostics to list (the first ones; at most 1000 are kept).
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
    // Everything is checked before the output is touched.
    params.validate()?;
    let to_stdout = args.output.as_ref().is_none_or(|p| p.as_os_str() == "-");
    if to_stdout && args.json {
        return Err("--json needs --output: stdout already carries the data".into());
    }
    let out = match args.output.as_ref().filter(|_| !to_stdout) {
        Some(path) => Some(OutFile::create(path)?),
        None => None,
    };
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
    let summary = match out {
        None => match generate_with_progress(&params, io::stdout().lock(), &mut on_progress) {
            Err(GenError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        },
        Some(mut file) => {
            let summary = generate_with_progress(&params, &mut file, &mut on_progress)
                .map_err(|e| format!("{}: {e}", file.path().display()))?;
            file.commit()?;
            summary
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

/// The report of `dpc inspect mot`: every number comes from one full parse of the file.
#[derive(Debug, Serialize)]
struct Report {
    path: PathBuf,
    bytes: u64,
    first_frame: Option<u64>,
    last_frame: Option<u64>,
    /// Frames from the first to the last (extended to `1..=seqLength` by a `seqinfo.ini`), empty ones included.
    frames: u64,
    /// Frames that have at least one good row.
    frames_with_rows: u64,
    empty_frames: u64,
    /// Good rows; bad lines are not rows.
    rows: u64,
    /// Rows per frame over the whole range (empty frames count as 0): min, mean, max.
    rows_per_frame: [f64; 3],
    ids: u64,
    columns: BTreeMap<usize, u64>,
    /// Whether the good rows are in non-decreasing frame order.
    sorted: bool,
    /// Ranges of consecutive good rows of one frame (equal to `frames_with_rows` when sorted).
    runs: u64,
    bom: bool,
    crlf: bool,
    lines: u64,
    blank_lines: u64,
    bad_lines: u64,
    parse_ms: f64,
    mb_per_s: f64,
    seqinfo: Option<SeqInfo>,
    /// A malformed `seqinfo.ini` beside the file (lenient mode; strict mode fails on it).
    seqinfo_error: Option<String>,
    diagnostics: Vec<LineError>,
}

/// What the rows of one pass add up to.
#[derive(Default)]
struct Tally {
    per_frame: HashMap<u64, u64>,
    ids: HashSet<i64>,
    last: Option<u64>,
    runs: u64,
    sorted: bool,
}

impl Tally {
    fn row(&mut self, d: &dpc_mot::Detection) {
        *self.per_frame.entry(d.frame).or_default() += 1;
        self.ids.insert(d.id);
        if self.last != Some(d.frame) {
            self.runs += 1;
            if self.last.is_some_and(|l| d.frame < l) {
                self.sorted = false;
            }
            self.last = Some(d.frame);
        }
    }
}

/// The `seqinfo.ini` the provider would use: beside the file, or one directory up.
fn find_seqinfo(path: &std::path::Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    let here = dir.join("seqinfo.ini");
    if here.is_file() {
        return Some(here);
    }
    let up = dir.parent()?.join("seqinfo.ini");
    up.is_file().then_some(up)
}

pub fn inspect(args: InspectArgs) -> CliResult {
    let mode = if args.strict { Mode::Strict } else { Mode::Lenient };
    let path = &args.file;
    let stdin = path.as_os_str() == "-";
    // One pass, reading the input once: a pipe or FIFO works, and every number below agrees with the others.
    let remote;
    let reader: Box<dyn Read + '_> = match path.to_str().map(dpc_io::SourceName::parse) {
        _ if stdin => Box::new(io::stdin().lock()),
        // A URL: open it as every command does (its index is saved and reused while the object is unchanged),
        // then read its bytes once for the full parse.
        Some(Ok(dpc_io::SourceName::Remote { .. })) => {
            remote = crate::source::mot_builder(path).mode(mode).cache_frames(0).build()?;
            remote.source().stream(0..remote.source().len()).map_err(|e| e.to_string())?
        }
        Some(Err(e)) => return Err(e.to_string().into()),
        // A local path: opened directly, so a pipe or FIFO is read once too.
        _ => Box::new(File::open(path).map_err(|e| format!("{}: {e}", path.display()))?),
    };
    let mut tally = Tally { sorted: true, ..Tally::default() };
    let scan = dpc_mot::scan(reader, mode, |d| tally.row(d)).map_err(|e| match e {
        IndexError::Line(error) => MotError::Line { path: path.clone(), error }.to_string(),
        other => format!("{}: {other}", path.display()),
    })?;
    let (mut seqinfo, mut seqinfo_error) = (None, None);
    if let Some(ini) = find_seqinfo(path).filter(|_| !stdin && !crate::source::is_remote(path)) {
        let text = std::fs::read_to_string(&ini).map_err(|e| format!("{}: {e}", ini.display()))?;
        match SeqInfo::parse(&text) {
            Ok(info) => seqinfo = Some(info),
            Err(error) if args.strict => return Err(MotError::SeqInfo { path: ini, error }.into()),
            Err(error) => seqinfo_error = Some(format!("{}: {error}", ini.display())),
        }
    }
    let rows_range = tally.per_frame.keys().min().zip(tally.per_frame.keys().max()).map(|(a, b)| (*a, *b));
    let range = match (rows_range, seqinfo.as_ref().and_then(|s| s.length).filter(|&n| n > 0)) {
        (Some((first, last)), Some(n)) => Some((first.min(1), last.max(n))),
        (Some(r), None) => Some(r),
        (None, Some(n)) => Some((1, n)),
        (None, None) => None,
    };
    // A range spanning all of u64 has 2^64 frames; saturate rather than wrap.
    let frames = range.map_or(0, |(a, b)| (b - a).saturating_add(1));
    let with_rows = tally.per_frame.len() as u64;
    let empty = frames - with_rows;
    let rows_per_frame = [
        if empty > 0 { 0.0 } else { tally.per_frame.values().copied().min().unwrap_or(0) as f64 },
        scan.rows as f64 / frames.max(1) as f64,
        tally.per_frame.values().copied().max().unwrap_or(0) as f64,
    ];
    let secs = scan.elapsed.as_secs_f64();
    let report = Report {
        path: path.clone(),
        bytes: scan.bytes,
        first_frame: range.map(|r| r.0),
        last_frame: range.map(|r| r.1),
        frames,
        frames_with_rows: with_rows,
        empty_frames: empty,
        rows: scan.rows,
        rows_per_frame,
        ids: tally.ids.len() as u64,
        columns: (6..=10).filter(|&c| scan.columns[c] > 0).map(|c| (c, scan.columns[c])).collect(),
        sorted: tally.sorted,
        runs: tally.runs,
        bom: scan.bom,
        crlf: scan.crlf,
        lines: scan.lines,
        blank_lines: scan.blank_lines,
        bad_lines: scan.bad_lines,
        parse_ms: secs * 1e3,
        mb_per_s: scan.bytes as f64 / 1e6 / secs.max(1e-9),
        seqinfo,
        seqinfo_error,
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
    writeln!(out, "  parse          {:.2} ms ({:.0} MB/s)", r.parse_ms, r.mb_per_s)?;
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
    if let Some(e) = &r.seqinfo_error {
        writeln!(out, "  seqinfo.ini    ignored: {e}")?;
    }
    for d in &r.diagnostics {
        writeln!(out, "  bad line       {d}")?;
    }
    if r.bad_lines > r.diagnostics.len() as u64 {
        writeln!(out, "  ...            {} more bad lines", r.bad_lines - r.diagnostics.len() as u64)?;
    }
    Ok(())
}
