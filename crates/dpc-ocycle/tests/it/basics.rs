//! Chunk shapes, fan-out and configuration errors.

use dpc_ocycle::{BuildError, Consumer, Emitter, Error, FanOut, Sampler};

use crate::support::{Got, Rec, assert_faithful, ramp, write_frames};

fn serial_emitter(size: usize, clip: bool, rec: &Rec<Got<i32>>) -> Emitter<i32> {
    let r = rec.clone();
    Emitter::new(
        Consumer::serial(size, move |c| {
            r.push(Got::of(c));
            Ok(())
        })
        .clip(clip),
    )
    .unwrap()
}

fn starts_and_lens(got: &[Got<i32>]) -> Vec<(u64, usize)> {
    got.iter().map(|g| (g.start, g.data.len())).collect()
}

#[test]
fn clip_cuts_exact_chunks_and_a_big_write_emits_all_of_them_in_order() {
    let rec = Rec::new();
    let mut em = serial_emitter(4, true, &rec);
    let stream = ramp(23);
    em.write(&stream[..3]).unwrap();
    assert!(rec.get().is_empty());
    em.write(&stream[3..23]).unwrap(); // spans 5 chunks at once
    let got = rec.get();
    assert_eq!(starts_and_lens(&got), vec![(0, 4), (4, 4), (8, 4), (12, 4), (16, 4)]);
    assert_eq!(got.iter().map(|g| g.seq).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assert_faithful(&got, &stream, 0);
}

#[test]
fn whole_mode_emits_the_whole_buffer_once_it_holds_size() {
    let rec = Rec::new();
    let mut em = serial_emitter(4, false, &rec);
    let stream = ramp(20);
    write_frames(|f| em.write(f).unwrap(), &stream, &[3]);
    // Buffered after each write: 3, 6 -> emit 6; 3, 6 -> emit 6; 3, 6 -> emit; 2 left.
    let got = rec.get();
    assert_eq!(starts_and_lens(&got), vec![(0, 6), (6, 6), (12, 6)]);
    assert_faithful(&got, &stream, 0);
}

#[test]
fn hop_smaller_than_size_overlaps_and_larger_subsamples() {
    for (hop, want) in [(2usize, vec![(0u64, 4usize), (2, 4), (4, 4), (6, 4)]), (6, vec![(0, 4), (6, 4)])] {
        let rec = Rec::new();
        let r = rec.clone();
        let mut em = Emitter::new(
            Consumer::serial(4, move |c| {
                r.push(Got::of(c));
                Ok(())
            })
            .clip(true)
            .hop(hop),
        )
        .unwrap();
        let stream = ramp(11);
        write_frames(|f| em.write(f).unwrap(), &stream, &[1, 2, 5]);
        let got = rec.get();
        assert_eq!(starts_and_lens(&got), want, "hop {hop}");
        assert_faithful(&got, &stream, 0);
        let skipped = em.stats().consumers[0].samples_skipped;
        assert_eq!(skipped, if hop == 6 { 2 + 1 } else { 0 }, "hop {hop}: gap 4..6 and the written part of 10..12");
    }
}

#[test]
fn fan_out_feeds_consumers_of_different_sizes_from_one_write() {
    let recs: Vec<Rec<Got<i32>>> = (0..3).map(|_| Rec::new()).collect();
    let mut b = FanOut::builder();
    for (size, rec) in [5usize, 20, 100].into_iter().zip(&recs) {
        let r = rec.clone();
        b = b.consumer(
            Consumer::serial(size, move |c| {
                r.push(Got::of(c));
                Ok(())
            })
            .clip(true),
        );
    }
    let mut fan = b.build().unwrap();
    let stream = ramp(1000);
    write_frames(|f| fan.write(f).unwrap(), &stream, &[7, 480, 1, 33]);
    for (rec, size) in recs.iter().zip([5usize, 20, 100]) {
        let got = rec.get();
        assert_eq!(got.len(), 1000 / size);
        assert!(got.iter().enumerate().all(|(i, g)| g.start == (i * size) as u64 && g.data.len() == size));
        assert_faithful(&got, &stream, 0);
    }
    assert_eq!(fan.stats().samples_written, 1000);
}

#[test]
fn writes_larger_than_the_stream_buffer_are_cut_in_pieces() {
    let rec = Rec::new();
    let r = rec.clone();
    let mut em = Emitter::builder(
        Consumer::serial(3, move |c| {
            r.push(Got::of(c));
            Ok(())
        })
        .clip(true),
    )
    .capacity(3)
    .build()
    .unwrap();
    let stream = ramp(100);
    em.write(&stream).unwrap();
    let got = rec.get();
    assert_eq!(got.len(), 33);
    assert_faithful(&got, &stream, 0);
}

#[test]
fn sampler_pauses_are_skipped_and_counted() {
    let rec = Rec::new();
    let r = rec.clone();
    let mut em = Emitter::new(
        Consumer::serial(4, move |c| {
            r.push(Got::of(c));
            Ok(())
        })
        .clip(true)
        .sampler(Sampler::samples(3)),
    )
    .unwrap();
    let stream = ramp(30);
    write_frames(|f| em.write(f).unwrap(), &stream, &[5]);
    let got = rec.get();
    // Chunks at 0, 7, 14, 21; pauses 4..7, 11..14, 18..21, 25..28; 28..30 buffered.
    assert_eq!(starts_and_lens(&got), vec![(0, 4), (7, 4), (14, 4), (21, 4)]);
    assert_faithful(&got, &stream, 0);
    assert_eq!(em.stats().consumers[0].samples_skipped, 12);
}

#[test]
fn seeded_random_sampler_is_reproducible() {
    let run = |seed| {
        let rec = Rec::new();
        let r = rec.clone();
        let mut em = Emitter::builder(
            Consumer::serial(10, move |c| {
                r.push(c.start());
                Ok(())
            })
            .clip(true)
            .sampler(Sampler::uniform(
                std::time::Duration::ZERO,
                std::time::Duration::from_millis(20),
                seed,
            )),
        )
        .rate(dpc_ocycle::SampleRate::hz(1000))
        .build()
        .unwrap();
        em.write(&ramp(2000)).unwrap();
        rec.get()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn callable_sampler_is_called_after_each_emit() {
    let rec = Rec::new();
    let r = rec.clone();
    let mut pauses = [1u64, 0, 5].into_iter().cycle();
    let mut em = Emitter::new(
        Consumer::serial(2, move |c| {
            r.push(c.start());
            Ok(())
        })
        .clip(true)
        .sampler(Sampler::with(move || std::time::Duration::from_secs(pauses.next().unwrap()))),
    )
    .unwrap();
    em.write(&ramp(20)).unwrap();
    // Rate 1 Hz: a pause of n seconds skips n samples. 0..2 +1 -> 3..5 +0 -> 5..7 +5 -> 12..14 +1 -> 15..17 -> 17..19
    assert_eq!(rec.get(), vec![0, 3, 5, 12, 15, 17]);
}

#[test]
fn invalid_configurations_are_rejected_at_build() {
    let ok = |_: &dpc_ocycle::Chunk<'_, f32>| Ok(());
    let check = |b: Result<FanOut<f32>, BuildError>, want: &str| {
        let e = b.expect_err("build must fail");
        assert_eq!(format!("{e:?}").split([' ', '{', '(']).next().unwrap(), want, "{e}");
    };
    check(FanOut::builder().build(), "NoConsumers");
    check(FanOut::builder().consumer(Consumer::serial(0, ok)).build(), "ZeroSize");
    check(FanOut::builder().consumer(Consumer::serial(4, ok).clip(true).hop(0)).build(), "ZeroHop");
    check(FanOut::builder().consumer(Consumer::serial(4, ok).hop(2)).build(), "HopWithoutClip");
    check(FanOut::builder().consumer(Consumer::threads(4, 0, ok)).build(), "ZeroWorkers");
    check(
        FanOut::builder().rate(dpc_ocycle::SampleRate::ratio(48_000, 0)).consumer(Consumer::serial(4, ok)).build(),
        "InvalidRate",
    );
    check(FanOut::builder().capacity(3).consumer(Consumer::serial(4, ok)).build(), "BufferTooSmall");
    let d = std::time::Duration::from_millis;
    check(
        FanOut::builder().consumer(Consumer::serial(4, ok).sampler(Sampler::uniform(d(5), d(1), 0))).build(),
        "InvalidSampler",
    );
    check(
        FanOut::builder()
            .consumer(Consumer::process(4, std::process::Command::new("/nonexistent/ocycle-test-binary")))
            .build(),
        "Spawn",
    );
    // The error names the consumer at fault.
    let e = FanOut::builder().consumer(Consumer::serial(4, ok)).consumer(Consumer::serial(0, ok)).build().unwrap_err();
    assert!(matches!(e, BuildError::ZeroSize { consumer: 1 }), "{e}");
}

#[test]
fn sizes_the_machine_cannot_hold_are_build_errors_not_aborts() {
    // `1 << 40` f32 samples (a default buffer of 8 TiB) aborted in `build`, and `usize::MAX` panicked on capacity
    // overflow. Hosts that overcommit memory can map 8 TiB, so the sizes below are ones no host can map:
    // more bytes than `isize::MAX` (the capacity overflow), and 1 PiB (more than a 48-bit address space).
    let ok = |_: &dpc_ocycle::Chunk<'_, u64>| Ok(());
    for (size, capacity) in [(usize::MAX, None), (1 << 46, None), (4, Some(usize::MAX)), (4, Some(1 << 47))] {
        let mut b = FanOut::builder().consumer(Consumer::serial(size, ok));
        if let Some(c) = capacity {
            b = b.capacity(c);
        }
        let e = b.build().expect_err("build must fail");
        let want = capacity.unwrap_or_else(|| size.saturating_mul(2));
        assert!(
            matches!(e, BuildError::BufferAlloc { capacity, sample_bytes: 8 } if capacity == want),
            "{size} {capacity:?}: {e}"
        );
    }
    // A pool bounds its threads and channel slots: more than `MAX_POOL` is refused before anything starts.
    let e = FanOut::builder().consumer(Consumer::threads(4, usize::MAX, ok)).build().unwrap_err();
    assert!(matches!(e, BuildError::PoolTooLarge { consumer: 0, workers: usize::MAX, queue: 2 }), "{e}");
    let e = FanOut::builder().consumer(Consumer::threads(4, 1, ok).queue(usize::MAX)).build().unwrap_err();
    assert!(matches!(e, BuildError::PoolTooLarge { consumer: 0, workers: 1, .. }), "{e}");
    let e =
        FanOut::builder().consumer(Consumer::threads(4, 2, ok).queue(dpc_ocycle::MAX_POOL - 1)).build().unwrap_err();
    assert!(matches!(e, BuildError::PoolTooLarge { .. }), "{e}");
    // Just below every limit, it builds and works.
    let mut fan =
        FanOut::builder().consumer(Consumer::threads(4, 1, ok).queue(dpc_ocycle::MAX_POOL - 1)).build().unwrap();
    fan.write(&[1, 2, 3, 4]).unwrap();
    fan.close().unwrap();
    assert_eq!(fan.stats().consumers[0].chunks_completed, 1);
}

#[test]
fn close_is_idempotent_and_writes_after_close_fail() {
    let rec = Rec::new();
    let mut em = serial_emitter(4, true, &rec);
    em.write(&ramp(6)).unwrap();
    em.close().unwrap();
    em.close().unwrap();
    assert!(em.is_closed());
    assert!(matches!(em.write(&[1]), Err(Error::Closed)));
    assert!(matches!(em.write_at(&[1], std::time::Duration::ZERO), Err(Error::Closed)));
    assert!(matches!(em.flush(), Err(Error::Closed)));
    // Close flushed the 2 remaining samples as a short chunk, once.
    assert_eq!(starts_and_lens(&rec.get()), vec![(0, 4), (4, 2)]);
}

#[test]
fn bytes_and_i16_and_f32_streams_work_alike() {
    fn check<T: dpc_ocycle::Sample + From<u8>>() {
        let rec: Rec<Vec<T>> = Rec::new();
        let r = rec.clone();
        let mut em = Emitter::new(
            Consumer::serial(3, move |c: &dpc_ocycle::Chunk<'_, T>| {
                r.push(c.to_vec());
                Ok(())
            })
            .clip(true),
        )
        .unwrap();
        let stream: Vec<T> = (0..7u8).map(T::from).collect();
        em.write(&stream).unwrap();
        em.close().unwrap();
        assert_eq!(rec.get(), vec![stream[0..3].to_vec(), stream[3..6].to_vec(), stream[6..7].to_vec()]);
    }
    check::<u8>();
    check::<i16>();
    check::<f32>();
}
