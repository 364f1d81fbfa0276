"""Device selection: ``"auto"`` picks CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

__all__ = ["resolve_device", "available_devices"]

_KNOWN = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Device names usable on this machine, CPU last."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``/``"cpu"``/``"cuda"``/``"cuda:1"``/``"mps"`` into a usable :class:`torch.device`.

    Raises
    ------
    ValueError
        For an unknown name or a device this machine does not have.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto' or 'cpu', got {type(device).__name__}")
    kind = device.split(":")[0].lower()
    if kind not in _KNOWN:
        raise ValueError(f"device must be one of {_KNOWN} (optionally 'cuda:N'), got {device!r}")
    if kind == "auto":
        return torch.device(available_devices()[0])
    if kind not in available_devices():
        raise ValueError(f"device {device!r} is not available here; available: {available_devices()}")
    return torch.device(device)
