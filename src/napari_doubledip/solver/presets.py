"""Named recipes. ``"default"`` is ours (measured, fast); ``"reference"`` reproduces the authors' recipe.

The reference recipe (see ``REFERENCE-NOTES.md``) uses the authors' network sizes, a constant Adam learning rate,
their iteration counts and full-resolution optimisation. It exists for the speed/quality benchmark and for users
who want the paper's setting; it is 14-430x slower than the default in our CPU benchmark (``benchmarks/speed.py``).
"""

from __future__ import annotations

import dataclasses

from .device import check_precision
from .engine import Task
from .networks import NetConfig

__all__ = ["PRESETS", "apply_preset", "check_preset", "REFERENCE"]

PRESETS = ("default", "reference")

_SEG = NetConfig(channels=(8, 16, 32), skip=(0, 0, 0), kernel=3, in_channels=8)
_BIG5 = NetConfig(channels=(8, 16, 32, 64, 128), skip=(0, 0, 0, 4, 4), kernel=5, in_channels=8)
_BIG3 = NetConfig(channels=(8, 16, 32, 64, 128), skip=(0, 0, 0, 4, 4), kernel=3, in_channels=8)

#: task name -> (network for the image-sized DIPs, learning rate, iterations) of the authors' code.
REFERENCE: dict[str, tuple[NetConfig, float, int]] = {
    "segmentation": (_SEG, 1e-3, 6000),
    "video_segmentation": (_SEG, 1e-3, 6000),
    "transparency": (_BIG5, 1e-3, 7000),
    "transparency_single": (_BIG5, 5e-4, 8000),
    "video_transparency": (_BIG5, 1e-3, 7000),
    "watermark": (_BIG3, 1e-3, 11000),
    "dehazing": (_BIG5, 1e-3, 8000),
}


def check_preset(preset: str) -> str:
    """Validate a preset name."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    return preset


def reference_key(task: Task) -> str:
    """Key into :data:`REFERENCE` for a task (single-mixture transparency has its own recipe)."""
    name = task.name.replace(" ", "_")
    if name == "transparency" and task.target.shape[0] == 1:
        return "transparency_single"
    if name not in REFERENCE:
        raise KeyError(f"no reference recipe for task {task.name!r}")
    return name


def apply_preset(task: Task, preset: str, iterations: int | None = None, precision: str = "auto") -> Task:
    """Return ``task`` changed to follow ``preset`` (and ``precision``; ``"auto"`` keeps the task's own choice).

    For ``"reference"``: image-sized DIPs get the authors' architecture (scalar/small DIPs are kept), Adam runs at
    their constant learning rate, every step uses one of the 8 dihedral augmentations (their loop does; our
    defaults switch it off where it measured slower), early stopping is off, the networks run in float32, and the
    iteration count is theirs unless the caller gave ``iterations`` explicitly. The task's losses are kept (e.g.
    several mixtures' coefficient DIP held to the estimated coefficients).
    """
    check_preset(preset)
    check_precision(precision)
    if preset == "reference":
        task = _reference(task, iterations)
    return task if precision == "auto" else dataclasses.replace(task, precision=precision)


def planned_iterations(key: str, preset: str, iterations: int | None, default: int) -> int:
    """The iterations a run of the :data:`REFERENCE` task ``key`` will have: the caller's ``iterations``, else
    the preset's (the authors' count for ``"reference"``), else ``default`` (for reports made before the task
    is built, e.g. a long set-up's)."""
    if iterations is not None:
        return iterations
    return REFERENCE[key][2] if check_preset(preset) == "reference" else default


def _reference(task: Task, iterations: int | None) -> Task:
    key = reference_key(task)
    config, lr, _ = REFERENCE[key]
    dips = {}
    for name, dip in task.dips.items():
        if dip.scalar or dip.size is not None:
            dips[name] = dip
        else:
            cfg = dataclasses.replace(config, in_channels=dip.config.in_channels)
            dips[name] = dataclasses.replace(dip, config=cfg)
    return dataclasses.replace(
        task,
        dips=dips,
        lr=lr,
        lr_floor=1.0,
        augment=True,
        patience=None,
        settle=None,
        iterations=planned_iterations(key, "reference", iterations, task.iterations),
        check_every=max(task.check_every, 100),
        precision="float32",  # the authors' numerics
    )
