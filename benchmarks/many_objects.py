#!/usr/bin/env python
"""Segmentation of many small bright objects (a fluorescence-like field of nuclei) against a global threshold.

Double-DIP's segmentation looks for one mask that splits the image into two simple layers, seeded by
salient-object hints; microscopy often shows many small objects that intensity alone separates. Synthetic
fields with ground truth from scikit-image's ``binary_blobs`` (blobs blurred, on a background ramp, Poisson
noise), mask IoU (the better of the mask and its inverse) for:

- ``dd.segment`` with its automatic hints (default budget);
- ``dd.segment(hints="intensity")``: pixels clearly above / below the Otsu threshold of the smoothed image
  held all run as hints (precision 0.93-1.00), every pixel then given to the layer that explains it
  (``reassign="auto"``, which is 0 with these hints); and the same hints with the pixels reassigned only where a
  layer is clearly better (``reassign=0.1``) and not at all (``reassign=None``: the mask network's mask);
- Otsu's threshold of the smoothed image (one line of scikit-image).

Usage (from the repository root)::

    .venv/bin/python benchmarks/many_objects.py                    # three fields (about 3 min)
    .venv/bin/python benchmarks/many_objects.py --iterations 1500  # a longer run than the default budget
    .venv/bin/python benchmarks/many_objects.py --fields 3 --picture docs/images/many-objects.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

import napari_doubledip as dd  # noqa: E402
from napari_doubledip import samples  # noqa: E402
from _cli import int_list  # noqa: E402

FIELDS = ((1, 0.3, 128), (2, 0.2, 128), (3, 0.4, 256))  # (seed, area fraction of objects, size)


def field(seed: int, fraction: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy fluorescence-like image of blobs and its ground-truth mask (``samples.blob_field``)."""
    s = samples.blob_field(size, fraction, seed)
    return s.data, s.truth["mask"]


def best_iou(mask: np.ndarray, truth: np.ndarray) -> float:
    return max(samples.iou(mask, truth), samples.iou(~mask, truth))


def main(argv: list[str] | None = None) -> None:
    from skimage import filters

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=None, help="per run (default: dd.segment's own budget)")
    p.add_argument("--fields", default="1,2,3", help="which of the three fields (their seeds: 1, 2, 3)")
    p.add_argument("--picture", default=None, help="write a PNG of the last field: image | Otsu | "
                   'hints="intensity" | the same, reassign=None | truth')
    args = p.parse_args(argv)
    chosen = set(int_list(p, args.fields, "--fields", 1))
    if chosen - {1, 2, 3}:
        p.error(f"--fields takes one or more of 1, 2, 3, got {args.fields!r}")

    print('| field | objects | dd.segment, automatic hints | hints="intensity" | the same, reassign=0.1 | '
          "reassign=None | Otsu | s / run |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for seed, fraction, size in (f for f in FIELDS if f[0] in chosen):
        img, truth = field(seed, fraction, size)
        smooth = filters.gaussian(img, 1)
        t = filters.threshold_otsu(smooth)
        start = time.perf_counter()
        its = dict(iterations=args.iterations, device="cpu")
        auto = dd.segment(img, **its).mask > 0.5
        hinted = [
            dd.segment(img, hints="intensity", reassign=margin, **its).mask > 0.5 for margin in ("auto", 0.1, None)
        ]
        wall = (time.perf_counter() - start) / 4
        print(
            f"| {size} px, seed {seed} | {fraction:.0%} | {best_iou(auto, truth):.3f} | "
            + " | ".join(f"{best_iou(m, truth):.3f}" for m in hinted)
            + f" | {best_iou(smooth > t, truth):.3f} | {wall:.1f} |",
            flush=True,
        )
    if args.picture:
        from skimage.io import imsave

        from napari_doubledip.demo import panel

        shown = (img - img.min()) / (img.max() - img.min())
        tiles = [shown, smooth > t, hinted[0], hinted[2], truth]
        imsave(args.picture, panel([np.asarray(x, np.float32) for x in tiles]), check_contrast=False)
        print(f"written: {args.picture}")


if __name__ == "__main__":
    main()
