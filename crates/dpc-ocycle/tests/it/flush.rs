//! End of stream: short, pad and drop flush policies.

use dpc_ocycle::{Consumer, Emitter, Flush};

use crate::support::{Got, Rec, ramp};

type Chunks = Vec<(u64, Vec<i32>, usize)>;

fn run(size: usize, clip: bool, hop: Option<usize>, flush: Flush<i32>, n: usize) -> (Chunks, Emitter<i32>) {
    let rec = Rec::new();
    let r = rec.clone();
    let mut c = Consumer::serial(size, move |c| {
        r.push(Got::of(c));
        Ok(())
    })
    .clip(clip)
    .flush(flush);
    if let Some(h) = hop {
        c = c.hop(h);
    }
    let mut em = Emitter::new(c).unwrap();
    em.write(&ramp(n)).unwrap();
    em.flush().unwrap();
    (rec.get().into_iter().map(|g| (g.start, g.data, g.padded)).collect(), em)
}

#[test]
fn short_emits_the_remainder() {
    let (got, em) = run(4, true, None, Flush::Short, 10);
    assert_eq!(got, vec![(0, vec![0, 1, 2, 3], 0), (4, vec![4, 5, 6, 7], 0), (8, vec![8, 9], 0)]);
    assert_eq!(em.stats().consumers[0].chunks_cut, 3);
}

#[test]
fn pad_fills_the_last_chunk_to_size() {
    let (got, em) = run(4, true, None, Flush::Pad(-7), 10);
    assert_eq!(got[2], (8, vec![8, 9, -7, -7], 2));
    assert_eq!(em.stats().consumers[0].samples_padded, 2);
}

#[test]
fn drop_discards_the_remainder_and_counts_it() {
    let (got, em) = run(4, true, None, Flush::Drop, 10);
    assert_eq!(got.len(), 2);
    assert_eq!(em.stats().consumers[0].samples_discarded, 2);
}

#[test]
fn whole_mode_flushes_too() {
    let (got, _) = run(4, false, None, Flush::Pad(0), 3);
    assert_eq!(got, vec![(0, vec![0, 1, 2, 0], 1)]);
}

#[test]
fn nothing_is_emitted_when_nothing_new_is_buffered() {
    // Overlapping windows: the tail 6..8 was already delivered in the window 4..8.
    let (got, _) = run(4, true, Some(2), Flush::Short, 8);
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![0, 2, 4]);
    // An exact multiple leaves nothing either.
    let (got, _) = run(4, true, None, Flush::Pad(0), 8);
    assert_eq!(got.len(), 2);
}

#[test]
fn writing_continues_after_a_flush() {
    let (_, mut em) = run(4, true, None, Flush::Short, 6);
    em.write(&[6, 7, 8, 9]).unwrap();
    em.close().unwrap();
    let st = &em.stats().consumers[0];
    assert_eq!(st.chunks_cut, 3, "0..4, the short 4..6, then 6..10");
}

#[test]
fn flush_waits_for_threaded_callbacks() {
    let results = Rec::new();
    let r = results.clone();
    let mut em = Emitter::new(
        Consumer::threads(5, 3, |c: &dpc_ocycle::Chunk<'_, i32>| Ok(c.iter().sum::<i32>()))
            .on_done(move |d| r.push(d.result.unwrap()))
            .clip(true),
    )
    .unwrap();
    em.write(&ramp(23)).unwrap();
    em.flush().unwrap();
    assert_eq!(results.get(), vec![10, 35, 60, 85, 20 + 21 + 22]);
}
