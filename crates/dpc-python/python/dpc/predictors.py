"""The original's predictors, computed by dpc-predictors' parity ports, plus the adaptive ``Auto``.

Each class keeps the original's parameters as plain attributes and its ``get_likelihoods``; a cache given
one of them (not a subclass that overrides ``get_likelihoods``) runs the native predictor on its scheduler
thread without the GIL, with the parameters it had when the cache was made.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from . import _native
from .types import AccessPredictor

__all__ = [
    "DistanceDecayPredictor",
    "DynamicDistanceDecayPredictor",
    "DynamicDataPredictor",
    "Auto",
    "Named",
    "native_spec",
]


class DistanceDecayPredictor(AccessPredictor):
    """Scores keys within ``max_span`` of the current one by ``1 / (distance + 1) ** decay``."""

    def __init__(self, max_span: int = 60, decay: float = 1.5):
        self.max_span = max_span
        self.decay = decay

    def _dpc_native(self) -> _native.NativePredictor:
        return _native.NativePredictor.distance_decay(int(self.max_span), float(self.decay))

    def get_likelihoods(self, current: int, history: Sequence[int]) -> Dict[int, float]:
        return self._dpc_native().get_likelihoods(current, list(history))


class DynamicDistanceDecayPredictor(AccessPredictor):
    """Forward playback bias: ``forward_bias / i ** 0.8`` ahead, weaker behind, boosted after a forward step."""

    def __init__(self, forward_bias: float = 2.0, max_span: int = 25):
        self.forward_bias = forward_bias
        self.max_span = max_span

    def _dpc_native(self) -> _native.NativePredictor:
        return _native.NativePredictor.dynamic_distance_decay(float(self.forward_bias), int(self.max_span))

    def get_likelihoods(self, current: int, history: Sequence[int]) -> Dict[int, float]:
        return self._dpc_native().get_likelihoods(current, list(history))


class DynamicDataPredictor(AccessPredictor):
    """Next-frame predictor for interactive playback with jumps (the original's parameters and defaults).

    Additive terms: forward bias ``forward_bias / d ** forward_exp``, backward bias
    ``backward_bias / d ** backward_exp`` (span ``max_span // 2``), ``jump_boost`` on each jump target,
    ``proximity_boost / (|offset| + 1)`` within ``proximity_range`` of a target, and ``history_boost`` on the
    next ten keys after two forward steps. ``length`` clips predictions to ``[0, length)``.
    """

    def __init__(
        self,
        possible_jumps: List[int],
        *,
        forward_bias: float = 2.0,
        backward_bias: float = 0.3,
        jump_boost: float = 5.0,
        proximity_boost: float = 2.0,
        history_boost: float = 2.0,
        max_span: int = 30,
        forward_exp: float = 0.8,
        backward_exp: float = 1.2,
        proximity_range: int = 5,
        length: Optional[int] = None,
    ):
        self.possible_jumps = possible_jumps
        self.forward_bias = forward_bias
        self.backward_bias = backward_bias
        self.jump_boost = jump_boost
        self.proximity_boost = proximity_boost
        self.history_boost = history_boost
        self.max_span = max_span
        self.forward_exp = forward_exp
        self.backward_exp = backward_exp
        self.proximity_range = proximity_range
        self.length = length

    def _dpc_native(self) -> _native.NativePredictor:
        return _native.NativePredictor.dynamic_data(
            [int(j) for j in self.possible_jumps],
            float(self.forward_bias),
            float(self.backward_bias),
            float(self.jump_boost),
            float(self.proximity_boost),
            float(self.history_boost),
            int(self.max_span),
            float(self.forward_exp),
            float(self.backward_exp),
            int(self.proximity_range),
            None if self.length is None else int(self.length),
        )

    def get_likelihoods(self, current: int, history: Sequence[int]) -> Dict[int, float]:
        return self._dpc_native().get_likelihoods(current, list(history))


class Named:
    """One of dpc-predictors' predictors by name (``auto``, ``sequential``, ``markov``, ``stride``, ...).

    They learn from the cache's requests and use its measured load latency, so they have no
    ``get_likelihoods`` of their own.
    """

    names = tuple(_native.NativePredictor.names())

    def __init__(self, name: str):
        self._spec = _native.NativePredictor.named(name)
        self.name = name

    def _dpc_native(self) -> _native.NativePredictor:
        return self._spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Auto(Named):
    """The adaptive ensemble (stride, trend, learned transitions, self-weighting): needs no tuning."""

    def __init__(self) -> None:
        super().__init__("auto")

    def __repr__(self) -> str:
        return "Auto()"


_NATIVE_CLASSES = (DistanceDecayPredictor, DynamicDistanceDecayPredictor, DynamicDataPredictor)


def native_spec(predictor: object) -> "Optional[_native.NativePredictor]":
    """The native predictor behind ``predictor``, or None when it must be called as Python code.

    A subclass of a built-in predictor that overrides ``get_likelihoods`` is Python code.
    """
    if isinstance(predictor, str):
        return _native.NativePredictor.named(predictor)
    if isinstance(predictor, Named):
        return predictor._dpc_native()
    if isinstance(predictor, _NATIVE_CLASSES):
        owner = next(c for c in type(predictor).__mro__ if "get_likelihoods" in c.__dict__)
        if owner in _NATIVE_CLASSES:
            return predictor._dpc_native()
    return None
