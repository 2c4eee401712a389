//! One way to name a source everywhere: a plain path, `file://`, `s3://`, `gs://`, `az://`, `http(s)://`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::{IoError, LocalFile, RangeSource};

/// What a path or URL names, before anything is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceName {
    /// A local file (a plain path or a `file://` URL).
    Local(PathBuf),
    /// An object in a store: `scheme` is `s3`, `gs`, `az`, `http` or `https`.
    Remote {
        /// The URL's scheme.
        scheme: String,
        /// The whole URL.
        url: String,
    },
}

impl SourceName {
    /// Parses `name`: anything without `scheme://` is a path; `file://` URLs are percent-decoded paths;
    /// `s3://bucket/key`, `gs://bucket/key`, `az://container/blob` and `http(s)://host/path` name objects.
    pub fn parse(name: &str) -> Result<SourceName, IoError> {
        let invalid = |reason: &str| IoError::InvalidUrl { url: name.to_string(), reason: reason.to_string() };
        if name.is_empty() {
            return Err(invalid("empty"));
        }
        let Some((scheme, rest)) = name.split_once("://") else {
            return Ok(SourceName::Local(PathBuf::from(name)));
        };
        // A path may contain "://" further on ("dir/a://b"): only a leading URL scheme counts.
        let is_scheme = !scheme.is_empty()
            && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !is_scheme {
            return Ok(SourceName::Local(PathBuf::from(name)));
        }
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "file" => {
                // file:///abs/path or file://localhost/abs/path.
                let path = rest.strip_prefix("localhost").unwrap_or(rest);
                if !path.starts_with('/') {
                    return Err(invalid("a file:// URL needs an absolute path (file:///dir/file)"));
                }
                Ok(SourceName::Local(PathBuf::from(percent_decode(path).ok_or_else(|| invalid("bad %-escape"))?)))
            }
            "s3" | "gs" | "az" | "http" | "https" => {
                let (host, key) = rest.split_once('/').unwrap_or((rest, ""));
                if host.is_empty() {
                    return Err(invalid(if scheme.starts_with("http") {
                        "no host"
                    } else {
                        "no bucket (s3://bucket/key)"
                    }));
                }
                if key.is_empty() || key.ends_with('/') {
                    return Err(invalid("no object key after the bucket or host (it names a directory)"));
                }
                Ok(SourceName::Remote { scheme, url: name.to_string() })
            }
            other => Err(invalid(&format!(
                "unknown scheme {other:?} (known: a plain path, file://, s3://, gs://, az://, http://, https://)"
            ))),
        }
    }
}

/// How remote sources retry and time out. Local files ignore it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SourceOptions {
    /// Deadline of each request, body included (default 10 s). A request past it is cancelled and retried.
    pub timeout: Duration,
    /// Deadline of connecting (default 3 s).
    pub connect_timeout: Duration,
    /// Attempts per read, the first included (default 4): failures worth retrying (timeouts, broken
    /// connections, 5xx, 429, 408) are retried after an exponential backoff with full jitter.
    pub attempts: u32,
    /// Backoff before the second attempt; it doubles for each further one (default 50 ms).
    pub backoff: Duration,
    /// The longest backoff (default 2 s).
    pub max_backoff: Duration,
    /// Store settings that override the environment, as `(key, value)`: object_store's names, for example
    /// `("aws_endpoint_url", "http://127.0.0.1:9000")`, `("aws_access_key_id", ..)`, `("aws_allow_http", "true")`.
    pub settings: Vec<(String, String)>,
    /// Whether to read the standard environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`; default true).
    pub from_env: bool,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            attempts: 4,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            settings: Vec::new(),
            from_env: true,
        }
    }
}

impl SourceOptions {
    /// Sets the per-request timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the attempts per read (at least 1).
    #[must_use]
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Sets the first backoff and the longest one.
    #[must_use]
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// Adds one store setting (it overrides the environment).
    #[must_use]
    pub fn setting(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// Whether to read the standard environment.
    #[must_use]
    pub fn from_env(mut self, read: bool) -> Self {
        self.from_env = read;
        self
    }
}

/// Opens a path or URL with the default options: see [`SourceName::parse`] for the forms, and
/// [`SourceOptions`] for the environment it reads.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.bin");
/// std::fs::write(&path, b"hello, ranges")?;
/// let source = dpc_io::open_source(path.to_str().unwrap())?;
/// assert_eq!(source.len(), 13);
/// assert_eq!(source.read_range(7..13)?, b"ranges");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_source(name: &str) -> Result<Arc<dyn RangeSource>, IoError> {
    open_source_with(name, &SourceOptions::default())
}

/// Opens a path or URL with `options`.
pub fn open_source_with(name: &str, options: &SourceOptions) -> Result<Arc<dyn RangeSource>, IoError> {
    match SourceName::parse(name)? {
        SourceName::Local(path) => Ok(Arc::new(LocalFile::open(path)?)),
        SourceName::Remote { url, .. } => open_remote(&url, options),
    }
}

#[cfg(feature = "remote")]
fn open_remote(url: &str, options: &SourceOptions) -> Result<Arc<dyn RangeSource>, IoError> {
    Ok(Arc::new(crate::ObjectSource::open(url, options)?))
}

#[cfg(not(feature = "remote"))]
fn open_remote(url: &str, _options: &SourceOptions) -> Result<Arc<dyn RangeSource>, IoError> {
    Err(IoError::Unsupported {
        url: url.to_string(),
        reason: "object stores need dpc-io's `remote` feature, which this build does not have".to_string(),
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expect: &str) {
        let got = match SourceName::parse(name) {
            Ok(SourceName::Local(p)) => format!("local {}", p.display()),
            Ok(SourceName::Remote { scheme, url }) => format!("{scheme} {url}"),
            Err(e) => format!("error {e}"),
        };
        assert_eq!(got, expect, "{name}");
    }

    #[test]
    fn names_parse_to_paths_and_urls() {
        check("gt.txt", "local gt.txt");
        check("/data/MOT17/gt.txt", "local /data/MOT17/gt.txt");
        check("dir/a://b", "local dir/a://b");
        check("file:///data/my%20file.txt", "local /data/my file.txt");
        check("file://localhost/x", "local /x");
        check("s3://bucket/dir/gt.txt", "s3 s3://bucket/dir/gt.txt");
        check("S3://bucket/k", "s3 S3://bucket/k");
        check("gs://b/k", "gs gs://b/k");
        check("az://container/blob", "az az://container/blob");
        check("https://host:8443/a/b.txt", "https https://host:8443/a/b.txt");
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        check("", "error \"\": not a valid path or URL: empty");
        check(
            "s3://bucket",
            "error \"s3://bucket\": not a valid path or URL: no object key after the bucket or host (it names a directory)",
        );
        check("s3:///key", "error \"s3:///key\": not a valid path or URL: no bucket (s3://bucket/key)");
        check("http:///x", "error \"http:///x\": not a valid path or URL: no host");
        check(
            "s3://b/dir/",
            "error \"s3://b/dir/\": not a valid path or URL: no object key after the bucket or host (it names a directory)",
        );
        check(
            "file://rel/x",
            "error \"file://rel/x\": not a valid path or URL: a file:// URL needs an absolute path (file:///dir/file)",
        );
        check("file:///bad%zz", "error \"file:///bad%zz\": not a valid path or URL: bad %-escape");
        check(
            "ftp://h/x",
            "error \"ftp://h/x\": not a valid path or URL: unknown scheme \"ftp\" (known: a plain path, file://, s3://, gs://, az://, http://, https://)",
        );
    }
}
