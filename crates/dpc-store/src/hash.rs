//! A stable 128-bit content hash.

use std::fmt;
use std::io;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

/// A 128-bit content hash: XXH3-128 with seed 0 over a specified byte encoding of the content.
///
/// XXH3 is a published, specified algorithm, so a hash is the same across runs, processes, machines,
/// endiannesses and versions of this crate (unlike `std`'s `DefaultHasher`, which is randomised per process and
/// may change between Rust releases).
/// Numbers are hashed as their little-endian bytes, and structured values as their serde_json text.
///
/// Displays, parses and serializes as 32 lowercase hex digits.
///
/// ```
/// use dpc_store::ContentHash;
///
/// let h = ContentHash::of_bytes(b"");
/// assert_eq!(h.to_string(), "99aa06d3014798d86001c324468d497f"); // the XXH3-128 test vector of empty input
/// assert_eq!(h.to_string().parse::<ContentHash>().unwrap(), h);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ContentHash(u128);

impl ContentHash {
    /// Wraps a raw 128-bit value.
    pub const fn from_u128(value: u128) -> Self {
        ContentHash(value)
    }

    /// The raw 128-bit value.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// The hash of a byte slice.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        ContentHash(xxh3_128(bytes))
    }

    /// The hash of `f32` samples, as their little-endian bytes (so `-0.0` and `0.0` differ, and NaN payloads count).
    pub fn of_f32s(samples: &[f32]) -> Self {
        hash_le(samples, |s| s.to_le_bytes())
    }

    /// The hash of `f64` samples, as their little-endian bytes.
    pub fn of_f64s(samples: &[f64]) -> Self {
        hash_le(samples, |s| s.to_le_bytes())
    }

    /// The hash of `i16` samples, as their little-endian bytes.
    pub fn of_i16s(samples: &[i16]) -> Self {
        hash_le(samples, |s| s.to_le_bytes())
    }

    /// The hash of a value's compact serde_json text: the usual way to hash a configuration.
    ///
    /// Stable as long as the value serializes to the same JSON: struct fields keep their declaration order,
    /// but a `HashMap` iterates in a random order, so use a `BTreeMap` in anything hashed this way.
    ///
    /// # Errors
    /// When the value cannot be serialized to JSON.
    pub fn of_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        let mut hasher = ContentHasher::new();
        serde_json::to_writer(&mut hasher, value)?;
        Ok(hasher.finish())
    }

    /// The hash of several hashes in order (their little-endian bytes concatenated): a key made of parts.
    pub fn combine(parts: &[ContentHash]) -> Self {
        let mut hasher = ContentHasher::new();
        for part in parts {
            hasher.update(&part.0.to_le_bytes());
        }
        hasher.finish()
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// The error of parsing a [`ContentHash`] that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseHashError {
    /// The text that did not parse.
    pub text: String,
}

impl fmt::Display for ParseHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a content hash (32 hex digits): {:?}", self.text)
    }
}

impl std::error::Error for ParseHashError {}

impl FromStr for ContentHash {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseHashError { text: s.to_string() });
        }
        u128::from_str_radix(s, 16).map(ContentHash).map_err(|_| ParseHashError { text: s.to_string() })
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental [`ContentHash`]: feeding the same bytes in any split gives the same hash as
/// [`ContentHash::of_bytes`] on their concatenation.
///
/// It implements [`io::Write`], so a serializer or `io::copy` can write into it.
#[derive(Clone)]
pub struct ContentHasher(Xxh3);

impl ContentHasher {
    /// An empty hasher.
    pub fn new() -> Self {
        ContentHasher(Xxh3::new())
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hash of everything fed so far (the hasher can go on).
    pub fn finish(&self) -> ContentHash {
        ContentHash(self.0.digest128())
    }
}

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher::new()
    }
}

impl fmt::Debug for ContentHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentHasher").finish_non_exhaustive()
    }
}

impl io::Write for ContentHasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes numbers as little-endian bytes, converting through a stack buffer so no allocation is made.
fn hash_le<T: Copy, const N: usize>(samples: &[T], to_le: impl Fn(T) -> [u8; N]) -> ContentHash {
    const BUF: usize = 4096;
    let mut hasher = ContentHasher::new();
    let mut buf = [0u8; BUF];
    for block in samples.chunks(BUF / N) {
        let mut len = 0;
        for &s in block {
            buf[len..len + N].copy_from_slice(&to_le(s));
            len += N;
        }
        hasher.update(&buf[..len]);
    }
    hasher.finish()
}
