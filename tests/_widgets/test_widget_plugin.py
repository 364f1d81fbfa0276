"""The plugin as napari sees it: manifest, sample data, and start-up without torch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from npe2 import PluginManager

from napari_doubledip import _sample_data
from napari_doubledip._widgets._tasks import SPECS

PLUGIN = "napari-doubledip"
WIDGETS = [s.display_name for s in SPECS.values()]


@pytest.fixture(scope="module")
def manifest():
    pm = PluginManager.instance()
    pm.discover()
    return pm.get_manifest(PLUGIN)


def test_manifest_lists_one_widget_per_task(manifest):
    names = [w.display_name for w in manifest.contributions.widgets]
    assert names == WIDGETS
    for w in manifest.contributions.widgets:  # every command resolves to a widget class
        cls = PluginManager.instance().commands.get(w.command)
        assert cls.spec.display_name == w.display_name


def test_manifest_sample_data_resolve_and_load(manifest):
    keys = {s.key for s in manifest.contributions.sample_data}
    assert keys >= {
        "texture_composite", "blob_field", "two_mixtures", "watermarked", "watermark_set", "hazy_image",
        "moving_object_video", "reflection_video",
    }
    for s in manifest.contributions.sample_data:
        layers = PluginManager.instance().commands.get(s.command)()
        assert layers, s.key
        for data, kwargs, kind in layers:
            assert kind in ("image", "shapes", "labels")
            assert isinstance(kwargs.get("name"), str)
            assert np.asarray(data).size > 0


def test_sample_shapes():
    (img, _, _), = _sample_data.texture_composite()
    assert img.shape == (_sample_data.SIZE, _sample_data.SIZE, 3)
    mixtures = _sample_data.two_mixtures()
    assert len(mixtures) == 2 and mixtures[0][0].shape == mixtures[1][0].shape
    (video, _, _), = _sample_data.moving_object_video()
    assert video.ndim == 4 and video.shape[-1] == 3  # (T, Y, X, RGB)
    (image, _, _), (box, kwargs, kind) = _sample_data.watermarked()
    assert kind == "shapes" and kwargs["shape_type"] == "rectangle" and box[0].shape == (4, 2)
    assert len(_sample_data.watermark_set()) == 3


def test_plugin_and_viewer_start_without_torch():
    """Importing the plugin, opening a viewer and creating every widget must not import torch: also once the
    event loop has run a while (a review: work deferred to a timer or a thread escaped the check)."""
    code = f"""
import sys, time
import napari, napari_doubledip, napari_doubledip._widgets as w, napari_doubledip._sample_data
from qtpy.QtWidgets import QApplication
viewer = napari.Viewer(show=False)
viewer.open_sample("{PLUGIN}", "texture_composite")
for name in {WIDGETS!r}:
    viewer.window.add_plugin_dock_widget("{PLUGIN}", name)
print("torch" in sys.modules)
start = time.time()
while time.time() - start < 2:
    QApplication.processEvents()
    time.sleep(0.02)
print("torch" in sys.modules)
viewer.close()
"""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-2:] == ["False", "False"]


def test_panels_made_in_a_script_and_left_undocked_do_not_crash_python_at_exit():
    """Panels a script makes and never docks (or closes) are deleted by the garbage collector once the viewer
    is gone; their layer-list disconnection, connected to the panel's `destroyed` signal, ran from there,
    touching the viewer mid-collection: a segfault at the collection (exit code 139), with every result
    already written. (With a segmentation panel among them the collection happened to go another way and did
    not crash: it is left out.)"""
    code = """
import gc
import napari
import numpy as np
from napari_doubledip._widgets import DehazingWidget, TransparencyWidget, WatermarkWidget
viewer = napari.Viewer(show=False)
viewer.add_image(np.eye(16, dtype=np.float32), name="image")
panels = [cls(viewer) for cls in (TransparencyWidget, WatermarkWidget, DehazingWidget)]
for panel in panels:
    panel.native.close()
del panels, panel
viewer.close()
del viewer
gc.collect()
gc.collect()
print("collected")
"""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("collected"), (out.returncode, out.stderr[-2000:])


#: The start of the scripts below: napari, and a way to let its event loop run a while.
_SCRIPT_START = """
import sys, time
import napari
from qtpy import sip
from qtpy.QtCore import QEventLoop, QTimer
from napari_doubledip._widgets import SegmentationWidget

def pump(seconds):
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()

viewer = napari.Viewer(show=False)
"""

_TEARDOWN_MID_RUN = _SCRIPT_START + """
viewer.open_sample("napari-doubledip", "hazy_image")
dock, panel = viewer.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
panel.iterations.value, panel.max_size.value = 5000, 32
seen = []
worker = panel.run()
worker.yielded.connect(lambda p: seen.append(p.iteration))
end = time.monotonic() + 90
while not any(seen) and time.monotonic() < end:
    pump(0.05)
assert any(seen), "the run did not start"
if sys.argv[1] == "signals gone":  # what interpreter teardown may delete first
    sip.delete(worker.signals)
    viewer.close()
else:  # the dock removed, and the panel deleted before the event loop turns
    viewer.window.remove_dock_widget(dock)
    sip.delete(panel.native)
    pump(0.5)
    print("layers", [layer.name for layer in viewer.layers])
    viewer.close()
print("survived")
"""


@pytest.mark.parametrize("how", ["signals gone", "dock removed, panel deleted"])
def test_a_panel_torn_down_mid_run_does_not_abort_python(how):
    """Qt slots that run while a running panel is torn down must not raise: PyQt aborts a script's process on
    an exception escaping a slot (exit code 134). At interpreter exit the worker's signals may go before the
    panel (its `destroyed` slot read one); a dock removed mid-run settles the cancelled run a moment later,
    when the panel's widgets may be deleted (it wrote its status line). The run's layers are still undone."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-c", _TEARDOWN_MID_RUN, how], capture_output=True, text=True, env=env, timeout=240
    )
    assert out.returncode == 0 and "survived" in out.stdout, (out.returncode, out.stderr[-3000:])
    if how != "signals gone":
        assert "layers ['hazy image']" in out.stdout  # (the preview layers undone)


def test_a_script_that_ends_while_two_runs_go_exits_cleanly():
    """Runs still going when a script ends are stopped before Python's teardown: with two at once, Qt objects
    deleted under the running workers aborted the process (superqt's warnings hook, exit code 134, in about 2
    of 3 tries)."""
    code = _SCRIPT_START + """
viewer.open_sample("napari-doubledip", "hazy_image")
viewer.open_sample("napari-doubledip", "texture_composite")
_, docked = viewer.window.add_plugin_dock_widget("napari-doubledip", "Dehazing")
undocked = SegmentationWidget(viewer)
seen = []
for panel in (docked, undocked):
    panel.iterations.value, panel.max_size.value = 5000, 32
    panel.run().yielded.connect(lambda p, name=panel.spec.title: seen.append(name))
end = time.monotonic() + 90
while len(set(seen)) < 2 and time.monotonic() < end:
    pump(0.05)
print("both running", len(set(seen)) == 2)
"""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240)
        assert out.returncode == 0 and "both running True" in out.stdout, (out.returncode, out.stderr[-3000:])


@pytest.mark.parametrize("task", list(SPECS))
def test_spec_defaults_match_the_library(task):
    """The widgets' tooltips quote the library's defaults (copied: no torch at start-up)."""
    import importlib

    import napari_doubledip

    spec = SPECS[task]
    function = spec.image_mode.function
    module = importlib.import_module(napari_doubledip._LAZY[function], "napari_doubledip")
    assert (spec.iterations, spec.max_size) == (module.DEFAULTS["iterations"], module.DEFAULTS["max_size"])


def test_layers_menus_open_the_widgets(viewer):
    """Besides Plugins, napari's Layers menu lists each widget where tools of its kind are (Segment, Filter),
    and choosing it there docks the same widget."""
    from napari._app_model import get_app_model

    app = get_app_model()
    listed = {
        menu: [i.command.id for i in app.menus.get_menu(menu) if i.command.id.startswith(PLUGIN)]
        for menu in ("napari/layers/segment", "napari/layers/filter")
    }
    assert listed == {
        "napari/layers/segment": [f"{PLUGIN}.segmentation_widget"],
        "napari/layers/filter": [f"{PLUGIN}.{t}_widget" for t in ("transparency", "watermark", "dehazing")],
    }
    app.commands.execute_command(f"{PLUGIN}.dehazing_widget").result()
    docked = {name: w for name, w in viewer.window.dock_widgets.items() if hasattr(w, "spec")}
    assert [w.spec.title for w in docked.values()] == [SPECS["dehazing"].title]
    # napari adds the plugin's name to the menu items and the dock's title: the widget's own name does not
    # repeat it ("Dehazing (Double-DIP) (Double-DIP decomposition)" before)
    assert list(docked) == ["Dehazing (Double-DIP decomposition)"]
    titles = [app.commands[f"{PLUGIN}.{t}_widget"].title for t in ("segmentation", "dehazing")]
    assert titles == ["Segmentation (Double-DIP decomposition)", "Dehazing (Double-DIP decomposition)"]


@pytest.mark.parametrize("task", sorted(SPECS))
def test_the_panels_fields_line_up_in_napari(make_napari_viewer_proxy, qtbot, task):
    """Docked in a shown viewer (napari's stylesheet: a larger label font than the one magicgui measures with),
    every field starts at the same x, the widest label's ("working size (0 = auto)") and the status line's too."""
    from napari_doubledip import _widgets

    viewer = make_napari_viewer_proxy(show=True)
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    widget = getattr(_widgets, f"{task.capitalize()}Widget")(viewer)
    viewer.window.add_dock_widget(widget)
    widget.status.value = "Cancelled."
    qtbot.wait(50)
    starts = {
        sub.name: sub.native.mapTo(widget.native, sub.native.rect().topLeft()).x()
        for sub in widget
        if sub.visible and getattr(sub, "_labeled_widget", lambda: None)() is not None
    }
    assert "max_size" in starts and "status" in starts and len(set(starts.values())) == 1, starts


@pytest.mark.parametrize("task", sorted(SPECS))
def test_the_panels_tooltips_wrap_and_a_list_row_fits_its_list(make_napari_viewer_proxy, qtbot, task):
    """Tooltips come as rich text, which Qt wraps (plain ones of 150-300 characters showed as one line up to
    1500 px wide); a multi-layer picker's row is as tall as its list (the list expanded, its row took the
    panel's spare height with the list, capped, floating in it); the panel can be made narrower than 400 px
    (the wrapped help text at its top held it at 423-468 px)."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QWidget

    from napari_doubledip import _widgets

    viewer = make_napari_viewer_proxy(show=True)
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    widget = getattr(_widgets, f"{task.capitalize()}Widget")(viewer)
    viewer.window.add_dock_widget(widget)
    widget.native.window().resize(1600, 1000)  # (spare height for the panel)
    qtbot.wait(50)
    tips = [w.toolTip() for w in [widget.native, *widget.native.findChildren(QWidget)] if w.toolTip()]
    assert len(tips) > 10 and all(Qt.mightBeRichText(tip) for tip in tips), [t for t in tips if "<qt>" not in t]
    assert "More = better fit, slower." in widget.iterations.tooltip  # (the text itself is kept)
    lists = [p for p in widget.pickers.values() if p.widget_type == "Select"]
    for picker in (p for p in lists if p.visible):
        row = picker._labeled_widget().native
        assert row.height() <= picker.native.height() + 10, (picker.name, row.height(), picker.native.height())
    assert bool(lists) == (task in ("segmentation", "transparency", "watermark"))
    assert widget.native.minimumSizeHint().width() < 400


def test_panels_scroll_in_a_short_window(make_napari_viewer_proxy, qtbot):
    """Two panels docked one above the other in a 720 px window: each scrolls (its rows as tall as before, a
    scroll bar to reach them) and the window keeps its height. Docked without the scroll area (napari docks
    magicgui's inner widget), the panels were squeezed and their minimum heights forced the window past 720 px;
    a panel with room to spare keeps its rows at the top."""
    viewer = make_napari_viewer_proxy(show=True)
    viewer.add_image(np.zeros((2, 32, 32), np.float32), name="img")
    window = viewer.window._qt_window
    window.resize(1280, 720)
    docks = [
        viewer.window.add_plugin_dock_widget(PLUGIN, SPECS[t].display_name) for t in ("segmentation", "dehazing")
    ]
    qtbot.wait(100)
    assert window.height() <= 720
    for dock, widget in docks:
        assert dock.inner_widget() is widget  # (napari's second return value is still the panel)
        assert widget.native.verticalScrollBar().maximum() > 0
        assert widget._inner.height() >= widget._inner.minimumSizeHint().height()
        assert widget.native.viewport().height() >= 150  # (the second had 67 px: its help line)
    viewer.window.remove_dock_widget(docks[1][0])
    window.resize(1280, 1000)
    qtbot.wait(100)
    segmentation = docks[0][1]
    assert segmentation.native.verticalScrollBar().maximum() == 0
    assert segmentation.run_button.native.y() < segmentation._inner.height() - 150  # (the spare height below)


def test_a_narrowed_panel_keeps_its_fields_and_the_wheel_scrolls_it(make_napari_viewer_proxy, qtbot):
    """Dragged narrow, the panel stops at the width its rows need (it went narrower and cut the fields off,
    with no horizontal scroll bar); in a short window a wheel turn over a field the user has not clicked into
    scrolls the panel (it changed the field under the pointer: iterations, working size, seed...)."""
    from qtpy.QtCore import QPoint, QPointF, Qt
    from qtpy.QtGui import QWheelEvent
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer_proxy(show=True)
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    window = viewer.window._qt_window
    window.resize(1280, 560)
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, SPECS["segmentation"].display_name)
    window.resizeDocks([dock], [60], Qt.Orientation.Horizontal)
    qtbot.wait(100)
    scroll = widget.native
    for field in (widget.iterations, widget.max_size, widget.seed, widget.device):
        right = field.native.mapTo(widget._inner, field.native.rect().topRight()).x()
        assert right < scroll.viewport().width(), (field.name, right, scroll.viewport().width())

    def wheel(native):
        centre = native.rect().center()
        event = QWheelEvent(
            QPointF(centre), QPointF(native.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, -120),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
        )
        QApplication.sendEvent(native, event)

    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 0
    widget.max_size.value = 256
    wheel(widget.max_size.native)
    assert widget.max_size.value == 256 and bar.value() > 0
    window.activateWindow()
    widget.max_size.native.setFocus()
    qtbot.waitUntil(widget.max_size.native.hasFocus, timeout=5000)
    wheel(widget.max_size.native)  # (clicked into: the field takes the wheel)
    assert widget.max_size.value != 256


def test_run_and_cancel_by_keyboard_keep_the_focus_on_the_button(make_napari_viewer_proxy, qtbot):
    """(A review's case.) Run greys its button out for a double-click's time, and Cancel until the run ends;
    Qt handed the focus of the disabled button to the dock's hide button, so the next Space (meant as Cancel,
    or Run again) hid the panel, the run going on out of sight. The focus comes back to the button."""
    from qtpy.QtCore import Qt

    from napari_doubledip import samples

    viewer = make_napari_viewer_proxy(show=True)
    viewer.add_image(samples.texture_composite(32, rgb=False).data, name="comp")
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, SPECS["segmentation"].display_name)
    widget.iterations.value, widget.preview_every.value = 5000, 0
    window = viewer.window._qt_window
    window.activateWindow()
    button = widget.run_button.native
    button.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(button.hasFocus, timeout=5000)
    qtbot.keyClick(button, Qt.Key.Key_Space)  # Run
    assert widget.worker is not None
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=5000)  # (after the double-click time)
    assert widget.run_button.text == "Cancel" and button.hasFocus()
    with qtbot.waitSignal(widget.worker.finished, timeout=120_000):
        qtbot.keyClick(button, Qt.Key.Key_Space)  # Cancel
    qtbot.waitUntil(lambda: widget.worker is None and widget.run_button.enabled, timeout=60_000)
    assert widget.native.isVisible() and widget.run_button.text == "Run" and button.hasFocus()
    # another window active while the button is greyed out (the application's focus widget is None then): the
    # focus is back on the button when the user returns
    from qtpy.QtWidgets import QApplication, QLineEdit

    other = QLineEdit()
    qtbot.addWidget(other)
    other.show()
    qtbot.waitExposed(other)
    button.window().activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is button.window(), timeout=5000)
    qtbot.wait(QApplication.doubleClickInterval() + 100)  # (a click sooner after Cancel is its double-click)
    qtbot.keyClick(button, Qt.Key.Key_Space)  # Run
    assert widget.worker is not None
    other.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is other, timeout=5000)
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=5000)
    button.window().activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is button.window(), timeout=5000)
    assert widget.run_button.text == "Cancel" and button.hasFocus()
    with qtbot.waitSignal(widget.worker.finished, timeout=120_000):
        widget.cancel()
