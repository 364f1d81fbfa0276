"""Synthetic examples with known ground truth, made from scikit-image's bundled images.

They serve three purposes: napari's File > Open Sample, the README demo, and the tests/benchmarks (which need
ground truth). Each function returns a :class:`Sample`: the input(s) plus a dict of ground-truth arrays.
Images and maps are float32 in [0, 1] unless stated; masks (``truth["mask"]``, ``extra["box_mask"]``) are
bool. No torch import here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._repr import summary_repr

__all__ = [
    "Sample", "texture_composite", "two_mixtures", "single_mixture", "blob_mask", "blob_field", "psnr", "iou"
]


@dataclass(repr=False)
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

    def __repr__(self) -> str:
        return summary_repr(self)


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


def blob_field(size: int = 256, fraction: float = 0.4, seed: int = 3) -> Sample:
    """Segmentation of many objects: a fluorescence-like field of blobs (scikit-image's ``binary_blobs``,
    blurred) on a background ramp, with Poisson noise; ``fraction`` of the area is objects. Float32 in about
    [0, 1] (``benchmarks/many_objects.py`` scores segmentation on three of these)."""
    from skimage import data, filters

    blobs = data.binary_blobs(size, blob_size_fraction=0.08, volume_fraction=fraction, rng=seed)
    clean = filters.gaussian(blobs.astype(float), 1.5) * 0.6 + 0.1 + 0.2 * np.linspace(0, 1, size)[None, :]
    noisy = np.random.default_rng(seed).poisson(clean * 200) / 200.0
    return Sample(noisy.astype(np.float32), {"mask": blobs}, "blob field")


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


# --- Video samples (paper Sec. 3 "Video segmentation", Sec. 4 "Video transparency separation") ---------------


def _shifted(big: np.ndarray, size: int, dy: int, dx: int) -> np.ndarray:
    """The ``size x size`` window of ``big`` (twice as large) centred and shifted by ``(dy, dx)`` pixels."""
    o = (big.shape[0] - size) // 2
    y0 = int(np.clip(o - dy, 0, big.shape[0] - size))
    x0 = int(np.clip(o - dx, 0, big.shape[1] - size))
    return big[y0 : y0 + size, x0 : x0 + size]


def _path(frames: int, step: float, amp: float) -> np.ndarray:
    """Offsets ``amp * sin(i * step / amp)`` for ``i`` centred on the middle frame: about ``step`` per frame,
    never beyond ``amp`` (long videos swing back and forth instead of leaving the frame)."""
    i = np.arange(frames) - (frames - 1) / 2
    return amp * np.sin(i * step / amp)


def moving_object_video(size: int = 64, frames: int = 8, rgb: bool = True, step: float = 1 / 32) -> Sample:
    """Video segmentation: a textured blob moving over a static textured background, with per-frame masks.

    The object (and its texture, which moves with it) travels left to right by about ``step * size`` pixels per
    frame along a gentle arc (swinging back in long videos), so successive masks overlap heavily while distant
    frames differ.

    Parameters
    ----------
    size
        Frame side in pixels.
    frames
        Number of frames ``T`` (>= 2).
    rgb
        Colour ``(T, H, W, 3)`` frames (coffee over rocket) or grey ``(T, H, W)`` (brick over grass).
    step
        Motion per frame as a fraction of ``size``.

    Returns
    -------
    Sample
        ``data`` the frames, ``truth["masks"]`` bool ``(T, H, W)``, ``truth["foreground"]`` /
        ``truth["background"]`` the two full layers per frame (shaped like ``data``).

    Examples
    --------
    >>> s = moving_object_video(size=32, frames=4)
    >>> s.data.shape, s.truth["masks"].shape
    ((4, 32, 32, 3), (4, 32, 32))
    """
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    if rgb:
        fg_big = np.clip(_rgb("coffee", 2 * size) * np.array([1.1, 0.8, 0.6], np.float32), 0, 1)
        bg = np.clip(0.25 + 0.6 * _rgb("rocket", size) * np.array([0.6, 0.8, 1.1], np.float32), 0, 1)
    else:
        fg_big = 0.6 + 0.4 * _gray("brick", 2 * size)
        bg = 0.45 * _gray("grass", size)
    # Centre path: left to right about the frame centre, with a small vertical arc; the blob stays inside.
    xs = 0.5 + _path(frames, step, 0.2)
    ys = 0.5 - 0.25 * np.abs(_path(frames, step, 0.2))
    imgs, masks, fgs = [], [], []
    for cy, cx in zip(ys, xs):
        mask = blob_mask(size, centre=(float(cy), float(cx)), radius=0.24)
        fg = _shifted(fg_big, size, round((cy - 0.5) * size), round((cx - 0.5) * size))
        m = mask[..., None] if rgb else mask
        imgs.append(np.where(m, fg, bg))
        masks.append(mask)
        fgs.append(fg)
    truth = {
        "masks": np.stack(masks),
        "foreground": np.stack(fgs).astype(np.float32),
        "background": np.stack([bg] * frames).astype(np.float32),
    }
    return Sample(np.stack(imgs).astype(np.float32), truth, "moving object video")


def reflection_video(
    size: int = 64,
    frames: int = 8,
    rgb: bool = False,
    alphas: tuple[float, float] = (0.75, 0.6),
    step: float = 1 / 24,
) -> Sample:
    """Video transparency: a panning scene seen through glass with a static reflection (paper Eq. 7).

    ``I_i = a_i * scene_i + (1 - a_i) * reflection``: the scene is a window panning diagonally over a larger image
    by about ``step * size`` pixels per frame (swinging back in long videos), the reflection is one fixed image,
    and the scene's coefficient ``a_i`` changes smoothly from ``alphas[0]`` to ``alphas[1]`` (the reflection's
    strength varies over time).

    Parameters
    ----------
    size
        Frame side in pixels.
    frames
        Number of frames ``T`` (>= 2).
    rgb
        Colour ``(T, H, W, 3)`` frames (astronaut behind a chelsea reflection) or grey ``(T, H, W)`` (camera
        behind a coins reflection).
    alphas
        Scene coefficient of the first and last frame.
    step
        Pan per frame as a fraction of ``size``.

    Returns
    -------
    Sample
        ``data`` the frames, ``truth["dynamic"]`` the scene per frame (shaped like ``data``), ``truth["static"]``
        the reflection (one frame), ``truth["alphas"]`` ``(T,)``.

    Examples
    --------
    >>> s = reflection_video(size=32, frames=4)
    >>> s.data.shape, s.truth["static"].shape, s.truth["alphas"].shape
    ((4, 32, 32), (32, 32), (4,))
    """
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    if rgb:
        big, static = _rgb("astronaut", 2 * size), _rgb("chelsea", size)
    else:
        big, static = _gray("camera", 2 * size), _gray("coins", size)
    shift = size * _path(frames, step, 0.4)
    scene = np.stack([_shifted(big, size, round(0.6 * s), round(s)) for s in shift]).astype(np.float32)
    a = np.linspace(alphas[0], alphas[1], frames).astype(np.float32)
    a_b = a.reshape(-1, *([1] * (scene.ndim - 1)))
    mixes = (a_b * scene + (1 - a_b) * static[None]).astype(np.float32)
    truth = {"dynamic": scene, "static": static.astype(np.float32), "alphas": a}
    return Sample(mixes, truth, "reflection video")


__all__ += ["moving_object_video", "reflection_video"]


# --- Watermark and haze samples (paper Sec. 4 "Watermark removal", Sec. 5 "Image dehazing") --------------------

#: Stroke letters in a unit box (x right, y down): polylines of a small "(c) DIP" watermark.
_GLYPHS: dict[str, list[list[tuple[float, float]]]] = {
    "D": [
        [(0.0, 0.0), (0.0, 1.0)],
        [(0.0, 0.0), (0.45, 0.05), (0.75, 0.3), (0.75, 0.7), (0.45, 0.95), (0.0, 1.0)],
    ],
    "I": [[(0.4, 0.0), (0.4, 1.0)], [(0.1, 0.0), (0.7, 0.0)], [(0.1, 1.0), (0.7, 1.0)]],
    "P": [
        [(0.0, 0.0), (0.0, 1.0)],
        [(0.0, 0.0), (0.55, 0.0), (0.75, 0.12), (0.75, 0.4), (0.55, 0.52), (0.0, 0.52)],
    ],
    "C": [[(0.8, 0.15), (0.55, 0.0), (0.25, 0.0), (0.0, 0.3), (0.0, 0.7), (0.25, 1.0), (0.55, 1.0), (0.8, 0.85)]],
}


def text_mask(shape: tuple[int, int], text: str = "CDIP", thickness: float = 0.08) -> np.ndarray:
    """Glyph-like strokes spelling ``text`` (letters from C, D, I, P) filling ``shape``, as float32 in [0, 1].

    Drawn with :mod:`skimage.draw` (no fonts needed) and slightly blurred for anti-aliased edges. ``thickness``
    is the stroke width as a fraction of the letter height.
    """
    from scipy.ndimage import binary_dilation
    from skimage.draw import line
    from skimage.filters import gaussian
    from skimage.morphology import disk

    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), bool)
    n = len(text)
    pad = 0.12
    cell_w = w / n
    for i, ch in enumerate(text):
        strokes = _GLYPHS.get(ch.upper())
        if strokes is None:
            raise ValueError(f"text_mask: no glyph for {ch!r}; available: {sorted(_GLYPHS)}")
        for poly in strokes:
            pts = [
                ((pad + (1 - 2 * pad) * y) * (h - 1), (i + pad + (1 - 2 * pad) * x) * cell_w) for x, y in poly
            ]
            for (y0, x0), (y1, x1) in zip(pts[:-1], pts[1:]):
                rr, cc = line(int(round(y0)), int(round(x0)), int(round(y1)), int(round(x1)))
                ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
                mask[rr[ok], cc[ok]] = True
    r = max(0, int(round(thickness * h / 2)))
    if r > 0:
        mask = binary_dilation(mask, structure=disk(r).astype(bool))
    return np.clip(gaussian(mask.astype(np.float32), sigma=0.6), 0, 1).astype(np.float32)


def _band(size: int, height: float, width: float) -> tuple[int, int]:
    """The text band's ``(height, width)``: fractions of the image, at least 8 x 16 pixels (legible strokes),
    at most the image."""
    return min(size, max(8, round(size * height))), min(size, max(16, round(size * width)))


def _blend_watermark(clean: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    a = alpha[..., None] if clean.ndim == 3 else alpha
    return ((1 - a) * clean + a * colour).astype(np.float32)


def watermarked(
    size: int = 128, opacity: float = 0.5, rgb: bool = True, scene: str = "rocket", position: float = 0.15
) -> Sample:
    """Watermark removal with a box: a stroke-text watermark blended at ``opacity`` into one image.

    ``I = (1 - a) * J + a * W`` with ``a = opacity * text`` in a band whose top is at ``position`` (a fraction of
    the height), and ``W`` a light colour. The default scene puts the text over sky, cloud and the rocket's tip;
    grey (``rgb=False``) the default scene is ``"camera"`` instead (the rocket is a colour picture).

    Returns
    -------
    Sample
        ``data`` the watermarked image ``(size, size[, 3])``; ``truth["clean"]``, ``truth["alpha"]`` ``(H, W)``
        and ``truth["watermark"]`` (the watermark colour layer, like the image); ``extra["box"]`` a rough
        ``(y0, x0, y1, x1)`` box around the watermark (a few pixels of margin) and ``extra["box_mask"]``.
    """
    if not 0 <= position <= 1:
        raise ValueError(f"position must be between 0 and 1 (a fraction of the height), got {position}")
    clean = _rgb(scene, size) if rgb else _gray(scene if scene != "rocket" else "camera", size)
    th, tw = _band(size, 0.22, 0.6)
    y0, x0 = min(round(size * position), size - th), (size - tw) // 2  # (a band low down ends at the bottom)
    alpha = np.zeros((size, size), np.float32)
    alpha[y0 : y0 + th, x0 : x0 + tw] = opacity * text_mask((th, tw))
    colour = np.array([0.95, 0.95, 0.9], np.float32) if rgb else np.float32(0.95)
    layer = np.broadcast_to(colour, clean.shape).astype(np.float32)
    img = _blend_watermark(clean, alpha, colour)
    m = max(2, round(size * 0.03))
    box = (max(0, y0 - m), max(0, x0 - m), min(size, y0 + th + m), min(size, x0 + tw + m))
    box_mask = np.zeros((size, size), bool)
    box_mask[box[0] : box[2], box[1] : box[3]] = True
    truth = {"clean": clean, "alpha": alpha, "watermark": layer}
    return Sample(img, truth, "watermarked", extra={"box": box, "box_mask": box_mask})


def watermark_set(n: int = 3, size: int = 128, opacity: float = 0.5, rgb: bool = True) -> Sample:
    """Several images sharing one watermark (no box needed): ``I_i = (1 - a) * J_i + a * W``.

    The watermark (stroke text at ``opacity``) covers a large central band of every image.

    Returns
    -------
    Sample
        ``data`` ``(n, size, size[, 3])``; ``truth["clean"]`` like ``data``, ``truth["alpha"]`` ``(H, W)``,
        ``truth["watermark"]`` ``(H, W[, 3])``; ``extra["box_mask"]`` marks where the watermark is.
    """
    if not 1 <= n <= 5:
        raise ValueError(f"n must be between 1 and 5, got {n}")
    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"][:n]
    if rgb:
        cleans = [_rgb(k, size) for k in names]
    else:
        cleans = [_gray(k, size) for k in ["camera", "moon", "coins", "brick", "grass"][:n]]
    th, tw = _band(size, 0.35, 0.8)
    y0, x0 = (size - th) // 2, (size - tw) // 2
    alpha = np.zeros((size, size), np.float32)
    alpha[y0 : y0 + th, x0 : x0 + tw] = opacity * text_mask((th, tw))
    colour = np.array([0.95, 0.95, 0.9], np.float32) if rgb else np.float32(0.95)
    layer = np.broadcast_to(colour, cleans[0].shape).astype(np.float32)
    data = np.stack([_blend_watermark(c, alpha, colour) for c in cleans])
    box_mask = np.zeros((size, size), bool)
    box_mask[y0 : y0 + th, x0 : x0 + tw] = True
    truth = {"clean": np.stack(cleans), "alpha": alpha, "watermark": layer}
    return Sample(data, truth, "watermark set", extra={"box_mask": box_mask})


def hazy_image(
    size: int = 128, varying_airlight: bool = False, rgb: bool = True, beta: float = 1.4, scene: str = "coffee"
) -> Sample:
    """Dehazing (paper Eq. 8): ``I = t * J + (1 - t) * A`` with a known scene, depth and airlight.

    The depth is a ramp (far at the top, near at the bottom) with a gentle smooth bump, the transmission
    ``t = exp(-beta * depth)`` lies in about [0.3, 0.87]. The airlight is a uniform pale blue-grey, or with
    ``varying_airlight`` a smooth left-to-right gradient from a warm (dusk) colour to a cold one. ``scene`` names
    the scikit-image picture used as the haze-free image (``"coffee"`` roughly obeys the dark channel prior, with
    a median dark channel of 0.06; ``"chelsea"``'s bright fur does not, a hard case for prior-based dehazing).
    Grey (``rgb=False``) the default scene is ``"camera"`` instead (coffee is a colour picture).

    Returns
    -------
    Sample
        ``data`` the hazy image; ``truth["clean"]`` (J), ``truth["transmission"]`` ``(H, W)``,
        ``truth["airlight"]`` ``(H, W, C)`` (or ``(H, W)`` grey) and ``truth["depth"]``.
    """
    clean = _rgb(scene, size) if rgb else _gray("camera" if scene == "coffee" else scene, size)
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / max(size - 1, 1)
    depth = 0.1 + 0.75 * (1 - yy) + 0.15 * np.exp(-((xx - 0.7) ** 2 + (yy - 0.45) ** 2) / 0.05)
    t = np.exp(-beta * depth).astype(np.float32)
    if rgb:
        if varying_airlight:
            warm, cold = np.array([0.95, 0.78, 0.6], np.float32), np.array([0.62, 0.74, 0.92], np.float32)
            s = xx[..., None]
            air = (1 - s) * warm + s * cold
        else:
            air = np.broadcast_to(np.array([0.82, 0.86, 0.92], np.float32), clean.shape)
        hazy = t[..., None] * clean + (1 - t[..., None]) * air
    else:
        air = (0.95 - 0.3 * xx) if varying_airlight else np.full((size, size), 0.85, np.float32)
        hazy = t * clean + (1 - t) * air
    truth = {"clean": clean, "transmission": t, "airlight": np.asarray(air, np.float32).copy(), "depth": depth}
    name = "hazy image (varying airlight)" if varying_airlight else "hazy image"
    return Sample(hazy.astype(np.float32), truth, name)


__all__ += ["text_mask", "watermarked", "watermark_set", "hazy_image"]
