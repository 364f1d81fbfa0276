"""Transparent-layer separation (paper Sec. 4, Eq. 2 with a uniform mask, and Eq. 6 for several mixtures)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .._validation import WARNING_SINK, as_images, check_iterations, check_seed, listed, warn, working_shape
from ..solver import losses as L
from ..solver.device import check_precision, resolve_device
from ..solver.engine import DIP, Progress, StopRequest, Task, Term, _stop_requested, optimise, window
from ..solver.filters import box_filter, gaussian_blur, noise_level, resize
from ..solver.networks import NetConfig
from ..solver.presets import apply_preset, planned_iterations
from ._common import (
    SETUP_REPORT_SECONDS,
    RunInfo,
    StageReports,
    always_stop,
    resolve_max_size,
    run_info,
    task_function,
    to_numpy,
    to_tensor,
)

__all__ = ["LayersResult", "separate_layers", "estimate_alphas", "DEFAULTS", "alpha_dip", "mix"]

#: ``iterations``: one mixture; ``iterations_mixtures``: two or more, where the coefficients come from
#: :func:`estimate_alphas` and the layers are exact given them (``benchmarks/mixture_coefficients.py``).
DEFAULTS = {"iterations": 600, "iterations_mixtures": 200, "max_size": 128}

#: Layer DIPs: 4 levels with skips at the two coarsest (a narrower version of the paper's 5-level net).
LAYER_NET = NetConfig(channels=(16, 32, 64, 64), skip=(0, 0, 4, 4), kernel=3, in_channels=8)
#: Layer DIPs of the one-mixture case: half as wide, twice as fast. Measured 2026-12-03 (``docs/measurements.md``):
#: synthetic mixture seeds 0-4 mean 15.87 vs 14.86 dB; the 10 real one-image cases at 128 px, seeds 0 / 1,
#: transmission PSNR 13.81 / 14.36 vs 14.50 / 13.98, SSIM 0.366 / 0.372 vs 0.391 / 0.394, reflection PSNR
#: 14.68 / 14.92 vs 15.68 / 14.71; 13-15 s a case instead of 24-26.
SINGLE_NET = NetConfig(channels=(8, 16, 32, 32), skip=(0, 0, 4, 4), kernel=3, in_channels=8)
#: Mixing-coefficient DIP: a small net on a small noise image, averaged to one value per mixture.
ALPHA_NET = NetConfig(channels=(8, 16), skip=(0, 0), kernel=3, in_channels=4)
ALPHA_SIZE = (16, 16)
#: One mixture: learning rate and exclusion-loss weight, and restarts (the engine's multi-start: candidates run
#: the first ``restart_until`` of the iterations, the one with the least exclusion loss goes on). Three restarts
#: measured 2026-12-03 (docs/measurements.md): synthetic mixture +0.6 dB over 10 seeds (worst seed 12.2 -> 14.2),
#: the 10 real cases level to slightly worse (seeds 0 and 1), 1.33x the time: not the default.
SINGLE = {"lr": 0.01, "exclusion": 0.01, "restarts": 1, "restart_until": 1 / 6}
#: The coefficient DIP's outputs live in [ALPHA_MIN, 1 - ALPHA_MIN] so that neither layer can vanish from a
#: mixture (the estimate of several mixtures' coefficients, which a run returns, spans [0, 1]).
ALPHA_MIN = 0.05
#: :func:`estimate_alphas` gives up on a pair of mixtures when its best score is above this fraction of the
#: median score, and tries the next most different pair, up to ``PAIRS_TRIED`` pairs.
FLAT_SCORE = 0.95
PAIRS_TRIED = 6
#: ... and, while each of those pairs has its best at an end (see there: several unrelated images in a set), up
#: to this many.
PAIRS_MAX = 45
#: A deciding pair whose best score is above this fraction of its median determines the coefficients poorly:
#: warned about. Measured (`benchmarks/warning_thresholds.py --mixtures`, 0.3/0.7 and 0.2/0.55 mixtures):
#: photographs 0.30-0.68, scikit-image's brick / grass / gravel pairs 0.79-0.84 (coefficients within 0.04), but
#: grass / gravel 0.89-0.91 (0.80 / 0.99 for 0.3 / 0.7), smoothed random noise 0.87-0.90 (one coefficient 0.00
#: for 0.3, or 0.53 / 0.89 for 0.3 / 0.7).
UNCERTAIN_SCORE = 0.85
#: Mixtures whose coefficients span less than this are un-mixed with a gain of 1 / span, which multiplies noise
#: and any error of the estimate: warned about (same script: a reflection at 2.5 % and 5 %, layers 0.25-0.29
#: RMS off; at 7.5 % and 15 %, 0.001-0.013).
MIN_SPAN = 0.05
#: A mixture of a set whose residual under the two estimated layers exceeds this fraction of its own structure
#: (its deviation from its mean) is not a mixture of them (blank, constant, another picture): left out, NaN.
#: Measured: 0 for exact synthetic mixtures, <= 0.01 on the four real-photo mixtures of the evaluation set,
#: 0.11-0.15 on its 20-frame set (one background under changing reflections); blank / constant / unrelated 10^2 and
#: more.
OFF_MODEL = 0.5
#: Independent noise in each mixture (a camera's) biases :func:`estimate_alphas`: the un-mixed layers' noise
#: overlaps everywhere, and how much of it each candidate keeps varies (two mixtures at 0.3 / 0.7 with noise of
#: 2 % of the range read as 0.34 / 0.82 at 64 px). Each searched pair is blurred by ``NOISE_BLUR_PER_SIGMA``
#: pixels per unit of white noise (:func:`~napari_doubledip.solver.filters.noise_level`, which reads mixtures
#: of noise-free photographs and textures as 0.000-0.003: no blur under 0.3 px), the noise measured at the
#: size the estimate is given and scaled to the search's size (a shrunk image holds less of it); at most
#: ``NOISE_BLUR_MAX`` px at 64 px rising to 1.5 px at 128, none below 64 px, where blurring lost the pictures'
#: structure (with a first noise measure, mean error at 48 px 0.08 -> 0.13). Chosen on
#: ``benchmarks/mixture_coefficients.py --noise``; a one-scale noise measure took fine texture (brick, gravel)
#: for noise, and the blur cost those mixtures 0.03-0.04.
NOISE_BLUR_PER_SIGMA = 100.0
NOISE_BLUR_MAX = 1.0
#: Under 64 px, where the noise is not compensated, mixtures whose noise reads at least this are warned about
#: (``benchmarks/mixture_coefficients.py --estimate-only --size 48 --seeds 0,1,2``: noise of 1 % / 2 % of the
#: range, coefficients up to 0.06 / 0.21 off; the grey sets read 0.012-0.014 / 0.021-0.025, noise-free sets
#: 0.000; colourful sets often read 0 and are not warned about).
NOISY_SMALL = 0.008


def layer_values(raw: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    """A layer network's sigmoid output mapped to the layers' value range ``bounds``."""
    b0, b1 = bounds
    return raw if (b0, b1) == (0.0, 1.0) else b0 + (b1 - b0) * raw


def alpha_dip(instances: int) -> DIP:
    """The coefficient DIP: one scalar per mixture (or frame), each from its own noise input."""
    return DIP(1, ALPHA_NET, instances=instances, size=ALPHA_SIZE, scalar=True, noise_scale=1.0)


def mix(alpha_raw: torch.Tensor) -> torch.Tensor:
    """Map the coefficient DIP's sigmoid output to the mixing coefficient range."""
    return ALPHA_MIN + (1 - 2 * ALPHA_MIN) * alpha_raw


def _gradient_overlap(gi: torch.Tensor, gj: torch.Tensor, ai: torch.Tensor, aj: torch.Tensor) -> torch.Tensor:
    """Scale-free overlap of the two layers' gradients for candidate coefficients ``(ai, aj)`` (each ``(K,)``).

    ``gi, gj``: one gradient field ``(C, H, W)`` of the two mixtures. Inverting the 2x2 mixing gives the layers
    up to scale, ``L1 ~ (1 - aj) Mi - (1 - ai) Mj`` and ``L2 ~ aj Mi - ai Mj``, and gradients are linear, so each
    candidate costs two weighted sums. Returns ``mean|g1||g2| / sqrt(mean g1^2 mean g2^2)`` per candidate.
    """
    k = (-1, 1, 1, 1)
    g1 = (1 - aj).view(k) * gi - (1 - ai).view(k) * gj
    g2 = aj.view(k) * gi - ai.view(k) * gj
    num = (g1.abs() * g2.abs()).mean(dim=(1, 2, 3))
    e1, e2 = g1.square().mean(dim=(1, 2, 3)), g2.square().mean(dim=(1, 2, 3))
    score = num / ((e1 * e2).sqrt() + 1e-20)
    # A layer without structure (a blank or constant mixture taken as one layer alone: coefficient 0 or 1)
    # overlaps nothing, a degenerate minimum: scored as full overlap.
    floor = 1e-8 * float(gi.square().mean() + gj.square().mean())
    return torch.where((e1 <= floor) | (e2 <= floor), torch.ones_like(score), score)


def _pair_score(
    mi: torch.Tensor, mj: torch.Tensor, ai: torch.Tensor, aj: torch.Tensor, levels: int = 3
) -> torch.Tensor:
    """Mean :func:`_gradient_overlap` over x/y gradients at ``levels`` scales, in chunks of candidates."""
    total = torch.zeros_like(ai)
    for level in range(levels):
        for gi, gj in zip(L._gradients(mi), L._gradients(mj), strict=True):
            for c in range(0, ai.numel(), 256):
                total[c : c + 256] += _gradient_overlap(gi, gj, ai[c : c + 256], aj[c : c + 256])
        if level + 1 < levels:
            mi, mj = F.avg_pool2d(mi[None], 2)[0], F.avg_pool2d(mj[None], 2)[0]
    return total / (2 * levels)


#: Long side at which :func:`estimate_alphas` searches its fine grid (and at least the size it is given).
ESTIMATE_SIZE = 128


def estimate_alphas(
    mixtures: torch.Tensor | Any, coarse_size: int = 64, fine_size: int = ESTIMATE_SIZE
) -> torch.Tensor | None:
    """Mixing coefficients of ``N >= 2`` mixtures of the same two layers, without a network.

    The coefficients are those whose layers (the mixtures un-mixed by them) have the least overlapping
    gradients: edges belong to one layer, the assumption behind the exclusion loss. The score (see
    :func:`_gradient_overlap`) is searched on a 0.02 grid over ``[0, 1]`` (a mixture may be one layer alone:
    searched over ``[0.05, 0.95]`` before 2026-12-06, coefficients 0 and 1 came out 0.05 and 0.95) for the two
    most different mixtures at ``coarse_size``, then on a 0.002 grid around the best at ``fine_size``; the other
    mixtures' coefficients are fitted to the two recovered layers by least squares. The pair's order fixes
    which layer is ``layer1``: its coefficient is the larger in the later of the two mixtures.

    On the synthetic sets of ``benchmarks/mixture_coefficients.py`` (RGB and grey; 0.3/0.7, 0.2/0.55, 0.45/0.85,
    0.2/0.5/0.8) the estimate is within 0.01 of the truth (0.1-1.8 s at 128 px), and on the four real-photo
    mixtures of the evaluation set within 0.01 of the file names' weights. Tiny images are less certain: the
    RGB sets at 48 px came out up to 0.04 off (within 0.01 at 32, 64 and 96 px). Independent noise in the
    mixtures is measured and the searched pairs blurred by it (see ``NOISE_BLUR_PER_SIGMA``): with noise of 2 %
    of the range, within 0.044 at 64 px and 0.03 at 128 px (0.15 and 0.05 without); under 64 px no blur.

    Parameters
    ----------
    mixtures
        ``(N, C, H, W)`` tensor (``C <= 4``, ``W > 4``), or mixtures as :func:`separate_layers` takes them (a
        sequence, or an ``(N, H, W[, C])`` array or tensor in any numeric dtype). Values are normalised as
        :func:`separate_layers` normalises them (one range for the set), so any container, offset or scale of
        the same mixtures gives the same coefficients.
    coarse_size, fine_size
        Long side at which the coarse grid and the fine grid are searched (the mixtures are resized to it).

    Returns
    -------
    torch.Tensor or None
        ``(N,)`` coefficients of ``layer1`` (a CPU tensor without gradient; ``layer1`` is the layer the first
        mixture not left out holds less of, so its coefficient is at most 0.5), NaN for a mixture that the two
        layers do not make (its residual above ``OFF_MODEL`` of its own structure: a blank, constant or other
        picture in the set); ``None`` when the mixtures do
        not determine them: they are (nearly) identical, or the best score of every pair tried is within
        ``FLAT_SCORE`` of the median (e.g. one mixture is the other dimmed). A pair whose score is flat, or
        whose best lies at an end of ``[ALPHA_MIN, 1 - ALPHA_MIN]``, gives way to the next most different one
        (up to ``PAIRS_TRIED``, or ``PAIRS_MAX`` while every deciding pair has its best at an end), and a
        mixture without structure pairs with nothing: a blank, constant or unrelated extra image (the most
        different from the others) does not spoil a set. The score's minimum is
        0.26-0.77 of its median on the synthetic and real mixtures above, 1.00 for identical or dimmed copies.
    """
    # Whatever the container, the values are normalised as separate_layers normalises them (one range for the
    # set: an affine map keeps every mixture a mixture with the same coefficients), so that the two agree; a
    # tensor is read channels-first only in the (N, C<=4, H, W) layout, anything else as separate_layers reads
    # it ((N, H, W[, C]), any numeric dtype).
    m = mixtures
    if isinstance(m, torch.Tensor):
        m = m.detach().cpu()
        if m.ndim == 4 and m.shape[1] <= 4 < m.shape[-1]:
            m = m.permute(0, 2, 3, 1)
    stack, _vr, _single = as_images(m, "mixtures", min_count=2)
    return _estimate_alphas(torch.from_numpy(stack).permute(0, 3, 1, 2), coarse_size, fine_size)


def _estimate_alphas(
    m: torch.Tensor, coarse_size: int = 64, fine_size: int = ESTIMATE_SIZE, info: dict | None = None
) -> torch.Tensor | None:
    """:func:`estimate_alphas` of normalised ``(N, C, H, W)`` mixtures, on their device (``info``, if given,
    receives the deciding pair's score minimum over its median, ``"score_ratio"``, and ``"cut_short"`` from
    :func:`_estimate_steps`)."""
    steps = _estimate_steps(m, coarse_size, fine_size, info)
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def _estimate_steps(
    m: torch.Tensor, coarse_size: int = 64, fine_size: int = ESTIMATE_SIZE, info: dict | None = None
) -> Generator[tuple[int, int], bool | None, torch.Tensor | None]:
    """:func:`_estimate_alphas` as a generator that yields ``(pair, pairs)`` before each pair of mixtures it
    scores (up to ``PAIRS_MAX`` of them, about 0.05-0.3 s each on a CPU): where a run reports. Sent ``True``
    there, it scores no further pair and finishes with what it found; the first (most different) pair, which
    decides alone in most sets, is always scored: a run stopped at once still has its coefficients."""
    m = m.float()
    n = m.shape[0]
    flat = m.flatten(1)
    dist = torch.cdist(flat, flat)
    tiny = 1e-3 * float(flat.norm(dim=1).max())  # (nearly) identical mixtures: nothing to un-mix
    lo, hi = 0.0, 1.0  # (a mixture may be one layer alone: a shot without the reflection)
    g = torch.arange(lo, hi + 1e-6, 0.02, dtype=m.dtype, device=m.device)
    ai, aj = torch.meshgrid(g, g, indexing="ij")
    keep = aj > ai + 0.03  # a_i == a_j cannot be un-mixed
    ai, aj = ai[keep], aj[keep]
    # Whether a pair decides is judged inside [ALPHA_MIN, 1 - ALPHA_MIN]: at the ends a layer may be a whole
    # mixture, and any two unrelated pictures are "mixtures" (0 and 1) of two independent layers: themselves.
    inner = (ai >= ALPHA_MIN - 1e-6) & (aj <= 1 - ALPHA_MIN + 1e-6)
    ends_of = (ai[inner] <= ALPHA_MIN + 0.011).int() + (aj[inner] >= 1 - ALPHA_MIN - 0.011).int()
    # The most different pair, unless its score is flat or its inner best is at an end (a layer that is a whole
    # image: an unrelated picture in the set, or a pure layer); then the most decisive of the next ones, pairs
    # with their best at fewer ends first (a blank, constant or unrelated image in a set is the most different
    # from the others, yet determines nothing; a pair of two pure layers, both ends, still decides alone).
    found: dict[tuple[int, int], tuple[int, float, int]] = {}
    rows, cols = torch.triu_indices(n, n, offset=1, device=dist.device)
    d = dist[rows, cols]
    order = torch.argsort(d, descending=True, stable=True)  # (vectorised: a stack may hold many mixtures)
    # (a mixture without structure, blank or constant, pairs with nothing: it cannot hold a layer's edges)
    spread = (m - m.mean(dim=(2, 3), keepdim=True)).flatten(1).norm(dim=1)
    flat_one = spread <= 1e-3 * spread.max()
    # (each mixture's noise, measured for the pairs searched; the highest of its channels, as structure can only
    # hide noise from the measure, in one channel more than another)
    noise: dict[int, float] = {}

    def quieted(pair: tuple[int, int], size: int) -> torch.Tensor:
        for k in pair:
            if k not in noise:
                noise[k] = float(noise_level(m[k]).max())
        return _quieted(resize(m[list(pair)], working_shape(m.shape[-2:], size)), max(noise[k] for k in pair), m)

    order = order[(d[order] > tiny) & ~flat_one[rows[order]] & ~flat_one[cols[order]]][:PAIRS_MAX].tolist()
    for pos, (i, j) in enumerate((int(rows[k]), int(cols[k])) for k in order):
        if pos >= PAIRS_TRIED and any(ends == 0 for ends, _r, _b in found.values()):
            break  # (past PAIRS_TRIED only while every deciding pair has its best at an end)
        if (yield pos, len(order)) and pos:
            if info is not None:
                info["cut_short"] = True
            break
        small = quieted((i, j), coarse_size)
        score = _pair_score(small[0], small[1], ai, aj)
        ratio = float(score[inner].min()) / max(float(score[inner].median()), 1e-30)
        if ratio <= FLAT_SCORE:
            ends = int(ends_of[int(score[inner].argmin())])
            found[i, j] = ends, ratio, int(score.argmin())
            if pos == 0 and ends == 0:
                break  # the most different pair decides when it can
    if not found:
        return None  # no coefficients stand out (copies, or one mixture the other one dimmed)
    (i, j), (_ends, ratio, best) = min(found.items(), key=lambda item: item[1][:2])
    if info is not None:
        info["score_ratio"] = ratio
    pair = quieted((i, j), fine_size)
    if info is not None and max(pair.shape[-2:]) < 64:  # (no blur there: see _warn_uncertain)
        info["noisy_small"] = (max(noise[i], noise[j]), max(pair.shape[-2:]))
    f = torch.arange(-0.02, 0.02 + 1e-6, 0.002, dtype=m.dtype, device=m.device)
    fi, fj = torch.meshgrid(f + ai[best], f + aj[best], indexing="ij")
    keep = (fj > fi + 0.01) & (fi >= lo) & (fj <= hi)
    fi, fj = fi[keep], fj[keep]
    best = int(_pair_score(pair[0], pair[1], fi, fj).argmin())
    a_i, a_j = float(fi[best]), float(fj[best])
    # The two layers at full scale, then every mixture's coefficient by least squares: M = L2 + a (L1 - L2).
    l1 = ((1 - a_j) * m[i] - (1 - a_i) * m[j]) / (a_i - a_j)
    l2 = (a_i * m[j] - a_j * m[i]) / (a_i - a_j)
    d = (l1 - l2).flatten()
    alphas = ((m.flatten(1) - l2.flatten()) @ d) / (d @ d + 1e-20)
    alphas[i], alphas[j] = a_i, a_j
    alphas = alphas.clamp(lo, hi)
    # A mixture the two layers do not make (blank, constant, another picture): its residual is not small
    # next to its own structure (a constant one has none). NaN: left out of the un-mixing and the fit.
    resid = (m - (l2 + alphas.view(n, 1, 1, 1) * (l1 - l2))).flatten(1).norm(dim=1)
    off = resid > OFF_MODEL * spread  # (spread: each mixture's deviation from its mean, as above)
    off[i] = off[j] = False
    alphas = torch.where(off, torch.full_like(alphas, float("nan")), alphas)
    # Which layer is layer1 is a convention: the one the first mixture holds less of (the deciding pair's order
    # made it, so adding a mixture or reordering them swapped the layers and every coefficient).
    first = int(torch.nonzero(~off)[0])
    return 1 - alphas if float(alphas[first]) > 0.5 else alphas


def _quieted(pair: torch.Tensor, noise: float, full: torch.Tensor) -> torch.Tensor:
    """A pair of mixtures resized for a search, blurred against their independent noise (see
    ``NOISE_BLUR_PER_SIGMA``); ``noise``: the pair's higher noise level at the size of ``full``, the mixtures
    before resizing. One blur for both keeps them mixtures of the same (blurred) layers."""
    long = max(pair.shape[-2:])
    if long < 64:
        return pair
    at_size = noise * min(1.0, long / max(full.shape[-2:]))
    cap = NOISE_BLUR_MAX + 0.5 * min(1.0, (long - 64) / 64)
    sigma = min(cap, NOISE_BLUR_PER_SIGMA * at_size)
    return gaussian_blur(pair, sigma) if sigma >= 0.3 else pair  # (below 0.3 px a blur barely changes a pixel)


def _staged(
    steps: Generator[tuple[int, int], bool | None, Any], what: str, total: int, stop: StopRequest
) -> Generator[Progress, None, tuple[Any, bool]]:
    """Drive a set-up step's generator (it yields ``(done, count)`` between its parts): a report at most every
    ``SETUP_REPORT_SECONDS`` (``Progress.stage``), and a stop request checked between parts and sent to the
    step (``True``: finish with what you have), since a GUI worker can only be cancelled where the run yields.
    Returns ``(the step's value, whether a stop was requested)``."""
    stopped, reports = False, None
    while True:
        try:
            done, count = steps.send(stopped or None)  # (a generator's first send must be None)
        except StopIteration as end:
            return end.value, stopped
        stopped = stopped or _stop_requested(stop)
        if reports is None:
            reports = StageReports(
                what, count, 0, total, every=SETUP_REPORT_SECONDS, text="{done} of up to {count}"
            )
        if not stopped and (report := reports.after(done)) is not None:
            yield report


def _warn_uncertain(estimate: torch.Tensor | None, info: dict) -> None:
    """Warn when the estimated coefficients are poorly determined (see UNCERTAIN_SCORE and MIN_SPAN)."""
    if estimate is None:
        return  # (warned as undetermined)
    ratio = info.get("score_ratio")
    if ratio is not None and ratio > UNCERTAIN_SCORE:
        warn(
            f"separate_layers: the mixing coefficients are poorly determined: at the best ones the layers' edges "
            f"overlap {ratio:.0%} as much as at a typical guess (photographs: 30-70 %; textures without distinct "
            "edges score near 90 %), so the coefficients and layers may be wrong; mixtures that differ more "
            "help"
        )
    noisy = info.get("noisy_small")
    if noisy is not None and noisy[0] >= NOISY_SMALL:
        warn(
            f"separate_layers: the mixtures are small ({noisy[1]} px on the long side) and noisy (noise about "
            f"{noisy[0]:.1%} of their range), and under 64 px the noise is not compensated: the mixing "
            "coefficients may be off by 0.05-0.2. Denoise the mixtures first (e.g. a Gaussian blur of 1 px), or "
            "give larger images"
        )
    known = estimate[~estimate.isnan()]
    span = float(known.max() - known.min()) if known.numel() > 1 else 1.0
    if span < MIN_SPAN:
        warn(
            f"separate_layers: the mixtures differ little (coefficients {float(known.min()):.3f} to "
            f"{float(known.max()):.3f}): un-mixing them multiplies noise and errors by about "
            f"{1 / max(span, 1e-3):.0f}; the layers may be poor. Mixtures that differ more help"
        )


@dataclass(kw_only=True, eq=False, repr=False)
class LayersResult(RunInfo):
    """Result of :func:`separate_layers`.

    Besides the attributes below, every result has the run's fields of :class:`~napari_doubledip.RunInfo`
    (``params``, ``seed``, ``device``, ``iterations``, ``elapsed``, ``stopped``, ``history``, ...).

    Attributes
    ----------
    layers
        ``(layer1, layer2)``, each shaped like one input image, in the input's units (they may reach beyond
        its values: see :func:`separate_layers`' Notes).
    alphas
        ``(N,)`` coefficient of ``layer1`` in each mixture: ``I_i = a_i * layer1 + (1 - a_i) * layer2``; NaN
        for an image that is no mixture of the two layers (left out of the fit, listed in
        ``params["left_out"]``, warned). With several mixtures ``layer1`` is the layer the first one (not
        left out) holds less of: its coefficient is at most 0.5, and adding mixtures keeps the order. Where
        the mixtures do not determine them (warned) they are the DIP's and arbitrary.
    """

    layers: tuple[np.ndarray, np.ndarray]
    alphas: np.ndarray


def _lone_mixture(stack: np.ndarray) -> int | None:
    """Index of the only mixture with structure in a set of two or more whose others are blank or constant
    (each channel's deviation from its mean at most 1e-3 of the largest, as :func:`_estimate_steps` judges
    them); ``None`` otherwise."""
    if stack.shape[0] < 2:
        return None
    # (one image at a time: the whole set at once in float64 was 6x its size in temporaries)
    spread = np.array([float(np.linalg.norm(x - x.mean(axis=(0, 1), dtype=np.float64))) for x in stack])
    structured = np.flatnonzero(spread > 1e-3 * spread.max())
    return int(structured[0]) if len(structured) == 1 else None


def build_task(
    target: torch.Tensor,
    iterations: int,
    estimate: torch.Tensor | None = None,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> Task:
    """Transparency as a :class:`Task`: ``I_i = a_i * y1 + (1 - a_i) * y2`` with shared ``y1, y2``.

    The layers span ``bounds`` (:func:`layer_values` of the networks' sigmoid outputs), in the units where the
    mixtures span ``[0, 1]``: a mixture of two images spans less than either of them.

    With one mixture this is the single-image case (L1 + exclusion). With several (MSE + exclusion) the coefficient
    DIP is held to ``estimate`` (:func:`estimate_alphas` of ``target``, ``(N,)``) for the whole run; ``None``: the
    mixtures do not determine them, and spread guesses are released after 15 % of the run. Left free after a short
    pull towards fixed guesses (commit c2b0625), it drifted from the truth as the layers fitted: on the 8 synthetic
    sets of ``benchmarks/mixture_coefficients.py`` (128 px) coefficient errors up to 0.17 and 26.8-39.8 dB mean
    layer PSNR after 600 steps; held to the estimate, 42.2-65.2 dB after 200 steps.
    """
    n, c = target.shape[:2]
    net = SINGLE_NET if n == 1 else LAYER_NET
    dips = {"layer1": DIP(c, net), "layer2": DIP(c, net), "alpha": alpha_dip(n)}

    def compose(s):
        a = mix(s.out["alpha"])
        return a * layer_values(s.out["layer1"], bounds) + (1 - a) * layer_values(s.out["layer2"], bounds)

    kind = "l1" if n == 1 else "mse"
    terms = [
        Term("reconstruction", lambda s: L.reconstruction(s.pred, s.target, kind)),
        Term(
            "exclusion",
            lambda s: L.exclusion(s.out["layer1"], s.out["layer2"]),  # (bounds: the same scale for both)
            SINGLE["exclusion"] if n == 1 else 0.05,
        ),
    ]
    if n > 1:
        if estimate is not None:  # (within what the coefficient DIP can produce: an estimate may be 0 or 1)
            prior, hold = estimate.clamp(ALPHA_MIN, 1 - ALPHA_MIN).view(n, 1, 1, 1), 1.0
        else:  # undetermined: spread guesses (0.3 .. 0.7 in input order), released after 15 % of the run
            prior, hold = torch.linspace(0.3, 0.7, n, device=target.device).view(n, 1, 1, 1), 0.15

        def alpha_prior(s):
            return (mix(s.out["alpha"]) - prior[s.index]).square().mean()

        terms.append(Term("alpha_prior", alpha_prior, window(1.0, 0.0, hold)))
    return Task(
        name="transparency",
        dips=dips,
        target=target,
        compose=compose,
        terms=terms,
        iterations=iterations,
        lr=SINGLE["lr"] if n == 1 else 0.01,
        perturb=0.0,
        track_from=0.3,
        restarts=SINGLE["restarts"] if n == 1 else 1,
        restart_until=SINGLE["restart_until"],
        restart_select="exclusion",
    )


def _full_resolution(
    layers: list[torch.Tensor], alphas: torch.Tensor, full: torch.Tensor, bounds: tuple[float, float] = (0.0, 1.0)
) -> list[torch.Tensor]:
    """Upsampled layers, plus the detail lost at working size (or not yet fitted) when it can be attributed.

    With two or more mixtures the full-resolution residual of each mixture is ``a_i * r1 + (1 - a_i) * r2``; the
    per-pixel least-squares solution for ``(r1, r2)`` is exact when the coefficients differ. This also applies
    at working size = input size, where the residual is what the DIPs have not fitted yet (synthetic two
    mixtures at 128 px, 600 steps, seeds 0 and 1: 20.4 -> 47.4 dB mean layer PSNR). With one mixture the split is
    undetermined; :func:`_split_detail` gives the detail lost by downsampling to the layer with the local
    structure (at full size it measured worse than the DIP layers as they are: 17.2 vs 17.9 dB, so it is skipped).
    """
    size = full.shape[-2:]
    up = [resize(y, size) for y in layers]  # (1, C, H, W)
    n = full.shape[0]
    if n < 2:
        if tuple(layers[0].shape[-2:]) == tuple(size):
            return up
        radius = max(1, round(size[-1] / layers[0].shape[-1]))
        return _split_detail(up, float(alphas[0]), full, radius=radius, bounds=bounds)
    a = alphas.view(n, 1, 1, 1)
    resid = full - (a * up[0] + (1 - a) * up[1])  # (N, C, H, W)
    design = torch.stack([alphas, 1 - alphas], dim=1)  # (N, 2)
    ata = design.T @ design
    # (the determinant is the squared span of two mixtures' coefficients: un-mixed down to a span of 1e-4, as
    # the warning of MIN_SPAN says; a threshold of 1e-3, a span of 0.032, returned layers that did not make the
    # mixtures, under that warning)
    if float(torch.linalg.det(ata)) < 1e-8:
        return up
    coef = torch.linalg.solve(ata, design.T)  # (2, N)
    r = torch.einsum("kn,nchw->kchw", coef, resid)
    return [(up[0] + r[0:1]).clamp(*bounds), (up[1] + r[1:2]).clamp(*bounds)]


def _split_detail(
    up: list[torch.Tensor], a: float, full: torch.Tensor, radius: int, bounds: tuple[float, float] = (0.0, 1.0)
) -> list[torch.Tensor]:
    """One mixture: give the full-resolution detail to the layer whose structure is there.

    The residual ``r = I - (a y1 + (1 - a) y2)`` (the detail the working size could not hold) is split between the
    two contributions with per-pixel weights ``w1 = (g1 + e a) / (g1 + g2 + e)``, ``g_k`` the local gradient
    energy of contribution ``k`` (``a y1`` or ``(1 - a) y2``): an edge belongs to one layer, as the exclusion loss
    assumes. Where neither layer has structure each gets the residual in proportion to its coefficient (both
    layers then gain the same detail). The mixture is reproduced exactly:
    ``a (y1 + w1 r / a) + (1 - a) (y2 + (1 - w1) r / (1 - a)) = I``.
    """

    def energy(x: torch.Tensor) -> torch.Tensor:
        gy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
        gx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1))
        return box_filter((gx.square() + gy.square()).sum(dim=1, keepdim=True), radius)

    c1, c2 = a * up[0], (1 - a) * up[1]
    g1, g2 = energy(c1), energy(c2)
    e = 1e-3 * float((g1 + g2).mean()) + 1e-12
    w1 = (g1 + e * a) / (g1 + g2 + e)
    r = full - (c1 + c2)
    return [(up[0] + w1 * r / a).clamp(*bounds), (up[1] + (1 - w1) * r / (1 - a)).clamp(*bounds)]


@task_function
def separate_layers(
    mixtures: Any,
    *,
    iterations: int | None = None,
    max_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    preset: str = "default",
    precision: str = "auto",
    stop: StopRequest = None,
) -> Generator[Progress, None, LayersResult]:
    """Separate transparent layers (e.g. reflection and transmission) with Double-DIP.

    Parameters
    ----------
    mixtures
        One image ``(H, W[, C])``, or ``N >= 2`` mixtures of the same two layers as a sequence of images or an
        ``(N, H, W[, C])`` array. Several mixtures resolve the layer ambiguity (paper Eq. 6). A 3-D array is one
        image when its last axis is 1-4 long (``(H, W, C)``), else ``N`` grey mixtures (``(N, H, W)``: a numpy
        ``(3, H, W)`` is three mixtures; a channel-first image goes in as ``x.transpose(1, 2, 0)``).
    iterations, max_size, device, seed, preset, precision, stop, progress
        As in :func:`napari_doubledip.segment`. ``iterations=None``: 600 for one image, 200 for several (600
        for a set of one mixture among blank or constant images, which is separated as that one image).

    Returns
    -------
    LayersResult

    Notes
    -----
    With several mixtures the coefficients are estimated first (:func:`estimate_alphas`: the coefficients whose
    un-mixed layers have the least overlapping gradients) and the coefficient DIP is held to them; they are
    the returned ``alphas`` (also after a short or stopped run, before the DIP has reached them), and the
    returned layers are the DIP layers plus the per-pixel least-squares residual, i.e. the least-squares
    un-mixing of the inputs with these coefficients (exact for two mixtures, where the layers stay within the
    value bounds; clipped beyond them). With one image the coefficient is
    the DIP's. Mixtures that do not determine the coefficients (copies of one image) give a warning. An image
    of the set that is no mixture of the two layers (its residual under them exceeds half its own deviation)
    is left out: a NaN coefficient, ``params["left_out"]`` and a warning. A stop while the coefficients are
    estimated (a set of three or more in which the first pair does not decide) ends the estimate with the
    pairs scored so far, unwarned: ``params["estimate_cut_short"]`` is then ``True``, and the coefficients and
    the images left out may be wrong.

    A mixture of two images spans a narrower range than either, so the layers may reach beyond the mixtures'
    own values: up to what the input's kind can hold (an integer dtype's range; ``[0, 1]`` for float data
    within it, from 0 for non-negative float data), and at most half the mixtures' range beyond their minimum and
    maximum. (Clipped to the mixtures' range, as before 2026-12-05: two synthetic mixtures at 64 px, layer PSNR
    32.8 / 51.3 dB instead of 47.6 / 76.9; one mixture, 128 px, seeds 0-4: 17.08 (worst seed 13.65) instead of
    17.44 dB (15.66), ``benchmarks/seeds.py transparency_single``; docs/measurements.md.)

    Examples
    --------
    >>> import napari_doubledip as dd
    >>> from skimage import data
    >>> a, b = data.camera()[::16, ::16] / 255, data.moon()[::16, ::16] / 255  # two 32 x 32 images
    >>> r = dd.separate_layers([0.3 * a + 0.7 * b, 0.7 * a + 0.3 * b], iterations=10)
    >>> print(r.alphas.round(1), r.layers[0].shape)  # each mixture's share of layer 1
    [0.3 0.7] (32, 32)
    """
    mixtures = listed(mixtures)  # (an iterator read once: the lone mixture below is taken from it)
    said: list[tuple[str, type[Warning]]] = []  # (the set's input warnings: said unless one mixture is run alone)
    token = WARNING_SINK.set(lambda message, category: said.append((message, category)))
    try:
        stack, vr, _single = as_images(mixtures, "mixtures")
    except BaseException:  # (a refused input: what was said before the refusal may explain it)
        WARNING_SINK.reset(token)
        for message, category in said:
            warn(message, category)
        raise
    WARNING_SINK.reset(token)
    # A set with one mixture among blank or constant images (no structure: they hold no layer's edges) has
    # nothing to estimate coefficients from: those are left out and the one mixture is separated alone, as if
    # passed alone (its own value range, checks and one-image budget).
    lone = _lone_mixture(stack)
    if lone is not None:
        n = stack.shape[0]
        left_out = [i for i in range(n) if i != lone]
        del stack
        warn(
            f"separate_layers: mixture(s) {', '.join(map(str, left_out))} (from 0) are blank or constant: left "
            f"out (their coefficients are NaN); mixture {lone} is separated alone, as one image"
        )
        result = yield from separate_layers.steps(  # type: ignore[attr-defined]
            mixtures[lone], iterations=iterations, max_size=max_size, device=device, seed=seed, preset=preset,
            precision=precision, stop=stop,
        )
        alphas = np.full(n, np.nan, np.float32)
        alphas[lone] = result.alphas[0]
        result.alphas = alphas
        result.params.update(mixtures=n, left_out=left_out)
        return result
    for message, category in said:
        warn(message, category)
    seed = check_seed(seed)
    its = check_iterations(iterations, DEFAULTS["iterations" if stack.shape[0] == 1 else "iterations_mixtures"])
    ms = resolve_max_size(max_size, DEFAULTS["max_size"], stack.shape[1:], preset)
    dev = resolve_device(device)
    check_precision(precision)
    params = dict(mixtures=stack.shape[0], max_size=ms, device=str(dev), seed=seed, preset=preset)
    full = to_tensor(stack, dev)
    size = full.shape[-2:]
    work = resize(full, working_shape(size, ms))
    estimate, cut_short = None, False
    if work.shape[0] > 1:  # (the estimate works at ESTIMATE_SIZE: a smaller working size must not coarsen it)
        small = ms < ESTIMATE_SIZE
        found: dict = {}
        planned = planned_iterations("transparency", preset, iterations, its)  # (for the set-up's reports)
        estimate, stopped = yield from _staged(
            _estimate_steps(resize(full, working_shape(size, ESTIMATE_SIZE)) if small else work, info=found),
            "estimating the mixing coefficients", planned, stop,
        )
        if stopped:  # (no step may run after the stop)
            stop = always_stop
        cut_short = found.get("cut_short", False)  # (by the stop: nothing to warn about, it is not the estimate)
        if not cut_short:
            _warn_uncertain(estimate, found)
        else:  # (recorded: its coefficients and left-out images come from the pairs scored before the stop)
            params["estimate_cut_short"] = True
    if work.shape[0] > 1 and estimate is None and not cut_short:
        warn(
            "separate_layers: the mixtures do not determine their mixing coefficients (are they copies of "
            "one image, or one the other dimmed? layers with edges along one direction only, e.g. stripes, "
            "cannot be told apart either); the layers will be arbitrary"
        )
    used = slice(None)  # the mixtures the layers are fitted to and un-mixed from
    if estimate is not None and bool(estimate.isnan().any()):
        off = estimate.isnan()
        index = off.nonzero().flatten().tolist()
        which = ", ".join(map(str, index[:8])) + (", ..." if len(index) > 8 else "")
        if not cut_short:
            warn(
                f"separate_layers: mixture(s) {which} (from 0) are not mixtures of the two layers the others "
                "share (blank, constant or another picture?): left out, their coefficients are NaN"
            )
        used = ~off
        params["left_out"] = index
    bounds = vr.bounds()
    fitted = None if estimate is None else estimate[used]
    task = apply_preset(build_task(work[used], its, fitted, bounds), preset, iterations, precision)
    params["precision"] = precision
    params["iterations"] = task.iterations

    def preview(out):
        ups = [resize(layer_values(out[k], bounds), size) for k in ("layer1", "layer2")]
        return {f"layer {i + 1}": vr.restore(to_numpy(u)[0]) for i, u in enumerate(ups)}

    task.preview = preview
    sol = yield from optimise(task, device=dev, seed=seed, stop=stop)
    # The DIP was held to the estimate for the whole run but reaches it only after ~50 steps (it starts near
    # 0.5): the estimate itself is the result, and the un-mixing below is exact with it even after a short or
    # stopped run.
    alphas = estimate if estimate is not None else mix(sol.outputs["alpha"]).flatten()
    layers = [layer_values(sol.outputs[k], bounds) for k in ("layer1", "layer2")]
    l1, l2 = _full_resolution(layers, alphas[used], full[used], bounds)
    return LayersResult(
        layers=(vr.restore(to_numpy(l1)[0], within=True), vr.restore(to_numpy(l2)[0], within=True)),
        alphas=alphas.cpu().numpy().astype(np.float32),
        **run_info(sol, params, dev),
    )
