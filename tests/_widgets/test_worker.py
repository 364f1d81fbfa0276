"""The panels' worker (``_widgets/_worker.py``): what ``run_task`` hands the library function, the context it
runs in, and how lazy inputs load (step by step, each chunk once, with reports where Cancel acts)."""

from __future__ import annotations

import threading

import numpy as np


def _drain(gen):
    """The reports a generator yields, and what it returns."""
    from napari_doubledip.solver.engine import drain

    reports = []
    return reports, drain(gen, reports.append)


def _fake_task(seen):
    """A stand-in task function: what the worker hands it, and the context it runs in."""
    from napari_doubledip._validation import WARNING_SINK
    from napari_doubledip.solver.engine import PREVIEWS

    def steps(image, hints=None, *, stop=None):
        seen.update(image=image, hints=hints, stop=stop, previews=PREVIEWS.get(), sink=WARNING_SINK.get())
        return "result"
        yield  # (a generator)

    def task(image, hints=None, *, stop=None):  # pragma: no cover - only its signature and .steps are used
        raise AssertionError

    task.steps = steps
    return task


def test_run_task_converts_deferred_inputs_and_passes_the_stop_request(monkeypatch):
    """Inputs left to the worker thread (``Deferred``), positional or keyword, reach the function converted; a
    function that takes ``stop`` gets the control's event and the control says it is stoppable."""
    import napari_doubledip as dd
    from napari_doubledip._widgets._worker import Control, Deferred, run_task

    seen = {}
    monkeypatch.setattr(dd, "zz_fake_task", _fake_task(seen), raising=False)
    control = Control()
    args = (Deferred(lambda v: v + 1, 1),)
    kwargs = {"hints": Deferred(lambda v: v * 2, 5)}
    reports, result = _drain(run_task("zz_fake_task", args, kwargs, control))
    assert result == "result" and reports == []
    assert seen["image"] == 2 and seen["hints"] == 10
    assert seen["stop"] is control.stop and control.stoppable


def test_run_task_sets_its_context_for_the_run_only(monkeypatch):
    """The run reads the control's preview switch and warning sink; both are put back when it ends, so that
    later work in the same (pooled) worker thread does not inherit them."""
    import napari_doubledip as dd
    from napari_doubledip._validation import WARNING_SINK
    from napari_doubledip._widgets._worker import Control, run_task
    from napari_doubledip.solver.engine import PREVIEWS

    seen = {}
    monkeypatch.setattr(dd, "zz_fake_task", _fake_task(seen), raising=False)

    def sink(message, category):  # pragma: no cover - not called here
        pass

    before = (PREVIEWS.get(), WARNING_SINK.get())
    _drain(run_task("zz_fake_task", (1,), {}, Control(previews=False, warn=sink)))
    assert seen["previews"] is False and seen["sink"] is sink
    assert (PREVIEWS.get(), WARNING_SINK.get()) == before


def test_a_run_stopped_while_its_input_loads_ends_quietly_without_calling_the_function(monkeypatch):
    """A stop while a lazy input loads ends the run with no result and no error (the function never runs)."""
    import dask.array as da

    import napari_doubledip as dd
    from napari_doubledip._widgets._worker import Control, run_task

    seen = {}
    monkeypatch.setattr(dd, "zz_fake_task", _fake_task(seen), raising=False)
    control = Control()
    control.stop.set()
    x = da.from_array(np.zeros((4, 4), np.float32), chunks=(1, 4))
    reports, result = _drain(run_task("zz_fake_task", (x,), {}, control))
    assert result is None and reports == [] and seen == {}


def _counting_lazy(a, rows, reads):
    """A dask array of ``a`` in chunks of ``rows`` first-axis rows, recording each chunk read."""
    import dask
    import dask.array as da

    def read(i):
        reads.append(i)
        return a[i * rows:(i + 1) * rows]

    n = a.shape[0] // rows
    parts = [da.from_delayed(dask.delayed(read)(i), (rows, *a.shape[1:]), a.dtype) for i in range(n)]
    return da.concatenate(parts)


def test_loading_reports_the_bytes_loaded_and_reads_each_chunk_once(monkeypatch):
    """Four 0.5 MB chunks, one a step: the stages count 0.5, 1.0, 1.5, 2.0 of 2.0 MB, and each chunk is read
    once."""
    import dask

    from napari_doubledip._widgets import _worker

    monkeypatch.setattr(_worker, "LOAD_REPORT_SECONDS", 0.0)
    monkeypatch.setattr(_worker, "LOAD_STEP_BYTES", 0)  # (one chunk a step)
    a = np.arange(4 * 512 * 1024, dtype=np.uint32).astype(np.uint8).reshape(4, 512, 1024)
    reads = []
    x = _counting_lazy(a, 1, reads)
    with dask.config.set(scheduler="synchronous"):
        reports, (args, _) = _drain(_worker._load((x,), {}, threading.Event()))
    np.testing.assert_array_equal(args[0], a)
    assert [r.stage for r in reports] == [f"loading the input: {m:.1f} of 2.0 MB" for m in (0.5, 1.0, 1.5, 2.0)]
    assert sorted(reads) == [0, 1, 2, 3]


def test_the_same_lazy_array_given_twice_loads_once(monkeypatch):
    """One array passed twice (e.g. as the image and inside a list) is read once and counted once."""
    import dask

    from napari_doubledip._widgets import _worker

    monkeypatch.setattr(_worker, "LOAD_REPORT_SECONDS", 0.0)
    monkeypatch.setattr(_worker, "LOAD_STEP_BYTES", 0)
    a = np.zeros((2, 512, 1024), np.uint8)  # two 0.5 MB chunks
    reads = []
    x = _counting_lazy(a, 1, reads)
    with dask.config.set(scheduler="synchronous"):
        reports, (args, kwargs) = _drain(_worker._load((x,), {"also": [x]}, threading.Event()))
    assert args[0] is kwargs["also"][0]  # one copy
    assert sorted(reads) == [0, 1]
    assert [r.stage for r in reports] == ["loading the input: 0.5 of 1.0 MB", "loading the input: 1.0 of 1.0 MB"]


def test_a_lazy_array_of_unknown_chunk_sizes_loads_in_one_step():
    """A dask array whose chunk sizes are unknown (nan, e.g. after boolean indexing) is computed whole, as the
    run's own read-only copy, not split by sizes it does not know."""
    import dask.array as da

    from napari_doubledip._validation import loaded
    from napari_doubledip._widgets import _worker

    a = np.arange(12, dtype=np.float32)
    x = da.from_array(a, chunks=4)
    unknown = x[x >= 0]  # (chunks ((nan, nan, nan),))
    assert unknown.chunks[0][0] != unknown.chunks[0][0]
    reports, (args, _) = _drain(_worker._load((unknown, x), {}, threading.Event()))
    np.testing.assert_array_equal(args[0], a)
    np.testing.assert_array_equal(args[1], a)
    assert loaded(args[0], own=True) is args[0]  # (read-only: the library need not copy it again)


def test_loading_reports_no_more_often_than_the_report_interval(monkeypatch):
    """Steps that end within the report interval of the last report make no report (each one is a signal to
    the GUI thread)."""
    import dask.array as da

    from napari_doubledip._widgets import _worker

    monkeypatch.setattr(_worker, "LOAD_REPORT_SECONDS", 60.0)
    monkeypatch.setattr(_worker, "LOAD_STEP_BYTES", 0)
    a = np.arange(8 * 4, dtype=np.uint16).reshape(8, 4)
    reports, (args, _) = _drain(_worker._load((da.from_array(a, chunks=(1, 4)),), {}, threading.Event()))
    np.testing.assert_array_equal(args[0], a)
    assert reports == []
