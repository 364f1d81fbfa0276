"""How long Cancel takes on a napari session's first run, which imports torch, and on the next one.

Run under a virtual display (it opens a real napari window; each run of the script is a fresh process, so its
first run imports torch):

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/first_run_cancel.py [--after 0.3]

Opens the segmentation panel on a 48 px image, presses Run, then Cancel ``--after`` seconds later, twice, and
prints the seconds from Cancel until the panel is idle again, the status right after Cancel and the longest
stall of the GUI's event loop (a 20 ms timer's longest gap) while each run went.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--after", type=float, default=0.3, help="seconds from Run to Cancel")
    parser.add_argument("--runs", type=int, default=2, help="runs, each cancelled")
    args = parser.parse_args()

    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_doubledip import samples

    torch_before = "torch" in __import__("sys").modules
    viewer = napari.Viewer(show=True)
    viewer.add_image(samples.texture_composite(48).data, name="image")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-doubledip", "Segmentation")
    widget.iterations.value, widget.max_size.value = 2000, 32
    gaps = [0.0]
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps[0] = max(gaps[0], now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    timer.start()

    def pump_until(done, timeout: float = 120.0) -> None:
        start = time.perf_counter()
        while not done() and time.perf_counter() - start < timeout:
            QApplication.processEvents()
            time.sleep(0.005)

    print(f"torch imported before the first run: {torch_before}")
    for k in range(args.runs):
        gaps[0], last[0] = 0.0, time.perf_counter()
        widget.run()
        t0 = time.perf_counter()
        pump_until(lambda: time.perf_counter() - t0 >= args.after)
        t1 = time.perf_counter()
        widget.cancel()
        said = widget.status.value
        pump_until(lambda: widget.worker is None)
        print(f"run {k + 1}: Cancel -> idle {time.perf_counter() - t1:.2f} s (status then: {said!r}); "
              f"longest GUI stall {gaps[0]:.2f} s")
    timer.stop()
    viewer.close()


if __name__ == "__main__":
    main()
