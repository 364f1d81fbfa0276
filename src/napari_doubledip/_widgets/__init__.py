"""napari dock widgets, one per task, each a :class:`~._base.TaskWidget` named by its spec (``_tasks.py``).

Importing this module imports napari and Qt, never torch: the worker thread imports torch when a run starts.
"""

from __future__ import annotations

from ._base import TaskWidget
from ._tasks import DEHAZING, SEGMENTATION, TRANSPARENCY, WATERMARK

__all__ = ["TaskWidget", "SegmentationWidget", "TransparencyWidget", "WatermarkWidget", "DehazingWidget"]


class SegmentationWidget(TaskWidget):
    """Foreground/background segmentation of an image (or a stack) with optional scribbles or a box."""

    spec = SEGMENTATION


class TransparencyWidget(TaskWidget):
    """Separation of two transparent layers from one image, several mixtures, or a video."""

    spec = TRANSPARENCY


class WatermarkWidget(TaskWidget):
    """Watermark removal from one image with a box, or from several images sharing the watermark."""

    spec = WATERMARK


class DehazingWidget(TaskWidget):
    """Haze removal: clean image, transmission map and airlight."""

    spec = DEHAZING
