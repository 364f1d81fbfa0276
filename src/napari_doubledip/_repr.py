"""Readable reprs of result and sample dataclasses: arrays as their shape and dtype (no torch import)."""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any

import numpy as np


def _short(value: Any) -> str:
    """One value, short: an array as ``array(shape, dtype)``; containers item by item; a long list as its
    length (a loss history)."""
    if isinstance(value, np.ndarray):
        return f"array({value.shape}, {value.dtype})" if value.ndim else repr(value.item())
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list) and len(value) > 8:
        return f"[{len(value)} items: {_short(value[0])}, ..., {_short(value[-1])}]"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in value.items()) + "}"
    text = repr(value)
    return text if len(text) <= 200 else reprlib.repr(value)


def summary_repr(obj: Any, last: type | None = None) -> str:
    """``Class(field=value, ...)`` of a dataclass with its arrays shown as shape and dtype, so that a result
    printed in a console or notebook shows what it holds (the default repr prints every pixel). The fields of
    the base class ``last`` (the run's record) come after the class's own (its arrays)."""
    shown = [f for f in dataclasses.fields(obj) if f.repr]
    if last is not None:
        base = {f.name for f in dataclasses.fields(last)}
        shown = [f for f in shown if f.name not in base] + [f for f in shown if f.name in base]
    fields = ", ".join(f"{f.name}={_short(getattr(obj, f.name))}" for f in shown)
    return f"{type(obj).__name__}({fields})"
