//! The `ocycle` suite: docs/BENCHMARKS.md, "The other suites" (rebuffering).
//!
//! - Serial fan-out: 3 consumers (24 000, 96 000, 480 000 samples, exact chunks) fed 480-sample `f32` frames, ns per frame,
//!   against a naive `Vec` push-and-drain rebuffer and against three independent emitters, in the same run.
//! - Threaded fan-out with recycled buffers: the same 3 consumers on worker threads, samples per second from the first write
//!   to `close` returning (every callback done), against a naive threaded rebuffer that allocates each chunk.
//! - Python ocycle 0.1.0 in the serial shape, when the reference venv has it (see `bench::reference_python`; skipped otherwise).

use std::hint::black_box;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dpc_ocycle::{Chunk, Consumer, FanOut, SampleRate};

use super::{Suite, bar_chart, median, ns_per_op};
use crate::TaskResult;

const SIZES: [usize; 3] = [24_000, 96_000, 480_000];
const FRAME: usize = 480;
const BUDGET: Duration = Duration::from_secs(1);
const ROUNDS: usize = 3;

pub fn run(suite: &mut Suite) -> TaskResult {
    let frame: Vec<f32> = (0..FRAME).map(|i| i as f32).collect();

    let load = load_average();
    // Serial: the implementations take turns, round after round, so a change in the machine's load hits them alike;
    // each reports the median of its rounds.
    let mut impls: Vec<Box<dyn FnMut(u64) + '_>> = vec![
        Box::new(memcpy_floor(&frame)),
        Box::new(serial_fanout(&frame)),
        Box::new(separate_emitters(&frame)),
        Box::new(naive_serial(&frame)),
    ];
    let mut samples = vec![Vec::new(); impls.len()];
    for _ in 0..ROUNDS {
        for (f, xs) in impls.iter_mut().zip(&mut samples) {
            xs.push(ns_per_op(BUDGET, f));
        }
    }
    let [floor, fanout, separate, naive] = [0, 1, 2, 3].map(|i| median(&mut samples[i]));
    suite.metric("load_average_1m", load, "");
    suite.metric("serial_memcpy_floor_ns_per_frame", floor, "ns");
    suite.metric("serial_fanout_ns_per_frame", fanout, "ns");
    suite.metric("serial_3_emitters_ns_per_frame", separate, "ns");
    suite.metric("serial_naive_vec_drain_ns_per_frame", naive, "ns");
    suite.metric("serial_speedup_vs_naive", naive / fanout, "x");
    let python = python_serial();
    if let Some(py) = python {
        suite.metric("serial_python_ocycle_ns_per_frame", py, "ns");
        suite.metric("serial_speedup_vs_python", py / fanout, "x");
    }

    // Threaded, end to end, for small and large frames.
    let mut threaded = Vec::new();
    for frame_len in [FRAME, 48_000] {
        let total = 96_000_000usize;
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            ours.push(threaded_fanout(frame_len, total));
            base.push(naive_threaded(frame_len, total));
        }
        let (ours, base) = (median(&mut ours), median(&mut base));
        suite.metric(&format!("threaded_fanout_frame{frame_len}_gsamples_per_s"), ours, "G/s");
        suite.metric(&format!("threaded_naive_frame{frame_len}_gsamples_per_s"), base, "G/s");
        threaded.push((frame_len, ours, base));
    }

    let mut md = String::new();
    md.push_str("Command: `cargo run --release -p xtask -- bench ocycle`; each number is the median of 3 rounds in which the implementations take turns ");
    md.push_str(&format!("(2-core shared machine, 1-minute load average {load:.1} at the start; compare ratios).\n\n"));
    md.push_str("Serial fan-out, 3 consumers (24 000 / 96 000 / 480 000 samples, clip), 480-sample `f32` frames:\n\n");
    md.push_str("| implementation | ns per frame | vs FanOut |\n|---|---:|---:|\n");
    md.push_str(&format!(
        "| floor: one `memcpy` of the frame into a 960 000-sample window | {floor:.1} | {:.2} |\n",
        floor / fanout
    ));
    md.push_str(&format!("| `FanOut` (one shared stream buffer) | {fanout:.1} | 1.00 |\n"));
    md.push_str(&format!("| 3 separate `Emitter`s | {separate:.1} | {:.2} |\n", separate / fanout));
    md.push_str(&format!("| naive `Vec` push + `drain(..size).collect()` | {naive:.1} | {:.2} |\n", naive / fanout));
    if let Some(py) = python {
        md.push_str(&format!(
            "| Python ocycle 0.1.0 `BufferEmit` x3 (serial, clip) | {py:.1} | {:.1} |\n",
            py / fanout
        ));
    }
    md.push_str(&format!("\nTarget <= 100 ns per frame: **{}**.\n\n", if fanout <= 100.0 { "met" } else { "not met" }));
    md.push_str(
        "Threaded fan-out, same 3 consumers on 1 worker thread each (1 + 6 recycled buffers each, `Policy::Block`), ",
    );
    md.push_str("96 M samples timed from the first write after a warm-up (4.8 M samples, which faults the buffers in) until `close` returns:\n\n");
    md.push_str("| frame | FanOut G samples/s | naive (a new `Vec` per chunk, unbounded channel) G samples/s | ratio |\n|---:|---:|---:|---:|\n");
    for (frame_len, ours, base) in &threaded {
        md.push_str(&format!("| {frame_len} | {ours:.2} | {base:.2} | {:.2} |\n", ours / base));
    }
    let best = threaded.iter().map(|t| t.1).fold(0.0, f64::max);
    md.push_str(&format!(
        "\nTarget >= 1 G samples/s: **{}** (best {best:.2}).\n",
        if best >= 1.0 { "met" } else { "not met" }
    ));
    suite.markdown(&md);

    let mut groups = vec![
        ("memcpy floor".to_string(), vec![floor]),
        ("FanOut".to_string(), vec![fanout]),
        ("3 emitters".to_string(), vec![separate]),
    ];
    groups.push(("naive Vec drain".to_string(), vec![naive]));
    if let Some(py) = python {
        groups.push(("Python ocycle".to_string(), vec![py]));
    }
    suite.plot(
        "ocycle_serial.svg",
        &bar_chart("Serial fan-out, 3 consumers, 480-sample frames", "ns per frame", &["ns/frame"], &groups),
    )?;
    let groups: Vec<(String, Vec<f64>)> =
        threaded.iter().map(|(f, ours, base)| (format!("frame {f}"), vec![*ours, *base])).collect();
    suite.plot(
        "ocycle_threaded.svg",
        &bar_chart("Threaded fan-out, end to end", "G samples/s", &["FanOut", "naive"], &groups),
    )?;
    Ok(())
}

fn touch(c: &Chunk<'_, f32>) -> Result<(), dpc_ocycle::BoxError> {
    black_box((c.data()[0], c.data()[c.len() - 1], c.time()));
    Ok(())
}

/// The least any rebuffer must do: copy each frame once into a window as large as the largest chunk needs.
fn memcpy_floor(frame: &[f32]) -> impl FnMut(u64) + '_ {
    let mut window: Vec<f32> = Vec::with_capacity(2 * SIZES[2]);
    move |iters| {
        for _ in 0..iters {
            if window.len() + frame.len() > window.capacity() {
                window.clear();
            }
            window.extend_from_slice(black_box(frame));
        }
        black_box(window.last());
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn serial_fanout(frame: &[f32]) -> impl FnMut(u64) + '_ {
    let mut b = FanOut::builder().rate(SampleRate::hz(48_000));
    for size in SIZES {
        b = b.consumer(Consumer::serial(size, touch).clip(true));
    }
    let mut fan = b.build().expect("valid fan-out");
    move |iters| {
        for _ in 0..iters {
            fan.write(black_box(frame)).expect("open");
        }
    }
}

fn separate_emitters(frame: &[f32]) -> impl FnMut(u64) + '_ {
    let mut ems: Vec<_> = SIZES
        .iter()
        .map(|&size| {
            dpc_ocycle::Emitter::builder(Consumer::serial(size, touch).clip(true))
                .rate(SampleRate::hz(48_000))
                .build()
                .expect("valid emitter")
        })
        .collect();
    move |iters| {
        for _ in 0..iters {
            for em in &mut ems {
                em.write(black_box(frame)).expect("open");
            }
        }
    }
}

/// What one would write first: push every frame, drain a chunk into a fresh `Vec` when there is enough.
fn naive_serial(frame: &[f32]) -> impl FnMut(u64) + '_ {
    let mut bufs: Vec<Vec<f32>> = SIZES.iter().map(|_| Vec::new()).collect();
    move |iters| {
        for _ in 0..iters {
            for (buf, &size) in bufs.iter_mut().zip(&SIZES) {
                buf.extend_from_slice(black_box(frame));
                while buf.len() >= size {
                    let chunk: Vec<f32> = buf.drain(..size).collect();
                    black_box((chunk[0], chunk[size - 1]));
                }
            }
        }
    }
}

/// G samples per second through a threaded fan-out, from the first write until every callback is done.
fn threaded_fanout(frame_len: usize, total: usize) -> f64 {
    let frame: Vec<f32> = (0..frame_len).map(|i| i as f32).collect();
    let mut b = FanOut::builder().rate(SampleRate::hz(48_000));
    for size in SIZES {
        b = b.consumer(Consumer::threads(size, 1, touch).clip(true).queue(6));
    }
    let mut fan = b.build().expect("valid fan-out");
    // Warm up: the stream buffer and the pools fault their pages in once, then are recycled for good.
    for _ in 0..(10 * SIZES[2]).div_ceil(frame_len) {
        fan.write(&frame).expect("open");
    }
    fan.flush().expect("open");
    let t = Instant::now();
    for _ in 0..total / frame_len {
        fan.write(&frame).expect("open");
    }
    fan.close().expect("no child processes");
    let el = t.elapsed();
    (total / frame_len * frame_len) as f64 / el.as_nanos() as f64
}

/// The same shape with a thread per consumer fed freshly allocated chunks over an unbounded channel.
fn naive_threaded(frame_len: usize, total: usize) -> f64 {
    let frame: Vec<f32> = (0..frame_len).map(|i| i as f32).collect();
    let t = Instant::now();
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for _ in SIZES {
        let (tx, rx) = mpsc::channel::<Vec<f32>>();
        senders.push(tx);
        workers.push(std::thread::spawn(move || {
            for chunk in rx {
                black_box((chunk[0], chunk[chunk.len() - 1]));
            }
        }));
    }
    let mut bufs: Vec<Vec<f32>> = SIZES.iter().map(|_| Vec::new()).collect();
    for _ in 0..total / frame_len {
        for ((buf, &size), tx) in bufs.iter_mut().zip(&SIZES).zip(&senders) {
            buf.extend_from_slice(&frame);
            while buf.len() >= size {
                let chunk: Vec<f32> = buf.drain(..size).collect();
                tx.send(chunk).expect("worker alive");
            }
        }
    }
    drop(senders);
    for w in workers {
        w.join().expect("worker");
    }
    (total / frame_len * frame_len) as f64 / t.elapsed().as_nanos() as f64
}

/// Python ocycle 0.1.0's `BufferEmit` in the serial shape, median of 3 runs, if the reference venv exists.
fn python_serial() -> Option<f64> {
    let script = r#"
import sys, time, types
try:
    import numpy
except ImportError:
    sys.modules["numpy"] = types.ModuleType("numpy")  # ocycle imports numpy, BufferEmit never uses it
import ocycle
sizes = [24000, 96000, 480000]
ems = [ocycle.BufferEmit(lambda x, t0: None, s * 4, clip=True) for s in sizes]
frame = bytes(480 * 4)
n = 20000
runs = []
for _ in range(3):
    t = time.perf_counter()
    for i in range(n):
        for e in ems:
            e.write(frame, 1.0)
    runs.append((time.perf_counter() - t) / n * 1e9)
print(sorted(runs)[1])
"#;
    super::python_number(script)
}
