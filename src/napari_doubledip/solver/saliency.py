"""Crude unsupervised saliency for the automatic segmentation hints.

The paper seeds segmentation with *very crude* saliency (context-aware saliency). We use a boundary-contrast
estimate, which needs no training and works on grey, colour and few-channel images: a pixel is salient when its
local appearance (smoothed value and local contrast per channel, i.e. colour and texture) is far from everything
seen along the image border, where the background usually is. A mild centre prior breaks ties.
"""

from __future__ import annotations

import torch

from .filters import box_filter

__all__ = ["saliency", "saliency_hints"]


def _features(image: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` -> standardised ``(F, H, W)`` features: smoothed value and local std at two scales."""
    h, w = image.shape[-2:]
    feats = []
    for frac in (1 / 64, 1 / 24):
        r = max(1, round(min(h, w) * frac))
        mean = box_filter(image, r)
        std = (box_filter(image * image, r) - mean * mean).clamp_min(0).sqrt()
        feats += [mean, std]
    f = torch.cat(feats, dim=0)
    f = f - f.mean(dim=(1, 2), keepdim=True)
    return f / (f.std(dim=(1, 2), keepdim=True) + 1e-6)


def saliency(image: torch.Tensor, border: float = 0.06, samples: int = 512, k: int = 8) -> torch.Tensor:
    """Saliency map in ``[0, 1]`` of a ``(C, H, W)`` image in [0, 1].

    Each pixel's score is its mean distance to its ``k`` nearest border features (``samples`` pixels drawn from a
    border band of relative width ``border``), smoothed and weighted by a mild centre prior.
    """
    c, h, w = image.shape
    f = _features(image)
    b = max(1, round(min(h, w) * border))
    band = torch.zeros(h, w, dtype=torch.bool, device=image.device)
    band[:b], band[-b:], band[:, :b], band[:, -b:] = True, True, True, True
    border_feats = f[:, band].T  # (Nb, F)
    step = max(1, border_feats.shape[0] // samples)
    border_feats = border_feats[::step][:samples]
    pix = f.reshape(f.shape[0], -1).T  # (HW, F)
    d = torch.cdist(pix, border_feats)  # (HW, Nb)
    kk = min(k, border_feats.shape[0])
    score = d.topk(kk, dim=1, largest=False).values.mean(dim=1).reshape(h, w)
    score = box_filter(score[None], max(1, round(min(h, w) / 48)))[0]
    yy = torch.linspace(-1, 1, h, device=image.device)[:, None]
    xx = torch.linspace(-1, 1, w, device=image.device)[None, :]
    centre = torch.exp(-(yy**2 + xx**2) / (2 * 0.6**2))
    score = score * (0.6 + 0.4 * centre)
    lo, hi = torch.quantile(score, 0.02), torch.quantile(score, 0.98)
    return ((score - lo) / (hi - lo + 1e-8)).clamp(0, 1)


def _otsu(x: torch.Tensor, bins: int = 64) -> float:
    hist = torch.histc(x, bins=bins, min=0.0, max=1.0)
    p = hist / hist.sum()
    centres = (torch.arange(bins, device=x.device, dtype=x.dtype) + 0.5) / bins
    w0 = torch.cumsum(p, 0)
    m0 = torch.cumsum(p * centres, 0)
    mt = m0[-1]
    between = (mt * w0 - m0) ** 2 / (w0 * (1 - w0) + 1e-12)
    return float(centres[int(torch.argmax(between))])


def saliency_hints(image: torch.Tensor, margin: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """Conservative foreground / background hint masks ``(H, W)`` (bool) from :func:`saliency`.

    Pixels clearly above the Otsu threshold of the saliency map (by ``margin``) are foreground hints, pixels
    clearly below it background hints; the uncertain band in between is left to the optimisation.
    """
    s = saliency(image)
    t = _otsu(s)
    fg = s > min(t + margin, 0.95)
    bg = s < max(t - margin, 0.05)
    return fg, bg
