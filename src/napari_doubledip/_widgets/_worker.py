"""What runs in the worker thread: resolve the library function (importing torch there), drive its generator."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Control", "TaskError", "run_task"]


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
    """Generator for a napari thread worker: yields :class:`napari_doubledip.Progress`, returns the result."""
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
    from .._validation import WARNING_SINK
    from ..solver.engine import PREVIEWS

    # this worker thread's context: the check points and the library's warn() read them
    token, sink = PREVIEWS.set(control.previews), WARNING_SINK.set(control.warn)
    try:
        result = yield from dd.iterate(func, *args, **kwargs)
    except RuntimeError as exc:
        raise TaskError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        WARNING_SINK.reset(sink)
        PREVIEWS.reset(token)
    return result
