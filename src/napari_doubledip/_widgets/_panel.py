"""Qt plumbing of a panel: it scrolls in a short window, keeps its fields in line and whole when narrowed,
lets the wheel scroll it, and wraps its tooltips. Used by :class:`._base.TaskWidget`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magicgui.widgets import Container, create_widget
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QWidget

from ._spec import Option


class ParentWatch(QObject):
    """Reports the parent changes of a widget (the panel's scroll area: magicgui watches the widget inside it,
    whose parent never changes once it is in the scroll area)."""

    def __init__(self, widget: QWidget, callback: Callable[[Any], None]) -> None:
        super().__init__(widget)
        self._callback = callback
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.ParentChange:
            self._callback(obj.parent())
        return False


class ShowWatch(QObject):
    """Reports a widget's close and show events (a panel a script made, closed or shown again while undocked:
    no parent change tells of it)."""

    def __init__(self, widget: QWidget, closed: Callable[[], None], shown: Callable[[], None]) -> None:
        super().__init__(widget)
        self._closed, self._shown = closed, shown
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Close:
            self._closed()
        elif event.type() == QEvent.Type.Show:
            self._shown()
        return False


class FitWidth(QObject):
    """Keeps the panel's scroll area at least as wide as the rows inside need: magicgui sets its minimum once,
    as each row is added, before napari's larger label font and the label column's alignment widen the rows
    (the dock could then be made narrower than the fields, which were cut off: the horizontal scroll bar is
    off). Watches the widget inside the scroll area."""

    _KINDS = (QEvent.Type.LayoutRequest, QEvent.Type.Show, QEvent.Type.StyleChange, QEvent.Type.FontChange)

    def __init__(self, scroll: Any) -> None:
        super().__init__(scroll)
        self._scroll = scroll
        scroll.widget().installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() in self._KINDS:
            bar = self._scroll.verticalScrollBar().sizeHint().width()
            frame = 2 * self._scroll.frameWidth()
            self._scroll.setMinimumWidth(obj.minimumSizeHint().width() + bar + frame)
        return False


class WheelGuard(QObject):
    """A wheel turn over a field the user has not clicked into scrolls the panel instead of changing the field:
    scrolling down a panel in a short window changed the iterations, the working size, the seed... under the
    pointer (as in browsers' forms and Qt's designer). A field with focus takes the wheel as before."""

    def __init__(self, scroll: Any) -> None:
        super().__init__(scroll)
        self._scroll = scroll
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QAbstractSlider, QAbstractSpinBox, QComboBox

        for native in scroll.widget().findChildren((QAbstractSpinBox, QComboBox, QAbstractSlider)):
            native.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # (not WheelFocus: a wheel turn gives no focus)
            native.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() != QEvent.Type.Wheel or obj.hasFocus():
            return False
        from qtpy.QtWidgets import QApplication

        QApplication.sendEvent(self._scroll.verticalScrollBar(), event)
        return True


class LabelAligner(QObject):
    """Lines the panel's fields up once its labels have their final font.

    magicgui sizes the label column with the application's font when the widgets are added; napari's stylesheet
    gives labels a larger one when the panel is docked, and the widest label ("working size (0 = auto)") then
    pushes its own field out of line. At show, style and font changes the column is set to the widest label as
    drawn (magicgui's per-row label, reached through its private ``_labeled_widget``: left alone if that goes).
    """

    def __init__(self, container: Container, widget: QWidget) -> None:
        super().__init__(widget)
        self._container = container
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() in (QEvent.Type.Show, QEvent.Type.StyleChange, QEvent.Type.FontChange):
            self.align()
        return False

    def align(self) -> None:
        rows = []
        for widget in self._container:
            row = getattr(widget, "_labeled_widget", lambda: None)()
            label = getattr(row, "_label_widget", None)
            if label is not None:
                rows.append((row, label.native))
        if rows:
            width = max(native.sizeHint().width() for _row, native in rows)
            for row, _native in rows:
                row.label_width = width


def wrap_tooltips(root: Any) -> None:
    """Give the panel's tooltips as rich text, which Qt wraps: a plain one of 150-300 characters showed as one
    line up to 1500 px wide, across the window."""
    import html

    from qtpy.QtCore import Qt

    for widget in [root, *root.findChildren(QWidget)]:
        tip = widget.toolTip()
        if tip and not Qt.mightBeRichText(tip):
            widget.setToolTip(f"<qt>{html.escape(tip)}</qt>")


def option_widget(option: Option):
    widget = create_widget(
        value=option.value, annotation=option.annotation, name=option.name, label=option.label,
        options=option.options,
    )
    widget.tooltip = option.tooltip or None
    return widget
