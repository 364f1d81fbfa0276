"""Threads for the automatic segmentation hints: seconds per image of ``saliency_hints``, 1 thread vs 2.

The hints are computed once per image (once per frame of a stack, before the optimisation) on at most 128 px
(stacks) or 256 px (one image): many small operations. This script times them with 1 and 2 torch threads on
scikit-image's astronaut at several sizes, on an idle machine and beside another process running
segmentations (a stand-in for a second run, napari drawing or another program). (A first version imported
torch before the package, so OpenMP spun instead of waiting passively as in a run: two threads then measured
1.3-3x slower, and the hints were put on one thread; with the package's passive wait there is no consistent
difference, and the change was withdrawn.)

    .venv/bin/python benchmarks/setup_threads.py [--sizes 64,128,256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np


#: The load: another process running segmentations (its own default thread choice) until killed.
BUSY = (
    "import warnings\n"
    "warnings.simplefilter('ignore')\n"
    "import napari_doubledip as dd\n"
    "from napari_doubledip import samples as S\n"
    "s = S.texture_composite(128)\n"
    "while True:\n"
    "    dd.segment(s.data, iterations=50, hints=None, device='cpu')\n"
)


def _time(fn, threads: int, repeats: int) -> float:
    """Median seconds of ``fn()`` with ``threads`` threads, through the private body (no thread switching)."""
    import torch

    torch.set_num_threads(threads)
    fn()  # (warm)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="64,128,256")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        p.error(f"--sizes takes comma-separated whole numbers, got {args.sizes!r}")
    if args.repeats < 1:
        p.error(f"--repeats must be at least 1, got {args.repeats}")
    # (the package first: its OpenMP wait policy takes effect only if set before torch is imported)
    import napari_doubledip

    import torch
    from skimage import data
    from skimage.transform import resize

    from napari_doubledip.solver.saliency import saliency_hints

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available, passive OpenMP wait "
          f"{napari_doubledip.PASSIVE_WAIT}; median of {args.repeats}")
    print("| load | size | 1 thread (s) | 2 threads (s) | 2 / 1 |")
    print("|---|---|---|---|---|")
    for load in ("idle", "busy"):
        busy = None
        if load == "busy":
            busy = subprocess.Popen([sys.executable, "-c", BUSY])
            time.sleep(8.0)  # (its start-up)
        try:
            for size in sizes:
                img = resize(data.astronaut(), (size, size)).astype(np.float32)
                x = torch.from_numpy(img).permute(2, 0, 1).contiguous()

                def fn(x=x):
                    return saliency_hints(x, 0.3, 0.05, True)

                one, two = _time(fn, 1, args.repeats), _time(fn, 2, args.repeats)
                print(f"| {load} | {size} | {one:.3f} | {two:.3f} | {two / one:.2f} |", flush=True)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()


if __name__ == "__main__":
    main()
