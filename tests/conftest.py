"""Fixtures shared by all tests (generic ones only; widget fixtures live in tests/_widgets/conftest.py)."""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import pytest

#: ``NAPARI_DOUBLEDIP_TEST_DEVICE=cuda`` runs every task call the tests make with ``device="cpu"`` on that device
#: instead (a GPU correctness check of the task suite, ``benchmarks/gpu.sh``). Unset: the tests run as written.
TEST_DEVICE = os.environ.get("NAPARI_DOUBLEDIP_TEST_DEVICE", "").strip()
#: ``NAPARI_DOUBLEDIP_FAILURE_LOG=path`` appends each failure's traceback to that file as it happens, so a run cut
#: off by a time limit (a borrowed GPU's phase) still says what failed and why.
FAILURE_LOG = os.environ.get("NAPARI_DOUBLEDIP_FAILURE_LOG", "").strip()


def pytest_configure(config: pytest.Config) -> None:
    # Qt warns (once per process) when XDG_RUNTIME_DIR is unset; a private 0700 dir silences it.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = tempfile.mkdtemp(prefix="xdg-runtime-")
        os.chmod(path, 0o700)
        os.environ["XDG_RUNTIME_DIR"] = path
    # napari's viewer fixtures reset and save its settings: to a file of this test process (each xdist worker
    # its own, read when napari first loads its settings, after this), never the user's
    settings = tempfile.mkdtemp(prefix="napari-settings-")
    os.environ["NAPARI_CONFIG"] = os.path.join(settings, "settings.yaml")
    config.add_cleanup(lambda: shutil.rmtree(settings, ignore_errors=True))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DEVICE:
        skip = pytest.mark.skip(reason=f"CPU-only expectation; runs are sent to {TEST_DEVICE}")
        for item in items:
            if "cpu_only" in item.keywords:
                item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under xdist the controller sees every worker's reports; write from there only, once per failure.
    if FAILURE_LOG and report.failed and not os.environ.get("PYTEST_XDIST_WORKER"):
        with open(FAILURE_LOG, "a", encoding="utf-8") as f:
            f.write(f"==== {report.nodeid} ({report.when})\n{report.longreprtext}\n\n")


@pytest.fixture(autouse=bool(TEST_DEVICE))
def _redirect_device(monkeypatch):
    """Send the tasks' CPU runs to ``NAPARI_DOUBLEDIP_TEST_DEVICE`` (autouse only when it is set)."""
    import importlib

    from napari_doubledip.solver import device as D

    resolve = D.resolve_device

    def redirected(device="auto"):
        dev = resolve(device)
        return resolve(TEST_DEVICE) if dev.type == "cpu" else dev

    for name in ("segmentation", "transparency", "watermark", "dehaze", "video"):
        module = importlib.import_module(f"napari_doubledip.tasks.{name}")
        monkeypatch.setattr(module, "resolve_device", redirected)


@pytest.fixture
def run_device() -> str:
    """The device the tasks' ``device="cpu"`` runs actually use (``NAPARI_DOUBLEDIP_TEST_DEVICE`` or "cpu")."""
    return TEST_DEVICE or "cpu"


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator (the same numbers in every test)."""
    return np.random.default_rng(0)


@pytest.fixture
def dehaze_previews(monkeypatch) -> list[int]:
    """Counts the dehazing task's preview computations (one entry per preview made)."""
    from napari_doubledip.tasks import dehaze as D

    made: list[int] = []
    optimise = D.optimise

    def counting(task, *args, **kwargs):
        preview = task.preview
        task.preview = lambda out: made.append(1) or preview(out)
        return (yield from optimise(task, *args, **kwargs))

    monkeypatch.setattr(D, "optimise", counting)
    return made
