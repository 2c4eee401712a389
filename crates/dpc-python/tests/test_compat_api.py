"""The original's public API, item by item, through ``dpc`` (written from its documentation and source)."""

from __future__ import annotations

import importlib
import inspect
import pickle
import threading

import pytest

import dpc
from conftest import Doubler, Fixed, Gate, needs_original, original

ORIGINAL_ALL = [
    "DynamicPrefetchingCache",
    "DistanceDecayPredictor",
    "DynamicDistanceDecayPredictor",
    "DynamicDataPredictor",
    "MOTDataProvider",
    "DataProvider",
    "AccessPredictor",
    "EvictionPolicy",
    "EventCallback",
    "EvictionPolicyOldest",
    "EvictionPolicyLargest",
    "EvictionPolicySmallest",
    "MOTDetection",
    "MOTFrameData",
    "__version__",
    "__author__",
    "__email__",
]


def test_every_original_name_is_exported():
    for name in ORIGINAL_ALL:
        assert name in dpc.__all__
        assert hasattr(dpc, name), name


@needs_original
def test_the_original_lists_no_other_name():
    assert set(original.__all__) <= set(dpc.__all__)


@pytest.mark.parametrize(
    "module, names",
    [
        ("cache", ["DynamicPrefetchingCache"]),
        ("predictors", ["DistanceDecayPredictor", "DynamicDistanceDecayPredictor", "DynamicDataPredictor"]),
        ("providers", ["MOTDataProvider"]),
        (
            "types",
            [
                "DataProvider",
                "AccessPredictor",
                "EvictionPolicy",
                "EventCallback",
                "EvictionPolicyOldest",
                "EvictionPolicyLargest",
                "EvictionPolicySmallest",
                "MOTDetection",
                "MOTFrameData",
                "CacheEntry",
                "CacheMetrics",
                "PrefetchTask",
                "CacheContents",
                "LikelihoodScores",
                "FrameIndex",
                "Statistics",
            ],
        ),
    ],
)
def test_module_paths_hold_the_same_names(module, names):
    mod = importlib.import_module(f"dpc.{module}")
    for name in names:
        assert hasattr(mod, name), f"dpc.{module}.{name}"
        assert getattr(mod, name) is getattr(dpc, name, getattr(mod, name))


def _params(f):
    return [(p.name, p.default, p.kind) for p in inspect.signature(f).parameters.values()]


def test_cache_constructor_parameters_and_defaults():
    params = {p.name: p for p in inspect.signature(dpc.DynamicPrefetchingCache).parameters.values()}
    assert list(params)[:7] == [
        "provider",
        "predictor",
        "max_keys_cached",
        "eviction_policy",
        "history_size",
        "max_keys_prefetched",
        "on_event",
    ]
    assert params["max_keys_cached"].default == 100
    assert params["eviction_policy"].default is dpc.EvictionPolicyOldest
    assert params["history_size"].default == 30
    assert params["max_keys_prefetched"].default == 20
    assert params["on_event"].default is None


@needs_original
@pytest.mark.parametrize(
    "name",
    ["DynamicPrefetchingCache", "DistanceDecayPredictor", "DynamicDistanceDecayPredictor", "DynamicDataPredictor"],
)
def test_signatures_match_the_original(name):
    ours = [p for p in _params(getattr(dpc, name)) if p[2] != inspect.Parameter.KEYWORD_ONLY or p[0] != "workers"]
    theirs = _params(getattr(original, name))
    assert [(n, d if n != "eviction_policy" else None) for n, d, _ in ours] == [
        (n, d if n != "eviction_policy" else None) for n, d, _ in theirs
    ]


@needs_original
def test_mot_provider_signature_matches_the_original():
    ours = [(n, d) for n, d, k in _params(dpc.MOTDataProvider) if k != inspect.Parameter.KEYWORD_ONLY]
    assert ours == [(n, d) for n, d, _ in _params(original.MOTDataProvider)]


def test_get_loads_then_hits_and_stats_have_the_original_keys():
    p = Doubler()
    with dpc.DynamicPrefetchingCache(p, Fixed({}), max_keys_cached=10) as cache:
        assert cache.get(3) == 6
        assert cache.get(3) == 6
        stats = cache.stats()
    assert set(stats) == {"hits", "misses", "evictions", "prefetch_errors", "cache_keys", "active_prefetch_tasks"}
    assert stats["hits"] == 1 and stats["misses"] == 1
    assert stats["cache_keys"] == 1 and stats["evictions"] == 0 and stats["prefetch_errors"] == 0
    assert p.loads[3] == 1


def test_get_takes_its_key_by_name_as_the_original_allows_and_refuses_other_arguments():
    with dpc.DynamicPrefetchingCache(Doubler(), Fixed({})) as cache:
        assert cache.get(key=3) == 6  # a miss
        assert cache.get(key=3) == 6  # a hit
        for call in (lambda: cache.get(), lambda: cache.get(1, 2), lambda: cache.get(k=1), lambda: cache.get(1, key=1)):
            with pytest.raises(TypeError):
                call()
        stats = cache.stats()
    assert stats["hits"] == 1 and stats["misses"] == 1


def test_a_hit_is_a_request_the_predictor_sees_and_stats_count():
    class Index:
        def __index__(self):
            return 12

    pred = Fixed({11: 1.0, 12: 1.0})
    with dpc.DynamicPrefetchingCache(Doubler(), pred, max_keys_cached=10) as cache:
        cache.get(10)
        cache.quiesce()
        assert cache.get(11) == 22
        cache.quiesce()
        assert cache.get(Index()) == 24  # an int-like key hits like the int
        cache.quiesce()
        stats = cache.stats()
    assert [c for c, _ in pred.calls] == [10, 11, 12]
    assert stats["hits"] == 2 and stats["misses"] == 1


def test_the_provider_exception_reaches_the_caller_as_the_same_object():
    raised = []

    class Failing:
        def load(self, key):
            e = LookupError(f"gone {key}")
            raised.append(e)
            raise e

    with dpc.DynamicPrefetchingCache(Failing(), Fixed({})) as cache:
        with pytest.raises(LookupError) as info:
            cache.get(5)
        assert info.value is raised[0]
        # Not cached: the next get loads again.
        with pytest.raises(LookupError):
            cache.get(5)
        assert len(raised) == 2
        assert cache.stats()["misses"] == 2


def test_custom_exception_types_survive():
    class MyError(Exception):
        def __init__(self, key):
            super().__init__(key)
            self.key_seen = key

    class P:
        def load(self, key):
            raise MyError(key)

    with dpc.DynamicPrefetchingCache(P(), Fixed({})) as cache:
        with pytest.raises(MyError) as info:
            cache.get(9)
        assert info.value.key_seen == 9


def test_prefetch_loads_the_predicted_keys_and_hits_them():
    p = Doubler()
    with dpc.DynamicPrefetchingCache(p, Fixed({11: 1.0, 12: 0.5}), max_keys_cached=10) as cache:
        cache.get(10)
        cache.quiesce()
        assert cache.get(11) == 22 and cache.get(12) == 24
        stats = cache.stats()
    assert stats["misses"] == 1 and stats["hits"] == 2
    assert p.loads[11] == 1 and p.loads[12] == 1


def test_the_predictor_sees_the_history_without_repeats_and_is_not_asked_again_for_a_repeat():
    pred = Fixed({})
    with dpc.DynamicPrefetchingCache(Doubler(), pred, history_size=4) as cache:
        for k in [1, 2, 2, 3, 4, 5]:
            cache.get(k)
            cache.quiesce()
    currents = [c for c, _ in pred.calls]
    assert currents == [1, 2, 3, 4, 5]
    assert pred.calls[-1][1][-1] == 5
    assert all(a != b for _, h in pred.calls for a, b in zip(h, h[1:]))


def test_events_have_the_original_names_and_keyword_arguments():
    events = []
    p = Doubler(missing={21, 30})
    cache = dpc.DynamicPrefetchingCache(
        p, Fixed({20: 1.0, 21: 0.9}), max_keys_cached=2, on_event=lambda name, **kw: events.append((name, kw))
    )
    cache.get(1)
    cache.quiesce()
    with pytest.raises(KeyError):
        cache.get(30)
    cache.close()  # delivers every pending event
    names = {n for n, _ in events}
    assert {"cache_load_start", "cache_load_complete", "cache_load_error", "prefetch_start", "prefetch_success",
            "prefetch_error"} <= names
    allowed = {
        "cache_load_start": {"key"},
        "cache_load_complete": {"key"},
        "cache_load_error": {"key", "error"},
        "prefetch_start": {"key"},
        "prefetch_success": {"key"},
        "prefetch_error": {"key", "error"},
        "cache_evict": {"key"},
        "worker_error": {"error"},
    }
    for name, kw in events:
        assert set(kw) == allowed[name], (name, kw)
    assert ("cache_load_error", {"key": 30, "error": str(KeyError("no record 30"))}) in events
    assert ("prefetch_error", {"key": 21, "error": str(KeyError("no record 21"))}) in events
    # Order per key: start before its outcome.
    starts = [i for i, (n, kw) in enumerate(events) if n == "cache_load_start" and kw["key"] == 1]
    done = [i for i, (n, kw) in enumerate(events) if n == "cache_load_complete" and kw["key"] == 1]
    assert starts[0] < done[0]


def test_an_event_callback_that_raises_is_logged_and_ignored(caplog):
    def bad(name, **kw):
        raise RuntimeError("callback broke")

    cache = dpc.DynamicPrefetchingCache(Doubler(), Fixed({}), on_event=bad)
    assert cache.get(1) == 2
    cache.close()
    assert any("callback broke" in r.getMessage() for r in caplog.records)


def test_evictions_are_counted_and_reported():
    events = []
    cache = dpc.DynamicPrefetchingCache(
        Doubler(), Fixed({}), max_keys_cached=3, on_event=lambda n, **kw: events.append((n, kw))
    )
    for k in range(6):
        cache.get(k)
    stats = cache.stats()
    cache.close()
    assert stats["evictions"] == 3 and stats["cache_keys"] == 3
    assert [kw["key"] for n, kw in events if n == "cache_evict"] == [0, 1, 2]


def test_the_least_likely_key_is_evicted_first():
    # Key 0 keeps a high score, so the unscored keys go first even though 0 is oldest.
    cache = dpc.DynamicPrefetchingCache(Doubler(), Fixed({0: 5.0}), max_keys_cached=2, workers=0)
    cache.get(0)
    cache.quiesce()
    cache.get(1)
    cache.quiesce()
    cache.get(2)
    cache.quiesce()
    snap = {r[0] for r in cache.native.snapshot()["resident"]}
    cache.close()
    assert 0 in snap and 2 in snap and 1 not in snap


class KeepEven:
    """A user-defined policy: among tied victims, evict odd keys first (largest odd key)."""

    def __init__(self):
        self.calls = []

    def pick_victim(self, cache_contents, scores):
        self.calls.append((sorted(cache_contents), dict(scores)))
        odd = [k for k in cache_contents if k % 2]
        return max(odd) if odd else min(cache_contents)


def test_a_user_defined_pick_victim_chooses_among_tied_entries():
    policy = KeepEven()
    events = []
    cache = dpc.DynamicPrefetchingCache(
        Doubler(), Fixed({}), max_keys_cached=3, eviction_policy=policy, workers=0,
        on_event=lambda n, **kw: events.append((n, kw)),
    )
    for k in [1, 2, 3, 4]:
        cache.get(k)
    resident = sorted(r[0] for r in cache.native.snapshot()["resident"])
    stats = cache.stats()
    cache.close()
    assert resident == [1, 2, 4]
    assert stats["evictions"] == 1 and stats["cache_keys"] == 3
    assert policy.calls and policy.calls[0][0] == [1, 2, 3, 4]
    assert all(isinstance(s, float) for s in policy.calls[0][1].values())
    assert ("cache_evict", {"key": 3}) in events


def test_a_policy_class_is_instantiated_like_the_original():
    cache = dpc.DynamicPrefetchingCache(Doubler(), Fixed({}), eviction_policy=dpc.EvictionPolicySmallest)
    assert isinstance(cache.eviction_policy, dpc.EvictionPolicySmallest)
    cache.close()


def test_pick_victim_gets_cache_entries_with_data_and_timestamps():
    seen = {}

    class Record:
        def pick_victim(self, contents, scores):
            seen.update(contents)
            return min(contents, key=lambda k: contents[k].timestamp)

    cache = dpc.DynamicPrefetchingCache(Doubler(), Fixed({}), max_keys_cached=2, eviction_policy=Record, workers=0)
    for k in [5, 6, 7]:
        cache.get(k)
        cache.quiesce()
    cache.close()
    assert {k: e.data for k, e in seen.items()} == {5: 10, 6: 12, 7: 14}
    assert all(isinstance(e, dpc.types.CacheEntry) for e in seen.values())


def test_largest_policy_evicts_the_biggest_tied_value():
    class Sized:
        def load(self, key):
            return "x" * (1000 if key == 2 else 10)

    cache = dpc.DynamicPrefetchingCache(Sized(), Fixed({}), max_keys_cached=3,
                                        eviction_policy=dpc.EvictionPolicyLargest, workers=0)
    for k in [1, 2, 3, 4]:
        cache.get(k)
    resident = sorted(r[0] for r in cache.native.snapshot()["resident"])
    cache.close()
    assert resident == [1, 3, 4]


def test_smallest_policy_evicts_the_smallest_tied_value():
    class Sized:
        def load(self, key):
            return "x" * (10 if key == 3 else 1000)

    cache = dpc.DynamicPrefetchingCache(Sized(), Fixed({}), max_keys_cached=3,
                                        eviction_policy=dpc.EvictionPolicySmallest, workers=0)
    for k in [1, 2, 3, 4]:
        cache.get(k)
    resident = sorted(r[0] for r in cache.native.snapshot()["resident"])
    cache.close()
    assert resident == [1, 2, 4]


def test_close_and_shutdown_are_idempotent_and_get_after_close_raises():
    cache = dpc.DynamicPrefetchingCache(Doubler(), Fixed({}))
    cache.get(1)
    cache.close()
    cache.close()
    cache.shutdown()
    with pytest.raises(dpc.CacheClosed):
        cache.get(1)
    assert issubclass(dpc.CacheClosed, RuntimeError)


def test_context_manager_closes():
    with dpc.DynamicPrefetchingCache(Doubler(), Fixed({})) as cache:
        assert cache.get(2) == 4
    with pytest.raises(dpc.CacheClosed):
        cache.get(2)


def test_a_failing_predictor_is_a_worker_error_and_the_cache_goes_on():
    class Broken:
        def get_likelihoods(self, current, history):
            raise ValueError("no idea")

    events = []
    cache = dpc.DynamicPrefetchingCache(Doubler(), Broken(), on_event=lambda n, **kw: events.append((n, kw)))
    assert cache.get(1) == 2
    cache.quiesce()
    assert cache.get(2) == 4
    cache.close()
    errors = [kw["error"] for n, kw in events if n == "worker_error"]
    assert errors and "no idea" in errors[0]


def test_constructor_attributes_are_kept():
    p, pred = Doubler(), Fixed({})
    cb = lambda n, **kw: None  # noqa: E731
    cache = dpc.DynamicPrefetchingCache(p, pred, max_keys_cached=7, history_size=5, max_keys_prefetched=3, on_event=cb)
    assert (cache.provider, cache.predictor, cache.max_keys_cached, cache.history_size, cache.max_keys_prefetched,
            cache.on_event) == (p, pred, 7, 5, 3, cb)
    cache.close()


def test_a_mapping_that_is_not_a_dict_is_accepted_from_a_predictor():
    from types import MappingProxyType

    class Proxy:
        def get_likelihoods(self, current, history):
            return MappingProxyType({current + 1: 1.0})

    p = Doubler()
    with dpc.DynamicPrefetchingCache(p, Proxy()) as cache:
        cache.get(1)
        cache.quiesce()
        assert p.loads[2] == 1


def test_keys_beyond_64_bits_are_refused_with_overflow_error():
    with dpc.DynamicPrefetchingCache(Doubler(), Fixed({})) as cache:
        with pytest.raises(OverflowError):
            cache.get(2**70)
        with pytest.raises(TypeError):
            cache.get("7")


# MOTDetection and MOTFrameData behave like the dataclasses they replace.

def _det(**over):
    fields = dict(frame=1, track_id=2, bb_left=1.5, bb_top=2.0, bb_width=3.25, bb_height=4.0, confidence=0.9,
                  class_id=1, visibility_ratio=1.0)
    fields.update(over)
    return dpc.MOTDetection(**fields)


def test_detection_attributes_equality_and_repr():
    d = _det()
    assert d.track_id == 2 and d.bb_width == 3.25
    assert d == _det() and d != _det(track_id=3)
    assert repr(d) == ("MOTDetection(frame=1, track_id=2, bb_left=1.5, bb_top=2.0, bb_width=3.25, bb_height=4.0, "
                       "confidence=0.9, class_id=1, visibility_ratio=1.0)")
    d.bb_left = 7.0
    assert d.bb_left == 7.0
    with pytest.raises(TypeError):
        hash(d)
    assert (d == object()) is False
    assert pickle.loads(pickle.dumps(d)) == d
    assert dpc.MOTDetection(1, 2, 1.5, 2.0, 3.25, 4.0, 0.9, 1, 1.0) == _det()


def test_frame_data_attributes_equality_and_repr():
    f = dpc.MOTFrameData(frame_number=1, detections=[_det()])
    assert f.frame_number == 1 and f.detections == [_det()]
    assert f == dpc.MOTFrameData(1, [_det()])
    assert f != dpc.MOTFrameData(2, [_det()])
    assert repr(f) == f"MOTFrameData(frame_number=1, detections=[{_det()!r}])"
    f.detections.append(_det(track_id=5))
    assert len(f.detections) == 2
    assert pickle.loads(pickle.dumps(f)) == f


@needs_original
def test_reprs_match_the_original_dataclasses():
    args = (1, 2, 1.5, 2.0, 3.25, 4.0, 0.9, 1, 1.0)
    assert repr(dpc.MOTDetection(*args)) == repr(original.MOTDetection(*args))
    assert repr(dpc.MOTFrameData(3, [])) == repr(original.MOTFrameData(3, []))


# The built-in predictors score exactly as the original's get_likelihoods.

PREDICTOR_CASES = [
    ("DistanceDecayPredictor", {}, [(0, []), (50, [48, 49, 50]), (3, [1, 2, 3])]),
    ("DistanceDecayPredictor", {"max_span": 5, "decay": 2.0}, [(10, [10])]),
    ("DynamicDistanceDecayPredictor", {}, [(0, [0]), (7, [5, 6, 7]), (30, [31, 30]), (100, [90, 100])]),
    ("DynamicDistanceDecayPredictor", {"forward_bias": 3.0, "max_span": 9}, [(4, [3, 4])]),
    ("DynamicDataPredictor", {"possible_jumps": [-15, -5, -1, 5, 15, 30]}, [(0, [0]), (20, [18, 19, 20]),
                                                                            (20, [21, 19, 20]), (3, [1, 2, 3])]),
    ("DynamicDataPredictor", {"possible_jumps": [10], "length": 12, "max_span": 4, "proximity_range": 2},
     [(5, [3, 4, 5]), (11, [11])]),
]


@needs_original
@pytest.mark.parametrize("name, kwargs, calls", PREDICTOR_CASES)
def test_predictors_score_as_the_original(name, kwargs, calls):
    ours, theirs = getattr(dpc, name)(**kwargs), getattr(original, name)(**kwargs)
    for current, history in calls:
        a, b = ours.get_likelihoods(current, history), theirs.get_likelihoods(current, history)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-12), (current, k)


def test_predictor_parameters_are_attributes():
    p = dpc.DynamicDataPredictor([1, 2], jump_boost=7.0)
    assert p.possible_jumps == [1, 2] and p.jump_boost == 7.0 and p.forward_bias == 2.0 and p.length is None
    assert p.max_span == 30 and p.proximity_range == 5
    d = dpc.DistanceDecayPredictor()
    assert (d.max_span, d.decay) == (60, 1.5)
    dd = dpc.DynamicDistanceDecayPredictor()
    assert (dd.forward_bias, dd.max_span) == (2.0, 25)


def test_a_subclass_overriding_get_likelihoods_is_called_as_python():
    class Mine(dpc.DistanceDecayPredictor):
        def __init__(self):
            super().__init__()
            self.asked = 0

        def get_likelihoods(self, current, history):
            self.asked += 1
            return {current + 100: 1.0}

    p, pred = Doubler(), Mine()
    with dpc.DynamicPrefetchingCache(p, pred) as cache:
        cache.get(1)
        cache.quiesce()
    assert pred.asked == 1 and p.loads[101] == 1


def test_native_predictors_prefetch_without_python_predictor_calls():
    p = Doubler()
    with dpc.DynamicPrefetchingCache(p, dpc.DynamicDataPredictor([5]), max_keys_cached=100) as cache:
        cache.get(10)
        cache.quiesce()
        assert cache.get(11) == 22
        assert cache.stats()["hits"] >= 1
    assert p.loads[15] == 1


def test_protocols_are_protocols():
    import typing

    for proto in (dpc.DataProvider, dpc.AccessPredictor, dpc.EvictionPolicy, dpc.EventCallback):
        assert typing.Protocol in proto.__mro__


def test_builtin_policies_pick_like_the_original():
    from dpc.types import CacheEntry

    contents = {1: CacheEntry("aaaa", 3.0), 2: CacheEntry("a", 1.0), 3: CacheEntry("a" * 100, 2.0)}
    assert dpc.EvictionPolicyOldest().pick_victim(contents, {}) == 2
    assert dpc.EvictionPolicyLargest().pick_victim(contents, {}) == 3
    assert dpc.EvictionPolicySmallest().pick_victim(contents, {}) == 2


def test_a_get_during_a_prefetch_joins_it_instead_of_loading_twice():
    # The original loads such a key twice (its get never looks at the worker's load in flight).
    started, go = threading.Event(), threading.Event()
    loads = []

    class Slow2:
        def load(self, key):
            loads.append(key)
            if key == 2:
                started.set()
                go.wait(30)
            return key

    cache = dpc.DynamicPrefetchingCache(Slow2(), Fixed({2: 1.0}), workers=1)
    assert cache.get(1) == 1
    assert started.wait(30)
    result = []
    t = threading.Thread(target=lambda: result.append(cache.get(2)))
    t.start()
    go.set()
    t.join()
    stats = cache.stats()
    cache.close()
    assert result == [2] and loads.count(2) == 1
    assert stats["misses"] == 1 and stats["hits"] == 1


def test_history_size_bounds_what_the_predictor_sees():
    pred = Fixed({})
    with dpc.DynamicPrefetchingCache(Doubler(), pred, history_size=3) as cache:
        for k in range(10):
            cache.get(k)
            cache.quiesce()
    assert pred.calls[-1] == (9, [7, 8, 9])
    assert max(len(h) for _, h in pred.calls) == 3


def test_an_eviction_policy_instance_is_accepted():
    policy = KeepEven()
    cache = dpc.DynamicPrefetchingCache(Doubler(), Fixed({}), max_keys_cached=1, eviction_policy=policy, workers=0)
    cache.get(1)
    cache.get(2)
    assert cache.eviction_policy is policy and cache.stats()["evictions"] == 1
    cache.close()
