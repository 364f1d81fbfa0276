"""One run of a panel: its bookkeeping (:class:`Job`), its entry in napari's activity dock, the worker that
drives the library's generator, and what the panel says about it (notes, errors, the time left, the result's
metadata). Used by :class:`._base.TaskWidget`; kept apart from the panel's layout and inputs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from napari.qt.threading import GeneratorWorker
from napari.utils.notifications import show_info, show_warning
from napari.utils.progress import cancelable_progress

from .._validation import _PACKAGE_DIR
from . import _layers
from ._layers import (
    OutputLayers,
    frame_digests,
    frame_shape,
    index_text,
    layer_array_shape,
    release_arrays,
    same_layer,
    stack_axes,
)
from ._spec import Mode
from ._worker import Control, TaskError


#: The activity dock's bar is redrawn at most this often (each redraw processes Qt events: see Activity).
ACTIVITY_SECONDS = 0.1


class ClosingWorker(GeneratorWorker):
    """A generator worker that closes its generator when it ends, in its own thread.

    superqt's ``quit()`` stops driving the generator but leaves it suspended: a cancelled run's networks,
    optimiser state and input copies stayed reachable from the worker, which napari's task list keeps for the
    session (every Cancel leaked a run). Closing it here also runs the run's ``finally`` blocks (thread count,
    context variables) in the thread that set them, not in the GUI thread whenever the worker is collected.
    """

    def work(self) -> Any:
        try:
            return super().work()
        finally:
            try:
                self._gen.close()  # (a no-op for a generator that returned or raised)
            except Exception:
                if not self.abort_requested:
                    raise
                # a cancelled run's clean-up failing is no error of the user's run: logged, not shown
                logging.getLogger(__name__).exception("napari-doubledip: cleaning up a cancelled run failed")


@dataclass
class Job:
    """One run: what was read from the viewer, what is called, and the layers written so far."""

    mode: Mode
    sources: list[Any]
    frame: tuple[int | None, ...] | None  # leading-axis index read (None at a whole stack's sequence axis)
    function: str
    args: tuple
    kwargs: dict[str, Any]
    outputs: OutputLayers
    #: The index read from each source (``None`` for a 2D layer): results go back where they came from.
    frames: list[tuple[int | None, ...] | None] = field(default_factory=list)
    control: Control = field(default_factory=Control)
    last_preview_it: int = -(10**9)
    last_preview_t: float = -float("inf")
    #: (iteration, elapsed) of the run's first iteration report: the time left goes by the pace since then
    pace_from: tuple[int, float] | None = None
    cancelled: bool = False
    #: The worker began in a pool thread (until then it may wait in Qt's pool behind other runs).
    started: bool = False
    #: The status shown while the run starts.
    starting: str = ""
    #: "keep partial result" as it was when Cancel was pressed (``None`` before): what the cancel does
    keep: bool | None = None
    #: A result, error or abort was handled (a worker that quits during its last step emits none of them).
    handled: bool = False
    #: Writing a preview failed: the run was stopped and undone, and the error shown.
    failed: bool = False
    #: The user was told that this run's results replace another frame's (see OutputLayers.replaced).
    told_replaced: bool = False
    #: This run's entry in napari's activity dock (see :class:`Activity`).
    activity: Activity | None = None
    #: Sources read as the channels of one image: each one's (low, high) contrast limits (0-1 between them).
    channels: list[tuple[float, float]] | None = None
    #: Layer arrays read lazily through another array in ``args`` (the channels of a *more channels* run).
    raw: list[Any] = field(default_factory=list)
    #: The layer arrays handed to the library, held while the run goes (see :func:`._layers.hold_arrays`).
    held: list[np.ndarray] = field(default_factory=list)
    #: The shapes read: one frame's ``(H, W)`` and each source's leading (non-YX) axes. Results go where they
    #: were read from even if a layer's data is replaced during the run (e.g. a live acquisition trimmed).
    full: tuple[int, ...] = ()
    leads: list[tuple[int, ...]] = field(default_factory=list)
    #: Each source's frame checksums as read (:func:`._layers.frame_digests`; ``None``: a 2D layer, or lazy).
    digests: list[dict[str, str] | None] = field(default_factory=list)
    #: Names of the scribble layers painted on during the run (its marks were read at Run), and what stops
    #: watching them.
    painted_inputs: list[str] = field(default_factory=list)
    #: Names of the Shapes layers (boxes) edited during the run.
    edited_inputs: list[str] = field(default_factory=list)
    #: Each source's array when the run read it, and the sources (indices) given new data during the run.
    read_data: list[Any] = field(default_factory=list)
    replaced_sources: list[int] = field(default_factory=list)
    unwatch: list[Callable[[], None]] = field(default_factory=list)

    def let_go(self) -> None:
        """The run has ended (or its panel went): stop watching the layers, release the arrays it held."""
        for unwatch in self.unwatch:
            unwatch()
        self.unwatch.clear()
        self.read_data.clear()  # (an input's array replaced during the run is not kept alive by the job)
        release_arrays(self.held)
        self.outputs.stop_watching()


class _ActivityBar(cancelable_progress):
    """napari's cancelable progress bar whose *Cancel* calls back at once (napari's only stops an iteration)."""

    def __init__(self, description: str, on_cancel: Callable[[], None]) -> None:
        self._on_cancel = on_cancel
        super().__init__(desc=description, total=0)  # total 0: busy (set-up) until the first report

    def cancel(self) -> None:
        super().cancel()
        self._on_cancel()


class Activity:
    """A run's entry in napari's activity dock (the status bar's *activity* button), with a Cancel button that
    acts as the widget's: a run stays visible and cancellable there while its dock is hidden, tabbed behind
    another or scrolled away. Driven from the main thread.

    napari's bar processes Qt events on every change (``QApplication.processEvents``), so the worker's queued
    reports are handled *inside* an update: an update that arrives while one is applied only records its value
    (the outer one applies the latest), and changes are drawn at most every :data:`ACTIVITY_SECONDS`. Otherwise
    a backlog of reports nests one progress slot in another, up to Python's recursion limit (measured: 300
    queued reports).
    """

    def __init__(self, description: str, on_cancel: Callable[[], None]) -> None:
        self._closed = False
        self._busy = False
        self._pending: tuple[int, int] | None = None
        self._drawn_at = -float("inf")
        self._bar = _ActivityBar(description, on_cancel)

    def update(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` iterations (now, or with a later update if one is being drawn or was
        drawn less than :data:`ACTIVITY_SECONDS` ago; the last of a run is always drawn)."""
        self._pending = (done, total)
        if self._closed or self._busy:
            return
        now = time.monotonic()
        if done < total and now - self._drawn_at < ACTIVITY_SECONDS:
            return
        self._busy, self._drawn_at = True, now
        try:
            while self._pending is not None and not self._closed:
                (done, total), self._pending = self._pending, None
                if self._bar.total != total:
                    self._bar.total = total
                if done != self._bar.n:
                    self._bar.update(done - self._bar.n)
        finally:
            self._busy = False

    def close(self) -> None:
        """Remove the entry (idempotent)."""
        if not self._closed:
            self._closed = True
            self._bar.close()


#: Peak memory of a run per pixel of its input(s), beyond :data:`MEMORY_FIXED`: ``(base, per channel)`` bytes.
#: ``benchmarks/large_images.py``: the growth from 2048 to 4096 px of the largest task, one-image transparency,
#: is 91 bytes per grey pixel and 161 per RGB pixel (2026-12-04), 10% added (the machine's other demands move).
MEMORY_PER_PIXEL = (60, 40)


#: The part of a run's peak that does not grow with the input (networks, optimiser, torch's workspace at the
#: working size): 0.16-0.17 GB at the growth's intercept, above.
MEMORY_FIXED = 250 * 10**6


#: A stack run frame by frame, per pixel of the stack: ``(base, per channel)`` bytes: the loaded input (up to
#: float32), the library's own copy of it (its results are of the stack as it was at Run) and the float32
#: result stacks (dehazing: clean and airlight of C channels, a transmission map), once in the library's result
#: and once copied into their layers: 2 x 4 C + 2 x 4 x (2 C + 1) bytes. (Measured by a QA session, before the
#: library's copy: ``dehaze_frames`` on 6 grey planes of 2048², peak 1.05 GB in the library; this estimate,
#: with the layers' copies, 1.37 GB; the whole-stack count said 2.8 GB, and refused a 60-plane Z-stack as 25 GB.)
MEMORY_STACK_PER_PIXEL = (8, 24)


#: A working size above the task's default: the networks' part of a run's peak grows by this many bytes per
#: working pixel beyond the default's, per image of a set (or frame of a stack's batch, at most
#: :data:`MEMORY_BATCH`). ``benchmarks/working_memory.py`` (2026-12-06, 2-core AMD EPYC): 512 px images at
#: working size 128 and 512, segmentation 72 / 795 MB, dehazing 82 / 771, two RGB mixtures 295 / 988; three
#: 384 px watermarked images at 128 and 384, 164 / 1207 MB: 2.6-2.9 kB per working pixel and image (3.3 in a
#: first, one-off run), about 15 % added. (Two mixtures grow by 1.4 kB per image: the constant over-counts
#: a set of mixtures by about 2x, on the safe side.) (The script then printed MiB as MB; converted here.)
MEMORY_PER_WORKING_PIXEL = 3400
#: Frames a whole-stack run's networks see at once (the video tasks' mini-batch).
MEMORY_BATCH = 4


def working_memory(images: list[Any], channels: int, working: int | None, default: int, stack: bool) -> int:
    """The bytes :data:`MEMORY_PER_WORKING_PIXEL` adds for a working size ``working`` above ``default``
    (``None``: the default, already in :data:`MEMORY_FIXED`)."""
    if not working or working <= default:
        return 0
    shape = images[0].shape[:-1] if channels > 1 else images[0].shape
    h, w = (int(n) for n in shape[-2:])
    long = max(h, w)

    def pixels(side: int) -> float:
        return h * w * (min(side, long) / long) ** 2

    count = min(int(images[0].shape[0]), MEMORY_BATCH) if stack else len(images)
    return int(max(0.0, pixels(working) - pixels(default)) * MEMORY_PER_WORKING_PIXEL * count)


def check_memory(
    images: list[Any], sources: list[Any], channels: int, frame_by_frame: bool = False, working: int = 0
) -> None:
    """Refuse a run whose input (``images``, as the library gets them from the layers ``sources``, with
    ``channels`` values per pixel) is too large for the memory available: a run that exhausts it takes napari,
    and the user's unsaved work, down with it. ``frame_by_frame``: a stack whose frames are run one at a time
    (one frame's run, plus the stack loaded and the stacks of results, each once in the library and once in its
    layer). ``working``: the bytes a working size above the default adds (:func:`working_memory`)."""
    import psutil  # (napari's dependency)

    per_pixel = MEMORY_PER_PIXEL[0] + MEMORY_PER_PIXEL[1] * channels
    pixels = sum(int(np.prod(im.shape)) // channels for im in images)
    if frame_by_frame:
        frame = pixels // max(1, int(images[0].shape[0]))
        stack = pixels * (MEMORY_STACK_PER_PIXEL[0] + MEMORY_STACK_PER_PIXEL[1] * channels)
        need = MEMORY_FIXED + frame * per_pixel + stack + working
    else:
        need = MEMORY_FIXED + pixels * per_pixel + working
    free = psutil.virtual_memory().available
    if need > free:
        shape = images[0].shape
        stack = len(shape) > (3 if channels > 1 else 2)
        plane = int(np.prod(shape[-3:-1] if channels > 1 else shape[-2:]))
        several = len(sources) > 1
        if getattr(sources[0], "multiscale", False):  # (read at its finest level within LEVEL_PIXELS)
            instead = ", or run the current frame" if stack else ""
        elif plane > _layers.LEVEL_PIXELS:  # (a pyramid helps only frames larger than the level read)
            instead = (
                f", or open {'them' if several else 'it'} as a multiscale image (the widget reads a level of at "
                f"most {_layers.LEVEL_PIXELS:,} pixels per frame)"
            )
        else:
            instead = ", or run the current frame" if stack else ""
        if working:
            instead += ", or a smaller working size"
        names = ", ".join(repr(s.name) for s in sources[:4]) + (", ..." if len(sources) > 4 else "")
        if free <= MEMORY_FIXED:  # (what any run needs: no crop helps)
            advice = "Free some memory first (other programs, large layers)"
        elif several:
            advice = f"Run fewer of them, or crops of them{instead}"
        else:
            advice = f"Run a crop of it{' (or fewer frames)' if stack else ''}{instead}"
        raise ValueError(
            f"{names} {'are' if several else 'is'} too large for the memory available: a run would need about "
            f"{need / 1e9:.2f} GB, {free / 1e9:.2f} GB are free. {advice}"
        )


def time_left(p: Any, since: tuple[int, float] = (0, 0.0)) -> str:
    """``", about 40 s left"`` from the pace since ``since`` (iteration, elapsed: the first report's, so that
    the set-up and the first, slow iterations do not count; measured on real photos, the pace from the start
    said 3-6x too much at iteration 5) to the optimisation's end (the finishing at full size comes on top),
    once there is a pace to go by: at least 5 iterations and 3 seconds."""
    done, took = p.iteration - since[0], p.elapsed - since[1]
    if p.total <= p.iteration:
        return ", finishing"  # (the result made at full size: seconds for a large image)
    if done < 5 or took < 3:
        return ""
    left = took / done * (p.total - p.iteration)
    if left < 1:
        return ", almost done"  # (not "about 0 s left")
    return f", about {left:.0f} s left" if left < 90 else f", about {left / 60:.0f} min left"


def from_package(filename: Any) -> bool:
    """Whether a warning's source file is part of this package (the library's warnings point at its own code
    or at the widget's worker that called it)."""
    import os

    try:
        return os.path.commonpath([_PACKAGE_DIR, os.path.abspath(str(filename))]) == _PACKAGE_DIR
    except ValueError:  # another drive on Windows
        return False


def result_summary(spec: Any, result: Any, names: list[str]) -> str:
    """``spec.summary`` of a result for the status line (``"; ..."``); nothing if it has none or fails (the
    layers are written by then: a summary must not undo them)."""
    try:
        said = spec.summary(result, names) if spec.summary is not None else ""
    except Exception:  # pragma: no cover - a summary of an unexpected result
        return ""
    return f"; {said}" if said else ""


#: ``warnings``' hook and filter list as last seen outside any worker (see drop_stale_warning_hook)
_WARNINGS_STATE: dict[str, Any] = {}


def _hook_worker(hook: Any) -> Any:
    """The superqt worker whose ``warnings.showwarning`` replacement ``hook`` is, or ``None``."""
    try:
        from superqt.utils._qthreading import WorkerBase
    except ImportError:  # pragma: no cover - superqt moved it: nothing is recognised, nothing changed
        return None

    for cell in getattr(hook, "__closure__", None) or ():
        value = getattr(cell, "cell_contents", None)
        if isinstance(value, WorkerBase):
            return value
    return None


def note_warnings_state() -> None:
    """Remember ``warnings``' state when no worker has replaced it (called as a run is made)."""
    import warnings

    if _hook_worker(warnings.showwarning) is None:
        _WARNINGS_STATE.update(show=warnings.showwarning, filters=warnings.filters)


def drop_stale_warning_hook() -> None:
    """Give ``warnings`` its state back when a finished worker's replacement was left in place.

    Why: every superqt worker swaps ``warnings.showwarning`` (and adds an "always" filter) while it runs, in a
    ``catch_warnings`` that restores what it found when it began. Two overlapping runs whose first ends first
    (two panels, two viewers) leave the first one's swap for good: every later warning of the process went to
    that finished run's signal (shown as its panel's, or not at all) and every repeat was shown again.
    """
    import warnings

    worker = _hook_worker(warnings.showwarning)
    if worker is None or worker.is_running or not _WARNINGS_STATE:
        return
    warnings.showwarning = _WARNINGS_STATE["show"]
    warnings.filters = _WARNINGS_STATE["filters"]
    mutated = getattr(warnings, "_filters_mutated", None)  # (what catch_warnings calls; private, so looked up)
    if mutated is not None:
        mutated()


def take_from_pool(worker: Any) -> bool:
    """Take a worker that waits in Qt's global pool out of its queue; ``False`` if it has begun or is not queued
    yet."""
    from qtpy.QtCore import QThreadPool

    try:
        return bool(QThreadPool.globalInstance().tryTake(worker))
    except (AttributeError, RuntimeError, TypeError):  # pragma: no cover - a Qt binding without tryTake
        return False


@contextlib.contextmanager
def current_window(viewer: Any):
    """Make ``viewer``'s window napari's current one meanwhile (then give the place back).

    Why: napari's ``create_worker`` lists the worker with the window of ``current_viewer()``, the one activated
    last, and closing that window cancels it. With two viewers, a run started while the other window was the
    last active one (from a floating panel, the console, a script) was cancelled by closing that other window,
    and closing its own did not ask about it. (napari's private window list; without it nothing changes.)
    """
    try:
        from napari._qt.qt_main_window import _QtMainWindow

        windows = _QtMainWindow._instances
        target = getattr(viewer, "__wrapped__", viewer)
        mine = next(w for w in windows if w._qt_viewer.viewer is target)
        order = list(windows)
    except (ImportError, AttributeError, StopIteration):
        mine, order = None, []
    if mine is None or order[-1] is mine:
        yield
        return
    windows.append(windows.pop(windows.index(mine)))
    try:
        yield
    finally:  # the order as it was (napari's next current window when one closes), less any window gone
        windows[:] = [w for w in order if w in windows] + [w for w in windows if w not in order]


def _layers_and_frames(held: list[tuple[str, list[list[int]]]]) -> tuple[str, str]:
    """The layer names and the frames (all layers' together) of ``(layer name, frames)`` notes, for a message."""
    names = ", ".join(repr(name) for name, _ in held)
    return names, _layers.list_frames(sorted({tuple(f) for _, fs in held for f in fs}))


def tell_stale(title: str, job: Job) -> None:
    """Say which frames of a stack were cleared because the input's data changed since they were run."""
    if job.outputs.stale:
        names, frames = _layers_and_frames(job.outputs.stale)
        show_info(
            f"{title}: {names} held results of frame(s) {frames} computed from the input's data as it was before "
            "it changed: they are cleared (run them again)"
        )


def tell_kept_earlier(title: str, job: Job) -> None:
    """Say which frames of a stopped frame-by-frame run keep an earlier run's results."""
    if job.outputs.kept_earlier:
        names, frames = _layers_and_frames(job.outputs.kept_earlier)
        show_info(
            f"{title}: frame(s) {frames}, which the stopped run did not reach, keep the results an earlier run "
            f"computed there in {names}"
        )


def tell_painted(title: str, job: Job) -> None:
    """Say that this run's result replaced strokes the user painted on an earlier run's mask."""
    if job.outputs.painted:
        names = ", ".join(repr(name) for name in job.outputs.painted)
        show_info(
            f"{title}: {names} was painted on since its run; this run's result replaces what it held there (to "
            "keep corrections, pick the mask as scribbles, or rename it before a run)"
        )
    if job.outputs.painted_live:
        names = ", ".join(repr(name) for name in job.outputs.painted_live)
        show_info(
            f"{title}: {names} was painted on during the run, as a live preview: the run's next preview and its "
            "result replaced those strokes (paint corrections once the run has finished)"
        )


def tell_other_inputs(title: str, job: Job) -> None:
    """Say that this run's results replace an earlier run's of other input layers (e.g. of two mixtures, by a
    run of one of them: a result the user may have wanted to keep)."""
    if not job.outputs.other_inputs:
        return
    names = ", ".join(repr(n) for n, _ in job.outputs.other_inputs)
    before = ", ".join(repr(v) for v in job.outputs.other_inputs[0][1])
    now = ", ".join(repr(job.outputs.source_name(s)) for s in job.sources)
    show_info(
        f"{title}: {names} held the results of {before}, which this run's of {now} replace; rename a layer "
        "before a run to keep it"
    )


def tell_other_slice(title: str, job: Job) -> None:
    """Say that this run's results replace an earlier run's at another index of the stack (they do not
    collect into one layer)."""
    if not job.outputs.other_slice:
        return
    names = ", ".join(repr(n) for n, _ in job.outputs.other_slice)
    whole = job.frame is None or all(v is None for v in job.frame)
    show_info(
        f"{title}: {names} held the results at {job.outputs.other_slice[0][1]}, which this run's "
        + ("of the whole stack" if whole else f"at {index_text(job.frame)}")
        + " replace; rename a layer before a run to keep it"
    )


def drop_locals(exc: BaseException) -> None:
    """Clear the local variables of the frames in ``exc``'s traceback and in those of its causes and
    contexts (the traceback's text stays; frames still running are left as they are)."""
    import traceback

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__


def is_input_check(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``ValueError``/``TypeError`` this package raised itself with a ``raise`` statement
    (an input check), not one from numpy, torch or napari, nor one that a call into C code made on a line of
    the package (``x[None]`` on ``None``, a reshape: a bug's, whose traceback a report needs)."""
    import linecache

    if not isinstance(exc, (ValueError, TypeError)) or not str(exc).strip():
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = os.path.abspath(tb.tb_frame.f_code.co_filename)
    line = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno).strip()
    return path.startswith(_PACKAGE_DIR + os.sep) and line.startswith("raise ")


#: The library's messages name its arguments; the panels' fields say the same otherwise (a warning told a
#: panel's user to "raise max_size"). Replaced in order, as exact text.
PANEL_WORDS: tuple[tuple[str, str], ...] = (
    (" (the widget's automatic hints 'intensity (many objects)')", ""),
    (" (hints='auto')", ""),
    (" (auto_fill=True)", ""),
    ("hints='intensity'", "automatic hints 'intensity (many objects)'"),
    ("auto_fill='intensity'", "automatic hints 'intensity (many objects)'"),
    ("use hints='auto'", "use automatic hints 'saliency (one object)'"),
    ("hints mark no pixel (no 1 or 2) and auto_fill=False", "the scribbles mark no pixel (no 1 or 2) and 'fill "
     "in scribbles' is off"),
    ("pass auto_fill=True (or hints='auto') for automatic hints", "tick 'fill in scribbles' for automatic hints"),
    ("raise max_size", "raise the working size"),
    ("give a box around the watermark (box=...)", "pick a box around the watermark"),
)


def panel_words(message: str) -> str:
    """A library message in the panels' words (:data:`PANEL_WORDS`)."""
    for old, new in PANEL_WORDS:
        message = message.replace(old, new)
    return message


def describe_error(exc: BaseException) -> str:
    """What an error notification says: an input check's own message (``ValueError``/``TypeError``, and a
    ``TaskError``, which names its cause already); for any other error its type as well (a bare
    ``MemoryError()`` or ``AssertionError()`` has no message, a ``KeyError``'s is only the key)."""
    text = str(exc).strip()
    if isinstance(exc, (ValueError, TypeError, TaskError)) and text:
        return panel_words(text)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def tell_moved_inputs(title: str, job: Job) -> None:
    """Say that an input was removed or renamed during the run: its results are still written, under the name
    it had at Run (a later run of the renamed layer renames them)."""
    removed, renamed = [], []
    for source in job.sources:
        name = job.outputs.source_name(source)
        if not any(same_layer(layer, source) for layer in job.outputs.viewer.layers):
            removed.append(repr(name))
        elif source.name != name:
            renamed.append(f"{name!r} (now {source.name!r})")
    if removed:
        were = "was" if len(removed) == 1 else "were"
        show_info(f"{title}: {', '.join(removed)} {were} removed during the run; the results are kept")
    if renamed:
        one = len(renamed) == 1
        show_info(
            f"{title}: {', '.join(renamed)} {'was' if one else 'were'} renamed during the run; "
            + ("its results keep the name it had at Run (its next run renames them)" if one else
               "their results keep the names they had at Run (their next run renames them)")
        )


def tell_reshaped(title: str, job: Job) -> None:
    """Warn when an input got frames of another shape during the run: its results, placed as the data was
    read, no longer line up with it (a stack that only grew, e.g. a live acquisition, is fine)."""
    changed = [
        repr(job.outputs.source_name(source))
        for source, lead in zip(job.sources, job.leads)
        if _shape_as_read(job, source, lead) is False
    ]
    if changed:
        show_warning(
            f"{title}: {', '.join(changed)} got data of another shape during the run: the results are of the "
            f"data read at Run ({' x '.join(map(str, job.full))} per frame) and may not line up with it; run again"
        )


def _shape_as_read(job: Job, source: Any, lead: tuple[int, ...]) -> bool | None:
    """Whether ``source``'s frames still have the shape (and leading axes) the run read; ``None`` when it can
    no longer be read (removed, or data napari cannot read: nothing to line up with)."""
    try:
        return (frame_shape(source), stack_axes(source)) == (tuple(job.full), len(lead))
    except Exception:
        return None


def tell_replaced_data(title: str, job: Job) -> None:
    """Warn when an input was given new data of the same shape during the run (another shape: see
    :func:`tell_reshaped`) whose frames read differ from those the run decomposed: its results, named after it
    and placed on it, are of data it no longer shows. Frames appended to a stack (a live acquisition) are not
    a change; where the frames are not read for a checksum (lazy data, a memmap, over 512 frames), new data
    counts as a change unless the stack grew."""
    changed = []
    for i in job.replaced_sources:
        source, lead, before = job.sources[i], job.leads[i], job.read_data[i]
        if source.data is before or not _shape_as_read(job, source, lead):  # (another shape: tell_reshaped)
            continue
        index = job.frames[i] if job.frames else job.frame
        if index is None:  # (a 2D layer: its one frame; a whole (T, Y, X) stack: all of its leading axis)
            index = () if not lead else (None,)
        multiscale = getattr(source, "multiscale", False)
        old, new = (
            frame_digests(SimpleNamespace(data=d, multiscale=multiscale), index) for d in (before, source.data)
        )
        if old is None or new is None:  # (not checked: lazy data, a memmap, a sequence of over 512 frames)
            # frames appended (a live acquisition) are taken for no change; the same frames replaced are not
            now = layer_array_shape(source)[: len(lead)]
            if not (now != tuple(lead) and all(a >= b for a, b in zip(now, lead, strict=True))):
                changed.append(repr(job.outputs.source_name(source)))
        elif any(new.get(k) != v for k, v in old.items()):
            changed.append(repr(job.outputs.source_name(source)))
    if changed:
        show_warning(
            f"{title}: {', '.join(changed)} got new data during the run: the results are of the data read at Run, "
            "not of what it shows now; Run again to decompose the new data"
        )


def asked_settings(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A run's settings as asked (the call's keyword arguments that are numbers, text or a few numbers; not
    arrays such as hints), for the metadata of a preview kept without a result (``device`` as chosen, e.g.
    ``"auto"``; ``iterations`` ``None`` for the task's default)."""
    def small(v: Any) -> bool:
        if isinstance(v, (list, tuple)):
            return len(v) <= 4 and all(small(x) for x in v)
        return v is None or isinstance(v, (bool, int, float, str, np.generic))

    return {k: plain_value(v) for k, v in kwargs.items() if small(v)}


def plain_value(value: Any) -> Any:
    """Metadata values napari can copy and users can read: numpy -> lists/floats."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


def iterations_text(n: Any) -> str:
    return "1 iteration" if n == 1 else f"{n} iterations"


def planned_iterations(params: dict[str, Any]) -> int | None:
    """The iterations a run planned: for a stack run frame by frame, over the frames it ran (its
    ``params["iterations"]`` is one budget for all, or a list of each frame's, e.g. dense haze 400, light
    200)."""
    planned, frames = params.get("iterations"), params.get("frames_run")
    if isinstance(planned, list):
        return sum(int(v) for v in planned if isinstance(v, (int, float))) or None
    if not isinstance(planned, (int, float)):
        return None
    return int(planned) * (frames if isinstance(frames, int) else 1)


def over_frames(result: Any) -> str:
    """' over 3 frames' for a stack run frame by frame (its iterations are the frames' total), else ''; a
    stopped one says how many of the stack's frames it reached."""
    params = getattr(result, "params", None) or {}
    ran, count = params.get("frames_run"), params.get("frames")
    if not isinstance(ran, int):
        return ""
    if isinstance(count, int) and ran < count:
        return f" over {ran} of {count} frames"
    return f" over {ran} frame{'s' if ran != 1 else ''}"


def result_metadata(result: Any, mode: Mode) -> dict[str, Any]:
    meta = {
        key: plain_value(getattr(result, key, None))
        for key in ("params", "seed", "device", "threads", "precision", "working_shape", "iterations",
                    "final_loss", "elapsed", "stopped")
    }
    for item in mode.metadata:
        key, value = (item, getattr(result, item, None)) if isinstance(item, str) else (item[0], item[1](result))
        if value is not None:
            meta[key] = plain_value(value)
    meta["preview"] = False
    return meta
