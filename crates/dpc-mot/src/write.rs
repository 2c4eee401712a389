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
    let sep: &[u8] = match format.separator {
        Separator::Comma => b",",
        Separator::CommaSpace => b", ",
        Separator::Space => b" ",
        Separator::Tab => b"\t",
    };
    let dec = u32::from(format.decimals.min(9));
    let columns = format.columns.clamp(6, 10);
    push_u64(out, d.frame);
    out.extend_from_slice(sep);
    push_i64(out, d.id);
    for v in [d.left, d.top, d.width, d.height] {
        out.extend_from_slice(sep);
        push_fixed(out, v, dec);
    }
    if columns >= 7 {
        out.extend_from_slice(sep);
        push_optional(out, d.conf, dec);
    }
    if columns == 10 {
        for v in [d.x, d.y, d.z] {
            out.extend_from_slice(sep);
            push_optional(out, v, dec);
        }
    } else {
        if columns >= 8 {
            out.extend_from_slice(sep);
            push_i64(out, d.class);
        }
        if columns >= 9 {
            out.extend_from_slice(sep);
            push_optional(out, d.visibility, dec);
        }
    }
    out.extend_from_slice(if format.crlf { b"\r\n" } else { b"\n" });
}

/// Optional columns write the unknown sentinel as a plain `-1`, as MOTChallenge files do.
fn push_optional(out: &mut Vec<u8>, v: f64, dec: u32) {
    if v == UNKNOWN {
        out.extend_from_slice(b"-1");
    } else {
        push_fixed(out, v, dec);
    }
}

const DIGITS2: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends the decimal digits of `v`.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGITS2[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGITS2[r..r + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends the decimal digits of `v`, with a `-` when negative.
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `v` rounded to `decimals` digits after the point (`-4.00`, `10.25`); zero is written without a sign.
pub fn push_fixed(out: &mut Vec<u8>, v: f64, decimals: u32) {
    let scale = 10u64.pow(decimals.min(9));
    let scaled = (v * scale as f64).round();
    if !scaled.is_finite() || scaled.abs() >= 9.0e18 {
        // Huge or non-finite: let the standard library spell it.
        out.extend_from_slice(format!("{v:.prec$}", prec = decimals as usize).as_bytes());
        return;
    }
    let s = scaled as i64;
    if s < 0 {
        out.push(b'-');
    }
    let a = s.unsigned_abs();
    push_u64(out, a / scale);
    if decimals > 0 {
        out.push(b'.');
        let mut frac = a % scale;
        let mut buf = [b'0'; 9];
        let mut i = decimals as usize;
        while frac > 0 {
            i -= 1;
            buf[i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        out.extend_from_slice(&buf[..decimals as usize]);
    }
}
