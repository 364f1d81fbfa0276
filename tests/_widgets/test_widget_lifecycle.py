"""The panels' lifecycle: their connections to the viewer when docked, closed, docked again or deleted; the
wheel guard and focus; inputs locked while a run goes; the label column after a font change; tooltips."""

from __future__ import annotations

import numpy as np
import pytest

PLUGIN = "napari-doubledip"
SEG = "Segmentation"


def _connections(viewer) -> dict[str, int]:
    """How many callbacks the layer list, the selection, the slider and each layer's name and data have."""
    events = viewer.layers.events
    names = ("inserted", "removed", "moved", "reordered", "renamed")
    counts = {name: len(getattr(events, name).callbacks) for name in names}
    counts["active"] = len(viewer.layers.selection.events.active.callbacks)
    counts["current_step"] = len(viewer.dims.events.current_step.callbacks)
    for layer in viewer.layers:
        counts[f"{layer.name}.name"] = len(layer.events.name.callbacks)
        counts[f"{layer.name}.data"] = len(layer.events.data.callbacks)
    return counts


@pytest.mark.parametrize("title", [SEG, "Transparency"])
def test_a_closed_dock_leaves_no_connection_to_the_viewer_behind(viewer, title):
    """Closing the dock (its close button) disconnects everything the panel connected to the viewer: the layer
    list's events (napari's reset_choices ones too), the active layer, the slider (segmentation's scribbles
    check) and every layer's name and data, also of a layer added while it was docked. One left behind kept the
    closed panel following the layers (each close and reopen one more). Docked again, it has them all again."""
    viewer.add_image(np.zeros((16, 16), np.float32), name="img")
    viewer.add_labels(np.zeros((16, 16), np.uint8), name="marks")
    viewer.add_image(np.zeros((16, 16), np.float32), name="added while docked")
    alone = _connections(viewer)  # (no panel)
    viewer.layers.remove("added while docked")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, title)
    viewer.add_image(np.zeros((16, 16), np.float32), name="added while docked")
    docked = _connections(viewer)
    assert all(docked[k] > alone[k] for k in ("inserted", "removed", "moved", "reordered", "active"))
    viewer.window.remove_dock_widget(dock)
    assert _connections(viewer) == alone
    viewer.window.add_dock_widget(widget)  # docked again (a script): the same connections, no more
    assert _connections(viewer) == docked
    viewer.window.remove_dock_widget(widget.native)
    assert _connections(viewer) == alone
    # and the closed panel follows nothing: a layer added, a move
    picker = widget.pickers[widget._primary.name]
    before = list(picker.choices)
    viewer.add_image(np.zeros((16, 16), np.float32), name="later")
    viewer.layers.move(viewer.layers.index("later"), 0)
    assert list(picker.choices) == before


def test_a_panel_docked_again_follows_the_layer_list_again(viewer):
    """A panel taken out of its dock and docked again (a script's add_dock_widget) lists the layers added
    meanwhile and follows the layer list again, as a new panel does."""
    viewer.add_image(np.zeros((16, 16), np.float32), name="first")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, SEG)
    viewer.window.remove_dock_widget(dock)
    viewer.add_image(np.zeros((16, 16), np.float32), name="while closed")
    picker = widget.pickers["image"]
    assert [c.name for c in picker.choices] == ["first"]  # (closed: not followed)
    viewer.window.add_dock_widget(widget)
    assert sorted(c.name for c in picker.choices) == ["first", "while closed"]
    viewer.add_image(np.zeros((16, 16), np.float32), name="later")
    viewer.layers["first"].name = "renamed"
    assert sorted(c.name for c in picker.choices) == ["later", "renamed", "while closed"]
    viewer.add_labels(np.zeros((16, 16), np.uint8), name="marks")  # (its layer events are followed: adopted)
    assert widget.pickers["scribbles"].value is not None and widget.pickers["scribbles"].value.name == "marks"


def test_a_deleted_panels_connections_go_at_the_next_layer_event(viewer, qtbot):
    """A panel a script made and never docked, whose Qt widget is deleted, drops its connections to the viewer
    at the next layer event (not from its `destroyed` signal: that crashed Python from the garbage collector)."""
    from qtpy.QtCore import QEvent
    from qtpy.QtWidgets import QApplication

    from napari_doubledip._widgets import DehazingWidget

    viewer.add_image(np.zeros((16, 16), np.float32), name="img")
    viewer.add_image(np.zeros((16, 16), np.float32), name="next")
    alone = _connections(viewer)
    viewer.layers.remove("next")
    panel = DehazingWidget(viewer)
    panel.native.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    viewer.add_image(np.zeros((16, 16), np.float32), name="next")  # (the RuntimeError there disconnects)
    assert _connections(viewer) == alone


def test_a_wheel_turn_over_a_list_the_user_has_not_clicked_into_leaves_it(make_napari_viewer_proxy, qtbot):
    """The wheel guard covers the panel's drop-down lists too (precision, the task's choices), not only its
    number fields: a wheel turn over one scrolled past changed it. Every guarded field takes the focus by click
    or Tab only (Qt's default for number fields, WheelFocus, gives a field the focus on a wheel turn, and the
    field then takes the wheel: the guard never held)."""
    from qtpy.QtCore import QPoint, QPointF, Qt
    from qtpy.QtGui import QWheelEvent
    from qtpy.QtWidgets import QAbstractSlider, QAbstractSpinBox, QApplication, QComboBox

    viewer = make_napari_viewer_proxy(show=True)
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, SEG)

    def wheel(native, delta):
        centre = native.rect().center()
        event = QWheelEvent(
            QPointF(centre), QPointF(native.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, delta),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
        )
        QApplication.sendEvent(native, event)

    for combo in (widget.precision, widget.task_options["automatic"]):
        before = combo.value
        for delta in (-120, 120, -120):
            wheel(combo.native, delta)
            assert combo.value == before, combo.name
    natives = widget._inner.findChildren((QAbstractSpinBox, QComboBox, QAbstractSlider))
    assert natives and all(n.focusPolicy() == Qt.FocusPolicy.StrongFocus for n in natives)


def test_a_focus_the_user_moved_during_a_grey_out_stays_where_they_put_it(make_napari_viewer_proxy, qtbot):
    """Run greyed out with the keyboard focus on it gets the focus back when enabled again, unless the user has
    clicked into another field meanwhile; a later grey-out of the button without the focus does not take it."""
    from qtpy.QtCore import Qt

    viewer = make_napari_viewer_proxy(show=True)
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, SEG)
    widget.native.window().activateWindow()
    button, seed = widget.run_button.native, widget.seed.native
    button.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(button.hasFocus, timeout=5000)
    widget._grey_button()
    assert not button.hasFocus()
    widget._ungrey_button()
    assert button.hasFocus()  # (the focus back)
    widget._grey_button()
    seed.setFocus(Qt.FocusReason.MouseFocusReason)  # the user clicks into the seed meanwhile
    qtbot.waitUntil(seed.hasFocus, timeout=5000)
    widget._ungrey_button()
    assert seed.hasFocus() and not button.hasFocus()
    seed.clearFocus()  # (no focus widget in the window now)
    widget._grey_button()
    widget._ungrey_button()
    assert not button.hasFocus()


def test_a_running_panel_locks_its_inputs_and_options(viewer, open_widget, qtbot):
    """While a run goes its inputs and options are locked (it read them at Run: a change would show values the
    run does not use); they come back when it ends."""
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    widget = open_widget(SEG)
    locked = [
        *widget.pickers.values(), widget.frames, widget.sequence_axis, *widget.task_options.values(),
        widget.iterations, widget.max_size, widget.device, widget.precision, widget.seed,
    ]
    worker = widget.run(start=False)  # (not started: cancelled below before any work)
    assert worker is not None and widget.worker is not None
    assert [w.name for w in locked if w.enabled] == []
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        widget.cancel()
        worker.start()
    assert widget.worker is None
    assert widget.pickers["image"].enabled and widget.seed.enabled and widget.iterations.enabled
    assert widget.precision.enabled and widget.max_size.enabled


def test_the_stack_options_follow_new_data_in_a_layer_added_after_the_panel_opened(viewer, open_widget):
    """The panel follows the data of layers added after it opened too (not only of those there at its
    opening): one becoming a stack shows the frames choice at once."""
    widget = open_widget(SEG)
    layer = viewer.add_image(np.zeros((40, 40), np.float32), name="img")
    widget.pickers["image"].value = layer
    assert widget.frames.native.isHidden()
    layer.data = np.zeros((4, 40, 40), np.float32)
    assert not widget.frames.native.isHidden()


def test_an_output_the_user_makes_active_again_is_where_the_next_panel_starts(viewer, open_widget, run_widget):
    """After a run napari made an output active (a new panel starts at the run's input instead); the user
    clicking another layer and then that output again chose it: a new panel starts there."""
    from napari_doubledip import samples

    viewer.add_image(samples.hazy_image(24).data, name="cells", rgb=True)
    run_widget(open_widget("Dehazing", iterations=2))
    made = viewer.layers.selection.active.name
    assert made == "cells clean"
    viewer.layers.selection.active = viewer.layers["cells"]
    viewer.layers.selection.active = viewer.layers[made]  # the user clicks it back
    assert open_widget(SEG).pickers["image"].value.name == made


def test_a_tooltip_with_markup_characters_reads_as_written(qtbot):
    """wrap_tooltips makes a plain tooltip rich text (so that Qt wraps it) without turning its '<', '>' or '&'
    into markup: the text shown is the text written."""
    from qtpy.QtGui import QTextDocument
    from qtpy.QtWidgets import QLabel, QWidget

    from napari_doubledip._widgets._panel import wrap_tooltips

    root = QWidget()
    qtbot.addWidget(root)
    child = QLabel(root)
    text = "values a<0.5 & b>2 are kept; &amp; stays as typed"
    child.setToolTip(text)
    wrap_tooltips(root)
    doc = QTextDocument()
    doc.setHtml(child.toolTip())
    assert child.toolTip().startswith("<qt>") and doc.toPlainText() == text


def test_the_fields_line_up_again_after_the_font_size_changes(make_napari_viewer_proxy, qtbot):
    """napari's font size (Preferences > Appearance) changed with a panel docked: its label column follows the
    labels' new font (it was set at show only: the widest label pushed its field out of line)."""
    from napari.settings import get_settings

    from napari_doubledip._widgets import SegmentationWidget

    viewer = make_napari_viewer_proxy(show=True)
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    widget = SegmentationWidget(viewer)
    viewer.window.add_dock_widget(widget)
    qtbot.wait(50)

    def starts():
        return {
            sub.name: sub.native.mapTo(widget.native, sub.native.rect().topLeft()).x()
            for sub in widget
            if sub.visible and getattr(sub, "_labeled_widget", lambda: None)() is not None
        }

    assert len(set(starts().values())) == 1
    appearance = get_settings().appearance
    old = appearance.font_size
    try:
        appearance.font_size = old + 8
        qtbot.wait(100)
        assert "max_size" in starts() and len(set(starts().values())) == 1, starts()
    finally:
        appearance.font_size = old


def test_a_cancel_under_way_when_the_hold_ends_keeps_the_button_greyed(viewer, open_widget, qtbot, monkeypatch):
    """Run greys its button for a double-click's time; a Cancel meanwhile (napari's activity dock, a script)
    greys it until the run ends: the end of the double-click time must not give it back as a Cancel that does
    nothing while that cancel finishes. (White-box: the cancel is held 'under way' by its flag.)"""
    from napari_doubledip._widgets import _base

    monkeypatch.setattr(_base, "DOUBLE_CLICK_S", 0.2)
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    widget = open_widget(SEG)
    worker = widget.run(start=False)  # (not started: nothing computes)
    widget._hold_cancel()
    assert not widget.run_button.enabled
    widget._job.cancelled = True  # a cancel under way
    qtbot.wait(500)
    assert not widget.run_button.enabled
    widget._job.cancelled = False
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        widget.cancel()
        worker.start()
    assert widget.worker is None and widget.run_button.enabled


def test_an_undocked_panel_closed_stops_following_the_layers_and_shown_follows_them_again(viewer, qtbot):
    """A panel a script made and closed without docking it drops its connections to the viewer (it stayed
    connected for the viewer's life: 80 such panels left 89 listeners on the layer list); shown again, it
    follows the layer list again."""
    from napari_doubledip._widgets import DehazingWidget

    viewer.add_image(np.zeros((16, 16), np.float32), name="img")
    viewer.add_image(np.zeros((16, 16), np.float32), name="later")
    alone = _connections(viewer)
    viewer.layers.remove("later")
    panel = DehazingWidget(viewer)
    qtbot.addWidget(panel.native)
    panel.native.close()
    viewer.add_image(np.zeros((16, 16), np.float32), name="later")
    assert _connections(viewer) == alone
    assert [c.name for c in panel.pickers["image"].choices] == ["img"]  # (closed: not followed)
    panel.native.show()
    assert sorted(c.name for c in panel.pickers["image"].choices) == ["img", "later"]
    assert _connections(viewer)["inserted"] > alone["inserted"]
    viewer.layers["later"].name = "renamed"
    assert sorted(c.name for c in panel.pickers["image"].choices) == ["img", "renamed"]
    panel.native.close()
