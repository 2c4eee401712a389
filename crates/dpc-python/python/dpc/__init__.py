"""dpc: a speculative prefetching cache with a Rust engine.

A drop-in for ``dynamic_prefetching_cache`` 0.1.2 (the same modules, names, parameters, defaults, stats
keys and events: replace the import root), plus a Pythonic API: ``dpc.PrefetchCache``.
"""

from .cache import (
    CacheClosed,
    DynamicPrefetchingCache,
    Event,
    PrefetchCache,
    ProviderError,
    Resident,
    Snapshot,
    Stats,
)
from .predictors import Auto, DistanceDecayPredictor, DynamicDataPredictor, DynamicDistanceDecayPredictor, Named
from .providers import MOTDataProvider
from .types import (
    AccessPredictor,
    DataProvider,
    EventCallback,
    EvictionPolicy,
    EvictionPolicyLargest,
    EvictionPolicyOldest,
    EvictionPolicySmallest,
    MOTDetection,
    MOTFrameData,
)

try:
    from importlib.metadata import version as _version

    __version__ = _version("dpc-prefetch")
except Exception:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
__author__ = "the dpc authors"
__email__ = ""
#: The version of dynamic-prefetching-cache whose API this package implements.
__compat_version__ = "0.1.2"

__all__ = [
    # The original's names, in its order.
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
    # The Pythonic API.
    "PrefetchCache",
    "Stats",
    "Event",
    "Snapshot",
    "Resident",
    "CacheClosed",
    "ProviderError",
    "Auto",
    "Named",
]
