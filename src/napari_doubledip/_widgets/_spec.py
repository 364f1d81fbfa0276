"""The declarative description of a task widget: which layers it takes, which function it calls, which layers
come back. No Qt, no torch: a spec is plain data plus one small ``build`` function per mode.

A widget is ``TaskWidget`` (``_base.py``) driven by a :class:`TaskSpec`; everything the tasks share (layer
pickers, options, the thread worker, progress, live preview, cancel, errors, output layers and their metadata)
lives in the base, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["LayerInput", "Option", "Output", "Mode", "TaskSpec", "Inputs", "CURRENT_FRAME"]

#: Label of the "run on the frame under the slider" choice offered for stack layers.
CURRENT_FRAME = "current frame"


@dataclass(frozen=True)
class LayerInput:
    """A layer picker.

    Parameters
    ----------
    name
        Key of the value in :attr:`Inputs.layers` (and the widget's name).
    kind
        Layer type listed: ``"image"``, ``"labels"`` or ``"shapes"``. The first image input is the primary
        input: output layers are named after it and take its scale/translate/affine.
    label, tooltip
        Shown in the widget.
    optional
        Offer "none" (the default choice for optional pickers).
    multiple
        A multi-selection list (several images as mixtures, or images sharing a watermark).
    preselect
        For an optional picker: choose a layer of its kind when the widget opens and whenever one is added
        (e.g. the watermark box, which a single image needs), instead of starting at "none".
    per_frame
        For a Shapes input in a whole-stack mode: rectangles drawn on two or more frames give each of those frames
        its own box (``{frame: box}`` in :attr:`Inputs.layers`; e.g. a moving object's boxes on key frames, the
        frames between them spanned by the task); rectangles on one
        frame, or a 2D Shapes layer, give one box for every frame.
    preselect_at_open
        With ``preselect``: also choose an existing layer when the widget opens (``False``: only a layer added
        later, the user's "new layer" for this widget; an existing one may annotate something else).
    empty_is_none
        For an optional Shapes input: a layer without any rectangle counts as "none" (a preselected layer the
        user has not drawn in yet), instead of being refused.
    union
        For a Shapes input: all its regions (the selected ones, if any are) are read, several as the mask of
        their union (a watermark in two places), instead of the selected, else the last drawn, one.
    from_output
        For a Labels input: how to read a layer that is one of this task's own outputs (``metadata["task"]``
        and ``metadata["part"]``), e.g. an earlier mask, corrected, given back as hints: ``(part, function of
        the array read)`` pairs.
    channels
        For an optional ``multiple`` image input: grey layers read as further channels of the primary (grey)
        image, e.g. a multichannel image napari opened as one layer per channel (``channel_axis``). Each is
        read as its contrast limits show it (0-1 between them), and ``per_input`` outputs come back as one
        layer per channel, in that layer's units.
    """

    name: str
    kind: Literal["image", "labels", "shapes"]
    label: str
    optional: bool = False
    multiple: bool = False
    tooltip: str = ""
    preselect: bool = False
    per_frame: bool = False
    preselect_at_open: bool = True
    empty_is_none: bool = False
    union: bool = False
    from_output: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...] = ()
    channels: bool = False


@dataclass(frozen=True)
class Option:
    """A task-specific option, built with :func:`magicgui.widgets.create_widget` (``annotation``/``options``)."""

    name: str
    value: Any
    label: str
    annotation: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    tooltip: str = ""
    #: Name of an optional input this option is about: the option is enabled only while that input is chosen.
    needs: str = ""
    #: ``(input, option)``: the option does nothing, and is disabled, while that input is chosen and that (bool)
    #: option is off (segmentation's automatic hints with scribbles that are not filled in).
    unused_when: tuple[str, str] | tuple[()] = ()


@dataclass(frozen=True)
class Output:
    """How one field of the result becomes a layer named ``"<input> <part>"``.

    Parameters
    ----------
    part
        Name suffix of the layer and ``metadata["part"]``.
    get
        Attribute name of the result, or a function of the result. ``None`` values are skipped.
    kind
        ``"image"``: values in the input's range (the layer copies the input's contrast limits and colormap);
        ``"map"``: values in [0, 1] (transmission, alpha); ``"labels"``: a mask, shown as a Labels layer (1 = on).
    preview
        Key of this part in :attr:`napari_doubledip.Progress.preview`, for the live preview.
    per_input
        One array per input layer along the first axis (e.g. one clean image per watermarked image), or along
        the last axis for the layers read as channels: with several input layers each part is named after its
        own input.
    on_top
        Put this part's layers over the others' at the end of a run (the layers otherwise end in the order of
        the outputs, the last on top): the part a user wants to see, e.g. the clean image over the opaque
        opacity map, while the previews still come in the order of the outputs (the clean image first).
    cover
        A layer this run makes starts, at the end of the run, with contrast limits that reach the result's values
        (and at least the input's): a dehazed image is darker than the hazy input, whose limits showed its
        shadows flat black.
    hidden
        A layer this run makes starts hidden (the status line says so): segmentation's foreground and
        background, opaque images whose content outside their part is the networks' invention, would cover
        the input under the mask, the view a user wants first.
    aside
        A by-product (a map, the airlight, the watermark): over an input shown as an additive channel of an
        overlay (napari's ``channel_axis``), a layer this run makes starts hidden, as ``hidden`` (shown, an
        opaque grey map covered the other channels and the rest added into their sum).
    """

    part: str
    get: str | Callable[[Any], Any]
    kind: Literal["image", "map", "labels"] = "image"
    preview: str | None = None
    per_input: bool = False
    on_top: bool = False
    cover: bool = False
    hidden: bool = False
    aside: bool = False

    def value(self, result: Any) -> Any:
        return self.get(result) if callable(self.get) else getattr(result, self.get, None)


@dataclass(frozen=True)
class Mode:
    """One way of running the task: the library function, how to call it, and what comes back.

    Parameters
    ----------
    function
        Public name in :mod:`napari_doubledip` (resolved in the worker thread, where torch gets imported).
    build
        ``build(inputs) -> (args, kwargs)`` for the function (without the common options).
    outputs
        Result fields that become layers.
    label
        For stack modes: the entry in the "frames" choice.
    stack
        Takes the whole stack layer (``(T, Y, X)`` or ``(T, Y, X, RGB)``) instead of one frame.
    frame_by_frame
        A stack mode whose function runs one frame at a time (e.g. ``dehaze_frames``): its memory is one
        frame's run plus the stacks, not a run over the whole stack.
    metadata
        Result fields copied into the output layers' metadata (e.g. mixing coefficients): attribute names, or
        ``(key, function of the result)`` pairs.
    """

    function: str
    build: Callable[[Inputs], tuple[tuple, dict[str, Any]]]
    outputs: tuple[Output, ...]
    label: str = ""
    stack: bool = False
    frame_by_frame: bool = False
    metadata: tuple[str | tuple[str, Callable[[Any], Any]], ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    """Everything task-specific about a widget.

    ``modes[0]`` runs on single images (and on the current frame of a stack); further modes with
    ``stack=True`` are offered in the "frames" choice when the primary input is a stack layer.
    ``iterations`` and ``max_size`` are the defaults the *iterations* / *working size* tooltips quote for 0
    (= auto, where the spin boxes start): the library function's ``DEFAULTS`` (a test checks that they agree;
    reading them here would import torch).
    """

    name: str
    #: Prefixes the panel's notifications ("Segmentation (Double-DIP): ..."), which napari shows without the
    #: plugin's name.
    title: str
    inputs: tuple[LayerInput, ...]
    modes: tuple[Mode, ...]
    options: tuple[Option, ...] = ()
    help: str = ""
    iterations: int = 400
    max_size: int = 128
    #: Appended to the iterations tooltip's default, where the default depends on the options.
    iterations_note: str = ""
    #: Appended to the working size tooltip's default, where the default depends on the inputs.
    max_size_note: str = ""
    #: What the status line says of a result after the iteration count (e.g. estimated coefficients); ``""``
    #: for nothing. Called with the result and the input layers' names (one per input layer, in run order).
    summary: Callable[[Any, list[str]], str] | None = None

    @property
    def display_name(self) -> str:
        """The widget's name in ``napari.yaml``: napari adds the plugin's name in its menus and dock titles."""
        return self.title.removesuffix(" (Double-DIP)")

    @property
    def image_mode(self) -> Mode:
        return self.modes[0]

    @property
    def stack_modes(self) -> tuple[Mode, ...]:
        return tuple(m for m in self.modes if m.stack)

    def mode(self, frames_choice: str | None) -> Mode:
        for m in self.stack_modes:
            if m.label == frames_choice:
                return m
        return self.image_mode


@dataclass
class Inputs:
    """Layer data read in the main thread, handed to a mode's ``build``.

    Attributes
    ----------
    images
        The primary input as numpy arrays: one per selected image layer (the current frame of a stack layer), or
        the whole stack as one array in a stack mode.
    layers
        The other pickers' values: a Labels layer as an array aligned with the image (the current frame of a
        stack), a Shapes layer as a rectangle ``(top, left, bottom, right)`` in the image's pixels (an
        ellipse, polygon or rotated rectangle as a bool ``(H, W)`` mask; for a ``per_frame`` input in a
        whole-stack mode, ``{frame: rectangle}``), else ``None``.
    options
        Task-specific option values by name.
    frame
        Index of the frame used (leading axes), or ``None``.
    frame_shape
        ``(H, W)`` of one frame (defaults to the last two axes of the first image).
    sequence_length
        For a stack layer, the number of frames along its sequence axis (else ``None``).
    """

    images: list[np.ndarray]
    layers: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    frame: tuple[int, ...] | None = None
    frame_shape: tuple[int, int] | None = None
    sequence_length: int | None = None

    def __post_init__(self) -> None:
        if self.frame_shape is None:
            self.frame_shape = tuple(self.images[0].shape[:2])

    @property
    def image(self) -> np.ndarray:
        """The first (usually only) primary array."""
        return self.images[0]

    @property
    def single(self) -> bool:
        return len(self.images) == 1
