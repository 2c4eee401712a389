//! dpc-mot's integration tests: one binary, one module per area.

mod errors;
mod fixtures;
mod fuzz;
mod index;
mod provider;
mod remote;
mod saved;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dpc_mot::{Detection, Mode, MotProvider, WriteFormat, write_detection};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The committed fixtures, `fixtures/mot/` at the workspace root.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mot").join(name)
}

/// Every frame of a provider's range, loaded through the provider.
pub fn frames_of(p: &MotProvider) -> BTreeMap<u64, Vec<Detection>> {
    let Some((first, last)) = p.range() else { return BTreeMap::new() };
    (first..=last).map(|f| (f, p.load_frame(f).unwrap().detections().to_vec())).collect()
}

/// The reference: a full in-memory parse grouped by frame, in file order within a frame.
pub fn reference(bytes: &[u8]) -> BTreeMap<u64, Vec<Detection>> {
    let mut out: BTreeMap<u64, Vec<Detection>> = BTreeMap::new();
    for d in dpc_mot::parse(bytes, Mode::Strict).unwrap().detections {
        out.entry(d.frame).or_default().push(d);
    }
    out
}

/// A synthetic sequence of `frames` frames with about `per_frame` boxes each, in the default layout, frame-major.
/// Independent of dpc-gen so that these tests only build dpc-mot.
pub fn synth(frames: u64, per_frame: u64, seed: u64) -> Vec<Detection> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::new();
    for f in 1..=frames {
        let n = rng.next_u64() % (2 * per_frame + 1);
        for id in 0..n {
            let r = rng.next_u64();
            let v = |k: u32| ((r >> (16 * k)) & 0xFFFF) as f64 / 100.0;
            rows.push(Detection {
                conf: (r % 100) as f64 / 100.0,
                class: 1,
                visibility: 1.0,
                ..Detection::new(f, id as i64 + 1, v(0), v(1), v(2) + 1.0, v(3) + 1.0)
            });
        }
    }
    rows
}

/// Writes rows in `format` to bytes.
pub fn render(rows: &[Detection], format: &WriteFormat) -> Vec<u8> {
    let mut out = Vec::new();
    for d in rows {
        write_detection(d, format, &mut out);
    }
    out
}

/// A temporary file holding `bytes`, kept alive with its directory.
pub fn temp_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.txt");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}
