#!/usr/bin/env python
"""Segmentation with a box around the object, on the Weizmann horses: what a user who draws a rectangle gets.

For each horse the box is the ground-truth mask's bounding box widened by ``--margin`` (a fraction of the image
size on each side, as a user draws it loosely). Three ways to use it are compared with ``dd.segment`` at its
default budget, with the automatic hints alone (no box) as reference:

- ``labels``: the box read as hint labels (outside = background, the central half of the box = foreground,
  held for the whole run): what the widget passed until 2026-12-03 (:func:`box_hints` here);
- ``box``: ``dd.segment(image, box=box)``: outside held as background, automatic hints on the box's
  surroundings inside it;
- ``scribble``: the box and one foreground scribble (a 5x5 dot at the object's deepest point; for a video, on
  its first frame only), as a user who clicks once on the object: ``dd.segment(image, hints=dot, box=box)``.

Usage (from the repository root; the data folder is read, never copied)::

    .venv/bin/python benchmarks/segmentation_box.py ../shared/eval-data --max-size 256
    .venv/bin/python benchmarks/segmentation_box.py ../shared/eval-data --max-size 256 --video   # DAVIS clips
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import evaluate as ev  # noqa: E402
from _cli import name_list  # noqa: E402

import napari_doubledip as dd  # noqa: E402


def box_hints(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """The box as hint labels, as the widget read it before 2026-12-03: outside background (2), the central
    half foreground (1), the ring between unlabelled."""
    top, left, bottom, right = box
    labels = np.full(shape, 2, np.uint8)
    labels[top:bottom, left:right] = 0
    h, w = bottom - top, right - left
    labels[top + h // 4 : bottom - h // 4, left + w // 4 : right - w // 4] = 1
    return labels


def dot_labels(gt: np.ndarray) -> np.ndarray:
    """Hint labels with one 5x5 foreground dot (1) at the mask's deepest point (farthest from its edge)."""
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(gt)
    y, x = np.unravel_index(int(np.argmax(depth)), gt.shape)
    labels = np.zeros(gt.shape, np.uint8)
    labels[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3] = 1
    return labels


def segmentation_cases(data: Path, video: bool, names: str = "") -> list[dict]:
    """The horses (or, ``video``, the DAVIS clips with masks) of ``cases.json``, those whose name contains one of
    the comma-separated ``names`` if given."""
    task = "video" if video else "segmentation"
    cases = [c for c in json.loads((data / "cases.json").read_text()) if c["task"] == task]
    if video:
        cases = [c for c in cases if "masks" in c.get("gt", {})]
    if keys := ev.case_keys(names):
        cases = [c for c in cases if ev.named(c["case"], keys)]
        if not cases:
            raise SystemExit(f"no {task} case matches {names!r}")
    return cases


def loose_box(gt: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """The mask's bounding box widened by ``margin`` of the image size on each side, clipped to the image."""
    ys, xs = np.nonzero(gt)
    h, w = gt.shape
    return (
        max(0, int(ys.min() - margin * h)),
        max(0, int(xs.min() - margin * w)),
        min(h, int(ys.max() + margin * h) + 1),
        min(w, int(xs.max() + margin * w) + 1),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="evaluation data folder with cases.json")
    ap.add_argument("--max-size", type=int, default=256, help="long side the images are resized to")
    ap.add_argument("--margin", type=float, default=0.04, help="box margin, fraction of the image size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", default="", help="comma-separated case-name substrings (default: all horses)")
    ap.add_argument("--ways", default="auto,labels,box", help="which of auto, labels, box, scribble to run")
    ap.add_argument("--video", action="store_true", help="the DAVIS clips with a box per frame instead")
    ap.add_argument(
        "--crop-margin", type=float, default=None,
        help="override segmentation.BOX_CROP_MARGIN (the box's crop widening for its automatic hints)",
    )
    args = ap.parse_args(argv)
    ev.require_cases(ap, args.data)
    ways = tuple(name_list(ap, args.ways, "--ways", ("auto", "labels", "box", "scribble")))
    if args.crop_margin is not None:
        from napari_doubledip.tasks import segmentation

        segmentation.BOX_CROP_MARGIN = args.crop_margin
    cases = segmentation_cases(args.data, args.video, args.cases)
    scores: dict[str, list[float]] = {k: [] for k in ways}
    seconds: dict[str, list[float]] = {k: [] for k in ways}
    print("| case | " + " | ".join(f"{k} IoU" for k in ways) + " |")
    print("|---|" + "---:|" * len(ways))
    for case in cases:
        data = ev.load_case(args.data, case, args.max_size)
        if args.video:  # one box per frame, around that frame's object
            img, gt = np.stack(data["inputs"]), data["gt"]["masks"]
            boxes = {t: loose_box(g, args.margin) for t, g in enumerate(gt) if g.any()}
            labels = np.zeros(gt.shape, np.uint8)
            for t, b in boxes.items():
                labels[t] = box_hints(gt.shape[1:], b)
            calls = {
                "auto": lambda: dd.segment_video(img, seed=args.seed),
                "labels": lambda: dd.segment_video(img, hints=labels, auto_fill=False, seed=args.seed),
                "box": lambda: dd.segment_video(img, box=boxes, seed=args.seed),
                "scribble": lambda: dd.segment_video(img, hints=dots, box=boxes, seed=args.seed),
            }
            first = next(t for t, g in enumerate(gt) if g.any())
            dots = np.zeros(gt.shape, np.uint8)
            dots[first] = dot_labels(gt[first])
        else:
            img, gt = data["inputs"][0], data["gt"]["mask"]
            box = loose_box(gt, args.margin)
            calls = {
                "auto": lambda: dd.segment(img, seed=args.seed),
                "labels": lambda: dd.segment(img, hints=box_hints(gt.shape, box), auto_fill=False, seed=args.seed),
                "box": lambda: dd.segment(img, box=box, seed=args.seed),
                "scribble": lambda: dd.segment(img, hints=dot_labels(gt), box=box, seed=args.seed),
            }
        row = []
        for k in ways:
            t = time.perf_counter()
            r = calls[k]()
            seconds[k].append(time.perf_counter() - t)
            if args.video:  # mean over frames
                scores[k].append(float(np.mean([ev.iou(m > 0.5, g) for m, g in zip(r.masks, gt)])))
            else:  # polarity as returned: the box decides it
                scores[k].append(ev.iou(np.asarray(r.mask) > 0.5, gt))
            row.append(f"{scores[k][-1]:.3f}")
        print(f"| {case['case']} | " + " | ".join(row) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"**{np.mean(scores[k]):.3f}**" for k in ways) + " |")
    print("| s/case | " + " | ".join(f"{np.mean(seconds[k]):.1f}" for k in ways) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
