"""Device selection: ``"auto"`` picks CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import os

import torch

from .._validation import warn_once

__all__ = ["resolve_device", "available_devices", "resolve_precision", "check_precision", "PRECISIONS"]

_KNOWN = ("auto", "cpu", "cuda", "mps")

#: The first torch whose MPS backend has the operations the solver runs there (antialiased bilinear resizing,
#: pytorch#145526, and ``torch.linalg.solve``, pytorch#146531; both in 2.7): an older one raises
#: NotImplementedError at the first resize, so MPS counts as available from it on.
MPS_MIN_TORCH = (2, 7)


def _torch_version() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def _mps_present() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def available_devices() -> list[str]:
    """Device names usable on this machine, CPU last.

    Returns
    -------
    list of str
        Some of ``"cuda"``, ``"mps"`` (with torch >= 2.7, :data:`MPS_MIN_TORCH`) and always ``"cpu"``, in the
        order ``device="auto"`` prefers them.
    """
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_present() and _torch_version() >= MPS_MIN_TORCH:
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``/``"cpu"``/``"cuda"``/``"cuda:1"``/``"mps"`` (any case) into a usable :class:`torch.device`.

    Raises
    ------
    ValueError
        For an unknown name or a device this machine does not have.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto' or 'cpu', got {type(device).__name__}")
    name = device.strip().lower()  # torch.device itself takes lower case only ("CPU" raises)
    kind = name.split(":")[0]
    if kind not in _KNOWN:
        raise ValueError(f"device must be one of {_KNOWN} (optionally 'cuda:N'), got {device!r}")
    if ":" in name and kind != "cuda":  # only CUDA has several devices to choose from
        if kind in ("cpu", "mps") and name.split(":", 1)[1] == "0":  # what a tensor's .device says on a Mac
            name = kind
        else:
            raise ValueError(f"device {device!r}: only 'cuda' takes an index ('cuda:N'); use {kind!r}")
    if kind == "auto":
        return torch.device(available_devices()[0])
    if kind == "mps" and _mps_present() and _torch_version() < MPS_MIN_TORCH:
        raise ValueError(
            f"device {device!r} needs torch >= {'.'.join(map(str, MPS_MIN_TORCH))} (antialiased resizing on MPS); "
            f"this is torch {torch.__version__}: upgrade torch, or use 'cpu'"
        )
    if kind not in available_devices():
        raise ValueError(f"device {device!r} is not available here; available: {available_devices()}")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:  # e.g. "cuda:x"
        raise ValueError(f"device must be one of {_KNOWN} (optionally 'cuda:N'), got {device!r}") from exc
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} is not available here: this machine has {torch.cuda.device_count()} CUDA "
            f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    return dev


#: Accepted ``precision`` values.
PRECISIONS = ("auto", "float32", "bfloat16")


def _cpu_has_amx() -> bool:
    try:  # private torch helper (present since 2.3); a CPU without it, or an older torch, gets float32
        return bool(torch.cpu._is_amx_tile_supported())
    except Exception:  # noqa: BLE001
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Compute dtype of the networks' bodies: ``None`` (float32) or ``torch.bfloat16`` (autocast).

    ``"auto"`` (what a task measured to keep its quality in bfloat16 asks for: the video tasks) picks bfloat16
    only where it was measured to pay: CPUs with AMX tiles (Intel Xeon 4th generation and later;
    ``benchmarks/precision.py``). Elsewhere it is float32 (on a CUDA GPU, an H200, bfloat16 measured the same or
    slower); the environment variable ``NAPARI_DOUBLEDIP_PRECISION`` (``float32`` / ``bfloat16``) pins what "auto"
    means for those tasks only (a single-image task's "auto" is its measured float32, which the variable does not
    change; any other value of it warns and is ignored). ``"bfloat16"`` forces autocast on any device whose
    autocast supports it; ``"float32"`` turns it off.

    Raises
    ------
    ValueError
        For an unknown name, or ``"bfloat16"`` on a device without bfloat16 autocast (e.g. an older CUDA GPU).
    """
    check_precision(precision)
    env = _env_precision()  # read (and a typo reported) on every run, whatever this task asks for
    if precision == "float32":
        return None
    if precision == "bfloat16":
        _check_bf16(device)
        return torch.bfloat16
    if env is not None:
        return resolve_precision(env, device)
    return torch.bfloat16 if device.type == "cpu" and _cpu_has_amx() else None


#: Environment variable that pins what precision "auto" means (see :func:`resolve_precision`).
PRECISION_ENV = "NAPARI_DOUBLEDIP_PRECISION"


def _env_precision() -> str | None:
    """``"float32"`` / ``"bfloat16"`` when the environment pins "auto"; unset, empty or ``auto``: ``None``."""
    value = os.environ.get(PRECISION_ENV, "").strip().lower()
    if value in ("float32", "bfloat16"):
        return value
    if value not in ("", "auto"):
        warn_once(
            f"{PRECISION_ENV}={os.environ[PRECISION_ENV]!r} is not 'float32' or 'bfloat16' (or 'auto'); ignored"
        )
    return None


def check_precision(precision: str) -> str:
    """Validate a ``precision`` name (see :func:`resolve_precision`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def _check_bf16(device: torch.device) -> None:
    """Fail early, with a clear message, where torch's autocast would fail at the first forward pass."""
    reason = None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        reason = "this CUDA device has no bfloat16 support"
    else:
        try:
            torch.autocast(device.type, dtype=torch.bfloat16)
        except (RuntimeError, ValueError) as exc:  # e.g. MPS autocast before torch 2.5
            reason = str(exc)
    if reason is not None:
        raise ValueError(f"precision='bfloat16' is not available on {device}: {reason}; use 'float32'")
