"""napari layer plumbing shared by every task widget (no Qt, no torch).

Reading: the array of an image layer (or the frame under the slider), a Labels layer aligned with it, a Shapes
rectangle (or ellipse, polygon) in its pixel coordinates. Writing: :class:`OutputLayers` creates the
``"<input> <part>"`` layers, or updates them in place when they exist from an earlier run, copies the input's
transform, and can roll a run back (cancel) to the viewer's state before it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .._validation import corners_to_box, loaded
from ._worker import Deferred, _is_lazy

__all__ = [
    "LEVEL_PIXELS",
    "read_level",
    "level_zoom",
    "full_frame_shape",
    "layer_array",
    "layer_array_shape",
    "is_stack",
    "is_rgb",
    "frame_shape",
    "current_frame",
    "read_image",
    "stack_axes",
    "place_in_stack",
    "read_labels",
    "read_box",
    "to_frame",
    "read_frame_boxes",
    "rectangle_frames",
    "has_region",
    "REGION_TYPES",
    "transform",
    "same_layer",
    "OutputLayers",
]


def same_layer(a: Any, b: Any) -> bool:
    """Whether two references are the same layer (a plugin's viewer hands out a new proxy per access)."""
    return getattr(a, "__wrapped__", a) is getattr(b, "__wrapped__", b)


def source_id(layer: Any) -> str | None:
    """An input layer's napari id, kept in its results' ``metadata["source_id"]``: the layer renamed since
    still finds its results (``metadata["source"]`` holds the name it had)."""
    value = getattr(layer, "unique_id", None)
    return None if value is None else str(value)


#: A multiscale layer is read at its finest level with at most this many pixels per frame (Y x X), so that a
#: slide's full-resolution level (gigabytes, several times over in a run) is never loaded: the optimisation
#: works at about 128-192 px whatever the level, and at 4096 x 4096 a run's finishing at full size peaks at
#: about 2-3 GB (RGB). Results come back at that level, placed over the full-resolution pixels they cover.
LEVEL_PIXELS = 4096 * 4096


def _level_shapes(layer: Any) -> list[tuple[int, ...]]:
    return [tuple(np.shape(d)) for d in layer.data] if getattr(layer, "multiscale", False) else [layer.data.shape]


def read_level(layer: Any) -> int:
    """The level a multiscale layer is read at (``0`` for other layers): the finest whose frames have at most
    :data:`LEVEL_PIXELS` pixels, among the levels with the same leading (frame) axes as the full resolution
    (pyramids that also shrink Z or T are read where the frame indices mean the same), else the coarsest of
    those."""
    shapes = _level_shapes(layer)
    if len(shapes) == 1:
        return 0
    yx = slice(-3, -1) if getattr(layer, "rgb", False) else slice(-2, None)
    lead = shapes[0][: stack_axes(layer)]
    same = [k for k, s in enumerate(shapes) if s[: len(lead)] == lead and len(s) == len(shapes[0])]
    fits = [k for k in same if int(np.prod(shapes[k][yx])) <= LEVEL_PIXELS]
    return fits[0] if fits else same[-1]


def full_frame_shape(layer: Any) -> tuple[int, int]:
    """``(H, W)`` of one frame at full resolution (level 0 of a multiscale layer)."""
    shape = _level_shapes(layer)[0]
    return tuple(shape[-3:-1]) if getattr(layer, "rgb", False) else tuple(shape[-2:])


def level_zoom(layer: Any) -> tuple[float, float]:
    """Full-resolution pixels per pixel of the level :func:`read_level` reads, along Y and X (``(1, 1)`` but
    for a multiscale layer read at a coarser level)."""
    full, read = full_frame_shape(layer), frame_shape(layer)
    return (full[0] / read[0], full[1] / read[1])


def _level_data(layer: Any) -> Any:
    return layer.data[read_level(layer)] if getattr(layer, "multiscale", False) else layer.data


def layer_array(layer: Any) -> np.ndarray:
    """The layer's data as numpy (a multiscale layer's level :func:`read_level`; dask/zarr computed)."""
    return np.asarray(loaded(_level_data(layer)))


def is_stack(layer: Any) -> bool:
    """More than two spatial axes: ``(T, Y, X)``, ``(T, Y, X, RGB)``, ..."""
    return layer.ndim > 2


def is_rgb(data: np.ndarray, source: Any) -> bool:
    """Output with a colour axis: the source layer is RGB(A) and the array ends in 3 or 4 channels."""
    return bool(getattr(source, "rgb", False)) and data.ndim >= 3 and data.shape[-1] in (3, 4)


def frame_shape(layer: Any) -> tuple[int, int]:
    """``(H, W)`` of one frame as read (a multiscale layer: at level :func:`read_level`)."""
    shape = _level_shapes(layer)[read_level(layer)]
    return tuple(shape[-3:-1]) if getattr(layer, "rgb", False) else tuple(shape[-2:])


def current_frame(
    layer: Any, viewer: Any, strict: bool = False, free: tuple[int, ...] = (), scribbles: bool = False
) -> tuple[int, ...]:
    """Data indices of the leading (non-YX) axes at the viewer's current slider position.

    A position beyond the layer's frames is clipped to its first or last frame, or, with ``strict``, a
    ``ValueError`` (napari shows nothing of the layer there: e.g. scribbles on fewer frames than the image, or
    one of several images with fewer frames than another), except on the axes in ``free`` (read whole by the
    caller: always clipped). ``scribbles``: the layer is a hint layer (the error's advice).
    """
    lead = layer.ndim - 2
    if lead <= 0:
        return ()
    point = slider_point(layer, viewer)
    # As napari picks the plane it shows: from the slider axes alone. The displayed axes' coordinates (the
    # view's centre) are left out, or a shear or rotation that mixes them into the frame axes (a deskewed
    # light-sheet stack) would pick another plane than the one on screen.
    point[list(viewer.dims.displayed)] = 0.0
    data_pos = np.asarray(layer.world_to_data(point), dtype=float)
    shape = layer_array_shape(layer)
    index = []
    for i, (p, n) in enumerate(zip(data_pos[:lead], shape[:lead], strict=True)):
        # (napari shows frame round(p), rounding halves to even as Python does: p = 2.5 shows frame 2 of 3)
        if strict and i not in free and not 0 <= round(p) <= n - 1:
            ends = [np.zeros(layer.ndim), np.zeros(layer.ndim)]
            ends[1][i] = n - 1
            lo, hi = sorted(float(layer.data_to_world(e)[i]) for e in ends)
            where = f"{lo:g}" if n == 1 else f"{lo:g} to {hi:g}"
            raise ValueError(
                f"layer {layer.name!r} has no frame at the current slider position ({n} frame(s), at {where} on "
                f"that axis; the slider is at {float(point[len(point) - layer.ndim + i]):g}); "
                "move the slider to one of its frames"
                + (" or give it one per frame of the image" if scribbles else "")
            )
        index.append(int(np.clip(round(p), 0, n - 1)))
    return tuple(index)


def slider_point(layer: Any, viewer: Any) -> np.ndarray:
    """The viewer's current point in ``layer``'s own units (what ``layer.world_to_data`` takes).

    napari (0.9) puts layers of compatible units (nm beside µm) into one world in the smallest of them, and
    ``viewer.dims.point`` is in that unit, while a layer's ``world_to_data`` works in the layer's own units.
    """
    point = np.asarray(viewer.dims.point, dtype=float).copy()
    world_units = getattr(viewer.dims, "units", None)
    own_units = getattr(layer, "units", None)
    if not world_units or not own_units:
        return point
    first = len(point) - layer.ndim
    for j, unit in enumerate(own_units):
        k = first + j
        if 0 <= k < len(world_units):
            point[k] *= _unit_factor(world_units[k], unit)
    return point


def _unit_factor(have: Any, want: Any) -> float:
    """How many ``want`` one ``have`` is; 1 where they are the same or do not convert (pixels, units of another
    registry: napari does not convert them either)."""
    try:
        return 1.0 if have == want else float((1 * have).to(want).magnitude)
    except Exception:  # noqa: BLE001
        return 1.0


def unit_factors(src: Any, dst: Any, n: int, viewer: Any = None) -> np.ndarray:
    """For the last ``n`` axes: how many of ``dst``'s units one of ``src``'s is (1 where they are the same or do
    not convert, e.g. pixels). napari (0.9) shows layers of compatible units (a box in nm over an image in µm)
    in one world, while each layer's ``data_to_world`` / ``world_to_data`` work in its own units: a point from
    ``src.data_to_world`` times these is one for ``dst.world_to_data``. All 1 where ``viewer`` uses no units
    (napari drops them, converting nothing, when some layer's units are inconsistent with the others')."""
    out = np.ones(n)
    have, want = getattr(src, "units", None), getattr(dst, "units", None)
    if not have or not want or (viewer is not None and not getattr(viewer.dims, "units", None)):
        return out
    for j in range(1, min(n, len(have), len(want)) + 1):
        out[-j] = _unit_factor(have[-j], want[-j])
    return out


def is_result(layer: Any) -> bool:
    """Whether ``layer`` is an output of a Double-DIP run (its metadata names the task and the part)."""
    md = getattr(layer, "metadata", None) or {}
    return "task" in md and "part" in md


def in_overlay(viewer: Any, source: Any) -> bool:
    """Whether a grey input layer is a channel of an additive overlay, as napari's ``channel_axis`` makes one:
    its first channel opaque, the ones over it ``"additive"``, all of the same shape and placement. An additive
    layer with another channel beside it is one; so is a layer under an additive channel of its own (shown or
    hidden: shown again, it must not be covered) with no shown opaque one between (an image under an overlay
    it is not part of is covered by the overlay's first channel). A lone additive layer is no overlay."""
    if getattr(source, "rgb", False) or not hasattr(source, "contrast_limits"):
        return False
    layers = list(viewer.layers)
    at = next((i for i, layer in enumerate(layers) if same_layer(layer, source)), None)
    if at is None:
        return False

    def channel(layer: Any) -> bool:  # (another grey input of the same shape and placement)
        return (
            hasattr(layer, "contrast_limits") and not getattr(layer, "rgb", False) and not is_result(layer)
            and _sibling(layer, source)
        )

    if getattr(source, "blending", None) == "additive":
        return any(channel(layer) for i, layer in enumerate(layers) if i != at)
    for layer in filter(channel, layers[at + 1:]):
        if getattr(layer, "blending", None) == "additive":
            return True
        if layer.visible:  # (an opaque one covers the source: not its overlay)
            return False
    return False


def _sibling(layer: Any, source: Any) -> bool:
    """Whether two layers are channels of one image, as ``channel_axis`` makes them: the same shape, scale,
    translate (to a thousandth of a pixel), rotation, shear and affine."""
    try:
        scale = np.asarray(source.scale, float)
        return (
            layer_array_shape(layer) == layer_array_shape(source)
            and np.allclose(layer.scale, scale, rtol=1e-6, atol=0)  # (relative: nanometre pixels)
            and bool(np.all(np.abs(np.subtract(layer.translate, source.translate)) <= 1e-3 * np.abs(scale)))
            and np.allclose(layer.rotate, source.rotate) and np.allclose(layer.shear, source.shear)
            and np.allclose(layer.affine.affine_matrix, source.affine.affine_matrix)
        )
    except Exception:  # noqa: BLE001 - (layers of other dimensionality: not channels of one image)
        return False


def layer_array_shape(layer: Any) -> tuple[int, ...]:
    """Shape of a layer's array (its full-resolution level for a multiscale layer: the leading axes of the
    level read are the same)."""
    return tuple(_level_shapes(layer)[0])


def stack_axes(layer: Any) -> int:
    """Number of leading (non-YX) axes: 0 for an image, 1 for ``(T, Y, X)``, 2 for ``(T, Z, Y, X)``..."""
    return max(layer.ndim - 2, 0)


#: Largest chunk (bytes) of an array the widgets wrap for loading in the worker (:func:`lazy_array`).
LAZY_CHUNK_BYTES = 8 * 2**20


def lazy_array(data: Any) -> Any:
    """``data`` as a dask array whose chunks the worker can load a few at a time, so that Cancel acts during a
    long read and dask reads them in parallel (``napari_doubledip._widgets._worker._load``).

    A dask array is returned as it is (its chunks are its author's). Anything else (numpy, zarr, an
    array-like) is wrapped in chunks split along the first axis (frames, or rows of an image) into slabs of
    about :data:`LAZY_CHUNK_BYTES` (at least one frame or row); a store with chunks of its own (zarr) keeps
    them, with slabs of whole store chunks along the first axis (a zarr chunk split in two would be read and
    decompressed twice). dask reads each chunk as one slice of the store. dask's defaults would make one chunk
    of up to 128 MB, or split the other axes first: a slide's level or a movie would load in one
    uninterruptible piece.
    """
    import dask.array as da  # (napari's dependency)

    if _is_lazy(data):
        return data
    shape = tuple(int(n) for n in data.shape)
    if not shape or 0 in shape:
        return da.from_array(data, chunks=-1)
    itemsize = np.dtype(data.dtype).itemsize
    store = getattr(data, "chunks", None)
    if not (isinstance(store, tuple) and len(store) == len(shape) and all(isinstance(c, int) for c in store)):
        store = (1, *shape[1:])
        row = itemsize * int(np.prod(shape[1:]))
        if len(shape) > 2 and row > LAZY_CHUNK_BYTES:  # one frame is large: rows of it (a current-frame read
            # keeps only the frame's own chunks)
            rows = max(1, LAZY_CHUNK_BYTES // max(1, row // shape[1]))
            store = (1, min(rows, shape[1]), *shape[2:])
    slab = itemsize * store[0] * int(np.prod(shape[1:]))  # bytes of one store chunk's rows, whole width
    first = min(shape[0], store[0] * max(1, LAZY_CHUNK_BYTES // slab))
    return da.from_array(data, chunks=(first, *store[1:]))


def read_image(
    layer: Any, viewer: Any, whole_stack: bool = False, axis: int = 0, lazy: bool = False
) -> tuple[np.ndarray, tuple[int | None, ...] | None]:
    """The layer's array (whole stack) or the current frame of a stack, with the frame index (``None`` if 2D).

    With ``whole_stack``, ``axis`` is the leading axis that holds the sequence; a layer with more leading axes
    (e.g. ``(T, Z, Y, X)``) is sliced at the viewer's current position on the others, and the index returned
    has ``None`` at ``axis`` (``None`` as a whole for a plain ``(T, Y, X[, RGB])`` stack). ``lazy``: dask /
    zarr data (a whole stack, a frame of it, a large image or a multiscale level) is returned unloaded, to be
    loaded where it is used (the library does, in the worker thread: loading a long lazy movie, or a slide's
    full-resolution level, in the GUI thread froze the viewer). A multiscale layer is read at its level
    :func:`read_level`.
    """
    data = _level_data(layer)
    if lazy and not isinstance(data, np.ndarray):
        data = lazy_array(data)  # zarr and other array-likes: slices stay lazy too
    if not is_stack(layer):
        return (data if lazy else layer_array(layer)), None
    if whole_stack:
        lead = stack_axes(layer)
        if lead == 1:
            return (data if lazy else layer_array(layer)), None
        if not 0 <= axis < lead:
            raise ValueError(f"sequence axis {axis} is not a leading axis of {layer.name!r} ({lead} leading axes)")
        _check_slice_chosen(layer, viewer, axis, lead)
        # strict on the other leading axes: beyond their planes napari shows nothing of the layer
        here = current_frame(layer, viewer, strict=True, free=(axis,))
        index: tuple[int | None, ...] = tuple(None if i == axis else v for i, v in enumerate(here))
        sel = _selection(index)
    else:
        _check_yx_displayed(layer, viewer)
        # strict: beyond its frames napari shows nothing of the layer; the frame run must be one the user sees
        index = sel = current_frame(layer, viewer, strict=True)
    frame = data[sel]
    if lazy:
        return frame, index
    return np.asarray(loaded(frame)), index


def projected_axes(layer: Any, viewer: Any, index: tuple[int | None, ...] | None) -> list[int]:
    """The leading axes read at the slider (``index`` not ``None`` there) that napari shows as a projection of
    several planes (the layer's ``projection_mode`` over the viewer's Dims ``thickness``): a run reads the one
    plane at the slider, not what is on screen. The planes are counted as napari slices them (a thickness of
    one pixel shows one plane at a whole-pixel position, two half-way between)."""
    if not index or str(getattr(layer, "projection_mode", "none")) == "none":
        return []
    offset = viewer.dims.ndim - layer.ndim
    point = slider_point(layer, viewer)
    point[list(viewer.dims.displayed)] = 0.0
    data_pos = np.asarray(layer.world_to_data(point), dtype=float)
    scale = np.abs(np.asarray(layer.scale, dtype=float))
    thickness = np.asarray(viewer.dims.thickness, dtype=float)
    shape = layer_array_shape(layer)
    axes = []
    for i, v in enumerate(index):
        if v is None or not 0 <= offset + i < len(thickness) or thickness[offset + i] <= 0:
            continue
        p, margin = data_pos[i], thickness[offset + i] / 2 / scale[i]
        low, high = max(int(np.round(p - margin)), 0), max(int(np.round(p + margin)), 0)
        if np.isclose(high, p + margin):  # (napari's rule: a stop exactly on a plane includes it)
            high += 1
        if min(high, shape[i]) - low > 1:
            axes.append(i)
    return axes


def _check_slice_chosen(layer: Any, viewer: Any, axis: int, lead: int) -> None:
    """Refuse a whole-stack read of a layer with several leading axes (e.g. T, Z, Y, X) while the viewer shows
    one of the other leading axes (Z as depth in the 3D view, or in a rolled 2D view): it is read at its
    slider position, which the user cannot see nor choose there."""
    dims = viewer.dims
    offset = dims.ndim - layer.ndim
    shown = [i for i in range(lead) if i != axis and offset + i in set(dims.displayed)]
    if shown:
        labels = [str(v) for v in getattr(layer, "axis_labels", ())] or [""] * layer.ndim
        named = [f"{i} ({labels[i]})" if not labels[i].lstrip("-").isdigit() else str(i) for i in shown]
        raise ValueError(
            f"the view shows axis {', '.join(named)} of {layer.name!r}, which a whole-stack run along axis {axis} "
            "takes at its slider: switch to the 2D view of Y-X frames and choose that slice with its slider"
        )


def _check_yx_displayed(layer: Any, viewer: Any) -> None:
    """Refuse a current-frame read while the viewer shows another plane of the stack (e.g. Z-X after a
    transpose): the frame read would be a Y-X plane the user does not see, and its result would show as a line."""
    dims = viewer.dims
    if dims.ndisplay != 2:
        # A 3D view shows a leading axis as depth: the frame at its (hidden) position is not one the user chose.
        lead = set(range(dims.ndim - layer.ndim, dims.ndim - 2))
        if not {dims.ndim - 2, dims.ndim - 1} <= set(dims.displayed):
            raise ValueError(
                f"the 3D view does not show the Y-X frames of {layer.name!r}; 'current frame' takes the Y-X "
                "frame at the sliders: show Y and X (reset the axis order) or run the whole stack"
            )
        if lead & set(dims.displayed):
            raise ValueError(
                f"the 3D view shows the frames of {layer.name!r} as depth; 'current frame' takes the one at the "
                "slider: switch to the 2D view to choose it, or run the whole stack"
            )
        return
    yx = (dims.ndim - 2, dims.ndim - 1)  # the layer's last two axes are the viewer's last two
    if tuple(sorted(dims.displayed)) != yx:
        raise ValueError(
            f"the viewer shows another plane of {layer.name!r} than its Y-X frames; 'current frame' takes the Y-X "
            "frame at the sliders: show Y-X (reset the axis order, e.g. with the roll/transpose buttons) or run "
            "the whole stack"
        )


def _selection(index: tuple[int | None, ...]) -> tuple[int | slice, ...]:
    """Indexing tuple for a leading-axis index as :func:`read_image` returns it (``None`` = the whole axis)."""
    return tuple(slice(None) if v is None else v for v in index)


def place_in_stack(data: np.ndarray, index: tuple[int | None, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Put a ``(T, Y, X[, C])`` result of a slice through a multi-axis stack back on the layer's leading axes.

    ``index`` is what :func:`read_image` returned (``None`` at the sequence axis): the other leading axes get
    length 1, and the offsets (in data pixels) to translate them to the slice they came from are returned.
    """
    for i, v in enumerate(index):
        if v is not None:
            data = np.expand_dims(data, i)
    return data, tuple(0 if v is None else int(v) for v in index)


def read_labels(
    layer: Any, image: Any, viewer: Any, whole_stack: bool = False, index: tuple[int | None, ...] | None = None
) -> np.ndarray:
    """A Labels layer as an array matching ``image``'s frame, or its stack (``index``: from :func:`read_image`).

    For a whole stack the labels may be one frame ``(H, W)`` (used for every frame), one per frame of the
    sequence ``(T, H, W)``, shaped like the image's leading axes ``(..., H, W)`` (sliced like the image), or
    like its last leading axes (as napari lines them up: per frame if the sequence is among them, else read at
    the slider for every frame). Lazy (dask / zarr) labels are sliced before they are loaded: only the frame
    or the sequence a run needs is read. Over a multiscale image read at a coarser level, labels painted at
    full resolution are brought to that level (:func:`downscale_labels`); labels at that level (a mask of an
    earlier run) are read as they are.
    """
    shape, full = frame_shape(image), full_frame_shape(image)
    labels = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    if getattr(layer, "multiscale", False):  # its level at the image's read size, if it has one
        labels = next((d for d in layer.data if tuple(np.shape(d)[-2:]) == shape), labels)
    own = tuple(labels.shape[-2:]) if tuple(labels.shape[-2:]) in (shape, full) else shape
    lead = layer_array_shape(image)[: stack_axes(image)]
    if whole_stack and lead:
        axis = index.index(None) if index is not None and None in index else 0
        if index is not None and labels.shape == (*lead, *own):
            return _fit(labels[_selection(index)], shape)
        if index is not None and labels.ndim - 2 == len(lead) and labels.shape[axis] == lead[axis] and (
            tuple(labels.shape[-2:]) == own
        ):
            # The whole sequence on fewer positions of the other leading axes (an earlier whole-stack run's mask,
            # placed on the slice it came from): read where the slider is, as napari shows it.
            at = current_frame(layer, viewer, strict=True, free=(axis,), scribbles=True)
            return _fit(labels[tuple(slice(None) if i == axis else at[i] for i in range(len(lead)))], shape)
        k, first = labels.ndim - 2, len(lead) - (labels.ndim - 2)
        if index is not None and 0 < k < len(lead) and labels.shape == (*lead[first:], *own):
            # Fewer leading axes than the image: napari lines them up with the image's last ones (e.g. (T, Y, X)
            # scribbles over a (Z, T, Y, X) image are per T). With the sequence among them, the labels give one
            # frame per sequence frame; else they are read at the slider and apply to every frame.
            if axis >= first:
                sel = tuple(slice(None) if i == axis else index[i] for i in range(first, len(lead)))
                return _fit(labels[sel], shape)
            labels = labels[current_frame(layer, viewer, strict=True, scribbles=True)]
        elif len(lead) == 1 and labels.shape == (lead[0], *own):
            return _fit(labels, shape)
        elif labels.ndim - 2 == len(lead) and tuple(labels.shape[-2:]) == own and (
            placed := _labels_on_frames(layer, image, labels, axis, index, viewer)
        ) is not None:
            # fewer frames, placed on some of the image's (a current-frame run's mask, corrected): those
            # frames get its labels, the others none
            return _fit(placed, shape)
        elif labels.ndim > 2:
            trailing = " or ".join(str((*lead[i:], *full)) for i in range(len(lead)))
            raise ValueError(
                f"labels layer {layer.name!r} has shape {labels.shape}; for the whole stack of {image.name!r} it "
                f"must be one frame {full} or {trailing} (napari lines up fewer leading axes with the last ones), "
                "or fewer frames placed on the image's frames (not between them)"
            )
    elif labels.ndim > 2:
        labels = labels[current_frame(layer, viewer, strict=True, scribbles=True)]
    if labels.shape != own:
        raise ValueError(
            f"labels layer {layer.name!r} has frames of shape {labels.shape}, "
            f"but image {image.name!r} has {full}; "
            "add the Labels layer from the image (File > New Layer > Labels, with only the image selected in the "
            "layer list) so that they match"
        )
    return _fit(labels, shape)


def _labels_on_frames(
    layer: Any, image: Any, labels: Any, axis: int, index: tuple[int | None, ...] | None, viewer: Any = None
) -> np.ndarray | None:
    """The labels napari shows on each frame of ``image``'s sequence (leading axis ``axis``; the other leading
    axes at ``index``), as a ``(T, H, W)`` stack with zeros (no label) on frames it shows none on: labels with
    fewer frames placed by their transform, e.g. a current-frame run's mask (one frame, translated to it).
    ``None`` where the layer's frames fall between the image's, or on none of them."""
    k = labels.ndim - 2
    count = layer_array_shape(image)[axis]
    frames: list[Any] = []
    for t in range(count):
        pos = np.zeros(image.ndim)
        pos[:k] = [0 if index is None or index[i] is None else index[i] for i in range(k)]
        pos[axis] = t
        world = np.asarray(image.data_to_world(pos), dtype=float) * unit_factors(image, layer, len(pos), viewer)
        at = np.asarray(layer.world_to_data(world), dtype=float)[:k]
        near = np.round(at)
        if np.abs(at - near).max() > 1e-3:
            return None
        inside = all(0 <= v < n for v, n in zip(near, labels.shape[:k]))
        frames.append(labels[tuple(int(v) for v in near)] if inside else None)
    if all(f is None for f in frames):
        return None
    blank = np.zeros(labels.shape[-2:], dtype=labels.dtype)
    return np.stack([blank if f is None else _load(f) for f in frames])


def resample_labels(layer: Any, image: Any, pixels: int = 1 << 20, viewer: Any = None) -> np.ndarray:
    """A 2D Labels layer placed differently from ``image`` (another scale, translate, rotation, a larger extent;
    napari shows them over each other in world coordinates) as the labels napari shows over each of the
    image's pixels, at the frame size the image is read at; 0 outside the layer.

    Each image pixel takes the labels at ``k x k`` points spread over it (``k`` up to 4: labels pixels per image
    pixel, so that a stroke one labels pixel wide over a coarser image is not missed), the first nonzero one.
    The map from the image's (Y, X) data coordinates to the layer's is affine: it is read from three points
    through both layers' public transforms, and applied to about ``pixels`` image pixels at a time.
    """
    labels = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    h, w = frame_shape(image)
    zy, zx = level_zoom(image)

    def to_labels(y: float, x: float) -> np.ndarray:  # image read-level pixel -> labels data (Y, X)
        point = np.zeros(image.ndim)  # (an RGB layer's ndim leaves out its colour axis)
        point[-2], point[-1] = y * zy + (zy - 1) / 2, x * zx + (zx - 1) / 2
        world = np.asarray(image.data_to_world(point), dtype=float)[-2:] * unit_factors(image, layer, 2, viewer)
        return np.asarray(layer.world_to_data(world), dtype=float)[-2:]

    origin = to_labels(0.0, 0.0)
    step = np.stack([to_labels(1.0, 0.0) - origin, to_labels(0.0, 1.0) - origin], axis=1)  # (2, 2)
    k = int(min(4, max(1, math.ceil(float(np.abs(step).sum(axis=1).max()) - 1e-6))))
    # sub-pixel points, in image pixels; nudged so that none sits on a labels pixel's edge, where rounding
    # would be decided by floating-point noise (two labels pixels per image pixel put them there)
    offsets = (np.arange(k) + 0.5) / k - 0.5 + 1e-3
    lh, lw = labels.shape[-2:]
    out = np.zeros((h, w), dtype=labels.dtype)
    rows = max(1, pixels // max(w * k * k, 1))
    xs = np.arange(w, dtype=np.float64)
    for r0 in range(0, h, rows):
        ys = np.arange(r0, min(h, r0 + rows), dtype=np.float64)
        block = out[r0 : r0 + len(ys)]
        for oy in offsets:
            for ox in offsets:
                yy, xx = np.meshgrid(ys + oy, xs + ox, indexing="ij")
                ly = np.rint(origin[0] + step[0, 0] * yy + step[0, 1] * xx)
                lx = np.rint(origin[1] + step[1, 0] * yy + step[1, 1] * xx)
                take = (ly >= 0) & (ly < lh) & (lx >= 0) & (lx < lw) & (block == 0)
                if not take.any():
                    continue
                y0, y1 = int(ly[take].min()), int(ly[take].max()) + 1
                x0, x1 = int(lx[take].min()), int(lx[take].max()) + 1
                window = np.asarray(labels[y0:y1, x0:x1])  # (only what these rows cover: lazy labels stay lazy)
                block[take] = window[ly[take].astype(np.intp) - y0, lx[take].astype(np.intp) - x0]
    return out


def _fit(labels: Any, shape: tuple[int, int]) -> np.ndarray:
    """(Sliced, maybe lazy) labels as numpy at the frame size the image is read at: labels at full resolution
    over a multiscale image read at a coarser level are brought to it, a chunk of rows at a time."""
    return _load(labels) if tuple(labels.shape[-2:]) == shape else downscale_labels(labels, shape)


def downscale_labels(labels: Any, shape: tuple[int, int], rows: int = 1024) -> np.ndarray:
    """Labels ``(..., H, W)`` at a coarser grid ``shape``: each coarse pixel takes the most frequent nonzero
    label of the full-resolution pixels it covers (0 where they are all 0), so that a stroke a few pixels wide
    stays a stroke. Works through ``rows`` full-resolution rows at a time (a slide-sized layer is not
    copied)."""
    h, w = labels.shape[-2:]
    lead = labels.shape[:-2]
    out = np.zeros((*lead, *shape), dtype=labels.dtype)
    # each full-resolution row/column belongs to the coarse one its centre falls in
    r_of = np.minimum((np.arange(h) + 0.5) * shape[0] // h, shape[0] - 1).astype(np.intp)
    c_of = np.minimum((np.arange(w) + 0.5) * shape[1] // w, shape[1] - 1).astype(np.intp)
    # chunks of whole coarse rows (about ``rows`` full-resolution rows each): a coarse pixel's count is complete
    step = max(1, rows * shape[0] // h)
    bounds = np.searchsorted(r_of, np.arange(0, shape[0] + step, step).clip(max=shape[0]))
    for i in np.ndindex(*lead):
        frame = labels[i] if i else labels
        for start, stop in zip(bounds[:-1], bounds[1:]):
            chunk = np.asarray(frame[start:stop])
            hit = chunk != 0
            if not hit.any():
                continue
            r0, r1 = r_of[start], r_of[stop - 1] + 1  # the coarse rows of this chunk
            ys, xs = np.nonzero(hit)
            cells = (r_of[start + ys] - r0) * shape[1] + c_of[xs]
            values, which = np.unique(chunk[ys, xs], return_inverse=True)
            # the count of each (coarse pixel, label) pair, then each pixel's most frequent label: one sort,
            # whatever the number of labels (an instance segmentation has thousands)
            pairs, counts = np.unique(cells * len(values) + which.ravel(), return_counts=True)
            order = np.lexsort((-(pairs % len(values)), counts, pairs // len(values)))  # a tie: the lower label
            pairs = pairs[order]
            pixel = pairs // len(values)
            last = np.r_[pixel[1:] != pixel[:-1], True]
            flat = out[i][r0:r1].reshape(-1)  # (whole rows: a view)
            flat[pixel[last]] = values[pairs[last] % len(values)]
    return out


def _blank(dtype: np.dtype) -> float | int:
    """What a result stack holds in frames not computed (or cleared): NaN in float images, which napari draws
    transparent (0 drew an opaque black frame over the input), 0 in labels (no label)."""
    return np.nan if np.dtype(dtype).kind == "f" else 0


def _load(data: Any) -> np.ndarray:
    """A (sliced) layer array as numpy: dask computed, zarr and other array-likes read."""
    return np.asarray(loaded(data))


#: Shapes that mark a region (a box): a rectangle (drawn axis-aligned: read as ``(top, left, bottom, right)``),
#: or an ellipse, a polygon or a rotated rectangle (read as the boolean mask of the pixels whose centres lie
#: inside). Lines and paths enclose nothing.
REGION_TYPES = ("rectangle", "ellipse", "polygon")


def _regions(
    layer: Any, image: Any, viewer: Any, off_plane: list[tuple[int, ...]] | None = None
) -> list[tuple[int, np.ndarray, tuple[int | None, ...], str]]:
    """The regions of a Shapes layer: ``(shape index, vertices in image data coordinates, frame, shape type)``.

    ``frame`` is the image's leading-axis index the shape was drawn on, ``None`` on the axes the Shapes layer
    lacks (a 2D Shapes layer over a stack: its shapes are on every frame). napari lines layers up by their
    last axes; those missing axes take the slider's position for the conversion. ``off_plane``, if given,
    receives the planes (indices on the layer's axes beyond the image's) of the regions left out for lying
    on another plane than the slider's.
    """
    point = slider_point(image, viewer)  # (in the image's units, as its world_to_data takes them)
    lead = max(image.ndim - 2, 0)
    own = image.ndim - layer.ndim  # the image's leading axes before this index are not the shapes'
    first = len(point) - image.ndim  # the world axis of the image's first axis (napari lines up last axes)
    shown = np.zeros(len(point), bool)
    shown[list(viewer.dims.displayed)] = True
    plane = shown[first:].copy()  # the image's axes on screen
    drawn = _drawn_inverse(image, plane) if plane[lead:].all() and not plane[:lead].any() else None

    def to_image(world: np.ndarray) -> np.ndarray:
        if drawn is None:  # the frames on screen too (3D view): each shape at its own frame
            return np.asarray(image.world_to_data(world[first:]), dtype=float)
        # A plane of Y-X on screen, as napari draws it: its frame from the slider axes alone, its pixels from
        # the displayed part of the transform alone (the same as the full inverse where the transform keeps
        # them apart; a shear or rotation mixing them, a deskewed stack, would otherwise put a box on another
        # frame or rows).
        frame = image.world_to_data(np.where(shown, 0.0, world)[first:])
        return np.r_[np.asarray(frame, dtype=float)[:lead], drawn(world[first:])[lead:]]

    # A Shapes layer with more axes than the image (napari's new Shapes layer takes the viewer's axes while a
    # stack is open): on those axes napari shows a shape only on its own plane; the others are not the user's
    # box here.
    extra = [k for k in range(layer.ndim - image.ndim) if not shown[len(point) - layer.ndim + k]]
    at = np.rint(np.asarray(layer.world_to_data(slider_point(layer, viewer)), dtype=float)) if extra else None
    out = []
    for i, t in enumerate(layer.shape_type):
        if t not in REGION_TYPES:
            continue
        plane = [round(float(np.mean(np.asarray(layer.data[i], dtype=float)[:, k]))) for k in extra]
        if any(p != at[k] for p, k in zip(plane, extra, strict=True)):
            if off_plane is not None:
                off_plane.append(tuple(plane))
            continue
        pts = []
        for v in np.asarray(layer.data[i], dtype=float):
            full = point.copy()
            w = np.asarray(layer.data_to_world(v), dtype=float)
            full[len(full) - len(w):] = w * unit_factors(layer, image, len(w), viewer)
            pts.append(to_image(full))
        pts_arr = np.array(pts)
        frame = tuple(
            None if k < own else int(round(float(pts_arr[:, k].mean()))) for k in range(lead)
        )
        out.append((i, pts_arr, frame, t))
    return out


def _drawn_inverse(image: Any, plane: np.ndarray) -> Any:
    """World -> data pixel coordinates on the axes ``plane`` marks as displayed, as napari draws a slice: with
    the displayed block of the layer's data-to-world transform only (so that a deskew or rotation mixing the
    frame axes into Y-X draws the plane without that part). Built from the public ``data_to_world``."""
    n = image.ndim
    origin = np.asarray(image.data_to_world(np.zeros(n)), dtype=float)
    matrix = np.stack([np.asarray(image.data_to_world(e), dtype=float) - origin for e in np.eye(n)], axis=1)
    axes = np.flatnonzero(plane)
    block = matrix[np.ix_(axes, axes)]

    def inverse(world: np.ndarray) -> np.ndarray:
        out = np.zeros(n)
        out[axes] = np.linalg.solve(block, np.asarray(world, dtype=float)[axes] - origin[axes])
        return out

    return inverse


def has_region(layer: Any) -> bool:
    """Whether a Shapes layer holds a shape that marks a region (:data:`REGION_TYPES`)."""
    return any(t in REGION_TYPES for t in getattr(layer, "shape_type", []))


def _on(frame: tuple[int | None, ...], index: tuple[int | None, ...] | None, lead: tuple[int, ...]) -> bool:
    """Whether a shape drawn on ``frame`` lies on the stack (``lead``: its leading axis lengths) and on the
    frame ``index`` (``None`` entries, or ``None`` as a whole, match any)."""
    inside = all(f is None or 0 <= f < n for f, n in zip(frame, lead))
    return inside and (index is None or all(v is None or f is None or f == v for f, v in zip(frame, index)))


def rectangle_frames(
    layer: Any, image: Any, viewer: Any, index: tuple[int | None, ...] | None = None
) -> list[tuple[int | None, ...]]:
    """The frame of each region (rectangle, ellipse, polygon) on the stack (and on ``index``), see
    :func:`_regions`; ``()`` for a 2D image."""
    shape = layer_array_shape(image)[: stack_axes(image)]
    return [frame for _, _, frame, _ in _regions(layer, image, viewer) if _on(frame, index, shape)]


def read_frame_boxes(
    layer: Any, image: Any, viewer: Any, index: tuple[int | None, ...] | None, union: bool = False
) -> dict[int, tuple[int, int, int, int] | np.ndarray] | None:
    """Per-frame boxes of a whole-stack read (``index`` from :func:`read_image`): ``{sequence frame: box}`` when
    the Shapes layer has regions on two or more frames of the sequence, else ``None`` (one box for all).
    ``union`` as for :func:`read_box`, frame by frame."""
    lead = stack_axes(image)
    if not lead:
        return None
    axis = index.index(None) if index is not None and None in index else 0
    on = sorted({f[axis] for f in rectangle_frames(layer, image, viewer, index)} - {None})
    if len(on) < 2:  # (None: a Shapes layer without the sequence axis, on every frame)
        return None
    base = list(index) if index is not None else [None] * lead
    boxes = {}
    for t in on:
        base[axis] = t
        boxes[t] = read_box(layer, image, viewer, index=tuple(base), union=union)
    return boxes


def span_box(
    layer: Any, image: Any, viewer: Any, index: tuple[int, ...], axis: int = 0, union: bool = False
) -> tuple[tuple[int, int, int, int], tuple[int, int]] | None:
    """The box of frame ``index`` between two frames with regions along the sequence ``axis`` (key frames
    around a moving object), as a whole-stack run along that axis gives it (the rectangle spanning both,
    ``segment_video``'s rule): ``(box, (before, after))``, or ``None`` when it lies between no two such
    frames."""
    if not 0 <= axis < len(index):
        return None
    shape = layer_array_shape(image)[: stack_axes(image)]
    v = index[axis]
    on = {  # the sequence frames with regions, at this frame's position on the other leading axes
        f[axis] for f in rectangle_frames(layer, image, viewer)
        if _on(f, None, shape) and f[axis] is not None
        and all(j == axis or w is None or w == index[j] for j, w in enumerate(f))
    }
    before, after = [t for t in on if t < v], [t for t in on if t > v]
    if not (before and after):
        return None
    a, b = max(before), min(after)
    at = [index[:axis] + (t,) + index[axis + 1 :] for t in (a, b)]
    ends = [read_box(layer, image, viewer, index=i, union=union) for i in at]
    mask = _union(ends, frame_shape(image))
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1), (a, b)


def picked_shapes(layer: Any) -> set[int]:
    """The shapes the user selected in ``layer`` (a Shapes layer), in its select or direct mode: after drawing,
    napari leaves the last drawn shape selected, also once the user moves on to pan / zoom, and a box of two
    drawn rectangles then read as the last one alone."""
    if str(getattr(layer, "mode", "")) not in ("select", "direct"):
        return set()
    return set(layer.selected_data)


def read_box(
    layer: Any, image: Any, viewer: Any, index: tuple[int | None, ...] | None = None, union: bool = False
) -> tuple[int, int, int, int] | np.ndarray:
    """The selected (in the layer's select mode: :func:`picked_shapes`; else the last) region of a Shapes layer
    in ``image``'s pixels: an axis-aligned rectangle as ``(top, left, bottom, right)`` (the pixels it overlaps),
    an ellipse, a polygon or a rotated rectangle as a bool ``(H, W)`` mask (the pixels whose centres lie
    inside). With ``union``, all its regions (the selected ones, if any are) are read, several as the bool mask
    of their union (e.g. a watermark in two places).

    Over a stack, only regions on its frames count, and with ``index`` (from :func:`read_image`; ``None``
    entries match every frame) only those drawn on that frame: a rectangle drawn on frame 2 is not the box of
    frame 0.
    """
    off_plane: list[tuple[int, ...]] = []
    regions = _regions(layer, image, viewer, off_plane)
    if not regions and off_plane:  # (napari shows each on its own plane only: the user may have moved away)
        planes = sorted(set(off_plane))
        on = ", ".join(str(p[0] if len(p) == 1 else p) for p in planes[:5]) + (", ..." if len(planes) > 5 else "")
        raise ValueError(
            f"shapes layer {layer.name!r} has no rectangle (nor ellipse or polygon) on its plane at the slider; "
            f"it has more axes than image {image.name!r} and regions on its plane{'s' if len(planes) > 1 else ''} "
            f"{on}: move the slider to one of those (or draw the box in a Shapes layer with the image's axes, "
            f"e.g. viewer.add_shapes(ndim={image.ndim}) in the "
            "console)"
        )
    if not regions:
        raise ValueError(
            f"shapes layer {layer.name!r} has no rectangle (nor ellipse or polygon); draw one around the region"
        )
    shape = layer_array_shape(image)[: stack_axes(image)]
    elsewhere = regions
    regions = [r for r in regions if _on(r[2], index, shape)]
    if not regions:
        where = "" if not index else " (" + ", ".join(str(v) for v in index if v is not None) + ")"
        # where its regions are, and how to have one region for every frame (napari's "new shapes" button
        # makes a layer with the stack's axes, whose shapes belong to the frame they were drawn on)
        frames = sorted({tuple(v for v in r[2] if v is not None) for r in elsewhere if _on(r[2], None, shape)})
        on = ", ".join(str(f[0] if len(f) == 1 else f) for f in frames[:5]) + (", ..." if len(frames) > 5 else "")
        raise ValueError(
            f"shapes layer {layer.name!r} has no rectangle, ellipse or polygon on "
            f"{'this frame' if index else 'the frames'} of "
            f"{image.name!r}{where}; draw one on it"
            + (f" (it has some on frame{'s' if len(frames) > 1 else ''} {on}; a region for every frame goes in "
               "a Shapes layer without the stack's axes, e.g. viewer.add_shapes(ndim=2) in the console)"
               if frames and index else "")
        )
    chosen_ones = picked_shapes(layer)
    selected = [r for r in regions if r[0] in chosen_ones]
    chosen = (selected or regions) if union else (selected or regions)[-1:]
    pixels, failed = [], None
    for _, pts, _, kind in chosen:
        try:
            pixels.append(_region_pixels(layer, image, pts, kind))
        except ValueError as exc:  # (a stray click, or a region off the image: the others still count)
            failed = failed or exc
    if failed is not None and not pixels:
        raise failed
    if len(pixels) == 1:
        return pixels[0]
    return _union(pixels, frame_shape(image))


def to_frame(data: np.ndarray, full: tuple[int, int], kind: str) -> np.ndarray:
    """A working-size preview resized to the frame size (nearest for labels, bilinear otherwise)."""
    from skimage.transform import resize

    shape = (*full, *data.shape[2:])
    order = 0 if kind == "labels" else 1
    return resize(data, shape, order=order, preserve_range=True, anti_aliasing=False).astype(data.dtype)


def _union(regions: list[tuple[int, int, int, int] | np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Regions as :func:`read_box` gives them (rectangles or bool masks) as the bool mask of their union."""
    mask = np.zeros(shape, bool)
    for r in regions:
        if isinstance(r, tuple):
            mask[r[0] : r[2], r[1] : r[3]] = True
        else:
            mask |= r
    return mask


def _region_pixels(layer: Any, image: Any, pts: np.ndarray, kind: str) -> tuple[int, int, int, int] | np.ndarray:
    """One region's vertices (data coordinates of ``image``) as :func:`read_box` returns a region."""
    pts = pts[:, -2:]
    zoom = np.asarray(level_zoom(image))
    if (zoom != 1).any():  # full-resolution coordinates -> the level read (pixel edges map to pixel edges)
        pts = (pts - (zoom - 1) / 2) / zoom
    what = "rectangle" if kind == "rectangle" else kind
    if np.ptp(pts, axis=0).min() == 0:  # a click without a drag (the library refuses it alike)
        raise ValueError(f"the {what} in {layer.name!r} has no height or width: draw it around a region")
    h, w = frame_shape(image)
    if kind == "rectangle" and _axis_aligned(pts):
        top, left, bottom, right = corners_to_box(pts.min(axis=0), pts.max(axis=0))
        top, bottom = int(np.clip(top, 0, h)), int(np.clip(bottom, 0, h))
        left, right = int(np.clip(left, 0, w)), int(np.clip(right, 0, w))
        if bottom <= top or right <= left:
            raise ValueError(f"the rectangle in {layer.name!r} does not overlap image {image.name!r}")
        return top, left, bottom, right
    from skimage.draw import polygon2mask

    if kind == "ellipse":  # napari keeps an ellipse as the 4 corners of its (possibly rotated) bounding box
        t = np.linspace(0, 2 * np.pi, 4 * int(np.ptp(pts, axis=0).max() + 16), endpoint=False)[:, None]
        centre, half_a, half_b = pts.mean(axis=0), (pts[1] - pts[0]) / 2, (pts[3] - pts[0]) / 2
        pts = centre + np.cos(t) * half_a + np.sin(t) * half_b
    mask = polygon2mask((h, w), pts)
    if not mask.any():
        raise ValueError(
            f"the {what} in {layer.name!r} covers no pixel centre of image {image.name!r}: draw it around a region"
        )
    return mask


def _axis_aligned(pts: np.ndarray) -> bool:
    """Whether a rectangle's corners (image pixels) have two distinct rows and two distinct columns."""
    return all(len(np.unique(np.round(c, 6))) <= 2 for c in pts.T)


def transform(
    source: Any,
    ndim: int,
    zoom: tuple[float, ...] = (),
    offset: tuple[int, ...] = (),
    placed: dict[str, tuple] | None = None,
) -> dict[str, Any]:
    """The source's world transform for an output with ``ndim`` spatial axes (the source's last ones).

    Returns ``scale``/``translate``/``rotate``/``shear``/``affine``/``units``/``axis_labels`` keyword arguments.
    ``zoom`` (one factor per trailing axis, e.g. ``(4, 4)`` for a working-size preview) enlarges the pixels so
    the output covers the same area, with pixel centres where the full-resolution ones would average to.
    ``offset`` (data pixels on the leading axes) moves a slice of a stack to where it was taken. A multiscale
    source read at a coarser level (:func:`read_level`) adds that level's zoom: its results cover the
    full-resolution pixels they were averaged from. ``placed`` (the source's scale, translate, units and axis
    labels when the run started) places the leading axes the source no longer has (see below).
    """
    from napari.utils.transforms.transform_utils import shear_to_matrix

    # An output with more axes than the source now has (its data got fewer axes during the run: the output is
    # of the data read at Run) keeps those leading axes where they were at Run (else identity).
    have = min(ndim, source.ndim)
    pad = ndim - have
    lead = {"scale": (1.0,) * pad, "translate": (0.0,) * pad, "units": ("pixel",) * pad,
            "axis_labels": tuple(f"-{ndim - i}" for i in range(pad))}
    if pad and placed is not None and len(placed["scale"]) >= ndim:
        lead = {key: tuple(placed[key][-ndim:][:pad]) for key in lead}
    scale = np.concatenate([np.asarray(lead["scale"], dtype=float), np.asarray(source.scale, dtype=float)[-have:]])
    translate = np.concatenate(
        [np.asarray(lead["translate"], dtype=float), np.asarray(source.translate, dtype=float)[-have:]]
    )
    rotate = _eye_padded(np.asarray(source.rotate, dtype=float)[-have:, -have:], pad)
    shear = _eye_padded(
        shear_to_matrix(np.asarray(source.shear, dtype=float), ndim=source.ndim)[-have:, -have:], pad
    )
    shift = np.zeros(ndim)  # in scaled data units, before rotate and shear (napari: rotate @ shear @ scale)
    if offset:
        shift[: len(offset)] += np.asarray(offset, dtype=float) * scale[: len(offset)]
    f = np.ones(ndim)
    if ndim >= 2:
        f[-2:] = level_zoom(source)
    if zoom:
        f[-len(zoom) :] *= zoom
    if (f != 1).any():
        shift += scale * (f - 1) / 2
        scale = scale * f
    translate = translate + rotate @ shear @ shift
    matrix = np.asarray(source.affine.affine_matrix, dtype=float)
    n = matrix.shape[0] - 1
    keep = list(range(n - have, n)) + [n]
    return {
        "scale": tuple(scale),
        "translate": tuple(translate),
        "rotate": rotate,
        "shear": shear,
        "affine": _eye_padded(matrix[np.ix_(keep, keep)], pad),
        "units": tuple(lead["units"]) + tuple(source.units)[-have:],
        "axis_labels": tuple(lead["axis_labels"]) + tuple(source.axis_labels)[-have:],
    }


def _eye_padded(matrix: np.ndarray, pad: int) -> np.ndarray:
    """``matrix`` with ``pad`` identity rows and columns before its own (leading axes left as they are)."""
    if not pad:
        return matrix
    out = np.eye(matrix.shape[0] + pad)
    out[pad:, pad:] = matrix
    return out


#: One-frame results of a stack accumulate in a whole-stack output layer only up to this size (per layer).
STACK_LIMIT_BYTES = 1 << 30
#: A stack collecting one-frame results gets a new array at a run's first write up to this size (an array the
#: user kept is left alone; about 20 ms to copy); a larger one is written in place (documented in the README).
PRIVATE_STACK_BYTES = 128 << 20

_TRANSFORM_KEYS = ("scale", "translate", "rotate", "shear", "affine", "units", "axis_labels")


@dataclass
class _Saved:
    """What a layer held before a run changed it. ``frame``: ``data`` is only that frame of ``array`` (the
    layer's array, which the run wrote that one frame of in place)."""

    data: Any
    metadata: dict
    transform: dict[str, Any]
    frame: tuple[int, ...] | None = None
    array: Any = None
    edits: tuple[list, list] | None = None  # a Labels layer's undo and redo history


_F = TypeVar("_F", bound=Callable[..., Any])


@contextlib.contextmanager
def keep_slider(viewer: Any) -> Iterator[None]:
    """Leave the viewer's sliders where the user had them (in world coordinates): updating a layer's data and
    then its scale / translate one setter at a time makes napari recompute the dims' range from a layer half
    changed, and the slider jumped (a re-run's frame result then lay off screen)."""
    dims = getattr(viewer, "dims", None)
    ndim, point = (dims.ndim, tuple(dims.point)) if dims is not None else (None, ())
    try:
        yield
    finally:
        # (not where the viewer's axes changed, nor over an error of the update: a viewer torn down meanwhile)
        with contextlib.suppress(RuntimeError, ValueError, IndexError):
            if dims is not None and dims.ndim == ndim and tuple(dims.point) != point:
                for axis, value in enumerate(point):
                    if dims.point[axis] != value:
                        dims.set_point(axis, value)


def _slider_kept(method: _F) -> _F:
    """A method of :class:`OutputLayers` run under :func:`keep_slider`."""

    @functools.wraps(method)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        with keep_slider(self.viewer):
            return method(self, *args, **kwargs)

    return wrapped  # type: ignore[return-value]


class OutputLayers:
    """Output layers of one run: found (by name and the task's metadata) or created; undone by :meth:`rollback`.

    The layers a run writes are tracked as objects, keyed by the name the run asked for: a layer the user renames
    during the run keeps receiving its part, one the user deletes is made again, and one that napari renamed
    because the name was taken (``"<name> [1]"``) is still this run's (and is found again by the next run).

    Parameters
    ----------
    viewer
        The napari viewer (a plugin proxy is fine).
    task
        Task name recorded in ``metadata["task"]``; a layer is reused only if it was made by this task for the
        same part.
    """

    def __init__(self, viewer: Any, task: str) -> None:
        self.viewer = viewer
        self.task = task
        self.created: list[Any] = []
        self.touched: dict[str, Any] = {}  # name asked for -> layer written by this run
        self._earlier: dict[str, Any] = {}  # name -> an earlier run's layer at the start (pin_earlier)
        self._below: list[Any] = []  # earlier results the user put under their (same) input: left there
        self._renamed: list[tuple[Any, str, str]] = []  # (layer, its name, the name this run gave it)
        self._saved: list[tuple[Any, _Saved]] = []
        self._contrast_reset: list[tuple[Any, tuple[float, float]]] = []  # (layer, its limits before the run)
        self._names: list[tuple[Any, str]] = []  # (input layer, its name when the run started)
        self._at_run: list[tuple[Any, dict[str, tuple]]] = []  # (input layer, its transform then: pin_names)
        self._inputs: list[Any] = []
        #: (layer name, frame) of one-frame results this run replaced because collecting them was over the limit
        self.replaced: list[tuple[str, tuple[int, ...]]] = []
        #: (layer name, what it held) of earlier results at another index of the stack that this run replaces
        self.other_slice: list[tuple[str, str]] = []
        #: (layer name, its inputs) of earlier results of other input layers that this run replaces
        self.other_inputs: list[tuple[str, list[str]]] = []
        #: (layer name, frames) of frames in a stack computed from the input's data as it was before it changed:
        #: cleared as this run's frame is written into the stack
        self.stale: list[tuple[str, list[list[int]]]] = []
        self._digests: dict[tuple[int, str], str | None] = {}  # (id of the input's array, frame/samples) -> sum
        self._cleared: set[tuple[str, tuple[int, ...]]] = set()  # (layer name, frame) cleared by this run
        #: names of earlier runs' masks the user painted on, which this run replaces
        self.painted: list[str] = []
        #: names of this run's preview masks the user painted on during the run (the next write replaces it)
        self.painted_live: list[str] = []
        #: parts whose layers this run made hidden (``Output.hidden``), in order
        self.hidden: list[str] = []
        #: (layer name, frames) of earlier results a stopped frame-by-frame run kept where it did not reach
        self.kept_earlier: list[tuple[str, list[list[int]]]] = []
        #: (index, layer) of earlier results removed because this run's part has another kind or colour mode
        self._detached: list[tuple[int, Any]] = []
        #: layers this run created that the user moved in the layer list meanwhile: left where they were put
        self._placed: list[Any] = []
        #: the layer of their own (not a run's output) that the user made active during the run, if any
        self._chosen: Any = None
        self._watching = False

    def watch_moves(self) -> None:
        """Note the user's moves of this run's new layers, and the layer they make active, while it runs
        (until :meth:`stop_watching`)."""
        if not self._watching:
            self.viewer.layers.events.moved.connect(self._on_moved)
            self.viewer.layers.selection.events.active.connect(self._on_active)
            self._watching = True

    def stop_watching(self) -> None:
        if self._watching:
            self._watching = False
            try:
                self.viewer.layers.events.moved.disconnect(self._on_moved)
                self.viewer.layers.selection.events.active.disconnect(self._on_active)
            except (RuntimeError, TypeError, ValueError):  # pragma: no cover - the viewer went first
                pass

    def _on_active(self, event: Any) -> None:
        # Outputs (this run's or another panel's, which napari makes active as it adds them) and ``None`` (a
        # removal, several layers selected) are not counted as a choice: only a layer of the user's own.
        layer = getattr(event, "value", None)
        if layer is not None and not is_result(layer):
            self._chosen = layer

    def _on_moved(self, event: Any) -> None:
        layer = getattr(event, "value", None)
        if layer is not None and any(same_layer(layer, c) for c in self.created):
            self._placed.append(layer)

    def pin_names(self, sources: list[Any]) -> None:
        """Name this run's outputs after the inputs' names now: an input renamed during the run must not
        leave the layers this run already wrote half-done and start a second set under the new name."""
        self._names = [(s, s.name) for s in sources]
        # (and their leading axes' placement: a source given data with fewer axes during the run leaves its
        # results' leading axes where they were read)
        self._at_run = [
            (s, {"scale": tuple(s.scale), "translate": tuple(s.translate), "units": tuple(s.units),
                 "axis_labels": tuple(s.axis_labels)})
            for s in sources
        ]

    def protect(self, inputs: list[Any]) -> None:
        """Layers this run reads (e.g. an earlier mask, corrected and used as scribbles): never written to, the
        output goes to another layer of the same part (``"<name> (<task>)"``) instead."""
        flat = [x for v in inputs for x in (v if isinstance(v, (list, tuple)) else [v])]  # (several layers)
        self._inputs = [layer for layer in flat if layer is not None]

    def pin_earlier(self, sources: list[Any], parts: list[tuple[str, str]]) -> None:
        """Hold the earlier runs' output layers of ``parts`` (``(part, kind)``) as the run starts (call after
        :meth:`pin_names` and :meth:`protect`): one the user renames during the run is still the one updated,
        even if this run had not written it yet (a part without previews), instead of staying stale beside a new
        layer."""
        for source in sources:
            for part, kind in parts:
                name = self.output_name(source, part)
                layer = self.find(name, part, self.source_name(source), kind, source_id(source))
                if layer is not None:
                    self._earlier[name] = layer
                    index, at = self._index(layer), self._index(source)
                    if (
                        index is not None and at is not None and index < at
                        and layer.metadata.get("source_id") == source_id(source)
                    ):
                        self._below.append(layer)  # (under the input it was made from: the user's order)

    def source_name(self, source: Any) -> str:
        """The input's name as pinned by :meth:`pin_names` (else its current name)."""
        return next((n for s, n in self._names if same_layer(s, source)), source.name)

    def output_name(self, source: Any, part: str) -> str:
        """``"<input> <part>"``, the name an output is looked for and created under."""
        return f"{self.source_name(source)} {part}"

    def find(
        self, name: str, part: str, source: str | None = None, kind: str | None = None, input_id: str | None = None
    ) -> Any | None:
        """The layer ``name`` made by this task for ``part``; else one napari de-duplicated (``"name [k]"``);
        else, with ``input_id`` (:func:`source_id`), the one made from that input layer under the name it had
        before it was renamed (still named after it: a result the user renamed is left as theirs).

        With ``kind``, only a layer of that kind: one the user converted (napari's Convert to Image / Labels,
        which keeps the metadata) is the user's now, and is left alone as a layer of another task would be.
        """
        fallback = renamed = None
        for layer in self.viewer.layers:
            md = layer.metadata
            if md.get("task") != self.task or md.get("part") != part:
                continue
            if kind is not None and not _of_kind(layer, kind):
                continue
            if any(same_layer(layer, x) for x in self._inputs):
                continue
            if self._of_another_input(md, input_id):
                continue
            if layer.name == name:
                return layer
            alt = self._alternative(name)
            # (napari's own de-duplicated names, "<name> [1]": a name the user gave, "<name> [v1]", is theirs)
            if fallback is None and md.get("source") == source and (
                layer.name == alt or re.fullmatch(rf"(?:{re.escape(name)}|{re.escape(alt)}) \[\d+\]", layer.name)
            ):
                fallback = layer
            then = md.get("source")
            if (
                renamed is None and input_id is not None and md.get("source_id") == input_id
                and isinstance(then, str) and then != source and self._named_after(layer, then, part)
            ):
                renamed = layer
        return fallback if fallback is not None else renamed

    def _of_another_input(self, md: dict[str, Any], input_id: str | None) -> bool:
        """Whether a result was made from another input layer still in the viewer: renamed since, its old name
        taken by a new layer, whose run would otherwise have overwritten the first one's results (they stay;
        the new results come under napari's de-duplicated names)."""
        made = md.get("source_id")
        if input_id is None or made is None or made == input_id:
            return False
        return any(source_id(layer) == made for layer in self.viewer.layers)

    def _named_after(self, layer: Any, source: str, part: str) -> bool:
        """Whether ``layer`` has the name a run on input ``source`` gives its ``part`` (or the alternative)."""
        return layer.name in (f"{source} {part}", self._alternative(f"{source} {part}"))

    def _follow_rename(self, layer: Any, name: str) -> None:
        """Give an earlier result of an input renamed since (:meth:`find`) the name this run writes it under
        (or the task's alternative, where another layer has that name); :meth:`rollback` renames it back."""
        then = layer.metadata.get("source")
        part = layer.metadata.get("part")
        if not isinstance(then, str) or not self._named_after(layer, then, part):
            return
        if name == f"{then} {part}" or layer.name in (name, self._alternative(name)):
            return
        taken = any(other.name == name and not same_layer(other, layer) for other in self.viewer.layers)
        new = self._alternative(name) if taken else name
        self._renamed.append((layer, layer.name, new))
        layer.name = new

    def _alternative(self, name: str) -> str:
        """The name used when ``name`` is taken by another layer (e.g. "img clean" of dehazing and watermark
        removal): "img clean (watermark)" says whose it is, where napari would add " [1]"."""
        return f"{name} ({self.task})"

    def _in_viewer(self, layer: Any) -> bool:
        return any(same_layer(layer, other) for other in self.viewer.layers)

    def _forget(self, layer: Any) -> None:
        self.created = [c for c in self.created if not same_layer(c, layer)]
        self._saved = [(s, v) for s, v in self._saved if not same_layer(s, layer)]

    @_slider_kept
    def write(
        self,
        name: str,
        part: str,
        data: np.ndarray,
        *,
        kind: str,
        source: Any,
        metadata: dict[str, Any],
        zoom: tuple[float, ...] = (),
        offset: tuple[int, ...] = (),
        cover: bool = False,
        hidden: bool = False,
    ) -> Any:
        """Create or update the layer ``name`` with ``data``; returns the layer (``zoom``, ``offset``: see
        :func:`transform`; ``cover``, ``hidden``: see :class:`~napari_doubledip._widgets._spec.Output`)."""
        rgb = is_rgb(data, source) and kind != "labels"
        if kind == "labels":
            data = _as_labels(data)
        spatial = data.ndim - (1 if rgb else 0)
        placed = next((v for s, v in self._at_run if same_layer(s, source)), None)
        tf = transform(source, spatial, zoom, offset, placed=placed)
        metadata = {
            "task": self.task, "part": part, "source": self.source_name(source), "source_id": source_id(source),
            **metadata,
        }
        layer = self._existing(name, part, source, kind)
        visible = None  # (shown or hidden as the user had it, where a new layer replaces theirs)
        if layer is not None and (
            (_kind(layer) != kind and not (kind == "map" and _kind(layer) == "image"))
            or (_kind(layer) == "image" and bool(layer.rgb) != rgb)
        ):  # another kind or colour mode (e.g. the input, same name, is grey now): a new layer replaces it
            visible = bool(layer.visible)
            self._detach(layer)
            layer = None
        if layer is None:
            taken = any(other.name == name for other in self.viewer.layers)
            if visible is None and hidden:  # (a layer of an earlier run keeps what the user chose)
                visible = False
                if part not in self.hidden:
                    self.hidden.append(part)
            shown = True if visible is None else visible
            overlay = kind == "image" and not rgb and in_overlay(self.viewer, source)
            layer = self._add(
                self._alternative(name) if taken else name, np.array(data, copy=True), kind, source, rgb, tf,
                metadata, visible=shown, additive=overlay,
            )
            self.created.append(layer)
        else:
            before = layer.metadata.get("frame")
            first = not any(same_layer(layer, t) for t in self.touched.values())  # (this run's first write to it)
            inputs_then, inputs_now = layer.metadata.get("inputs"), metadata.get("inputs")
            if (
                isinstance(inputs_then, list) and isinstance(inputs_now, list)
                and sorted(map(str, inputs_then)) != sorted(map(str, inputs_now))
                and not _same_ids(layer.metadata.get("input_ids"), metadata.get("input_ids"))  # (renamed)
                and first
                and layer.name not in (n for n, _ in self.other_inputs)
            ):  # an earlier run's result of other inputs (e.g. two mixtures, now one): said, as it is replaced
                self.other_inputs.append((layer.name, [str(v) for v in inputs_then]))
            if (
                first
                and isinstance(before, list) and metadata.get("frame") not in (None, before)
                and not any(n == layer.name for n, _ in self.replaced)
            ):  # an earlier run's result at another index of the stack (frames that do not collect)
                frames = layer.metadata.get("frames")
                held = (f"frame(s) {list_frames(frames)}" if isinstance(frames, list) and frames
                        else index_text(before))
                self.other_slice.append((layer.name, held))
            elif (
                first
                and before is None and "frame" in layer.metadata and isinstance(metadata.get("frame"), list)
                and not any(n == layer.name for n, _ in self.other_slice)
            ):  # a whole-stack run's part that no frame run collects into (e.g. a set's shared watermark)
                self.other_slice.append((layer.name, "all frames (a run of the whole stack)"))
            elif (
                first
                and isinstance(layer.metadata.get("frames"), list) and layer.metadata["frames"]
                and all(v is None for v in (metadata.get("frame") or [None]))
                and np.shape(layer.data) != np.shape(data)
                and not any(n == layer.name for n, _ in self.other_slice)
            ):  # frames collected one by one, replaced by a whole-stack run's result of another shape (e.g. the
                # two layers of all frames as mixtures): said, as for the other way round
                self.other_slice.append((layer.name, f"frame(s) {list_frames(layer.metadata['frames'])}"))
            # An earlier run's layer gets a new array at this run's first write (its previews then go in
            # place): an array the user kept (``add_image(layer.data)``, a script's reference) is not changed.
            self._save_once(layer, copy=not first)
            self._follow_rename(layer, name)
            self._note_strokes(layer)
            data, kept = self._keep_unreached(layer, data, metadata, source)
            if kept:
                metadata = {**metadata, "frames": kept}
            if first:
                layer.data = np.array(data, copy=True)
                _forget_edits(layer)
            else:
                _assign(layer, data)
            if kind == "image":
                _widen_range(layer, data, source)
                if first:
                    self._follow_input_contrast(layer, source)
            _set_transform(layer, tf)
            layer.metadata = metadata
        if cover and kind == "image" and metadata.get("preview") is False and any(
            same_layer(layer, c) for c in [*self.created, *(r for r, _ in self._contrast_reset)]
        ):
            _cover(layer, data)
        self.touched[name] = layer
        return layer

    def _follow_input_contrast(self, layer: Any, source: Any) -> None:
        """At a run's first write to an earlier run's image layer: contrast limits the user never set (a new
        layer's, from the input then) follow this run's input, as a new layer's would (Cancel puts them back);
        limits the user set are kept."""
        if _contrast_as_given(layer):
            self._contrast_reset.append((layer, tuple(float(v) for v in layer.contrast_limits)))
            _give_contrast(layer, _contrast(source))

    def _note_strokes(self, layer: Any, frame: tuple[int, ...] | None = None) -> None:
        """Note an earlier run's mask the user has painted on since (:attr:`painted`), as this run replaces it
        (with ``frame``, only that frame of a stack: strokes on the others are kept)."""
        painted = layer.metadata.get("painted")
        if not (
            _kind(layer) == "labels" and painted
            and (frame is None or painted is True or [int(v) for v in frame] in [list(f) for f in painted])
        ):
            return
        if any(same_layer(layer, t) for t in self.touched.values()):  # this run's live preview, painted on
            if layer.name not in self.painted_live:
                self.painted_live.append(layer.name)
        elif layer.name not in self.painted:
            self.painted.append(layer.name)

    def _keep_unreached(
        self, layer: Any, data: np.ndarray, metadata: dict[str, Any], source: Any
    ) -> tuple[np.ndarray, list[list[int]] | None]:
        """A stopped frame-by-frame run of a whole stack (kept on Cancel) has no results (NaN) for the frames it
        did not reach: there the layer keeps the results it held before the run (those still of the input's
        data). Returns the data to write, and the frames it holds results of (``None``: as the run says)."""
        ran = (metadata.get("params") or {}).get("frames_run")
        frame = metadata.get("frame")
        if not metadata.get("stopped") or not isinstance(ran, int) or (frame is not None and any(
            v is not None for v in frame
        )):
            return data, None
        saved = next((v for s, v in self._saved if same_layer(s, layer)), None)
        if saved is None or saved.frame is not None or not isinstance(saved.data, np.ndarray):
            return data, None
        before, md = saved.data, saved.metadata
        single = md.get("frame")
        if (
            before.shape == (1, *data.shape[1:]) and isinstance(single, list) and len(single) == 1
            and isinstance(single[0], int) and 0 <= single[0] < data.shape[0]
        ):  # the first frame run's result (one frame, placed on it): the start of the same collection
            whole = np.zeros(data.shape, before.dtype)
            whole[single[0]] = before[0]
            before, md = whole, {**md, "frames": [list(single)]}
        if before.shape != data.shape or not _collects(md) or md.get("preview"):
            return data, None
        stale = _stale_frames(md, source, None, self._digests)
        earlier = [
            f for f in _frames_done(md, data.shape[:1])
            if len(f) == 1 and f[0] >= ran and f not in stale and np.isfinite(before[f[0]]).any()
        ]
        if not earlier:
            return data, None
        data = np.array(data, copy=True)
        for (t,) in earlier:
            data[t] = before[t]
        self.kept_earlier.append((layer.name, earlier))
        return data, [[t] for t in range(ran)] + sorted(earlier)

    @_slider_kept
    def keep_unreached_preview(self, layer: Any, metadata: dict[str, Any], source: Any) -> dict[str, Any]:
        """A frame-by-frame run stopped without a result (its panel closed) and its last preview kept: the
        frames it did not reach (NaN, after the last frame holding values) get back the results the layer held
        before the run, as :meth:`_keep_unreached` does for a stopped run's result (a preview made at a reduced
        size, a long stack's or a large frame's, is brought to the size of those results for it). Returns the
        metadata with ``params["frames_run"]`` (the frames it reached, the last one unfinished) and ``frames``
        where earlier results were kept."""
        data = layer.data
        if not isinstance(data, np.ndarray) or data.ndim < 3 or not np.issubdtype(data.dtype, np.floating):
            return metadata
        frame = metadata.get("frame")
        axis = frame.index(None) if isinstance(frame, list) and None in frame else 0  # (the sequence axis)
        along = np.moveaxis(data, axis, 0)
        finite = np.isfinite(along.reshape(len(along), -1)).any(axis=1)
        ran = int(np.flatnonzero(finite)[-1]) + 1 if finite.any() else 0
        metadata = {**metadata, "params": {**(metadata.get("params") or {}), "frames_run": ran}}
        saved = next((v for s, v in self._saved if same_layer(s, layer)), None)
        full = getattr(saved.data, "shape", None) if saved is not None and saved.frame is None else None
        reduced = (
            full is not None and len(full) == data.ndim and full[0] == data.shape[0] and full != data.shape
        )
        if reduced:
            # frame by frame (resizing the stack would interpolate along its frames too, and rounding there
            # mixed a NaN frame into its neighbour)
            data = np.stack([to_frame(f, full[1:3], "image") for f in data])
        kept_data, kept = self._keep_unreached(layer, data, {**metadata, "stopped": True}, source)
        if kept:
            _assign(layer, kept_data)
            if reduced:  # now at full size: the input's own placement, without the preview's zoom
                rgb = bool(getattr(layer, "rgb", False))
                placed = next((v for s, v in self._at_run if same_layer(s, source)), None)
                _set_transform(layer, transform(source, data.ndim - (1 if rgb else 0), placed=placed))
            metadata = {**metadata, "frames": kept}
        return metadata

    def _existing(self, name: str, part: str, source: Any, kind: str) -> Any | None:
        """The layer this run wrote for ``name`` (unless the user deleted it meanwhile), else an earlier run's
        (of ``kind``: see :meth:`find`)."""
        layer = self.touched.get(name)
        if layer is not None and not self._in_viewer(layer):  # deleted by the user during the run
            self._forget(layer)
            layer = None
        if layer is None:  # an earlier run's layer held at the start, even if renamed since
            earlier = self._earlier.get(name)
            if (
                earlier is not None and self._in_viewer(earlier) and earlier.metadata.get("part") == part
                and _of_kind(earlier, kind)
            ):
                layer = earlier
        return layer if layer is not None else self.find(
            name, part, self.source_name(source), kind, source_id(source)
        )

    def _detach(self, layer: Any) -> None:
        """Remove an output layer this run cannot update; an earlier run's comes back on :meth:`rollback`."""
        index = self._index(layer)
        self._remove(layer)
        if index is not None and not any(same_layer(layer, c) for c in self.created):
            self._detached.append((index, layer))

    def _save_once(self, layer: Any, frame: tuple[int, ...] | None = None, copy: bool = True) -> None:
        """Keep what an existing layer held before this run first changes it (what Cancel restores): a copy of
        its data, or of one ``frame`` of it (the run writes only that frame in place), or with ``copy=False``
        the array itself (the run replaces it rather than writing into it)."""
        existed = not any(same_layer(layer, c) for c in self.created)
        if existed and not any(same_layer(layer, s) for s, _ in self._saved):
            self._saved.append((layer, _snapshot(layer, frame, copy)))

    def stack_target(
        self,
        name: str,
        part: str,
        source: Any,
        index: tuple[int, ...],
        lead: tuple[int, ...],
        frame: tuple[int, ...],
        *,
        kind: str,
    ) -> Any | None:
        """The layer a one-frame result of a stack at ``index`` should be written into as a whole-stack layer.

        That is the output layer for ``part`` when it already collects frames this way (``lead`` + ``frame``
        shape, ``frame``: ``(Y, X[, C])``, and ``metadata["frames"]``), or when it holds one frame taken at
        another slice of the same stack: results of several frames then accumulate instead of replacing each
        other, or when it is a whole-stack run's result of the whole layer (the frame is patched into it; a
        sequence read at a slice of more leading axes is not: it is replaced). ``None`` otherwise (no
        such layer, the same frame again, a layer of another kind, or a stack over :data:`STACK_LIMIT_BYTES` as
        :func:`stack_bytes` counts it, which is recorded in :attr:`replaced`), and the result is written as one
        placed frame.
        """
        layer = self._existing(name, part, source, kind)
        if layer is None or not isinstance(layer.data, np.ndarray):
            return None
        if (_kind(layer) == "labels") != (kind == "labels"):
            return None
        if _kind(layer) == "image" and bool(layer.rgb) != (len(frame) == 3 and kind != "labels"):
            return None
        data, full = layer.data, (*lead, *frame)
        md = layer.metadata
        # frames computed from the input's earlier data (changed since, same shape): cleared from a stack as
        # this frame is written (write_frame), or a one-frame layer replaced
        stale = _stale_frames(md, source, index, self._digests)

        def patched() -> Any:  # the stack this frame goes into: its stale frames are cleared (write_frame)
            if stale and not any(n == layer.name for n, _ in self.stale):
                self.stale.append((layer.name, stale))
            return layer

        # frames collected one by one, or a whole-stack run's result: the frame is patched into it (a frame
        # re-run to correct it must not throw away the rest of the video)
        stack = _collects(md)
        if stale and not stack:
            return None
        if data.shape == full:
            return patched() if stack else None
        if stack and _resized(data.shape, lead, frame):  # the input grew (frames still being acquired) or was cut
            if stack_bytes(source, lead) > STACK_LIMIT_BYTES:  # its collected frames are replaced: say so
                self.replaced += [(layer.name, tuple(f)) for f in _frames_done(md, data.shape[: len(lead)])]
                return None
            return patched()
        prev = layer.metadata.get("frame")
        one = (1,) * len(lead) + tuple(frame)
        if (
            data.shape != one
            or not isinstance(prev, (list, tuple))
            or len(prev) != len(lead)
            or None in prev
            or tuple(prev) == tuple(index)
            or any(not 0 <= int(v) < n for v, n in zip(prev, lead))
        ):
            return None
        if stack_bytes(source, lead) > STACK_LIMIT_BYTES:
            self.replaced.append((layer.name, tuple(int(v) for v in prev)))
            return None
        return layer

    @_slider_kept
    def write_frame(
        self,
        layer: Any,
        name: str,
        part: str,
        data: np.ndarray,
        *,
        index: tuple[int, ...],
        lead: tuple[int, ...],
        source: Any,
        metadata: dict[str, Any],
        kind: str = "image",
    ) -> Any:
        """Write a full-size one-frame result into the whole-stack layer :meth:`stack_target` returned.

        A layer holding one frame of another slice is grown to the whole stack first (its frame kept, frames not
        computed yet blank: NaN in an image, which napari leaves transparent; 0 in labels), and a stack of an
        input that has grown or been cut since is resized alike (the frames both have kept in place);
        ``metadata["frames"]`` lists the frames computed. Undone by :meth:`rollback`.
        """
        if _kind(layer) == "labels":
            data = _as_labels(data)
        self._note_strokes(layer, index)
        self._follow_rename(layer, name)
        full = (*lead, *data.shape)
        old = layer.metadata
        computed = tuple(layer.data.shape[: len(lead)])  # the frames of a whole-stack result, before any growth
        if layer.data.shape != full and _collects(old) and _resized(layer.data.shape, lead, data.shape):
            # the input has grown or been cut since: so is the stack, the frames both have kept in place
            self._save_once(layer, copy=False)  # (Cancel restores the old stack: its array is replaced)
            resized = np.full(full, _blank(layer.data.dtype), dtype=layer.data.dtype)
            both = tuple(slice(0, min(a, b)) for a, b in zip(layer.data.shape, full))
            resized[both] = layer.data[both]
            layer.data = resized
        grow = layer.data.shape != full
        # frames computed from the input's earlier data (see stack_target): cleared, in a new array (Cancel
        # gives the old one back)
        drop = [
            f for n, fs in self.stale if n == layer.name for f in fs
            if f != [int(v) for v in index] and (layer.name, tuple(f)) not in self._cleared
        ]
        self._cleared.update((layer.name, tuple(f)) for f in drop)  # (once: later writes go in place)
        # (an array a running job reads, e.g. a queued run of this stack, is not written: it gets a new one; so
        # does an earlier run's stack at this run's first write, up to PRIVATE_STACK_BYTES: a copy the user kept,
        # add_image(layer.data), is not changed; beyond, a copy per run costs too long in the GUI thread)
        first = not any(same_layer(layer, t) for t in self.touched.values())
        in_place = (
            not grow and not drop and layer.data.flags.writeable and layer.data.dtype == data.dtype
            and not _held(layer.data) and not (first and layer.data.nbytes <= PRIVATE_STACK_BYTES)
        )
        # Cancel restores the one frame written in place, or the array that a new one replaces: never a copy of
        # the whole stack (up to STACK_LIMIT_BYTES), which took seconds in the GUI thread at every frame.
        self._save_once(layer, frame=tuple(int(v) for v in index) if in_place else None, copy=False)
        if grow:
            done = [list(old["frame"])]
        else:
            done = _frames_done(old, computed)
            if "stack_run" not in old and (old.get("frames") is None or old.get("frame") is None):
                # a whole-stack run's result (also a stopped one that kept earlier frames: they are listed);
                # what that run was is kept (the rest of the metadata describes the frame run)
                run = {k: v for k, v in old.items() if k not in ("task", "part", "source", "source_id", "digests")}
                old = {**old, "stack_run": run}
        done = [f for f in done if f not in drop and all(0 <= v < n for v, n in zip(f, lead))]
        if list(index) not in done:
            done.append(list(index))
        if not grow:
            stack = layer.data
            if not in_place:
                stack = np.array(stack, dtype=np.result_type(stack.dtype, data.dtype), copy=True)
            for f in drop:
                if all(0 <= v < n for v, n in zip(f, lead)):
                    stack[tuple(f)] = _blank(stack.dtype)
            stack[tuple(index)] = data
            if stack is layer.data:
                layer.refresh()
            else:
                layer.data = stack
        else:  # one frame of another slice: grow it to the whole stack
            dtype = np.result_type(layer.data.dtype, data.dtype)
            stack = np.full(full, _blank(dtype), dtype=dtype)
            stack[tuple(int(v) for v in old["frame"])] = layer.data.reshape(data.shape)
            stack[tuple(index)] = data
            layer.data = stack
        _forget_edits(layer)
        rgb = bool(getattr(layer, "rgb", False)) and _kind(layer) == "image"
        _set_transform(layer, transform(source, len(full) - (1 if rgb else 0)))  # follows the source's
        if kind == "image":  # (a map keeps its 0-1 range)
            _widen_range(layer, data, source)
            if first:
                self._follow_input_contrast(layer, source)
        digests = {**(old.get("digests") or {}), **(metadata.get("digests") or {})}
        digests = {
            k: v for k, v in digests.items()
            if (f := [int(x) for x in k.split(",")]) not in drop and all(0 <= x < n for x, n in zip(f, lead))
        }
        # strokes painted on the other frames are still there (with frames unknown, they may have been on this)
        painted = old.get("painted")
        here = [int(v) for v in index]
        painted = [list(f) for f in painted if list(f) != here] if isinstance(painted, list) else []
        layer.metadata = {
            "task": self.task, "part": part, "source": self.source_name(source), "source_id": source_id(source),
            **metadata, "frames": done,
            **({"stack_run": old["stack_run"]} if "stack_run" in old else {}),
            **({"painted": painted} if painted else {}),
            **({"digests": digests} if digests else {}),
        }
        self.touched[name] = layer
        return layer

    def _add(self, name, data, kind, source, rgb, tf, metadata, visible=True, additive=False):
        """Add the layer; a failure leaves none of it in the layer list."""
        before = {id(layer) for layer in self.viewer.layers}
        # napari cannot add an RGB layer hidden while the view is 3D (vispy's volume visual refuses it): there
        # it is made visible, then hidden
        later = not visible and rgb and self.viewer.dims.ndisplay == 3
        try:
            layer = self._add_layer(name, data, kind, source, rgb, tf, metadata, visible or later, additive)
        except Exception:
            new = [  # (by name: not a layer something else added meanwhile; napari may have suffixed it)
                x for x in self.viewer.layers
                if id(x) not in before and (x.name == name or x.name.startswith(f"{name} ["))
            ]
            for layer in new:  # half-added (napari inserts it before it makes its visual); removing it may
                try:  # raise in napari's canvas as well
                    self.viewer.layers.remove(layer)
                except Exception:  # noqa: BLE001 - (it is gone from the list whatever its canvas says)
                    pass
            raise
        if later:
            layer.visible = False
        return layer

    def _add_layer(self, name, data, kind, source, rgb, tf, metadata, visible, additive=False):
        # (made hidden, not hidden after it is drawn: napari holds the viewer for each layer it draws; only an
        # RGB layer in the 3D view pays that, see _add)
        common = dict(name=name, metadata=metadata, visible=visible, **tf)
        if kind == "labels":
            layer = self.viewer.add_labels(data, **common)
            layer.events.paint.connect(_note_painted)
            return layer
        if kind == "map":
            return self.viewer.add_image(data, rgb=rgb, colormap="gray", contrast_limits=(0.0, 1.0), **common)
        # shown as the input is: a channel of a multichannel overlay (channel_axis) is additive (also its first
        # channel, opaque under the others: opaque on top, it would cover them), a translucent overlay translucent
        blending = "additive" if additive else source.blending
        extra = {"gamma": source.gamma, "blending": blending, "opacity": source.opacity}
        if not rgb:
            extra["colormap"] = source.colormap
        layer = self.viewer.add_image(data, rgb=rgb, contrast_limits=_contrast(source), **extra, **common)
        _widen_range(layer, data, source)
        _give_contrast(layer, _contrast(source))
        return layer

    def drop_created_except(self, names: list[str]) -> None:
        """Remove the layers this run created for names not in ``names`` (e.g. preview-only parts)."""
        for name, layer in list(self.touched.items()):
            if name not in names and any(same_layer(layer, c) for c in self.created):
                self._remove(layer)
                self._forget(layer)
                del self.touched[name]

    def raise_created(self, names: list[str], above: list[Any] = ()) -> None:
        """Move the layers this run created to the top, in the order of ``names`` (the last on top); an updated
        one lying under its input (one of ``above``, the run's inputs) goes just over it.

        Why: updated layers keep the place the user gave them, but one under its input is hidden by it, e.g.
        after the input was replaced by a new layer of the same name (added on top of the old results). One the
        user put under the very input it was made from (a map moved out of sight) stays there.
        """
        self.stop_watching()  # (the moves below are this run's own)
        anchors: dict[str, Any] = {}  # input name -> the layer lifted over it last (in the order of ``names``)
        for name in names:
            layer = self.touched.get(name)
            index = None if layer is None else self._index(layer)
            if index is None:
                continue
            if any(same_layer(layer, c) for c in self.created):
                if not any(same_layer(layer, p) for p in self._placed):  # (one the user moved stays there)
                    self.viewer.layers.move(index, len(self.viewer.layers))
                continue
            if any(same_layer(layer, b) for b in self._below):
                continue
            key = layer.metadata.get("source")
            source = next((s for s in above if self.source_name(s) == key), None)
            at = None if source is None else self._index(source)
            if at is not None and index < at:
                anchor = anchors.get(key, source)
                self.viewer.layers.move(index, self._index(anchor) + 1)  # (napari's dest counts before removal)
                anchors[key] = layer

    def keep_over(self, top: list[str], others: list[str]) -> None:
        """Move each layer of ``top`` (names asked for) just over the highest of ``others`` that this run created
        where it lies under one (a part to see, e.g. the clean image, over an opaque map that this run made
        again while the clean image was updated in place); otherwise it stays where it is, as does one the user
        placed (moved during the run, or an earlier run's layers in the order the user gave them)."""
        self.stop_watching()

        def mine(layer: Any) -> bool:  # created by this run and not moved by the user meanwhile
            made = any(same_layer(layer, c) for c in self.created)
            return made and not any(same_layer(layer, p) for p in self._placed)

        for name in top:
            layer = self.touched.get(name)
            index = None if layer is None else self._index(layer)
            if index is None or any(same_layer(layer, p) for p in self._placed):
                continue
            below = [self._index(self.touched[o]) for o in others if o in self.touched and mine(self.touched[o])]
            highest = max((i for i in below if i is not None), default=-1)
            if highest > index:
                self.viewer.layers.move(index, highest + 1)  # (napari's dest counts before removal)

    def activate_top(self, names: list[str]) -> None:
        """At the end of a run that added layers (napari makes each layer it adds active), make the top visible
        one of ``names`` (this run's parts) active: the part on view, and the mask to correct with the brush,
        not the part added last (segmentation's hidden foreground, the watermark's opacity map under the clean
        image). A layer of their own that the user made active during the run becomes the active one again;
        an active layer this run did not make (another panel's output) stays."""
        selection = self.viewer.layers.selection
        active = selection.active
        if not self.created or (active is not None and not any(same_layer(active, c) for c in self.created)):
            return
        chosen = self._chosen
        if chosen is not None and self._index(chosen) is not None:
            if active is None or not same_layer(chosen, active):
                selection.active = chosen
            return
        placed = [(self._index(self.touched[n]), self.touched[n]) for n in names if n in self.touched]
        placed = [(bool(layer.visible), i, layer) for i, layer in placed if i is not None]
        if placed:
            top = max(placed, key=lambda p: p[:2])[2]
            if active is None or not same_layer(top, active):
                selection.active = top

    def _index(self, layer: Any) -> int | None:
        return next((i for i, other in enumerate(self.viewer.layers) if same_layer(other, layer)), None)

    def added_into(self, shown: bool) -> list[tuple[str, Any]]:
        """``(layer name, input)`` of the additive image layers this run wrote (shown, or hidden with ``shown``
        off) whose input is a shown channel of an additive overlay: there they add into it (a dehazed channel
        over its hazy input shows at twice its brightness), which the status line says."""
        found: list[tuple[str, Any]] = []
        for layer in self.touched.values():  # (created or updated by this run)
            if (
                not self._in_viewer(layer) or bool(layer.visible) is not shown
                or getattr(layer, "blending", None) != "additive" or _kind(layer) != "image"
            ):
                continue
            source = next((x for x, _ in self._names if layer.metadata.get("source_id") == source_id(x)), None)
            if source is not None and source.visible and in_overlay(self.viewer, source):
                found.append((layer.name, source))
        return found

    def _remove(self, layer: Any) -> None:
        try:
            self.viewer.layers.remove(layer)
        except ValueError:  # already removed by the user
            pass

    @_slider_kept
    def rollback(self, reinsert: bool = True) -> None:
        """Remove the layers this run created; give updated ones back their data, transform and metadata from
        before the run, and put back earlier results it replaced (another colour mode or
        layer kind) where they were, unless ``reinsert`` is off or the viewer holds no layer any more (it was
        closed: napari empties its layer list first)."""
        self.stop_watching()
        for layer in self.created:
            self._remove(layer)
        for layer, saved in self._saved:
            if saved.frame is not None:
                array = np.array(saved.array, copy=True) if _held(saved.array) else saved.array
                array[saved.frame] = saved.data
                layer.data = array
            else:
                layer.data = saved.data
            _restore_edits(layer, saved.edits)  # (the data is as it was, so its strokes can be undone again)
            for key, value in saved.transform.items():
                setattr(layer, key, value)
            layer.metadata = saved.metadata
            # (not its contrast limits, unless the run reset them and the user has not set them since)
        for layer, before in self._contrast_reset:
            if _contrast_as_given(layer):
                _give_contrast(layer, before)
        for layer, before, given in reversed(self._renamed):
            if layer.name == given:  # (unless the user renamed it since)
                layer.name = before
        self._renamed.clear()
        detached, self._detached = self._detached, []  # (taken first: a failed insert must not repeat)
        self.created.clear()
        self._saved.clear()
        self._contrast_reset.clear()
        self.touched.clear()
        if not reinsert or not len(self.viewer.layers):
            return
        for index, layer in reversed(detached):  # (put back in reverse: each at the index it had)
            if not self._in_viewer(layer):
                self.viewer.layers.insert(min(index, len(self.viewer.layers)), layer)


def _same_ids(then: Any, now: Any) -> bool:
    """Whether two runs' ``metadata["input_ids"]`` name the same input layers (renamed between the runs)."""
    known = isinstance(then, list) and isinstance(now, list) and None not in then and None not in now
    return known and sorted(map(str, then)) == sorted(map(str, now))


def _in_memory(source: Any) -> np.ndarray | None:
    """A layer's array where reading it for a checksum is cheap (not lazy, multiscale or a disk-backed memmap)."""
    data = getattr(source, "data", None)
    if getattr(source, "multiscale", False) or not isinstance(data, np.ndarray) or isinstance(data, np.memmap):
        return None
    return data


def frame_digest(source: Any, index: Any, samples: int | None = None) -> str | None:
    """A checksum of the input frame ``index`` (leading-axis indices) of an in-memory layer: whether a frame
    result collected into a stack still belongs to the layer's data (``None`` for lazy or multiscale data,
    which is not read for it, a disk-backed memmap, or an index the data no longer has). Of the values, not
    their bytes (the same values in another dtype or byte order are the same frame); up to ``samples`` of them,
    by default :data:`DIGEST_SAMPLES` (every pixel up to 512 x 512, every other row and column of a 1024 x 1024
    frame). The checksum names its sample count (``"<crc>/<samples>"``), so that it is checked alike."""
    data = _in_memory(source)
    if data is None or index is None:
        return None
    index = tuple(int(v) for v in index)
    if len(index) >= data.ndim or any(not 0 <= v < n for v, n in zip(index, data.shape)):
        return None
    frame = data[index]
    samples = int(samples or DIGEST_SAMPLES)
    step = max(1, math.ceil(math.sqrt(frame.shape[0] * frame.shape[1] / samples)))
    values = np.ascontiguousarray(frame[::step, ::step], dtype=np.float64)
    return f"{zlib.crc32(values.tobytes()):08x}/{samples}"


#: Samples of a frame :func:`frame_digest` reads, and of a whole-stack run's frames together (in the GUI thread:
#: about 16 ns a sample, so ~70 ms at most; a long stack's frames get fewer each, at least DIGEST_MIN_SAMPLES).
DIGEST_SAMPLES = 512 * 512
DIGEST_STACK_SAMPLES = 4 * 1024 * 1024
DIGEST_MIN_SAMPLES = 4096


#: A whole-stack run checksums its frames (for a later frame run) only up to this many of them.
DIGEST_MAX_FRAMES = 512


def frame_digests(source: Any, index: Any) -> dict[str, str] | None:
    """Checksums (:func:`frame_digest`) of the input frames a run reads at ``index`` (leading-axis indices, with
    ``None`` at a whole-stack run's sequence axis: every frame along it), keyed by frame; ``None`` for lazy or
    multiscale data, a 2D layer, or a sequence of more than :data:`DIGEST_MAX_FRAMES` frames."""
    data = _in_memory(source)
    if data is None or index is None:
        return None
    index = tuple(index)
    free = [k for k, v in enumerate(index) if v is None]
    if len(free) > 1 or len(index) >= data.ndim:
        return None
    frames = [index]
    if free:
        n = data.shape[free[0]]
        if n > DIGEST_MAX_FRAMES:
            return None
        frames = [index[: free[0]] + (t,) + index[free[0] + 1 :] for t in range(n)]
    samples = max(DIGEST_MIN_SAMPLES, min(DIGEST_SAMPLES, DIGEST_STACK_SAMPLES // len(frames)))
    out = {_frame_key(f): frame_digest(source, f, samples) for f in frames}
    return None if None in out.values() else out  # type: ignore[return-value]


def list_frames(frames: Any) -> str:
    """Up to five frames (index lists or tuples) for a message: ``"[2], [5] and 3 more"``."""
    frames = list(frames)
    more = f" and {len(frames) - 5} more" if len(frames) > 5 else ""
    return ", ".join(index_text(f) for f in frames[:5]) + more


def index_text(index: Any) -> str:
    """A frame's index on the leading axes for a message, a whole axis as ``:`` (``[1, :]``, not ``[1, None]``:
    the Z-slice at T = 1 of a whole-Z run)."""
    return "[" + ", ".join(":" if v is None else str(int(v)) for v in index) + "]"


def _frame_key(index: Any) -> str:
    return ",".join(str(int(v)) for v in index)


def _collects(md: dict[str, Any]) -> bool:
    """Whether an output layer's metadata is a whole-stack layer's: frames collected one by one (a list of
    them), or a whole-stack run's result (neither a frame nor a list)."""
    return isinstance(md.get("frames"), list) or (md.get("frame") is None and md.get("frames") is None)


def _stale_frames(
    md: dict[str, Any], source: Any, index: Any, cache: dict[tuple[int, str], str | None]
) -> list[list[int]]:
    """Frames (other than ``index``, which is being run again) whose results were computed from input data
    that has changed since: their ``metadata["digests"]`` no longer match the source's frames. ``cache``: the
    checksums taken so far in this run (every preview asks again, for every part: a long stack's frames are
    read once)."""
    digests = md.get("digests")
    if not isinstance(digests, dict):
        return []
    current = _frame_key(index) if index is not None else None
    stale = []
    for key, digest in digests.items():
        if key == current:
            continue
        try:
            frame = [int(v) for v in str(key).split(",")]
        except ValueError:
            continue
        samples = str(digest).partition("/")[2]
        at = (id(getattr(source, "data", None)), f"{key}/{samples}")
        if at not in cache:
            cache[at] = frame_digest(source, frame, int(samples) if samples.isdigit() else None)
        now = cache[at]
        if now is not None and now != digest:
            stale.append(frame)
    return sorted(stale)


def _frames_done(md: dict[str, Any], lead: tuple[int, ...]) -> list[list[int]]:
    """The frames a whole-stack output layer holds results of, from its metadata: those it lists (frames
    collected one by one), else every frame of its ``lead`` axes (a whole-stack run's result), but only those
    reached when the frames ran one by one and were stopped (``params["frames_run"]``; the rest are NaN)."""
    if isinstance(md.get("frames"), list):
        return [[int(v) for v in f] for f in md["frames"] if f is not None]
    done = [list(i) for i in np.ndindex(*lead)]
    ran = (md.get("params") or {}).get("frames_run")
    return done[:ran] if isinstance(ran, int) and len(lead) == 1 else done


def _resized(shape: tuple[int, ...], lead: tuple[int, ...], frame: tuple[int, ...]) -> bool:
    """Whether a stack shaped ``shape`` holds the same frames as ``(*lead, *frame)``, more or fewer of them (an
    input that grew or was cut: the frames both have are kept in place)."""
    k = len(lead)
    return len(shape) == k + len(frame) and tuple(shape[k:]) == tuple(frame) and tuple(shape[:k]) != tuple(lead)


def stack_bytes(source: Any, lead: tuple[int, ...]) -> int:
    """Bytes of a float32 stack of ``source``'s frames (with its colour channels) over the ``lead`` axes: the
    largest part a run collects, so that every part of a run decides alike whether it collects frames."""
    channels = min(layer_array_shape(source)[-1], 3) if getattr(source, "rgb", False) else 1  # (RGBA: RGB out)
    return int(np.prod(lead)) * int(np.prod(frame_shape(source))) * channels * 4


def _of_kind(layer: Any, kind: str) -> bool:
    """Whether ``layer`` can hold an output of ``kind`` (``"labels"``, or ``"image"`` / ``"map"``: an Image)."""
    return (_kind(layer) == "labels") == (kind == "labels")


def _kind(layer: Any) -> str:
    from napari.layers import Labels  # isinstance, not type(): plugin layers are proxies

    return "labels" if isinstance(layer, Labels) else "image"


def _as_labels(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.floating) or data.dtype == bool:
        return (data > 0.5).astype(np.uint8)
    return data.astype(np.uint8, copy=False) if data.max(initial=0) < 256 else data


def _set_transform(layer: Any, tf: dict[str, Any]) -> None:
    """Set the transform ``tf`` (:data:`_TRANSFORM_KEYS`) where it differs: each setter costs napari a refresh
    of the layer (~40 ms for the seven on a large stack, at every live preview)."""
    for key in _TRANSFORM_KEYS:
        value = tf[key]
        try:
            current = getattr(layer, key)
            old = np.asarray(getattr(current, "affine_matrix", current))
            new = np.asarray(getattr(value, "affine_matrix", value))
            if key == "shear" and new.ndim == 2 and old.ndim == 1:  # (napari gives a shear back as its vector)
                new = new[np.triu_indices(new.shape[0], 1)]
            same = np.array_equal(old, new)
        except Exception:  # (values numpy cannot compare: set it)
            same = False
        if not same:
            setattr(layer, key, value)


def _widen_range(layer: Any, data: np.ndarray, source: Any) -> None:
    """Let the contrast slider reach the input's range and the output's values (napari would limit it to the
    contrast limits given at creation, which are the input's current ones)."""
    if (found := _finite_range(data)) is None:
        return
    low, high = found
    lo = min(float(layer.contrast_limits_range[0]), float(source.contrast_limits_range[0]), low)
    hi = max(float(layer.contrast_limits_range[1]), float(source.contrast_limits_range[1]), high)
    if hi > lo and (lo, hi) != tuple(float(v) for v in layer.contrast_limits_range):
        layer.contrast_limits_range = (lo, hi)


def _finite_range(data: np.ndarray) -> tuple[float, float] | None:
    """``(min, max)`` of an array's values, NaN ignored (frames not run), without a copy of the data; ``None``
    for an empty or all-NaN array."""
    if data.size == 0:
        return None
    if not np.issubdtype(data.dtype, np.floating):
        return float(data.min()), float(data.max())
    flat = data.reshape(-1)
    low, high = float(np.fmin.reduce(flat)), float(np.fmax.reduce(flat))
    return None if np.isnan(low) else (low, high)


def _cover(layer: Any, data: np.ndarray) -> None:
    """Widen a layer's contrast limits to reach ``data``'s values (NaN of frames not run ignored)."""
    if (found := _finite_range(np.asarray(data))) is None:
        return
    low, high = found
    lo, hi = (float(v) for v in layer.contrast_limits)
    if low < lo or high > hi:
        _give_contrast(layer, (min(lo, low), max(hi, high)))


def _contrast(source: Any) -> tuple[float, float]:
    lo, hi = (float(v) for v in source.contrast_limits)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


#: The contrast limits the runs gave each output layer (by napari id), to tell them from limits the user set:
#: a re-run resets the former (they came from an input that may have been replaced since, e.g. by the same
#: picture in 0-1 floats instead of uint8, which showed the new result nearly black) and keeps the latter.
_GIVEN_CONTRAST: dict[str, tuple[float, float]] = {}


def _give_contrast(layer: Any, limits: tuple[float, float]) -> None:
    layer.contrast_limits = limits
    key = source_id(layer)
    if key is not None:
        _GIVEN_CONTRAST[key] = tuple(float(v) for v in layer.contrast_limits)


def _contrast_as_given(layer: Any) -> bool:
    """Whether an output layer's contrast limits are still those a run gave it (the user has not set them)."""
    given = _GIVEN_CONTRAST.get(source_id(layer) or "")
    return given is not None and bool(np.allclose(layer.contrast_limits, given, rtol=1e-6, atol=0))


def _snapshot(layer: Any, frame: tuple[int, ...] | None = None, copy: bool = True) -> _Saved:
    data = layer.data
    kept = data
    if frame is not None:
        kept = np.array(data[frame], copy=True)
    elif copy and isinstance(data, np.ndarray):
        kept = data.copy()
    return _Saved(
        kept,
        dict(layer.metadata),
        {key: _copy(getattr(layer, key)) for key in _TRANSFORM_KEYS},
        frame=frame,
        array=data if frame is not None else None,
        edits=_edits(layer),
    )


def _copy(value: Any) -> Any:
    if hasattr(value, "affine_matrix"):
        return np.asarray(value.affine_matrix).copy()
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


#: Arrays that running jobs were handed (inputs are layer arrays passed by reference, e.g. another panel's
#: output): a live preview written into one of them would change a run's input under it, so such a layer is
#: given a new array instead (:func:`hold_arrays`).
_READ_BY_RUNS: list[np.ndarray] = []


def hold_arrays(values: Any) -> list[np.ndarray]:
    """Register the numpy arrays among ``values`` (nested lists, tuples and dicts) as read by a running job;
    returns them, for :func:`release_arrays` when the job ends."""
    found: list[np.ndarray] = []
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, np.ndarray):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, Deferred):
            stack.append(v.value)
    _READ_BY_RUNS.extend(found)
    return found


def release_arrays(arrays: list[np.ndarray]) -> None:
    """Unregister arrays of :func:`hold_arrays` (by identity: an equal array of another job stays held)."""
    for a in arrays:
        for i, held in enumerate(_READ_BY_RUNS):
            if held is a:
                del _READ_BY_RUNS[i]
                break


def _held(array: np.ndarray) -> bool:
    """Whether a running job reads (part of) ``array``: it must not be written in place."""
    return any(np.may_share_memory(array, a) for a in _READ_BY_RUNS)


def _assign(layer: Any, data: np.ndarray) -> None:
    """Put ``data`` into the layer: written into its array when shape and dtype allow (live preview) and no
    running job reads that array, else set."""
    old = layer.data
    if (
        isinstance(old, np.ndarray)
        and old.shape == data.shape
        and old.dtype == data.dtype
        and old.flags.writeable
        and not _held(old)
    ):
        old[...] = data
        layer.refresh()
    else:
        layer.data = np.array(data, copy=True)
    _forget_edits(layer)


def _note_painted(event: Any) -> None:
    """A stroke on an output mask (napari's ``paint`` event, also a fill): noted in the layer's metadata (until
    a run writes it again, which replaces the metadata), so that a run replacing the strokes says so: the
    frames painted (leading-axis indices) of a stack, else ``True``."""
    layer = getattr(event, "source", None)
    md = getattr(layer, "metadata", None)
    if not isinstance(md, dict) or "part" not in md or md.get("painted") is True:
        return
    frames = _painted_frames(getattr(event, "value", None), np.shape(layer.data))
    if frames is None:
        md["painted"] = True
    elif frames:
        md["painted"] = [list(f) for f in sorted({*map(tuple, md.get("painted") or []), *frames})]


def _painted_frames(atoms: Any, shape: tuple[int, ...]) -> set[tuple[int, ...]] | None:
    """The leading-axis indices a paint event's history atoms (napari's: the indices written first) touch, or
    ``None`` where that cannot be read (a 2D layer, another napari's event)."""
    lead = len(shape) - 2
    if lead <= 0:
        return None
    out: set[tuple[int, ...]] = set()
    try:
        for atom in atoms:
            axes = []
            for v, n in zip(atom[0][:lead], shape[:lead], strict=True):
                if isinstance(v, slice):
                    axes.append(range(*v.indices(n)))
                elif isinstance(v, (int, np.integer)):
                    axes.append([int(v)])
                else:
                    axes.append(np.unique(np.asarray(v)).astype(int).tolist())
            out.update(itertools.product(*axes))
    except (TypeError, ValueError, IndexError):
        return None
    return out


def _edits(layer: Any) -> tuple[list, list] | None:
    """A Labels layer's undo and redo history (napari's private deques, read where they exist), or ``None``."""
    undo, redo = getattr(layer, "_undo_history", None), getattr(layer, "_redo_history", None)
    if _kind(layer) != "labels" or undo is None or redo is None:
        return None
    return list(undo), list(redo)


def _restore_edits(layer: Any, edits: tuple[list, list] | None) -> None:
    """Give a Labels layer whose data is back as before a run the undo and redo history it had then (which the
    run's previews cleared, :func:`_forget_edits`); cleared where it was not kept."""
    _forget_edits(layer)
    undo, redo = getattr(layer, "_undo_history", None), getattr(layer, "_redo_history", None)
    if edits is not None and undo is not None and redo is not None:
        undo.extend(edits[0])
        redo.extend(edits[1])


def _forget_edits(layer: Any) -> None:
    """Clear a Labels layer's undo history once a run has written it: napari keeps the history across new
    data, and Ctrl+Z after a re-run would paste the pixels of a stroke painted on the last run's mask (that
    run's values) into the new one. napari has no public call for it, but a Labels layer that stops being
    editable drops its history (and leaves a painting mode): so off and on again, in the mode it was in."""
    if _kind(layer) != "labels" or not getattr(layer, "editable", False):
        return
    mode = layer.mode
    layer.editable = False
    layer.editable = True
    if layer.mode != mode:
        layer.mode = mode
