"""Many Python threads at once: gets, closes from anywhere, callbacks calling back in."""

from __future__ import annotations

import threading

import pytest

import dpc
from conftest import MOT, Doubler, Fixed

THREADS = 8


def storm(cache, keys_for, rounds=200):
    barrier = threading.Barrier(THREADS)
    errors, results = [], []

    def run(i):
        try:
            barrier.wait()
            for r in range(rounds):
                k = keys_for(i, r)
                results.append((k, cache.get(k)))
        except BaseException as e:  # noqa: BLE001 - recorded for the assertion
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors, results


@pytest.mark.parametrize("repeat", range(3))
def test_a_storm_of_gets_on_a_python_provider_loads_each_key_once_at_a_time(repeat):
    p = Doubler()
    with dpc.DynamicPrefetchingCache(p, dpc.DistanceDecayPredictor(max_span=3), max_keys_cached=1000) as cache:
        errors, results = storm(cache, lambda i, r: r % 50)
        stats = cache.stats()
    assert errors == []
    assert all(v == k * 2 for k, v in results)
    assert stats["hits"] + stats["misses"] == THREADS * 200
    # Everything fits: each key was loaded once (single flight), demand or prefetch.
    assert all(n == 1 for n in p.loads.values())


def test_a_storm_on_the_native_mot_provider():
    p = dpc.MOTDataProvider(MOT / "generated.txt")
    expected = {f: p.load(f) for f in range(1, 101)}
    with dpc.PrefetchCache(p, max_entries=30) as cache:
        errors, results = storm(cache, lambda i, r: 1 + (i * 37 + r) % 100)
        s = cache.stats()
    assert errors == []
    assert all(v == expected[k] for k, v in results)
    assert s.requests == THREADS * 200


def test_close_from_another_thread_while_gets_run():
    p = Doubler()
    cache = dpc.PrefetchCache(p, max_entries=100)
    barrier = threading.Barrier(THREADS + 1)
    outcomes = []

    def run():
        barrier.wait()
        try:
            for k in range(100_000):
                cache.get(k % 500)
            outcomes.append("finished")
        except dpc.CacheClosed:
            outcomes.append("closed")

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    barrier.wait()
    cache.get(0)
    cache.close()
    for t in threads:
        t.join()
    assert len(outcomes) == THREADS and "closed" in outcomes


def test_close_from_inside_an_event_callback():
    closed = threading.Event()
    holder = {}

    def on_event(name, **kw):
        if name == "cache_load_complete" and not closed.is_set():
            holder["cache"].close()
            closed.set()

    cache = dpc.DynamicPrefetchingCache(Doubler(), Fixed({}), on_event=on_event)
    holder["cache"] = cache
    cache.get(1)
    assert closed.wait(30)
    with pytest.raises(dpc.CacheClosed):
        cache.get(2)


def test_a_provider_calling_back_into_its_cache():
    holder = {}

    class Recursive:
        def load(self, key):
            if key > 0:
                return holder["cache"].get(key - 1) + 1
            return 0

    with dpc.PrefetchCache(Recursive(), predictor=None, max_entries=100) as cache:
        holder["cache"] = cache
        assert cache.get(20) == 20


def test_waiters_on_one_slow_load_all_get_it_and_it_loads_once():
    go = threading.Event()
    calls = []

    class Slow:
        def load(self, key):
            calls.append(key)
            go.wait(30)
            return key

    cache = dpc.PrefetchCache(Slow(), predictor=None)
    barrier = threading.Barrier(THREADS)
    got = []

    def run():
        barrier.wait()
        got.append(cache.get(1))

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    s = cache.stats()
    cache.close()
    assert got == [1] * THREADS and calls == [1]
    assert s.misses == 1 and s.late_hits + s.hits == THREADS - 1
