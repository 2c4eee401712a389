//! `dpc-s3-server`: the tests' S3-compatible server (s3s over s3s-fs) as a program, so that every `dpc`
//! command can be tried against a local object store without installing one.
//!
//! ```text
//! dpc-s3-server [--port N] [--root DIR] [BUCKET/KEY=FILE]...
//! ```
//!
//! Serves `http://127.0.0.1:N` (default 9000; 0 picks a free port) with SigV4 authentication, keeping
//! objects as files under `DIR` (default `$TMPDIR/dpc-s3-server`, kept between runs: each bucket is a
//! subdirectory). Each `BUCKET/KEY=FILE` uploads a local file with a real S3 `PUT`. Prints the `export`
//! lines of the standard `AWS_*` environment that points a client at it on stdout, then serves until it
//! is killed (Ctrl-C).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use dpc_testserver::S3Server;

const USAGE: &str = "usage: dpc-s3-server [--port N] [--root DIR] [BUCKET/KEY=FILE]...";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpc-s3-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut port: u16 = 9000;
    let mut root = std::env::temp_dir().join("dpc-s3-server");
    let mut uploads = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let v = args.next().ok_or("--port needs a value")?;
                port = v.parse().map_err(|_| format!("--port: not a port number: {v}"))?;
            }
            "--root" => root = PathBuf::from(args.next().ok_or("--root needs a value")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            upload if !upload.starts_with('-') => uploads.push(parse_upload(upload)?),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let server = S3Server::start_at(SocketAddr::from(([127, 0, 0, 1], port)), Some(&root))
        .map_err(|e| format!("cannot serve on 127.0.0.1:{port} from {}: {e}", root.display()))?;
    eprintln!("dpc-s3-server: serving {} from {}", server.endpoint(), server.root().display());
    for (bucket, key, file) in &uploads {
        let size = server
            .put_file(bucket, key, file)
            .map_err(|e| format!("cannot upload {} as s3://{bucket}/{key}: {e}", file.display()))?;
        eprintln!("dpc-s3-server: uploaded s3://{bucket}/{key} ({size} bytes)");
    }
    for (name, value) in server.env() {
        println!("export {name}={value}");
    }
    eprintln!("dpc-s3-server: Ctrl-C stops it");
    loop {
        std::thread::park();
    }
}

/// `BUCKET/KEY=FILE`.
fn parse_upload(arg: &str) -> Result<(String, String, PathBuf), String> {
    let bad = || format!("expected BUCKET/KEY=FILE, got {arg}");
    let (object, file) = arg.split_once('=').ok_or_else(bad)?;
    let (bucket, key) = object.split_once('/').ok_or_else(bad)?;
    if bucket.is_empty() || key.is_empty() || file.is_empty() {
        return Err(bad());
    }
    Ok((bucket.to_string(), key.to_string(), PathBuf::from(file)))
}
