"""A segmentation mask given back as hints, as the widget reads it: plain scribbles vs ``mask_as_hints``.

The synthetic texture composite (``samples.texture_composite``, grey and RGB) with four "previous masks": the
truth itself, the truth after a false blob was erased (painted 0), the truth with that blob kept, and the truth
missing a quarter of the object. Each is given to ``dd.segment`` as scribbles read literally (0 = unmarked) and
as the widget now reads a mask from an earlier run (``_widgets._tasks.mask_as_hints``). Prints the IoU of each
result against the truth.

    .venv/bin/python benchmarks/mask_feedback.py --size 128          # default budget (~3 min on 2 cores)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import napari_doubledip as dd
from napari_doubledip import samples
from napari_doubledip._widgets._tasks import mask_as_hints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=None, help="default: the library's budget")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from speed import warm_up

    warm_up("cpu")  # (else the first timed cell holds the process's start-up: 4.5 s against 0.3 s)
    print("| image | previous mask | its IoU | read as scribbles | mask_as_hints |")
    print("| --- | --- | --- | --- | --- |")
    for rgb in (False, True):
        s = samples.texture_composite(args.size, rgb=rgb)
        truth = s.truth["mask"].astype(bool)

        def iou(m: np.ndarray) -> float:
            m = m.astype(bool)
            return float((m & truth).sum() / (m | truth).sum())

        q = args.size // 4
        blob = truth.copy()
        blob[:q, :q] = True
        erased = blob.copy()
        erased[:q, :q] = False
        ys, xs = np.nonzero(truth)
        hole = truth.copy()
        hole[int(ys.mean()) :, int(xs.mean()) :] = False
        cases = {"the truth": truth, "false blob erased": erased, "false blob kept": blob}
        cases["a quarter missed"] = hole
        for name, prev in cases.items():
            prev = prev.astype(np.uint8)
            cells = []
            # the mask read as plain scribbles (0 = unmarked, alone: as measured before the fill-in), and as hints
            for hints, fill in ((prev, False), (mask_as_hints(prev), True)):
                t0 = time.perf_counter()
                r = dd.segment(s.data, hints=hints, auto_fill=fill, iterations=args.iterations, seed=args.seed)
                cells.append(f"{iou(r.mask):.3f} ({time.perf_counter() - t0:.1f} s)")
            kind = "RGB" if rgb else "grey"
            print(f"| {kind} {args.size} px | {name} | {iou(prev):.3f} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
