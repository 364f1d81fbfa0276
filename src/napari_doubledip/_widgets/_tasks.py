"""The task widgets' specs: inputs -> library call -> output layers. One small block per task."""

from __future__ import annotations

import dataclasses
import math
import re
import string
from typing import Any

import numpy as np

from .._validation import edges_to_box
from ._spec import Inputs, LayerInput, Mode, Option, Output, TaskSpec
from ._worker import Deferred

__all__ = ["SEGMENTATION", "TRANSPARENCY", "WATERMARK", "DEHAZING", "SPECS"]


def _positional(x: Inputs) -> Any:
    """One image, or several as a list (mixtures / images sharing a watermark)."""
    return x.image if x.single else list(x.images)


# --- segmentation -------------------------------------------------------------------------------------------


def mask_as_hints(mask: np.ndarray) -> np.ndarray:
    """A mask from an earlier segmentation run (1 = foreground, 0 = background), perhaps corrected by painting,
    as scribbles: 1 inside the foreground and 2 inside the background, leaving a band along their border for
    the run to decide. The band is 1/32 of the frame's short side (at least 2 px) deep, and at most half the
    depth of each region, so that a small object or a thin painted stroke keeps a core of hints; specks thinner
    than 3 px get none. 2s painted on it stay background hints. A frame without any foreground (not computed
    yet, in a stack collected frame by frame, or erased: paint 2 to say the object is absent there) gets no
    hints; without any foreground at all the mask is read as plain scribbles.

    Why: as scribbles a mask's 0 would mean "unmarked", so a corrected mask would give foreground hints only and
    erasing a false blob would tell the run nothing. ``benchmarks/mask_feedback.py`` (128 px texture composite,
    default budget): the true mask given back gave IoU 0.816 (grey) / 0.568 (RGB) read as scribbles, 0.997 /
    0.998 read this way.
    """
    mask = np.asarray(mask)
    if not (mask == 1).any():
        return mask
    radius = max(2.0, min(mask.shape[-2:]) / 32)
    frames = mask.reshape(-1, *mask.shape[-2:])
    out = np.zeros(frames.shape, np.uint8)
    for t, frame in enumerate(frames):
        fg = frame == 1
        if not fg.any():
            out[t][frame == 2] = 2
            continue
        out[t][_core(fg, radius)] = 1
        out[t][_core(~fg, radius) | (frame == 2)] = 2
    return out.reshape(mask.shape)


def _core(region: np.ndarray, radius: float) -> np.ndarray:
    """The pixels of ``region`` deeper than ``radius``, or than half the depth of their connected part; none of
    a part less than 3 px thick (a speck the earlier run left is no statement)."""
    from scipy import ndimage as ndi

    depth = ndi.distance_transform_edt(region)
    parts, n = ndi.label(region)
    if n == 0:
        return region
    deepest = np.asarray(ndi.maximum(depth, parts, index=np.arange(1, n + 1)))
    limit = np.where(deepest >= 2, np.minimum(radius, deepest / 2), np.inf)
    limit = np.concatenate([[np.inf], limit])  # part 0 is outside the region
    return depth > limit[parts]


def _scribbles(x: Inputs) -> np.ndarray | Deferred | None:
    """The scribbles layer's labels if it marks anything (1 = foreground, 2 = background); other labels are
    flagged once and read as unmarked (0). A mask given back (:func:`mask_as_hints`, converted in the worker
    thread) is judged by its own labels and stays deferred."""
    scribbles, box = x.layers.get("scribbles"), x.layers.get("box")
    if scribbles is None:
        return None
    if isinstance(scribbles, Deferred):
        kept = _scribbles(dataclasses.replace(x, layers={**x.layers, "scribbles": scribbles.value}))
        return None if kept is None else Deferred(scribbles.convert, kept)
    hints = np.isin(scribbles, (1, 2))
    marked = bool(hints.any())
    if not (hints | (scribbles == 0)).all():
        from napari.utils.notifications import show_warning

        others = [int(v) for v in np.unique(scribbles[~hints & (scribbles != 0)])]
        listed = ", ".join(map(str, others[:5])) + (f", ... ({len(others)} labels)" if len(others) > 5 else "")
        # many labels: most likely a label image of objects picked by mistake, whose objects 1 and 2 would
        # become hints (said, so that the result is not taken for the scribbles' own)
        objects = (
            "; this looks like a label image of objects, not scribbles: its objects 1 and 2 are taken as "
            "foreground and background hints (pick a Labels layer of painted hints, or none)"
            if len(others) > 5 and marked
            else ""
        )
        show_warning(
            f"{SEGMENTATION.title}: scribble labels [{listed}] are ignored; paint 1 for foreground and 2 for "
            "background"
            + ("" if marked or box is not None else " (automatic hints are used instead)")
            + objects
        )
        scribbles = np.where(hints, scribbles, 0)
    return scribbles if marked else None


def _segment(x: Inputs):
    """The scribbles (or automatic hints) and the box as ``segment`` / ``segment_video`` read it: outside
    background, automatic hints on its surroundings inside (IoU 0.735 vs 0.478 for the box read as labels on
    18 horses, ``benchmarks/segmentation_box.py``). A whole stack's boxes come per frame (``{frame: box}``, key
    frames: ``segment_video`` spans the frames between them) when rectangles were drawn on several frames."""
    box = x.layers.get("box")
    scribbles = _scribbles(x)
    automatic = HINT_CHOICES[x.options.get("automatic", "saliency (one object)")]
    kwargs: dict[str, Any] = {"hints": automatic if scribbles is None else scribbles}
    if scribbles is not None:  # filled in by the automatic hints chosen (intensity: "intensity")
        fill = bool(x.options.get("auto_fill", True))
        kwargs["auto_fill"] = "intensity" if fill and automatic == "intensity" else fill
    if box is not None:
        kwargs["box"] = box
    kwargs["reassign"] = REASSIGN_CHOICES[x.options.get("reassign", "auto")]
    return (x.image,), kwargs


#: The segmentation widget's "automatic hints" choices (without scribbles): ``segment(hints=...)``.
HINT_CHOICES = {"saliency (one object)": "auto", "intensity (many objects)": "intensity"}

#: The segmentation widget's "reassign pixels" choices: ``segment(reassign=...)``.
REASSIGN_CHOICES = {"auto": "auto", "off": None, "where clear": 0.1, "all (small objects)": 0.0}

#: The image picker's tooltip (segmentation, dehazing).
_IMAGE_TIP = (
    "The Image layer to process (starts at the active layer): grey, RGB(A) or a few channels, any dtype "
    "(uint8, uint16, float); a stack runs its current frame or, per 'frames', the whole stack."
)


SEGMENTATION = TaskSpec(
    name="segmentation",
    title="Segmentation (Double-DIP)",
    help="Split an image into foreground and background layers and a mask.",
    iterations=300,  # saliency hints (scribbles bring them along); 400 with held hints (segmentation.DEFAULTS)
    iterations_note=" with saliency hints; 400 with intensity hints or with scribbles alone; a whole stack: "
    "400, growing with the square root of the frame count beyond 20 frames",
    inputs=(
        LayerInput("image", "image", "image", tooltip=_IMAGE_TIP),
        LayerInput(
            "scribbles", "labels", "scribbles", optional=True, from_output=(("mask", mask_as_hints),),
            tooltip="Labels layer with hints: 1 = foreground, 2 = background. Without hints: automatic hints. "
            "A mask from an earlier run (corrected by painting 1 and 0) gives hints inside both regions.",
        ),
        LayerInput(
            "channels", "image", "more channels", optional=True, multiple=True, channels=True,
            tooltip="Grey layers of the same size read as further channels of a grey image (a multichannel "
            "image opened as one layer per channel): the mask is found from all of them (at most 4 channels "
            "in all), each read as its contrast limits show it; each channel gets its own foreground and "
            "background layers.",
        ),
        LayerInput(
            "box", "shapes", "box", optional=True, per_frame=True, preselect=True, preselect_at_open=False,
            empty_is_none=True, union=True,
            tooltip="Shapes layer with a rectangle (or ellipse, polygon) around the object (outside = "
            "background); several shapes: the object is looked for in all of them (those selected in the "
            "layer's select mode, if any are). Whole stack: shapes drawn on several frames each bound their own "
            "frame (key frames: a frame between two of them is bounded by the rectangle spanning both).",
        ),
    ),
    options=(
        Option(
            "auto_fill", True, "fill in scribbles", annotation=bool, needs="scribbles",
            tooltip="With scribbles: automatic hints fill in where they mark nothing (cleared around a scribble "
            "that contradicts them; turned round if strokes of both labels contradict them broadly; the scribbles "
            "win). Off: the scribbles alone, the rest left to the networks (slower; for images where the "
            "automatic hints are wrong).",
        ),
        Option(
            "automatic", "saliency (one object)", "automatic hints", annotation=str,
            options={"choices": list(HINT_CHOICES)}, unused_when=("scribbles", "auto_fill"),
            tooltip="Hints without scribbles, and those that fill in around scribbles: 'saliency' "
            "finds one salient object (photographs); "
            "'intensity' marks pixels clearly brighter / darker than Otsu's threshold, for many objects that "
            "brightness separates (nuclei, spots; the objects are the side that covers less of the image, or of "
            "the box's edge), held all run.",
        ),
        Option(
            "reassign", "auto", "reassign pixels", annotation=str,
            options={"choices": list(REASSIGN_CHOICES)},
            tooltip="After the run, give pixels to the layer that explains them (3 x 3 neighbourhoods): 'all' "
            "every pixel, for many small objects that the mask network merges or misses (needs hints that find "
            "them); 'where clear' only where one layer is better by 10 % of the value range; 'off' the mask "
            "network's smooth mask; 'auto': 'all' with intensity hints, else 'off'.",
        ),
    ),
    modes=(
        Mode(
            "segment",
            _segment,
            (
                Output("background", "background", per_input=True, hidden=True),
                Output("foreground", "foreground", per_input=True, hidden=True),
                Output("mask", "mask", kind="labels", preview="mask"),
            ),
        ),
        Mode(
            "segment_video",
            _segment,
            (
                Output("background", "background", per_input=True, hidden=True),
                Output("foreground", "foreground", per_input=True, hidden=True),
                Output("mask", "masks", kind="labels", preview="masks"),
            ),
            label="whole stack (video)",
            stack=True,
        ),
    ),
)

# --- transparency -------------------------------------------------------------------------------------------


def _separate(x: Inputs):
    return (_positional(x),), {}


def _separate_stack(x: Inputs):
    return (x.image,), {}


_LAYERS = (
    Output("layer 1", lambda r: r.layers[0], preview="layer 1"),
    Output("layer 2", lambda r: r.layers[1], preview="layer 2"),
)

def _alphas_summary(result: Any, names: list[str] | None = None) -> str:
    """The mixing coefficients of several mixtures or of a video's frames, for the status line (they are in
    the layers' metadata too; one image's coefficient says nothing). With one layer per mixture, each is
    named (the library's warnings count the mixtures from 0 in this order)."""
    alphas = np.asarray(getattr(result, "alphas", ()), dtype=float).ravel()
    if alphas.size < 2:
        return ""
    named = names is not None and len(names) == alphas.size
    if int(np.isfinite(alphas).sum()) == 1:  # (one mixture among blanks, separated alone: say which ran)
        kept = int(np.flatnonzero(np.isfinite(alphas))[0])
        which = repr(names[kept]) if named else f"mixture {kept}"
        return f"{which} separated alone (the others are blank or constant)"
    if alphas.size <= 6 or named:
        labels = [f"{n!r} " for n in names] if named else [""] * alphas.size
        each = [f"{p}left out" if np.isnan(a) else f"{p}{a:.2f}" for p, a in zip(labels, alphas, strict=True)]
        return "coefficients " + ", ".join(each[:8]) + (f", ... ({alphas.size} mixtures)" if len(each) > 8 else "")
    out = int(np.isnan(alphas).sum())
    if out == alphas.size:
        return ""
    return f"coefficients {np.nanmin(alphas):.2f}-{np.nanmax(alphas):.2f} over {alphas.size} frames" + (
        f" ({out} left out)" if out else ""
    )


TRANSPARENCY = TaskSpec(
    name="transparency",
    title="Transparency (Double-DIP)",
    help="Separate two transparent layers (e.g. reflection and scene) from several mixtures of them, or from "
    "one image (ambiguous: often only partly separated).",
    iterations=600,
    iterations_note="; 200 for several mixtures (also 'all frames are mixtures'; 600 where all but one are "
    "blank); 600 for the video mode",
    summary=_alphas_summary,
    inputs=(
        LayerInput(
            "mixtures", "image", "mixtures", multiple=True,
            tooltip="One image, or several images mixing the same two layers. A stack layer: the frame shown "
            "(one image), or with 'frames' all its frames as mixtures, or as a video (moving + static layer).",
        ),
    ),
    modes=(
        Mode("separate_layers", _separate, _LAYERS, metadata=("alphas",)),
        Mode(
            "separate_layers", _separate_stack, _LAYERS, label="all frames are mixtures", stack=True,
            metadata=("alphas",),
        ),
        Mode(
            "separate_video_layers",
            _separate_stack,
            (
                Output("dynamic", "dynamic", preview="dynamic"),
                Output("static", "static", preview="static"),
            ),
            label="video: moving + static layer",
            stack=True,
            metadata=("alphas",),
        ),
    ),
)

# --- watermark ----------------------------------------------------------------------------------------------


def _watermark(x: Inputs):
    if x.single and x.layers.get("box") is None:
        several = (  # a frame of a stack: its frames are the other images (the stack mode)
            "or choose 'frames: all frames share the watermark' if the stack's frames share the watermark"
            if x.frame is not None and (x.sequence_length or 0) >= 2
            else "or select several images that share the watermark in 'images'"
        )
        raise ValueError(
            "one image needs a box around the watermark: draw a rectangle in a Shapes layer and pick it as 'box', "
            + several
        )
    if x.single and _covers_frame(x.layers.get("box"), x.frame_shape):  # (refused now, not by the worker)
        raise ValueError(
            "box covers the whole image: nothing outside it to learn the clean image from; draw the box around "
            "the watermark only, or select several images that share it in 'images'"
        )
    _tell_set_box(x, is_set=not x.single)
    return (_positional(x),), {"box": x.layers.get("box")}


def _covers_frame(box: Any, shape: tuple[int, ...] | None) -> bool:
    """Whether a box read from a Shapes layer (a rectangle ``(top, left, bottom, right)`` or a bool mask) covers
    the whole ``(H, W)`` frame, as the library judges it (a set's such box is no limit: it is dropped)."""
    if box is None or shape is None or isinstance(box, dict):
        return False
    if isinstance(box, np.ndarray) and box.dtype == bool:
        return box.shape == tuple(shape) and bool(box.all())
    try:
        y0, x0, y1, x1 = (float(v) for v in box)
    except (TypeError, ValueError):
        return False
    ya, xa, yb, xb = edges_to_box((y0, x0), (y1, x1))
    return ya <= 0 and xa <= 0 and yb >= shape[0] and xb >= shape[1]


def _tell_set_box(x: Inputs, is_set: bool) -> None:
    """A set of images needs no box; one picked (perhaps preselected at opening, e.g. a layer of annotations)
    limits the shared watermark to it: said, so that it is not a surprise (not for a box over the whole image,
    which limits nothing: the library drops it)."""
    if not is_set or x.layers.get("box") is None or _covers_frame(x.layers.get("box"), x.frame_shape):
        return
    from napari.utils.notifications import show_info

    show_info(
        f"{WATERMARK.title}: the images' shared watermark is looked for inside the box only (a set needs none: "
        "set 'box' to none to look everywhere)"
    )


def _watermark_stack(x: Inputs):
    _tell_set_box(x, is_set=True)
    return (x.image,), {"box": x.layers.get("box")}


_WATERMARK_OUTPUTS = (
    Output("clean", "clean", preview="clean", per_input=True, on_top=True),
    Output("watermark", "watermark", preview="watermark", aside=True),
    Output("alpha", "alpha", kind="map", preview="alpha", aside=True),
)

WATERMARK = TaskSpec(
    name="watermark",
    title="Watermark removal (Double-DIP)",
    help="Remove a watermark: one image with a box around the mark, or several images sharing it.",
    max_size_note="; a small box is worked on in a crop around it, at up to 192 px",
    inputs=(
        LayerInput(
            "images", "image", "images", multiple=True,
            tooltip="One watermarked image (draw a box), or several images (or one stack) with the same mark.",
        ),
        LayerInput(
            "box", "shapes", "box", optional=True, preselect=True, empty_is_none=True, union=True,
            tooltip="Shapes layer with a rectangle (or ellipse, polygon) around the watermark (needed for a "
            "single image); several shapes: the watermark is looked for in all of them (those selected in the "
            "layer's select mode, if any are). A layer with none drawn yet counts as none.",
        ),
    ),
    modes=(
        Mode("remove_watermark", _watermark, _WATERMARK_OUTPUTS),
        Mode(
            "remove_watermark", _watermark_stack, _WATERMARK_OUTPUTS, label="all frames share the watermark",
            stack=True,
        ),
    ),
)

# --- dehazing -----------------------------------------------------------------------------------------------


def parse_airlight(text: str) -> tuple[float, ...] | None:
    """``"auto"``/empty -> ``None``; ``"0.9"`` or ``"0.9, 0.92, 0.95"`` (or ``"[0.9, 0.92, 0.95]"``) -> a tuple
    of floats."""
    # (brackets too: the layers' metadata records the airlight as a list, "[230.0, 235.0, 240.0]")
    text = (text or "").strip().lower().strip("[]()").strip()
    if text in ("", "auto"):
        return None
    if not text.strip(",; "):
        raise ValueError("airlight needs 1 value (grey) or one per channel (3 for RGB)")
    # (separators: commas, semicolons or spaces; one at either end, "230, 235, 240,", is no value left out)
    items = re.split(r"\s*[,;]\s*|\s+", text.strip(",;" + string.whitespace))
    if "" in items:  # "0.8,,0.9": a value left out, not two separators
        raise ValueError(f"airlight has an empty value between two commas: {text!r}")
    try:
        values = tuple(float(v) for v in items)
    except ValueError:
        raise ValueError(
            f"airlight must be 'auto', one number or one per channel such as '230, 235, 240', got {text!r}"
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"airlight must be finite numbers, got {text!r}")
    return values  # one per channel: checked against the image by the library


def _dehaze(x: Inputs):
    channels = x.image.shape[-1] if x.image.ndim == 3 else 1  # an RGBA layer arrives as RGB
    return (x.image,), _dehaze_options(x, channels)


def _dehaze_stack(x: Inputs):
    channels = x.image.shape[-1] if x.image.ndim == 4 else 1  # (T, Y, X) grey or (T, Y, X, RGB)
    return (x.image,), _dehaze_options(x, channels)


def _dehaze_options(x: Inputs, channels: int) -> dict[str, Any]:
    text = x.options.get("airlight", "auto")
    airlight = parse_airlight(text)
    if airlight is not None and channels == 1 and len(airlight) in (3, 4) and len(set(airlight)) == 1:
        airlight = airlight[:1]  # a grey colour written per channel ("240, 240, 240"): the grey it means
    if airlight is not None and len(airlight) not in (1, channels):
        wanted = "1 value for a grey image" if channels == 1 else f"1 value or {channels} (one per channel)"
        # a decimal comma ("0,9", "0,925") reads as two values: say so only for text that looks like one; a
        # thousands separator ("60,000") only where the number fits the uint16 range ("240,240" is two values)
        # (as parsed: "0,9," and "[0,9]", a value pasted from the metadata, are the same two values)
        bare = text.strip().strip("[]()").strip(",;" + string.whitespace)
        comma = re.fullmatch(r"(0,\d+|\d+,(\d{1,2}|\d{4,}))", bare) is not None
        thousands = re.fullmatch(r"[1-9]\d{0,2}(,\d{3})+", bare) is not None
        thousands = thousands and int(bare.replace(",", "")) <= 65535
        raise ValueError(
            f"airlight needs {wanted}, got {len(airlight)}: {text.strip()!r}"
            + (" (write decimals with a point: 0.9, not 0,9)" if comma else "")
            + (" (write numbers without a thousands separator: 60000, not 60,000)" if thousands else "")
        )
    if airlight is not None:
        # (the library's checks that need no image, before the run; its module would import torch here)
        if max(abs(v) for v in airlight) > float(np.finfo(np.float32).max):
            raise ValueError(f"airlight {text.strip()!r} is beyond the float32 range of the results")
        dtype = getattr(x.image, "dtype", None)
        # black is 0 for unsigned data: an airlight not above it is refused now, not by the worker
        if dtype is not None and np.dtype(dtype).kind in "ub" and (min(airlight) < 0 or max(airlight) <= 0):
            raise ValueError(
                f"airlight must be brighter than the image's black level (0), got {text.strip()!r}"
            )
    if airlight is not None and len(airlight) == 1:
        airlight = airlight[0]
    prior = x.options.get("transmission_prior", "auto")
    if prior == "haze lines" and channels != 3:  # (refused before the run starts, not by the worker)
        raise ValueError(
            f"transmission prior 'haze lines' needs an RGB image; this one has {channels} channel(s): choose "
            "'auto' or 'dark channel'"
        )
    return {"airlight": airlight, "transmission_prior": prior}


_DEHAZE_OUTPUTS = (
    Output("transmission", "transmission", kind="map", preview="transmission", aside=True),
    Output("airlight", "airlight", preview="airlight", aside=True),
    Output("clean", "clean", preview="clean", cover=True),
)

DEHAZING = TaskSpec(
    name="dehazing",
    title="Dehazing (Double-DIP)",
    help="Remove haze: a clean image, a transmission map and the airlight map.",
    iterations=200,
    iterations_note="; 400 for dense haze",
    inputs=(LayerInput("image", "image", "image", tooltip=_IMAGE_TIP),),
    options=(
        Option(
            "airlight", "auto", "airlight", annotation=str,
            tooltip="'auto' (estimated), or the haze colour in the image's units: 1 number (grey, or the same "
            "for every channel), or one per channel (3 for RGB).",
        ),
        Option(
            "transmission_prior", "auto", "transmission prior", annotation=str,
            options={"choices": ["auto", "dark channel", "haze lines"]},
            tooltip="Where the haze estimate starts. 'dark channel' suits scenes with dark patches everywhere, "
            "'haze lines' (RGB only) bright scenes; 'auto' averages them on light haze, dark channel on dense.",
        ),
    ),
    modes=(
        Mode("dehaze", _dehaze, _DEHAZE_OUTPUTS, metadata=("airlight_init",)),
        Mode(
            "dehaze_frames", _dehaze_stack, _DEHAZE_OUTPUTS, label="every frame, one by one", stack=True,
            frame_by_frame=True, metadata=("airlight_init",),
        ),
    ),
)

SPECS = {s.name: s for s in (SEGMENTATION, TRANSPARENCY, WATERMARK, DEHAZING)}
