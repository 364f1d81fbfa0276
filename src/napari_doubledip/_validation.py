"""Input checking and value normalisation (numpy only, no torch).

Every public function turns its images into float32 ``(H, W, C)`` arrays in ``[0, 1]`` with
:func:`as_image` / :func:`as_images` and maps results back to the input's value range with
:meth:`ValueRange.restore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ValueRange", "as_image", "as_images", "as_mask", "check_iterations", "check_max_size"]


@dataclass(frozen=True)
class ValueRange:
    """Affine map between the input's values and ``[0, 1]``; ``gray`` = input had no channel axis."""

    lo: float
    hi: float
    gray: bool

    def restore(self, x: np.ndarray, *, values: bool = True) -> np.ndarray:
        """``(..., H, W, C)`` in [0, 1] back to the input's range (``values``) and layout (float32)."""
        x = np.asarray(x, dtype=np.float32)
        if values:
            x = x * np.float32(self.hi - self.lo) + np.float32(self.lo)
        if self.gray and x.shape[-1] == 1:
            x = x[..., 0]
        return x


def _check_array(x: object, name: str) -> np.ndarray:
    if hasattr(x, "compute") and not isinstance(x, np.ndarray):  # dask arrays from napari layers
        x = x.compute()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must have a numeric dtype, got {arr.dtype}")
    return arr


def _check_hw(shape: tuple[int, ...], name: str) -> None:
    h, w = shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"{name} is empty (shape {shape})")
    if h < 8 or w < 8:
        raise ValueError(f"{name} is too small to decompose: {h}x{w} pixels (need at least 8x8)")


def _value_range(arr: np.ndarray, name: str, gray: bool) -> ValueRange:
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    return ValueRange(lo, hi, gray)


def _normalise(arr: np.ndarray, vr: ValueRange) -> np.ndarray:
    span = vr.hi - vr.lo
    out = arr.astype(np.float32)
    return (out - np.float32(vr.lo)) / np.float32(span) if span > 0 else np.zeros_like(out)


def as_image(image: object, name: str = "image") -> tuple[np.ndarray, ValueRange]:
    """Validate one image: ``(H, W)`` or ``(H, W, C)`` with ``C`` in 1..4, finite, at least 8x8.

    Returns the image as float32 ``(H, W, C)`` in ``[0, 1]`` and the :class:`ValueRange` to map results back.
    """
    arr = _check_array(image, name)
    if arr.ndim == 2:
        gray = True
        arr = arr[..., None]
    elif arr.ndim == 3 and 1 <= arr.shape[-1] <= 4:
        gray = False
    elif arr.ndim == 3:
        raise ValueError(
            f"{name} must be (H, W) or (H, W, C) with C <= 4 channels, got shape {arr.shape}; "
            "for a stack of frames use the video functions"
        )
    else:
        raise ValueError(f"{name} must be a 2D (H, W) or 3D (H, W, C) array, got {arr.ndim}D shape {arr.shape}")
    _check_hw(arr.shape, name)
    vr = _value_range(arr, name, gray)
    return _normalise(arr, vr), vr


def as_images(images: object, name: str = "images", min_count: int = 1) -> tuple[np.ndarray, ValueRange, bool]:
    """Validate a set of same-shaped images (a sequence, or an ``(N, H, W[, C])`` array).

    A single ``(H, W)`` / ``(H, W, C<=4)`` array counts as one image. Returns float32 ``(N, H, W, C)`` in [0, 1]
    (one value range for all, so relative intensities are kept), the range, and whether the input was a single
    image.
    """
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError(f"{name} is an empty sequence")
        arrays = [_check_array(im, f"{name}[{i}]") for i, im in enumerate(images)]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"all {name} must have the same shape, got {sorted(shapes)}")
        stack, single = np.stack(arrays), False
        if stack.ndim not in (3, 4):
            raise ValueError(f"each of {name} must be (H, W) or (H, W, C), got shape {arrays[0].shape}")
    else:
        arr = _check_array(images, name)
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] <= 4):
            stack, single = arr[None], True
        elif arr.ndim in (3, 4):
            stack, single = arr, False
        else:
            raise ValueError(f"{name} must be (H, W[, C]) or (N, H, W[, C]), got {arr.ndim}D shape {arr.shape}")
    gray = stack.ndim == 3
    if gray:
        stack = stack[..., None]
    if not 1 <= stack.shape[-1] <= 4:
        raise ValueError(f"{name} must have 1 to 4 channels, got shape {stack.shape}")
    if stack.shape[0] < min_count:
        raise ValueError(f"{name} needs at least {min_count} images, got {stack.shape[0]}")
    _check_hw(stack.shape[1:], name)
    vr = _value_range(stack, name, gray)
    return _normalise(stack, vr), vr, single


def as_mask(mask: object, shape: tuple[int, int], name: str) -> np.ndarray:
    """Validate a boolean / 0-1 mask of shape ``shape`` and return it as bool ``(H, W)``."""
    arr = _check_array(mask, name)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have the image's shape {tuple(shape)}, got {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr > 0


def check_iterations(iterations: int | None, default: int) -> int:
    """``None`` -> ``default``; otherwise a positive int."""
    if iterations is None:
        return default
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)):
        raise TypeError(f"iterations must be an int or None, got {type(iterations).__name__}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    return int(iterations)


def check_max_size(max_size: int | None, default: int) -> int:
    """``None`` -> ``default``; otherwise an int >= 16."""
    if max_size is None:
        return default
    if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)):
        raise TypeError(f"max_size must be an int or None, got {type(max_size).__name__}")
    if max_size < 16:
        raise ValueError(f"max_size must be >= 16 pixels, got {max_size}")
    return int(max_size)


def working_shape(shape: Sequence[int], max_size: int) -> tuple[int, int]:
    """Shape ``(h, w)`` with the long side at most ``max_size``, aspect ratio kept."""
    h, w = int(shape[0]), int(shape[1])
    scale = min(1.0, max_size / max(h, w))
    return max(8, round(h * scale)), max(8, round(w * scale))


def as_frames(frames: object, name: str = "frames", min_count: int = 2) -> tuple[np.ndarray, ValueRange]:
    """Validate a video / stack: ``(T, H, W)`` grey or ``(T, H, W, C)``, ``C`` in 1..4 (or a sequence of frames).

    Unlike :func:`as_images`, a 3D array is always ``(T, H, W)`` (any ``T``), never one colour image. Returns
    float32 ``(T, H, W, C)`` in [0, 1] with one value range for all frames, and that range.
    """
    if isinstance(frames, (list, tuple)):
        if len(frames) == 0:
            raise ValueError(f"{name} is an empty sequence")
        arrays = [_check_array(f, f"{name}[{i}]") for i, f in enumerate(frames)]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"all {name} must have the same shape, got {sorted(shapes)}")
        arr = np.stack(arrays)
    else:
        arr = _check_array(frames, name)
    if arr.ndim == 3:
        gray, arr = True, arr[..., None]
    elif arr.ndim == 4:
        gray = False
        if not 1 <= arr.shape[-1] <= 4:
            raise ValueError(
                f"{name} must be (T, H, W) or (T, H, W, C) with C <= 4 channels, got shape {arr.shape}"
            )
    else:
        raise ValueError(
            f"{name} must be a 3D (T, H, W) or 4D (T, H, W, C) array, got {arr.ndim}D shape {arr.shape}"
        )
    if arr.shape[0] < min_count:
        raise ValueError(f"{name} needs at least {min_count} frames, got {arr.shape[0]}")
    _check_hw(arr.shape[1:], name)
    vr = _value_range(arr, name, gray)
    return _normalise(arr, vr), vr
__all__ += ["as_frames"]
