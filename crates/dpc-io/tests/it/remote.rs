//! Object stores against a real S3-compatible server (s3s-fs) on loopback, started by each test, with a
//! fault-injecting proxy in front of it for 5xx answers and stalls.

use std::io::Read;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use dpc_io::{IoError, ObjectSource, PagedProvider, RangeSource, SourceOptions, open_source_with};
use dpc_testserver::{Fault, FaultProxy, S3Server, settings_for};

use crate::pattern;

const URL: &str = "s3://bucket/data.bin";

/// Short deadlines so that every fault ends quickly: 3 attempts of at most 1 s.
fn options(settings: Vec<(String, String)>) -> SourceOptions {
    let mut o = SourceOptions::default()
        .from_env(false)
        .timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_millis(500))
        .attempts(3)
        .backoff(Duration::from_millis(5), Duration::from_millis(20));
    for (k, v) in settings {
        o = o.setting(k, v);
    }
    o
}

/// The longest any failing call may take with [`options`]: every attempt timing out, plus the backoffs,
/// plus generous slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(3 + 5);

fn server_with(bytes: &[u8]) -> S3Server {
    let server = S3Server::start().unwrap();
    server.create_bucket("bucket").unwrap();
    server.put("bucket", "data.bin", bytes).unwrap();
    server
}

fn open(server: &S3Server) -> Arc<dyn RangeSource> {
    open_source_with(URL, &options(server.settings())).unwrap()
}

#[test]
fn s3_ranges_read_what_was_put() {
    let data = pattern(1 << 20);
    let server = server_with(&data);
    let s = open(&server);
    assert_eq!(s.len(), data.len() as u64);
    assert!(s.version().etag.is_some(), "{:?}", s.version());
    assert_eq!(s.read_range(0..0).unwrap(), b"");
    assert_eq!(s.read_range(1000..2000).unwrap(), &data[1000..2000]);
    assert_eq!(s.read_range(0..data.len() as u64).unwrap(), data);
    let mut buf = vec![0u8; 777];
    s.read_into(123_456, &mut buf).unwrap();
    assert_eq!(buf, &data[123_456..123_456 + 777]);
    let got = s.read_ranges(&[900_000..900_010, 0..4, 2..8, 500_000..500_001]).unwrap();
    assert_eq!(got, vec![&data[900_000..900_010], &data[0..4], &data[2..8], &data[500_000..500_001]]);
    let mut streamed = Vec::new();
    s.stream(10..data.len() as u64).unwrap().read_to_end(&mut streamed).unwrap();
    assert_eq!(streamed, &data[10..]);
    s.check().unwrap();
    assert!(matches!(s.read_range(0..data.len() as u64 + 1), Err(IoError::OutOfRange { .. })));
}

#[test]
fn a_missing_object_or_bucket_is_not_found() {
    let server = server_with(b"x");
    let o = options(server.settings());
    assert!(matches!(open_source_with("s3://bucket/nope.bin", &o), Err(IoError::NotFound { .. })));
    assert!(matches!(open_source_with("s3://nobucket/data.bin", &o), Err(IoError::NotFound { .. })));
}

#[test]
fn wrong_credentials_are_an_http_error_not_retried() {
    let server = server_with(b"x");
    let mut settings = server.settings();
    settings.retain(|(k, _)| k != "aws_secret_access_key");
    settings.push(("aws_secret_access_key".into(), "wrong".into()));
    match open_source_with(URL, &options(settings)) {
        Err(IoError::Http { status: 403, attempts: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_server_that_is_not_running_is_a_connection_error() {
    let mut server = server_with(b"x");
    let settings = server.settings();
    server.stop();
    let t = Instant::now();
    match open_source_with(URL, &options(settings)) {
        Err(e @ IoError::Connection { attempts: 3, .. }) => assert!(e.to_string().contains(URL), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < BOUND, "{:?}", t.elapsed());
}

#[test]
fn answers_503_are_retried_then_reported_with_their_status() {
    let server = server_with(&pattern(10_000));
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let s = open_source_with(URL, &options(proxy.settings())).unwrap();
    for status in [503, 500] {
        proxy.set(Fault::Status(status));
        let before = proxy.requests();
        match s.read_range(0..100) {
            Err(e @ IoError::Http { attempts: 3, .. }) => {
                assert!(matches!(e, IoError::Http { status: s, .. } if s == status), "{e}");
                assert!(e.is_transient());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(proxy.requests() - before, 3);
    }
    // A client error is not retried.
    proxy.set(Fault::Status(400));
    let before = proxy.requests();
    assert!(matches!(s.read_range(0..100), Err(IoError::Http { status: 400, attempts: 1, .. })));
    assert_eq!(proxy.requests() - before, 1);
}

#[test]
fn a_few_server_errors_are_retried_away() {
    let data = pattern(10_000);
    let server = server_with(&data);
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let s = open_source_with(URL, &options(proxy.settings())).unwrap();
    proxy.set(Fault::StatusTimes { n: 2, status: 503 });
    let before = proxy.requests();
    assert_eq!(s.read_range(5..50).unwrap(), &data[5..50]);
    assert_eq!(proxy.requests() - before, 3);
}

#[test]
fn a_stalled_server_times_out_on_every_attempt() {
    let server = server_with(&pattern(10_000));
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let s = open_source_with(URL, &options(proxy.settings())).unwrap();
    proxy.set(Fault::Stall);
    let t = Instant::now();
    match s.read_range(0..100) {
        Err(IoError::Timeout { attempts: 3, timeout, .. }) => assert_eq!(timeout, Duration::from_secs(1)),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < BOUND, "{:?}", t.elapsed());
    // Opening against a stalled server ends the same way.
    assert!(matches!(open_source_with(URL, &options(proxy.settings())), Err(IoError::Timeout { .. })));
    // And a stream stalled before its first byte.
    let mut out = Vec::new();
    let err = s.stream(0..100).unwrap().read_to_end(&mut out).unwrap_err();
    assert!(matches!(IoError::from_io(URL, err), IoError::Timeout { .. }));
}

#[test]
fn a_server_killed_mid_read_ends_the_stream_with_an_error_and_no_stale_bytes() {
    // Large enough that the server is still sending when it is stopped (socket buffers hold a few MiB).
    let data = pattern(48 << 20);
    let mut server = server_with(&data);
    let s = open(&server);
    let mut stream = s.stream(0..data.len() as u64).unwrap();
    let mut got = vec![0u8; 1 << 16];
    stream.read_exact(&mut got).unwrap();
    server.stop();
    let t = Instant::now();
    let mut rest = Vec::new();
    let err = stream.read_to_end(&mut rest).unwrap_err();
    assert!(matches!(IoError::from_io(URL, err), IoError::Connection { .. }));
    assert!(t.elapsed() < BOUND, "{:?}", t.elapsed());
    got.extend_from_slice(&rest);
    assert!(got.len() < data.len(), "the whole object arrived before the stop");
    assert_eq!(got, &data[..got.len()], "what arrived is the object's prefix");
    // Range reads after the stop fail the same way; after a restart they work again.
    assert!(matches!(s.read_range(0..10), Err(IoError::Connection { .. })));
    server.restart().unwrap();
    assert_eq!(s.read_range(0..10).unwrap(), &data[..10]);
}

#[test]
fn an_object_replaced_after_open_is_changed_never_mixed() {
    let first = pattern(100_000);
    let server = server_with(&first);
    let s = open(&server);
    assert_eq!(s.read_range(0..10).unwrap(), &first[..10]);
    // Same size, other bytes: only the ETag tells.
    let second: Vec<u8> = first.iter().map(|b| b.wrapping_add(1)).collect();
    server.put("bucket", "data.bin", &second).unwrap();
    match s.read_range(0..10) {
        Err(e @ IoError::Changed { .. }) => assert!(e.to_string().contains("ETag"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(s.read_ranges(&[0..10, 50..60]).unwrap_err().is_changed());
    assert!(s.check().unwrap_err().is_changed());
    let mut out = Vec::new();
    let err = s.stream(0..100_000).unwrap().read_to_end(&mut out).unwrap_err();
    assert!(IoError::from_io(URL, err).is_changed());
    assert!(out.is_empty(), "no byte of the new version is served");
    // Another size.
    server.put("bucket", "data.bin", b"short").unwrap();
    assert!(s.read_range(0..5).unwrap_err().is_changed());
    // Deleted.
    std::fs::remove_file(server.object_file("bucket", "data.bin")).unwrap();
    assert!(s.check().unwrap_err().is_changed());
    // A fresh open sees the new version.
    server.put("bucket", "data.bin", &second).unwrap();
    assert_eq!(open(&server).read_range(0..10).unwrap(), &second[..10]);
}

#[test]
fn coalesced_ranges_take_one_request() {
    let data = pattern(1 << 20);
    let server = server_with(&data);
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let s = open_source_with(URL, &options(proxy.settings())).unwrap();
    let before = proxy.requests();
    let got = s.read_ranges(&[0..100, 100..200, 150..400, 10_000..10_100]).unwrap();
    assert_eq!(got[2], &data[150..400]);
    assert_eq!(proxy.requests() - before, 1);
    // Far apart: one request each (sent together).
    let before = proxy.requests();
    s.read_ranges(&[0..10, 600_000..600_010]).unwrap();
    assert_eq!(proxy.requests() - before, 2);
}

#[test]
fn many_threads_read_one_object_at_once() {
    let data = Arc::new(pattern(1 << 20));
    let server = server_with(&data);
    let s = open(&server);
    let threads = 6;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (s, data, barrier) = (Arc::clone(&s), Arc::clone(&data), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..30u64 {
                    let start = (i * 31_337 + t as u64 * 99_991) % (1 << 20);
                    let end = (start + 1 + i * 100).min(1 << 20);
                    assert_eq!(s.read_range(start..end).unwrap(), &data[start as usize..end as usize]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn pages_of_an_object() {
    let data = pattern(10_000);
    let server = server_with(&data);
    let p = PagedProvider::fixed_arc(open(&server), 4096).unwrap();
    assert_eq!(p.page_count(), 3);
    assert_eq!(dpc_core::DataProvider::load(&p, &2).unwrap(), &data[8192..]);
    assert_eq!(p.load_many(&[0, 1]).unwrap().concat(), &data[..8192]);
}

#[test]
fn async_reads_run_on_any_executor() {
    let data = pattern(50_000);
    let server = server_with(&data);
    let s = ObjectSource::open(URL, &options(server.settings())).unwrap();
    let futures: Vec<_> = (0..4u64).map(|i| s.read_range_async(i * 1000..i * 1000 + 10)).collect();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(&block_on(f).unwrap()[..], &data[i * 1000..i * 1000 + 10]);
    }
    block_on(s.check_async()).unwrap();
    server.put("bucket", "data.bin", b"new").unwrap();
    assert!(block_on(s.read_range_async(0..3)).unwrap_err().is_changed());
}

#[test]
fn http_urls_reach_the_server_and_report_its_status() {
    // The S3 server refuses an unsigned GET of an object's path-style URL: a typed 4xx, at once.
    let server = server_with(b"0123456789");
    let url = format!("{}/bucket/data.bin", server.endpoint());
    match open_source_with(&url, &options(Vec::new())) {
        Err(IoError::Http { status, attempts: 1, .. }) => assert!((400..500).contains(&status), "{status}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn settings_name_the_endpoint_and_credentials() {
    // The same settings the environment would give, without touching this process's environment.
    let server = server_with(b"abc");
    let s = open_source_with(URL, &options(settings_for(&server.endpoint()))).unwrap();
    assert_eq!(s.read_range(0..3).unwrap(), b"abc");
}

/// A minimal executor: polls on this thread, parks until woken. No tokio here.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
