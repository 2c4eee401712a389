//! Sample types and the sample rate that turns sample counts into time.

use std::fmt::Debug;
use std::time::Duration;

/// A sample type the emitters can rebuffer: plain `Copy` data with a little-endian byte form for process mode.
///
/// Implemented for `u8` (bytes), `i8`, `i16`, `u16`, `i32`, `u32`, `i64`, `u64`, `f32` and `f64`.
pub trait Sample: Copy + Default + PartialEq + Debug + Send + Sync + 'static {
    /// Appends the little-endian bytes of `samples` to `out`.
    fn extend_le_bytes(samples: &[Self], out: &mut Vec<u8>);
}

impl Sample for u8 {
    fn extend_le_bytes(samples: &[Self], out: &mut Vec<u8>) {
        out.extend_from_slice(samples);
    }
}

macro_rules! impl_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn extend_le_bytes(samples: &[Self], out: &mut Vec<u8>) {
                out.reserve(std::mem::size_of_val(samples));
                for s in samples {
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
        }
    )*};
}

impl_sample!(i8, i16, u16, i32, u32, i64, u64, f32, f64);

/// Samples per second as an exact fraction `num / den` (for example 48 000, or 30 000 / 1 001 for NTSC video frames).
///
/// Times are computed from sample counts with integer arithmetic, rounded down to the nanosecond,
/// so they never drift: the time of sample `n` is the same however the stream was cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SampleRate {
    num: u64,
    den: u64,
}

impl SampleRate {
    /// `n` samples per second.
    pub const fn hz(n: u64) -> Self {
        SampleRate { num: n, den: 1 }
    }

    /// `num / den` samples per second.
    pub const fn ratio(num: u64, den: u64) -> Self {
        SampleRate { num, den }
    }

    /// Numerator of the rate.
    pub const fn num(&self) -> u64 {
        self.num
    }

    /// Denominator of the rate.
    pub const fn den(&self) -> u64 {
        self.den
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.num > 0 && self.den > 0
    }

    /// The duration of `samples` samples, rounded down to the nanosecond.
    pub fn duration_of(&self, samples: u64) -> Duration {
        let ns = u128::from(samples) * u128::from(self.den) * 1_000_000_000 / u128::from(self.num);
        duration_from_nanos(ns)
    }

    /// The number of samples that cover `d`, rounded up (so a pause of `d` skips at least `d`).
    pub fn samples_in(&self, d: Duration) -> u64 {
        let denom = u128::from(self.den) * 1_000_000_000;
        let s = (d.as_nanos() * u128::from(self.num)).div_ceil(denom);
        u64::try_from(s).unwrap_or(u64::MAX)
    }
}

impl Default for SampleRate {
    /// One sample per second: without a rate, times count samples.
    fn default() -> Self {
        SampleRate::hz(1)
    }
}

pub(crate) fn duration_from_nanos(ns: u128) -> Duration {
    let secs = ns / 1_000_000_000;
    match u64::try_from(secs) {
        Ok(s) => Duration::new(s, (ns % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_down_and_sample_counts_round_up() {
        let ntsc = SampleRate::ratio(30_000, 1_001);
        assert_eq!(ntsc.duration_of(1), Duration::from_nanos(33_366_666));
        assert_eq!(ntsc.duration_of(3), Duration::from_nanos(100_100_000));
        assert_eq!(ntsc.samples_in(Duration::from_nanos(33_366_666)), 1);
        assert_eq!(ntsc.samples_in(Duration::from_nanos(33_366_667)), 2);
        let audio = SampleRate::hz(48_000);
        assert_eq!(audio.samples_in(Duration::from_millis(500)), 24_000);
        assert_eq!(audio.samples_in(Duration::from_nanos(1)), 1);
        assert_eq!(audio.samples_in(Duration::ZERO), 0);
        assert_eq!(audio.duration_of(u64::MAX), Duration::from_nanos(0).saturating_add(audio.duration_of(u64::MAX)));
        assert_eq!(SampleRate::hz(1).duration_of(u64::MAX), Duration::from_secs(u64::MAX));
    }

    #[test]
    fn little_endian_bytes() {
        let mut out = Vec::new();
        i16::extend_le_bytes(&[1, -2], &mut out);
        f32::extend_le_bytes(&[1.0], &mut out);
        u8::extend_le_bytes(b"ab", &mut out);
        assert_eq!(out, [1, 0, 0xfe, 0xff, 0, 0, 0x80, 0x3f, b'a', b'b']);
    }
}
