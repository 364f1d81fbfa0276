"""Input checking and value normalisation (numpy only, no torch).

Every public function turns its images into float32 ``(H, W, C)`` arrays in ``[0, 1]`` with
:func:`as_image` / :func:`as_images` and maps results back to the input's value range with
:meth:`ValueRange.restore`.
"""

from __future__ import annotations

import contextvars
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ValueRange", "as_image", "as_images", "check_iterations", "check_max_size", "check_seed", "hint_labels",
]

#: Elements per chunk of the float64 value maps (bounds their temporary memory for large stacks).
_CHUNK = 1 << 22
#: Largest magnitude results can hold (they are float32).
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class ValueRange:
    """Affine map between the input's values and ``[0, 1]``; ``gray`` = input had no channel axis."""

    lo: float
    hi: float
    gray: bool
    #: The values the input's kind could hold (its integer dtype's range; ``[0, 1]`` for float data within it,
    #: ``0`` below non-negative float data; float32's range otherwise, where the results are cast), which may
    #: reach beyond ``[lo, hi]``.
    possible: tuple[float, float] = (-_FLOAT32_MAX, _FLOAT32_MAX)

    def bounds(self, reach: float = 0.5) -> tuple[float, float]:
        """:attr:`possible` in the normalised units (``[lo, hi]`` -> ``[0, 1]``), at most ``reach`` beyond.

        What a result that may leave the input's own range (a layer of a mixture: the mixture of two images
        spans less than either) is allowed, e.g. ``(-0.10, 1.12)`` for uint8 data from 20 to 230.
        """
        span = self.hi - self.lo
        if not span > 0:
            return 0.0, 1.0
        b0 = max((self.possible[0] - self.lo) / span, -reach)
        b1 = min((self.possible[1] - self.lo) / span, 1.0 + reach)
        return min(b0, 0.0), max(b1, 1.0)

    def restore(self, x: np.ndarray, *, values: bool = True, within: bool = False) -> np.ndarray:
        """``(..., H, W, C)`` in [0, 1] back to the input's range (``values``) and layout (float32); ``within``:
        clipped to :attr:`possible` (rounding must not take a layer a hair below a uint8 zero)."""
        x = np.asarray(x, dtype=np.float32)
        if values:
            span, lo = self.hi - self.lo, self.lo
            # clipped in float64, before the cast: past float32's top a value would be inf first (numpy's
            # "overflow encountered in cast" warning) for data near it; in a preview (not ``within``) too
            limits = self.possible if within else (-_FLOAT32_MAX, _FLOAT32_MAX)
            x = _in_float64(x, lambda v: np.clip(v * span + lo, *limits))
        if self.gray and x.shape[-1] == 1:
            x = x[..., 0]
        return x


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_WIDGETS_DIR = os.path.join(_PACKAGE_DIR, "_widgets")


def corners_to_box(lo: Sequence[float], hi: Sequence[float]) -> tuple[int, int, int, int]:
    """A rectangle's corner extent (napari vertex coordinates, e.g. ``shapes_layer.data``) -> the pixels it
    overlaps as ``(y0, x0, y1, x1)``, end exclusive. Pixel ``i`` spans ``[i - 0.5, i + 0.5]`` in napari, so a
    rectangle with corners at rows 8 and 21 covers rows 8 to 21. The widgets and the library read boxes alike.
    Corners within 1e-6 pixel of a pixel edge count as on it (a box drawn at pixel edges on a layer with a scale
    of 0.2 or a rotation comes back from the world with float noise, e.g. 9.4999999999999929, which took a row
    more).
    """
    y0, x0, y1, x1 = edges_to_box([float(v) + 0.5 for v in lo], [float(v) + 0.5 for v in hi])
    return y0, x0, y1, x1


def _holds_bool(value: object) -> bool:
    """Whether ``value`` is a bool or a (nested) list / tuple with one in it."""
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, (list, tuple)) and any(_holds_bool(v) for v in value)


def edges_to_box(lo: Sequence[float], hi: Sequence[float]) -> tuple[int, ...]:
    """Pixel-edge coordinates (pixel ``i`` spans ``[i, i + 1]``) -> the pixels they overlap: ``lo`` floored,
    ``hi`` ceiled, values within 1e-6 of an edge counting as on it (``7 - 1e-15`` from ``0.7 / 0.1`` is 7)."""
    return tuple(math.floor(round(float(v), 6)) for v in lo) + tuple(math.ceil(round(float(v), 6)) for v in hi)


#: Where this context's library warnings go instead of :func:`warnings.warn` (the widgets' worker threads set
#: it: superqt relays a worker's warnings by swapping the process-wide ``warnings.showwarning``, which two
#: workers running at once undo for each other, losing or mislabelling messages).
WARNING_SINK: contextvars.ContextVar[Callable[[str, type[Warning]], None] | None] = contextvars.ContextVar(
    "napari_doubledip_warning_sink", default=None
)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointing at the caller of the library: the first frame outside this package (or in
    its widgets, which call the library like a user). A fixed ``stacklevel`` cannot: a task's code runs as a
    generator, below ``drain`` in a blocking call and directly below the user's ``next()`` under ``iterate``.
    Goes to :data:`WARNING_SINK` instead where that is set."""
    sink = WARNING_SINK.get()
    if sink is not None:
        sink(message, category)
        return
    frame, level = sys._getframe(1), 2  # level 1 would be this function
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(_PACKAGE_DIR + os.sep) or path.startswith(_WIDGETS_DIR + os.sep):
            break
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


#: Messages :func:`warn_once` has said (in this process).
_SAID_ONCE: set[str] = set()


def warn_once(message: str, category: type[Warning] = UserWarning) -> None:
    """:func:`warn`, once a process for each message: for a setting of the environment, which every run reads
    again."""
    if message not in _SAID_ONCE:
        _SAID_ONCE.add(message)
        warn(message, category)


def _in_float64(x: np.ndarray, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``f`` applied to ``x`` in float64, chunk by chunk along the first axis; returned as float32.

    Why float64: in float32 a small variation on a large offset (1e6 + 0..1) loses most of its levels, and a
    span beyond float32's range (1e40) overflows; the chunks bound the float64 temporaries of a large stack.
    """
    x1 = np.atleast_1d(x)
    out = np.empty(x1.shape, np.float32)
    step = max(1, _CHUNK // max(1, x1[0].size))
    for i in range(0, x1.shape[0], step):
        out[i : i + step] = f(x1[i : i + step].astype(np.float64))
    return out.reshape(np.shape(x))


def loaded(x: object, own: bool = False) -> object:
    """``x`` with lazy (dask) data computed and a pint Quantity as its numbers; anything else as it is, or
    with ``own`` copied where it is the caller's memory (a numpy array, a tensor): for a task that reads the
    input's values again at the end (:func:`copy_input`), so that its result is of the data as they were at
    the call, whatever the caller writes into its array meanwhile (the generator form hands control back at
    every report). An array nobody can write to (read-only, owning its memory: e.g. the one the napari
    widgets load a lazy layer into) is not copied."""
    if hasattr(x, "magnitude") and hasattr(x, "units") and not isinstance(x, np.ndarray):
        x = x.magnitude  # a pint Quantity: its numbers (the results are plain arrays in those units)
    if _lazy(x):  # dask arrays from napari layers
        return x.compute()
    if own and isinstance(x, np.ndarray):
        return x if not x.flags.writeable and x.base is None else x.copy()
    if own and (torch := sys.modules.get("torch")) is not None and isinstance(x, torch.Tensor):
        x = x.detach()
        return x.clone() if x.device.type == "cpu" else x.cpu()  # (the tasks read a GPU tensor on the host)
    return x


def host_array(x: object) -> object:
    """A torch tensor as numpy (detached, on the host); anything else as it is. np.asarray refuses a tensor
    that requires grad, one on a GPU, and bfloat16 (numpy has none)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = (x.float() if x.dtype == torch.bfloat16 else x).numpy()
    return x


def plain_data(x: object, name: str, warn_mask: bool = True) -> object:
    """``x`` as array-like data: a dask array computed, a torch tensor as numpy (detached, on the host); a napari
    layer or multiscale data refused with a message saying what to pass (``np.asarray`` of napari's
    ``MultiScaleData`` is its *smallest* level). A masked array's mask is ignored, with a warning unless
    ``warn_mask`` is off (a sequence's frames are warned about together)."""
    refuse_napari(x, name)
    x = loaded(host_array(x))
    if warn_mask and _masked(x):
        warn(
            f"the mask of {name} (a masked array) is ignored: {_MASK_ADVICE}"
        )
    return x


def refuse_napari(x: object, name: str) -> None:
    """Refuse a napari layer or multiscale data (passed where their data, or one level of it, belongs) with
    what to pass instead."""
    # isinstance against napari's classes where napari is loaded (the library never imports it): a plugin's
    # layers are proxies whose type() is not the layer class.
    layers = sys.modules.get("napari.layers")
    multiscale = sys.modules.get("napari.layers._multiscale_data")
    if multiscale is not None and isinstance(x, multiscale.MultiScaleData):
        raise TypeError(
            f"{name} is multiscale data ({len(x)} levels); pass one level: layer.data[0] is the full "
            "resolution, a later level is smaller and faster"
        )
    if layers is not None and isinstance(x, layers.Layer):
        shapes = name == "box" and x.__class__.__name__ == "Shapes"
        raise TypeError(
            f"{name} is a napari {x.__class__.__name__} layer; pass its data: layer.data"
            # (corner points are read as their bounding box: an ellipse's or a polygon's inside is a mask)
            + ("; for the inside of an ellipse or polygon, its mask: layer.to_masks(image.shape[:2])[0]"
               if shapes else "")
        )


_MASK_ADVICE = (
    "masked pixels count with the values under them; fill them first (x.filled(value)) if those are not meaningful"
)


def _masked(x: object) -> bool:
    """Whether ``x`` is a masked array with some pixels masked."""
    return isinstance(x, np.ma.MaskedArray) and np.ma.getmask(x) is not np.ma.nomask and bool(x.mask.any())


def listed(x: object) -> object:
    """An iterator (a generator of frames, ``map(imread, paths)``) as a list of its items; anything else as it
    is. Sets of images and stacks accept one like a list."""
    return list(x) if isinstance(x, Iterator) else x


def copy_input(x: np.ndarray, raw: object, where: np.ndarray) -> np.ndarray:
    """Write the input's own values into a restored result where it is a copy of the input, in place.

    ``x`` is ``(..., H, W[, C])`` float32 in the input's units, ``raw`` the input as passed (loaded: an array,
    a tensor, or a sequence of frames), ``where`` the pixels to copy (``x``'s shape without the channel axis).
    The float32 round trip through [0, 1] leaves copied pixels off by up to the value range times 2**-24 (an
    integer 200 as 199.99998, which a cast back would truncate to 199); copied, they are the input's values
    as float32 holds them.
    """
    w = np.asarray(where) > 0.5
    if isinstance(raw, (list, tuple)) and len(raw) == len(x) and x.ndim > 2:  # frames one by one (no stacked
        for i, item in enumerate(raw):  # copy); (not deeper: a frame may be nested lists of rows)
            if w[i].any():
                x[i][w[i]] = np.asarray(host_array(item)).reshape(x[i].shape)[w[i]]
    elif w.any():
        x[w] = np.asarray(host_array(raw)).reshape(x.shape)[w]
    return x


def _ragged(x: object, name: str) -> str:
    """The error for a list of arrays of different shapes (which numpy cannot stack), else ``""``."""
    if not isinstance(x, (list, tuple)):
        return ""
    try:
        shapes = [tuple(np.shape(item)) for item in x]
    except Exception:  # (ragged nested lists inside an item)
        return ""
    if len(set(shapes)) < 2:
        return ""
    listed = ", ".join(str(sh) for sh in shapes[:4]) + (", ..." if len(shapes) > 4 else "")
    kind = type(x).__name__
    return f"{name} must be one array, got a {kind} of arrays of different shapes ({listed}), which do not stack"


def _check_array(x: object, name: str, warn_mask: bool = True) -> np.ndarray:
    if isinstance(x, Iterator):  # (np.asarray makes a 0-d object array of it)
        raise TypeError(f"{name} is an iterator ({type(x).__name__}); pass an array")
    if isinstance(x, (str, bytes, os.PathLike)):  # (a console user's first try: dd.segment("cells.tif"))
        raise TypeError(
            f"{name} must be an array, got a {type(x).__name__} ({str(x)[:60]!r}): read the file first, e.g. "
            "skimage.io.imread(path), or pass a layer's data (viewer.layers[name].data)"
        )
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    x = plain_data(x, name, warn_mask)
    try:
        arr = np.asarray(x)
    except Exception as exc:  # (ragged lists, exotic inputs)
        raise TypeError(_ragged(x, name) or f"{name} must be array-like, got {type(x).__name__}") from exc
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if arr.ndim == 1 and arr.size and all(isinstance(v, (str, bytes, os.PathLike)) for v in arr):
        raise TypeError(  # (file names in a list: dd.segment(["a.tif", "b.tif"]))
            f"{name} must be an array, got {len(arr)} string{'s' if len(arr) > 1 else ''} "
            f"({str(arr[0])[:60]!r}, ...): if they are file names, read the files first, e.g. "
            "skimage.io.imread(path), or pass a layer's data (viewer.layers[name].data)"
        )
    if arr.dtype.kind not in "iuf":  # (not np.issubdtype(.., np.integer): timedelta64 passes that)
        raise TypeError(f"{name} must have a numeric dtype, got {arr.dtype}")
    return arr


def _check_hw(shape: tuple[int, ...], name: str) -> None:
    h, w = shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"{name} is empty ({h}x{w} pixels)")
    if h < 8 or w < 8:
        raise ValueError(f"{name} is too small to decompose: {h}x{w} pixels (need at least 8x8)")


def _stack_sequence(items: Sequence[object], name: str, one_sequence: bool = False) -> np.ndarray:
    """Validate and stack a sequence of same-shaped arrays; warn when one covers a small part of the value
    range they share (separate images in other units: 0-1 and 0-255, 12- and 16-bit), or, for the frames of
    ``one_sequence`` (whose brightness may fade), only when their dtypes differ in kind as well."""
    if len(items) == 0:
        raise ValueError(f"{name} is an empty sequence")
    arrays = [_check_array(x, f"{name}[{i}]", warn_mask=False) for i, x in enumerate(items)]
    if masked := [i for i, x in enumerate(items) if _masked(x)]:  # (once for all: a video has many frames)
        more = f" and {len(masked) - 5} more" if len(masked) > 5 else ""
        warn(
            f"the masks of {name} {masked[:5]}{more} (masked arrays) are ignored: {_MASK_ADVICE}"
        )
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"all {name} must have the same shape, got {sorted(shapes)}")
    # One value range is shared by all (relative intensities are kept): a uint8 0..255 image next to a float
    # 0..1 one makes the float one nearly black. float32 vs float64 is only precision, so floats count as one;
    # dtypes that differ with ranges alike (a uint8 mixture and one computed in float64) are no concern.
    kinds = list(dict.fromkeys("float" if a.dtype.kind == "f" else a.dtype.name for a in arrays))
    if len(arrays) > 1 and (len(kinds) > 1 or not one_sequence):
        ranges = [(float(a.min()), float(a.max())) for a in arrays]
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        # each must cover a good part of the range they share: a quarter across dtypes, an eighth within one
        # (a dark or low-contrast photo of a uint8 set is no concern; 0-1 next to 0-255, 12- next to 16-bit are)
        part = 0.25 if len(kinds) > 1 else 0.125
        # (a constant image has no range to compare: a blank mixture is left out, with its own warning; a blank
        # image of a watermarked set shows no watermark)
        small = [i for i, r in enumerate(ranges) if 0 < r[1] - r[0] < part * (hi - lo)]
        if not np.isfinite(ranges).all() or not small:
            return np.stack(arrays)  # (non-finite values: refused with their own message)
        which = ", ".join(f"{name}[{i}]: {ranges[i][0]:g} to {ranges[i][1]:g}" for i in small[:4])
        differ = f" have different dtypes ({', '.join(kinds)}) and" if len(kinds) > 1 else ""
        warn(
            f"{name}{differ} cover very different value ranges ({which}{', ...' if len(small) > 4 else ''}); "
            f"they are scaled together, as one value range ({lo:g} to {hi:g}), so an image with a smaller range "
            "comes out dark and flat: if they are not in the same units (0-1 and 0-255, 12- and 16-bit), "
            "convert them to one dtype and range first"
        )
    return np.stack(arrays)


def _value_range(arr: np.ndarray, name: str, gray: bool) -> ValueRange:
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        finite = np.isfinite(arr)
        bad = int(arr.size - np.count_nonzero(finite))
        where = ""
        # a set or stack: which images / frames, so that a long stack's bad ones are found (not for one image,
        # where name[0] would read as its first row)
        if arr.ndim == 4 and len(arr) > 1:
            frames = np.flatnonzero(~finite.reshape(len(arr), -1).all(axis=1))
            where = ", in " + ", ".join(f"{name}[{i}]" for i in frames[:5]) + (", ..." if len(frames) > 5 else "")
        raise ValueError(
            f"{name} contains NaN or infinite values ({bad} of {arr.size}{where}; e.g. the empty margin of a "
            "registered or stitched image): crop them away, or replace them first, e.g. "
            "f = data[np.isfinite(data)]; data = np.nan_to_num(data, nan=f.min(), posinf=f.max(), neginf=f.min())"
        )
    lo, hi = float(arr.min()), float(arr.max())
    c = arr.shape[-1]
    if not gray and c in (2, 4) and hi > lo:
        alpha = arr[..., -1]
        if float(alpha.min()) == float(alpha.max()) == hi:  # RGBA or grey + alpha, opaque: a 'colour' at the top
            kind, keep = ("RGBA", f"{name}[..., :3]") if c == 4 else ("grey + alpha (LA)", f"{name}[..., 0]")
            warn(
                f"{name} has {c} channels and the last is constant at the top of the range (an opaque alpha?): "
                f"all {c} are decomposed as colours, so the results' last channel need not stay opaque; for "
                f"{kind} pass {keep}"
            )
    # Results are float32 in the input's units: values beyond its range would come back as inf / NaN (and a
    # range beyond float64's, 1e308 wide, would make the normalisation itself inf / NaN).
    if max(abs(lo), abs(hi)) > _FLOAT32_MAX:
        raise ValueError(
            f"{name} has values from {lo:g} to {hi:g}, beyond the float32 range of the results "
            f"(+-{_FLOAT32_MAX:.3g}); rescale it first"
        )
    if hi == lo:
        warn(f"{name} is constant ({lo:g}): there is nothing to decompose, and the results will be flat")
    elif (outliers := _bright_outliers(arr, lo, hi)) is not None:
        count, bulk, rest = outliers
        warn(
            f"{name}: {count} isolated pixel(s) lie far above the rest (99.9 % of the values are at most "
            f"{bulk:g}, the others at most {rest:g}, the maximum is {hi:g}; hot pixels?): the values are scaled "
            f"to their full range, so the rest is squeezed into {100 * (rest - lo) / (hi - lo):.0f} % of it and "
            f"decomposes worse, down to a dark, empty result; if they are noise, clip them first, e.g. "
            f"np.minimum(x, {rest:g})"
        )
    elif arr.ndim == 4 and (bright := _bright_frames(arr, lo, hi)) is not None:
        frames, rest = bright
        which = ", ".join(f"{name}[{i}]" for i in frames[:5]) + (", ..." if len(frames) > 5 else "")
        warn(
            f"{which} {'is' if len(frames) == 1 else 'are'} far brighter than the others (a saturated or flash "
            f"frame?): 99 % of the others' values are at most {rest:g}, the maximum is {hi:g}; the values are "
            f"scaled to their full range, so the others are squeezed into {100 * (rest - lo) / (hi - lo):.0f} % "
            f"of it and decompose worse; drop {'it' if len(frames) == 1 else 'them'} first, e.g. "
            f"np.delete(x, {frames if len(frames) > 1 else frames[0]}, axis=0)"
        )
    top = max(abs(lo), abs(hi))
    if hi > lo and top > 0 and (hi - lo) / _float32_step(top) < 256:
        levels = max(1, int((hi - lo) / _float32_step(top)))
        plural = "s" if levels > 1 else ""
        if (hi - lo) / _float32_step(hi - lo) < 256:  # tiny values: no offset to subtract
            warn(
                f"{name} varies by {hi - lo:.3g}, below what the float32 results resolve (about {levels} "
                f"distinct value{plural}); rescale it first (e.g. x / x.max())"
            )
        else:
            warn(
                f"{name} varies by {hi - lo:.3g} on an offset of {lo:.3g}: the results are float32 and keep "
                f"only about {levels} distinct value{plural} at that offset; subtract the offset first "
                "(e.g. x - x.min())"
            )
    return ValueRange(lo, hi, gray, _possible(arr.dtype, lo, hi))


def _possible(dtype: np.dtype, lo: float, hi: float) -> tuple[float, float]:
    """The values data of this dtype (and range) could hold: see :attr:`ValueRange.possible`."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    # float data: what it looks like, with a little slack (resampling leaves values a hair beyond 0 and 1)
    slack = 1e-4 * max(hi - lo, 1e-12)
    if lo >= -slack:
        return 0.0, (1.0 if hi <= 1 + slack else _FLOAT32_MAX)
    return -_FLOAT32_MAX, _FLOAT32_MAX  # (the results are float32: beyond it a layer would come back inf)


def _float32_step(value: float) -> float:
    """Distance between adjacent float32 values at ``value`` (> 0), finite up to float32's maximum and beyond.

    ``np.spacing`` is inf at the largest float32 (its next value is inf), and a range wider than that maximum
    overflows the cast; the top binade's step is twice that of the one below it.
    """
    half = _FLOAT32_MAX / 2
    return float(np.spacing(np.float32(min(value, half)))) * (2.0 if value > half else 1.0)


#: Values far above the rest (above the middle of the range while 99.9 % lie in its lowest quarter) are warned
#: about when there are at most this fraction of the pixels (or 3) per frame and each is alone among its 3 x 3
#: neighbours:
#: hot pixels, not a bright object (whose pixels touch). One hot pixel in a 10-frame uint16 video dropped
#: segmentation's IoU from 0.998 to 0.912 (the rest squeezed into 4-6 % of the range).
OUTLIER_FRACTION = 5e-5
#: Values read at most at once by the outlier check (chunks along the first axis; bounds its temporaries).
_OUTLIER_CHUNK = 1 << 24


def _bright_outliers(arr: np.ndarray, lo: float, hi: float) -> tuple[int, float, float] | None:
    """``(count, 99.9th percentile, largest other value)`` where a few isolated pixels of ``arr`` (``(..., H,
    W, C)``) lie far above the rest, else ``None``. Reads views and chunks only (no copy of a large input)."""
    sample = arr
    while sample.size > 2_000_000:  # whole pixels (all channels), strided along the longest pixel axis
        a = int(np.argmax(sample.shape[:-1]))
        sample = sample[(slice(None),) * a + (slice(None, None, 2),)]
    # per frame of a stack (a camera's hot pixel is stuck: in every frame, one pixel of each)
    frames = int(np.prod(arr.shape[:-3])) if arr.ndim > 3 else 1
    cap = frames * max(3, int(OUTLIER_FRACTION * arr.size / arr.shape[-1] / frames))
    # The bulk: the 99.9th percentile of the pixels (their brightest channel), and below the ``cap`` brightest
    # ones, so that in a small image (under ~1000 pixels, or a few hot pixels of several channels) it is not
    # partly the hot pixels themselves
    pix = sample.max(axis=-1).ravel()
    below = pix.size - 1 - min(cap, pix.size - 1)
    bulk = min(float(np.percentile(pix, 99.9, method="lower")), float(np.partition(pix, below)[below]))
    if bulk - lo >= 0.25 * (hi - lo):
        return None
    thr = lo + 0.5 * (hi - lo)
    rows = max(1, _OUTLIER_CHUNK // max(1, arr[:1].size))
    found, rest = [], lo
    for start in range(0, arr.shape[0], rows):
        part = arr[start : start + rows]
        over = (part > thr).any(axis=-1)
        where = np.argwhere(over)
        if len(found) + len(where) > cap:
            return None
        found += [(start + w[0], *w[1:]) for w in where]
        if len(where) == 0:
            rest = max(rest, float(part.max()))
        elif (~over).any():  # (a chunk holding one: the largest of its other pixels)
            rest = max(rest, float(part[~over].max()))
    if not found or rest <= lo:  # (the others constant: a sparse binary image, nothing to clip)
        return None
    hits = {tuple(int(v) for v in f) for f in found}
    for f in hits:  # each one alone among its (y, x) neighbours
        y, x = f[-2:]
        if any((*f[:-2], y + dy, x + dx) in hits for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx):
            return None
    return len(hits), bulk, rest


#: Pixels per frame read by the bright-frame check (a strided view of each frame).
_FRAME_SAMPLE = 1 << 14


def _bright_frames(arr: np.ndarray, lo: float, hi: float) -> tuple[list[int], float] | None:
    """``(frames, the others' 99th percentile)`` where a few frames of a stack or set ``arr`` (``(N, H, W,
    C)``) lie mostly in the upper half of the range while the others keep to its lowest quarter (one saturated
    frame squeezes every other one, as hot pixels do), else ``None``. Reads a strided view of each frame."""
    n = arr.shape[0]
    if n < 3:
        return None
    step = max(1, int(np.sqrt(arr.shape[1] * arr.shape[2] / _FRAME_SAMPLE)))
    mids, tops = np.empty(n), np.empty(n)
    for start in range(0, n, 256):  # (256 frames' samples at once: 4M values at most)
        pix = np.asarray(arr[start : start + 256, ::step, ::step]).max(axis=-1)
        mids[start : start + 256], tops[start : start + 256] = np.percentile(
            pix.reshape(len(pix), -1), (50, 99), axis=1, method="lower"
        )
    bright = mids - lo > 0.5 * (hi - lo)
    count = int(bright.sum())
    if count == 0 or count > max(1, n // 10):
        return None
    rest = float(tops[~bright].max())
    if rest <= lo or rest - lo >= 0.25 * (hi - lo):  # (the others blank: nothing squeezed)
        return None
    return [int(i) for i in np.flatnonzero(bright)], rest


def _normalise(arr: np.ndarray, vr: ValueRange) -> np.ndarray:
    """``arr`` mapped to [0, 1] (float32), computed in float64 (see :func:`_in_float64`)."""
    span = vr.hi - vr.lo
    if not span > 0:
        return np.zeros(arr.shape, np.float32)
    lo = vr.lo  # finite in float64: _value_range keeps the values within float32's range
    return _in_float64(arr, lambda v: (v - lo) / span)


#: What to do with an image of 5-16 channels (multispectral, many fluorescence channels).
_CHANNELS_ADVICE = "decompose at most 4 channels at a time, e.g. {name}[..., :3] or {name}[..., [i, j, k]]"


def _many_channels(shape: tuple[int, ...]) -> bool:
    """Whether an ``(H, W, C)`` shape has 5-16 channels on an image at least twice that in height and width
    (a multispectral image rather than a stack of narrow frames)."""
    return len(shape) == 3 and 5 <= shape[-1] <= 16 and min(shape[:2]) >= 2 * shape[-1]


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
    elif arr.ndim == 3 and arr.shape[-1] == 0:
        raise ValueError(f"{name} has no channels: its last axis is empty (shape {arr.shape})")
    elif arr.ndim == 3:
        stack = f"for a stack of frames use {_STACK_FUNCTIONS}"
        if arr.shape[0] == 1 and min(arr.shape[1:]) >= 8:  # (one plane is no stack: those need 2 frames)
            advice = "one plane: pass x[0] (or np.squeeze(x))"
        elif arr.shape[0] <= 4 and min(arr.shape[1:]) >= 8:
            advice = (
                "a channel-first (C, H, W) image (torch's layout) needs x.permute(1, 2, 0) (numpy: "
                f"np.moveaxis(x, 0, -1)); {stack}"
            )
        else:
            advice = stack
        if _many_channels(arr.shape):
            raise ValueError(
                f"{name} must be (H, W) or (H, W, C) with C <= 4 channels, got shape {arr.shape}: "
                f"{_CHANNELS_ADVICE.format(name=name)}"
            )
        raise ValueError(
            f"{name} must be (H, W) or (H, W, C) with C <= 4 channels, got shape {arr.shape}; {advice}"
        )
    else:
        raise ValueError(
            f"{name} must be a 2D (H, W) or 3D (H, W, C) array, got {arr.ndim}D shape {arr.shape}"
            + (_squeeze_advice(arr.shape, stack=False) or _batch_advice(arr.shape, one=True))
        )
    _check_hw(arr.shape, name)
    vr = _value_range(arr, name, gray)
    return _normalise(arr, vr), vr


#: Where a stack goes instead of a one-image function.
_STACK_FUNCTIONS = (
    "the video functions (segment_video, separate_video_layers) or dehaze_frames (each frame dehazed on its own)"
)


def _squeeze_advice(shape: tuple[int, ...], stack: bool, one: bool = False) -> str:
    """Advice for an array with axes of length 1 (a microscopy file's TZCYX with one channel and one Z
    slice...) that fits once they are dropped; ``""`` when it would not (one image, or a stack of frames; with
    ``one``, a stack function that also takes one image)."""
    shape = tuple(shape)
    squeezed = tuple(n for n in shape if n != 1)
    # (H and W are at least 8 px, so an axis of length 1 is never one of them.)
    if len(shape) >= 5 and len(squeezed) == 3 and shape[-3] == squeezed[0] <= 4:
        # a channel axis just before Y, X (TZCYX with one T and Z): one channel-first image, not frames
        return (
            "" if stack else f"; without its axes of length 1 it is one channel-first {squeezed} image if that "
            "first axis is its channels: pass np.moveaxis(np.squeeze(x), 0, -1) (Z slices or time points are a "
            "stack: np.squeeze(x) to the functions for stacks)"
        )
    if stack:
        fits = (len(squeezed) == 3 and squeezed[-1] > 4) or (len(squeezed) == 4 and squeezed[-1] <= 4)
        if one:  # (one image is a set of one here)
            fits = fits or len(squeezed) == 2 or (len(squeezed) == 3 and squeezed[-1] <= 4)
    else:
        fits = len(squeezed) == 2 or (len(squeezed) == 3 and squeezed[-1] <= 4)
    if squeezed == shape or (not stack and squeezed == shape[1:]) or not fits:
        return ""  # (a one-image function given a batch of one: _batch_advice says x[0])
    return f"; without its axes of length 1 it is {squeezed}: pass np.squeeze(x) (torch: x.squeeze())"


def _batch_advice(shape: tuple[int, ...], one: bool = False) -> str:
    """Advice for a 4D array that is not the expected layout: a channel-first (N, C, H, W) batch (torch's
    layout) has its channels moved last; where one image is wanted (``one``), one image of the batch is
    taken (or, for several, the functions for sets and videos are named)."""
    if len(shape) != 4:
        return ""
    channel_first = shape[1] <= 4 < shape[-1] and min(shape[2:]) >= 8
    if one and channel_first:
        i = "0" if shape[0] == 1 else "i"
        return (
            f"; for {'the' if i == '0' else 'one'} image of a channel-first batch pass x[{i}].permute(1, 2, 0) "
            f"(numpy: np.moveaxis(x[{i}], 0, -1))"
            + ("" if i == "0" else "; several images go to the functions for sets and videos")
        )
    if one and shape[-1] <= 4:
        if shape[0] == 1:
            return "; for the image of a batch of one pass x[0]"
        return f"; for one image of the batch pass x[i]; for a stack of frames use {_STACK_FUNCTIONS}"
    if channel_first:
        return (
            "; a channel-first (N, C, H, W) batch (torch's layout) needs x.permute(0, 2, 3, 1) "
            "(numpy: np.moveaxis(x, 1, -1))"
        )
    return ""


def _nested(items: Sequence[object]) -> np.ndarray | None:
    """A sequence of nested lists (no arrays in it) as one array, read like an array argument: ``(H, W)`` or
    ``(H, W, C<=4)`` nested lists are one image, not ``H`` images. ``None`` when it holds arrays or is ragged."""
    if not items or not all(isinstance(x, (list, tuple)) for x in items):
        return None
    try:
        arr = np.asarray(items)
    except ValueError:  # ragged: left to the sequence path's clear error
        return None
    return arr if arr.dtype != object else None


def as_images(images: object, name: str = "images", min_count: int = 1) -> tuple[np.ndarray, ValueRange, bool]:
    """Validate a set of same-shaped images (a sequence, or an ``(N, H, W[, C])`` array).

    A single ``(H, W)`` / ``(H, W, C<=4)`` array counts as one image. Returns float32 ``(N, H, W, C)`` in [0, 1]
    (one value range for all, so relative intensities are kept), the range, and whether the input was a single
    image. An iterator counts as the list of its items.
    """
    images = listed(images)
    if isinstance(images, (list, tuple)) and (nested := _nested(images)) is not None:
        images = nested  # nested lists of rows: one (H, W[, C]) image, not H one-pixel-high ones
    if isinstance(images, (list, tuple)):
        stack, single = _stack_sequence(images, name), False
        if stack.ndim not in (3, 4):
            raise ValueError(f"each of {name} must be (H, W) or (H, W, C), got shape {stack.shape[1:]}")
    else:
        arr = _check_array(images, name)
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] <= 4):
            stack, single = arr[None], True
        elif _many_channels(arr.shape):
            # (H, W, C) with 5-16 channels (multispectral) would read as H images of W x C pixels (a set of
            # images (N, H, W) is this narrow only if they are at most 16 px wide and twice as high)
            raise ValueError(
                f"{name} of shape {arr.shape} would be {arr.shape[0]} images of {arr.shape[1]}x{arr.shape[2]} "
                "pixels; an image has at most 4 channels (decompose a few channels at a time), and a set of "
                f"that many grey images this narrow is passed as list({name}) or with a channel axis, "
                f"{name}[..., None]"
            )
        elif arr.ndim in (3, 4):
            stack, single = arr, False
            n, c = arr.shape[0], arr.shape[-1]
            if arr.ndim == 3 and 16 < c <= 64 and min(arr.shape[:2]) >= 2 * c:
                warn(
                    f"{name} of shape {arr.shape} is read as {n} images of {arr.shape[1]}x{c} pixels; if it is "
                    f"one image with {c} channels (a spectral cube), decompose at most 4 channels at a time"
                )
            elif arr.ndim == 3 and n in (3, 4) and type(images).__module__.startswith("torch"):
                warn(
                    f"{name}: a torch tensor of shape {tuple(arr.shape)} is read as {n} grey images (N, H, W); "
                    "for one channel-first image (C, H, W) pass x.permute(1, 2, 0)"
                )
        else:
            raise ValueError(
                f"{name} must be (H, W[, C]) or (N, H, W[, C]), got {arr.ndim}D shape {arr.shape}"
                + _squeeze_advice(arr.shape, stack=True, one=True)
            )
    gray = stack.ndim == 3
    if gray:
        stack = stack[..., None]
    if not 1 <= stack.shape[-1] <= 4:
        # (a stack or channel-first image in a list, not an image of 5-16 channels: a channel-first batch's
        # advice would mix the stack's images)
        if isinstance(images, (list, tuple)) and stack.ndim == 4 and stack.shape[-1] > 16:
            raise ValueError(
                f"each of {name} must be one (H, W) or (H, W, C<=4) image, got shape {stack.shape[1:]}: a stack "
                f"of images (N, H, W) goes as the array itself, not inside a list"
                + ("; a channel-first (C, H, W) image needs np.moveaxis(x, 0, -1)" if stack.shape[1] <= 4 else "")
            )
        raise ValueError(f"{name} must have 1 to 4 channels, got shape {stack.shape}" + _batch_advice(stack.shape))
    if stack.shape[0] < min_count:
        wanted = f"{min_count} image{'s' if min_count != 1 else ''}"
        got = f"{stack.shape[0]}" + (" (an empty array)" if stack.shape[0] == 0 else "")
        raise ValueError(f"{name} needs at least {wanted}, got {got}")
    _check_hw(stack.shape[1:], name)
    vr = _value_range(stack, name, gray)
    return _normalise(stack, vr), vr, single


#: Keys of hints given as a dict.
_HINT_KEYS = ("foreground", "background")


def _hint_array(x: object, name: str, shapes: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """A hint mask or label array: computed (dask), numeric or bool, no NaN, one of ``shapes``."""
    x = plain_data(x, name)
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged sequences
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be boolean or numeric, got dtype {arr.dtype}")
    if arr.shape not in shapes and arr.ndim > 2 and arr.shape[-1] == 1 and arr.shape[:-1] in shapes:
        arr = arr[..., 0]  # (a label image with a trailing axis, as imread gives one; `box=` takes it too)
    if arr.shape not in shapes:
        wanted = " or ".join(str(sh) for sh in shapes)
        raise ValueError(f"{name} must have the shape {wanted}, got {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    return arr


def single_value(x: object) -> bool:
    """Whether ``x`` is one value (a number, a bool, a string, a 0-d array or tensor), not an array or a
    container of them."""
    return bool(np.isscalar(x)) or getattr(x, "ndim", None) == 0


def check_hint_mode(hints: object) -> None:
    """``hints`` given as one value must be the mode ``'auto'`` or ``'intensity'``: ``ValueError`` for another
    string, ``TypeError`` for any other single value (``hints=True`` meant as "automatic")."""
    told = (
        f"hints must be 'auto', 'intensity', None, a label image or (foreground, background) masks; got {hints!r}"
    )
    if not isinstance(hints, str):
        raise TypeError(told)
    if hints not in ("auto", "intensity"):
        raise ValueError(told)


def hint_labels(hints: object, shape: tuple[int, int], frames: int | None = None) -> np.ndarray:
    """User hints as uint8 labels (0 = none, 1 = foreground, 2 = background), one rule set for images and videos.

    ``hints`` is a ``(foreground, background)`` pair of masks (a tuple or a 2-item list, or a dict with those
    keys; either may be ``None``; boolean or numeric, nonzero = marked; in a list, a numeric mask holding the
    value 2 and nothing beyond 0-2 is refused as a likely label image), or a label array of 0 / 1 / 2 (integer,
    float or boolean; a boolean one marks foreground only, ``True`` being 1). Each mask or label array is
    ``(H, W)``; with ``frames`` (video) also ``(T, H, W)``, an ``(H, W)`` one applying to every frame.
    Returns ``(H, W)`` labels, or ``(T, H, W)`` with ``frames``.

    Raises
    ------
    TypeError
        For a non-numeric mask or label array, or a single value (``hints=True``).
    ValueError
        For a wrong shape, NaN, label values other than 0, 1 and 2, a pair of other than two items, a dict with
        other keys, or overlapping foreground and background masks.
    """
    shape = tuple(int(n) for n in shape)
    full = shape if frames is None else (int(frames), *shape)
    shapes = (shape,) if frames is None else (shape, full)
    if isinstance(hints, dict):
        unknown = [k for k in hints if k not in _HINT_KEYS]
        if unknown:
            raise ValueError(f"hints as a dict takes the keys {_HINT_KEYS}, got unknown key(s) {unknown}")
        hints = (hints.get("foreground"), hints.get("background"))
    if isinstance(hints, (tuple, list)):
        if len(hints) != 2:
            raise ValueError(
                f"hints as a tuple or list must be (foreground_mask, background_mask), got {len(hints)} items; "
                "pass a label image as an array"
            )
        labels = np.zeros(full, np.uint8)
        marked = []
        for value, m, part in zip((1, 2), hints, _HINT_KEYS, strict=True):
            if m is None:
                continue
            arr = _hint_array(m, f"hints {part} mask", shapes)
            if isinstance(hints, list) and arr.dtype != bool and 2 in (values := set(np.unique(arr).tolist())) \
                    and values <= {0, 1, 2}:
                # e.g. per-frame label images of a 2-frame clip given as a list: each would be read as a mask,
                # its 2s (background) as marked like its 1s. (A tuple is unambiguous: always the pair.)
                raise ValueError(
                    f"hints {part} mask holds the value 2, like a label image: a list of two is read as "
                    "(foreground_mask, background_mask); pass per-frame label images as one array (np.stack), "
                    "or the pair as a tuple or as boolean masks"
                )
            on = np.broadcast_to(arr != 0, full)
            labels[on] = value
            marked.append(on)
        if len(marked) == 2 and bool((both := marked[0] & marked[1]).any()):
            where = np.argwhere(both)[0]
            raise ValueError(
                f"hints: foreground and background masks overlap at {int(both.sum())} pixel(s) (the first at "
                f"index {tuple(int(i) for i in where)}); mark each pixel as one of them only"
            )
        return labels
    if single_value(hints):  # e.g. hints=True meant as "automatic": not a label image of shape ()
        check_hint_mode(hints)
    arr = _hint_array(hints, "hints label image", shapes)
    if arr.dtype != bool:
        bad = ~np.isin(arr, (0, 1, 2))
        if bad.any():
            found = np.unique(arr[bad])
            more = f" and {found.size - 5} more" if found.size > 5 else ""
            raise ValueError(
                "hints label image must hold only 0 (none), 1 (foreground) and 2 (background), got "
                f"{found[:5].tolist()}{more}"
            )
    out = np.empty(full, np.uint8)  # writable (a broadcast view is not: torch.from_numpy warns on it)
    out[...] = arr
    return out


def check_seed(seed: object) -> int:
    """A random seed: an int (or numpy integer) in ``[0, 2**32)``; ``bool`` and other types are refused.
    (torch's CPU generator keeps a seed's low 32 bits only: 0 and 2**32 gave the same run.)"""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    return int(seed)


def check_iterations(iterations: int | None, default: int) -> int:
    """``None`` -> ``default``; otherwise a positive int."""
    if iterations is None:
        return default
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)):
        raise TypeError(f"iterations must be an int or None, got {type(iterations).__name__}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    return int(iterations)


#: Smallest working size (long side, pixels) the networks accept.
MIN_WORKING_SIZE = 16


def check_max_size(max_size: int | None, default: int) -> int:
    """``None`` -> ``default``; otherwise an int >= :data:`MIN_WORKING_SIZE`."""
    if max_size is None:
        return default
    if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)):
        raise TypeError(f"max_size must be an int or None, got {type(max_size).__name__}")
    if max_size < MIN_WORKING_SIZE:
        raise ValueError(f"max_size must be >= {MIN_WORKING_SIZE} pixels, got {max_size}")
    return int(max_size)


def working_shape(shape: Sequence[int], max_size: int) -> tuple[int, int]:
    """Shape ``(h, w)`` with the long side at most ``max_size``, aspect ratio kept."""
    h, w = int(shape[0]), int(shape[1])
    scale = min(1.0, max_size / max(h, w))
    return max(8, round(h * scale)), max(8, round(w * scale))


def _frames_layout(shape: tuple[int, ...], name: str, min_count: int) -> bool:
    """Check a video's shape (``(T, H, W)`` or ``(T, H, W, C<=4)``, enough frames, frames of 8x8 or more);
    returns whether it is grey. Shape only: a lazy stack is checked before it is loaded."""
    ndim = len(shape)
    if ndim == 3 and shape[-1] <= 4:
        # As (T, H, W) the frames would be at most 4 px wide: most likely one (H, W, C) image was given.
        raise ValueError(
            f"{name} must be (T, H, W) or (T, H, W, C), got shape {shape}, which looks like one (H, W, C) "
            + (
                "image; pass a stack of at least 2 frames (for one image use the single-image functions)"
                if min_count > 1
                else f"image; pass it as a stack of one frame, x[None] (shape (1, {', '.join(map(str, shape))}))"
            )
        )
    if ndim == 3 and _many_channels(shape) and shape[-1] < 8:  # as (T, H, W): frames too narrow to decompose
        raise ValueError(
            f"{name} must be (T, H, W) or (T, H, W, C), got shape {shape}, which looks like one image with "
            f"{shape[-1]} channels (frames of {shape[1]}x{shape[2]} pixels otherwise): "
            f"{_CHANNELS_ADVICE.format(name=name)} with the single-image functions (or, as a stack of one frame, "
            f"{name}[None, ..., :3])"
        )
    if ndim == 4 and shape[-1] == 0:
        raise ValueError(f"{name} has no channels: its last axis is empty (shape {shape})")
    if ndim == 4 and not 1 <= shape[-1] <= 4:
        zstack = "for a (T, Z, Y, X) stack pass one Z slice (x[:, z]) or one time point (x[t])"
        if _many_channels(shape[1:]):
            hint = f"; {_CHANNELS_ADVICE.format(name=name)}"
        elif 1 <= shape[1] <= 4:
            hint = f"; channel-first (T, C, H, W) frames (torchvision) need x.permute(0, 2, 3, 1); {zstack}"
        else:
            hint = f"; {zstack}"
        raise ValueError(f"{name} must be (T, H, W) or (T, H, W, C) with C <= 4 channels, got shape {shape}{hint}")
    if ndim not in (3, 4):
        raise ValueError(
            f"{name} must be a 3D (T, H, W) or 4D (T, H, W, C) array, got {ndim}D shape {shape}"
            + _squeeze_advice(shape, stack=True)
        )
    if shape[0] < min_count:
        raise ValueError(
            f"{name} needs at least {min_count} frames, got {shape[0]}"
            + ("; for one image use the single-image functions with x[0]" if shape[0] == 1 else "")
        )
    _check_hw(shape[1:], name)
    return ndim == 3


def _lazy(x: object) -> bool:
    """Whether ``x`` is lazy (dask) data: a dask collection with a task graph (not merely something with a
    ``compute`` method: a pint Quantity has one that only dask data support, an xarray on numpy has no graph)."""
    graph = getattr(x, "__dask_graph__", None)
    if isinstance(x, np.ndarray) or not callable(graph) or not callable(getattr(x, "compute", None)):
        return False
    try:
        return graph() is not None
    except Exception:
        return False


def _lazy_shape(x: object) -> tuple[int, ...] | None:
    """The shape of lazy (dask) data, known before it is loaded; ``None`` for anything else."""
    if _lazy(x) and hasattr(x, "shape"):
        try:
            return tuple(int(v) for v in x.shape)
        except (TypeError, ValueError):  # unknown (NaN) chunk sizes
            return None
    return None


def load_frames(frames: object, name: str = "frames", min_count: int = 2, own_items: bool = True) -> object:
    """A stack as :func:`as_frames` takes it, loaded (a lazy stack's layout checked first), an iterator
    listed and the caller's arrays copied: for a caller that reads its values again (:func:`copy_input`).
    ``own_items=False``: a list's frames are not copied (for a caller that stacks them into a new array)."""
    frames = listed(frames)
    if isinstance(frames, (list, tuple)):
        return [loaded(x, own=own_items) for x in frames]
    if (lazy := _lazy_shape(frames)) is not None:
        _frames_layout(lazy, name, min_count)
    return loaded(frames, own=True)


def warn_frames_reading(frames: object, shape: tuple[int, ...], name: str = "frames") -> None:
    """Warn when a 3D stack looks like one image read as frames: a torch (C, H, W) tensor, or an (H, W, C)
    image with 8-64 channels at least twice that in height and width (5-7 are refused as frames too narrow;
    the sets of :func:`as_images` warn up to 64 as well). The single-image functions refuse these shapes and
    point to the stack functions for a stack; here they run, so say what they become."""
    if len(shape) != 3:
        return
    t, h, w = (int(n) for n in shape)
    if t in (3, 4) and type(frames).__module__.startswith("torch"):
        warn(
            f"{name}: a torch tensor of shape {(t, h, w)} is read as {t} grey frames (T, H, W); for one "
            "channel-first image (C, H, W) use a single-image function with x.permute(1, 2, 0)"
        )
    elif _many_channels((t, h, w)) or (16 < w <= 64 and min(t, h) >= 2 * w):
        warn(
            f"{name} of shape {(t, h, w)} is read as {t} frames of {h}x{w} pixels; if it is one image with {w} "
            f"channels (a spectral cube), {_CHANNELS_ADVICE.format(name=name)} with the single-image functions"
        )


def as_frames(frames: object, name: str = "frames", min_count: int = 2) -> tuple[np.ndarray, ValueRange]:
    """Validate a video / stack: ``(T, H, W)`` grey or ``(T, H, W, C)``, ``C`` in 1..4 (or a sequence of frames).

    Unlike :func:`as_images`, a 3D array is always ``(T, H, W)`` (any ``T``), never one colour image. Returns
    float32 ``(T, H, W, C)`` in [0, 1] with one value range for all frames, and that range. An iterator counts
    as the list of its frames.
    """
    frames = listed(frames)
    if isinstance(frames, (list, tuple)):
        arr = _stack_sequence(frames, name, one_sequence=True)
    else:
        if (lazy := _lazy_shape(frames)) is not None:  # (a 4D time-lapse's layer.data: tens of GB to load)
            _frames_layout(lazy, name, min_count)
        arr = _check_array(frames, name)
    gray = _frames_layout(arr.shape, name, min_count)
    if not isinstance(frames, (list, tuple)):
        warn_frames_reading(frames, arr.shape, name)
    if gray:
        arr = arr[..., None]
    vr = _value_range(arr, name, gray)
    return _normalise(arr, vr), vr


__all__ += ["as_frames", "load_frames", "warn_frames_reading"]
