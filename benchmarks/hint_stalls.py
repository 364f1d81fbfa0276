"""How long a whole-stack segmentation's automatic hints stall the thread that waits beside them.

The hints run in the panel's worker thread; any call there that holds the GIL for long (or starves the cores)
freezes napari's event loop. Two ways to measure it, each printing the run's seconds and the stalls of a timer
that should tick every ``--tick`` seconds:

    .venv/bin/python benchmarks/hint_stalls.py --frames 100 --size 64 --rgb        # library: a thread + a loop
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/hint_stalls.py --panel --frames 100

``--panel`` opens the segmentation panel on the stack (``samples.moving_object_video``) in its whole-stack mode
and presses Run; without it ``segment_video`` runs in a plain thread while the main thread sleeps in ``--tick``
steps. ``--iterations`` is kept small (10 by default) so that the run is mostly its hints. To compare two
versions, run the script with ``PYTHONPATH=<other checkout>/src``.
"""

from __future__ import annotations

import argparse
import threading
import time


def _summary(label: str, seconds: float, gaps: list[float], tick: float) -> None:
    long = sorted(g for g in gaps if g > 0.1)
    print(f"{label}: run {seconds:.1f} s; {len(long)} stalls over 100 ms (timer every {tick * 1e3:.0f} ms), "
          f"longest {max(gaps, default=0.0):.3f} s; the 5 longest {[round(g, 3) for g in long[-5:]]}", flush=True)


def library(frames, iterations: int, tick: float) -> None:
    import napari_doubledip as dd

    dd.segment(frames[0], iterations=2)  # warm-up: imports and the first call's start-up stay out
    done, box = threading.Event(), {}

    def work() -> None:
        t = time.perf_counter()
        dd.segment_video(frames, iterations=iterations)
        box["s"] = time.perf_counter() - t
        done.set()

    gaps: list[float] = []
    worker = threading.Thread(target=work)
    worker.start()
    last = time.perf_counter()
    while not done.is_set():
        time.sleep(tick)
        now = time.perf_counter()
        gaps.append(now - last - tick)
        last = now
    worker.join()
    _summary("library (segment_video in a thread)", box["s"], gaps, tick)


def panel(frames, iterations: int, tick: float) -> None:
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    viewer.add_image(frames, name="stack", rgb=frames.ndim == 4)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", "Segmentation")
    widget.iterations.value = iterations
    widget.frames.value = "whole stack (video)"
    gaps: list[float] = []
    last = [time.perf_counter()]

    def on_tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0] - tick)
        last[0] = now

    def pump(done, timeout: float = 600.0) -> None:
        start = time.perf_counter()
        while not done() and time.perf_counter() - start < timeout:
            QApplication.processEvents()
            time.sleep(0.002)

    for k, label in enumerate(("panel, first run (imports torch)", "panel, second run")):
        gaps.clear()
        timer = QTimer()
        timer.setInterval(round(tick * 1e3))
        timer.timeout.connect(on_tick)
        last[0] = time.perf_counter()
        timer.start()
        t = time.perf_counter()
        widget.run()
        pump(lambda: widget.worker is None)
        timer.stop()
        _summary(label, time.perf_counter() - t, gaps, tick)
    viewer.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--size", type=int, default=64, help="frame side in px")
    p.add_argument("--rgb", action="store_true", help="colour frames (default grey)")
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--tick", type=float, default=0.02, help="timer interval in seconds")
    p.add_argument("--panel", action="store_true", help="in napari's segmentation panel (needs a display)")
    args = p.parse_args()
    from napari_doubledip import samples

    frames = samples.moving_object_video(args.size, args.frames, rgb=args.rgb).data
    print(f"{args.frames} frames of {args.size} px, {'RGB' if args.rgb else 'grey'}, {args.iterations} iterations")
    (panel if args.panel else library)(frames, args.iterations, args.tick)


if __name__ == "__main__":
    main()
