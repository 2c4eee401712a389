"""dynamic-prefetching-cache 0.1.2 and dpc side by side, in one run (shared/BENCHMARKS.md section 6).

Usage: python bench.py --mot FILE --trace FILE [--quick]. Prints a human table, then one JSON object on the
last line. Called by `cargo xtask bench python`, which builds the package and writes docs-ready numbers.

- hit: ``get`` of a resident key from Python, ns per call (median of rounds, the two packages interleaved);
- mot_load: a random frame through ``MOTDataProvider`` with its cache off (``cache_size=0``), us per frame,
  touching ``len(frame.detections)`` so both build their Python objects;
- replay: the trace in real time, closed loop (the provider sleeps ``latency`` per load, the user thinks
  ``think`` after each frame), stall = time spent inside ``get``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import timeit

import dynamic_prefetching_cache as original

import dpc

JUMPS = [-15, -5, -1, 5, 15, 30]


class Instant:
    def load(self, key):
        return key


class Nothing:
    def get_likelihoods(self, current, history):
        return {}


def per_call_ns(fn, number, rounds):
    return [t / number * 1e9 for t in timeit.repeat(lambda: fn(1), number=number, repeat=rounds)]


def bench_hit(quick):
    rounds, number = (5, 20_000) if quick else (9, 100_000)
    caches = {
        "original": original.DynamicPrefetchingCache(Instant(), Nothing()),
        "dpc (Python provider)": dpc.DynamicPrefetchingCache(Instant(), Nothing()),
    }
    for c in caches.values():
        c.get(1)
    samples = {name: [] for name in caches}
    # Interleaved rounds: a busy spell of the shared machine hits both.
    for _ in range(rounds):
        for name, c in caches.items():
            samples[name] += per_call_ns(c.get, number if name != "original" else number // 10, 1)
    for c in caches.values():
        c.close()
    return {name: statistics.median(s) for name, s in samples.items()}


def bench_hit_native(mot, quick):
    rounds, number = (5, 20_000) if quick else (9, 100_000)
    ours = dpc.DynamicPrefetchingCache(dpc.MOTDataProvider(mot), Nothing())
    theirs = original.DynamicPrefetchingCache(original.MOTDataProvider(mot), Nothing())
    ours.get(1)
    theirs.get(1)
    a, b = [], []
    for _ in range(rounds):
        b += per_call_ns(theirs.get, number // 10, 1)
        a += per_call_ns(ours.get, number, 1)
    ours.close()
    theirs.close()
    return {"original (MOT)": statistics.median(b), "dpc (native MOT)": statistics.median(a)}


def bench_mot(mot, quick):
    ours, theirs = dpc.MOTDataProvider(mot, cache_size=0), original.MOTDataProvider(mot, cache_size=0)
    frames = sorted(theirs.get_available_frames())
    rng = random.Random(7)
    picks = [rng.choice(frames) for _ in range(200 if quick else 1000)]
    rows = statistics.mean(len(theirs.load(f).detections) for f in picks[:200])

    def run(p, keys):
        t = time.perf_counter()
        for f in keys:
            len(p.load(f).detections)
        return (time.perf_counter() - t) / len(keys) * 1e6

    a, b = [], []
    for r in range(5):
        chunk = picks[r::5]
        b.append(run(theirs, chunk))
        a.append(run(ours, chunk))
    return {"original": statistics.median(b), "dpc": statistics.median(a), "rows": rows}


def replay(cache_factory, trace, latency, think):
    class Sleepy:
        def load(self, key):
            time.sleep(latency)
            return key

    cache = cache_factory(Sleepy())
    stall = 0.0
    hits = 0
    t0 = time.perf_counter()
    for k in trace:
        t = time.perf_counter()
        v = cache.get(k)
        dt = time.perf_counter() - t
        stall += dt
        if dt < latency / 4:
            hits += 1
        assert v == k
        time.sleep(think)
    wall = time.perf_counter() - t0
    cache.close()
    return {"stall_ms": stall * 1e3, "fast_requests": hits, "wall_ms": wall * 1e3}


def bench_replay(trace_path, quick, latency=0.002, think=0.001):
    trace = [int(line) for line in open(trace_path) if line.strip()]
    if quick:
        trace = trace[:600]
    runs = {
        "original DynamicDataPredictor": lambda p: original.DynamicPrefetchingCache(
            p, original.DynamicDataPredictor(possible_jumps=JUMPS)
        ),
        "dpc DynamicDataPredictor": lambda p: dpc.DynamicPrefetchingCache(p, dpc.DynamicDataPredictor(possible_jumps=JUMPS)),
        "dpc auto": lambda p: dpc.DynamicPrefetchingCache(p, "auto"),
        "dpc no prefetch": lambda p: dpc.PrefetchCache(p, predictor=None),
    }
    out = {name: replay(f, trace, latency, think) for name, f in runs.items()}
    out["requests"] = len(trace)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mot", required=True)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()

    hit = bench_hit(args.quick)
    hit.update(bench_hit_native(args.mot, args.quick))
    for name, ns in hit.items():
        print(f"hit  {name:<28} {ns:10.1f} ns")
    mot = bench_mot(args.mot, args.quick)
    print(f"mot  original {mot['original']:8.1f} us  dpc {mot['dpc']:8.2f} us  ({mot['rows']:.0f} rows/frame)")
    rep = bench_replay(args.trace, args.quick)
    for name, r in rep.items():
        if isinstance(r, dict):
            print(f"replay {name:<32} stall {r['stall_ms']:9.1f} ms  fast {r['fast_requests']:5d}  wall {r['wall_ms']:9.1f} ms")
    print(json.dumps({"hit_ns": hit, "mot_load_us": mot, "replay": rep}))


if __name__ == "__main__":
    main()
