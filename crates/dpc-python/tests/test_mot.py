"""``MOTDataProvider`` on every shape of file dpc-mot reads, checked against a reference parser."""

from __future__ import annotations

import os

import pytest

import dpc
from conftest import MOT, as_rows, needs_original, original, reference_rows

SHAPES = [
    "comma.txt",
    "comma_spaces.txt",
    "whitespace.txt",
    "tabs.txt",
    "crlf.txt",
    "bom.txt",
    "blank_lines.txt",
    "mixed.txt",
    "columns_6.txt",
    "columns_7.txt",
    "columns_8.txt",
    "columns_10.txt",
    "sentinels.txt",
    "integral_floats.txt",
    "unsorted_id_major.txt",
    "unsorted_scattered.txt",
    "empty_frames.txt",
    "generated.txt",
    "seq/gt/gt.txt",
]


@pytest.mark.parametrize("name", SHAPES)
def test_every_frame_matches_the_reference_parser(name):
    path = MOT / name
    expected = reference_rows(path)
    p = dpc.MOTDataProvider(os.fspath(path))
    assert p.get_available_frames() == set(expected)
    assert p.get_total_frames() == len(expected)
    for frame, rows in expected.items():
        loaded = p.load(frame)
        assert loaded.frame_number == frame
        assert as_rows(loaded) == rows, (name, frame)
    stats = p.get_stats()
    assert stats["total_indexed_lines"] == sum(len(r) for r in expected.values())
    assert stats["total_frames"] == len(expected)


@pytest.mark.parametrize("name", ["empty.txt", "only_blank.txt"])
def test_files_without_rows_have_no_frames(name):
    p = dpc.MOTDataProvider(os.fspath(MOT / name))
    assert p.get_total_frames() == 0 and p.get_available_frames() == set()
    assert p.load(1) == dpc.MOTFrameData(1, [])


def test_frames_without_rows_and_outside_the_file_load_empty():
    p = dpc.MOTDataProvider(os.fspath(MOT / "empty_frames.txt"))
    assert 4 not in p.get_available_frames()
    assert p.load(4).detections == []
    assert p.load(4).frame_number == 4
    assert p.load(10_000).detections == []
    assert p.load(-3) == dpc.MOTFrameData(-3, [])


def test_bad_lines_are_skipped_and_counted_not_dropped_silently():
    path = MOT / "bad_lines.txt"
    p = dpc.MOTDataProvider(os.fspath(path))
    lines = [l for l in path.read_text().splitlines() if l.strip()]
    rows = p.get_stats()["total_indexed_lines"]
    bad = p.native_stats()["bad_lines"]
    assert rows > 0 and bad > 0 and rows + bad == len(lines)
    diagnostics = p.diagnostics()
    assert len(diagnostics) == bad
    assert [d[0] for d in diagnostics] == sorted(d[0] for d in diagnostics)  # file order, lines from 1
    assert all(f"line {line} (byte {offset})" in text for line, offset, text in diagnostics)
    assert [d.track_id for d in p.load(1).detections] == [1, 3]
    # Loading parses the whole rows, and reports the bad ones the index could not see.
    assert p.native_stats()["bad_lines"] > bad


def test_strict_mode_names_the_first_bad_line():
    with pytest.raises(ValueError, match=r"bad_lines.txt: line 7 \(byte 114\)"):
        dpc.MOTDataProvider(os.fspath(MOT / "bad_lines.txt"), strict=True)


def test_a_missing_file_is_file_not_found():
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        dpc.MOTDataProvider(os.fspath(MOT / "nope.txt"))


def test_path_objects_are_accepted():
    assert dpc.MOTDataProvider(MOT / "comma.txt").get_total_frames() == 12


def test_the_lru_counts_hits_and_misses_and_clears(mot_file):
    p = dpc.MOTDataProvider(mot_file, cache_size=2)
    p.load(1)
    p.load(1)
    p.load(2)
    p.load(3)
    s = p.get_stats()
    assert (s["cache_hits"], s["cache_misses"], s["cache_size"], s["cache_max_size"]) == (1, 3, 2, 2)
    assert s["cache_hit_rate"] == pytest.approx(0.25)
    assert set(s) == {
        "total_frames", "total_indexed_lines", "index_memory_bytes", "cache_size", "cache_max_size", "cache_hits",
        "cache_misses", "cache_hit_rate", "avg_direct_load_time", "avg_cache_hit_time", "avg_cache_miss_time",
    }
    p.clear_cache()
    assert p.get_stats()["cache_size"] == 0
    p.load(1)
    assert p.get_stats()["cache_misses"] == 4
    p.close()
    assert p.load(2).frame_number == 2  # as in the original, loading after close still works


def test_cache_size_zero_keeps_nothing(mot_file):
    p = dpc.MOTDataProvider(mot_file, cache_size=0)
    p.load(1)
    p.load(1)
    s = p.get_stats()
    assert s["cache_hits"] == 0 and s["cache_size"] == 0


def test_load_batch_returns_every_frame(mot_file):
    p = dpc.MOTDataProvider(mot_file)
    batch = p.load_batch([1, 2, 99])
    assert sorted(batch) == [1, 2, 99]
    assert batch[1] == p.load(1) and batch[99].detections == []


def test_native_frames_compare_equal_before_and_after_their_lists_exist(mot_file):
    p = dpc.MOTDataProvider(mot_file, cache_size=0)
    a, b = p.load(6), p.load(6)
    assert a == b  # both still native
    assert len(a.detections) == 3
    assert a == b and b == a  # one materialised
    assert a != p.load(7)
    assert len(p.load(6)) == 3


@needs_original
@pytest.mark.parametrize("name", ["comma.txt", "generated.txt", "unsorted_scattered.txt", "empty_frames.txt"])
def test_frames_equal_the_originals(name):
    path = os.fspath(MOT / name)
    ours, theirs = dpc.MOTDataProvider(path), original.MOTDataProvider(path)
    assert ours.get_available_frames() == theirs.get_available_frames()
    assert ours.get_total_frames() == theirs.get_total_frames()
    for frame in sorted(theirs.get_available_frames()) + [0, 10_000]:
        a, b = ours.load(frame), theirs.load(frame)
        assert a.frame_number == b.frame_number
        assert repr(a) == repr(b)


def test_a_cache_over_the_mot_provider_loads_natively_and_prefetches(mot_file):
    p = dpc.MOTDataProvider(mot_file)
    with dpc.DynamicPrefetchingCache(p, dpc.DynamicDataPredictor([5])) as cache:
        assert cache.native.native_provider
        f = cache.get(1)
        assert f == p.load(1)
        assert cache.get(1) is f  # the same object on every hit, as the original's dict gave
        cache.quiesce()
        assert cache.get(2).frame_number == 2
        assert cache.stats()["hits"] >= 2


def test_a_subclass_overriding_load_runs_as_python(mot_file):
    class Tagged(dpc.MOTDataProvider):
        def load(self, frame_number):
            f = super().load(frame_number)
            return ("tagged", f.frame_number)

    with dpc.DynamicPrefetchingCache(Tagged(mot_file), None) as cache:
        assert not cache.native.native_provider
        assert cache.get(3) == ("tagged", 3)
