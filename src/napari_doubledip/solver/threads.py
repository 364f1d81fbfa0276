"""How many CPU threads an optimisation uses.

Each DIP iteration is a few hundred small operations (convolutions, BatchNorm, padding, upsampling on a
128 x 128 working image). With several threads every one of them wakes the OpenMP team; with the passive wait
policy this package sets (spinning teams collapse when two runs share the cores: 1.7 s/it instead of 0.04 s/it,
measured) that wake-up costs more than the parallelism gains at this size. Measured on the 2-core CI machine,
seconds per iteration at the default 128 px working size, 1 thread vs 2 (``NAPARI_DOUBLEDIP_THREADS=1`` vs ``2``
with ``benchmarks/speed.py --sections recipes --sizes 128 --max-iterations 60``): segmentation 0.038 vs 0.053,
two mixtures 0.075 vs 0.101, watermark 0.066 vs 0.098, dehazing 0.052 vs 0.109, video transparency 0.098 vs
0.164; two threads win for video segmentation (4 frames of 3 DIPs per step: 0.168 vs 0.135) and for
segmentation at a 256 px working size (0.162 vs 0.136, ``--sections periter``).

So the thread count follows the work of one step (:func:`napari_doubledip.solver.engine.step_work`: the sum
over the DIPs of inputs per step x pixels x first-level channels) divided by :data:`WORK_PER_THREAD` and
rounded, at least 1 and at most the caller's ``torch.get_num_threads()`` (their or torch's setting: a ceiling).
``NAPARI_DOUBLEDIP_THREADS=N`` pins the count instead (the pin wins over the ceiling). :data:`WORK_PER_THREAD`
was measured on a 2-core machine; machines with more cores were not measured.

The choice deliberately ignores the machine's load and the OpenMP wait policy in effect: the result of a seeded
run depends on the thread count (reductions are split differently), so it must depend only on the task, the
machine and the settings above: same input, same seed, same settings, same numbers.

The count is chosen once, at the start of a run (from the starting thread's setting), and applied around each
stretch of work between two progress reports, in the thread that resumes the run, and the caller's count is
back in place at every report: a run abandoned mid-way (a cancelled GUI worker that never closes its
generator) leaves no changed setting behind. torch also keeps a process-wide count that each thread copies at its
first parallel operation, and ``torch.set_num_threads`` sets it too: :func:`_call_with` reads it first and puts it
back after each of its own calls, from short-lived helper threads, so that a thread that starts torch work while
a run computes (another run, another plugin) gets the process's setting, not the run's, and a run resumed from a
thread whose own count differs leaves the process's as it found it (at most four ``torch.set_num_threads`` calls
and four helper threads per report, none where the run's count is the resuming thread's own). Runs at once (two
panels, a console script beside a panel) take turns at these steps, so none reads another's count as the
process's.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import torch

from .stretches import drive

__all__ = ["WORK_PER_THREAD", "threads_for", "run_with_threads"]

ENV = "NAPARI_DOUBLEDIP_THREADS"

#: Work (inputs x pixels x first-level channels, summed over the DIPs) of one step per thread. At 128 px the
#: single-image tasks are 0.4-0.8 M (1 thread); segmentation at 256 px and video segmentation 1.6 M (2).
WORK_PER_THREAD = 1_000_000

Y = TypeVar("Y")
R = TypeVar("R")


def _pinned() -> int | None:
    value = os.environ.get(ENV, "").strip()
    try:
        n = int(value) if value else 0  # unset, empty or 0: the work decides
    except ValueError:
        n = -1
    if n < 0:
        from .._validation import warn_once

        warn_once(f"{ENV}={value!r} is not a whole number of threads (0 = automatic); ignored")
        return None
    return n or None


def threads_for(work: int, ceiling: int) -> int:
    """Threads for an optimisation step of the given ``work`` (see the module docstring).

    Parameters
    ----------
    work
        Sum over the DIPs of (noise inputs per step x height x width x first-level channels).
    ceiling
        At most this many (the caller's ``torch.get_num_threads()``), unless ``NAPARI_DOUBLEDIP_THREADS`` pins
        the count.
    """
    pinned = _pinned()
    if pinned is not None:
        return pinned
    return max(1, min(int(ceiling), math.floor(int(work) / WORK_PER_THREAD + 0.5)))


def _in_helper(fn: Callable[[], Y]) -> Y:
    """``fn()`` run in a short-lived helper thread (whose torch thread count is the process-wide one)."""
    out: list[Y] = []
    helper = threading.Thread(target=lambda: out.append(fn()), name="napari-doubledip-threads")
    helper.start()
    helper.join()
    return out[0]


def _set_elsewhere(n: int) -> None:
    """``torch.set_num_threads(n)`` from a short-lived helper thread.

    With OpenMP, ``torch.set_num_threads`` sets the calling thread's count *and* a process-wide value that every
    thread copies at its first parallel operation. Calling it from a helper thread puts that process-wide value
    back without touching the run's own thread; otherwise a thread that starts torch work while a run computes
    (another run, another plugin's worker) would inherit the run's count for good.
    """
    _in_helper(lambda: torch.set_num_threads(n))


def _process_wide() -> int:
    """The process-wide count (what a new thread starts with): the calling thread's own count may differ (a
    worker thread started before the user changed the setting)."""
    return _in_helper(torch.get_num_threads)


#: Held while a run's thread count is set or put back: between ``torch.set_num_threads`` and the helper thread
#: that restores the process-wide count, that count is the run's; another run reading it then would take it for
#: the process's setting and put it back at its end (two runs at once left every later thread with 1).
_SETTING = threading.Lock()


def _call_with(n: int, fn: Callable[[], Y]) -> Y:
    original = torch.get_num_threads()
    wide = None
    try:
        if n != original:
            with _SETTING:
                wide = _process_wide()
                torch.set_num_threads(n)
                _set_elsewhere(wide)
        return fn()
    finally:
        if torch.get_num_threads() != original:
            with _SETTING:
                wide = _process_wide() if wide is None else wide
                torch.set_num_threads(original)  # (which sets the process-wide count too: put back after it)
                _set_elsewhere(wide)


def run_with_threads(
    gen: Generator[Y, Any, R], device: torch.device, threads: int | None
) -> Generator[Y, Any, R]:
    """Drive ``gen`` like ``yield from``, running each stretch between two yields with ``threads`` threads.

    ``threads`` is fixed for the whole run (from :func:`threads_for` at its start), whichever thread resumes it,
    so that the count a result records is the one every step used. The resuming thread's own setting is put
    back before every yield, so between yields, and after an abandoned run, every thread has its own setting.
    Non-CPU devices (``threads`` ``None``): plain delegation.
    """
    if device.type != "cpu" or threads is None:
        return (yield from gen)

    def around(advance: Callable[[], Y]) -> Y:
        return _call_with(threads, advance)

    return (yield from drive(gen, around))
