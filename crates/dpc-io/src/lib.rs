//! # dpc-io: byte-range sources and a paged provider
//!
//! A [`RangeSource`] is a fixed-length byte sequence read by range from several threads at once, pinned at
//! open to the version it had then (size, and an ETag or the modification time): a source replaced
//! mid-session is an [`IoError::Changed`], never a mix of old and new bytes.
//! [`open_source`] names every kind the same way, on the command line too:
//!
//! | name | source |
//! |---|---|
//! | `data/gt.txt`, `/abs/gt.txt`, `file:///abs/gt.txt` | [`LocalFile`]: positioned reads, no shared cursor; FIFOs, directories and devices refused at open |
//! | `s3://bucket/key` | S3 or an S3-compatible server; settings from `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP` (feature `remote`) |
//! | `gs://bucket/key` | Google Cloud Storage, `GOOGLE_*` settings (feature `remote`) |
//! | `az://container/blob` | Azure Blob Storage, `AZURE_*` settings (feature `remote`) |
//! | `http://host/path`, `https://host/path` | any HTTP server that answers range requests (feature `remote`) |
//!
//! Object stores retry timeouts, broken connections and 5xx/429/408 answers with exponential backoff and
//! full jitter, give every request a deadline, and fetch nearby ranges with one request and scattered ones
//! together
//! ([`RangeSource::read_ranges`]); see [`SourceOptions`].
//! [`PagedProvider`] serves any source as a [`dpc_core::DataProvider`] of pages.
//!
//! ```
//! use dpc_io::{PagedProvider, RangeSource, open_source};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("records.bin");
//! std::fs::write(&path, b"aaaabbbbcc")?;
//! let source = open_source(path.to_str().unwrap())?;
//! assert_eq!(source.read_ranges(&[0..2, 8..10])?, vec![b"aa".to_vec(), b"cc".to_vec()]);
//! let pages = PagedProvider::fixed_arc(source, 4)?;
//! assert_eq!(pages.page_count(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | feature | what it adds |
//! |---|---|
//! | (none) | local files; no async runtime is built |
//! | `remote` | `ObjectSource` on the `object_store` crate (S3, GCS, Azure, HTTP), with its own two-thread tokio runtime for the blocking API and `*_async` reads for async callers |

mod error;
mod local;
mod open;
mod paged;
#[cfg(feature = "remote")]
mod remote;
mod source;

pub use error::IoError;
#[cfg(feature = "remote")]
pub(crate) use error::retryable_status;
pub use local::LocalFile;
pub use open::{SourceName, SourceOptions, open_source, open_source_with};
pub use paged::PagedProvider;
#[cfg(feature = "remote")]
pub use remote::ObjectSource;
pub use source::{Coalesced, RangeSource, Version, coalesce};
