"""Device choice (auto/cpu/cuda/mps) whose unavailable entries are greyed out.

Finding out which devices exist needs torch, and the plugin must not import torch when napari starts or when a
widget opens. So the list is checked lazily: when the user first opens it, or right away if torch is already
loaded (after a run). The worker validates the choice anyway
(:func:`napari_doubledip.solver.device.resolve_device`).
"""

from __future__ import annotations

import sys

from magicgui.widgets import ComboBox
from qtpy.QtCore import QEvent, QObject

__all__ = ["DEVICES", "DeviceChoice"]

DEVICES = ("auto", "cpu", "cuda", "mps")


class _FirstUse(QObject):
    """Calls ``callback`` once, before the first click or key press reaches the watched widget."""

    def __init__(self, callback, parent: QObject) -> None:
        super().__init__(parent)
        self._callback = callback

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress) and self._callback is not None:
            callback, self._callback = self._callback, None
            obj.removeEventFilter(self)
            callback()
        return False


class DeviceChoice(ComboBox):
    """``ComboBox`` of :data:`DEVICES`; :meth:`probe` disables the ones this machine lacks."""

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=DEVICES, value="auto", **kwargs)
        self.available: list[str] | None = None
        self.tooltip = "auto = cuda, else mps, else cpu. Devices this machine lacks are greyed out."
        self._watcher = _FirstUse(self.probe, self.native)
        self.native.installEventFilter(self._watcher)
        if "torch" in sys.modules:
            self.probe()

    def probe(self) -> list[str]:
        """Ask torch which devices exist (imports torch) and disable the others."""
        if self.available is None:
            from ..solver.device import available_devices

            self.available = available_devices()
        model = self.native.model()
        for i, name in enumerate(DEVICES):
            item = model.item(i)
            if item is None:  # pragma: no cover - non-standard model
                continue
            ok = name == "auto" or name in self.available
            item.setEnabled(ok)
            item.setToolTip("" if ok else f"{name} is not available on this machine")
        if self.value not in ("auto", *self.available):
            self.value = "auto"
        return self.available
