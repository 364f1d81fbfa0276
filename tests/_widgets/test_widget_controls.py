"""The panels' controls reaching the run, the live-preview throttles, the progress bar at the end of a run:
what a mutation review of the run lifecycle found no test for (each test fails under its mutation)."""

from __future__ import annotations

import numpy as np

from napari_doubledip import samples

SEG = "Segmentation"


def names(viewer):
    return [layer.name for layer in viewer.layers]


def _fake_report(iteration, total=100, preview=None):
    from napari_doubledip.solver.progress import Progress

    return Progress(iteration=iteration, total=total, loss=0.5, losses={}, preview=preview, elapsed=1.0)


def test_the_device_chosen_reaches_the_library_call(viewer, open_widget):
    """(On a CPU-only machine "auto" also gives the CPU: the result cannot tell.)"""
    viewer.add_image(samples.hazy_image(32).data, name="haze")
    widget = open_widget("Dehazing")
    assert widget._prepare().kwargs["device"] == "auto"
    widget.device.value = "cpu"
    assert widget._prepare().kwargs["device"] == "cpu"


def test_live_previews_follow_the_preview_interval(viewer, open_widget, qtbot, monkeypatch):
    """A preview is written only every *preview every* iterations."""
    from napari_doubledip._widgets import _base

    monkeypatch.setattr(_base, "MIN_PREVIEW_SECONDS", 0.0)  # (the interval alone decides here)
    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="comp")
    widget = open_widget(SEG, iterations=1, max_size=16)
    widget.preview_every.value = 10
    worker = widget.run(start=False)
    mask = np.zeros((32, 32), np.uint8)
    written = []
    for it in (5, 10, 14, 15, 20):
        widget._on_progress(_fake_report(it, preview={"mask": mask}))
        written.append(viewer.layers["comp mask"].metadata["iteration"] if "comp mask" in names(viewer) else None)
    assert written == [5, 5, 5, 15, 15], written
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()


def test_live_previews_come_at_most_every_min_preview_seconds(viewer, open_widget, qtbot, monkeypatch):
    """... and at most every MIN_PREVIEW_SECONDS (the GUI is not flooded by fast small runs)."""
    from napari_doubledip._widgets import _base

    monkeypatch.setattr(_base, "MIN_PREVIEW_SECONDS", 3600.0)
    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="comp")
    widget = open_widget(SEG, iterations=1, max_size=16)
    widget.preview_every.value = 1
    worker = widget.run(start=False)
    mask = np.zeros((32, 32), np.uint8)
    for it in (1, 2, 3):
        widget._on_progress(_fake_report(it, preview={"mask": mask}))
    assert viewer.layers["comp mask"].metadata["iteration"] == 1  # the first only, within the throttle
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()


def test_a_second_run_call_while_running_returns_the_same_worker(viewer, open_widget, qtbot):
    """A script's second ``run()`` while one runs gets that run, not a second one over it."""
    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="comp")
    widget = open_widget(SEG, iterations=2)
    worker = widget.run(start=False)
    assert widget.run(start=False) is worker and widget.worker is worker
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.worker is None and widget.status.value.startswith("Done")


def test_cancel_leaves_an_idle_progress_bar(viewer, open_widget, qtbot):
    """A plain Cancel leaves the bar idle, not at the cancelled run's "k / N"."""
    viewer.add_image(samples.texture_composite(32).data, name="comp")
    widget = open_widget(SEG, iterations=5000)
    worker = widget.run(start=False)
    worker.yielded.connect(lambda p: widget.cancel() if p.iteration >= 3 else None)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert widget.status.value == "Cancelled." and widget.run_button.text == "Run"
    assert (widget.progress.value, widget.progress.max) == (0, 1)
    assert not widget.progress.native.isTextVisible()


def test_the_task_options_have_their_tooltips(viewer, open_widget):
    """The task's own options carry their help (e.g. the airlight's accepted formats)."""
    import html

    from napari_doubledip._widgets._tasks import SPECS

    _dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
    for option in SPECS["dehazing"].options:
        tip = html.unescape(widget.task_options[option.name].native.toolTip())  # (wrapped as rich text)
        assert option.tooltip[:30] in tip, (option.name, tip)


def test_an_early_stop_shows_the_iterations_run_on_the_bar(viewer, open_widget, qtbot, monkeypatch):
    """A stop lands between two reports (Cancel with *keep partial result*, the library checks every iteration,
    reports every few): the bar ends at the iterations the result ran, as the status says, not at the last
    report."""
    import napari_doubledip

    real = napari_doubledip.iterate

    def reports_up_to_5(func, *args, **kwargs):
        gen, stop = real(func, *args, **kwargs), kwargs["stop"]
        try:
            p = next(gen)
            while True:
                if p.iteration <= 5:
                    yield p
                elif p.iteration >= 10:
                    stop.set()  # (as a Cancel landing between the reports the panel has shown)
                p = next(gen)
        except StopIteration as end:
            return end.value

    monkeypatch.setattr(napari_doubledip, "iterate", reports_up_to_5)
    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="comp")
    widget = open_widget(SEG, iterations=5000)
    widget.preview_every.value = 0
    worker = widget.run(start=False)
    shown = []
    worker.yielded.connect(lambda p: shown.append(int(p.iteration)))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    ran = viewer.layers["comp mask"].metadata["iterations"]
    assert max(shown) <= 5 < ran < 5000, (shown, ran)
    assert widget.status.value.startswith(f"Done (stopped early): {ran} iterations")
    assert (widget.progress.value, widget.progress.max) == (ran, 5000)
