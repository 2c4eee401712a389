"""The caches: ``DynamicPrefetchingCache`` (the original's API) and ``PrefetchCache`` (the Pythonic one).

Both run dpc-core's ``PrefetchCache`` underneath: one scheduler thread runs the predictor, ``workers``
threads prefetch, a demand load runs on the caller's thread, one key is never loaded twice at once, and
the least likely resident key is evicted first. See the package README for how this differs from the
original's single worker thread.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Type, Union

from . import _native
from ._native import CacheClosed, ProviderError
from .predictors import native_spec
from .providers import native_file
from .types import (
    AccessPredictor,
    CacheEntry,
    DataProvider,
    EventCallback,
    EvictionPolicy,
    EvictionPolicyLargest,
    EvictionPolicyOldest,
    EvictionPolicySmallest,
)

__all__ = [
    "DynamicPrefetchingCache",
    "PrefetchCache",
    "Stats",
    "Event",
    "Snapshot",
    "Resident",
    "CacheClosed",
    "ProviderError",
]

logger = logging.getLogger("DynamicPrefetchingCache")

# Every open cache, closed at interpreter exit while the interpreter can still run the workers' Python code.
_live: "weakref.WeakSet[Any]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for cache in list(_live):
        try:
            cache.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


def _native_parts(provider: Any, predictor: Any) -> Tuple[Any, Any]:
    """The provider and predictor as the native cache takes them: native where they can be, else the objects."""
    file = native_file(provider)
    if predictor is None:
        return (provider if file is None else file), None
    spec = native_spec(predictor)
    return (provider if file is None else file), (predictor if spec is None else spec)


# The original's event names and the keyword arguments each carries.
_COMPAT_EVENTS: Dict[str, Tuple[str, ...]] = {
    "cache_load_start": ("key",),
    "cache_load_complete": ("key",),
    "cache_load_error": ("key", "error"),
    "prefetch_start": ("key",),
    "prefetch_success": ("key",),
    "prefetch_error": ("key", "error"),
    "cache_evict": ("key",),
    "worker_error": ("error",),
}


def _owner(obj: Any, name: str) -> Optional[type]:
    return next((c for c in type(obj).__mro__ if name in c.__dict__), None)


def _builtin_policy(policy: Any) -> Optional[str]:
    """The native tie-break for one of the three built-in policies (unless a subclass overrides it)."""
    owner = _owner(policy, "pick_victim")
    return {EvictionPolicyOldest: "oldest", EvictionPolicyLargest: "largest", EvictionPolicySmallest: "smallest"}.get(
        owner  # type: ignore[arg-type]
    )


class DynamicPrefetchingCache:
    """The original's cache: ``get(key)``, ``stats()``, ``close()``/``shutdown()``, a context manager.

    Parameters and defaults are the original's; ``workers`` (keyword only, default 4) is new: the original
    had one background thread.
    """

    def __init__(
        self,
        provider: DataProvider,
        predictor: AccessPredictor,
        max_keys_cached: int = 100,
        eviction_policy: Union[Type[EvictionPolicy], EvictionPolicy] = EvictionPolicyOldest,
        history_size: int = 30,
        max_keys_prefetched: int = 20,
        on_event: Optional[EventCallback] = None,
        *,
        workers: int = 4,
    ) -> None:
        self.provider = provider
        self.predictor = predictor
        self.max_keys_cached = max_keys_cached
        self.history_size = history_size
        self.max_keys_prefetched = max_keys_prefetched
        self.on_event = on_event
        self.eviction_policy = eviction_policy() if isinstance(eviction_policy, type) else eviction_policy
        policy = _builtin_policy(self.eviction_policy)
        # A user-defined pick_victim cannot run inside dpc-core (it has no such hook): the native cache gets
        # room for the prefetches in flight beyond max_keys_cached, and get() trims back to it here, asking
        # pick_victim among the lowest-scored entries exactly as the original did.
        self._custom = None if policy is not None else self.eviction_policy
        self._stamps: Dict[int, float] = {}
        self._own_evictions = 0
        self._trim_lock = threading.Lock()
        native_provider, native_predictor = _native_parts(provider, predictor)
        capacity = max_keys_cached if self._custom is None else max_keys_cached + max(max_keys_prefetched, 1)
        self._cache = _native.Cache(
            native_provider,
            native_predictor,
            max_entries=capacity,
            weigher="native" if policy in ("largest", "smallest") else None,
            eviction=policy or "oldest",
            workers=workers,
            max_prefetch=max_keys_prefetched,
            history_len=history_size,
            on_event=self._dispatcher(on_event, self._stamps if self._custom is not None else None),
            wrap_errors=False,
        )
        if self._custom is None and type(self).get is DynamicPrefetchingCache.get:
            # The hit path without a Python frame: the native method itself.
            self.get = self._cache.get  # type: ignore[method-assign]
        _live.add(self)

    @staticmethod
    def _dispatcher(on_event: Optional[Callable[..., None]], stamps: Optional[Dict[int, float]]):
        # A plain closure, not a bound method: the native cache must not hold the Python cache alive.
        if on_event is None and stamps is None:
            return None

        def dispatch(name: str, fields: Dict[str, Any]) -> None:
            if stamps is not None:
                if name in ("cache_load_complete", "prefetch_success") and fields.get("admitted", True):
                    stamps[fields["key"]] = time.monotonic()
                elif name in ("cache_evict", "invalidate"):
                    stamps.pop(fields["key"], None)
            keep = _COMPAT_EVENTS.get(name)
            if on_event is None or keep is None:
                return
            try:
                on_event(name, **{k: fields[k] for k in keep})
            except Exception as e:
                logger.warning(f"Error emitting event {name}: {e}")

        return dispatch

    def get(self, key: int) -> Any:
        """The data for ``key``: resident, joined from the load in flight, or loaded now.

        Raises the provider's own exception (the same object) if the load fails; nothing is cached then.
        """
        value = self._cache.get(key)
        if self._custom is not None:
            self._trim()
        return value

    def _trim(self) -> None:
        if len(self._cache) <= self.max_keys_cached:
            return
        with self._trim_lock:
            resident = {r[0]: r[1] for r in self._cache.snapshot()["resident"]}
            while len(resident) > self.max_keys_cached:
                low = min(resident.values())
                tied = [k for k, s in resident.items() if s == low]
                victim = tied[0]
                if len(tied) > 1:
                    now = time.monotonic()
                    entries = {}
                    for k in tied:
                        data = self._cache.peek(k)
                        entries[k] = CacheEntry(data=data, timestamp=self._stamps.get(k, now))
                    victim = int(self._custom.pick_victim(entries, {k: low for k in tied}))
                    if victim not in resident:
                        raise KeyError(f"pick_victim returned {victim!r}, which is not one of the candidates")
                self._cache.invalidate(victim)
                del resident[victim]
                self._stamps.pop(victim, None)
                self._own_evictions += 1
                if self.on_event is not None:
                    try:
                        self.on_event("cache_evict", key=victim)
                    except Exception as e:
                        logger.warning(f"Error emitting event cache_evict: {e}")

    def stats(self) -> Dict[str, int]:
        """The original's counters: ``hits`` (including requests that joined a load in flight), ``misses``,
        ``evictions``, ``prefetch_errors``, ``cache_keys`` and ``active_prefetch_tasks`` (queued prefetches)."""
        snap = self._cache.snapshot()
        s = snap["stats"]
        return {
            "hits": s["hits"] + s["late_hits"],
            "misses": s["misses"],
            "evictions": s["evictions"] + self._own_evictions,
            "prefetch_errors": s["prefetch_failed"],
            "cache_keys": s["resident_entries"],
            "active_prefetch_tasks": len(snap["queued"]),
        }

    def close(self) -> None:
        """Stop and join the cache's threads. Idempotent, from any thread."""
        cache = getattr(self, "_cache", None)
        if cache is not None:
            cache.close()

    def shutdown(self) -> None:
        """The same as ``close()``."""
        self.close()

    def __enter__(self) -> "DynamicPrefetchingCache":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # Beyond the original: the Pythonic cache's tools.
    def quiesce(self) -> None:
        """Wait until the predictor has seen every request and its prefetches have settled (for tests)."""
        self._cache.quiesce()

    @property
    def native(self) -> "_native.Cache":
        """The native cache underneath."""
        return self._cache


@dataclass(frozen=True)
class Stats:
    """dpc-core's counters, with the derived ``requests``, ``hit_rate``, ``accuracy`` and ``coverage``."""

    hits: int
    late_hits: int
    misses: int
    loads: int
    load_errors: int
    prefetch_issued: int
    prefetch_completed: int
    prefetch_used: int
    prefetch_wasted: int
    prefetch_failed: int
    prefetch_cancelled: int
    evictions: int
    inserted: int
    invalidated: int
    history_dropped: int
    predictor_panics: int
    resident_entries: int
    resident_weight: int
    in_flight: int
    requests: int
    hit_rate: float
    accuracy: float
    coverage: float

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "Stats":
        return cls(**{f: d[f] for f in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Event:
    """Something that happened in the cache; ``kind`` is one of the original's event names or
    ``prefetch_cancel`` / ``invalidate``. Fields an event does not carry are None."""

    kind: str
    key: Optional[int] = None
    score: Optional[float] = None
    elapsed: Optional[float] = None
    admitted: Optional[bool] = None
    prefetched_unused: Optional[bool] = None
    error: Optional[str] = None


@dataclass(frozen=True)
class Resident:
    """A resident entry: its current score (0 when unpredicted), weight, and whether it was prefetched/used."""

    key: int
    score: float
    weight: int
    prefetched: bool
    used: bool


@dataclass(frozen=True)
class Snapshot:
    """The cache at one instant."""

    resident: List[Resident]
    in_flight: List[Tuple[int, str]]
    queued: List[Tuple[int, float]]
    predicted: List[Tuple[int, float]]
    stats: Stats = field(repr=False)


_dpc_logger = logging.getLogger("dpc")


class PrefetchCache:
    """A prefetching cache over a provider (any object with ``load(key)``, or a ``MOTDataProvider``).

    ``predictor`` is ``"auto"`` (the adaptive ensemble, the default), another name from
    ``dpc.predictors.Named.names``, a predictor object, or None (no prefetching). ``max_entries`` and/or
    ``max_weight`` bound the cache (100 entries when neither is given); ``weigher(key, value) -> int``
    measures an entry for ``max_weight``. A failing load raises ``dpc.ProviderError`` (``.key``, and the
    provider's exception as ``__cause__``); a closed cache raises ``dpc.CacheClosed``.
    """

    def __init__(
        self,
        provider: Any,
        predictor: Any = "auto",
        *,
        max_entries: Optional[int] = None,
        max_weight: Optional[int] = None,
        weigher: Optional[Callable[[int, Any], int]] = None,
        workers: int = 4,
        max_prefetch: int = 20,
        history_len: int = 30,
        eviction: str = "oldest",
        on_event: Optional[Callable[[Event], None]] = None,
    ) -> None:
        native_provider, native_predictor = _native_parts(provider, predictor)
        self.provider = provider
        self.predictor = predictor
        self._cache = _native.Cache(
            native_provider,
            native_predictor,
            max_entries=max_entries,
            max_weight=max_weight,
            weigher=weigher,
            eviction=eviction,
            workers=workers,
            max_prefetch=max_prefetch,
            history_len=history_len,
            on_event=None if on_event is None else self._dispatcher(on_event),
            wrap_errors=True,
        )
        self.get = self._cache.get  # type: ignore[method-assign]
        _live.add(self)

    @staticmethod
    def _dispatcher(on_event: Callable[[Event], None]):
        def dispatch(name: str, fields: Dict[str, Any]) -> None:
            try:
                on_event(Event(name, **fields))
            except Exception as e:
                _dpc_logger.warning(f"on_event raised on {name}: {e!r}")

        return dispatch

    def get(self, key: int) -> Any:  # replaced per instance by the native method
        """The value of ``key``: resident, joined from the load in flight, or loaded now."""
        return self._cache.get(key)

    def __getitem__(self, key: int) -> Any:
        return self._cache.get(key)

    def peek(self, key: int) -> Any:
        """The value if resident now, else None; never loads and is not a request."""
        return self._cache.peek(key)

    def insert(self, key: int, value: Any) -> bool:
        """Make ``value`` resident under ``key`` as if just loaded; False if it was not kept."""
        return self._cache.insert(key, value)

    def invalidate(self, key: int) -> None:
        """Drop ``key``'s value (and a load of it in flight); the next ``get`` loads afresh."""
        self._cache.invalidate(key)

    def invalidate_all(self) -> None:
        """Drop every value and every load in flight."""
        self._cache.invalidate_all()

    def prefetch(self, keys: Iterable[int]) -> None:
        """Hint that ``keys`` will be requested soon, in this order."""
        self._cache.prefetch(list(keys))

    def snapshot(self) -> Snapshot:
        """Resident keys with scores, loads in flight, the queue, the prediction and the counters."""
        d = self._cache.snapshot()
        return Snapshot(
            resident=[Resident(*r) for r in d["resident"]],
            in_flight=list(d["in_flight"]),
            queued=list(d["queued"]),
            predicted=list(d["predicted"]),
            stats=Stats._from(d["stats"]),
        )

    def stats(self) -> Stats:
        return Stats._from(self._cache.stats())

    def quiesce(self) -> None:
        """Wait until the predictor has seen every request and its prefetches have settled."""
        self._cache.quiesce()

    def close(self, timeout: Optional[float] = None) -> List[str]:
        """Stop and join the threads (waiting at most ``timeout`` s, default 5, for user code); returns the
        names of threads left running. Idempotent, from any thread."""
        cache = getattr(self, "_cache", None)
        return [] if cache is None else cache.close(timeout)

    @property
    def closed(self) -> bool:
        return self._cache.closed

    def __contains__(self, key: int) -> bool:
        return key in self._cache

    def __len__(self) -> int:
        return len(self._cache)

    def __enter__(self) -> "PrefetchCache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
