"""Guided filter (He, Sun & Tang 2010) and helpers, in torch so that they run on the GPU too."""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = [
    "box_filter", "gaussian_blur", "guided_filter", "guided_upsample", "noise_level", "push_pull_fill", "resize"
]


def box_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2r+1)^2`` window (clipped at the border), O(1) per pixel via cumulative sums.

    ``x``: ``(..., H, W)``.
    """
    if radius <= 0:
        return x
    h, w = x.shape[-2:]
    r = radius

    def _sum(t: torch.Tensor, dim: int, n: int) -> torch.Tensor:
        c = torch.cumsum(t, dim=dim)
        c = torch.cat([torch.zeros_like(c.narrow(dim, 0, 1)), c], dim=dim)
        idx = torch.arange(n, device=t.device)
        hi = (idx + r + 1).clamp(max=n)
        lo = (idx - r).clamp(min=0)
        return c.index_select(dim, hi) - c.index_select(dim, lo)

    # float64 accumulation keeps the cumulative sums exact enough for large images; Apple's MPS has no float64,
    # so there the sums run on the CPU: moved first, then converted (and back: converted on the CPU, then
    # moved), as MPS refuses a copy to or from a float64 tensor in one step.
    acc = x.device if x.device.type != "mps" else torch.device("cpu")
    s = _sum(_sum(x.to(acc).to(torch.float64), -2, h), -1, w)
    ones = torch.ones((h, w), dtype=torch.float64, device=acc)
    count = _sum(_sum(ones, -2, h), -1, w)
    return (s / count).to(x.dtype).to(x.device)


def _coefficients(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float):
    """Local linear coefficients ``a`` (``(K, C, H, W)``) and ``b`` (``(K, H, W)``) with ``src ≈ a·guide + b``."""
    c = guide.shape[0]
    mu = box_filter(guide, radius)  # (C, H, W)
    mp = box_filter(src, radius)  # (K, H, W)
    cov_ip = box_filter(guide.unsqueeze(0) * src.unsqueeze(1), radius) - mu.unsqueeze(0) * mp.unsqueeze(1)
    if c == 1:
        var = box_filter(guide * guide, radius) - mu * mu  # (1, H, W)
        a = cov_ip / (var.unsqueeze(0) + eps)
    else:
        prod = guide.unsqueeze(0) * guide.unsqueeze(1)  # (C, C, H, W)
        sigma = box_filter(prod, radius) - mu.unsqueeze(0) * mu.unsqueeze(1)
        sigma = sigma + eps * torch.eye(c, device=guide.device, dtype=guide.dtype)[:, :, None, None]
        # Solve Sigma a = cov per pixel: (H, W, C, C) @ (H, W, C, K)
        a = torch.linalg.solve(sigma.permute(2, 3, 0, 1), cov_ip.permute(2, 3, 1, 0)).permute(3, 2, 0, 1)
    b = mp - (a * mu.unsqueeze(0)).sum(dim=1)
    return a, b


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float = 1e-3) -> torch.Tensor:
    """Edge-preserving smoothing of ``src`` steered by the edges of ``guide``.

    Parameters
    ----------
    guide
        ``(C, H, W)`` guidance image (grey or colour, values ~[0, 1]).
    src
        ``(K, H, W)`` maps to filter.
    radius, eps
        Window radius in pixels and regularisation (larger = smoother).
    """
    a, b = _coefficients(guide, src, radius, eps)
    a, b = box_filter(a, radius), box_filter(b, radius)
    return (a * guide.unsqueeze(0)).sum(dim=1) + b


def guided_upsample(
    guide_full: torch.Tensor, src_low: torch.Tensor, radius: int, eps: float = 1e-3
) -> torch.Tensor:
    """Bring a low-resolution map to the full-resolution ``guide`` (fast guided filter, He & Sun 2015).

    The linear coefficients are fitted at the low resolution against the downscaled guide, smoothed, upsampled
    bilinearly and applied to the full-resolution guide, so edges come from the full-resolution image.
    """
    h, w = guide_full.shape[-2:]
    hl, wl = src_low.shape[-2:]
    guide_low = resize(guide_full, (hl, wl))
    a, b = _coefficients(guide_low, src_low, radius, eps)
    a, b = box_filter(a, radius), box_filter(b, radius)
    k, c = a.shape[:2]
    a = resize(a.reshape(k * c, hl, wl), (h, w)).reshape(k, c, h, w)
    b = resize(b, (h, w))
    return (a * guide_full.unsqueeze(0)).sum(dim=1) + b


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``(..., H, W)`` over its last two axes, separable, the border replicated; ``sigma`` in
    pixels (0: ``x`` itself). Linear, so a blurred mixture of layers is the same mixture of the blurred layers."""
    if sigma <= 0:
        return x
    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    h, w = x.shape[-2:]
    y = x.reshape(-1, 1, h, w)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return y.reshape(x.shape)


#: The 10 % quantile of white noise's block RMS (4 x 4 blocks of the second-difference residual) over its
#: standard deviation (measured on 64-1024 px planes: 0.626-0.632), so that :func:`noise_level` reads it as
#: itself.
_QUIET_BLOCK_RATIO = 0.628


def _quiet_rms(x: torch.Tensor, block: int, quantile: float) -> torch.Tensor:
    """The ``quantile`` of the blocks' RMS of each plane's second-difference residual (Immerkaer 1996: the 3 x 3
    kernel ``[1, -2, 1]`` x ``[1, -2, 1]``, which cancels planes and ramps), scaled so that white noise reads as
    its standard deviation (planes of at least ``block + 2`` pixels a side)."""
    # (the kernel is separable: two second differences by slicing, ~10x faster than a one-channel conv2d on the
    # CPU and without its working copies)
    d = x[..., :, :-2] - 2 * x[..., :, 1:-1] + x[..., :, 2:]
    r = (d[..., :-2, :] - 2 * d[..., 1:-1, :] + d[..., 2:, :]) / 6  # (white noise: its own std)
    blocks = F.avg_pool2d(r.reshape(-1, 1, *r.shape[-2:]).square(), block).flatten(1)  # (planes, blocks)
    q = torch.quantile(blocks.cpu().double(), quantile, dim=1).sqrt() / _QUIET_BLOCK_RATIO  # (MPS: no float64)
    return q.reshape(x.shape[:-2])


def noise_level(x: torch.Tensor, block: int = 4, quantile: float = 0.1, crop: int = 1024) -> torch.Tensor:
    """Standard deviation of the white noise in each ``(H, W)`` plane of ``(..., H, W)``.

    Where a picture is smooth, its second-difference residual is the noise; noise is everywhere and structure
    is not, so the ``quantile`` of the residual's RMS over ``block x block`` blocks measures the noise there
    (scaled so that white noise reads as its standard deviation). Fine texture reads so too; but halving the
    plane (2 x 2 means) halves white noise's reading and raises a picture's (its structure gets finer relative
    to the pixels), so the white part is what the two readings' difference implies: ``sqrt((r0^2 - r1^2) /
    (1 - 1/4))``, 0 where the halved plane reads more. Structure that survives the halving lowers the reading;
    structure finer than two pixels (a one-pixel checkerboard) reads as noise. Measured: mixtures of noise-free
    photographs and of scikit-image's textures (brick, grass, gravel) 0.000-0.003 at 64-256 px; noise of 0.01 /
    0.02 / 0.04 added to a grey photograph mixture read as 0.010-0.012 / 0.019-0.026 / 0.039-0.052, on a
    colourful one at 64 px as little as 0.008 for 0.02 (the halved plane's structure hides it). Planes larger
    than ``crop`` are measured on their central ``crop x crop``. Returns ``x.shape[:-2]``, 0 for planes under
    ``2 * (block + 2)`` pixels a side."""
    x = x.detach()
    h, w = x.shape[-2:]
    if min(h, w) < 2 * (block + 2):
        return torch.zeros(x.shape[:-2], dtype=x.dtype, device=x.device)
    if max(h, w) > crop:  # (noise is the same everywhere: a central crop bounds the time and memory)
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        x = x[..., top : top + crop, left : left + crop]
        h, w = x.shape[-2:]
    fine = _quiet_rms(x, block, quantile)
    halved = F.avg_pool2d(x.reshape(-1, 1, h, w), 2)
    coarse = _quiet_rms(halved.reshape(*x.shape[:-2], *halved.shape[-2:]), block, quantile)
    white = ((fine.square() - coarse.square()).clamp(min=0) / 0.75).sqrt()
    return white.to(device=x.device, dtype=x.dtype)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(C, H, W)`` or ``(B, C, H, W)`` bilinearly (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    squeeze = x.dim() == 3
    x4 = x.unsqueeze(0) if squeeze else x
    shrink = size[0] < x4.shape[-2] or size[1] < x4.shape[-1]
    y = F.interpolate(x4, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return y[0] if squeeze else y


def push_pull_fill(x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill the unknown pixels of ``x`` smoothly from the known ones (push-pull over a pyramid of means).

    Parameters
    ----------
    x
        ``(N, C, H, W)`` image.
    known
        ``(1 or N, 1, H, W)`` confidence in [0, 1]: 1 where ``x`` is known, 0 in the holes.

    Returns
    -------
    torch.Tensor
        ``x`` where ``known`` is 1; in a hole, the means of the nearest known pixels at each scale, blended
        coarse to fine. A cheap guess of what lies under a watermark (its slow variations), not a result.
    """
    known = known.expand(x.shape[0], 1, *x.shape[-2:]).to(x.dtype)
    levels = [(x, known)]  # (value, confidence) per level, fine to coarse
    # down to a single pixel if need be: a hole across the short side of a strip still has empty cells when
    # that side reaches 1 pixel (they held 0, and the hole was filled with black)
    while max(levels[-1][1].shape[-2:]) > 1 and bool((levels[-1][1] <= 0).any()):
        v, w = levels[-1]
        kernel = tuple(2 if n > 1 else 1 for n in w.shape[-2:])
        mean_w = F.avg_pool2d(w, kernel, ceil_mode=True)
        # a coarse cell is as sure as the sum of its children's confidences: one known child is enough
        mean_v = F.avg_pool2d(v * w, kernel, ceil_mode=True) / mean_w.clamp_min(1e-12)
        levels.append((mean_v, (kernel[0] * kernel[1] * mean_w).clamp(max=1)))
    est = levels[-1][0]
    for v, w in reversed(levels[:-1]):
        up = F.interpolate(est, size=v.shape[-2:], mode="bilinear", align_corners=False)
        est = w * v + (1 - w) * up
    return est
