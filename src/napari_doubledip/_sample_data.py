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
#: Layer metadata key of every sample layer: which opening of a sample it came from (a panel already open on
#: one sample moves to the next sample opened: see the widgets' ``_on_inserted``).
SAMPLE_KEY = "doubledip sample"

#: Layer metadata key of a sample's Shapes layer made for one task (the :class:`TaskSpec` name, e.g. the
#: watermark's box): other tasks' panels do not take it as their box.
BOX_FOR_KEY = "doubledip box for"

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


def _opening(name: str, several: bool = False) -> dict[str, str]:
    """The metadata marking the layers of one opening of a sample (``several``: a set of layers, which the
    widgets select together)."""
    opening = _set_id(name)
    return {SAMPLE_KEY: opening, **({"sample_set": opening} if several else {})}


def texture_composite() -> list[LayerData]:
    """Segmentation: a textured object on another texture (RGB)."""
    s = samples.texture_composite(SIZE, rgb=True)
    return [(s.data, {"name": "texture composite", "metadata": _opening("texture composite")}, "image")]


def blob_field() -> list[LayerData]:
    """Segmentation of many objects: a fluorescence-like field of nuclei, 12-bit (uint16), on an uneven
    background; the segmentation widget starts at its intensity hints for it."""
    s = samples.blob_field(SIZE)
    data = np.round(np.clip(s.data, 0, 1) * 4095).astype(np.uint16)
    meta = {OPTIONS_KEY: {"automatic": "intensity (many objects)"}, **_opening("nuclei")}
    return [(data, {"name": "nuclei", "metadata": meta}, "image")]


def two_mixtures() -> list[LayerData]:
    """Transparency: two mixtures ``a * L1 + (1 - a) * L2`` of the same two images."""
    s = samples.two_mixtures(SIZE)
    meta = _opening("two mixtures", several=True)  # the widgets select the set's layers together
    return [(m, {"name": f"mixture {i + 1}", "metadata": meta}, "image") for i, m in enumerate(s.data)]


def watermarked() -> list[LayerData]:
    """Watermark removal with a box: a watermarked image and a rectangle around the mark."""
    s = samples.watermarked(SIZE)
    meta = _opening("watermarked", several=True)  # its box, made active, brings the widget to its image
    rect, kwargs, kind = _box_layer(s.extra["box"], "watermark box")
    image = (s.data, {"name": "watermarked", "metadata": meta}, "image")
    return [image, (rect, {**kwargs, "metadata": {**meta, BOX_FOR_KEY: "watermark"}}, kind)]


def watermark_set() -> list[LayerData]:
    """Watermark removal without a box: three images sharing one watermark."""
    s = samples.watermark_set(3, SIZE)
    meta = _opening("watermark set", several=True)  # the widgets select the set's layers together
    return [(im, {"name": f"watermarked {i + 1}", "metadata": meta}, "image") for i, im in enumerate(s.data)]


def hazy_image() -> list[LayerData]:
    """Dehazing: a hazy photograph (synthetic haze over scikit-image's coffee picture, uniform airlight)."""
    s = samples.hazy_image(SIZE)
    return [(s.data, {"name": "hazy image", "metadata": _opening("hazy image")}, "image")]


def moving_object_video() -> list[LayerData]:
    """Video segmentation: a textured blob moving over a static background, a ``(T, Y, X, RGB)`` stack."""
    s = samples.moving_object_video(size=VIDEO_SIZE, frames=VIDEO_FRAMES)
    meta = {VIDEO_KEY: True, **_opening("moving object video")}
    return [(s.data, {"name": "moving object video", "metadata": meta}, "image")]


def reflection_video() -> list[LayerData]:
    """Video transparency: a panning scene behind a static reflection, a ``(T, Y, X)`` stack."""
    s = samples.reflection_video(size=VIDEO_SIZE, frames=VIDEO_FRAMES)
    meta = {VIDEO_KEY: True, **_opening("reflection video")}
    return [(s.data, {"name": "reflection video", "metadata": meta}, "image")]
