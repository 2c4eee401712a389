//! What the predictors need to know about a key: whether it is an integer, and how to step from it.

use std::sync::Arc;

use dpc_core::Key;

/// A cache key that the predictors can reason about.
///
/// Integer keys (frame numbers, record ids) support arithmetic: `offset` steps by a signed delta and `delta`
/// measures the distance between two keys, so stride, trend and jump predictors apply to them.
/// Other keys (strings) return `None` from every method; only the predictors that learn from identities
/// (Markov, session) apply to them, and the [`Ensemble`](crate::Ensemble) works on both.
///
/// Keys outside the `i64` range (a `u64` above `i64::MAX`) behave like non-integers.
/// A step that leaves the key type's range, such as frame `0` minus one for `u64`, returns `None`:
/// predictions of negative frames are dropped instead of wrapped.
pub trait OffsetKey: Key {
    /// True for the integer key types.
    const INTEGER: bool;

    /// The key as an `i64`, if it is an integer in range.
    fn to_i64(&self) -> Option<i64>;

    /// The key of integer value `value`, if the type can hold it.
    fn from_i64(value: i64) -> Option<Self>;

    /// `self + delta`, if both are integers and the result fits the key type.
    fn offset(&self, delta: i64) -> Option<Self> {
        Self::from_i64(self.to_i64()?.checked_add(delta)?)
    }

    /// `self - earlier`, if both are integers and the difference fits an `i64`.
    fn delta(&self, earlier: &Self) -> Option<i64> {
        self.to_i64()?.checked_sub(earlier.to_i64()?)
    }
}

macro_rules! integer_keys {
    ($($t:ty),*) => {$(
        impl OffsetKey for $t {
            const INTEGER: bool = true;
            fn to_i64(&self) -> Option<i64> {
                i64::try_from(*self).ok()
            }
            fn from_i64(value: i64) -> Option<Self> {
                <$t>::try_from(value).ok()
            }
        }
    )*};
}

integer_keys!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

macro_rules! opaque_keys {
    ($($t:ty),*) => {$(
        impl OffsetKey for $t {
            const INTEGER: bool = false;
            fn to_i64(&self) -> Option<i64> {
                None
            }
            fn from_i64(_value: i64) -> Option<Self> {
                None
            }
        }
    )*};
}

opaque_keys!(Arc<str>, String, Box<str>, &'static str);
