//! # dpc-testserver: real servers on loopback for dpc's tests and benchmarks
//!
//! [`S3Server`] runs a real S3-compatible server (the `s3s` service over `s3s-fs`, which keeps objects as
//! files in a temporary directory) in-process on a free loopback port, with SigV4 authentication; it can be
//! stopped mid-transfer (every connection is dropped at once) and started again on the same port.
//! [`FaultProxy`] sits in front of it and answers chosen statuses, stalls, or passes requests through: it
//! is a network fault, not a mock of any client.
//!
//! Nothing here reaches past 127.0.0.1.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// The access key id the server accepts.
pub const ACCESS_KEY: &str = "dpc-test-access";
/// The secret key the server accepts.
pub const SECRET_KEY: &str = "dpc-test-secret-key";
/// The region clients sign for.
pub const REGION: &str = "us-east-1";

/// A real S3-compatible server on `127.0.0.1`, in this process, on its own tokio runtime.
///
/// Buckets are directories of a temporary root, made with [`create_bucket`](Self::create_bucket); objects
/// are uploaded with a real S3 `PUT` ([`put`](Self::put)), so their ETag is what S3 would give.
#[derive(Debug)]
pub struct S3Server {
    rt: Runtime,
    root: Root,
    addr: SocketAddr,
    stop: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

impl S3Server {
    /// Starts a server on a free loopback port, its buckets in a temporary directory.
    pub fn start() -> io::Result<S3Server> {
        S3Server::start_at(SocketAddr::from(([127, 0, 0, 1], 0)), None)
    }

    /// Starts a server on `addr` (port 0: a free one), its buckets the subdirectories of `root` (created if
    /// missing, and kept when the server stops), or of a temporary directory if `root` is `None`.
    pub fn start_at(addr: SocketAddr, root: Option<&Path>) -> io::Result<S3Server> {
        let root = match root {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                Root::Dir(dir.canonicalize()?)
            }
            None => Root::Temp(tempfile::tempdir()?),
        };
        let rt = runtime()?;
        let listener = rt.block_on(TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let mut server = S3Server { rt, root, addr, stop: None };
        server.serve(listener)?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding the buckets.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Uploads the local file `file` as `bucket/key` (creating the bucket) and returns its size.
    pub fn put_file(&self, bucket: &str, key: &str, file: &Path) -> io::Result<u64> {
        let bytes = std::fs::read(file)?;
        self.create_bucket(bucket)?;
        self.put(bucket, key, &bytes)?;
        Ok(bytes.len() as u64)
    }

    /// The settings a client needs (object_store's keys): endpoint, credentials, region, plain HTTP.
    pub fn settings(&self) -> Vec<(String, String)> {
        settings_for(&self.endpoint())
    }

    /// The same as the standard environment variables, for a child process.
    pub fn env(&self) -> Vec<(String, String)> {
        env_for(&self.endpoint())
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, bucket: &str) -> io::Result<()> {
        std::fs::create_dir_all(self.root.path().join(bucket))
    }

    /// Uploads `bytes` as `bucket/key` with an S3 `PUT` through this server (replacing what was there).
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) -> io::Result<()> {
        self.rt.block_on(put_object(&self.endpoint(), bucket, key, bytes.to_vec()))
    }

    /// The file that holds `bucket/key` on disk.
    pub fn object_file(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.path().join(bucket).join(key)
    }

    /// Stops the server: the listener closes and every open connection is dropped at once, mid-answer
    /// included. Idempotent.
    pub fn stop(&mut self) {
        if let Some((stop, accept)) = self.stop.take() {
            let _ = stop.send(true);
            // The accept loop closes the listener and drops every connection before it ends.
            let _ = self.rt.block_on(accept);
        }
    }

    /// Starts serving again on the same port, with the same objects.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let listener = self.rt.block_on(TcpListener::bind(self.addr))?;
        self.serve(listener)
    }

    fn serve(&mut self, listener: TcpListener) -> io::Result<()> {
        let fs = s3s_fs::FileSystem::new(self.root.path()).map_err(|e| io::Error::other(format!("{e:?}")))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let (tx, rx) = watch::channel(false);
        let accept = self.rt.spawn(async move {
            let mut stop = rx;
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => no_delay(socket),
                        Err(_) => continue,
                    },
                    _ = stop.changed() => break,
                };
                let service = service.clone();
                connections.spawn(async move {
                    let conn =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service);
                    let _ = conn.await;
                });
                // Forget the connections that ended.
                while connections.try_join_next().is_some() {}
            }
            // Dropping a connection's future closes its socket, whatever it was doing.
            drop(listener);
            connections.shutdown().await;
        });
        self.stop = Some((tx, accept));
        Ok(())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some((stop, _)) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

/// Where the buckets live.
#[derive(Debug)]
enum Root {
    /// Removed when the server is dropped.
    Temp(tempfile::TempDir),
    /// The caller's directory, kept.
    Dir(PathBuf),
}

impl Root {
    fn path(&self) -> &Path {
        match self {
            Root::Temp(dir) => dir.path(),
            Root::Dir(dir) => dir,
        }
    }
}

/// object_store's settings for a server at `endpoint`.
pub fn settings_for(endpoint: &str) -> Vec<(String, String)> {
    [
        ("aws_endpoint_url", endpoint),
        ("aws_access_key_id", ACCESS_KEY),
        ("aws_secret_access_key", SECRET_KEY),
        ("aws_region", REGION),
        ("aws_allow_http", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The standard environment variables for a server at `endpoint`.
pub fn env_for(endpoint: &str) -> Vec<(String, String)> {
    settings_for(endpoint).into_iter().map(|(k, v)| (k.to_ascii_uppercase(), v)).collect()
}

async fn put_object(endpoint: &str, bucket: &str, key: &str, bytes: Vec<u8>) -> io::Result<()> {
    use object_store::ObjectStoreExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
    for (k, v) in settings_for(endpoint) {
        let key: object_store::aws::AmazonS3ConfigKey = k.parse().map_err(io::Error::other)?;
        b = b.with_config(key, v);
    }
    let store = b.build().map_err(io::Error::other)?;
    store.put(&object_store::path::Path::from(key), bytes.into()).await.map_err(io::Error::other)?;
    Ok(())
}

/// Turns Nagle's algorithm off, as real servers do: hyper writes an answer's head and body separately,
/// and with Nagle on the body waits for the client's delayed ACK of the head, 40 ms on Linux, so every
/// small request would take 40 ms on loopback.
fn no_delay(socket: TcpStream) -> TcpStream {
    let _ = socket.set_nodelay(true);
    socket
}

fn runtime() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("dpc-testserver").enable_all().build()
}

/// What a [`FaultProxy`] does with the next requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Forward every request to the server.
    Pass,
    /// Answer every request with this status (an empty body), without forwarding it.
    Status(u16),
    /// Answer the next `n` requests with `status`, then forward.
    StatusTimes {
        /// How many requests fail.
        n: u64,
        /// Their status.
        status: u16,
    },
    /// Read each request and never answer, until the proxy is dropped: a server slower than any timeout.
    Stall,
}

/// A loopback HTTP/1.1 proxy in front of a server that injects faults: statuses, stalls, or nothing.
///
/// Each forwarded request goes on its own upstream connection (the proxy asks the server to close after
/// answering), so every request is seen and counted.
#[derive(Debug)]
pub struct FaultProxy {
    rt: Runtime,
    addr: SocketAddr,
    state: Arc<ProxyState>,
    stop: watch::Sender<bool>,
}

#[derive(Debug)]
struct ProxyState {
    fault: Mutex<Fault>,
    requests: AtomicU64,
    upstream: SocketAddr,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let rt = runtime()?;
        let listener = rt.block_on(TcpListener::bind(("127.0.0.1", 0)))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState { fault: Mutex::new(Fault::Pass), requests: AtomicU64::new(0), upstream });
        let (stop, rx) = watch::channel(false);
        let st = Arc::clone(&state);
        rt.spawn(async move {
            let mut stopped = rx.clone();
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => no_delay(socket),
                        Err(_) => continue,
                    },
                    _ = stopped.changed() => return,
                };
                let st = Arc::clone(&st);
                let mut stopped = rx.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = proxy_connection(socket, st) => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        Ok(FaultProxy { rt, addr, state, stop })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets what happens to the next requests.
    pub fn set(&self, fault: Fault) {
        *self.state.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    /// Requests seen so far (answered, forwarded or stalled).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// object_store's settings for reaching the server through this proxy.
    pub fn settings(&self) -> Vec<(String, String)> {
        settings_for(&self.endpoint())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = &self.rt;
    }
}

/// Serves one client connection: each request is answered by the fault or forwarded on a fresh upstream
/// connection.
async fn proxy_connection(mut client: TcpStream, state: Arc<ProxyState>) -> io::Result<()> {
    let mut pending = Vec::new();
    loop {
        let Some((head, body_len)) = read_head(&mut client, &mut pending).await? else {
            return Ok(());
        };
        while pending.len() < head.len() + body_len {
            let mut buf = [0u8; 64 << 10];
            let n = client.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            pending.extend_from_slice(&buf[..n]);
        }
        let request: Vec<u8> = pending.drain(..head.len() + body_len).collect();
        state.requests.fetch_add(1, Ordering::SeqCst);
        let fault = {
            let mut f = state.fault.lock().unwrap_or_else(|e| e.into_inner());
            let now = *f;
            if let Fault::StatusTimes { n, status } = now {
                *f = if n <= 1 { Fault::Pass } else { Fault::StatusTimes { n: n - 1, status } };
                Fault::Status(status)
            } else {
                now
            }
        };
        match fault {
            Fault::Status(status) => {
                let answer = format!("HTTP/1.1 {status} Injected\r\ncontent-length: 0\r\n\r\n");
                client.write_all(answer.as_bytes()).await?;
            }
            Fault::Stall => {
                std::future::pending::<()>().await;
            }
            Fault::Pass | Fault::StatusTimes { .. } => {
                let mut upstream = no_delay(TcpStream::connect(state.upstream).await?);
                upstream.write_all(&close_after(&request, head.len())).await?;
                // The server closes after its answer: copy it back whole, then read the next request.
                tokio::io::copy(&mut upstream, &mut client).await?;
                return Ok(());
            }
        }
    }
}

/// Reads until a whole request head is in `pending`; returns the head and the body length it announces.
async fn read_head(client: &mut TcpStream, pending: &mut Vec<u8>) -> io::Result<Option<(Vec<u8>, usize)>> {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = pending[..end + 4].to_vec();
            let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let body_len = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            return Ok(Some((head, body_len)));
        }
        let mut buf = [0u8; 16 << 10];
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

/// The request with `connection: close` in place of any connection header.
fn close_after(request: &[u8], head_len: usize) -> Vec<u8> {
    let head = String::from_utf8_lossy(&request[..head_len - 2]);
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&request[head_len..]);
    bytes
}
