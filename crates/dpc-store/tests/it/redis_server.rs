//! A real `redis-server` for the tests: started on a free loopback port with a temporary directory and no
//! persistence, answered PING before it is handed out, killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server may take to answer PING.
const START_DEADLINE: Duration = Duration::from_secs(20);

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub fn start() -> RedisServer {
        let port = free_port();
        let mut server = RedisServer { port, child: None, dir: tempfile::tempdir().expect("temporary directory") };
        server.spawn();
        server
    }

    /// A port nothing listens on (for "server not running").
    pub fn refused_url() -> String {
        format!("redis://127.0.0.1:{}/", free_port())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server at once (SIGKILL: no shutdown, no save).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts a new, empty one on the same port: a restart that lost its data.
    pub fn restart_empty(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Sends one command over a fresh connection and returns the raw reply (for checks and fault injection).
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the test redis-server");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut request = format!("*{}\r\n", args.len());
        for a in args {
            request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        // Replies used here are small: read until a complete line (and bulk payload) is in.
        loop {
            let n = stream.read(&mut buf).expect("read the reply");
            reply.extend_from_slice(&buf[..n]);
            if n == 0 || complete(&reply) {
                return String::from_utf8_lossy(&reply).into_owned();
            }
        }
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): the Redis tests need it installed. \
                     Install it with `apt-get install -y redis-server` (Debian/Ubuntu; .ci/run does this when it is missing)"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if ping(self.port) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("redis-server exited at start ({status}) on port {}", self.port);
            }
            assert!(Instant::now() < deadline, "redis-server did not answer PING within {START_DEADLINE:?}");
            // Polling interval while the server starts (not a synchronisation sleep: PING decides).
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[allow(dead_code)]
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a loopback port").local_addr().unwrap().port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Whether a RESP reply (a simple line, an integer, an error or one bulk string) is complete.
fn complete(reply: &[u8]) -> bool {
    let Some(line_end) = reply.windows(2).position(|w| w == b"\r\n") else { return false };
    if reply[0] != b'$' {
        return true;
    }
    let len: i64 = std::str::from_utf8(&reply[1..line_end]).ok().and_then(|s| s.parse().ok()).unwrap_or(-1);
    len < 0 || reply.len() >= line_end + 2 + len as usize + 2
}
