"""File > Open Sample contributions: synthetic inputs from :mod:`napari_doubledip.samples` as napari layer data.

Each function returns a list of ``(data, layer_kwargs, layer_type)`` tuples. No torch import.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from . import samples

__all__ = [
    "texture_composite",
    "blob_field",
    "two_mixtures",
    "watermarked",
    "watermark_set",
    "hazy_image",
    "moving_object_video",
    "reflection_video",
]

LayerData = tuple[Any, dict[str, Any], str]

#: Side of the sample images: larger than the default working size (128), as real inputs are.
SIZE = 256
#: Metadata key marking a layer as a video: the widgets then start in their whole-stack video mode for it.
VIDEO_KEY = "video"
#: Layer metadata key of a sample whose widget options should start at given values, once per pick:
#: ``{option name: value}`` (e.g. the blob field's intensity hints).
OPTIONS_KEY = "doubledip options"

#: Side and length of the video samples (every frame is optimised: kept small).
VIDEO_SIZE, VIDEO_FRAMES = 128, 8


def _box_layer(box: tuple[int, int, int, int], name: str) -> LayerData:
    """A Shapes layer with one rectangle ``(top, left, bottom, right)``, drawn as an outline."""
    top, left, bottom, right = box
    rect = np.array([[top, left], [top, right - 1], [bottom - 1, right - 1], [bottom - 1, left]], float)
    kwargs = {"name": name, "shape_type": "rectangle", "edge_color": "yellow", "face_color": "transparent",
              "edge_width": 2}
    return ([rect], kwargs, "shapes")


_opened = itertools.count(1)


def _set_id(name: str) -> str:
    """A sample set's id, new at every opening (a second opening is another set, not more of the first)."""
    return f"{name} #{next(_opened)}"


def texture_composite() -> list[LayerData]:
    """Segmentation: a textured object on another texture (RGB)."""
    s = samples.texture_composite(SIZE, rgb=True)
    return [(s.data, {"name": "texture composite"}, "image")]


def blob_field() -> list[LayerData]:
    """Segmentation of many objects: a fluorescence-like field of nuclei, 12-bit (uint16), on an uneven
    background; the segmentation widget starts at its intensity hints for it."""
    s = samples.blob_field(SIZE)
    data = np.round(np.clip(s.data, 0, 1) * 4095).astype(np.uint16)
    meta = {OPTIONS_KEY: {"automatic": "intensity (many objects)"}}
    return [(data, {"name": "nuclei", "metadata": meta}, "image")]


def two_mixtures() -> list[LayerData]:
    """Transparency: two mixtures ``a * L1 + (1 - a) * L2`` of the same two images."""
    s = samples.two_mixtures(SIZE)
    meta = {"sample_set": _set_id("two mixtures")}  # the widgets select the set's layers together
    return [(m, {"name": f"mixture {i + 1}", "metadata": meta}, "image") for i, m in enumerate(s.data)]


def watermarked() -> list[LayerData]:
    """Watermark removal with a box: a watermarked image and a rectangle around the mark."""
    s = samples.watermarked(SIZE)
    meta = {"sample_set": _set_id("watermarked")}  # its box, made active, brings the widget to its image
    rect, kwargs, kind = _box_layer(s.extra["box"], "watermark box")
    image = (s.data, {"name": "watermarked", "metadata": meta}, "image")
    return [image, (rect, {**kwargs, "metadata": meta}, kind)]


def watermark_set() -> list[LayerData]:
    """Watermark removal without a box: three images sharing one watermark."""
    s = samples.watermark_set(3, SIZE)
    meta = {"sample_set": _set_id("watermark set")}  # the widgets select the set's layers together
    return [(im, {"name": f"watermarked {i + 1}", "metadata": meta}, "image") for i, im in enumerate(s.data)]


def hazy_image() -> list[LayerData]:
    """Dehazing: a hazy photograph (synthetic haze over scikit-image's coffee picture, uniform airlight)."""
    s = samples.hazy_image(SIZE)
    return [(s.data, {"name": "hazy image"}, "image")]


def moving_object_video() -> list[LayerData]:
    """Video segmentation: a textured blob moving over a static background, a ``(T, Y, X, RGB)`` stack."""
    s = samples.moving_object_video(size=VIDEO_SIZE, frames=VIDEO_FRAMES)
    return [(s.data, {"name": "moving object video", "metadata": {VIDEO_KEY: True}}, "image")]


def reflection_video() -> list[LayerData]:
    """Video transparency: a panning scene behind a static reflection, a ``(T, Y, X)`` stack."""
    s = samples.reflection_video(size=VIDEO_SIZE, frames=VIDEO_FRAMES)
    return [(s.data, {"name": "reflection video", "metadata": {VIDEO_KEY: True}}, "image")]
