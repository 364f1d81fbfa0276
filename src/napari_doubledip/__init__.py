"""napari-doubledip: unsupervised image decomposition with coupled Deep-Image-Prior networks (Double-DIP).

Importing this package does not import torch: the task functions are loaded on first use, so napari starts fast.

>>> import napari_doubledip as dd
>>> r = dd.segment(image)                       # doctest: +SKIP
>>> r = dd.separate_layers([mix1, mix2])        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# PyTorch's OpenMP threads spin while idle; when napari's GUI or other processes share the cores, small
# convolutions then run several times slower with 2 threads than with 1 (measured: 0.73-1.9 s/it vs 0.08 s/it at
# 128 px under load). A passive wait policy avoids that at no cost on an idle machine. It only takes effect if set
# before torch is first imported, hence here; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# public name -> module (relative) that defines it
_LAZY = {
    "segment": ".tasks.segmentation",
    "SegmentationResult": ".tasks.segmentation",
    "separate_layers": ".tasks.transparency",
    "LayersResult": ".tasks.transparency",
    "segment_video": ".tasks.video",
    "separate_video_layers": ".tasks.video",
    "VideoSegmentationResult": ".tasks.video",
    "VideoLayersResult": ".tasks.video",
    "remove_watermark": ".tasks.watermark",
    "WatermarkResult": ".tasks.watermark",
    "dehaze": ".tasks.dehaze",
    "DehazeResult": ".tasks.dehaze",
    "Progress": ".solver.engine",
    "iterate": ".tasks._common",
    "available_devices": ".solver.device",
}

__all__ = [*_LAZY, "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .solver.device import available_devices
    from .solver.engine import Progress
    from .tasks._common import iterate
    from .tasks.dehaze import DehazeResult, dehaze
    from .tasks.segmentation import SegmentationResult, segment
    from .tasks.transparency import LayersResult, separate_layers
    from .tasks.watermark import WatermarkResult, remove_watermark
    from .tasks.video import VideoLayersResult, VideoSegmentationResult, segment_video, separate_video_layers


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
