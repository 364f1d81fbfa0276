"""The run helpers of ``_widgets/_runs.py`` (memory checks, notes, error text, metadata), tested directly on
small real or fake layers: no run."""

from __future__ import annotations

from types import SimpleNamespace

import napari.layers
import numpy as np
import pytest

from napari_doubledip._widgets import _layers, _runs


def test_working_memory_of_a_working_size_above_the_default():
    """The networks' growth per working pixel beyond the default's: capped at the image's own size (caught:
    a working size past the image counted pixels it does not have), of the Y and X of an RGB image
    (caught: its colour axis taken for X), per image of a set (caught: once)."""
    per = _runs.MEMORY_PER_WORKING_PIXEL
    grey = np.zeros((256, 256), np.float32)
    assert _runs.working_memory([grey], 1, None, 128, False) == 0
    assert _runs.working_memory([grey], 1, 128, 128, False) == 0
    one = (256 * 256 - 128 * 128) * per
    assert _runs.working_memory([grey], 1, 256, 128, False) == one
    assert _runs.working_memory([grey], 1, 4096, 128, False) == one  # (no more pixels than the image's)
    rgb = np.zeros((256, 128, 3), np.float32)
    assert _runs.working_memory([rgb], 3, 256, 128, False) == (256 * 128 - 128 * 64) * per
    assert _runs.working_memory([grey, grey, grey], 1, 256, 128, False) == 3 * one
    stack = np.zeros((10, 256, 256), np.float32)
    assert _runs.working_memory([stack], 1, 256, 128, True) == _runs.MEMORY_BATCH * one


def test_check_memory_counts_every_image_of_a_set(monkeypatch):
    """Two mixtures need twice one's memory (caught: the first image's pixels only)."""
    import psutil

    images = [np.zeros((64, 64), np.float32)] * 2
    sources = [SimpleNamespace(name="a", multiscale=False), SimpleNamespace(name="b", multiscale=False)]
    need = _runs.MEMORY_FIXED + 2 * 64 * 64 * sum(_runs.MEMORY_PER_PIXEL)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=need))
    _runs.check_memory(images, sources, 1)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=need - 1))
    with pytest.raises(ValueError, match="'a', 'b' are too large for the memory available"):
        _runs.check_memory(images, sources, 1)


def test_a_task_error_is_said_by_its_own_message():
    """A TaskError names its cause already ("RuntimeError: ..."): not "TaskError: RuntimeError: ..."."""
    from napari_doubledip._widgets._worker import TaskError

    said = _runs.describe_error(TaskError("RuntimeError: CUDA out of memory"))
    assert said == "RuntimeError: CUDA out of memory"
    assert _runs.describe_error(ValueError("raise max_size")) == "raise the working size"
    assert _runs.describe_error(KeyError("w")) == "KeyError: 'w'"
    assert _runs.describe_error(MemoryError()) == "MemoryError"


def test_asked_settings_keep_numbers_text_and_a_few_numbers_only():
    """A stopped run's preview records the settings asked: numbers, text, ``None`` and short lists (a box), as
    plain values; not arrays (hints) nor long lists (caught: any list)."""
    asked = _runs.asked_settings({
        "seed": np.int64(5), "device": "auto", "iterations": None, "box": (1, 2, 30, 31),
        "hints": np.zeros((8, 8)), "airlight": [0.1] * 5, "mixing": [np.zeros(3)],
    })
    assert asked == {"seed": 5, "device": "auto", "iterations": None, "box": [1, 2, 30, 31]}
    assert type(asked["seed"]) is int


def test_plain_value_converts_numpy_inside_dicts_and_lists():
    """Metadata napari can copy: numpy scalars and arrays inside a result's params dict too."""
    value = _runs.plain_value({"alpha": np.float32(0.5), "box": np.array([1, 2]), "nested": [{"n": np.int64(3)}]})
    assert value == {"alpha": 0.5, "box": [1, 2], "nested": [{"n": 3}]}
    assert type(value["alpha"]) is float and type(value["nested"][0]["n"]) is int


def test_planned_iterations_over_the_frames_run():
    """One budget for each of the frames run (caught: one frame's), or each frame's own summed (caught: the
    largest; an empty list raised)."""
    assert _runs.planned_iterations({"iterations": 6, "frames_run": 3}) == 18
    assert _runs.planned_iterations({"iterations": 6}) == 6
    assert _runs.planned_iterations({"iterations": [400, 200, 200]}) == 800
    assert _runs.planned_iterations({"iterations": []}) is None
    assert _runs.planned_iterations({"iterations": "auto"}) is None


def test_result_metadata_leaves_out_fields_the_result_lacks():
    """A mode's extra fields (airlight, alphas) are copied when the result has them, as plain values; absent
    otherwise, not ``None``."""
    mode = SimpleNamespace(metadata=("airlight_init", ("alphas", lambda r: r.alphas)))
    result = SimpleNamespace(
        params={"iterations": np.int64(4)}, seed=1, airlight_init=None, alphas=np.array([0.5])
    )
    meta = _runs.result_metadata(result, mode)
    assert "airlight_init" not in meta and meta["alphas"] == [0.5] and meta["preview"] is False
    assert meta["params"] == {"iterations": 4} and meta["stopped"] is None


def test_a_whole_stack_run_replacing_another_slice_says_of_the_whole_stack(infos):
    """A whole-stack run reads ``(None,)`` (its sequence axis): "of the whole stack", not "at [:]"."""
    outputs = SimpleNamespace(other_slice=[("movie mask", "[2, :]")])
    _runs.tell_other_slice("Segmentation", SimpleNamespace(outputs=outputs, frame=(None,)))
    assert infos and "which this run's of the whole stack replace" in infos[-1], infos
    _runs.tell_other_slice("Segmentation", SimpleNamespace(outputs=outputs, frame=(1, None)))
    assert "which this run's at [1, :] replace" in infos[-1], infos


def test_a_result_summary_says_nothing_when_the_task_has_nothing_to_say():
    """An empty summary adds nothing to the status line (caught: a trailing "; ")."""
    assert _runs.result_summary(SimpleNamespace(summary=lambda result, names: ""), None, ["a"]) == ""
    assert _runs.result_summary(SimpleNamespace(summary=None), None, ["a"]) == ""
    assert _runs.result_summary(SimpleNamespace(summary=lambda result, names: "x"), None, ["a"]) == "; x"


def test_an_input_that_can_no_longer_be_read_is_not_said_reshaped(warnings_shown):
    """An input whose data cannot be read any more has nothing to line up with: no "another shape" warning
    (caught: ``None`` taken for a change of shape); one with other frames is warned about."""
    job = SimpleNamespace(
        sources=[SimpleNamespace(name="gone", data=None, multiscale=False, rgb=False)], leads=[()], full=(16, 16),
        outputs=SimpleNamespace(source_name=lambda s: s.name),
    )
    _runs.tell_reshaped("Dehazing", job)
    assert not [m for m in warnings_shown if "another shape" in m], warnings_shown
    job.sources = [napari.layers.Image(np.zeros((24, 24), np.float32), name="cropped")]
    _runs.tell_reshaped("Dehazing", job)
    assert [m for m in warnings_shown if "'cropped' got data of another shape" in m], warnings_shown


def test_new_data_that_grew_on_one_axis_and_shrank_on_another_is_a_change(monkeypatch, warnings_shown):
    """A (T, Z, Y, X) stack too long to checksum, given new data with one more T and one Z fewer: not a live
    acquisition's appended frames, a change (caught: any axis grown taken for a grown stack)."""
    monkeypatch.setattr(_layers, "DIGEST_MAX_FRAMES", 4)
    data = np.zeros((6, 3, 16, 16), np.float32)
    for new, said in ((np.zeros((7, 3, 16, 16), np.float32), False), (np.zeros((7, 2, 16, 16), np.float32), True)):
        layer = napari.layers.Image(data, name="live")
        job = SimpleNamespace(
            sources=[layer], leads=[(6, 3)], read_data=[layer.data], frames=[(None, 1)], frame=(None, 1),
            full=(16, 16), replaced_sources=[0], outputs=SimpleNamespace(source_name=lambda s: s.name),
        )
        layer.data = new
        warnings_shown.clear()
        _runs.tell_replaced_data("Dehazing", job)
        assert bool([m for m in warnings_shown if "'live' got new data during the run" in m]) is said, new.shape


def test_a_raise_of_an_empty_value_error_is_no_input_check(monkeypatch):
    """A ``raise ValueError()`` of the package without a message says nothing to the user: it keeps its
    traceback, as a bug's."""
    import linecache
    import os

    from napari_doubledip._validation import _PACKAGE_DIR

    path = os.path.join(_PACKAGE_DIR, "_empty_probe.py")
    source = "raise ValueError('   ')\n"
    monkeypatch.setitem(linecache.cache, path, (len(source), None, [source], path))
    try:
        exec(compile(source, path, "exec"), {})
    except ValueError as exc:
        assert not _runs.is_input_check(exc)
    source = "raise ValueError('box must lie inside the image')\n"
    monkeypatch.setitem(linecache.cache, path, (len(source), None, [source], path))
    try:
        exec(compile(source, path, "exec"), {})
    except ValueError as exc:
        assert _runs.is_input_check(exc)


def test_an_input_removed_after_a_rename_is_said_removed_only(infos):
    """An input renamed and then removed during the run is said removed, not also renamed."""
    source = SimpleNamespace(name="renamed")
    outputs = SimpleNamespace(viewer=SimpleNamespace(layers=[]), source_name=lambda s: "photo")
    _runs.tell_moved_inputs("Dehazing", SimpleNamespace(sources=[source], outputs=outputs))
    said = [m for m in infos if "during the run" in m]
    assert said == ["Dehazing: 'photo' was removed during the run; the results are kept"], said
