//! The optional shared Redis tier (feature `redis`): the same JSON documents as the file tier, under a namespace.
//!
//! Every call is bounded: connecting by the connect timeout (TCP connect and handshake), every command by the
//! response timeout (each socket read and write). A connectivity failure (refused, reset, timed out) starts a
//! back-off during which calls are skipped at once, so a dead Redis costs one timeout per back-off period, not one
//! per call; after it, one caller probes while the others keep skipping. Connections are pooled, and a pooled
//! connection the server closed (a restart) is retried once on a fresh one.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{RedisFailure, StoreError};

/// The default namespace: keys live under `dpc-store:`.
pub const DEFAULT_REDIS_NAMESPACE: &str = "dpc-store";
/// The default connect timeout (TCP connect and handshake).
pub const DEFAULT_REDIS_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// The default response timeout (each read and write of a command).
pub const DEFAULT_REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// The default first back-off after a failure; it doubles on each failed probe, up to the maximum.
pub const DEFAULT_REDIS_BACKOFF: Duration = Duration::from_secs(1);
/// The default maximum back-off.
pub const DEFAULT_REDIS_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 16;
/// Keys asked for per SCAN call.
const SCAN_COUNT: usize = 512;

/// Where and how to reach the Redis tier of a [`TieredCache`](crate::TieredCache).
///
/// ```
/// use std::time::Duration;
/// use dpc_store::RedisConfig;
///
/// let redis = RedisConfig::new("redis://127.0.0.1:6379/0")
///     .namespace("segments-v1")               // keys are "segments-v1:<key>"
///     .timeout(Duration::from_millis(100))    // connect and response timeouts
///     .backoff(Duration::from_millis(500), Duration::from_secs(10));
/// # let _ = redis;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisConfig {
    pub(crate) url: String,
    pub(crate) namespace: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) backoff: Duration,
    pub(crate) max_backoff: Duration,
}

impl RedisConfig {
    /// A Redis at `url` (`redis://[user:password@]host:port[/db]`, or `redis+unix:///path`), with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            namespace: DEFAULT_REDIS_NAMESPACE.to_string(),
            connect_timeout: DEFAULT_REDIS_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_REDIS_RESPONSE_TIMEOUT,
            backoff: DEFAULT_REDIS_BACKOFF,
            max_backoff: DEFAULT_REDIS_MAX_BACKOFF,
        }
    }

    /// The namespace (default [`DEFAULT_REDIS_NAMESPACE`]): keys are stored as `<namespace>:<key>`, and `clear` and
    /// `invalidate_prefix` touch only keys under it. Caches of different value types must use different namespaces.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The connect timeout (TCP connect and handshake; default 250 ms).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The response timeout of every command (each socket read and write; default 250 ms).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets both the connect and the response timeout.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.connect_timeout(timeout).response_timeout(timeout)
    }

    /// After a connectivity failure, skip Redis for `first`, doubling after each failed probe up to `max`
    /// (defaults 1 s and 30 s). A success ends the back-off.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = first;
        self.max_backoff = max;
        self
    }
}

/// The Redis tier of one cache.
pub(crate) struct RedisTier {
    client: redis::Client,
    config: RedisConfig,
    /// `<namespace>:`.
    prefix: String,
    idle: Mutex<Vec<redis::Connection>>,
    health: Mutex<Health>,
    clock: Arc<dyn Clock>,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub skipped: AtomicU64,
}

#[derive(Debug, Default)]
struct Health {
    /// While set and in the future, calls are skipped.
    down_until_ms: Option<u64>,
    /// Consecutive failed attempts (for the doubling).
    failures: u32,
    /// A caller is probing after the back-off: the others skip until it is done.
    probing: bool,
}

/// Why a call did not reach Redis or failed there.
#[derive(Debug)]
pub(crate) struct Failure {
    pub kind: RedisFailure,
    pub detail: String,
}

impl Failure {
    pub fn into_error(self, op: &'static str, key: Option<&str>) -> StoreError {
        StoreError::Redis { op, key: key.map(str::to_string), kind: self.kind, detail: self.detail }
    }
}

impl RedisTier {
    pub fn new(config: RedisConfig, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        if config.connect_timeout.is_zero() || config.response_timeout.is_zero() {
            return Err(StoreError::InvalidConfig { reason: "Redis timeouts must be longer than zero" });
        }
        let client = redis::Client::open(config.url.as_str()).map_err(|e| StoreError::Redis {
            op: "parse URL",
            key: None,
            kind: RedisFailure::InvalidUrl,
            detail: format!("{}: {e}", config.url),
        })?;
        let prefix = format!("{}:", config.namespace);
        Ok(RedisTier {
            client,
            config,
            prefix,
            idle: Mutex::new(Vec::new()),
            health: Mutex::new(Health::default()),
            clock,
            errors: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        })
    }

    /// The document stored under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Failure> {
        let name = self.name(key);
        self.run(|con| redis::cmd("GET").arg(&name).query::<Option<Vec<u8>>>(con))
    }

    /// Stores a document expiring in `ttl_ms` (at least 1).
    pub fn set(&self, key: &str, doc: &[u8], ttl_ms: u64) -> Result<(), Failure> {
        let name = self.name(key);
        self.run(|con| redis::cmd("SET").arg(&name).arg(doc).arg("PX").arg(ttl_ms.max(1)).query::<()>(con))
    }

    /// Removes a key; `true` if Redis held it.
    pub fn delete(&self, key: &str) -> Result<bool, Failure> {
        let name = self.name(key);
        self.run(|con| redis::cmd("DEL").arg(&name).query::<u64>(con)).map(|n| n > 0)
    }

    /// Removes every key of the namespace starting with `prefix` (SCAN MATCH, never KEYS) and returns them.
    pub fn delete_prefix(&self, prefix: &str) -> Result<Vec<String>, Failure> {
        let pattern = format!("{}*", glob_escape(&format!("{}{prefix}", self.prefix)));
        let mut removed = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, names): (u64, Vec<Vec<u8>>) = self.run(|con| {
                redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_COUNT).query(con)
            })?;
            if !names.is_empty() {
                // DEL per key so that the count is of keys this call really removed.
                let gone: Vec<u64> = self.run(|con| {
                    let mut pipe = redis::pipe();
                    for name in &names {
                        pipe.cmd("DEL").arg(name);
                    }
                    pipe.query(con)
                })?;
                for (name, n) in names.iter().zip(gone) {
                    if n > 0
                        && let Some(key) = name.strip_prefix(self.prefix.as_bytes())
                    {
                        removed.push(String::from_utf8_lossy(key).into_owned());
                    }
                }
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    fn name(&self, key: &str) -> String {
        let mut name = String::with_capacity(self.prefix.len() + key.len());
        name.push_str(&self.prefix);
        name.push_str(key);
        name
    }

    /// Runs one command on a pooled or new connection, within the timeouts, honouring and updating the back-off.
    fn run<T>(&self, f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, Failure> {
        let probe = self.admit()?;
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let result = match pooled {
            Some(mut con) => match f(&mut con) {
                // The server closed a pooled connection (a restart, an idle timeout): once more on a fresh one.
                Err(e) if e.is_connection_dropped() && !e.is_timeout() => {
                    self.connect().map(|mut con| (f(&mut con), con))
                }
                r => Ok((r, con)),
            },
            None => self.connect().map(|mut con| (f(&mut con), con)),
        };
        let outcome = match result {
            Ok((Ok(value), con)) => {
                self.release(con);
                Ok(value)
            }
            Ok((Err(e), con)) => {
                if connectivity(&e) {
                    Err(e)
                } else {
                    // A server error (wrong type, out of memory): the connection is fine, Redis is up.
                    self.release(con);
                    self.errors.fetch_add(1, Relaxed);
                    self.settle(probe, true);
                    return Err(Failure { kind: RedisFailure::Server, detail: e.to_string() });
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(value) => {
                self.settle(probe, true);
                Ok(value)
            }
            Err(e) => {
                let kind = if e.is_timeout() { RedisFailure::Timeout } else { RedisFailure::Connection };
                let counter = if kind == RedisFailure::Timeout { &self.timeouts } else { &self.errors };
                counter.fetch_add(1, Relaxed);
                self.settle(probe, false);
                Err(Failure { kind, detail: e.to_string() })
            }
        }
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let con = self.client.get_connection_with_timeout(self.config.connect_timeout)?;
        con.set_read_timeout(Some(self.config.response_timeout))?;
        con.set_write_timeout(Some(self.config.response_timeout))?;
        Ok(con)
    }

    fn release(&self, con: redis::Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(con);
        }
    }

    /// Whether a call may go to Redis now; `Ok(true)` when it is the probe after a back-off.
    fn admit(&self) -> Result<bool, Failure> {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let Some(until) = health.down_until_ms else { return Ok(false) };
        let now = self.clock.now_ms();
        if now < until || health.probing {
            drop(health);
            self.skipped.fetch_add(1, Relaxed);
            return Err(Failure {
                kind: RedisFailure::BackingOff,
                detail: format!("skipped for {} ms more after a failure", until.saturating_sub(now)),
            });
        }
        health.probing = true;
        Ok(true)
    }

    /// Records the outcome of an admitted call.
    fn settle(&self, probe: bool, ok: bool) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        if probe {
            health.probing = false;
        }
        if ok {
            *health = Health::default();
            return;
        }
        if !probe && health.down_until_ms.is_some() {
            // Another caller already started the back-off.
            return;
        }
        // Pooled connections are suspect after a failure: reconnect from scratch after the back-off.
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let doubling = 1u32.checked_shl(health.failures.min(31)).unwrap_or(u32::MAX);
        let wait = self.config.backoff.saturating_mul(doubling).min(self.config.max_backoff);
        health.failures = health.failures.saturating_add(1);
        health.down_until_ms =
            Some(self.clock.now_ms().saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)));
    }
}

impl fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTier").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Whether an error means Redis cannot be reached (as opposed to an error answer from a working server).
fn connectivity(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

/// Escapes Redis glob metacharacters so that a key prefix matches only itself.
pub(crate) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
