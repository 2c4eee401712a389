//! StreamCache and ContentHash: stable hashes, bounds, hit-rate arithmetic, persistence.

use std::collections::BTreeMap;
use std::sync::Arc;

use dpc_store::{ChunkKey, ContentHash, ContentHasher, StateKey, StoreError, StreamCache, TieredCache};
use serde::Serialize;

#[derive(Serialize)]
struct FilterConfig {
    name: &'static str,
    cutoff: f64,
    taps: Vec<u32>,
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Known hashes: if one changes, every persisted key becomes unreachable.
/// The values were cross-checked against the reference XXH3-128 implementation (python-xxhash 4.x).
#[test]
fn content_hashes_are_stable() {
    let config = FilterConfig { name: "lowpass", cutoff: 0.25, taps: vec![1, 2, 3] };
    let known: BTreeMap<&str, ContentHash> = BTreeMap::from([
        ("empty", ContentHash::of_bytes(b"")),
        ("abc", ContentHash::of_bytes(b"abc")),
        ("pattern_64k", ContentHash::of_bytes(&pattern(65_536))),
        ("f32s", ContentHash::of_f32s(&[0.0, -0.0, 1.5, -2.25])),
        ("i16s", ContentHash::of_i16s(&[0, 1, -1, i16::MAX, i16::MIN])),
        ("json_config", ContentHash::of_json(&config).unwrap()),
        ("combine_empty_abc", ContentHash::combine(&[ContentHash::of_bytes(b""), ContentHash::of_bytes(b"abc")])),
    ]);
    insta::assert_json_snapshot!(known);
    assert_eq!(known["empty"].as_u128(), 0x99aa06d3014798d86001c324468d497f, "XXH3-128 of empty input");
}

#[test]
fn numbers_hash_as_their_little_endian_bytes_and_splits_do_not_matter() {
    let samples: Vec<f32> = (0..5000).map(|i| i as f32 * 0.37 - 100.0).collect();
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(ContentHash::of_f32s(&samples), ContentHash::of_bytes(&bytes));
    let doubles: Vec<f64> = samples.iter().map(|&s| f64::from(s)).collect();
    let bytes64: Vec<u8> = doubles.iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(ContentHash::of_f64s(&doubles), ContentHash::of_bytes(&bytes64));
    for split in [0, 1, 17, 4096, bytes.len()] {
        let mut hasher = ContentHasher::new();
        hasher.update(&bytes[..split]);
        hasher.update(&bytes[split..]);
        assert_eq!(hasher.finish(), ContentHash::of_bytes(&bytes), "split at {split}");
    }
    assert_ne!(ContentHash::of_f32s(&[0.0]), ContentHash::of_f32s(&[-0.0]));
}

#[test]
fn hashes_print_parse_and_serialize_as_32_hex_digits() {
    let h = ContentHash::of_bytes(b"abc");
    assert_eq!(h.to_string(), "06b05ab6733a618578af5f94892f3950");
    assert_eq!(h.to_string().parse::<ContentHash>().unwrap(), h);
    assert_eq!(serde_json::to_string(&h).unwrap(), "\"06b05ab6733a618578af5f94892f3950\"");
    assert_eq!(serde_json::from_str::<ContentHash>("\"06b05ab6733a618578af5f94892f3950\"").unwrap(), h);
    for bad in ["", "06b0", "+6b05ab6733a618578af5f94892f3950", "g6b05ab6733a618578af5f94892f3950"] {
        assert!(bad.parse::<ContentHash>().is_err(), "{bad:?}");
    }
}

fn key(i: u32) -> ChunkKey {
    let config = ContentHash::of_bytes(b"config");
    let state = ContentHash::of_bytes(b"state");
    ChunkKey::for_bytes(config, state, &i.to_le_bytes())
}

#[test]
fn chunk_results_are_evicted_least_recently_used_at_max_chunks() {
    let cache: StreamCache<(), u32> = StreamCache::builder().max_chunks(3).build().unwrap();
    for i in 0..3 {
        cache.insert_chunk(key(i), i).unwrap();
    }
    assert_eq!(cache.chunk(&key(0)).as_deref(), Some(&0), "touch 0: 1 is now the least recently used");
    cache.insert_chunk(key(3), 3).unwrap();
    let stats = cache.stats();
    assert_eq!((stats.chunks, stats.chunk_evictions), (3, 1));
    assert_eq!(cache.chunk(&key(1)), None);
    for i in [0, 2, 3] {
        assert_eq!(cache.chunk(&key(i)).as_deref(), Some(&i));
    }
    // Replacing a result is not an eviction.
    cache.insert_chunk(key(3), 33).unwrap();
    assert_eq!(cache.stats().chunk_evictions, 1);
    assert_eq!(cache.chunk(&key(3)).as_deref(), Some(&33));
}

#[test]
fn hit_rate_is_hits_over_lookups() {
    let cache: StreamCache<(), u32> = StreamCache::default();
    assert_eq!(cache.hit_rate(), 0.0, "no lookups yet");
    assert_eq!(*cache.get_or_compute_chunk(key(1), || 10), 10); // miss
    for _ in 0..3 {
        assert_eq!(*cache.get_or_compute_chunk(key(1), || unreachable!()), 10); // hits
    }
    assert_eq!((cache.hits(), cache.misses()), (3, 1));
    assert_eq!(cache.hit_rate(), 0.75);
    let _ = cache.state("f", StateKey { config: ContentHash::default(), training: ContentHash::default() }); // miss
    let stats = cache.stats();
    assert_eq!((stats.chunk_hits, stats.chunk_misses, stats.state_hits, stats.state_misses), (3, 1, 0, 1));
    assert_eq!(stats.hit_rate(), 0.6);
    assert_eq!(cache.hit_rate(), 0.6);
}

#[test]
fn trained_states_are_kept_per_filter_and_named_by_their_content() {
    let cache: StreamCache<Vec<f32>, f32> = StreamCache::builder().max_states_per_filter(2).build().unwrap();
    let config = ContentHash::of_bytes(b"lowpass 0.25");
    let sk = |t: u8| StateKey { config, training: ContentHash::of_bytes(&[t]) };
    let mut trainings = 0;
    let a = cache.get_or_train("lowpass", sk(1), || {
        trainings += 1;
        vec![0.25, 0.5]
    });
    let a = a.unwrap();
    assert_eq!(a.hash, ContentHash::of_json(&vec![0.25f32, 0.5]).unwrap());
    let again = cache.get_or_train("lowpass", sk(1), || unreachable!()).unwrap();
    assert!(Arc::ptr_eq(&a.state, &again.state));
    assert_eq!(trainings, 1);
    // Another filter id with the same key is another state.
    assert!(cache.state("highpass", sk(1)).is_none());
    // The bound per filter: the least recently used state goes.
    cache.insert_state("lowpass", sk(2), vec![1.0]).unwrap();
    cache.insert_state("lowpass", sk(3), vec![2.0]).unwrap();
    assert!(cache.state("lowpass", sk(1)).is_none());
    assert_eq!(cache.stats().states, 2);
    assert!(cache.remove_filter("lowpass"));
    assert_eq!(cache.stats().states, 0);
}

#[test]
fn zero_bounds_are_rejected() {
    let err = StreamCache::<(), ()>::builder().max_chunks(0).build().unwrap_err();
    assert!(matches!(err, StoreError::InvalidConfig { .. }), "{err}");
    assert!(StreamCache::<(), ()>::builder().max_states_per_filter(0).build().is_err());
}

#[test]
fn states_and_chunk_results_persist_through_tiered_caches() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let states = Arc::new(TieredCache::<Vec<f64>>::open(dir.path().join("states")).unwrap());
        let chunks = Arc::new(TieredCache::<Vec<f64>>::open(dir.path().join("chunks")).unwrap());
        StreamCache::builder().state_store(states).chunk_store(chunks).build().unwrap()
    };
    let config = ContentHash::of_json(&("gain", 2.0)).unwrap();
    let sk = StateKey { config, training: ContentHash::of_f64s(&[1.0, 2.0]) };
    let chunk = [1.0, 2.0, 3.0];
    let first_hash = {
        let cache = open();
        let trained = cache.get_or_train("gain", sk, || vec![2.0]).unwrap();
        let ck = ChunkKey::new(config, trained.hash, ContentHash::of_f64s(&chunk));
        cache.get_or_compute_chunk(ck, || chunk.iter().map(|x| x * trained.state[0]).collect());
        assert_eq!((cache.hits(), cache.misses()), (0, 2));
        trained.hash
    };
    let cache = open();
    let trained = cache.get_or_train("gain", sk, || unreachable!("persisted")).unwrap();
    assert_eq!(trained.hash, first_hash, "the state hash is recomputed identically");
    let ck = ChunkKey::new(config, trained.hash, ContentHash::of_f64s(&chunk));
    assert_eq!(*cache.get_or_compute_chunk(ck, || unreachable!("persisted")), [2.0, 4.0, 6.0]);
    assert_eq!((cache.hits(), cache.misses(), cache.hit_rate()), (2, 0, 1.0));
}
