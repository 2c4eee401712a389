//! The line parser: bytes in, detections out. No I/O.
//!
//! A line is `frame,id,left,top,width,height[,conf[,class[,visibility]]]` (6 to 9 columns, MOT16 and later)
//! or `frame,id,left,top,width,height,conf,x,y,z` (10 columns, MOT15). Columns are separated by a comma with
//! optional spaces or tabs around it, or by runs of spaces and tabs; one line uses one kind of separator.
//! A trailing `\r` (CRLF files) and surrounding whitespace are ignored; a line of only whitespace is blank.
//! Frame, id and class are integers, also written as integral floats (`1.0`); the other columns are finite floats.
//!
//! Numbers of the usual shape (`-12.375`) are converted by a fast path that gives bit-for-bit the result of
//! `str::parse::<f64>` (an exact integer divided by an exact power of ten is correctly rounded);
//! anything else (exponents, many digits) falls back to the standard library.

use memchr::memchr;
use serde::Serialize;

use crate::{Detection, LineError, LineErrorKind};

mod wide;

/// The longest line the parser and the index accept, in bytes, line ending excluded. MOT lines are tens of
/// bytes; the cap keeps memory constant on input that is not MOT at all (a binary, `/dev/zero`), which
/// otherwise is buffered whole in search of a line end. A longer line is a [`LineErrorKind::LineTooLong`]
/// error in both modes.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// What to do with a bad line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The first bad line is an error carrying its line number, byte offset and text.
    #[default]
    Strict,
    /// Bad lines are skipped and reported as diagnostics.
    Lenient,
}

/// The result of parsing a whole buffer with [`parse`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Parsed {
    /// Every good row, in file order.
    pub detections: Vec<Detection>,
    /// The skipped lines (lenient mode only; strict mode stops at the first).
    pub diagnostics: Vec<LineError>,
    /// Lines in the buffer, blank ones included.
    pub lines: u64,
    /// Lines holding only whitespace.
    pub blank_lines: u64,
    /// `columns[n]` is the number of good rows with `n` columns (`n` in 6..=10).
    pub columns: [u64; 11],
}

/// Parses a whole MOT file held in memory: skips a UTF-8 byte-order mark and blank lines,
/// accepts LF and CRLF line endings, and in strict mode stops at the first bad line.
///
/// ```
/// let parsed = dpc_mot::parse(b"1,1,10,20,30,40\r\n\r\n2, 1, 11, 20, 30, 40, 0.9\n", dpc_mot::Mode::Strict)?;
/// assert_eq!(parsed.detections.len(), 2);
/// assert_eq!(parsed.detections[1].conf, 0.9);
/// # Ok::<(), dpc_mot::LineError>(())
/// ```
pub fn parse(bytes: &[u8], mode: Mode) -> Result<Parsed, LineError> {
    let start = bom_len(bytes);
    let mut parsed = Parsed::default();
    let mut sink = VecSink { mode, out: &mut parsed.detections, diagnostics: &mut parsed.diagnostics };
    let counts = parse_chunk(&bytes[start..], start as u64, 1, &mut sink)?;
    parsed.lines = counts.lines;
    parsed.blank_lines = counts.blank;
    parsed.columns = counts.columns;
    Ok(parsed)
}

/// Parses one line (without its `\n`; a trailing `\r` is allowed).
///
/// ```
/// let d = dpc_mot::parse_line(b"7 3 1.5 2.5 10 20 1 -1 -1 -1").unwrap();
/// assert_eq!((d.frame, d.id, d.left, d.x), (7, 3, 1.5, -1.0));
/// assert!(dpc_mot::parse_line(b"7,3,1.5").is_err());
/// ```
pub fn parse_line(line: &[u8]) -> Result<Detection, LineErrorKind> {
    parse_line_columns(line).map(|(d, _)| d)
}

/// The length of a UTF-8 byte-order mark at the start of `bytes` (0 or 3).
pub fn bom_len(bytes: &[u8]) -> usize {
    if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 }
}

/// Whether a line holds only spaces, tabs and a trailing `\r`.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r')
}

/// The frame number of a line, reading only its first column: `Ok(None)` for a blank line.
/// The index uses this; it accepts exactly the frame columns that [`parse_line`] accepts.
pub fn frame_of(line: &[u8]) -> Result<Option<u64>, LineErrorKind> {
    // Fastest path, for the usual line: 1 to 7 digits and a separator, all in the line's first 8 bytes, read
    // as one word (a third of the instructions of the byte loop below, which the index runs once a line).
    if let Some(&word) = line.first_chunk::<8>() {
        let x = u64::from_le_bytes(word) ^ wide::ZEROS;
        let n = (wide::non_digits(x).trailing_zeros() / 8) as usize;
        if n.wrapping_sub(1) < 7 && matches!(word[n % 8], b',' | b' ' | b'\t') {
            return Ok(Some(wide::digits_value(x, n)));
        }
    }
    let mut i = 0;
    while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
        i += 1;
    }
    let start = i;
    // Fast path: plain digits followed by a separator.
    let mut v: u64 = 0;
    while i < line.len() && line[i].is_ascii_digit() && i - start < 18 {
        v = v * 10 + u64::from(line[i] - b'0');
        i += 1;
    }
    if i > start && i < line.len() && (line[i] == b',' || line[i] == b' ' || line[i] == b'\t') {
        return Ok(Some(v));
    }
    // Everything else: find the token and parse it like the full parser does.
    while i < line.len() && !is_sep(line[i]) {
        i += 1;
    }
    let tok = &line[start..i];
    if tok.is_empty() || tok == b"\r" {
        if is_blank(&line[start..]) {
            return Ok(None);
        }
        return Err(LineErrorKind::EmptyField { column: 1 });
    }
    let tok = tok.strip_suffix(b"\r").unwrap_or(tok);
    let frame = parse_frame(tok)?;
    if is_blank(&line[i..]) {
        return Err(LineErrorKind::TooFewColumns { found: 1 });
    }
    Ok(Some(frame))
}

/// Parses a line and also returns its column count.
#[inline]
pub(crate) fn parse_line_columns(line: &[u8]) -> Result<(Detection, usize), LineErrorKind> {
    match fast_line(line) {
        Some(ok) => Ok(ok),
        None => general_line(line),
    }
}

/// The fast path for the common shape: one separator byte (`,`, space or tab) between fields, every number
/// `-?digits[.digits]` with at most 15 digits, 6 to 10 columns, an optional trailing `\r`.
/// Returns `None` for anything else, and then [`general_line`] decides (with the same result for every line
/// both accept, since both convert numbers the same way).
#[inline]
fn fast_line(line: &[u8]) -> Option<(Detection, usize)> {
    let s = line.strip_suffix(b"\r").unwrap_or(line);
    fast_fields::<false>(s, 0).map(|(d, cols, _)| (d, cols))
}

/// The fast path from `s[start..]`. Exact (`STREAM` false): the line is all of `s`. Stream: the line ends at
/// the first `\n`, `\r\n`, or the end of `s`, and the offset just past its line ending is returned too, so a
/// buffer of lines is parsed without searching for line ends first.
#[inline]
fn fast_fields<const STREAM: bool>(s: &[u8], start: usize) -> Option<(Detection, usize, usize)> {
    let mut c = Cursor { s, i: start };
    let frame = c.uint()?;
    let sep = *s.get(c.i)?;
    if sep != b',' && sep != b' ' && sep != b'\t' {
        return None;
    }
    c.i += 1;
    let id = c.int()?;
    c.sep(sep)?;
    let left = c.float()?;
    c.sep(sep)?;
    let top = c.float()?;
    c.sep(sep)?;
    let width = c.float()?;
    c.sep(sep)?;
    let height = c.float()?;
    let mut d = Detection::new(frame, id, left, top, width, height);
    if let Some(next) = c.eol::<STREAM>() {
        return Some((d, 6, next));
    }
    c.sep(sep)?;
    d.conf = c.float()?;
    if let Some(next) = c.eol::<STREAM>() {
        return Some((d, 7, next));
    }
    c.sep(sep)?;
    // Column 8 is the class (8 or 9 columns) or world x (10 columns): read it as a number and decide later.
    let eighth = c.float()?;
    // As a class, the number must be integral (`1`, `1.0`); at most 15 digits, so the conversion is exact.
    let class = (eighth.fract() == 0.0).then_some(eighth as i64);
    if let Some(next) = c.eol::<STREAM>() {
        d.class = class?;
        return Some((d, 8, next));
    }
    c.sep(sep)?;
    let ninth = c.float()?;
    if let Some(next) = c.eol::<STREAM>() {
        d.class = class?;
        d.visibility = ninth;
        return Some((d, 9, next));
    }
    c.sep(sep)?;
    let tenth = c.float()?;
    let next = c.eol::<STREAM>()?;
    d.x = eighth;
    d.y = ninth;
    d.z = tenth;
    Some((d, 10, next))
}

/// A position in a line, for the fast path.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    #[inline(always)]
    fn sep(&mut self, sep: u8) -> Option<()> {
        if self.s.get(self.i) == Some(&sep) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// Leading ASCII digits and their value (wrapping past 19 digits; callers bound the count).
    /// A plain byte loop: measured faster here than an 8-bytes-at-a-time (SWAR) version on short numbers.
    #[inline(always)]
    fn digits(&mut self) -> (u64, usize) {
        let start = self.i;
        let mut v = 0u64;
        while let Some(&b) = self.s.get(self.i) {
            let d = b.wrapping_sub(b'0');
            if d >= 10 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            self.i += 1;
        }
        (v, self.i - start)
    }

    /// A non-negative integer, optionally written `12.0`.
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        let (v, n) = self.digits();
        if n == 0 || n > 18 {
            return None;
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            while self.s.get(self.i) == Some(&b'0') {
                self.i += 1;
            }
        }
        Some(v)
    }

    #[inline(always)]
    fn int(&mut self) -> Option<i64> {
        let neg = self.s.get(self.i) == Some(&b'-');
        self.i += usize::from(neg);
        let v = self.uint()? as i64;
        Some(if neg { -v } else { v })
    }

    /// At the line's end: where the next line starts. Exact mode: the end of `s`. Stream mode: also before
    /// `\n` or `\r\n`.
    #[inline(always)]
    fn eol<const STREAM: bool>(&self) -> Option<usize> {
        let i = self.i;
        if i == self.s.len() {
            return Some(i);
        }
        if !STREAM {
            return None;
        }
        match self.s[i] {
            b'\n' => Some(i + 1),
            b'\r' if self.s.len() == i + 1 => Some(i + 1),
            b'\r' if self.s[i + 1] == b'\n' => Some(i + 2),
            _ => None,
        }
    }

    /// `-?digits[.digits]`, at most 15 digits: exact conversion (see [`fast_float`]).
    /// One loop over digits and the point: one hard-to-predict loop exit per number, not two.
    #[inline(always)]
    fn float(&mut self) -> Option<f64> {
        let neg = self.s.get(self.i) == Some(&b'-');
        self.i += usize::from(neg);
        let start = self.i;
        let mut mant = 0u64;
        let mut dot = usize::MAX;
        while let Some(&b) = self.s.get(self.i) {
            let d = b.wrapping_sub(b'0');
            if d < 10 {
                mant = mant.wrapping_mul(10).wrapping_add(u64::from(d));
            } else if b == b'.' && dot == usize::MAX {
                dot = self.i;
            } else {
                break;
            }
            self.i += 1;
        }
        let (digits, frac) =
            if dot == usize::MAX { (self.i - start, 0) } else { (self.i - start - 1, self.i - dot - 1) };
        // At least one digit before the point, at most 15 in all (the mantissa stays below 2^53).
        if digits > 15 || dot == start || digits == 0 {
            return None;
        }
        // `mant` < 2^53 here, so the signed conversion (one instruction) is exact.
        let v = mant as i64 as f64 / POW10[frac];
        Some(if neg { -v } else { v })
    }
}

/// The general path: any spacing around separators, any number syntax, and the precise error.
fn general_line(line: &[u8]) -> Result<(Detection, usize), LineErrorKind> {
    let s = line.strip_suffix(b"\r").unwrap_or(line);
    let n = s.len();
    let mut toks: [&[u8]; 10] = [b""; 10];
    let mut col = 0usize;
    let mut comma: Option<bool> = None;
    let mut i = skip_ws(s, 0);
    loop {
        let start = i;
        while i < n && !is_sep(s[i]) {
            i += 1;
        }
        col += 1;
        if i == start {
            return Err(LineErrorKind::EmptyField { column: col });
        }
        if col <= 10 {
            toks[col - 1] = &s[start..i];
        }
        let j = skip_ws(s, i);
        if j == n {
            break;
        }
        if s[j] == b',' {
            if comma == Some(false) {
                return Err(LineErrorKind::InvalidNumber { column: col + 1 });
            }
            comma = Some(true);
            i = skip_ws(s, j + 1);
            if i == n {
                return Err(LineErrorKind::EmptyField { column: col + 1 });
            }
        } else {
            if comma == Some(true) {
                return Err(LineErrorKind::InvalidNumber { column: col });
            }
            comma = Some(false);
            i = j;
        }
    }
    if col < 6 {
        return Err(LineErrorKind::TooFewColumns { found: col });
    }
    if col > 10 {
        return Err(LineErrorKind::TooManyColumns { found: col });
    }
    let mut d = Detection::new(
        parse_frame(toks[0])?,
        parse_int(toks[1], 2)?,
        parse_float(toks[2], 3)?,
        parse_float(toks[3], 4)?,
        parse_float(toks[4], 5)?,
        parse_float(toks[5], 6)?,
    );
    if col >= 7 {
        d.conf = parse_float(toks[6], 7)?;
    }
    if col == 10 {
        // MOT15 layout: conf, then the world coordinates; no class, no visibility.
        d.x = parse_float(toks[7], 8)?;
        d.y = parse_float(toks[8], 9)?;
        d.z = parse_float(toks[9], 10)?;
    } else {
        if col >= 8 {
            d.class = parse_int(toks[7], 8)?;
        }
        if col >= 9 {
            d.visibility = parse_float(toks[8], 9)?;
        }
    }
    Ok((d, col))
}

/// Where [`parse_chunk`] puts parsed rows and, in lenient mode, skipped lines.
pub(crate) trait Sink {
    /// Strict (the first bad line ends the chunk with its error) or lenient.
    fn mode(&self) -> Mode;
    /// A good row.
    fn row(&mut self, d: Detection);
    /// A bad line skipped in lenient mode.
    fn skipped(&mut self, error: LineError);
}

/// A [`Sink`] that keeps every row and every skipped line.
pub(crate) struct VecSink<'a> {
    pub mode: Mode,
    pub out: &'a mut Vec<Detection>,
    pub diagnostics: &'a mut Vec<LineError>,
}

impl Sink for VecSink<'_> {
    #[inline]
    fn mode(&self) -> Mode {
        self.mode
    }

    #[inline]
    fn row(&mut self, d: Detection) {
        self.out.push(d);
    }

    fn skipped(&mut self, error: LineError) {
        self.diagnostics.push(error);
    }
}

/// Line counts of one parsed chunk.
#[derive(Default)]
pub(crate) struct ChunkCounts {
    pub lines: u64,
    pub blank: u64,
    pub columns: [u64; 11],
}

/// Parses the lines of `buf`, whose first byte is at `base_offset` in the file and starts line `base_line`.
pub(crate) fn parse_chunk(
    buf: &[u8],
    base_offset: u64,
    base_line: u64,
    sink: &mut impl Sink,
) -> Result<ChunkCounts, LineError> {
    let mut counts = ChunkCounts::default();
    let mut start = 0usize;
    let handle = |sink: &mut _, line: &[u8], at: usize, counts: &mut ChunkCounts| -> Result<(), LineError> {
        let line_no = base_line + counts.lines;
        counts.lines += 1;
        match parse_line_columns(line) {
            Ok((d, cols)) => {
                counts.columns[cols] += 1;
                Sink::row(sink, d);
                Ok(())
            }
            Err(_) if is_blank(line) => {
                counts.blank += 1;
                Ok(())
            }
            Err(kind) => {
                let err = LineError::new(line_no, base_offset + at as u64, line, kind);
                match Sink::mode(sink) {
                    Mode::Strict => Err(err),
                    Mode::Lenient => {
                        Sink::skipped(sink, err);
                        Ok(())
                    }
                }
            }
        }
    };
    while start < buf.len() {
        // The fast paths find the line's end themselves, saving a search for it per line (measured 5 to 15 % of
        // a frame load): first the word-at-a-time one for the usual shape, then the byte-at-a-time one (longer
        // numbers, the buffer's last lines); anything else (blank and bad lines, other spacing) takes the
        // general route.
        if let Some((d, cols, next)) = wide::line(buf, start).or_else(|| fast_fields::<true>(buf, start)) {
            counts.lines += 1;
            counts.columns[cols] += 1;
            sink.row(d);
            start = next;
            continue;
        }
        let end = memchr(b'\n', &buf[start..]).map_or(buf.len(), |k| start + k);
        if end - start > MAX_LINE_BYTES {
            let kind = LineErrorKind::LineTooLong { limit: MAX_LINE_BYTES };
            return Err(LineError::new(base_line + counts.lines, base_offset + start as u64, &buf[start..end], kind));
        }
        handle(sink, &buf[start..end], start, &mut counts)?;
        start = end + 1;
    }
    Ok(counts)
}

#[inline]
fn is_sep(b: u8) -> bool {
    b == b',' || b == b' ' || b == b'\t'
}

#[inline]
fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

fn parse_frame(tok: &[u8]) -> Result<u64, LineErrorKind> {
    let v = parse_int(tok, 1)?;
    u64::try_from(v).map_err(|_| LineErrorKind::NegativeFrame)
}

/// An integer column: digits with an optional sign, or an integral float (`3.0`, `3.`, `3e0`).
fn parse_int(tok: &[u8], column: usize) -> Result<i64, LineErrorKind> {
    let (neg, digits) = match tok.first() {
        Some(b'-') => (true, &tok[1..]),
        Some(b'+') => (false, &tok[1..]),
        _ => (false, tok),
    };
    let mut v: u64 = 0;
    let mut i = 0;
    while i < digits.len() && digits[i].is_ascii_digit() {
        v = match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(digits[i] - b'0'))) {
            Some(v) => v,
            None => return Err(LineErrorKind::IntegerOverflow { column }),
        };
        i += 1;
    }
    let plain = i > 0 && (i == digits.len() || (digits[i] == b'.' && digits[i + 1..].iter().all(|&b| b == b'0')));
    if plain {
        return if neg {
            0i64.checked_sub_unsigned(v).ok_or(LineErrorKind::IntegerOverflow { column })
        } else {
            i64::try_from(v).map_err(|_| LineErrorKind::IntegerOverflow { column })
        };
    }
    let f = parse_float(tok, column)?;
    if f.fract() != 0.0 {
        return Err(LineErrorKind::NotAnInteger { column });
    }
    // 2^63 as f64 is exactly representable; anything at or beyond it does not fit.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        return Err(LineErrorKind::IntegerOverflow { column });
    }
    Ok(f as i64)
}

/// Exact powers of ten as `f64` (10^22 is the largest exactly representable one).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// A float column: finite numbers only.
fn parse_float(tok: &[u8], column: usize) -> Result<f64, LineErrorKind> {
    if let Some(v) = fast_float(tok) {
        return Ok(v);
    }
    std::str::from_utf8(tok)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .ok_or(LineErrorKind::InvalidNumber { column })
}

/// `[-+]?digits[.digits]` with at most 15 significant digits... exactly, or `None` to fall back.
#[inline]
fn fast_float(tok: &[u8]) -> Option<f64> {
    let (neg, s) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    let mut mant: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        mant = mant.wrapping_mul(10).wrapping_add(u64::from(s[i] - b'0'));
        i += 1;
    }
    let int_digits = i;
    let mut frac = 0;
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            mant = mant.wrapping_mul(10).wrapping_add(u64::from(s[i] - b'0'));
            i += 1;
            frac += 1;
        }
    }
    // At most 15 digits keeps the mantissa below 2^53, so it converts exactly.
    if i != s.len() || int_digits + frac == 0 || int_digits + frac > 15 || int_digits == 0 {
        return None;
    }
    let v = mant as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests;
