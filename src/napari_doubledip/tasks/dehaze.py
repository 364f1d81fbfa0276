"""Dehazing with a non-uniform airlight map (paper Sec. 5, Eq. 8): ``I = t * J + (1 - t) * A``."""

from __future__ import annotations

import warnings
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .._validation import (
    _FLOAT32_MAX,
    _frames_layout,
    _holds_bool,
    _lazy,
    _lazy_shape,
    ValueRange,
    as_image,
    check_iterations,
    check_seed,
    listed,
    loaded,
    plain_data,
    refuse_napari,
    warn,
    warn_frames_reading,
    working_shape,
)
from ..solver import haze as Hz
from ..solver import losses as L
from ..solver.device import check_precision, resolve_device
from ..solver.engine import DIP, Progress, StopRequest, Task, Term, optimise, ramp
from ..solver.filters import guided_filter, guided_upsample, resize
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

__all__ = ["DehazeResult", "dehaze", "dehaze_frames", "DEFAULTS", "build_task"]

#: Default budget and working size, chosen by measurement on real hazy photographs with ground truth
#: (``benchmarks/evaluate.py``, 3 Dense-HAZE + 4 RESIDE cases at 256 px; mean PSNR / SSIM) and on the synthetic
#: images of ``benchmarks/synthetic_watermark_dehaze.py`` (coffee and chelsea, uniform and varying airlight):
#:
#: ========== ============== ============== ==========
#: iterations real PSNR/SSIM synthetic PSNR  s (256 px)
#: ========== ============== ============== ==========
#: 60         16.90 / 0.759  --             2.5
#: 120        16.30 / 0.767  16.9           5
#: 200        16.05 / 0.766  18.6           9
#: 300        15.23 / 0.749  20.0           14
#: ========== ============== ============== ==========
#:
#: Light haze (RESIDE) is best early and is over-dehazed as the run goes on; dense haze (Dense-HAZE, the synthetic
#: images) keeps improving. 200 is the compromise. Keeping the transmission hint strong (end weight 0.5 or 1.0)
#: and starting the airlight map at the estimated airlight were both measured worse on the real images.
#:
#: Dense haze is the exception (``iterations_dense``, :data:`DENSE_WEIGHTS`): where the dark-channel transmission
#: averages below :data:`DENSE_T`, the airlight map is held to the estimate (weight 1.0 throughout) and the run is
#: 400 steps. Measured 2026-12-02 on the 20 real cases (seed 0, ``evaluate.py --tasks dehazing``, 2-core AMD
#: EPYC): Dense-HAZE mean PSNR 12.08 -> 13.55 dB with these settings on all ten (RESIDE 18.87 -> 16.16, the
#: synthetic images 19.20 -> 19.24, so not for every image). The mean dark-channel transmission separates the
#: two sets: 0.16-0.26 on eight Dense-HAZE images (0.40 and 0.48 on the other two), 0.41-0.65 on RESIDE, 0.32-0.55
#: on the synthetic images. Light haze goes the other way: 60 steps gave RESIDE 21.64 dB (Dense-HAZE 10.35).
#: The cause was the hint, not the budget: the dark channel under-estimates ``t`` on bright outdoor scenes and the
#: DIP keeps the ``t`` it is started with. With the haze-lines hint (:data:`LIGHT_HINT_LINES`) the 200 steps give
#: RESIDE 22.33 dB / 0.930 SSIM (2026-12-03, seed 0; seed 1 in ``docs/measurements.md``).
DEFAULTS = {"iterations": 200, "iterations_dense": 400, "max_size": 128}
#: Mean dark-channel transmission below which an image counts as densely hazed (see ``DEFAULTS``).
DENSE_T = 0.3

#: Haze-free image DIP (a narrower version of the paper's 5-level skip net). Both image-sized networks keep
#: their coarsest level at least 3 px across (``coarsest``): with a 2 px one a strip lost its short direction
#: (12 / 24 x 128 crops of the 128 px sample, seeds 0-2: 14.2 / 14.7 -> 16.0 / 16.5 dB; squares of 40-56 px
#: unchanged, 24 / 32 px 0.4 / 0.6 dB lower; ``benchmarks/strips.py``).
CLEAN_NET = NetConfig(channels=(16, 32, 64, 64), skip=(0, 0, 4, 4), kernel=3, in_channels=8, coarsest=3)
#: Transmission DIP: smooth maps need little capacity.
TRANSMISSION_NET = NetConfig(channels=(8, 16, 32, 32), skip=(0, 0, 0, 4), kernel=3, in_channels=4, coarsest=3)
#: Airlight DIP: runs on a small noise grid and is upsampled bilinearly, so the map is smooth by construction.
AIRLIGHT_NET = NetConfig(channels=(8, 16), skip=(0, 0), kernel=3, in_channels=4)
AIRLIGHT_SIZE = (16, 16)
#: A given airlight is used at least this fraction of the image's value range above its black level.
AIRLIGHT_FLOOR = 1e-3
#: A flat channel (see :data:`~napari_doubledip.solver.haze.FLAT_CHANNEL`) whose mean is at most this fraction
#: of the range counts as empty: a single-number airlight leaves it out (it gets the black floor).
EMPTY_LEVEL = 0.05
#: Weight of the haze-lines transmission (:func:`~napari_doubledip.solver.haze.haze_lines_transmission`) in the
#: transmission hint of light haze, colour images only: ``t_hint = (1 - w) * dark channel + w * haze lines``.
#: The dark channel under-estimates ``t`` on bright scenes and the DIP keeps what the hint starts it with (see
#: ``docs/measurements.md``); haze lines over-estimate it in dense haze, which keeps the dark channel.
#: Mean PSNR at 256 px, seeds 0 / 1, weight 0 / 0.5 / 1 (seed 0 only), chosen on these same images:
#:
#: ========================== ============= ============= =====
#: images                     w = 0         w = 0.5       w = 1
#: ========================== ============= ============= =====
#: RESIDE outdoor (10)        19.00 / 18.92 22.33 / 22.27 22.69
#: Dense-HAZE 37, 43 (light)  13.93 / 15.69 14.14 / 16.47 14.38
#: synthetic (4)              18.96 / 19.19 18.68 / 18.35 17.69
#: ========================== ============= ============= =====
#:
#: (Dense-HAZE 37 and 43 are the two of ten above :data:`DENSE_T`; synthetic: coffee and chelsea, uniform and
#: varying airlight, ``samples.hazy_image(256)``.)
LIGHT_HINT_LINES = 0.5
#: Values of ``transmission_prior`` (see :func:`dehaze`).
TRANSMISSION_PRIORS = ("auto", "dark channel", "haze lines")
#: Lower bound of the transmission when inverting the haze model.
T_MIN = 0.1

#: A clean image saturated (at the image's brightest value) on more than this share of its pixels, from an image
#: whose darkest value is above OFFSET_LEVEL of its brightest, is warned about as data on an offset (a camera's
#: black level): those read as dense, uniform haze. Measured (`benchmarks/warning_thresholds.py --dehaze`,
#: defaults, 64 px working size; the share of the clean image at its brightest in every channel): the synthetic
#: hazy sample as uint16 at 1000-1060 saturates 38 % (warned); 51 real hazy photos (all of real-hazy-noGT and
#: Dense-HAZE, 8 of RTTS, 6 of RESIDE) at most 14 %, the 9 whose darkest value is above half their brightest
#: (dense haze) 0 %; none warned.
SATURATED_SHARE = 0.25
OFFSET_LEVEL = 0.5
#: Loss weights (see :func:`build_task`), chosen on the synthetic hazy images of :mod:`napari_doubledip.samples`.
WEIGHTS = {"t_smooth": 0.05, "airlight_prior": 0.1, "airlight_prior_end": 0.03, "t_hint": 1.0, "t_hint_end": 0.1}
#: Dense haze: the airlight map held to the estimate for the whole run (see ``DEFAULTS``).
DENSE_WEIGHTS = {**WEIGHTS, "airlight_prior": 1.0, "airlight_prior_end": 1.0}


@dataclass(kw_only=True, eq=False, repr=False)
class DehazeResult(RunInfo):
    """Result of :func:`dehaze` (and of :func:`dehaze_frames`: every field with a leading ``T`` axis).

    Besides the attributes below, every result has the run's fields of :class:`~napari_doubledip.RunInfo`
    (``params``, ``seed``, ``device``, ``iterations``, ``elapsed``, ``stopped``, ``history``, ...).

    Attributes
    ----------
    clean
        The haze-free image, shaped like the input, float32 in the input's units, within ``[0, the input's
        brightest value]`` (up to ``airlight`` where a brighter one is given): dehazing darkens, so it reaches
        below the input's own minimum (negative data: from their minimum instead of 0).
    transmission
        ``(H, W)`` float32 transmission map in ``[0.1, 1]`` (1 = no haze; the floor is ``T_MIN``).
    airlight
        Airlight map shaped like the input (``(H, W, C)``, or ``(H, W)`` for a grey image), in the input's
        value range.
    airlight_init
        ``(C,)`` the initial global airlight colour (estimated, or the one given), in the input's value range.
    """

    clean: np.ndarray
    transmission: np.ndarray
    airlight: np.ndarray
    airlight_init: np.ndarray


def build_task(
    target: torch.Tensor,
    airlight: torch.Tensor,
    iterations: int,
    *,
    t_hint: torch.Tensor | None = None,
    weights: dict[str, float] | None = None,
) -> Task:
    """Dehazing as a :class:`Task`: ``I = t * J + (1 - t) * A`` (paper Eq. 8).

    Three DIPs: the haze-free image ``J``, the transmission ``t`` (the mixing mask) and the airlight map ``A``
    (a small noise grid, upsampled bilinearly: smooth by construction). Terms:

    * MSE reconstruction;
    * ``t_smooth``: a Laplacian-type penalty on ``t`` (squared difference to its 5x5 mean);
    * ``airlight_prior``: ``A`` kept close to the initial global airlight colour, relaxed over the first half
      of the run to a third so that the map can vary where the data asks for it (10x weaker lets it drift);
    * ``t_hint``: ``t`` pulled towards the dark-channel transmission ``t_hint`` (a hint, as the saliency hints of
      segmentation), fully for the first 10 % of the run, then relaxed to a tenth by 30 %: the layers start
      from a sensible split rather than the trivial ``t = 1, J = I``, then the DIPs refine it (the DIP's ``t``
      is smoother than the dark channel's, which follows texture) while the weak hint keeps it from drifting.

    A dark-channel loss on ``J`` throughout was tried and biased ``t`` low on images whose bright surfaces break
    the prior (measured -4 to -7 dB); it is not used.

    ``target`` ``(1, C, h, w)``; ``airlight`` ``(C,)``; ``t_hint`` ``(1, 1, h, w)`` or ``None``; ``weights``:
    the loss weights (default :data:`WEIGHTS`).
    """
    c = target.shape[1]
    W = WEIGHTS if weights is None else weights
    a0 = airlight.to(target).view(1, c, 1, 1)
    dips = {
        "clean": DIP(c, CLEAN_NET),
        "transmission": DIP(1, TRANSMISSION_NET),
        "airlight": DIP(c, AIRLIGHT_NET, size=AIRLIGHT_SIZE, noise_scale=1.0),
    }

    def airlight_map(s) -> torch.Tensor:
        return _airlight_at(s.out["airlight"], tuple(s.target.shape[-2:]))

    def airlight_prior(s) -> torch.Tensor:
        return (s.out["airlight"] - a0).square().mean()

    def compose(s):
        t = s.out["transmission"]
        return t * s.out["clean"] + (1 - t) * airlight_map(s)

    terms = [
        Term("reconstruction", lambda s: L.reconstruction(s.pred, s.target, "mse")),
        Term("t_smooth", lambda s: L.smoothness(s.out["transmission"], radius=2), W["t_smooth"]),
        Term(
            "airlight_prior",
            airlight_prior,
            ramp(W["airlight_prior"], W["airlight_prior_end"], 0.0, 0.5),
        ),
    ]
    maps: dict[str, torch.Tensor] = {}
    if t_hint is not None:
        maps["t_hint"] = t_hint
        terms.append(
            Term(
                "t_hint",
                lambda s: (s.out["transmission"] - s.maps["t_hint"]).square().mean(),
                ramp(W["t_hint"], W["t_hint_end"], 0.1, 0.3),
            )
        )
    return Task(
        name="dehazing",
        dips=dips,
        target=target,
        compose=compose,
        terms=terms,
        iterations=iterations,
        maps=maps,
        lr=0.01,
        perturb=ramp(0.0, 0.01, 0.0, 0.5),
        track_from=0.3,
    )


def _check_prior(prior: Any, channels: int | None = None) -> None:
    """A valid ``transmission_prior``, and "haze lines" only for ``channels == 3`` (``None``: not known yet)."""
    if not isinstance(prior, str) or prior not in TRANSMISSION_PRIORS:
        raise ValueError(f"transmission_prior must be one of {TRANSMISSION_PRIORS}, got {prior!r}")
    if prior == "haze lines" and channels is not None and channels != 3:
        raise ValueError(f"transmission_prior='haze lines' needs an RGB image, got {channels} channel(s)")


def _check_airlight_frames(frames: Any, values: np.ndarray | None) -> None:
    """Check a given airlight against the black level of every frame of an in-memory stack before any runs
    (each frame's run checks its own, and a frame far in would end the run after the work on those before it).
    Lazy stacks are left to those checks (this would load them)."""
    if values is None:
        return
    if isinstance(frames, list):  # (a list of in-memory frames of one shape; others are left to their checks)
        if not _plain_frames(frames) or any(f.dtype.kind not in "iuf" for f in frames):
            return
    elif not (isinstance(frames, np.ndarray) and frames.dtype.kind in "iuf" and frames.ndim >= 3 and len(frames)):
        return
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (an all-NaN frame: its own run says what is wrong)
        lows = [float(np.nanmin(f)) for f in frames]  # (a list's frames or an array's)
    for i, low in enumerate(lows):
        black = min(0.0, float(low))  # (as _physical_range: 0 is black, or the darkest of negative values)
        if np.isfinite(black) and _below_black(values, black):
            raise ValueError(
                f"airlight must be brighter than every frame's black level; frames[{i}]'s is {black:g}, got "
                f"{values.tolist()}"
            )


def _plain_frames(frames: list) -> bool:
    """Whether a list holds in-memory frames of one shape, ``(H, W)`` or ``(H, W, C<=4)``, none empty."""
    first = frames[0] if frames else None
    return (
        isinstance(first, np.ndarray)
        and first.size > 0
        and (first.ndim == 2 or (first.ndim == 3 and first.shape[-1] <= 4))
        and all(isinstance(f, np.ndarray) and f.shape == first.shape for f in frames)
    )


def _below_black(values: np.ndarray, black: float) -> bool:
    """Whether an airlight's ``values`` are not brighter than the black level ``black`` (a channel at the black
    level is fine: the estimate gives one for an empty channel, raised to the floor; all of them is not)."""
    return bool(np.any(values < black)) or float(values.max()) <= black


def _airlight_values(airlight: Any, channels: int) -> np.ndarray | None:
    """The checks of the user's airlight that need no image: ``(C,)`` finite float64 values, or ``None``."""
    return _airlight_read(airlight, channels)[0]


def _airlight_read(airlight: Any, channels: int) -> tuple[np.ndarray | None, bool]:
    """:func:`_airlight_values`, and whether the airlight was given as one number for every channel (``0.9``,
    or ``[0.9]``)."""
    if airlight is None or (isinstance(airlight, str) and airlight == "auto"):
        return None, False
    msg = f"airlight must be None ('auto'), a number or a sequence of {channels} numbers, got {airlight!r}"
    if _holds_bool(airlight):  # (numpy reads [0.9, True, 0.9] as floats: True would pass as 1.0)
        raise TypeError(msg)
    try:
        raw = np.asarray(plain_data(airlight, "airlight"))  # (a torch tensor, also one that requires grad)
        # bool would pass as 1.0, complex lose its imaginary part, a string or timedelta be read as a number,
        # None become NaN
        if raw.dtype.kind not in "iufO" or (raw.dtype.kind == "O" and any(v is None for v in raw.ravel())):
            raise TypeError(msg)
        arr = raw.astype(np.float64)
    except (TypeError, ValueError, RuntimeError) as exc:  # (RuntimeError: a list of tensors needing grad)
        raise TypeError(msg) from exc
    one = arr.size == 1 and arr.ndim <= 1  # (a number, or [a number]: the same for every channel)
    if one:
        arr = np.full(channels, float(arr.reshape(())))
    if arr.shape != (channels,):
        wanted = f"a number or {channels} values (one per channel)" if channels > 1 else "one number (one channel)"
        raise ValueError(f"airlight must be {wanted}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("airlight contains NaN or infinite values")
    if float(np.abs(arr).max()) > _FLOAT32_MAX:  # the airlight map comes back in float32
        raise ValueError(f"airlight {arr.tolist()} is beyond the float32 range of the results")
    return arr, one


def _as_fraction(values: np.ndarray, vr: ValueRange) -> bool:
    """Whether an airlight of ``values`` (the image's units) looks meant as a fraction of the brightest value:
    positive, at most 1, and nearly black on an image that reaches far above 1 (within 5 % of the range above
    its black level, 0 or its darkest negative value: on data with negative offsets 0 or 1 may be well above
    black, and a negative value is no fraction)."""
    top, black = float(values.max()), min(0.0, vr.lo)
    return 0.0 < top <= 1.0 < 0.5 * vr.hi and top - black <= 0.05 * (vr.hi - black)


def _airlight_arg(airlight: Any, channels: int, vr: ValueRange) -> tuple[np.ndarray | None, bool]:
    """The user's airlight colour as ``(C,)`` float64 in the input's units (validated), or ``None``; and
    whether it was given as one number for every channel."""
    arr, one = _airlight_read(airlight, channels)
    if arr is None:
        return None, False
    if _below_black(arr, vr.lo):
        raise ValueError(f"airlight must be brighter than the image's black level ({vr.lo}), got {arr.tolist()}")
    shown = float(arr[0]) if np.ndim(airlight) == 0 else arr.tolist()  # (as given: a number, or per channel)
    if float(arr.min()) > vr.hi + 4 * (vr.hi - vr.lo):  # e.g. 255 on a 0..1 float image
        warn(
            f"dehaze: airlight {shown} is far brighter than the image "
            f"(its values go up to {vr.hi:g}); the haze model then makes the clean image nearly black. The "
            "airlight is in the image's units"
        )
    elif float(arr.max()) > vr.possible[1]:  # e.g. 300 on a uint8 image
        warn(
            f"dehaze: airlight {shown} is above what the image's values can reach ({vr.possible[1]:g}); the "
            "clean image comes out darker than it could be. The airlight is in the image's units"
        )
    if _as_fraction(arr, vr):  # e.g. 0.9 on a uint8 image: most likely meant as a fraction
        floor = vr.lo + AIRLIGHT_FLOOR * (vr.hi - vr.lo)
        raised = f" (values below {floor:g}, {AIRLIGHT_FLOOR:.1%} of the range, are raised to it)"
        warn(
            f"dehaze: airlight is in the image's units (its values go up to {vr.hi:g}), so airlight="
            f"{shown} is nearly black"
            + (raised if float(arr.min()) < floor else "")
            + "; for a fraction of the brightest value, multiply it by the image's maximum"
        )
    return arr, one


def _rerange(img: np.ndarray, vr: ValueRange, lo: float, hi: float) -> tuple[np.ndarray, ValueRange]:
    """``img`` (normalised for ``vr``) normalised for the wider range ``[lo, hi]`` instead, and that range."""
    if (lo, hi) == (vr.lo, vr.hi) or hi <= lo:
        return img, vr
    scale, offset = (vr.hi - vr.lo) / (hi - lo), (vr.lo - lo) / (hi - lo)
    wider = ValueRange(lo, hi, vr.gray, vr.possible)
    return (img * np.float32(scale) + np.float32(offset)).astype(np.float32), wider


def _physical_range(img: np.ndarray, vr: ValueRange) -> tuple[np.ndarray, ValueRange]:
    """Re-normalise so that 0 stays 0 (light intensities): the haze model and its dark channel prior need
    the true black level, which min-max normalisation would move. Negative values (a subtracted background's
    noise, or data on a negative offset) have no such meaning: the darkest value is black then, with a word."""
    if vr.lo < -1e-4 * (vr.hi - vr.lo):  # (not rounding noise of a resampled image: -1e-7 on a 0-1 range)
        warn(
            f"dehaze: the image has negative values (down to {vr.lo:g}); the haze model is one of light "
            "intensities, 0 = black, so its darkest value is taken as black. If the data sit on an offset, shift "
            "them so that black is 0 first"
        )
    return _rerange(img, vr, min(0.0, vr.lo), vr.hi)


def _empty_channels(image: torch.Tensor) -> torch.Tensor:
    """``(C,)`` bool: the channels of a normalised ``(C, H, W)`` image that are dark and flat (e.g. the blue of a
    two-colour image stored as RGB)."""
    return Hz._flat_channels(image) & (image.reshape(image.shape[0], -1).mean(dim=1) <= EMPTY_LEVEL)


def _check_saturation(clean: torch.Tensor, image: torch.Tensor, vr: ValueRange, short_budget: bool) -> None:
    """Warn when the clean image came out saturated and the image sits on an offset (see SATURATED_SHARE): the
    result's look, not the input's, tells an offset from dense haze, which a crop of a real photo can mimic.

    Per channel, leaving out empty ones (a two-colour image stored as RGB): the darkest value is a low
    quantile (a dead pixel or a zero border does not hide an offset), and pixels already at the top in the
    image (an overexposed sky) do not count as saturated by the run."""
    chans = image.reshape(image.shape[0], -1)
    keep = ~_empty_channels(image)
    if not bool(keep.any()):
        return
    x = chans[keep]
    sample = x[:, :: max(1, x.shape[1] // 65536)]  # (quantiles sort)
    low = torch.quantile(sample.float(), 0.001, dim=1)
    high = x.max(dim=1).values
    if bool((high - low <= 1e-6).all()):  # (a constant image has a warning of its own)
        return
    ratio = low / high.clamp_min(1e-12)
    worst = int(ratio.argmin())
    if float(ratio[worst]) <= OFFSET_LEVEL:
        return
    top = high.view(-1, 1, 1)
    # already at the top in the image: not the run's doing (within a thousandth of the channel's own span: of
    # the brightest value, every pixel of data on a large offset, 60000-60050, was "at the top")
    at_top = (image[keep] >= top - 1e-3 * (high - low).view(-1, 1, 1)).all(dim=0)
    saturated = (clean[keep] >= 1 - 1e-3).all(dim=0) & ~at_top
    share = float(saturated.float().mean())
    if share > SATURATED_SHARE:
        def units(v: torch.Tensor) -> str:
            return f"{vr.lo + float(v) * (vr.hi - vr.lo):g}"

        warn(
            f"dehaze: the clean image is saturated on {share:.0%} of its pixels, and the image's darkest values "
            f"({units(low[worst])}) are {float(ratio[worst]):.0%} of its brightest ({units(high[worst])}). Data "
            "on an offset (a camera's black level, a background) read as dense, uniform haze, as dehazing takes "
            "0 as black: subtract the offset first"
            + (". Dense haze itself may need more iterations (leave them to the default)" if short_budget else "")
        )


def _airlight_at(a: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The airlight DIP's ``(N, C, 16, 16)`` map at the working size ``size``, as the fit sees it and the
    results use it (one interpolation for both: an antialiased resize for the results, where a side of the
    working size is under 16 px, gave a map up to 0.03 off the fitted one, amplified by 1/t in the clean image)."""
    return F.interpolate(a, size=size, mode="bilinear", align_corners=False)


def finish(
    full: torch.Tensor, t_low: torch.Tensor, a_low: torch.Tensor, radius: int, eps: float = 1e-2
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full-resolution output from the haze model: ``(clean (C,H,W), t (1,H,W), A (C,H,W))``.

    ``t`` is brought to full size by guided upsampling on the grey input (edges from the full-resolution image),
    clipped to ``[T_MIN, 1]``; ``A`` is upsampled bilinearly (it is smooth); ``J = (I - (1 - t) A) / t``.
    """
    size = tuple(full.shape[-2:])
    guide = full.mean(dim=0, keepdim=True)
    if tuple(t_low.shape[-2:]) == size:
        t = guided_filter(guide, t_low, radius, eps)
    else:
        t = guided_upsample(guide, t_low, radius, eps)
    t = t.clamp(T_MIN, 1.0)
    a = resize(a_low, size).clamp(0, 1)
    return Hz.recover(full, t, a, T_MIN), t, a


@task_function
def dehaze(
    image: Any,
    airlight: Any = None,
    *,
    transmission_prior: str = "auto",
    iterations: int | None = None,
    max_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    preset: str = "default",
    precision: str = "auto",
    stop: StopRequest = None,
) -> Generator[Progress, None, DehazeResult]:
    """Remove haze with Double-DIP, recovering a transmission map and a non-uniform airlight map.

    The image is modelled as ``I = t * J + (1 - t) * A`` (paper Eq. 8), ``J`` the haze-free image, ``t`` the
    transmission and ``A`` a smooth airlight map, each produced by a DIP. The initial global airlight is estimated
    with the dark channel prior (mean colour of the 0.1 % pixels with the brightest dark channel, He et al. 2011)
    unless ``airlight`` is given. The output is the haze model inverted at full resolution with the recovered
    ``t`` (guided-filter refined, at least 0.1) and ``A``, so detail is kept even when the optimisation ran at a
    smaller working size. Grey and multichannel images (e.g. fluorescence with out-of-focus background) work too;
    values are treated as light intensities (0 = black).

    Parameters
    ----------
    image
        ``(H, W)`` or ``(H, W, C)`` array (C <= 4), any numeric dtype.
    airlight
        Initial airlight colour in the image's units (not a fraction: 230, not 0.9, for a uint8 image; a value
        <= 1 that is nearly black for the image, within 5 % of its range, warns; one darker than most of the
        image warns too): a number or one value per channel; ``None`` (or ``"auto"``) =
        estimated. One brighter than the image's brightest pixel is kept as given (the value range of the results
        then reaches up to it). A single number is used for the channels with content; an empty one (flat and
        dark: the unused blue of a two-colour image stored as RGB) gets a black airlight, as the estimate gives
        it, so that it does not read as haze-free.
    transmission_prior
        Where the transmission starts (the DIP refines it, but keeps much of its level): ``"dark channel"``
        (He et al. 2011: assumes a black pixel in every patch, so it under-estimates ``t`` on bright scenes),
        ``"haze lines"`` (Berman et al. 2016, RGB only: assumes some haze-free pixel of every colour, so it
        over-estimates ``t`` in dense haze) or ``"auto"``: the dark channel for dense haze, non-RGB images and
        ``preset="reference"``, otherwise the mean of the two (see :data:`LIGHT_HINT_LINES`).
    iterations, max_size, device, seed, preset, precision, stop, progress
        As in :func:`napari_doubledip.segment`. ``iterations=None``: 200, or 400 for dense haze.

    Returns
    -------
    DehazeResult

    Notes
    -----
    Dense haze (the dark-channel transmission averages below 0.3) is fitted for 400 steps with the airlight map
    held to the estimate; ``r.params["haze"]`` says which setting ran. On Dense-HAZE this measured 12.08 →
    13.87 dB when adopted (README, "Evaluation"), on lighter haze worse. On lighter haze the transmission hint
    of an RGB image averages the dark channel's with the haze lines' of Berman et al. (2016), which does not
    assume dark scene patches (RESIDE 22.3 dB against 19.0 with the dark channel alone): see
    :data:`LIGHT_HINT_LINES`.
    ``r.params["t_hint"]`` says which hint ran; ``transmission_prior="dark channel"`` is the better choice for
    scenes with dark patches everywhere (the demo's varying-airlight hazy image: 22.1 against 20.3 dB).

    Examples
    --------
    >>> import numpy as np, napari_doubledip as dd
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.random((32, 32, 3)) * 0.5
    >>> t = np.linspace(0.4, 0.9, 32)[:, None, None]
    >>> hazy = t * scene + (1 - t) * 0.9
    >>> r = dd.dehaze(hazy, iterations=10)
    >>> r.clean.shape, r.transmission.shape
    ((32, 32, 3), (32, 32))
    """
    img, vr = as_image(image, "image")
    seed = check_seed(seed)
    _check_prior(transmission_prior, img.shape[-1])
    img, vr = _physical_range(img, vr)
    a_user, one = _airlight_arg(airlight, img.shape[-1], vr)
    # what was asked, validated, in the image's units (a number stays one; any numeric type becomes a float)
    asked = "estimated" if a_user is None else (float(a_user[0]) if np.ndim(airlight) == 0 else a_user.tolist())
    said = a_user is not None and _as_fraction(a_user, vr)  # (warned as a fraction already)
    if a_user is not None:
        # An airlight brighter than the image's brightest pixel widens the range (rather than being clipped to
        # it); the outputs come back in that range too, so the airlight is represented exactly.
        img, vr = _rerange(img, vr, vr.lo, max(vr.hi, float(a_user.max())))
        a_user = np.clip((a_user - vr.lo) / (vr.hi - vr.lo), AIRLIGHT_FLOOR, 1.0).astype(np.float32)
        if one and a_user.size > 1:
            # One number for every channel: an empty channel (dark and flat, e.g. the blue of a two-colour image
            # stored as RGB) gets a black airlight, as the estimate gives it: with the number it would read as
            # haze-free everywhere (its dark channel 0) and the prior would see no haze at all.
            empty = _empty_channels(torch.from_numpy(np.ascontiguousarray(np.moveaxis(img, -1, 0)))).numpy()
            if empty.any() and not empty.all():
                a_user[empty] = AIRLIGHT_FLOOR
        brightest = float(np.median(img.max(axis=-1)))
        if float(a_user.max()) < 0.9 * brightest and not said:  # (a margin: an airlight at the median is fine)
            warn(
                f"dehaze: airlight {asked} is darker than half of the image (the median of its brightest channel "
                f"is {vr.lo + brightest * (vr.hi - vr.lo):g}); the haze model then saturates much of the clean "
                "image. The airlight is the colour of the haze far away, about as bright as the haziest region"
            )
    its = check_iterations(iterations, DEFAULTS["iterations"])
    ms = resolve_max_size(max_size, DEFAULTS["max_size"], img.shape, preset)
    dev = resolve_device(device)
    check_precision(precision)
    params = dict(
        airlight=asked,
        max_size=ms,
        device=str(dev),
        seed=seed,
        preset=preset,
    )
    full = to_tensor(img[None], dev)  # (1, C, H, W)
    size = tuple(full.shape[-2:])
    ws = working_shape(size, ms)
    work = resize(full, ws)
    r_work = Hz.patch_radius(ws)
    if a_user is None:
        a0 = Hz.estimate_airlight(full[0], Hz.patch_radius(size))
    else:
        a0 = torch.from_numpy(a_user).to(dev)

    def refine(t: torch.Tensor) -> torch.Tensor:  # a transmission estimate, guided by the image's edges
        return guided_filter(work[0].mean(dim=0, keepdim=True), t, 4 * r_work, 1e-3).clamp(T_MIN, 1)

    t_hint = refine(Hz.dcp_transmission(work[0], a0, r_work))
    # Dense haze (low transmission throughout) is fitted longer, with the airlight held (see DEFAULTS).
    dense = preset == "default" and float(t_hint.mean()) < DENSE_T
    if transmission_prior == "auto":
        rgb = work.shape[1] == 3
        w_lines = LIGHT_HINT_LINES if preset == "default" and not dense and rgb else 0.0
    else:
        w_lines = 1.0 if transmission_prior == "haze lines" else 0.0
    if w_lines > 0:
        t_hint = (1 - w_lines) * t_hint + w_lines * refine(Hz.haze_lines_transmission(work[0], a0))
    params["transmission_prior"] = transmission_prior
    hint_names = {0.0: "dark channel", 1.0: "haze lines"}
    params["t_hint"] = hint_names.get(float(w_lines), "dark channel + haze lines")
    if dense and iterations is None:
        its = DEFAULTS["iterations_dense"]
    params["haze"] = "dense" if dense else "default"
    weights = DENSE_WEIGHTS if dense else WEIGHTS
    task = build_task(work, a0, its, t_hint=t_hint[None], weights=weights)
    task = apply_preset(task, preset, iterations, precision)
    params["precision"] = precision
    params["iterations"] = task.iterations
    refine = max(1, 2 * r_work)

    shown_size = preview_shape(size, PREVIEW_PIXELS)  # live previews of a large image at about 1 MP
    shown = full if shown_size == size else resize(full, shown_size)

    def preview(out):  # (the guided upsampling's radius is in working-size pixels: the same as the final's)
        j, t, a = finish(shown[0], out["transmission"][0], _airlight_at(out["airlight"], ws)[0], refine)
        return {
            "clean": vr.restore(to_numpy(j[None])[0]),
            "transmission": t[0].cpu().numpy(),
            "airlight": vr.restore(to_numpy(a[None])[0]),
        }

    task.preview = preview
    sol = yield from optimise(task, device=dev, seed=seed, stop=stop)
    a_low = _airlight_at(sol.outputs["airlight"], ws)[0]
    j, t, a = finish(full[0], sol.outputs["transmission"][0], a_low, refine)
    if not sol.stopped:  # (a stopped run is as far as it got: saturated early on, by no fault of the data)
        # (the advice to leave the budget to the default only where it is below the default for this haze)
        default = DEFAULTS["iterations_dense"] if dense else DEFAULTS["iterations"]
        _check_saturation(j, full[0], vr, iterations is not None and task.iterations < default)
    a0_out = (a0.detach().cpu().numpy().astype(np.float64) * (vr.hi - vr.lo) + vr.lo).astype(np.float32)
    return DehazeResult(
        clean=vr.restore(to_numpy(j[None])[0]),
        transmission=t[0].cpu().numpy().astype(np.float32),
        airlight=vr.restore(to_numpy(a[None])[0]),
        airlight_init=a0_out,
        **run_info(sol, params, dev),
    )


@task_function
def dehaze_frames(
    frames: Any,
    airlight: Any = None,
    *,
    transmission_prior: str = "auto",
    iterations: int | None = None,
    max_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    preset: str = "default",
    precision: str = "auto",
    stop: StopRequest = None,
) -> Generator[Progress, None, DehazeResult]:
    """:func:`dehaze` every frame of a stack (a hazy Z-stack or time-lapse), one frame after the other.

    Each frame is dehazed on its own, exactly as ``dehaze(frames[i], ...)`` with the same arguments and seed
    would (its own airlight estimate, transmission and haze setting: haze differs from plane to plane), and
    the run is reported as one: progress counts all frames' iterations, the live preview is the whole stack
    (frames not reached yet are NaN), a warning is given once for the stack (naming the first frame it came
    from), and a stop ends the current frame with its best result so far.

    Parameters
    ----------
    frames
        ``(T, H, W)`` or ``(T, H, W, C)`` array (C <= 4) or a sequence of frames, any numeric dtype. Every frame
        is dehazed in its own value range, and the results come back in the stack's units.
    airlight, transmission_prior, iterations, max_size, device, seed, preset, precision, stop, progress
        As in :func:`dehaze`, the same for every frame.

    Returns
    -------
    DehazeResult
        ``clean`` and ``airlight`` shaped like ``frames``, ``transmission`` ``(T, H, W)``, ``airlight_init``
        ``(T, C)``. After a stop, the frames not reached are NaN, ``stopped`` is true and
        ``params["frames_run"]`` says how many frames ran. ``iterations`` and ``elapsed`` are totals;
        ``params`` entries that differ between frames (e.g. ``"haze"``) are lists, one value per frame.

    Examples
    --------
    >>> import numpy as np, napari_doubledip as dd
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0.4, 0.9, 32)[:, None]
    >>> planes = np.stack([t * rng.random((32, 32)) * 0.5 + (1 - t) * 0.9 for _ in range(3)])
    >>> r = dd.dehaze_frames(planes, iterations=5)
    >>> r.clean.shape, r.transmission.shape, r.iterations
    ((3, 32, 32), (3, 32, 32), 15)
    """
    from .frames import each_frame

    # the options that need no pixels first: a lazy stack is loaded only for a run that can start (each frame's
    # own call checks them all again, with its pixels)
    check_seed(seed)
    _check_prior(transmission_prior)
    check_before_loading(iterations, max_size, preset)
    resolve_device(device)
    check_precision(precision)
    refuse_napari(frames, "frames")  # (multiscale data's shape is its first level's: not read as a stack)
    frames = listed(frames)  # (an iterator read once, as a list: checked like one)
    shape = getattr(frames, "shape", None)
    if shape is not None and _lazy(frames) and _lazy_shape(frames) is None:
        # lazy data of unknown frame count (NaN in its shape, e.g. a dask stack filtered by a condition): read
        # to know it, as the video functions do
        frames = loaded(frames)
        shape = frames.shape
    if shape is not None and not isinstance(frames, (list, tuple)):
        # the layout first (its advice, e.g. for one (H, W, C) image), then what depends on the channel count
        gray = _frames_layout(tuple(int(n) for n in shape), "frames", 1)
        warn_frames_reading(frames, tuple(shape))
        channels = 1 if gray else int(shape[-1])
        _check_airlight_frames(frames, _airlight_values(airlight, channels))
        _check_prior(transmission_prior, channels)
    elif isinstance(frames, list) and _plain_frames(frames):
        # (a list of frames: the airlight against every frame's black level before any runs, as for an array;
        # frames of another layout or of several shapes are left to the frames' own checks, which say so)
        first = frames[0]
        _check_airlight_frames(frames, _airlight_values(airlight, 1 if first.ndim == 2 else int(first.shape[-1])))
    kwargs = dict(
        airlight=airlight, iterations=iterations, max_size=max_size, device=device, seed=seed, preset=preset,
        precision=precision, transmission_prior=transmission_prior,
    )
    return (yield from each_frame(dehaze.steps, frames, kwargs, stop=stop))
