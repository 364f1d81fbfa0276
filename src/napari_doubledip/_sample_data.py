"""File > Open Sample contributions: synthetic inputs from :mod:`napari_doubledip.samples` as napari layer data.

Each function returns a list of ``(data, layer_kwargs, layer_type)`` tuples. No torch import.
"""

from __future__ import annotations

from typing import Any

from . import samples

__all__ = [
    "texture_composite",
    "two_mixtures",
    "moving_object_video",
    "reflection_video",
]

LayerData = tuple[Any, dict[str, Any], str]

#: Side of the sample images: larger than the default working size (128), as real inputs are.
SIZE = 256


def texture_composite() -> list[LayerData]:
    """Segmentation: a textured object on another texture (RGB)."""
    s = samples.texture_composite(SIZE, rgb=True)
    return [(s.data, {"name": "texture composite"}, "image")]


def two_mixtures() -> list[LayerData]:
    """Transparency: two mixtures ``a * L1 + (1 - a) * L2`` of the same two images."""
    s = samples.two_mixtures(SIZE)
    return [(m, {"name": f"mixture {i + 1}"}, "image") for i, m in enumerate(s.data)]


def moving_object_video() -> list[LayerData]:
    """Video segmentation: a textured blob moving over a static background, a ``(T, Y, X, RGB)`` stack."""
    s = samples.moving_object_video(size=128, frames=8)
    return [(s.data, {"name": "moving object video"}, "image")]


def reflection_video() -> list[LayerData]:
    """Video transparency: a panning scene behind a static reflection, a ``(T, Y, X)`` stack."""
    s = samples.reflection_video(size=128, frames=8)
    return [(s.data, {"name": "reflection video"}, "image")]
