"""How many CPU threads an optimisation uses.

Each DIP iteration is a few hundred small operations (convolutions, BatchNorm, padding, upsampling on a
128 x 128 working image). With several threads every one of them wakes the OpenMP team; with the passive wait
policy this package sets (spinning teams collapse when two runs share the cores: 1.7 s/it instead of 0.04 s/it,
measured) that wake-up costs more than the parallelism gains at this size. Measured on the 2-core CI machine,
seconds per iteration at the default 128 px working size, 1 thread vs 2: segmentation 0.038 vs 0.053, two
mixtures 0.075 vs 0.101, watermark 0.066 vs 0.098, dehazing 0.052 vs 0.109, video transparency 0.098 vs 0.164;
two threads win for video segmentation (4 frames of 3 DIPs per step: 0.168 vs 0.135) and for segmentation at a
256 px working size (0.162 vs 0.136).

So the thread count follows the work of one step, measured as the sum over the DIPs of (inputs per step x
pixels x first-level channels), divided by :data:`WORK_PER_THREAD` and rounded; at least 1 and at most what
``torch.get_num_threads()`` says (the user's or torch's setting). The choice depends only on the task and the
machine, never on its load, because the result of a seeded run depends on the thread count (reductions are
split differently): same input, same seed, same machine, same numbers. ``NAPARI_DOUBLEDIP_THREADS=N`` pins it.

If torch was imported before this package (or ``OMP_WAIT_POLICY`` was set to something else), OpenMP spins
instead; then waking the team is cheap and torch's own thread count is kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["WORK_PER_THREAD", "threads_for", "cpu_threads", "passive_wait"]

ENV = "NAPARI_DOUBLEDIP_THREADS"

#: Work (inputs x pixels x first-level channels, summed over the DIPs) of one step per thread. At 128 px the
#: single-image tasks are 0.4-0.8 M (1 thread); segmentation at 256 px and video segmentation 1.6 M (2).
WORK_PER_THREAD = 1_000_000


def threads_for(work: int, ceiling: int) -> int:
    """Threads for an optimisation step of the given ``work``.

    Parameters
    ----------
    work
        Sum over the DIPs of (noise inputs per step x height x width x first-level channels).
    ceiling
        Never more than this (``torch.get_num_threads()`` when the run starts).
    """
    pinned = os.environ.get(ENV, "").strip()
    if pinned.isdigit() and int(pinned) > 0:
        return int(pinned)
    if not passive_wait():
        return max(1, int(ceiling))
    return max(1, min(int(ceiling), round(int(work) / WORK_PER_THREAD)))


def passive_wait() -> bool:
    """Whether OpenMP threads sleep (this package's ``OMP_WAIT_POLICY=PASSIVE`` took effect) or spin."""
    import napari_doubledip

    return bool(getattr(napari_doubledip, "PASSIVE_WAIT", False))


@contextmanager
def cpu_threads(device: torch.device, work: int) -> Iterator[int]:
    """Run the body with :func:`threads_for` threads on the CPU and restore torch's setting afterwards.

    Yields the thread count used (torch's own for other devices, where it does not matter).
    """
    original = torch.get_num_threads()
    if device.type != "cpu":
        yield original
        return
    n = threads_for(work, original)
    if n != original:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != original:
            torch.set_num_threads(original)
