"""The device picker (``_widgets/_devices.py``): which keys wait for the device check, when it runs, and what
it offers when it fails."""

from __future__ import annotations

import threading


def _key(key, text=""):
    from qtpy.QtCore import QEvent, Qt
    from qtpy.QtGui import QKeyEvent

    return QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier, text)


def _unchecked_combo(qtbot, monkeypatch, probe):
    from napari_doubledip._widgets import _devices

    monkeypatch.setattr(_devices, "_probe_devices", probe)
    monkeypatch.setattr(_devices, "_torch_loaded", lambda: False)  # as at napari start-up
    combo = _devices.DeviceChoice()
    qtbot.addWidget(combo.native)
    return combo


def test_keys_that_pick_a_device_are_held_back_until_the_check_others_pass(qtbot, monkeypatch):
    """Before the device check is done, every key that changes the value (arrows, page keys, Home / End,
    typing an entry's name) is held back; a click (which opens the list) and space, Tab and Escape pass."""
    from qtpy.QtCore import QEvent, QPointF, Qt
    from qtpy.QtGui import QMouseEvent

    gate = threading.Event()
    combo = _unchecked_combo(qtbot, monkeypatch, lambda: gate.wait(10) and ["cpu"])
    watcher = combo._watcher
    click = QMouseEvent(QEvent.Type.MouseButtonPress, QPointF(5, 5), QPointF(5, 5), Qt.MouseButton.LeftButton,
                        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    assert not watcher.eventFilter(combo.native, click)  # (the first click starts the check, and opens the list)
    assert combo._probing and combo.available is None
    K = Qt.Key
    for key, text in [(K.Key_Up, ""), (K.Key_Down, ""), (K.Key_PageUp, ""), (K.Key_PageDown, ""),
                      (K.Key_Home, ""), (K.Key_End, ""), (K.Key_C, "c"), (K.Key_M, "m")]:
        assert watcher.eventFilter(combo.native, _key(key, text)), (key, text)
    for key, text in [(K.Key_Tab, "\t"), (K.Key_Escape, "\x1b"), (K.Key_Space, " "), (K.Key_Shift, "")]:
        assert not watcher.eventFilter(combo.native, _key(key, text)), (key, text)
    gate.set()
    qtbot.waitUntil(lambda: combo.available is not None, timeout=10_000)


def test_a_device_list_opened_after_a_run_is_checked_at_once(qtbot, monkeypatch):
    """With torch loaded (after a run), a new panel's list is checked when it opens, in the GUI thread."""
    from napari_doubledip._widgets import _devices

    calls = []
    monkeypatch.setattr(_devices, "_probe_devices", lambda: calls.append(threading.current_thread()) or ["cpu"])
    monkeypatch.setattr(_devices, "_torch_loaded", lambda: True)
    combo = _devices.DeviceChoice()
    qtbot.addWidget(combo.native)
    assert combo.available == ["cpu"] and calls == [threading.main_thread()]
    model = combo.native.model()
    assert [model.item(i).isEnabled() for i in range(len(_devices.DEVICES))] == [True, True, False, False]


def test_a_second_background_check_waits_for_the_first(qtbot, monkeypatch):
    """Clicks while the check runs start no second one (each would import torch and ask it again)."""
    gate, calls = threading.Event(), []

    def probe():
        calls.append(1)
        gate.wait(10)
        return ["cpu"]

    combo = _unchecked_combo(qtbot, monkeypatch, probe)
    combo.probe_in_background()
    combo.probe_in_background()
    qtbot.waitUntil(lambda: bool(calls), timeout=10_000)
    qtbot.wait(100)  # (a second thread, if any, has started too)
    gate.set()
    qtbot.waitUntil(lambda: combo.available is not None, timeout=10_000)
    assert calls == [1]


def test_a_broken_torch_leaves_the_cpu_in_the_device_list(qtbot, monkeypatch):
    """A device check that fails (a broken torch install) offers the CPU only, instead of never ending."""

    def probe():
        raise OSError("libtorch_cpu.so: cannot open shared object file")

    combo = _unchecked_combo(qtbot, monkeypatch, probe)
    combo.value = "cuda"
    combo.probe_in_background()
    qtbot.waitUntil(lambda: combo.available is not None, timeout=5_000)
    assert combo.available == ["cpu"] and combo.value == "auto" and not combo._probing
