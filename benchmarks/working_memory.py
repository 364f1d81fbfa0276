"""Peak memory of a run against its working size: what the panels' memory check adds per working pixel.

Each measurement runs in a fresh process (a warm-up call first, then one 2-iteration call) and prints its peak
RSS above the process's after the warm-up. ``MEMORY_PER_WORKING_PIXEL`` in ``_widgets/_runs.py`` is the growth
per working pixel beyond the default working size (128), per image of a set, with about 15 % added.

Reproduce (about a minute on a 2-core CPU)::

    .venv/bin/python benchmarks/working_memory.py
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:  # (this checkout's code, here and in the child processes, not an installed one)
    sys.path.insert(0, str(SRC))

#: (task, image size, working sizes): the default (128) and one at the image's size.
CASES = (("segment", 512, (128, 512)), ("dehaze", 512, (128, 512)), ("mixtures", 512, (128, 512)),
         ("watermark_set", 384, (128, 384)))


def measure(task: str, size: int, working: int) -> float:
    """MB of peak RSS above the process's after a warm-up, for one 2-iteration call (run in this process)."""
    import napari_doubledip as dd
    from napari_doubledip import samples as S

    dd.segment(S.texture_composite(32).data, iterations=2)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if task == "segment":
        dd.segment(S.texture_composite(size).data, iterations=2, max_size=working)
    elif task == "dehaze":
        dd.dehaze(S.hazy_image(size).data, iterations=2, max_size=working)
    elif task == "mixtures":
        dd.separate_layers(S.two_mixtures(size, rgb=True).data, iterations=2, max_size=working)
    else:
        dd.remove_watermark(S.watermark_set(3, size).data, iterations=2, max_size=working)
    # (ru_maxrss is in KiB on Linux; MB here are 1e6 bytes, as in the constants this script measures)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024 / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--one", nargs=3, metavar=("TASK", "SIZE", "WORKING"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(f"{measure(args.one[0], int(args.one[1]), int(args.one[2])):.0f}")
        return
    images = {"watermark_set": 3, "mixtures": 2}  # (images per call: the growth is per image)
    for task, size, (default, large) in CASES:
        mb = [float(subprocess.run([sys.executable, __file__, "--one", task, str(size), str(w)], check=True,
                                   capture_output=True, text=True).stdout.split()[-1]) for w in (default, large)]
        per = (mb[1] - mb[0]) * 1e6 / (large**2 - default**2) / images.get(task, 1)
        print(f"{task:14s} {size} px: working size {default} {mb[0]:5.0f} MB, {large} {mb[1]:5.0f} MB: "
              f"{per / 1000:.1f} kB per working pixel and image", flush=True)


if __name__ == "__main__":
    main()
