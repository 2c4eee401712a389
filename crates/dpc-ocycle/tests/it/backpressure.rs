//! Each backpressure policy under a consumer that is held still until the test lets it go.

use std::thread;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use dpc_ocycle::{Consumer, Emitter, Policy};

use crate::support::Rec;

/// A 1-worker consumer of 1-sample chunks whose callback announces each chunk and then waits for permission.
fn gated(policy: Policy, queue: usize) -> (Emitter<i32>, Receiver<i32>, Sender<()>, Rec<i32>) {
    let (started_tx, started_rx) = unbounded::<i32>();
    let (go_tx, go_rx) = unbounded::<()>();
    let done = Rec::new();
    let d = done.clone();
    let em = Emitter::new(
        Consumer::threads(1, 1, move |c| {
            started_tx.send(c[0]).unwrap();
            go_rx.recv().unwrap();
            Ok(c[0])
        })
        .clip(true)
        .queue(queue)
        .policy(policy)
        .on_done(move |r| d.push(r.result.unwrap())),
    )
    .unwrap();
    (em, started_rx, go_tx, done)
}

#[test]
fn block_is_lossless_and_waits_for_the_consumer() {
    let (mut em, started, go, done) = gated(Policy::Block, 1);
    let writer = thread::spawn(move || {
        for i in 0..10 {
            em.write(&[i]).unwrap();
        }
        em.close().unwrap();
        em
    });
    for i in 0..10 {
        assert_eq!(started.recv().unwrap(), i, "chunks reach the worker in order");
        go.send(()).unwrap();
    }
    let em = writer.join().unwrap();
    assert_eq!(done.get(), (0..10).collect::<Vec<_>>());
    let st = &em.stats().consumers[0];
    assert_eq!((st.chunks_cut, st.chunks_completed, st.chunks_dropped), (10, 10, 0));
}

#[test]
fn drop_newest_discards_what_does_not_fit() {
    let (mut em, started, go, done) = gated(Policy::DropNewest, 1);
    em.write(&[0]).unwrap();
    assert_eq!(started.recv().unwrap(), 0); // the worker holds chunk 0
    em.write(&[1]).unwrap(); // queued
    for i in 2..10 {
        em.write(&[i]).unwrap(); // no free buffer: dropped
    }
    for _ in 0..2 {
        go.send(()).unwrap();
    }
    em.close().unwrap();
    assert_eq!(done.get(), vec![0, 1]);
    let st = &em.stats().consumers[0];
    assert_eq!((st.chunks_cut, st.chunks_completed, st.chunks_dropped, st.samples_dropped), (10, 2, 8, 8));
}

#[test]
fn drop_oldest_replaces_the_waiting_chunk() {
    let (mut em, started, go, done) = gated(Policy::DropOldest, 1);
    em.write(&[0]).unwrap();
    assert_eq!(started.recv().unwrap(), 0);
    for i in 1..10 {
        em.write(&[i]).unwrap(); // each replaces the one waiting
    }
    for _ in 0..2 {
        go.send(()).unwrap();
    }
    em.close().unwrap();
    assert_eq!(done.get(), vec![0, 9]);
    let st = &em.stats().consumers[0];
    assert_eq!((st.chunks_cut, st.chunks_completed, st.chunks_dropped, st.samples_dropped), (10, 2, 8, 8));
}

#[test]
fn drop_oldest_with_nothing_waiting_drops_the_new_chunk() {
    let (mut em, started, go, done) = gated(Policy::DropOldest, 0);
    em.write(&[0]).unwrap();
    assert_eq!(started.recv().unwrap(), 0);
    em.write(&[1]).unwrap();
    go.send(()).unwrap();
    em.close().unwrap();
    assert_eq!(done.get(), vec![0]);
    assert_eq!(em.stats().consumers[0].chunks_dropped, 1);
}

#[test]
fn memory_stays_bounded_under_a_stalled_consumer() {
    // A stalled consumer with drop policies never makes the emitter hold more than its pool.
    for policy in [Policy::DropNewest, Policy::DropOldest] {
        let (tx, rx) = bounded::<()>(0);
        let mut em = Emitter::new(
            Consumer::threads(100, 2, move |_: &dpc_ocycle::Chunk<'_, u8>| {
                let _ = rx.recv();
                Ok(())
            })
            .clip(true)
            .queue(3)
            .policy(policy),
        )
        .unwrap();
        for _ in 0..1000 {
            em.write(&[0; 100]).unwrap();
        }
        drop(tx); // releases the workers
        em.close().unwrap();
        let st = &em.stats().consumers[0];
        assert_eq!(st.chunks_cut, 1000);
        assert_eq!(st.chunks_completed + st.chunks_dropped, 1000);
        assert!((1..=5).contains(&st.chunks_completed), "{policy:?}: {st:?}");
    }
}
