"""Task widgets end to end: open through the manifest, run a few iterations in the thread worker, check layers."""

from __future__ import annotations

import re
import time

import napari.layers
import numpy as np
import pytest

import napari_doubledip
from napari_doubledip import samples

SEG = "Segmentation"  # the widgets' names (their notifications begin "Segmentation (Double-DIP): ")
TRANS = "Transparency"
META_KEYS = {"task", "part", "source", "params", "seed", "device", "precision", "iterations", "final_loss",
             "stopped", "elapsed"}


def _hints(widget):
    """The hints a run of ``widget`` would get (a mask given back is converted in the worker: here, at once)."""
    from napari_doubledip._widgets._worker import Deferred

    hints = widget._prepare().kwargs["hints"]
    return hints() if isinstance(hints, Deferred) else hints


@pytest.mark.parametrize("stack", [False, True])
def test_a_run_takes_the_scribbles_as_they_were_at_run(viewer, open_widget, stack):
    """The run read the Labels layer's live array: strokes painted (in place, as napari paints) while it
    waited for a thread, or while the first run imported torch, reached it behind the checks made at Run."""
    image = samples.texture_composite(32, rgb=False).data
    labels = np.zeros((32, 32), np.uint8)
    labels[2:6, 2:6], labels[-6:-2, -6:-2] = 1, 2
    if stack:
        image, labels = np.stack([image, image[::-1]]), np.stack([labels, labels])
    viewer.add_image(image, name="img")
    scribbles = viewer.add_labels(labels, name="scr")
    widget = open_widget(SEG, iterations=5)
    widget.pickers["scribbles"].value = scribbles
    if stack:
        widget.frames.value = [c for c in widget.frames.choices if c != "current frame"][0]
    hints = widget._prepare().kwargs["hints"]
    before = np.array(hints, copy=True)
    scribbles.paint((0, 16, 16) if stack else (16, 16), 1, refresh=True)
    assert scribbles.data[(0, 16, 16) if stack else (16, 16)] == 1
    np.testing.assert_array_equal(hints, before)


def blank(frame: np.ndarray) -> bool:
    """A result stack's frame not computed (or cleared): NaN in images (napari leaves it transparent over the
    input), 0 in labels."""
    return bool(np.isnan(frame).all()) if frame.dtype.kind == "f" else not frame.any()


def names(viewer) -> list[str]:
    return [layer.name for layer in viewer.layers]


def test_segmentation_outputs_names_shapes_transform_metadata(viewer, open_widget, run_widget):
    img = samples.texture_composite(40).data  # (40, 40, 3) RGB
    viewer.add_image(img, name="comp", scale=(0.5, 2.0), translate=(10.0, -3.0))
    widget = open_widget(SEG, iterations=12)
    widget.seed.value = 3
    widget.precision.value = "float32"
    run_widget(widget)
    assert names(viewer) == ["comp", "comp background", "comp foreground", "comp mask"]
    mask = viewer.layers["comp mask"]
    assert isinstance(mask, napari.layers.Labels) and mask.data.shape == (40, 40)
    assert set(np.unique(mask.data)) <= {0, 1}
    for part in ("foreground", "background"):
        layer = viewer.layers[f"comp {part}"]
        assert layer.rgb and layer.data.shape == img.shape
    for part in ("foreground", "background", "mask"):
        layer = viewer.layers[f"comp {part}"]
        np.testing.assert_allclose(layer.scale, (0.5, 2.0))
        np.testing.assert_allclose(layer.translate, (10.0, -3.0))
        md = layer.metadata
        assert META_KEYS <= set(md)
        assert md["task"] == "segmentation" and md["part"] == part and md["source"] == "comp"
        assert md["seed"] == 3 and md["iterations"] == 12 and md["device"] == "cpu"
        assert md["precision"] == "float32" and md["params"]["precision"] == "float32"
        assert md["params"]["max_size"] == 16 and md["preview"] is False and np.isfinite(md["final_loss"])
        assert md["working_shape"] == [16, 16]
        # the run's own loss (a review: a constant passed the isfinite check), as the status line shows it
        assert md["final_loss"] > 0 and f"reconstruction loss {md['final_loss']:.4g}," in widget.status.value
    assert widget.run_button.text == "Run" and widget.status.value.startswith("Done")
    # the opaque layers start hidden (the mask over the input shows first); a user's choice stays on a re-run
    shown = [viewer.layers[f"comp {p}"].visible for p in ("background", "foreground", "mask")]
    assert shown == [False, False, True]
    assert "the background and foreground layers start hidden" in widget.status.value
    viewer.layers["comp foreground"].visible = True
    run_widget(widget)
    assert viewer.layers["comp foreground"].visible and not viewer.layers["comp background"].visible
    assert "hidden" not in widget.status.value


def test_outputs_keep_the_inputs_affine(viewer, open_widget, run_widget):
    """Besides scale and translate (a review: an output given the identity affine passed every test)."""
    img = samples.texture_composite(32, rgb=False).data
    affine = np.array([[0.9, 0.3, 5.0], [-0.2, 1.1, -7.0], [0.0, 0.0, 1.0]])
    source = viewer.add_image(img, name="aff", affine=affine, scale=(0.5, 2.0), translate=(3.0, -1.0))
    run_widget(open_widget(SEG, iterations=3))
    points = np.array([[0.0, 0.0], [31.0, 0.0], [5.0, 27.0]])
    for part in ("mask", "foreground", "background"):
        layer = viewer.layers[f"aff {part}"]
        np.testing.assert_allclose(layer.affine.affine_matrix, source.affine.affine_matrix)
        np.testing.assert_allclose(
            [layer.data_to_world(p) for p in points], [source.data_to_world(p) for p in points], atol=1e-9
        )


@pytest.mark.parametrize("switch", ["before", "during"])
def test_segmenting_an_rgb_image_in_the_3d_view(viewer, open_widget, qtbot, errors, switch):
    """napari fails to add a 2D RGB layer hidden while the view is 3D (vispy's volume visual refuses it, and the
    half-added layer stays in the list, breaking its removal): the hidden foreground and background are made in
    that view as well."""
    viewer.add_image(samples.texture_composite(32).data, name="comp", rgb=True)
    widget = open_widget(SEG, iterations=6)
    widget.preview_every.value = 1
    if switch == "before":
        viewer.dims.ndisplay = 3
    worker = widget.run(start=False)
    if switch == "during":
        worker.yielded.connect(lambda _p: setattr(viewer.dims, "ndisplay", 3))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert not errors, errors
    assert names(viewer) == ["comp", "comp background", "comp foreground", "comp mask"]
    assert [viewer.layers[f"comp {p}"].visible for p in ("background", "foreground")] == [False, False]
    assert widget.status.value.startswith("Done")
    viewer.layers.clear()  # (a half-added layer made this raise)


def test_a_layer_napari_fails_to_add_is_not_left_half_added(viewer, open_widget, qtbot, errors, monkeypatch):
    """napari inserts a layer into the list before it makes its visual, which can fail (an RGB layer added hidden
    in the 3D view did): the run reports the error and leaves no such layer behind (here the failure comes
    after the insertion, the layer's visual made)."""
    from napari_doubledip._widgets import _layers

    original = _layers.OutputLayers._add_layer

    def fails(self, *args):
        original(self, *args)
        raise ValueError("no visual for this layer")

    monkeypatch.setattr(_layers.OutputLayers, "_add_layer", fails)
    viewer.add_image(samples.texture_composite(32).data, name="comp", rgb=True)
    widget = open_widget(SEG, iterations=3)
    worker = widget.run(start=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert any("no visual for this layer" in e for e in errors), errors
    assert names(viewer) == ["comp"]


def test_a_run_belongs_to_its_own_viewers_window(make_napari_viewer_proxy, qtbot):
    """napari lists a worker with the window activated last, and closing that window cancels it: a run in one
    viewer while another was the last active (a floating panel, the console) is listed with its own window, and
    napari's order of windows (the next current one when one closes) stays as it was."""
    import napari
    from napari._qt.qt_main_window import _QtMainWindow

    mine, _middle, last = (make_napari_viewer_proxy() for _ in range(3))  # ``last``: napari's current viewer
    order = list(_QtMainWindow._instances)
    mine.add_image(samples.hazy_image(24).data, name="haze", rgb=True)
    _dock, widget = mine.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
    widget.iterations.value, widget.max_size.value = 2, 16

    def tasks(viewer):
        return viewer.__wrapped__.window._task_status_manager.get_status()

    assert napari.current_viewer() is last.__wrapped__
    worker = widget.run(start=False)
    assert worker is not None, widget.status.value
    assert napari.current_viewer() is last.__wrapped__ and _QtMainWindow._instances == order
    seen = []
    worker.yielded.connect(lambda _p: seen.append((len(tasks(mine)), len(tasks(last)))))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert seen and seen[0] == (1, 0)
    assert widget.status.value.startswith("Done")


@pytest.fixture
def busy_pool():
    """Occupy every thread of Qt's global pool until the returned event is set."""
    import threading

    from qtpy.QtCore import QThreadPool
    from superqt.utils import create_worker as plain_worker

    pool = QThreadPool.globalInstance()
    pool.waitForDone(10_000)
    release = threading.Event()
    for _ in range(pool.maxThreadCount()):
        plain_worker(release.wait, 60, _start_thread=False).start()
    deadline = time.monotonic() + 5
    while pool.activeThreadCount() < pool.maxThreadCount() and time.monotonic() < deadline:
        time.sleep(0.01)
    yield release
    release.set()
    pool.waitForDone(10_000)


def test_a_run_waiting_for_a_thread_says_so_and_cancels_at_once(viewer, open_widget, qtbot, errors, busy_pool):
    """Qt's global pool has one thread per logical CPU, shared by every napari worker: a run started while all
    are busy waits in its queue. It says so, and Cancel ends it there at once (it waited for another run to end),
    also right after Run in one turn of the event loop (napari's worker start is queued on a timer there)."""
    from qtpy.QtCore import QTimer

    viewer.add_image(samples.hazy_image(32).data, name="haze", rgb=True)
    widget = open_widget("Dehazing", iterations=2)
    worker = widget.run(start=False)
    widget.start_worker(worker)
    # (limits far above the few ms these take: the tests share the cores with other workers; a run that missed
    # the cancel would wait the 60 s of the busy pool)
    qtbot.waitUntil(lambda: widget.status.value.startswith("Waiting for a free thread"), timeout=10_000)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        widget.cancel()
    assert widget.worker is None and widget.status.value == "Cancelled."
    assert widget.run_button.text == "Run" and names(viewer) == ["haze"]

    made = []
    def run_and_cancel():
        made.append(widget.run(start=False))
        widget.start_worker(made[0])
        widget.cancel()

    QTimer.singleShot(0, run_and_cancel)
    qtbot.waitUntil(lambda: bool(made) and widget.worker is None, timeout=10_000)
    assert widget.status.value == "Cancelled."

    run = widget.run(start=False)  # a queued run that gets a thread: its status follows, and it ends
    widget.start_worker(run)
    qtbot.waitUntil(lambda: widget.status.value.startswith("Waiting for a free thread"), timeout=10_000)
    with qtbot.waitSignal(run.finished, timeout=120_000):
        busy_pool.set()
    assert widget.status.value.startswith("Done") and not errors, errors


def test_overlapping_runs_give_warnings_its_state_back(viewer, open_widget, qtbot, request):
    """Each superqt worker swaps warnings.showwarning while it runs and restores what it found: two overlapping
    runs whose first ends first left the first one's swap in place for good (later warnings of the whole
    process went to that finished run). When the last of them ends, warnings has its state back."""
    import warnings

    from qtpy.QtCore import QThreadPool

    pool = QThreadPool.globalInstance()
    pool.waitForDone(10_000)
    size = pool.maxThreadCount()
    pool.setMaxThreadCount(max(size, 2))  # (both runs at once)
    request.addfinalizer(lambda: pool.setMaxThreadCount(size))
    before = warnings.showwarning, warnings.filters
    viewer.add_image(samples.hazy_image(32).data, name="haze", rgb=True)
    first = open_widget(SEG, iterations=30)
    second = open_widget("Dehazing", iterations=300)
    a, b = first.run(start=False), second.run(start=False)
    started, overlap = [], []
    a.yielded.connect(lambda _p: started or started.append(b.start()))  # (the second starts once)
    a.finished.connect(lambda: overlap.append(b.is_running))
    with qtbot.waitSignal(a.finished, timeout=120_000):
        a.start()
    qtbot.waitUntil(lambda: second.worker is None, timeout=120_000)
    assert overlap == [True]  # (the second began before the first ended, and ended after it)
    assert (warnings.showwarning, warnings.filters) == before


def test_the_starting_status_names_every_input(viewer, open_widget, qtbot):
    """A run of several mixtures said it started "on 'mixture 1'" (one of them), and a stack run nested its mode
    in a second pair of brackets: all inputs are named (or counted beyond three), the mode follows a colon."""
    from napari_doubledip._widgets._base import _names_text

    def starting(widget):
        worker = widget.run(start=False)
        said = widget.status.value
        with qtbot.waitSignal(worker.finished, timeout=120_000):
            worker.start()
        return said

    viewer.open_sample("napari-doubledip", "two_mixtures")
    widget = open_widget("Transparency", iterations=1)
    names = [la.name for la in widget.pickers["mixtures"].value]
    assert len(names) == 2
    assert starting(widget) == f"Starting transparency on {names[0]!r}, {names[1]!r}..."
    viewer.add_image(samples.moving_object_video(size=32, frames=3).data.mean(axis=-1), name="t")
    seg = open_widget(SEG, iterations=1)
    seg.frames.value = "whole stack (video)"
    assert starting(seg) == "Starting segmentation on 't' — whole stack (video)..."
    layers = [viewer.layers["t"]] * 5
    assert _names_text(layers) == "'t' and 4 more layers" and _names_text(layers[:1], quote=False) == "t"


def test_the_progress_bar_says_nothing_until_a_run_plans_its_iterations(viewer, open_widget, qtbot, errors):
    """Idle: an empty bar without text (not "0 / 1"); starting: Qt's busy bar, the status naming the task; from
    the first report: done / planned; a refused run leaves it idle again."""
    viewer.add_image(samples.hazy_image(32).data, name="haze")
    widget = open_widget("Dehazing", iterations=1)
    bar = widget.progress.native
    assert not bar.isTextVisible() and bar.value() == 0
    widget.preview_every.value = 0
    worker = widget.run(start=False)
    assert bar.maximum() == 0 and not bar.isTextVisible()  # busy until the run says what it plans
    assert widget.status.value == "Starting dehazing on 'haze'..."
    shown = []
    worker.yielded.connect(lambda p: shown.append((bar.isTextVisible(), bar.maximum())))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert shown and shown[0] == (True, 1) and widget.status.value.startswith("Done: 1 iteration, ")
    widget.max_size.value = 8  # refused before the start: the bar idle, not the last run's "1 / 1"
    assert widget.run(start=False) is None and errors
    assert not bar.isTextVisible() and bar.value() == 0


def test_a_new_output_the_user_moves_during_the_run_stays_where_it_was_put(viewer, open_widget, qtbot):
    """The end of a first run puts its new layers on top, in the parts' order, except one the user moved in
    the layer list while the run went (e.g. the mask's preview dragged under the image): that one stays."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=20)
    widget.preview_every.value = 1
    worker = widget.run(start=False)

    def move_mask(p):
        if p.preview and "comp mask" in viewer.layers and names(viewer)[0] != "comp mask":
            viewer.layers.move(names(viewer).index("comp mask"), 0)

    worker.yielded.connect(move_mask)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    order = names(viewer)
    assert order[0] == "comp mask" and order[1] == "comp", order
    assert set(order[2:]) == {"comp foreground", "comp background"}


def test_a_run_that_converges_early_says_so(viewer, open_widget, qtbot, monkeypatch, errors):
    """Segmentation ends once its mask has settled; the widget says "finishing" while the result is made (not
    the time left to a budget that will not run), then reports it and fills the progress bar."""
    import dataclasses

    from napari_doubledip.tasks import segmentation

    real = segmentation.build_task

    def settles_at_once(*args, **kwargs):  # the mask "view" never changes: settled at the first check
        task = real(*args, **kwargs)
        return dataclasses.replace(task, settle=lambda o: o["mask"].new_zeros(1), settle_checks=1, check_every=5)

    monkeypatch.setattr(segmentation, "build_task", settles_at_once)
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=40)
    said = []
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: said.append(widget.status.value))  # (after the widget's own handler)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert not errors
    done = viewer.layers["comp mask"].metadata["iterations"]
    assert done < 40
    assert [s for s in said if f"iteration {done}/{done} " in s and s.endswith(", finishing)")], said
    assert "converged before the planned 40" in widget.status.value
    assert widget.progress.value == widget.progress.max


def test_live_preview_appears_during_the_run(viewer, open_widget, qtbot):
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=30)
    widget.preview_every.value = 1
    seen = []
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: seen.append((p.iteration, "comp mask" in names(viewer))))
    assert widget.run_button.text == "Cancel"
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    # the engine previews at its check points (every 25 iterations): the mask layer exists from then on
    assert (25, True) in seen and all(not present for it, present in seen if it < 25)
    assert viewer.layers["comp mask"].metadata["preview"] is False


def test_live_previews_update_one_layer_in_place(viewer, open_widget, qtbot):
    """Later previews write into the same layer's array (a review: a layer replaced, or given a new array, at
    every preview passed the preview tests)."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    # (previews come at most twice a second: enough steps, at a size slow enough, for two of them)
    widget = open_widget(SEG, iterations=300, max_size=32)
    widget.preview_every.value = 1
    seen = []

    def record(p):
        if p.preview is not None and "comp mask" in names(viewer):
            layer = viewer.layers["comp mask"]
            seen.append((layer.unique_id, layer.data, layer.metadata.get("iteration")))

    worker = widget.run(start=False)
    worker.yielded.connect(record)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    its = [s[2] for s in seen]
    assert its == sorted(its) and len(set(its)) >= 2, its  # (two previews at least)
    assert all(uid == seen[0][0] for uid, _, _ in seen)  # one layer throughout
    assert all(data is seen[0][1] for _, data, _ in seen)  # its array written in place
    assert viewer.layers["comp mask"].unique_id == seen[0][0]


def test_a_run_shows_in_naparis_activity_dock_until_it_ends(viewer, open_widget, qtbot, monkeypatch):
    """The status bar's activity entry follows the run (seen while the dock is hidden) and goes when it ends;
    its Cancel button cancels the run as the widget's does."""
    from napari.utils import progress

    import napari_doubledip._widgets._base as base

    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=30)
    desc = "Segmentation (Double-DIP): comp"

    before = set(progress._all_instances)

    def ours():
        return [p for p in progress._all_instances if p.desc.startswith(desc) and p not in before]

    seen, closed = [], []
    close = base.Activity.close
    monkeypatch.setattr(base.Activity, "close", lambda a: closed.append((a._bar.n, a._bar.total)) or close(a))
    worker = widget.run(start=False)
    assert [bar.total for bar in ours()] == [0]  # busy: no report yet
    worker.yielded.connect(lambda p: seen.append([(bar.n, bar.total) for bar in ours()]))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    # one entry throughout, following the reports (drawn at most every ACTIVITY_SECONDS, and the end of the
    # run may close it while it draws an earlier report)
    assert seen and all(len(entry) == 1 and entry[0][1] in (0, 30) for entry in seen)
    assert len(closed) == 1 and closed[0][1] == 30 and 5 <= closed[0][0] <= 30 and ours() == []
    layers = names(viewer)
    widget.iterations.value = 5000
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: ours()[0].cancel() if p.iteration >= 25 else None)  # its Cancel button
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.status.value == "Cancelled." and ours() == [] and worker.abort_requested
    assert names(viewer) == layers and widget.run_button.text == "Run"


def test_a_backlog_of_reports_does_not_nest_the_progress_slot(
    viewer, open_widget, run_widget, monkeypatch, errors
):
    """napari's activity bar processes Qt events when it changes: queued reports must not be handled one inside
    another (400 reports queued nested 96 deep and hit the recursion limit) and the run must still end cleanly."""
    from napari.utils import progress

    import napari_doubledip._widgets._base as base
    from napari_doubledip.solver.progress import Progress

    def backlog(function, args, kwargs, control):
        for i in range(1, 401):
            yield Progress(i, 400, 0.5, {}, None, 0.0)
        raise ValueError("the end of the backlog")

    monkeypatch.setattr(base, "run_task", backlog)
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG)
    before = set(progress._all_instances)
    depth, deepest = [0], [0]
    handle = widget._on_progress

    def counted(p):
        depth[0] += 1
        deepest[0] = max(deepest[0], depth[0])
        try:
            handle(p)
        finally:
            depth[0] -= 1

    widget._on_progress = counted  # (what run() connects; monkeypatch's undo would remove a magicgui child)
    run_widget(widget)
    assert deepest[0] <= 2 and errors == ["Segmentation (Double-DIP): the end of the backlog"]
    assert set(progress._all_instances) == before and widget.run_button.text == "Run"


def test_rerun_updates_layers_in_place(viewer, open_widget, run_widget):
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG)
    run_widget(widget)
    before = names(viewer)
    fg = viewer.layers["comp foreground"]
    data_before = fg.data
    first = data_before.copy()
    widget.seed.value = 7
    run_widget(widget)
    assert names(viewer) == before  # no duplicates
    assert viewer.layers["comp foreground"].unique_id == fg.unique_id  # the same layer, updated
    # in a new array (the earlier one, perhaps kept by the user, is left as it was: a review's case)
    assert viewer.layers["comp foreground"].data is not data_before and np.array_equal(data_before, first)
    assert not np.allclose(viewer.layers["comp foreground"].data, first)
    meta = viewer.layers["comp mask"].metadata
    assert meta["seed"] == 7
    if meta["device"] == "cpu":  # with the seed, what makes a CPU run repeatable
        assert isinstance(meta["threads"], int) and meta["threads"] >= 1
    else:
        assert meta["threads"] is None


def test_rerun_on_a_replaced_input_lifts_outputs_over_it(viewer, open_widget, run_widget):
    # A grey layer of the same name replaces the RGB input: the foreground and background are remade (on top),
    # the mask is updated in place and would stay under the new, opaque input.
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG)
    run_widget(widget)
    viewer.layers.remove("comp")
    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="comp")
    assert names(viewer).index("comp mask") < names(viewer).index("comp")
    widget.pickers["image"].value = viewer.layers["comp"]
    run_widget(widget)
    assert names(viewer) == ["comp", "comp mask", "comp background", "comp foreground"]


def test_transparency_from_two_layers(viewer, open_widget, run_widget):
    s = samples.two_mixtures(32)
    viewer.add_image(s.data[0], name="m1", scale=(2.0, 2.0))
    viewer.add_image(s.data[1], name="m2", scale=(2.0, 2.0))
    widget = open_widget(TRANS)
    widget.pickers["mixtures"].value = [viewer.layers["m2"], viewer.layers["m1"]]
    run_widget(widget)
    assert names(viewer) == ["m1", "m2", "m1 layer 1", "m1 layer 2"]
    for part in ("layer 1", "layer 2"):
        layer = viewer.layers[f"m1 {part}"]
        assert layer.data.shape == (32, 32)
        np.testing.assert_allclose(layer.scale, (2.0, 2.0))
        assert layer.metadata["inputs"] == ["m1", "m2"]
        assert len(layer.metadata["alphas"]) == 2
        assert layer.metadata["params"]["mixtures"] == 2
    # the estimated coefficients are shown, not only kept in the metadata
    alphas = viewer.layers["m1 layer 1"].metadata["alphas"]
    # each named (the library's warnings count the mixtures from 0 in this order, the layer list's)
    said = f"; coefficients 'm1' {alphas[0]:.2f}, 'm2' {alphas[1]:.2f}"
    assert widget.status.value.endswith(said), widget.status.value


def test_a_rerun_on_other_mixtures_says_it_replaces_the_earlier_result(viewer, open_widget, run_widget, infos):
    """Two mixtures, then one of them alone (e.g. the other removed from the picker): the one-image result
    replaced the two-mixture one in place without a word."""
    s = samples.two_mixtures(32)
    viewer.add_image(s.data[0], name="m1")
    viewer.add_image(s.data[1], name="m2")
    widget = open_widget(TRANS, iterations=3)
    widget.pickers["mixtures"].value = [viewer.layers["m1"], viewer.layers["m2"]]
    run_widget(widget)
    run_widget(widget)  # the same inputs again: no note
    assert not [m for m in infos if "held the results of" in m], infos
    widget.pickers["mixtures"].value = [viewer.layers["m1"]]
    run_widget(widget)
    said = [m for m in infos if "held the results of" in m]
    assert len(said) == 1 and "'m1', 'm2', which this run's of 'm1' replace" in said[0], infos
    assert "'m1 layer 1'" in said[0] and viewer.layers["m1 layer 1"].metadata["inputs"] == ["m1"]


@pytest.mark.parametrize("title, picker, sample, parts", [
    (TRANS, "mixtures", lambda: samples.two_mixtures(32).data, ("layer 1", "layer 2")),
    ("Watermark removal", "images", lambda: samples.watermark_set(2, 32).data, ("watermark", "alpha")),
])
def test_inputs_moved_in_the_layer_list_update_the_same_results(viewer, open_widget, run_widget, title, picker,
                                                                sample, parts):
    """(A review's case.) The shared parts are named after the first input, in layer-list order: moving the
    inputs between two runs left the first run's results beside a second set, without a word."""
    data = sample()
    viewer.add_image(data[0], name="a")
    viewer.add_image(data[1], name="b")
    widget = open_widget(title, iterations=3)
    widget.pickers[picker].value = [viewer.layers["a"], viewer.layers["b"]]
    run_widget(widget)
    before = names(viewer)
    viewer.layers.move(viewer.layers.index("b"), 0)
    run_widget(widget)
    assert sorted(names(viewer)) == sorted(before) and all(f"a {p}" in names(viewer) for p in parts)
    assert viewer.layers[f"a {parts[0]}"].metadata["inputs"] == ["a", "b"]


def test_mixtures_of_different_shapes_are_refused_naming_each_shape(viewer, open_widget, errors):
    viewer.add_image(np.zeros((40, 48), np.float32), name="big")
    viewer.add_image(np.zeros((32, 48), np.float32), name="small")
    widget = open_widget(TRANS)
    widget.pickers["mixtures"].value = [viewer.layers["big"], viewer.layers["small"]]
    assert widget.run() is None
    assert "'big' (40, 48), 'small' (32, 48)" in errors[-1] and "RGB" not in errors[-1]
    viewer.add_image(np.zeros((40, 48, 3), np.uint8), name="colour", rgb=True)
    widget.pickers["mixtures"].value = [viewer.layers["big"], viewer.layers["colour"]]
    assert widget.run() is None
    assert "'colour' (40, 48, 3)" in errors[-1] and "RGB and grey images cannot be mixed" in errors[-1]


def test_uint16_grayscale_keeps_range_and_contrast(viewer, open_widget, run_widget):
    img = (samples.single_mixture(32).data * 3000 + 200).astype(np.uint16)
    viewer.add_image(img, name="cells", contrast_limits=(200, 3200))
    widget = open_widget(TRANS)
    run_widget(widget)
    out = viewer.layers["cells layer 1"]
    assert out.data.shape == img.shape and out.data.dtype == np.float32
    assert tuple(out.contrast_limits) == (200, 3200)
    # in the input's units; a layer of a mixture may leave the mixture's own range (200-3200), within what
    # uint16 holds and at most half that range beyond it
    assert out.data.min() >= 0 and out.data.max() <= 3200 + 1500 + 1


def test_layers_shared_by_inputs_of_different_ranges_reach_their_values(viewer, open_widget, run_widget):
    """(A review's case.) Two uint16 mixtures in 0-1000 and 0-4000: the shared layers started with the first
    input's contrast limits (255-771), a layer of values up to ~4000 showed flat white."""
    m = samples.two_mixtures(32).data
    a = viewer.add_image((m[0] * 1000).astype(np.uint16), name="A")
    b = viewer.add_image((m[1] * 4000).astype(np.uint16), name="B")
    widget = open_widget(TRANS, iterations=3)
    widget.pickers["mixtures"].value = [a, b]
    run_widget(widget)
    for part in ("layer 1", "layer 2"):
        out = viewer.layers[f"A {part}"]
        lo, hi = (float(v) for v in out.contrast_limits)
        assert lo <= float(out.data.min()) + 1e-3 and hi >= float(out.data.max()) - 1e-3, (part, lo, hi)
        assert lo <= a.contrast_limits[0] and hi >= a.contrast_limits[1]  # (widened, never narrowed)


def test_an_outputs_contrast_slider_reaches_its_values(viewer):
    """Outputs start at the input's contrast limits, but their slider covers their own values too."""
    from napari_doubledip._widgets._layers import OutputLayers

    src = viewer.add_image(np.linspace(800, 3997, 256).reshape(16, 16).astype(np.uint16), name="src")
    values = np.linspace(0, 4000, 256, dtype=np.float32).reshape(16, 16)
    outputs = OutputLayers(viewer, "dehazing")
    out = outputs.write("src clean", "clean", values, kind="image", source=src, metadata={})
    np.testing.assert_allclose(out.contrast_limits, src.contrast_limits)
    assert out.contrast_limits_range[0] <= 0 and out.contrast_limits_range[1] >= 4000
    outputs.write("src clean", "clean", values * 2, kind="image", source=src, metadata={})  # a re-run
    assert out.contrast_limits_range[1] >= 8000
    np.testing.assert_allclose(out.contrast_limits, src.contrast_limits)
    # an RGB output too (a dehazed colour image reaches beyond its input's range: 2 % of the pixels could not
    # be shown)
    rgb = viewer.add_image(np.linspace(0.08, 0.97, 16 * 16 * 3).reshape(16, 16, 3), name="rgb", rgb=True)
    colour = outputs.write("rgb clean", "clean", np.linspace(0, 1.1, 16 * 16 * 3, dtype=np.float32).reshape(
        16, 16, 3), kind="image", source=rgb, metadata={})
    assert colour.rgb and colour.contrast_limits_range[0] <= 0 and colour.contrast_limits_range[1] >= 1.1
    np.testing.assert_allclose(colour.contrast_limits, rgb.contrast_limits)
    wider = np.linspace(0, 1.5, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)
    wider[:8] = np.nan  # (NaN, e.g. planes not reached, are left out)
    assert outputs.write("rgb clean", "clean", wider, kind="image", source=rgb, metadata={}) is colour  # a re-run
    assert colour.contrast_limits_range[1] >= 1.5 and np.isfinite(colour.contrast_limits_range).all()


def test_stack_current_frame(viewer, open_widget, run_widget):
    video = samples.texture_composite(32, rgb=False).data
    stack = np.stack([video, video[::-1], video[:, ::-1]])  # (T, Y, X)
    viewer.add_image(stack, name="movie", scale=(1.0, 0.5, 0.5))
    viewer.dims.set_current_step(0, 2)
    widget = open_widget(SEG)
    assert not widget.frames.native.isHidden() and widget.frames.value == "current frame"
    run_widget(widget)
    # The frame's result sits on its frame (a 2D layer would be drawn over every frame of the stack).
    for part in ("mask", "foreground", "background"):
        layer = viewer.layers[f"movie {part}"]
        assert layer.data.shape == (1, 32, 32) and layer.metadata["frame"] == [2]
        np.testing.assert_allclose(layer.scale, (1.0, 0.5, 0.5))
        np.testing.assert_allclose(layer.translate, (2.0, 0.0, 0.0))
    np.testing.assert_allclose(viewer.layers["movie mask"].data_to_world((0, 5, 5)), (2.0, 2.5, 2.5))


def test_frames_run_one_by_one_accumulate_in_one_stack(viewer, open_widget, run_widget, qtbot):
    """Frame 2, then frame 0 (with live previews): both results are kept, in one stack layer
    aligned with the input; cancelling a third run gives that stack back; the same frame again replaces it."""
    video = samples.texture_composite(32, rgb=False).data
    stack = np.stack([video, video[::-1], video[:, ::-1]])  # (T, Y, X)
    viewer.add_image(stack, name="movie", scale=(1.0, 0.5, 0.5), translate=(0.0, 3.0, 0.0))
    viewer.dims.set_current_step(0, 2)
    widget = open_widget(SEG)
    run_widget(widget)
    first = {p: viewer.layers[f"movie {p}"].data.copy() for p in ("mask", "foreground")}
    assert first["mask"].shape == (1, 32, 32)
    viewer.dims.set_current_step(0, 0)
    widget.preview_every.value = 2
    run_widget(widget)
    for part in ("mask", "foreground", "background"):
        layer = viewer.layers[f"movie {part}"]
        assert layer.data.shape == (3, 32, 32), part
        np.testing.assert_allclose(layer.scale, (1.0, 0.5, 0.5))
        np.testing.assert_allclose(layer.translate, (0.0, 3.0, 0.0))
        assert layer.metadata["frames"] == [[2], [0]] and layer.metadata["frame"] == [0]
        assert blank(layer.data[1]), part  # not computed yet (NaN in images: an opaque 0 hid the input)
    mask, fg = viewer.layers["movie mask"].data, viewer.layers["movie foreground"].data
    np.testing.assert_array_equal(mask[2], first["mask"][0])
    np.testing.assert_array_equal(fg[2], first["foreground"][0])
    assert mask[0].any() and fg[0].any()
    assert len([layer for layer in viewer.layers if layer.name.startswith("movie mask")]) == 1
    # A cancelled run on frame 1 leaves the stack as it was.
    kept = mask.copy()
    viewer.dims.set_current_step(0, 1)
    widget.iterations.value = 1000
    worker = widget.run(start=False)
    with qtbot.waitSignal(worker.yielded, timeout=120_000):
        worker.start()
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        widget.cancel()
    np.testing.assert_array_equal(viewer.layers["movie mask"].data, kept)
    assert viewer.layers["movie mask"].metadata["frames"] == [[2], [0]]
    # The stack follows the input's transform when it changes between runs.
    viewer.layers["movie"].translate = (0.0, 5.0, 1.0)
    widget.iterations.value = 10
    run_widget(widget)
    layer = viewer.layers["movie mask"]
    assert layer.metadata["frames"] == [[2], [0], [1]] and layer.data[1].any()
    np.testing.assert_allclose(layer.translate, (0.0, 5.0, 1.0))
    np.testing.assert_array_equal(layer.data[2], first["mask"][0])
    # The input grows by a frame (a live acquisition): a cancelled run on it leaves the stack as it was, a
    # finished one grows the stack, keeping the frames collected.
    kept = np.array(layer.data, copy=True)
    viewer.layers["movie"].data = np.concatenate([stack, stack[:1]])
    viewer.dims.set_current_step(0, 3)
    widget.iterations.value = 1000
    worker = widget.run(start=False)
    with qtbot.waitSignal(worker.yielded, timeout=120_000):
        worker.start()
    qtbot.waitUntil(lambda: viewer.layers["movie mask"].data.shape == (4, 32, 32), timeout=120_000)  # a preview
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        widget.cancel()
    np.testing.assert_array_equal(viewer.layers["movie mask"].data, kept)
    assert viewer.layers["movie mask"].metadata["frames"] == [[2], [0], [1]]
    widget.iterations.value = 10
    run_widget(widget)
    layer = viewer.layers["movie mask"]
    assert layer.data.shape == (4, 32, 32) and layer.metadata["frames"] == [[2], [0], [1], [3]]
    np.testing.assert_array_equal(layer.data[:3], kept)
    assert layer.data[3].any()


def test_over_the_stack_limit_every_part_keeps_one_frame_and_says_so(
    viewer, open_widget, run_widget, warnings_shown, monkeypatch
):
    """Whether results collect into a stack is decided for the run, not per part (a uint8 mask would fit where
    the float32 RGB layers do not), and replacing another frame's results is announced."""
    from napari_doubledip._widgets import _layers

    video = samples.texture_composite(32).data
    viewer.add_image(np.stack([video, video[::-1], video[:, ::-1], video]), name="movie", rgb=True)
    # 4 frames of 32 x 32 x 3 float32 = 49 kB: over, the masks alone (4 kB) would not be
    monkeypatch.setattr(_layers, "STACK_LIMIT_BYTES", 16_000)
    viewer.dims.set_current_step(0, 0)
    widget = open_widget(SEG)
    run_widget(widget)
    viewer.dims.set_current_step(0, 2)
    run_widget(widget)
    for part in ("mask", "foreground", "background"):
        layer = viewer.layers[f"movie {part}"]
        assert layer.data.shape[0] == 1 and layer.metadata["frame"] == [2], part
    assert len([m for m in warnings_shown if "replace those of frame(s) [0]" in m]) == 1, warnings_shown
    # a collected stack whose input grows past the limit: its frames are replaced, and that is said too
    monkeypatch.setattr(_layers, "STACK_LIMIT_BYTES", 10**9)
    viewer.dims.set_current_step(0, 0)
    run_widget(widget)
    assert viewer.layers["movie mask"].metadata["frames"] == [[2], [0]]
    viewer.layers["movie"].data = np.concatenate([viewer.layers["movie"].data] * 2)  # 8 frames
    monkeypatch.setattr(_layers, "STACK_LIMIT_BYTES", 60_000)  # 4 frames fit, 8 do not
    viewer.dims.set_current_step(0, 6)
    run_widget(widget)
    assert viewer.layers["movie mask"].metadata["frame"] == [6] and viewer.layers["movie mask"].data.shape[0] == 1
    assert any("replace those of frame(s) [0], [2]" in m for m in warnings_shown), warnings_shown


def test_a_lazy_stack_is_loaded_in_the_worker_not_the_gui_thread(viewer, open_widget, run_widget):
    import threading

    import dask
    import dask.array as da

    stack = samples.moving_object_video(size=32, frames=3).data.mean(axis=-1).astype(np.float32)
    threads = []

    def load(t):
        threads.append(threading.current_thread())
        return stack[t]

    lazy = da.stack([da.from_delayed(dask.delayed(load)(t), (32, 32), np.float32) for t in range(3)])
    viewer.add_image(lazy, name="movie", contrast_limits=(0, 1))
    threads.clear()  # (napari may have read a slice to show it)
    widget = open_widget(SEG, iterations=3)
    widget.frames.value = "whole stack (video)"
    with dask.config.set(scheduler="synchronous"):  # chunks load in the thread that computes
        run_widget(widget)
    assert viewer.layers["movie mask"].data.shape == (3, 32, 32)
    assert threads and threading.main_thread() not in threads
    # A lazy image added while the widget is open is not loaded to see whether it is an empty Labels layer.
    threads.clear()
    with dask.config.set(scheduler="synchronous"):
        viewer.add_image(lazy, name="another", contrast_limits=(0, 1))
    assert len(threads) <= 1  # (at most the slice napari shows)
    # the current frame of that stack, a large 2D image, the full-resolution level of a multiscale one: the same
    one = da.from_delayed(dask.delayed(load)(1), (32, 32), np.float32)
    viewer.add_image(one, name="still", contrast_limits=(0, 1))
    viewer.add_image([one, one[::2, ::2]], name="pyramid", multiscale=True, contrast_limits=(0, 1))
    for name, frames in (("movie", "current frame"), ("still", None), ("pyramid", None)):
        widget.pickers["image"].value = viewer.layers[name]
        if frames:
            widget.frames.value = frames
        threads.clear()
        with dask.config.set(scheduler="synchronous"):
            run_widget(widget)
        assert viewer.layers[f"{name} mask"].data.shape[-2:] == (32, 32)
        assert threads and threading.main_thread() not in threads, name


def test_frames_computed_from_changed_data_are_cleared(viewer, open_widget, run_widget, infos):
    """New data of the same shape (another file, a filtered stack) or a frame edited in place under the input:
    a frame run then clears the collected frames whose input changed instead of mixing results of both data,
    and says so; frames whose input is the same stay (a live acquisition's), as does Cancel's undo."""
    video = samples.texture_composite(32, rgb=False).data
    stack = np.stack([video, video[::-1], video[:, ::-1], video.T])
    viewer.add_image(stack, name="movie")
    widget = open_widget(SEG, iterations=10)
    for t in (2, 1):
        viewer.dims.set_current_step(0, t)
        run_widget(widget)
    assert viewer.layers["movie mask"].metadata["frames"] == [[2], [1]]
    viewer.layers["movie"].data = stack.astype(np.float64)  # the same values again (another dtype): they stay
    viewer.dims.set_current_step(0, 0)
    run_widget(widget)
    assert viewer.layers["movie mask"].metadata["frames"] == [[2], [1], [0]]
    assert not [m for m in infos if "before it changed" in m], infos
    kept = viewer.layers["movie mask"].data.copy()
    viewer.layers["movie"].data[2] = 1 - viewer.layers["movie"].data[2]  # frame 2 edited in place
    viewer.layers["movie"].refresh()
    viewer.dims.set_current_step(0, 3)
    run_widget(widget)
    for part in ("mask", "foreground", "background"):
        layer = viewer.layers[f"movie {part}"]
        assert layer.metadata["frames"] == [[1], [0], [3]], part
        assert blank(layer.data[2]) and layer.data[3].any(), part
    np.testing.assert_array_equal(viewer.layers["movie mask"].data[:2], kept[:2])
    said = [m for m in infos if "before it changed" in m]
    assert len(said) == 1 and "frame(s) [2]" in said[0] and "'movie mask'" in said[0], infos


def test_a_frame_shown_as_a_thick_projection_is_said_to_be_read_as_one_plane(viewer, open_widget, warnings_shown):
    """A Z-stack seen as a maximum-intensity projection (projection mode over the Dims thickness): "current
    frame" segmented the plane at the slider, one the user never saw, without a word."""
    video = samples.texture_composite(24, rgb=False).data
    layer = viewer.add_image(np.stack([video, video[::-1], video[:, ::-1], video]), name="z")
    widget = open_widget(SEG, iterations=5)
    viewer.dims.set_current_step(0, 2)
    # (a thickness of 1 at a whole plane shows that plane alone, as napari slices it)
    for mode, thickness, said in [("max", 5, True), ("max", 0, False), ("none", 5, False), ("max", 1, False)]:
        layer.projection_mode = mode
        viewer.dims.thickness = (thickness, 0, 0)
        before = len(warnings_shown)
        job = widget._prepare()
        new = [m for m in warnings_shown[before:] if "projection" in m]
        assert job.frame == (2,) and bool(new) == said, (mode, thickness, warnings_shown[before:])
        if said:
            assert "'z' is shown as a max projection" in new[0] and "plane at the slider, [2]" in new[0]


def test_a_sequence_run_at_another_slice_says_it_replaces_the_earlier_one(viewer, open_widget, run_widget, infos):
    """A (T, Z, Y, X) movie segmented along T at Z 1, then at Z 0: the layers hold one slice's results, and the
    earlier slice's were replaced without a word."""
    video = samples.texture_composite(24, rgb=False).data
    movie = np.stack([np.stack([video, video[::-1], video[:, ::-1]])] * 4)  # (4, 3, 24, 24)
    viewer.add_image(movie, name="tz")
    widget = open_widget(SEG, iterations=5)
    widget.frames.value = "whole stack (video)"
    widget.sequence_axis.value = 0
    viewer.dims.set_current_step(1, 1)
    run_widget(widget)
    assert not [m for m in infos if "which this run's at" in m], infos
    viewer.dims.set_current_step(1, 0)
    run_widget(widget)
    assert viewer.layers["tz mask"].metadata["frame"] == [None, 0]
    said = [m for m in infos if "which this run's at" in m]
    assert len(said) == 1 and "'tz mask'" in said[0], infos
    assert "at [:, 1], which this run's at [:, 0]" in said[0], infos  # (a whole axis as `:`, not None)


def test_a_whole_stack_result_patched_after_its_input_changed(viewer, open_widget, run_widget, infos):
    """A whole-stack run's result records its frames' checksums too: a frame run patched into it after the
    input changed clears the frames computed from the old data."""
    video = samples.texture_composite(32, rgb=False).data
    stack = np.stack([video, video[::-1], video[:, ::-1]])
    viewer.add_image(stack, name="movie")
    widget = open_widget(SEG, iterations=10)
    widget.frames.value = "whole stack (video)"
    run_widget(widget)
    assert len(viewer.layers["movie mask"].metadata["digests"]) == 3
    viewer.layers["movie"].data = np.stack([video.T, video[::-1], video[:, ::-1]])  # frame 0 is new
    widget.frames.value = "current frame"
    viewer.dims.set_current_step(0, 1)
    run_widget(widget)
    layer = viewer.layers["movie mask"]
    assert layer.metadata["frames"] == [[1], [2]] and not layer.data[0].any() and layer.data[2].any()
    assert any("frame(s) [0]" in m for m in infos), infos


def test_collected_frames_are_not_written_into_an_array_a_run_reads(viewer, open_widget, run_widget, qtbot):
    """A stack of collected frames that a running (or queued) job was handed, e.g. another panel decomposing
    it: neither a frame's result nor the undo of a cancelled frame run writes into that array; the layer gets
    a new one."""
    from napari_doubledip._widgets._layers import hold_arrays, release_arrays

    video = samples.texture_composite(32, rgb=False).data
    viewer.add_image(np.stack([video, video[::-1], video[:, ::-1]]), name="movie")
    widget = open_widget(SEG, iterations=3)
    for t in (0, 1):
        viewer.dims.set_current_step(0, t)
        run_widget(widget)
    mask = viewer.layers["movie mask"]
    read = mask.data
    held = hold_arrays([read])  # what the other job reads
    try:
        seen = read.copy()
        viewer.dims.set_current_step(0, 2)
        run_widget(widget)
        np.testing.assert_array_equal(read, seen)
        assert mask.data is not read and mask.data[2].any()
        release_arrays(held)
        # a cancelled run, its preview written into the stack in place, undone while a job reads that stack
        widget.iterations.value, widget.preview_every.value = 1000, 1
        viewer.dims.set_current_step(0, 1)
        worker = widget.run(start=False)
        state = {}

        def at_preview(p):
            if p.preview and not state:
                state["array"] = mask.data
                state["seen"] = mask.data.copy()  # the preview written in place
                state["held"] = hold_arrays([mask.data])
                widget.cancel()

        worker.yielded.connect(at_preview)
        with qtbot.waitSignal(worker.finished, timeout=120_000):
            worker.start()
        held = state["held"]
        np.testing.assert_array_equal(state["array"], state["seen"])
        assert mask.data is not state["array"]
    finally:
        release_arrays(held)


def test_a_frame_after_a_whole_stack_run_is_patched_into_it(viewer, open_widget, run_widget):
    """Re-running one frame of a whole-stack (video) result, e.g. to correct it, writes that frame into the
    result; the other frames stay, and the metadata keeps what the whole-stack run was."""
    stack = samples.moving_object_video(size=32, frames=3).data.mean(axis=-1)
    viewer.add_image(stack, name="movie")
    widget = open_widget(SEG, iterations=3)
    widget.frames.value = "whole stack (video)"
    run_widget(widget)
    video = np.array(viewer.layers["movie mask"].data, copy=True)
    assert video.shape == (3, 32, 32)
    viewer.dims.set_current_step(0, 1)
    widget.frames.value = "current frame"
    widget.seed.value = 5
    run_widget(widget)
    layer = viewer.layers["movie mask"]
    assert layer.data.shape == (3, 32, 32) and names(viewer).count("movie mask") == 1
    np.testing.assert_array_equal(layer.data[[0, 2]], video[[0, 2]])
    md = layer.metadata
    assert md["frame"] == [1] and md["frames"] == [[0], [1], [2]] and md["seed"] == 5
    assert md["stack_run"]["function"] == "segment_video" and md["stack_run"]["frame"] is None
    # a second frame keeps the record of the whole-stack run
    viewer.dims.set_current_step(0, 2)
    run_widget(widget)
    assert viewer.layers["movie mask"].metadata["stack_run"] == md["stack_run"]
    # frames still being acquired: the input grows, a new frame's result joins the stack, the others kept
    kept = np.array(viewer.layers["movie mask"].data, copy=True)
    viewer.layers["movie"].data = np.concatenate([stack, stack[:1]])
    viewer.dims.set_current_step(0, 3)
    run_widget(widget)
    layer = viewer.layers["movie mask"]
    assert layer.data.shape == (4, 32, 32) and names(viewer).count("movie mask") == 1
    np.testing.assert_array_equal(layer.data[:3], kept)
    assert layer.data[3].any() and layer.metadata["frames"] == [[0], [1], [2], [3]]
    assert layer.metadata["stack_run"] == md["stack_run"]
    # frames cut off the end: the stack is cut alike, the frames both have kept (their data did not change)
    kept = np.array(layer.data, copy=True)
    viewer.layers["movie"].data = stack[:2]
    viewer.dims.set_current_step(0, 1)
    widget.seed.value = 6
    run_widget(widget)
    layer = viewer.layers["movie mask"]
    assert layer.data.shape == (2, 32, 32) and names(viewer).count("movie mask") == 1
    np.testing.assert_array_equal(layer.data[0], kept[0])
    assert layer.metadata["frames"] == [[0], [1]] and sorted(layer.metadata["digests"]) == ["0", "1"]


@pytest.mark.parametrize("title", [SEG, TRANS])
def test_auto_budget_and_working_size_defer_to_the_library(viewer, title):
    """A fresh widget is at 0 = auto and passes None: input-dependent defaults (stack length, box crop) apply."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", title)
    assert widget.iterations.value == 0 and "auto" in widget.iterations.label
    assert widget.max_size.value == 0 and "auto" in widget.max_size.label
    kwargs = widget._prepare().kwargs
    assert kwargs["iterations"] is None and kwargs["max_size"] is None
    widget.iterations.value, widget.max_size.value = 30, 48
    kwargs = widget._prepare().kwargs
    assert (kwargs["iterations"], kwargs["max_size"]) == (30, 48)


@pytest.mark.parametrize("tick_after", [False, True])
def test_cancel_removes_the_runs_layers(viewer, open_widget, qtbot, tick_after):
    """Also when "keep partial result" is ticked after Cancel, before the run stops: what Cancel does is decided
    when it is pressed (a QA run kept a bare preview mask, without parameters, that way)."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=5000)
    widget.preview_every.value = 1
    worker = widget.run(start=False)

    had = []

    def on_progress(p):
        if p.iteration >= 25 and widget.run_button.text == "Cancel":  # after the first preview made the mask
            had.append("comp mask" in names(viewer))
            widget.run_button.changed.emit(True)  # the button (now "Cancel")
            if tick_after:
                widget.keep_partial.value = True

    worker.yielded.connect(on_progress)
    with qtbot.waitSignals([worker.aborted, worker.finished], timeout=120_000):
        worker.start()
    assert had and all(had)  # (a layer to remove was there)
    assert names(viewer) == ["comp"]
    assert widget.run_button.text == "Run" and widget.status.value == "Cancelled."


def test_a_cancelled_first_run_checks_devices_in_the_background(viewer, open_widget, qtbot, monkeypatch):
    """torch is in sys.modules from the start of its import: a first run cancelled while it imported torch
    checked the device list at its end in the GUI thread, which waited there for the rest of the import (1.5-3 s
    of frozen napari). The check goes on in the background then."""
    import threading

    import torch  # noqa: F401 - (in sys.modules from the start of its import)

    from napari_doubledip._widgets import _devices, _worker

    # the run's import, under way in its own thread (never ending here: the run is cancelled while it waits)
    monkeypatch.setitem(_worker._IMPORTS, "napari_doubledip.tasks.dehaze", (threading.Event(), []))
    checked_in = []
    def probe() -> list[str]:
        checked_in.append(threading.current_thread())
        return ["cpu"]

    monkeypatch.setattr(_devices, "_probe_devices", probe)
    viewer.add_image(samples.hazy_image(32).data, name="haze", rgb=True)
    widget = open_widget("Dehazing", iterations=2)
    widget.device.available = None  # (as before any check: the first run of a session)
    worker = widget.run(start=False)
    widget.start_worker(worker)
    qtbot.waitUntil(lambda: "PyTorch" in widget.status.value, timeout=10_000)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        widget.cancel()
    assert widget.status.value == "Cancelled."
    qtbot.waitUntil(lambda: widget.device.available == ["cpu"], timeout=10_000)
    assert checked_in and threading.main_thread() not in checked_in


def test_a_reopened_panel_keeps_the_options_set(viewer):
    """Closing a panel and opening it again (Plugins menu) keeps the options the user set, e.g. a seed and a
    typed airlight; another task's panel keeps its own."""
    dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
    widget.iterations.value, widget.seed.value, widget.keep_partial.value = 77, 9, True
    widget.task_options["airlight"].value = "0.8"
    viewer.window.remove_dock_widget(dock)
    _dock, again = viewer.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
    assert (again.iterations.value, again.seed.value, again.keep_partial.value) == (77, 9, True)
    assert again.task_options["airlight"].value == "0.8"
    dock, other = viewer.window.add_plugin_dock_widget("napari-doubledip", SEG)
    assert (other.iterations.value, other.seed.value, other.keep_partial.value) == (0, 0, False)
    # a sample's preset options are its own: neither kept for other layers, nor lost for the sample
    viewer.open_sample("napari-doubledip", "blob_field")
    viewer.add_image(np.zeros((16, 16), np.float32), name="plain")
    automatic = "automatic"
    other.pickers["image"].value = viewer.layers["nuclei"]
    assert other.task_options[automatic].value == "intensity (many objects)"
    viewer.window.remove_dock_widget(dock)
    viewer.layers.selection.active = viewer.layers["plain"]
    dock, other = viewer.window.add_plugin_dock_widget("napari-doubledip", SEG)
    assert other.pickers["image"].value.name == "plain"
    assert other.task_options[automatic].value == "saliency (one object)"
    viewer.window.remove_dock_widget(dock)
    viewer.layers.selection.active = viewer.layers["nuclei"]
    _dock, other = viewer.window.add_plugin_dock_widget("napari-doubledip", SEG)
    assert other.pickers["image"].value.name == "nuclei"
    assert other.task_options[automatic].value == "intensity (many objects)"


def _run_doing(qtbot, widget, action, at: int = 5) -> bool:
    """Run ``widget`` to its end, calling ``action`` once, at the first report from iteration ``at`` on (what the
    user does while the run goes); returns whether it was called."""
    worker = widget.run(start=False)
    done = []

    def during(p):
        if not done and p.iteration >= at:
            done.append(True)
            action()

    worker.yielded.connect(during)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    return bool(done)


def test_an_input_given_new_data_during_a_run_is_said_to_be_of_the_old(
    viewer, open_widget, qtbot, warnings_shown
):
    """(A review's case.) An image given new data of the same shape during the run: "Done", and results of the
    old data named after and placed on a layer that shows something else, without a word (another shape was
    warned about). Frames the run did not read changing, or the same values set again, are no change."""
    s = samples.hazy_image(32)
    flat = viewer.add_image(s.data.copy(), name="flat", rgb=True)
    widget = open_widget("Dehazing", iterations=40)
    widget.preview_every.value = 1
    assert _run_doing(qtbot, widget, lambda: setattr(flat, "data", s.data.copy()))  # (the same values)
    assert _run_doing(qtbot, widget, lambda: setattr(flat, "data", s.data[::-1].copy()))
    said = [m for m in warnings_shown if "got new data during the run" in m]
    assert len(said) == 1 and "'flat' got new data during the run: the results are of the data read" in said[0]
    warnings_shown.clear()
    stack = np.stack([s.data, s.data[::-1], s.data[:, ::-1]])
    image = viewer.add_image(stack.copy(), name="stack", rgb=True)
    widget.pickers["image"].value = image
    viewer.dims.set_current_step(0, 1)
    assert _run_doing(qtbot, widget, lambda: setattr(image, "data", stack[::-1].copy()))  # (frame 1 the same)
    assert not [m for m in warnings_shown if "got new data" in m], warnings_shown
    assert _run_doing(qtbot, widget, lambda: setattr(image, "data", stack[[1, 0, 2]].copy()))
    assert [m for m in warnings_shown if "'stack' got new data during the run" in m], warnings_shown


def test_a_box_edited_during_a_run_is_said_to_wait_for_the_next(viewer, open_widget, qtbot, infos):
    """(A review's case.) The run reads the box at Run; a box moved while it went was ignored without a word."""
    s = samples.watermarked(32)
    image = viewer.add_image(s.data, name="wm", rgb=True)
    y0, x0, y1, x1 = s.extra["box"]
    box = viewer.add_shapes([np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)], shape_type="rectangle",
                            name="box")
    widget = open_widget("Watermark removal", iterations=40)
    widget.pickers["images"].value = [image]
    widget.pickers["box"].value = box
    widget.preview_every.value = 1
    assert _run_doing(qtbot, widget, lambda: None)  # (the panel's own reading of the box is no edit)
    assert not [m for m in infos if "was edited" in m], infos
    moved = np.array([[20.0, 20.0], [20.0, 30.0], [30.0, 30.0], [30.0, 20.0]])
    assert _run_doing(qtbot, widget, lambda: setattr(box, "data", [moved]))
    assert [m for m in infos if "'box' was edited during the run, which read its shapes at Run" in m], infos
    md = viewer.layers["wm clean"].metadata
    assert tuple(md["params"]["box"][:2]) == (y0, x0)  # (the box read at Run, not the moved one)


def test_a_sample_opened_during_a_run_is_followed_when_it_ends(viewer, open_widget, qtbot):
    """A panel on a bundled sample moves to the next sample opened, with its presets; one opened while the panel
    ran was dropped (the next Run segmented the old sample again, with its presets)."""
    viewer.open_sample("napari-doubledip", "texture_composite")
    widget = open_widget(SEG, iterations=200)
    widget.preview_every.value = 1
    assert _run_doing(qtbot, widget, lambda: viewer.open_sample("napari-doubledip", "blob_field"))
    assert widget.worker is None
    assert widget.pickers["image"].value.name == "nuclei"
    assert widget.task_options["automatic"].value == "intensity (many objects)"


def test_scribbles_painted_during_a_run_are_said_to_wait_for_the_next(viewer, open_widget, qtbot, infos):
    """The run reads the scribbles at Run; strokes painted while it goes were ignored without a word."""
    s = samples.texture_composite(32)
    viewer.add_image(s.data, name="comp")
    labels = viewer.add_labels(np.zeros((32, 32), np.uint8), name="marks")
    labels.data[14:18, 14:18] = 1
    widget = open_widget(SEG, iterations=60)
    widget.pickers["scribbles"].value = labels
    widget.preview_every.value = 1
    assert _run_doing(qtbot, widget, lambda: labels.paint((2, 2), 2))  # (a brush stroke, as the user paints)
    assert [m for m in infos if "'marks' was painted on during the run" in m], infos
    infos.clear()
    labels.paint((4, 4), 2)  # (after the run: nothing to say, and the panel no longer listens)
    worker = widget.run(start=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert not [m for m in infos if "painted on during the run" in m], infos


def test_closing_the_dock_cancels_its_run(viewer, qtbot):
    """The dock's close button removes the dock and the Plugins menu then opens a new widget: the old one's
    run can be neither seen nor cancelled and would overwrite the new one's layers, so closing cancels it."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", SEG)
    widget.iterations.value, widget.max_size.value, widget.preview_every.value = 5000, 16, 1
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: viewer.window.remove_dock_widget(dock) if p.iteration == 25 else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert names(viewer) == ["comp"] and widget.worker is None and widget.status.value == "Cancelled."
    # the removed widget no longer follows the layer list
    viewer.add_image(np.zeros((16, 16), np.float32), name="later")
    viewer.add_labels(np.zeros((32, 32), np.uint8), name="paint")
    assert [c.name for c in widget.pickers["image"].choices] == ["comp"]
    assert widget.pickers["scribbles"].value is None
    viewer.layers.remove("later")
    viewer.layers.remove("paint")
    # hiding the dock keeps the widget in it: a run goes on
    dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", SEG)
    widget.iterations.value, widget.max_size.value = 10, 16
    worker = widget.run(start=False)
    worker.started.connect(dock.hide)
    with qtbot.waitSignal(worker.returned, timeout=120_000):
        worker.start()
    assert "comp mask" in names(viewer)


def test_a_closed_panel_leaves_nothing_for_its_deletion_to_run(viewer, qtbot):
    """A closed panel is deleted later, by the garbage collector; a layer-list disconnection connected to its
    `destroyed` signal ran from there, touching the viewer mid-collection, and crashed napari (a segfault when the
    viewer closed after a few panels had been opened and closed). Nothing of the layer-following is on
    `destroyed`: closing the dock changes nothing there, and the panel stops following the layers."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", SEG)
    native = widget.native
    before = native.receivers(native.destroyed)
    viewer.window.remove_dock_widget(dock)
    assert native.receivers(native.destroyed) == before
    viewer.add_image(np.zeros((16, 16), np.float32), name="later")  # (and it no longer follows the layers)
    assert [c.name for c in widget.pickers["image"].choices] == ["comp"]


@pytest.mark.parametrize("keep", [False, True, "cancelled first"])
def test_a_closed_panels_run_does_not_undo_the_next_panels_result(viewer, open_widget, run_widget, qtbot,
                                                                   monkeypatch, keep):
    """A closed panel's run is settled at once: it may be inside a long step (the full-size finish of a large
    image) when its panel closes, and its late abort must not remove what the reopened panel's run made; with
    *keep partial result* its last preview is kept (its late result was written over the newer one), also
    after a Cancel that was finishing with the best result (that run was left to go on, unseen)."""
    import threading

    real, gate, calls = napari_doubledip.iterate, threading.Event(), []

    def slow(func, *args, **kwargs):  # the first run stalls in one step after its first preview
        first = not calls
        calls.append(1)
        gen = real(func, *args, **kwargs)
        try:
            while True:
                report = next(gen)
                yield report
                if first and report.preview:
                    gate.wait(60)
        except StopIteration as done:
            return done.value

    monkeypatch.setattr(napari_doubledip, "iterate", slow)
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", SEG)
    widget.iterations.value, widget.max_size.value, widget.preview_every.value = 1000, 16, 1
    widget.keep_partial.value = bool(keep)
    worker = widget.run(start=False)
    worker.start()
    qtbot.waitUntil(lambda: "comp mask" in names(viewer), timeout=120_000)
    if keep == "cancelled first":
        widget.cancel()
        assert widget.status.value.startswith("Stopping: finishing with the best result")
    viewer.window.remove_dock_widget(dock)
    qtbot.wait(20)
    assert worker.abort_requested
    if keep:  # the preview stays, marked as a stopped run's, with what the run was asked for
        assert names(viewer) == ["comp", "comp mask"] and viewer.layers["comp mask"].metadata["stopped"]
        kept = viewer.layers["comp mask"].metadata
        assert kept["params"]["max_size"] == 16 and kept["params"]["iterations"] == 1000
        assert kept["seed"] == 0 and kept["params"]["device"] == "auto" and "device" not in kept
        assert kept["iterations"] == kept["iteration"] >= 1
        assert all(not isinstance(v, np.ndarray) for v in kept["params"].values())
    reopened = open_widget(SEG)
    reopened.seed.value = 5
    run_widget(reopened)
    made = names(viewer)
    assert sorted(made) == ["comp", "comp background", "comp foreground", "comp mask"]
    finished = viewer.layers["comp mask"].data.copy()
    meta = dict(viewer.layers["comp mask"].metadata)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        gate.set()
    qtbot.wait(20)
    assert names(viewer) == made
    np.testing.assert_array_equal(viewer.layers["comp mask"].data, finished)
    assert viewer.layers["comp mask"].metadata == meta and meta["seed"] == 5 and not meta["stopped"]


def test_previews_add_one_new_layer_at_a_time(viewer, open_widget, qtbot, monkeypatch):
    """napari's add_image holds the GUI 0.2-0.6 s a layer: a preview creates at most one new layer (the others
    come with the next previews), and the result has them all."""
    from napari_doubledip._widgets import _base

    monkeypatch.setattr(_base, "MIN_PREVIEW_SECONDS", 0.0)
    viewer.add_image(samples.hazy_image(32).data, name="img")
    widget = open_widget("Dehazing", iterations=100)
    widget.preview_every.value = 1
    counts = []
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: p.preview and counts.append(len(viewer.layers)))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert counts[:3] == [2, 3, 4], counts  # clean, then transmission, then airlight
    assert names(viewer) == ["img", "img transmission", "img airlight", "img clean"]  # (as when made at once)


def test_closing_the_panel_right_after_its_result_keeps_it(viewer, qtbot):
    """Between the worker's result and its end the panel still has a worker: a close there must not undo the
    finished result."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", SEG)
    widget.iterations.value, widget.max_size.value = 3, 16
    worker = widget.run(start=False)
    worker.returned.connect(lambda _r: viewer.window.remove_dock_widget(dock))  # (after the widget's own slot)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    qtbot.wait(50)
    assert "comp mask" in names(viewer)


@pytest.mark.parametrize("close_dock_first", [False, True])
def test_closing_the_viewer_mid_run_puts_nothing_back_into_it(viewer, qtbot, close_dock_first):
    """A run that replaced an earlier result (another colour mode) and is undone because the viewer closes
    must not insert that result into the closed viewer (napari raised in its emptied controls, and a second
    undo inserted it again)."""
    rgb = samples.texture_composite(32).data
    viewer.add_image(rgb, name="img")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
    widget.iterations.value, widget.max_size.value = 3, 16
    worker = widget.run(start=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    viewer.layers.remove("img")
    viewer.add_image(rgb.mean(-1), name="img")  # same name, grey: the RGB "img clean" gets replaced
    widget.pickers["image"].value = viewer.layers["img"]
    widget.iterations.value, widget.preview_every.value = 3000, 1
    worker = widget.run(start=False)
    closed = []

    def on_progress(_report):
        if "img clean" in viewer.layers and not viewer.layers["img clean"].rgb and not closed:
            closed.append(True)
            if close_dock_first:
                viewer.window.remove_dock_widget(dock)  # schedules the closed panel's undo
            viewer.close()

    worker.yielded.connect(on_progress)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    qtbot.wait(50)
    assert closed and names(viewer) == []


def test_cancel_gives_back_a_result_replaced_for_its_colour_mode(viewer, open_widget, qtbot):
    """The input, same name, is grey now: the RGB "clean" of the last run cannot be updated and is replaced by
    a new layer; Cancel removes that one and puts the earlier result back."""
    rgb = samples.texture_composite(32).data
    viewer.add_image(rgb, name="img")
    widget = open_widget("Dehazing", iterations=3)
    worker = widget.run(start=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    before = {name: viewer.layers[name].data.copy() for name in names(viewer) if name != "img"}
    assert viewer.layers["img clean"].rgb
    viewer.layers.remove("img")
    viewer.add_image(rgb.mean(-1), name="img")
    widget.pickers["image"].value = viewer.layers["img"]
    widget.iterations.value, widget.preview_every.value = 1000, 1
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if p.preview else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.status.value == "Cancelled."
    assert sorted(names(viewer)) == sorted([*before, "img"]) and viewer.layers["img clean"].rgb
    for name, data in before.items():
        np.testing.assert_array_equal(viewer.layers[name].data, data)


def test_a_new_labels_layer_becomes_the_scribbles_and_an_input_is_never_overwritten(
    viewer, open_widget, run_widget
):
    """Napari's "new labels" button is how one starts painting hints: that layer becomes the scribbles (an
    output mask does not). A mask corrected and used as scribbles is read, not overwritten: the new result
    goes to "<mask> (segmentation)", and there again on the next run."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG)
    run_widget(widget)
    assert widget.pickers["scribbles"].value is None  # the run's own mask (a Labels layer) is not adopted
    painted = viewer.add_labels(np.zeros((32, 32), np.uint8), name="hints")
    assert widget.pickers["scribbles"].value.name == "hints"
    viewer.layers.remove(painted)
    assert widget.pickers["scribbles"].value is None
    # a segmentation opened from a file or made by another plugin is not taken for scribbles
    viewer.add_labels(np.kron(np.arange(16).reshape(4, 4), np.ones((8, 8), int)), name="cells")
    viewer.add_labels(np.zeros((16, 16), np.uint8), name="smaller")
    assert widget.pickers["scribbles"].value is None
    mask = viewer.layers["comp mask"]
    mask.data[:4, :4] = 2  # the user's corrections
    mask.data[14:18, 14:18] = 1
    edited = mask.data.copy()
    widget.pickers["scribbles"].value = mask
    for _ in range(2):
        run_widget(widget)
        np.testing.assert_array_equal(viewer.layers["comp mask"].data, edited)
        assert names(viewer) == [
            "comp", "comp background", "comp foreground", "comp mask", "cells", "smaller",
            "comp mask (segmentation)",
        ]
        assert viewer.layers["comp mask (segmentation)"].metadata["params"]["hints"] != "auto"


def test_cancel_after_the_last_report_leaves_no_layers(viewer, open_widget, qtbot):
    """Cancel during the final full-size evaluation (after the last report): superqt then emits neither
    ``returned`` nor ``aborted``, and the run's preview layers must still go."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=25)
    widget.preview_every.value = 1
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if p.iteration >= p.total else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert names(viewer) == ["comp"]
    assert widget.run_button.text == "Run" and widget.status.value == "Cancelled."


def test_cancel_of_a_rerun_restores_the_previous_result(viewer, open_widget, run_widget, qtbot):
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG)
    run_widget(widget)
    mask = viewer.layers["comp mask"]
    before, meta = mask.data.copy(), dict(mask.metadata)
    widget.iterations.value = 5000
    widget.seed.value = 1
    widget.preview_every.value = 1
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if p.iteration >= 25 else None)  # after a preview
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert names(viewer) == ["comp", "comp background", "comp foreground", "comp mask"]
    np.testing.assert_array_equal(viewer.layers["comp mask"].data, before)
    assert viewer.layers["comp mask"].metadata == meta


def test_cancel_keeping_the_partial_result(viewer, open_widget, qtbot):
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=5000)
    widget.keep_partial.value = True
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if p.iteration >= 10 else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    md = viewer.layers["comp mask"].metadata
    assert md["stopped"] is True and 10 <= md["iterations"] < 5000
    assert widget.status.value.startswith("Done (cancelled: the best result so far kept): ")


def test_error_in_worker_is_shown(viewer, open_widget, run_widget, errors):
    viewer.add_image(np.zeros((4, 4), np.float32), name="tiny")  # the library rejects < 8x8, in the worker
    widget = open_widget(SEG)
    run_widget(widget)
    assert len(errors) == 1 and "too small" in errors[0] and errors[0].startswith(SEG)
    assert names(viewer) == ["tiny"] and widget.status.value.startswith("Error")


def test_an_error_after_a_preview_removes_the_runs_layers(viewer, open_widget, qtbot, errors, monkeypatch):
    """The worker fails once the run's layers exist (a review: every error test failed before any preview, so
    an error that left them behind passed)."""
    real = napari_doubledip.iterate

    def failing(func, *args, **kwargs):
        for p in real(func, *args, **kwargs):
            yield p
            if p.preview is not None:
                raise ValueError("simulated failure after a preview")

    monkeypatch.setattr(napari_doubledip, "iterate", failing)
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=200)
    widget.preview_every.value = 1
    seen = []
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: seen.append("comp mask" in names(viewer)))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert any(seen)  # (the preview layer was there)
    assert len(errors) == 1 and "simulated failure after a preview" in errors[0]
    assert names(viewer) == ["comp"] and widget.status.value.startswith("Error")


def test_a_preview_that_cannot_be_written_stops_the_run(viewer, open_widget, qtbot, errors, monkeypatch):
    """Writing a preview runs in a Qt slot: a failure there stops and undoes the run and is shown, as one in
    writing the result is (instead of a traceback and half-written layers, the run going on)."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=2000)
    widget.preview_every.value = 1
    write = type(widget)._write

    def failing(self, job, out, value, meta, *, preview):
        if preview and out.preview == "mask":
            time.sleep(0.3)  # (as napari's add_image may take: the worker reports on meanwhile)
            raise ValueError("simulated preview failure")
        return write(self, job, out, value, meta, preview=preview)

    monkeypatch.setattr(type(widget), "_write", failing)  # (magicgui containers refuse instance attributes)
    worker = widget.run(start=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    qtbot.wait(50)
    assert len(errors) == 1 and "simulated preview failure" in errors[0]
    assert names(viewer) == ["comp"] and widget.status.value.startswith("Error")
    # an idle bar: the reports queued before the failure redrew "k / 2000" under the error of an undone run
    assert widget.run_button.text == "Run" and (widget.progress.value, widget.progress.max) == (0, 1)
    assert not widget.progress.native.isTextVisible()


def _run_shown(viewer, open_widget, qtbot):
    """Run segmentation on a small composite; returns the widget and every notification shown meanwhile."""
    from napari.utils.notifications import notification_manager

    shown = []
    notification_manager.notification_ready.connect(shown.append)
    try:
        viewer.add_image(samples.texture_composite(32).data, name="comp")
        widget = open_widget(SEG, iterations=50)
        worker = widget.run(start=False)
        with qtbot.waitSignal(worker.finished, timeout=60_000):
            worker.start()
    finally:
        notification_manager.notification_ready.disconnect(shown.append)
    return widget, shown


@pytest.mark.parametrize("exc, said", [
    (MemoryError(), "MemoryError"), (AssertionError(), "AssertionError"),
    (KeyError("weights"), "KeyError: 'weights'"),
])
def test_an_unexpected_error_is_named_and_keeps_its_traceback(viewer, open_widget, qtbot, errors, monkeypatch,
                                                                exc, said):
    """A bare MemoryError() or AssertionError() read as an empty message ("Segmentation (Double-DIP): "), a
    KeyError as its key alone, and the traceback was dropped; it is napari's error notification now."""
    import gc
    import weakref

    from napari.utils.notifications import ErrorNotification

    real = napari_doubledip.iterate

    class Held:  # (stands for a failed run's tensors, held by its frames' local variables)
        pass

    held = []

    def failing(func, *args, **kwargs):
        gen = real(func, *args, **kwargs)
        big = Held()
        held.append(weakref.ref(big))
        yield next(gen)
        raise exc

    monkeypatch.setattr(napari_doubledip, "iterate", failing)
    widget, shown = _run_shown(viewer, open_widget, qtbot)
    assert errors == [f"{SEG} (Double-DIP): {said}"] and widget.status.value == f"Error: {said}"
    notes = [n for n in shown if isinstance(n, ErrorNotification)]
    assert len(notes) == 1 and notes[0].exception is exc and exc.__traceback__ is not None
    assert "failing" in notes[0].as_text()  # (the traceback's text)
    assert names(viewer) == ["comp"] and widget.run_button.text == "Run"
    gc.collect()
    assert held and held[0]() is None  # napari keeps the notification all session; not the run's data


def test_an_input_error_from_the_worker_keeps_its_traceback_too(viewer, open_widget, qtbot, errors, monkeypatch):
    """A ValueError raised by a bug (not one of the package's input checks) must not lose its traceback; its
    message reads as written, without its type."""
    from napari.utils.notifications import ErrorNotification

    def failing(func, *args, **kwargs):
        raise ValueError("operands could not be broadcast together")
        yield

    monkeypatch.setattr(napari_doubledip, "iterate", failing)
    _widget, shown = _run_shown(viewer, open_widget, qtbot)
    assert errors == [f"{SEG} (Double-DIP): operands could not be broadcast together"]
    notes = [n for n in shown if isinstance(n, ErrorNotification)]
    assert len(notes) == 1 and "failing" in notes[0].as_text()


def test_an_input_check_is_said_without_a_traceback(viewer, open_widget, qtbot, errors, monkeypatch):
    """A mistake the user fixes (one watermarked image without a box, refused at Run; a value the library
    refuses in the worker) came as an error notification with "View Traceback" and a traceback on the console:
    its message alone now, also in the status line."""
    from napari.utils.notifications import ErrorNotification, notification_manager

    shown = []
    notification_manager.notification_ready.connect(shown.append)
    try:
        viewer.add_image(samples.watermarked(32).data, name="wm")
        widget = open_widget("Watermark removal")
        widget.pickers["box"].value = None
        assert widget.run(start=False) is None
        assert len(errors) == 1 and "needs a box" in errors[0] and widget.status.value.startswith("Error: ")

        real = napari_doubledip.iterate

        def refused(func, *args, **kwargs):  # (the library's own check of a value, in the worker)
            yield from real(func, *args, **{**kwargs, "seed": -1})

        monkeypatch.setattr(napari_doubledip, "iterate", refused)
        viewer.add_image(samples.texture_composite(32).data, name="comp")
        worker = open_widget(SEG, iterations=5).run(start=False)
        with qtbot.waitSignal(worker.finished, timeout=60_000):
            worker.start()
    finally:
        notification_manager.notification_ready.disconnect(shown.append)
    assert len(errors) == 2 and errors[1] == f"{SEG} (Double-DIP): seed must be in [0, 2**32), got -1", errors
    assert len(shown) == 2 and not any(isinstance(n, ErrorNotification) for n in shown), shown


def test_a_runtime_error_while_the_run_starts_is_shown(viewer, open_widget, qtbot, errors, monkeypatch):
    """A RuntimeError while the worker looks up the library function (the first run imports torch there: a
    broken install) was not wrapped: superqt ended the worker with a warning only, without `errored` or
    `finished`, and the panel stayed in "Cancel" for good."""
    real = napari_doubledip.__getattr__

    def broken(name):
        if name == "segment":
            raise RuntimeError("simulated: torch failed to initialise")
        return real(name)

    monkeypatch.delattr(napari_doubledip, "segment", raising=False)
    monkeypatch.setattr(napari_doubledip, "__getattr__", broken)
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=5)
    worker = widget.run(start=False)
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        worker.start()
    assert len(errors) == 1 and "simulated: torch failed to initialise" in errors[0]
    assert widget.worker is None and widget.run_button.text == "Run" and widget.status.value.startswith("Error")


def test_a_cancelled_run_lets_go_of_its_state(viewer, open_widget, qtbot):
    """superqt's quit() stops driving the run's generator but left it suspended: its networks, optimiser state
    and input copies stayed reachable from the worker, which napari's task list keeps for the session. The
    generator is closed in the worker thread, its `finally` blocks run there."""
    import torch

    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=3000)
    threads = torch.get_num_threads()
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if p.iteration >= 10 else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.status.value == "Cancelled." and worker.abort_requested
    assert worker._gen.gi_frame is None  # closed: nothing of the run is held by its frames
    assert torch.get_num_threads() == threads  # (the GUI thread's count untouched)


def test_a_finished_run_is_not_kept_by_napari_task_list(viewer, open_widget, run_widget):
    """(A review's case.) napari's task list keeps every worker for the window's life, and a worker's signal
    held the run's job (its inputs, the arrays handed to the library): every run stayed in memory (3 of 3 jobs
    alive after their layers were removed)."""
    import gc
    import weakref

    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=3)
    jobs = []
    real = widget._on_started

    def record(job):
        jobs.append(weakref.ref(job))
        return real(job)

    widget._on_started = record
    for _ in range(2):
        run_widget(widget)
    assert len(jobs) == 2
    gc.collect()
    assert [ref() for ref in jobs] == [None, None]


def test_iterate_driven_by_a_napari_thread_worker_as_the_readme_shows(viewer, qtbot):
    from napari.qt.threading import thread_worker

    @thread_worker
    def run(image):
        return (yield from napari_doubledip.iterate(napari_doubledip.segment, image, iterations=10, max_size=16))

    worker = run(samples.texture_composite(32).data)
    reports, results = [], []
    worker.yielded.connect(reports.append)
    worker.returned.connect(lambda r: (results.append(r), viewer.add_labels(r.mask.astype(int), name="mask")))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert reports and reports[-1].total == 10 and results[0].mask.shape == (32, 32)
    assert viewer.layers["mask"].data.shape == (32, 32)


def test_colour_data_opened_as_a_stack_is_explained(viewer, open_widget, errors):
    viewer.add_image(samples.texture_composite(32).data, name="rgb", rgb=False)  # (32, 32, 3): 32 frames of 32x3
    widget = open_widget(SEG)
    assert widget.run() is None
    assert "'rgb' is read as a stack of 32 frames of 32x3 pixels" in errors[-1] and "rgb=True" in errors[-1]
    two = np.stack([samples.texture_composite(32, rgb=False).data] * 2, axis=-1)  # (Y, X, 2) microscopy channels
    viewer.add_image(two, name="two")
    widget.pickers["image"].value = viewer.layers["two"]
    assert widget.run() is None
    assert "32 frames of 32x2 pixels" in errors[-1] and "channel_axis=-1" in errors[-1]
    viewer.add_image(np.stack([two] * 3), name="movie")  # (T, Y, X, 2): a two-channel movie, channels last
    widget.pickers["image"].value = viewer.layers["movie"]
    for frames in ("current frame", "whole stack (video)"):
        widget.frames.value = frames
        assert widget.run() is None
        assert "'movie' is read as a stack of 96 frames of 32x2 pixels" in errors[-1]
        assert "channel_axis=-1" in errors[-1]


def test_many_channels_last_are_explained(viewer, open_widget, errors, warnings_shown):
    """A (Y, X, C) spectral image opened without channel_axis: 5-7 channels are refused with the cause (not
    'too small to decompose'), 8-32 channels against many rows run after a warning that says so; a narrow
    (Z, Y, X) stack (a trench crop, a kymograph) runs."""
    grey = samples.texture_composite(64, rgb=False).data
    viewer.add_image(np.stack([grey] * 5, axis=-1)[:32, :32], name="five")
    widget = open_widget(SEG)
    assert widget.run() is None
    assert "'five' is read as a stack of 32 frames of 32x5 pixels" in errors[-1]
    assert "channel_axis=-1" in errors[-1] and "at most 4" in errors[-1]
    wide = samples.texture_composite(128, rgb=False).data
    viewer.add_image(np.stack([wide] * 16, axis=-1), name="sixteen")  # 128 frames of 128x16: runnable, not meant
    widget.pickers["image"].value = viewer.layers["sixteen"]
    worker = widget.run(start=False)
    assert worker is not None
    assert any("'sixteen' is read as a stack of 128 frames of 128x16 pixels" in m for m in warnings_shown)
    widget._on_finished()  # (never started: undo the wiring)
    # real (Z, Y, X) stacks run without a word, a narrow one too (12 px wide: a trench crop, a kymograph)
    for name, stack in (("trench", np.stack([grey[:, :12]] * 3)), ("stack", np.stack([grey[:32, :32]] * 3))):
        widget.pickers["image"].value = viewer.add_image(stack, name=name)
        viewer.dims.set_point(0, 0)
        before = len(warnings_shown)
        assert widget.run(start=False) is not None
        assert not any("is read as a stack" in m for m in warnings_shown[before:])
        widget._on_finished()


def test_scribbles_on_another_frame_are_pointed_out(viewer, open_widget, run_widget, warnings_shown):
    stack = np.stack([samples.texture_composite(32, rgb=False).data] * 4)
    viewer.add_image(stack, name="t")
    hints = np.zeros((4, 32, 32), np.uint8)
    hints[2, 14:18, 14:18], hints[2, :2] = 1, 2
    viewer.add_labels(hints, name="scribbles")
    viewer.dims.set_point(0, 0)
    widget = open_widget(SEG, iterations=5)
    widget.pickers["image"].value = viewer.layers["t"]
    widget.pickers["scribbles"].value = viewer.layers["scribbles"]
    run_widget(widget)
    said = [m for m in warnings_shown if "'scribbles' marks nothing" in m]
    assert said and "frame 0" in said[0] and "marks on frame 2" in said[0], warnings_shown
    # (the panel greys the automatic hints out for a layer with marks: the warning says they are used)
    assert said[0].endswith("this run uses the automatic hints (saliency (one object)) instead")
    viewer.dims.set_point(0, 2)  # on the marked frame: used, and no word
    before = len(warnings_shown)
    run_widget(widget)
    assert not any("marks nothing" in m for m in warnings_shown[before:])
    assert viewer.layers["t mask"].metadata["params"]["hints"] == "user"
    # a 2D image has no 'whole stack' to choose: the layer's own extra axis is what the slider must move along
    viewer.dims.set_point(0, 0)
    widget.pickers["image"].value = viewer.add_image(stack[0], name="flat")
    before = len(warnings_shown)
    assert widget.run(start=False) is not None
    said = [m for m in warnings_shown[before:] if "marks nothing" in m]
    assert said and "move the slider" in said[0] and "whole stack" not in said[0], warnings_shown[before:]
    widget._on_finished()


def test_scribbles_on_another_slice_of_a_4d_stack_are_pointed_out_in_a_whole_stack_run(
    viewer, open_widget, run_widget, warnings_shown
):
    """(A review's case.) A whole-stack run of a (T, Z, Y, X) stack along Z reads the scribbles at the slider's
    T: strokes at another T were ignored without a word (a current-frame run said so, and advised 'whole stack',
    which reads the same slice)."""
    grey = samples.texture_composite(32, rgb=False).data
    viewer.add_image(np.stack([np.stack([grey] * 3)] * 2), name="tz")
    hints = np.zeros((2, 3, 32, 32), np.uint8)
    hints[0, 1, 14:18, 14:18], hints[0, 1, :2] = 1, 2
    viewer.add_labels(hints, name="scribbles")
    viewer.dims.set_current_step(0, 1)
    viewer.dims.set_current_step(1, 1)
    widget = open_widget(SEG, iterations=3)
    widget.pickers["image"].value = viewer.layers["tz"]
    widget.pickers["scribbles"].value = viewer.layers["scribbles"]
    run_widget(widget)  # (the current frame, (1, 1))
    said = [m for m in warnings_shown if "'scribbles' marks nothing" in m]
    assert said and "marks on frame (0, 1)" in said[0] and "whole stack" not in said[0], warnings_shown
    warnings_shown.clear()
    widget.frames.value = next(c for c in widget.frames.choices if c.startswith("whole stack"))
    widget.sequence_axis.value = 1
    run_widget(widget)
    said = [m for m in warnings_shown if "'scribbles' marks nothing" in m]
    assert said and "frames run ([1, :])" in said[0] and "marks on frame (0, 1)" in said[0], warnings_shown
    assert viewer.layers["tz mask"].metadata["params"]["hints"] == "auto"
    # (a review's case) a (T, Y, X) stack's whole-stack run pairs labels by frame: marks only on frames beyond
    # the image's are not a matter of the slider
    warnings_shown.clear()
    widget.pickers["image"].value = viewer.add_image(np.stack([grey] * 4), name="t4")
    longer = np.zeros((6, 32, 32), np.uint8)
    longer[5, 14:18, 14:18], longer[5, :2] = 1, 2
    widget.pickers["scribbles"].value = viewer.add_labels(longer, name="longer")
    widget.frames.value = next(c for c in widget.frames.choices if c.startswith("whole stack"))
    run_widget(widget)
    said = [m for m in warnings_shown if "'longer' marks nothing" in m]
    assert said and "on the image's 4 frames; it has marks on frame 5, beyond them" in said[0], warnings_shown


def test_removed_input_does_not_silently_become_a_result(viewer, open_widget, run_widget, errors):
    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="img")
    widget = open_widget(SEG, iterations=5)
    run_widget(widget)
    viewer.layers.remove("img")
    fallen = widget.pickers["image"].value
    assert fallen is not None and fallen.name.startswith("img ")  # (a non-nullable picker falls somewhere)
    assert widget.run() is None
    assert "input layer was removed" in errors[-1] and repr(fallen.name) in errors[-1]
    run_widget(widget)  # Run again: that result is what the user wants
    assert f"{fallen.name} mask" in viewer.layers
    viewer.layers.remove(fallen.name)  # falls again; choosing a layer is a choice: no question asked then
    assert widget._fallen is not None
    other = next(c for c in widget.pickers["image"].choices if c is not widget.pickers["image"].value)
    widget.pickers["image"].value = other
    before = len(errors)
    assert widget.run(start=False) is not None and len(errors) == before
    widget._on_finished()


def test_an_input_removed_mid_run_before_any_image_output_is_asked_about(
    viewer, open_widget, qtbot, errors, infos
):
    """The only image removed while the run has shown no image yet (segmentation previews only its mask): the
    picker empties, then falls on the run's output when it lands; the next Run asks, as after a removal between
    runs, instead of decomposing that result."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=20)
    widget.preview_every.value = 1
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: viewer.layers.remove("comp") if "comp" in viewer.layers else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    fallen = widget.pickers["image"].value
    assert fallen is not None and fallen.name.startswith("comp ")
    # the results are written all the same, and the user is told why they are named after a layer not there
    said = [m for m in infos if "removed during the run" in m]
    assert len(said) == 1 and "'comp'" in said[0], infos
    before = len(errors)
    assert widget.run(start=False) is None
    assert len(errors) == before + 1 and "input layer was removed" in errors[-1], errors[before:]
    assert widget.run(start=False) is not None  # Run again: that result is what the user wants
    widget._on_finished()


def test_a_more_channels_run_holds_its_channel_layers(viewer, open_widget):
    """Its image is a lazy stack of the channel layers: their own arrays are what a preview must not write."""
    from napari_doubledip._widgets import _layers

    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((32, 32)).astype(np.float32), name="a")
    b = viewer.add_image(rng.random((32, 32)).astype(np.float32), name="b")
    widget = open_widget(SEG, iterations=2)
    widget.pickers["image"].value = viewer.layers["a"]
    widget.pickers["channels"].value = [b]
    assert widget.run(start=False) is not None
    old = b.data
    _layers._assign(b, np.zeros_like(old))
    assert b.data is not old and not np.array_equal(old, 0)  # a new array: the run's input is untouched
    widget._on_finished()
    assert not any(np.may_share_memory(old, a) for a in _layers._READ_BY_RUNS)


def test_a_preview_does_not_write_into_another_runs_input(viewer, open_widget, run_widget, qtbot):
    """Another panel's live preview gives a layer a new array instead of writing into the one a run holds."""
    viewer.add_image(samples.texture_composite(32).data, name="img", rgb=True)
    dehaze = open_widget("Dehazing", iterations=5)
    run_widget(dehaze)
    clean = viewer.layers["img clean"]
    seg = open_widget(SEG, iterations=5)
    seg.pickers["image"].value = clean
    worker = seg.run(start=False)
    held = seg._job.args[0]
    assert np.shares_memory(held, clean.data)
    start = held.copy()
    dehaze.seed.value, dehaze.preview_every.value = 7, 1
    run_widget(dehaze)  # its previews and result update 'img clean'
    assert np.array_equal(held, start)
    assert not np.array_equal(clean.data, start)  # the layer did get the new result
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    from napari_doubledip._widgets import _layers

    assert not any(a is held for a in _layers._READ_BY_RUNS)  # released when the run ended


def test_runtime_error_in_worker_is_shown(viewer, open_widget, run_widget, errors, monkeypatch):
    """superqt swallows RuntimeError (e.g. from torch) raised in workers; the widget must still report it."""

    def steps(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")
        yield

    def fake(*args, **kwargs):  # pragma: no cover - not called, only its .steps
        raise AssertionError

    fake.steps = steps
    monkeypatch.setattr(napari_doubledip, "segment", fake, raising=False)
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG)
    run_widget(widget)
    assert len(errors) == 1 and "CUDA out of memory (simulated)" in errors[0]


def test_bad_inputs_are_reported_without_starting(viewer, open_widget, errors):
    widget = open_widget(SEG)  # no image layer at all
    assert widget.run() is None and widget.worker is None
    assert errors and "choose an image layer" in errors[0]
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    widget.pickers["image"].value = viewer.layers["img"]
    widget.max_size.value = 8  # the spin box allows 0 (auto) and 1-15, which the library refuses
    assert widget.run() is None and "working size must be 0 (auto) or at least 16 px" in errors[-1]


def test_a_widget_whose_function_is_missing_says_so(viewer):
    from dataclasses import replace

    from napari_doubledip._widgets import TaskWidget
    from napari_doubledip._widgets._tasks import DEHAZING

    class Future(TaskWidget):
        spec = replace(DEHAZING, modes=(replace(DEHAZING.modes[0], function="not_yet_written"),))

    widget = Future(viewer)
    assert not widget.run_button.enabled and "not_yet_written" in widget.status.value
    widget.native.close()


def test_transparency_whole_stack_as_mixtures(viewer, open_widget, run_widget):
    s = samples.two_mixtures(32)
    viewer.add_image(s.data, name="stack", scale=(1.0, 3.0, 3.0))  # (2, 32, 32): one stack layer
    widget = open_widget(TRANS)
    widget.frames.value = "all frames are mixtures"
    run_widget(widget)
    layer = viewer.layers["stack layer 2"]
    assert layer.data.shape == (32, 32) and layer.metadata["mode"] == "all frames are mixtures"
    assert layer.metadata["params"]["mixtures"] == 2 and layer.metadata["frame"] is None
    np.testing.assert_allclose(layer.scale, (3.0, 3.0))


def test_a_frame_run_replacing_a_whole_stack_runs_layers_says_so(viewer, open_widget, run_widget, infos):
    """Layers of a run of the whole stack that no frame run collects into (the layers of all frames as mixtures,
    a set's shared watermark) were replaced by one frame's result without a word."""
    s = samples.two_mixtures(32)
    viewer.add_image(s.data, name="stack")
    widget = open_widget(TRANS)
    widget.frames.value = "all frames are mixtures"
    run_widget(widget)
    assert not any("held the results" in m for m in infos)
    widget.frames.value = "current frame"
    run_widget(widget)
    assert viewer.layers["stack layer 1"].metadata["frame"] == [viewer.dims.current_step[0]]
    said = [m for m in infos if "held the results at all frames (a run of the whole stack)" in m]
    assert len(said) == 1 and "'stack layer 1', 'stack layer 2'" in said[0], infos
    # and the other way round: frames collected one by one, replaced by the run of all frames as mixtures (the
    # collected stacks gave way to its two 2D layers without a word; a review's case)
    viewer.dims.set_current_step(0, 1 - viewer.dims.current_step[0])
    run_widget(widget)
    assert viewer.layers["stack layer 1"].data.shape == (2, 32, 32)  # (both frames collected)
    widget.frames.value = "all frames are mixtures"
    run_widget(widget)
    said = [m for m in infos if "held the results at frame(s) [0], [1], which this run's of the whole stack" in m]
    assert len(said) == 1 and "'stack layer 1', 'stack layer 2'" in said[0], infos


def test_a_one_frame_stack_in_a_whole_stack_mode_is_refused(viewer, open_widget, errors):
    viewer.add_image(np.zeros((1, 32, 32), np.float32), name="one")  # a stack of one frame
    widget = open_widget(TRANS)
    widget.frames.value = "all frames are mixtures"
    assert widget.run() is None and widget.worker is None
    assert "needs at least 2 frames" in errors[-1] and "'current frame'" in errors[-1]


def test_pickers_follow_the_layer_list(viewer, open_widget):
    widget = open_widget(SEG)
    assert widget.pickers["image"].choices == ()
    viewer.add_image(np.zeros((16, 16)), name="a")
    labels = viewer.add_labels(np.zeros((16, 16), np.uint8), name="hints")
    assert [la.name for la in widget.pickers["image"].choices] == ["a"]
    assert [c for c in widget.pickers["scribbles"].choices if c is not None][0].name == "hints"
    assert widget.pickers["scribbles"].value.name == "hints"  # a Labels layer added while there are none
    labels.name = "scribbles"
    assert "scribbles" in widget.pickers["scribbles"].native.itemText(1)
    viewer.layers.remove("a")
    assert widget.pickers["image"].choices == ()


def test_image_outputs_are_shown_as_their_input_is(viewer, open_widget, run_widget):
    """A channel of a multichannel overlay (channel_axis: additive, its own colormap) gives results that
    overlay the same way; maps and masks keep their own look."""
    two = np.stack([samples.texture_composite(32, rgb=False).data] * 2)
    viewer.add_image(two, channel_axis=0, name=["c0", "c1"], colormap=["magenta", "green"], gamma=0.7,
                     opacity=0.6)
    widget = open_widget(SEG, iterations=3)
    widget.pickers["image"].value = viewer.layers["c1"]
    run_widget(widget)
    fg = viewer.layers["c1 foreground"]
    assert fg.blending == "additive" and fg.colormap.name == "green" and fg.gamma == pytest.approx(0.7)
    assert fg.opacity == pytest.approx(0.6)
    assert viewer.layers["c1 mask"].blending != "additive"
    # (hidden: the status says that shown, they add into the channel; a review)
    assert viewer.layers["c1"].visible and not fg.visible
    assert "shown, 'c1 background' and 'c1 foreground' add into 'c1' in the channel overlay" in widget.status.value


def test_by_products_of_a_channel_of_an_overlay_start_hidden(viewer, open_widget, run_widget):
    """Dehazing one channel of a channel_axis overlay: the opaque grey transmission map covered the other
    channels, and the airlight added into their sum. They start hidden (the status says so); the clean channel
    overlays additively, and the status says it adds into its shown input. A plain image's by-products are
    shown as before."""
    haze = samples.hazy_image(32, rgb=False).data
    viewer.add_image(np.stack([haze, haze[::-1]]), channel_axis=0, name=["c0", "c1"], colormap=["green", "red"])
    widget = open_widget("Dehazing", iterations=3)
    widget.pickers["image"].value = viewer.layers["c1"]
    run_widget(widget)
    assert not viewer.layers["c1 transmission"].visible and not viewer.layers["c1 airlight"].visible
    clean = viewer.layers["c1 clean"]
    assert clean.visible and clean.blending == "additive" and viewer.layers["c0"].visible
    assert "transmission and airlight layers start hidden" in widget.status.value
    # added over its shown input, the clean channel shows it twice as bright (a review: 10x the saturated
    # pixels): the input is the user's to hide, and the status says so
    assert viewer.layers["c1"].visible
    assert "'c1 clean' adds into 'c1' in the channel overlay: hide it" in widget.status.value
    assert "shown, 'c1 airlight' adds into 'c1'" in widget.status.value  # (not the opaque transmission map)
    viewer.layers["c1"].visible = False
    run_widget(widget)  # (a re-run: nothing added into a hidden input, nothing said)
    assert "adds into" not in widget.status.value
    viewer.layers["c1"].visible = True
    run_widget(widget)  # (a re-run into the shown input says it again: a review found it said only once)
    assert "'c1 clean' adds into 'c1' in the channel overlay: hide it" in widget.status.value
    # the first channel (napari makes it opaque, under the additive others): its results, opaque on top, hid
    # every other channel (a review); they overlay additively, and its by-products start hidden
    widget.pickers["image"].value = viewer.layers["c0"]
    assert viewer.layers["c0"].blending != "additive"
    run_widget(widget)
    assert viewer.layers["c0 clean"].blending == "additive" and viewer.layers["c0 clean"].visible
    assert not viewer.layers["c0 transmission"].visible and not viewer.layers["c0 airlight"].visible
    assert viewer.layers["c0"].visible and "'c0 clean' adds into 'c0'" in widget.status.value
    # several inputs: each result named with its own input (a watermark set of two channels)
    marks = open_widget("Watermark removal", iterations=2)
    marks.pickers["images"].value = [viewer.layers["c0"], viewer.layers["c1"]]
    marks.pickers["box"].value = None
    run_widget(marks)
    said = "'c0 clean (watermark)' adds into 'c0', 'c1 clean (watermark)' into 'c1' in the channel overlay: hide"
    assert f"{said} them" in marks.status.value  # (several inputs: "them")
    viewer.layers.clear()
    viewer.add_image(haze, name="plain")
    viewer.add_image(haze, name="lone additive", blending="additive", translate=(0, 40))  # (no channel of it)
    widget.pickers["image"].value = viewer.layers["plain"]
    run_widget(widget)
    assert viewer.layers["plain transmission"].visible and viewer.layers["plain airlight"].visible
    assert viewer.layers["plain clean"].blending != "additive"
    # a lone additive layer is no channel of an overlay (a review: "the channel overlay" said)
    widget.pickers["image"].value = viewer.layers["lone additive"]
    run_widget(widget)
    assert viewer.layers["lone additive transmission"].visible and "overlay" not in widget.status.value
    # the first channel while the others are hidden: its results additive all the same (shown again, the others
    # must not be covered by them: a review)
    viewer.add_image(np.stack([haze, haze[::-1]]), channel_axis=0, name=["d0", "d1"], colormap=["green", "red"])
    viewer.layers["d1"].visible = False
    widget.pickers["image"].value = viewer.layers["d0"]
    run_widget(widget)
    assert viewer.layers["d0 clean"].blending == "additive" and not viewer.layers["d0 transmission"].visible


def test_what_is_a_channel_of_an_overlay(viewer, open_widget, run_widget):
    """A review's cases: an image under an overlay it is not part of was taken for a channel (its results made
    additive); an RGB image under an additive layer got its by-products hidden; channels are told by shape and
    placement (nanometre pixels, a large translate, a rotation)."""
    from napari_doubledip._widgets._layers import in_overlay

    haze = samples.hazy_image(24, rgb=False).data
    # an image under an overlay (its opaque first channel covers it): not a channel of it
    viewer.add_image(haze, name="plain")
    viewer.add_image(np.stack([haze, haze[::-1]]), channel_axis=0, name=["c0", "c1"], colormap=["green", "red"])
    widget = open_widget("Dehazing", iterations=2)
    widget.pickers["image"].value = viewer.layers["plain"]
    run_widget(widget)
    assert viewer.layers["plain clean"].blending != "additive" and viewer.layers["plain transmission"].visible
    # two channels as mixtures: their shared layers add into both
    mixtures = open_widget("Transparency", iterations=2)
    mixtures.pickers["mixtures"].value = [viewer.layers["c0"], viewer.layers["c1"]]
    run_widget(mixtures)
    assert "'c0 layer 1' and 'c0 layer 2' add into 'c0' in the channel overlay" in mixtures.status.value
    viewer.layers.clear()
    viewer.add_image(samples.hazy_image(24).data, name="rgb", rgb=True)
    viewer.add_image(np.zeros((24, 24), np.float32), name="fluo", blending="additive")
    widget.pickers["image"].value = viewer.layers["rgb"]
    run_widget(widget)
    assert viewer.layers["rgb transmission"].visible and "overlay" not in widget.status.value
    viewer.layers.clear()
    a = viewer.add_image(haze, scale=(2e-9, 2e-9))
    for other in (dict(scale=(8e-9, 8e-9)), dict(scale=(2e-9, 2e-9), rotate=45)):
        b = viewer.add_image(haze, blending="additive", **other)
        assert not in_overlay(viewer, a)
        viewer.layers.remove(b)
    viewer.add_image(haze, blending="additive", scale=(2e-9, 2e-9))
    assert in_overlay(viewer, a)
    viewer.layers.clear()
    a = viewer.add_image(haze, scale=(0.1, 0.1), translate=(1e5, 1e5))
    viewer.add_image(haze, scale=(0.1, 0.1), translate=(1e5 + 0.5, 1e5), blending="additive")  # (5 px away)
    assert not in_overlay(viewer, a)


def test_removing_the_input_does_not_make_a_result_the_next_input(viewer, open_widget, run_widget):
    viewer.add_image(samples.texture_composite(32).data, name="other")
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=3)
    run_widget(widget)
    assert names(viewer) == ["other", "comp", "comp background", "comp foreground", "comp mask"]
    viewer.layers.move(viewer.layers.index("other"), len(viewer.layers))  # results now come first
    viewer.layers.remove("comp")
    assert widget.pickers["image"].value.name == "other"
    viewer.layers.remove("other")  # only results left: one of them, as magicgui chooses
    assert widget.pickers["image"].value.name == "comp background"


def test_dehazing_outputs_and_airlight(viewer, open_widget, run_widget):
    img = samples.hazy_image(32).data
    viewer.add_image(img, name="haze")
    widget = open_widget("Dehazing")
    widget.task_options["airlight"].value = "0.8, 0.85, 0.9"
    run_widget(widget)
    assert names(viewer) == ["haze", "haze transmission", "haze airlight", "haze clean"]
    t = viewer.layers["haze transmission"]
    assert t.data.shape == (32, 32) and tuple(t.contrast_limits) == (0.0, 1.0)
    assert viewer.layers["haze clean"].rgb and viewer.layers["haze airlight"].data.shape == img.shape
    md = viewer.layers["haze clean"].metadata
    assert md["params"]["airlight"] == [0.8, 0.85, 0.9] and len(md["airlight_init"]) == 3
    assert md["params"]["transmission_prior"] == "auto"


def test_dehazing_every_frame_of_a_stack(viewer, open_widget, qtbot, warnings_shown):
    """A hazy Z-stack: every plane dehazed one after the other, the outputs stacks on the input's grid, the
    live preview the whole stack (planes not reached yet NaN), a warning of every plane said once."""
    rgb = samples.hazy_image(32).data
    planes = np.stack([rgb[..., c] for c in range(3)]).astype(np.float32)  # three grey planes
    planes[:, 5, 5] = 50.0  # a hot pixel in every plane: one warning, not three
    viewer.add_image(planes, name="z", scale=(2.0, 0.5, 0.5), translate=(1.0, 0.0, 3.0))
    widget = open_widget("Dehazing", iterations=6)
    assert "every frame, one by one" in widget.frames.choices
    widget.frames.value = "every frame, one by one"
    widget.preview_every.value = 3
    seen = []
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: p.preview and seen.append(np.isnan(p.preview["clean"]).reshape(3, -1).all(1)))
    statuses = []
    worker.yielded.connect(lambda p: statuses.append(widget.status.value))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert statuses[0].startswith("frame 0 (of 3)  iteration") and statuses[-1].startswith("frame 2 (of 3)")
    assert all(re.search(r"iteration \d+/\d+ +loss \d", s) for s in statuses), statuses  # the loss, as it goes
    assert seen and seen[0].tolist() == [False, True, True]  # the first plane forming, the others to come
    for part, shape in (("clean", (3, 32, 32)), ("transmission", (3, 32, 32)), ("airlight", (3, 32, 32))):
        layer = viewer.layers[f"z {part}"]
        assert layer.data.shape == shape and np.isfinite(layer.data).all(), part
        np.testing.assert_allclose(layer.scale, (2.0, 0.5, 0.5))
        np.testing.assert_allclose(layer.translate, (1.0, 0.0, 3.0))
    md = viewer.layers["z clean"].metadata
    assert md["params"]["frames"] == 3 and md["params"]["frames_run"] == 3 and md["iterations"] == 18
    assert widget.status.value.startswith("Done: 18 iterations over 3 frames, reconstruction loss ")  # (not the
    # running total's name: a different number under the same label confused a QA run)
    assert len([m for m in warnings_shown if "isolated pixel" in m]) == 1, warnings_shown


def test_a_dehazed_image_starts_with_limits_that_reach_its_shadows(viewer, open_widget, run_widget):
    """The clean image is darker than the hazy input: copying the input's (automatic) limits showed a tenth of
    the sample's pixels flat black (a QA run). A new clean layer's limits reach its values; the transmission
    map keeps 0-1, and a re-run keeps limits the user set."""
    viewer.open_sample("napari-doubledip", "hazy_image")
    hazy = viewer.layers[-1]
    widget = open_widget("Dehazing", iterations=5)
    run_widget(widget)
    clean = viewer.layers[f"{hazy.name} clean"]
    lo, hi = clean.contrast_limits
    assert lo <= float(np.nanmin(clean.data)) and hi >= float(np.nanmax(clean.data))
    assert lo <= hazy.contrast_limits[0] and hi >= hazy.contrast_limits[1]
    assert tuple(viewer.layers[f"{hazy.name} transmission"].contrast_limits) == (0.0, 1.0)
    clean.contrast_limits = (0.3, 0.6)
    run_widget(widget)
    np.testing.assert_allclose(viewer.layers[f"{hazy.name} clean"].contrast_limits, (0.3, 0.6))


def test_every_frame_with_each_frames_own_budget(viewer, open_widget, run_widget, errors, monkeypatch):
    """Automatic budgets differ between frames (dense haze runs longer): the run's per-frame list of budgets is
    read as such (a QA run: the finished run was thrown away, "'<' not supported between 'int' and 'list'"),
    and the progress bar ends full although its total was estimated high (dense frame first)."""
    from napari_doubledip.tasks import dehaze

    monkeypatch.setitem(dehaze.DEFAULTS, "iterations", 4)
    monkeypatch.setitem(dehaze.DEFAULTS, "iterations_dense", 8)
    dense, light = samples.hazy_image(32, beta=4.0).data, samples.hazy_image(32, beta=1.0).data
    viewer.add_image(np.stack([dense, light]), name="zs", rgb=True)
    widget = open_widget("Dehazing", iterations=0)
    widget.frames.value = "every frame, one by one"
    run_widget(widget)
    assert not errors, errors
    md = viewer.layers["zs clean"].metadata
    assert md["params"]["iterations"] == [8, 4] and md["iterations"] == 12
    assert widget.status.value.startswith("Done: 12 iterations over 2 frames"), widget.status.value
    assert widget.progress.value == widget.progress.max


def test_a_stopped_every_frame_run_keeps_a_single_frame_runs_result(viewer, open_widget, qtbot, run_widget, infos):
    """(A review's case.) One frame run (its result a one-frame layer on that frame), then every frame one by
    one, stopped (kept) before that frame: its result was lost (NaN), where two frame runs' were kept."""
    rgb = samples.hazy_image(32).data
    viewer.add_image(np.stack([rgb[..., c] for c in range(3)]).astype(np.float32), name="z")
    viewer.dims.set_current_step(0, 2)
    widget = open_widget("Dehazing", iterations=3)
    run_widget(widget)
    kept = np.array(viewer.layers["z clean"].data[0], copy=True)
    assert viewer.layers["z clean"].data.shape == (1, 32, 32)
    widget.frames.value = "every frame, one by one"
    widget.keep_partial.value = True
    widget.iterations.value = 400
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if p.iteration >= 3 else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    layer = viewer.layers["z clean"]
    assert layer.data.shape == (3, 32, 32) and np.isnan(layer.data[1]).all()
    np.testing.assert_array_equal(layer.data[2], kept)
    assert layer.metadata["frames"] == [[0], [2]]
    assert any("frame(s) [2], which the stopped run did not reach" in m for m in infos), infos


def test_a_frame_after_a_stopped_every_frame_run_lists_only_the_frames_computed(viewer, open_widget, qtbot,
                                                                                  run_widget, infos):
    """Every frame dehazed one by one, stopped (kept) in the first frame: a later run of the last frame is
    patched into that stack, and ``metadata["frames"]`` names the two frames computed, not the one never
    reached (NaN)."""
    rgb = samples.hazy_image(32).data
    viewer.add_image(np.stack([rgb[..., c] for c in range(3)]).astype(np.float32), name="z")
    widget = open_widget("Dehazing", iterations=400)
    widget.frames.value = "every frame, one by one"
    widget.keep_partial.value = True
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if p.iteration >= 3 else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    layer = viewer.layers["z clean"]
    assert layer.metadata["params"]["frames_run"] == 1 and np.isnan(layer.data[1:]).all()
    assert " over 1 of 3 frames" in widget.status.value, widget.status.value  # (not "over 1 frame")
    viewer.dims.set_current_step(0, 2)
    widget.frames.value = "current frame"
    widget.iterations.value = 3
    run_widget(widget)
    layer = viewer.layers["z clean"]
    assert layer.data.shape == (3, 32, 32) and np.isnan(layer.data[1]).all() and np.isfinite(layer.data[2]).all()
    assert layer.metadata["frames"] == [[0], [2]]
    # another every-frame run stopped (kept) in frame 0: the frame it did not reach keeps its earlier result
    kept = {part: np.array(viewer.layers[f"z {part}"].data[2], copy=True) for part in ("clean", "transmission")}
    widget.frames.value = "every frame, one by one"
    widget.iterations.value = 400
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if p.iteration >= 3 else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    for part in ("clean", "transmission"):
        layer = viewer.layers[f"z {part}"]
        np.testing.assert_array_equal(layer.data[2], kept[part])
        assert np.isnan(layer.data[1]).all() and np.isfinite(layer.data[0]).all(), part
        assert layer.metadata["frames"] == [[0], [2]] and layer.metadata["params"]["frames_run"] == 1, part
    assert any("frame(s) [2], which the stopped run did not reach" in m and "'z clean'" in m for m in infos)
    # a frame run after it keeps the record of that stopped whole-stack run, as after any whole-stack run
    widget.frames.value = "current frame"
    widget.iterations.value = 3
    viewer.dims.set_current_step(0, 1)
    run_widget(widget)
    md = viewer.layers["z clean"].metadata
    assert md["frames"] == [[0], [2], [1]] and md["stack_run"]["params"]["frames_run"] == 1


def test_warnings_from_elsewhere_during_a_run_are_not_the_widgets(viewer, open_widget, qtbot, warnings_shown):
    """While a worker runs, superqt catches every thread's warnings: only the library's carry the widget's
    title."""
    import warnings

    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="img")
    widget = open_widget(SEG, iterations=6)
    widget.preview_every.value = 2
    worker = widget.run(start=False)
    worker.yielded.connect(lambda _p: warnings.warn("unrelated to the run", UserWarning, stacklevel=1))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    unrelated = [m for m in warnings_shown if "unrelated" in m]
    assert unrelated and not [m for m in unrelated if m.startswith("Segmentation")]  # (shown, not as ours)


def test_a_reduced_preview_is_shown_at_the_images_size(viewer, open_widget, qtbot, monkeypatch):
    """Previews of large images come at a reduced size (dehazing): the layer covers the image meanwhile, and
    the final result arrives at full size with the input's transform."""
    from napari_doubledip.tasks import dehaze as D

    monkeypatch.setattr(D, "PREVIEW_PIXELS", 16 * 16)
    viewer.add_image(samples.hazy_image(48).data, name="haze", scale=(0.5, 0.5))
    widget = open_widget("Dehazing", iterations=10)
    widget.preview_every.value = 5
    shapes = []
    worker = widget.run(start=False)
    worker.yielded.connect(
        lambda p: p.preview and shapes.append((viewer.layers["haze transmission"].data.shape,
                                               tuple(viewer.layers["haze transmission"].scale)))
    )
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert shapes and shapes[0][0] == (16, 16) and np.allclose(shapes[0][1], (1.5, 1.5))
    t = viewer.layers["haze transmission"]
    assert t.data.shape == (48, 48) and np.allclose(t.scale, (0.5, 0.5))


def test_no_previews_are_computed_when_preview_every_is_zero(viewer, open_widget, run_widget, dehaze_previews):
    made = dehaze_previews
    viewer.add_image(samples.hazy_image(32).data, name="haze")
    widget = open_widget("Dehazing", iterations=10)
    widget.preview_every.value = 0
    run_widget(widget)
    assert not made and viewer.layers["haze clean"].data.shape[:2] == (32, 32)
    widget.preview_every.value = 5
    run_widget(widget)
    assert made


def test_segmentation_of_many_objects_with_intensity_hints(viewer, open_widget, run_widget, errors):
    from skimage import data, filters

    blobs = data.binary_blobs(64, blob_size_fraction=0.08, volume_fraction=0.3, rng=1)
    field = (filters.gaussian(blobs.astype(float), 1.5) * 600 + 100).astype(np.uint16)  # nuclei, uint16
    viewer.add_image(field, name="nuclei")
    widget = open_widget(SEG)
    assert list(widget.task_options["automatic"].choices) == ["saliency (one object)", "intensity (many objects)"]
    widget.task_options["automatic"].value = "intensity (many objects)"
    widget.iterations.value = 60
    run_widget(widget)
    assert not errors
    layer = viewer.layers["nuclei mask"]
    assert layer.metadata["params"]["hints"] == "intensity" and layer.metadata["params"]["reassign"] == 0.0
    assert samples.iou(layer.data > 0, blobs) > 0.6  # (all-foreground: 0.3)
    widget.task_options["reassign"].value = "off"
    run_widget(widget)
    assert viewer.layers["nuclei mask"].metadata["params"]["reassign"] is None


def test_dehazing_transmission_prior_choice(viewer, open_widget, run_widget, errors):
    viewer.add_image(samples.hazy_image(32).data, name="haze")
    widget = open_widget("Dehazing")
    assert list(widget.task_options["transmission_prior"].choices) == ["auto", "dark channel", "haze lines"]
    widget.task_options["transmission_prior"].value = "haze lines"
    widget.iterations.value = 3
    run_widget(widget)
    params = viewer.layers["haze clean"].metadata["params"]
    assert params["transmission_prior"] == "haze lines" and params["t_hint"] == "haze lines"
    # Haze lines need colour: on a grey layer the run is refused before it starts (torch loaded, a worker
    # started and failed), with the reason and what to choose, and no layers.
    viewer.add_image(samples.hazy_image(32, rgb=False).data, name="grey haze")
    widget.pickers["image"].value = viewer.layers["grey haze"]
    assert widget.run() is None
    assert len(errors) == 1 and "needs an RGB image" in errors[0] and "'dark channel'" in errors[0]
    assert not any(layer.name.startswith("grey haze ") for layer in viewer.layers)


def test_dehazing_rejects_a_bad_airlight(viewer, open_widget, errors):
    viewer.add_image(samples.hazy_image(32).data, name="haze")
    widget = open_widget("Dehazing")
    widget.task_options["airlight"].value = "bright"
    assert widget.run() is None and "airlight" in errors[0]
    viewer.add_image(samples.hazy_image(32).data[..., 0], name="grey")
    widget.pickers["image"].value = viewer.layers["grey"]
    widget.task_options["airlight"].value = "0.9, 0.92, 0.95"
    assert widget.run() is None and "needs 1 value for a grey image, got 3" in errors[-1]
    assert "with a point" not in errors[-1]
    widget.task_options["airlight"].value = "240, 240, 200"
    assert widget.run() is None and "got 3: '240, 240, 200'" in errors[-1] and "with a point" not in errors[-1]
    widget.task_options["airlight"].value = "0,9"
    assert widget.run() is None and "with a point: 0.9" in errors[-1]
    widget.task_options["airlight"].value = "1,1"  # (not a grey written twice)
    assert widget.run() is None and "with a point: 0.9" in errors[-1] and "got 2: '1,1'" in errors[-1]
    widget.task_options["airlight"].value = "60,000"  # a thousands separator, not a decimal comma
    assert widget.run() is None and "got 2: '60,000'" in errors[-1] and "not 60,000" in errors[-1]
    assert "with a point" not in errors[-1]
    for text in ("0,925", "0,900"):  # three decimals after a 0 are decimals, never a thousands group
        widget.task_options["airlight"].value = text
        assert widget.run() is None and "with a point" in errors[-1] and "thousands" not in errors[-1]
    # one grey written per channel is that grey
    widget.task_options["airlight"].value = "0.9, 0.9, 0.9"
    job = widget._prepare()
    assert job.kwargs["airlight"] == 0.9
    widget.pickers["image"].value = viewer.layers["haze"]
    widget.task_options["airlight"].value = "0,9,"  # (a trailing comma: the same two values, the same hint)
    assert widget.run() is None and "with a point: 0.9" in errors[-1]
    widget.task_options["airlight"].value = "0,9"  # an RGB image: the same hint
    assert widget.run() is None and "got 2: '0,9'" in errors[-1] and "with a point: 0.9" in errors[-1]
    widget.task_options["airlight"].value = "240,240"  # an RGB colour missing its third value
    assert widget.run() is None and "got 2: '240,240'" in errors[-1] and "thousands" not in errors[-1]
    # below black on unsigned data, or beyond float32: refused before the run (they were, in the worker)
    viewer.add_image((samples.hazy_image(32).data * 255).astype(np.uint8), name="u8")
    widget.pickers["image"].value = viewer.layers["u8"]
    for text in ("-10", "230, 235, -1", "0"):
        widget.task_options["airlight"].value = text
        assert widget.run() is None and "brighter than the image's black level (0)" in errors[-1], text
    widget.task_options["airlight"].value = "1e40"
    assert widget.run() is None and "beyond the float32 range" in errors[-1]
    assert widget.worker is None


def test_the_seed_reaches_the_librarys_range(viewer, open_widget):
    """The library takes seeds up to 2**32 - 1; the panel stopped at 2**31 - 1, so a result made in Python with
    a larger seed could not be repeated from it."""
    viewer.add_image(samples.hazy_image(32).data, name="haze")
    widget = open_widget("Dehazing")
    widget.seed.value = 2**32 - 1
    assert widget.seed.value == 2**32 - 1 and widget._prepare().kwargs["seed"] == 2**32 - 1


def test_a_warning_from_the_library_is_shown_once(viewer, open_widget, run_widget, warnings_shown, errors):
    """The library warns inside the worker (an airlight given as a fraction on 0-255 data): the user sees it."""
    img = (samples.hazy_image(32).data * 255).astype(np.uint8)
    viewer.add_image(img, name="haze")
    widget = open_widget("Dehazing", iterations=3)
    widget.task_options["airlight"].value = "0.9"
    run_widget(widget)
    shown = [m for m in warnings_shown if "airlight" in m]
    assert len(shown) == 1 and shown[0].startswith("Dehazing") and not errors
    assert "haze clean" in names(viewer)  # a warning does not stop the run


def test_library_warnings_reach_their_widget_without_the_global_warnings_hook(
    viewer, open_widget, run_widget, warnings_shown, errors, monkeypatch
):
    """superqt relays a worker's warnings by swapping the process-wide warnings.showwarning, which two workers
    running at once undo for each other: the library's own warnings take this run's signal instead."""
    import napari_doubledip._validation as validation

    def not_this_way(*args, **kwargs):
        raise AssertionError("a library warning went through the process-wide warnings machinery")

    import types

    monkeypatch.setattr(validation, "warnings", types.SimpleNamespace(warn=not_this_way))  # the library's only
    viewer.add_image((samples.hazy_image(32).data * 255).astype(np.uint8), name="haze")
    widget = open_widget("Dehazing", iterations=3)
    widget.task_options["airlight"].value = "0.9"  # a fraction on 0-255 data: the library warns
    run_widget(widget)
    assert not errors, errors
    assert [m for m in warnings_shown if "airlight" in m][0].startswith("Dehazing (Double-DIP): dehaze: airlight")


def test_segmentation_of_a_whole_stack(viewer, open_widget, qtbot, monkeypatch):
    from napari_doubledip.tasks import video as video_task

    monkeypatch.setattr(video_task, "SETUP_REPORT_SECONDS", 0.0)  # the set-up of a long stack reports its steps
    video = samples.moving_object_video(size=32, frames=3).data  # (T, Y, X, RGB)
    viewer.add_image(video, name="movie", scale=(1.0, 2.0, 2.0))
    widget = open_widget(SEG)
    widget.frames.value = "whole stack (video)"
    statuses = []
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: statuses.append(widget.status.value))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert any(s.startswith("automatic hints: frame 1 of 3 (") for s in statuses), statuses
    mask = viewer.layers["movie mask"]
    assert mask.data.shape == (3, 32, 32) and mask.metadata["function"] == "segment_video"
    np.testing.assert_allclose(mask.scale, (1.0, 2.0, 2.0))
    assert viewer.layers["movie foreground"].data.shape == video.shape


def test_keeping_the_partial_result_before_any_step_ends_at_once(viewer, open_widget, qtbot, monkeypatch):
    """(A review's case.) Cancel with "keep partial result" during a stack's automatic hints: there is nothing
    to keep, yet the run went on to bring its untrained networks to full size frame by frame (seconds on a long
    stack, Cancel greyed out, "finishing with the best result so far") and then kept nothing. It ends at once."""
    from napari_doubledip.tasks import video as video_task

    monkeypatch.setattr(video_task, "SETUP_REPORT_SECONDS", 0.0)  # the set-up of a long stack reports its steps
    viewer.add_image(samples.moving_object_video(size=32, frames=3).data, name="movie")
    widget = open_widget(SEG)
    widget.frames.value = "whole stack (video)"
    widget.keep_partial.value = True
    statuses, aborted = [], []
    worker = widget.run(start=False)

    def on_report(p):
        if getattr(p, "stage", None) and not statuses:
            widget.cancel()
            statuses.append(widget.status.value)

    worker.yielded.connect(on_report)
    worker.aborted.connect(lambda: aborted.append(True))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert statuses == ["Cancelling (no step taken yet: nothing to keep)..."] and aborted == [True]
    assert names(viewer) == ["movie"] and widget.status.value == "Cancelled."


def test_segmentation_along_a_chosen_axis_of_a_4d_stack(viewer, open_widget, run_widget):
    """(Z, T, Y, X): the user picks T as the sequence; Z follows the slider; outputs sit at that Z slice."""
    video = samples.moving_object_video(size=32, frames=3).data.mean(axis=-1)  # (T, Y, X)
    data = np.stack([np.zeros_like(video), video])  # (Z=2, T=3, Y, X); slice z=0 is blank
    viewer.add_image(data, name="zt", scale=(5.0, 1.0, 2.0, 2.0), translate=(10.0, 0.0, 0.0, 0.0))
    viewer.dims.set_point(0, 15.0)  # world z = 10 + 5 * 1: the second slice
    widget = open_widget(SEG)
    widget.frames.value = "whole stack (video)"
    assert not widget.sequence_axis.native.isHidden()
    assert tuple(widget.sequence_axis.choices) == (0, 1)
    widget.sequence_axis.value = 1
    run_widget(widget)
    mask = viewer.layers["zt mask"]
    assert mask.data.shape == (1, 3, 32, 32) and mask.metadata["frame"] == [1, None]
    np.testing.assert_allclose(mask.scale, (5.0, 1.0, 2.0, 2.0))
    np.testing.assert_allclose(mask.translate, (15.0, 0.0, 0.0, 0.0))
    fg, m = viewer.layers["zt foreground"].data, mask.data == 1
    assert fg.shape == (1, 3, 32, 32) and m.any()
    np.testing.assert_allclose(fg[m], video[m[0]], atol=1e-3 * video.max())  # the textured slice was read


def test_video_transparency_dynamic_and_static(viewer, open_widget, run_widget):
    video = samples.reflection_video(size=32, frames=3).data  # (T, Y, X)
    viewer.add_image(video, name="glass")
    widget = open_widget(TRANS)
    widget.frames.value = "video: moving + static layer"
    run_widget(widget)
    assert viewer.layers["glass dynamic"].data.shape == video.shape
    assert viewer.layers["glass static"].data.shape == video.shape[1:]
    assert len(viewer.layers["glass static"].metadata["alphas"]) == 3
    assert "; coefficients " in widget.status.value


@pytest.mark.parametrize(
    ("mode", "parts"),
    [("video: moving + static layer", ("static",)), ("all frames are mixtures", ("layer 1", "layer 2"))],
)
def test_one_frame_results_of_a_stack_sit_on_their_slice(viewer, open_widget, run_widget, errors, mode, parts):
    """(Z, T, Y, X) with T as the sequence: a result for the whole sequence (the static layer, or the layers
    of the mixtures) read at z = 1 shows for every t at z = 1 and not at z = 0."""
    data = np.random.default_rng(0).random((2, 3, 24, 24)).astype(np.float32)
    viewer.add_image(data, name="zt", scale=(3.0, 1.0, 2.0, 2.0))
    viewer.dims.set_current_step(0, 1)
    widget = open_widget(TRANS, iterations=3)
    widget.frames.value = mode
    widget.sequence_axis.value = 1
    run_widget(widget)
    assert not errors
    for part in parts:
        layer = viewer.layers[f"zt {part}"]
        assert layer.data.shape == (1, 3, 24, 24), part
        np.testing.assert_allclose(layer.translate, (3.0, 0.0, 0.0, 0.0))
        np.testing.assert_allclose(layer.scale, (3.0, 1.0, 2.0, 2.0))
        np.testing.assert_array_equal(layer.data[0, 0], layer.data[0, 2])  # the same image at every t


def test_watermark_with_a_box(viewer, open_widget, run_widget):
    from napari_doubledip import _sample_data

    s = samples.watermarked(32)
    viewer.add_image(s.data, name="wm")
    data, kwargs, _ = _sample_data._box_layer(s.extra["box"], "box")
    viewer.add_shapes(data, **kwargs)
    widget = open_widget("Watermark removal")
    widget.pickers["box"].value = viewer.layers["box"]
    run_widget(widget)
    assert {"wm clean", "wm watermark", "wm alpha"} <= set(names(viewer))
    assert viewer.layers["wm clean"].data.shape == s.data.shape
    assert viewer.layers["wm alpha"].data.shape == s.data.shape[:2]
    # the clean image ends on top, not hidden under the opaque opacity map (the last output), also when a
    # re-run makes the map again (deleted) while it updates the clean image in place
    assert names(viewer)[-1] == "wm clean", names(viewer)
    viewer.layers.remove("wm alpha")
    run_widget(widget)
    assert names(viewer)[-1] == "wm clean", names(viewer)
    viewer.layers.move(viewer.layers.index("wm clean"), viewer.layers.index("wm watermark"))  # the user's order
    order = names(viewer)
    run_widget(widget)
    assert names(viewer) == order


def test_the_part_on_view_ends_active_unless_the_user_chose_a_layer(viewer, open_widget, run_widget, qtbot):
    """napari selects each layer it adds: a run ended with the part added last active (segmentation's hidden
    foreground, the watermark's opacity map under the clean image). The part on top is made active: the mask
    to correct with the brush; a layer the user made active during the run stays so."""
    from napari_doubledip import _sample_data

    viewer.add_image(samples.texture_composite(32).data, name="comp", rgb=True)
    run_widget(open_widget("Segmentation"))
    assert viewer.layers.selection.active.name == "comp mask"
    assert [layer.name for layer in viewer.layers.selection] == ["comp mask"]

    s = samples.watermarked(32)
    viewer.add_image(s.data, name="wm")
    data, kwargs, _ = _sample_data._box_layer(s.extra["box"], "box")
    viewer.add_shapes(data, **kwargs)
    widget = open_widget("Watermark removal")
    widget.pickers["images"].value = [viewer.layers["wm"]]
    widget.pickers["box"].value = viewer.layers["box"]
    run_widget(widget)
    assert viewer.layers.selection.active.name == "wm clean"

    # the next run makes both again: the user makes another layer active once the first is there (napari then
    # makes the other active as it adds it)
    viewer.layers.remove("wm clean")
    viewer.layers.remove("wm alpha")
    worker = widget.run(start=False)

    def choose(_progress):
        active = viewer.layers.selection.active
        if "wm clean" in names(viewer) and (active is None or active.name != "comp"):
            viewer.layers.selection.active = viewer.layers["comp"]

    worker.yielded.connect(choose)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert {"wm clean", "wm alpha"} <= set(names(viewer))
    assert viewer.layers.selection.active.name == "comp"


def test_watermark_in_several_shapes_and_an_empty_shapes_layer(viewer, open_widget, run_widget, errors):
    """Two rectangles (a logo and a text): the watermark is looked for in both, not only the last drawn (the
    selected ones, if any are); an empty Shapes layer (napari's new-layer button) picked as the box counts as
    none: several images run without one (it was refused), a single image is told it needs one."""
    s = samples.watermarked(32)
    viewer.add_image(s.data, name="wm")
    boxes = viewer.add_shapes(
        [[[2, 2], [2, 12], [10, 12], [10, 2]], [[18, 18], [18, 28], [28, 28], [28, 18]]],
        shape_type="rectangle", name="box",
    )
    widget = open_widget("Watermark removal", iterations=3)
    widget.pickers["box"].value = boxes
    run_widget(widget)
    alpha = viewer.layers["wm alpha"].data
    assert alpha[2:11, 2:13].any() and alpha[18:29, 18:29].any() and not alpha[14:17].any()
    boxes.mode = "select"  # (napari leaves the last drawn shape selected: only a pick in select mode counts)
    boxes.selected_data = {0}
    run_widget(widget)
    alpha = viewer.layers["wm alpha"].data
    assert alpha[2:11, 2:13].any() and not alpha[18:29, 18:29].any()
    # a shape off the image among them (or a stray click) is passed over, not the whole box refused
    boxes.add_rectangles(np.array([[40, 40], [40, 50], [50, 50], [50, 40]]))
    boxes.selected_data = set()
    run_widget(widget)
    assert not errors and viewer.layers["wm alpha"].data[18:29, 18:29].any()
    # several images and an empty Shapes layer: no box
    w = samples.watermark_set(2, 32)
    for i, im in enumerate(w.data):
        viewer.add_image(im, name=f"w{i + 1}")
    empty = viewer.add_shapes(name="Shapes")
    widget.pickers["images"].value = [viewer.layers["w1"], viewer.layers["w2"]]
    widget.pickers["box"].value = empty
    run_widget(widget)
    assert not errors and viewer.layers["w1 clean"].metadata["params"]["box"] is None
    widget.pickers["images"].value = [viewer.layers["wm"]]
    widget.pickers["box"].value = empty
    assert widget.run() is None and len(errors) == 1 and "box" in errors[0], errors


def test_segmentation_with_a_box(viewer, open_widget, run_widget):
    """A rectangle around one of two objects: the mask keeps to it, and the metadata says which box ran."""
    from napari_doubledip import _sample_data

    img = samples.texture_composite(48).data.copy()
    img[32:, 32:] = img[16:32, 16:32]  # a second patch of the object, outside the box
    viewer.add_image(img, name="two", scale=(2.0, 2.0))
    data, kwargs, _ = _sample_data._box_layer((2, 2, 31, 31), "box")
    viewer.add_shapes(data, scale=(2.0, 2.0), **kwargs)
    widget = open_widget(SEG, iterations=20)
    widget.pickers["box"].value = viewer.layers["box"]
    run_widget(widget)
    mask = viewer.layers["two mask"]
    assert mask.data.shape == (48, 48) and not mask.data[31:].any() and not mask.data[:, 31:].any()
    assert mask.metadata["params"]["box"] == [2, 2, 31, 31] and mask.metadata["params"]["hints"] == "auto"
    np.testing.assert_allclose(mask.scale, (2.0, 2.0))


def test_watermark_shared_by_several_images(viewer, open_widget, run_widget):
    s = samples.watermark_set(2, 32)
    for i, im in enumerate(s.data):
        viewer.add_image(im, name=f"w{i + 1}")
    widget = open_widget("Watermark removal")
    widget.pickers["images"].value = [viewer.layers["w1"], viewer.layers["w2"]]
    run_widget(widget)
    for name in ("w1", "w2"):  # one clean image per input, named after it
        clean = viewer.layers[f"{name} clean"]
        assert clean.data.shape == s.data.shape[1:] and clean.metadata["source"] == name
    assert "w1 watermark" in names(viewer) and "w2 watermark" not in names(viewer)


def test_a_box_with_a_set_of_images_is_said_to_limit_the_watermark(viewer, open_widget, infos):
    """A Shapes layer of annotations preselected as the box at opening stayed on after several images were
    picked, and limited the set's watermark to it without a word."""
    s = samples.watermark_set(2, 32)
    for i, im in enumerate(s.data):
        viewer.add_image(im, name=f"w{i + 1}")
    viewer.add_shapes([np.array([[2, 2], [12, 12]], float)], shape_type="rectangle", name="notes")
    widget = open_widget("Watermark removal")
    widget.pickers["images"].value = [viewer.layers["w1"]]
    assert widget.pickers["box"].value.name == "notes"
    widget._prepare()  # one image: its box, nothing to say
    assert not [m for m in infos if "inside the box only" in m], infos
    widget.pickers["images"].value = [viewer.layers["w1"], viewer.layers["w2"]]
    assert widget._prepare().kwargs["box"] is not None
    assert [m for m in infos if "looked for inside the box only" in m and "set 'box' to none" in m], infos
    # a box over the whole image limits nothing (the library drops it for a set): nothing said; and one image
    # with it is refused before the run (it was, by the worker, after torch loaded)
    everything = viewer.add_shapes(
        [np.array([[-1, -1], [40, 40]], float)], shape_type="rectangle", name="everything"
    )
    widget.pickers["box"].value = everything
    said = len(infos)
    widget._prepare()
    assert not [m for m in infos[said:] if "inside the box only" in m], infos[said:]
    widget.pickers["images"].value = [viewer.layers["w1"]]
    widget.pickers["box"].value = everything
    with pytest.raises(ValueError, match="box covers the whole image.*around the watermark only"):
        widget._prepare()


def test_an_output_name_taken_by_another_layer_still_arrives(viewer, open_widget, run_widget):
    """A layer of the user's already called "comp mask": ours is "comp mask (segmentation)"; it must be kept,
    and found again by the next run instead of piling up more."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    viewer.add_labels(np.zeros((32, 32), np.uint8), name="comp mask")
    widget = open_widget(SEG)
    run_widget(widget)
    ours = [la for la in viewer.layers if la.metadata.get("part") == "mask"]
    assert len(ours) == 1 and ours[0].name == "comp mask (segmentation)" and ours[0].data.max() == 1
    assert viewer.layers["comp mask"].data.max() == 0  # the user's layer is untouched
    widget.seed.value = 1
    run_widget(widget)
    assert len(viewer.layers) == 5 and len([la for la in viewer.layers if la.metadata.get("part") == "mask"]) == 1
    # Both names taken by the user's layers: napari's " [1]" on the alternative, still found again.
    viewer.layers.remove(ours[0])
    viewer.add_labels(np.zeros((32, 32), np.uint8), name="comp mask (segmentation)")
    for seed in (2, 3):
        widget.seed.value = seed
        run_widget(widget)
    assert len([la for la in viewer.layers if la.metadata.get("part") == "mask"]) == 1


def test_two_tasks_on_one_image_name_their_clean_layers_apart(viewer, open_widget, run_widget):
    """Dehazing and watermark removal both make "<input> clean": the second says whose it is, and each task's
    re-run updates its own."""
    viewer.add_image(samples.hazy_image(32).data, name="img")
    dehaze = open_widget("Dehazing", iterations=3)
    run_widget(dehaze)
    viewer.add_shapes([np.array([[4, 4], [4, 12], [12, 12], [12, 4]], float)], shape_type="rectangle", name="box")
    watermark = open_widget("Watermark removal", iterations=3)
    watermark.pickers["images"].value = [viewer.layers["img"]]
    watermark.pickers["box"].value = viewer.layers["box"]
    run_widget(watermark)
    assert viewer.layers["img clean"].metadata["task"] == "dehazing"
    assert viewer.layers["img clean (watermark)"].metadata["task"] == "watermark"
    count = len(viewer.layers)
    run_widget(watermark)
    run_widget(dehaze)
    assert len(viewer.layers) == count


@pytest.mark.parametrize("action", ["delete", "rename"])
def test_an_output_deleted_or_renamed_during_the_run(viewer, open_widget, qtbot, errors, action):
    """Deleting a preview layer mid-run makes it again at the end; renaming one keeps it (with the result)."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=40)
    widget.preview_every.value = 1
    worker = widget.run(start=False)
    done = []

    def on_progress(p):
        if not done and "comp mask" in names(viewer):
            done.append(p.iteration)
            if action == "delete":
                viewer.layers.remove("comp mask")
            else:
                viewer.layers["comp mask"].name = "my mask"

    worker.yielded.connect(on_progress)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert done and not errors, errors
    mask_name = "comp mask" if action == "delete" else "my mask"
    assert sorted(names(viewer)) == sorted(["comp", "comp background", "comp foreground", mask_name])
    mask = viewer.layers[mask_name]
    assert mask.metadata["preview"] is False and mask.metadata["iterations"] == 40


@pytest.mark.parametrize("new", ["another shape", "the same shape", "fewer axes"])
def test_an_input_given_new_data_during_a_run(viewer, open_widget, qtbot, errors, warnings_shown, new):
    """Results are placed as the data was read; new data of another frame shape gets a warning that they may
    not line up (new data of the same shape, e.g. a live acquisition's next image, does not). A stack given
    2D data keeps its results too (they were lost: a 3D result got the 2D layer's transform)."""
    image = samples.texture_composite(40).data[:, :32]
    if new == "fewer axes":
        viewer.add_image(np.stack([image, image[::-1]]), name="comp", scale=(2, 1, 1), translate=(10, 0, 0))
        viewer.dims.set_point(0, 12)  # its frame 1
    else:
        viewer.add_image(image, name="comp")
    widget = open_widget(SEG, iterations=30)
    worker = widget.run(start=False)
    done = []

    def on_progress(p):
        if not done and p.iteration > 0:
            done.append(p.iteration)
            shape = (24, 24, 3) if new == "another shape" else (40, 32, 3)
            viewer.layers["comp"].data = np.zeros(shape, np.float32)

    worker.yielded.connect(on_progress)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert done and not errors, errors
    mask = viewer.layers["comp mask"]
    said = [m for m in warnings_shown if "another shape during the run" in m]
    if new == "fewer axes":  # the frame read at Run, where it was read (the slider's frame 1)
        assert mask.data.shape == (1, 40, 32) and mask.metadata["preview"] is False
        assert (mask.scale[0], mask.translate[0]) == (2, 12)  # frame 1 where it was at Run: 10 + 1 x 2
        assert mask.data.any() and not mask.data.all()
        assert len(said) == 1 and "'comp'" in said[0], warnings_shown
        return
    assert mask.data.shape == (40, 32)
    if new == "another shape":
        assert len(said) == 1 and "'comp'" in said[0] and "40 x 32" in said[0], warnings_shown
    else:
        assert not said, said


@pytest.mark.parametrize(
    "renamed, to, final",
    [
        # the outputs are named after the input as it was at Run: renaming the input mid-run must not leave the
        # earlier run's layers holding a preview while a second set appears under the new name
        ("comp", "renamed", ["renamed", "comp background", "comp foreground", "comp mask"]),
        # an earlier run's layer of a part without previews (segmentation's background), renamed mid-run, still
        # gets its result instead of staying stale beside a new layer of the old name
        ("comp background", "my background", ["comp", "my background", "comp foreground", "comp mask"]),
    ],
)
def test_a_layer_renamed_during_a_rerun(
    viewer, open_widget, run_widget, qtbot, errors, infos, renamed, to, final
):
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=40)
    run_widget(widget)
    widget.preview_every.value, widget.seed.value = 1, 5
    worker = widget.run(start=False)
    done = []

    def on_progress(p):
        if not done and viewer.layers["comp mask"].metadata.get("preview"):
            done.append(p.iteration)
            viewer.layers[renamed].name = to

    worker.yielded.connect(on_progress)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert done and not errors, errors
    assert sorted(names(viewer)) == sorted(final)
    said = [m for m in infos if "renamed during the run" in m]
    if renamed == "comp":  # the input: its results keep its old name, and the user is told so
        assert len(said) == 1 and "'comp' (now 'renamed')" in said[0], infos
    else:  # (an output renamed: nothing to say)
        assert not said, said
    for name in final[1:]:
        md = viewer.layers[name].metadata
        assert md["preview"] is False and md["seed"] == 5 and md["source"] == "comp", (name, md)


@pytest.mark.parametrize("cancel", [False, True])
def test_a_rerun_after_the_input_was_renamed_updates_its_results(
    viewer, open_widget, run_widget, qtbot, infos, cancel
):
    """The user names the layer after a first look and runs again: the results are updated and renamed with it
    (a second set appeared under the new name, the first left stale beside it); a result the user renamed is
    theirs. A cancelled run gives the results their names back with their data. Nothing says the results of
    another input were replaced (it did: a review's case)."""
    source = viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG)
    run_widget(widget)
    viewer.layers["comp foreground"].name = "my foreground"
    before = viewer.layers["comp mask"].data.copy()
    source.name = "cells"
    if not cancel:
        run_widget(widget)
        assert sorted(names(viewer)) == sorted(
            ["cells", "cells background", "cells foreground", "my foreground", "cells mask"]
        )
        assert viewer.layers["cells mask"].metadata["source"] == "cells"
        assert viewer.layers["my foreground"].metadata["source"] == "comp"  # (left as the user's)
        assert not [m for m in infos if "held the results of" in m], infos
        return
    widget.iterations.value, widget.preview_every.value = 5000, 1
    worker = widget.run(start=False)
    seen = []

    mask = viewer.layers["comp mask"]

    def during(p):
        seen.append(mask.name == "cells mask")  # (the layer itself: updated under the new name)
        if seen[-1] or len(seen) > 400:  # (at the first preview: previews are at least a moment apart)
            widget.cancel()

    worker.yielded.connect(during)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert any(seen)
    assert sorted(names(viewer)) == sorted(["cells", "comp background", "my foreground", "comp mask"])
    np.testing.assert_array_equal(viewer.layers["comp mask"].data, before)


def test_a_new_layer_under_a_renamed_inputs_old_name_gets_results_of_its_own(viewer, open_widget, run_widget):
    """Segment "img", rename it "img day1", add another image called "img" and segment it: the first image's
    results ("img mask", ...) were overwritten in place by the second's, without a word, while the first image
    was still there. They stay; the new ones come beside them, and a re-run of either updates its own."""
    first = viewer.add_image(samples.texture_composite(32).data, name="img")
    widget = open_widget(SEG, iterations=5)
    run_widget(widget)
    kept = viewer.layers["img mask"].data.copy()
    first.name = "img day1"
    second = viewer.add_image(samples.texture_composite(32, rgb=False).data, name="img")
    widget.pickers["image"].value = second
    run_widget(widget)
    old = viewer.layers["img mask"]
    assert old.metadata["source_id"] == str(first.unique_id)
    np.testing.assert_array_equal(old.data, kept)
    # (the new set under the task's alternative names: the plain ones are taken)
    assert viewer.layers["img mask (segmentation)"].metadata["source_id"] == str(second.unique_id)
    assert len(names(viewer)) == 8
    run_widget(widget)  # again on the second: its own layers are updated, no third set
    assert len(names(viewer)) == 8 and viewer.layers["img mask"].metadata["source_id"] == str(first.unique_id)
    widget.pickers["image"].value = first
    run_widget(widget)  # the first, under its new name: its results follow it
    assert viewer.layers["img day1 mask"].metadata["source_id"] == str(first.unique_id)
    assert len(names(viewer)) == 8


def test_outputs_keep_rotation_shear_units_and_axis_labels(viewer, open_widget, run_widget):
    img = samples.texture_composite(32, rgb=False).data
    source = viewer.add_image(
        img, name="rot", rotate=30, shear=[0.2], scale=(0.5, 2.0), translate=(3.0, -1.0), units=("um", "um"),
        axis_labels=("y", "x"),
    )
    widget = open_widget(SEG)
    run_widget(widget)
    points = np.array([[0.0, 0.0], [31.0, 0.0], [5.0, 27.0]])
    for part in ("mask", "foreground"):
        layer = viewer.layers[f"rot {part}"]
        np.testing.assert_allclose(
            [layer.data_to_world(p) for p in points], [source.data_to_world(p) for p in points], atol=1e-9
        )
        assert tuple(layer.units) == tuple(source.units) and tuple(layer.axis_labels) == ("y", "x")


def test_rgba_alpha_is_not_decomposed(viewer, open_widget, run_widget):
    rgb = (samples.texture_composite(32).data * 255).astype(np.uint8)
    rgba = np.concatenate([rgb, np.full((32, 32, 1), 255, np.uint8)], axis=-1)
    viewer.add_image(rgba, name="rgba")
    widget = open_widget(SEG)
    assert widget._prepare().args[0].shape == (32, 32, 3)
    run_widget(widget)
    assert viewer.layers["rgba foreground"].rgb and viewer.layers["rgba foreground"].data.shape == (32, 32, 3)


def test_cancel_of_a_rerun_keeps_the_contrast_limits_set_during_it(viewer, open_widget, run_widget, qtbot):
    """Cancel gives the layer back its data; the contrast the user chose while the run went stays."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(TRANS)
    run_widget(widget)
    viewer.layers["comp layer 1"].contrast_limits = (0.2, 0.3)
    before = viewer.layers["comp layer 1"].data.copy()
    widget.iterations.value, widget.seed.value, widget.preview_every.value = 5000, 1, 1
    worker = widget.run(start=False)

    def during(p):
        if p.iteration >= 25:
            widget.cancel()
        elif p.iteration >= 10:  # the user drags the slider while the run goes
            viewer.layers["comp layer 1"].contrast_limits = (0.5, 0.6)

    worker.yielded.connect(during)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    np.testing.assert_array_equal(viewer.layers["comp layer 1"].data, before)
    np.testing.assert_allclose(viewer.layers["comp layer 1"].contrast_limits, (0.5, 0.6))


def test_an_output_the_user_converted_is_theirs(viewer, open_widget, run_widget):
    """napari's Convert to Image keeps the metadata: the converted mask (edited, say) is the user's layer now,
    left alone as one of another task; the run writes "<name> (<task>)" beside it, and finds that next time."""
    viewer.add_image(samples.texture_composite(32).data, name="img")
    widget = open_widget(SEG, iterations=3)
    run_widget(widget)
    mask = viewer.layers["img mask"]
    viewer.layers.remove(mask)  # (what Convert to Image does)
    converted = viewer.add_image(mask.data * 7.0, name="img mask", metadata=dict(mask.metadata))
    kept = converted.data.copy()
    for _ in range(2):
        run_widget(widget)
        assert isinstance(viewer.layers["img mask"], napari.layers.Image)  # (layers come as proxies: no `is`)
        np.testing.assert_array_equal(viewer.layers["img mask"].data, kept)
        assert names(viewer).count("img mask (segmentation)") == 1 and "img mask [1]" not in names(viewer)
        assert isinstance(viewer.layers["img mask (segmentation)"], napari.layers.Labels)


def test_a_rerun_keeps_the_contrast_limits_the_user_set(viewer, open_widget, run_widget):
    """The README: running again updates the result layers in place and keeps the contrast limits you set."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(TRANS, iterations=5)
    run_widget(widget)
    viewer.layers["comp layer 1"].contrast_limits = (0.2, 0.3)
    widget.seed.value = 1
    run_widget(widget)
    np.testing.assert_allclose(viewer.layers["comp layer 1"].contrast_limits, (0.2, 0.3))


def test_a_rerun_on_a_replaced_input_follows_its_contrast_unless_the_user_set_it(
    viewer, open_widget, run_widget, qtbot
):
    """(A review's case.) The input closed and the same picture opened as 0-1 floats under its name: the re-run
    kept the earlier uint8 input's limits (0-255) on results of 0-1 values, shown nearly black. Limits a run
    gave follow the new input; limits the user set stay; Cancel puts the earlier ones back."""
    pic = samples.texture_composite(32).data
    first = viewer.add_image((pic * 255).astype(np.uint8), name="img", contrast_limits=(0, 255))
    widget = open_widget(SEG, iterations=3)
    run_widget(widget)
    assert tuple(viewer.layers["img foreground"].contrast_limits) == (0, 255)
    viewer.layers.remove(first)
    second = viewer.add_image(pic.astype(np.float32), name="img", contrast_limits=(0, 1))
    widget.pickers["image"].value = second
    run_widget(widget)
    np.testing.assert_allclose(viewer.layers["img foreground"].contrast_limits, (0, 1))
    viewer.layers["img background"].contrast_limits = (0.2, 0.4)  # the user's: kept by re-runs
    second.contrast_limits = (0.1, 0.9)
    run_widget(widget)
    np.testing.assert_allclose(viewer.layers["img background"].contrast_limits, (0.2, 0.4))
    np.testing.assert_allclose(viewer.layers["img foreground"].contrast_limits, (0.1, 0.9))
    second.contrast_limits = (0.3, 0.5)  # a re-run cancelled at once: the limits it reset are put back
    widget.iterations.value = 5000
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel())
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    np.testing.assert_allclose(viewer.layers["img foreground"].contrast_limits, (0.1, 0.9))


def test_a_rerun_leaves_an_array_the_user_kept_alone(viewer, open_widget, run_widget):
    """(A review's case.) A re-run wrote its result into the earlier result's array: a copy the user kept to
    compare (``add_image(layer.data)``) changed with it."""
    viewer.add_image(samples.texture_composite(32).data, name="a")
    widget = open_widget(SEG, iterations=3)
    run_widget(widget)
    keep = viewer.add_image(viewer.layers["a foreground"].data, name="foreground v1")
    kept = keep.data.copy()
    widget.seed.value = 7
    run_widget(widget)
    np.testing.assert_array_equal(keep.data, kept)
    assert not np.array_equal(viewer.layers["a foreground"].data, kept)  # (the re-run's result is another)


def test_a_frame_rerun_leaves_a_kept_stack_alone_and_follows_the_inputs_contrast(viewer, open_widget, run_widget):
    """(A review's case, the frame-by-frame side of the two above.) A frame run collected into an earlier
    run's stack wrote into its array (a copy the user kept changed) and kept the limits of the input before."""
    stack = samples.moving_object_video(size=32, frames=3).data.mean(axis=-1)
    first = viewer.add_image((stack * 255).astype(np.uint8), name="movie", contrast_limits=(0, 255))
    widget = open_widget(SEG, iterations=3)
    widget.frames.value = "current frame"
    for t in (0, 1):
        viewer.dims.set_current_step(0, t)
        run_widget(widget)
    collected = viewer.layers["movie foreground"]
    assert collected.data.shape == (3, 32, 32) and tuple(collected.contrast_limits) == (0, 255)
    keep = viewer.add_image(collected.data, name="kept")
    kept = keep.data.copy()
    widget.seed.value = 3
    run_widget(widget)  # frame 1 again
    np.testing.assert_array_equal(keep.data, kept)
    assert not np.array_equal(viewer.layers["movie foreground"].data[1], kept[1])
    viewer.layers.remove(first)  # the same frames reopened as 0-1 floats
    second = viewer.add_image(stack.astype(np.float32), name="movie", contrast_limits=(0, 1))
    widget.pickers["image"].value = second
    run_widget(widget)
    np.testing.assert_allclose(viewer.layers["movie foreground"].contrast_limits, (0, 1))


def test_watermark_sample_runs_as_opened(viewer, open_widget, run_widget, errors):
    """The sample adds the image and its box; the widget picks the box up (a single image needs one), and the
    image that came with it, not another one opened before (napari makes the box active)."""
    viewer.open_sample("napari-doubledip", "hazy_image")
    viewer.open_sample("napari-doubledip", "watermarked")
    widget = open_widget("Watermark removal", iterations=3)
    box = widget.pickers["box"].value
    assert box is not None and box.name == viewer.layers[-1].name
    assert [la.name for la in widget.pickers["images"].value] == ["watermarked"]
    widget.pickers["box"].value = None
    assert widget.run() is None and "pick it as 'box'" in errors[-1] and "select several images" in errors[-1]
    viewer.add_image(samples.watermark_set(3, 32).data, name="stack")  # a frame of a stack: the stack mode
    widget.pickers["images"].value = [viewer.layers["stack"]]
    widget.pickers["box"].value = None
    assert widget.run() is None and "choose 'frames: all frames share the watermark'" in errors[-1]
    viewer.add_image(samples.watermark_set(3, 32).data[:1], name="one")  # one frame: that mode would refuse it
    widget.pickers["images"].value = [viewer.layers["one"]]
    widget.pickers["box"].value = None
    viewer.dims.set_point(0, 0)
    assert widget.run() is None
    assert "all frames share the watermark" not in errors[-1] and "select several" in errors[-1]
    widget.pickers["images"].value = [viewer.layers["watermarked"]]
    widget.pickers["box"].value = None
    viewer.add_shapes([np.array([[2, 2], [9, 9]])], shape_type="line", name="ruler")  # a measurement: no box
    assert widget.pickers["box"].value is None
    viewer.add_shapes(name="empty")  # an empty one (to draw in) is taken
    assert widget.pickers["box"].value.name == "empty"
    viewer.add_shapes([np.array([[2, 2], [2, 9], [9, 9], [9, 2]])], shape_type="rectangle", name="new box")
    assert widget.pickers["box"].value.name == "new box"  # a box drawn later is picked up too
    viewer.add_shapes([np.array([[2, 2], [2, 9], [9, 5]])], shape_type="polygon", name="notes")
    assert widget.pickers["box"].value.name == "new box"  # but an annotation does not replace a box


def test_an_output_renamed_with_brackets_is_the_users(viewer, open_widget, run_widget):
    """A name the user gave in brackets ("comp mask [v1]", to keep a result) was taken for napari's own
    de-duplicated "comp mask [1]", and the next run wrote into it."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=5)
    run_widget(widget)
    kept = viewer.layers["comp mask"]
    kept.name = "comp mask [v1]"
    before = kept.data.copy()
    widget.seed.value = 7
    run_widget(widget)
    assert kept.metadata["seed"] == 0 and np.array_equal(kept.data, before)
    assert viewer.layers["comp mask"].metadata["seed"] == 7


def test_pickers_stay_on_a_renamed_layer(viewer, open_widget):
    viewer.add_image(np.zeros((32, 32), np.float32), name="a")
    viewer.add_image(np.ones((32, 32), np.float32), name="b")
    scribbles = viewer.add_labels(np.zeros((32, 32), np.uint8), name="scribbles")
    widget = open_widget(SEG)
    widget.pickers["image"].value = viewer.layers["b"]
    widget.pickers["scribbles"].value = scribbles
    viewer.layers["b"].name = "b renamed"
    scribbles.name = "my scribbles"
    assert widget.pickers["image"].value.name == "b renamed"
    assert widget.pickers["scribbles"].value.name == "my scribbles"
    viewer.layers.remove(scribbles)
    assert widget.pickers["scribbles"].value is None
    several = open_widget(TRANS)
    several.pickers["mixtures"].value = [viewer.layers["a"], viewer.layers["b renamed"]]
    viewer.layers["a"].name = "a renamed"
    assert sorted(la.name for la in several.pickers["mixtures"].value) == ["a renamed", "b renamed"]
    # renamed to a name another layer has (napari makes it "b renamed [1]"): the list kept the selection by its
    # text, on the other layer, and a run took that one
    c = viewer.add_image(np.full((32, 32), 2.0, np.float32), name="c")
    several.pickers["mixtures"].value = [viewer.layers["a renamed"], c]
    c.name = "b renamed"
    assert sorted(la.name for la in several.pickers["mixtures"].value) == ["a renamed", "b renamed [1]"]


@pytest.mark.parametrize(
    ("sample", "title", "mode"),
    [
        ("moving_object_video", SEG, "whole stack (video)"),
        ("reflection_video", TRANS, "video: moving + static layer"),
    ],
)
def test_a_video_sample_starts_in_the_video_mode(viewer, open_widget, sample, title, mode):
    viewer.add_image(np.zeros((3, 16, 16), np.float32), name="plain stack")
    widget = open_widget(title)
    assert widget.frames.value == "current frame"
    viewer.open_sample("napari-doubledip", sample)
    widget.pickers[widget._primary.name].value = (
        [viewer.layers[-1]] if widget._primary.multiple else viewer.layers[-1]
    )
    assert widget.frames.value == mode
    plain = viewer.layers["plain stack"]
    widget.pickers[widget._primary.name].value = [plain] if widget._primary.multiple else plain
    assert widget.frames.value == "current frame"  # picking another stack gives the choice back
    video = viewer.layers[sample.replace("_", " ")]
    widget.pickers[widget._primary.name].value = [video] if widget._primary.multiple else video
    assert widget.frames.value == mode  # once per pick
    widget.frames.value = "current frame"  # the user's choice stands while the layer stays picked
    viewer.add_image(np.zeros((16, 16), np.float32), name="another")
    assert widget.frames.value == "current frame"


def test_a_video_samples_mode_is_given_back_when_it_is_removed_during_a_run(viewer, open_widget, qtbot):
    viewer.add_image(np.zeros((3, 16, 16), np.float32), name="plain stack")
    widget = open_widget(SEG, iterations=3000)
    viewer.open_sample("napari-doubledip", "moving_object_video")
    video = viewer.layers["moving object video"]
    widget.pickers["image"].value = video
    assert widget.frames.value == "whole stack (video)"
    worker = widget.run(start=False)
    worker.yielded.connect(
        lambda p: (viewer.layers.remove(video), widget.cancel()) if video in viewer.layers else None
    )
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.pickers["image"].value.name == "plain stack" and widget.frames.value == "current frame"


def test_outputs_under_a_replaced_input_of_several_are_lifted_over_it(viewer, open_widget, run_widget):
    viewer.open_sample("napari-doubledip", "watermark_set")
    widget = open_widget("Watermark removal", iterations=3)
    run_widget(widget)
    third = viewer.layers.pop(viewer.layers.index("watermarked 3"))
    viewer.add_image(third.data, name="watermarked 3", metadata=third.metadata)  # same name, on top
    widget.pickers["images"].value = [viewer.layers[f"watermarked {k}"] for k in (1, 2, 3)]
    run_widget(widget)
    order = names(viewer)
    assert order.index("watermarked 3 clean") == order.index("watermarked 3") + 1
    assert order.index("watermarked 2 clean") < order.index("watermarked 3")  # the others stay where they were


def test_results_the_user_put_under_their_input_stay_there_on_a_rerun(viewer, open_widget, run_widget):
    """Maps moved under the input (out of sight) went back over it at every re-run."""
    viewer.add_image(samples.hazy_image(32).data, name="A", rgb=True)
    widget = open_widget("Dehazing", iterations=3)
    run_widget(widget)
    for part in ("transmission", "airlight"):
        viewer.layers.move(viewer.layers.index(f"A {part}"), 0)
    order = names(viewer)
    assert order.index("A transmission") < order.index("A")
    run_widget(widget)
    assert names(viewer) == order


def test_a_samples_box_is_not_paired_with_another_image(viewer, open_widget):
    viewer.add_image(samples.hazy_image(64).data, name="hazy image")  # the user's own image
    widget = open_widget("Watermark removal", iterations=3)
    viewer.open_sample("napari-doubledip", "watermarked")  # the picker stays on the user's image
    assert [la.name for la in widget.pickers["images"].value] == ["hazy image"]
    assert widget.pickers["box"].value is None
    viewer.add_shapes([np.array([[2, 2], [2, 9], [9, 9], [9, 2]])], shape_type="rectangle", name="mine")
    assert widget.pickers["box"].value.name == "mine"  # a box the user adds is still picked up


def test_a_samples_box_goes_with_its_image_when_a_panel_opens(viewer, open_widget, run_widget):
    """A panel opened after the watermarked sample and then another image: the sample's box was preselected for
    the user's image (a run then removed 'a watermark' inside the sample's box of someone else's photo); it goes
    only with its own image, and is dropped when the user picks another image instead of it. A panel opened
    with the sample's box active starts at its image, as the several-image pickers did."""
    viewer.open_sample("napari-doubledip", "watermarked")
    viewer.add_image(samples.hazy_image(64).data, name="my photo")  # the user's own image, now active
    widget = open_widget("Watermark removal", iterations=3)
    assert [la.name for la in widget.pickers["images"].value] == ["my photo"]
    assert widget.pickers["box"].value is None
    widget.pickers["images"].value = [viewer.layers["watermarked"]]
    assert widget.pickers["box"].value is None  # (the box is the user's to pick now; it was not preselected)
    widget.pickers["box"].value = viewer.layers["watermark box"]
    run_widget(widget)  # a second pass on the sample's result keeps its box
    widget.pickers["images"].value = [viewer.layers["watermarked clean"]]
    assert widget.pickers["box"].value.name == "watermark box"
    widget.pickers["images"].value = [viewer.layers["my photo"], viewer.layers["watermarked"]]
    assert widget.pickers["box"].value.name == "watermark box"
    widget.pickers["images"].value = [viewer.layers["my photo"]]  # (the sample left out of the pick)
    assert widget.pickers["box"].value is None
    mine = viewer.add_shapes([np.array([[2, 2], [2, 9], [9, 9], [9, 2]])], shape_type="rectangle", name="mine")
    assert widget.pickers["box"].value.name == "mine"  # the user's own box is taken up
    widget.pickers["images"].value = [viewer.layers["watermarked"]]
    assert widget.pickers["box"].value.name == mine.name  # (and kept: it is nobody's sample)
    viewer.layers.selection.active = viewer.layers["watermark box"]
    for title in (SEG, "Dehazing"):  # the box active: its image
        assert open_widget(title).pickers["image"].value.name == "watermarked"
    viewer.add_image(samples.hazy_image(64).data, name="my photo 2")
    widget.pickers["images"].value = [viewer.layers["my photo"], viewer.layers["my photo 2"]]
    widget.pickers["box"].value = viewer.layers["watermark box"]  # (picked on purpose, for the user's images)
    viewer.layers.move(viewer.layers.index("my photo 2"), 0)  # the same inputs, reordered: it stays
    assert widget.pickers["box"].value.name == "watermark box"


def test_the_nuclei_sample_starts_with_intensity_hints(viewer, open_widget):
    viewer.add_image(np.zeros((16, 16), np.float32), name="plain")
    widget = open_widget(SEG)
    assert widget.task_options["automatic"].value == "saliency (one object)"
    viewer.open_sample("napari-doubledip", "blob_field")
    widget.pickers["image"].value = viewer.layers["nuclei"]
    assert viewer.layers["nuclei"].data.dtype == np.uint16
    assert widget.task_options["automatic"].value == "intensity (many objects)"
    viewer.add_image(np.zeros((16, 16), np.float32), name="another")  # picking another layer undoes the preset
    widget.pickers["image"].value = viewer.layers["another"]
    assert widget.task_options["automatic"].value == "saliency (one object)"
    widget.pickers["image"].value = viewer.layers["nuclei"]
    assert widget.task_options["automatic"].value == "intensity (many objects)"
    widget.task_options["automatic"].value = "saliency (one object)"  # the user's choice stands while picked
    viewer.add_image(np.zeros((16, 16), np.float32), name="third")
    assert widget.task_options["automatic"].value == "saliency (one object)"
    # the preset's value chosen by the user is the user's: it stays on another layer, as a reopened panel has it
    widget.pickers["image"].value = viewer.layers["nuclei"]
    widget.task_options["automatic"].value = "intensity (many objects)"
    widget.pickers["image"].value = viewer.layers["another"]
    assert widget.task_options["automatic"].value == "intensity (many objects)"


def test_a_panel_open_on_a_sample_moves_to_the_next_sample_opened(viewer, open_widget):
    """Trying the samples with a panel open: the newly opened sample (on top, active) becomes the input, with
    its box, its video mode and its preset options; the old sample's box is dropped. The user's own data is
    never left for a sample."""
    seg = open_widget(SEG)
    viewer.open_sample("napari-doubledip", "texture_composite")
    assert seg.pickers["image"].value.name == "texture composite"
    viewer.open_sample("napari-doubledip", "blob_field")
    assert seg.pickers["image"].value.name == "nuclei"
    assert seg.task_options["automatic"].value == "intensity (many objects)"
    viewer.open_sample("napari-doubledip", "moving_object_video")
    assert seg.pickers["image"].value.name == "moving object video" and "video" in str(seg.frames.value)
    assert seg.task_options["automatic"].value == "saliency (one object)"
    wm = open_widget("Watermark removal")
    viewer.open_sample("napari-doubledip", "watermarked")
    assert [la.name for la in wm.pickers["images"].value] == ["watermarked"]
    assert wm.pickers["box"].value.name == "watermark box"
    # the segmentation panel follows too, without the watermark's box (it marks the mark, not an object: a
    # run segmented inside it only)
    assert seg.pickers["image"].value.name == "watermarked" and seg.pickers["box"].value is None
    viewer.open_sample("napari-doubledip", "watermark_set")
    assert [la.name for la in wm.pickers["images"].value] == [f"watermarked {i}" for i in (1, 2, 3)]
    assert wm.pickers["box"].value is None
    viewer.open_sample("napari-doubledip", "watermarked")  # (a second opening: its layers get napari's " [1]")
    assert [la.name for la in wm.pickers["images"].value] == ["watermarked [1]"]
    assert wm.pickers["box"].value.name == "watermark box [1]"
    # the user's own image stays picked whatever sample is opened next
    viewer.add_image(np.zeros((32, 32), np.float32), name="mine")
    seg.pickers["image"].value = viewer.layers["mine"]
    viewer.open_sample("napari-doubledip", "hazy_image")
    assert seg.pickers["image"].value.name == "mine"


def test_a_shapes_layer_added_next_to_several_images_is_not_a_box(viewer, open_widget, errors):
    viewer.open_sample("napari-doubledip", "watermark_set")
    widget = open_widget("Watermark removal", iterations=3)
    assert len(widget.pickers["images"].value) == 3 and widget.pickers["box"].value is None
    rect = np.array([[2, 2], [2, 20], [20, 20], [20, 2]], float)
    viewer.add_shapes([rect], shape_type="rectangle", name="notes")
    assert widget.pickers["box"].value is None


def test_a_shapes_layer_added_for_segmentation_becomes_its_box_once_drawn_in(
    viewer, open_widget, run_widget, errors
):
    """napari's "new shapes" button is how one starts drawing a box: the new layer is the box; until a rectangle
    is drawn in it, the run uses the automatic hints (not an error)."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    viewer.add_shapes([np.array([[40, 40], [40, 60], [60, 60], [60, 40]], float)], name="rois elsewhere")
    widget = open_widget(SEG, iterations=3)
    assert widget.pickers["box"].value is None  # an existing Shapes layer may annotate something else
    boxes = viewer.add_shapes(name="Shapes")
    assert widget.pickers["box"].value.name == "Shapes"
    run_widget(widget)
    params = viewer.layers["comp mask"].metadata["params"]
    assert not errors and params["hints"] == "auto" and "box" not in params
    boxes.add_rectangles(np.array([[4, 4], [28, 28]], float))
    run_widget(widget)
    assert not errors and viewer.layers["comp mask"].metadata["params"]["box"] == [4, 4, 29, 29]


def test_single_image_picker_starts_at_the_active_layer(viewer, open_widget):
    viewer.add_image(np.zeros((16, 16), np.float32), name="a")
    viewer.add_image(np.ones((16, 16), np.float32), name="b")
    viewer.layers.selection.active = viewer.layers["b"]
    widget = open_widget(SEG)
    assert widget.pickers["image"].value.name == "b"


def test_results_go_where_they_were_read_when_the_input_is_trimmed_during_the_run(
    viewer, open_widget, run_widget, qtbot, errors
):
    """The input's frames are cut during a run on its last frame (a live acquisition trimmed, a crop): the
    result lands at the frame it was read from, in a stack shaped as it was read (it raised an IndexError and
    lost the run), and an earlier frame's result is kept with it."""
    g = samples.texture_composite(32, rgb=False).data
    layer = viewer.add_image(np.stack([g, g[::-1], g[:, ::-1]]), name="movie")
    widget = open_widget(SEG)
    viewer.dims.set_current_step(0, 0)
    run_widget(widget)
    first = viewer.layers["movie mask"].data.copy()
    viewer.dims.set_current_step(0, 2)
    widget.iterations.value = 30
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: setattr(layer, "data", layer.data[:2]) if layer.data.shape[0] == 3 else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert not errors, errors
    mask = viewer.layers["movie mask"]
    assert mask.data.shape == (3, 32, 32) and mask.metadata["frames"] == [[0], [2]]
    np.testing.assert_array_equal(mask.data[0], first[0])
    assert mask.data[2].any()


def test_each_viewer_remembers_its_own_run_for_the_next_widget(make_napari_viewer_proxy, run_widget):
    """With two viewers, a widget opened after runs in both starts at the input in each (only the viewer whose
    run ended last did: the other started at an output)."""
    viewers = [make_napari_viewer_proxy(), make_napari_viewer_proxy()]
    for v in viewers:
        v.add_image(samples.texture_composite(24).data, name="im", rgb=True)
        _dock, widget = v.window.add_plugin_dock_widget("napari-doubledip", SEG)
        widget.iterations.value, widget.max_size.value = 2, 16
        run_widget(widget)
        assert v.layers.selection.active.name.startswith("im ")
    for v in viewers:
        _dock, dehazing = v.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
        assert dehazing.pickers["image"].value.name == "im"


def test_after_a_run_the_next_widget_starts_at_its_input_not_an_output(viewer, open_widget, run_widget):
    """napari makes the last layer added active: after a run, an output. A widget opened then starts at the
    input that run read (the user's image); an output the user makes active is their choice."""
    viewer.add_image(samples.texture_composite(24).data, name="cells", rgb=True)
    viewer.add_image(np.zeros((24, 24), np.float32), name="other")
    viewer.layers.selection.active = viewer.layers["cells"]
    run_widget(open_widget(SEG, iterations=2))
    assert viewer.layers.selection.active.name.startswith("cells ")  # (an output is active)
    dehazing = open_widget("Dehazing", iterations=2)
    assert dehazing.pickers["image"].value.name == "cells"
    assert [v.name for v in open_widget(TRANS).pickers["mixtures"].value] == ["cells"]
    # the user clicks an output: that is where the next widget starts
    viewer.layers.selection.active = viewer.layers["cells background"]
    viewer.layers.selection.active = viewer.layers["cells foreground"]
    widget = open_widget("Watermark removal")
    assert [v.name for v in widget.pickers["images"].value] == ["cells foreground"]
    # a run on an output: its own output redirects to it (the input of that run), not further back
    dehazing.pickers["image"].value = viewer.layers["cells foreground"]
    run_widget(dehazing)
    assert viewer.layers.selection.active.name.startswith("cells foreground ")
    assert dehazing._starting_layer().name == "cells foreground"


@pytest.mark.parametrize("selected", [("b",), ("a", "c")])
def test_multi_picker_starts_at_the_layers_selected_in_the_list(viewer, open_widget, selected):
    """One layer selected: the active one; several: those, in list order (as napari's own multi-layer commands)."""
    for name in ("a", "b", "c"):
        viewer.add_image(np.zeros((16, 16), np.float32), name=name)
    viewer.layers.selection.active = viewer.layers[selected[-1]]  # (selects that one only)
    viewer.layers.selection.update({viewer.layers[n] for n in selected})  # Ctrl-click the others
    widget = open_widget(TRANS)
    assert [v.name for v in widget.pickers["mixtures"].value] == list(selected)


def test_strokes_on_a_live_preview_mask_are_said_to_be_replaced(viewer, open_widget, qtbot, infos):
    """A stroke painted on this run's preview mask was overwritten by its next preview without a word."""
    viewer.add_image(samples.texture_composite(32).data, name="comp", rgb=True)
    widget = open_widget(SEG, iterations=40)
    widget.preview_every.value = 1
    worker = widget.run(start=False)
    painted = []

    def on_progress(p):
        if not painted and "comp mask" in viewer.layers:
            mask = viewer.layers["comp mask"]
            mask.paint((16, 16), 2, refresh=True)
            painted.append(bool(mask.metadata.get("painted")))

    worker.yielded.connect(on_progress)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert painted == [True]
    said = [m for m in infos if "'comp mask' was painted on during the run" in m]
    assert len(said) == 1 and not [m for m in infos if "since its run" in m], infos


def test_undo_on_a_mask_does_not_reach_behind_a_rerun(viewer, open_widget, run_widget, infos):
    """A stroke painted on a run's mask is undoable until the next run writes the mask; after it, Ctrl+Z must
    not paste the last run's pixels into the new result (napari keeps a Labels history across new data)."""
    viewer.add_image(samples.texture_composite(32).data, name="comp", rgb=True)
    widget = open_widget(SEG, iterations=2)
    run_widget(widget)
    mask = viewer.layers["comp mask"]
    assert isinstance(mask, napari.layers.Labels)
    mask.selected_label, mask.brush_size = 2, 40
    before = np.array(mask.data, copy=True)
    mask.paint((16, 16), 2, refresh=True)
    assert (mask.data != before).any()
    mask.undo()  # (undo works on the user's own stroke)
    np.testing.assert_array_equal(mask.data, before)
    mask.paint((16, 16), 2, refresh=True)
    mask.mode = "paint"
    widget.seed.value = 1
    assert not [m for m in infos if "painted on" in m]
    run_widget(widget)
    # the strokes it replaces are named (a QA run lost a round of corrections fed back in turn, without a word)
    assert [m for m in infos if "'comp mask' was painted on since its run" in m], infos
    assert mask.mode == "paint" and mask.editable  # (the user goes on painting)
    assert viewer.layers["comp mask"].data is mask.data  # (the same layer, updated)
    new = np.array(mask.data, copy=True)
    mask.undo()
    np.testing.assert_array_equal(mask.data, new)
    widget.seed.value = 2  # a run over a mask not painted since: no note
    said = len(infos)
    run_widget(widget)
    assert not [m for m in infos[said:] if "painted on" in m], infos


def _cancel_after_a_preview(widget, qtbot, mask):
    """Re-run, and Cancel once a live preview has been written into ``mask``."""
    widget.iterations.value, widget.preview_every.value, widget.seed.value = 3000, 1, 7
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if mask.metadata.get("preview") else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.status.value == "Cancelled."


@pytest.mark.parametrize("stack", [False, True])
def test_a_cancelled_rerun_keeps_the_masks_undo(viewer, open_widget, run_widget, qtbot, stack):
    """Cancel gives a mask back as it was before Run, its undo history included: a stroke painted on the last
    result stays undoable (the previews cleared the history, and the rollback did not give it back), also on
    a whole-stack mask that a cancelled current-frame run wrote another frame of."""
    if stack:
        viewer.add_image(samples.moving_object_video(size=32, frames=4).data.mean(axis=-1), name="t")
        widget = open_widget(SEG, iterations=3)
        widget.frames.value = "whole stack (video)"
    else:
        viewer.add_image(samples.texture_composite(32).data, name="t", rgb=True)
        widget = open_widget(SEG, iterations=3)
    run_widget(widget)
    mask = viewer.layers["t mask"]
    before = np.array(mask.data, copy=True)
    mask.selected_label, mask.brush_size = 2, 6
    mask.paint((0, 16, 16) if stack else (16, 16), 2, refresh=True)  # (a stroke on frame 0 of a stack)
    painted = np.array(mask.data, copy=True)
    assert (painted != before).any()
    if stack:
        widget.frames.value = "current frame"
        viewer.dims.set_current_step(0, 3)
    _cancel_after_a_preview(widget, qtbot, mask)
    np.testing.assert_array_equal(mask.data, painted)
    mask.undo()
    np.testing.assert_array_equal(mask.data, before)
    mask.redo()
    np.testing.assert_array_equal(mask.data, painted)


def test_strokes_on_other_frames_of_a_stack_mask_are_not_said_replaced(viewer, open_widget, run_widget, infos):
    """A frame run written into a whole-stack mask replaces that frame only: strokes painted on another frame
    are kept, and not said to be replaced (until a run writes their frame)."""
    viewer.add_image(samples.moving_object_video(size=32, frames=4).data.mean(axis=-1), name="t")
    widget = open_widget(SEG, iterations=3)
    widget.frames.value = "whole stack (video)"
    run_widget(widget)
    mask = viewer.layers["t mask"]
    mask.selected_label, mask.brush_size = 2, 6
    mask.paint((0, 16, 16), 2, refresh=True)  # a stroke on frame 0
    stroke = np.array(mask.data[0], copy=True)
    assert mask.metadata["painted"] == [[0]]
    widget.frames.value = "current frame"
    viewer.dims.set_current_step(0, 3)
    run_widget(widget)
    assert not [m for m in infos if "painted on" in m], infos
    np.testing.assert_array_equal(mask.data[0], stroke)
    assert viewer.layers["t mask"].metadata["painted"] == [[0]]
    viewer.dims.set_current_step(0, 0)
    run_widget(widget)
    assert [m for m in infos if "'t mask' was painted on since its run" in m], infos
    assert "painted" not in viewer.layers["t mask"].metadata


def test_the_stack_options_follow_new_data_in_the_input(viewer, open_widget):
    """A layer whose data becomes a stack (a script replacing ``layer.data``) shows the frames choice at once,
    and the sequence axis once it has two leading axes; back to 2D, they hide again."""
    layer = viewer.add_image(np.zeros((40, 40), np.float32), name="img")
    widget = open_widget(SEG)
    assert widget.frames.native.isHidden()
    layer.data = np.zeros((4, 40, 40), np.float32)
    assert not widget.frames.native.isHidden() and widget.sequence_axis.native.isHidden()
    widget.frames.value = "whole stack (video)"
    layer.data = np.zeros((2, 4, 40, 40), np.float32)
    assert not widget.sequence_axis.native.isHidden() and len(widget.sequence_axis.choices) == 2
    layer.data = np.zeros((40, 40), np.float32)
    assert widget.frames.native.isHidden() and widget.sequence_axis.native.isHidden()


def test_new_data_during_a_run_updates_the_stack_options_when_it_ends(viewer, open_widget, qtbot):
    layer = viewer.add_image(samples.texture_composite(32, rgb=False).data, name="img")
    widget = open_widget(SEG, iterations=10)
    widget.preview_every.value = 2
    worker = widget.run(start=False)
    changed = []

    def on_progress(_p):
        if not changed:  # (a script replacing the data while the run computes)
            changed.append(True)
            layer.data = np.zeros((4, 32, 32), np.float32)
            assert widget.frames.native.isHidden()  # (the run's choices stay as they were read)

    worker.yielded.connect(on_progress)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert changed and widget.worker is None
    assert not widget.frames.native.isHidden()


def test_a_box_or_scribbles_made_before_the_panel_opened_are_said_unused(viewer, open_widget, infos):
    """A rectangle drawn first is not picked by itself (it may annotate something else): Run says so; so it
    does of a Labels layer of scribbles (1 and 2) painted first (ignored without a word), not of a segmentation
    of many labels."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    marks = np.zeros((32, 32), np.uint8)
    marks[10, 5:25], marks[2, 2:8] = 1, 2
    viewer.add_labels(marks, name="my scribbles")
    viewer.add_labels(np.arange(32 * 32, dtype=np.int32).reshape(32, 32) % 7, name="nuclei")
    viewer.add_shapes([np.array([[4, 4], [28, 28]])], shape_type="rectangle", name="my box")
    viewer.add_shapes([np.array([[2, 2], [2, 30]])], shape_type="line", name="scale bar")  # no region
    samples_box = viewer.add_shapes([np.array([[1, 1], [9, 9]])], shape_type="rectangle", name="sample box")
    samples_box.metadata["doubledip sample"] = "another opening"  # (a bundled sample's box: another image's)
    widget = open_widget(SEG, iterations=1)
    widget.pickers["image"].value = viewer.layers["comp"]
    assert widget.pickers["box"].value is None and widget.pickers["scribbles"].value is None
    worker = widget.run(start=False)
    assert worker is not None
    said = sorted(m for m in infos if "is not used" in m)
    assert len(said) == 2 and "box is none, so 'my box' is not used; pick it under 'box'" in said[0]
    assert "scribbles is none, so 'my scribbles' is not used; pick it under 'scribbles'" in said[1]
    widget._tell_unpicked_shapes()  # (what the next Run does) said once for a layer
    assert len([m for m in infos if "is not used" in m]) == 2
    widget.cancel()


def test_library_warnings_name_the_panels_fields(viewer, open_widget, run_widget, warnings_shown):
    """A tiny box told a panel's user to "raise max_size", an argument the panel does not have."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    # (a box a larger working size helps: one of 3 px, too small at 32 px too, is no longer told to raise it)
    viewer.add_shapes([np.array([[10, 10], [13, 13]])], shape_type="rectangle", name="tiny")
    widget = open_widget(SEG, iterations=2)
    widget.pickers["box"].value = viewer.layers["tiny"]
    widget.max_size.value = 16
    run_widget(widget)
    said = [m for m in warnings_shown if "too small to find the object" in m]
    assert said and "raise the working size" in said[0] and "max_size" not in said[0], warnings_shown


def test_the_sequence_axis_skips_a_single_frame_axis_and_is_remembered_per_layer(viewer, open_widget, errors):
    """A (1, Z, Y, X) file (T = 1) starts at the Z axis; an axis chosen for a layer comes back with it."""
    viewer.add_image(np.zeros((1, 3, 16, 16), np.float32), name="tzyx")
    widget = open_widget(SEG)
    widget.frames.value = widget.frames.choices[-1]
    assert widget.sequence_axis.value == 1
    viewer.add_image(np.zeros((4, 3, 16, 16), np.float32), name="other")
    widget.pickers["image"].value = viewer.layers["other"]
    assert widget.sequence_axis.value == 1  # (its axis 1 has frames: kept)
    widget.sequence_axis.value = 0
    viewer.add_image(np.zeros((5, 16, 16), np.float32), name="movie")
    widget.pickers["image"].value = viewer.layers["movie"]
    widget.pickers["image"].value = viewer.layers["other"]
    assert widget.sequence_axis.value == 0  # the user's choice for it
    widget.pickers["image"].value = viewer.layers["tzyx"]
    assert widget.sequence_axis.value == 1
    widget.sequence_axis.value = 0  # chosen all the same: the message names the axis that has frames
    assert widget.run() is None
    assert "choose sequence axis 1, or 'current frame'" in errors[-1]


def test_sequence_axis_choices_name_axes_plainly(viewer, open_widget):
    viewer.add_image(np.zeros((2, 3, 16, 16), np.float32), name="zt", axis_labels=("z", "t", "y", "x"))
    widget = open_widget(SEG)
    assert widget.sequence_axis.native.itemText(1) == "axis 1 (t)"
    viewer.add_image(np.zeros((2, 3, 16, 16), np.float32), name="plain")
    widget.pickers["image"].value = viewer.layers["plain"]
    assert widget.sequence_axis.native.itemText(0) == "axis 0"


def test_scribbles_in_another_pixel_grid_are_read_through_the_world(viewer, open_widget, warnings_shown):
    """A 2D Labels layer in another pixel grid (scale, rotation, affine) is read at the image's pixel centres as
    napari shows it (checked pixel by pixel through both layers' transforms); a stack of scribbles in another
    grid is still paired by index, and flagged."""
    from napari_doubledip._widgets._layers import resample_labels

    rng = np.random.default_rng(0)
    img = viewer.add_image(rng.random((16, 16)).astype(np.float32), name="img", scale=(2.0, 2.0))
    lab = viewer.add_labels(rng.integers(0, 3, (20, 18)).astype(np.uint8), name="scribbles")

    def brute():  # what napari shows at 2 x 2 points over each image pixel (2 labels pixels a side): the first
        out = np.zeros((16, 16), np.uint8)  # nonzero, row by row
        for y in range(16):
            for x in range(16):
                for oy, ox in ((-0.25, -0.25), (-0.25, 0.25), (0.25, -0.25), (0.25, 0.25)):
                    at = (y + oy + 1e-3, x + ox + 1e-3)  # (nudged off the labels pixels' edges)
                    q = np.rint(lab.world_to_data(img.data_to_world(at))).astype(int)
                    if 0 <= q[0] < 20 and 0 <= q[1] < 18 and lab.data[q[0], q[1]]:
                        out[y, x] = lab.data[q[0], q[1]]
                        break
        return out

    widget = open_widget(SEG)
    widget.pickers["scribbles"].value = lab
    seen = []
    for change in (
        lambda: None,
        lambda: setattr(img, "rotate", 90),  # turned: the pixels no longer meet
        lambda: setattr(lab, "translate", (3.0, -2.0)),
        lambda: setattr(lab, "rotate", 90),
        lambda: setattr(lab, "affine", np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])),
    ):
        change()
        expected = brute()
        np.testing.assert_array_equal(resample_labels(lab, img), expected)
        hints = _hints(widget)
        if expected.any():
            seen.append(change)
            np.testing.assert_array_equal(hints, expected)
        else:  # (the layer is nowhere over the image: nothing marked, automatic hints)
            assert isinstance(hints, str)
    assert len(seen) >= 3 and not [m for m in warnings_shown if "not aligned" in m]
    viewer.layers.clear()
    viewer.add_image(np.zeros((2, 16, 16), np.float32), name="stack", scale=(1.0, 2.0, 2.0))
    viewer.add_labels(np.zeros((2, 16, 16), np.uint8), name="per frame")
    widget.pickers["image"].value = viewer.layers["stack"]
    widget.pickers["scribbles"].value = viewer.layers["per frame"]
    widget._prepare()
    assert len([m for m in warnings_shown if "not aligned" in m]) == 1


@pytest.mark.parametrize("axis", [0, 1])
def test_a_whole_stack_mask_of_a_4d_stack_corrects_the_next_run(viewer, open_widget, run_widget, warnings_shown,
                                                                   axis):
    """A (T, Z, Y, X) stack's whole-sequence mask sits on the slice it came from (length 1 on the other leading
    axis); picked as scribbles for the same run it is read there, without an alignment warning."""
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((3, 4, 24, 24)).astype(np.float32), name="tz")
    viewer.dims.set_current_step(0, 1)
    viewer.dims.set_current_step(1, 2)
    widget = open_widget(SEG, iterations=3)
    widget.frames.value = "whole stack (video)"
    widget.sequence_axis.value = axis
    run_widget(widget)
    mask = viewer.layers["tz mask"]
    assert mask.data.shape == ((3, 1) if axis == 0 else (1, 4)) + (24, 24)
    mask.data = np.zeros_like(mask.data)
    sel = (slice(None), 0) if axis == 0 else (0, slice(None))
    mask.data[sel + (slice(2, 12), slice(None))] = 1  # painted: a foreground band on every frame
    widget.pickers["scribbles"].value = mask
    hints = _hints(widget)  # (a mask's hints: its regions' cores, 1 and 2)
    assert hints.shape == (mask.data.shape[axis], 24, 24)
    assert (hints[:, 5:9] == 1).all() and (hints[:, 16:] == 2).all()
    assert not [m for m in warnings_shown if "not aligned" in m]
    viewer.dims.set_current_step(1 - axis, 0)  # a slice the mask does not cover: napari shows none of it there
    with pytest.raises(ValueError, match="no frame at the current slider position"):
        widget._prepare()


def test_scribbles_with_more_frames_than_the_image_are_not_called_misaligned(viewer, open_widget,
                                                                            warnings_shown):
    """Labels of 5 frames over a 3-frame image, same scale and translate: paired by index, as napari shows
    them; a review saw the "not aligned (different scale, translate, ...)" warning, though nothing differed."""
    viewer.add_image(np.random.default_rng(1).random((3, 24, 24)).astype(np.float32), name="s")
    labels = np.zeros((5, 24, 24), np.uint8)
    labels[:, 4:8, 4:8] = 1
    widget = open_widget(SEG, iterations=3)
    widget.pickers["scribbles"].value = viewer.add_labels(labels, name="strokes")
    viewer.dims.set_current_step(0, 1)
    hints = _hints(widget)
    assert hints.shape == (24, 24) and (hints[4:8, 4:8] == 1).all()
    widget.frames.value = "whole stack (video)"
    assert _hints(widget).shape == (3, 24, 24)
    assert not [m for m in warnings_shown if "not aligned" in m]


def test_a_frame_mask_given_back_is_aligned_and_a_shifted_one_is_not(viewer, open_widget, run_widget,
                                                                     warnings_shown):
    """A current-frame run's mask on a stack is placed on its frame (translate along T): picked as scribbles it is
    aligned with the image; moved by part of a frame it is flagged, past the stack's end refused."""
    viewer.add_image(np.random.default_rng(1).random((4, 24, 24)).astype(np.float32), name="s")
    viewer.dims.set_current_step(0, 2)
    widget = open_widget(SEG, iterations=3)
    run_widget(widget)
    mask = viewer.layers["s mask"]
    assert mask.data.shape == (1, 24, 24) and tuple(mask.translate) == (2, 0, 0)
    widget.pickers["scribbles"].value = mask
    widget._prepare()
    assert not [m for m in warnings_shown if "not aligned" in m]
    mask.translate = (2.5, 0, 0)  # between two frames
    widget._prepare()
    assert len([m for m in warnings_shown if "not aligned" in m]) == 1
    mask.translate = (4, 0, 0)  # past the image's last frame (and not at the slider)
    assert widget.run() is None and "no frame at the current slider position" in widget.status.value
    assert "(1 frame(s), at 4 on that axis; the slider is at 2)" in widget.status.value


def test_scribbles_placed_differently_are_read_where_napari_shows_them(viewer, open_widget, warnings_shown):
    """A 2D Labels layer with another translate or scale than the image (File > New Layer > Labels over layers of
    other extents makes one) was paired with the image by index (a stroke shown over pixels 14-17 hinted
    pixels 4-7), or refused for another shape; it is read at the image's pixel centres, as napari shows it."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    shifted = np.zeros((32, 32), np.uint8)
    shifted[4:8, 4:8] = 1
    viewer.add_labels(shifted, name="shifted", translate=(10, 10))
    fine = np.zeros((64, 64), np.uint8)
    fine[8:16, 8:16], fine[40:48, 2:6] = 1, 2
    viewer.add_labels(fine, name="fine", scale=(0.5, 0.5), translate=(-0.25, -0.25))  # 2x2 per image pixel
    widget = open_widget(SEG, iterations=3)
    widget.pickers["scribbles"].value = viewer.layers["shifted"]
    hints = _hints(widget)
    expected = np.zeros((32, 32), np.uint8)
    expected[14:18, 14:18] = 1
    np.testing.assert_array_equal(hints, expected)
    widget.pickers["scribbles"].value = viewer.layers["fine"]
    hints = _hints(widget)
    expected = np.zeros((32, 32), np.uint8)
    expected[4:8, 4:8], expected[20:24, 1:3] = 1, 2
    np.testing.assert_array_equal(hints, expected)
    fine[:] = 0
    fine[31, 10:50] = 2  # one fine row (an odd one: between image pixel centres)
    viewer.layers["fine"].data = fine
    hints = _hints(widget)
    assert (hints[15, 5:25] == 2).all() and (hints == 2).sum() == 20
    # aligned, but larger (New Labels over this image and a larger one): its top-left part
    wide = np.zeros((64, 64), np.uint8)
    wide[2:5, 3:9] = 1
    viewer.add_labels(wide, name="wide")
    widget.pickers["scribbles"].value = viewer.layers["wide"]
    np.testing.assert_array_equal(_hints(widget), wide[:32, :32])
    assert not [m for m in warnings_shown if "not aligned" in m or "marks nothing" in m]
    viewer.layers["wide"].translate = (40, 0)  # its marks now lie below the image: said, not silently dropped
    widget._prepare()
    assert [m for m in warnings_shown if "marks nothing where napari shows it" in m]


def test_a_box_from_a_shapes_layer_with_more_axes_is_the_shown_plane(viewer, open_widget):
    """napari's new Shapes layer takes the viewer's axes while a stack is open; over a 2D image each shape shows
    on its own plane only, yet every one joined the box (rows 4-30 where rows 4-12 were shown)."""
    from napari_doubledip.tasks.watermark import box_mask

    viewer.add_image(np.zeros((5, 32, 32), np.float32), name="stack")
    img = viewer.add_image(samples.texture_composite(32).data, name="comp")
    shapes = viewer.add_shapes(ndim=3, name="box")
    shapes.add_rectangles(np.array([[0, 4, 4], [0, 4, 12], [0, 12, 12], [0, 12, 4]], float))
    shapes.add_rectangles(np.array([[3, 20, 20], [3, 20, 30], [3, 30, 30], [3, 30, 20]], float))
    widget = open_widget(SEG, iterations=3)
    widget.pickers["image"].value = img
    widget.pickers["box"].value = shapes
    for t, (lo, hi) in ((0, (4, 12)), (3, (20, 30))):
        viewer.dims.set_point(0, t)
        box = box_mask(widget._prepare().kwargs["box"], (32, 32), whole=True, task="segment")
        ys, xs = np.nonzero(box)
        assert (ys.min(), ys.max(), xs.min(), xs.max()) == (lo, hi, lo, hi)


def test_a_whole_stack_run_beyond_another_axis_planes_is_refused(viewer, open_widget):
    """A whole-stack run along T of a (T, Z, Y, X) layer while the Z slider is beyond the layer's Z planes
    (napari shows nothing of it there) ran on its last Z plane and placed the result there; a current-frame run
    refused the same position."""
    vol = viewer.add_image(np.random.default_rng(0).random((3, 2, 16, 16)).astype(np.float32), name="vol")
    viewer.add_image(np.zeros((3, 6, 16, 16), np.float32), name="other")  # the world's Z spans 0..5
    widget = open_widget(SEG, iterations=3)
    widget.pickers["image"].value = vol
    widget.frames.value = next(c for c in widget.frames.choices if "video" in str(c))
    widget.sequence_axis.value = 0
    viewer.dims.set_point(1, 1)
    assert widget._prepare().frame == (None, 1)
    viewer.dims.set_point(1, 5)
    with pytest.raises(ValueError, match="no frame at the current slider position"):
        widget._prepare()


def test_a_frame_mask_corrected_hints_its_frame_of_a_whole_stack_run(viewer, open_widget, run_widget):
    """A current-frame run's mask (one frame, translated to it), corrected and picked as scribbles for the whole
    stack, hints the frame it sits on; the other frames get none from it (automatic hints fill in)."""
    video = samples.moving_object_video(size=32, frames=4)
    viewer.add_image(video.data.mean(axis=-1), name="t")
    viewer.dims.set_current_step(0, 2)
    widget = open_widget(SEG, iterations=3)
    run_widget(widget)
    mask = viewer.layers["t mask"]
    assert mask.data.shape == (1, 32, 32) and tuple(mask.translate) == (2, 0, 0)
    corrected = np.zeros_like(mask.data)
    corrected[..., 10:22, 10:22] = 1
    mask.data = corrected
    widget.pickers["scribbles"].value = mask
    widget.frames.value = "whole stack (video)"
    hints = _hints(widget)
    assert hints.shape == (4, 32, 32)
    assert (hints[2, 12:20, 12:20] == 1).all() and (hints[2, :6] == 2).all()  # the mask's core and outside
    assert not hints[[0, 1, 3]].any()
    run_widget(widget)
    assert viewer.layers["t mask (segmentation)"].data.shape == (4, 32, 32)
    mask.translate = (2.5, 0, 0)  # between two frames: not read as any one of them
    with pytest.raises(ValueError, match=r"has shape \(1, 32, 32\); for the whole stack"):
        widget._prepare()


def test_mixtures_placed_differently_are_flagged(viewer, open_widget, warnings_shown):
    viewer.add_image(np.zeros((16, 16), np.float32), name="a", scale=(2.0, 2.0))
    viewer.add_image(np.ones((16, 16), np.float32), name="b", scale=(2.0, 2.0))
    widget = open_widget("Transparency")
    widget.pickers["mixtures"].value = [viewer.layers["a"], viewer.layers["b"]]
    widget._prepare()
    assert not [m for m in warnings_shown if "not placed like" in m]
    viewer.layers["b"].translate = (5.0, 5.0)
    widget._prepare()
    assert [m for m in warnings_shown if "'b' are not placed like 'a'" in m and "results are placed like 'a'" in m]
    # a set of watermarked images: each clean image goes on its own input's grid, the shared parts on the first's
    widget = open_widget("Watermark removal")
    widget.pickers["images"].value = [viewer.layers["a"], viewer.layers["b"]]
    widget.pickers["box"].value = None
    widget._prepare()
    assert [
        m for m in warnings_shown
        if "each image's clean is placed on its own grid, the shared watermark, alpha like 'a'" in m
    ], warnings_shown


def test_scribbles_with_fewer_frames_or_another_frame_spacing(viewer, open_widget, errors, warnings_shown):
    """Scribbles on 3 frames of a 4-frame image, slider at the 4th: a clear error (napari shows none there).
    Scribbles whose frames are spaced differently from the image's: flagged as not aligned."""
    viewer.add_image(np.zeros((4, 16, 16), np.float32), name="img")
    lab = viewer.add_labels(np.zeros((3, 16, 16), np.uint8), name="scribbles")
    viewer.dims.set_current_step(0, 3)
    widget = open_widget(SEG)
    widget.pickers["image"].value = viewer.layers["img"]
    widget.pickers["scribbles"].value = lab
    assert widget.run() is None and "no frame at the current slider position" in errors[-1]
    assert "give it one per frame of the image" in errors[-1]
    lab.data = np.zeros((4, 16, 16), np.uint8)
    lab.scale = (2.0, 1.0, 1.0)
    viewer.dims.set_current_step(0, 1)
    widget._prepare()
    assert len([m for m in warnings_shown if "not aligned" in m]) == 1
    # The image itself, shorter than another layer the slider follows: its frame there is not shown either.
    viewer.add_image(np.zeros((6, 16, 16), np.float32), name="long")
    viewer.dims.set_current_step(0, 5)
    widget.pickers["image"].value = viewer.layers["img"]
    widget.pickers["scribbles"].value = None
    assert widget.run() is None and "layer 'img' has no frame at the current slider position" in errors[-1]
    assert "one per frame" not in errors[-1]  # (the scribbles' advice)


def test_collected_frames_widen_the_contrast_slider(viewer):
    from napari_doubledip._widgets._layers import OutputLayers

    src = viewer.add_image(np.zeros((3, 8, 8), np.uint16), name="src", contrast_limits=(0, 4000))
    outputs = OutputLayers(viewer, "segmentation")
    first = np.full((8, 8), 100, np.float32)
    outputs.write("src foreground", "foreground", first[None], kind="image", source=src, metadata={"frame": [0]},
                  offset=(0,))
    layer = outputs.stack_target("src foreground", "foreground", src, (2,), (3,), (8, 8), kind="image")
    assert layer is not None
    outputs.write_frame(layer, "src foreground", "foreground", np.full((8, 8), 65000, np.float32), index=(2,),
                        lead=(3,), source=src, metadata={"frame": [2]})
    assert layer.data.shape == (3, 8, 8) and layer.contrast_limits_range[1] >= 65000
    assert layer.metadata["frames"] == [[0], [2]]
    # The next run into that stack gives it a new array (the earlier one, perhaps kept by the user, stays as it
    # was) and keeps the earlier one for a cancel, not a copy; beyond PRIVATE_STACK_BYTES it writes in place
    # and keeps only the frame it overwrites (a whole-stack copy of up to 1 GB took seconds in the GUI thread).
    # Either way a cancel gives the stack back.
    from napari_doubledip._widgets import _layers

    for private in (_layers.PRIVATE_STACK_BYTES, 0):
        _layers.PRIVATE_STACK_BYTES, default = private, _layers.PRIVATE_STACK_BYTES
        try:
            array = layer.data
            before = array.copy()
            rerun = OutputLayers(viewer, "segmentation")
            target = rerun.stack_target("src foreground", "foreground", src, (1,), (3,), (8, 8), kind="image")
            assert target is not None and target.name == layer.name
            rerun.write_frame(target, "src foreground", "foreground", np.full((8, 8), 7, np.float32),
                              index=(1,), lead=(3,), source=src, metadata={"frame": [1]})
            assert (layer.data[1] == 7).all()
            (saved,) = (s for _, s in rerun._saved)
            if private:
                assert layer.data is not array and saved.data is array
                assert np.array_equal(array, before, equal_nan=True)
            else:
                assert layer.data is array and saved.data.shape == (8, 8)
            rerun.rollback()
            np.testing.assert_array_equal(layer.data, before)
            assert layer.metadata["frames"] == [[0], [2]]
        finally:
            _layers.PRIVATE_STACK_BYTES = default
    # A map (transmission, alpha) keeps its 0-1 slider.
    outputs.write("src alpha", "alpha", first[None] / 200, kind="map", source=src, metadata={"frame": [0]},
                  offset=(0,))
    alpha = outputs.stack_target("src alpha", "alpha", src, (2,), (3,), (8, 8), kind="map")
    outputs.write_frame(alpha, "src alpha", "alpha", np.full((8, 8), 0.9, np.float32), index=(2,), lead=(3,),
                        source=src, metadata={"frame": [2]}, kind="map")
    np.testing.assert_allclose(alpha.contrast_limits_range, (0.0, 1.0))


def test_several_layers_each_result_goes_back_to_its_own_frame(viewer, open_widget, run_widget, errors):
    """Watermark over two stacks at different frames (world t = 1 is A's frame 1, B's frame 0) and over a stack
    with a plain image: each clean image is placed on the frame it was read from, a 2D one stays 2D."""
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((3, 32, 32), np.float32), name="A")
    viewer.add_image(rng.random((3, 32, 32), np.float32), name="B", translate=(1, 0, 0))
    viewer.add_image(rng.random((32, 32), np.float32), name="C")
    viewer.dims.set_point(0, 1)
    widget = open_widget("Watermark removal", iterations=3)
    widget.pickers["images"].value = [viewer.layers["A"], viewer.layers["B"]]
    run_widget(widget)
    for name in ("A", "B"):
        clean = viewer.layers[f"{name} clean"]
        assert clean.data.shape == (1, 32, 32) and clean.data_to_world((0, 0, 0))[0] == 1.0
        assert clean.metadata["frame"] == [{"A": 1, "B": 0}[name]] and "frames" not in clean.metadata
    widget.pickers["images"].value = [viewer.layers["A"], viewer.layers["C"]]
    run_widget(widget)
    assert not errors, errors
    assert viewer.layers["C clean"].data.shape == (32, 32) and viewer.layers["C clean"].metadata["frame"] is None
    assert viewer.layers["A clean"].data.shape == (1, 32, 32)


@pytest.mark.parametrize("widget_first", [False, True])
def test_a_multi_image_sample_is_selected_as_a_whole(viewer, open_widget, widget_first):
    """Opening the two-mixtures sample selects both mixtures (before or after the widget is opened); an
    unrelated image added later is not added to the selection."""
    if widget_first:
        widget = open_widget(TRANS)
        viewer.open_sample("napari-doubledip", "two_mixtures")
    else:
        viewer.open_sample("napari-doubledip", "two_mixtures")
        widget = open_widget(TRANS)
    assert sorted(la.name for la in widget.pickers["mixtures"].value) == ["mixture 1", "mixture 2"]
    viewer.add_image(np.zeros((256, 256, 3), np.float32), name="other")
    assert sorted(la.name for la in widget.pickers["mixtures"].value) == ["mixture 1", "mixture 2"]
    # opened again: another set, not more of this one (the panel moves to it: the samples are being tried)
    viewer.open_sample("napari-doubledip", "two_mixtures")
    assert sorted(la.name for la in widget.pickers["mixtures"].value) == ["mixture 1 [1]", "mixture 2 [1]"]


def test_a_double_click_on_run_does_not_cancel(viewer, open_widget, qtbot):
    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="img")
    widget = open_widget(SEG, iterations=20)
    widget.run_button.native.click()
    worker = widget.worker
    assert worker is not None
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        widget.run_button.native.click()  # the second click of a double-click
    assert "img mask" in names(viewer) and "Cancelled" not in widget.status.value


def test_cancel_is_greyed_out_for_a_double_clicks_time_after_run(viewer, open_widget, qtbot, monkeypatch):
    """(A review's case.) A Cancel click within the double-click time after Run is a double-click's second
    click: it did nothing, with the button enabled and offering Cancel."""
    from napari_doubledip._widgets import _base

    monkeypatch.setattr(_base, "DOUBLE_CLICK_S", 0.3)
    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="img")
    widget = open_widget(SEG, iterations=5000)
    widget.run_button.native.click()
    assert widget.worker is not None and widget.run_button.text == "Cancel" and not widget.run_button.enabled
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=5_000)
    with qtbot.waitSignal(widget.worker.finished, timeout=120_000):
        widget.run_button.native.click()  # now a Cancel
    assert widget.status.value == "Cancelled." and widget.run_button.enabled


def test_a_double_click_follows_the_systems_interval(viewer, open_widget, qtbot):
    """By default a double-click is what the system says (it was 0.4 s, shorter than Windows' default 0.5 s: a
    slow double-click on Run cancelled the run it started)."""
    from qtpy.QtWidgets import QApplication

    from napari_doubledip._widgets import _base

    interval = QApplication.doubleClickInterval()
    try:
        QApplication.setDoubleClickInterval(700)
        assert _base._double_click_s() == 0.7
    finally:
        QApplication.setDoubleClickInterval(interval)


def test_a_double_click_on_a_refused_run_says_so_once(viewer, open_widget, errors, monkeypatch):
    from napari_doubledip._widgets import _base

    viewer.add_image(samples.texture_composite(32).data, name="img")
    widget = open_widget("Watermark removal")  # one image and no box: refused
    monkeypatch.setattr(_base, "DOUBLE_CLICK_S", 60.0)  # (however slow this machine is)
    widget.run_button.native.click()
    widget.run_button.native.click()
    assert widget.worker is None and len(errors) == 1, errors


def test_a_double_click_on_cancel_does_not_start_another_run(viewer, open_widget, qtbot, monkeypatch):
    """A cancel can end in milliseconds and give the button back as Run before a double-click's second click."""
    from napari_doubledip._widgets import _base

    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="img")
    widget = open_widget(SEG, iterations=5000)
    monkeypatch.setattr(_base, "DOUBLE_CLICK_S", 0.0)  # (a Cancel click at once after Run counts)
    widget.run_button.native.click()
    worker = widget.worker
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        widget.run_button.native.click()  # Cancel
    monkeypatch.setattr(_base, "DOUBLE_CLICK_S", 60.0)  # (however slow this machine is)
    widget.run_button.native.click()  # the second click of the double-click on Cancel
    assert widget.worker is None and widget.status.value == "Cancelled."
    monkeypatch.setattr(_base, "DOUBLE_CLICK_S", 0.0)
    widget.run_button.native.click()  # a later click runs
    assert widget.worker is not None
    with qtbot.waitSignal(widget.worker.finished, timeout=120_000):
        widget.cancel()


def _mean_pyramid(full: np.ndarray, levels: int = 3) -> list[np.ndarray]:
    out = [full]
    for _ in range(levels - 1):
        a = out[-1]
        shape = (*a.shape[:-2], a.shape[-2] // 2, 2, a.shape[-1] // 2, 2)
        out.append(a.reshape(shape).mean(axis=(-3, -1)))
    return out


def test_a_plain_channel_beside_a_pyramid_read_at_a_coarser_level_is_explained(viewer, open_widget, monkeypatch):
    from napari_doubledip._widgets import _layers

    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 32 * 32)
    full = samples.texture_composite(64, rgb=False).data
    viewer.add_image(_mean_pyramid(full), name="pyramid", multiscale=True)
    plain = viewer.add_image(full, name="plain")
    widget = open_widget(SEG, iterations=3)
    widget.pickers["image"].value = viewer.layers["pyramid"]
    widget.pickers["channels"].value = [plain]
    with pytest.raises(ValueError, match=r"'pyramid' is multiscale, read at level 1: give the channels the same"):
        widget._prepare()


def test_a_multiscale_image_is_run_at_a_level_within_budget(
    viewer, open_widget, run_widget, monkeypatch, infos, warnings_shown
):
    """A slide-like pyramid: the run reads a coarser level (never the full resolution), takes scribbles and a box
    drawn at full resolution, and its results lie over the full-resolution pixels they cover."""
    from napari_doubledip._widgets import _layers

    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 32 * 32)
    img = samples.texture_composite(64, rgb=False).data.astype(np.float32)
    viewer.add_image(_mean_pyramid(img), multiscale=True, name="slide", scale=(0.5, 0.5), translate=(4.0, 2.0))
    scribbles = np.zeros((64, 64), dtype=np.uint8)
    scribbles[30:33, 24:40] = 1
    scribbles[4:6, 4:60] = 2
    viewer.add_labels(scribbles, name="scribbles", scale=(0.5, 0.5), translate=(4.0, 2.0))
    viewer.add_shapes([[[1.5, 1.5], [61.5, 61.5]]], shape_type="rectangle", name="box", scale=(0.5, 0.5),
                      translate=(4.0, 2.0))
    widget = open_widget(SEG, iterations=3)
    widget.pickers["image"].value = viewer.layers["slide"]
    widget.pickers["scribbles"].value = viewer.layers["scribbles"]
    widget.pickers["box"].value = viewer.layers["box"]
    job = widget._prepare()
    hints = job.kwargs["hints"]
    assert job.args[0].shape == (32, 32) and hints.shape == (32, 32)
    assert (hints[15, 12:20] == 1).all() and (hints[2, 2:30] == 2).all()
    assert job.kwargs["box"] == (1, 1, 31, 31)  # full-resolution rows 2-61 -> level-1 rows 1-30
    run_widget(widget)
    assert any("level 1 (32 x 32 per frame)" in m for m in infos)
    mask = viewer.layers["slide mask"]
    assert mask.data.shape == (32, 32) and mask.metadata["level"] == 1
    np.testing.assert_allclose(mask.scale, (1.0, 1.0))
    # the centre of mask pixel (0, 0) is the mean of full-resolution pixels (0..1, 0..1): 0.5 px in, scaled
    np.testing.assert_allclose(mask.data_to_world((0, 0)), (4.25, 2.25))
    assert viewer.layers["slide foreground"].data.shape == (32, 32)
    # The mask of that run, corrected and picked as scribbles, is read at its own level without a warning.
    widget.pickers["scribbles"].value = mask
    before = _hints(widget)
    assert before.shape == (32, 32)
    mask.translate = (5.0, 2.0)  # moved by 0.75 of its pixels down: read where napari shows it, a row lower
    assert _hints(widget).shape == (32, 32)
    moved = _layers.resample_labels(mask, viewer.layers["slide"])
    np.testing.assert_array_equal(moved[1:], mask.data[:-1])
    assert not moved[0].any() and not [m for m in warnings_shown if "not aligned" in m]


def test_frames_of_a_multiscale_stack_collect_at_the_level_read(viewer, open_widget, run_widget, monkeypatch):
    from napari_doubledip._widgets import _layers

    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 16 * 16)
    frame = samples.hazy_image(32).data.mean(axis=-1).astype(np.float32)
    stack = np.stack([frame, frame[::-1], frame[:, ::-1]])
    viewer.add_image(_mean_pyramid(stack), multiscale=True, name="stack", scale=(3.0, 1.0, 1.0))
    widget = open_widget("Dehazing", iterations=2)
    for t in (0, 2):
        viewer.dims.set_current_step(0, t)
        run_widget(widget)
    clean = viewer.layers["stack clean"]
    assert clean.data.shape == (3, 16, 16) and clean.metadata["frames"] == [[0], [2]]
    assert clean.data[0].any() and blank(clean.data[1]) and clean.data[2].any()
    np.testing.assert_allclose(clean.scale, (3.0, 2.0, 2.0))
    np.testing.assert_allclose(clean.data_to_world((2, 0, 0)), (6.0, 0.5, 0.5))


def test_grey_layers_as_channels_of_one_image(viewer, open_widget, run_widget, errors):
    from napari_doubledip._widgets._tasks import SEGMENTATION as SPEC_SEG

    """A two-channel image opened as one layer per channel: the object shows only in the second channel (uint16,
    another range); picked as 'more channels' it is segmented from both, and each channel gets its own
    foreground and background layers in its own units and colours."""
    size = 48
    truth = samples.blob_mask(size)
    membrane = samples._gray("grass", size)  # no object in it
    marker = (samples.texture_composite(size, rgb=False).data * 60000).astype(np.uint16)
    marker[0, 0] = 65535  # a hot pixel above the contrast limits: clipped, as napari shows it
    a = viewer.add_image(membrane, name="membrane", colormap="magenta", blending="additive")
    b = viewer.add_image(marker, name="marker", colormap="green", blending="additive", contrast_limits=(0, 60000))
    widget = open_widget(SEG, iterations=150, max_size=48)
    widget.pickers["image"].value = a
    assert widget.pickers["channels"].value == []  # optional: nothing picked until the user does
    widget.pickers["channels"].value = [b]
    job = widget._prepare()
    image = np.asarray(job.args[0])
    assert image.shape == (size, size, 2) and image.dtype == np.float32
    np.testing.assert_allclose(image[..., 1], np.minimum(marker / 60000, 1), atol=1e-6)
    lo, hi = a.contrast_limits
    np.testing.assert_allclose(image[..., 0], (membrane - lo) / (hi - lo), atol=1e-6)
    run_widget(widget)
    assert not errors
    mask = viewer.layers["membrane mask"].data
    assert samples.iou(mask == 1, truth) > 0.8
    for name, source, peak in (("membrane", a, 1.5), ("marker", b, 70000)):
        for part in ("foreground", "background"):
            layer = viewer.layers[f"{name} {part}"]
            assert layer.data.shape == (size, size) and layer.colormap.name == source.colormap.name
            assert layer.blending == "additive" and layer.metadata["inputs"] == ["membrane", "marker"]
            # the contrast limits each channel was read within (its results are clipped to them): recorded
            assert layer.metadata["channel_limits"] == [list(map(float, a.contrast_limits)), [0.0, 60000.0]]
    fg = viewer.layers["marker foreground"].data
    assert fg[truth].mean() > 20000  # in the marker's units (its foreground is bright there)
    assert "marker mask" not in names(viewer)
    # Only what can be a channel is offered: grey layers of the image's size, not results, not the image.
    viewer.add_image(samples.texture_composite(size).data, name="rgb", rgb=True)
    viewer.add_image(np.zeros((size + 2, size)), name="other size")
    picker = widget.pickers["channels"]
    assert [c.name for c in picker.choices] == ["marker"] and not picker.native.isHidden()
    # a result as the image (e.g. each channel dehazed first): the same part of the other channels' runs
    widget.pickers["image"].value = viewer.layers["membrane foreground"]
    assert [c.name for c in picker.choices] == ["marker", "marker foreground"]  # (not its own source)
    widget.pickers["image"].value = a
    widget.pickers["image"].value = viewer.layers["rgb"]  # (its colours are its channels)
    assert picker.choices == () and picker.native.isHidden() and picker.value == []
    # (a layer that changed shape after it was picked is still refused with the reason)
    widget.pickers["image"].value = a
    with pytest.raises(ValueError, match="channel 'other size' has shape"):
        widget._read_channels([viewer.layers["other size"]], [a], [membrane], [None], SPEC_SEG.image_mode, 0)
    for i in range(3):
        viewer.add_image(membrane, name=f"c{i}")
    widget.pickers["channels"].value = [b, *(viewer.layers[f"c{i}"] for i in range(3))]
    with pytest.raises(ValueError, match="at most 4 channels"):
        widget._prepare()


@pytest.mark.parametrize("keep", [False, True])
def test_cancel_acts_while_a_lazy_input_loads(viewer, open_widget, qtbot, monkeypatch, keep):
    """A long lazy movie loads frame by frame in the worker, with reports where Cancel acts (also when the
    partial result is to be kept: there is none yet); the rest is never read."""
    import threading

    import dask
    import dask.array as da
    # the library (and torch) loaded first: in a process where no run had loaded it, its loading reports came
    # first, unthrottled here
    from napari_doubledip.tasks import video  # noqa: F401

    from napari_doubledip._widgets import _worker

    monkeypatch.setattr(_worker, "LOAD_REPORT_SECONDS", 0.0)
    monkeypatch.setattr(_worker, "LOAD_STEP_BYTES", 0)  # (one frame a step: these frames are tiny)
    stack = samples.moving_object_video(size=32, frames=3).data.mean(axis=-1).astype(np.float32)
    read, cancelled = [], threading.Event()

    def load(t):
        read.append(t)
        if len(read) > 2:  # the rest of the movie waits until the test has cancelled (no race with the GUI)
            cancelled.wait(30)
        return stack[t % 3]

    lazy = da.stack([da.from_delayed(dask.delayed(load)(t), (32, 32), np.float32) for t in range(40)])
    viewer.add_image(lazy, name="movie", contrast_limits=(0, 1))
    widget = open_widget(SEG, iterations=3)
    widget.frames.value = "whole stack (video)"
    widget.keep_partial.value = keep
    read.clear()
    worker = widget.run(start=False)
    stages, bars = [], []

    def on_progress(p):
        stages.append(p.stage)
        activity = widget._job.activity._bar  # (napari's activity dock's entry)
        bars.append((widget.progress.max, widget.progress.native.isTextVisible(), activity.total, activity.n))
        if p.stage and p.stage.startswith("loading") and len(stages) == 2:
            widget.run_button.changed.emit(True)  # Cancel
            cancelled.set()

    worker.yielded.connect(on_progress)
    with dask.config.set(scheduler="synchronous"), qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    # (the frame being read when the cancel came ends with one more report, where the cancel acts)
    assert 2 <= len(stages) <= 3
    assert all(s.startswith("loading the input:") and s.endswith("of 0.2 MB") for s in stages)
    assert set(bars) == {(0, False, 0, 0)}  # busy bars while loading (they read "0 / 1"), the activity's too
    assert len(set(read)) <= 4  # (40 frames: cancelled after the second)
    assert names(viewer) == ["movie"]
    assert widget.run_button.text == "Run" and widget.status.value == "Cancelled."


def test_an_input_too_large_for_the_free_memory_is_refused(viewer, open_widget, errors, monkeypatch):
    """The estimate (bytes per pixel and channel, measured by benchmarks/large_images.py) against the free
    memory: a run that would exhaust it is refused before it starts, with what to do instead."""
    from types import SimpleNamespace

    import psutil

    from napari_doubledip._widgets._runs import MEMORY_FIXED, MEMORY_PER_PIXEL

    viewer.add_image(samples.texture_composite(64).data, name="big", rgb=True)
    need = MEMORY_FIXED + 64 * 64 * (MEMORY_PER_PIXEL[0] + 3 * MEMORY_PER_PIXEL[1])
    widget = open_widget(SEG)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=need + 1))
    widget._prepare()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=need - 1))
    assert widget.run(start=False) is None and widget.worker is None
    assert errors and "too large for the memory available" in errors[-1] and "multiscale" not in errors[-1]
    # a pyramid is advised only for frames larger than the level the widget reads (it helps no smaller one:
    # a review's case, 40 x 40 frames were told to open it as a multiscale image)
    from napari_doubledip._widgets import _layers

    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 32 * 32)
    assert widget.run(start=False) is None
    assert "or open it as a multiscale image (the widget reads a level of at most 1,024 pixels" in errors[-1]
    monkeypatch.undo()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=need - 1))
    # a grey stack's whole-stack run counts every frame, with one value per pixel
    viewer.add_image(np.zeros((10, 64, 64), np.float32), name="movie")
    widget.pickers["image"].value = viewer.layers["movie"]
    widget.frames.value = "whole stack (video)"
    frames = MEMORY_FIXED + 10 * 64 * 64 * (MEMORY_PER_PIXEL[0] + MEMORY_PER_PIXEL[1])
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=frames + 1))
    widget._prepare()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=frames - 1))
    with pytest.raises(ValueError, match=r"'movie' is too large.*\(or fewer frames\), or run the current frame"):
        widget._prepare()
    # a whole-stack run at a larger working size adds the networks' growth for a mini-batch of frames (a
    # mutation review: one frame's growth passed)
    from napari_doubledip._widgets._runs import MEMORY_BATCH, MEMORY_PER_WORKING_PIXEL

    viewer.add_image(np.zeros((10, 256, 256), np.float32), name="film")
    widget.pickers["image"].value = viewer.layers["film"]
    widget.max_size.value = 256
    base = MEMORY_FIXED + 10 * 256 * 256 * sum(MEMORY_PER_PIXEL)
    one = (256 * 256 - 128 * 128) * MEMORY_PER_WORKING_PIXEL
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=base + one * MEMORY_BATCH - 1))
    with pytest.raises(ValueError, match=r"'film' is too large.*or a smaller working size$"):
        widget._prepare()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=base + one * MEMORY_BATCH + 1))
    widget._prepare()
    widget.max_size.value = 128
    # dehazing it frame by frame: one frame's run, plus the stack and its results (a 60-plane 2048² uint16
    # Z-stack needed "25 GB" by the whole-stack count)
    from napari_doubledip._widgets._runs import MEMORY_STACK_PER_PIXEL

    dehazing = open_widget("Dehazing")
    dehazing.pickers["image"].value = viewer.layers["movie"]
    dehazing.frames.value = "every frame, one by one"
    planes = MEMORY_FIXED + 64 * 64 * sum(MEMORY_PER_PIXEL) + 10 * 64 * 64 * sum(MEMORY_STACK_PER_PIXEL)
    assert planes - MEMORY_FIXED < (frames - MEMORY_FIXED) / 2
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=planes + 1))
    dehazing._prepare()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=planes - 1))
    with pytest.raises(ValueError, match="'movie' is too large"):
        dehazing._prepare()
    viewer.add_image([np.zeros((64, 64)), np.zeros((32, 32))], multiscale=True, name="pyramid")
    widget.pickers["image"].value = viewer.layers["pyramid"]  # (read at level 0: it fits the pixel budget)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=MEMORY_FIXED + 1000))
    # (it said "its pyramid has no coarser level", which it has)
    with pytest.raises(ValueError, match=r"'pyramid' is too large for the memory available: .* Run a crop of it$"):
        widget._prepare()
    # less than any run needs: no crop helps
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=1000))
    with pytest.raises(ValueError, match=r"too large .* Free some memory first \(other programs, large layers\)$"):
        widget._prepare()
    # several inputs are named together, and told to run fewer of them
    viewer.add_image(np.zeros((64, 64), np.float32), name="m2")
    mixing = open_widget(TRANS)
    mixing.pickers["mixtures"].value = [viewer.layers["movie"], viewer.layers["m2"]]
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=MEMORY_FIXED + 1000))
    with pytest.raises(ValueError, match=r"'movie', 'm2' are too large .* Run fewer of them, or crops of them"):
        mixing._prepare()


def test_a_working_size_above_the_default_counts_in_the_memory_check(viewer, open_widget, monkeypatch):
    """The estimate was of the input's pixels only, measured at the default working size: a working size of
    2048 on a 2048 px photo (9-13 GB on a CPU) was estimated at 0.67 GB and let run into the memory's end."""
    from types import SimpleNamespace

    import psutil

    from napari_doubledip._widgets._runs import MEMORY_FIXED, MEMORY_PER_PIXEL, MEMORY_PER_WORKING_PIXEL

    viewer.add_image(np.zeros((256, 256), np.float32), name="photo")
    widget = open_widget(SEG)
    auto = MEMORY_FIXED + 256 * 256 * sum(MEMORY_PER_PIXEL)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=auto + 1))
    widget._prepare()  # (the default working size: as before)
    widget.max_size.value = 256
    with pytest.raises(ValueError, match=r"'photo' is too large.*or a smaller working size$"):
        widget._prepare()
    extra = (256 * 256 - 128 * 128) * MEMORY_PER_WORKING_PIXEL
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=auto + extra + 1))
    widget._prepare()


def test_layers_added_during_a_run_are_taken_up_when_it_ends(viewer, open_widget, qtbot):
    """napari's "new labels" (to paint a correction) or a new Shapes layer added while a run goes: the pickers
    are locked then, so they were never adopted; now they are, once the run ends."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=100)
    worker = widget.run(start=False)

    def add(_report):
        if "Labels" not in viewer.layers:
            labels = viewer.add_labels(np.zeros((32, 32), np.uint8), name="Labels")
            viewer.add_shapes(name="Shapes")
            painted = labels.data.copy()  # a correction painted while the run goes
            painted[10:14, 10:14] = 1
            labels.data = painted

    worker.yielded.connect(add)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.pickers["scribbles"].value.name == "Labels"
    assert widget.pickers["box"].value.name == "Shapes"
    assert widget.task_options["auto_fill"].enabled


def test_preview_every_is_locked_during_a_run_started_without_previews(viewer, open_widget, qtbot):
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=30)
    widget.preview_every.value = 0
    worker = widget.run(start=False)
    assert not widget.preview_every.enabled  # (raising it could show nothing: no previews are computed)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.preview_every.enabled
    widget.preview_every.value = 25
    worker = widget.run(start=False)
    assert widget.preview_every.enabled  # with previews it can be changed live
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    watermark = open_widget("Watermark removal")
    assert "192 px" in watermark.max_size.tooltip


def test_a_labels_layer_added_during_a_run_must_still_fit_the_image(viewer, open_widget, qtbot):
    viewer.add_image(np.random.default_rng(0).random((48, 40)).astype(np.float32), name="big")
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=60)
    widget.pickers["image"].value = viewer.layers["comp"]
    worker = widget.run(start=False)

    def hook(_report):  # a 32 x 32 Labels layer, then the input goes: the picker falls to 'big' (48 x 40)
        if "L" not in viewer.layers:
            viewer.add_labels(np.zeros((32, 32), np.uint8), name="L")
            viewer.layers.remove("comp")

    worker.yielded.connect(hook)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.pickers["image"].value.name == "big" and widget.pickers["scribbles"].value is None


def test_automatic_hints_are_disabled_while_they_would_do_nothing(viewer, open_widget, qtbot):
    """With scribbles and 'fill in scribbles' off, the automatic hints choice changes nothing: disabled then."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG)
    automatic = widget.task_options["automatic"]
    assert automatic.enabled  # no scribbles: the automatic hints are the hints
    scribbles = viewer.add_labels(np.zeros((32, 32), np.uint8), name="s")
    widget.pickers["scribbles"].value = scribbles
    assert automatic.enabled  # filling in around the scribbles
    widget.task_options["auto_fill"].value = False
    # a layer that marks nothing yet (or only other labels) leaves the automatic hints the hints: enabled
    assert automatic.enabled and _hints(widget) == "auto"
    scribbles.paint((5, 5), 3)
    qtbot.wait(50)  # (the check runs once napari has written the stroke)
    assert automatic.enabled
    scribbles.paint((5, 5), 1)  # a scribble: they alone are the hints now
    qtbot.waitUntil(lambda: not automatic.enabled, timeout=10_000)
    scribbles.data = np.zeros((32, 32), np.uint8)  # cleared
    qtbot.waitUntil(lambda: automatic.enabled, timeout=10_000)
    scribbles.paint((5, 5), 2)
    qtbot.waitUntil(lambda: not automatic.enabled, timeout=10_000)
    widget.pickers["scribbles"].value = None
    assert automatic.enabled


def test_automatic_hints_follow_the_scribbles_of_the_frame_a_run_reads(viewer, open_widget, qtbot):
    """(A review's case.) On a stack, scribbles on frame 0 greyed the automatic hints out on every frame,
    though a current-frame run on frame 3 uses them (and says so): the user could not pick intensity hints
    for it. They follow the frame at the slider, and the frames choice."""
    viewer.add_image(np.stack([samples.texture_composite(32, rgb=False).data] * 4), name="s")
    hints = np.zeros((4, 32, 32), np.uint8)
    hints[0, 14:18, 14:18] = 1
    widget = open_widget(SEG)
    widget.pickers["scribbles"].value = viewer.add_labels(hints, name="scr")
    widget.task_options["auto_fill"].value = False
    automatic = widget.task_options["automatic"]
    viewer.dims.set_current_step(0, 0)
    qtbot.waitUntil(lambda: not automatic.enabled, timeout=10_000)  # frame 0 has marks: they alone are used
    viewer.dims.set_current_step(0, 3)
    qtbot.waitUntil(lambda: automatic.enabled, timeout=10_000)  # frame 3 has none: the automatic hints run
    widget.frames.value = next(c for c in widget.frames.choices if c.startswith("whole stack"))
    assert not automatic.enabled  # a whole-stack run reads frame 0's marks
    widget.frames.value = "current frame"
    assert automatic.enabled


def test_a_rerun_leaves_the_slider_where_the_user_had_it(viewer, open_widget, run_widget, qtbot):
    """Updating an earlier output of another shape or placement (a whole-stack result, now one frame's) set its
    data and then its scale / translate one by one, and napari moved the slider with each: on a scaled stack
    the slider ended on the last frame, the frame just run off screen. It stays, also through a Cancel."""
    data = np.random.default_rng(2).random((4, 20, 20)).astype(np.float32)
    viewer.add_image(data, name="q", scale=(3.0, 0.5, 0.5), translate=(10.0, 1.0, 2.0))
    viewer.dims.set_current_step(0, 2)
    widget = open_widget("Transparency", iterations=2)
    widget.frames.value = "all frames are mixtures"
    run_widget(widget)
    assert viewer.dims.current_step[0] == 2
    widget.frames.value = "current frame"
    run_widget(widget)
    layer = viewer.layers["q layer 1"]
    assert layer.metadata["frame"] == [2] and viewer.dims.current_step[0] == 2 and viewer.dims.point[0] == 16.0
    assert layer.extent.world[0, 0] == 16.0  # (the frame's result lies where the slider is)
    widget.frames.value = "all frames are mixtures"
    run_widget(widget)
    shape = layer.data.shape
    viewer.dims.set_current_step(0, 1)
    widget.frames.value = "current frame"
    widget.iterations.value, widget.preview_every.value = 3000, 1
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if layer.metadata.get("preview") else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.status.value == "Cancelled." and layer.data.shape == shape
    assert viewer.dims.current_step[0] == 1


@pytest.mark.parametrize("reduced", [False, True])
def test_closing_a_kept_every_frame_run_keeps_earlier_frames(viewer, qtbot, monkeypatch, reduced):
    """Closing the panel cancels like Cancel, but its kept preview came without a result: the frames the run
    had not reached were NaN, wiping an earlier complete run's results there, and nothing said which frames
    ran. They keep the earlier results (as after Cancel), and the metadata says which frames hold what; also
    from a preview made at a reduced size (a long stack's), brought back to the full size and placement."""
    if reduced:
        import napari_doubledip.tasks.frames as fr

        monkeypatch.setattr(fr, "PREVIEW_STACK_BYTES", 3200)  # (as a long stack of large frames has it)
    haze = samples.hazy_image(24).data[..., 0]
    viewer.add_image(np.stack([haze * g for g in (1.0, 0.9, 0.8, 0.7)]).astype(np.float32), name="h")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
    widget.iterations.value, widget.max_size.value = 3, 16
    widget.frames.value = "every frame, one by one"
    worker = widget.run(start=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    first = np.array(viewer.layers["h clean"].data, copy=True)
    assert np.isfinite(first).all()
    widget.seed.value, widget.iterations.value, widget.keep_partial.value = 7, 300, True
    widget.preview_every.value = 1
    worker = widget.run(start=False)
    closed = []

    def close(p):
        if p.frame and p.frame[0] == 1 and not closed:
            closed.append(True)
            viewer.window.remove_dock_widget(dock)

    worker.yielded.connect(close)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    layer = viewer.layers["h clean"]
    md = layer.metadata
    assert closed and md["stopped"] and md["preview"]
    ran = md["params"]["frames_run"]
    assert 1 <= ran <= 2 and np.isfinite(layer.data).all()
    np.testing.assert_array_equal(layer.data[2:], first[2:])  # (the earlier run's, not NaN)
    assert md["frames"] == [[t] for t in range(4)]
    assert layer.data.shape == first.shape and tuple(layer.scale) == (1.0, 1.0, 1.0)
    assert tuple(layer.translate) == (0.0, 0.0, 0.0)


def test_a_closed_every_frame_run_counts_frames_along_its_sequence_axis(viewer, qtbot):
    """A kept preview of a (T, Z, Y, X) stack run along Z: the frames reached are counted along Z (they were
    counted along the length-1 T axis of the result: 1)."""
    haze = samples.hazy_image(24).data[..., 0]
    z = np.stack([haze * g for g in (1.0, 0.9, 0.8, 0.7)]).astype(np.float32)
    viewer.add_image(np.stack([z, z * 0.95]), name="tz")  # (T=2, Z=4, Y, X)
    dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
    widget.iterations.value, widget.max_size.value = 300, 16
    widget.frames.value = "every frame, one by one"
    widget.sequence_axis.value = 1
    widget.keep_partial.value, widget.preview_every.value = True, 1
    worker = widget.run(start=False)
    closed = []

    def close(p):
        if p.frame and p.frame[0] == 2 and not closed:  # (the third frame along Z running)
            closed.append(p.frame)
            viewer.window.remove_dock_widget(dock)

    worker.yielded.connect(close)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    layer = viewer.layers["tz clean"]
    reached = np.isfinite(layer.data[0]).reshape(4, -1).any(axis=1)
    assert closed and layer.metadata["frame"] == [0, None]
    assert layer.metadata["params"]["frames_run"] == int(reached.sum()) >= 2


def test_scribbles_at_a_finer_frame_spacing_are_not_said_to_pair_by_index(viewer, open_widget, warnings_shown):
    """(A review's case.) A (9, Y, X) Labels layer every 1 um over a (5, Y, X) stack every 2 um (what napari's
    new Labels layer over the stack and a 3D Shapes layer gives) is read where napari shows it (the image's plane
    3 from the labels' 6) but was said to be "paired with the image's by index". As many frames as the image at
    another spacing, read by index for a whole stack, are still said to be."""
    stack = np.random.default_rng(2).random((5, 32, 32)).astype(np.float32)
    viewer.add_image(stack, name="zs", scale=(2, 0.5, 0.5))
    marks = np.zeros((9, 32, 32), np.uint8)
    marks[6, 14:17, 15:19] = 1
    fine = viewer.add_labels(marks, name="fine", scale=(1, 0.5, 0.5))
    widget = open_widget(SEG, iterations=3)
    widget.pickers["image"].value = viewer.layers["zs"]
    widget.pickers["scribbles"].value = fine
    viewer.dims.set_point(0, 6.0)  # the image's plane 3
    assert (_hints(widget) == 1).sum() == 12
    widget.frames.value = "whole stack (video)"
    hints = _hints(widget)
    assert hints.shape == (5, 32, 32) and (hints[3] == 1).sum() == 12 and (hints == 1).sum() == 12
    assert not [m for m in warnings_shown if "not aligned" in m]
    viewer.layers.remove(fine)
    same_count = viewer.add_labels(np.zeros((5, 32, 32), np.uint8), name="five", scale=(1, 0.5, 0.5))
    widget.pickers["scribbles"].value = same_count
    widget._prepare()
    assert len([m for m in warnings_shown if "not aligned" in m]) == 1


def test_scribbles_paired_by_index_with_the_sequence_of_a_4d_stack_are_said_to_be(viewer, open_widget,
                                                                                  warnings_shown):
    """(A review's case.) Over a (Z, T, Y, X) stack every 2 along T, (T, Y, X) scribbles every 1 are paired with
    the sequence by index in a whole-stack run (as many frames): said so, as before the check of frames that
    meet, which only looked at labels shaped like all the image's leading axes."""
    viewer.add_image(np.random.default_rng(2).random((2, 4, 32, 32)).astype(np.float32), name="zt",
                     scale=(1, 2, 0.5, 0.5))
    marks = np.zeros((4, 32, 32), np.uint8)
    marks[2, 14:17, 15:19] = 1
    widget = open_widget(SEG, iterations=3)
    widget.pickers["image"].value = viewer.layers["zt"]
    widget.pickers["scribbles"].value = viewer.add_labels(marks, name="t", scale=(1, 0.5, 0.5))
    widget.frames.value = "whole stack (video)"
    widget.sequence_axis.value = 1
    widget._prepare()
    assert len([m for m in warnings_shown if "not aligned" in m]) == 1
