//! Timestamps: drift-free times from sample counts, anchoring and discontinuities.

use std::time::Duration;

use dpc_ocycle::{Consumer, Emitter, SampleRate};

use crate::support::{Got, Rec, ramp};

fn emitter(rate: SampleRate, size: usize, tolerance: Duration, rec: &Rec<Got<i32>>) -> Emitter<i32> {
    let r = rec.clone();
    Emitter::builder(
        Consumer::serial(size, move |c| {
            r.push(Got::of(c));
            Ok(())
        })
        .clip(true),
    )
    .rate(rate)
    .tolerance(tolerance)
    .build()
    .unwrap()
}

#[test]
fn times_come_from_sample_counts_and_durations_sum_exactly() {
    for rate in [SampleRate::hz(48_000), SampleRate::ratio(30_000, 1_001), SampleRate::hz(7)] {
        let rec = Rec::new();
        let mut em = emitter(rate, 7, Duration::ZERO, &rec);
        for frame in ramp(70_001).chunks(480) {
            em.write(frame).unwrap();
        }
        let got = rec.get();
        assert_eq!(got.len(), 10_000);
        let mut total = Duration::ZERO;
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.time, rate.duration_of(g.start), "{rate:?} chunk {i}");
            if let Some(next) = got.get(i + 1) {
                assert_eq!(g.end_time, next.time, "{rate:?}: chunks tile time");
            }
            total += g.end_time - g.time;
        }
        assert_eq!(total, rate.duration_of(70_000), "{rate:?}: no drift");
    }
    // 10 000 NTSC frames last exactly 10 000 * 1001 / 30 ms.
    assert_eq!(SampleRate::ratio(30_000, 1_001).duration_of(10_000), Duration::from_nanos(333_666_666_666));
}

#[test]
fn timestamps_anchor_and_jumps_reanchor_with_a_flag() {
    let ms = Duration::from_millis;
    let rec = Rec::new();
    let mut em = emitter(SampleRate::hz(1000), 100, ms(5), &rec);
    em.write_at(&ramp(50), ms(10_000)).unwrap(); // the first timestamp sets the timeline
    em.write_at(&ramp(50), ms(10_053)).unwrap(); // 3 ms of jitter: ignored
    em.write_at(&ramp(100), ms(20_000)).unwrap(); // a jump at a chunk boundary
    em.write_at(&ramp(50), ms(30_000)).unwrap(); // a jump at a chunk boundary again
    em.write(&ramp(50)).unwrap();
    em.write(&ramp(50)).unwrap();
    em.write_at(&ramp(150), ms(100_000)).unwrap(); // a jump in the middle of chunk 300..400
    let got = rec.get();
    let summary: Vec<(u64, Duration, Duration, bool)> =
        got.iter().map(|g| (g.start, g.time, g.end_time, g.disc)).collect();
    assert_eq!(
        summary,
        vec![
            (0, ms(10_000), ms(10_100), false),
            (100, ms(20_000), ms(20_100), true),
            (200, ms(30_000), ms(30_100), true),
            (300, ms(30_100), ms(30_200), true), // still on the old anchor, but it spans the jump
            (400, ms(100_050), ms(100_150), true), // its time does not continue the previous chunk's
        ]
    );
    assert_eq!(em.stats().discontinuities, 3);
}

#[test]
fn a_jump_during_a_sampler_pause_flags_the_next_chunk() {
    let rec = Rec::new();
    let r = rec.clone();
    let mut em = Emitter::builder(
        Consumer::serial(10, move |c| {
            r.push(Got::of(c));
            Ok(())
        })
        .clip(true)
        .sampler(dpc_ocycle::Sampler::samples(10)),
    )
    .tolerance(Duration::ZERO)
    .build()
    .unwrap();
    em.write_at(&ramp(15), Duration::ZERO).unwrap();
    em.write_at(&ramp(15), Duration::from_secs(1000)).unwrap(); // jumps at 15, inside the pause 10..20
    em.write(&ramp(10)).unwrap();
    let got = rec.get();
    assert_eq!(got.iter().map(|g| (g.start, g.disc)).collect::<Vec<_>>(), vec![(0, false), (20, true)]);
    assert_eq!(got[1].time, Duration::from_secs(1005));
}

#[test]
fn a_first_timestamp_after_untimed_writes_is_not_a_jump() {
    let rec = Rec::new();
    let mut em = emitter(SampleRate::hz(10), 5, Duration::ZERO, &rec);
    em.write(&ramp(3)).unwrap();
    em.write_at(&ramp(7), Duration::from_secs(50)).unwrap();
    let got = rec.get();
    assert_eq!(
        got.iter().map(|g| (g.time, g.disc)).collect::<Vec<_>>(),
        vec![(Duration::ZERO, false), (Duration::from_millis(50_200), false)]
    );
    assert_eq!(em.stats().discontinuities, 0);
}

mod model {
    //! Random timestamps (none, jitter within the tolerance, jumps beyond it) against a model of the clock.

    use std::time::Duration;

    use dpc_ocycle::{Consumer, Emitter, SampleRate};
    use proptest::prelude::*;

    use crate::support::{Got, Rec, ramp};

    const RATE: SampleRate = SampleRate::ratio(44_100, 1);
    const TOL: Duration = Duration::from_millis(5);

    /// What a write's timestamp is, relative to where the clock expects it.
    #[derive(Debug, Clone)]
    enum Stamp {
        None,
        Jitter(i64),
        Jump(i64),
    }

    fn stamps() -> impl Strategy<Value = Stamp> {
        prop_oneof![
            3 => Just(Stamp::None),
            3 => (-4_999_999i64..=4_999_999).prop_map(Stamp::Jitter),
            1 => prop_oneof![5_000_001i64..10_000_000_000, -10_000_000_000i64..-5_000_001].prop_map(Stamp::Jump),
        ]
    }

    fn shift(t: Duration, ns: i64) -> Duration {
        if ns >= 0 { t + Duration::from_nanos(ns as u64) } else { t - Duration::from_nanos(ns.unsigned_abs()) }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
            ..ProptestConfig::default()
        })]

        #[test]
        fn chunk_times_follow_the_last_anchor(
            writes in prop::collection::vec((1usize..400, stamps()), 1..60),
            size in 1usize..300,
            hop in 1usize..300,
        ) {
            let rec = Rec::new();
            let r = rec.clone();
            let mut em = Emitter::builder(
                Consumer::serial(size, move |c| {
                    r.push(Got::of(c));
                    Ok(())
                })
                .clip(true)
                .hop(hop),
            )
            .rate(RATE)
            .tolerance(TOL)
            .build()
            .unwrap();
            // The model: anchors (index, time, jump), the first one at the first timestamp.
            let mut anchors: Vec<(u64, Duration, bool)> = Vec::new();
            let anchor_for = |anchors: &[(u64, Duration, bool)], i: u64| {
                anchors.iter().rev().find(|a| a.0 <= i).map_or((0, Duration::ZERO), |a| (a.0, a.1))
            };
            let mut written = 0u64;
            let mut jump_events = 0u64;
            let base = Duration::from_secs(100);
            for (n, stamp) in &writes {
                let (ai, at) = anchor_for(&anchors, written);
                let expected = at + RATE.duration_of(written - ai);
                let expected = if anchors.is_empty() { base } else { expected };
                let t = match stamp {
                    Stamp::None => None,
                    Stamp::Jitter(ns) => Some(shift(expected, *ns)),
                    Stamp::Jump(ns) => Some(shift(expected, *ns)),
                };
                match t {
                    None => em.write(&ramp(*n)).unwrap(),
                    Some(t) => {
                        if anchors.is_empty() {
                            anchors.push((written, t, false));
                        } else if t.abs_diff(expected) > TOL {
                            jump_events += 1;
                            anchors.retain(|a| a.0 != written);
                            anchors.push((written, t, true));
                        }
                        em.write_at(&ramp(*n), t).unwrap();
                    }
                }
                written += *n as u64;
            }
            let got = rec.get();
            let mut prev_start: Option<u64> = None;
            for g in &got {
                let (ai, at) = anchor_for(&anchors, g.start);
                prop_assert_eq!(g.time, at + RATE.duration_of(g.start - ai), "chunk {}", g.seq);
                prop_assert_eq!(g.end_time, at + RATE.duration_of(g.start + size as u64 - ai));
                let from = prev_start.map_or(0, |p| p + 1);
                let jump = anchors.iter().any(|a| a.2 && a.0 >= from && a.0 < g.end());
                prop_assert_eq!(g.disc, jump, "chunk {} at {}", g.seq, g.start);
                prev_start = Some(g.start);
            }
            prop_assert_eq!(em.stats().discontinuities, jump_events);
        }
    }
}
