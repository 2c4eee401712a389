//! The property: chunks are the written stream, cut as configured, minus exactly the counted gaps.

use dpc_ocycle::{Consumer, Emitter, Flush, Policy, SampleRate, Sampler};
use proptest::prelude::*;

use crate::support::{Got, Rec, assert_faithful, ramp, write_frames};

#[derive(Debug, Clone)]
struct Case {
    frames: Vec<usize>,
    total: usize,
    size: usize,
    clip: bool,
    hop: usize,
    skip: u64,
    flush: u8,
    /// `None`: serial; otherwise threaded with this policy (drop policies run with 1 worker and no queue, so they drop).
    threaded: Option<Policy>,
    /// Stream buffer capacity beyond the chunk size (`None`: the default, twice the size); small values compact often.
    capacity_extra: Option<usize>,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1usize..300, 1..8),
        0usize..3000,
        1usize..150,
        any::<bool>(),
        prop::option::of(1usize..200),
        prop::option::of(0u64..40),
        0u8..3,
        prop::option::weighted(0.4, prop::sample::select(vec![Policy::Block, Policy::DropNewest, Policy::DropOldest])),
        prop::option::of(0usize..64),
    )
        .prop_map(|(frames, total, size, clip, hop, skip, flush, threaded, capacity_extra)| Case {
            frames,
            total,
            size,
            clip,
            hop: if clip { hop.unwrap_or(size) } else { size },
            skip: skip.unwrap_or(0),
            flush,
            threaded,
            capacity_extra,
        })
}

const RATE: SampleRate = SampleRate::hz(48_000);

fn run(case: &Case) -> (Vec<Got<i32>>, dpc_ocycle::ConsumerStats) {
    let rec = Rec::new();
    let r = rec.clone();
    let record = move |c: &dpc_ocycle::Chunk<'_, i32>| {
        r.push(Got::of(c));
        Ok(())
    };
    let consumer = match case.threaded {
        None => Consumer::serial(case.size, record),
        Some(Policy::Block) => Consumer::threads(case.size, 2, record),
        Some(policy) => Consumer::threads(case.size, 1, record).queue(0).policy(policy),
    };
    let flush = [Flush::Short, Flush::Pad(-1), Flush::Drop][case.flush as usize];
    let consumer = consumer.clip(case.clip).hop(case.hop).flush(flush).sampler(Sampler::samples(case.skip));
    let mut b = Emitter::builder(consumer).rate(RATE);
    if let Some(extra) = case.capacity_extra {
        b = b.capacity(case.size + extra);
    }
    let mut em = b.build().unwrap();
    write_frames(|f| em.write(f).unwrap(), &ramp(case.total), &case.frames);
    em.close().unwrap();
    let mut got = rec.get();
    got.sort_by_key(|g| g.seq);
    (got, em.stats().consumers[0].clone())
}

proptest! {
    // 160 cases keep the test under a second; PROPTEST_CASES=5000 runs a deeper search.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(160),
        ..ProptestConfig::default()
    })]

    #[test]
    fn chunks_are_the_stream_minus_counted_gaps(case in cases()) {
        let (got, st) = run(&case);
        let stream = ramp(case.total);
        assert_faithful(&got, &stream, -1);
        if case.threaded.is_none() || case.threaded == Some(Policy::Block) {
            prop_assert_eq!(st.chunks_dropped, 0);
        }
        prop_assert_eq!(st.chunks_cut, got.len() as u64 + st.chunks_dropped);
        prop_assert_eq!(st.chunks_completed, got.len() as u64);
        let mut covered = vec![false; case.total];
        for (i, g) in got.iter().enumerate() {
            if i > 0 {
                prop_assert!(g.seq > got[i - 1].seq);
            }
            let last = i + 1 == got.len();
            let len = g.data.len();
            // Shape: exact or at least `size`, except the chunk a flush emitted.
            let flushed = last && (g.end() as usize == case.total) && (g.padded > 0 || len < case.size);
            if !flushed {
                prop_assert_eq!(g.padded, 0);
                if case.clip { prop_assert_eq!(len, case.size); } else { prop_assert!(len >= case.size); }
            } else if g.padded > 0 {
                prop_assert_eq!(len, case.size);
            }
            // Spacing: the hop or the whole chunk, pushed past any sampler pause.
            if let Some(next) = got.get(i + 1).filter(|n| n.seq == g.seq + 1) {
                let step = if case.clip { g.start + case.hop as u64 } else { g.end() };
                let want = if case.skip > 0 { step.max(g.end() + case.skip) } else { step };
                let next_is_flush = i + 2 == got.len() && next.end() as usize == case.total && (next.padded > 0 || next.data.len() < case.size);
                if !next_is_flush {
                    prop_assert_eq!(next.start, want, "after chunk {}", i);
                } else {
                    prop_assert!(next.start >= want.min(case.total as u64));
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
        if case.hop >= case.size || st.chunks_dropped == 0 {
            prop_assert_eq!(uncovered, counted, "{:?}", st);
        } else {
            // Overlapping windows: a dropped window's samples may also be in a delivered one.
            prop_assert!(uncovered <= counted, "{:?}", st);
        }
        if case.hop <= case.size && case.skip == 0 && case.flush != 2 && st.chunks_dropped == 0 {
            prop_assert_eq!(uncovered, 0);
        }
    }
}
