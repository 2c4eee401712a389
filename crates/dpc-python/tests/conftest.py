"""Shared helpers: fixture paths, small providers and a reference MOT parser written from the format."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[3]
MOT = ROOT / "fixtures" / "mot"
TRACES = ROOT.parent / "shared" / "traces"

try:  # The original, for side-by-side tests; CI installs it.
    import dynamic_prefetching_cache as original
except ImportError:  # pragma: no cover
    original = None

needs_original = pytest.mark.skipif(original is None, reason="dynamic-prefetching-cache 0.1.2 is not installed")


class Doubler:
    """A provider: key -> key * 2, counting loads per key; raises KeyError for keys in ``missing``."""

    def __init__(self, missing=()):
        self.missing = set(missing)
        self.loads: Dict[int, int] = defaultdict(int)
        self.lock = threading.Lock()

    def load(self, key):
        with self.lock:
            self.loads[key] += 1
        if key in self.missing:
            raise KeyError(f"no record {key}")
        return key * 2


class Gate:
    """A provider whose loads block until ``release()``; ``started`` is set when a load begins."""

    def __init__(self):
        self.started = threading.Event()
        self.go = threading.Event()
        self.calls = 0

    def load(self, key):
        self.calls += 1
        self.started.set()
        self.go.wait(30)
        return ("value", key)

    def release(self):
        self.go.set()


class Fixed:
    """A predictor returning fixed scores, recording what it was asked."""

    def __init__(self, scores):
        self.scores = dict(scores)
        self.calls: List[Tuple[int, List[int]]] = []

    def get_likelihoods(self, current, history):
        self.calls.append((current, list(history)))
        return dict(self.scores)


def reference_rows(path: Path) -> Dict[int, List[tuple]]:
    """MOT rows by frame, in file order, from the format: comma (optional spaces) or whitespace separated,
    6 to 10 columns, BOM, CRLF and blank lines allowed; missing conf/class/visibility are -1."""
    frames: Dict[int, List[tuple]] = defaultdict(list)
    text = path.read_bytes().decode("utf-8-sig")
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")] if "," in line else line.split()
        cols = [float(p) for p in parts]
        cols += [-1.0] * (9 - len(cols))
        frame = int(cols[0])
        frames[frame].append(
            (frame, int(cols[1]), cols[2], cols[3], cols[4], cols[5], cols[6], int(cols[7]), cols[8])
        )
    return dict(frames)


def as_rows(frame) -> List[tuple]:
    return [
        (d.frame, d.track_id, d.bb_left, d.bb_top, d.bb_width, d.bb_height, d.confidence, d.class_id, d.visibility_ratio)
        for d in frame.detections
    ]


@pytest.fixture
def mot_file() -> str:
    return os.fspath(MOT / "comma.txt")
