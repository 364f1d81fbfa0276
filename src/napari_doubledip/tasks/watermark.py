"""Watermark removal (paper Sec. 4, "Watermark removal"): one image with a box, or several sharing a watermark."""

from __future__ import annotations

import reprlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .._validation import (
    _holds_bool,
    as_images,
    check_iterations,
    check_seed,
    corners_to_box,
    edges_to_box,
    host_array,
    listed,
    loaded,
    plain_data,
    warn,
    working_shape,
)
from ..solver import losses as L
from ..solver.device import check_precision, resolve_device
from ..solver.engine import DIP, Progress, StopRequest, Task, Term, optimise, ramp, window
from ..solver.filters import guided_upsample, push_pull_fill, resize
from ..solver.networks import NetConfig
from ..solver.presets import apply_preset
from ._common import (
    PREVIEW_PIXELS,
    RunInfo,
    check_before_loading,
    preview_shape,
    resolve_max_size,
    run_info,
    task_function,
    to_numpy,
    to_tensor,
)

__all__ = [
    "WatermarkResult", "remove_watermark", "DEFAULTS", "build_task", "box_mask", "alpha_window", "place_alpha"
]

#: Default budget and working size, chosen by measurement (``benchmarks/synthetic_watermark_dehaze.py``): a
#: 256 px image with a box took ~30 s on a 2-core CPU (3 images without a box ~60 s; on a 2-core AMD EPYC on
#: 2026-12-02 13 s with the opacity window of :data:`ALPHA_MARGIN`, and 31 s); in-box PSNR 35.5-37.0 dB for seeds
#: 0-9 when measured (30.5-43.4 dB for seeds 0-4 after later changes that reorder arithmetic; input 18.1). The
#: box case needed the opacity to settle before the clean layer was released (40-50 % of the run, with the
#: inpainting phase then 30 %): 300 iterations left one seed of five at 21.1 dB on that image.
DEFAULTS = {"iterations": 400, "max_size": 128, "box_max_size": 192}
#: With a small box the optimisation runs on a crop: the box plus this many times its short side of context on
#: each side (at least ``BOX_MIN_MARGIN`` px), when that crop covers at most ``BOX_CROP_AREA`` of the image.
#: The watermark is local, so the far image only costs time, and the crop keeps thin strokes at (or near) full
#: resolution: on a 256 px photograph with white random text (a 31x111 px box), optimising the whole image at
#: 128 px lost the strokes (the opacity collapsed to 0: output = input, 18.97 dB in the box); the crop at full
#: resolution (``box_max_size`` bounds its long side) gave 21.2 dB in the same time. A large box keeps the whole
#: image as context: on the synthetic sample (a 72x170 box in 256 px) a crop was measured worse and less stable
#: across seeds (15.3 / 19.8 / 33.5 dB vs 24.8 / 25.1 / 29.7 for the whole image at 128 px; input 18.1).
BOX_MARGIN = 1.0
BOX_MIN_MARGIN = 16
BOX_CROP_AREA = 0.5

#: Clean-image DIP (one noise instance per image).
CLEAN_NET = NetConfig(channels=(16, 32, 64, 64), skip=(0, 0, 4, 4), kernel=3, in_channels=8)
#: Opacity (alpha) DIP: sharp, thin structures (text strokes), full resolution.
ALPHA_NET = NetConfig(channels=(16, 32, 64, 64), skip=(0, 0, 4, 4), kernel=3, in_channels=8)
#: With a box the opacity DIP generates only the box's bounding rectangle plus this margin (px at working size)
#: on each side, placed into a zero map: the opacity is zero outside the box anyway, so generating the rest of
#: the image only cost time (see :func:`alpha_window`). The DIP's output in the margin is held near zero
#: (weight ``alpha_margin``): left free, the opacity leaked over the box's edge and the result showed the box as a
#: faint frame (256 px sample, seed 0: mean opacity 0.029 in the box's outer 3 px, 0.007 with the whole-image
#: canvas, 0.002 held). Measured (in-box PSNR, means; whole canvas -> this): 128 px sample (a 36x85 box) seeds
#: 0-5 33.8 -> 34.4 dB at 0.043 -> 0.035 s per step; 256 px seeds 0-4 38.6 -> 36.9 dB (within the seed spread:
#: 30.5-43.4); the real random-text case seeds 0-4 18.91 -> 18.82 dB. An 8 px margin leaked more (0.060).
ALPHA_MARGIN = 16
#: Watermark colour DIP: a small noise grid upsampled bilinearly, so the colour varies slowly; the shape of
#: the watermark is carried by the opacity map.
COLOUR_NET = NetConfig(channels=(8, 16), skip=(0, 0), kernel=3, in_channels=4)
COLOUR_SIZE = (8, 8)
#: Dihedral augmentation slows the fit of detailed images several-fold (measured: L1 0.097 vs 0.031 after 400
#: iterations on a 64 px photograph), and the clean layer's detail is what this task returns; so it is off.
AUGMENT = False
#: Loss weights (see :func:`build_task`). ``inpaint_end`` (the box's inpainting phase, a fraction of the run)
#: was the authors' 30 % until 2026-12-07; over a busy region the opacity then took what the inpainting could not
#: continue (a cup's white rim, an eye's outline) before the clean layer was released, and the output painted
#: the inpainting over it. 10 % releases the clean layer while such structures are still its (256 px,
#: ``synthetic_watermark_dehaze.py --only watermark --sets none`` with scenes rocket / astronaut / chelsea /
#: coffee at opacity 0.3 and 0.5, and the real random-text case at full size; seeds 0-2, in-box PSNR gain over
#: the input, mean of the nine cases: 30 % +2.23 / +1.55 / +2.10 dB, 10 % +4.28 / +4.15 / +3.30; worst case
#: -10.9 / -11.3 / -10.7 -> -4.0 / -6.5 / -6.5; real text 17.96 -> 22.22 dB mean, input 18.18; 5 % and 15 %
#: on seed 0: +3.26 and +3.50). The one case that lost: the cat's eyes at 0.5, 28.68 -> 20.93 dB (input 20.32).
#: Several images with a box keep 30 % (``inpaint_end_set``): there the other images tell the watermark from
#: one image's structure, and 10 % lost (3 RGB images at 128 px with a box, seeds 0 / 1: 30.27 / 32.18 ->
#: 28.23 / 26.69 dB, input 22.11).
WEIGHTS = {
    "inside": 1.0,
    "clean_in_box": 1.0,
    "keep": 0.5,
    "inpaint_end": 0.1,
    "inpaint_end_set": 0.3,
    "exclusion": 0.1,
    "colour_from": 0.3,
    "cross_exclusion": 0.1,
    "alpha_l1": 0.002,
    "alpha_margin": 0.1,
    "under": 0.3,
    "support": 1.0,
    "support_until": 0.5,
}
#: Radius (px at working size) of the local mean that compares the clean layer with the guess of what lies under
#: the box (see :func:`build_task`): only the guess's slow variations count, the texture is the DIP's.
UNDER_RADIUS = 4
#: Guided upsampling of the opacity to full resolution: radius (px at working size) and regularisation; measured
#: best of radius 1-3 and eps 1e-3 / 1e-4 on the 256 px sample.
OPACITY_RADIUS = 1
OPACITY_EPS = 1e-3
#: Without a box: dilation (px at working size) of the edges all images share, outside which the opacity is
#: pushed to zero early in the run (see :func:`shared_edges`).
SUPPORT_DILATION = 7

Box = Any  # (y0, x0, y1, x1), a boolean mask, napari rectangle corners (k, 2) / [(4, D)], or None


#: Images of a set that differ (RMS) by no more than this fraction of their own variation are copies (a uint8
#: image with one grey level of noise: 0.029; different pictures: of the order of 1).
NEAR_COPY = 0.04


def _near_copy(x: np.ndarray, ref: np.ndarray) -> bool:
    """Whether ``x`` differs from ``ref`` by no more than :data:`NEAR_COPY` of ``ref``'s own variation (RMS):
    a copy, a re-saved one, or one with a grey level of noise."""
    diff = float(np.sqrt(np.mean(np.square(x - ref, dtype=np.float64))))
    return diff <= max(NEAR_COPY * float(np.std(ref, dtype=np.float64)), 1e-3)  # (1e-3: equal before)


@dataclass(kw_only=True, eq=False, repr=False)
class WatermarkResult(RunInfo):
    """Result of :func:`remove_watermark`.

    Besides the attributes below, every result has the run's fields of :class:`~napari_doubledip.RunInfo`
    (``params``, ``seed``, ``device``, ``iterations``, ``elapsed``, ``stopped``, ``history``, ...).

    Attributes
    ----------
    clean
        The image(s) without the watermark, shaped like the input (one image or ``(N, H, W[, C])``), in the
        input's value range. With a box, pixels outside the box equal the input exactly as float32 holds it
        (bit for bit for float32 and integers up to 2**24, e.g. uint8/uint16; rounded beyond, and for float64).
    watermark
        ``(H, W[, C])`` the watermark's colour layer in the input's value range. The model fitted to each
        image is ``(1 - alpha) * y + alpha * watermark`` with ``y`` the clean-image DIP's output; ``clean``
        is the input minus the watermark's part, ``image - alpha * (watermark - y)``, which keeps the input's
        detail that ``y`` did not fit (so ``(1 - alpha) * clean + alpha * watermark`` reproduces the input
        only as far as the fit is exact).
    alpha
        ``(H, W)`` float32 opacity of the watermark in [0, 1] (0 outside the box when a box was given).
    box
        ``(H, W)`` bool region the watermark was allowed in (all ``True`` without a box).
    """

    clean: np.ndarray
    watermark: np.ndarray
    alpha: np.ndarray
    box: np.ndarray


_UNION = " (for several regions, pass a boolean mask of their union)"
_LIST = "several images go in one list, the first argument: remove_watermark([image1, image2])"


def _is_2d(x: Any) -> bool:
    try:
        return np.ndim(x) == 2
    except ValueError:  # a ragged nested sequence
        return False


def _soft_mask(arr: np.ndarray) -> bool:
    """Whether a 2D array of many values is a two-level mask with interpolated edges (resized from a smaller
    one): its values between the two levels are at most half of it, and every connected patch of them touches
    the low level and either touches the high one (a band along an edge) or ramps up through the middle (a thin
    stroke, which a resize by a non-integer factor blurs below the high level); an image's values are not."""
    from scipy import ndimage

    lo, hi = arr.min(), arr.max()
    # (interpolation's rounding leaves 0.9999999 inside a mask of ones: that is its top level, not a patch)
    tol = 1e-4 * (float(hi) - float(lo))
    low, high = arr <= lo + tol, arr >= hi - tol
    between = ~(low | high)
    if not between.any() or between.mean() > 0.5:
        return False
    patches, count = ndimage.label(between)
    labels = np.arange(1, count + 1)
    touch_low = np.isin(labels, patches[ndimage.binary_dilation(low) & between])
    touch_high = np.isin(labels, patches[ndimage.binary_dilation(high) & between])
    values, mid = arr.astype(np.float64), (float(lo) + float(hi)) / 2
    # a ramp through the middle (not a plateau above it: isolated bright spots on a zero background)
    ramp = (np.asarray(ndimage.maximum(values, patches, labels)) > mid) & (
        np.asarray(ndimage.minimum(values, patches, labels)) < mid
    )
    return bool(np.all(touch_low & (touch_high | ramp)))


def box_mask(
    box: Box, shape: tuple[int, int], whole: bool = False, task: str = "remove_watermark"
) -> np.ndarray:
    """Turn a box into a bool ``(H, W)`` mask, with clear errors.

    ``box`` is ``(y0, x0, y1, x1)`` (end exclusive; partly outside boxes are clipped to the image), a boolean
    mask of shape ``(H, W)``, or an array of ``(y, x)`` corner points (a napari Shapes rectangle): the pixels
    their bounding box overlaps (pixel ``i`` spans ``i - 0.5 .. i + 0.5``; corners at rows 8 and 21 cover rows
    8 to 21), as the widgets read a rectangle. Corner points may also be a napari Shapes layer's ``data`` as
    is: a list (or array) holding one shape's corners; and a rectangle's 4 corners ``(4, D)`` from a layer on a
    stack (``D > 2``), whose leading coordinates (the slice) must agree: the last two are ``(y, x)``. A box
    covering the whole image is an error unless ``whole`` (segmentation: a loose rectangle clipped to the image;
    a set of watermarked images: the same as no box).
    ``task`` (the public function) picks the advice of the errors.
    """
    h, w = int(shape[0]), int(shape[1])
    # (a box per frame exists only in segment_video; a set of watermarked images shares one box)
    per_frame = {
        "segment_video": "for a box per frame, pass {frame index: box} or a (T, H, W) stack of masks",
        "remove_watermark": "the images of a set share one box: pass one (H, W) mask, e.g. masks.any(axis=0)",
    }.get(task, "for a box per frame of a video, use segment_video(frames, box={frame index: box})")
    # several shapes: their union is one region; a video may also mean one box per frame
    several = f"{_UNION[:-1]}; {per_frame})" if task == "segment_video" else _UNION
    if isinstance(box, dict):
        raise TypeError(f"box must be (y0, x0, y1, x1), a boolean mask or corner points, got a dict; {per_frame}")
    box = plain_data(box, "box")
    if isinstance(box, (list, tuple)) and len(box) > 0 and all(_is_2d(b) for b in box):
        # a Shapes layer's data: a list of (k, D) vertex arrays (possibly ragged)
        if len(box) != 1:
            if all(np.shape(b) == (h, w) for b in box):  # (a mask per image or frame, not a layer's shapes)
                raise ValueError(f"box must be one (H, W) mask, got a list of {len(box)} masks; {per_frame}")
            raise ValueError(f"box must be one rectangle, got {len(box)} shapes{several}")
        box = box[0]
    try:
        arr = np.asarray(box)
    except Exception as exc:  # pragma: no cover - ragged sequences
        raise TypeError(f"box must be (y0, x0, y1, x1), a boolean mask or corner points, got {box!r}") from exc
    if arr.dtype != bool and arr.size <= 64 and _holds_bool(box):
        # (numpy reads (True, 6, 22, 26) as (1, 6, 22, 26); a mask comes as an array or rows of booleans)
        raise TypeError(f"box must be (y0, x0, y1, x1) numbers, a boolean mask or corner points, got {box!r}")
    if arr.dtype == object and arr.size <= 64 and all(type(v) is int for v in arr.flat):
        arr = arr.astype(float)  # (ints beyond int64, e.g. 2**70: numpy keeps them as objects; clipped below)
    if arr.dtype.kind not in "biuf":  # (not complex)
        raise TypeError(
            f"box must be numeric (y0, x0, y1, x1), a boolean mask or corner points, got {reprlib.repr(box)}"
        )
    if arr.ndim == 3 and arr.shape[1:] == (h, w):  # masks of several frames, not corner points
        raise ValueError(f"box mask must have the image's shape {(h, w)}, got {arr.shape}; {per_frame}")
    if arr.ndim == 3 and arr.shape == (h, w, 1) and (
        arr.dtype == bool or len(np.unique(arr)) <= 16 or _soft_mask(arr[..., 0])
    ):
        arr = arr[..., 0]  # a mask with a trailing axis (as imread gives it; a few labels): read as (H, W)
    if arr.ndim == 3 and arr.shape[:2] == (h, w) and arr.shape[2] in (1, 3, 4):
        raise ValueError(
            f"box of shape {arr.shape} is an image, not a box: a box mask is (H, W), e.g. mask[..., 0] > 0 for "
            "a mask saved in colour" + (f"; {_LIST}" if task == "remove_watermark" else "")
        )
    if arr.ndim == 3 and arr.dtype != bool and arr.shape[1] >= 2 and arr.shape[2] >= 2:  # (shapes, k, D) corners
        if arr.shape[0] != 1:
            raise ValueError(
                f"box must be one rectangle, got {arr.shape[0]} shapes (corners shaped {arr.shape}){several}"
            )
        arr = arr[0]
    if arr.dtype == bool or (arr.ndim == 2 and arr.shape == (h, w)):
        if arr.shape != (h, w):
            raise ValueError(f"box mask must have the image's shape {(h, w)}, got {arr.shape}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError("box mask contains NaN or infinite values")
        mask = np.asarray(arr > 0)  # (a soft mask's blurred edge counts: a box too large is safe, too small not)
        if arr.dtype != bool and task == "remove_watermark":
            # a mask (0/1, 0/255, a few labels), not an image passed where the box goes (remove_watermark(a, b));
            # a soft mask (resized from a thumbnail) is one too. Segmentation's box has no such mix-up, and
            # takes labels of any count.
            count = len(np.unique(arr))
            # (a low-bit-depth image has few values, but unlike a labels mask, most of its pixels are above 0)
            if (count > 16 or (count > 3 and mask.mean() > 0.5)) and not _soft_mask(arr):
                raise ValueError(
                    f"box of shape {arr.shape} has {count} different values: it looks like an image, not a "
                    f"mask (a boolean or 0/1 array, a few labels, or a mask resized with linear interpolation; "
                    f"for many labels pass labels > 0; threshold a blurred mask, e.g. mask > mask.max() / 2); "
                    f"{_LIST}"
                )
        if not mask.any():
            if arr.dtype.kind == "i" and (arr < 0).any():  # (a 0/255 mask read as int8: its set pixels are -1;
                # a float mask's negatives are an interpolation's ringing, not set pixels)
                raise ValueError(
                    "box mask has no pixel above 0, only negative values: a mask's set pixels are True or "
                    "positive (e.g. pass mask != 0)"
                )
            raise ValueError("box mask is empty (no pixel set)")
    else:
        if not np.all(np.isfinite(arr)):
            raise ValueError("box contains NaN or infinite values")
        if arr.ndim == 2 and arr.shape[0] == 4 and arr.shape[1] > 2:  # a rectangle on a stack: (4, D) corners
            # (four (y0, x0, y1, x1) boxes, one per frame of a 4-frame clip, have the same shape: tell them apart)
            not_one = f"not one rectangle's corners ({per_frame}; for a polygon, a boolean mask)"
            if np.ptp(arr[:, :-2], axis=0).max() > 0.5:
                raise ValueError(
                    f"box corners {arr.tolist()} lie in different planes: {not_one}; give a rectangle drawn on "
                    "one (y, x) plane"
                )
            if not np.allclose(arr[0, -2:] + arr[2, -2:], arr[1, -2:] + arr[3, -2:]):  # diagonals bisect
                raise ValueError(f"box {arr.tolist()} is {not_one}")
            if np.ptp(arr[:, -2:], axis=0).min() == 0:
                raise ValueError(f"box {arr.tolist()} has no height or width, or is {not_one}")
            arr = arr[:, -2:]
        if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] >= 2:  # corner points (napari rectangle)
            if np.ptp(arr, axis=0).min() == 0:
                raise ValueError(f"box is empty: its corners {arr.tolist()} have no height or width")
            y0, x0, y1, x1 = corners_to_box(arr.min(axis=0), arr.max(axis=0))
        elif arr.shape in ((4,), (1, 4)):  # ((1, 4): one box as detectors list them, one row per box)
            arr = arr.reshape(4)
            y0, x0, y1, x1 = arr
        elif arr.ndim == 2 and arr.shape[0] > 4 and arr.shape[1] > 8:  # (no corners of a layer of <= 8 axes, no
            # box rows: a mask of another size)
            raise ValueError(f"box mask must have the image's shape {(h, w)}, got {arr.shape}")
        else:
            raise ValueError(
                f"box must be (y0, x0, y1, x1) (or one such row), an (H, W) mask, (k, 2) corner points or one "
                f"rectangle's (4, D) corners, got shape {arr.shape}"
                # (k rows of 4: several boxes; a box per frame, perhaps)
                + (f"{_UNION[:-1]}; {per_frame})" if arr.ndim == 2 and arr.shape[1] == 4 else "")
            )
        if y1 != y0 and x1 != x0 and (y1 < y0 or x1 < x0):  # (given in another order, e.g. (y1, x1, y0, x0))
            raise ValueError(
                f"box (y0, x0, y1, x1) = {tuple(arr.tolist())} has its corners reversed: it needs y0 < y1 and "
                f"x0 < x1, e.g. {tuple(np.array([min(y0, y1), min(x0, x1), max(y0, y1), max(x0, x1)]).tolist())}"
            )
        if y1 <= y0 or x1 <= x0:
            raise ValueError(f"box is empty: (y0, x0, y1, x1) = {tuple(arr.tolist())} needs y1 > y0 and x1 > x0")
        if y1 <= 0 or x1 <= 0 or y0 >= h or x0 >= w:
            raise ValueError(f"box {tuple(np.round([y0, x0, y1, x1], 2).tolist())} lies outside the {h}x{w} image")
        ya, xa, yb, xb = edges_to_box((y0, x0), (y1, x1))  # (float noise of a converted box is no extra row)
        if yb <= ya or xb <= xa:  # (thinner than the float noise snapped away: 2.0000001 .. 2.0000004)
            raise ValueError(f"box is empty: (y0, x0, y1, x1) = {tuple(arr.tolist())} covers no pixel")
        ya, xa, yb, xb = max(0, ya), max(0, xa), min(h, yb), min(w, xb)
        if yb <= ya or xb <= xa:  # (touching the image within the float noise: -5 .. 1e-7)
            raise ValueError(f"box {tuple(np.round([y0, x0, y1, x1], 2).tolist())} lies outside the {h}x{w} image")
        mask = np.zeros((h, w), bool)
        mask[ya:yb, xa:xb] = True
    if mask.all() and not whole:
        raise ValueError("box covers the whole image: nothing outside it to learn the clean image from")
    return mask


def shared_edges(target: torch.Tensor, dilation: int = SUPPORT_DILATION) -> torch.Tensor:
    """Where a watermark shared by all images can be: near edges *every* image has; ``(1, 1, h, w)`` in [0, 1].

    The per-pixel median over the images of the gradient magnitude is high only where all of them have an edge
    (the shared watermark's outline; independent scenes rarely agree), normalised by its 99th percentile and
    dilated by ``dilation`` px so that the strokes between the outlines are covered too. It is deliberately
    generous: it only has to keep the opacity off the structure of any single image.
    """
    gx, gy = L._gradients(target)
    g = target.new_zeros(target.shape[0], 1, *target.shape[-2:])
    g[..., :, 1:] += gx.abs().sum(1, keepdim=True)
    g[..., 1:, :] += gy.abs().sum(1, keepdim=True)
    med = g.median(dim=0, keepdim=True).values  # the lower middle value for an even count (2 images: the min)
    med = (med / med.flatten().quantile(0.99).clamp_min(1e-6)).clamp(0, 1)
    k = 2 * (dilation // 2) + 1
    return F.max_pool2d(med, k, 1, k // 2)


def _bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding rectangle ``(y0, x0, y1, x1)`` (end exclusive) of the set pixels of a 2-D mask."""
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def _pad_bounds(
    bounds: tuple[int, int, int, int], margin: int, shape: tuple[int, int], max_fraction: float
) -> tuple[int, int, int, int] | None:
    """``bounds`` grown by ``margin`` on each side and clipped to ``shape``; ``None`` when that covers more than
    ``max_fraction`` of the image."""
    (y0, x0, y1, x1), (h, w) = bounds, shape
    ya, xa, yb, xb = max(0, y0 - margin), max(0, x0 - margin), min(h, y1 + margin), min(w, x1 + margin)
    return None if (yb - ya) * (xb - xa) > max_fraction * h * w else (ya, xa, yb, xb)


def alpha_window(box: torch.Tensor, margin: int | None = None) -> tuple[int, int, int, int] | None:
    """The rectangle ``(y0, x0, y1, x1)`` of the working image that the opacity DIP generates for a ``box``.

    The box's bounding rectangle plus ``margin`` px on each side (so that the DIP's own border is away from the
    box's edge; default :data:`ALPHA_MARGIN`), clipped to the image; ``None`` (generate the whole image) when
    that covers more than 3/4 of it.
    """
    margin = ALPHA_MARGIN if margin is None else margin
    h, w = box.shape[-2:]
    mask = box.reshape(h, w).cpu().numpy() > 0
    return _pad_bounds(_bounds(mask), margin, (h, w), 0.75)


def place_alpha(
    alpha: torch.Tensor, region: tuple[int, int, int, int] | None, shape: tuple[int, int]
) -> torch.Tensor:
    """The opacity DIP's output ``(1, 1, y1 - y0, x1 - x0)`` placed at ``region`` in a zero ``(1, 1, *shape)``
    map (``region=None``: the output already covers the image)."""
    if region is None:
        return alpha
    y0, x0, y1, x1 = region
    return F.pad(alpha, (x0, shape[1] - x1, y0, shape[0] - y1))


def build_task(
    target: torch.Tensor,
    box: torch.Tensor | None,
    iterations: int,
    region: tuple[int, int, int, int] | None = None,
) -> Task:
    """Watermark removal as a :class:`Task`: ``I_i = (1 - m) * y1_i + m * y2`` with ``m = alpha * box``.

    ``y1`` is the clean-image DIP (one noise instance per image), ``y2`` the watermark colour and ``alpha`` the
    shared opacity DIP.

    With a ``box`` (``(1, 1, h, w)`` float) the opacity is zero outside it and the watermark has one colour (a
    scalar DIP): its shape is all in the opacity. Outside the box the clean layer fits the image (L1). Inside the
    box the mixing model trains only the opacity and the colour (the clean layer is held fixed there), and:

    * for the first ``inpaint_end`` of the run (one image: 10 %, shorter than the authors' first phase; several:
      ``inpaint_end_set``, 30 %, theirs) the clean layer learns nothing inside the box, so the DIP inpaints it
      while the opacity takes what the inpainting cannot explain; only its local means are held (weight
      ``under``) to those of a smooth fill of the box from its surroundings
      (:func:`~napari_doubledip.solver.filters.push_pull_fill`). Left free, an untrained DIP puts a bright blob
      of arbitrary colour there, the opacity covers the blob, the colour then learns the background, and the run
      ends with the roles swapped (opacity = box minus the letters): on the 256 px sample seeds 0-9 gave
      15.0-29.8 dB in the box (input 18.1; 3 of 10 below it), and give 29.6-30.0 with the fill's local means
      (35.5-37.0 with :func:`finish`'s guided opacity);
    * the colour is held at its initial grey until ``colour_from``: learnt from the start, it followed the
      background that the opacity (0.5 at initialisation) half covers, and the opacity then lost the watermark
      (measured on a 256 px image: 13.8 dB in the box instead of 29.7, the input having 18.1);
    * then the clean layer also fits the box, but only where the opacity is low (weight ``1 - m / (keep *
      max m)``): it follows the image between the watermark's strokes and keeps filling in the strokes from their
      surroundings; an exclusion loss keeps its edges away from the opacity's, and a small L1 penalty keeps the
      opacity at zero where nothing needs it.

    ``region`` (with a box, see :func:`alpha_window`): the opacity DIP generates only this rectangle, and
    ``s.out["alpha"]`` is that rectangle (:func:`place_alpha` puts it in place); its part outside the box is
    held near zero (weight ``alpha_margin``) so that the opacity does not leak over the box's edge. The dihedral
    augmentation must then be off (the rectangle would move with it), as it is in this task's defaults.

    Without a box (several images) the watermark colour is a smooth map (a small noise grid, upsampled) and the
    ambiguity is resolved by the layers being shared (paper Fig. 9); an exclusion loss between the clean layers of
    different images (independent images have uncorrelated edges, a shared watermark correlates them) pushes the
    common structure into the shared layers; and for the first ``support_until`` of the run the opacity is pushed
    to zero away from the edges all images share (:func:`shared_edges`). Without that, the opacity often locked
    onto one image's structure early and never let go: on the 256 px synthetic set (3 RGB images, input
    22.1 dB) seeds 0 / 1 / 2 gave 22.9 / 20.8 / 21.9 dB without it and 26.4 / 25.2 / 25.2 dB with it.
    """
    n, c = target.shape[:2]
    W = WEIGHTS
    boxed = box is not None
    shape = tuple(target.shape[-2:])
    if region is not None and not boxed:
        raise ValueError("an opacity region needs a box")
    wsize = None if region is None else (region[2] - region[0], region[3] - region[1])
    dips = {
        "clean": DIP(c, CLEAN_NET, instances=n),
        "alpha": DIP(1, ALPHA_NET, size=wsize),
        "colour": DIP(c, COLOUR_NET, size=COLOUR_SIZE, noise_scale=1.0, scalar=boxed),
    }
    maps = {"box": box if boxed else torch.ones_like(target[:1, :1])}
    if not boxed and n > 1:
        maps["support"] = shared_edges(target)

    def opacity(s) -> torch.Tensor:
        return place_alpha(s.out["alpha"], region, shape) * s.maps["box"]

    def colour(s) -> torch.Tensor:
        wc = s.out["colour"]
        if boxed and s.t < W["colour_from"]:  # the colour waits until the opacity has found the watermark
            wc = wc.detach()
        return F.interpolate(wc, size=s.target.shape[-2:], mode="bilinear", align_corners=False)

    def compose(s):
        m = opacity(s)
        y1 = s.out["clean"]
        if boxed:  # inside the box the mixing model trains the watermark layers only
            y1 = y1 + s.maps["box"] * (y1.detach() - y1)
        return (1 - m) * y1 + m * colour(s)

    def clean_in_box(s) -> torch.Tensor:
        b = s.maps["box"]
        m = opacity(s).detach()
        # fit the image where the opacity is low; where it is high the clean layer fills in from around
        peak = m.amax(dim=(-2, -1), keepdim=True).clamp_min(0.05)
        w = b * (1 - m / (W["keep"] * peak)).clamp(0, 1)
        return L.masked_l1(s.out["clean"], s.target, w)

    def cross_exclusion(s) -> torch.Tensor:
        y = s.out["clean"]
        pairs = [(i, j) for i in range(y.shape[0]) for j in range(i + 1, y.shape[0])]
        if not pairs:
            return y.new_zeros(())
        # (the earlier form of the loss: see L.exclusion's detach_balance; as defined it was less stable here)
        return sum(
            L.exclusion(y[i : i + 1], y[j : j + 1], detach_balance=True, root_eps=1e-6) for i, j in pairs
        ) / len(pairs)

    terms = [Term("reconstruction", lambda s: L.reconstruction(s.pred, s.target, "l1"), 0.0 if boxed else 1.0)]
    if boxed:
        inpaint_end = W["inpaint_end"] if n == 1 else W["inpaint_end_set"]
        release = inpaint_end + 0.2
        terms += [
            Term("outside", lambda s: L.masked_l1(s.pred, s.target, 1 - s.maps["box"])),
            Term("inside", lambda s: L.masked_l1(s.pred, s.target, s.maps["box"]), W["inside"]),
            Term("clean_in_box", clean_in_box, ramp(0.0, W["clean_in_box"], inpaint_end, release)),
            Term(
                "exclusion",
                lambda s: L.exclusion(s.out["clean"] * s.maps["box"], opacity(s)),
                ramp(0.0, W["exclusion"], inpaint_end, release),
            ),
        ]
        terms.append(Term("alpha_l1", lambda s: opacity(s).mean(), W["alpha_l1"]))
        if region is not None:
            y0, x0, y1, x1 = region
            outside = 1 - box[..., y0:y1, x0:x1]
            terms.append(Term("alpha_margin", lambda s: (s.out["alpha"] * outside).mean(), W["alpha_margin"]))
        maps["under"] = L.local_mean(push_pull_fill(target, 1 - box), UNDER_RADIUS)
        terms.append(
            Term(
                "under",
                lambda s: L.masked_l1(L.local_mean(s.out["clean"], UNDER_RADIUS), s.maps["under"], s.maps["box"]),
                window(W["under"], 0.0, inpaint_end),
            )
        )
    elif n > 1:
        terms.append(Term("cross_exclusion", cross_exclusion, W["cross_exclusion"]))
        terms.append(
            Term(
                "alpha_support",
                lambda s: (s.out["alpha"] * (1 - s.maps["support"])).mean(),
                window(W["support"], 0.0, W["support_until"]),
            )
        )
    return Task(
        name="watermark",
        dips=dips,
        target=target,
        compose=compose,
        terms=terms,
        iterations=iterations,
        maps=maps,
        lr=0.01,
        perturb=0.0,
        augment=AUGMENT and region is None,
        track="reconstruction",
        track_from=0.5,
    )


def finish(
    full: torch.Tensor, out: dict[str, torch.Tensor], box_full: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full-resolution ``(clean (N,C,H,W), colour (1,C,H,W), opacity (1,1,H,W))`` from working-size outputs.

    ``clean = I - m * (W - y1)``: the input minus the watermark's contribution, which keeps the input's detail
    (the clean DIP's error enters only scaled by the opacity) and equals the input wherever ``m = 0``.
    The opacity comes to full size by guided upsampling against the input (its edges are the watermark's).
    """
    size = tuple(full.shape[-2:])
    m = out["alpha"]
    if tuple(m.shape[-2:]) != size:
        # The opacity's edges are the watermark's, which the input shows: upsample along them (guided by the
        # mean of the images) instead of bilinearly, whose soft edges left a halo around every stroke. On the
        # 256 px sample (optimised at 128 px), in-box PSNR seeds 0-9: 29.6-30.0 -> 35.5-37.0 dB; 512 px seeds
        # 0-2: 28.2-28.5 -> 37.5-42.4 dB.
        m = guided_upsample(full.mean(dim=0), m[0], OPACITY_RADIUS, OPACITY_EPS)[None]
    m = m.clamp(0, 1) * box_full
    wcol = resize(out["colour"], size).clamp(0, 1)
    y1 = resize(out["clean"], size)
    clean = (full - m * (wcol - y1)).clamp(0, 1)
    clean = torch.where(box_full > 0, clean, full)  # exactly the input outside the box
    return clean, wcol, m


def _crop_region(bmask: np.ndarray) -> tuple[slice, slice] | None:
    """The box's bounding box plus context (:data:`BOX_MARGIN`), clipped to the image; ``None`` when that
    covers more than :data:`BOX_CROP_AREA` of the image (the whole image is then used)."""
    y0, x0, y1, x1 = _bounds(bmask)
    margin = max(BOX_MIN_MARGIN, round(BOX_MARGIN * min(y1 - y0, x1 - x0)))
    region = _pad_bounds((y0, x0, y1, x1), margin, bmask.shape, BOX_CROP_AREA)
    if region is None:
        return None
    ya, xa, yb, xb = region
    return slice(ya, yb), slice(xa, xb)


def _raw(images: Any) -> np.ndarray:
    """The input values as float32 ``(N, H, W[, C])`` (already validated by :func:`as_images`)."""

    def arr(x: Any) -> np.ndarray:  # (lazy input was loaded on entry to remove_watermark)
        return np.asarray(host_array(x)).astype(np.float32)

    if isinstance(images, (list, tuple)):
        return np.stack([arr(x) for x in images])
    a = arr(images)
    return a[None] if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] <= 4) else a


@task_function
def remove_watermark(
    images: Any,
    box: Box = None,
    *,
    iterations: int | None = None,
    max_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    preset: str = "default",
    precision: str = "auto",
    stop: StopRequest = None,
) -> Generator[Progress, None, WatermarkResult]:
    """Remove a semi-transparent watermark with Double-DIP.

    Two ways to resolve which structure is watermark (paper Sec. 4): one image and a rough ``box`` around the
    watermark (the opacity is zero outside it, and the output equals the input there), or 2-3 images that share
    the same watermark at the same place (no box needed: the watermark and its opacity are produced by DIPs shared
    by all images, each image has its own clean layer).

    Parameters
    ----------
    images
        One image ``(H, W[, C])`` with a ``box``, or ``N >= 2`` same-shaped images as a sequence or an
        ``(N, H, W[, C])`` array.
    box
        ``(y0, x0, y1, x1)`` (end exclusive, pixels; clipped to the image; also as a ``(1, 4)`` row, as
        detectors list boxes), a boolean ``(H, W)`` mask, or
        ``(k, 2)`` corner points (a napari Shapes rectangle: the pixels it overlaps, as in the widget; a Shapes
        layer's ``data`` holding one rectangle works as is, and so do ``(4, D)`` corners from a layer on a
        stack: the last two coordinates are ``(y, x)``). Required for a single image, optional for several
        (there a box covering the whole image is the same as none).
    iterations, max_size
        ``None`` = the measured defaults (``DEFAULTS``): 400 iterations at a working size of 128 px, or up to
        192 px when a small box is optimised on a crop around it.
    device, seed, preset, precision, stop, progress
        As in :func:`napari_doubledip.segment`.

    Returns
    -------
    WatermarkResult

    Examples
    --------
    >>> import numpy as np, napari_doubledip as dd
    >>> img = np.random.default_rng(0).random((32, 32))
    >>> img[10:20, 8:24] = 0.6 * img[10:20, 8:24] + 0.4
    >>> r = dd.remove_watermark(img, box=(8, 6, 22, 26), iterations=10)
    >>> r.clean.shape, r.alpha.shape
    ((32, 32), (32, 32))
    >>> bool(np.array_equal(r.clean[:8], img[:8].astype(np.float32)))
    True
    """
    # (the options' own checks first: a typo should not cost loading a lazy stack, nor come after its warnings)
    check_before_loading(iterations, max_size, preset)
    check_precision(precision)
    seed = check_seed(seed)
    dev = resolve_device(device)
    # Loaded once, as it is now (lazy input computed, the caller's arrays copied): _raw reads the values again
    # for the exact pixels outside the box.
    images = listed(images)
    many = isinstance(images, (list, tuple))
    images = [loaded(x, own=True) for x in images] if many else loaded(images, own=True)
    stack, vr, single = as_images(images, "images")
    n, h, w = stack.shape[:3]
    if box is None and n < 2:
        raise ValueError(
            "a single image needs a box around the watermark (box=(y0, x0, y1, x1) or a mask); "
            "without a box, pass 2 or more images that share the watermark"
        )
    bmask = box_mask(box, (h, w), whole=n >= 2) if box is not None else np.ones((h, w), bool)
    if bmask.all():  # (a set's full-frame rectangle, as a widget may pass one: the same as no box)
        box = None
    if box is None and all(_near_copy(x, stack[0]) for x in stack[1:]):  # (one at a time)
        warn(
            "remove_watermark: the images are copies of one image: nothing tells a watermark they share from "
            "the picture; give a box around the watermark (box=...)"
        )
    its = check_iterations(iterations, DEFAULTS["iterations"])
    region = _crop_region(bmask) if box is not None else None
    ms = resolve_max_size(
        max_size, DEFAULTS["max_size" if region is None else "box_max_size"], stack.shape[1:], preset
    )
    bounds = None if box is None else _bounds(bmask)
    params = dict(
        images=n,
        box=None if bounds is None else list(bounds),  # (y0, x0, y1, x1); a mask box: its bounding box
        # (and whether it was a mask, not that rectangle: the bounds alone would repeat a run on two rectangles
        # on the rectangle around them; the mask itself is the result's `box`)
        box_mask=None if bounds is None else not bool(bmask[bounds[0]:bounds[2], bounds[1]:bounds[3]].all()),
        max_size=ms,
        device=str(dev),
        seed=seed,
        preset=preset,
    )
    full = to_tensor(stack, dev)  # (N, C, H, W)
    region = region or (slice(0, h), slice(0, w))
    params["region"] = [region[0].start, region[1].start, region[0].stop, region[1].stop]
    crop = full[(..., *region)]
    size = tuple(crop.shape[-2:])
    ws = working_shape(size, ms)
    work = resize(crop, ws)
    box_full = torch.from_numpy(bmask[region]).to(dev).float()[None, None]
    box_work = None
    if box is not None:  # keep every box cell at working size (adaptive max pooling)
        box_work = F.adaptive_max_pool2d(box_full, ws) if ws != size else box_full
    # The reference recipe keeps the authors' whole-image opacity net (and augments, which a window cannot).
    win = alpha_window(box_work) if box_work is not None and preset == "default" else None
    task = apply_preset(build_task(work, box_work, its, win), preset, iterations, precision)
    params["precision"] = precision
    params["iterations"] = task.iterations

    def whole(out, image=full, part=region, box_part=box_full):
        """Whole-image ``clean, colour, opacity`` from the crop's outputs (``image``: the inputs, or a reduced
        copy for a preview, with the crop ``part`` of it and the box there ``box_part``)."""
        out = {**out, "alpha": place_alpha(out["alpha"], win, ws)}
        clean_c, wcol_c, m_c = finish(image[(..., *part)], out, box_part)
        hh, ww = image.shape[-2:]
        if clean_c.shape[-2:] == (hh, ww):
            return clean_c, wcol_c, m_c
        clean = image.clone()
        clean[(..., *part)] = clean_c
        wcol = wcol_c.mean(dim=(-2, -1), keepdim=True).expand(1, -1, hh, ww).clone()
        wcol[(..., *part)] = wcol_c
        m = image.new_zeros((1, 1, hh, ww))
        m[(..., *part)] = m_c
        return clean, wcol, m

    # Live previews of a large image at about 1 MP: the inputs reduced, the crop finished at that scale.
    shown = (full, region, box_full)
    shown_size = preview_shape((h, w), PREVIEW_PIXELS)
    if shown_size != (h, w):
        small = resize(full, shown_size)

        def scaled(sl: slice, n: int, m: int) -> slice:
            a = min(round(sl.start * m / n), m - 1)
            return slice(a, max(a + 1, round(sl.stop * m / n)))

        part = (scaled(region[0], h, small.shape[-2]), scaled(region[1], w, small.shape[-1]))
        box_small = F.adaptive_max_pool2d(box_full, tuple(small[(..., *part)].shape[-2:]))  # keeps thin parts
        shown = (small, part, box_small)

    def preview(out):
        clean, wcol, m = whole(out, *shown)
        c = vr.restore(to_numpy(clean))
        return {
            "clean": c[0] if single else c,
            "watermark": vr.restore(to_numpy(wcol)[0]),
            "alpha": m[0, 0].cpu().numpy(),
        }

    task.preview = preview
    sol = yield from optimise(task, device=dev, seed=seed, stop=stop)
    clean, wcol, m = whole(sol.outputs)
    clean_np = vr.restore(to_numpy(clean))
    if box is not None:  # bit-exact input outside the box (no round trip through the value normalisation)
        clean_np[:, ~bmask] = _raw(images).reshape(clean_np.shape)[:, ~bmask]
    return WatermarkResult(
        clean=clean_np[0] if single else clean_np,
        watermark=vr.restore(to_numpy(wcol)[0]),
        alpha=m[0, 0].cpu().numpy().astype(np.float32),
        box=bmask,
        **run_info(sol, params, dev),
    )
