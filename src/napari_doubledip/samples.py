"""Synthetic examples with known ground truth, made from scikit-image's bundled images.

They serve three purposes: napari's File > Open Sample, the README demo, and the tests/benchmarks (which need
ground truth). Each function returns a :class:`Sample`: the input(s) plus a dict of ground-truth arrays.
Everything is float32 in [0, 1] unless stated. No torch import here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Sample", "texture_composite", "two_mixtures", "single_mixture"]


@dataclass
class Sample:
    """A synthetic input with its ground truth.

    Attributes
    ----------
    data
        The input: one image ``(H, W[, C])`` or a stack ``(N, H, W[, C])``.
    truth
        Ground-truth arrays by name (e.g. ``"mask"``, ``"layer1"``, ``"alphas"``).
    name
        Short human-readable name.
    extra
        Other inputs that go with the sample (e.g. a watermark box).
    """

    data: np.ndarray
    truth: dict[str, np.ndarray]
    name: str
    extra: dict[str, object] = field(default_factory=dict)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    from skimage.transform import resize

    img = img.astype(np.float32)
    if img.max() > 1:
        img = img / 255.0
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return resize(img, (size, size), anti_aliasing=True).astype(np.float32)


def _gray(name: str, size: int) -> np.ndarray:
    from skimage import color, data

    img = getattr(data, name)()
    if img.ndim == 3:
        img = color.rgb2gray(img[..., :3])
    return _resize(img, size)


def _rgb(name: str, size: int) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return _resize(img[..., :3], size)


def blob_mask(size: int, centre: tuple[float, float] = (0.5, 0.55), radius: float = 0.28) -> np.ndarray:
    """A smooth, non-convex blob (a disk with a bump), as bool ``(size, size)``."""
    yy, xx = np.mgrid[:size, :size] / size
    r = np.hypot(yy - centre[0], xx - centre[1])
    theta = np.arctan2(yy - centre[0], xx - centre[1])
    return r < radius * (1 + 0.18 * np.sin(3 * theta))


def texture_composite(size: int = 128, rgb: bool = True) -> Sample:
    """Segmentation: a textured object (coffee-bean-like texture) pasted through a blob onto another texture."""
    mask = blob_mask(size)
    if rgb:
        fg, bg = _rgb("coffee", size), _rgb("rocket", size)
        fg = np.clip(fg * np.array([1.1, 0.8, 0.6], np.float32), 0, 1)
        bg = np.clip(0.25 + 0.6 * bg * np.array([0.6, 0.8, 1.1], np.float32), 0, 1)
        img = np.where(mask[..., None], fg, bg)
    else:
        fg, bg = _gray("brick", size), _gray("grass", size)
        img = np.where(mask, 0.6 + 0.4 * fg, 0.45 * bg)
    return Sample(img.astype(np.float32), {"mask": mask}, "texture composite")


def two_mixtures(size: int = 128, alphas: tuple[float, ...] = (0.3, 0.7), rgb: bool = False) -> Sample:
    """Transparency: ``N`` mixtures ``a_i * L1 + (1 - a_i) * L2`` of two natural images."""
    if rgb:
        l1, l2 = _rgb("astronaut", size), _rgb("chelsea", size)
    else:
        l1, l2 = _gray("camera", size), _gray("moon", size)
    mixes = np.stack([a * l1 + (1 - a) * l2 for a in alphas]).astype(np.float32)
    return Sample(mixes, {"layer1": l1, "layer2": l2, "alphas": np.asarray(alphas, np.float32)}, "two mixtures")


def single_mixture(size: int = 128, alpha: float = 0.5) -> Sample:
    """Transparency from one image: a smooth-ish scene plus a weaker, differently structured reflection."""
    l1, l2 = _gray("camera", size), _gray("text", size)
    mix = (alpha * l1 + (1 - alpha) * l2).astype(np.float32)
    return Sample(mix, {"layer1": l1, "layer2": l2, "alphas": np.asarray([alpha], np.float32)}, "single mixture")


def psnr(estimate: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB."""
    mse = float(np.mean((np.asarray(estimate, np.float64) - np.asarray(truth, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(data_range**2 / mse)


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks."""
    mask, truth = np.asarray(mask) > 0.5, np.asarray(truth) > 0.5
    union = np.logical_or(mask, truth).sum()
    return float(np.logical_and(mask, truth).sum() / union) if union else 1.0
