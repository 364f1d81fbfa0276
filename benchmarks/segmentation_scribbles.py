#!/usr/bin/env python
"""Segmentation with a user's scribbles, with and without automatic hints filling in around them.

The scribbles are simulated from the ground truth, as users would draw them:

- ``dot``: one 5x5 foreground dot at the object's deepest point (a single click on the object);
- ``strokes``: a foreground stroke along the object's body (the skeleton of the mask eroded by 3 px) and a
  background stroke beside it (the left half of a 2 px ring about 6 % of the image size outside the object);
- ``corrections``: what a user marks after looking at the automatic result: a 5x5 foreground dot in the largest
  part of the object it missed and a background dot in the largest false part (each where that part is at least
  0.2 % of the image, at its deepest point, clipped to the part). The automatic run's IoU is printed next to
  it.

Each is run with ``auto_fill=True`` (the default: automatic hints fill in where the scribbles mark nothing and
fade after the first phase; the scribbles are held) and ``auto_fill=False`` (the scribbles alone, the rest left
to the DIP prior), at the default budget; the synthetic texture composite (grey and RGB, 128 px) is run too.
For a clip (``--video``) the scribbles are drawn on its first frame only. ``turned`` counts the filled-in runs
whose automatic hints were turned round (most of the automatic foreground hints became background).

Usage (from the repository root; the data folder is read, never copied)::

    .venv/bin/python benchmarks/segmentation_scribbles.py ../shared/eval-data --max-size 256           # ~20 min
    .venv/bin/python benchmarks/segmentation_scribbles.py ../shared/eval-data --max-size 256 --video   # ~10 min
    .venv/bin/python benchmarks/segmentation_scribbles.py ../shared/eval-data --scribbles corrections   # ~12 min
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))

import evaluate as ev  # noqa: E402
from _cli import name_list  # noqa: E402
from segmentation_box import dot_labels, segmentation_cases  # noqa: E402

import napari_doubledip as dd  # noqa: E402
from napari_doubledip import samples  # noqa: E402


def stroke_labels(gt: np.ndarray) -> np.ndarray:
    """A foreground stroke along the object (1) and a background stroke beside it (2), see the module doc."""
    from skimage.morphology import skeletonize

    core = ndimage.binary_erosion(gt, iterations=3)
    fg = skeletonize(core) if core.any() else gt
    d = max(4, int(0.06 * max(gt.shape)))
    ring = ndimage.binary_dilation(gt, iterations=d) & ~ndimage.binary_dilation(gt, iterations=d - 2)
    ring[:, int(np.median(np.nonzero(gt)[1])) :] = False
    labels = np.zeros(gt.shape, np.uint8)
    labels[ring] = 2
    labels[fg] = 1
    return labels


def correction_labels(gt: np.ndarray, auto: np.ndarray) -> np.ndarray:
    """A foreground dot in the largest missed part (1), a background dot in the largest false part (2)."""
    labels = np.zeros(gt.shape, np.uint8)
    for wrong, label in ((gt & ~auto, 1), (auto & ~gt, 2)):
        parts, n = ndimage.label(wrong)
        if n:
            sizes = np.bincount(parts.ravel())[1:]
            if sizes.max() >= 0.002 * gt.size:
                part = parts == 1 + int(np.argmax(sizes))
                labels[(dot_labels(part) > 0) & part] = label  # (clipped to the part: a thin one is not overdrawn)
    return labels


SCRIBBLES = {"dot": dot_labels, "strokes": stroke_labels, "corrections": correction_labels}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="evaluation data folder with cases.json")
    ap.add_argument("--max-size", type=int, default=256, help="long side the images are resized to")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", default="", help="comma-separated case-name substrings (default: all)")
    ap.add_argument("--scribbles", default="dot,strokes", help="which of dot, strokes, corrections to draw")
    ap.add_argument("--video", action="store_true", help="the DAVIS clips instead of the horses")
    ap.add_argument("--no-synthetic", action="store_true", help="skip the synthetic texture composite")
    ap.add_argument("--fill", default="both", choices=("both", "on", "off"), help="auto_fill values to run")
    args = ap.parse_args(argv)
    ev.require_cases(ap, args.data)
    kinds = name_list(ap, args.scribbles, "--scribbles", SCRIBBLES)
    cases = segmentation_cases(args.data, args.video, args.cases)
    inputs = []  # (name, image or frames, truth mask(s))
    if not args.video and not args.no_synthetic:
        for rgb in (False, True):
            s = samples.texture_composite(128, rgb=rgb)
            inputs.append((f"synthetic composite ({'RGB' if rgb else 'grey'})", s.data, s.truth["mask"] > 0.5))
    for case in cases:
        data = ev.load_case(args.data, case, args.max_size)
        if args.video:
            inputs.append((case["case"], np.stack(data["inputs"]), data["gt"]["masks"]))
        else:
            inputs.append((case["case"], data["inputs"][0], data["gt"]["mask"]))
    fills = {"both": (False, True), "on": (True,), "off": (False,)}[args.fill]
    ways = [(k, fill) for k in kinds for fill in fills]
    names = [f"{k}, {'filled in' if fill else 'alone'}" for k, fill in ways]
    correct = "corrections" in kinds
    if correct:
        names.insert(0, "automatic")
    scores: dict[str, list[float]] = {n: [] for n in names}
    seconds: dict[str, list[float]] = {n: [] for n in names}
    turned = {n: 0 for n in names}
    call = dd.segment_video if args.video else dd.segment

    def run(name: str, img: np.ndarray, gt: np.ndarray, **kw):
        t = time.perf_counter()
        r = call(img, seed=args.seed, **kw)
        seconds[name].append(time.perf_counter() - t)
        masks, truths = (r.masks, gt) if args.video else (r.mask[None], gt[None])
        scores[name].append(float(np.mean([ev.iou(m > 0.5, g) for m, g in zip(masks, truths)])))
        return r, masks > 0.5

    print("| case | " + " | ".join(f"{n} IoU" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for case, img, gt in inputs:
        row, auto, hints_auto = [], None, None
        gts = gt if args.video else gt[None]
        first = next(t for t, g in enumerate(gts) if g.any())  # (a clip's scribbles: the first frame showing it)
        if correct:
            ra, auto = run("automatic", img, gt)
            hints_auto = ra.hints
            row.append(f"{scores['automatic'][-1]:.3f}")
        for (kind, fill), name in zip(ways, names[len(names) - len(ways) :], strict=True):
            extra = [auto[first]] if kind == "corrections" else []  # (drawn where the automatic run erred)
            drawn = SCRIBBLES[kind](gts[first], *extra)
            labels = np.zeros(gts.shape, np.uint8)
            labels[first] = drawn
            r, _ = run(name, img, gt, hints=labels if args.video else labels[0], auto_fill=fill)
            if fill:  # the automatic foreground hints now mostly background: turned round
                if hints_auto is None:  # (the hints alone: one step)
                    hints_auto = call(img, iterations=1).hints
                hints = r.hints if args.video else r.hints[None]
                was = (hints_auto if args.video else hints_auto[None]) == 1
                turned[name] += int(((hints == 2) & was).sum() > 0.5 * was.sum())
            row.append(f"{scores[name][-1]:.3f}")
        print(f"| {case} | " + " | ".join(row) + " |", flush=True)
    real = [i for i, (case, _, _) in enumerate(inputs) if not case.startswith("synthetic")]
    if real:
        print("| **mean of the real cases** | " + " | ".join(
            f"**{np.mean([scores[n][i] for i in real]):.3f}**" for n in names) + " |")
    print("| s/case | " + " | ".join(f"{np.mean(seconds[n]):.1f}" for n in names) + " |")
    print("| turned | " + " | ".join(str(turned[n]) if "filled" in n else "" for n in names) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
