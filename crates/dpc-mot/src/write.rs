//! Writing MOT lines, fast: hand-rolled integer and fixed-point formatting into a byte buffer. No I/O.

use crate::{Detection, UNKNOWN};

/// How columns are separated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Separator {
    /// `1,2,3` (MOTChallenge).
    #[default]
    Comma,
    /// `1, 2, 3`.
    CommaSpace,
    /// `1 2 3`.
    Space,
    /// Tab-separated.
    Tab,
}

/// The layout of written lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WriteFormat {
    /// Column separator.
    pub separator: Separator,
    /// End lines with `\r\n` instead of `\n`.
    pub crlf: bool,
    /// Columns per line, 6 to 10 (clamped): 6 = box only, 7 = + conf, 8 = + class, 9 = + visibility
    /// (MOT16 and later), 10 = conf and world x, y, z (MOT15).
    pub columns: u8,
    /// Digits after the decimal point for the float columns (at most 9).
    pub decimals: u8,
}

impl Default for WriteFormat {
    /// MOT16-style: comma, LF, 9 columns, 2 decimals.
    fn default() -> Self {
        WriteFormat { separator: Separator::Comma, crlf: false, columns: 9, decimals: 2 }
    }
}

/// Appends one line (with its line ending) for `d` to `out`.
/// Optional columns holding [`UNKNOWN`] are written as `-1`.
///
/// ```
/// let mut out = Vec::new();
/// let d = dpc_mot::Detection { conf: 0.5, class: 1, visibility: 1.0, ..dpc_mot::Detection::new(3, 7, 10.25, -4.0, 30.0, 60.5) };
/// dpc_mot::write_detection(&d, &dpc_mot::WriteFormat::default(), &mut out);
/// assert_eq!(out, b"3,7,10.25,-4.00,30.00,60.50,0.50,1,1.00\n");
/// ```
pub fn write_detection(d: &Detection, format: &WriteFormat, out: &mut Vec<u8>) {
    let dec = u32::from(format.decimals.min(9));
    // Format into a stack buffer and append the line with one copy; a line too long for it (huge values
    // spelled out in full) is written again straight into `out`.
    let mut line = LineBuf { buf: [0; LINE_BUF], len: 0, overflow: false };
    write_fields(d, format, dec, &mut line);
    if line.overflow {
        write_fields(d, format, dec, out);
    } else {
        out.extend_from_slice(&line.buf[..line.len]);
    }
}

/// The value a parser reads back after [`write_detection`] wrote `v` with `decimals` digits after the point
/// (for `|v| * 10^decimals < 2^53`): `round(v * 10^decimals) / 10^decimals`, rounding half away from zero.
#[inline]
pub fn quantize(v: f64, decimals: u32) -> f64 {
    let scale = POW10_F[decimals.min(9) as usize];
    let scaled = v * scale;
    if !scaled.is_finite() || scaled.abs() >= 9.0e18 {
        return v;
    }
    round_to_i64(scaled) as f64 / scale
}

/// `x.round() as i64` for `|x| < 9e18`, without the libm call that `f64::round` is on baseline x86-64.
#[inline]
fn round_to_i64(x: f64) -> i64 {
    let t = x as i64;
    // Exact: below 2^52 the difference is representable, above it `x` is an integer and the difference is 0.
    let frac = x - t as f64;
    // Branch-free: the fraction is random in generated data, and a branch on it mispredicts half the time.
    t + i64::from(frac >= 0.5) - i64::from(frac <= -0.5)
}

const POW10_F: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Where formatted bytes go: the caller's Vec, or a stack line buffer.
trait Out {
    fn put(&mut self, s: &[u8]);

    /// The decimal digits of `v`.
    #[inline]
    fn put_digits(&mut self, v: u64) {
        let mut buf = [0u8; 20];
        let start = digits_into(&mut buf, v);
        self.put(&buf[start..]);
    }

    /// `a / 10^D` in fixed point with `D` digits after the point (`a` = 1234, `D` = 2: `12.34`).
    #[inline]
    fn put_scaled<const D: u32>(&mut self, a: u64) {
        let scale = 10u64.pow(D);
        self.put_digits(a / scale);
        if D > 0 {
            let mut buf = [b'.'; 10];
            fraction_digits::<D>(&mut buf[1..], a % scale);
            self.put(&buf[..=D as usize]);
        }
    }
}

impl Out for Vec<u8> {
    #[inline]
    fn put(&mut self, s: &[u8]) {
        self.extend_from_slice(s);
    }
}

/// Bytes of the stack line buffer: lines of ordinary numbers fit with room to spare (a 10-column line of
/// 7-digit numbers with 9 decimals is about 180 bytes), and zeroing it for every line stays cheap.
const LINE_BUF: usize = 192;

/// A line being formatted; `overflow` says that something did not fit (and was dropped).
struct LineBuf {
    buf: [u8; LINE_BUF],
    len: usize,
    overflow: bool,
}

impl Out for LineBuf {
    /// A byte loop: the pieces are one to a few bytes, where a `memcpy` call costs more than the copy.
    #[inline]
    fn put(&mut self, s: &[u8]) {
        for &b in s {
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = b;
                    self.len += 1;
                }
                None => self.overflow = true,
            }
        }
    }

    /// Digits written in place, right to left, without an intermediate buffer.
    #[inline]
    fn put_digits(&mut self, v: u64) {
        let n = digit_count(v);
        match self.buf.get_mut(self.len..self.len + n) {
            Some(dst) => {
                digits_rtl(dst, v);
                self.len += n;
            }
            None => self.overflow = true,
        }
    }

    /// In place as well: the integer part, the point, and the fraction's digits with their leading zeros,
    /// each written right to left. About half the instructions of formatting the parts separately and copying them in.
    #[inline]
    fn put_scaled<const D: u32>(&mut self, a: u64) {
        let scale = 10u64.pow(D);
        let int = a / scale;
        let total = digit_count(int) + if D > 0 { D as usize + 1 } else { 0 };
        let Some(dst) = self.buf.get_mut(self.len..self.len + total) else {
            self.overflow = true;
            return;
        };
        let mut i = total;
        if D > 0 {
            i -= D as usize;
            fraction_digits::<D>(&mut dst[i..], a % scale);
            i -= 1;
            dst[i] = b'.';
        }
        digits_rtl(&mut dst[..i], int);
        self.len += total;
    }
}

/// Decimal digits of `v`, at least 1, without a loop: from the bit length, corrected by one comparison.
#[inline]
fn digit_count(v: u64) -> usize {
    // 1233 / 4096 is just above log10(2): `t` is the digit count of 2^bits - 1, or one more than `v`'s.
    let bits = 64 - (v | 1).leading_zeros();
    let t = (bits * 1233) >> 12;
    (t + 1) as usize - usize::from((v | 1) < POW10_U[t as usize % 20])
}

/// Exact powers of ten as integers, 10^0 to 10^19.
const POW10_U: [u64; 20] = {
    let mut p = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// Fills `dst` with the last `dst.len()` decimal digits of `v`, right to left (all of them when `dst` is
/// `digit_count(v)` long).
#[inline]
fn digits_rtl(dst: &mut [u8], mut v: u64) {
    let mut i = dst.len();
    while i >= 2 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        dst[i..i + 2].copy_from_slice(&DIGITS2[r..r + 2]);
    }
    if i == 1 {
        dst[0] = b'0' + (v % 10) as u8;
    }
}

/// Writes `frac` (below 10^`D`) as exactly `D` digits, leading zeros included, into `dst[..D]`; a loop of a
/// constant count, which the compiler unrolls.
#[inline]
fn fraction_digits<const D: u32>(dst: &mut [u8], mut frac: u64) {
    let dst = &mut dst[..D as usize];
    let mut i = D as usize;
    for _ in 0..D / 2 {
        let r = (frac % 100) as usize * 2;
        frac /= 100;
        i -= 2;
        dst[i..i + 2].copy_from_slice(&DIGITS2[r..r + 2]);
    }
    if D % 2 == 1 {
        dst[i - 1] = b'0' + frac as u8;
    }
}

/// Writes the digits of `v` at the end of `buf` and returns where they start.
#[inline]
fn digits_into(buf: &mut [u8; 20], v: u64) -> usize {
    let start = buf.len() - digit_count(v);
    digits_rtl(&mut buf[start..], v);
    start
}

fn write_fields(d: &Detection, format: &WriteFormat, dec: u32, out: &mut impl Out) {
    let sep: &[u8] = match format.separator {
        Separator::Comma => b",",
        Separator::CommaSpace => b", ",
        Separator::Space => b" ",
        Separator::Tab => b"\t",
    };
    let columns = format.columns.clamp(6, 10);
    put_u64(out, d.frame);
    out.put(sep);
    put_i64(out, d.id);
    for v in [d.left, d.top, d.width, d.height] {
        out.put(sep);
        put_fixed(out, v, dec);
    }
    if columns >= 7 {
        out.put(sep);
        put_optional(out, d.conf, dec);
    }
    if columns == 10 {
        for v in [d.x, d.y, d.z] {
            out.put(sep);
            put_optional(out, v, dec);
        }
    } else {
        if columns >= 8 {
            out.put(sep);
            put_i64(out, d.class);
        }
        if columns >= 9 {
            out.put(sep);
            put_optional(out, d.visibility, dec);
        }
    }
    out.put(if format.crlf { b"\r\n" } else { b"\n" });
}

/// Optional columns write the unknown sentinel as a plain `-1`, as MOTChallenge files do.
#[inline]
fn put_optional(out: &mut impl Out, v: f64, dec: u32) {
    if v == UNKNOWN {
        out.put(b"-1");
    } else {
        put_fixed(out, v, dec);
    }
}

const DIGITS2: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `v` rounded to `decimals` digits after the point (`-4.00`, `10.25`); zero is written without a sign.
/// Only the tests call it; the writer uses `put_fixed` on its line buffer.
#[cfg(test)]
fn push_fixed(out: &mut Vec<u8>, v: f64, decimals: u32) {
    put_fixed(out, v, decimals);
}

#[inline]
fn put_u64(out: &mut impl Out, v: u64) {
    out.put_digits(v);
}

#[inline]
fn put_i64(out: &mut impl Out, v: i64) {
    if v < 0 {
        out.put(b"-");
    }
    put_u64(out, v.unsigned_abs());
}

#[inline(always)]
fn put_fixed(out: &mut impl Out, v: f64, decimals: u32) {
    // A constant scale per arm turns the division and remainder below into multiplications.
    match decimals {
        0 => put_fixed_d::<0>(out, v),
        1 => put_fixed_d::<1>(out, v),
        2 => put_fixed_d::<2>(out, v),
        3 => put_fixed_d::<3>(out, v),
        4 => put_fixed_d::<4>(out, v),
        5 => put_fixed_d::<5>(out, v),
        6 => put_fixed_d::<6>(out, v),
        7 => put_fixed_d::<7>(out, v),
        8 => put_fixed_d::<8>(out, v),
        _ => put_fixed_d::<9>(out, v),
    }
}

#[inline]
fn put_fixed_d<const D: u32>(out: &mut impl Out, v: f64) {
    let scale = 10u64.pow(D);
    let scaled = v * scale as f64;
    if !scaled.is_finite() || scaled.abs() >= 9.0e18 {
        // Huge or non-finite: let the standard library spell it.
        out.put(format!("{v:.prec$}", prec = D as usize).as_bytes());
        return;
    }
    let s = round_to_i64(scaled);
    if s < 0 {
        out.put(b"-");
    }
    out.put_scaled::<D>(s.unsigned_abs());
}

#[cfg(test)]
mod tests;
