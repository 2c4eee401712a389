//! MotProvider on its own, shared by threads, and behind a PrefetchCache.

use std::sync::{Arc, Barrier};

use dpc_core::{DataProvider, Lookahead, PrefetchCache};
use dpc_mot::{MotError, MotProvider, WriteFormat};

use crate::{fixture, frames_of, reference, render, synth, temp_file};

#[test]
fn is_send_sync_and_a_data_provider_of_frames() {
    fn assert_provider<P: DataProvider<Key = u64, Value = dpc_mot::Frame> + Send + Sync>() {}
    assert_provider::<MotProvider>();
}

#[test]
fn through_the_prefetch_cache_every_frame_equals_a_full_parse() {
    let path = fixture("generated.txt");
    let bytes = std::fs::read(&path).unwrap();
    let expected = reference(&bytes);
    let provider = MotProvider::open(&path).unwrap();
    let (first, last) = provider.range().unwrap();
    assert_eq!((first, last), (1, 150));
    // The prefetcher is never asked for frames outside the file.
    assert!(!DataProvider::contains(&provider, &0));
    assert!(!DataProvider::contains(&provider, &(last + 1)));
    assert!(DataProvider::contains(&provider, &first) && DataProvider::contains(&provider, &last));
    let cache = PrefetchCache::builder(provider).predictor(Lookahead::new(4)).build().unwrap();
    // Forward playback, a jump back, backward steps, then forward again: every answer equals the reference.
    let walk: Vec<u64> = (first..=last).chain((40..=60).rev()).chain(100..=last).collect();
    for f in walk {
        let frame = cache.get(&f).unwrap();
        assert_eq!(frame.number(), f);
        assert_eq!(frame.detections(), expected.get(&f).map_or(&[][..], Vec::as_slice), "frame {f}");
    }
    assert!(matches!(cache.get(&(last + 1)), Err(dpc_core::CacheError::Provider { .. })));
    cache.close();
}

#[test]
fn threads_sharing_one_prefetch_cache_get_the_right_frames() {
    let path = fixture("generated.txt");
    let expected = Arc::new(reference(&std::fs::read(&path).unwrap()));
    for round in 0..5u64 {
        // A small cache and provider LRU, so prefetches, evictions and demand loads interleave.
        let provider = MotProvider::builder(&path).cache_frames(8).build().unwrap();
        let (first, last) = provider.range().unwrap();
        let cache = PrefetchCache::builder(provider).predictor(Lookahead::new(6)).max_entries(24).build().unwrap();
        let cache = Arc::new(cache);
        let threads = 4u64;
        let barrier = Arc::new(Barrier::new(threads as usize));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (cache, barrier, expected) = (Arc::clone(&cache), Arc::clone(&barrier), Arc::clone(&expected));
                std::thread::spawn(move || {
                    barrier.wait();
                    // Each thread plays forward from its own start, wrapping around, with a jump now and then.
                    let span = last - first + 1;
                    for i in 0..span {
                        let f = first + (t * 37 + round * 11 + i + if i % 50 == 49 { 20 } else { 0 }) % span;
                        let frame = cache.get(&f).unwrap();
                        assert_eq!(frame.number(), f);
                        assert_eq!(frame.detections(), expected.get(&f).map_or(&[][..], Vec::as_slice), "frame {f}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        cache.close();
    }
}

#[test]
fn threads_loading_at_once_get_the_right_frames() {
    let rows = synth(400, 30, 3);
    let mut by_id = rows.clone();
    by_id.sort_by_key(|d| (d.id, d.frame));
    // Sorted (direct reads) and id-major (through a small block cache that threads share and evict).
    check_threads(&render(&rows, &WriteFormat::default()), 1 << 20);
    check_threads(&render(&by_id, &WriteFormat::default()), 16 << 10);
}

fn check_threads(bytes: &[u8], block_cache_bytes: u64) {
    let expected = reference(bytes);
    let (_dir, path) = temp_file(bytes);
    // A small LRU so that threads race on misses, hits and evictions.
    let p =
        Arc::new(MotProvider::builder(&path).cache_frames(16).block_cache_bytes(block_cache_bytes).build().unwrap());
    let (first, last) = p.range().unwrap();
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads as u64)
        .map(|t| {
            let (p, barrier, expected) = (Arc::clone(&p), Arc::clone(&barrier), expected.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for round in 0..3u64 {
                    for i in 0..=(last - first) {
                        // Each thread walks the frames in its own stride so their requests interleave.
                        let f = first + (i * (2 * t + 1) + round * 7) % (last - first + 1);
                        let got = p.load_frame(f).unwrap();
                        assert_eq!(got.detections(), expected.get(&f).map_or(&[][..], Vec::as_slice));
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = p.stats();
    assert_eq!(s.loads, 3 * 4 * (last - first + 1));
    assert_eq!(s.cache_hits + s.cache_misses, s.loads);
}

#[test]
fn loads_read_only_the_frame_bytes_and_hit_the_lru() {
    let path = fixture("generated.txt");
    let p = MotProvider::builder(&path).cache_frames(2).build().unwrap();
    let run = p.index().runs(10)[0];
    p.load_frame(10).unwrap();
    assert_eq!(p.stats().bytes_read, run.end - run.start);
    p.load_frame(10).unwrap();
    p.load_frame(11).unwrap();
    p.load_frame(12).unwrap(); // evicts 10
    p.load_frame(10).unwrap();
    let s = p.stats();
    assert_eq!((s.loads, s.cache_hits, s.cache_misses), (5, 1, 4));
    assert!((s.cache_hit_rate - 0.2).abs() < 1e-12);
    assert_eq!(s.total_frames, 150);
    assert_eq!(s.rows, p.index().summary().rows);
    assert!(s.sorted);
    let json = serde_json::to_value(&s).unwrap();
    assert!(json.get("index_ms").is_some() && json.get("bytes_read").is_some());
    p.clear_cache();
    p.load_frame(11).unwrap();
    assert_eq!(p.stats().cache_misses, 5);
}

#[test]
fn without_an_lru_every_load_reads() {
    let p = MotProvider::builder(fixture("comma.txt")).cache_frames(0).build().unwrap();
    p.load_frame(3).unwrap();
    p.load_frame(3).unwrap();
    assert_eq!((p.stats().cache_hits, p.stats().cache_misses), (0, 2));
}

#[test]
fn out_of_range_frames_are_errors_not_empty_frames() {
    let p = MotProvider::open(fixture("comma.txt")).unwrap();
    assert_eq!(p.range(), Some((1, 12)));
    for f in [0, 13, u64::MAX] {
        assert!(!p.contains(f));
        match p.load_frame(f) {
            Err(MotError::FrameOutOfRange { frame, range }) => assert_eq!((frame, range), (f, Some((1, 12)))),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_missing_file_names_its_path() {
    let err = MotProvider::open("/nonexistent/dpc/gt.txt").unwrap_err();
    assert!(matches!(err, MotError::Source { source: dpc_io::IoError::NotFound { .. }, .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/dpc/gt.txt"));
}

#[test]
fn frames_via_the_provider_equal_the_generated_reference() {
    let p = MotProvider::open(fixture("generated.txt")).unwrap();
    let bytes = std::fs::read(fixture("generated.txt")).unwrap();
    let expected = reference(&bytes);
    let got = frames_of(&p);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), expected.values().map(Vec::len).sum::<usize>());
}
