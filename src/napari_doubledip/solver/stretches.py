"""Run each stretch of a generator (the work between two yields) inside a setting, restored at every yield.

A run is a generator that a caller resumes from its own thread, with its own torch state: a user may call it
inside ``torch.no_grad()``, an open ``torch.autocast``, or after ``torch.set_default_dtype(torch.float64)``.
A ``with`` block inside the generator would leak its setting to the caller between two reports (and to a
cancelled run's thread forever); :func:`drive` applies one around each stretch instead, in the thread that
resumes the run.
"""

from __future__ import annotations

import contextlib
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


#: Device types whose autocast a caller may have left open (``torch.is_autocast_enabled(type)``).
_AUTOCAST_TYPES = ("cpu", "cuda", "mps")


@contextlib.contextmanager
def plain_torch() -> Iterator[None]:
    """Gradients on, no autocast and float32 as the default dtype, whatever the caller had set.

    The optimisation needs gradients; an autocast left open would run a float32 run in lower precision while
    it reports float32 (the networks open their own autocast when asked to); and tensors made from Python
    numbers must be float32. Grad mode and autocast are per thread; the default dtype is process-wide, so it is
    changed (and put back) only when a caller has changed it.
    """
    with contextlib.ExitStack() as stack:
        if torch.is_inference_mode_enabled():
            stack.enter_context(torch.inference_mode(False))
        stack.enter_context(torch.enable_grad())
        for device_type in _AUTOCAST_TYPES:
            try:
                enabled = torch.is_autocast_enabled(device_type)
            except (RuntimeError, TypeError):  # a device type this torch build does not know
                continue
            if enabled:
                stack.enter_context(torch.autocast(device_type, enabled=False))
        dtype = torch.get_default_dtype()
        if dtype != torch.float32:
            torch.set_default_dtype(torch.float32)
            stack.callback(torch.set_default_dtype, dtype)
        yield


def with_plain_torch(gen: Generator[Y, Any, R]) -> Generator[Y, Any, R]:
    """``gen`` with every stretch run under :func:`plain_torch`."""

    def around(advance: Callable[[], Y]) -> Y:
        with plain_torch():
            return advance()

    return drive(gen, around)
