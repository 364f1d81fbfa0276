"""Screenshots of each task widget after a real run, for the README.

Run under a virtual display (it opens real napari windows):

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/screenshots.py [--only segmentation ...]

Writes ``docs/images/widget-<task>.png``: the viewer in grid mode (input and output layers side by side) with the
task's dock widget after the run. Tasks whose library function is not available are skipped.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

import napari_doubledip

PLUGIN = "napari-doubledip"
OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


@dataclass
class Shot:
    widget: str
    sample: str
    iterations: int
    max_size: int
    setup: Callable[[napari.Viewer, object], None] | None = None


def _select_all_images(viewer, widget) -> None:
    picker = next(iter(widget.pickers.values()))
    picker.value = [layer for layer in viewer.layers if isinstance(layer, napari.layers.Image)]


def _watermark_box(viewer, widget) -> None:
    shapes = [layer for layer in viewer.layers if isinstance(layer, napari.layers.Shapes)]
    if shapes:
        widget.pickers["box"].value = shapes[0]


SHOTS = {
    "segmentation": Shot("Segmentation", "texture_composite", 300, 64),
    # the nuclei sample sets the widget's intensity hints itself; 0 = the library's budget and working size
    "nuclei": Shot("Segmentation", "blob_field", 0, 0),
    "transparency": Shot("Transparency", "two_mixtures", 400, 64, _select_all_images),
    "watermark": Shot("Watermark removal", "watermarked", 400, 128, _watermark_box),
    "dehazing": Shot("Dehazing", "hazy_image", 200, 64),
}


def _wait(widget, timeout: float) -> None:
    app = QApplication.instance()
    t0 = time.monotonic()
    while widget.worker is not None:
        if time.monotonic() - t0 > timeout:
            widget.cancel()
        app.processEvents()
        time.sleep(0.02)
    _settle()


def _settle(steps: int = 20) -> None:
    """Let Qt lay out and the canvas draw."""
    app = QApplication.instance()
    for _ in range(steps):
        app.processEvents()
        time.sleep(0.02)


def take(name: str, shot: Shot, timeout: float, out: Path = OUT) -> Path | None:
    function = {s.display_name: s for s in _specs()}[shot.widget].image_mode.function
    if function not in napari_doubledip._LAZY:
        print(f"skip {name}: napari_doubledip.{function} is not available")
        return None
    viewer = napari.Viewer(title=f"napari-doubledip: {name}")
    try:
        viewer.window.resize(1280, 800)
        _settle()
        try:
            viewer.open_sample(PLUGIN, shot.sample)
        except KeyError:
            print(f"skip {name}: no sample {shot.sample!r}")
            return None
        _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, shot.widget)
        widget.iterations.value = shot.iterations
        widget.max_size.value = shot.max_size
        widget.keep_partial.value = True  # a run cut by --timeout still shows its best result
        if shot.setup is not None:
            shot.setup(viewer, widget)
        t0 = time.monotonic()
        if widget.run() is None:
            raise RuntimeError(f"{name}: the run did not start: {widget.status.value}")
        _wait(widget, timeout)
        widget.keep_partial.value = False  # back to the default for the picture
        for layer in viewer.layers:  # (segmentation's layers start hidden; the grid shows every one)
            layer.visible = True
        viewer.canvas.grid.enabled = True
        _settle()
        viewer.reset_view()
        _settle()
        path = out / f"widget-{name}.png"
        viewer.screenshot(str(path), canvas_only=False, flash=False)
        print(f"{path} ({time.monotonic() - t0:.0f} s): {widget.status.value}")
        return path
    finally:
        viewer.close()


def _specs():
    from napari_doubledip._widgets._tasks import SPECS

    return SPECS.values()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SHOTS), help="tasks to shoot (default: all)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run before cancelling")
    parser.add_argument("--iterations", type=int,
                        help="override every task's iterations (quick layout checks: with --out elsewhere; "
                        "0 = the library's budget, as the panel's 0 / auto)")
    parser.add_argument("--out", type=Path, default=OUT,
                        help="folder for the PNGs (default docs/images, the README's pictures)")
    args = parser.parse_args()
    if args.iterations is not None and not 0 <= args.iterations <= 100_000:  # (the panel's range)
        parser.error(f"--iterations must be 0 to 100000, got {args.iterations}")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        parser.error(f"--timeout must be a number of seconds > 0, got {args.timeout}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or SHOTS:
        shot = SHOTS[name]
        if args.iterations is not None:
            shot = replace(shot, iterations=args.iterations)
        take(name, shot, args.timeout, args.out)


if __name__ == "__main__":
    main()
