"""Foreground/background segmentation (paper Sec. 3, Eq. 2-3)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch
from torch.nn import functional as F

from .._validation import (
    as_image,
    check_hint_mode,
    check_iterations,
    check_seed,
    copy_input,
    hint_labels,
    loaded,
    warn,
    working_shape,
)
from ..solver import losses as L
from ..solver.device import check_precision, resolve_device
from ..solver.engine import DIP, Progress, StopRequest, Task, Term, optimise, ramp, window
from ..solver.filters import guided_upsample, noise_level, resize
from ..solver.networks import NetConfig
from ..solver.presets import apply_preset
from ..solver.saliency import saliency_hints
from .watermark import Box, box_mask
from ._common import (
    PREVIEW_PIXELS,
    RunInfo,
    filter_radius,
    resolve_max_size,
    run_info,
    task_function,
    to_numpy,
    to_tensor,
)

__all__ = ["SegmentationResult", "segment", "DEFAULTS"]

#: Default budget and working size, chosen by measurement (README "Speed"; the measurements in
#: docs/measurements.md).
#: ``iterations``: with automatic hints; ``iterations_prior``: with scribbles alone (``auto_fill=False``) or no
#: hints, where the run relies on the DIP prior (dihedral augmentation on, smaller learning rate) and needs
#: longer. See :func:`build_task`.
DEFAULTS = {"iterations": 300, "iterations_prior": 400, "max_size": 128}
#: Phases (fractions of the run, see :func:`build_task`): reconstruction ramps in over RECONSTRUCTION_FROM,
#: automatic hints fade out over HINT_FADE, the best snapshot is tracked from TRACK_FROM.
RECONSTRUCTION_FROM = (0.1, 0.2)
HINT_FADE = (0.15, 0.35)
TRACK_FROM = 0.4
#: Automatic hints are computed at most at this long side: the saliency estimate's memory grows with the pixel
#: count (a pixels x 512 distance matrix: 0.5 GB at 512 px), and crude hints need no more detail.
HINT_MAX_SIZE = 256

#: With a box, the automatic hints are computed on the box's crop widened by this fraction of its size on each
#: side, so that the saliency's border prior (the background is what touches the border) sees the box's
#: surroundings: on 18 Weizmann horses with boxes 4 % wider than the horse, mask IoU 0.735 at 0.1, 0.710 at
#: 0.25 and 0.710 with the whole image's hints kept inside the box (``benchmarks/segmentation_box.py``).
BOX_CROP_MARGIN = 0.1

#: Architecture of the layer and mask DIPs (3 levels as in the paper's segmentation setting).
#: No skips: everything passes the coarsest level, which keeps 4 px across. With a 2 px bottleneck behind 3 px
#: levels the mask network got stuck on strips (a 16 x 200 kymograph, working size 10 x 128: masks constant
#: across the short side, IoU 0.50 even with every pixel given as a hint; one level fewer: 0.99).
SEGMENT_NET = NetConfig(channels=(8, 16, 32), skip=(0, 0, 0), kernel=3, in_channels=8, coarsest=4)

Hints = Union[str, None, np.ndarray, tuple, list, dict]


@dataclass(kw_only=True, eq=False, repr=False)
class SegmentationResult(RunInfo):
    """Result of :func:`segment`.

    Besides the attributes below, every result has the run's fields of :class:`~napari_doubledip.RunInfo`
    (``params``, ``seed``, ``device``, ``iterations``, ``elapsed``, ``stopped``, ``history``, ...).

    Attributes
    ----------
    mask
        ``(H, W)`` float32, 1 = foreground, binary after guided-filter refinement.
    soft_mask
        ``(H, W)`` float32 in [0, 1]: the refined mask before thresholding (after ``reassign``, where it ran,
        mostly 0 or 1: the reassigned pixels are set).
    foreground, background
        Shaped like the input, in its value range: the image inside the region, the DIP's fill-in outside.
    hints
        ``(H, W)`` uint8 labels of the hints used (1 = foreground, 2 = background, 0 = none).
    """

    mask: np.ndarray
    soft_mask: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
    hints: np.ndarray


def _auto_hints(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Automatic fg/bg hints (bool ``(h, w)``) of a working-size ``(C, h, w)`` image, computed at most at
    HINT_MAX_SIZE."""
    ws = tuple(image.shape[-2:])
    hs = working_shape(ws, HINT_MAX_SIZE)
    if hs == ws:
        return saliency_hints(image)
    fg, bg = saliency_hints(resize(image[None], hs)[0])
    return tuple(resize(m[None, None].float(), ws)[0, 0] > 0.5 for m in (fg, bg))


#: Side (px at the hints' size) below which a box's crop gets no automatic hints: nothing to estimate saliency
#: from.
MIN_HINT_CROP = 8


def box_crop(inside: torch.Tensor) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the crop the automatic hints of a box (bool ``(h, w)``) are computed on: its
    bounding box widened by BOX_CROP_MARGIN (at least 2 px a side), within the image."""
    rows, cols = torch.nonzero(inside.any(1)).flatten(), torch.nonzero(inside.any(0)).flatten()
    y0, y1, x0, x1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    h, w = inside.shape
    my, mx = max(2, round((y1 - y0) * BOX_CROP_MARGIN)), max(2, round((x1 - x0) * BOX_CROP_MARGIN))
    return max(0, y0 - my), min(h, y1 + my), max(0, x0 - mx), min(w, x1 + mx)


def hints_fit(box: torch.Tensor) -> bool:
    """Whether a box (bool ``(h, w)``) leaves its automatic hints enough pixels: its crop (:func:`box_crop`) at
    least MIN_HINT_CROP on its short side."""
    y0, y1, x0, x1 = box_crop(box)
    return min(y1 - y0, x1 - x0) >= MIN_HINT_CROP


def _box_hints(
    image: torch.Tensor,
    inside: torch.Tensor | None,
    warn_small: bool = True,
    scribbled: bool = False,
    full: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Automatic hints inside a box: computed on its crop widened by BOX_CROP_MARGIN, kept inside the box (with
    ``inside=None``, of the whole image). A box too small to find an object in gets none (warned unless
    ``warn_small`` is off: a video warns once for its frames; ``scribbled``: the user's scribbles fill it in;
    ``full``: the box at the image's full size, where the working size is below it: a larger ``max_size`` is
    advised only where the box's crop at full size would be large enough)."""
    if inside is None:
        return _auto_hints(image)
    y0, y1, x0, x1 = box_crop(inside)
    fg, bg = torch.zeros_like(inside), torch.zeros_like(inside)
    if min(y1 - y0, x1 - x0) >= MIN_HINT_CROP:
        fg[y0:y1, x0:x1], bg[y0:y1, x0:x1] = _auto_hints(image[:, y0:y1, x0:x1])
    elif warn_small:
        size = f"the box is {y1 - y0}x{x1 - x0} pixels with its margin at the working size, too small to find"
        larger = full is not None and hints_fit(full)  # (whether a larger max_size could help)
        ways = ["draw a larger box", *(["raise max_size"] if larger else [])]
        warn(
            f"automatic hints: {size} the object in: your scribbles alone guide the split inside it; for "
            f"automatic hints there too, {' or '.join(ways)}" if scribbled else
            f"automatic hints: {size} the object in: it gets none (the split inside it is unsupervised); "
            f"{', '.join(ways)}, or scribble"
        )
    return fg & inside, bg & inside


#: Weight of the scribbles held next to automatic hints (``auto_fill``), against 1 for the automatic hints while
#: they last and for a box's outside. Each hint term is a mean over its pixels, so at weight 1 a click weighed as
#: much as all the automatic hints, and the mask DIP made a blob around it. Mean IoU, weight 1 -> 0.05
#: (``benchmarks/segmentation_scribbles.py``, default budget): 18 Weizmann horses, one dot on the object 0.646 ->
#: 0.668, strokes 0.736 -> 0.741, a dot in the automatic result's largest missed and false parts 0.653 -> 0.701
#: (the automatic result 0.667); 3 DAVIS clips, dot 0.456 -> 0.454, strokes 0.443 -> 0.460.
HELD_WEIGHT = 0.05

#: Where a scribble lies on an automatic hint of the other label, that hint is cleared within this fraction of
#: the image's short side around it (e.g. a false blob the user marked as background): the user has said what
#: is there. Hints a scribble does not touch stay, even close to it (a background stroke drawn beside the
#: object does not clear the object's edge).
FILL_CLEARANCE = 1 / 16


#: The automatic hints are turned round only when the scribbles of *both* labels contradict them broadly: the
#: hints cleared around each label's contradicting scribbles (within FILL_CLEARANCE) are at least this fraction
#: of the other label's automatic hints. A dot or two on wrong parts is a local correction: on 18 Weizmann horses,
#: a dot in the largest missed part and one in the largest false part of the automatic result cleared at most
#: 3.3 % and 8.5 % where both contradicted (6 horses); turning the hints round there dropped 5 of them from
#: 0.46-0.78 to 0.01-0.11 IoU.
SWAP_COVER = 0.1


def _clearance(shape: tuple[int, ...]) -> int:
    """Odd window (pixels) of the FILL_CLEARANCE neighbourhood for a map of ``shape``."""
    return 2 * max(1, round(min(shape[-2:]) * FILL_CLEARANCE)) + 1


def _near(m: torch.Tensor, k: int) -> torch.Tensor:
    """Bool map of the pixels within a ``k`` x ``k`` window of a True pixel of the bool ``(h, w)`` map ``m``."""
    return F.max_pool2d(m[None, None].float(), k, 1, k // 2)[0, 0] > 0


def polarity_votes(auto_fg: torch.Tensor, auto_bg: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor) -> np.ndarray:
    """How far the foreground and the background scribbles agree with the automatic hints (bool maps of one
    shape), as six counts that add up over frames: per label, its scribbled pixels on automatic hints of the
    same label minus those on the other (two votes); then the other label's automatic hints cleared around
    this label's contradicting scribbles (:func:`fill_in`) and that label's hint count (0 where none of this
    label's scribbles contradicts), for the foreground scribbles, then for the background ones."""
    k = _clearance(fg.shape)
    return np.array(
        [
            int((fg & auto_fg).sum() - (fg & auto_bg).sum()),
            int((bg & auto_bg).sum() - (bg & auto_fg).sum()),
            int((_near(fg & auto_bg, k) & auto_bg).sum()),
            int(auto_bg.sum()) if bool((fg & auto_bg).any()) else 0,  # (0 when nothing contradicts: the sums
            int((_near(bg & auto_fg, k) & auto_fg).sum()),  # over a clip's frames count only frames that do)
            int(auto_fg.sum()) if bool((bg & auto_fg).any()) else 0,
        ]
    )


def inverted(votes: np.ndarray) -> bool:
    """Whether :func:`polarity_votes` say the saliency took the user's object for background: *both* labels'
    scribbles mostly lie on automatic hints of the other one, and broadly (:data:`SWAP_COVER`). Scribbles of one
    label that contradict the hints, or a few clicks, are read as local corrections (a missed leg marked
    foreground, a false blob marked background), not as a reason to turn every hint round."""
    v = np.asarray(votes)
    return bool(v[0] < 0 and v[1] < 0 and v[2] >= SWAP_COVER * v[3] and v[4] >= SWAP_COVER * v[5])


def fill_in(
    auto_fg: torch.Tensor, auto_bg: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor, swap: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Automatic hints filling in around scribbles, made to agree with them (bool ``(h, w)`` maps).

    Where both the foreground and the background scribbles contradict the automatic hints broadly
    (:func:`inverted`; ``swap`` decides instead when given), the saliency picked the wrong region as the object
    and the automatic pair is swapped. Automatic hints of the other label are then cleared within
    :data:`FILL_CLEARANCE` of each scribbled pixel that lies on one, and every scribbled pixel is left to the
    scribbles (a working-size cell marked both ways too)."""
    if swap is None:
        swap = inverted(polarity_votes(auto_fg, auto_bg, fg, bg))
    if swap:
        auto_fg, auto_bg = auto_bg, auto_fg
    k = _clearance(fg.shape)
    marked = fg | bg
    return auto_fg & ~_near(bg & auto_fg, k) & ~marked, auto_bg & ~_near(fg & auto_bg, k) & ~marked


def box_bounds(mask: np.ndarray) -> list[int]:
    """``[y0, x0, y1, x1]`` bounding box (end exclusive) of a bool box mask, as recorded in ``params``."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return [int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1]


#: ``hints="intensity"`` on a stack: frames whose objects' contrast (see :func:`_levelling`) drifts by more
#: than this factor across the stack, along a robust straight-line trend of its logarithm (a Z-stack dimming
#: with depth, photobleaching), are levelled to one contrast before the one threshold; steadier stacks are
#: thresholded as they are.
BRIGHTNESS_DRIFT = 1.3

#: ... unless the contrast jumps by more than this factor between two neighbouring frames: a drift is gradual;
#: a jump is objects appearing (frames before them hold only background, whose faint unevenness levelling
#: would stretch into object hints) or an odd frame, and the stack is thresholded as it is.
BRIGHTNESS_STEP = 2.0

#: A frame tells the drift when its objects' contrast (Otsu's class means' difference in the smoothed frame,
#: high-passed) is at least this many times its white noise (a frame without objects splits its smoothed
#: noise, at about 0.45 times; it is levelled like its neighbours instead, so that its noise does not become
#: hints). Blobs at a tenth of their first plane's brightness (``benchmarks/stack_brightness.py``, Poisson
#: noise of 0.024) read 1.1, at a fifth 1.8.
INFORMATIVE_CONTRAST = 1.5

#: ``hints="intensity"``: pixels of the smoothed (sigma 1 px at working size) grey image this far above / below
#: Otsu's threshold, in fractions of its range, are foreground / background hints, held all run. On the fields of
#: ``benchmarks/many_objects.py`` they are 93-100 % precise (the margins were chosen there, at full size).
INTENSITY_MARGINS = (0.1, 0.05)


#: An image "looks like many objects" (saliency hints then get a warning) with at least this many regions on
#: the objects' side of Otsu's threshold of MANY_MIN_AREA to MANY_MAX_AREA of the image each, covering at least
#: MANY_OVER_LARGE times the area of the larger regions there (touching objects merged into one, a bright
#: patch of background): a field of nuclei or coins, not one object on a textured background, nor a scene.
#: On ``benchmarks/many_objects_warning.py``'s images the ratio is 2.1-3.2 on blob fields and coins with a large
#: region, 1.2 on the nearest photograph (a horse), 0.5 on the astronaut.
MANY_MIN_COUNT = 8
MANY_MIN_AREA = 5e-4
MANY_MAX_AREA = 0.05
MANY_OVER_LARGE = 1.5
#: ... judged at most at this long side, whatever the working size (the rule was set at the default 128 px: at
#: 256 px a photograph of grass broke into 119 small regions).
MANY_SIZE = 128


#: A grey image (the mean of the channels, in [0, 1]) whose values span at most this is flat: channels that
#: cancel out (a red object on green, fractions of an unmixing) leave ~1e-8 of rounding, which Otsu's threshold
#: refused ("Too many bins") or split into speckles.
FLAT_SPAN = 1e-6


def many_objects(image: torch.Tensor) -> int | None:
    """The number of objects where a working-size ``(C, h, w)`` image looks like a field of many separate
    objects (see :data:`MANY_MIN_COUNT`; judged at :data:`MANY_SIZE`), else ``None``. The objects are the
    brighter side of Otsu's threshold
    unless it covers more than half of the image (then the darker), as :func:`intensity_hints` reads them."""
    from scipy import ndimage
    from skimage.filters import gaussian, threshold_otsu

    h, w = image.shape[-2:]
    scale = MANY_SIZE / max(h, w)
    if scale < 1:  # (a smaller working size is judged as it is)
        image = resize(image[None].float(), (max(8, round(h * scale)), max(8, round(w * scale))))[0]
    grey = gaussian(image.float().mean(0).cpu().numpy(), 1.0)
    if float(np.ptp(grey)) <= FLAT_SPAN:
        return None
    side = grey > threshold_otsu(grey)
    if side.mean() > 0.5:
        side = ~side
    regions, n = ndimage.label(side)
    if n < MANY_MIN_COUNT:
        return None
    areas = np.bincount(regions.ravel())[1:] / side.size
    objects = areas[(areas >= MANY_MIN_AREA) & (areas <= MANY_MAX_AREA)]
    large = areas[areas > MANY_MAX_AREA].sum()
    count = len(objects)
    return count if count >= MANY_MIN_COUNT and objects.sum() >= MANY_OVER_LARGE * large else None


def _in_box(image: torch.Tensor, inside: torch.Tensor | None) -> tuple[torch.Tensor, str]:
    """The part of a working-size ``(C, h, w)`` image (or mask) the automatic hints look at (:func:`_box_hints`'
    crop of a box, else all of it), and its name for :func:`warn_many_objects`."""
    if inside is None:
        return image, "image"
    y0, y1, x0, x1 = box_crop(inside)
    return image[:, y0:y1, x0:x1], "image in the box"


def warn_many_objects(
    image: torch.Tensor, scribbled: torch.Tensor | None = None, what: str = "image"
) -> None:
    """Warn where a working-size ``(C, h, w)`` image looks like many objects (:func:`many_objects`) and saliency
    hints, which look for one object, are about to be used: as the hints, or filling in around the pixels
    ``scribbled`` marks (bool, any shape; not where they mark most of it, a corrected mask: the fill-in then
    changes little)."""
    if scribbled is not None and float(scribbled.float().mean()) >= 0.5:
        return
    if (count := many_objects(image)) is None:
        return
    used, instead = ("hints='auto'", "hints='intensity'")
    if scribbled is not None:
        used, instead = "auto_fill=True", "auto_fill='intensity'"
    warn(
        f"the {what} looks like many separate objects ({count} regions on one side of Otsu's threshold, small "
        f"ones covering most of it): saliency hints ({used}) look for one object and may find only a few; "
        f"{instead} (the widget's automatic hints 'intensity (many objects)') finds them all"
    )


def _levelled(smooth: np.ndarray, grey: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
    """``smooth`` levelled by :func:`_levelling` (the same array where it finds nothing to level)."""
    lev = _levelling(smooth, grey, boxes)
    return smooth if lev is None else (smooth * lev[0] + lev[1]).astype(smooth.dtype)


def _levelling(
    smooth: np.ndarray, grey: np.ndarray, boxes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-frame ``(scale, shift)``, each ``(N, 1, 1)``, that take a drift in brightness out of the smoothed
    grey frames ``smooth`` ``(N, h, w)`` (as ``smooth * scale + shift``), for one threshold to serve them all;
    ``None`` where there is none to take out. Each frame's background (the median of the dark side of its
    Otsu threshold, inside its box if ``boxes``) is subtracted and its objects' contrast (the bright side's
    90th percentile of ``grey``, the frames before smoothing, above that background: little moved by the
    objects' number or size) divided out, both smoothed over 3 frames and, for frames that do not tell, taken
    from the nearest frames that do. A frame tells when its objects stand out of its noise with the
    background's unevenness taken away (a high-pass of 1/8 of its size: vignetting or a gradient over empty
    frames does not tell) and reach 5 % of the best frame's contrast. ``None`` for frames under 12 px (their
    noise is not measured) and unless at least 3 frames tell, their contrast drifts by more than
    :data:`BRIGHTNESS_DRIFT` across the stack along a robust line (one odd frame, at an end too, does not
    make a drift) and jumps by no more than :data:`BRIGHTNESS_STEP` between neighbours (objects appearing, or
    an odd frame, leave the stack as it is)."""
    from scipy import ndimage as ndi
    from skimage.filters import gaussian, threshold_otsu

    n, h, w = smooth.shape
    if n < 3 or min(h, w) < 12:
        return None
    low, contrast, local = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        inside = None if boxes is None else boxes[i]
        region = smooth[i] if inside is None else smooth[i][inside]
        if region.size < 2 or float(region.max()) <= float(region.min()) + FLAT_SPAN:
            continue
        t = threshold_otsu(region)
        raw = grey[i] if inside is None else grey[i][inside]
        low[i] = float(np.median(region[region <= t]))
        contrast[i] = float(np.percentile(raw[region > t], 90)) - float(np.median(raw[region <= t]))
        flat = smooth[i] - gaussian(smooth[i], max(h, w) / 8)  # (the background's unevenness taken away)
        flat = flat if inside is None else flat[inside]
        if float(flat.max()) > float(flat.min()) + FLAT_SPAN:
            tf = threshold_otsu(flat)
            local[i] = flat[flat > tf].mean() - flat[flat <= tf].mean()
    noise = noise_level(torch.from_numpy(np.ascontiguousarray(grey, dtype=np.float32))).numpy()
    told = np.flatnonzero(
        (local > INFORMATIVE_CONTRAST * noise) & (local >= 0.05 * local.max()) & (contrast > FLAT_SPAN)
    )
    if told.size < 3:
        return None
    raw = np.log(contrast[told])
    if float(np.abs(np.diff(raw)).max()) > np.log(BRIGHTNESS_STEP):
        return None
    # the drift along Siegel's repeated-median line (each frame's median slope to the others, their median):
    # one odd frame, at an end too, does not make one
    few = np.unique(np.linspace(0, told.size - 1, min(told.size, 200)).round().astype(int))  # (pairs: bounded)
    at, r = told[few].astype(float), raw[few]
    with np.errstate(invalid="ignore", divide="ignore"):
        slopes = (r[None, :] - r[:, None]) / (at[None, :] - at[:, None])
    np.fill_diagonal(slopes, np.nan)
    slope = float(np.median(np.nanmedian(slopes, axis=1)))
    if float(np.exp(abs(slope) * (told[-1] - told[0]))) < BRIGHTNESS_DRIFT:
        return None
    log_c = ndi.median_filter(raw, size=3, mode="nearest")
    k = np.arange(n)
    c = np.exp(np.interp(k, told, log_c))[:, None, None]
    lo = np.interp(k, told, ndi.median_filter(low[told], size=3, mode="nearest"))[:, None, None]
    ref = int(np.argmax(c[:, 0, 0]))  # (levelled to the most contrasted frame: values stay in its range)
    scale = c[ref] / c
    return scale, lo[ref] - lo * scale


def _grey_frames(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """The grey (channel mean) of ``(N, C, h, w)`` images with the 0.1 % extremes clipped (unless that leaves
    nothing: ``clipped`` False), the same smoothed (sigma 1 px), ``clipped``, and how many pixels lay far
    above the rest (hot pixels, or tiny bright objects)."""
    from skimage.filters import gaussian

    grey = images.float().mean(1).cpu().numpy()
    # the 0.1 % extremes clipped before smoothing: a hot pixel must not widen the margins (nor, smoothed, spread)
    lo, hi = np.percentile(grey, (0.1, 99.9))
    above = int((grey > hi + 4 * (hi - lo)).sum())  # far brighter than everything else
    clipped = bool(hi > lo)
    if clipped:
        grey = np.clip(grey, lo, hi)
    return grey, np.stack([gaussian(g, 1.0) for g in grey]), clipped, above


def stack_levelling(
    images: torch.Tensor, inside: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-frame ``(scale, shift)``, each ``(N, 1, 1, 1)`` on ``images``' device, that take a gradual drift in
    brightness out of working-size frames ``(N, C, h, w)`` (``images * scale + shift``; :func:`_levelling` on
    their grey, the 0.1 % extremes clipped, inside their boxes ``inside``), or ``None``: what
    :func:`intensity_hints` levels before its threshold, for a video task to level the frames it fits too."""
    grey, smooth, _clipped, _above = _grey_frames(images)
    lev = _levelling(smooth, grey, None if inside is None else inside.cpu().numpy())
    if lev is None:
        return None
    return tuple(torch.from_numpy(v.astype(np.float32)).to(images.device)[:, None] for v in lev)


def intensity_hints(images: torch.Tensor, inside: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Bool fg/bg hints ``(N, h, w)`` of working-size ``(N, C, h, w)`` images (one threshold for all) from their
    brightness: clearly above / below Otsu's threshold (:data:`INTENSITY_MARGINS`), the 0.1 % extremes clipped
    first (a hot pixel). The threshold is the whole images' or, with boxes (``inside``, bool ``(N, h, w)``),
    their insides'. The objects are the brighter side (fluorescence) unless it covers more than half of the
    images, then the darker one (stained objects in brightfield); with boxes, more than half of the boxes' edges
    (a box drawn around an object is mostly object, but its edge lies on background; the rest of the image
    may be lit otherwise). A stack whose brightness drifts from frame to frame (a Z-stack dimming with depth,
    photobleaching) is levelled first (:func:`_levelled`). Warns when some frames get no object hints (in their
    box; a single frame much dimmer than its neighbours, or empty)."""
    from skimage.filters import threshold_otsu

    grey, smooth, clipped, above = _grey_frames(images)
    if clipped:
        if above >= 3:
            warn(
                f"intensity hints: {above} pixels far brighter than the rest (the top 0.1 %) are set aside as hot "
                "pixels; if they are the objects (tiny spots), paint some of them 1 as scribbles, or use "
                "hints='auto'"
            )
    elif float(grey.max()) > float(grey.min()):
        # the contrast is all in fewer than 0.1 % of the pixels: those are the objects, not hot pixels
        warn(
            "intensity hints: the image is flat but for fewer than 0.1 % of its pixels: these are taken as the "
            "objects (tiny spots); hot pixels would be taken too"
        )
    boxes = None if inside is None else inside.cpu().numpy()
    smooth = _levelled(smooth, grey, boxes)
    region = smooth[boxes] if boxes is not None else smooth.ravel()
    span = float(region.max() - region.min()) if region.size else 0.0
    if span <= FLAT_SPAN:  # a constant image (or grey): no hint
        warn("intensity hints: the image (or the box) is flat, so there are none; the split is unsupervised")
        none = torch.zeros(smooth.shape, dtype=torch.bool, device=images.device)
        return none, none.clone()
    t = float(threshold_otsu(region))
    far, near = INTENSITY_MARGINS
    if boxes is None:
        judged = smooth
    else:  # the boxes' edges (a box at the image's border has its edge there)
        from scipy import ndimage as ndi

        judged = smooth[np.stack([m & ~ndi.binary_erosion(m) for m in boxes])]
        judged = judged if judged.size else region
    if (judged > t).mean() <= 0.5:  # bright objects on a dark background
        fg, bg = smooth > t + far * span, smooth < t - near * span
    else:
        fg, bg = smooth < t - far * span, smooth > t + near * span
    held = fg if boxes is None else fg & boxes  # outside a box, hints become background
    empty = [int(k) for k in np.flatnonzero(~held.reshape(len(held), -1).any(1))]
    if empty and len(empty) < len(fg):
        more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
        warn(
            f"intensity hints: frame(s) {empty[:5]}{more} get no object hints: one threshold serves all frames, "
            "and these are much dimmer than their neighbours or empty, so their masks will be (nearly) empty; "
            "normalise the frames' brightness first, or segment such frames on their own"
        )
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(images.device)  # noqa: E731
    return to(fg), to(bg)


def _image_intensity_hints(work: torch.Tensor, inside: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`intensity_hints` of one working-size image ``(1, C, h, w)`` (in its box, if any): bool ``(h, w)``."""
    fg, bg = intensity_hints(work, None if inside is None else inside[None])
    return fg[0], bg[0]


def warn_foreground_outside(foreground: np.ndarray, boxes: list[np.ndarray | None]) -> None:
    """Warn when foreground scribbles (bool ``(T, H, W)``, one frame per entry of ``boxes``, the frames' bool
    box masks or ``None``) lie outside their frame's box: the box wins there (its outside is background)."""
    count = sum(int((f & ~b).sum()) for f, b in zip(foreground, boxes, strict=True) if b is not None)
    if count:
        where = " (counted over the frames)" if len(boxes) > 1 else ""
        warn(
            f"{count} pixel{'s' if count > 1 else ''} of foreground hints{where} lie outside the box and are "
            "ignored (outside the box is background); widen the box to keep them"
        )


def hold_outside(
    fg: torch.Tensor,
    bg: torch.Tensor,
    inside: torch.Tensor,
    user: bool,
    held: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None, torch.Tensor | None]:
    """A box's outside as background for the whole run: ``(fg, bg, held, outside)`` for :func:`build_task`.

    ``fg``, ``bg`` (and the ``held`` pair) are float ``(N, 1, h, w)`` maps, ``inside`` the bool box masks of the
    same shape (all True for frames without a box). User hints are held anyway: the outside joins their
    background (``outside`` is then ``None``). Automatic hints fade: the outside is held next to them (the
    ``outside`` map), as are the held hints (scribbles) given; foreground marked outside the box is dropped."""
    out = (~inside).float()
    fg = fg * (1 - out)
    if user:
        return fg, torch.maximum(bg, out), None, None
    if held is not None:
        held = held[0] * (1 - held[1]) * (1 - out), held[1]
    return fg, bg * (1 - out), held, out


def hints_as_run(
    fg: torch.Tensor,
    bg: torch.Tensor,
    held: tuple[torch.Tensor, torch.Tensor] | None,
    outside: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fg/bg hint maps a run used, for ``r.hints``: the (fading) hints with the held scribbles and a box's
    outside (background) added."""
    if held is not None:
        fg, bg = torch.maximum(fg, held[0]), torch.maximum(bg, held[1])
    if outside is not None:
        bg = torch.maximum(bg, outside)
    return fg, bg


def relies_on_prior(user_hints: bool, fg: torch.Tensor, bg: torch.Tensor) -> bool:
    """Whether a run leans on the DIP prior (user scribbles, or no hints at all) rather than on dense automatic
    hints: it then gets the dihedral augmentation, a smaller learning rate and a longer default budget."""
    return user_hints or not bool((fg.sum() + bg.sum()) > 0)


def build_task(
    target: torch.Tensor,
    fg: torch.Tensor,
    bg: torch.Tensor,
    iterations: int,
    user_hints: bool,
    phases: tuple[tuple[float, float], tuple[float, float], float] | None = None,
    augment: bool | None = None,
    lr: float | None = None,
    held: tuple[torch.Tensor, torch.Tensor] | None = None,
    outside: torch.Tensor | None = None,
) -> Task:
    """Segmentation as a :class:`Task`: ``I = m * y1 + (1 - m) * y2``.

    ``target`` is ``(N, C, h, w)``; ``fg``/``bg`` are ``(N or 1, 1, h, w)`` float hint masks. The first 10-20% of
    the run fits the layers and the mask to the hints only; then reconstruction takes over and automatic hints fade
    out between 15% and 35% (user hints stay, they are the user's intent); the binary-mask term ramps up from 40%.

    The phase boundaries were measured (400 iterations, ``benchmarks/evaluate.py``): releasing the automatic
    hints at 15-35% instead of 30-60% (reconstruction from 10-20% instead of 25-35%, best-snapshot tracking from
    40% instead of 60%) raised the mean mask IoU on 18 Weizmann horses from 0.538 to 0.556 (17 of 18 better)
    and on the synthetic texture composite from 0.958 to 0.972 (seeds 0, 1): the automatic hints are
    conservative (a band around the object is left open), and the longer free phase lets the reconstruction
    settle that band. ``phases`` = ``(reconstruction_from, hint_fade, track_from)`` overrides them (video
    segmentation keeps the longer hint phase, which measured better on DAVIS clips).

    ``augment`` (dihedral augmentation) and ``lr`` default to what measured best for the kind of hints: with
    automatic hints, no augmentation and lr 0.02 (dense hints already constrain the fit; the 8 transforms only
    slow it: horses mean IoU 0.556 -> 0.609 at 300 instead of 400 iterations, synthetic composite 0.958 -> 1.000
    at 300); with user scribbles or no hints, augmentation on and lr 0.01 (most pixels are left to the DIP prior,
    which the augmentation strengthens; video measured IoU 0.84 vs 0.60 with sparse scribbles).
    """
    rec_from, hint_fade, track_from = phases or (RECONSTRUCTION_FROM, HINT_FADE, TRACK_FROM)
    n, c = target.shape[:2]
    dips = {
        "foreground": DIP(c, SEGMENT_NET, instances=n),
        "background": DIP(c, SEGMENT_NET, instances=n),
        "mask": DIP(1, SEGMENT_NET, instances=n),
    }
    hint_w = window(1.0, 0.0, 1.0) if user_hints else ramp(1.0, 0.0, *hint_fade)
    # The hint phase delays reconstruction; with no hints at all it would only waste part of the budget.
    hinted = bool((fg.sum() + bg.sum()) > 0)
    if augment is None:
        augment = relies_on_prior(user_hints, fg, bg)
    if lr is None:
        lr = 0.01 if augment else 0.02
    rec_w = ramp(0.0, 1.0, *rec_from) if hinted else 1.0

    def compose(s):
        m = s.out["mask"]
        return m * s.out["foreground"] + (1 - m) * s.out["background"]

    def hint_layers(s, fg="fg", bg="bg"):
        return L.masked_l1(s.out["foreground"], s.target, s.maps[fg]) + L.masked_l1(
            s.out["background"], s.target, s.maps[bg]
        )

    def hint_mask(s, fg="fg", bg="bg"):
        m = s.out["mask"]
        ones = torch.ones_like(m)
        return L.masked_l1(m, ones, s.maps[fg]) + L.masked_l1(m, 0 * ones, s.maps[bg])

    maps = {"fg": fg, "bg": bg}
    terms = [
        Term("reconstruction", lambda s: L.reconstruction(s.pred, s.target, "l1"), rec_w),
        Term("hint_layers", hint_layers, hint_w),
        Term("hint_mask", hint_mask, hint_w),
        Term("binary", lambda s: L.binary_mask(s.out["mask"]), ramp(0.0, 0.01, 0.4, 0.9)),
    ]
    if held is not None:  # scribbles kept for the whole run next to fading automatic hints
        maps.update(fg_held=held[0], bg_held=held[1])
        keep = window(HELD_WEIGHT, 0.0, 1.0)
        terms += [
            Term("held_layers", lambda s: hint_layers(s, "fg_held", "bg_held"), keep),
            Term("held_mask", lambda s: hint_mask(s, "fg_held", "bg_held"), keep),
        ]
    if outside is not None:  # a box's outside: background for the whole run
        maps["outside"] = outside
        terms += [
            Term("outside_layers", lambda s: L.masked_l1(s.out["background"], s.target, s.maps["outside"])),
            Term("outside_mask", lambda s: L.masked_l1(s.out["mask"], 0 * s.maps["outside"], s.maps["outside"])),
        ]
    return Task(
        name="segmentation",
        dips=dips,
        target=target,
        compose=compose,
        terms=terms,
        iterations=iterations,
        maps=maps,
        lr=lr,
        augment=augment,
        perturb=ramp(0.0, 0.02, 0.0, 0.5),
        track_from=track_from,
        # Stop once the binarised mask has settled: 1 - IoU with the previous check's < 0.5 % for two checks in a
        # row (relative to the object, so a small object is not stopped while it still changes). The view is the
        # working-size mask refined against the working-size image (the returned mask is refined against the
        # full-size one); the raw DIP mask keeps flipping where it hovers near 0.5 along the edge. The synthetic
        # composite settles after half the budget; on the horses the masks kept moving to the end.
        settle=lambda outputs: (finish_masks(outputs["mask"], target) > 0.5).float(),
        settle_tol=5e-3,
    )


def shrink_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Downscale a bool ``(H, W)`` mask keeping every marked cell (thin scribbles survive)."""
    if tuple(mask.shape) == tuple(size):
        return mask
    return F.adaptive_max_pool2d(mask[None, None].float(), size)[0, 0] > 0


def shrink_labels(labels: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground (1) and background (2) marks of ``(N, H, W)`` labels as bool ``(N, h, w)`` working-size masks.

    Every marked cell is kept (thin strokes survive); a cell both labels mark goes to the one with more of its
    pixels, to neither on a tie (both used to be dropped there, without a word: strokes of both labels a few
    pixels apart along an edge vanished at a small working size). Warns when all of a label's marks are lost.
    """
    fg, bg = labels == 1, labels == 2
    if tuple(labels.shape[-2:]) == tuple(size):
        return fg, bg
    f, b = (F.adaptive_avg_pool2d(m[:, None].float(), size)[:, 0] for m in (fg, bg))
    fg_w, bg_w = (f > 0) & (f > b), (b > 0) & (b > f)
    lost = [name for name, full, small in (("1 (foreground)", fg, fg_w), ("2 (background)", bg, bg_w))
            if bool(full.any()) and not bool(small.any())]
    if lost:
        cell = max(labels.shape[-2] / size[0], labels.shape[-1] / size[1])
        warn(
            f"hints: the marks of label {' and '.join(lost)} are lost at the working size {size[1]}x{size[0]} "
            f"(one working pixel covers {cell:.1f} image pixels, and they share theirs with the other label's): "
            "draw the two labels' strokes further apart, or raise max_size"
        )
    return fg_w, bg_w


#: ``segment(reassign=)``: after the run a pixel goes to the layer that explains its 3 x 3 neighbourhood better
#: (mean absolute error over the channels, in fractions of the value range) where one is better by more than the
#: margin, to the mask network's (smooth) mask elsewhere. The mask network merges and rounds off small objects;
#: the layers know them. Mean IoU at margins 0 / 0.05 / 0.1 / 0.2 / off (2026-12-04, seed 0, 2-core AMD EPYC, a
#: /tmp driver over ``benchmarks/many_objects.py``'s fields and ``evaluate.py``'s horses at 256 px): three
#: fields of blobs with intensity hints 0.895 (pixel by pixel, no 3 x 3: 0.884) / 0.863 / 0.817 / 0.740 /
#: 0.631; 18 Weizmann horses 0.626 / 0.658 / 0.665 / 0.667 / 0.667; the texture composite (RGB and grey) 0.985
#: / 0.999 / 1.000 / 1.000 / 1.000; DAVIS (``segment_video``, 3 clips) at 0.1 0.462, off 0.464. With automatic
#: hints, which take blobs for one object, the layers are wrong too (blobs 0.39 -> 0.44 at 0: little). (The
#: driver's hints were made at full size; ``hints="intensity"`` makes them at working size: 0.716 instead of
#: 0.732 off on the 256 px field, 0.980 at 0 either way; since the hints clip the 0.1 % extremes, 0.884 / 0.814 /
#: 0.981 at 0 on the three fields, ``benchmarks/README.md``.) So ``"auto"`` is 0
#: with ``hints="intensity"`` (made for such fields) and off otherwise: no margin gains on the real photographs.


def warn_no_split(masks: np.ndarray, how: str, boxed: bool = False) -> None:
    """Warn when a run without any hints (``how``) ended with no split: every mask empty or full (``boxed``: a
    box was given, so it is not among the advice)."""
    if masks.size and float(masks.min()) == float(masks.max()):
        give = "automatic ones (hints='auto') or scribbles" if boxed else (
            "automatic ones (hints='auto'), scribbles, or a box"
        )
        warn(
            f"{how}: the networks found no split of their own (the mask is {'full' if masks.max() else 'empty'}); "
            f"give hints: {give}"
        )


def warn_no_marks(labels: np.ndarray, auto_fill: object) -> None:
    """Warn when scribbles mark no pixel and ``auto_fill=False`` leaves nothing to fill them in: the run has no
    hints at all (an empty Labels layer, or corrections of a result that needed none)."""
    if auto_fill is False and not bool(np.isin(labels, (1, 2)).any()):
        warn(
            "hints mark no pixel (no 1 or 2) and auto_fill=False: the run has no hints at all, and the mask is "
            "the networks' own split; pass auto_fill=True (or hints='auto') for automatic hints"
        )


def check_auto_fill(auto_fill: object) -> bool | str:
    """``auto_fill``: ``True``, ``False`` or ``"intensity"``."""
    if isinstance(auto_fill, str) and auto_fill == "intensity":
        return auto_fill
    if isinstance(auto_fill, str):  # (a wrong value, like the other options' strings: ValueError)
        raise ValueError(f"auto_fill must be True, False or 'intensity', got {auto_fill!r}")
    if not isinstance(auto_fill, (bool, np.bool_)):
        raise TypeError(f"auto_fill must be True, False or 'intensity', got {auto_fill!r}")
    return bool(auto_fill)


def check_reassign(reassign: object, hints: object = None, auto_fill: object = True) -> float | None:
    """``reassign``: ``"auto"`` (0 with intensity hints: ``hints="intensity"``, or scribbles filled in with
    ``auto_fill="intensity"``; else ``None``), ``None`` or a margin in [0, 1]."""
    if isinstance(reassign, str) and reassign == "auto":
        if isinstance(hints, str):
            return 0.0 if hints == "intensity" else None
        return 0.0 if hints is not None and isinstance(auto_fill, str) and auto_fill == "intensity" else None
    if reassign is None:
        return None
    if isinstance(reassign, str):
        raise ValueError(f"reassign must be 'auto', a number in [0, 1] or None, got {reassign!r}")
    if isinstance(reassign, bool) or not isinstance(reassign, (int, float, np.integer, np.floating)):
        raise TypeError(f"reassign must be 'auto', a number in [0, 1] or None, got {type(reassign).__name__}")
    if not 0 <= float(reassign) <= 1:
        raise ValueError(
            f"reassign must be in [0, 1] (a fraction of the value range), 'auto' or None, got {reassign}"
        )
    return float(reassign)


def reassign_by_layers(
    image: torch.Tensor,
    fg: torch.Tensor,
    bg: torch.Tensor,
    soft: torch.Tensor,
    margin: float,
    scribbles: torch.Tensor | None = None,
) -> torch.Tensor:
    """``soft`` masks ``(N, H, W)`` with each pixel given to the layer (``fg``, ``bg``: ``(N, C, H, W)`` like
    ``image``) that explains its 3 x 3 neighbourhood better by more than ``margin`` (see
    the comment above); 1 / 0 there, ``soft`` elsewhere. The user's scribbles
    (``scribbles``: uint8 labels ``(N, H, W)``, 1 = foreground, 2 = background) win over both, and a foreground
    part that a background scribble touches keeps ``soft`` where ``soft`` says background for most of it: a 2
    painted on a false object removes the object (the foreground layer explains a bright blob well, so only the
    scribbled pixels went), while an object a background stroke runs beside, which the mask keeps, stays."""
    d = (image - bg).abs().mean(1, keepdim=True) - (image - fg).abs().mean(1, keepdim=True)  # > 0: fg better
    d = F.avg_pool2d(F.pad(d, (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, 0]
    out = torch.where(d.abs() > margin, (d > 0).to(soft.dtype), soft)
    if scribbles is not None:
        if bool((scribbles == 2).any()):
            out = _unless_rejected(out, soft, scribbles == 2)
        out = torch.where(scribbles == 1, 1.0, torch.where(scribbles == 2, 0.0, out)).to(soft.dtype)
    return out


#: Pixels (8-connected steps) around a background scribble on a false object within which the layers' holes
#: count as the object, its parts are judged, and the mask network's remaining foreground there goes with
#: what of it connects (see :func:`_unless_rejected`).
CLICK_REACH = 2


#: Crumbs of a clicked object's outline (see :func:`_crumbs`) lie around the click in at least this many of 8
#: directions (seed 2 of the click test on an Intel Xeon: three crumbs of 2-4 px in 4 directions).
CRUMB_SECTORS = 3


#: A compact background scribble counts as on an object when foreground lies in at least this many of the 8
#: directions (45 degree sectors around its centre) within :data:`CLICK_REACH` + 3 px of its rim (see
#: :func:`_surrounded`).
SURROUNDED_SECTORS = 6


def _click(
    marks: np.ndarray, k: int, box: tuple[slice, slice]
) -> tuple[float, float, float, tuple[slice, slice]] | None:
    """Centre, reach (its farthest pixel's distance from the centre + :data:`CLICK_REACH` + 3) and the window
    around it within that reach (slices; a field of many clicks stays cheap) of scribble ``k`` of ``marks``
    (``box``: its bounding slices) if it is compact (its pixels within 1.5 x the radius of a disc of its area,
    plus 1 px, of its centre: a click, not a stroke); else ``None``."""
    ys, xs = np.nonzero(marks[box] == k)
    ys, xs = ys + box[0].start, xs + box[1].start
    cy, cx = ys.mean(), xs.mean()
    far = float(np.hypot(ys - cy, xs - cx).max())
    if far > 1.5 * np.sqrt(ys.size / np.pi) + 1:
        return None
    reach = far + CLICK_REACH + 3
    y0, x0 = max(0, int(cy - reach)), max(0, int(cx - reach))
    window = (slice(y0, int(cy + reach) + 2), slice(x0, int(cx + reach) + 2))
    return float(cy), float(cx), reach, window


def _crumbs(marks: np.ndarray, count: int, fg: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """Crumbs of a clicked object's outline that the layers' verdict left: for each click among the scribbles
    ``1..count`` of ``marks`` (:func:`_click`), the parts of ``fg`` that lie wholly within its reach, are no
    larger than it and that ``soft`` (the mask network) holds background for the most part, where there are
    two or more of them around it (in at least :data:`CRUMB_SECTORS` of 8 directions from its centre; one
    small object beside a click stays)."""
    from scipy import ndimage

    out = np.zeros(fg.shape, bool)
    parts = slices = None
    for k, box in enumerate(ndimage.find_objects(marks), start=1):
        click = None if box is None else _click(marks, k, box)
        if click is None:
            continue
        if parts is None:
            parts, _n = ndimage.label(fg, structure=np.ones((3, 3), bool))
            slices = ndimage.find_objects(parts)
        cy, cx, reach, window = click
        area = int((marks[box] == k).sum())
        crumbs, ys, xs = [], [], []
        for p in np.unique(parts[window]):
            if p == 0:
                continue
            sy, sx = slices[p - 1]
            py, px = np.nonzero(parts[sy, sx] == p)
            py, px = py + sy.start, px + sx.start
            if py.size <= area and np.hypot(py - cy, px - cx).max() <= reach and soft[py, px].mean() < 0.5:
                crumbs.append((py, px))
                ys.append(py - cy)
                xs.append(px - cx)
        if len(crumbs) < 2:
            continue
        sectors = np.round(np.arctan2(np.concatenate(ys), np.concatenate(xs)) / (np.pi / 4)).astype(int) % 8
        if np.unique(sectors).size >= CRUMB_SECTORS:
            for py, px in crumbs:
                out[py, px] = True
    return out


def _surrounded(marks: np.ndarray, count: int, fg: np.ndarray) -> np.ndarray:
    """For each labelled scribble ``1..count`` in ``marks``: whether it is compact (its pixels within 1.5 x the
    radius of a disc of its area, plus 1 px, of its centre: a click, not a stroke) and ``fg`` lies around it in
    at least :data:`SURROUNDED_SECTORS` of 8 directions, within :data:`CLICK_REACH` + 3 px beyond its farthest
    pixel. (A stroke in the gap between two objects is long, so its centre sees the objects' corners in most
    directions; it is not judged here.)"""
    from scipy import ndimage

    out = np.zeros(count, bool)
    if not fg.any():
        return out
    for k, box in enumerate(ndimage.find_objects(marks), start=1):
        click = None if box is None else _click(marks, k, box)
        if click is None:
            continue
        cy, cx, reach, window = click
        fy, fx = np.nonzero(fg[window] & (marks[window] != k))  # (not its own pixels)
        dy, dx = fy + window[0].start - cy, fx + window[1].start - cx
        close = np.hypot(dy, dx) <= reach
        if not close.any():
            continue
        sectors = np.round(np.arctan2(dy[close], dx[close]) / (np.pi / 4)).astype(int) % 8
        out[k - 1] = np.unique(sectors).size >= SURROUNDED_SECTORS
    return out


def _closed_parts(fg: np.ndarray, iterations: int) -> np.ndarray:
    """Binary closing (8-connected, ``iterations``) of each connected part of ``fg`` on its own, so that gaps
    between separate parts stay open."""
    from scipy import ndimage

    eight = np.ones((3, 3), bool)
    parts, _count = ndimage.label(fg, structure=eight)
    out = np.zeros_like(fg)
    pad = iterations + 1
    for k, box in enumerate(ndimage.find_objects(parts), start=1):
        if box is None:
            continue
        ys, xs = box
        y0, x0 = max(0, ys.start - pad), max(0, xs.start - pad)
        y1, x1 = min(fg.shape[0], ys.stop + pad), min(fg.shape[1], xs.stop + pad)
        one = parts[y0:y1, x0:x1] == k
        # (a margin of `pad` keeps the closing's dilation inside the crop, so the crop's border does not erode it)
        big = np.pad(one, pad)
        closed = ndimage.binary_closing(big, structure=eight, iterations=iterations)[pad:-pad, pad:-pad]
        out[y0:y1, x0:x1] |= closed
    return out


def _unless_rejected(out: torch.Tensor, soft: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """``out`` with ``soft`` back in each connected foreground part of ``out`` that a background scribble
    (``rejected``, bool ``(N, H, W)``) was painted on, and that ``soft`` holds background for the most part;
    there what ``soft`` holds as foreground within :data:`CLICK_REACH` of the scribble goes too, with what of
    it connects within 3 px more (a click's neighbours the mask network kept; a neighbour it holds stays, but
    for what of it touches them there). Around a click that is on no such part, crumbs of the object's
    outline go (:func:`_crumbs`). A scribble counts where most of its own pixels lie on that foreground or
    in a hole of it within :data:`CLICK_REACH` of the scribble (a click or stroke on an object, or on the
    background centre the layers left in it; not background hints along objects, such as a fed-back mask's
    background core, nor the inside of a ring-shaped object, nor a stroke in the gap between two objects). A
    part is judged by its own pixels, not its holes."""
    from scipy import ndimage  # (scikit-image's dependency)

    strokes = rejected.cpu().numpy()
    mean_soft = soft.float().cpu().numpy()
    eight = np.ones((3, 3), bool)
    back = np.zeros(strokes.shape, bool)
    gone = np.zeros(strokes.shape, bool)
    for i in range(strokes.shape[0]):
        marks, count = ndimage.label(strokes[i], structure=eight)
        if not count:
            continue
        fg = (out[i] > 0.5).cpu().numpy()
        # The layers often give a clicked spot's centre to the background already and leave a ring (or a ring
        # with a gap of up to 2 x CLICK_REACH px), which the click is then not "on": the inside of the closed
        # ring, where it lies within CLICK_REACH of the scribble, counts as the object's. (Only there: a
        # ring-shaped object whose real inside is marked as background stays.) Each part is closed on its own:
        # closing them together would bridge the gap between two objects, and a stroke drawn in it to keep them
        # apart would count as on both.
        reach = ndimage.binary_dilation(strokes[i], structure=eight, iterations=CLICK_REACH)
        closed = fg | _closed_parts(fg, CLICK_REACH)
        holes, _h = ndimage.label(ndimage.binary_fill_holes(closed) & ~closed, structure=eight)
        outside = np.unique(holes[~reach & (holes > 0)])
        filled = closed | ((holes > 0) & ~np.isin(holes, outside))
        on_fg = np.asarray(ndimage.mean(filled, marks, index=np.arange(1, count + 1))) >= 0.5
        # Or the layers left the clicked spot's outline in pieces with gaps wider than the closing bridges: a
        # compact scribble (a click) that foreground surrounds in most directions is on that object too.
        on_fg |= _surrounded(marks, count, fg)
        painted_on = np.isin(marks, 1 + np.flatnonzero(on_fg))
        # Or only crumbs of the clicked outline are left, which the click is on none of (seed 2 of the click test
        # on an Intel Xeon: three of 2-4 px around it, the network holding none of them)
        back[i] |= _crumbs(marks, count, fg, mean_soft[i])
        if not painted_on.any():
            continue
        # Each foreground part within CLICK_REACH is judged on its own pixels (the closing only decides what
        # the click is on: in a field of objects it merges neighbours that are not the clicked one)
        near = ndimage.binary_dilation(painted_on, structure=eight, iterations=CLICK_REACH)
        wide = ndimage.binary_dilation(near, structure=eight, iterations=3)  # (the reach of _surrounded)
        parts, _count = ndimage.label(fg, structure=eight)
        held, _n = ndimage.label(mean_soft[i] > 0.5, structure=eight)
        for p in np.unique(parts[near & fg]):
            part = parts == p
            if mean_soft[i][part].mean() < 0.5:
                back[i] |= part
                # what the mask network itself kept of it by the scribble goes too, with what of that connects
                # within 3 px more (seed 0 of the click test on an Intel Xeon: a rim 3 px from the click stayed,
                # 10 of 81 px, when only what lay within CLICK_REACH went); a neighbour it holds stays, but for
                # what of it touches that remnant within the reach
                by_it = np.unique(held[part & near & (held > 0)])
                gone[i] |= part & wide & np.isin(held, by_it)
    if not back.any():
        return out
    out = torch.where(torch.from_numpy(back).to(out.device), soft, out)
    return torch.where(torch.from_numpy(gone).to(out.device), torch.zeros_like(out), out)


def finish_masks(soft: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """Working-size soft masks ``(N, 1, h, w)`` -> refined full-size soft masks ``(N, H, W)`` (guided filter)."""
    size = guide.shape[-2:]
    r = filter_radius(soft.shape[-2:])
    out = [guided_upsample(g, m, r, eps=1e-3)[0] for g, m in zip(guide, soft, strict=True)]
    return torch.stack(out).clamp(0, 1).reshape(-1, *size)


@task_function
def segment(
    image: Any,
    hints: Hints = "auto",
    *,
    box: Box = None,
    auto_fill: bool | str = True,
    iterations: int | None = None,
    max_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    preset: str = "default",
    precision: str = "auto",
    reassign: float | str | None = "auto",
    stop: StopRequest = None,
) -> Generator[Progress, None, SegmentationResult]:
    """Segment an image into foreground and background layers with Double-DIP.

    Parameters
    ----------
    image
        ``(H, W)`` or ``(H, W, C)`` array (C <= 4), any numeric dtype.
    hints
        ``"auto"`` (crude saliency hints, on RGB images refined by a colour model of each region, relaxed after the
        first phase; :func:`napari_doubledip.solver.saliency.saliency_hints`: one salient object), ``"intensity"``
        (many objects that brightness separates, e.g. nuclei: pixels clearly above / below Otsu's threshold, held
        all run, :func:`intensity_hints`; with ``reassign="auto"`` every pixel then goes to the layer that explains
        it: three fields of blobs 0.89 IoU on average, Otsu 0.85), ``None`` (no hints: the split is unsupervised
        and its polarity arbitrary), a label image ``(H, W)`` with 1 = foreground and 2 = background scribbles, or
        a ``(foreground_mask, background_mask)`` pair (either may be ``None``). The rules, shared with
        :func:`napari_doubledip.segment_video`: a label image is an array (integer, float or boolean) holding only
        0, 1 and 2 (a boolean one marks foreground only: ``True`` is 1); other values or NaN raise ``ValueError``,
        a non-numeric dtype ``TypeError``. The pair is a tuple or a 2-item list (or a dict with the keys
        ``"foreground"`` and ``"background"`` only) of boolean or numeric masks, nonzero = marked, that must not
        overlap; a list is always read as the pair (pass a label image as an array). Where scribbles mark nothing,
        automatic hints fill in (``auto_fill``).
    box
        Optional region around the object, as for :func:`napari_doubledip.remove_watermark`: ``(y0, x0, y1,
        x1)`` (end exclusive), a boolean ``(H, W)`` mask or a napari rectangle's corner points. Everything
        outside it is background for the whole run (the layers need not explain it as the object). Inside, the
        automatic hints (``hints="auto"``, or filling in around scribbles) are computed on the box's
        surroundings (its crop widened by 10 %; foreground scribbled outside the box is ignored); with
        ``hints=None`` the inside is left to the optimisation. The returned mask is zero outside the box.
        On 18 Weizmann horses with boxes 4 % wider than the horse (``benchmarks/segmentation_box.py``): IoU
        0.735, against 0.667 with automatic hints only and 0.478 with the box read as labels (outside
        background, its central half foreground: what the widget passed before 2026-12-03).
    auto_fill
        With scribbles: where they mark nothing, automatic hints fill in (they fade after the first phase like
        ``hints="auto"``; the scribbles are held for the whole run and win where they disagree). ``False``: the
        scribbles alone, the rest left to the DIP prior (a longer, augmented run). Measured with simulated
        scribbles (``benchmarks/segmentation_scribbles.py``), mean IoU without -> with the fill-in: 18 Weizmann
        horses, one foreground dot 0.265 -> 0.668, a stroke along the body and a background stroke beside it
        0.492 -> 0.741, a dot in each of the automatic result's largest missed and false parts 0.216 -> 0.701
        (0.667 with automatic hints alone); the synthetic texture composite 0.07-0.90 -> 1.000.
        A contradicted hint is cleared around the scribble on it; where the foreground and the background
        scribbles both contradict the automatic hints broadly (strokes over the regions, not a click or two on
        wrong parts, which are local corrections), the automatic pair is turned round first (:func:`fill_in`).
        ``"intensity"``: the intensity hints of ``hints="intensity"`` fill in instead, held for the whole run with
        the scribbles (corrections of a field of many objects; ``reassign="auto"`` is then 0 as for those hints:
        a previous result given back with one corrective click, 0.884 / 0.814 -> 0.888 / 0.842 IoU on two blob
        fields, against 0.626 / 0.567 with the saliency fill-in).
    iterations
        Optimisation steps; ``None`` = the measured default (``DEFAULTS``: 300 with the saliency hints,
        ``"auto"``, which scribbles bring along unless ``auto_fill=False``; 400 with held hints: scribbles alone,
        ``"intensity"`` or ``auto_fill="intensity"``, and with ``hints=None``; labels that leave the automatic
        hints nothing to fill in (e.g. a mask given back) are used alone, and a box too small for automatic
        hints runs on its outside as background: 400 too). The run ends
        earlier once the binarised mask has settled (``r.iterations`` says how many ran); the returned ``mask`` is
        binary either way, ``soft_mask`` is then less saturated than after the whole budget (the binary-mask term
        ramps up over 40-90 % of it).
    max_size
        Long side of the working resolution; the mask is brought back to full size with a guided filter.
    device
        ``"auto"`` (cuda > mps > cpu), ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"mps"``.
    seed
        Random seed, an int in ``[0, 2**32)``; the same seed gives the same result on the CPU.
    preset
        ``"default"`` (fast, measured) or ``"reference"`` (the authors' network sizes, learning rate and
        iteration count at full resolution; 14-430x slower in our CPU benchmark).
    precision
        ``"auto"`` (the task's measured choice: float32 for the single-image tasks; the video tasks use bfloat16
        autocast on CPUs with AMX, where it measured faster at equal quality), ``"float32"`` or ``"bfloat16"``
        (autocast of the networks on any device). ``r.precision`` says which ran.
    reassign
        ``"auto"`` (default): ``0`` with intensity hints (``hints="intensity"``, or scribbles with
        ``auto_fill="intensity"``), else ``None``. ``None``: the mask network's mask.
        A margin in [0, 1]: after the run, a pixel whose 3 x 3 neighbourhood one layer explains better than the
        other by more than the margin (mean absolute error, a fraction of the value range) goes to that layer
        (scribbled pixels keep their label);
        ``0``: every pixel, for many small objects that the mask network merges or rounds off (three fields of
        blobs with intensity hints, mean IoU: 0.62 off, 0.81 at 0.1, 0.89 at 0, Otsu's threshold 0.85;
        Weizmann horses with automatic hints 0.667 / 0.665 / 0.626). It needs layers that are right: with the
        automatic saliency hints, which take a field of blobs for one object, it gains little (0.39 -> 0.44).
    stop
        Optional stop request (``threading.Event`` or callable); the best result so far is returned.
    progress
        Optional callable receiving each :class:`~napari_doubledip.Progress` report.

    Returns
    -------
    SegmentationResult

    Examples
    --------
    >>> import numpy as np, napari_doubledip as dd
    >>> img = np.random.default_rng(0).random((32, 32))
    >>> img[8:24, 8:24] += 2.0
    >>> r = dd.segment(img, iterations=20, seed=0)
    >>> r.mask.shape
    (32, 32)
    """
    image = loaded(image, own=True)  # (loaded once, as it is now: the layers copy its values where they are it)
    img, vr = as_image(image, "image")
    seed = check_seed(seed)
    check_iterations(iterations, 1)  # checked before the hints are computed (its default depends on them)
    ms = resolve_max_size(max_size, DEFAULTS["max_size"], img.shape, preset)
    dev = resolve_device(device)
    check_precision(precision)
    reassign = check_reassign(reassign, hints, auto_fill)
    auto_fill = check_auto_fill(auto_fill)
    params = dict(
        hints=hints if isinstance(hints, str) or hints is None else "user",
        auto_fill=None if isinstance(hints, str) or hints is None else auto_fill,  # (only for scribbles)
        max_size=ms,
        device=str(dev),
        seed=seed,
        preset=preset,
    )
    full = to_tensor(img[None], dev)  # (1, C, H, W)
    size = full.shape[-2:]
    ws = working_shape(size, ms)
    work = resize(full, ws)
    inside = keep = None
    if box is not None:
        bmask = box_mask(box, tuple(size), whole=True, task="segment")
        keep = torch.from_numpy(bmask).to(dev, full.dtype)  # the mask is cut to the box: outside is background
        params["box"] = box_bounds(bmask)
        # a working-size pixel is inside when any of it is: only what is wholly outside is held as background
        inside = shrink_mask(torch.from_numpy(bmask).to(dev), ws)
    # (the box at full size, where the working size is below it: would a larger max_size help a small box?)
    full_box = None if inside is None or ws == tuple(size) else torch.from_numpy(bmask)
    held = scribbled = None  # (scribbled: the user's labels at full size, which the reassignment keeps)
    if isinstance(hints, str):
        check_hint_mode(hints)
        if hints == "intensity":  # held all run, as scribbles are
            fg_w, bg_w = _image_intensity_hints(work, inside)
            user = True
        else:
            seen, what = _in_box(work[0], inside)
            warn_many_objects(seen, what=what)
            fg_w, bg_w = _box_hints(work[0], inside, full=full_box)
            user = False
    elif hints is None:
        fg_w = torch.zeros(ws, dtype=torch.bool, device=dev)
        bg_w, user = fg_w.clone(), True
    else:
        # full-resolution labels of a label image or a mask pair (the rules segment_video shares)
        labels = hint_labels(hints, tuple(size))
        warn_no_marks(labels, auto_fill)
        scribbled = torch.from_numpy(labels).to(dev)[None]
        if box is not None:
            warn_foreground_outside((labels == 1)[None], [bmask])
        (fg_w,), (bg_w,) = shrink_labels(scribbled, ws)
        user = True
        if auto_fill == "intensity":  # intensity hints complete the scribbles; all held for the whole run
            fill_fg, fill_bg = fill_in(*_image_intensity_hints(work, inside), fg_w, bg_w)
            fg_w, bg_w = fg_w | fill_fg, bg_w | fill_bg
        elif auto_fill:  # the scribbles held; automatic hints (in the box, if any) fill in where they mark nothing
            seen, what = _in_box(work[0], inside)
            marks, _what = _in_box((fg_w | bg_w)[None], inside)  # (their share of the same crop)
            warn_many_objects(seen, scribbled=marks, what=what)
            in_box = (fg_w | bg_w) if inside is None else (fg_w | bg_w) & inside
            auto_fg, auto_bg = _box_hints(work[0], inside, scribbled=bool(in_box.any()), full=full_box)
            fill_fg, fill_bg = fill_in(auto_fg, auto_bg, fg_w, bg_w)
            # (labels marking every pixel the automatic hints would, e.g. a whole label image, leave nothing to
            # fill in: they are then used alone, as with auto_fill=False; held lightly, with no hint phase in
            # front, the run drifted from them: all-foreground labels came back 6 % foreground on one seed)
            if bool((fill_fg | fill_bg).any()):
                held = (fg_w & ~bg_w)[None, None].float(), (bg_w & ~fg_w)[None, None].float()
                fg_w, bg_w, user = fill_fg, fill_bg, False
    fg_w, bg_w = (fg_w & ~bg_w)[None, None].float(), (bg_w & ~fg_w)[None, None].float()
    outside = None
    if inside is not None:
        fg_w, bg_w, held, outside = hold_outside(fg_w, bg_w, inside[None, None], user, held)
    prior = relies_on_prior(user, fg_w, bg_w)
    its = check_iterations(iterations, DEFAULTS["iterations_prior" if prior else "iterations"])
    task = build_task(work, fg_w, bg_w, its, user, held=held, outside=outside)
    task = apply_preset(task, preset, iterations, precision)
    params["precision"] = precision
    params["reassign"] = reassign
    params["iterations"] = task.iterations

    def preview(out):
        # Beyond PREVIEW_PIXELS the preview is upsampled bilinearly: the guided filter at full size was 20 % of
        # a 2048 x 2048 run's time in previews; the final mask is refined either way.
        if size[0] * size[1] <= PREVIEW_PIXELS:
            m = finish_masks(out["mask"], full)[0]
        else:
            m = resize(out["mask"], size)[0, 0]
        if keep is not None:
            m = m * keep
        return {"mask": (m > 0.5).cpu().numpy().astype(np.uint8)}

    task.preview = preview
    sol = yield from optimise(task, device=dev, seed=seed, stop=stop)
    soft = finish_masks(sol.outputs["mask"], full)  # (1, H, W)
    fg_layer = resize(sol.outputs["foreground"], size)
    bg_layer = resize(sol.outputs["background"], size)
    if reassign is not None:
        soft = reassign_by_layers(full, fg_layer.to(full), bg_layer.to(full), soft, reassign, scribbled)
    if keep is not None:
        soft = soft * keep
    m = (soft > 0.5).float()[:, None]
    fg_img = m * full + (1 - m) * fg_layer
    bg_img = (1 - m) * full + m * bg_layer
    fg_w, bg_w = hints_as_run(fg_w, bg_w, held, outside)
    labels = np.zeros(tuple(size), np.uint8)
    labels[resize(fg_w, tuple(size))[0, 0].cpu().numpy() > 0.5] = 1
    labels[resize(bg_w, tuple(size))[0, 0].cpu().numpy() > 0.5] = 2
    if box is not None:  # (a working cell across the box's edge: outside, the run held background)
        labels[(labels == 1) & ~bmask] = 2
    mask = m[0, 0].cpu().numpy()
    if hints is None and not sol.stopped:
        warn_no_split(mask, "hints=None", boxed=box is not None)
    return SegmentationResult(
        mask=mask,
        soft_mask=soft[0].cpu().numpy(),
        foreground=copy_input(vr.restore(to_numpy(fg_img)[0]), image, mask),  # (the image itself inside the mask)
        background=copy_input(vr.restore(to_numpy(bg_img)[0]), image, 1 - mask),
        hints=labels,
        **run_info(sol, params, dev),
    )
