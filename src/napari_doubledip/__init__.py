"""napari-doubledip: unsupervised image decomposition with coupled Deep-Image-Prior networks (Double-DIP).

Importing this package does not import torch: the task functions are loaded on first use, so napari starts fast.

>>> import napari_doubledip as dd
>>> r = dd.segment(image)                       # doctest: +SKIP
>>> r = dd.separate_layers([mix1, mix2])        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module (relative) that defines it
_LAZY = {
    "segment": ".tasks.segmentation",
    "SegmentationResult": ".tasks.segmentation",
    "separate_layers": ".tasks.transparency",
    "LayersResult": ".tasks.transparency",
    "Progress": ".solver.engine",
    "iterate": ".tasks._common",
    "available_devices": ".solver.device",
}

__all__ = [*_LAZY, "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .solver.device import available_devices
    from .solver.engine import Progress
    from .tasks._common import iterate
    from .tasks.segmentation import SegmentationResult, segment
    from .tasks.transparency import LayersResult, separate_layers


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
