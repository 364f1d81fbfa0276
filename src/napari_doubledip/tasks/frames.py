"""A single-image task run on every frame of a stack, one frame after the other.

For tasks whose frames have nothing to share (a hazy Z-stack: each plane has its own haze), the stack is the
single-image task's loop over its frames, reported as one run: progress counts the iterations of all frames,
the live preview is the whole stack (frames done, the current one forming, the rest NaN; at a reduced size
per frame for long stacks, see :data:`PREVIEW_STACK_BYTES`), a stop ends the current frame with its best
result so far and leaves the frames after it NaN, and a warning said for one frame is said once (naming the
frame it came from), not once per frame.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import numpy as np

from .._validation import (
    _MASK_ADVICE,
    WARNING_SINK,
    _check_array,
    _frames_layout,
    _masked,
    _stack_sequence,
    _value_range,
    host_array,
    load_frames,
    warn,
)
from ..solver.engine import _stop_requested
from ..solver.progress import Progress
from ._common import RunInfo, preview_shape

__all__ = ["each_frame", "PREVIEW_STACK_BYTES"]

R = TypeVar("R", bound=RunInfo)

#: A live preview of a stack holds at most about this many bytes per part: every report hands over a copy of
#: the whole stack (the receiver keeps it), so the frames of a long stack are previewed at a reduced size (a
#: 100-frame stack of 1 MP RGB frames would otherwise copy 1.2 GB per part at every check point).
PREVIEW_STACK_BYTES = 64 * 2**20
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
        The task's result class, each array field a float32 stack along a new first axis (frames not reached
        after a stop are NaN), each other field a list with one value per frame (``None``: not reached).
        ``iterations`` and ``elapsed`` are totals, ``history`` runs on across frames, ``final_loss`` is the
        mean over the frames run; ``params`` holds each parameter once where all frames agree, else a list with
        one value per frame, and ``frames`` / ``frames_run``.

    Notes
    -----
    ``Progress.total`` is an estimate that never decreases until the end: the frames still to come are counted
    at the largest budget a frame has had so far (a task may give frames different budgets, e.g. dense haze);
    the last frame's last report (at its budget, or where it stopped early) has ``total == iteration``.
    Exceptions thrown into the generator (``throw``) reach the current frame's generator where it waits.
    """
    stack, dtypes = _load(frames, name)
    count = int(stack.shape[0])
    t0 = time.perf_counter()
    out: dict[str, np.ndarray] = {}  # the array fields, stacked, made at the first frame's result
    runs: list[Any] = []  # the frames' results without their arrays
    previews: dict[str, np.ndarray] = {}
    said: set[str] = set()
    done = 0  # iterations of the frames finished
    budget = 0  # the largest budget of a frame so far
    total = 0  # the last total reported
    for i in range(count):
        if i and _stop_requested(stop):  # (a frame started now would return its untrained networks' output)
            break
        gen = steps(stack[i] if dtypes is None else stack[i].astype(dtypes[i]), stop=stop, **kwargs)
        sink = _once_per_stack(i, count, said, name)
        pending: BaseException | None = None
        try:
            while True:
                token = WARNING_SINK.set(sink)
                try:
                    p = next(gen) if pending is None else gen.throw(pending)
                except StopIteration as end:
                    result = end.value
                    break
                finally:
                    WARNING_SINK.reset(token)
                    pending = None
                budget = max(budget, p.total)
                total = max(total, done + p.total + budget * (count - i - 1))
                if i == count - 1 and p.stage is None and p.iteration >= p.total:
                    total = done + p.total  # the last frame's run ends here (at its budget or early): so does ours
                preview = None
                if p.preview is not None:
                    preview = {}
                    for key, value in p.preview.items():
                        _place(previews, key, value, i, count)
                        preview[key] = previews[key].copy()  # (the receiver keeps what it is given)
                report = Progress(
                    iteration=done + p.iteration,
                    total=total,
                    loss=p.loss,
                    losses=p.losses,
                    preview=preview,
                    elapsed=time.perf_counter() - t0,
                    stage=None if p.stage is None else f"frame {i} (of {count}): {p.stage}",
                    frame=(i, count),
                )
                try:
                    yield report
                except GeneratorExit:
                    raise
                except BaseException as exc:  # thrown in: to the frame's run, where it waits
                    pending = exc
        finally:
            gen.close()
        if i and result.stopped and result.iterations == 0:
            break  # stopped while the frame was set up: its untrained networks' output is no result
        done += result.iterations
        for f in dataclasses.fields(result):
            value = getattr(result, f.name)
            if isinstance(value, np.ndarray):
                if f.name not in out:
                    out[f.name] = np.full((count, *value.shape), np.nan, np.float32)
                out[f.name][i] = value
                if f.name in previews:  # the finished frame as it came out, in the stack shown next
                    _place(previews, f.name, value, i, count)
                setattr(result, f.name, None)  # (kept once, in the stack)
        runs.append(result)
        if result.stopped:
            break
    return _stacked(runs, out, count, time.perf_counter() - t0)


def _load(frames: Any, name: str) -> tuple[np.ndarray, list[np.dtype] | None]:
    """The stack as an array, its layout and values checked under ``name`` (the checks' warnings are left to
    the frames' own checks, which say each once: said here too they would come twice); and, for a sequence of
    frames of different dtypes, each one's own (stacking promotes them to one: a uint8 frame beside a float one
    would be run as a float image, its value range and the warnings about it not its own), else ``None``."""
    # (a lazy stack's layout checked before it is loaded; a list's frames are stacked below: not copied first)
    frames = load_frames(frames, name, 1, own_items=False)
    items = frames if isinstance(frames, (list, tuple)) else [frames]
    if any(_masked(x) for x in items):  # (said here: the frames' own checks get plain arrays)
        warn(f"the mask of {name} (a masked array) is ignored: {_MASK_ADVICE}")
    token = WARNING_SINK.set(lambda message, category: None)  # (e.g. "scaled together": not here)
    try:
        dtypes = None
        if isinstance(frames, (list, tuple)):
            stack = _stack_sequence(frames, name, one_sequence=True)
            own = [getattr(host_array(x), "dtype", None) for x in frames]  # (None: e.g. a nested list)
            if any(d is not None and np.dtype(d) != stack.dtype for d in own):
                dtypes = [stack.dtype if d is None else np.dtype(d) for d in own]
        else:
            stack = _check_array(frames, name)
        gray = _frames_layout(stack.shape, name, 1)
        _value_range(stack[..., None] if gray else stack, name, gray)  # (NaN, inf, beyond float32)
    finally:
        WARNING_SINK.reset(token)
    return stack, dtypes


#: A frame task's advice in code on its own argument (``image``: e.g. "... pass image[..., :3]"), which the
#: stack's name replaces (a statement about the frame's values, "image is constant", stays the frame's).
_FRAME_ARGUMENT = re.compile(r"\bimage(?=\[)")


def _once_per_stack(
    index: int, count: int, said: set[str], name: str = "frames"
) -> Callable[[str, type[Warning]], None]:
    """A warning sink for frame ``index``: each message (numbers aside) once per stack, naming its frame, and
    the stack's argument ``name`` in advice in code on the frame's task's own (``image[...]``)."""
    outer = WARNING_SINK.get()

    def sink(message: str, category: type[Warning]) -> None:
        message = _FRAME_ARGUMENT.sub(name, message)
        key = _NUMBER.sub("#", message)
        if key in said:
            return
        said.add(key)
        # (a setting of the environment, NAPARI_DOUBLEDIP_..., is the process's, not the frame's)
        framed = count > 1 and not message.startswith("NAPARI_DOUBLEDIP_")
        text = f"frame {index} (of {count}): {message}" if framed else message
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
    """Write one frame's array into the preview stack ``stacks[key]`` (made, NaN, at the first frame seen, at
    a frame size that keeps it within :data:`PREVIEW_STACK_BYTES`), resized where its size differs."""
    value = np.asarray(value, dtype=np.float32)
    if key not in stacks:
        channels = int(np.prod(value.shape[2:], dtype=np.int64))
        pixels = max(64, PREVIEW_STACK_BYTES // (4 * count * channels))
        shape = (count, *preview_shape(value.shape[:2], pixels), *value.shape[2:])
        stacks[key] = np.full(shape, np.nan, np.float32)
    target = stacks[key]
    if value.shape != target.shape[1:]:
        from skimage.transform import resize

        value = resize(value, target.shape[1:], order=1, preserve_range=True, anti_aliasing=False)
    target[index] = value


def _same(a: Any, b: Any) -> bool:
    """Equal parameter values (arrays element-wise; NaN equals NaN)."""
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except TypeError:  # (values NaN means nothing for: strings, objects)
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        except Exception:
            return False


def _stacked(runs: list[Any], out: dict[str, np.ndarray], count: int, elapsed: float) -> Any:
    """One result of the task's class from the frames' results (their arrays already stacked in ``out``)."""
    first = runs[0]
    values: dict[str, Any] = dict(out)
    info = {f.name for f in dataclasses.fields(RunInfo)}
    missing = [None] * (count - len(runs))
    for f in dataclasses.fields(first):
        if f.name not in info and f.name not in values:
            values[f.name] = [getattr(r, f.name) for r in runs] + missing
    params: dict[str, Any] = {}
    for key in first.params:
        each = [r.params.get(key) for r in runs]
        params[key] = each[0] if all(_same(v, each[0]) for v in each) else each + missing
    params["frames"], params["frames_run"] = count, len(runs)
    history, offset = [], 0
    for r in runs:
        history += [(offset + it, loss) for it, loss in r.history]
        offset += r.iterations
    losses = [r.final_loss for r in runs if not math.isnan(r.final_loss)]
    return type(first)(
        **values,
        params=params,
        seed=first.seed,
        device=first.device,
        iterations=sum(r.iterations for r in runs),
        final_loss=float(np.mean(losses)) if losses else float("nan"),
        elapsed=elapsed,
        stopped=any(r.stopped for r in runs) or len(runs) < count,
        history=history,
        threads=first.threads,
        precision=first.precision,
        working_shape=first.working_shape,
    )
