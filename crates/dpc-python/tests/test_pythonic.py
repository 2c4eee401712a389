"""The Pythonic API: ``dpc.PrefetchCache``, typed exceptions, stats, snapshot, hints, insert/invalidate."""

from __future__ import annotations

import dataclasses
import threading

import pytest

import dpc
from conftest import Doubler, Fixed, MOT


def test_get_and_stats_dataclass():
    with dpc.PrefetchCache(Doubler(), predictor=None, max_entries=4) as cache:
        assert cache.get(1) == 2 and cache[1] == 2
        s = cache.stats()
    assert isinstance(s, dpc.Stats) and dataclasses.is_dataclass(s)
    assert (s.hits, s.misses, s.loads, s.requests) == (1, 1, 1, 2)
    assert s.hit_rate == pytest.approx(0.5) and s.accuracy == 0.0 and s.coverage == 0.0


def test_the_default_predictor_is_auto_and_prefetches_a_sequence():
    p = Doubler()
    with dpc.PrefetchCache(p, max_entries=64) as cache:
        for k in range(40):
            cache.get(k)
            cache.quiesce()
        s = cache.stats()
    assert s.prefetch_completed > 0 and s.prefetch_used > 0
    assert s.hits > 20
    assert 0 < s.accuracy <= 1 and 0 < s.coverage <= 1


@pytest.mark.parametrize("predictor", ["auto", dpc.predictors.Auto(), dpc.predictors.Named("sequential")])
def test_named_predictors(predictor):
    with dpc.PrefetchCache(Doubler(), predictor=predictor) as cache:
        for k in range(10):
            cache.get(k)
        cache.quiesce()


def test_unknown_predictor_names_are_refused():
    with pytest.raises(ValueError, match="unknown predictor"):
        dpc.PrefetchCache(Doubler(), predictor="psychic")
    with pytest.raises(TypeError):
        dpc.PrefetchCache(Doubler(), predictor=object())
    with pytest.raises(TypeError):
        dpc.PrefetchCache(object())


def test_provider_error_has_the_key_and_the_cause():
    with dpc.PrefetchCache(Doubler(missing={7}), predictor=None) as cache:
        with pytest.raises(dpc.ProviderError) as info:
            cache.get(7)
    err = info.value
    assert err.key == 7
    assert isinstance(err.__cause__, KeyError) and "no record 7" in str(err)


def test_cache_closed():
    cache = dpc.PrefetchCache(Doubler(), predictor=None)
    assert not cache.closed
    assert cache.close() == []
    assert cache.closed
    with pytest.raises(dpc.CacheClosed):
        cache.get(1)


def test_insert_invalidate_and_invalidate_all():
    p = Doubler()
    with dpc.PrefetchCache(p, predictor=None, max_entries=10) as cache:
        assert cache.insert(5, "five")
        assert cache.get(5) == "five" and p.loads[5] == 0
        cache.invalidate(5)
        assert 5 not in cache and cache.get(5) == 10 and p.loads[5] == 1
        cache.get(6)
        cache.invalidate_all()
        assert len(cache) == 0
        s = cache.stats()
    assert s.inserted == 1 and s.invalidated >= 3


def test_prefetch_hints_are_loaded():
    p = Doubler()
    with dpc.PrefetchCache(p, predictor=None, max_entries=10) as cache:
        cache.get(0)
        cache.prefetch([100, 101])
        cache.quiesce()
        assert 100 in cache and 101 in cache
        assert cache.get(100) == 200
        cache.quiesce()  # a hit on a prefetched entry is counted used when the scheduler sees the request
        assert cache.stats().prefetch_used == 1


def test_snapshot_shows_residents_with_scores_and_the_prediction():
    with dpc.PrefetchCache(Doubler(), predictor=Fixed({2: 0.5, 3: 0.25}), max_entries=10) as cache:
        cache.get(1)
        cache.quiesce()
        snap = cache.snapshot()
    assert isinstance(snap, dpc.Snapshot)
    keys = {r.key: r for r in snap.resident}
    assert set(keys) == {1, 2, 3}
    assert keys[2].prefetched and not keys[2].used and keys[2].score == 0.5
    assert snap.predicted[0] == (2, 0.5)
    assert snap.in_flight == [] and snap.queued == []
    assert snap.stats.resident_entries == 3


def test_max_weight_with_a_weigher():
    class Blobs:
        def load(self, key):
            return b"x" * key

    with dpc.PrefetchCache(Blobs(), predictor=None, max_weight=10, weigher=lambda k, v: len(v)) as cache:
        for k in [4, 4, 3, 5]:
            cache.get(k)
        s = cache.stats()
    assert s.resident_weight <= 10 and s.evictions >= 1


def test_a_weigher_that_raises_is_reported_not_fatal():
    events = []
    with dpc.PrefetchCache(Doubler(), predictor=None, max_weight=10, weigher=lambda k, v: 1 / 0,
                           on_event=events.append) as cache:
        assert cache.get(1) == 2
    assert any(e.kind == "worker_error" and "weigher" in e.error for e in events)


def test_events_are_typed():
    events = []
    with dpc.PrefetchCache(Doubler(missing={9}), predictor=Fixed({2: 1.0}), on_event=events.append) as cache:
        cache.get(1)
        cache.quiesce()
        with pytest.raises(dpc.ProviderError):
            cache.get(9)
    kinds = [e.kind for e in events]
    assert "cache_load_start" in kinds and "prefetch_success" in kinds and "cache_load_error" in kinds
    success = next(e for e in events if e.kind == "prefetch_success")
    assert success.key == 2 and success.admitted is True and success.elapsed >= 0
    assert all(isinstance(e, dpc.Event) for e in events)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        dpc.PrefetchCache(Doubler(), max_entries=0)
    with pytest.raises(ValueError, match="eviction"):
        dpc.PrefetchCache(Doubler(), eviction="random")


def test_peek_never_loads():
    p = Doubler()
    with dpc.PrefetchCache(p, predictor=None) as cache:
        assert cache.peek(1) is None and p.loads[1] == 0
        cache.get(1)
        assert cache.peek(1) == 2
        assert cache.stats().requests == 1


def test_mot_provider_under_the_pythonic_cache():
    p = dpc.MOTDataProvider(MOT / "generated.txt")
    with dpc.PrefetchCache(p, max_entries=50) as cache:
        for f in range(1, 60):
            assert cache.get(f).frame_number == f
        s = cache.stats()
    assert s.hits > 0


def test_lru_eviction_policy_name():
    with dpc.PrefetchCache(Doubler(), predictor=None, max_entries=2, eviction="lru") as cache:
        cache.get(1)
        cache.get(2)
        cache.quiesce()  # the recency of a request is learned by the scheduler
        cache.get(1)
        cache.quiesce()
        cache.get(3)
        assert 1 in cache and 2 not in cache


def test_stubs_are_shipped():
    import importlib.resources as res

    files = {p.name for p in res.files("dpc").iterdir()}
    assert {"py.typed", "_native.pyi"} <= files


def test_invalidate_during_a_load_gives_the_waiter_its_value_but_keeps_nothing():
    started, go = threading.Event(), threading.Event()

    class Slow:
        def __init__(self):
            self.n = 0

        def load(self, key):
            self.n += 1
            started.set()
            go.wait(30)
            return ("v", self.n)

    p = Slow()
    cache = dpc.PrefetchCache(p, predictor=None)
    got = []
    t = threading.Thread(target=lambda: got.append(cache.get(1)))
    t.start()
    assert started.wait(30)
    cache.invalidate(1)
    go.set()
    t.join()
    assert got == [("v", 1)]
    assert 1 not in cache
    assert cache.get(1) == ("v", 2)
    cache.close()


def test_insert_after_close_keeps_nothing():
    cache = dpc.PrefetchCache(Doubler(), predictor=None)
    cache.close()
    assert cache.insert(1, "x") is False


def test_none_is_a_value_like_any_other():
    class Nones:
        def __init__(self):
            self.calls = 0

        def load(self, key):
            self.calls += 1
            return None

    p = Nones()
    with dpc.PrefetchCache(p, predictor=None) as cache:
        assert cache.get(1) is None and cache.get(1) is None
        assert p.calls == 1 and cache.stats().hits == 1


def test_a_native_miss_outside_the_file_is_an_empty_frame_and_not_prefetched():
    p = dpc.MOTDataProvider(MOT / "comma.txt")
    with dpc.PrefetchCache(p, predictor="sequential") as cache:
        assert cache.get(12).detections != []
        assert cache.get(13) == dpc.MOTFrameData(13, [])
        cache.quiesce()
        assert all(k <= 12 for k, _ in cache.snapshot().queued)
        assert 14 not in cache


def test_close_with_a_timeout_names_threads_left_in_user_code():
    started, go = threading.Event(), threading.Event()

    class Stuck:
        def load(self, key):
            if key == 2:
                started.set()
                go.wait(30)
            return key

    cache = dpc.PrefetchCache(Stuck(), predictor=Fixed({2: 1.0}), workers=1)
    cache.get(1)
    assert started.wait(30)
    left = cache.close(timeout=0.05)
    go.set()
    assert left and any("worker" in name for name in left)
