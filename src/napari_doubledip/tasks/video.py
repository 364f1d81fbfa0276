"""Video decomposition (paper Sec. 3 "Video segmentation", Eq. 4-5; Sec. 4 "Video transparency separation", Eq. 7).

All frames share the same DIPs: a layer that differs per frame is one DIP with one noise input per frame, and the
noise inputs of successive frames are a random walk (Eq. 5), so that neighbouring frames are generated from nearby
inputs and come out temporally coherent. Each iteration optimises a mini-batch of frames, so the cost of an
iteration depends on the batch size, not on the number of frames; only the final evaluation (and the periodic
checks) visit every frame, in chunks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, Union

import numpy as np
import torch

from .._validation import (
    as_frames,
    check_hint_mode,
    check_iterations,
    check_seed,
    copy_input,
    hint_labels,
    load_frames,
    plain_data,
    single_value,
    warn,
    working_shape,
)
from ..solver import losses as L
from ..solver.device import check_precision, resolve_device
from ..solver.engine import DIP, Progress, StopRequest, Task, Term, _stop_requested, optimise, window
from ..solver.filters import resize
from ..solver.networks import NetConfig
from ..solver.presets import apply_preset, planned_iterations
from ..solver.saliency import saliency_hints
from . import segmentation as seg
from . import transparency as tr
from .watermark import Box, box_mask
from ._common import (
    SETUP_REPORT_SECONDS,
    RunInfo,
    StageReports,
    always_stop,
    check_before_loading,
    resolve_max_size,
    run_info,
    task_function,
    to_numpy,
    to_tensor,
)

__all__ = [
    "VideoSegmentationResult",
    "VideoLayersResult",
    "segment_video",
    "separate_video_layers",
    "DEFAULTS",
]

#: Default budgets and working sizes, chosen by measurement (see ``benchmarks/video_scaling.py``).
#: ``batch`` is the number of frames per iteration (2 measured worse than 4 on 100 frames: mask IoU 0.95 vs 0.98,
#: static PSNR 20.6 vs 21.7 dB at 20 frames). ``iterations`` is the budget up to ``ref_frames`` frames; beyond, it
#: grows like the square root of the frame count (:func:`default_iterations`), or not at all (``ref_frames=None``).
#: Segmentation needs the growth: each frame's mask must be fitted (IoU at 64 px with 400 iterations: 0.99 at 20
#: frames, 0.94 at 100; 894 iterations: 0.98). Transparency does not: the static layer is shared and the dynamic
#: layers come in closed form (static PSNR at 128 px, 600 iterations: 22.8 dB at 20 frames, 22.2 at 100), but at
#: 128 px it needs 600 iterations (16.0 dB with 300).
DEFAULTS: dict[str, dict[str, Any]] = {
    "segment": {"iterations": 400, "max_size": 128, "batch": 4, "ref_frames": 20},
    "layers": {"iterations": 600, "max_size": 128, "batch": 4, "ref_frames": None},
}


def default_iterations(base: int, frames: int, ref_frames: int | None = 20) -> int:
    """The default budget for ``frames`` frames: ``base`` up to ``ref_frames``, then ``base * sqrt(T / ref)``.

    ``ref_frames=None``: always ``base``. With a fixed budget each frame is visited less often as ``T`` grows, so
    a per-frame output needs a growing budget; the square root keeps the growth far below linear (100 frames get
    2.2x the iterations of 20).

    Examples
    --------
    >>> default_iterations(400, 5), default_iterations(400, 100), default_iterations(600, 100, None)
    (400, 894, 600)
    """
    if ref_frames is None:
        return int(base)
    return round(base * max(1.0, math.sqrt(frames / ref_frames)))


#: Per-frame step of the noise random walk (Eq. 5), relative to the noise amplitude of the DIP, per task.
#: Segmentation (synthetic 64 px video, mask IoU): 20 frames 0.93 / 0.99 / 0.99 / 0.98 with steps 0 (independent
#: noise: flicker) / 0.3 / 1 / 3; 100 frames 0.92 / 0.94 with 0.3 / 1. Transparency (static PSNR after gain/offset
#: fit): 21.7 dB with 0.1, 20.5 dB with 1 (the dynamic DIP then fits more and takes some of the static layer).
SEGMENT_WALK = 1.0
LAYERS_WALK = 0.1

#: User labels (and boxes' outsides) covering at least this share of the pixels are dense: the run goes without
#: the dihedral augmentation, as with automatic hints (see :func:`segment_video`).
DENSE_LABELS = 0.5

#: Segmentation phases (reconstruction ramp, automatic-hint fade, best tracking from; see
#: :func:`napari_doubledip.tasks.segmentation.build_task`). Video keeps a longer hint phase than one image: the
#: image schedule (0.1-0.2, 0.15-0.35, 0.4) measured worse on the 3 DAVIS clips (mean IoU 0.385 vs 0.407).
SEGMENT_PHASES = ((0.25, 0.35), (0.3, 0.6), 0.6)

#: Automatic segmentation hints are computed on every frame at this long side (at most the working size).
HINT_SIZE = 128

#: Periodic checks evaluate every frame; they are spaced so that they cost at most about this fraction of the run.
CHECK_BUDGET = 0.1

#: Video transparency: weight of the static-layer hint (temporal median of gradients, :func:`static_estimate`),
#: kept for the whole run (fading it out measured 0.5-1 dB worse).
HINT_WEIGHT = 1.0
#: Dynamic-layer DIP (runs on the whole mini-batch, so its width sets the cost of an iteration). It and the
#: static layer's DIP keep their coarsest level at least 3 px across (``coarsest``): with 2 px the static layer
#: of strip frames collapsed towards a constant (8 frames cut to 12 / 16 / 24 / 32 x 128 from the 128 px
#: sample, seeds 0-2, static-layer PSNR means: 14.0 / 12.8 / 11.9 / 14.1 -> 17.4 / 17.0 / 14.1 / 15.4 dB;
#: squares of 40-56 px unchanged, 24 / 32 px 14.35 / 14.21 -> 14.47 / 14.68; ``benchmarks/strips.py``). 4 px
#: did better on the strips (20.2 / 17.0 / 15.9 / 15.4) but took a level off 48 px frames (0.5 dB lower there).
DYNAMIC_NET = NetConfig(channels=(8, 16, 32, 32), skip=(0, 0, 4, 4), kernel=3, in_channels=8, coarsest=3)
STATIC_NET = replace(tr.LAYER_NET, coarsest=3)
#: Initial pull of the dynamic layer's coefficients (first 15% of the run).
ALPHA_PRIOR = 0.6

Hints = Union[str, None, np.ndarray, tuple, list, dict]


def _batch(batch: int | None, default: int, n: int) -> int:
    if batch is None:
        return min(default, n)
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)):
        raise TypeError(f"batch must be an int or None, got {type(batch).__name__}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    return min(int(batch), n)


def _video_task(
    task: Task, batch: int, walk: dict[str, float], augment: bool = False, settle: Callable | None = None
) -> Task:
    """Make a per-frame task a video task: random-walk noise for the named DIPs, mini-batches, spaced checks.

    ``augment`` switches the dihedral augmentation (and its 8-fold final evaluation of every frame). Off by
    default: with many frames to fit it slows the fit more than it regularises (measured on the synthetic
    videos: static-layer PSNR 21 vs 14 dB, mask IoU 0.99 vs 0.83 with automatic hints at 20 frames).
    ``settle``: the task's early-stopping view (see :class:`~napari_doubledip.solver.engine.Task`), or none.
    """
    dips = dict(task.dips)
    for name, rel in walk.items():
        d = dips[name]
        dips[name] = replace(d, walk=rel * d.noise_scale / 2)
    n = task.target.shape[0]
    # A check evaluates ceil(n / batch) chunks forward (~1/3 of an iteration each): keep that under CHECK_BUDGET.
    check_every = max(task.check_every, math.ceil(math.ceil(n / batch) / (3 * CHECK_BUDGET)))
    # The settle rule (early stop once the outputs stopped changing) is the caller's: see segment_video.
    # precision "auto": bfloat16 autocast on CPUs with AMX. Both video tasks measured 1.1-1.2x faster at equal
    # quality (synthetic, 3 seeds; DAVIS IoU 0.393 -> 0.407, real multi-frame static layer 22.0 -> 22.3 dB;
    # benchmarks/precision.py, benchmarks/evaluate.py); the single-image tasks did not (docs/measurements.md,
    # "Speed").
    return replace(
        task, dips=dips, batch=batch if batch < n else None, check_every=check_every, augment=augment,
        settle=settle, precision="auto",
    )


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def _planned(sol: Any, task: Any) -> int:
    """The ``total`` of the reports after an optimisation: what it ran when it stopped early on its own (as its
    last report said), else its plan."""
    return task.iterations if sol.stopped else sol.iterations


# ---------------------------------------------------------------------------------------------------------------
# Video segmentation (Eq. 4-5)


@dataclass(kw_only=True, eq=False, repr=False)
class VideoSegmentationResult(RunInfo):
    """Result of :func:`segment_video`.

    Besides the attributes below, every result has the run's fields of :class:`~napari_doubledip.RunInfo`
    (``params``, ``seed``, ``device``, ``iterations``, ``elapsed``, ``stopped``, ``history``, ...).

    Attributes
    ----------
    masks
        ``(T, H, W)`` float32, 1 = foreground, binary after guided-filter refinement.
    soft_masks
        ``(T, H, W)`` float32 in [0, 1]: the refined masks before thresholding (after ``reassign``, where it
        ran, mostly 0 or 1: the reassigned pixels are set; all of them with a margin of 0).
    foreground, background
        Shaped like the frames, in their value range: each frame inside / outside its mask, the DIP's fill-in
        elsewhere.
    hints
        ``(T, H, W)`` uint8 labels of the hints used (1 = foreground, 2 = background, 0 = none).
    """

    masks: np.ndarray
    soft_masks: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
    hints: np.ndarray


def _video_hints(
    hints: str | np.ndarray | None,
    work: torch.Tensor,
    its: int,
    stop: StopRequest = None,
    boxes: list[torch.Tensor | None] | None = None,
    auto_fill: bool | str = True,
    full_boxes: list[np.ndarray | None] | None = None,
) -> Generator[Progress, None, tuple[torch.Tensor, torch.Tensor, bool, bool, tuple | None]]:
    """Working-size fg/bg hint masks ``(T, 1, h, w)`` (float), whether they are the user's (held for the whole
    run), whether a stop request ended them early, and the ``held`` pair for :func:`segmentation.build_task`.
    ``hints``: ``"auto"``, ``"intensity"``, ``None``, or the user's ``(T, H, W)`` labels as
    :func:`~napari_doubledip._validation.hint_labels` reads them. ``boxes``: per frame, ``None`` or the
    working-size bool mask of its box, inside which a frame's automatic hints are computed (on the box's
    surroundings, as for one image); ``full_boxes`` the same boxes at full size (bool ``(H, W)``; foreground
    scribbled outside them is ignored, with a warning). Scribbles are read as :func:`napari_doubledip.segment`
    reads them: held, and with ``auto_fill`` every frame's automatic hints fill in (fading) where they mark
    nothing.

    While automatic hints are computed, yields a set-up report (``Progress.stage``) every
    :data:`SETUP_REPORT_SECONDS`; a stop request ends them early (the frames left get none, and the caller must
    then stop the optimisation before its first step, even if the request was only briefly true)."""
    n = work.shape[0]
    ws = tuple(work.shape[-2:])
    if isinstance(hints, str):
        check_hint_mode(hints)
        if hints == "intensity":  # one threshold for all frames (inside their boxes), held all run
            return *_exclusive(*seg.intensity_hints(work, _inside(boxes, ws, work.device))), True, False, None
        if boxes is None:
            seg.warn_many_objects(work[work.shape[0] // 2], what="video (its middle frame)")
        fg, bg, stopped = yield from _auto_video_hints(work, its, stop, boxes, full_boxes)
        return *_exclusive(fg, bg), False, stopped, None
    if hints is None:
        fg = torch.zeros((n, *ws), dtype=torch.bool, device=work.device)
        return *_exclusive(fg, fg.clone()), True, False, None
    labels = hints
    if full_boxes is not None:
        seg.warn_foreground_outside(labels == 1, full_boxes)
    fg, bg = seg.shrink_labels(torch.from_numpy(labels).to(work.device), ws)
    if not auto_fill:
        return *_exclusive(fg, bg), True, False, None
    # Automatic hints fill in around the scribbles: intensity hints (one threshold for all frames, held all run
    # with the scribbles) or each frame's saliency hints (fading; the scribbles held on their own).
    one_threshold = auto_fill == "intensity"
    if one_threshold:
        auto_fg, auto_bg = seg.intensity_hints(work, _inside(boxes, ws, work.device))
        stopped = False
    else:
        if boxes is None:
            seg.warn_many_objects(work[work.shape[0] // 2], scribbled=fg | bg, what="video (its middle frame)")
        auto_fg, auto_bg, stopped = yield from _auto_video_hints(work, its, stop, boxes, full_boxes, fg | bg)
    # The automatic pair is swapped where the scribbles say it took the object for background: by the votes of
    # all frames summed (scribbles are often drawn on one frame only; a frame's counts are zero where nothing
    # contradicts), or, for saliency, by a frame's own scribbles where both labels meet its automatic hints (one
    # threshold has one polarity).
    maps = list(zip(auto_fg, auto_bg, fg, bg, strict=True))
    votes = [seg.polarity_votes(*m) for m in maps]
    every = seg.inverted(sum(votes))
    fills = [
        seg.fill_in(*m, swap=seg.inverted(v) if v[0] and v[1] and not one_threshold else every)
        for m, v in zip(maps, votes, strict=True)
    ]
    fill_fg, fill_bg = torch.stack([f[0] for f in fills]), torch.stack([f[1] for f in fills])
    if one_threshold:
        return *_exclusive(fg | fill_fg, bg | fill_bg), True, False, None
    if not stopped and not bool((fill_fg | fill_bg).any()):
        # labels on every pixel the automatic hints would mark leave nothing to fill in: used alone, as with
        # auto_fill=False (held lightly with no hint phase, the run drifts from them; see segment())
        return *_exclusive(fg, bg), True, False, None
    return *_exclusive(fill_fg, fill_bg), False, stopped, _exclusive(fg, bg)


def _label_share(labels: np.ndarray | None, boxes: list[np.ndarray | None] | None, size: tuple[int, int]) -> float:
    """The share of the frames' pixels the run holds as the user says: labelled (``labels``, ``(T, H, W)``), or
    outside a frame's box (``boxes``: bool ``(H, W)`` or ``None`` per frame); 0 with neither (automatic or
    intensity hints, or none)."""
    if labels is None and boxes is None:
        return 0.0
    n = len(labels) if labels is not None else len(boxes)
    held = 0
    for t in range(n):
        m = labels[t] > 0 if labels is not None else np.zeros(size, bool)
        if boxes is not None and boxes[t] is not None:
            m = m | ~boxes[t]
        held += int(np.count_nonzero(m))
    return held / max(n * size[0] * size[1], 1)


def _exclusive(fg: torch.Tensor, bg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bool ``(T, h, w)`` fg/bg masks -> float ``(T, 1, h, w)`` maps with the overlap in neither."""
    return (fg & ~bg)[:, None].float(), (bg & ~fg)[:, None].float()


def _auto_video_hints(
    work: torch.Tensor,
    its: int,
    stop: StopRequest,
    boxes: list[torch.Tensor | None] | None,
    full_boxes: list[np.ndarray | None] | None = None,
    scribbled: torch.Tensor | None = None,
) -> Generator[Progress, None, tuple[torch.Tensor, torch.Tensor, bool]]:
    """Automatic bool fg/bg hints ``(T, h, w)`` of every frame, in its box where it has one; the last item says
    whether a stop request ended them early (the frames left then get none). ``full_boxes`` (the boxes at full
    size) only tell the too-small warning whether a larger ``max_size`` would help; ``scribbled`` (the user's
    scribbles at the working size, bool ``(T, h, w)``) whether the user guides the split in a box that small."""
    n, ws = work.shape[0], tuple(work.shape[-2:])
    # Saliency is the costly part of the setup (~0.5-1 s a frame at 128 px on a 2-core CPU), so it runs on
    # every frame but at most HINT_SIZE px; the crude hints are then brought to the working size.
    small = resize(work, working_shape(ws, HINT_SIZE))
    fg = torch.zeros((n, *small.shape[-2:]), dtype=torch.bool, device=work.device)
    bg = fg.clone()
    reports = StageReports("automatic hints", n, 0, its, every=SETUP_REPORT_SECONDS)
    stopped = False
    tiny = []  # frames whose box is too small to find the object in (warned once)
    for i in range(n):
        if i and _stop_requested(stop):
            stopped = True
            break
        if boxes is not None and boxes[i] is not None:
            inside = seg.shrink_mask(boxes[i], tuple(small.shape[-2:]))
            fg[i], bg[i] = seg._box_hints(small[i], inside, warn_small=False)
            if not seg.hints_fit(inside):
                tiny.append(i)
        else:
            fg[i], bg[i] = saliency_hints(small[i])
        if (report := reports.after(i + 1)) is not None:
            yield report
    # frames whose scribbles lie in their (too small) box: the user guides the split there
    guided = [i for i in tiny if scribbled is not None and bool((scribbled[i] & boxes[i]).any())]
    long = max(small.shape[-2:])
    full = max(next((b.shape for b in full_boxes or () if b is not None), (long,)))

    def helps(i: int) -> bool:
        """Whether frame ``i``'s box crop reaches the minimum at the hints' largest size (a larger max_size
        would give it enough pixels; a box too small at full size is not helped)."""
        if not full_boxes or full_boxes[i] is None:
            return False
        box = torch.from_numpy(np.asarray(full_boxes[i]))
        return seg.hints_fit(seg.shrink_mask(box, working_shape(tuple(box.shape), HINT_SIZE)))

    # (a larger max_size would give the hints more pixels, and enough of them to one of these boxes)
    raise_size = long < min(full, HINT_SIZE) and any(helps(i) for i in tiny)
    for frames, tail in (
        (
            [i for i in tiny if i not in guided],
            "they get none (the split inside is unsupervised); draw larger boxes, "
            + ("scribble, or raise max_size" if raise_size else "or scribble"),
        ),
        (
            guided,
            "your scribbles alone guide the split there; for automatic hints there too, draw larger boxes"
            + (" or raise max_size" if raise_size else ""),
        ),
    ):
        if frames:
            more = f" and {len(frames) - 5} more" if len(frames) > 5 else ""
            warn(
                f"automatic hints: the boxes of frame(s) {frames[:5]}{more} are too small to find the object in "
                f"at the hints' size ({long} px on the long side): {tail}"
            )
    fg, bg = (resize(m[:, None].float(), ws)[:, 0] > 0.5 for m in (fg, bg))
    return fg, bg, stopped


#: Frames (at most, evenly spaced) whose masks the video segmentation's settle rule watches.
SETTLE_FRAMES = 16


def _settle_view(work: torch.Tensor) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """Early stop of video segmentation: as for one image (seg.build_task), the binarised guided-filter refined
    masks, 1 - IoU with the previous check < 0.5 % on every watched frame twice in a row, watched on at most
    SETTLE_FRAMES evenly spaced frames so that a check's cost does not grow with the clip (the refinement costs
    ~8 ms a frame at 128 px)."""
    n = work.shape[0]
    sel = torch.linspace(0, n - 1, min(n, SETTLE_FRAMES)).round().long().unique().to(work.device)
    guide = work[sel]
    return lambda outputs: (seg.finish_masks(outputs["mask"][sel], guide) > 0.5).float()


def _inside(
    boxes: list[torch.Tensor | None] | None, ws: tuple[int, ...], device: torch.device
) -> torch.Tensor | None:
    """Per-frame working-size box masks as one bool ``(T, h, w)`` stack (all True for a frame without a box),
    or ``None`` without boxes."""
    if boxes is None:
        return None
    return torch.stack([torch.ones(ws, dtype=torch.bool, device=device) if b is None else b for b in boxes])


def _frame_boxes(box: Any, n: int, shape: tuple[int, int]) -> list[np.ndarray | None] | None:
    """Per-frame bool ``(H, W)`` box masks (``None`` for frames without one) from one box or ``{frame: box}``
    (as :func:`_boxes_by_frame` gives them)."""
    if box is None:
        return None
    if isinstance(box, dict):
        out: list[np.ndarray | None] = [None] * n
        for key, b in box.items():
            # (digit strings too: the metadata's {frame: box} after a JSON round trip; whole floats: a Shapes
            # layer's coordinates)
            t = int(key) if isinstance(key, str) and key.isdigit() else key
            if isinstance(t, (float, np.floating)) and float(t).is_integer():
                t = int(t)
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
                raise ValueError(f"box keys must be frame indices (whole numbers), got {key!r}")
            if not 0 <= t < n:
                raise ValueError(
                    f"box keys (or the frames its rectangles were drawn on) must be frame indices in [0, {n}), "
                    f"got {key!r}"
                )
            own = _drawn_on(b)
            if own is not None and own != int(t):
                warn(
                    f"segment_video: the box of frame {int(t)} is a rectangle drawn on frame {own} (t = {own}); "
                    f"it is used as frame {int(t)}'s box (key it {own} if it belongs to that frame)"
                )
            try:
                out[int(t)] = box_mask(b, shape, whole=True, task="segment_video")
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"box of frame {int(t)}: {exc}") from exc
        return out
    return [box_mask(box, shape, whole=True, task="segment_video")] * n


def _span_gaps(boxes: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """Frames between two boxed frames (boxes drawn on key frames around a moving object) get the rectangle
    spanning both boxes: where an object moving from one to the other can be, as boxes interpolated from the
    key frames would not promise (frames before the first box and after the last keep none)."""
    boxed = [t for t, b in enumerate(boxes) if b is not None]
    for a, b in zip(boxed, boxed[1:]):
        if b - a > 1:
            y0, x0, y1, x1 = seg.box_bounds(boxes[a] | boxes[b])
            span = np.zeros_like(boxes[a])
            span[y0:y1, x0:x1] = True
            boxes[a + 1:b] = [span] * (b - a - 1)
    return boxes


def _slice_of(b: Any) -> tuple[int, ...] | None:
    """The leading (slice) coordinates of one shape of a Shapes layer on a stack: ``(k, D)`` vertices with
    ``D > 2`` whose leading coordinates agree (a shape drawn on one (y, x) plane); else ``None``."""
    try:
        arr = np.asarray(plain_data(b, "box"), dtype=float)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 3 or not np.isfinite(arr).all():
        return None
    if np.ptp(arr[:, :-2], axis=0).max() > 0.5:
        return None
    return tuple(int(round(float(v))) for v in arr[0, :-2])


def _drawn_on(b: Any) -> int | None:
    """The frame a napari rectangle of a (T, Y, X) Shapes layer was drawn on (its (4, 3) corners' t), else
    ``None``."""
    where = _slice_of(b)
    return where[0] if where is not None and len(where) == 1 and np.shape(plain_data(b, "box"))[0] == 4 else None


def _boxes_by_frame(box: Any, n: int, shape: tuple[int, int]) -> Any:
    """A box per frame as ``{frame: box}``: from a ``(T, H, W)`` stack or a list of masks, or a Shapes layer's
    rectangles on several frames (:func:`_rectangles_by_frame`); anything else as it is."""
    masks = None
    if not isinstance(box, (dict, list, tuple)):
        box = plain_data(box, "box")
        if np.ndim(box) == 3 and tuple(np.shape(box)[1:]) == tuple(shape):
            masks = list(np.asarray(box))
    elif isinstance(box, (list, tuple)) and len(box) > 1 and all(_frame_shaped(b, shape) for b in box):
        masks = list(box)  # a mask per frame, in a list
    elif (
        isinstance(box, (list, tuple)) and any(b is None for b in box)
        and any(_frame_shaped(b, shape) for b in box)
    ):
        first = next(i for i, b in enumerate(box) if b is None)
        raise ValueError(
            f"box: frame {first}'s mask is None; give frames without a box an empty mask, or pass "
            "the frames that have one as {frame: mask}"
        )
    if masks is None:
        return _rectangles_by_frame(box)
    if len(masks) != n:
        raise ValueError(
            f"box holds {len(masks)} mask{'s' if len(masks) != 1 else ''} of {shape[0]} x {shape[1]} for {n} "
            "frames: give one mask per frame, or the frames' masks as {frame: mask}"
        )
    # A frame whose mask is empty has no box of its own (a Labels stack painted on key frames only): it gets the
    # key frames' rule, as in the {frame: box} form.
    kept = {t: m for t, m in enumerate(masks) if np.asarray(plain_data(m, "box")).any()}
    if not kept:
        raise ValueError("box masks are empty on every frame (no pixel set)")
    return kept


def _frame_shaped(item: Any, shape: tuple[int, int]) -> bool:
    try:
        return tuple(np.shape(plain_data(item, "box"))) == tuple(shape)
    except (TypeError, ValueError):
        return False


def _rectangles_by_frame(box: Any) -> Any:
    """A Shapes layer's ``data`` holding rectangles on several frames (a list of ``(4, D)`` corner arrays, or
    one ``(k, 4, D)`` array; ``D = 3`` for a (T, Y, X) layer, 4 for (T, Z, Y, X) with the rectangles on one Z)
    as ``{frame: rectangle}``, the frame being their first coordinate (the only one in which they may differ);
    anything else as it is."""
    if isinstance(box, dict):
        return box
    try:
        items = list(box) if isinstance(box, (list, tuple)) else None
        if items is None and isinstance(plain_data(box, "box"), np.ndarray) and np.ndim(box) == 3:
            items = list(np.asarray(box))
    except (TypeError, ValueError):
        return box
    if not items or len(items) < 2:
        return box
    where = [_slice_of(b) for b in items]
    if any(w is None for w in where) or len({len(w) for w in where}) != 1:
        return box  # (not shapes drawn on slices: box_mask says what is wrong)
    differ = [a for a in range(len(where[0])) if len({w[a] for w in where}) > 1]
    if not differ:
        return box  # (all on one frame: box_mask says what is wrong)
    if differ != [0]:  # (on one t and several z: the frames may be x[t] or x[:, z]; which is not known here)
        raise ValueError(
            f"box holds shapes on slices {sorted(set(where))[:4]} that differ in another axis than the first "
            "(the time axis of the layer): give one box per frame of the video as {frame: box}"
        )
    frames = [w[differ[0]] for w in where]
    if any(np.shape(plain_data(b, "box"))[0] != 4 for b in items):
        raise ValueError(
            f"box holds shapes on frames {sorted(set(frames))[:8]}, not all of them rectangles: a box per frame "
            "is read from rectangles only; give {frame: box}, a polygon as a boolean (H, W) mask"
        )
    seen: dict[int, Any] = {}
    for f, b in zip(frames, items):
        if f in seen:
            raise ValueError(
                f"box holds two rectangles on frame {f}: give one per frame ({{frame: box}}; a boolean mask of "
                "their union for a frame with several regions)"
            )
        seen[f] = b
    return seen


@task_function
def segment_video(
    frames: Any,
    hints: Hints = "auto",
    *,
    box: Box | dict[int, Box] = None,
    auto_fill: bool | str = True,
    iterations: int | None = None,
    max_size: int | None = None,
    batch: int | None = None,
    device: str = "auto",
    seed: int = 0,
    preset: str = "default",
    precision: str = "auto",
    reassign: float | str | None = "auto",
    stop: StopRequest = None,
) -> Generator[Progress, None, VideoSegmentationResult]:
    """Segment every frame of a video into foreground and background with one Double-DIP (paper Eq. 4-5).

    The foreground DIP generates every frame's foreground, the background DIP every frame's background and the
    mask DIP every frame's mask, each frame from its own noise input; the noise inputs drift slowly from frame to
    frame (Eq. 5), which makes the masks temporally coherent. Each iteration fits a mini-batch of ``batch`` frames.

    Parameters
    ----------
    frames
        ``(T, H, W)`` grey or ``(T, H, W, C)`` (C <= 4) array with ``T >= 2``, any numeric dtype.
    hints
        ``"auto"`` (crude saliency hints computed on each frame, on RGB frames refined by a colour model of each
        region, relaxed after the first phase), ``"intensity"`` (as in :func:`napari_doubledip.segment`, with one
        threshold for all frames, after a drift in brightness across them is levelled: a Z-stack dimming with
        depth, photobleaching; a single frame much dimmer than its neighbours gets no object hints and an empty
        mask, with a warning: normalise such a frame first), ``None`` (no
        hints: unsupervised, polarity arbitrary) or a label array, ``(T, H, W)`` or ``(H, W)`` for all frames,
        with 1 = foreground and 2 = background scribbles (frames may have none), or a ``(foreground,
        background)`` pair of masks of those shapes. The rules are those of :func:`napari_doubledip.segment`: a
        label array (integer, float or boolean; boolean marks foreground only) holds only 0, 1 and 2; the pair is
        a tuple or a 2-item list (or a dict with the keys ``"foreground"`` and ``"background"`` only) of boolean
        or numeric masks, nonzero = marked, that must not overlap. A list is always read as the pair: pass a
        label stack as an array. Where scribbles mark nothing, automatic hints fill in (``auto_fill``).
    box
        Optional region around the object, in the forms :func:`napari_doubledip.segment` takes, for every
        frame, or a dict ``{frame index: box}`` for some frames (key frames: a frame between two of them
        gets the rectangle spanning both boxes; those before the first and after the last get none), or a
        ``(T, H, W)`` stack (or list) of masks, one per frame (an empty one: no box of its own, the key frames'
        rule as above: a Labels stack painted on key frames); a ``(T, Y, X)`` napari Shapes layer's ``data``
        as is: one rectangle applies to every frame (read in y, x), rectangles on several frames are
        ``{t: rectangle}`` (key frames as above). Outside a frame's box is background for the whole run and
        its mask is cut to the box; that frame's automatic hints (``hints="auto"``, or filling in around
        scribbles) are computed on the box's surroundings; with ``hints=None`` the inside is left to the
        optimisation. Three DAVIS clips with a loose box per frame (``benchmarks/segmentation_box.py
        --video``): mean IoU 0.647, against 0.464 with automatic hints only and 0.440 with the boxes read as
        hint labels (what the widget passed before 2026-12-03); the boxes and one foreground dot on the first
        frame: 0.626 (0.147 before the dot was filled in by automatic hints).
    auto_fill
        As in :func:`napari_doubledip.segment`: with scribbles, automatic hints fill in (every frame's, inside its
        box if it has one) where the scribbles mark nothing; ``False``: the scribbles alone; ``"intensity"``: the
        intensity hints (one threshold for all frames) fill in, held with the scribbles.
    iterations
        Optimisation steps; ``None`` = the measured default (``DEFAULTS["segment"]``: 400 up to 20 frames, then
        ``400 * sqrt(T / 20)``, e.g. 894 for 100 frames; :func:`default_iterations`). The cost of a step does
        not depend on ``T``. As for one image, the run ends earlier once the refined masks have settled
        (watched on up to 16 evenly spaced frames; ``r.iterations`` says how many steps ran).
    max_size
        Long side of the working resolution; masks are brought back to full size with a guided filter.
    batch
        Frames per iteration; ``None`` = the default (4); at most the number of frames.
    device, seed, preset, precision, reassign, stop, progress
        As in :func:`napari_doubledip.segment` (``reassign``: each frame's pixels given to the layer that
        explains them, frame by frame). ``preset="reference"`` applies the authors' single-image
        segmentation recipe (they did not release their video code) at full resolution.

    Returns
    -------
    VideoSegmentationResult

    Notes
    -----
    The live preview (``Progress.preview``) holds ``"masks"``: the whole ``(T, H, W)`` uint8 stack, upsampled
    bilinearly from the working size and thresholded (cheap; no guided filter).

    Examples
    --------
    >>> import numpy as np, napari_doubledip as dd
    >>> frames = np.random.default_rng(0).random((3, 32, 32))
    >>> frames[:, 8:24, 8:24] += 2.0
    >>> r = dd.segment_video(frames, iterations=10)
    >>> r.masks.shape
    (3, 32, 32)
    """
    # the options that need no frames first: a lazy stack is loaded only for a run that can start
    seed = check_seed(seed)
    dev = resolve_device(device)
    check_precision(precision)
    check_before_loading(iterations, max_size, preset)
    _batch(batch, 1, 1)  # (its type and bound)
    reassign = seg.check_reassign(reassign, hints, auto_fill)
    auto_fill = seg.check_auto_fill(auto_fill)
    if single_value(hints):  # (a mode, or a single value such as True refused before the frames load)
        check_hint_mode(hints)
    frames = load_frames(frames)  # (loaded once: the layers copy its values where they are the frames)
    stack, vr = as_frames(frames, "frames")
    d = DEFAULTS["segment"]
    n = stack.shape[0]
    its = check_iterations(iterations, default_iterations(d["iterations"], n, d["ref_frames"]))
    ms = resolve_max_size(max_size, d["max_size"], stack.shape[1:], preset)
    k = _batch(batch, d["batch"], n)
    params = dict(
        hints=hints if isinstance(hints, str) or hints is None else "user",
        auto_fill=None if isinstance(hints, str) or hints is None else auto_fill,  # (only for scribbles)
        frames=n, iterations=its, max_size=ms, batch=k, device=str(dev), seed=seed, preset=preset,
    )
    full = to_tensor(stack, dev)  # (T, C, H, W)
    size = tuple(full.shape[-2:])
    work = resize(full, working_shape(size, ms))
    ws = tuple(work.shape[-2:])
    box = _boxes_by_frame(box, n, size)  # (a stack of masks, rectangles on several frames: {frame: box})
    full_boxes = _frame_boxes(box, n, size)
    keep = held = boxes = None
    if full_boxes is not None:
        params["box"] = (  # (the boxes given: those of key frames, not the spans between them)
            {t: seg.box_bounds(b) for t, b in enumerate(full_boxes) if b is not None}
            if isinstance(box, dict) else seg.box_bounds(full_boxes[0])
        )
        full_boxes = _span_gaps(full_boxes)
        keep = full_boxes  # the masks are cut to the boxes (bool (H, W) per frame; one array for a shared box)
        boxes = [None if b is None else seg.shrink_mask(torch.from_numpy(b).to(dev), ws) for b in full_boxes]
    planned = planned_iterations("video_segmentation", preset, iterations, its)  # (for the set-up's reports)
    # the user's labels at full size (the rules segment() shares), read once: hints, and kept by the reassignment
    scribbled = None if isinstance(hints, str) or hints is None else hint_labels(hints, size, frames=n)
    if scribbled is not None:
        seg.warn_no_marks(scribbled, auto_fill)
    # A grey stack whose brightness drifts (a Z-stack dimming with depth, photobleaching) is fitted levelled, as
    # its intensity hints are taken: its dim frames' objects weigh as much in the fit as the bright ones'
    # (Z-stack dimming to 35 %: mean IoU 0.669 with the hints levelled alone; benchmarks/stack_brightness.py).
    # (Not colour stacks: one shift for all channels, taken from their mean, pushed channels whose background
    # differs out of [0, 1], a review's RGB case; their hints are levelled all the same.)
    level = None
    intensity = (isinstance(hints, str) and hints == "intensity") or (
        scribbled is not None and auto_fill == "intensity"
    )
    if intensity and work.shape[1] == 1:
        level = seg.stack_levelling(work, _inside(boxes, ws, work.device))
    if level is not None:
        work = (work * level[0] + level[1]).clamp(0, 1)
    fg_w, bg_w, user, stopped, held = yield from _video_hints(
        hints if scribbled is None else scribbled, work, planned, stop, boxes, auto_fill, full_boxes
    )
    if stopped:  # the hints are incomplete: no step may run on them (a callable may say False next time)
        stop = always_stop
    outside = None
    if boxes is not None:  # outside a box: background for the whole run
        inside = torch.stack([b if b is not None else torch.ones(ws, dtype=torch.bool, device=dev) for b in boxes])
        fg_w, bg_w, held, outside = seg.hold_outside(fg_w, bg_w, inside[:, None], user, held)
    task = _video_task(
        seg.build_task(work, fg_w, bg_w, its, user, phases=SEGMENT_PHASES, lr=0.01, held=held, outside=outside),
        k,
        {"foreground": SEGMENT_WALK, "background": SEGMENT_WALK, "mask": SEGMENT_WALK},
        # Sparse user scribbles (or none) leave most pixels to the DIP prior, which the augmentation strengthens
        # (measured: IoU 0.84 vs 0.60 with sparse scribbles); dense automatic hints do better without it, and
        # so do dense labels (labels on every pixel: the masks, augmented, spread 2-4 px towards the object's
        # place in the neighbouring frames, over pixels labelled background: IoU 0.85-0.97 instead of 1.0).
        # Only what the user gave counts (labels, a box's outside): intensity hints, held like labels, leave the
        # band around each object to the prior as sparse scribbles do, and gain from it
        # (benchmarks/stack_brightness.py).
        augment=user and _label_share(scribbled, keep, size) < DENSE_LABELS,
        settle=_settle_view(work),
    )
    task.name = "video segmentation"
    task = apply_preset(task, preset, iterations, precision)
    params["precision"] = precision
    params["reassign"] = reassign
    params["iterations"] = task.iterations

    def preview(out: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        m = torch.cat([resize(out["mask"][s], size) for s in _chunks(n, 16)])[:, 0]
        masks = (m > 0.5).cpu().numpy().astype(np.uint8)
        if keep is not None:
            for t, b in enumerate(keep):
                if b is not None:
                    masks[t] *= b
        return {"masks": masks}

    task.preview = preview
    sol = yield from optimise(task, device=dev, seed=seed, stop=stop)

    masks, softs, fgs, bgs = [], [], [], []
    reports = StageReports(
        "finishing at full size", n, sol.iterations, _planned(sol, task), sol.final_loss,
        every=SETUP_REPORT_SECONDS,
    )
    for s in _chunks(n, 8):  # chunked: full-resolution intermediates for a few frames at a time
        seen = full[s] if level is None else (full[s] * level[0][s] + level[1][s]).clamp(0, 1)  # (as fitted)
        soft = seg.finish_masks(sol.outputs["mask"][s], seen)  # (k, H, W)
        fg_layer = resize(sol.outputs["foreground"][s], size)
        bg_layer = resize(sol.outputs["background"][s], size)
        if reassign is not None:
            soft = seg.reassign_by_layers(
                seen, fg_layer.to(full), bg_layer.to(full), soft, reassign,
                None if scribbled is None else torch.from_numpy(scribbled[s]).to(soft.device),
            )
        if level is not None:  # (the layers back in the frames' own brightness)
            fg_layer = (fg_layer.to(full) - level[1][s]) / level[0][s]
            bg_layer = (bg_layer.to(full) - level[1][s]) / level[0][s]
        if keep is not None:
            for i, b in enumerate(keep[s]):
                if b is not None:
                    soft[i] *= torch.from_numpy(b).to(soft)
        m = (soft > 0.5).float()[:, None]
        fgs.append(to_numpy(m * full[s] + (1 - m) * fg_layer))
        bgs.append(to_numpy((1 - m) * full[s] + m * bg_layer))
        masks.append(m[:, 0].cpu().numpy())
        softs.append(soft.cpu().numpy())
        if (report := reports.after(s.stop)) is not None:
            yield report
    fg_w, bg_w = seg.hints_as_run(fg_w, bg_w, held, outside)
    labels = np.zeros((n, *size), np.uint8)
    labels[resize(fg_w, size)[:, 0].cpu().numpy() > 0.5] = 1
    labels[resize(bg_w, size)[:, 0].cpu().numpy() > 0.5] = 2
    if keep is not None:  # (a working cell across a box's edge: outside, the run held background)
        for t, b in enumerate(keep):
            if b is not None:
                labels[t][(labels[t] == 1) & ~b] = 2
    masks = np.concatenate(masks).astype(np.float32)
    if hints is None and not sol.stopped:
        seg.warn_no_split(masks, "hints=None")
    return VideoSegmentationResult(
        masks=masks,
        soft_masks=np.concatenate(softs).astype(np.float32),
        foreground=copy_input(vr.restore(np.concatenate(fgs)), frames, masks),  # (the frames inside the masks)
        background=copy_input(vr.restore(np.concatenate(bgs)), frames, 1 - masks),
        hints=labels,
        **run_info(sol, params, dev),
    )


# ---------------------------------------------------------------------------------------------------------------
# Video transparency with a static layer (Eq. 7)


@dataclass(kw_only=True, eq=False, repr=False)
class VideoLayersResult(RunInfo):
    """Result of :func:`separate_video_layers`.

    Besides the attributes below, every result has the run's fields of :class:`~napari_doubledip.RunInfo`
    (``params``, ``seed``, ``device``, ``iterations``, ``elapsed``, ``stopped``, ``history``, ...).

    Attributes
    ----------
    dynamic
        The moving layer of every frame, shaped like the frames, in their units (it may reach beyond their
        values: see :func:`separate_video_layers`' Notes).
    static
        The static layer (e.g. a reflection on a window), shaped like one frame, in the frames' units (as
        ``dynamic``).
    alphas
        ``(T,)`` coefficient of the dynamic layer in each frame: ``I_i = a_i * dynamic_i + (1 - a_i) * static``.
    """

    dynamic: np.ndarray
    static: np.ndarray
    alphas: np.ndarray


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y, zero in the last column / row (same shape as ``x``)."""
    gx = torch.zeros_like(x)
    gy = torch.zeros_like(x)
    gx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    gy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    return gx, gy


def _poisson(gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """The image (zero mean) whose forward differences best fit ``(gx, gy)`` (Neumann boundary, DCT solve)."""
    from scipy.fft import dctn, idctn

    gxn = gx.detach().cpu().double().numpy()  # (to the host first: MPS has no float64)
    gyn = gy.detach().cpu().double().numpy()
    h, w = gxn.shape[-2:]
    div = np.zeros_like(gxn)
    div[..., :, :-1] += gxn[..., :, :-1]
    div[..., :, 1:] -= gxn[..., :, :-1]
    div[..., :-1, :] += gyn[..., :-1, :]
    div[..., 1:, :] -= gyn[..., :-1, :]
    yy, xx = np.mgrid[:h, :w]
    den = (2 - 2 * np.cos(np.pi * yy / h)) + (2 - 2 * np.cos(np.pi * xx / w))
    den[0, 0] = 1.0
    coef = dctn(-div, axes=(-2, -1), norm="ortho") / den
    coef[..., 0, 0] = 0.0
    out = idctn(coef, axes=(-2, -1), norm="ortho")
    return torch.from_numpy(out).to(gx.dtype).to(gx.device)


def _median(x: torch.Tensor) -> torch.Tensor:
    """The median over the first axis, keeping it (size 1): for an even count the mean of the two middle
    values (``torch.median`` gives the lower one, which for two frames is their minimum: signed gradients and
    residuals came out biased low)."""
    n = x.shape[0]
    if n % 2:
        return x.median(dim=0, keepdim=True).values
    if x.device.type == "mps":  # (kthvalue has no MPS kernel before torch 2.9)
        return _median(x.cpu()).to(x.device)
    low = x.kthvalue(n // 2, dim=0, keepdim=True).values  # (not a sort: its int64 indices are full size)
    return 0.5 * (low + x.kthvalue(n // 2 + 1, dim=0, keepdim=True).values)


def static_estimate(frames: torch.Tensor) -> torch.Tensor:
    """Classical estimate of the static layer's contribution ``(1 - a) * y2`` of ``(T, C, h, w)`` frames.

    The temporal median of each pixel's gradients keeps the edges that stay put while the dynamic layer's edges
    move past (Weiss 2001); integrating that gradient field (Poisson) gives the static layer up to a constant.
    Returns ``(1, C, h, w)`` with zero mean.
    """
    gx, gy = _gradients(frames)
    return _poisson(_median(gx)[0], _median(gy)[0])[None]


def build_layers_task(
    target: torch.Tensor, iterations: int, batch: int, bounds: tuple[float, float] = (0.0, 1.0)
) -> Task:
    """Video transparency as a :class:`Task`: ``I_i = a_i * y1_i + (1 - a_i) * y2`` (paper Eq. 7).

    The layers span ``bounds`` (in the units where the frames span ``[0, 1]``; see
    :func:`~napari_doubledip.tasks.transparency.build_task`).

    ``y1`` comes from one DIP with a random-walk noise input per frame, ``y2`` from one DIP with a single noise
    input (static), ``a_i`` from the coefficient DIP with a random-walk noise input per frame.

    Terms: MSE reconstruction; exclusion between the layers; the coefficients pulled towards ``ALPHA_PRIOR``
    for the first 15% of the run; and a *static hint*: the gradients of ``(1 - a) * y2`` are pulled (L1) towards
    those of :func:`static_estimate`. The hint is not in the paper. Without it, the dynamic DIP, which can
    produce anything common to all frames as easily as the static one, took the static layer too (static-layer
    PSNR below the temporal mean's on the synthetic video); with it the split follows what stays put.
    """
    n, c = target.shape[:2]
    dips = {
        "dynamic": DIP(c, DYNAMIC_NET, instances=n),
        "static": DIP(c, STATIC_NET),
        "alpha": tr.alpha_dip(n),
    }

    def compose(s):
        a = tr.mix(s.out["alpha"])
        return a * tr.layer_values(s.out["dynamic"], bounds) + (1 - a) * tr.layer_values(s.out["static"], bounds)

    def alpha_prior(s):
        return (tr.mix(s.out["alpha"]) - ALPHA_PRIOR).square().mean()

    def exclusion(s):
        return L.exclusion(s.out["dynamic"], s.out["static"].expand_as(s.out["dynamic"]))

    def static_hint(s):
        a = tr.mix(s.out["alpha"]).mean()
        gx, gy = _gradients((1 - a) * tr.layer_values(s.out["static"], bounds) - s.maps["static"])
        return gx.abs().mean() + gy.abs().mean()

    terms = [
        Term("reconstruction", lambda s: L.reconstruction(s.pred, s.target, "mse")),
        Term("exclusion", exclusion, 0.05),
        Term("alpha_prior", alpha_prior, window(1.0, 0.0, 0.15)),
        Term("static_hint", static_hint, HINT_WEIGHT),
    ]
    task = Task(
        name="video transparency",
        dips=dips,
        target=target,
        compose=compose,
        terms=terms,
        iterations=iterations,
        maps={"static": static_estimate(target)},
        lr=0.01,
        track_from=0.3,
    )
    return _video_task(task, batch, {"dynamic": LAYERS_WALK, "alpha": LAYERS_WALK})


@task_function
def separate_video_layers(
    frames: Any,
    *,
    iterations: int | None = None,
    max_size: int | None = None,
    batch: int | None = None,
    device: str = "auto",
    seed: int = 0,
    preset: str = "default",
    precision: str = "auto",
    stop: StopRequest = None,
) -> Generator[Progress, None, VideoLayersResult]:
    """Separate a video into a dynamic layer and a static transparent layer (e.g. a reflection), paper Eq. 7.

    ``I_i = a_i * dynamic_i + (1 - a_i) * static``: one DIP generates the dynamic layer of every frame (one
    slowly drifting noise input per frame), one DIP the static layer, and one small DIP the per-frame coefficient
    ``a_i``. Each iteration fits a mini-batch of ``batch`` frames.

    Parameters
    ----------
    frames
        ``(T, H, W)`` grey or ``(T, H, W, C)`` (C <= 4) array with ``T >= 2``, any numeric dtype.
    iterations, max_size, batch, device, seed, preset, precision, stop, progress
        As in :func:`segment_video` (defaults in ``DEFAULTS["layers"]``; ``preset="reference"``: the authors'
        two-mixture transparency recipe at full resolution).

    Returns
    -------
    VideoLayersResult

    Notes
    -----
    Eq. 7 fixes the static layer only up to a gain (traded against the coefficients) and, with nearly constant
    coefficients, an offset; the static layer's *structure* is what the video determines. The returned dynamic
    layer of each frame is ``(I_i - (1 - a_i) * static) / a_i``, clipped to what the input's kind can hold (as
    in :func:`~napari_doubledip.separate_layers`: a layer may reach beyond the frames' own values, at most half
    their range beyond): it keeps all the frame's detail, which the shared dynamic DIP only approximates, and
    reconstructs the frame exactly where it is not clipped; where the static layer is brighter than the frame
    allows, the dynamic layer is clipped to black and the two layers' mix is brighter than the frame (10 % of the
    pixels of ``samples.reflection_video(48, 10)`` at the defaults, by up to about 0.18 of the value range; 14 %
    and 0.21 when the layers were clipped to the frames' range, before 2026-12-05). When the
    working size is smaller than the frames, the static layer gets back its lost detail from the temporal
    median of the frames' residuals.

    The live preview holds ``"static"`` (one frame) and ``"dynamic"`` (the whole stack), both upsampled
    bilinearly from the working size (cheap; no full-resolution detail transfer).

    Examples
    --------
    >>> import numpy as np, napari_doubledip as dd
    >>> frames = np.random.default_rng(0).random((3, 32, 32))
    >>> r = dd.separate_video_layers(frames, iterations=10)
    >>> r.dynamic.shape, r.static.shape, r.alphas.shape
    ((3, 32, 32), (32, 32), (3,))
    """
    seed = check_seed(seed)  # (the options that need no frames first, as in segment_video)
    dev = resolve_device(device)
    check_precision(precision)
    check_before_loading(iterations, max_size, preset)
    _batch(batch, 1, 1)
    stack, vr = as_frames(frames, "frames")
    d = DEFAULTS["layers"]
    n = stack.shape[0]
    its = check_iterations(iterations, default_iterations(d["iterations"], n, d["ref_frames"]))
    ms = resolve_max_size(max_size, d["max_size"], stack.shape[1:], preset)
    k = _batch(batch, d["batch"], n)
    params = dict(frames=n, iterations=its, max_size=ms, batch=k, device=str(dev), seed=seed, preset=preset)
    # (frame by frame: no copy of the stack) a still clip has no motion to tell the layers apart by
    if all(float(np.abs(x - stack[0]).max()) <= 1e-3 for x in stack[1:]) and float(np.ptp(stack[0])) > 0:
        warn(
            "separate_video_layers: the frames are (nearly) identical: with no motion nothing tells the static "
            "layer from the moving one, so the split will be arbitrary"
        )
    full = to_tensor(stack, dev)
    size = tuple(full.shape[-2:])
    work = resize(full, working_shape(size, ms))
    bounds = vr.bounds()
    task = apply_preset(build_layers_task(work, its, k, bounds), preset, iterations, precision)
    params["precision"] = precision
    params["iterations"] = task.iterations

    def preview(out: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        dyn = torch.cat([resize(tr.layer_values(out["dynamic"][s], bounds), size) for s in _chunks(n, 16)])
        return {
            "static": vr.restore(to_numpy(resize(tr.layer_values(out["static"], bounds), size))[0]),
            "dynamic": vr.restore(to_numpy(dyn)),
        }

    task.preview = preview
    sol = yield from optimise(task, device=dev, seed=seed, stop=stop)
    alphas = tr.mix(sol.outputs["alpha"]).flatten()
    run = (sol.iterations, _planned(sol, task), sol.final_loss)
    dynamic, static = yield from _full_resolution(
        tr.layer_values(sol.outputs["dynamic"], bounds),
        tr.layer_values(sol.outputs["static"], bounds),
        alphas,
        full,
        run,
        bounds,
    )
    return VideoLayersResult(
        dynamic=vr.restore(dynamic, within=True),
        static=vr.restore(static[0], within=True),
        alphas=alphas.cpu().numpy().astype(np.float32),
        **run_info(sol, params, dev),
    )


def _full_resolution(
    dynamic: torch.Tensor,
    static: torch.Tensor,
    alphas: torch.Tensor,
    full: torch.Tensor,
    run: tuple[int, int, float] = (0, 0, float("nan")),
    bounds: tuple[float, float] = (0.0, 1.0),
) -> Generator[Progress, None, tuple[np.ndarray, np.ndarray]]:
    """Full-size layers ``(T, H, W, C)`` and ``(1, H, W, C)`` numpy that reconstruct every frame (exactly where
    the dynamic layer is not clipped).

    The static layer is the DIP's, upsampled; when the working size is smaller than the frames, the detail it lost
    is the temporal median of the per-frame residuals ``(I_i - a_i up(y1_i) - (1 - a_i) up(y2)) / (1 - a_i)``
    (static detail is in every frame's residual, moving detail is not). Each frame's dynamic layer is then what
    the static layer leaves of it, ``(I_i - (1 - a_i) y2) / a_i``: it keeps the frame's full detail, which the
    shared dynamic DIP only approximates. A generator (``yield from``): yields stage reports when due, with the
    run's ``(iterations, planned iterations, loss)``.
    """
    size = tuple(full.shape[-2:])
    n = full.shape[0]
    a = alphas.view(n, 1, 1, 1)
    static_full = resize(static, size)
    if tuple(static.shape[-2:]) != size:
        reports = StageReports("static layer detail at full size", n, *run, every=SETUP_REPORT_SECONDS)
        resid = []
        for s in _chunks(n, 8):
            resid.append((full[s] - a[s] * resize(dynamic[s], size) - (1 - a[s]) * static_full) / (1 - a[s]))
            if (report := reports.after(s.stop)) is not None:
                yield report
        static_full = (static_full + _median(torch.cat(resid))).clamp(*bounds)
    reports = StageReports("finishing at full size", n, *run, every=SETUP_REPORT_SECONDS)
    dyn = []
    for s in _chunks(n, 8):
        dyn.append(to_numpy(((full[s] - (1 - a[s]) * static_full) / a[s]).clamp(*bounds)))
        if (report := reports.after(s.stop)) is not None:
            yield report
    return np.concatenate(dyn), to_numpy(static_full)
