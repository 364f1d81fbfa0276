"""``TaskWidget``: the one implementation behind every Double-DIP dock widget.

A subclass only names its :class:`~._spec.TaskSpec`. The base builds the layer pickers and options, reads the
layers in the main thread, runs the library's generator in a napari thread worker, shows progress and a throttled
live preview, turns Run into Cancel, reports errors as napari notifications, and writes the result layers.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import napari.layers
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    Label,
    ProgressBar,
    PushButton,
    Select,
    SpinBox,
)
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from qtpy.QtWidgets import QSizePolicy, QWidget

from .._sample_data import BOX_FOR_KEY, OPTIONS_KEY, SAMPLE_KEY, VIDEO_KEY
from .._validation import MIN_WORKING_SIZE
from ._devices import DeviceChoice
from . import _layers
from ._layers import (
    REGION_TYPES,
    OutputLayers,
    is_result as _is_result,
    current_frame,
    frame_shape,
    full_frame_shape,
    has_region,
    in_overlay,
    is_rgb,
    is_stack,
    layer_array_shape,
    hold_arrays,
    index_text,
    lazy_array,
    level_zoom,
    read_level,
    to_frame,
    place_in_stack,
    projected_axes,
    picked_shapes,
    read_box,
    read_frame_boxes,
    read_image,
    read_labels,
    rectangle_frames,
    resample_labels,
    same_layer,
    source_id,
    span_box,
    stack_axes,
)
from ._panel import FitWidth, LabelAligner, ParentWatch, ShowWatch, WheelGuard, option_widget, wrap_tooltips
from ._runs import (
    Activity,
    ClosingWorker,
    Job,
    asked_settings,
    check_memory,
    current_window,
    describe_error,
    drop_locals,
    drop_stale_warning_hook,
    from_package,
    is_input_check,
    iterations_text,
    note_warnings_state,
    over_frames,
    panel_words,
    planned_iterations,
    result_metadata,
    result_summary,
    take_from_pool,
    tell_kept_earlier,
    tell_other_inputs,
    tell_other_slice,
    tell_painted,
    tell_moved_inputs,
    tell_replaced_data,
    tell_reshaped,
    tell_stale,
    time_left,
    working_memory,
)
from ._spec import CURRENT_FRAME, Inputs, LayerInput, Mode, Output, TaskSpec
from ._worker import Deferred, run_task

__all__ = ["TaskWidget", "MIN_PREVIEW_SECONDS"]

#: Live previews are drawn at most this often, whatever the preview interval (redrawing costs GUI time).
MIN_PREVIEW_SECONDS = 0.5

#: Height (pixels) a panel keeps in a short window (it scrolls below that).
PANEL_MIN_HEIGHT = 200
#: Height (pixels) of the multi-layer pickers: about six rows, scrolling beyond.
SELECT_HEIGHT = 110
#: A second click on Run within this many seconds (a double-click) does not cancel the run it started;
#: ``None``: the system's double-click interval (Windows' default is 0.5 s, a user may set it longer).
DOUBLE_CLICK_S: float | None = None


def _double_click_s() -> float:
    if DOUBLE_CLICK_S is not None:
        return DOUBLE_CLICK_S
    from qtpy.QtWidgets import QApplication

    return max(QApplication.doubleClickInterval(), 100) / 1000

#: Where the library's warnings of a run are said to come from (a file of this package: see _on_warning).
_WORKER_FILE = run_task.__code__.co_filename

_LAYER_TYPES = {"image": napari.layers.Image, "labels": napari.layers.Labels, "shapes": napari.layers.Shapes}


def _function_available(name: str) -> bool:
    """Whether the library exports ``name`` and its module exists (checked without importing torch)."""
    import importlib.util

    from .. import _LAZY

    module = _LAZY.get(name)
    return module is not None and importlib.util.find_spec(module, "napari_doubledip") is not None


class TaskWidget(Container):
    """Dock widget for one Double-DIP task; subclasses set :attr:`spec`.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when the widget is opened from the Plugins menu).

    Attributes
    ----------
    worker
        The running thread worker, or ``None``.
    """

    spec: ClassVar[TaskSpec]

    @property
    def native(self) -> QWidget:
        """The scroll area holding the panel: what napari docks (it docks a magicgui widget's ``native``, and
        magicgui's own ``native`` of a scrollable container is the widget inside, which left the scroll area out
        of the dock)."""
        return self.root_native_widget

    @property
    def _inner(self) -> QWidget:
        """The widget inside the scroll area, which holds the rows' layout."""
        return self.root_native_widget.widget()

    def __init__(self, napari_viewer: Any) -> None:
        # Scrollable: in a short window (a laptop screen, or two panels docked one above the other) the panel
        # scrolls instead of being squeezed or stretching the window past the screen. See `native`.
        super().__init__(labels=True, scrollable=True)
        self._scroll_parent = ParentWatch(self.root_native_widget, self.native_parent_changed.emit)
        self._inner.layout().addStretch(1)  # (the scroll area fills the dock: spare height goes below the rows)
        self.viewer = napari_viewer
        self.worker = None
        self._job: Job | None = None
        spec = self.spec
        self.header = Label(value=spec.help, name="help", label=" ")
        self.header.native.setWordWrap(True)
        # (a wrapped label asks for a wide minimum: the panel could not be made narrower than ~450 px)
        self.header.native.setMinimumWidth(1)
        self.header.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.pickers: dict[str, Any] = {spec_in.name: self._picker(spec_in) for spec_in in spec.inputs}
        self._primary = next(i for i in spec.inputs if i.kind == "image")
        stack_modes = [m.label for m in spec.stack_modes if _function_available(m.function)]
        self._frames_source: Any = None  # the layer the frames choice was last set up for
        self._box_sources: frozenset[int] = frozenset()  # the inputs a sample's box was last checked against
        #: options a sample's presets set (``OPTIONS_KEY``): name -> (value before, preset value)
        self._presets: dict[str, tuple[Any, Any]] = {}
        #: the widget itself setting options (a sample's presets applied or given back, the sequence axis picked
        #: for a new layer): not the user's choice, not remembered
        self._presetting = False
        #: the frames choice a video sample set (``VIDEO_KEY``): (value before, preset value), or None
        self._frames_preset: tuple[Any, Any] | None = None
        #: the sequence axis the user chose for a layer (by name), given back when that layer is picked again
        self._axis_by_layer: dict[str, int] = {}
        #: Shapes layers Run has said are not used as the box (said once each)
        self._told_unpicked: set[str] = set()
        self._run_clicked_at = self._cancel_clicked_at = -1.0e9
        # the keyboard focus a greyed-out Run / Cancel lost, to give back (_grey_button)
        self._focus_taken, self._focus_moved_to = False, None
        #: the primary picker's value when it fell onto results of a run because its layers were removed: the
        #: next Run asks before it decomposes a result nobody chose (cleared by any change of the picker); ``[]``
        #: while it is empty because its layer was removed
        self._fallen: list[Any] | None = None
        #: layers added during a run that may become an input once it ends (see _on_inserted)
        self._added_during_run: list[Any] = []
        #: The layer each ``Option.unused_when`` option's picker holds, whose painting is followed.
        self._watched: dict[str, Any] = {}
        self.frames = ComboBox(
            name="frames", label="frames", choices=[CURRENT_FRAME, *stack_modes],
            tooltip="For a stack layer (T, Y, X[, RGB]): the frame under the slider, or the whole stack.",
        )
        self.sequence_axis = ComboBox(
            name="sequence_axis", label="sequence axis", choices=self._axis_choices,
            tooltip="For a layer with several leading axes (e.g. T, Z, Y, X): the axis that is the sequence; "
            "the others are taken at the slider's current position.",
        )
        self.task_options = {o.name: option_widget(o) for o in spec.options}
        self._common_options()
        self.run_button = PushButton(text="Run", name="run_button")
        self.progress = ProgressBar(value=0, min=0, max=1, name="progress", label="progress")
        self.progress.native.setFormat("%v / %m")  # iterations done / planned
        self._progress_idle()
        self.status = Label(value="", name="status", label=" ")
        self.status.native.setWordWrap(True)
        # (magicgui makes a label fixed-width: a short message would sit centred under the bar, not in line)
        self.status.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.extend([
            self.header, *self.pickers.values(), self.frames, self.sequence_axis, *self.task_options.values(),
            self.iterations,
            self.max_size, self.device, self.precision, self.seed, self.preview_every, self.keep_partial,
            Container(widgets=[self.run_button], labels=False, name="run_row", label=" "),
            self.progress, self.status,
        ])
        self._aligner = LabelAligner(self, self._inner)
        self._fit_width = FitWidth(self.native)
        # (docked under another panel in a short window, Qt gave the second one what the first left: 67 px, its
        # help line; this much shows the first rows)
        self.native.setMinimumHeight(PANEL_MIN_HEIGHT)
        self.run_button.changed.connect(self._on_run_clicked)
        self.pickers[self._primary.name].changed.connect(self._update_frames)
        self.pickers[self._primary.name].changed.connect(self._forget_fallen)
        self.frames.changed.connect(self._update_frames)  # the sequence axis matters for whole-stack modes only
        self.frames.changed.connect(self._update_needs)  # (a current-frame run reads the scribbles at the slider)
        self.sequence_axis.changed.connect(self._remember_axis)
        for option in spec.options:
            if option.needs:
                self.pickers[option.needs].changed.connect(self._update_needs)
            if option.unused_when:
                self.pickers[option.unused_when[0]].changed.connect(self._watch_marks)
                self.task_options[option.unused_when[1]].changed.connect(self._update_needs)
        if not _function_available(spec.image_mode.function):
            self.run_button.enabled = False
            self.status.value = (
                f"This task needs napari_doubledip.{spec.image_mode.function}, which this version of the "
                "package does not have yet."
            )
        self._disconnect_layer_events: Callable[..., None] | None = None
        self._inputs_changed = False
        self._connect_layer_events()
        self._following_layers = True  # (set after the first connection: parent changes before it are ignored)
        self.native.destroyed.connect(self._on_destroyed)
        self.native_parent_changed.connect(self._on_parent_changed)
        self._show_watch = ShowWatch(self.native, self._on_closed_undocked, self._on_shown_undocked)
        self._remember_options()  # (before the first pick: a sample's preset options apply over them)
        self.reset_choices()
        self._initial_choices()
        self._update_needs()
        wrap_tooltips(self.native)
        self._wheel_guard = WheelGuard(self.native)

    def _remember_options(self) -> None:
        """Start the options where the user last set them in a panel of this task (closing a panel and opening it
        again keeps e.g. the seed and the airlight typed), and remember them as they change (not a sample's
        preset options: those apply to their sample only)."""
        kept = _REMEMBERED.setdefault(self.spec.title, {})
        options = {
            **self.task_options,
            **{name: getattr(self, name) for name in (
                "iterations", "max_size", "device", "precision", "seed", "preview_every", "keep_partial"
            )},
        }
        for name, widget in options.items():
            if name in kept:
                try:
                    widget.value = kept[name]
                except (ValueError, TypeError):  # (e.g. a choice this version no longer has)
                    kept.pop(name)

            def note(value: Any, name: str = name) -> None:
                if not self._presetting:  # (a sample's preset is not the user's choice)
                    kept[name] = value
                    self._presets.pop(name, None)  # the user's choice: not given back when another layer is picked

            widget.changed.connect(note)

    def _common_options(self) -> None:
        """The options every task has: budget, working size, device, seed, preview, cancel behaviour."""
        # 0 = auto: the library's measured default, which can depend on the input (a box's crop works at up to
        # 192 px, long stacks get more iterations), so the widget passes None rather than a copy of it. (magicgui's
        # spin box, superqt's QLargeIntSpinBox, cannot show a special text for 0, hence the labels.)
        spec = self.spec
        self.iterations = SpinBox(
            value=0, min=0, max=100_000, step=50, name="iterations", label="iterations (0 = auto)",
            tooltip=f"Optimisation steps; 0 = auto, the measured default ({spec.iterations} for one image"
            f"{spec.iterations_note}). "
            "More = better fit, slower.",
        )
        self.max_size = SpinBox(
            value=0, min=0, max=4096, step=16, name="max_size", label="working size (0 = auto)",
            tooltip=f"Long side (pixels) the networks work at; 0 = auto, the measured default "
            f"({spec.max_size} px{spec.max_size_note}). Results are brought back to full size.",
        )
        self.device = DeviceChoice(name="device", label="device")
        self.precision = ComboBox(
            value="auto", choices=["auto", "float32", "bfloat16"], name="precision", label="precision",
            tooltip="Compute precision of the networks. auto = the task's measured choice: bfloat16 for the "
            "video tasks on CPUs with AMX (faster at equal quality), float32 elsewhere.",
        )
        self.seed = SpinBox(
            value=0, min=0, max=2**32 - 1, name="seed", label="seed",  # (the library's range)
            tooltip="Random seed: the same seed gives the same result on the CPU.",
        )
        self.preview_every = SpinBox(
            value=25, min=0, max=100_000, step=25, name="preview_every", label="preview every",
            tooltip="Update the output layers while running at most once per this many iterations (0 = no live "
            "preview) and at most twice a second; updates come at the solver's check points, every 25 "
            "iterations (more apart on long stacks).",
        )
        self.keep_partial = CheckBox(
            value=False, name="keep_partial", label="keep partial result on cancel",
            tooltip="Cancel keeps the best result so far as layers, instead of removing this run's layers.",
        )

    # --- inputs -----------------------------------------------------------------------------------------------

    def _picker(self, spec_in: LayerInput):
        layer_type = _LAYER_TYPES[spec_in.kind]

        def choices(_widget=None):
            layers = [layer for layer in self.viewer.layers if isinstance(layer, layer_type)]
            if spec_in.channels:
                layers = self._channel_choices(layers)
            return [(layer.name, layer) for layer in layers]

        kwargs = dict(name=spec_in.name, label=spec_in.label, choices=choices, tooltip=spec_in.tooltip or None)
        if spec_in.multiple:
            select = Select(**kwargs)
            select.native.setMaximumHeight(SELECT_HEIGHT)
            # (a list expands: its row took the panel's spare height, the list floating in it, capped)
            select.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            return select
        return ComboBox(nullable=spec_in.optional, **kwargs)

    def reset_choices(self, *_args: Any) -> None:
        """Refresh the layer pickers (called when layers are added, removed, moved or renamed)."""
        # magicgui keeps a picker's value by its label: a renamed layer would lose its place, so put it back
        chosen = {spec_in.name: self.pickers[spec_in.name].value for spec_in in self.spec.inputs}
        primary = self.pickers[self._primary.name]
        before = _as_list(chosen[self._primary.name])
        # the input was removed when no other image was there (e.g. mid-run, before any output): the picker
        # emptied, and the first image added since (the run's output) is where it falls now
        emptied = self._fallen == [] and not before
        super().reset_choices()
        still = [c for c in primary.choices if c is not None]
        removed = emptied or (bool(before) and not any(same_layer(c, v) for v in before for c in still))
        for name, value in chosen.items():
            picker = self.pickers[name]
            if isinstance(value, (list, tuple)):  # several layers: keep those still there, in their order
                kept = [c for v in value for c in picker.choices if same_layer(c, v)]
                now = list(picker.value)
                # (the same layers, not just as many: one renamed to another's name took that one's row)
                if len(kept) != len(now) or not all(any(same_layer(k, n) for n in now) for k in kept):
                    picker.value = kept
                continue
            if value is None or (picker.value is not None and same_layer(picker.value, value)):
                continue
            match = [c for c in picker.choices if c is not None and same_layer(c, value)]
            if match:
                picker.value = match[0]
            elif picker.value is not None:
                # The chosen layer was removed and the picker fell to the first of its kind, often a result
                # of the last run ("img background"): prefer a layer that is not a result, the active one first
                # (napari makes a neighbour active after a removal, so a result that is active does not count).
                layers = [c for c in picker.choices if c is not None and not _is_result(c)]
                active = self.viewer.layers.selection.active
                preferred = [c for c in layers if active is not None and same_layer(c, active)] + layers
                if preferred:
                    picker.value = preferred[0]
        for spec_in in self.spec.inputs:
            picker = self.pickers[spec_in.name]
            if spec_in.multiple and not spec_in.optional and not picker.value and picker.choices:
                values = list(picker.choices)
                # Layers selected in the layer list (two or more) are what the user means, as for napari's
                # own multi-layer commands; otherwise the active layer, with the rest of its sample set.
                selected = [v for v in values if any(same_layer(v, s) for s in self.viewer.layers.selection)]
                if len(selected) >= 2:
                    picker.value = selected
                    continue
                active = self._starting_layer()
                first = next((v for v in values if active is not None and same_layer(v, active)), None)
                if first is None and active is not None and _sample_set(active):  # e.g. a sample's box is active
                    first = next((v for v in values if _sample_set(v) == _sample_set(active)), None)
                first = values[0] if first is None else first
                group = _sample_set(first)  # a multi-image sample (two mixtures...) is selected as a whole
                same_set = [v for v in values if group and v is not first and _sample_set(v) == group]
                picker.value = [first, *same_set]
        after = _as_list(primary.value)
        if removed and after and all(_is_result(v) for v in after):
            self._fallen = after
        elif removed and not after:
            self._fallen = []
        self._update_frames()

    def _forget_fallen(self, _value: Any = None) -> None:
        self._fallen = None

    def _starting_layer(self) -> Any:
        """The layer a picker starts at: the active one, where napari users expect the input, unless it is the
        output napari made active by adding a run's outputs (and the user has not chosen a layer since), in
        which case the layer that run read, if it is still there."""
        active = self.viewer.layers.selection.active
        after = _AFTER_RUN.get(_viewer_key(self.viewer))
        napari_chose = active is not None and after == (active.name, id(active.data))
        if not napari_chose or not _is_result(active):
            return active  # (an output the user made active is their choice)
        source = active.metadata.get("source")
        inputs = (layer for layer in self.viewer.layers if layer.name == source and not same_layer(layer, active))
        return next(inputs, active)

    def _foreign_sample(self, layer: Any, sources: list[Any]) -> bool:
        """Whether ``layer`` comes from a bundled sample that none of ``sources`` (the inputs) comes from, nor
        was made from (a result of the sample's image counts as the sample's): the watermarked sample's box,
        next to the user's own image."""
        opening = _sample_of(layer)
        if opening is None:
            return False
        names = {s.metadata.get("source") for s in sources if _is_result(s)}
        origins = [*sources, *(la for la in self.viewer.layers if la.name in names)]
        return not any(_sample_of(s) == opening for s in origins)

    def _for_other_task(self, layer: Any) -> bool:
        """Whether ``layer`` is a sample's Shapes layer made for another task's panel (``BOX_FOR_KEY``)."""
        return layer.metadata.get(BOX_FOR_KEY, self.spec.name) != self.spec.name

    def _initial_choices(self) -> None:
        """Start single-layer pickers at the active layer (:meth:`_starting_layer`), and ``preselect``
        pickers at the last layer of their kind."""
        active = self._starting_layer()
        # (the inputs first: whether a box goes with them depends on them)
        for spec_in in sorted(self.spec.inputs, key=lambda s: bool(s.preselect)):
            picker = self.pickers[spec_in.name]
            if spec_in.multiple:
                continue
            if spec_in.preselect:
                if not spec_in.preselect_at_open:
                    continue
                # (the box): only for one image; the last Shapes layer holding a rectangle, else the last one;
                # a sample's box only for its own image (another image made active since is the user's choice)
                sources = self._sources()
                layers = [
                    c for c in picker.choices
                    if c is not None and not self._foreign_sample(c, sources) and not self._for_other_task(c)
                ]
                boxes = [c for c in layers if has_region(c)]
                if (boxes or layers) and len(sources) <= 1:
                    picker.value = (boxes or layers)[-1]
            elif not spec_in.optional and active is not None:
                match = [c for c in picker.choices if c is not None and same_layer(active, c)]
                if not match and _sample_of(active) is not None:  # a sample's box is active: its image
                    match = [c for c in picker.choices if c is not None and _sample_of(c) == _sample_of(active)]
                if match:
                    picker.value = match[0]

    def _follow_sample(self, layer: Any) -> None:
        """A sample opened while the panel's input is another sample's: the panel moves to the new one (the
        user is trying the samples; it is on top and active), and drops the old sample's layers from the other
        pickers (its box). The user's own data is never left for a sample."""
        opening = _sample_of(layer)
        primary = self.pickers[self._primary.name]
        if opening is None or not primary.enabled:
            return
        chosen = _picked(primary.value)
        if not chosen or any(_sample_of(c) in (None, opening) for c in chosen):
            return
        match = [c for c in primary.choices if c is not None and same_layer(layer, c)]
        if not match:
            return  # (a sample's box comes after its image)
        primary.value = [match[0]] if self._primary.multiple else match[0]
        for spec_in in self.spec.inputs:
            picker = self.pickers[spec_in.name]
            old = _picked(picker.value)
            if spec_in.optional and old and all(_sample_of(c) not in (None, opening) for c in old):
                picker.value = [] if spec_in.multiple else None

    def _on_inserted(self, layer: Any, queued: bool = False) -> None:
        """Adopt a layer the user adds where the panel waits for one (scribbles, a box, the rest of a sample
        set). During a run the pickers are locked: a Labels layer that is fresh now (napari's "new labels",
        to paint a correction in while the run goes), a Shapes layer or a bundled sample's layer (which a panel
        on a sample moves to) is taken up when the run ends."""
        if self.worker is not None and not queued:
            fresh = "part" not in layer.metadata and _fresh_labels(layer, self._sources())
            if fresh or isinstance(layer, napari.layers.Shapes) or _sample_of(layer) is not None:
                self._added_during_run.append(layer)
            return
        self._follow_sample(layer)
        for spec_in in self.spec.inputs:
            picker = self.pickers[spec_in.name]
            group = _sample_set(layer)
            if spec_in.multiple and group and picker.enabled:
                chosen = list(picker.value)
                match = [c for c in picker.choices if same_layer(layer, c)]
                if chosen and match and all(_sample_set(c) == group for c in chosen):
                    picker.value = [*chosen, *(m for m in match if not any(same_layer(m, c) for c in chosen))]
            # A Labels layer the user adds (napari's "new labels" button: how one starts painting) becomes the
            # scribbles while there are none; an output of a run (a mask) does not.
            if (
                spec_in.kind == "labels"
                and spec_in.optional
                and picker.enabled
                and picker.value is None
                and "part" not in layer.metadata
                and _fresh_labels(layer, self._sources(), empty=not queued)  # (queued: it was fresh when added)
            ):
                match = [c for c in picker.choices if c is not None and same_layer(layer, c)]
                if match:
                    picker.value = match[0]
            # A new Shapes layer becomes the box only while there is none (or one without a rectangle) and one
            # image is selected: an annotation added next to a several-image run must not turn it into a box run.
            # A sample's box (the watermarked image's) only for its own image, not the one the user is on. A layer
            # that comes holding only lines or paths (a measurement) encloses nothing: not a box either; nor
            # a sample's box made for another task (the watermark's, for segmentation).
            current = picker.value if spec_in.preselect else None
            if (
                spec_in.preselect
                and picker.enabled
                and not self._for_other_task(layer)
                and (current is None or not has_region(current))
                and (not len(getattr(layer, "shape_type", ())) or has_region(layer))
                and len(self._sources()) <= 1
                and (group is None or all(_sample_set(s) == group for s in self._sources()))
            ):
                match = [c for c in picker.choices if c is not None and same_layer(layer, c)]
                if match:
                    picker.value = match[0]

    def _connect_layer_events(self) -> None:
        events = self.viewer.layers.events

        def refresh(event=None):
            try:
                inserted = event is not None and getattr(event, "type", "") == "inserted"
                if inserted:
                    follow(event.value)
                self.reset_choices()
                if inserted:
                    self._on_inserted(event.value)
            except RuntimeError:  # the Qt widget is gone
                disconnect()

        def data_changed(event=None):
            # New data in an input (2D -> a stack, another shape): the choices that depend on its shape (frames,
            # sequence axis, more channels) follow. Not for a run's outputs (live previews write them often),
            # nor while a run is on (its inputs were read).
            layer = getattr(event, "source", None)
            if layer is None or _is_result(layer):
                return
            if self.worker is not None:  # the run read its inputs; the choices follow when it ends
                self._inputs_changed = True
                return
            shape = _shape_key(layer)
            if shapes.get(id(layer)) == shape:  # same shape (a live acquisition streaming frames): nothing to do
                return
            shapes[id(layer)] = shape
            try:
                self.reset_choices()  # (the frames choices too: they depend on the stack's axes)
            except RuntimeError:  # the Qt widget is gone
                disconnect()

        shapes: dict[int, Any] = {}
        done: list[bool] = []  # (disconnected once: it is called from several places)

        def follow(layer):
            layer.events.name.connect(refresh)
            if isinstance(layer, napari.layers.Image):
                shapes[id(layer)] = _shape_key(layer)
                layer.events.data.connect(data_changed)

        def disconnect(*_):
            if done:
                return
            done.append(True)
            try:
                for name in ("inserted", "removed", "moved", "reordered"):
                    getattr(events, name).disconnect(refresh)
                self.viewer.layers.selection.events.active.disconnect(chosen)
                if watches_marks:
                    self.viewer.dims.events.current_step.disconnect(stepped)
                for layer in self.viewer.layers:
                    layer.events.name.disconnect(refresh)
                    layer.events.data.disconnect(data_changed)
            except (RuntimeError, AttributeError, ValueError):  # viewer already torn down
                pass

        def chosen(_event=None):  # the user (or a script) made a layer active: no longer napari's choice
            _AFTER_RUN.pop(_viewer_key(self.viewer), None)

        def stepped(_event=None):  # the slider moved: the scribbles a current-frame run reads may differ
            try:
                self._marks_changed()
            except RuntimeError:  # the Qt widget is gone
                disconnect()

        watches_marks = any(option.unused_when for option in self.spec.options)

        for name in ("inserted", "removed", "moved", "reordered"):
            getattr(events, name).connect(refresh)
        for layer in self.viewer.layers:
            follow(layer)
        self.viewer.layers.selection.events.active.connect(chosen)
        if watches_marks:
            self.viewer.dims.events.current_step.connect(stepped)
        # Not on the widget's `destroyed`: a panel that was never docked, or was closed, is deleted later by the
        # garbage collector, and this closure run from there (touching the viewer's layers mid-collection)
        # crashed Python with a segfault (when the viewer closed, or at any automatic collection). A deleted
        # widget's connections go at the next layer event instead (its RuntimeError above).
        self._disconnect_layer_events = disconnect

    def _sources(self) -> list[Any]:
        value = self.pickers[self._primary.name].value
        layers = list(value) if isinstance(value, (list, tuple)) else [value]
        order = {layer.name: i for i, layer in enumerate(self.viewer.layers)}  # layer order, top last
        picked = sorted((v for v in layers if v is not None), key=lambda v: order.get(v.name, 0))
        return self._as_run_before(picked)

    def _as_run_before(self, picked: list[Any]) -> list[Any]:
        """``picked`` in the order an earlier run of this panel on the same layers had them, where one left
        its results: the shared parts are named after the first input and the coefficients come in this order,
        so the layers moved in the list between two runs would leave the first run's results beside a new set."""
        if len(picked) < 2:
            return picked
        ids = [_layers.source_id(v) for v in picked]
        if None in ids or len(set(ids)) != len(ids):
            return picked
        for layer in self.viewer.layers:
            md = getattr(layer, "metadata", None)
            then = md.get("input_ids") if isinstance(md, dict) and md.get("task") == self.spec.name else None
            if isinstance(then, list) and len(then) == len(ids) and set(map(str, then)) == set(ids):
                at = {str(v): i for i, v in enumerate(then)}
                return sorted(picked, key=lambda v: at[_layers.source_id(v)])
        return picked

    def _axis_choices(self, _widget: Any = None) -> list[tuple[str, int]]:
        sources = self._sources()
        if not sources:
            return [("0", 0)]
        layer = sources[0]
        labels = [str(v) for v in layer.axis_labels]

        def name(i: int) -> str:
            label = labels[i] if i < len(labels) else ""
            # napari's default labels are axis numbers ("0" or "-4"): only a real name is worth showing
            return f"axis {i}" if not label or label.lstrip("-").isdigit() else f"axis {i} ({label})"

        return [(name(i), i) for i in range(max(stack_axes(layer), 1))]

    def _remember_axis(self, value: Any) -> None:
        if not self._presetting and self._frames_source is not None and value is not None:
            self._axis_by_layer[self._frames_source.name] = int(value)

    def _pick_axis(self, layer: Any) -> None:
        """The sequence axis for a newly picked layer: the one the user chose for it before, else the current
        one unless it has a single frame (a (1, Z, Y, X) file: T = 1), then the first axis with several."""
        count = stack_axes(layer)
        if count < 2:
            return
        shape = layer_array_shape(layer)
        axis = self._axis_by_layer.get(layer.name)
        if axis is None or axis >= count or shape[axis] < 2:
            axis = int(self.sequence_axis.value or 0)
            if shape[axis] < 2:
                axis = next((i for i in range(count) if shape[i] > 1), axis)
        self.sequence_axis.value = axis

    def _channel_choices(self, layers: list[Any]) -> list[Any]:
        """What can be a further channel of the image: grey layers with its frame size and stack shape, not
        the image itself: the user's own layers (not the image's own source, when it is a result of a run)
        and, for a result (e.g. a channel dehazed first), the same part of the same task's runs on the other
        channels (none while the image is RGB or not chosen)."""
        primary = getattr(self, "pickers", {}).get(self._primary.name) if hasattr(self, "_primary") else None
        image = primary.value if primary is not None else None
        if image is None or isinstance(image, (list, tuple)) or getattr(image, "rgb", False):
            return []
        shape = layer_array_shape(image)
        kind = _result_kind(image)
        source = image.metadata.get("source") if kind is not None else None
        return [
            layer for layer in layers
            if not getattr(layer, "rgb", False) and not same_layer(layer, image)
            and (_result_kind(layer) is None and layer.name != source
                 or _result_kind(layer) == kind and layer.metadata.get("source") != image.name)
            and layer_array_shape(layer) == shape
        ]

    def _update_frames(self, *_args: Any) -> None:
        for spec_in in self.spec.inputs:
            if spec_in.channels:  # the choices depend on the image picked
                picker = self.pickers[spec_in.name]
                picker.reset_choices()
                picker.visible = bool(picker.choices)
        sources = self._sources()
        # (a task without a stack mode, e.g. dehazing, has nothing to choose)
        self.frames.visible = bool(sources) and is_stack(sources[0]) and len(self.frames.choices) > 1
        first = sources[0] if sources else None
        # While a run is on (its options disabled) a pick changes nothing: the presets follow when it ends.
        running = getattr(self, "worker", None) is not None
        # a sample's box picked for its image does not go with other images picked instead (checked when the
        # inputs change, not on every call: a box the user picks for them stays)
        picked = frozenset(id(s) for s in sources)  # (a set: moving inputs in the layer list changes nothing)
        if picked != self._box_sources and not running:
            self._box_sources = picked
            for spec_in in self.spec.inputs:
                box = self.pickers[spec_in.name]
                if spec_in.preselect and box.value is not None and self._foreign_sample(box.value, sources):
                    box.value = None
        seen = self._frames_source is not None and first is not None and same_layer(first, self._frames_source)
        fresh = first is not None and not seen
        if fresh and not running:
            self._frames_source = first  # (first: setting the frames choice below calls this method again)
            # a layer marked as a video (the video samples) starts in the widget's video mode, once per pick;
            # picking another layer gives back the choice it replaced (unless the user has changed it since)
            if self._frames_preset is not None:
                before, preset = self._frames_preset
                if self.frames.value == preset and before in self.frames.choices:
                    self.frames.value = before
            self._frames_preset = None
            video = [c for c in self.frames.choices if "video" in str(c)]
            if first.metadata.get(VIDEO_KEY) and is_stack(first) and video:
                self._frames_preset = (self.frames.value, video[0])
                self.frames.value = video[0]
            # a sample made for some options (the blob field's intensity hints) starts at them, once per pick;
            # picking another layer gives back what they replaced (unless the user has changed them since)
            self._presetting = True
            try:
                for name, (before, preset) in self._presets.items():
                    if self.task_options[name].value == preset:
                        self.task_options[name].value = before
                self._presets = {}
                presets = first.metadata.get(OPTIONS_KEY)
                for name, value in (presets.items() if isinstance(presets, dict) else ()):
                    option = self.task_options.get(name)
                    if option is not None and value in getattr(option, "choices", (value,)):
                        self._presets[name] = (option.value, value)
                        option.value = value
            finally:
                self._presetting = False
        if not running:
            self._frames_source = first
        setting, self._presetting = self._presetting, True
        try:
            self.sequence_axis.reset_choices()
            if fresh and not running:
                self._pick_axis(first)
        finally:
            self._presetting = setting
        self.sequence_axis.visible = (
            bool(sources) and stack_axes(sources[0]) > 1 and self.frames.value != CURRENT_FRAME
        )

    # --- running ----------------------------------------------------------------------------------------------

    def _on_run_clicked(self, *_args: Any) -> None:
        now = time.monotonic()
        if self.worker is None:
            # a double-click on Cancel is one Cancel (a run cancelled at once gives the button back as Run before
            # the second click lands), and one on Run is one Run even when the run was refused (one error)
            if min(now - self._cancel_clicked_at, now - self._run_clicked_at) > _double_click_s():
                self._run_clicked_at = now
                self.run()
                self._hold_cancel()
        elif now - self._run_clicked_at > _double_click_s():  # a double-click on Run is one Run
            self._cancel_clicked_at = now
            self.cancel()

    def _hold_cancel(self) -> None:
        """Grey Cancel out for a double-click's time after Run: a click then is a double-click's second, no
        Cancel, and a button that offered Cancel and did nothing looked broken."""
        wait, job = _double_click_s(), self._job
        if job is None or wait <= 0:
            return
        from qtpy.QtCore import QTimer

        self._grey_button()

        def release() -> None:
            try:
                if self._job is job and not job.cancelled:  # (a run that ended, or a Cancel, set it already)
                    self._ungrey_button()
            except RuntimeError:  # pragma: no cover - the panel was closed meanwhile
                pass

        QTimer.singleShot(round(wait * 1000), release)

    def _grey_button(self) -> None:
        """Disable Run / Cancel for a moment, noting whether it had the keyboard focus: Qt hands a disabled
        button's focus to the next widget in the tab order, the dock's hide button, where the next Space (meant
        as Cancel) hid the panel with the run going on."""
        # (the window's focus widget, not the application's: that is None while another window is active)
        button = self.run_button.native
        had = button.window().focusWidget() is button
        self.run_button.enabled = False
        if had:
            self._focus_moved_to = button.window().focusWidget()
            self._focus_taken = True

    def _ungrey_button(self) -> None:
        """Enable Run / Cancel again, with the keyboard focus back where :meth:`_grey_button` found it (unless
        the user has moved it since)."""
        button = self.run_button.native
        self.run_button.enabled = True
        if self._focus_taken:
            self._focus_taken = False
            if button.window().focusWidget() is self._focus_moved_to:
                button.setFocus()
            self._focus_moved_to = None

    def _prepare(self) -> Job:
        """Read the inputs in the main thread and build the call."""
        spec = self.spec
        sources = self._sources()
        if not sources:
            raise ValueError(f"choose an image layer as '{self._primary.label}'")
        fallen, self._fallen = self._fallen, None
        if fallen is not None and len(fallen) == len(sources) and all(
            any(same_layer(f, s) for s in sources) for f in fallen
        ):
            names = ", ".join(repr(v.name) for v in fallen)
            raise ValueError(
                f"the input layer was removed, and '{self._primary.label}' went to {names}, a result of a run; "
                "choose the image to decompose (Run again to decompose that result)"
            )
        if 0 < int(self.max_size.value) < MIN_WORKING_SIZE:
            raise ValueError(f"working size must be 0 (auto) or at least {MIN_WORKING_SIZE} px")
        mode = spec.mode(self.frames.value if is_stack(sources[0]) else None)
        if mode.stack and len(sources) > 1:
            raise ValueError(f"'{mode.label}' takes one stack layer; {len(sources)} layers are selected")
        images, frame, frames = [], None, []
        axis = int(self.sequence_axis.value or 0)
        for layer in sources:
            shape = layer_array_shape(layer)
            channels_last = _channels_last(layer, shape)
            if channels_last:
                # (Y, X, C) or (T, Y, X, C) data opened without rgb=True: napari shows frames of X x C pixels
                how = (
                    "if it is a colour image, open it as RGB (viewer.add_image(data, rgb=True))"
                    if shape[-1] in (3, 4)
                    else "if its last axis is channels, open one layer per channel "
                    "(viewer.add_image(data, channel_axis=-1))"
                    + (
                        " and choose at most 4 of them (the image and 'more channels')"
                        if shape[-1] > 4 and any(i.channels for i in spec.inputs)
                        else ""
                    )
                )
                frames_of = f"{int(np.prod(shape[:-2]))} frames of {shape[-2]}x{shape[-1]} pixels"
                message = f"{layer.name!r} is read as a stack of {frames_of}; {how}"
                if channels_last == "refuse":
                    raise ValueError(message)
                show_warning(f"{spec.title}: {message}")
            data, index = read_image(layer, self.viewer, whole_stack=mode.stack, axis=axis, lazy=True)
            projected = projected_axes(layer, self.viewer, index)
            if projected:
                show_warning(
                    f"{spec.title}: {layer.name!r} is shown as a {layer.projection_mode} projection over several "
                    f"planes of axis {', '.join(map(str, projected))} (the Dims thickness); the run reads the one "
                    f"plane at the slider, {index_text(index)} (set its projection mode to 'none' to see it)"
                )
            if getattr(layer, "rgb", False) and data.shape[-1] == 4:
                data = data[..., :3]  # RGBA: the alpha is opacity, not a colour to decompose
            images.append(data)
            frames.append(index)
            frame = frame if frame is not None else index
        channels = next((i for i in spec.inputs if i.channels), None)
        ranges, raw = None, []
        if channels is not None and self.pickers[channels.name].value:
            sources, images, frames, ranges, raw = self._read_channels(
                self.pickers[channels.name].value, sources, images, frames, mode, axis
            )
        if mode.stack and images[0].shape[0] < 2:
            # the library would take a one-frame stack as one image (or refuse it), not what the mode says
            shape = layer_array_shape(sources[0])
            others = [i for i in range(stack_axes(sources[0])) if shape[i] > 1]
            raise ValueError(
                f"'{mode.label}' needs at least 2 frames along the sequence axis; {sources[0].name!r} has 1 there "
                + (f"(choose sequence axis {others[0]}, or " if others else "(choose ")
                + f"'{CURRENT_FRAME}' to process that frame as one image)"
            )
        colour = ranges or is_rgb(images[0], sources[0])
        n_channels = int(images[0].shape[-1]) if colour else 1
        working = working_memory(
            images, n_channels, int(self.max_size.value), spec.max_size, mode.stack and not mode.frame_by_frame
        )
        check_memory(images, sources, n_channels, mode.frame_by_frame, working)
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            each = ", ".join(f"{s.name!r} {tuple(im.shape)}" for s, im in zip(sources, images, strict=False))
            rgb = {bool(getattr(src, "rgb", False)) for src in sources}
            why = (  # (the shapes alone do not say that one is RGB: (32, 32, 3) beside (32, 32))
                "; RGB and grey images cannot be mixed: convert them to one kind first"
                if len(rgb) > 1 and len({frame_shape(src) for src in sources}) == 1 else ""
            )
            raise ValueError(f"the selected images must all have the same shape, got {each}{why}")
        # (mixtures, or channels)
        moved = [s.name for s in sources[1:] if not _aligned(s, sources[0], viewer=self.viewer)]
        if moved:
            own = [o.part for o in mode.outputs if o.per_input]
            shared = [o.part for o in mode.outputs if not o.per_input]
            placed = (
                f"each image's {', '.join(own)} is placed on its own grid, the shared "
                f"{', '.join(shared)} like {sources[0].name!r}" if own and shared
                else f"the results are placed like {sources[0].name!r}"
            )
            show_warning(
                f"{spec.title}: image(s) {', '.join(map(repr, moved))} are not placed like {sources[0].name!r} "
                f"(different scale, translate, rotation, shear or affine); their pixels are paired by index: "
                f"{placed}"
            )
        extra: dict[str, Any] = {}
        for spec_in in spec.inputs:
            if spec_in is self._primary or spec_in.channels:
                continue
            layer = self.pickers[spec_in.name].value
            if layer is None:
                extra[spec_in.name] = None
            elif spec_in.kind == "labels":
                # A 2D layer placed differently (e.g. made by File > New Layer > Labels over several layers of
                # other extents): read where napari shows it over the image, not paired by index.
                resampled = layer.ndim == 2 and (
                    not _aligned(layer, sources[0], viewer=self.viewer)
                    or tuple(np.shape(layer.data[0] if layer.multiscale else layer.data))
                    not in (frame_shape(sources[0]), full_frame_shape(sources[0]))
                )
                extra[spec_in.name] = (
                    resample_labels(layer, sources[0], viewer=self.viewer) if resampled else read_labels(
                        layer, sources[0], self.viewer, whole_stack=mode.stack, index=frames[0]
                    )
                )
                if _shares_memory(extra[spec_in.name], layer):
                    # The run takes the marks as they are at Run: strokes painted while it waits for a thread
                    # (or while its first run imports torch) must not reach it behind the checks made here.
                    extra[spec_in.name] = np.array(extra[spec_in.name], copy=True)
                if resampled and not np.any(extra[spec_in.name]) and isinstance(layer.data, np.ndarray) and (
                    layer.data.any()
                ):
                    show_warning(
                        f"{spec.title}: {spec_in.label} layer {layer.name!r} marks nothing where napari shows it "
                        f"over image {sources[0].name!r} (its marks lie beside the image)"
                    )
                md = layer.metadata
                converted = False
                for part, convert in spec_in.from_output:
                    if md.get("task") == spec.name and md.get("part") == part:
                        # (in the worker thread: distance transforms of a large mask froze the GUI)
                        extra[spec_in.name] = Deferred(convert, extra[spec_in.name])
                        converted = True
                if not converted:
                    elsewhere = _marked_elsewhere(layer, extra[spec_in.name])
                    # (the panel greys out the automatic hints when the layer has marks: say they are used)
                    auto = self.task_options.get("automatic")
                    instead = f"; this run uses the automatic hints ({auto.value}) instead" if auto else ""
                    # ('whole stack' reads every frame of a (T, Y, X) layer, but of a layer with more leading
                    # axes only the slice at the slider on the others)
                    whole = ", or choose 'whole stack'" if layer.ndim <= 3 else ""
                    if elsewhere and mode.stack and layer.ndim <= 3 and stack_axes(sources[0]) == 1:
                        # ((T, Y, X) labels over a (T, Y, X) image: paired by index, marks only beyond its frames)
                        show_warning(
                            f"{spec.title}: {spec_in.label} layer {layer.name!r} marks nothing (1 or 2) on the "
                            f"image's {layer_array_shape(sources[0])[0]} frames; it has marks on {elsewhere}, "
                            f"beyond them{instead}"
                        )
                    elif elsewhere and mode.stack:  # a whole stack at the slider's position on the other axes
                        show_warning(
                            f"{spec.title}: {spec_in.label} layer {layer.name!r} marks nothing (1 or 2) on the "
                            f"frames run ({index_text(frames[0]) if frames[0] is not None else 'the stack'}); it "
                            f"has marks on {elsewhere}: a whole-stack run reads the axes other than the "
                            f"sequence's at the slider (move it to those){instead}"
                        )
                    elif elsewhere and frames[0] is None:  # a 2D image: the layer has axes the image lacks
                        show_warning(
                            f"{spec.title}: {spec_in.label} layer {layer.name!r} marks nothing (1 or 2) on its "
                            f"plane at the slider; it has more axes than image {sources[0].name!r} and marks on "
                            f"its {elsewhere}: move the slider to one of those (or paint on a Labels layer made "
                            f"from the image: File > New Layer > Labels){instead}"
                        )
                    elif elsewhere:
                        show_warning(
                            f"{spec.title}: {spec_in.label} layer {layer.name!r} marks nothing (1 or 2) on the "
                            f"frame run ({_frame_label(frames[0])}); it has marks on {elsewhere}: they hint their "
                            f"own frames only (go to one of those{whole}){instead}"
                        )
                # (frames beyond the image's are no misalignment: they pair by index, as napari shows them;
                # frames at another spacing are read where napari shows them, at the slider or placed on the
                # image's frames, unless a whole stack pairs as many frames as the image's by index)
                by_index = False
                lead = layer_array_shape(sources[0])[: stack_axes(sources[0])]
                if mode.stack and lead:  # a whole stack pairs the labels' frames by index where the axis napari
                    # lines up with the sequence is as long as it (read_labels)
                    picked = frames[0]
                    axis = picked.index(None) if picked is not None and None in picked else 0
                    own_lead = layer_array_shape(layer)[: max(layer.ndim - 2, 0)]
                    j = axis - (len(lead) - len(own_lead))
                    by_index = 0 <= j < len(own_lead) and own_lead[j] == lead[axis]
                if not resampled and not _aligned(layer, sources[0], within=False, viewer=self.viewer) and (
                    by_index or not _aligned(layer, sources[0], within=False, last=2, viewer=self.viewer)
                    or not _frames_meet(layer, sources[0], self.viewer)
                ):
                    show_warning(
                        f"{spec.title}: labels layer {layer.name!r} is not aligned with image {sources[0].name!r} "
                        "(different scale, translate, rotation, shear or affine); its pixels are paired with the "
                        "image's by index (a frame of a stack: at the slider for the current frame, by index for "
                        "a whole stack)"
                    )
            elif spec_in.kind == "shapes" and spec_in.empty_is_none and not has_region(layer):
                extra[spec_in.name] = None  # adopted before anything was drawn in it
                if len(layer.data):
                    show_warning(
                        f"{spec.title}: {layer.name!r} holds no rectangle, ellipse or polygon (lines and paths "
                        f"enclose nothing), so no {spec_in.label} is used"
                    )
            elif spec_in.kind == "shapes":
                # (only selected regions narrow the box: lines enclose nothing; and on a layer with frames the
                # selection is read per frame, which one count cannot say: no note there)
                types = list(getattr(layer, "shape_type", []))
                picked = {i for i in (picked_shapes(layer) if spec_in.union else set())
                          if i < len(types) and types[i] in REGION_TYPES}
                # (the regions are counted only when some are picked: the common case reads them once, below)
                if picked and layer.ndim == 2 and len(picked) < (
                    count := len(rectangle_frames(layer, sources[0], self.viewer))
                ):
                    show_info(
                        f"{spec.title}: {spec_in.label}: the {len(picked)} selected of the {count} shapes in "
                        f"{layer.name!r} are used; select none (or leave the layer's select mode) to use all"
                    )
                per_frame = None
                if mode.stack and spec_in.per_frame:
                    per_frame = read_frame_boxes(layer, sources[0], self.viewer, frames[0], union=spec_in.union)
                if per_frame is not None:
                    extra[spec_in.name] = per_frame
                    continue
                try:
                    extra[spec_in.name] = read_box(
                        layer, sources[0], self.viewer, index=frames[0], union=spec_in.union
                    )
                except ValueError:
                    # A frame between key frames' boxes (around a moving object) gets what a whole-stack run
                    # gives it: the rectangle spanning both.
                    # (only where the frame has no region at all: one of its own that fails is the error)
                    spanned = None
                    if spec_in.per_frame and not mode.stack and frames[0] and not rectangle_frames(
                        layer, sources[0], self.viewer, frames[0]
                    ):
                        spanned = span_box(layer, sources[0], self.viewer, frames[0], axis, union=spec_in.union)
                    if spanned is None:
                        raise
                    extra[spec_in.name], (before, after) = spanned
                    at = list(frames[0])
                    ends = [index_text(at[:axis] + [t] + at[axis + 1 :]) for t in (before, after)]
                    show_info(
                        f"{spec.title}: frame {index_text(at)} has no {spec_in.label} of its own in "
                        f"{layer.name!r}; it lies between those on frames {ends[0]} and {ends[1]}, and takes "
                        "the rectangle spanning both (as a whole-stack run does)"
                    )
                if mode.stack and len(set(rectangle_frames(layer, sources[0], self.viewer, frames[0]))) > 1:
                    which = (
                        "all its regions (those selected in its select mode, if any are)"
                        if spec_in.union
                        else "the selected rectangle, else the last drawn"
                    )
                    show_warning(
                        f"{spec.title}: {layer.name!r} has shapes on several frames; one box applies to the "
                        f"whole stack: {which}"
                    )
            else:
                extra[spec_in.name] = read_image(layer, self.viewer, whole_stack=mode.stack, axis=axis)[0]
        options = {name: w.value for name, w in self.task_options.items()}
        length = int(layer_array_shape(sources[0])[axis]) if is_stack(sources[0]) else None
        args, kwargs = mode.build(Inputs(images, extra, options, frame, frame_shape(sources[0]), length))
        kwargs.update(
            iterations=int(self.iterations.value) or None,  # 0 = auto
            max_size=int(self.max_size.value) or None,
            device=str(self.device.value),
            precision=str(self.precision.value),
            seed=int(self.seed.value),
        )
        outputs = OutputLayers(self.viewer, spec.name)
        outputs.pin_names(sources)
        outputs.protect([*sources, *(self.pickers[i.name].value for i in spec.inputs if i is not self._primary)])
        outputs.pin_earlier(sources, [(out.part, out.kind) for out in mode.outputs])
        return Job(
            mode, sources, frame, mode.function, args, kwargs, outputs, frames=frames, channels=ranges, raw=raw,
            full=frame_shape(sources[0]), leads=[layer_array_shape(s)[: stack_axes(s)] for s in sources],
            digests=[
                # (a whole (T, Y, X) stack is read with no index: all of its one leading axis)
                _layers.frame_digests(s, (None,) if i is None and mode.stack and stack_axes(s) == 1 else i)
                for s, i in zip(sources, frames or [frame] * len(sources))
            ],
        )

    def _read_channels(
        self, layers: list[Any], sources: list[Any], images: list[Any], frames: list[Any], mode: Mode, axis: int
    ) -> tuple[list[Any], list[Any], list[Any], list[tuple[float, float]] | None, list[Any]]:
        """The primary image and the layers picked as its further channels, read like it (same frame, or the
        same stack) and stacked on a last axis, each mapped to 0-1 between its contrast limits (what the user
        sees; channels of different brightness count alike). Returns the sources (primary first), the one
        stacked image, each source's frame index, each channel's (low, high) to map results back and the
        layers' own arrays the stacked (lazy) image reads."""
        order = {layer.name: i for i, layer in enumerate(self.viewer.layers)}
        extra = sorted(
            (c for c in layers if not any(same_layer(c, s) for s in sources)), key=lambda c: order.get(c.name, 0)
        )
        if not extra:
            return sources, images, frames, None, []
        first = sources[0]
        rgb = [layer.name for layer in (first, *extra) if getattr(layer, "rgb", False)]
        if rgb:
            raise ValueError(
                f"'more channels' adds grey layers to a grey image; {', '.join(map(repr, rgb))} is RGB (its "
                "colours are its channels)"
            )
        if 1 + len(extra) > 4:
            raise ValueError(f"at most 4 channels in all: the image and {len(extra)} more are selected")
        data = [images[0]]
        for layer in extra:
            d, index = read_image(layer, self.viewer, whole_stack=mode.stack, axis=axis, lazy=True)
            if d.shape != images[0].shape:
                levels = [
                    f"{x.name!r} is multiscale, read at level {read_level(x)}"
                    for x in (first, layer) if getattr(x, "multiscale", False) and read_level(x) > 0
                ]
                why = f" ({'; '.join(levels)}: give the channels the same pyramid levels)" if levels else ""
                raise ValueError(
                    f"channel {layer.name!r} has shape {tuple(d.shape)} where {first.name!r} has "
                    f"{tuple(images[0].shape)}{why}; channels must be the same size (and frames)"
                )
            data.append(d)
            frames.append(index)
        ranges = []
        for layer in (first, *extra):
            lo, hi = (float(v) for v in layer.contrast_limits)
            ranges.append((lo, hi if hi > lo else lo + 1.0))
        # Lazy whatever the layers hold: the worker loads it a chunk at a time (a few stacked float copies of
        # large layers, made here, would freeze the GUI and could exhaust the memory the check guards). Clipped
        # at the limits, as napari shows it: a hot pixel far above them would shrink every channel's range.
        import dask.array as da

        seen = [da.clip((lazy_array(d) - lo) / (hi - lo), 0.0, 1.0) for d, (lo, hi) in zip(data, ranges)]
        stacked = da.stack(seen, axis=-1).astype(np.float32)
        return [first, *extra], [stacked], frames, ranges, data

    def run(self, start: bool = True):
        """Start a run (what Run does); returns the worker, or ``None`` if the inputs are not usable.

        With ``start=False`` the worker is created and wired but not started (tests start it themselves).
        """
        if self.worker is not None:
            return self.worker
        self._progress_idle()  # nothing done yet (not the last run's "n / n")
        try:
            job = self._prepare()
        except Exception as exc:  # bad inputs: tell the user, don't start
            self._notify_error(exc)
            return None
        level = read_level(job.sources[0])
        if level:
            (h, w), (fh, fw) = frame_shape(job.sources[0]), full_frame_shape(job.sources[0])
            show_info(
                f"{self.spec.title}: {job.sources[0].name!r} is multiscale; its level {level} ({h} x {w} per "
                f"frame) is read and the results have that resolution (full resolution: {fh} x {fw})"
            )
        self._tell_unpicked_shapes()
        job.control.previews = int(self.preview_every.value) > 0  # none to show: none to compute
        with current_window(self.viewer):
            worker = create_worker(
                run_task, job.function, job.args, job.kwargs, job.control, _start_thread=False,
                _ignore_errors=True, _worker_class=ClosingWorker,
            )
        # Errors and warnings are shown by this widget, prefixed with its title. napari's own relay of worker
        # errors and warnings (a mixin that is not set up in every napari version) is detached so that a
        # message is never shown twice.
        for signal, relay in ((worker.errored, "_relay_error"), (worker.warned, "_relay_warning")):
            try:
                signal.disconnect(getattr(worker, relay))
            except (AttributeError, RuntimeError, TypeError):
                pass
        # The library's own warnings come through this run's signal, not through superqt's process-wide
        # warnings.showwarning swap, which a second widget's worker running at the same time undoes.
        job.control.warn = lambda message, category: worker.warned.emit((message, category, _WORKER_FILE, 0))
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_result)
        worker.errored.connect(self._on_error)
        worker.warned.connect(self._on_warning)
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)
        note_warnings_state()
        worker.finished.connect(drop_stale_warning_hook)  # (never disconnected: also after the panel went)
        self._job, self.worker = job, worker
        _RUNNING.add(self)
        job.held = hold_arrays((job.args, job.kwargs, job.raw))
        job.outputs.watch_moves()
        self._watch_inputs(job)
        self._set_running(True)
        what = self.spec.display_name.lower()
        how = f" — {job.mode.label}" if job.mode.stack and job.mode.label else ""
        names = _names_text(job.sources)
        job.starting = self.status.value = f"Starting {what} on {names}{how}..."
        # (not the job itself: napari's task list keeps every worker, with its connections, for the window's
        # life, and a job holds the run's inputs and the arrays handed to the library)
        worker.started.connect(lambda: self._job is not None and self._on_started(self._job))
        self._progress_busy()  # (until the first report says how many iterations are planned)
        # before the start: creating it processes Qt events, and no worker signal can arrive yet
        entry = f"{self.spec.title}: {_names_text(job.sources, quote=False)}"
        activity = Activity(entry, lambda: self._cancel_job(job))
        if self._job is job:
            job.activity = activity
        else:  # the widget went while the entry was made (it processes Qt events)
            activity.close()
        if start:
            self.start_worker(worker)
        return worker

    def _watch_inputs(self, job: Job) -> None:
        """Note the inputs changed during the run, which read them at Run: scribble layers painted on (or
        given new data), Shapes layers edited, images given new data. The user is told at the run's end to run
        again for the new ones (they were ignored without a word)."""
        watched = [
            (layer, spec_in.kind)
            for spec_in in self.spec.inputs
            if spec_in.kind in ("labels", "shapes")
            and (layer := self.pickers[spec_in.name].value) is not None
            and not isinstance(layer, (list, tuple))
        ]
        for layer, kind in watched:

            def edited(_event: Any = None, name: str = layer.name, kind: str = kind) -> None:
                into = job.painted_inputs if kind == "labels" else job.edited_inputs
                if name not in into:
                    into.append(name)

            events = (layer.events.paint, layer.events.data) if kind == "labels" else (layer.events.data,)
            for event in events:
                event.connect(edited)
                job.unwatch.append(lambda event=event, edited=edited: event.disconnect(edited))
        for i, source in enumerate(job.sources):
            job.read_data.append(source.data)  # (the array read: compared with a new one at the end)

            def replaced(_event: Any = None, i: int = i) -> None:
                if i not in job.replaced_sources:
                    job.replaced_sources.append(i)

            source.events.data.connect(replaced)
            job.unwatch.append(lambda event=source.events.data, replaced=replaced: event.disconnect(replaced))

    def start_worker(self, worker: Any) -> None:
        """Start ``worker`` (made by ``run(start=False)``) in Qt's global thread pool; say so when it has to wait
        there for a thread (one per logical CPU, shared by every napari worker)."""
        from qtpy.QtCore import QThreadPool

        pool = QThreadPool.globalInstance()
        busy = pool.activeThreadCount()
        worker.start()
        job = self._job
        if job is not None and not job.started and busy >= pool.maxThreadCount():
            self.status.value = (
                f"Waiting for a free thread: napari's {pool.maxThreadCount()} worker thread(s) are busy with "
                "other runs (Cancel works meanwhile)..."
            )

    def _on_started(self, job: Job) -> None:
        job.started = True
        if self._job is job and job.starting and self.status.value.startswith("Waiting for a free thread"):
            self.status.value = job.starting

    def _tell_unpicked_shapes(self) -> None:
        """Say that a Shapes layer with shapes (or a Labels layer of scribbles) is not used when its picker is
        at none: one drawn before the panel opened is not picked by itself (it may annotate something else),
        and a user who drew a box or painted first would otherwise take the result for one made with it. Once
        per layer and panel; not for a layer without a region (lines, points: a scale bar), nor for a bundled
        sample's own box (it annotates another image than the user's), nor for labels other than scribbles
        (1 and 2 only: a segmentation of many labels is something else)."""
        image = self.pickers[self._primary.name].value
        opening = [_sample_of(layer) for layer in _picked(image)]
        for spec_in in self.spec.inputs:
            picked = self.pickers[spec_in.name].value
            if (
                spec_in.kind not in ("shapes", "labels") or not spec_in.optional
                or (spec_in.preselect and spec_in.preselect_at_open) or picked is not None
            ):
                continue  # (a picker that takes an existing layer at opening was set to none by the user)
            marked = has_region if spec_in.kind == "shapes" else _scribbled
            drawn = [
                layer.name for layer in self.viewer.layers
                if isinstance(layer, _LAYER_TYPES[spec_in.kind]) and marked(layer)
                and (_sample_of(layer) is None or _sample_of(layer) in opening)
                and not self._for_other_task(layer)
                and layer.name not in self._told_unpicked
            ]
            self._told_unpicked.update(drawn)
            if drawn:
                which = ", ".join(repr(n) for n in drawn[:3]) + (", ..." if len(drawn) > 3 else "")
                show_info(
                    f"{self.spec.title}: {spec_in.label} is none, so {which} "
                    f"{'is' if len(drawn) == 1 else 'are'} not used; pick "
                    f"{'it' if len(drawn) == 1 else 'one'} under '{spec_in.label}' to use it"
                )

    def _cancel_job(self, job: Job) -> None:
        """Cancel ``job`` if it is still this widget's run (an activity entry's Cancel)."""
        if self._job is job:
            self.cancel()

    def cancel(self) -> None:
        """Stop the run at the next report: drop its layers, or keep the best result so far if asked to."""
        self._cancel(finish=True)

    def _cancel(self, finish: bool) -> None:
        """Cancel; with *keep partial result* and ``finish``, the run finishes with its best result so far (else
        the last preview is what is kept)."""
        job, worker = self._job, self.worker
        if worker is None or job is None or job.cancelled:
            return
        job.cancelled = True
        job.keep = bool(self.keep_partial.value)  # (ticking it while the cancel lands changes nothing)
        self._grey_button()
        if not job.started and self._take_queued(job, worker):
            return
        if job.keep and job.pace_from is None:
            # (no optimisation step reported yet, e.g. in a long stack's automatic hints: there is nothing to keep,
            # and finishing would still bring untrained networks' outputs to full size, frame by frame)
            self.status.value = "Cancelling (no step taken yet: nothing to keep)..."
            worker.quit()
        elif job.keep and job.control.stoppable and finish:
            self.status.value = "Stopping: finishing with the best result so far..."
            job.control.stop.set()
        else:
            self.status.value = "Cancelling..."
            worker.quit()

    def _take_queued(self, job: Job, worker: Any, tries: int = 100) -> bool:
        """End a cancelled run that still waits in Qt's pool (it would wait for another run to end first).

        While an event loop runs, ``worker.start`` queues the worker with a timer: a cancel just after it finds
        nothing to take, so it looks again every 20 ms (at most ``tries`` times) until the worker is taken or
        has begun (then it sees the cancel itself)."""
        if self._job is not job or job.started or job.handled:
            return False
        if not take_from_pool(worker):
            if tries > 0:
                from qtpy.QtCore import QTimer

                QTimer.singleShot(20, lambda: self._take_queued(job, worker, tries - 1))
            return False
        self.status.value = "Cancelling..."
        worker.quit()  # it will never run: end it here, as superqt ends a worker
        worker._gen.close()  # (never started: nothing runs, the arguments it holds are let go)
        worker.aborted.emit()
        worker.finished.emit()
        worker._finished.emit(worker)  # (superqt forgets the worker on this one)
        return True

    def _set_running(self, running: bool) -> None:
        self.run_button.text = "Cancel" if running else "Run"
        self._ungrey_button()
        options = (self.frames, self.sequence_axis, *self.task_options.values(), self.iterations, self.max_size)
        for w in (*self.pickers.values(), *options, self.device, self.precision, self.seed):
            w.enabled = not running
        # a run started without previews computes none: raising it meanwhile could not show any
        self.preview_every.enabled = not running or int(self.preview_every.value) > 0
        if running:
            self.progress.value = 0
        else:
            if self._inputs_changed:  # an input got data of another shape during the run: its choices follow now
                self._inputs_changed = False
                self.reset_choices()
            self._update_frames()  # an input picked during the run (the last one removed): its presets now
            added, self._added_during_run = self._added_during_run, []
            for layer in added:  # (see _on_inserted)
                if any(layer is other for other in self.viewer.layers):
                    self._on_inserted(layer, queued=True)
            self._update_needs()

    def _watch_marks(self, _value: Any = None) -> None:
        """Follow the painting of the layers that ``Option.unused_when`` looks at (a scribbles layer that marks
        nothing yet does not make an option unused), then update the options."""
        watched = self._watched
        for option in self.spec.options:
            if not option.unused_when:
                continue
            layer, old = self.pickers[option.unused_when[0]].value, watched.get(option.name)
            if old is not None and not same_layer(old, layer):
                for name in ("paint", "data"):
                    try:
                        getattr(old.events, name).disconnect(self._marks_changed)
                    except (AttributeError, RuntimeError, TypeError, ValueError):
                        pass
            if layer is not None and (old is None or not same_layer(old, layer)):
                for name in ("paint", "data"):
                    if hasattr(layer.events, name):
                        getattr(layer.events, name).connect(self._marks_changed)
            watched[option.name] = layer
        self._update_needs()

    def _marks_changed(self, _event: Any = None) -> None:
        # (napari emits a stroke's paint event before it writes the stroke into the data: look after it)
        from qtpy.QtCore import QTimer

        def later() -> None:
            try:
                self._update_needs()
            except RuntimeError:  # pragma: no cover - the widget was closed meanwhile
                pass

        QTimer.singleShot(0, later)

    def _update_needs(self, _value: Any = None) -> None:
        """Enable the options that are about an optional input (``Option.needs``) only while it is chosen, and
        those that would do nothing (``Option.unused_when``) only while they would act."""
        if self.worker is not None:
            return
        for option in self.spec.options:
            if option.needs:
                self.task_options[option.name].enabled = self.pickers[option.needs].value is not None
            if option.unused_when:
                given, switch = option.unused_when
                layer = self.pickers[given].value
                unused = layer is not None and not self.task_options[switch].value and self._marks_read(layer)
                self.task_options[option.name].enabled = not unused

    def _marks_read(self, layer: Any) -> bool:
        """Whether the scribbles a run would read now mark anything (1 or 2): for the current frame of a stack,
        those at the slider (a run there uses the automatic hints where its frame has none, so they must stay
        choosable: they were greyed out for marks on any frame); elsewhere any in the layer (:func:`_marks`)."""
        if not _marks(layer):
            return False
        data, sources = layer.data, self._sources()
        if (
            self.frames.value != CURRENT_FRAME
            or not sources
            or not isinstance(data, np.ndarray)
            or data.ndim <= 2
            or data.size > _LABELS_CHECK_PIXELS
        ):
            return True
        try:
            index = current_frame(sources[0], self.viewer) if stack_axes(sources[0]) else None
            read = read_labels(layer, sources[0], self.viewer, index=index)
        except Exception:  # (what a run would refuse, e.g. scribbles on fewer frames: the run says why)
            return True
        return bool(np.isin(read, (1, 2)).any())

    # --- worker signals (main thread) ---------------------------------------------------------------------------

    def _on_progress(self, p: Any) -> None:
        job = self._job
        if job is None or job.failed:  # (reports queued before a failed preview stopped the run: its bar is reset)
            return
        stage = getattr(p, "stage", None)  # a set-up step (e.g. the automatic hints of a long stack)
        busy = bool(stage) and int(p.total) <= 1 and int(p.iteration) == 0
        if busy:
            self._progress_busy()  # (a step without iterations, e.g. loading the input: not "0 / 1")
        else:
            self.progress.max = max(int(p.total), 1)
            self.progress.value = int(p.iteration)
            self.progress.native.setTextVisible(True)
        frame = getattr(p, "frame", None)  # (index, count) of a stack run frame by frame
        if not stage and job.pace_from is None:
            job.pace_from = (int(p.iteration), float(p.elapsed))
        if not job.cancelled:
            where = f"frame {frame[0]} (of {frame[1]})  " if frame else ""
            self.status.value = (
                f"{stage} ({p.elapsed:.0f} s)"
                if stage
                else f"{where}iteration {p.iteration}/{p.total}  loss {p.loss:.4g}  "
                f"({p.elapsed:.0f} s{time_left(p, job.pace_from)})"
            )
        every = int(self.preview_every.value)
        now = time.monotonic()
        due = p.iteration - job.last_preview_it >= every and now - job.last_preview_t >= MIN_PREVIEW_SECONDS
        if p.preview and every > 0 and due and not job.cancelled:
            job.last_preview_it, job.last_preview_t = p.iteration, now
            meta = {**self._run_metadata(job), "preview": True, "iteration": int(p.iteration)}
            try:
                made = len(job.outputs.created)
                for out in job.mode.outputs:
                    if len(job.outputs.created) > made:
                        # One new layer per preview: napari's add_image holds the GUI 0.2-0.6 s a layer (a
                        # three-layer first preview froze it 1.5-1.9 s); the others come with the next previews,
                        # and the result writes every one.
                        break
                    if out.preview is not None and out.preview in p.preview:
                        self._write(job, out, p.preview[out.preview], meta, preview=True)
            except Exception as exc:  # as for the result's: stop the run, undo its layers, and say so
                job.cancelled = job.failed = True
                if self.worker is not None:
                    self.worker.quit()
                job.outputs.rollback()
                self._notify_error(exc)
                return
            self._tell_replaced(job)
        if job.activity is not None:  # last: napari's bar processes Qt events (later reports may run inside)
            # (as the panel's bar: a step without iterations, e.g. loading PyTorch, shows busy, not "0 of 1")
            if busy:
                job.activity.update(0, 0)
            else:
                job.activity.update(int(p.iteration), max(int(p.total), 1))

    def _tell_replaced(self, job: Job) -> None:
        """Say once per run, as soon as it happens, that this frame's results replace another frame's."""
        if job.told_replaced or not job.outputs.replaced:
            return
        job.told_replaced = True
        earlier = sorted({frame for _, frame in job.outputs.replaced})
        show_warning(
            f"{self.spec.title}: this frame's results replace those of frame(s) "
            f"{_layers.list_frames(earlier)}: a stack of every frame's results would exceed "
            f"{_layers.STACK_LIMIT_BYTES / 2**30:g} GiB, so one frame is kept at a time (Cancel gives them back, "
            "unless it keeps the partial result; save the results you need first)"
        )

    def _on_result(self, result: Any) -> None:
        job = self._job
        if job is None or job.failed or job.handled:
            return
        job.handled = True
        stopped_at_once = getattr(result, "stopped", False) and getattr(result, "iterations", 1) == 0
        nothing_done = result is None or stopped_at_once  # (None: stopped while the input loaded)
        if (job.cancelled and not job.keep) or nothing_done:
            # Cancel pressed after the last report (the user asked for no layers), or stopped before the first
            # step (the "result" would be untrained networks): clean up as for any cancel.
            self._end_cancelled(job)
            return
        try:
            meta = {**self._run_metadata(job), **result_metadata(result, job.mode)}
            written: list[str] = []
            top: list[str] = []  # the parts to see, raised last (Output.on_top)
            for out in job.mode.outputs:
                value = out.value(result)
                if value is not None:
                    (top if out.on_top else written).extend(self._write(job, out, value, meta, preview=False))
            others, written = written, written + top
            job.outputs.drop_created_except(written)  # preview-only parts with no final value
            job.outputs.raise_created(written, above=job.sources)
            job.outputs.keep_over(top, others)
            job.outputs.activate_top(written)
            self._tell_replaced(job)
            tell_moved_inputs(self.spec.title, job)
            tell_reshaped(self.spec.title, job)
            tell_stale(self.spec.title, job)
            tell_other_slice(self.spec.title, job)
            tell_other_inputs(self.spec.title, job)
            tell_kept_earlier(self.spec.title, job)
            tell_painted(self.spec.title, job)
            if job.painted_inputs:
                show_info(
                    f"{self.spec.title}: {', '.join(map(repr, job.painted_inputs))} was painted on during the "
                    "run, which read its marks at Run: Run again to use the new ones"
                )
            if job.edited_inputs:
                show_info(
                    f"{self.spec.title}: {', '.join(map(repr, job.edited_inputs))} was edited during the run, "
                    "which read its shapes at Run: Run again to use the new ones"
                )
            tell_replaced_data(self.spec.title, job)
            note = ""
            if getattr(result, "stopped", False):  # (Cancel with *keep partial result on cancel*, or stop=)
                note = " (cancelled: the best result so far kept)" if job.cancelled else " (stopped early)"
            if note:
                self.progress.value = min(int(getattr(result, "iterations", 0)), self.progress.max)
            planned = planned_iterations(getattr(result, "params", None) or {})
            ran = getattr(result, "iterations", planned)
            if not note:
                # (a stack run frame by frame counts the frames to come at the largest budget so far: its total
                # may have been an over-estimate)
                self.progress.value = self.progress.max
            if not note and planned and isinstance(ran, int) and ran < planned:
                note = f" (converged before the planned {planned})"  # e.g. segmentation's settled mask
            self.status.value = (
                f"Done{note}: {iterations_text(getattr(result, 'iterations', '?'))}{over_frames(result)}, "
                # (the result's reconstruction term, not the running total the status showed while it ran)
                f"reconstruction loss {getattr(result, 'final_loss', float('nan')):.4g}, "
                f"{getattr(result, 'elapsed', 0):.1f} s on {getattr(result, 'device', '?')}"
                + (" in bfloat16" if getattr(result, "precision", None) == "bfloat16" else "")
                + result_summary(self.spec, result, [job.outputs.source_name(src) for src in job.sources])
                + (f"; the {' and '.join(job.outputs.hidden)} layers start hidden (their eye in the layer list)"
                   if job.outputs.hidden else "")
                + _added_into(job)
            )
        except Exception as exc:  # writing layers failed: undo, and say so
            job.outputs.rollback()
            self._notify_error(exc)

    def _on_error(self, exc: BaseException) -> None:
        if self._job is not None:
            self._job.handled = True
            self._job.outputs.rollback()
        self._notify_error(exc)

    def _on_warning(self, args: tuple) -> None:
        """A warning caught while the worker runs (``warnings.showwarning``'s arguments): the library's own
        are shown as this widget's; any other (superqt catches every thread's warnings while a worker runs) goes
        to napari's usual handling, as its own relay would have done."""
        message, category, filename = (tuple(args) + (None, None, None))[:3]
        if from_package(filename) and isinstance(category, type) and issubclass(category, UserWarning):
            show_warning(f"{self.spec.title}: {panel_words(str(message))}")
            return
        from napari.utils.notifications import notification_manager

        try:
            notification_manager.receive_warning(*args)
        except Exception:  # pragma: no cover - napari's signature changed: do not lose the message
            show_warning(str(message))

    def _on_aborted(self) -> None:
        job = self._job
        if job is not None and not job.handled:  # (a closed panel's run: settled when the panel closed)
            self._end_cancelled(job)

    def _end_cancelled(self, job: Job) -> None:
        """A cancelled run's end: undo its layers, or mark the kept previews as stopped."""
        if job.failed:  # (a failed preview: undone and told already)
            return
        job.handled = True
        keep = job.keep
        if keep is None:
            try:
                keep = self.keep_partial.value
            except RuntimeError:  # the panel's Qt widgets were deleted: the layers are still settled below
                keep = False
        kept = bool(keep and job.outputs.touched)
        if kept:
            asked = asked_settings(job.kwargs)
            for layer in job.outputs.touched.values():
                meta = layer.metadata
                if "params" not in meta:  # a preview (the run went without a result): what it was asked for
                    # (device and precision as chosen, e.g. "auto", only there: the run did not say what it used)
                    reached = meta.get("iteration")
                    meta = {**meta, "params": asked, "seed": asked.get("seed"), "iterations": reached}
                    if job.mode.frame_by_frame:  # frames not reached keep an earlier run's results, as on Cancel
                        meta = job.outputs.keep_unreached_preview(layer, meta, job.sources[0])
                layer.metadata = {**meta, "stopped": True}
            job.outputs.stop_watching()
            job.outputs.activate_top(list(job.outputs.touched))
        else:
            job.outputs.rollback()
        try:
            self.status.value = "Cancelled: the last preview was kept." if kept else "Cancelled."
            if not kept:
                self._progress_idle()
        except RuntimeError:  # (the panel's Qt widgets were deleted, e.g. its dock removed and the panel dropped)
            pass

    def _on_finished(self) -> None:
        job = self._job
        if job is not None and job.cancelled and not job.handled:
            # superqt emits neither `returned` nor `aborted` when quit() lands during the generator's last step
            # (the final evaluation at full size): clean up as for any cancel.
            try:
                self._on_aborted()
            except RuntimeError:  # the widget was closed during the run
                pass
            except Exception as exc:  # (undoing failed: say so, and still give the panel back below)
                self._notify_error(exc)
        self.worker, self._job = None, None
        if job is not None:
            job.let_go()
        active = self.viewer.layers.selection.active
        # the layer napari made active by adding this run's outputs (not one the user chose): see _starting_layer
        if active is not None and _is_result(active):
            _AFTER_RUN[_viewer_key(self.viewer)] = (active.name, id(active.data))
        else:
            _AFTER_RUN.pop(_viewer_key(self.viewer), None)
        try:
            self._set_running(False)
            if self.device.available is None and "torch" in sys.modules:
                # (in the background while a cancelled first run's import goes on: not waited for here)
                self.device.probe_in_background()
        except RuntimeError:  # the widget was closed during the run
            pass
        if job is not None and job.activity is not None:  # last (it processes Qt events)
            job.activity.close()

    def _on_parent_changed(self, parent: Any) -> None:
        """The dock's close button removes the dock and leaves this widget without a parent; the Plugins menu
        then opens a new widget. A run of this one could no longer be seen or cancelled, and would overwrite a
        newer run's layers when it ends: it is cancelled, and settled at once: its layers undone (or, with *keep
        partial result*, its last preview kept: a run finishing later with its best result wrote it over the
        reopened panel's newer result). Hiding the dock (its title bar's hide button, or its Plugins menu entry
        again) keeps the parent: the run goes on."""
        if not getattr(self, "_following_layers", False):  # during __init__
            return
        if parent is None:
            if self.worker is not None:
                self._cancel(finish=False)
                if self._job is not None and self._job.control.stop.is_set():
                    self.worker.quit()  # (a Cancel that was finishing with the best result: the panel went)
                job = self._job
                if job is not None and job.cancelled and not job.handled:
                    # Settled now, not when the worker next reports (after a long step, e.g. the full-size
                    # finish): by then a run of the reopened panel may have written into these layers. (Right
                    # after this event, not in it: removing layers while Qt re-parents the dock crashed later.)
                    from qtpy.QtCore import QTimer

                    QTimer.singleShot(0, lambda: None if job.handled else self._end_cancelled(job))
            # A removed widget no longer follows the layer list (each close and reopen left one more doing so);
            # napari's own reset_choices connections (made when it docked the widget) go too.
            if self._disconnect_layer_events is not None:
                self._disconnect_layer_events()
                self._disconnect_layer_events = None
                events = self.viewer.layers.events
                for name in ("inserted", "removed", "reordered", "renamed"):
                    try:
                        getattr(events, name).disconnect(self.reset_choices)
                    except (AttributeError, RuntimeError, TypeError, ValueError):
                        pass
        elif self._disconnect_layer_events is None:
            self._connect_layer_events()  # docked again (e.g. by a script)
            self.reset_choices()

    def _on_closed_undocked(self) -> None:
        """A panel a script made and closed without docking it (``panel.native.close()``) stops following the
        layer list, as a closed dock's does: it stayed connected for the viewer's life, re-reading its choices
        at every layer event. Its run, if one goes, goes on (as in a hidden dock). A docked panel's close goes
        through its dock (:meth:`_on_parent_changed`)."""
        if self.native.parentWidget() is None and self._disconnect_layer_events is not None:
            self._disconnect_layer_events()
            self._disconnect_layer_events = None

    def _on_shown_undocked(self) -> None:
        """Shown again undocked: it follows the layer list again."""
        if self.native.parentWidget() is None and self._disconnect_layer_events is None:
            self._connect_layer_events()
            self.reset_choices()

    def _on_destroyed(self, *_args: Any) -> None:
        """The Qt widget is being deleted (e.g. the viewer closes) mid-run: stop the worker, undo its layers."""
        # Every step guarded: an exception escaping a slot aborts a script's process (PyQt's default); at
        # interpreter exit the worker's signals object may already be deleted, and run from the garbage
        # collector this object's attributes may already be cleared (getattr).
        worker, job = getattr(self, "worker", None), getattr(self, "_job", None)
        self.worker, self._job = None, None
        if worker is not None:
            with contextlib.suppress(RuntimeError):
                worker.quit()  # (first: it only sets a flag the worker reads at its next step)
            for name, slot in (
                ("yielded", self._on_progress), ("returned", self._on_result), ("errored", self._on_error),
                ("warned", self._on_warning), ("aborted", self._on_aborted), ("finished", self._on_finished),
            ):
                with contextlib.suppress(RuntimeError, TypeError, AttributeError):
                    getattr(worker, name).disconnect(slot)
        if job is None:
            return
        with contextlib.suppress(RuntimeError):
            job.let_go()
        if worker is not None:
            with contextlib.suppress(RuntimeError):
                if job.activity is not None:
                    job.activity.close()
            with contextlib.suppress(RuntimeError):
                job.outputs.rollback(reinsert=False)  # (the viewer is going: nothing to put back into it)

    def _progress_idle(self) -> None:
        """An empty bar without text: no run, or one that left nothing (refused, failed, cancelled)."""
        self.progress.max, self.progress.value = 1, 0
        self.progress.native.setTextVisible(False)

    def _progress_busy(self) -> None:
        """Qt's busy bar (a range of 0): a run that has not yet said how many iterations it plans."""
        self.progress.max, self.progress.value = 0, 0
        self.progress.native.setTextVisible(False)

    def _notify_error(self, exc: BaseException) -> None:
        what = describe_error(exc)
        message = f"{self.spec.title}: {what}"
        try:
            self.status.value = f"Error: {what}"
            self._progress_idle()
        except RuntimeError:  # pragma: no cover - widget closed
            pass
        # napari's error notification keeps the traceback (its "View traceback" button), which a bug report
        # needs; the message is this widget's. napari keeps every notification for the session: the frames'
        # local variables (a failed run's tensors and input, on the GPU too) are dropped first. An input check
        # of this package (a bad box, a typo in the airlight) is the user's to fix: its message alone.
        from napari.utils.notifications import ErrorNotification, notification_manager, show_error

        drop_locals(exc)
        if is_input_check(exc):
            show_error(message)
            return
        notification = ErrorNotification(exc)
        notification.message = message
        notification_manager.dispatch(notification)

    # --- outputs ------------------------------------------------------------------------------------------------

    def _run_metadata(self, job: Job) -> dict[str, Any]:
        meta = {
            "function": job.function,
            "mode": job.mode.label or "image",
            "inputs": [job.outputs.source_name(s) for s in job.sources],
            "input_ids": [source_id(s) for s in job.sources],  # (the same inputs, renamed since, are no others)
            "frame": list(job.frame) if job.frame is not None else None,
        }
        if getattr(job.sources[0], "multiscale", False):  # results at that level's resolution
            meta["level"] = read_level(job.sources[0])
        if job.channels:  # (more channels: each read within these contrast limits, its results clipped to them)
            meta["channel_limits"] = [[float(lo), float(hi)] for lo, hi in job.channels]
        return meta

    def _write(self, job: Job, out: Output, value: Any, meta: dict[str, Any], *, preview: bool) -> list[str]:
        """Write one output (one layer, or one per input); returns the layer names written."""
        if out.per_input and job.channels:  # one layer per channel, back in its units
            value = np.asarray(value)
            pieces = [(value[..., c] * (hi - lo) + lo).astype(np.float32)
                      for c, (lo, hi) in enumerate(job.channels)]
        else:
            pieces = _split(value, len(job.sources)) if out.per_input else [value]
        names = []
        full = job.full
        indices = job.frames or [job.frame] * len(job.sources)
        digests = job.digests or [None] * len(job.sources)
        for source, index, data, lead, digest in zip(job.sources, indices, pieces, job.leads, digests):
            data = np.asarray(data)
            name = job.outputs.output_name(source, out.part)
            # several inputs may be read at different frames (or be plain images): record each one's
            own = {**meta, "frame": list(index) if index is not None else None}
            if digest:  # what the frames were: a frame run later tells results of data changed since
                own["digests"] = digest
            zoom = _zoom(data, full, source) if preview else ()
            offset: tuple[int, ...] = ()
            spatial = data.ndim - (1 if is_rgb(data, source) else 0)
            if index is not None and lead and spatial == 2 and None not in index:
                frame = (*full, *data.shape[2:]) if spatial < data.ndim else tuple(full)
                target = job.outputs.stack_target(name, out.part, source, index, lead, frame, kind=out.kind)
                if target is not None:  # results of several frames accumulate in one stack layer
                    if zoom:
                        data = to_frame(data, full, out.kind)
                    job.outputs.write_frame(
                        target, name, out.part, data, index=index, lead=lead, source=source, metadata=own,
                        kind=out.kind,
                    )
                    names.append(name)
                    continue
            if index is not None and lead:
                data, offset = _place(data, spatial, index, lead)
            # A part shared by several inputs (two mixtures' layers, a set's watermark) starts with the first
            # input's contrast limits: widened to its values, which the others' ranges may have made
            # (mixtures of 0-1000 and 0-4000 gave a layer all above the first one's limits, flat white)
            shared = len(job.sources) > 1 and not out.per_input and not job.channels
            job.outputs.write(
                name, out.part, data, kind=out.kind, source=source, metadata=own, zoom=zoom, offset=offset,
                cover=out.cover or shared,
                hidden=out.hidden or (out.aside and in_overlay(self.viewer, source)),
            )
            names.append(name)
        return names


def _added_into(job: Job) -> str:
    """For the status line: results that add into their input, a shown channel of an additive overlay (napari's
    ``channel_axis``: its results are additive so as not to cover the other channels), shown or once shown."""

    def listed(items: list[str]) -> str:
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"

    def grouped(found: list[tuple[str, Any]]) -> str:
        by_input: dict[str, list[str]] = {}
        for name, source in found:
            by_input.setdefault(job.outputs.source_name(source), []).append(repr(name))
        said = []
        for i, (source, layers) in enumerate(by_input.items()):
            verb = "" if i else ("adds " if len(layers) == 1 else "add ")
            said.append(f"{listed(layers)} {verb}into {source!r}")
        return ", ".join(said)

    text = ""
    shown, hidden = job.outputs.added_into(True), job.outputs.added_into(False)
    if shown:
        them = "it" if len({id(s) for _, s in shown}) == 1 else "them"
        text += f"; {grouped(shown)} in the channel overlay: hide {them} to see the result alone"
    if hidden:
        text += f"; shown, {grouped(hidden)} in the channel overlay"
    return text


#: Per task (panel title), the options as the user last set them in any of its panels in this process
#: (:meth:`TaskWidget._remember_options`).
_REMEMBERED: dict[str, dict[str, Any]] = {}


#: Per viewer (:func:`_viewer_key`), ``(name, id(data))`` of the output napari made active at the end of its
#: last run (napari activates the last layer added), until another layer is made active there; shared by the
#: widgets (another widget opened next starts at that run's input, :meth:`TaskWidget._starting_layer`).
_AFTER_RUN: dict[int, tuple[str, int]] = {}


#: Panels that started a run in this process (held weakly): runs still going when Python exits are stopped.
_RUNNING: weakref.WeakSet[TaskWidget] = weakref.WeakSet()


def _stop_runs_at_exit(wait_ms: int = 5000) -> None:
    """At interpreter exit, stop the runs still going and give their threads a moment to end.

    A script that ends while runs go has Python delete the Qt objects under running workers: with two at once,
    superqt's process-wide warnings hook raised in a worker thread and aborted the process (exit code 134, in
    2 of 3 tries; two plain napari workers do the same without this plugin, 4 of 4)."""
    stopping = False
    for panel in list(_RUNNING):
        worker, job = getattr(panel, "worker", None), getattr(panel, "_job", None)
        if worker is None:
            continue
        if job is not None:
            job.control.stop.set()
        with contextlib.suppress(RuntimeError):
            worker.quit()
        stopping = True
    if stopping:
        from qtpy.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone(wait_ms)


atexit.register(_stop_runs_at_exit)


#: Labels layers up to this many pixels are read in the GUI thread to tell whether they hold scribbles
#: (:func:`_marks`, :func:`_scribbled`); larger or lazy ones are not.
_LABELS_CHECK_PIXELS = 2**24


def _marks(layer: Any) -> bool:
    """Whether a Labels layer holds any 1 or 2 (a scribble); assumed so for lazy or very large data (not read
    on every stroke)."""
    data = layer.data
    if not isinstance(data, np.ndarray) or data.size > _LABELS_CHECK_PIXELS:
        return True
    return bool(np.isin(data, (1, 2)).any())


def _viewer_key(viewer: Any) -> int:
    """The same key for every widget's reference to one viewer (a plugin's viewer is a proxy per widget)."""
    return id(getattr(viewer, "__wrapped__", viewer))


def _shares_memory(array: Any, layer: Any) -> bool:
    """Whether ``array`` may be a view of ``layer``'s (numpy) data, of any level of a multiscale layer."""
    levels = layer.data if getattr(layer, "multiscale", False) else [layer.data]
    return isinstance(array, np.ndarray) and any(
        isinstance(level, np.ndarray) and np.may_share_memory(array, level) for level in levels
    )


def _shape_key(layer: Any) -> Any:
    """The shape of a layer's data (of each level of a multiscale layer), to tell new data of a new shape."""
    data = layer.data
    if getattr(layer, "multiscale", False):
        return tuple(tuple(level.shape) for level in data)
    return tuple(getattr(data, "shape", ()))


def _as_list(value: Any) -> list[Any]:
    """A picker's value as a list of layers (a Select's list, or a ComboBox's layer or ``None``)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [] if value is None else [value]


def _result_kind(layer: Any) -> tuple[Any, Any] | None:
    """``(task, part)`` of a run's output (its preview too), ``None`` for the user's own layers."""
    md = getattr(layer, "metadata", None) or {}
    return (md["task"], md["part"]) if _is_result(layer) else None


def _channels_last(layer: Any, shape: tuple[int, ...]) -> str | None:
    """Whether a non-RGB layer looks like channels-last data that napari reads as a stack of thin frames:
    ``"refuse"`` where the frames could not be decomposed anyway (at most 4 columns: colour or a few channels;
    fewer than the library's 8), ``"warn"`` where they could but may well not be frames (a (Y, X, C) spectral
    image: C up to 32 columns against at least 8 times as many rows; a narrow (Z, Y, X) stack, e.g. a
    kymograph or a trench crop, looks the same and runs), else ``None``."""
    if getattr(layer, "rgb", False) or len(shape) < 3:
        return None
    if shape[-1] < 8:
        return "refuse"
    if shape[-1] <= 32 and shape[-2] >= 8 * shape[-1]:
        return "warn"
    return None


def _marked_elsewhere(layer: Any, read: np.ndarray, max_size: int = 10**8) -> str:
    """For labels read at the current frame that mark nothing there: the frames of the layer's own leading
    axes that do mark something (1 or 2), as text (``"frame 2"``, ``"frames 2, 5"``), else ``""``. Only for an
    in-memory layer of moderate size (this runs in the GUI thread)."""
    data = layer.data
    if (
        not isinstance(data, np.ndarray)
        or data.ndim <= 2
        or data.size > max_size
        or getattr(layer, "multiscale", False)
        or np.isin(read, (1, 2)).any()
        or not data.any()  # (an empty layer, e.g. one just added to paint in: one cheap pass)
    ):
        return ""
    marked = np.isin(data, (1, 2)).any(axis=(-2, -1))
    where = [tuple(int(i) for i in ix) for ix in np.argwhere(marked)]
    if not where:
        return ""
    names = [str(w[0]) if len(w) == 1 else str(w) for w in where[:5]]
    more = f" and {len(where) - 5} more" if len(where) > 5 else ""
    return ("frame " if len(where) == 1 else "frames ") + ", ".join(names) + more


def _frame_label(index: tuple[int | None, ...] | None) -> str:
    if index is None:
        return "the image"
    return f"frame {index[0]}" if len(index) == 1 else f"frame {tuple(index)}"


def _fresh_labels(layer: Any, sources: list[Any], empty: bool = True) -> bool:
    """An empty in-memory Labels layer spanning the image (what napari's "new labels" button makes to paint on),
    not a segmentation from a file or another plugin; never loads lazy data (this runs in the GUI thread).
    ``empty=False``: one that fits the image, painted or not (a layer that was fresh when added)."""
    if len(sources) != 1 or not isinstance(layer, napari.layers.Labels) or getattr(layer, "multiscale", False):
        return False
    data = layer.data
    if not isinstance(data, np.ndarray) or data.shape[-2:] not in (
        frame_shape(sources[0]), full_frame_shape(sources[0])
    ):
        return False
    return not empty or not bool(data.any())


def _sample_of(layer: Any) -> str | None:
    """The opening of a bundled sample a layer came from (``metadata[SAMPLE_KEY]``), if any."""
    return layer.metadata.get(SAMPLE_KEY)


def _names_text(layers: list[Any], quote: bool = True) -> str:
    """The inputs of a run for a status line: up to three names, else the first and how many."""
    names = [repr(layer.name) if quote else layer.name for layer in layers]
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} and {len(names) - 1} more layers"


def _picked(value: Any) -> list[Any]:
    """A picker's value as a list of layers (a multiple picker's, one layer, or none)."""
    return [c for c in (value if isinstance(value, (list, tuple)) else [value]) if c is not None]


def _scribbled(layer: Any) -> bool:
    """Whether a Labels layer holds scribbles: painted, with labels 1 and 2 only; in memory, not a result of
    this package, and small enough to look at in the GUI thread (:data:`_LABELS_CHECK_PIXELS`)."""
    data = layer.data
    if (
        "part" in layer.metadata or getattr(layer, "multiscale", False) or not isinstance(data, np.ndarray)
        or data.size > _LABELS_CHECK_PIXELS or data.size == 0
    ):
        return False
    return bool(data.any()) and int(data.min()) >= 0 and int(data.max()) <= 2


def _sample_set(layer: Any) -> str | None:
    """The bundled multi-image sample a layer belongs to (``metadata["sample_set"]``), if any."""
    return layer.metadata.get("sample_set")


def _frames_meet(layer: Any, image: Any, viewer: Any = None) -> bool:
    """Whether each frame of ``image`` lies on one of ``layer``'s (on the leading axes they share; e.g. scribbles
    every 1 um over a stack every 2 um), so that the frame napari shows over it is one of the layer's."""
    k = min(layer.ndim, image.ndim) - 2
    if k <= 0 or layer.ndim > image.ndim:
        return True
    units = _layers.unit_factors(image, layer, image.ndim, viewer)

    def at(p: np.ndarray) -> np.ndarray:  # image data point -> the layer's data coordinates on those axes
        world = np.asarray(image.data_to_world(p), dtype=float) * units
        return np.asarray(layer.world_to_data(world[-layer.ndim:]), dtype=float)[-(k + 2):-2]

    origin = np.zeros(image.ndim)
    steps = np.eye(image.ndim)[image.ndim - 2 - k : image.ndim - 2]
    return all(np.allclose(q, np.round(q), rtol=0, atol=1e-3) for q in [at(origin), *(at(e) for e in steps)])


def _aligned(layer: Any, image: Any, within: bool = True, last: int | None = None, viewer: Any = None) -> bool:
    """Whether two layers' pixels meet on the axes they share (the trailing ones: Y, X and any frame axes; with
    ``last``, the last ``last`` of them only, e.g. 2: the planes).

    Their data-to-world transforms (scale, translate, rotate, shear, affine) must agree there, except that a
    layer may start a whole number of frames into the image along a frame axis, its frames (with ``within``)
    within the image's (a mask placed on the frame it was computed from, or a few frames collected from a
    longer stack).
    """
    n = min(layer.ndim, image.ndim) if last is None else min(layer.ndim, image.ndim, last)
    # a layer at the level a multiscale image is read at (an earlier run's mask) lines up with its averaged pixels
    zoom = np.ones(n)
    read, full = frame_shape(image), full_frame_shape(image)
    if read != full and not getattr(layer, "multiscale", False) and tuple(layer.data.shape[-2:]) == read:
        zoom[-2:] = level_zoom(image)
    # within a thousandth of the image's smallest pixel (world units may be metres: scales of 1e-7)
    tol = 1e-3 * float(np.abs(np.asarray(image.scale, dtype=float)[-n:]).min())

    units = _layers.unit_factors(layer, image, n, viewer)  # (the layer's world points in the image's units)

    def pair(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # world points of data point p (shared axes)
        a = np.asarray(layer.data_to_world(np.concatenate([np.zeros(layer.ndim - n), p])), dtype=float)
        a[-n:] = a[-n:] * units
        q = p * zoom + (zoom - 1) / 2
        b = np.asarray(image.data_to_world(np.concatenate([np.zeros(image.ndim - n), q])), dtype=float)
        return a[-n:], b[-n:]

    a0, b0 = pair(np.zeros(n))
    for p in 10.0 * np.eye(n):  # a step along each shared axis: the same scale, rotation, shear
        a, b = pair(p)
        if not np.allclose(a - a0, b - b0, rtol=0, atol=tol):
            return False
    # the layer's origin in the image's data coordinates: on Y, X the image's; on frame axes a whole frame in
    world = np.asarray(image.data_to_world(np.zeros(image.ndim)), dtype=float)
    world[-n:] = a0
    offset = np.asarray(image.world_to_data(world), dtype=float)[-n:] - (zoom - 1) / 2
    if not np.allclose(offset[-2:], 0, rtol=0, atol=1e-3):
        return False
    frames, start = offset[:-2], np.round(offset[:-2])
    lengths = [np.asarray(layer_array_shape(x)[: x.ndim][-n:-2]) for x in (layer, image)]  # (no RGB axis)
    inside = (start >= 0) & (start + lengths[0] <= lengths[1])
    return bool(np.allclose(frames, start, rtol=0, atol=1e-3) and (inside.all() or not within))


def _place(
    data: np.ndarray, spatial: int, frame: tuple[int | None, ...], lead: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Put a result read from a stack back where it came from (``frame``: what ``read_image`` returned,
    ``lead``: the source layer's leading axis lengths).

    A sequence ``(T, Y, X)`` through a multi-axis stack gets its other leading axes back (length 1, offset to
    the slice); a single frame ``(Y, X)`` gets all of them, so that it shows on its own frame only, not on every
    slider position. A single frame of a whole-stack run (e.g. the static layer) belongs to every frame of the
    sequence at the slice it was read from: with the sequence as the first axis it is placed on the axes after
    it (napari then shows it at every position of the sequence axis), otherwise it is repeated along the
    sequence axis.
    """
    if spatial == 3 and None in frame:
        return place_in_stack(data, frame)
    if spatial == 2 and None not in frame:
        return place_in_stack(data, frame)
    if spatial == 2 and frame.count(None) == 1 and len(frame) > 1:
        axis = frame.index(None)
        if axis == 0:
            return place_in_stack(data, frame[1:])
        return place_in_stack(np.broadcast_to(data, (lead[axis], *data.shape)), frame)
    return data, ()


def _split(value: Any, n: int) -> list[Any]:
    """One array per input when the value holds one per input along its first axis, else the value once."""
    if n == 1:
        return [value]
    if isinstance(value, (list, tuple)) and len(value) == n:
        return list(value)
    arr = np.asarray(value)
    return [arr[i] for i in range(n)] if arr.ndim >= 3 and arr.shape[0] == n else [value]


def _zoom(data: np.ndarray, full: tuple[int, int], source: Any) -> tuple[float, ...]:
    """Per-axis enlargement of a working-size preview to the frame size (``()`` when already full size)."""
    hw = data.shape[-3:-1] if is_rgb(data, source) else data.shape[-2:]
    if tuple(hw) == tuple(full) or min(hw) == 0:
        return ()
    return (full[0] / hw[0], full[1] / hw[1])


