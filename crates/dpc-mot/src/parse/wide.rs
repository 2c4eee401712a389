//! The line parser's fastest path: the usual line shape, read 8 bytes at a time.
//!
//! This machine runs the line parser at close to four instructions per cycle, so a row costs what its
//! instruction count says; mispredicted branches matter less. The byte-at-a-time path
//! ([`super::fast_fields`]) spends about ten instructions per digit. This path works on a fixed 128-byte
//! window of the buffer starting at the line (so that no read needs a bounds check of its own), marks the
//! non-digit bytes of the first 64 once as a bit mask, 8 bytes per step, and then finds each number's point
//! and end with bit scans and converts all its digits, joined across the point, with three multiplications
//! ([`digits_value`]).
//!
//! It accepts a subset of what the byte-at-a-time path accepts and gives the same result bit for bit (both
//! divide the same exact integer mantissa by the same exact power of ten); for anything else it returns
//! `None` and the caller falls back. The subset: a line that ends in `\n` or `\r\n` within 64 bytes; fields
//! separated by one `,`, space or tab (the same one throughout); a frame of 1 to 7 digits; an id of `-?` and
//! 1 to 7 digits; numbers of `-?` and at most 7 bytes of digits and a point, with a digit first.

use crate::Detection;

/// The bytes a line is parsed in, from its start: 64 bytes of line and room for an 8-byte read at any of them,
/// rounded up to a power of two so that indexing needs no bounds check (see [`Line::at`]). Near the end of a
/// buffer the rest of it is copied into a window of zeros.
const WINDOW: usize = 128;

/// Exact powers of ten, for the at most 6 digits after a point.
const POW10: [f64; 8] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7];

/// `b'0'` in every byte: XOR turns ASCII digits into their values.
pub(super) const ZEROS: u64 = 0x3030_3030_3030_3030;

/// Parses the line starting at `s[start]` if it has the usual shape (see the module documentation):
/// the detection, its column count and where the next line starts.
#[inline(always)]
pub(super) fn line(s: &[u8], start: usize) -> Option<(Detection, usize, usize)> {
    let parsed = match s.get(start..start + WINDOW) {
        Some(win) => window(win.try_into().ok()?),
        None => padded(s.get(start..)?),
    };
    parsed.map(|(d, cols, next)| (d, cols, start + next))
}

/// [`line()`] for the last lines of a buffer, less than a window from its end: the rest of the buffer is copied
/// into a window of zeros (which are not digits, separators or line ends, so a last line without a line
/// ending is still refused).
#[inline(never)]
fn padded(rest: &[u8]) -> Option<(Detection, usize, usize)> {
    let mut win = [0u8; WINDOW];
    win.get_mut(..rest.len())?.copy_from_slice(rest);
    window(&win)
}

/// Parses the line at the start of `win`: the detection, its column count and the length of the line with its
/// line ending.
#[inline(always)]
fn window(win: &[u8; WINDOW]) -> Option<(Detection, usize, usize)> {
    // Bit `k` set: byte `k` of the line is not a digit. Byte 63 counts as one whatever it is, so that every
    // number ends inside the mask; one that ends there only for that fails the separator check after it.
    let mut nd = 1 << 63;
    for k in 0..8 {
        nd |= movemask(non_digits(load8(win, 8 * k) ^ ZEROS)) << (8 * k);
    }
    let line = Line { win, nd };

    let frame = line.uint(0)?;
    let sep = line.at(frame.end);
    if sep != b',' && sep != b' ' && sep != b'\t' {
        return None;
    }
    let id = line.int(frame.end + 1)?;
    line.sep(id.end, sep)?;
    let left = line.float(id.end + 1)?;
    line.sep(left.end, sep)?;
    let top = line.float(left.end + 1)?;
    line.sep(top.end, sep)?;
    let width = line.float(top.end + 1)?;
    line.sep(width.end, sep)?;
    let height = line.float(width.end + 1)?;
    let mut d = Detection::new(frame.value, id.value, left.value, top.value, width.value, height.value);
    // After each column from the sixth: a separator and another column (the usual case, tested first), or the
    // line's end.
    if !line.is_sep(height.end, sep) {
        return Some((d, 6, line.eol(height.end)?));
    }
    let conf = line.float(height.end + 1)?;
    d.conf = conf.value;
    if !line.is_sep(conf.end, sep) {
        return Some((d, 7, line.eol(conf.end)?));
    }
    // Column 8 is the class (8 or 9 columns) or world x (10 columns): read it as a number and decide later.
    let eighth = line.float(conf.end + 1)?;
    // As a class, the number must be integral (`1`, `1.0`); below 10^7, so the round trip is exact.
    let class = (eighth.value as i64 as f64 == eighth.value).then_some(eighth.value as i64);
    if !line.is_sep(eighth.end, sep) {
        d.class = class?;
        return Some((d, 8, line.eol(eighth.end)?));
    }
    let ninth = line.float(eighth.end + 1)?;
    if !line.is_sep(ninth.end, sep) {
        d.class = class?;
        d.visibility = ninth.value;
        return Some((d, 9, line.eol(ninth.end)?));
    }
    let tenth = line.float(ninth.end + 1)?;
    let next = line.eol(tenth.end)?;
    (d.x, d.y, d.z) = (eighth.value, ninth.value, tenth.value);
    Some((d, 10, next))
}

/// A line's window and its non-digit mask.
struct Line<'a> {
    win: &'a [u8; WINDOW],
    nd: u64,
}

/// A number and the index of the byte just after it (below 64).
struct Num<T> {
    value: T,
    end: usize,
}

impl Line<'_> {
    /// The byte at `i` (always below 66 here; the mask only spares the bounds check).
    #[inline(always)]
    fn at(&self, i: usize) -> u8 {
        self.win[i % WINDOW]
    }

    /// The separator at `i`.
    #[inline(always)]
    fn sep(&self, i: usize, sep: u8) -> Option<()> {
        self.is_sep(i, sep).then_some(())
    }

    /// Whether the byte at `i` is the separator.
    #[inline(always)]
    fn is_sep(&self, i: usize, sep: u8) -> bool {
        self.at(i) == sep
    }

    /// If the line ends at `i` (`\n` or `\r\n`), where the next one starts.
    #[inline(always)]
    fn eol(&self, i: usize) -> Option<usize> {
        match self.at(i) {
            b'\n' => Some(i + 1),
            b'\r' if self.at(i + 1) == b'\n' => Some(i + 2),
            _ => None,
        }
    }

    /// The digits from `q`: their count (1 to 7), the rest of the mask from `q`, and the 8 bytes from `q`
    /// as digit values.
    #[inline(always)]
    fn digits(&self, q: usize) -> Option<(usize, u64, u64)> {
        let m = self.nd.checked_shr(q as u32)?;
        let n = m.trailing_zeros() as usize;
        if n.wrapping_sub(1) >= 7 {
            return None;
        }
        Some((n, m, load8(self.win, q) ^ ZEROS))
    }

    #[inline(always)]
    fn uint(&self, q: usize) -> Option<Num<u64>> {
        let (n, _, x) = self.digits(q)?;
        Some(Num { value: digits_value(x, n), end: q + n })
    }

    #[inline(always)]
    fn int(&self, i: usize) -> Option<Num<i64>> {
        let neg = self.at(i) == b'-';
        let u = self.uint(i + usize::from(neg))?;
        let v = u.value as i64;
        Some(Num { value: if neg { -v } else { v }, end: u.end })
    }

    /// `-?digits[.digits]`, at most 7 bytes after the sign, the point included.
    #[inline(always)]
    fn float(&self, i: usize) -> Option<Num<f64>> {
        let neg = self.at(i) == b'-';
        let q = i + usize::from(neg);
        let (a, m, x) = self.digits(q)?;
        let (v, end) = if self.at(q + a) != b'.' {
            (digits_value(x, a) as f64, q + a)
        } else {
            // The number ends at the next non-digit, inside the 8 bytes read.
            let b = (m & (m - 1)).trailing_zeros() as usize;
            if b > 7 {
                return None;
            }
            // The digits after the point moved down one byte, over it: `b - 1` digits in all.
            let high = u64::MAX << (8 * a);
            let digits = (x & !high) | ((x >> 8) & high);
            // At most 6 digits: the mantissa converts exactly, and the division rounds correctly.
            (digits_value(digits, b - 1) as f64 / POW10[(b - a - 1) % 8], q + b)
        };
        Some(Num { value: if neg { -v } else { v }, end })
    }
}

/// The 8 bytes of the window from `i` (always below 64 here) as a little-endian word, the first byte lowest.
#[inline(always)]
fn load8(win: &[u8; WINDOW], i: usize) -> u64 {
    let i = i % 64;
    u64::from_le_bytes(win[i..i + 8].try_into().unwrap_or_default())
}

/// `0x80` in every byte of `x` (bytes XORed with `b'0'`) that was not an ASCII digit, `0` in the others.
#[inline(always)]
pub(super) fn non_digits(x: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A digit is now 0..=9. Adding 0x76 to a byte of 10 or more sets its high bit; the high bit is masked off
    // first so that no byte carries into the next, and put back by the `|`.
    (((x & !HIGH) + 0x7676_7676_7676_7676) | x) & HIGH
}

/// One bit per byte: bit `k` set when byte `k` of `m` (each byte `0x80` or `0`) is set.
#[inline(always)]
fn movemask(m: u64) -> u64 {
    // Each high bit lands on its own bit of the top byte; no two partial products overlap.
    ((m >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The number written by the first `n` (1 to 8) bytes of `x`, digit values (ASCII digits XORed with `b'0'`),
/// the first byte the most significant digit.
#[inline(always)]
pub(super) fn digits_value(x: u64, n: usize) -> u64 {
    debug_assert!((1..=8).contains(&n));
    // The `n` digits moved to the top bytes, so that zero bytes (leading zeros) fill the rest.
    let x = x << ((64 - 8 * n) % 64);
    // Pairs, then groups of four, then all eight: the three-multiply conversion used by simdjson.
    let x = x.wrapping_mul(10).wrapping_add(x >> 8);
    let lo = (x & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let hi = ((x >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    lo.wrapping_add(hi) >> 32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `line` followed by enough other lines for the window.
    fn parse(line: &str) -> Option<(Detection, usize, usize)> {
        let buf = format!("{line}{}", "1,1,1,1,1,1\n".repeat(16));
        super::line(buf.as_bytes(), 0)
    }

    #[test]
    fn the_usual_shape() {
        let (d, cols, next) = parse("12,-3,1777.59,-0.5,7.,100,0.99,1,1.00\r\n").unwrap();
        assert_eq!((d.frame, d.id, d.left, d.top, d.width, d.height), (12, -3, 1777.59, -0.5, 7.0, 100.0));
        assert_eq!((d.conf, d.class, d.visibility, cols, next), (0.99, 1, 1.0, 9, 39));
        let (d, cols, _) = parse("1 2 3 4 5 6 7 8.5 -9 10\n").unwrap();
        assert_eq!((d.x, d.y, d.z, d.class, cols), (8.5, -9.0, 10.0, -1, 10));
        assert_eq!(parse("1234567\t-1234567\t0.00001\t123.456\t999999.\t-.0\n"), None);
        let (d, cols, _) = parse("1234567\t-1234567\t0.00001\t123.456\t999999.\t-0.0\n").unwrap();
        assert_eq!((d.frame, d.id, d.left, d.top, d.width, cols), (1234567, -1234567, 1e-5, 123.456, 999999.0, 6));
        assert!(d.height == 0.0 && d.height.is_sign_negative());
    }

    #[test]
    fn other_shapes_fall_back() {
        for line in [
            "1.0,1,1,1,1,1\n",         // integral float frame
            "12345678,1,1,1,1,1\n",    // frame of 8 digits
            "1,1.0,1,1,1,1\n",         // integral float id
            "1,1,1,1,1\n",             // five columns
            "1,1,1,1,1,1,1,1,1,1,1\n", // eleven
            "1,1,1,,1,1\n",            // empty field
            "1,1,1,-,1,1\n",           // a sign alone
            "1,1,--1,1,1,1\n",         // two signs
            "1,1,1-1,1,1,1\n",         // a sign inside
            "1,1,1.5.5,1,1,1\n",       // two points
            "1,1,1234.567,1,1,1\n",    // eight bytes
            "1,1,.5,1,1,1\n",          // no digit before the point
            "1,1,1e3,1,1,1\n",         // exponent
            "1,1,1,1,1,1,1,1.5\n",     // fractional class
            "1, 1,1,1,1,1\n",          // two-byte separator
            "1,1 1,1,1,1\n",           // mixed separators
            " 1,1,1,1,1,1\n",          // leading space
            "1,1,1,1,1,1 \n",          // trailing space
            "1,1,1,1,1,1\r\r\n",       // stray carriage return
        ] {
            assert_eq!(parse(line), None, "{line:?}");
        }
        // Lines reaching byte 64, and around it.
        for (a, b) in (1..=7).flat_map(|a| (1..=7).map(move |b| (a, b))) {
            let line = format!("{},{}{}\n", "7".repeat(a), "8".repeat(b), ",123456".repeat(8));
            let want = line.len() <= 64;
            assert_eq!(parse(&line).is_some(), want, "{line:?} ({} bytes)", line.len());
        }
        // Near the buffer's end the window is padded: a last line is parsed when it has its line ending.
        assert_eq!(
            super::line(b"0\n1,2,3,4,5,6\n", 2).map(|(d, cols, next)| (d.height, cols, next)),
            Some((6.0, 6, 14))
        );
        assert_eq!(super::line(b"1,2,3,4,5,6\r\n", 0).map(|(_, _, next)| next), Some(13));
        assert_eq!(super::line(b"1,2,3,4,5,6", 0), None);
        assert_eq!(super::line(b"1,2,3,4,5,6\r", 0), None);
        assert_eq!(super::line(b"", 0), None);
    }
}
