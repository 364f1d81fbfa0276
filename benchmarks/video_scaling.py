#!/usr/bin/env python
"""How the cost of the video tasks grows with the number of frames (issue 5).

For T = 5, 20, 100 frames of 128x128 (synthetic videos with ground truth from :mod:`napari_doubledip.samples`) it
runs :func:`napari_doubledip.segment_video` and :func:`napari_doubledip.separate_video_layers` with their default
budgets and prints, per run: wall seconds, CPU seconds of this process, the split into setup (validation, hints,
static-layer estimate: everything before the first progress report), the optimisation loop (its total, periodic
checks included, and the median cost of one iteration) and the finish (final evaluation of all frames, guided
filtering, full-resolution layers), and the quality reached (mean
IoU of the masks; PSNR of the static layer, raw and after the best gain/offset fit, next to the temporal mean of
the frames as a baseline). It also runs the single-image :func:`napari_doubledip.segment` on one frame with its
defaults and reports each video's cost as "equivalent single-image runs" and seconds per frame.

The machine this runs on may be shared; CPU seconds are less sensitive to other load than wall seconds.

Usage (from the repository root)::

    .venv/bin/python benchmarks/video_scaling.py                    # 5, 20, 100 frames, 128x128, defaults
    .venv/bin/python benchmarks/video_scaling.py --frames 5,20 --iterations 100 --threads 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))

import napari_doubledip as dd  # noqa: E402
from napari_doubledip import samples  # noqa: E402
from _cli import int_list, name_list  # noqa: E402


def affine_psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """PSNR after the least-squares gain and offset fit of ``estimate`` to ``truth`` (Eq. 7 fixes neither)."""
    a = np.stack([estimate.ravel(), np.ones(estimate.size)], axis=1).astype(np.float64)
    coef = np.linalg.lstsq(a, truth.ravel().astype(np.float64), rcond=None)[0]
    return samples.psnr(np.clip(a @ coef, 0, 1).reshape(truth.shape), truth)


def timed(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, float]]:
    """Run a task function; wall / CPU seconds and the setup / loop / finish split from its progress reports."""
    marks: list[tuple[int, float]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    result = func(*args, progress=lambda p: marks.append((p.iteration, time.perf_counter())), **kwargs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    (i0, first), (_, last) = marks[0], marks[-1]
    # Iteration cost: median over report intervals (robust to the periodic checks, which are counted in "loop").
    rates = [(tb - ta) / (ib - ia) for (ia, ta), (ib, tb) in zip(marks, marks[1:]) if ib > ia]
    per_it = float(np.median(rates)) if rates else (first - t0) / max(i0, 1)
    return result, {
        "wall": wall,
        "cpu": cpu,
        "setup": max(0.0, first - t0 - per_it * i0),
        "per_it": per_it,
        "loop": last - first + per_it * i0,
        "finish": t0 + wall - last,
        "its": result.iterations,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", default="5,20,100", help="comma-separated frame counts")
    ap.add_argument("--size", type=int, default=128, help="frame side in pixels")
    ap.add_argument("--iterations", type=int, default=None, help="override the default budgets")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads: ceiling of the engine's own choice")
    ap.add_argument("--tasks", default="segment,layers", help="segment and/or layers")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    counts = int_list(ap, args.frames, "--frames", 2)  # (a stack has at least two frames)
    tasks = name_list(ap, args.tasks, "--tasks", ("segment", "layers"))
    its = args.iterations
    print(f"torch {torch.__version__}, at most {torch.get_num_threads()} threads, frames {args.size}x{args.size}")

    from speed import warm_up

    warm_up()  # (else the single-image baseline, the ratios' denominator, holds the process's start-up)
    single = samples.moving_object_video(args.size, 2).data[0]
    r, t1 = timed(dd.segment, single, iterations=its, seed=0)
    print(
        f"single-image segment: {t1['wall']:.1f} s wall, {t1['cpu']:.1f} s CPU, {t1['its']} it, "
        f"{t1['per_it'] * 1e3:.0f} ms/it"
    )
    header = (
        f"{'task':<8}{'T':>5}{'wall s':>9}{'CPU s':>8}{'setup':>7}{'loop':>7}{'ms/it':>7}{'its':>6}{'finish':>8}"
        f"{'s/frame':>9}{'x single':>10}  quality"
    )
    print(header)
    print("-" * len(header))
    for n in counts:
        if "segment" in tasks:
            s = samples.moving_object_video(args.size, n)
            r, t = timed(dd.segment_video, s.data, iterations=its, seed=0)
            ious = [samples.iou(m, g) for m, g in zip(r.masks, s.truth["masks"])]
            q = f"IoU mean {np.mean(ious):.3f} min {np.min(ious):.3f}"
            _row("segment", n, t, t1, q)
        if "layers" in tasks:
            s = samples.reflection_video(args.size, n)
            r, t = timed(dd.separate_video_layers, s.data, iterations=its, seed=0)
            st = s.truth["static"]
            mean = s.data.mean(axis=0)
            q = (
                f"static PSNR {samples.psnr(r.static, st):.1f} dB (fit {affine_psnr(r.static, st):.1f}); "
                f"temporal mean {samples.psnr(mean, st):.1f} (fit {affine_psnr(mean, st):.1f}); "
                f"dynamic {samples.psnr(r.dynamic, s.truth['dynamic']):.1f}"
            )
            _row("layers", n, t, t1, q)


def _row(name: str, n: int, t: dict[str, float], t1: dict[str, float], quality: str) -> None:
    print(
        f"{name:<8}{n:>5}{t['wall']:>9.1f}{t['cpu']:>8.1f}{t['setup']:>7.1f}{t['loop']:>7.1f}"
        f"{t['per_it'] * 1e3:>7.0f}"
        f"{t['its']:>6}{t['finish']:>8.1f}{t['wall'] / n:>9.2f}{t['wall'] / t1['wall']:>10.2f}  {quality}",
        flush=True,
    )


if __name__ == "__main__":
    main()
