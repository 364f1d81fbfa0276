"""A single-image task run on every frame of a stack, one frame after the other.

For tasks whose frames have nothing to share (a hazy Z-stack: each plane has its own haze), the stack is the
single-image task's loop over its frames, reported as one run: progress counts the iterations of all frames,
the live preview is the whole stack (frames done, the current one forming, the rest NaN), a stop ends the
current frame with its best result so far and leaves the frames after it NaN, and a warning said for one frame
is said once (prefixed with the frame it came from), not once per frame.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import numpy as np

from .._validation import WARNING_SINK, _check_array, _stack_sequence, as_frames, warn
from ..solver.engine import _stop_requested
from ..solver.progress import Progress
from ._common import RunInfo

__all__ = ["each_frame"]

R = TypeVar("R", bound=RunInfo)

#: Numbers in a warning's text: two frames' warnings that differ only there say the same thing.
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?")


def each_frame(
    steps: Callable[..., Generator[Progress, None, R]],
    frames: Any,
    kwargs: dict[str, Any],
    stop: Any = None,
    name: str = "frames",
) -> Generator[Progress, None, R]:
    """Run the generator function ``steps(frame, stop=stop, **kwargs)`` on every frame of ``frames``.

    Parameters
    ----------
    steps
        A single-image task's generator function (e.g. ``dehaze.steps``), taking the frame first.
    frames
        ``(T, H, W)`` or ``(T, H, W, C)`` array (or a sequence of frames), any numeric dtype; each frame is
        passed as it is (in its own units, so the results are in the stack's units).
    kwargs
        The task's other arguments, the same for every frame (so a seeded frame gives exactly what the task
        gives for that frame alone).
    stop, name
        Stop request; the argument's name in error messages.

    Returns
    -------
    RunInfo
        The task's result class with each array field stacked along a new first axis (frames not reached after
        a stop are NaN). ``iterations`` and ``elapsed`` are totals, ``history`` runs on across frames,
        ``final_loss`` is the mean over the frames run; ``params`` holds each parameter once where all frames
        agree, else a list with one value per frame, and ``frames`` / ``frames_run``.
    """
    # The stack's checks, under its own name (its warnings come from the frames' own checks below, each once:
    # said here too they would come twice)
    token = WARNING_SINK.set(lambda message, category: None)
    try:
        as_frames(frames, name, min_count=1)
    finally:
        WARNING_SINK.reset(token)
    stack = _stack_sequence(frames, name, one_sequence=True) if isinstance(frames, (list, tuple)) else (
        _check_array(frames, name)
    )
    count = int(stack.shape[0])
    t0 = time.perf_counter()
    results: list[R | None] = [None] * count
    previews: dict[str, np.ndarray] = {}
    said: set[str] = set()
    done = 0  # iterations of the frames finished
    for i in range(count):
        if i and _stop_requested(stop):  # (a frame started now would return its untrained networks' output)
            break
        gen = steps(stack[i], stop=stop, **kwargs)
        sink = _once_per_stack(i, count, said)
        try:
            while True:
                token = WARNING_SINK.set(sink)
                try:
                    p = next(gen)
                except StopIteration as end:
                    results[i] = end.value
                    break
                finally:
                    WARNING_SINK.reset(token)
                preview = None
                if p.preview is not None:
                    preview = {}
                    for key, value in p.preview.items():
                        _place(previews, key, value, i, count)
                        preview[key] = previews[key].copy()  # (the widget keeps what it is given)
                yield Progress(
                    iteration=done + p.iteration,
                    total=done + p.total * (count - i),
                    loss=p.loss,
                    losses=p.losses,
                    preview=preview,
                    elapsed=time.perf_counter() - t0,
                    stage=None if p.stage is None else f"frame {i + 1} of {count}: {p.stage}",
                )
        finally:
            gen.close()
        result = results[i]
        done += result.iterations
        for key in previews:  # the finished frame as it came out, in the stack shown next
            value = getattr(result, key, None)
            if isinstance(value, np.ndarray):
                _place(previews, key, value, i, count)
        if result.stopped:
            break
    return _stacked(results, time.perf_counter() - t0)


def _once_per_stack(index: int, count: int, said: set[str]) -> Callable[[str, type[Warning]], None]:
    """A warning sink for frame ``index``: each message (numbers aside) once per stack, naming its frame."""
    outer = WARNING_SINK.get()

    def sink(message: str, category: type[Warning]) -> None:
        key = _NUMBER.sub("#", message)
        if key in said:
            return
        said.add(key)
        text = f"frame {index} of {count}: {message}" if count > 1 else message
        if outer is not None:
            outer(text, category)
        else:
            token = WARNING_SINK.set(None)
            try:
                warn(text, category)
            finally:
                WARNING_SINK.reset(token)

    return sink


def _place(stacks: dict[str, np.ndarray], key: str, value: Any, index: int, count: int) -> None:
    """Write one frame's array into the stack ``stacks[key]`` (made, NaN, at the first frame seen), resized
    to the stack's frame size where it differs (a large frame's preview is made smaller)."""
    value = np.asarray(value, dtype=np.float32)
    if key not in stacks:
        stacks[key] = np.full((count, *value.shape), np.nan, np.float32)
    target = stacks[key]
    if value.shape != target.shape[1:]:
        from skimage.transform import resize

        value = resize(value, target.shape[1:], order=1, preserve_range=True, anti_aliasing=False)
    target[index] = value


def _stacked(results: list[Any], elapsed: float) -> Any:
    """One result of the task's class from the frames' results (``None``: not run)."""
    run = [r for r in results if r is not None]
    first = run[0]
    values: dict[str, Any] = {}
    info = {f.name for f in dataclasses.fields(RunInfo)}
    for f in dataclasses.fields(first):
        if f.name in info:
            continue
        parts = [getattr(r, f.name) if r is not None else None for r in results]
        if isinstance(parts[0], np.ndarray):
            blank = np.full_like(parts[0], np.nan, dtype=np.float32)
            values[f.name] = np.stack([blank if p is None else p for p in parts]).astype(np.float32, copy=False)
        else:
            values[f.name] = parts
    params: dict[str, Any] = {}
    for key in first.params:
        each = [r.params.get(key) for r in run]
        params[key] = each[0] if all(v == each[0] for v in each) else [*each, *[None] * (len(results) - len(run))]
    params["frames"], params["frames_run"] = len(results), len(run)
    history, offset = [], 0
    for r in run:
        history += [(offset + it, loss) for it, loss in r.history]
        offset += r.iterations
    losses = [r.final_loss for r in run if not math.isnan(r.final_loss)]
    return type(first)(
        **values,
        params=params,
        seed=first.seed,
        device=first.device,
        iterations=sum(r.iterations for r in run),
        final_loss=float(np.mean(losses)) if losses else float("nan"),
        elapsed=elapsed,
        stopped=any(r.stopped for r in run) or len(run) < len(results),
        history=history,
        threads=first.threads,
        precision=first.precision,
    )
