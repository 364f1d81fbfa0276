#!/usr/bin/env python
"""Whole-stack segmentation with intensity hints on a Z-stack whose brightness falls with depth (or a
time-lapse that photobleaches).

A fluorescence-like Z-stack with ground truth: the planes of a 3-D ``binary_blobs`` volume (objects change
shape from plane to plane), each blurred, scaled by an attenuation ``exp(-k z)`` that takes the last plane to
``--dim`` of the first's brightness, on a dark offset, with Poisson noise. Mean mask IoU over the planes (the
better of the mask and its inverse, per stack) for:

- ``dd.segment_video(hints="intensity")`` on the whole stack;
- ``dd.segment(hints="intensity")`` on each plane alone;
- Otsu's threshold of the smoothed stack (one threshold) and of each smoothed plane (one per plane).

Usage (from the repository root)::

    .venv/bin/python benchmarks/stack_brightness.py                        # dim 0.35, seeds 0-2 (about 4 min)
    .venv/bin/python benchmarks/stack_brightness.py --dim 1 --seeds 0,1,2  # no attenuation
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
from _cli import int_list, name_list  # noqa: E402


KINDS = ("zstack", "static", "moving")


def stack(
    seed: int, planes: int, size: int, dim: float, kind: str = "zstack", fraction: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """A noisy stack ``(planes, size, size)`` in about [0, 1] and its ground-truth masks: ``"zstack"``, the
    planes of a 3-D blob volume (objects change shape from plane to plane); ``"static"``, one field of blobs
    in every frame (only the noise differs); ``"moving"``, a larger field seen through a window that drifts
    1 px right and 0.5 px down a frame (a time-lapse)."""
    from skimage import data, filters

    if kind == "zstack":  # a volume ``planes`` deep cut from a cube: blobs sized as a fraction of its side
        vol = data.binary_blobs(size, blob_size_fraction=0.08, volume_fraction=fraction, n_dim=3, rng=seed)
        truth = vol[size // 2 : size // 2 + planes]
    elif kind == "static":
        field = data.binary_blobs(size, blob_size_fraction=0.08, volume_fraction=fraction, rng=seed)
        truth = np.repeat(field[None], planes, axis=0)
    elif kind == "moving":
        big = size + planes
        field = data.binary_blobs(big, blob_size_fraction=0.08 * size / big, volume_fraction=fraction, rng=seed)
        truth = np.stack([field[k // 2 : k // 2 + size, k : k + size] for k in range(planes)])
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    gain = dim ** (np.arange(planes) / max(planes - 1, 1))
    clean = np.stack([filters.gaussian(m.astype(float), 1.5) for m in truth]) * 0.6 * gain[:, None, None] + 0.1
    noisy = np.random.default_rng(seed).poisson(clean * 200) / 200.0
    return noisy.astype(np.float32), truth


def mean_iou(masks: np.ndarray, truth: np.ndarray) -> float:
    """Mean per-plane IoU, the polarity chosen once for the whole stack."""
    a = np.mean([samples.iou(m, t) for m, t in zip(masks, truth)])
    b = np.mean([samples.iou(~m, t) for m, t in zip(masks, truth)])
    return float(max(a, b))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dim", type=float, default=0.35, help="last plane's brightness / first's (1: none)")
    p.add_argument("--kind", default="zstack", help=f"one or more of {', '.join(KINDS)}, comma-separated")
    p.add_argument("--planes", type=int, default=8)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seeds", default="0,1,2", help="stacks (and runs) to make, comma-separated")
    p.add_argument("--iterations", type=int, default=None, help="per run (default: each call's own budget)")
    p.add_argument("--no-planes", action="store_true", help="skip the plane-by-plane runs (the slow part)")
    args = p.parse_args(argv)
    seeds = int_list(p, args.seeds, "--seeds", minimum=0)
    kinds = name_list(p, args.kind, "--kind", KINDS)
    if not 0 < args.dim <= 1:
        p.error(f"--dim takes a number in (0, 1], got {args.dim}")

    summary = []
    for kind in kinds:
        rows = []
        for seed in seeds:
            rows.append(score(kind, seed, args))
            print(f"{kind} seed {seed}: " + ", ".join(
                f"{k} {v:.1f}" if k.endswith(" s") else f"{k} {v:.3f}" for k, v in rows[-1].items()
            ), flush=True)
        summary.append((kind, {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}))
    print(f"\nmean mask IoU (and seconds a stack) over seeds {seeds}; dim {args.dim}, {args.planes} planes of "
          f"{args.size} px:")
    keys = list(summary[0][1])
    print("| stack | " + " | ".join(keys) + " |\n|" + " --- |" * (len(keys) + 1))
    for kind, means in summary:
        print(f"| {kind} | " + " | ".join(f"{v:.1f}" if k.endswith(" s") else f"{v:.3f}" for k, v in means.items())
              + " |")


def score(kind: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """One stack's mean IoU for the baselines and the runs (and the runs' seconds)."""
    from skimage import filters

    data, truth = stack(seed, args.planes, args.size, args.dim, kind)
    smooth = np.stack([filters.gaussian(d, 1.0) for d in data])
    row = {
        "otsu stack": mean_iou(smooth > filters.threshold_otsu(smooth), truth),
        "otsu planes": mean_iou(np.stack([s > filters.threshold_otsu(s) for s in smooth]), truth),
    }
    t0 = time.perf_counter()
    r = dd.segment_video(data, hints="intensity", iterations=args.iterations, seed=seed)
    row["video"], row["video s"] = mean_iou(r.masks > 0.5, truth), time.perf_counter() - t0
    if not args.no_planes:
        t0 = time.perf_counter()
        masks = [dd.segment(d, hints="intensity", iterations=args.iterations, seed=seed).mask for d in data]
        row["planes"], row["planes s"] = mean_iou(np.stack(masks) > 0.5, truth), time.perf_counter() - t0
    return row

if __name__ == "__main__":
    main()
