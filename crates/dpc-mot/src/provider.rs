//! `MotProvider`: a MOT file as a [`DataProvider`] of frames.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dpc_core::DataProvider;
use dpc_io::{IoError, LocalFile, RangeSource, SourceName, SourceOptions};
use lru::LruCache;
use serde::Serialize;

use crate::index::{IndexError, MAX_DIAGNOSTICS};
use crate::parse::{VecSink, parse_chunk};
use crate::{Detection, Frame, FrameIndex, LineError, Mode, MotError, Run, SeqInfo, SeqInfoError};

/// A MOT annotation file served frame by frame: indexed once on open (or its saved index reused, see
/// [`MotProviderBuilder::index_cache`]), each load reads only that frame's bytes
/// (for a file not sorted by frame, the 4 KiB blocks holding them, kept in a block cache while playback makes
/// that pay; see [`MotProviderBuilder::block_cache_bytes`]).
///
/// `Send + Sync`: share it by reference or `Arc`, or hand it to a [`dpc_core::PrefetchCache`].
/// The file is any [`RangeSource`]: a local path, or (with dpc-io's `remote` feature) `s3://`, `gs://`, `az://`
/// and `http(s)://` URLs, read by range. The source's version (size and ETag or modification time) is pinned
/// at open: a load that finds the file changed is [`MotError::Changed`], never rows of another version.
///
/// Frames from the first to the last frame with rows exist (extended to `1..=seqLength` when a `seqinfo.ini`
/// sits beside the file or one directory up); frames in that range without rows load as empty frames.
pub struct MotProvider {
    /// The path or URL, as a path for the error types.
    path: PathBuf,
    source: Arc<dyn RangeSource>,
    /// Whether reads go to a store where one request costs far more than a positioned read.
    remote: bool,
    index: FrameIndex,
    index_reused: bool,
    index_cache_error: Option<String>,
    mode: Mode,
    seqinfo: Option<SeqInfo>,
    seqinfo_error: Option<(PathBuf, SeqInfoError)>,
    range: Option<(u64, u64)>,
    cache: Option<Mutex<LruCache<u64, Frame>>>,
    /// File blocks, for unsorted files (see `read_blocks`).
    blocks: Option<Mutex<LruCache<u64, Arc<Vec<u8>>>>>,
    counters: Counters,
    /// Bad lines seen so far (index and loads), keyed by byte offset so a reloaded frame does not repeat them.
    diagnostics: Mutex<Diagnostics>,
    bad_lines: AtomicU64,
    /// Every line was parsed at open: loads find no bad line that is not already counted.
    validated: bool,
}

impl std::fmt::Debug for MotProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotProvider")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .field("range", &self.range)
            .field("frames_with_rows", &self.index.frames().len())
            .finish_non_exhaustive()
    }
}

/// Configures and opens a [`MotProvider`].
#[derive(Clone, Debug)]
pub struct MotProviderBuilder {
    target: Target,
    source_options: SourceOptions,
    index_cache: IndexCache,
    mode: Mode,
    cache_frames: usize,
    seqinfo: bool,
    validate: bool,
    block_cache_bytes: u64,
}

#[derive(Clone, Debug)]
enum Target {
    /// A path or URL, opened by `build`.
    Name(PathBuf),
    /// A source opened by the caller.
    Source(Arc<dyn RangeSource>),
}

/// Where a provider keeps the index it built, to reuse it on the next open while the source's size and
/// ETag (or modification time) still match. A stale, damaged or foreign index file is ignored and rebuilt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexCache {
    /// Neither read nor write a saved index (the default).
    #[default]
    Off,
    /// `<file>.dpcidx` beside a local file (read and written); for a URL, `<url>.dpcidx` is read if it exists
    /// (upload one written with [`MotProvider::save_index`]) and nothing is written.
    Beside,
    /// A directory of saved indexes, one file per source named by a hash of its path or URL (read and
    /// written), for sources on read-only or remote storage.
    Dir(PathBuf),
}

/// The file name extension of saved indexes.
pub const INDEX_EXTENSION: &str = "dpcidx";

impl MotProviderBuilder {
    /// Where to keep the index for the next open (default [`IndexCache::Off`]).
    #[must_use]
    pub fn index_cache(mut self, cache: IndexCache) -> Self {
        self.index_cache = cache;
        self
    }

    /// Timeouts, retries and store settings for a URL (default: [`SourceOptions::default`], which reads the
    /// `AWS_*`, `GOOGLE_*` and `AZURE_*` environment). Local files ignore them.
    #[must_use]
    pub fn source_options(mut self, options: SourceOptions) -> Self {
        self.source_options = options;
        self
    }

    /// Strict (default: the first bad line is an error) or lenient (bad lines are skipped and reported).
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// How many parsed frames the provider's own LRU keeps (default 100, like the Python original; 0 disables it).
    #[must_use]
    pub fn cache_frames(mut self, n: usize) -> Self {
        self.cache_frames = n;
        self
    }

    /// Whether to read a `seqinfo.ini` found beside the file or one directory up (default true).
    #[must_use]
    pub fn seqinfo(mut self, read: bool) -> Self {
        self.seqinfo = read;
        self
    }

    /// Bytes of file blocks kept for files not sorted by frame (default 16 MiB; 0 reads each range directly).
    /// Sorted files read each frame with one positioned read and do not use it.
    #[must_use]
    pub fn block_cache_bytes(mut self, bytes: u64) -> Self {
        self.block_cache_bytes = bytes;
        self
    }

    /// Whether to parse every line when opening (default false). The index alone checks only the frame column,
    /// so without validation a bad line elsewhere surfaces when its frame is loaded; with it, strict mode fails
    /// at open on the file's first bad line, and lenient mode knows every bad line up front.
    /// It costs one more pass over the file, at full-parse speed.
    #[must_use]
    pub fn validate(mut self, validate: bool) -> Self {
        self.validate = validate;
        self
    }

    /// Opens and indexes the file.
    pub fn build(self) -> Result<MotProvider, MotError> {
        let (source, local) = match &self.target {
            Target::Source(source) => (Arc::clone(source), None),
            Target::Name(name) => open(name, &self.source_options)?,
        };
        let path = PathBuf::from(source.location());
        let source_err = |source: IoError| MotError::Source { path: path.clone(), source };
        let index_err = |e: IndexError| match e {
            IndexError::Io(e) => source_err(IoError::from_io(&path.to_string_lossy(), e)),
            IndexError::Line(error) => MotError::Line { path: path.clone(), error },
        };
        // Validation parses every line first, so that strict mode reports the file's first bad line
        // whatever column it is in (the index checks only the frame column).
        let validation = if self.validate {
            let stream = source.stream(0..source.len()).map_err(source_err)?;
            Some(crate::scan(stream, self.mode, |_| {}).map_err(index_err)?)
        } else {
            None
        };
        let started = Instant::now();
        let tag = source.version().tag();
        let saved_at = saved_index_path(&self.index_cache, local.as_deref(), source.location());
        let mut index = None;
        if let Some(at) = &saved_at {
            index = std::fs::read(at).ok().and_then(|bytes| FrameIndex::decode(&bytes, &tag).ok());
        } else if self.index_cache == IndexCache::Beside && local.is_none() {
            index = read_remote_index(source.location(), &self.source_options, &tag);
        }
        let index_reused = index.is_some();
        let mut index_cache_error = None;
        let mut index = match index {
            Some(index) => index,
            None => {
                let index = FrameIndex::build(source.stream(0..source.len()).map_err(source_err)?, self.mode)
                    .map_err(index_err)?;
                if let Some(at) = &saved_at {
                    if let Some(bytes) = index.encode(&tag) {
                        index_cache_error = write_atomic(at, &bytes).err().map(|e| format!("{}: {e}", at.display()));
                    }
                }
                index
            }
        };
        index.set_elapsed(started.elapsed());
        let (mut seqinfo, mut seqinfo_error) = (None, None);
        if self.seqinfo {
            if let Some(ini) = local.as_deref().and_then(find_seqinfo) {
                let text =
                    std::fs::read_to_string(&ini).map_err(|source| MotError::Io { path: ini.clone(), source })?;
                match SeqInfo::parse(&text) {
                    Ok(info) => seqinfo = Some(info),
                    Err(error) if self.mode == Mode::Strict => return Err(MotError::SeqInfo { path: ini, error }),
                    Err(error) => seqinfo_error = Some((ini, error)),
                }
            }
        }
        let range = match (index.range(), seqinfo.as_ref().and_then(|s| s.length).filter(|&n| n > 0)) {
            (Some((first, last)), Some(n)) => Some((first.min(1), last.max(n))),
            (Some(r), None) => Some(r),
            (None, Some(n)) => Some((1, n)),
            (None, None) => None,
        };
        let mut diagnostics = Diagnostics {
            kept: index.diagnostics().iter().map(|d| (d.offset, d.clone())).collect(),
            seen: HashSet::new(),
        };
        let mut bad_lines = index.summary().bad_lines;
        if let Some(scan) = validation {
            // The scan saw every bad line, the index's included; loads do not count them again.
            bad_lines = scan.bad_lines;
            diagnostics.kept = scan.diagnostics.into_iter().map(|d| (d.offset, d)).collect();
        }
        let bad_lines = AtomicU64::new(bad_lines);
        Ok(MotProvider {
            remote: source.coalesce_gap() > READ_GAP,
            path,
            source,
            index_reused,
            index_cache_error,
            mode: self.mode,
            seqinfo,
            seqinfo_error,
            range,
            cache: NonZeroUsize::new(self.cache_frames).map(|n| Mutex::new(LruCache::new(n))),
            blocks: if index.summary().sorted {
                None
            } else {
                NonZeroUsize::new((self.block_cache_bytes / BLOCK) as usize).map(|n| Mutex::new(LruCache::new(n)))
            },
            counters: Counters::default(),
            diagnostics: Mutex::new(diagnostics),
            bad_lines,
            validated: self.validate,
            index,
        })
    }
}

/// Bad lines seen so far: the first ones in full, and the offsets of all those found by loads.
#[derive(Debug, Default)]
struct Diagnostics {
    kept: BTreeMap<u64, LineError>,
    seen: HashSet<u64>,
}

/// A snapshot of a provider's counters (serde).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MotStats {
    /// The file.
    pub path: PathBuf,
    /// First and last frame (see [`MotProvider::range`]).
    pub first_frame: Option<u64>,
    /// Last frame.
    pub last_frame: Option<u64>,
    /// Frames in the range, empty ones included.
    pub total_frames: u64,
    /// Frames with at least one row.
    pub frames_with_rows: u64,
    /// Rows indexed.
    pub rows: u64,
    /// Whether the file is sorted by frame.
    pub sorted: bool,
    /// Bytes indexed.
    pub file_bytes: u64,
    /// Time to build the index (or to load the saved one), milliseconds.
    pub index_ms: f64,
    /// Whether the index was a saved one.
    pub index_reused: bool,
    /// `load` calls.
    pub loads: u64,
    /// Loads served from the provider's LRU.
    pub cache_hits: u64,
    /// Loads that read the file.
    pub cache_misses: u64,
    /// `cache_hits / loads` (0 when there were no loads).
    pub cache_hit_rate: f64,
    /// Bytes read by loads (the index pass not included).
    pub bytes_read: u64,
    /// File blocks read into the block cache (unsorted files only).
    pub block_reads: u64,
    /// Mean time of a load that read the file, microseconds.
    pub mean_miss_us: f64,
    /// Bad lines seen so far (lenient mode).
    pub bad_lines: u64,
}

#[derive(Debug, Default)]
struct Counters {
    block_reads: AtomicU64,
    recent_block_hits: AtomicU64,
    recent_block_misses: AtomicU64,
    loads: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    bytes_read: AtomicU64,
    miss_ns: AtomicU64,
}

impl MotProvider {
    /// Opens and indexes `path` in strict mode with the default settings. `path` is a local path or any URL
    /// [`dpc_io::open_source`] takes (`file://`, `s3://bucket/key`, `gs://`, `az://`, `http(s)://`).
    pub fn open(path: impl Into<PathBuf>) -> Result<MotProvider, MotError> {
        MotProvider::builder(path).build()
    }

    /// A builder for `path`, a local path or a URL (see [`open`](Self::open)).
    pub fn builder(path: impl Into<PathBuf>) -> MotProviderBuilder {
        MotProvider::builder_for(Target::Name(path.into()))
    }

    /// A builder for a source opened by the caller (any [`RangeSource`]).
    pub fn builder_source(source: Arc<dyn RangeSource>) -> MotProviderBuilder {
        MotProvider::builder_for(Target::Source(source))
    }

    fn builder_for(target: Target) -> MotProviderBuilder {
        MotProviderBuilder {
            target,
            source_options: SourceOptions::default(),
            index_cache: IndexCache::Off,
            mode: Mode::Strict,
            cache_frames: 100,
            seqinfo: true,
            validate: false,
            block_cache_bytes: 16 << 20,
        }
    }

    /// The file's path, or its URL as a path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path or URL.
    pub fn location(&self) -> &str {
        self.source.location()
    }

    /// The source the frames are read from.
    pub fn source(&self) -> &Arc<dyn RangeSource> {
        &self.source
    }

    /// Whether the index was a saved one (see [`MotProviderBuilder::index_cache`]) rather than built now.
    pub fn index_reused(&self) -> bool {
        self.index_reused
    }

    /// Why the index built at open could not be saved, if it could not (the provider works all the same).
    pub fn index_cache_error(&self) -> Option<&str> {
        self.index_cache_error.as_deref()
    }

    /// Writes the index (the saved form that [`IndexCache`] reuses) to `path`, to upload beside a remote file
    /// or copy to another machine. Returns false, writing nothing, when the index has bad lines (lenient
    /// mode), which a saved index cannot hold.
    pub fn save_index(&self, path: impl AsRef<Path>) -> Result<bool, MotError> {
        let path = path.as_ref();
        let Some(bytes) = self.index.encode(&self.source.version().tag()) else {
            return Ok(false);
        };
        write_atomic(path, &bytes).map_err(|source| MotError::Io { path: path.to_path_buf(), source })?;
        Ok(true)
    }

    /// The frame index.
    pub fn index(&self) -> &FrameIndex {
        &self.index
    }

    /// The `seqinfo.ini` found with the file, if any.
    pub fn seqinfo(&self) -> Option<&SeqInfo> {
        self.seqinfo.as_ref()
    }

    /// A malformed `seqinfo.ini` that lenient mode ignored.
    pub fn seqinfo_error(&self) -> Option<(&Path, &SeqInfoError)> {
        self.seqinfo_error.as_ref().map(|(p, e)| (p.as_path(), e))
    }

    /// The first and last existing frame, or `None` for a file without rows (and without `seqinfo.ini`).
    pub fn range(&self) -> Option<(u64, u64)> {
        self.range
    }

    /// Frames in the range, empty ones included.
    pub fn total_frames(&self) -> u64 {
        self.range.map_or(0, |(a, b)| b - a + 1)
    }

    /// Frames that have at least one row, ascending.
    pub fn frames_with_rows(&self) -> &[u64] {
        self.index.frames()
    }

    /// Whether `frame` exists (lies in [`range`](Self::range)).
    pub fn contains(&self, frame: u64) -> bool {
        self.range.is_some_and(|(a, b)| (a..=b).contains(&frame))
    }

    /// Loads one frame: from the LRU, or by reading and parsing only its bytes.
    pub fn load_frame(&self, frame: u64) -> Result<Frame, MotError> {
        self.counters.loads.fetch_add(1, Ordering::Relaxed);
        if !self.contains(frame) {
            return Err(MotError::FrameOutOfRange { frame, range: self.range });
        }
        if let Some(cache) = &self.cache {
            if let Some(f) = lock(cache).get(&frame) {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(f.clone());
            }
        }
        let started = Instant::now();
        let f = self.read_frame(frame)?;
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        self.counters.miss_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if let Some(cache) = &self.cache {
            lock(cache).put(frame, f.clone());
        }
        Ok(f)
    }

    /// Drops every frame from the provider's LRU.
    pub fn clear_cache(&self) {
        if let Some(cache) = &self.cache {
            lock(cache).clear();
        }
    }

    /// Bad lines seen so far (by the index and by loads), in file order; at most the first 1000.
    pub fn diagnostics(&self) -> Vec<LineError> {
        lock(&self.diagnostics).kept.values().cloned().collect()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MotStats {
        let c = &self.counters;
        let (loads, hits, misses) =
            (c.loads.load(Ordering::Relaxed), c.hits.load(Ordering::Relaxed), c.misses.load(Ordering::Relaxed));
        let summary = self.index.summary();
        MotStats {
            path: self.path.clone(),
            first_frame: self.range.map(|r| r.0),
            last_frame: self.range.map(|r| r.1),
            total_frames: self.total_frames(),
            frames_with_rows: self.index.frames().len() as u64,
            rows: summary.rows,
            sorted: summary.sorted,
            file_bytes: summary.bytes,
            index_ms: summary.elapsed.as_secs_f64() * 1e3,
            index_reused: self.index_reused,
            loads,
            cache_hits: hits,
            cache_misses: misses,
            cache_hit_rate: if loads == 0 { 0.0 } else { hits as f64 / loads as f64 },
            bytes_read: c.bytes_read.load(Ordering::Relaxed),
            block_reads: c.block_reads.load(Ordering::Relaxed),
            mean_miss_us: if misses == 0 {
                0.0
            } else {
                c.miss_ns.load(Ordering::Relaxed) as f64 / misses as f64 / 1e3
            },
            bad_lines: self.bad_lines.load(Ordering::Relaxed),
        }
    }

    fn read_frame(&self, frame: u64) -> Result<Frame, MotError> {
        let runs = self.index.runs(frame);
        let expected: u64 = runs.iter().map(|r| u64::from(r.rows)).sum();
        let mut detections: Vec<Detection> = Vec::with_capacity(expected as usize);
        let mut diagnostics = Vec::new();
        // Each thread reuses one read buffer: no allocation and no zeroing per load.
        let offset = runs.first().map_or(0, |r| r.start);
        let changed_err = || MotError::Changed { path: self.path.clone(), frame, offset };
        let read_err = |e: IoError| match e {
            IoError::Changed { .. } => changed_err(),
            source => MotError::Source { path: self.path.clone(), source },
        };
        READ_BUF.with_borrow_mut(|buf| -> Result<(), MotError> {
            let at = match &self.blocks {
                Some(blocks) if self.blocks_pay() => self.read_blocks(runs, blocks, buf),
                _ => self.read_direct(runs, buf),
            }
            .map_err(read_err)?;
            let mut sink = VecSink { mode: self.mode, out: &mut detections, diagnostics: &mut diagnostics };
            let parsed = runs.iter().zip(&at).try_for_each(|(r, &at)| {
                parse_chunk(&buf[at..at + (r.end - r.start) as usize], r.start, r.line, &mut sink).map(|_| ())
            });
            // A huge frame should not pin its buffer for the life of the thread.
            if buf.capacity() > MAX_KEPT_BUF {
                *buf = Vec::new();
            }
            // A bad line where the index found a good frame column may be a file changed under us.
            parsed.map_err(|error| match self.source.check() {
                Err(e) if e.is_changed() => changed_err(),
                _ => MotError::Line { path: self.path.clone(), error },
            })
        })?;
        // The index saw `expected` rows of this frame: anything else means the file changed under us.
        let changed = detections.iter().any(|d| d.frame != frame)
            || detections.len() as u64 + diagnostics.len() as u64 != expected;
        if changed {
            return Err(changed_err());
        }
        if !diagnostics.is_empty() && !self.validated {
            let mut all = lock(&self.diagnostics);
            for d in diagnostics {
                // A frame loaded again reports its bad lines again: count each line once.
                if all.seen.insert(d.offset) {
                    self.bad_lines.fetch_add(1, Ordering::Relaxed);
                    if all.kept.len() < MAX_DIAGNOSTICS {
                        all.kept.insert(d.offset, d);
                    }
                }
            }
        }
        Ok(Frame::new(frame, detections))
    }
}

impl MotProvider {
    /// Reads the bytes of `runs` with positioned reads, one per group of runs less than [`READ_GAP`] apart
    /// (reading a small gap costs less than another system call). Returns the buffer and where each run starts.
    fn read_direct(&self, runs: &[Run], buf: &mut Vec<u8>) -> Result<Vec<usize>, IoError> {
        let mut groups: Vec<(u64, u64)> = Vec::new();
        for r in runs {
            match groups.last_mut() {
                Some(g) if r.start >= g.1 && r.start - g.1 <= READ_GAP => g.1 = r.end,
                _ => groups.push((r.start, r.end)),
            }
        }
        let total: u64 = groups.iter().map(|g| g.1 - g.0).sum();
        // Grown, never shrunk here: every byte used below is overwritten by the reads.
        if buf.len() < total as usize {
            buf.resize(total as usize, 0);
        }
        if self.remote && groups.len() > 1 {
            // One request per group costs a round trip each: let the source fetch them together.
            let ranges: Vec<_> = groups.iter().map(|&(start, end)| start..end).collect();
            let mut pos = 0usize;
            for bytes in self.source.read_ranges(&ranges)? {
                buf[pos..pos + bytes.len()].copy_from_slice(&bytes);
                pos += bytes.len();
            }
        } else {
            let mut pos = 0usize;
            for &(start, end) in &groups {
                let len = (end - start) as usize;
                self.source.read_into(start, &mut buf[pos..pos + len])?;
                pos += len;
            }
        }
        self.counters.bytes_read.fetch_add(total, Ordering::Relaxed);
        // Runs are in file order and each lies inside a group, so one forward walk finds them all.
        let mut at = Vec::with_capacity(runs.len());
        let (mut g, mut group_pos) = (0usize, 0usize);
        for r in runs {
            while groups.get(g).is_some_and(|&(_, end)| end < r.end) {
                group_pos += (groups[g].1 - groups[g].0) as usize;
                g += 1;
            }
            let group_start = groups.get(g).map_or(r.start, |g| g.0);
            at.push(group_pos + (r.start - group_start) as usize);
        }
        Ok(at)
    }

    /// Copies the bytes of `runs` out of cached file blocks, reading the blocks that are missing.
    /// In a file sorted by track id a frame's rows lie in one block per track, and the next frame's rows lie
    /// right after them: playing such a file reads each block about once instead of one range per row.
    fn read_blocks(
        &self,
        runs: &[Run],
        blocks: &Mutex<LruCache<u64, Arc<Vec<u8>>>>,
        buf: &mut Vec<u8>,
    ) -> Result<Vec<usize>, IoError> {
        buf.clear();
        let mut at = Vec::with_capacity(runs.len());
        let file_len = self.index.summary().bytes;
        let mut current: Option<(u64, Arc<Vec<u8>>)> = None;
        let (mut hits, mut misses) = (0u64, 0u64);
        for r in runs {
            at.push(buf.len());
            let mut pos = r.start;
            while pos < r.end {
                let id = pos / BLOCK;
                let block = match &current {
                    Some((cid, b)) if *cid == id => Arc::clone(b),
                    _ => {
                        let (b, hit) = self.block(id, file_len, blocks)?;
                        if hit {
                            hits += 1;
                        } else {
                            misses += 1;
                        }
                        current = Some((id, Arc::clone(&b)));
                        b
                    }
                };
                let from = (pos - id * BLOCK) as usize;
                let to = ((r.end - id * BLOCK) as usize).min(block.len());
                if from >= to {
                    // The block is shorter than the index expects: the file shrank.
                    return Err(IoError::Changed {
                        location: self.source.location().to_string(),
                        detail: format!("no bytes at offset {pos}"),
                    });
                }
                buf.extend_from_slice(&block[from..to]);
                pos += (to - from) as u64;
            }
        }
        // Recent block hits and misses, halved now and then so that they follow the current access pattern.
        let c = &self.counters;
        let h = c.recent_block_hits.fetch_add(hits, Ordering::Relaxed) + hits;
        let m = c.recent_block_misses.fetch_add(misses, Ordering::Relaxed) + misses;
        if h + m > 8192 {
            c.recent_block_hits.store(h / 2, Ordering::Relaxed);
            c.recent_block_misses.store(m / 2, Ordering::Relaxed);
        }
        Ok(at)
    }

    /// Whether to go through the block cache. It pays when loads find their blocks cached: in playback about
    /// 98 % of lookups hit. Under random access most lookups miss, and a miss reads and caches a page where a
    /// direct read would read a row, about twice the cost (measured: break-even near 60 % hits). So while fewer
    /// than 75 % of recent lookups hit, loads read directly, except every 16th, which keeps probing so that a
    /// return to playback is noticed.
    fn blocks_pay(&self) -> bool {
        let c = &self.counters;
        let (h, m) = (c.recent_block_hits.load(Ordering::Relaxed), c.recent_block_misses.load(Ordering::Relaxed));
        h + m < 512 || h * 4 >= 3 * (h + m) || c.misses.load(Ordering::Relaxed) % 16 == 0
    }

    /// One block of the file, from the block cache (`true`) or read now. The lock is not held while reading.
    fn block(
        &self,
        id: u64,
        file_len: u64,
        blocks: &Mutex<LruCache<u64, Arc<Vec<u8>>>>,
    ) -> Result<(Arc<Vec<u8>>, bool), IoError> {
        if let Some(b) = lock(blocks).get(&id) {
            return Ok((Arc::clone(b), true));
        }
        let start = id * BLOCK;
        let len = BLOCK.min(file_len.saturating_sub(start)) as usize;
        let mut data = vec![0u8; len];
        self.source.read_into(start, &mut data)?;
        self.counters.bytes_read.fetch_add(len as u64, Ordering::Relaxed);
        self.counters.block_reads.fetch_add(1, Ordering::Relaxed);
        let data = Arc::new(data);
        lock(blocks).put(id, Arc::clone(&data));
        Ok((data, false))
    }
}

impl DataProvider for MotProvider {
    type Key = u64;
    type Value = Frame;
    type Error = MotError;

    fn load(&self, key: &u64) -> Result<Frame, MotError> {
        self.load_frame(*key)
    }

    fn contains(&self, key: &u64) -> bool {
        MotProvider::contains(self, *key)
    }
}

/// Runs of one frame closer than this are read with one positioned read (about the cost of one system call).
const READ_GAP: u64 = 8 << 10;

thread_local! {
    /// The read buffer of the loads on this thread.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A read buffer larger than this is released after its load.
const MAX_KEPT_BUF: usize = 1 << 20;

/// The block size of the block cache for unsorted files: one page. Reading a page costs about what reading one
/// row costs (the system call dominates), so random access pays nothing for it, and playback reuses each
/// page for the many consecutive frames of a track it holds.
const BLOCK: u64 = 4 << 10;

/// `seqinfo.ini` beside the file, or one directory up (the `SEQ/gt/gt.txt` layout).
fn find_seqinfo(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    let here = dir.join("seqinfo.ini");
    if here.is_file() {
        return Some(here);
    }
    let up = dir.parent()?.join("seqinfo.ini");
    up.is_file().then_some(up)
}

/// A poisoned lock only means another thread panicked mid-update of a cache or a log; the data stays usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens a path or URL: a local file (whose path is returned, for `seqinfo.ini` and a saved index beside
/// it) or a remote object.
fn open(name: &Path, options: &SourceOptions) -> Result<(Arc<dyn RangeSource>, Option<PathBuf>), MotError> {
    let err = |source: IoError| MotError::Source { path: name.to_path_buf(), source };
    let local = match name.to_str().map(SourceName::parse) {
        Some(Ok(SourceName::Local(path))) => path,
        Some(Ok(_)) => {
            let name = name.to_str().unwrap_or_default();
            return Ok((dpc_io::open_source_with(name, options).map_err(err)?, None));
        }
        Some(Err(e)) => return Err(err(e)),
        // Not UTF-8: a local path.
        None => name.to_path_buf(),
    };
    let file = LocalFile::open(&local).map_err(err)?;
    Ok((Arc::new(file), Some(local)))
}

/// Where the saved index of a source lives on the local disk, if anywhere.
fn saved_index_path(cache: &IndexCache, local: Option<&Path>, location: &str) -> Option<PathBuf> {
    match cache {
        IndexCache::Off => None,
        IndexCache::Beside => local.map(|p| {
            let mut name = p.as_os_str().to_os_string();
            name.push(".");
            name.push(INDEX_EXTENSION);
            PathBuf::from(name)
        }),
        IndexCache::Dir(dir) => {
            // FNV-1a of the location: a stable name that no path or URL can steer outside `dir`.
            let hash = location
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
            Some(dir.join(format!("{hash:016x}.{INDEX_EXTENSION}")))
        }
    }
}

/// The index saved beside a remote object (`<url>.dpcidx`), if there is one for this version.
fn read_remote_index(location: &str, options: &SourceOptions, tag: &str) -> Option<FrameIndex> {
    let saved = dpc_io::open_source_with(&format!("{location}.{INDEX_EXTENSION}"), options).ok()?;
    let bytes = saved.read_range(0..saved.len()).ok()?;
    FrameIndex::decode(&bytes, tag).ok()
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place, so a reader never sees a
/// partial index.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
