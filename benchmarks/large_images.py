#!/usr/bin/env python
"""Peak memory and time of the single-image tasks on large images (why the widgets read a multiscale layer at
a level of at most 4096 x 4096 pixels, ``napari_doubledip._widgets._layers.LEVEL_PIXELS``, and refuse a run
that would need more memory than is free, ``napari_doubledip._widgets._runs.MEMORY_PER_PIXEL``).

The optimisation works at the working size whatever the input's size; what grows with the input is reading,
normalising, the full-size finishing (guided filters, the haze model) and the results. Each (task, size) runs in
a fresh Python process on a random RGB (or, with ``--channels 1``, grey) uint8 image (the content does not
change the memory) with a short budget, and reports that process's peak resident memory (RSS), the part of it
above the process's RSS after importing torch and the package (its baseline), that part per input pixel, and
the wall seconds. The baseline is taken before the call, so "above baseline" and the wall time include the
first call's one-off start-up (about 0.12-0.16 GB and 1-3 s: lazily imported modules, thread pools), as a
first run in napari pays it; the growth between two sizes is free of it.

Usage (from the repository root)::

    .venv/bin/python benchmarks/large_images.py                     # 1024, 2048, 4096 px; four tasks
    .venv/bin/python benchmarks/large_images.py --sizes 2048,4096 --channels 1   # grey
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TASKS = ("segment", "dehaze", "separate_layers", "remove_watermark")

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {src!r})
import numpy as np
import torch  # noqa: F401  (in the baseline)
import napari_doubledip as dd

task, n, iterations, channels = {task!r}, {size}, {iterations}, {channels}
shape = (n, n, channels) if channels > 1 else (n, n)
# drawn as uint8 directly: a float64 temporary would raise the peak before the baseline is taken and hide
# part of the task's own cost
img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
extra = {{"box": (n // 4, n // 4, n // 2, n // 2)}} if task == "remove_watermark" else {{}}
t = time.perf_counter()
getattr(dd, task)(img, iterations=iterations, device="cpu", **extra)
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"base": base * 1024, "peak": peak * 1024, "wall": wall}}))
"""


def run(task: str, size: int, iterations: int, channels: int = 3) -> dict[str, float]:
    """Run one task on one size in a fresh process; its peak and baseline RSS (bytes) and wall seconds."""
    code = _CHILD.format(src=str(ROOT / "src"), task=task, size=size, iterations=iterations, channels=channels)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:  # (the child's own error, not only its exit status)
        raise SystemExit(f"{task} at {size} px failed:\n{out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1024,2048,4096", help="square image sizes (px), comma-separated")
    parser.add_argument("--tasks", default=",".join(TASKS), help="task functions, comma-separated")
    parser.add_argument("--iterations", type=int, default=20, help="optimisation steps (memory does not depend)")
    parser.add_argument("--channels", type=int, default=3, help="3 = RGB (default), 1 = grey")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes takes comma-separated whole numbers, got {args.sizes!r}")
    if min(sizes) < 16 or args.iterations < 1 or args.channels not in (1, 3):
        parser.error("--sizes takes numbers of at least 16, --iterations at least 1, --channels 1 or 3")
    tasks = args.tasks.split(",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {','.join(TASKS)}")
    print("| task | size | peak RSS (GB) | above baseline (GB) | bytes / pixel | wall (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for task in tasks:
        for n in sizes:
            r = run(task, n, args.iterations, args.channels)
            above = r["peak"] - r["base"]
            print(
                f"| {task} | {n} | {r['peak'] / 1e9:.2f} | {above / 1e9:.2f} | {above / n / n:.0f} | "
                f"{r['wall']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
