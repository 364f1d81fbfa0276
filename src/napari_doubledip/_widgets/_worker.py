"""What runs in the worker thread: resolve the library function (importing torch there), drive its generator."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import _lazy

__all__ = ["Control", "Deferred", "TaskError", "run_task", "LOAD_REPORT_SECONDS"]

#: While lazy inputs load, a report (where Cancel acts) at least this often.
LOAD_REPORT_SECONDS = 0.25
#: Bytes a loading step computes at least (whole chunks of the first axis): several chunks per step let dask
#: read and compute them in parallel, while a step stays short enough for Cancel to act within a moment.
LOAD_STEP_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Deferred:
    """An input's conversion left to the run's worker thread (e.g. a mask given back as hints: distance
    transforms that froze the GUI for 0.7 s at 1024 x 1024, 2.4 s at 2048 x 2048)."""

    convert: Callable[[np.ndarray], np.ndarray]
    value: Any

    def __call__(self) -> np.ndarray:
        return self.convert(self.value)


class TaskError(Exception):
    """A failure inside the task, re-raised as a plain ``Exception``.

    superqt's worker treats a ``RuntimeError`` (what torch raises, e.g. out of memory) as "the worker was deleted"
    and only warns; wrapping makes sure the user is told.
    """


@dataclass
class Control:
    """Shared between the widget and its worker: a stop request, and whether the function honours it."""

    stop: threading.Event = field(default_factory=threading.Event)
    stoppable: bool = False
    #: Whether the run makes live previews (off when the widget's "preview every" is 0 at Run).
    previews: bool = True
    #: Receives the library's warnings of this run, in the worker thread (``None``: Python's warnings).
    warn: Callable[[str, type[Warning]], None] | None = None


def run_task(function: str, args: tuple, kwargs: dict[str, Any], control: Control) -> Generator[Any, None, Any]:
    """Generator for a napari thread worker: yields :class:`napari_doubledip.Progress`, returns the result.

    Every ``RuntimeError`` leaves it as a :class:`TaskError`, also one raised while the library function is
    looked up (the first run imports torch there): superqt ends a worker whose function raised a
    ``RuntimeError`` with a warning only, without its ``errored`` and ``finished`` signals, and the panel would
    stay running for good.
    """
    try:
        if not (yield from _import_library(function, control.stop)):
            return None  # (cancelled while PyTorch loaded: nothing ran)
        func, kwargs = _resolve(function, kwargs, control)
    except RuntimeError as exc:
        raise TaskError(f"{type(exc).__name__}: {exc}") from exc
    from .._validation import WARNING_SINK
    from ..solver.engine import PREVIEWS

    # this worker thread's context: the check points and the library's warn() read them
    token, sink = PREVIEWS.set(control.previews), WARNING_SINK.set(control.warn)
    try:
        loaded = yield from _load(args, kwargs, control.stop)
        if loaded is None:  # stopped while loading: nothing to finish with
            return None
        args, kwargs = loaded
        # (inputs whose conversion was left to this thread; a stop meanwhile is seen at the run's first check)
        args = tuple(a() if isinstance(a, Deferred) else a for a in args)
        kwargs = {k: v() if isinstance(v, Deferred) else v for k, v in kwargs.items()}
        import napari_doubledip as dd

        result = yield from dd.iterate(func, *args, **kwargs)
    except RuntimeError as exc:
        raise TaskError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        WARNING_SINK.reset(sink)
        PREVIEWS.reset(token)
    return result


#: Library modules being imported in a thread of their own: name -> (done, the exception it raised, if any).
_IMPORTS: dict[str, tuple[threading.Event, list[BaseException]]] = {}
_IMPORTS_LOCK = threading.Lock()


def importing() -> bool:
    """Whether a library module is being imported by :func:`start_import` (a first run's torch, or the device
    list's check)."""
    with _IMPORTS_LOCK:
        return bool(_IMPORTS)


def _import_library(function: str, stop: threading.Event) -> Generator[Any, None, bool]:
    """Import the module of the library function ``function`` (and so torch: 3-4 s the first time) with
    :func:`import_in_thread`. ``False`` when ``stop`` is set meanwhile."""
    from .. import _LAZY

    module = _LAZY.get(function)
    if module is None:
        return True  # (_resolve says what is missing)
    return (yield from import_in_thread(f"napari_doubledip{module}", stop))


def start_import(name: str) -> tuple[threading.Event, list[BaseException]] | None:
    """Start importing module ``name`` in a thread of its own, known to :func:`importing` until it ends (or join
    the one under way). Returns the event set when it ends and the list that then holds its error, if any;
    ``None`` when the module is imported already."""
    import importlib
    import sys

    with _IMPORTS_LOCK:
        if name in sys.modules and name not in _IMPORTS:
            return None
        if name not in _IMPORTS:
            _IMPORTS[name] = (threading.Event(), [])

            def load() -> None:
                done, failed = _IMPORTS[name]
                try:
                    importlib.import_module(name)
                except BaseException as exc:  # (raised where it is waited for, as the import there would)
                    failed.append(exc)
                finally:
                    with _IMPORTS_LOCK:
                        del _IMPORTS[name]
                    done.set()

            threading.Thread(target=load, name="napari-doubledip import", daemon=True).start()
        return _IMPORTS[name]


def import_in_thread(name: str, stop: threading.Event) -> Generator[Any, None, bool]:
    """Import module ``name`` in a thread of its own, reporting a stage every :data:`LOAD_REPORT_SECONDS`
    meanwhile: Cancel acts within a moment instead of after the import (on this machine 2.5-3.0 s -> 1.0-1.2 s
    for the first run's torch import, ``benchmarks/first_run_cancel.py``). An import cannot be
    interrupted: one left running finishes in the background, and the next run waits for it (an import under
    way is in ``sys.modules`` already). Returns ``False`` when ``stop`` is set meanwhile; an import's error is
    raised here."""
    pending = start_import(name)
    if pending is None:
        return True
    done, failed = pending
    from ..solver.progress import Progress

    start = time.perf_counter()
    while not done.wait(LOAD_REPORT_SECONDS):
        if stop.is_set():
            return False
        yield Progress(
            iteration=0, total=1, loss=float("nan"), losses={}, preview=None, elapsed=time.perf_counter() - start,
            stage="loading PyTorch: the first run only",
        )
    if failed:
        raise failed[0]
    return True


def _resolve(function: str, kwargs: dict[str, Any], control: Control) -> tuple[Callable, dict[str, Any]]:
    """The library function named ``function``, and ``kwargs`` with the stop request where it takes one."""
    import napari_doubledip as dd

    func = getattr(dd, function, None)
    if func is None:
        raise TaskError(
            f"napari_doubledip.{function} is not available in this version of napari-doubledip "
            f"(version {dd.__version__})"
        )
    if "stop" in inspect.signature(func).parameters:
        kwargs = {**kwargs, "stop": control.stop}
        control.stoppable = True
    return func, kwargs


def _is_lazy(x: Any) -> bool:
    """Lazy data (:func:`~napari_doubledip._validation._lazy`: a dask array, or one wrapped, e.g. a dask-backed
    xarray.DataArray) with per-axis tuples of chunk sizes to load it by."""
    chunks = getattr(x, "chunks", None)
    return _lazy(x) and isinstance(chunks, tuple) and all(isinstance(c, tuple) for c in chunks)


def _load(
    args: tuple, kwargs: dict[str, Any], stop: threading.Event
) -> Generator[Any, None, tuple[tuple, dict[str, Any]] | None]:
    """Load the lazy (dask) inputs of a run a few chunks of their first axis (frames of a stack, rows of an
    image) at a time (:data:`LOAD_STEP_BYTES`), with a ``stage`` report every :data:`LOAD_REPORT_SECONDS`: a
    long movie or a slide's level read from disk or the network is a point where Cancel acts, not a wait the
    run cannot leave. ``None`` when ``stop`` is set meanwhile (a cancel that keeps the partial result: there
    is none yet). An array in one chunk along its first axis loads in one step: the widgets give the arrays
    they wrap row or frame chunks (:func:`._layers.lazy_array`)."""
    from ..solver.progress import Progress

    values = [*args, *kwargs.values()]
    items = [x for v in values for x in (v if isinstance(v, (list, tuple)) else [v]) if _is_lazy(x)]
    items = list({id(x): x for x in items}.values())  # (the same array given twice loads once)
    if not items:
        return args, kwargs
    total = sum(int(x.nbytes) for x in items if all(n == n for c in x.chunks for n in c))
    done, start, last = 0, time.perf_counter(), time.perf_counter()
    loaded: dict[int, Any] = {}
    for x in items:
        if x.ndim == 0 or not all(n == n for c in x.chunks for n in c):  # (no axis, or unknown sizes: nan)
            loaded[id(x)] = np.asarray(x.compute())
            loaded[id(x)].flags.writeable = False  # (see below)
            continue
        out = np.empty(x.shape, dtype=x.dtype)
        row = x.nbytes / max(x.shape[0], 1)
        a = 0
        for b in _steps(x.chunks[0], row):
            if stop.is_set():
                return None
            out[a:b] = x[a:b].compute()
            done += int(out[a:b].nbytes)
            a = b
            now = time.perf_counter()
            if now - last >= LOAD_REPORT_SECONDS:
                last = now
                yield Progress(
                    iteration=0, total=1, loss=float("nan"), losses={}, preview=None, elapsed=now - start,
                    stage=f"loading the input: {done / 2**20:.1f} of {total / 2**20:.1f} MB",
                )
        out.flags.writeable = False  # the run's own copy, nobody else's: the library need not copy it again
        loaded[id(x)] = out

    def swap(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return type(v)(swap(x) for x in v)
        return loaded.get(id(v), v) if _is_lazy(v) else v

    return tuple(swap(v) for v in args), {k: swap(v) for k, v in kwargs.items()}


def _steps(chunks: tuple[int, ...], row_bytes: float) -> list[int]:
    """Ends of the loading steps along the first axis: consecutive whole chunks of at least
    :data:`LOAD_STEP_BYTES` together (a chunk split would be read whole for each part)."""
    ends, a, start = [], 0, 0
    for n in chunks:
        a += n
        if (a - start) * row_bytes >= LOAD_STEP_BYTES:
            ends.append(a)
            start = a
    if not ends or ends[-1] != a:
        ends.append(a)
    return ends
