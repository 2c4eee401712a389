//! The property: each consumer's chunks are the written stream, cut as configured, minus exactly the counted gaps,
//! however many consumers share the stream buffer and however small it is.

use dpc_ocycle::{Consumer, ConsumerStats, FanOut, Flush, Policy, SampleRate, Sampler};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::support::{Got, Rec, assert_faithful, ramp, write_frames};

#[derive(Debug, Clone)]
struct ConsumerCase {
    size: usize,
    clip: bool,
    hop: usize,
    skip: u64,
    flush: u8,
    /// `None`: serial; otherwise threaded with this policy (drop policies run with 1 worker and no queue, so they drop).
    threaded: Option<Policy>,
}

#[derive(Debug, Clone)]
struct Case {
    frames: Vec<usize>,
    total: usize,
    consumers: Vec<ConsumerCase>,
    /// Stream buffer capacity beyond the largest chunk size (`None`: the default, twice it); small values compact often.
    capacity_extra: Option<usize>,
}

fn consumer_cases() -> impl Strategy<Value = ConsumerCase> {
    (
        1usize..150,
        any::<bool>(),
        prop::option::of(1usize..200),
        prop::option::of(0u64..40),
        0u8..3,
        prop::option::weighted(0.4, prop::sample::select(vec![Policy::Block, Policy::DropNewest, Policy::DropOldest])),
    )
        .prop_map(|(size, clip, hop, skip, flush, threaded)| ConsumerCase {
            size,
            clip,
            hop: if clip { hop.unwrap_or(size) } else { size },
            skip: skip.unwrap_or(0),
            flush,
            threaded,
        })
}

fn cases() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1usize..300, 1..8),
        0usize..3000,
        prop::collection::vec(consumer_cases(), 1..4),
        prop::option::of(0usize..64),
    )
        .prop_map(|(frames, total, consumers, capacity_extra)| Case { frames, total, consumers, capacity_extra })
}

const RATE: SampleRate = SampleRate::hz(48_000);

fn run(case: &Case) -> Vec<(Vec<Got<i32>>, ConsumerStats)> {
    let recs: Vec<Rec<Got<i32>>> = case.consumers.iter().map(|_| Rec::new()).collect();
    let mut b = FanOut::builder().rate(RATE);
    for (cc, rec) in case.consumers.iter().zip(&recs) {
        let r = rec.clone();
        let record = move |c: &dpc_ocycle::Chunk<'_, i32>| {
            r.push(Got::of(c));
            Ok(())
        };
        let consumer = match cc.threaded {
            None => Consumer::serial(cc.size, record),
            Some(Policy::Block) => Consumer::threads(cc.size, 2, record),
            Some(policy) => Consumer::threads(cc.size, 1, record).queue(0).policy(policy),
        };
        let flush = [Flush::Short, Flush::Pad(-1), Flush::Drop][cc.flush as usize];
        b = b.consumer(consumer.clip(cc.clip).hop(cc.hop).flush(flush).sampler(Sampler::samples(cc.skip)));
    }
    if let Some(extra) = case.capacity_extra {
        b = b.capacity(case.consumers.iter().map(|c| c.size).max().unwrap() + extra);
    }
    let mut fan = b.build().unwrap();
    write_frames(|f| fan.write(f).unwrap(), &ramp(case.total), &case.frames);
    fan.close().unwrap();
    let stats = fan.stats().consumers;
    recs.iter()
        .zip(stats)
        .map(|(rec, st)| {
            let mut got = rec.get();
            got.sort_by_key(|g| g.seq);
            (got, st)
        })
        .collect()
}

fn check(cc: &ConsumerCase, total: usize, got: &[Got<i32>], st: &ConsumerStats) -> Result<(), TestCaseError> {
    assert_faithful(got, &ramp(total), -1);
    if cc.threaded.is_none() || cc.threaded == Some(Policy::Block) {
        prop_assert_eq!(st.chunks_dropped, 0);
    }
    prop_assert_eq!(st.chunks_cut, got.len() as u64 + st.chunks_dropped);
    prop_assert_eq!(st.chunks_completed, got.len() as u64);
    let is_flush = |i: usize, g: &Got<i32>| {
        i + 1 == got.len() && g.end() as usize == total && (g.padded > 0 || g.data.len() < cc.size)
    };
    let mut covered = vec![false; total];
    for (i, g) in got.iter().enumerate() {
        if i > 0 {
            prop_assert!(g.seq > got[i - 1].seq);
        }
        let len = g.data.len();
        // Shape: exact or at least `size`, except the chunk a flush emitted.
        if !is_flush(i, g) {
            prop_assert_eq!(g.padded, 0);
            if cc.clip {
                prop_assert_eq!(len, cc.size);
            } else {
                prop_assert!(len >= cc.size);
            }
        } else if g.padded > 0 {
            prop_assert_eq!(len, cc.size);
        }
        // Spacing: the hop or the whole chunk, pushed past any sampler pause.
        if let Some(next) = got.get(i + 1).filter(|n| n.seq == g.seq + 1) {
            let step = if cc.clip { g.start + cc.hop as u64 } else { g.end() };
            let want = if cc.skip > 0 { step.max(g.end() + cc.skip) } else { step };
            if !is_flush(i + 1, next) {
                prop_assert_eq!(next.start, want, "after chunk {}", i);
            } else {
                prop_assert!(next.start >= want.min(total as u64));
            }
        }
        // Time: from the sample count, exactly.
        prop_assert_eq!(g.time, RATE.duration_of(g.start));
        prop_assert_eq!(g.end_time, RATE.duration_of(g.start + len as u64));
        prop_assert!(!g.disc);
        for c in &mut covered[g.start as usize..g.end() as usize] {
            *c = true;
        }
    }
    let uncovered = covered.iter().filter(|c| !**c).count() as u64;
    let counted = st.samples_skipped + st.samples_discarded + st.samples_dropped;
    if cc.hop >= cc.size || st.chunks_dropped == 0 {
        prop_assert_eq!(uncovered, counted, "{:?}", st);
    } else {
        // Overlapping windows: a dropped window's samples may also be in a delivered one.
        prop_assert!(uncovered <= counted, "{:?}", st);
    }
    if cc.hop <= cc.size && cc.skip == 0 && cc.flush != 2 && st.chunks_dropped == 0 {
        prop_assert_eq!(uncovered, 0);
    }
    Ok(())
}

proptest! {
    // 160 cases keep the test under a second; PROPTEST_CASES=5000 runs a deeper search.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(160),
        ..ProptestConfig::default()
    })]

    #[test]
    fn chunks_are_the_stream_minus_counted_gaps(case in cases()) {
        for (i, (cc, (got, st))) in case.consumers.iter().zip(run(&case)).enumerate() {
            check(cc, case.total, &got, &st).map_err(|e| TestCaseError::fail(format!("consumer {i}: {e}")))?;
        }
    }
}
