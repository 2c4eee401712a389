//! Object stores (S3 and compatible servers, GCS, Azure, HTTP range requests) through `object_store`,
//! driven by a small tokio runtime of dpc-io's own so that the blocking API needs no runtime from the caller.

use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

use crate::source::checked_range;
use crate::{IoError, RangeSource, SourceOptions, Version, retryable_status};

/// One object in a store, read by HTTP range requests.
///
/// At open it asks for the object's metadata (`HEAD`) and pins its size, ETag and version id. Every read
/// sends `If-Match` with that ETag (and the version id where the store keeps versions) and compares the
/// ETag of the answer, so an object replaced mid-session is [`IoError::Changed`], never a mix of old and
/// new bytes. Each request has a deadline ([`SourceOptions::timeout`], body included); timeouts, broken
/// connections and 5xx/429/408 answers are retried with exponential backoff and full jitter, up to
/// [`SourceOptions::attempts`]. Ranges closer than 256 KiB are fetched with one request, and the requests of
/// one [`read_ranges`](RangeSource::read_ranges) call go out together.
///
/// The blocking methods may be called from any thread but a tokio worker; the `*_async` ones return futures
/// that run on dpc-io's runtime and can be awaited on any executor.
pub struct ObjectSource {
    inner: Arc<Inner>,
}

struct Inner {
    location: String,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    version: Version,
    options: SourceOptions,
}

impl fmt::Debug for ObjectSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectSource")
            .field("location", &self.inner.location)
            .field("version", &self.inner.version)
            .finish_non_exhaustive()
    }
}

impl ObjectSource {
    /// Opens `url` (`s3://bucket/key`, `gs://bucket/key`, `az://container/blob`, `http(s)://host/path`):
    /// builds the store from the environment and `options.settings`, then pins the object's metadata.
    pub fn open(url: &str, options: &SourceOptions) -> Result<ObjectSource, IoError> {
        let (store, path) = build_store(url, options)?;
        ObjectSource::with_store(url, store, path, options)
    }

    /// Opens the object at `path` of an already built store (for stores configured in code).
    pub fn with_store(
        location: &str,
        store: Arc<dyn ObjectStore>,
        path: ObjectPath,
        options: &SourceOptions,
    ) -> Result<ObjectSource, IoError> {
        let mut options = options.clone();
        options.attempts = options.attempts.max(1);
        let probe =
            Arc::new(Inner { location: location.to_string(), store, path, version: Version::new(0, None), options });
        let meta = block_on(Arc::clone(&probe).head())?;
        let inner = Inner {
            location: probe.location.clone(),
            store: Arc::clone(&probe.store),
            path: probe.path.clone(),
            version: version_of(&meta),
            options: probe.options.clone(),
        };
        Ok(ObjectSource { inner: Arc::new(inner) })
    }

    /// The bytes of `range`, as a future that runs on dpc-io's runtime and may be awaited on any executor.
    pub fn read_range_async(&self, range: Range<u64>) -> impl Future<Output = Result<Bytes, IoError>> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        let started = runtime().map(|rt| rt.spawn(async move { inner.fetch(range).await }));
        let location = self.inner.location.clone();
        async move {
            match started {
                Ok(task) => {
                    task.await.unwrap_or_else(|e| Err(store_error(&location, &format!("read task failed: {e}"))))
                }
                Err(e) => Err(e),
            }
        }
    }

    /// Fetches the object's metadata again and compares it with the pinned version.
    pub fn check_async(&self) -> impl Future<Output = Result<(), IoError>> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        let started = runtime().map(|rt| rt.spawn(async move { inner.check().await }));
        let location = self.inner.location.clone();
        async move {
            match started {
                Ok(task) => {
                    task.await.unwrap_or_else(|e| Err(store_error(&location, &format!("check task failed: {e}"))))
                }
                Err(e) => Err(e),
            }
        }
    }
}

impl RangeSource for ObjectSource {
    fn location(&self) -> &str {
        &self.inner.location
    }

    fn version(&self) -> &Version {
        &self.inner.version
    }

    fn read_into(&self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let range = offset..offset.saturating_add(buf.len() as u64);
        checked_range(self, &range)?;
        let bytes = block_on(Arc::clone(&self.inner).fetch_owned(range))?;
        buf.copy_from_slice(&bytes);
        Ok(())
    }

    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>, IoError> {
        checked_range(self, &range)?;
        block_on(Arc::clone(&self.inner).fetch_owned(range)).map(Vec::from)
    }

    /// Coalesces with [`coalesce_gap`](RangeSource::coalesce_gap) and sends the requests at once (at most
    /// eight in flight), so scattered ranges cost about one round trip rather than one each.
    fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>, IoError> {
        for r in ranges {
            checked_range(self, r)?;
        }
        let plan = crate::coalesce(ranges, self.coalesce_gap());
        let inner = Arc::clone(&self.inner);
        let reads: Vec<Range<u64>> = plan.iter().map(|g| g.range.clone()).collect();
        let fetched = block_on(async move {
            let inner = &inner;
            futures_util::stream::iter(reads)
                .map(|range| async move { inner.fetch(range).await })
                .buffered(8)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<Vec<Bytes>, IoError>>()
        })?;
        let mut out = vec![Vec::new(); ranges.len()];
        for (group, bytes) in plan.iter().zip(&fetched) {
            for &i in &group.members {
                let r = &ranges[i];
                let from = (r.start - group.range.start) as usize;
                out[i] = bytes[from..from + (r.end - r.start) as usize].to_vec();
            }
        }
        Ok(out)
    }

    fn coalesce_gap(&self) -> u64 {
        256 << 10
    }

    fn check(&self) -> Result<(), IoError> {
        let inner = Arc::clone(&self.inner);
        block_on(async move { inner.check().await })
    }

    fn stream(&self, range: Range<u64>) -> Result<Box<dyn Read + Send + '_>, IoError> {
        checked_range(self, &range)?;
        let rt = runtime()?;
        let (tx, rx) = mpsc::channel();
        // At most this many chunks wait for the reader: the stream never buffers the whole object.
        let permits = Arc::new(Semaphore::new(STREAM_CHUNKS));
        rt.spawn(Arc::clone(&self.inner).stream_task(range, tx, Arc::clone(&permits)));
        Ok(Box::new(StreamReader { rx, permits, chunk: Bytes::new(), done: false }))
    }
}

/// Chunks a stream may hold ahead of its reader (each is what the connection delivered, typically 8-64 KiB).
const STREAM_CHUNKS: usize = 64;

/// The blocking side of [`ObjectSource::stream`].
struct StreamReader {
    rx: mpsc::Receiver<Result<Bytes, IoError>>,
    permits: Arc<Semaphore>,
    chunk: Bytes,
    done: bool,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.permits.add_permits(1);
                    self.chunk = chunk;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e.into());
                }
                // The task ends by dropping its sender after the last chunk.
                Err(mpsc::RecvError) => self.done = true,
            }
        }
        let n = self.chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        // Wakes a task waiting for a permit, so that it sees the closed channel and stops.
        self.permits.close();
    }
}

/// Why one attempt failed.
enum Failure {
    NotFound,
    Changed(String),
    Status { status: u16, message: String },
    Connection(String),
    Timeout,
    Other(String),
}

impl Failure {
    fn retryable(&self) -> bool {
        match self {
            Failure::Status { status, .. } => retryable_status(*status),
            Failure::Connection(_) | Failure::Timeout => true,
            Failure::NotFound | Failure::Changed(_) | Failure::Other(_) => false,
        }
    }

    fn into_error(self, inner: &Inner, attempts: u32) -> IoError {
        let location = inner.location.clone();
        match self {
            Failure::NotFound => IoError::NotFound { location },
            Failure::Changed(detail) => IoError::Changed { location, detail },
            Failure::Status { status, message } => IoError::Http { location, status, attempts, message },
            Failure::Connection(message) => IoError::Connection { location, attempts, message },
            Failure::Timeout => IoError::Timeout { location, timeout: inner.options.timeout, attempts },
            Failure::Other(message) => IoError::Store { location, message },
        }
    }
}

impl Inner {
    /// Runs `attempt` until it succeeds, fails for good, or the attempts are spent; each attempt has the
    /// per-request deadline, and a retry waits a jittered exponential backoff.
    async fn retry<T, F, Fut>(&self, mut attempt: F) -> Result<T, IoError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let max = self.options.attempts;
        let mut n = 0;
        loop {
            n += 1;
            let failure = match tokio::time::timeout(self.options.timeout, attempt()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(failure)) => failure,
                Err(_elapsed) => Failure::Timeout,
            };
            if !failure.retryable() || n >= max {
                return Err(failure.into_error(self, n));
            }
            tokio::time::sleep(backoff(&self.options, n)).await;
        }
    }

    async fn head(self: Arc<Self>) -> Result<ObjectMeta, IoError> {
        self.retry(|| async { self.store.head(&self.path).await.map_err(classify) }).await
    }

    async fn check(&self) -> Result<(), IoError> {
        let meta = self.retry(|| async { self.store.head(&self.path).await.map_err(classify) }).await;
        let meta = match meta {
            Err(IoError::NotFound { location }) => {
                return Err(IoError::Changed { location, detail: "the object was deleted".to_string() });
            }
            other => other?,
        };
        match self.version.differs(&version_of(&meta)) {
            Some(detail) => Err(IoError::Changed { location: self.location.clone(), detail }),
            None => Ok(()),
        }
    }

    fn get_options(&self, range: Range<u64>) -> GetOptions {
        GetOptions {
            range: Some(GetRange::Bounded(range)),
            if_match: self.version.etag.clone(),
            version: self.version.version.clone(),
            ..GetOptions::default()
        }
    }

    /// Whether an answer's metadata is still the pinned version.
    fn same_version(&self, meta: &ObjectMeta) -> Result<(), Failure> {
        if meta.size != self.version.size {
            return Err(Failure::Changed(format!("size {} became {}", self.version.size, meta.size)));
        }
        if let (Some(pinned), Some(now)) = (&self.version.etag, &meta.e_tag) {
            if pinned != now {
                return Err(Failure::Changed(format!("ETag {pinned} became {now}")));
            }
        }
        Ok(())
    }

    async fn fetch_owned(self: Arc<Self>, range: Range<u64>) -> Result<Bytes, IoError> {
        self.fetch(range).await
    }

    async fn fetch(&self, range: Range<u64>) -> Result<Bytes, IoError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let want = range.end - range.start;
        self.retry(|| async {
            let got = self.store.get_opts(&self.path, self.get_options(range.clone())).await.map_err(classify)?;
            self.same_version(&got.meta)?;
            let bytes = got.bytes().await.map_err(classify)?;
            if bytes.len() as u64 != want {
                return Err(Failure::Connection(format!("short answer: {} of {want} bytes", bytes.len())));
            }
            Ok(bytes)
        })
        .await
    }

    /// Streams `range` to `tx` with one request, resuming at the current offset (with `If-Match`, so the
    /// bytes stay one version) when the connection breaks or a chunk does not arrive within the timeout.
    async fn stream_task(
        self: Arc<Self>,
        range: Range<u64>,
        tx: mpsc::Sender<Result<Bytes, IoError>>,
        permits: Arc<Semaphore>,
    ) {
        let mut pos = range.start;
        let mut failures = 0u32;
        while pos < range.end {
            let failure = match self.stream_from(pos..range.end, &tx, &permits, &mut pos).await {
                Ok(()) => return,
                Err(None) => return, // The reader went away.
                Err(Some(failure)) => failure,
            };
            failures += 1;
            if !failure.retryable() || failures >= self.options.attempts {
                let _ = tx.send(Err(failure.into_error(&self, failures)));
                return;
            }
            tokio::time::sleep(backoff(&self.options, failures)).await;
        }
    }

    /// One streaming request; `Err(None)` when the reader is gone.
    async fn stream_from(
        &self,
        range: Range<u64>,
        tx: &mpsc::Sender<Result<Bytes, IoError>>,
        permits: &Semaphore,
        pos: &mut u64,
    ) -> Result<(), Option<Failure>> {
        let timeout = self.options.timeout;
        let got = tokio::time::timeout(timeout, self.store.get_opts(&self.path, self.get_options(range.clone())))
            .await
            .map_err(|_| Some(Failure::Timeout))?
            .map_err(|e| Some(classify(e)))?;
        self.same_version(&got.meta).map_err(Some)?;
        let mut body = got.into_stream();
        while *pos < range.end {
            let permit = permits.acquire().await.map_err(|_| None)?;
            let chunk = match tokio::time::timeout(timeout, body.next()).await {
                Err(_) => return Err(Some(Failure::Timeout)),
                Ok(None) => {
                    return Err(Some(Failure::Connection(format!("the answer ended at byte {pos} of {}", range.end))));
                }
                Ok(Some(Err(e))) => return Err(Some(classify(e))),
                Ok(Some(Ok(chunk))) => chunk,
            };
            let n = (chunk.len() as u64).min(range.end - *pos) as usize;
            if n == 0 {
                continue;
            }
            permit.forget();
            tx.send(Ok(chunk.slice(..n))).map_err(|_| None)?;
            *pos += n as u64;
        }
        Ok(())
    }
}

/// The pinned version of an object.
fn version_of(meta: &ObjectMeta) -> Version {
    Version {
        size: meta.size,
        etag: meta.e_tag.clone(),
        modified: Some(meta.last_modified.into()),
        version: meta.version.clone(),
    }
}

/// Sorts an object_store error into what to do about it. object_store keeps the HTTP status of a failed
/// request in an error type it does not export, so the status is read from its message
/// ("... status code: 503 ...").
fn classify(e: object_store::Error) -> Failure {
    match &e {
        object_store::Error::NotFound { .. } => return Failure::NotFound,
        object_store::Error::Precondition { .. } => {
            return Failure::Changed("the server refused the pinned ETag (412 Precondition Failed)".to_string());
        }
        _ => {}
    }
    let message = chain(&e);
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = current {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return match http.kind() {
                HttpErrorKind::Timeout => Failure::Timeout,
                HttpErrorKind::Connect | HttpErrorKind::Request | HttpErrorKind::Interrupted => {
                    Failure::Connection(message)
                }
                _ => Failure::Other(message),
            };
        }
        current = err.source();
    }
    if let Some(status) = status_in(&message) {
        return Failure::Status { status, message };
    }
    match e {
        object_store::Error::PermissionDenied { .. } => Failure::Status { status: 403, message },
        object_store::Error::Unauthenticated { .. } => Failure::Status { status: 401, message },
        _ => Failure::Other(message),
    }
}

/// The HTTP status in an object_store message, if it names one.
fn status_in(message: &str) -> Option<u16> {
    let at = message.find("status code: ")? + "status code: ".len();
    let digits = message.get(at..at + 3)?;
    digits.parse().ok().filter(|s| (100..600).contains(s))
}

/// An error and its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut current = e.source();
    while let Some(err) = current {
        let part = err.to_string();
        if !s.contains(&part) {
            s.push_str(": ");
            s.push_str(&part);
        }
        current = err.source();
    }
    s
}

/// The backoff before attempt `n + 1`: uniform in `0..=min(max, first * 2^(n-1))` (full jitter).
fn backoff(options: &SourceOptions, n: u32) -> Duration {
    let cap = options.backoff.saturating_mul(1u32 << (n - 1).min(16)).min(options.max_backoff);
    let nanos = cap.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(jitter() % (nanos + 1))
}

/// A splitmix64 stream seeded from the clock: jitter needs spread, not quality.
fn jitter() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
    });
    let mut z = seed.wrapping_add(STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1330_11eb);
    z ^ (z >> 31)
}

/// dpc-io's runtime: two worker threads, started on first use, shared by every object source.
fn runtime() -> Result<&'static Runtime, IoError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("dpc-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| store_error("dpc-io", &format!("cannot start the I/O runtime: {e}")))
}

/// Runs `future` on dpc-io's runtime and waits for it on this thread.
fn block_on<T: Send + 'static>(
    future: impl Future<Output = Result<T, IoError>> + Send + 'static,
) -> Result<T, IoError> {
    let rt = runtime()?;
    let (tx, rx) = mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().unwrap_or_else(|_| Err(store_error("dpc-io", "the I/O task stopped without an answer")))
}

fn store_error(location: &str, message: &str) -> IoError {
    IoError::Store { location: location.to_string(), message: message.to_string() }
}

/// The store and the object path a URL names, configured from the environment and `options.settings`.
fn build_store(url: &str, options: &SourceOptions) -> Result<(Arc<dyn ObjectStore>, ObjectPath), IoError> {
    // TLS through rustls with ring (see the workspace manifest); a provider installed already is kept.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let invalid = |reason: String| IoError::InvalidUrl { url: url.to_string(), reason };
    let config = |e: object_store::Error| IoError::Store { location: url.to_string(), message: chain(&e) };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme".to_string()))?;
    let scheme = scheme.to_ascii_lowercase();
    let (host, key) = rest.split_once('/').ok_or_else(|| invalid("no object key".to_string()))?;
    let path = ObjectPath::from_url_path(key).map_err(|e| invalid(e.to_string()))?;
    let client = ClientOptions::new()
        .with_timeout(options.timeout)
        .with_connect_timeout(options.connect_timeout)
        .with_allow_http(scheme == "http");
    // dpc-io retries on its own (with a deadline per attempt that covers the body too).
    let retry = RetryConfig { max_retries: 0, ..RetryConfig::default() };
    let settings = |prefix: &str| -> Vec<(String, String)> {
        let mut all = Vec::new();
        if options.from_env {
            all.extend(
                std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.to_ascii_lowercase(), v)),
            );
        }
        all.extend(options.settings.iter().cloned());
        all
    };
    let store: Arc<dyn ObjectStore> = match scheme.as_str() {
        "s3" => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
            let mut b = AmazonS3Builder::new().with_client_options(client).with_retry(retry);
            for (k, v) in settings("AWS_") {
                if let Ok(key) = k.parse::<AmazonS3ConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            Arc::new(b.with_bucket_name(host).build().map_err(config)?)
        }
        "gs" => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
            let mut b = GoogleCloudStorageBuilder::new().with_client_options(client).with_retry(retry);
            for (k, v) in settings("GOOGLE_") {
                if let Ok(key) = k.parse::<GoogleConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            Arc::new(b.with_bucket_name(host).build().map_err(config)?)
        }
        "az" => {
            use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
            let mut b = MicrosoftAzureBuilder::new().with_client_options(client).with_retry(retry);
            for (k, v) in settings("AZURE_") {
                if let Ok(key) = k.parse::<AzureConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            Arc::new(b.with_container_name(host).build().map_err(config)?)
        }
        "http" | "https" => {
            use object_store::http::HttpBuilder;
            let b =
                HttpBuilder::new().with_client_options(client).with_retry(retry).with_url(format!("{scheme}://{host}"));
            Arc::new(b.build().map_err(config)?)
        }
        other => return Err(invalid(format!("unknown scheme {other:?}"))),
    };
    Ok((store, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_read_from_object_store_messages() {
        let m = "Generic S3 error: Error performing GET http://127.0.0.1:1/b/k in 2ms - Server returned non-2xx status code: 503 Service Unavailable: ";
        assert_eq!(status_in(m), Some(503));
        assert_eq!(status_in("Server returned non-2xx status code: 42"), None);
        assert_eq!(status_in("no status"), None);
    }

    #[test]
    fn backoff_grows_to_its_cap_and_is_jittered() {
        let o = SourceOptions::default().backoff(Duration::from_millis(10), Duration::from_millis(40));
        for n in 1..20 {
            let cap = Duration::from_millis((10u64 << (n - 1).min(16)).min(40));
            let b = backoff(&o, n);
            assert!(b <= cap, "attempt {n}: {b:?} > {cap:?}");
        }
        let spread: std::collections::HashSet<Duration> = (0..50).map(|_| backoff(&o, 3)).collect();
        assert!(spread.len() > 10, "jitter spreads the waits: {spread:?}");
    }
}
