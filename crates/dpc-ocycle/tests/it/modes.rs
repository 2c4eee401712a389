//! Serial, thread and process modes deliver the same chunks; `on_done` order; workers are joined.

use std::process::Command;
use std::sync::Arc;

use crossbeam_channel::bounded;
use dpc_ocycle::{Consumer, Emitter, Error, Flush, ProcessOutput};

use crate::support::{Got, Rec, assert_faithful, ramp, write_frames};

const SIZE: usize = 50;
const FRAMES: &[usize] = &[7, 64, 3, 200];

fn stream() -> Vec<i32> {
    ramp(1013)
}

fn run_serial() -> Vec<Got<i32>> {
    let rec = Rec::new();
    let r = rec.clone();
    let mut em = Emitter::new(
        Consumer::serial(SIZE, move |c| {
            r.push(Got::of(c));
            Ok(())
        })
        .clip(true)
        .hop(30)
        .flush(Flush::Pad(-1)),
    )
    .unwrap();
    write_frames(|f| em.write(f).unwrap(), &stream(), FRAMES);
    em.close().unwrap();
    rec.get()
}

fn le_bytes(data: &[i32]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn serial_and_threads_and_process_deliver_the_same_chunks() {
    let serial = run_serial();
    assert_eq!(serial.len(), (1013 - 50) / 30 + 1 + 1, "full windows plus one padded flush chunk");
    assert_faithful(&serial, &stream(), -1);
    assert_eq!(serial.last().unwrap().padded, 50 - (1013 - 990));

    // Threads: callbacks run out of order on 3 workers; on_done restores emission order.
    let rec = Rec::new();
    let order = Rec::new();
    let r = rec.clone();
    let o = order.clone();
    let mut em = Emitter::new(
        Consumer::threads(SIZE, 3, move |c| {
            r.push(Got::of(c));
            Ok(c.seq())
        })
        .clip(true)
        .hop(30)
        .flush(Flush::Pad(-1))
        .on_done(move |d| o.push(d.result.unwrap())),
    )
    .unwrap();
    write_frames(|f| em.write(f).unwrap(), &stream(), FRAMES);
    em.close().unwrap();
    let mut threaded = rec.get();
    threaded.sort_by_key(|g| g.seq);
    assert_eq!(threaded, serial);
    assert_eq!(order.get(), (0..serial.len() as u64).collect::<Vec<_>>());

    // Process, one child per chunk: `cat` echoes the chunk's little-endian bytes back as its result.
    let outs: Rec<(u64, u64, ProcessOutput)> = Rec::new();
    let o = outs.clone();
    let mut em = Emitter::new(
        Consumer::process_per_chunk(SIZE, 2, Command::new("cat"))
            .clip(true)
            .hop(30)
            .flush(Flush::Pad(-1))
            .on_done(move |d| o.push((d.seq, d.start, d.result.unwrap()))),
    )
    .unwrap();
    write_frames(|f| em.write(f).unwrap(), &stream(), FRAMES);
    em.close().unwrap();
    let outs = outs.get();
    assert_eq!(outs.len(), serial.len());
    for ((seq, start, out), want) in outs.iter().zip(&serial) {
        assert_eq!((*seq, *start), (want.seq, want.start));
        assert_eq!(out.stdout, le_bytes(&want.data), "chunk {seq}");
        assert_eq!(out.bytes, 4 * want.data.len() as u64);
    }
}

#[test]
fn persistent_process_receives_the_stream_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.bin");
    let count = dir.path().join("count.txt");
    let consumer = |script: &str, path: &std::path::Path| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).arg(path);
        Consumer::<f32, ProcessOutput>::process(480, cmd).clip(true)
    };
    let mut fan = dpc_ocycle::FanOut::builder()
        .consumer(consumer(r#"cat > "$0""#, &copy))
        .consumer(consumer(r#"wc -c > "$0""#, &count).flush(Flush::Drop))
        .build()
        .unwrap();
    let stream: Vec<f32> = (0..10_000).map(|i| i as f32 * 0.5).collect();
    for frame in stream.chunks(333) {
        fan.write(frame).unwrap();
    }
    fan.close().unwrap();
    let want: Vec<u8> = stream.iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(std::fs::read(&copy).unwrap(), want, "short flush: everything written reaches the child");
    let counted: usize = std::fs::read_to_string(&count).unwrap().trim().parse().unwrap();
    assert_eq!(counted, 4 * 480 * (10_000 / 480), "dropped flush: only whole chunks");
    assert_eq!(fan.stats().consumers[1].samples_discarded, (10_000 % 480) as u64);
}

#[test]
fn a_failing_persistent_child_is_reported_at_close() {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("cat > /dev/null; exit 3");
    let mut em = Emitter::<i16>::new(Consumer::process(4, cmd)).unwrap();
    em.write(&[1, 2, 3, 4, 5]).unwrap();
    match em.close() {
        Err(Error::Child { consumer: 0, status, .. }) => assert_eq!(status.code(), Some(3)),
        other => panic!("expected a child failure, got {other:?}"),
    }
    em.close().unwrap();
}

#[test]
fn a_failing_per_chunk_child_fails_only_its_chunk() {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(r#"cat; test "$OCYCLE_SEQ" != 1"#);
    let results = Rec::new();
    let r = results.clone();
    let mut em = Emitter::<u8>::new(
        Consumer::process_per_chunk(3, 1, cmd)
            .clip(true)
            .on_done(move |d| r.push((d.seq, d.result.map(|o| o.stdout).map_err(|e| e.to_string())))),
    )
    .unwrap();
    em.write(b"abcdefghi").unwrap();
    match em.close() {
        Err(Error::ChunksFailed { consumer: 0, failed: 1, completed: 2, first, child: None, .. }) => {
            assert!(first.contains("exited"), "{first}")
        }
        other => panic!("expected one failed chunk, got {other:?}"),
    }
    let results = results.get();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].1.as_ref().unwrap(), b"abc");
    assert!(results[1].1.as_ref().unwrap_err().to_string().contains("exited"), "{:?}", results[1]);
    assert_eq!(results[2].1.as_ref().unwrap(), b"ghi");
    assert_eq!((em.stats().consumers[0].callback_errors, em.stats().consumers[0].chunks_failed), (1, 1));
}

#[test]
fn on_done_follows_emission_order_when_callbacks_finish_out_of_order() {
    for _ in 0..20 {
        // Chunk 0 cannot finish before chunk 1 has: its worker waits for chunk 1's signal.
        let (tx, rx) = bounded::<()>(1);
        let finished = Rec::new();
        let delivered = Rec::new();
        let f = finished.clone();
        let d = delivered.clone();
        let mut em = Emitter::new(
            Consumer::threads(2, 2, move |c| {
                if c.seq() == 0 {
                    rx.recv().unwrap();
                }
                f.push(c.seq());
                if c.seq() == 1 {
                    tx.send(()).unwrap();
                }
                Ok(c[0])
            })
            .clip(true)
            .on_done(move |done| d.push((done.seq, done.result.unwrap()))),
        )
        .unwrap();
        em.write(&ramp(8)).unwrap();
        em.close().unwrap();
        let finished = finished.get();
        assert!(finished.iter().position(|&s| s == 1) < finished.iter().position(|&s| s == 0));
        assert_eq!(delivered.get(), vec![(0, 0), (1, 2), (2, 4), (3, 6)]);
    }
}

#[test]
fn close_joins_the_workers() {
    let token = Arc::new(());
    let t = Arc::clone(&token);
    let mut em = Emitter::new(
        Consumer::threads(10, 4, move |c: &dpc_ocycle::Chunk<'_, u8>| {
            let _keep = &t;
            Ok(c.len())
        })
        .clip(true),
    )
    .unwrap();
    em.write(&[0; 95]).unwrap();
    assert!(Arc::strong_count(&token) > 1);
    em.close().unwrap();
    assert_eq!(Arc::strong_count(&token), 1, "every worker dropped its callback");
    assert_eq!(em.stats().consumers[0].chunks_completed, 10);
}

#[test]
fn dropping_an_open_emitter_closes_it() {
    let rec = Rec::new();
    let r = rec.clone();
    let em = Emitter::new(Consumer::threads(10, 2, move |c: &dpc_ocycle::Chunk<'_, u8>| {
        r.push(c.len());
        Ok(())
    }));
    let mut em = em.unwrap();
    em.write(&[0; 25]).unwrap();
    drop(em);
    assert_eq!(rec.get().iter().sum::<usize>(), 25);
}
