"""Protocols, dataclasses and eviction policies, as in ``dynamic_prefetching_cache.types`` 0.1.2.

``MOTDetection`` and ``MOTFrameData`` are native classes with the dataclasses' fields, constructor,
attribute access, equality, ``repr`` and pickling; a frame loaded natively builds its ``detections`` list
on first access.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Protocol, Sequence, Set, Tuple

from ._native import MOTDetection, MOTFrameData

__all__ = [
    "DataProvider",
    "AccessPredictor",
    "EvictionPolicy",
    "EventCallback",
    "CacheEntry",
    "CacheMetrics",
    "PrefetchTask",
    "MOTDetection",
    "MOTFrameData",
    "EvictionPolicyOldest",
    "EvictionPolicyLargest",
    "EvictionPolicySmallest",
    "CacheContents",
    "LikelihoodScores",
    "FrameIndex",
    "Statistics",
]


class DataProvider(Protocol):
    """A data source that loads records by key. ``load`` may block and is called from several threads."""

    def load(self, key: int) -> Any:
        """Load data for the given key. May perform blocking I/O."""
        ...

    def get_available_frames(self) -> Set[int]:
        """Get the set of available frame numbers."""
        ...

    def get_total_frames(self) -> int:
        """Get the total number of frames."""
        ...

    def get_stats(self) -> Dict[str, Any]:
        """Get statistics about the data provider."""
        ...


class AccessPredictor(Protocol):
    """Predicts future accesses: likelihood scores for keys that might be requested next."""

    def get_likelihoods(self, current: int, history: Sequence[int]) -> Dict[int, float]:
        """Return likelihood scores for keys that might be accessed next."""
        ...


class EvictionPolicy(Protocol):
    """Chooses which of several equally unlikely cache entries to evict."""

    def pick_victim(self, cache_contents: Mapping[int, "CacheEntry"], scores: Mapping[int, float]) -> int:
        """Pick a key to evict from ``cache_contents``."""
        ...


class EventCallback(Protocol):
    """``on_event(event_name, **kwargs)``; the names and keyword arguments are those of the original:

    - ``cache_load_start(key)``, ``cache_load_complete(key)``, ``cache_load_error(key, error)``: a demand load;
    - ``prefetch_start(key)``, ``prefetch_success(key)``, ``prefetch_error(key, error)``: a background load;
    - ``cache_evict(key)``: an entry was evicted;
    - ``worker_error(error)``: a predictor or weigher failed and the cache went on.

    ``error`` is ``str(exception)``. Events arrive in order on one background thread (see the README).
    """

    def __call__(self, event_name: str, **kwargs: Any) -> None: ...


@dataclass
class CacheEntry:
    """A cache entry as an eviction policy sees it: the value and when it became resident."""

    data: Any
    timestamp: float

    def __post_init__(self) -> None:
        if self.timestamp == 0:
            self.timestamp = time.time()


@dataclass
class CacheMetrics:
    """The original's counters (kept for code that imports it)."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    prefetch_errors: int = 0


@dataclass
class PrefetchTask:
    """A priority-queue entry of the original's scheduler (kept for code that imports it)."""

    priority: float
    key: int

    def __lt__(self, other: "PrefetchTask") -> bool:
        return self.priority < other.priority


class EvictionPolicyOldest:
    """Evict the entry that became resident first (the default)."""

    def pick_victim(self, cache_contents: Mapping[int, CacheEntry], scores: Mapping[int, float]) -> int:
        return min(cache_contents.keys(), key=lambda k: cache_contents[k].timestamp)


class EvictionPolicyLargest:
    """Evict the largest entry (``sys.getsizeof`` of its value; native frames by their rows)."""

    def pick_victim(self, cache_contents: Mapping[int, CacheEntry], scores: Mapping[int, float]) -> int:
        import sys

        return max(cache_contents.keys(), key=lambda k: sys.getsizeof(cache_contents[k].data))


class EvictionPolicySmallest:
    """Evict the smallest entry (``sys.getsizeof`` of its value; native frames by their rows)."""

    def pick_victim(self, cache_contents: Mapping[int, CacheEntry], scores: Mapping[int, float]) -> int:
        import sys

        return min(cache_contents.keys(), key=lambda k: sys.getsizeof(cache_contents[k].data))


CacheContents = Dict[int, CacheEntry]
LikelihoodScores = Dict[int, float]
FrameIndex = Dict[int, List[Tuple[int, int]]]
Statistics = Dict[str, Any]
