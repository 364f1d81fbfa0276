"""napari-doubledip: unsupervised image decomposition with coupled Deep-Image-Prior networks (Double-DIP).

Importing this package does not import torch: the task functions are loaded on first use, so napari starts fast.

>>> import napari_doubledip as dd
>>> r = dd.segment(image)                       # doctest: +SKIP
>>> r = dd.separate_layers([mix1, mix2])        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

# PyTorch's OpenMP threads spin while they wait. When two runs (or any busy process) share the cores, a spinning
# team collapses: 1.7 s/it instead of 0.04 s/it for 128 px segmentation with 2 threads on 2 cores (measured). A
# passive wait policy avoids that; its price, waking the team on every small operation, is why
# solver/threads.py runs the small default problems on one thread. It only takes effect if set before torch is
# first imported, hence here; a user's own setting wins. ``PASSIVE_WAIT`` is a best guess whether it reached
# OpenMP (a setting made after torch's import, or an OpenMP runtime started by another library, can fool it).
if "OMP_WAIT_POLICY" in os.environ:  # the user's (or a parent process's) setting, in effect since start-up
    PASSIVE_WAIT = os.environ["OMP_WAIT_POLICY"].strip().upper() == "PASSIVE"
else:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    PASSIVE_WAIT = "torch" not in sys.modules

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
    "dehaze_frames": ".tasks.dehaze",
    "DehazeResult": ".tasks.dehaze",
    "Progress": ".solver.progress",
    "iterate": ".tasks._common",
    "RunInfo": ".tasks._common",
    "available_devices": ".solver.device",
}

__all__ = [*_LAZY, "__version__"]

if TYPE_CHECKING:  # pragma: no cover; for type checkers and IDEs (the names are in __all__)
    from .solver.device import available_devices  # noqa: F401
    from .solver.progress import Progress  # noqa: F401
    from .tasks._common import RunInfo, iterate  # noqa: F401
    from .tasks.dehaze import DehazeResult, dehaze, dehaze_frames  # noqa: F401
    from .tasks.segmentation import SegmentationResult, segment  # noqa: F401
    from .tasks.transparency import LayersResult, separate_layers  # noqa: F401
    from .tasks.video import VideoLayersResult, VideoSegmentationResult, segment_video, separate_video_layers  # noqa: F401
    from .tasks.watermark import WatermarkResult, remove_watermark  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
