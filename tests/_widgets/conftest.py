"""Widget-test fixtures: a proxied viewer (as plugins get it), opening widgets through the manifest, running."""

from __future__ import annotations

import pytest

PLUGIN = "napari-doubledip"

#: Worker runs here are tiny (few iterations, 16-48 px), but the CI machine may be busy.
RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def viewer(make_napari_viewer_proxy):
    return make_napari_viewer_proxy()


@pytest.fixture(autouse=True)
def _fresh_options():
    """Every test's panels start at the default options (a panel starts where the last one of its task was
    left in the process: tests must not inherit each other's)."""
    from napari_doubledip._widgets import _base

    _base._REMEMBERED.clear()
    yield
    _base._REMEMBERED.clear()


@pytest.fixture
def open_widget(viewer):
    """Open a dock widget by its manifest display name; returns the widget, set up for fast runs."""

    def _open(display_name: str, iterations: int = 10, max_size: int = 16):
        _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, display_name)
        widget.iterations.value = iterations
        widget.max_size.value = max_size
        return widget

    return _open


@pytest.fixture
def run_widget(qtbot):
    """Run a widget to completion (the worker is started inside ``waitSignal``); returns the worker."""

    def _run(widget, timeout: int = RUN_TIMEOUT_MS):
        worker = widget.run(start=False)
        assert worker is not None, widget.status.value
        with qtbot.waitSignal(worker.finished, timeout=timeout):
            worker.start()
        assert widget.worker is None
        return worker

    return _run


def _notifications(severity_name: str):
    """Record the messages of the napari notifications of one severity shown while the generator is open."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    severity = getattr(NotificationSeverity, severity_name)
    seen: list[str] = []

    def record(notification):
        if notification.severity == severity:
            seen.append(str(notification.message))

    notification_manager.notification_ready.connect(record)
    yield seen
    notification_manager.notification_ready.disconnect(record)


@pytest.fixture
def errors():
    """Messages of the napari error notifications shown during the test."""
    yield from _notifications("ERROR")


@pytest.fixture
def warnings_shown():
    """Messages of the napari warning notifications shown during the test."""
    yield from _notifications("WARNING")


@pytest.fixture
def infos():
    """Messages of the napari info notifications shown during the test."""
    yield from _notifications("INFO")
