"""Interpreter exit with caches open, and Ctrl-C during a long ``get``, each in a fresh interpreter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import MOT

TIMEOUT = 60


def run(code: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=TIMEOUT, **kw
    )


@pytest.mark.parametrize("kind", ["compat", "pythonic"])
def test_exit_with_open_caches_and_loads_in_flight_neither_hangs_nor_crashes(kind):
    code = f"""
        import threading, dpc
        started = threading.Event()
        class Slowish:
            def load(self, key):
                started.set()
                threading.Event().wait(0.05)
                return key
        if {kind!r} == "compat":
            c = dpc.DynamicPrefetchingCache(Slowish(), dpc.DistanceDecayPredictor(max_span=50))
        else:
            c = dpc.PrefetchCache(Slowish(), max_entries=200)
        m = dpc.PrefetchCache(dpc.MOTDataProvider({os.fspath(MOT / "generated.txt")!r}))
        for k in range(5):
            c.get(k)
            m.get(k + 1)
        assert started.wait(10)
        # A reference cycle through a callback, and a module global: both are still open at exit.
        keep = [c, m]
        print("exiting", flush=True)
    """
    proc = run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "exiting"
    assert "Traceback" not in proc.stderr and "panicked" not in proc.stderr


def test_exit_while_a_worker_waits_in_a_python_predictor():
    code = """
        import threading, dpc
        inside = threading.Event()
        class SlowPredictor:
            def get_likelihoods(self, current, history):
                inside.set()
                threading.Event().wait(0.2)
                return {current + 1: 1.0}
        class P:
            def load(self, key):
                return key
        c = dpc.DynamicPrefetchingCache(P(), SlowPredictor())
        c.get(1)
        assert inside.wait(10)
        print("bye", flush=True)
    """
    proc = run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "bye"


def _interrupted(code: str) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # The child prints "loading" from inside the load, so its main thread is in (or entering) get.
        line = proc.stdout.readline()
        assert line.strip() == "loading", line + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, line + out, err)


def test_keyboard_interrupt_reaches_a_get_waiting_for_a_native_load():
    # The load is native, so the main thread waits in Rust; the weigher that runs after it never returns.
    code = f"""
        import threading, time, dpc
        def stuck(key, value):
            print("loading", flush=True)
            threading.Event().wait(60)
            return 1
        p = dpc.MOTDataProvider({os.fspath(MOT / "generated.txt")!r})
        cache = dpc.PrefetchCache(p, predictor=None, max_weight=10**9, weigher=stuck)
        started = time.monotonic()
        try:
            cache.get(5)
            print("no interrupt", flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        # Exit with the cache open and its demand thread stuck: close gives up after its timeout.
    """
    proc = _interrupted(code)
    assert proc.returncode == 0, proc.stderr
    assert "interrupted" in proc.stdout, proc.stdout + proc.stderr


def test_keyboard_interrupt_reaches_a_get_waiting_in_a_python_provider():
    code = """
        import threading, dpc
        class Stuck:
            def load(self, key):
                print("loading", flush=True)
                threading.Event().wait(60)
                return key
        cache = dpc.DynamicPrefetchingCache(Stuck(), dpc.DistanceDecayPredictor(), workers=0)
        try:
            cache.get(1)
            print("no interrupt", flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        cache.get  # still usable
    """
    proc = _interrupted(code)
    assert proc.returncode == 0, proc.stderr
    assert "interrupted" in proc.stdout
