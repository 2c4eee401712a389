//! The `dpc-s3-server` program: it uploads what it is given, prints the environment that points a client at
//! it, and serves those objects to a real S3 client.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use object_store::ObjectStoreExt;

/// Kills the server when the test ends, whatever happens.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serves_the_uploaded_files_to_an_s3_client_configured_from_what_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.txt");
    let bytes: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(&file, &bytes).unwrap();
    let root = dir.path().join("root");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_dpc-s3-server"))
            .args(["--port", "0", "--root"])
            .arg(&root)
            .arg(format!("bucket/dir/data.txt={}", file.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The export lines come after the uploads, so once they are read the object is there.
    let stdout = BufReader::new(server.0.stdout.take().unwrap());
    let mut env = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let (name, value) = line.strip_prefix("export ").unwrap().split_once('=').unwrap();
        env.push((name.to_ascii_lowercase(), value.to_string()));
        if name == "AWS_ALLOW_HTTP" {
            break;
        }
    }
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["aws_endpoint_url", "aws_access_key_id", "aws_secret_access_key", "aws_region", "aws_allow_http"]
    );
    assert!(root.join("bucket").is_dir(), "buckets live under --root");

    let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name("bucket");
    for (k, v) in &env {
        builder = builder.with_config(k.parse().unwrap(), v);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = builder.build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let got = rt.block_on(async {
        store.get(&object_store::path::Path::from("dir/data.txt")).await.unwrap().bytes().await.unwrap()
    });
    assert_eq!(got.as_ref(), bytes.as_slice());
}

#[test]
fn refuses_bad_arguments_with_a_message() {
    for (args, says) in [
        (&["--port", "http"][..], "not a port number"),
        (&["no-slash=file"][..], "BUCKET/KEY=FILE"),
        (&["--bogus"][..], "unknown option"),
        (&["bucket/key=/nonexistent/file"][..], "cannot upload /nonexistent/file"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_dpc-s3-server"))
            .args(["--port", "0", "--root"])
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
