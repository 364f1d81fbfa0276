"""Device choice (auto/cpu/cuda/mps) whose unavailable entries are greyed out.

Finding out which devices exist needs torch, and the plugin must not import torch when napari starts or when a
widget opens. So the list is checked lazily: when the user first clicks it, in a background thread (importing
torch takes seconds, which would freeze the GUI), or right away if torch is already loaded (after a run). The
worker validates the choice anyway (:func:`napari_doubledip.solver.device.resolve_device`).
"""

from __future__ import annotations

import sys
import threading

from magicgui.widgets import ComboBox
from qtpy.QtCore import QEvent, QObject, Qt, Signal

__all__ = ["DEVICES", "DeviceChoice"]

DEVICES = ("auto", "cpu", "cuda", "mps")


class _FirstUse(QObject):
    """Calls ``callback`` once, at the first click, key press or wheel turn on the watched widget; until
    ``ready()``, wheel turns and the key presses that change the value are held back: they would pick a device
    the check has not ruled out yet (a wheel turn over the list chose "cuda" on a machine without one, refused
    only once the run started). Tab and the like pass. Once ready, Qt skips the disabled entries itself."""

    _KINDS = (QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.Wheel)

    def __init__(self, callback, ready, parent: QObject) -> None:
        super().__init__(parent)
        self._callback, self._ready = callback, ready

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() not in self._KINDS:
            return False
        if self._callback is not None:
            callback, self._callback = self._callback, None
            callback()
        if self._ready():
            obj.removeEventFilter(self)
            return False
        if event.type() == QEvent.Type.KeyPress:  # (Tab, Escape... pass: focus must not be stuck here)
            return _selects(event)
        return event.type() != QEvent.Type.MouseButtonPress


#: Keys that change a combo box's value without opening it.
_SELECTING_KEYS = {Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown, Qt.Key.Key_Home,
                   Qt.Key.Key_End}


def _selects(event: QEvent) -> bool:
    """Whether a key press would change the combo box's value: arrows, Home / End, or typing an entry's name."""
    if event.key() in _SELECTING_KEYS:
        return True
    text = event.text()
    return bool(text) and text.isprintable() and not text.isspace()


class _Probed(QObject):
    """Carries the probe's answer from its thread to the GUI thread (a queued signal)."""

    done = Signal(list)


def _torch_loaded() -> bool:
    """Whether the device check can run at once: torch imported, and no first run importing the library (in a
    thread of its own: the check in the GUI thread waited for, or competed with, the rest of that import)."""
    from ._worker import importing

    return "torch" in sys.modules and not importing()


#: The module the device check imports (and torch with it).
_DEVICE_MODULE = "napari_doubledip.solver.device"


def _probe_devices() -> list[str]:
    from ..solver.device import available_devices

    return available_devices()


class DeviceChoice(ComboBox):
    """``ComboBox`` of :data:`DEVICES`; :meth:`probe` disables the ones this machine lacks."""

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=DEVICES, value="auto", **kwargs)
        self.available: list[str] | None = None
        self.tooltip = "auto = cuda, else mps, else cpu. Devices this machine lacks are greyed out."
        self._probed = _Probed(self.native)
        self._probed.done.connect(self._on_probed)
        self._probing = False
        self._watcher = _FirstUse(self.probe_in_background, lambda: self.available is not None, self.native)
        self.native.installEventFilter(self._watcher)
        if _torch_loaded():
            self.probe()

    def probe_in_background(self) -> None:
        """Start :meth:`probe`'s work in a thread (it may import torch); the list is updated when it is done."""
        if self.available is not None or _torch_loaded():
            self.probe()
            return
        if self._probing:
            return
        self._probing = True
        from ._worker import start_import

        # (the import is known to importing() from here on: another panel's check waits for it in the
        # background too, instead of in the GUI thread)
        pending = start_import(_DEVICE_MODULE)

        def work() -> None:
            try:
                if pending is not None:
                    done, failed = pending
                    done.wait()
                    if failed:
                        raise failed[0]
                found = _probe_devices()
            except Exception:  # noqa: BLE001 - a broken torch install: offer the CPU; the run will say more
                found = ["cpu"]
            try:
                self._probed.done.emit(found)
            except RuntimeError:  # the widget was deleted meanwhile
                pass

        threading.Thread(target=work, name="doubledip-device-probe", daemon=True).start()

    def _on_probed(self, found: list[str]) -> None:
        self._probing = False
        if self.available is None:
            self.available = list(found)
        self.probe()

    def probe(self) -> list[str]:
        """Ask torch which devices exist (imports torch, blocking) and disable the others."""
        if self.available is None:
            self.available = _probe_devices()
        model = self.native.model()
        for i, name in enumerate(DEVICES):
            item = model.item(i)
            if item is None:  # pragma: no cover - non-standard model
                continue
            ok = name == "auto" or name in self.available
            item.setEnabled(ok)
            item.setToolTip("" if ok else f"{name} is not available on this machine")
        if self.value not in ("auto", *self.available):
            # (picked in the list opened before the check was done: say why it went back)
            from napari.utils.notifications import show_warning

            show_warning(f"device: {self.value} is not available on this machine; set to auto")
            self.value = "auto"
        return self.available
