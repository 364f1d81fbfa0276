"""What every task function shares: result metadata, the blocking/generator pair, tensor conversion."""

from __future__ import annotations

import functools
import inspect
import math
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from .._repr import summary_repr
from ..solver.engine import PREVIEWS, Progress, Solution, check_progress, check_stop, drain
from ..solver.stretches import with_plain_torch

R = TypeVar("R")

#: A set-up or finishing step that takes longer reports its progress (a point where the run can be cancelled)
#: about this often.
SETUP_REPORT_SECONDS = 0.5


def always_stop() -> bool:
    """A stop request that stays made (a run stopped during its set-up: no optimisation step may follow)."""
    return True


class StageReports:
    """Reports of a long step outside the optimisation (``Progress.stage``), at most every ``every`` seconds
    (the task module's ``SETUP_REPORT_SECONDS``): a long stack's automatic hints and full-size finishing, the
    coefficient estimate of several mixtures take seconds, and a GUI worker can only be cancelled where the run
    yields. ``text`` says how far the step is (``done`` of ``count`` parts)."""

    def __init__(
        self, what: str, count: int, iteration: int, total: int, loss: float = float("nan"), *, every: float,
        text: str = "frame {done} of {count}",
    ) -> None:
        self.what, self.count, self.iteration, self.total, self.loss = what, count, iteration, total, loss
        self.every, self.text = every, text
        self.t0 = self.last = time.perf_counter()

    def after(self, done: int) -> Progress | None:
        """A report after ``done`` parts, if one is due (none after the last part)."""
        now = time.perf_counter()
        if done >= self.count or now - self.last < self.every:
            return None
        self.last = now
        stage = f"{self.what}: {self.text.format(done=done, count=self.count)}"
        return Progress(self.iteration, self.total, self.loss, {}, None, now - self.t0, stage=stage)


@dataclass(kw_only=True, eq=False, repr=False)
class RunInfo:
    """Fields every result carries: what was run, with which parameters, and how it went.

    Attributes
    ----------
    params
        A JSON-ready record of the call's parameters, defaults resolved (iterations, max_size, device, seed,
        ...; ``precision`` as asked, e.g. ``"auto"``: :attr:`precision` says what ran). A record, not a call:
        inputs appear as counts or summaries (``"images": 3``, ``"hints": "user"``, a box as its bounds) and
        some tasks add what they derived; pass the keyword options you need again by name.
    seed
        Random seed used.
    device
        Torch device the optimisation ran on.
    iterations
        Iterations actually run: fewer than planned after a stop request (``stopped`` is True) or when the
        run ends early on its own because it has converged (``stopped`` stays False; the last ``Progress``
        then has ``total == iteration``).
    final_loss
        Tracked loss (reconstruction) of the networks' outputs the result was made from (at working size,
        averaged over the 8 dihedral transforms where the task augments; before any full-resolution finishing).
    elapsed
        Wall time of the call in seconds: set-up (e.g. automatic hints), optimisation and full-resolution
        finishing (a progress callback's own time included).
    stopped
        True when a stop request ended the run early.
    history
        ``(iteration, tracked loss)`` at each check point.
    threads
        CPU threads the optimisation used (``None`` on a GPU). A CPU run is repeatable with the same seed and
        the same thread settings: set-up and full-resolution finishing use the caller's
        ``torch.get_num_threads()``, which can change results by float rounding (about 1e-6).
    precision
        Compute dtype of the networks: ``"float32"`` or ``"bfloat16"`` (autocast).
    working_shape
        ``(height, width)`` of what the networks fitted: the input (for ``remove_watermark`` with a box, the
        region around it, ``params["region"]``), reduced when its long side exceeds ``max_size``; results
        are brought back to the input's size.
    """

    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"
    iterations: int = 0
    final_loss: float = float("nan")
    elapsed: float = 0.0
    stopped: bool = False
    history: list[tuple[int, float]] = field(default_factory=list)
    threads: int | None = None
    precision: str = "float32"
    working_shape: tuple[int, int] | None = None

    def __repr__(self) -> str:  # (every result class inherits it: their dataclasses make none)
        return summary_repr(self, last=RunInfo)


def run_info(solution: Solution, params: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Keyword arguments for a result's :class:`RunInfo` fields."""
    return dict(
        params=params,
        seed=params["seed"],
        device=str(device),
        iterations=solution.iterations,
        final_loss=solution.final_loss,
        elapsed=solution.elapsed,
        stopped=solution.stopped,
        history=solution.history,
        threads=solution.threads,
        precision=solution.precision,
        working_shape=solution.working_shape,
    )


def _generator_result(annotation: Any) -> Any:
    """``"Generator[Progress, None, Result]"`` (a postponed annotation) -> ``"Result"``; else unchanged."""
    if not isinstance(annotation, str):
        return annotation
    match = re.fullmatch(r"\s*Generator\[.*,\s*([\w.]+)\s*\]\s*", annotation)
    return match.group(1) if match else annotation


def task_function(steps: Callable[..., Generator[Progress, None, R]]) -> Callable[..., R]:
    """Make the blocking public function from a task's generator function.

    The returned function takes the generator's arguments plus ``progress=`` (called with every
    :class:`~napari_doubledip.Progress`) and returns the result; ``func.steps`` is the generator form
    (used by :func:`napari_doubledip.iterate` and the napari thread worker). ``stop`` and ``progress`` are
    checked at the call, before any set-up. The result's ``elapsed`` is the wall time of the whole call.
    """

    @functools.wraps(steps)
    def timed(*args: Any, **kwargs: Any) -> Generator[Progress, None, R]:
        t0 = time.perf_counter()
        # gradients on, no caller's autocast, float32 default: whatever torch state the caller runs in
        result = yield from with_plain_torch(steps(*args, **kwargs))
        if isinstance(result, RunInfo):  # set-up (hints, estimates) and full-resolution finishing included
            result.elapsed = time.perf_counter() - t0
        return result

    @functools.wraps(steps)
    def blocking(*args: Any, progress: Callable[[Progress], Any] | None = None, **kwargs: Any) -> R:
        check_progress(progress)
        check_stop(kwargs.get("stop"))
        token = PREVIEWS.set(progress is not None)  # previews only for someone to see
        try:
            return drain(timed(*args, **kwargs), progress)
        finally:
            PREVIEWS.reset(token)

    sig = inspect.signature(steps)
    hint = Callable[[Progress], Any] | None  # (an object: resolvable wherever the task function lives)
    # (help() shows the signature's annotation: written as the others are, short; the object stays in
    # __annotations__ for typing.get_type_hints)
    extra = inspect.Parameter(
        "progress", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="Callable[[Progress], Any] | None"
    )
    # help(), IDEs and Sphinx: the blocking call returns what the generator returns, not a generator
    returns = _generator_result(sig.return_annotation)
    blocking.__annotations__ = {**steps.__annotations__, "progress": hint, "return": returns}
    blocking.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[*sig.parameters.values(), extra], return_annotation=returns
    )
    blocking.steps = timed  # type: ignore[attr-defined]
    return blocking


def to_tensor(stack: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(N, H, W, C)`` numpy -> ``(N, C, H, W)`` float32 tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(stack.transpose(0, 3, 1, 2))).float().to(device)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """``(N, C, H, W)`` tensor -> ``(N, H, W, C)`` float32 numpy."""
    return x.detach().float().permute(0, 2, 3, 1).cpu().numpy()


#: Live previews of larger images are made at about this many pixels (the widget scales them up): at full size
#: they cost 15-30 % of a 2048 x 2048 run (docs/measurements.md, "Large photographs").
PREVIEW_PIXELS = 1024 * 1024


def preview_shape(shape: tuple[int, int], limit: int = PREVIEW_PIXELS) -> tuple[int, int]:
    """``(h, w)`` scaled down, aspect kept, to about ``limit`` pixels; ``shape`` itself when it is smaller."""
    h, w = int(shape[0]), int(shape[1])
    scale = min(1.0, math.sqrt(limit / (h * w)))
    return (h, w) if scale == 1.0 else (max(1, round(h * scale)), max(1, round(w * scale)))


def filter_radius(shape: tuple[int, int], fraction: float = 1 / 48) -> int:
    """Guided-filter radius that scales with the image (a fixed radius of 50 ruins small images)."""
    return max(1, round(min(shape) * fraction))


def iterate(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Generator[Progress, None, Any]:
    """The generator form of a task function: yields :class:`~napari_doubledip.Progress`, returns the result.

    ``iterate(dd.segment, image, iterations=200)`` is what a napari thread worker drives; closing the generator
    (or the worker's ``quit()``) stops the run at the next report. ``iterate`` itself is a plain function that
    returns the generator, so ``thread_worker(dd.iterate)`` would only hand the generator back: wrap it in a
    generator function, as in the example below. It takes the same arguments as the task
    function, ``progress=`` included (called with each report before it is yielded). ``func``, ``stop``,
    ``progress`` and the argument names are checked at the call; the inputs, like the rest of the set-up, at the
    first ``next()``.

    Parameters
    ----------
    func
        A task function of this package (``dd.segment``, ``dd.separate_layers``, ``dd.segment_video``,
        ``dd.separate_video_layers``, ``dd.remove_watermark``, ``dd.dehaze``, ``dd.dehaze_frames``).
    *args, **kwargs
        Its arguments.

    Returns
    -------
    Generator
        Yields a :class:`~napari_doubledip.Progress` per report; its return value (``StopIteration.value``) is
        the task's result, e.g. a :class:`~napari_doubledip.SegmentationResult`.

    Examples
    --------
    >>> import numpy as np, napari_doubledip as dd
    >>> gen = dd.iterate(dd.segment, np.random.default_rng(0).random((32, 32)), iterations=10)
    >>> first = next(gen)
    >>> first.total
    10
    >>> gen.close()

    From napari's console (``viewer`` is there), without blocking the viewer:

    >>> from napari.qt.threading import thread_worker  # doctest: +SKIP
    >>> @thread_worker  # doctest: +SKIP
    ... def run(image):
    ...     return (yield from dd.iterate(dd.segment, image))
    >>> layer = viewer.layers["cells"]  # doctest: +SKIP
    >>> worker = run(layer.data)  # doctest: +SKIP
    >>> worker.yielded.connect(lambda p: print(p.iteration, p.total, p.loss))  # doctest: +SKIP
    >>> worker.returned.connect(lambda r: viewer.add_labels(  # doctest: +SKIP
    ...     r.mask.astype(int), name="mask", scale=layer.scale, translate=layer.translate))
    >>> worker.start()  # doctest: +SKIP
    """
    steps = getattr(func, "steps", None)
    if steps is None:
        raise TypeError(f"{getattr(func, '__name__', func)!r} is not a napari_doubledip task function")
    progress = kwargs.pop("progress", None)
    check_progress(progress)
    check_stop(kwargs.get("stop"))  # now, not at the first next() after the set-up
    try:  # a misspelt keyword or a missing argument now too (the generator would say it at the first next())
        inspect.signature(steps).bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{func.__name__}() {exc}") from None  # (as the blocking call says it)
    gen = steps(*args, **kwargs)
    return gen if progress is None else _reporting(gen, progress)


def _reporting(
    gen: Generator[Progress, None, R], progress: Callable[[Progress], Any]
) -> Generator[Progress, None, R]:
    """``gen``'s reports, each passed to ``progress`` first; closing this generator closes ``gen``."""
    try:
        while True:
            try:
                report = next(gen)
            except StopIteration as done:
                return done.value
            progress(report)
            yield report
    finally:
        gen.close()


def check_before_loading(iterations: int | None, max_size: int | None, preset: str) -> None:
    """The checks of a stack function's options that need no frames (their types and bounds; the defaults may
    need the frame count): made before a lazy stack is loaded, so that a typo does not cost loading it."""
    from .._validation import check_iterations, check_max_size
    from ..solver.presets import check_preset

    check_iterations(iterations, 1)
    check_max_size(max_size, 1)
    check_preset(preset)


def resolve_max_size(max_size: int | None, default: int, shape: tuple[int, ...], preset: str) -> int:
    """Working size: the user's, else the task default; the reference preset works at full resolution."""
    from .._validation import check_max_size
    from ..solver.presets import check_preset

    if check_preset(preset) == "reference" and max_size is None:
        return check_max_size(max(int(shape[0]), int(shape[1]), 16), default)
    return check_max_size(max_size, default)
