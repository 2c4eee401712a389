//! A callback that errors or panics loses no buffered samples and does not corrupt the next chunk.

use dpc_ocycle::{BoxError, CallbackError, Chunk, Consumer, Emitter, FanOut};

use crate::support::{Got, Rec, assert_faithful, ramp, write_frames};

/// Fails chunk 1, panics on chunk 2, records the others.
fn flaky(rec: &Rec<Got<i32>>) -> impl Fn(&Chunk<'_, i32>) -> Result<u64, BoxError> + Send + Sync + 'static {
    let r = rec.clone();
    move |c| match c.seq() {
        1 => Err(format!("bad chunk at {}", c.start()).into()),
        2 => panic!("boom at {}", c.start()),
        _ => {
            r.push(Got::of(c));
            Ok(c.seq())
        }
    }
}

fn check(mut em: Emitter<i32>, rec: &Rec<Got<i32>>, results: &Rec<(u64, Result<u64, String>)>) {
    let stream = ramp(100);
    // Frames of 13 leave samples buffered past the failing chunks' ends.
    write_frames(|f| em.write(f).unwrap(), &stream, &[13]);
    em.close().unwrap();
    let mut got = rec.get();
    got.sort_by_key(|g| g.seq); // threaded callbacks may run in any order
    assert_eq!(got.iter().map(|g| g.seq).collect::<Vec<_>>(), vec![0, 3, 4, 5, 6, 7, 8, 9]);
    assert_faithful(&got, &stream, 0);
    let results = results.get();
    assert_eq!(results.len(), 10);
    assert_eq!(results[1], (1, Err("callback failed: bad chunk at 10".to_string())));
    assert_eq!(results[2], (2, Err("callback panicked: boom at 20".to_string())));
    assert_eq!(results[3], (3, Ok(3)));
    let st = &em.stats().consumers[0];
    assert_eq!((st.callback_errors, st.callback_panics, st.chunks_failed, st.chunks_completed), (1, 1, 2, 8));
}

fn recorder(results: &Rec<(u64, Result<u64, String>)>) -> impl FnMut(dpc_ocycle::Done<u64>) + Send + 'static {
    let r = results.clone();
    move |d| r.push((d.seq, d.result.map_err(|e| e.to_string())))
}

#[test]
fn serial_callback_errors_and_panics_are_contained() {
    let rec = Rec::new();
    let results = Rec::new();
    let em = Emitter::new(Consumer::serial(10, flaky(&rec)).clip(true).on_done(recorder(&results))).unwrap();
    check(em, &rec, &results);
}

#[test]
fn threaded_callback_errors_and_panics_are_contained() {
    let rec = Rec::new();
    let results = Rec::new();
    let em = Emitter::new(Consumer::threads(10, 2, flaky(&rec)).clip(true).on_done(recorder(&results))).unwrap();
    check(em, &rec, &results);
}

#[test]
fn without_on_done_failures_are_kept_for_take_errors() {
    let rec = Rec::new();
    let mut fan = FanOut::builder()
        .consumer(Consumer::serial(10, |_: &Chunk<'_, i32>| Ok(())))
        .consumer(Consumer::threads(10, 1, flaky(&rec)).clip(true))
        .build()
        .unwrap();
    fan.write(&ramp(45)).unwrap();
    fan.flush().unwrap();
    let errors = fan.take_errors();
    assert_eq!(errors.len(), 2);
    assert_eq!((errors[0].consumer, errors[0].seq, errors[0].start), (1, 1, 10));
    assert!(matches!(errors[0].error, CallbackError::Failed(_)));
    assert!(matches!(&errors[1].error, CallbackError::Panicked(m) if m == "boom at 20"));
    assert!(fan.take_errors().is_empty());
}

#[test]
fn a_panicking_on_done_propagates_but_never_duplicates_a_chunk() {
    let seen = Rec::new();
    let s = seen.clone();
    let mut em = Emitter::new(Consumer::serial(4, |c: &Chunk<'_, i32>| Ok(c.start())).clip(true).on_done(move |d| {
        s.push(d.seq);
        assert_ne!(d.seq, 1, "on_done fails on chunk 1");
    }))
    .unwrap();
    let stream = ramp(16);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| em.write(&stream[..8])));
    assert!(r.is_err(), "the panic reaches the writer");
    em.write(&stream[8..]).unwrap();
    em.close().unwrap();
    assert_eq!(seen.get(), vec![0, 1, 2, 3]);
    assert_eq!(em.stats().consumers[0].chunks_cut, 4);
}
