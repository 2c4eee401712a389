//! `MotProvider` over S3, against a real S3-compatible server on loopback.

use std::time::Duration;

use dpc_io::{IoError, SourceOptions};
use dpc_mot::{IndexCache, MotError, MotProvider};
use dpc_testserver::S3Server;

const URL: &str = "s3://bucket/gt.txt";

fn options(server: &S3Server) -> SourceOptions {
    let mut o = SourceOptions::default().from_env(false).timeout(Duration::from_secs(2)).attempts(2);
    for (k, v) in server.settings() {
        o = o.setting(k, v);
    }
    o
}

fn text() -> Vec<u8> {
    let mut t = String::new();
    for f in 1..=300 {
        for id in 1..=5 {
            t.push_str(&format!("{f},{id},{},{},10,20,1,1,1\n", f * 2, id * 30));
        }
    }
    t.into_bytes()
}

fn server(bytes: &[u8]) -> S3Server {
    let s = S3Server::start().unwrap();
    s.create_bucket("bucket").unwrap();
    s.put("bucket", "gt.txt", bytes).unwrap();
    s
}

#[test]
fn frames_over_s3_equal_the_local_file() {
    let bytes = text();
    let server = server(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gt.txt");
    std::fs::write(&path, &bytes).unwrap();
    let local = MotProvider::builder(&path).seqinfo(false).build().unwrap();
    let remote = MotProvider::builder(URL).source_options(options(&server)).build().unwrap();
    assert_eq!(remote.location(), URL);
    assert_eq!(remote.range(), local.range());
    for f in [1, 2, 150, 299, 300] {
        assert_eq!(remote.load_frame(f).unwrap(), local.load_frame(f).unwrap(), "frame {f}");
    }
    assert!(matches!(remote.load_frame(301), Err(MotError::FrameOutOfRange { .. })));
}

#[test]
fn an_object_replaced_between_index_and_load_is_changed() {
    let bytes = text();
    let server = server(&bytes);
    let p = MotProvider::builder(URL).source_options(options(&server)).cache_frames(0).build().unwrap();
    assert_eq!(p.load_frame(10).unwrap().len(), 5);
    // The same rows with one box moved: a valid file of the same size, only the ETag differs.
    let replaced = String::from_utf8(bytes).unwrap().replacen("10,1,20,30", "10,1,21,30", 1);
    server.put("bucket", "gt.txt", replaced.as_bytes()).unwrap();
    for f in [10, 11] {
        match p.load_frame(f) {
            Err(MotError::Changed { frame, .. }) => assert_eq!(frame, f),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_saved_index_is_reused_only_while_the_object_is_unchanged() {
    let bytes = text();
    let server = server(&bytes);
    let cache = tempfile::tempdir().unwrap();
    let open = || {
        MotProvider::builder(URL)
            .source_options(options(&server))
            .index_cache(IndexCache::Dir(cache.path().to_path_buf()))
            .build()
            .unwrap()
    };
    let first = open();
    assert!(!first.index_reused());
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
    let second = open();
    assert!(second.index_reused());
    assert_eq!(second.stats().rows, first.stats().rows);
    assert_eq!(second.load_frame(7).unwrap(), first.load_frame(7).unwrap());
    // A new version of the object: the saved index is stale, and rebuilt.
    let mut more = bytes.clone();
    more.extend_from_slice(b"301,1,1,1,1,1\n");
    server.put("bucket", "gt.txt", &more).unwrap();
    let third = open();
    assert!(!third.index_reused());
    assert_eq!(third.range(), Some((1, 301)));
    assert!(open().index_reused());
}

#[test]
fn an_index_saved_beside_the_object_is_read_from_the_store() {
    let bytes = text();
    let server = server(&bytes);
    let built = MotProvider::builder(URL).source_options(options(&server)).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("gt.txt.dpcidx");
    assert!(built.save_index(&saved).unwrap());
    server.put("bucket", "gt.txt.dpcidx", &std::fs::read(&saved).unwrap()).unwrap();
    let p = MotProvider::builder(URL).source_options(options(&server)).index_cache(IndexCache::Beside).build().unwrap();
    assert!(p.index_reused());
    assert_eq!(p.load_frame(3).unwrap(), built.load_frame(3).unwrap());
}

#[test]
fn a_server_down_at_open_is_a_source_error() {
    let mut server = server(&text());
    let o = options(&server);
    server.stop();
    match MotProvider::builder(URL).source_options(o).build() {
        Err(e @ MotError::Source { source: IoError::Connection { .. }, .. }) => {
            assert!(e.to_string().starts_with(URL), "{e}")
        }
        other => panic!("{other:?}"),
    }
}
