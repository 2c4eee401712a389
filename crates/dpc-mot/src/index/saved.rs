//! A saved index: a small versioned binary form of a [`FrameIndex`], tied to the source version it describes.
//!
//! Layout (little-endian): the magic `DPCMOTIX`, the format version (u32), the source tag (u32 length +
//! UTF-8), the summary, the frames, the CSR starts and the runs, then a 64-bit checksum of everything
//! before it. Only indexes without bad lines are saved, so a saved index serves strict and lenient mode
//! alike. Encoding and decoding work on bytes; reading and writing files is the provider's business.

use std::time::Duration;

use super::{FrameIndex, IndexSummary, Run};

const MAGIC: &[u8; 8] = b"DPCMOTIX";
/// Bump when the layout changes: an index of another format version is rebuilt, never misread.
const FORMAT: u32 = 1;
const RUN_BYTES: usize = 8 * 4 + 4;

/// Why a saved index was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SavedIndexError {
    /// Not a saved index, or damaged (bad magic, truncated, inconsistent, wrong checksum).
    Corrupt(&'static str),
    /// Written by another format version.
    Format(u32),
    /// It describes another version of the source (its size or ETag differs).
    Stale {
        /// The tag stored in the file.
        saved: String,
        /// The source's tag now.
        current: String,
    },
}

impl std::fmt::Display for SavedIndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SavedIndexError::Corrupt(what) => write!(f, "not a usable saved index: {what}"),
            SavedIndexError::Format(v) => write!(f, "saved index of format {v}, this build reads format {FORMAT}"),
            SavedIndexError::Stale { saved, current } => {
                write!(f, "saved index describes {saved:?}, the source is now {current:?}")
            }
        }
    }
}

impl std::error::Error for SavedIndexError {}

impl FrameIndex {
    /// Whether the index can be saved: only an index without bad lines is (it then serves both modes).
    pub fn can_save(&self) -> bool {
        self.summary.bad_lines == 0 && self.diagnostics.is_empty()
    }

    /// The saved form of the index for the source version `tag`, or `None` if it has bad lines.
    pub fn encode(&self, tag: &str) -> Option<Vec<u8>> {
        if !self.can_save() {
            return None;
        }
        let s = &self.summary;
        let mut out = Vec::with_capacity(128 + tag.len() + self.frames.len() * 12 + self.runs.len() * RUN_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(tag.len() as u32).to_le_bytes());
        out.extend_from_slice(tag.as_bytes());
        for v in [s.bytes, s.lines, s.rows, s.blank_lines, s.runs] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&[u8::from(s.sorted), u8::from(s.bom), u8::from(s.crlf)]);
        out.extend_from_slice(&(self.frames.len() as u64).to_le_bytes());
        for f in &self.frames {
            out.extend_from_slice(&f.to_le_bytes());
        }
        for st in &self.starts {
            out.extend_from_slice(&st.to_le_bytes());
        }
        out.extend_from_slice(&(self.runs.len() as u64).to_le_bytes());
        for r in &self.runs {
            for v in [r.frame, r.start, r.end, r.line] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&r.rows.to_le_bytes());
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        Some(out)
    }

    /// The index saved in `bytes`, if it was saved for the source version `tag`.
    pub fn decode(bytes: &[u8], tag: &str) -> Result<FrameIndex, SavedIndexError> {
        let body_len = bytes.len().checked_sub(8).ok_or(SavedIndexError::Corrupt("too short"))?;
        let mut r = Reader { bytes: &bytes[..body_len], pos: 0 };
        if r.take(8)? != MAGIC {
            return Err(SavedIndexError::Corrupt("bad magic"));
        }
        let format = r.u32()?;
        if format != FORMAT {
            return Err(SavedIndexError::Format(format));
        }
        let tag_len = r.u32()? as usize;
        let saved = std::str::from_utf8(r.take(tag_len)?).map_err(|_| SavedIndexError::Corrupt("tag"))?;
        if saved != tag {
            return Err(SavedIndexError::Stale { saved: saved.to_string(), current: tag.to_string() });
        }
        let stored = u64::from_le_bytes(bytes[body_len..].try_into().map_err(|_| SavedIndexError::Corrupt("sum"))?);
        if checksum(&bytes[..body_len]) != stored {
            return Err(SavedIndexError::Corrupt("checksum mismatch"));
        }
        let (b, lines, rows, blank, nruns) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?, r.u64()?);
        let flags = r.take(3)?;
        let nframes = r.len(8 + 4)?;
        let frames = (0..nframes).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
        let starts = (0..=nframes).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        let count = r.len(RUN_BYTES)?;
        let mut runs = Vec::with_capacity(count);
        for _ in 0..count {
            runs.push(Run { frame: r.u64()?, start: r.u64()?, end: r.u64()?, line: r.u64()?, rows: r.u32()? });
        }
        if r.pos != r.bytes.len() {
            return Err(SavedIndexError::Corrupt("trailing bytes"));
        }
        // The structure must hold, so that no load can index out of bounds.
        let consistent = frames.windows(2).all(|w| w[0] < w[1])
            && starts.first() == Some(&0)
            && starts.last() == Some(&(runs.len() as u32))
            && starts.windows(2).all(|w| w[0] < w[1])
            && frames
                .iter()
                .enumerate()
                .all(|(i, &f)| runs[starts[i] as usize..starts[i + 1] as usize].iter().all(|run| run.frame == f))
            && runs.iter().all(|run| run.start <= run.end && run.end <= b)
            && nruns == runs.len() as u64;
        if !consistent {
            return Err(SavedIndexError::Corrupt("inconsistent tables"));
        }
        let summary = IndexSummary {
            bytes: b,
            lines,
            rows,
            blank_lines: blank,
            bad_lines: 0,
            sorted: flags[0] != 0,
            bom: flags[1] != 0,
            crlf: flags[2] != 0,
            runs: nruns,
            elapsed: Duration::ZERO,
        };
        Ok(FrameIndex { frames, starts, runs, summary, diagnostics: Vec::new() })
    }

    /// Sets the time the index took to build or load.
    pub(crate) fn set_elapsed(&mut self, elapsed: Duration) {
        self.summary.elapsed = elapsed;
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SavedIndexError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(SavedIndexError::Corrupt("truncated"))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, SavedIndexError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| SavedIndexError::Corrupt("u32"))?))
    }

    fn u64(&mut self) -> Result<u64, SavedIndexError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| SavedIndexError::Corrupt("u64"))?))
    }

    /// A count of items of at least `item` bytes each, checked against what is left (so a damaged count
    /// cannot make the decoder allocate without bound).
    fn len(&mut self, item: usize) -> Result<usize, SavedIndexError> {
        let n = self.u64()?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left / item as u64 {
            return Err(SavedIndexError::Corrupt("count larger than the file"));
        }
        Ok(n as usize)
    }
}

/// A 64-bit checksum, eight bytes at a time (multiply-rotate; it catches damage, it is no cryptography).
fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = (h ^ v).wrapping_mul(K).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K).rotate_left(29);
    }
    h ^ (h >> 32)
}
