//! The oracle on hand-made traces, with the schedule worked out by hand in the comments.

use std::time::Duration;

use dpc_gen::oracle::{OracleReport, Setup, oracle};

fn setup(latency_ms: u64, think_ms: u64, workers: usize, capacity: usize) -> Setup {
    Setup { latency: Duration::from_millis(latency_ms), think: Duration::from_millis(think_ms), workers, capacity }
}

/// Checks stall, hits, late hits, misses and loads.
fn check(
    trace: &[u64],
    setup: Setup,
    stall_ms: f64,
    hits: u64,
    late_hits: u64,
    misses: u64,
    loads: u64,
) -> OracleReport {
    let r = oracle(trace, &setup);
    assert_eq!(
        (r.stall_ms, r.hits, r.late_hits, r.misses, r.loads),
        (stall_ms, hits, late_hits, misses, loads),
        "{r:?}"
    );
    r
}

#[test]
fn prefetches_everything_while_the_first_request_loads() {
    // t=0: request 1 is absent: demand load until t=2 (stall 2). The idle workers take the next future keys
    // that are neither resident nor in flight: 2 and 3, both done at t=2.
    // t=3: 2 is resident (hit). t=4: 3 is resident (hit). Loads: 1 demand + 2 prefetches.
    let r = check(&[1, 2, 3], setup(2, 1, 4, 10), 2.0, 2, 0, 1, 3);
    assert_eq!(r.wall_ms, 4.0);
}

#[test]
fn one_worker_falls_behind_without_think_time() {
    // t=0: 1 absent, demand until 2; the worker starts 2 (done at 2), then at 2 starts 3 (done at 4).
    // t=2: 2 resident (hit). t=2: 3 in flight until 4 (late hit, stall 2); the worker starts 4 at 4.
    // t=4: 4 in flight until 6 (late hit, stall 2). Stall 2 + 0 + 2 + 2 = 6.
    let r = check(&[1, 2, 3, 4], setup(2, 0, 1, 10), 6.0, 1, 2, 1, 4);
    assert_eq!(r.wall_ms, 6.0);
}

#[test]
fn do_no_harm_keeps_a_key_needed_sooner() {
    // Capacity 1. t=0: 1 absent, demand until 2; the worker would fetch 2 but the only slot is taken by the
    // load of 1 in flight, so it stays idle. At 2, 1 is served; its next use (request 2) is later than the
    // fetch of 2 (request 1), so 1 is evicted and 2 loads until 4.
    // t=3: 2 in flight (late hit, stall 1). At 4, 2 arrives; fetching 1 (request 2) would evict 2, whose next
    // use (request 1, being served) is sooner: idle. Once 2 is served it is never used again: evict it, load 1
    // until 6. t=5: 1 in flight (late hit, stall 1). Stall 2 + 1 + 1 = 4.
    let r = check(&[1, 2, 1], setup(2, 1, 1, 1), 4.0, 0, 2, 1, 3);
    assert_eq!(r.wall_ms, 6.0);
}

#[test]
fn demand_loads_evict_the_furthest_next_use_like_belady() {
    // No workers: a pure cache of 2 entries, latency 1, no think time.
    // 1 miss, 2 miss, 3 miss (evicts 2, used at 4, not 1, used at 3), 1 hit, 2 miss. Belady's minimum: 4 misses.
    check(&[1, 2, 3, 1, 2], setup(1, 0, 0, 2), 4.0, 1, 0, 4, 4);
}

#[test]
fn repeats_need_one_load() {
    // 5 misses once; the workers find nothing else to fetch.
    check(&[5, 5, 5], setup(2, 1, 4, 10), 2.0, 2, 0, 1, 1);
}

#[test]
fn only_the_first_request_stalls_when_latency_over_think_fits_the_workers() {
    // BENCHMARKS.md §1: with latency / think <= workers a clairvoyant schedule only stalls once.
    let trace: Vec<u64> = (0..500).map(|i| (i * 7919) % 1000).collect();
    let r = oracle(&trace, &Setup::default());
    assert_eq!((r.misses, r.late_hits, r.stall_ms), (1, 0, 2.0), "{r:?}");
    // With latency / think > workers it cannot keep up: every key takes a load and the workers fall behind.
    let r = oracle(&trace, &setup(10, 1, 2, 512));
    assert!(r.late_hits > 200 && r.stall_ms > 1000.0, "{r:?}");
}

#[test]
fn string_keys_work_too() {
    let trace: Vec<&str> = vec!["a", "b", "a", "c"];
    let r = oracle(&trace, &setup(2, 1, 4, 10));
    assert_eq!((r.hits, r.misses, r.loads), (3, 1, 3), "{r:?}");
}

#[test]
fn the_blind_oracle_pays_each_seek_once() {
    use dpc_gen::oracle::{oracle_blind, seeks};
    // Playback with two seeks far away: the plain oracle foresees them, the blind one loads each seek's frame
    // on demand and prefetches what follows it during that load.
    let mut keys: Vec<u64> = (100..200).collect();
    keys.extend(50_000..50_100);
    keys.extend(9_000..9_100);
    let marks = seeks(&keys, 1000, 30);
    assert_eq!(marks.iter().filter(|&&m| m).count(), 2);
    assert!(marks[100] && marks[200] && !marks[0]);
    let setup = Setup::default();
    let plain = oracle(&keys, &setup);
    let blind = oracle_blind(&keys, &marks, &setup);
    assert_eq!((plain.misses, plain.stall_ms), (1, 2.0));
    assert_eq!(blind.misses, 3, "the first request and the two seeks");
    assert_eq!(blind.stall_ms, 6.0, "one latency per seek, no stall after it");
    // Marking nothing is the plain oracle.
    assert_eq!(oracle_blind(&keys, &vec![false; keys.len()], &setup), plain);
}

#[test]
fn novel_transitions_mark_the_first_time_a_pair_occurs() {
    use dpc_gen::oracle::{novel_transitions, oracle_blind};
    let trace = ["a", "b", "a", "b", "c", "a", "b", "c", "b"];
    let marks = novel_transitions(&trace);
    // a>b, b>a, b>c, c>a, c>b are new; the second a>b, a>b again and b>c again are not.
    assert_eq!(marks, [false, true, true, false, true, true, false, false, true]);
    // A walk around one loop of three pages: after the first lap every step is learned, so the learner's
    // ceiling pays one load per page of the first lap and nothing after it.
    let lap: Vec<u32> = (0..30).map(|i| i % 3).collect();
    let marks = novel_transitions(&lap);
    assert_eq!(marks.iter().filter(|&&m| m).count(), 3, "0>1, 1>2 and 2>0");
    let setup = Setup::default();
    let blind = oracle_blind(&lap, &marks, &setup);
    assert_eq!(blind.misses, 3, "pages 0, 1 and 2, each on its first request: {blind:?}");
    assert_eq!(oracle(&lap, &setup).misses, 1);
}

#[test]
fn the_jump_floor_charges_the_targets_bandwidth_cannot_cover() {
    use std::time::Duration;

    use dpc_gen::oracle::jump_floor;
    // Playback with a jump of +500 or -300 every 10th request: each jump is one of 2 targets.
    let mut keys = vec![10_000u64];
    for i in 1..2000u64 {
        let last = *keys.last().unwrap() as i64;
        let next = if i % 10 == 0 { last + if i % 20 == 0 { 500 } else { -300 } } else { last + 1 };
        keys.push(next as u64);
    }
    let jumps = [500, -300];
    let (taken, plain) = (199.0, |w, l| Setup { workers: w, latency: Duration::from_millis(l), ..Setup::default() });
    // Bandwidth to spare (8 workers, 2 ms loads, 1 ms think: 4 loads per request, of which playback takes one):
    // covering both targets of every position (1.9 loads beyond the frames requested) fits.
    assert_eq!(jump_floor(&keys, &jumps, &[1], 0.1, 3, &plain(8, 2)), 6.0, "the three seeks only");
    // 4 workers give one spare load per request, not 1.9: some jumps stay uncovered.
    let half = jump_floor(&keys, &jumps, &[1], 0.1, 3, &plain(4, 2));
    assert!(half > 6.0 + 2.0 * 10.0 && half < 6.0 + 2.0 * taken, "{half}");
    // One worker and 8 ms loads: the playback frames alone need 8 ms of loading per 1 ms request, so every jump
    // target costs bandwidth that is not there, and the floor is at least the playback's own shortfall.
    let slow = jump_floor(&keys, &jumps, &[1], 0.1, 3, &plain(1, 8));
    let distinct = keys.iter().collect::<std::collections::HashSet<_>>().len() as f64;
    assert!(slow >= 8.0 * distinct - 1999.0 - 8.0 * (taken + 3.0), "{slow}");
    assert!(slow > 8.0 * (taken + 3.0) * 0.5, "most jumps stay uncovered: {slow}");
    // Two workers at 2 ms: playback takes the one load per request they give, so covering costs stall.
    let tight = jump_floor(&keys, &jumps, &[1], 0.1, 3, &plain(2, 2));
    assert!(tight > half && tight <= 6.0 + 2.0 * taken, "{tight} after {half}");
    // A jump equal to the walk's own step is no jump.
    assert_eq!(jump_floor(&keys, &[1], &[1], 0.1, 3, &plain(2, 2)), 6.0);
}
