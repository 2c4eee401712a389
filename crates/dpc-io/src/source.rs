//! The `RangeSource` trait: a fixed-length byte sequence read by range, pinned to the version it had at open.

use std::fmt;
use std::io::{self, Read};
use std::ops::Range;
use std::time::SystemTime;

use crate::IoError;

/// What a source was when it was opened: its length and what identifies that content.
///
/// Reads check against it (an object store compares the ETag of every answer; a local file checks its size
/// and modification time whenever a read comes up short), so a source replaced mid-session is an
/// [`IoError::Changed`], never a mix of old and new bytes. A saved index is reused only while the version
/// still matches.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Version {
    /// Length in bytes.
    pub size: u64,
    /// The object's ETag, or for a local file `<inode>-<mtime ns>`; `None` when the store gives neither.
    pub etag: Option<String>,
    /// Last modification time, if known.
    pub modified: Option<SystemTime>,
    /// The object store's version id, if the store keeps versions.
    pub version: Option<String>,
}

impl Version {
    /// A version of `size` bytes with the given tag.
    pub fn new(size: u64, etag: Option<String>) -> Version {
        Version { size, etag, modified: None, version: None }
    }

    /// One string naming this content (size, ETag and version id), for deciding whether a saved index still
    /// describes the source.
    pub fn tag(&self) -> String {
        format!("{}:{}:{}", self.size, self.etag.as_deref().unwrap_or(""), self.version.as_deref().unwrap_or(""))
    }

    /// What differs between `self` (as opened) and `now`, or `None` when they describe the same content.
    pub fn differs(&self, now: &Version) -> Option<String> {
        if self.size != now.size {
            return Some(format!("size {} became {}", self.size, now.size));
        }
        if self.etag != now.etag {
            return Some(format!("ETag {:?} became {:?}", self.etag, now.etag));
        }
        if self.version.is_some() && now.version.is_some() && self.version != now.version {
            return Some(format!("version {:?} became {:?}", self.version, now.version));
        }
        if self.modified.is_some() && now.modified.is_some() && self.modified != now.modified {
            return Some("modification time changed".to_string());
        }
        None
    }
}

/// A byte sequence of fixed length, read by range from several threads at once.
///
/// Implemented by [`LocalFile`](crate::LocalFile) (positioned reads, no shared cursor) and, with the
/// `remote` feature, `ObjectSource` (S3 and compatible servers, GCS, Azure, HTTP range requests).
/// [`open_source`](crate::open_source) picks one from a path or URL.
pub trait RangeSource: Send + Sync + fmt::Debug {
    /// The path or URL, for messages.
    fn location(&self) -> &str;

    /// The version pinned at open.
    fn version(&self) -> &Version;

    /// Length in bytes (as opened).
    fn len(&self) -> u64 {
        self.version().size
    }

    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    fn read_into(&self, offset: u64, buf: &mut [u8]) -> Result<(), IoError>;

    /// The bytes of `range`.
    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>, IoError> {
        let len = checked_range(self, &range)?;
        let mut buf = vec![0u8; len];
        self.read_into(range.start, &mut buf)?;
        Ok(buf)
    }

    /// The bytes of each range, in the order given. Ranges that overlap or lie closer than
    /// [`coalesce_gap`](Self::coalesce_gap) apart are fetched with one read (one request for an object store).
    fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>, IoError> {
        for r in ranges {
            checked_range(self, r)?;
        }
        let plan = coalesce(ranges, self.coalesce_gap());
        let mut out = vec![Vec::new(); ranges.len()];
        for group in &plan {
            let bytes = self.read_range(group.range.clone())?;
            for &i in &group.members {
                let r = &ranges[i];
                let from = (r.start - group.range.start) as usize;
                out[i] = bytes[from..from + (r.end - r.start) as usize].to_vec();
            }
        }
        Ok(out)
    }

    /// Bytes worth reading past the end of one range rather than issuing another read: about what one more
    /// request costs in transfer time (8 KiB for a local file, 256 KiB for an object store).
    fn coalesce_gap(&self) -> u64 {
        8 << 10
    }

    /// Checks that the source still is the version opened, without reading it: `Err(Changed)` if not.
    fn check(&self) -> Result<(), IoError>;

    /// A reader of `range` front to back, for one streaming pass (building an index, a full parse).
    /// Object stores stream it with one request (resumed at the current offset if the connection breaks);
    /// the default reads 1 MiB ranges. Its errors carry an [`IoError`], see [`IoError::from_io`].
    fn stream(&self, range: Range<u64>) -> Result<Box<dyn Read + Send + '_>, IoError> {
        checked_range(self, &range)?;
        Ok(Box::new(ChunkReader { source: self, pos: range.start, end: range.end }))
    }
}

/// The length of `range` if it lies inside the source.
pub(crate) fn checked_range<S: RangeSource + ?Sized>(source: &S, range: &Range<u64>) -> Result<usize, IoError> {
    if range.start > range.end || range.end > source.len() {
        return Err(IoError::OutOfRange {
            location: source.location().to_string(),
            range: range.clone(),
            len: source.len(),
        });
    }
    usize::try_from(range.end - range.start).map_err(|_| IoError::OutOfRange {
        location: source.location().to_string(),
        range: range.clone(),
        len: source.len(),
    })
}

/// One read of a coalesced plan: the byte range fetched and the indices of the requested ranges inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coalesced {
    /// The range read.
    pub range: Range<u64>,
    /// Indices into the requested ranges that this read serves.
    pub members: Vec<usize>,
}

/// Groups `ranges` (in any order, overlapping or not) into reads: ranges that overlap or lie at most `gap`
/// bytes apart share one read. Empty ranges are served by the read they fall into, or by an empty read.
pub fn coalesce(ranges: &[Range<u64>], gap: u64) -> Vec<Coalesced> {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| (ranges[i].start, ranges[i].end));
    let mut plan: Vec<Coalesced> = Vec::new();
    for i in order {
        let r = &ranges[i];
        match plan.last_mut() {
            Some(g) if r.start <= g.range.end.saturating_add(gap) => {
                g.range.end = g.range.end.max(r.end);
                g.members.push(i);
            }
            _ => plan.push(Coalesced { range: r.clone(), members: vec![i] }),
        }
    }
    plan
}

/// The default streaming reader: 1 MiB ranges, or what the caller's buffer holds if less.
struct ChunkReader<'a, S: ?Sized> {
    source: &'a S,
    pos: u64,
    end: u64,
}

impl<S: RangeSource + ?Sized> Read for ChunkReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.end - self.pos).min(buf.len() as u64).min(1 << 20) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.source.read_into(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}
