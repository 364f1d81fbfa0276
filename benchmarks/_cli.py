"""Command-line parsing shared by the benchmark scripts: a bad value is a usage error (exit 2), before any work."""

from __future__ import annotations

import argparse
import platform
from collections.abc import Iterable


def int_list(parser: argparse.ArgumentParser, text: str, option: str, minimum: int | None = None) -> list[int]:
    """The whole numbers of a comma-separated ``text`` (blank entries skipped: ``"1,"`` is ``[1]``); at least
    one, each at least ``minimum``; otherwise ``parser.error`` naming ``option``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        parser.error(f"{option} takes comma-separated whole numbers, got {text!r}")
    if not values or (minimum is not None and min(values) < minimum):
        least = "" if minimum is None else f" of at least {minimum}"
        parser.error(f"{option} takes one or more numbers{least}, got {text!r}")
    return values


def name_list(parser: argparse.ArgumentParser, text: str, option: str, allowed: Iterable[str]) -> list[str]:
    """The names of a comma-separated ``text`` (blank entries skipped); at least one, each one of ``allowed``;
    otherwise ``parser.error`` naming ``option`` and the choices."""
    allowed = list(allowed)
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in names if v not in allowed]
    if not names or unknown:
        parser.error(f"{option} takes one or more of {', '.join(allowed)}, got {text!r}")
    return names


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what :func:`platform.processor` says where there is none."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        return platform.processor()
