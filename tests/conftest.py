"""Fixtures shared by all tests (generic ones only; widget fixtures live in tests/_widgets/conftest.py)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

#: ``NAPARI_DOUBLEDIP_TEST_DEVICE=cuda`` runs every task call the tests make with ``device="cpu"`` on that device
#: instead (a GPU correctness check of the task suite, ``benchmarks/gpu.sh``). Unset: the tests run as written.
TEST_DEVICE = os.environ.get("NAPARI_DOUBLEDIP_TEST_DEVICE", "").strip()


def pytest_configure(config: pytest.Config) -> None:
    # Qt warns (once per process) when XDG_RUNTIME_DIR is unset; a private 0700 dir silences it.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = tempfile.mkdtemp(prefix="xdg-runtime-")
        os.chmod(path, 0o700)
        os.environ["XDG_RUNTIME_DIR"] = path


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
