#!/usr/bin/env python
"""A background click on a false object, with intensity hints filling in: how much of the object stays.

The field of ``tests/tasks/test_segmentation.py::test_a_background_click_on_a_false_object_removes_it_with_
intensity_hints``: four bright discs (radius 5 px, 81 px each) on a noisy uint16 background, 48 px, and a 3 x 3
background click in the middle of the last one (the "false" nucleus). For each seed: the false nucleus's
pixels left in the mask, and the share of each true nucleus kept (``hints=click, auto_fill="intensity"``,
200 iterations, as in the test). Results move with floating-point rounding: run it with the thread count and on
the CPU you want to know about (``NAPARI_DOUBLEDIP_THREADS=2`` for two threads).

    .venv/bin/python benchmarks/background_click.py --seeds 0,1,2,3,4,5,6,7   # about 40 s
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

import napari_doubledip as dd  # noqa: E402
from _cli import cpu_name, int_list  # noqa: E402


def field() -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The test's image, its four discs (the last one false) and the click on it (labels, 2 = background)."""
    yy, xx = np.mgrid[:48, :48]
    objs = [(yy - cy) ** 2 + (xx - cx) ** 2 <= 25 for cy, cx in ((12, 12), (30, 34), (36, 12), (12, 36))]
    noise = np.random.default_rng(0).normal(0, 40, (48, 48))
    img = (200 + noise + sum(objs) * 2800).clip(0, 4095).astype(np.uint16)
    click = np.zeros((48, 48), np.uint8)
    click[11:14, 35:38] = 2
    return img, objs, click


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4,5,6,7")
    args = p.parse_args()
    img, objs, click = field()
    left = []
    for seed in int_list(p, args.seeds, "--seeds", 0):
        r = dd.segment(img, hints=click, auto_fill="intensity", max_size=48, iterations=200, device="cpu",
                       seed=seed)
        left.append(int((r.mask > 0.5)[objs[3]].sum()))
        kept = [round(float((r.mask > 0.5)[o].mean()), 2) for o in objs[:3]]
        print(f"seed {seed} ({r.threads} thread(s)): {left[-1]} of 81 false-nucleus pixels left; true kept {kept}",
              flush=True)
    print(f"left per seed: {' / '.join(map(str, left))} ({cpu_name()})")


if __name__ == "__main__":
    main()
