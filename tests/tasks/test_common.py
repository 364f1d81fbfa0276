"""The tasks' shared pieces (``tasks/_common.py``): stage reports, the working size of the reference preset,
``iterate`` with a callback, what a result records, the guided filter's radius."""

from __future__ import annotations

import numpy as np
import pytest

import napari_doubledip as dd


def test_stage_reports_are_spaced_and_none_after_the_last_part(monkeypatch):
    from napari_doubledip.tasks import _common

    clock = [100.0]
    monkeypatch.setattr(_common.time, "perf_counter", lambda: clock[0])
    reports = _common.StageReports("finishing", 5, 3, 10, every=1.0)
    assert reports.after(1) is None  # not yet due
    clock[0] = 101.5
    p = reports.after(2)
    assert p.stage == "finishing: frame 2 of 5" and (p.iteration, p.total) == (3, 10)
    assert p.elapsed == pytest.approx(1.5)  # since the step began
    clock[0] = 102.0
    assert reports.after(3) is None  # 0.5 s after the last report
    clock[0] = 102.6
    assert reports.after(4).stage == "finishing: frame 4 of 5"
    clock[0] = 110.0
    assert reports.after(5) is None  # the last part: nothing left to report on


def test_reference_preset_working_size_is_the_long_side():
    from napari_doubledip.tasks._common import resolve_max_size

    assert resolve_max_size(None, 128, (200, 300), "reference") == 300  # a wide image: its width
    assert resolve_max_size(None, 128, (10, 12), "reference") == 16  # never below the networks' minimum


def test_iterate_with_a_callback_returns_the_result_and_calls_it_before_each_yield():
    img = np.random.default_rng(0).random((16, 16))
    seen = []
    gen = dd.iterate(dd.segment, img, iterations=2, device="cpu", progress=seen.append)
    first = next(gen)
    assert seen == [first]  # called before the report is handed on
    while True:
        try:
            next(gen)
        except StopIteration as done:
            result = done.value
            break
    assert isinstance(result, dd.SegmentationResult) and result.iterations == 2


def test_run_info_records_the_seed_threads_and_stop():
    img = np.random.default_rng(0).random((16, 16))
    r = dd.segment(img, iterations=3, device="cpu", seed=7)
    assert r.seed == 7 and r.params["seed"] == 7
    assert isinstance(r.threads, int) and r.threads >= 1  # a CPU run says its threads
    assert r.history and r.history[-1][0] == 3 and not r.stopped


def test_filter_radius_follows_the_short_side():
    from napari_doubledip.tasks._common import filter_radius

    assert filter_radius((480, 960)) == 10 == filter_radius((960, 480))  # 1/48 of the short side
    assert filter_radius((96, 4000)) == 2 and filter_radius((20, 20)) == 1  # at least 1 px
