"""Haze model helpers (paper Eq. 8): dark channel, airlight estimate, haze-model inversion, DCP baseline.

``I = t * J + (1 - t) * A`` with ``J`` the haze-free image, ``t`` the transmission and ``A`` the airlight.
The dark-channel-prior dehaze of He, Sun & Tang (2011), with guided-filter refinement of the transmission
(He et al. 2010) instead of soft matting, serves as the initial airlight estimator of the Double-DIP dehazing
task and as a baseline for the benchmarks. Everything works on any number of channels (grey, RGB, multichannel
fluorescence), in torch, on any device, in float32 or float64 (torch's CPU kernels for the guided filter's
solve and antialiased resizing have no half precision).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .filters import guided_filter

__all__ = [
    "dark_channel",
    "estimate_airlight",
    "dcp_transmission",
    "recover",
    "dcp_dehaze",
    "patch_radius",
    "haze_lines_transmission",
]

#: A channel whose 1-99 % percentile spread is at most this fraction of the widest channel's counts as empty: it
#: is left out of the airlight estimate's ranking (see :func:`estimate_airlight`).
FLAT_CHANNEL = 0.05


def _flat_channels(image: torch.Tensor) -> torch.Tensor:
    """``(C,)`` bool: the channels of a ``(C, H, W)`` image without content (see :data:`FLAT_CHANNEL`)."""
    x = image.reshape(image.shape[0], -1).float()
    x = x[:, :: max(1, x.shape[1] // 65536)]  # a subsample: quantiles sort
    q = torch.quantile(x, torch.tensor([0.01, 0.99], device=x.device), dim=1)
    spread = q[1] - q[0]
    return spread <= FLAT_CHANNEL * spread.max()


def patch_radius(shape: tuple[int, int], fraction: float = 1 / 64) -> int:
    """Dark-channel window radius that scales with the image (He et al. use 15x15 windows at ~600 px)."""
    return max(1, round(min(shape) * fraction))


def _min_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Minimum over a ``(2r+1)^2`` window of the last two axes (replicate border)."""
    if radius <= 0:
        return x
    shape = x.shape
    x4 = F.pad(x.reshape(-1, 1, *shape[-2:]), (radius,) * 4, mode="replicate")
    k = 2 * radius + 1
    # Separable (a row pass, then a column pass), each a running minimum in O(1) per pixel: identical values
    # to max-pooling, which is O(k) per pixel (one thread: 4096² at radius 64 1.6 s instead of 7.8 s; 1024² at
    # radius 16 37 instead of 167 ms; level at radius 2). (A run cannot be cancelled inside it: this is the
    # set-up of a full-resolution dehaze.)
    rows = _running_min(x4, k)
    return _running_min(rows.transpose(-1, -2), k).transpose(-1, -2).reshape(shape)


def _running_min(x: torch.Tensor, k: int) -> torch.Tensor:
    """Minimum of every ``k`` consecutive values along the last axis (length ``L`` -> ``L - k + 1``), in O(1)
    per value (van Herk / Gil & Werman): within blocks of ``k``, a running minimum from each block's start and
    one from its end; a window spans the end of one block and the start of the next."""
    length = x.shape[-1]
    n = length - k + 1
    padded = -(-length // k) * k
    if padded > length:
        x = F.pad(x, (0, padded - length), value=float("inf"))
    blocks = x.reshape(*x.shape[:-1], padded // k, k)
    start = blocks.cummin(-1).values.reshape(*x.shape[:-1], padded)
    end = blocks.flip(-1).cummin(-1).values.flip(-1).reshape(*x.shape[:-1], padded)
    return torch.minimum(end[..., :n], start[..., k - 1 : k - 1 + n])


def dark_channel(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Dark channel ``min_{y in patch(x)} min_c I_c(y)`` of ``(C, H, W)`` or ``(N, C, H, W)`` images.

    Returns ``(1, H, W)`` or ``(N, 1, H, W)``. For one channel it is a local minimum filter.
    """
    return _min_filter(image.amin(dim=-3, keepdim=True), radius)


def estimate_airlight(image: torch.Tensor, radius: int | None = None, fraction: float = 1e-3) -> torch.Tensor:
    """Global airlight colour from the dark channel prior (He et al. 2011, Sec. 4.4).

    The ``fraction`` (0.1 %) most haze-opaque pixels, i.e. the brightest in the dark channel, are taken as
    candidates; the airlight is the mean colour of the input over those candidates (the mean instead of He et
    al.'s single brightest candidate, which is less sensitive to one bright object or noise).

    Parameters
    ----------
    image
        ``(C, H, W)`` in [0, 1].
    radius
        Dark-channel window radius; ``None`` = :func:`patch_radius`.
    fraction
        Fraction of pixels used as candidates (at least one pixel).

    Returns
    -------
    torch.Tensor
        ``(C,)`` airlight colour.
    """
    if image.dim() != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}")
    c, h, w = image.shape
    r = patch_radius((h, w)) if radius is None else radius
    # A channel without content (the empty blue of a two-colour fluorescence image stored as RGB, perhaps a
    # camera offset and noise) would be the dark channel everywhere and make the ranking arbitrary: rank by the
    # others.
    flat = _flat_channels(image)
    ranked = image[~flat] if bool(flat.any()) and not bool(flat.all()) else image
    dark = dark_channel(ranked, r).reshape(-1)
    k = max(1, int(round(fraction * h * w)))
    idx = torch.topk(dark, k).indices
    return image.reshape(c, -1)[:, idx].mean(dim=1)


def _over_airlight(image: torch.Tensor, airlight: torch.Tensor) -> torch.Tensor:
    """``image / airlight`` per channel, ``+inf`` in channels whose airlight is black (an empty channel: it
    carries no haze cue and would pin a minimum over the channels at 0), unless every channel's is."""
    a = _as_map(airlight, image)
    ratio = image / a.clamp_min(1e-3)
    black = (a <= 1e-3).expand_as(ratio)
    # (per pixel: where an airlight map is black in every channel, all channels count)
    return ratio.masked_fill(black & ~black.all(dim=-3, keepdim=True), float("inf"))


def _as_map(airlight: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Airlight as a ``(C, 1, 1)`` colour or a ``(C, H, W)`` map, broadcastable against ``like``."""
    if airlight.dim() == 1:
        return airlight.view(-1, 1, 1)
    return airlight


def dcp_transmission(
    image: torch.Tensor, airlight: torch.Tensor, radius: int | None = None, omega: float = 0.95
) -> torch.Tensor:
    """Coarse transmission ``t = 1 - omega * dark(I / A)`` of He et al. (2011), ``(C, H, W)`` -> ``(1, H, W)``.

    ``airlight``: ``(C,)`` colour or ``(C, H, W)`` map.
    """
    r = patch_radius(image.shape[-2:]) if radius is None else radius
    return 1.0 - omega * dark_channel(_over_airlight(image, airlight), r)


def recover(
    image: torch.Tensor, transmission: torch.Tensor, airlight: torch.Tensor, t_min: float = 0.1
) -> torch.Tensor:
    """Invert the haze model: ``J = (I - (1 - t) A) / max(t, t_min)``, clipped to [0, 1].

    ``image`` ``(C, H, W)``; ``transmission`` ``(1, H, W)`` or ``(H, W)``; ``airlight`` ``(C,)`` or ``(C, H, W)``.
    """
    t = transmission.reshape(1, *image.shape[-2:]).clamp(min=t_min, max=1.0)
    a = _as_map(airlight, image)
    return ((image - (1 - t) * a) / t).clamp(0, 1)


def dcp_dehaze(
    image: torch.Tensor,
    airlight: torch.Tensor | None = None,
    *,
    radius: int | None = None,
    omega: float = 0.95,
    t_min: float = 0.1,
    refine_radius: int | None = None,
    refine_eps: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dark-channel-prior dehazing (He et al. 2011) with guided-filter transmission refinement.

    Parameters
    ----------
    image
        ``(C, H, W)`` hazy image in [0, 1] (any number of channels).
    airlight
        ``(C,)`` colour (or ``(C, H, W)`` map); ``None`` = :func:`estimate_airlight`.
    radius
        Dark-channel window radius; ``None`` scales with the image (:func:`patch_radius`).
    omega
        Fraction of haze removed (0.95 keeps a trace of haze for depth perception, as in the paper).
    t_min
        Lower bound of the transmission in the inversion.
    refine_radius, refine_eps
        Guided filter (guide: the grey input) applied to the coarse transmission; ``None`` = 4x the patch radius.

    Returns
    -------
    (clean, transmission, airlight)
        ``(C, H, W)`` dehazed image, ``(1, H, W)`` refined transmission in ``[t_min, 1]``, ``(C,)`` airlight
        (or the map that was given).
    """
    if image.dim() != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}")
    r = patch_radius(image.shape[-2:]) if radius is None else radius
    a = estimate_airlight(image, r) if airlight is None else airlight.to(image)
    t = dcp_transmission(image, a, r, omega)
    guide = image.mean(dim=0, keepdim=True)
    rr = 4 * r if refine_radius is None else refine_radius
    t = guided_filter(guide, t, rr, refine_eps).clamp(t_min, 1.0)
    return recover(image, t, a, t_min), t, a


def _sphere_points(n: int) -> torch.Tensor:
    """``(n, 3)`` unit vectors spread evenly over the sphere (Fibonacci lattice), float64."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    polar = torch.arccos(1 - 2 * i / n)
    azimuth = math.pi * (1 + 5**0.5) * i
    return torch.stack(
        [torch.cos(azimuth) * torch.sin(polar), torch.sin(azimuth) * torch.sin(polar), torch.cos(polar)], dim=1
    )


def haze_lines_transmission(image: torch.Tensor, airlight: torch.Tensor, n_lines: int = 2000) -> torch.Tensor:
    """Non-local transmission of Berman, Treibitz & Avidan (2016), "haze lines".

    The colours of a haze-free image form a few hundred tight clusters; under haze each cluster spreads along a
    line through the airlight, ``I - A = t (J - A)``. Pixels are grouped by the direction of ``I - A`` (nearest
    of ``n_lines`` directions spread over the sphere); within a line the pixel farthest from ``A`` is taken as
    haze-free, so ``t = |I - A| / max_line |I - A|``, bounded below by ``1 - min_c I_c / A_c`` (``J >= 0``).
    Unlike the dark channel it does not assume a dark pixel in every patch, so it does not under-estimate ``t``
    on bright scenes; it over-estimates ``t`` where the haze is dense (no pixel on a line is near haze-free).
    The map follows pixels, not patches: refine it (e.g. :func:`~.filters.guided_filter`) before use.

    Parameters
    ----------
    image
        ``(3, H, W)`` colour image in [0, 1] (the clusters need three channels).
    airlight
        ``(3,)`` airlight colour (or one value for a grey airlight).
    n_lines
        Number of line directions.

    Returns
    -------
    torch.Tensor
        ``(1, H, W)`` transmission in [0, 1], on the image's device.
    """
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"haze lines need a (3, H, W) colour image, got shape {tuple(image.shape)}")
    if airlight.numel() not in (1, 3):
        raise ValueError(f"airlight must be one value or (3,), got shape {tuple(airlight.shape)}")
    _, h, w = image.shape
    dtype = image.dtype
    # A one-off step at the working size: on the CPU in float64 (MPS has none), whatever the image's device. The
    # per-line maximum hangs on single pixels, so the precision of the line assignment shows in the results
    # (float32 moved RESIDE images by up to 0.9 dB either way).
    device = image.device
    image = image.detach().cpu()
    a = airlight.detach().cpu().to(image).reshape(-1).expand(3).reshape(3, 1)
    x = (image.reshape(3, -1) - a).T.double()  # (HW, 3)
    radius = x.norm(dim=1)
    direction = x / radius.clamp_min(1e-6)[:, None]
    points = _sphere_points(n_lines).to(x).T  # (3, n_lines)
    # Nearest direction by chunks of pixels into one reused buffer, so that memory stays at chunk x n_lines
    # whatever the image size (a fresh product per chunk measured 8 GB peak RSS on a 1024 px image; this 0.3 GB).
    chunk = max(1, 2**22 // n_lines)
    buffer = torch.empty(min(chunk, len(direction)), n_lines, dtype=x.dtype, device=x.device)
    line = torch.empty(len(direction), dtype=torch.long, device=x.device)
    for start in range(0, len(direction), chunk):
        d = direction[start : start + chunk]
        product = buffer[: len(d)]
        torch.mm(d, points, out=product)
        line[start : start + len(d)] = product.argmax(dim=1)
    r_max = torch.zeros(n_lines, dtype=x.dtype, device=x.device).scatter_reduce(0, line, radius, reduce="amax")
    t = radius / r_max[line].clamp_min(1e-6)
    lower = 1 - _over_airlight(image.reshape(3, 1, -1), a.reshape(3)).reshape(3, -1).amin(dim=0).double()
    return torch.maximum(t, lower).clamp(0, 1).reshape(1, h, w).to(dtype).to(device)  # (float64 not on MPS)
