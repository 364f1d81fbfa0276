"""Run each stretch of a generator (the work between two yields) inside a setting, restored at every yield.

A run is a generator that a caller resumes from its own thread, with its own torch state: a user may call it
inside ``torch.no_grad()``, an open ``torch.autocast``, or after ``torch.set_default_dtype(torch.float64)``.
A ``with`` block inside the generator would leak its setting to the caller between two reports (and to a
cancelled run's thread forever); :func:`drive` applies one around each stretch instead, in the thread that
resumes the run.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

import torch

__all__ = ["drive", "plain_torch", "with_plain_torch"]

Y = TypeVar("Y")
R = TypeVar("R")


def drive(gen: Generator[Y, Any, R], around: Callable[[Callable[[], Y]], Y]) -> Generator[Y, Any, R]:
    """Delegate to ``gen`` like ``yield from``, calling ``around(advance)`` for each stretch.

    ``around`` receives a function that resumes ``gen`` up to its next yield and must return what it returns
    (raising what it raises). Values sent and exceptions thrown in reach ``gen`` where it waits; closing this
    generator closes ``gen``.
    """
    advance: Callable[[], Y] = lambda: gen.send(None)  # noqa: E731
    while True:
        try:
            item = around(advance)
        except StopIteration as done:
            return done.value
        try:
            sent = yield item
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:  # thrown in by the caller: deliver it where the inner generator waits
            advance = lambda exc=exc: gen.throw(exc)  # noqa: E731
        else:
            advance = lambda sent=sent: gen.send(sent)  # noqa: E731


#: Device types whose autocast a caller may have left open.
_AUTOCAST_TYPES = ("cpu", "cuda", "mps", "xpu")


def _autocast_enabled(device_type: str) -> bool:
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except TypeError:  # torch < 2.4: no device argument
        if device_type == "cpu":
            return bool(torch.is_autocast_cpu_enabled())
        return device_type == "cuda" and bool(torch.is_autocast_enabled())
    except RuntimeError:  # a device type this torch build does not know
        return False


# The default dtype is process-wide: runs in several threads share one switch to float32, made by the first to
# start a stretch and undone by the last to end one (a thread that restored it under another's feet made that
# one's tensors float64 mid-stretch).
_DTYPE_LOCK = threading.Lock()
_dtype_users = 0
_dtype_saved: torch.dtype | None = None


def _enter_float32() -> None:
    global _dtype_users, _dtype_saved
    with _DTYPE_LOCK:
        current = torch.get_default_dtype()
        if current != torch.float32:  # the caller's setting (also one made while another run computes)
            _dtype_saved = current
            torch.set_default_dtype(torch.float32)
        _dtype_users += 1


def _leave_float32() -> None:
    global _dtype_users, _dtype_saved
    with _DTYPE_LOCK:
        _dtype_users -= 1
        if _dtype_users == 0 and _dtype_saved is not None:  # (only a dtype other than float32 is saved)
            torch.set_default_dtype(_dtype_saved)
            _dtype_saved = None


@contextlib.contextmanager
def plain_torch() -> Iterator[None]:
    """Gradients on, no autocast and float32 as the default dtype, whatever the caller had set.

    The optimisation needs gradients; an autocast left open would run a float32 run in lower precision while
    it reports float32 (the networks open their own autocast when asked to); and tensors made from Python
    numbers must be float32. Grad mode and autocast are per thread; the default dtype is process-wide: while
    any run computes it is float32 in every thread (put back when the last stretch of the running ones ends).
    """
    with contextlib.ExitStack() as stack:
        if torch.is_inference_mode_enabled():
            stack.enter_context(torch.inference_mode(False))
        stack.enter_context(torch.enable_grad())
        for device_type in _AUTOCAST_TYPES:
            if _autocast_enabled(device_type):
                stack.enter_context(torch.autocast(device_type, enabled=False))
        _enter_float32()
        stack.callback(_leave_float32)
        yield


def with_plain_torch(gen: Generator[Y, Any, R]) -> Generator[Y, Any, R]:
    """``gen`` with every stretch run under :func:`plain_torch`."""

    def around(advance: Callable[[], Y]) -> Y:
        with plain_torch():
            return advance()

    return drive(gen, around)
