"""The progress report of a run, in a module of its own: ``napari_doubledip.Progress`` must not import torch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Progress:
    """A progress report yielded by :func:`optimise` and by ``napari_doubledip.iterate(task_function, ...)``.

    Attributes
    ----------
    iteration, total
        Iterations done and planned. A run that stops early (its loss on a plateau, its outputs settled) says
        so in its last report, whose ``total`` is then ``iteration``.
    loss
        Weighted total loss at the last report point.
    losses
        Each term's unweighted value at the last report point (terms at weight 0 there are left out, except the
        tracked one).
    preview
        User-facing arrays of the current result (only at check points, else ``None``; for large images some
        tasks make them at a reduced size, e.g. dehazing at about 1 megapixel).
    elapsed
        Seconds since the start of the optimisation (for a ``stage`` report: since the start of that step).
    stage
        ``None`` for a report of the optimisation. A step outside it that is long enough to report on its own
        sets it, e.g. ``"automatic hints: frame 40 of 100"`` in a long stack's set-up (``iteration`` 0, ``loss``
        NaN) or ``"finishing at full size: frame 40 of 100"`` after it (the iterations run and the tracked
        loss), or ``"estimating the mixing coefficients: 3 of up to 28"`` before a run of several mixtures.
        Such a report is, like any other, a point where a run's generator can be closed.
    frame
        For a stack run frame by frame (e.g. ``dehaze_frames``): ``(index, count)`` of the frame running
        (0-based, as napari's slider); else ``None``.
    """

    iteration: int
    total: int
    loss: float
    losses: dict[str, float]
    preview: dict[str, np.ndarray] | None
    elapsed: float
    stage: str | None = None
    frame: tuple[int, int] | None = None
