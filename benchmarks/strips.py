"""Small and strip-shaped inputs: quality of the tasks but segmentation against their networks' coarsest level.

``safe_depth`` drops a network's levels for small inputs until its coarsest level keeps ``NetConfig.coarsest``
pixels across (the reflection padding's minimum, 2 px, when that is 0). For strips (a short side of 10-32 px at
the working size) a 2 px bottleneck can lose the short direction: this script runs every task but segmentation
(whose networks keep 4 px since 2026-12-05) on squares of 24-56 px and on strips cut from the 128 px synthetic
samples, over several seeds, once per value of ``--coarsest`` applied to the tasks' image-sized networks, and
prints the quality per case and the means.

Reproduce (about 20-30 minutes per value on one thread of a 2-core CPU)::

    .venv/bin/python benchmarks/strips.py --coarsest 0 --seeds 0,1,2
    .venv/bin/python benchmarks/strips.py --coarsest 4 --seeds 0,1,2
    .venv/bin/python benchmarks/strips.py --coarsest 3 --seeds 0,1,2 --tasks dehazing,video_transparency

``--coarsest keep`` runs the library as it is: since 2026-12-05 the networks of dehazing and video
transparency keep 3 px (strips gain up to 4 dB, squares of 40 px and more do not change; 4 px did better
on video strips but took a level off 48 px frames); watermark and one-image transparency were mixed (within
their seed spread) and keep 0; several mixtures are solved from the estimated coefficients and do not change.

Quality: PSNR (dB) against the ground truth of the clean image (dehazing; watermark: inside the box), of the
static layer (video transparency), of both layers (one and two mixtures: the better assignment, the mean of the
two layers' PSNR).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable

import numpy as np

import napari_doubledip as dd
from napari_doubledip import samples as S
from napari_doubledip.tasks import dehaze as _dehaze
from napari_doubledip.tasks import transparency as _transparency
from napari_doubledip.tasks import video as _video
from napari_doubledip.tasks import watermark as _watermark

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import speed  # noqa: E402  (the two-layer quality measure)
from _cli import int_list, name_list  # noqa: E402

#: The image-sized networks of each task (the small fixed-size colour / airlight / coefficient grids are not
#: changed by the working size).
NETWORKS = {
    _dehaze: ("CLEAN_NET", "TRANSMISSION_NET"),
    _watermark: ("CLEAN_NET", "ALPHA_NET"),
    _transparency: ("LAYER_NET", "SINGLE_NET"),
    _video: ("DYNAMIC_NET", "STATIC_NET"),
}

SQUARES = (24, 32, 40, 48, 56)
#: Row ranges of the 128 px samples: 12, 16, 24 and 32 rows (the watermark's are over its text band).
STRIPS = ((58, 70), (56, 72), (52, 76), (48, 80))
WATERMARK_STRIPS = ((22, 34), (20, 36), (16, 40), (14, 46))


def set_coarsest(value: int) -> None:
    """Give the tasks' image-sized networks ``coarsest=value``."""
    for module, names in NETWORKS.items():
        for name in names:
            setattr(module, name, dataclasses.replace(getattr(module, name), coarsest=value))


def _rows(sample: S.Sample, rows: tuple[int, int] | None, stack: bool = False) -> S.Sample:
    """The sample cut to ``rows``, of every frame / mixture when ``stack``: truth arrays shaped like the data are
    cut as it is, single images along their first axis, 1-D ones (coefficients) kept."""
    if rows is None:
        return sample
    sl = slice(*rows)

    def cut(a: np.ndarray, stacked: bool) -> np.ndarray:
        return a[:, sl] if stacked else a[sl]

    truth = {k: v if v.ndim < 2 else cut(v, stack and v.ndim == sample.data.ndim) for k, v in sample.truth.items()}
    return S.Sample(cut(sample.data, stack), truth, sample.name, dict(sample.extra))


def _pair_psnr(layers: list[np.ndarray], truth: dict[str, np.ndarray]) -> float:
    return speed._best_pair_psnr(tuple(layers), (truth["layer1"], truth["layer2"]))


def dehazing(size: int, rows: tuple[int, int] | None, seed: int) -> tuple[float, float]:
    s = _rows(S.hazy_image(size, varying_airlight=True), rows)
    r = dd.dehaze(s.data, seed=seed)
    return S.psnr(r.clean, s.truth["clean"]), S.psnr(s.data, s.truth["clean"])


def watermark(size: int, rows: tuple[int, int] | None, seed: int) -> tuple[float, float]:
    s = S.watermarked(size)
    inside = s.extra["box_mask"]
    if rows is not None:
        s = _rows(s, rows)
        inside = inside[slice(*rows)]
    r = dd.remove_watermark(s.data, box=inside, seed=seed)
    return S.psnr(r.clean[inside], s.truth["clean"][inside]), S.psnr(s.data[inside], s.truth["clean"][inside])


def one_mixture(size: int, rows: tuple[int, int] | None, seed: int) -> tuple[float, float]:
    s = _rows(S.single_mixture(size), rows)
    r = dd.separate_layers(s.data, seed=seed)
    return _pair_psnr(r.layers, s.truth), _pair_psnr([s.data, s.data], s.truth)


def two_mixtures(size: int, rows: tuple[int, int] | None, seed: int) -> tuple[float, float]:
    s = _rows(S.two_mixtures(size, rgb=True), rows, stack=True)
    r = dd.separate_layers(s.data, seed=seed)
    return _pair_psnr(r.layers, s.truth), _pair_psnr(list(s.data), s.truth)


def video_transparency(size: int, rows: tuple[int, int] | None, seed: int) -> tuple[float, float]:
    s = _rows(S.reflection_video(size, frames=8), rows, stack=True)
    r = dd.separate_video_layers(s.data, seed=seed)
    return S.psnr(r.static, s.truth["static"]), S.psnr(s.data.mean(0), s.truth["static"])


TASKS: dict[str, Callable[[int, tuple[int, int] | None, int], tuple[float, float]]] = {
    "dehazing": dehazing,
    "watermark": watermark,
    "one_mixture": one_mixture,
    "two_mixtures": two_mixtures,
    "video_transparency": video_transparency,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--coarsest", default="keep", help="'keep' (the library as it is) or pixels, e.g. 0 or 4")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--shapes", default="squares,strips", help="squares, strips or both")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.coarsest != "keep":
        set_coarsest(int(args.coarsest))
    seeds = int_list(p, args.seeds, "--seeds", 0)
    shapes = name_list(p, args.shapes, "--shapes", ("squares", "strips"))
    tasks = name_list(p, args.tasks, "--tasks", TASKS)
    print(f"coarsest={args.coarsest} seeds={seeds} threads={args.threads}", flush=True)
    means: dict[tuple[str, str], list[float]] = {}
    t_all = time.perf_counter()
    for name in tasks:
        fn = TASKS[name]
        cases: list[tuple[str, int, tuple[int, int] | None]] = []
        if "squares" in shapes:
            cases += [(f"{n}x{n}", n, None) for n in SQUARES]
        if "strips" in shapes:
            strips = WATERMARK_STRIPS if name == "watermark" else STRIPS
            cases += [(f"{b - a}x128", 128, (a, b)) for a, b in strips]
        for label, size, rows in cases:
            scores, base, t0 = [], 0.0, time.perf_counter()
            for seed in seeds:
                q, base = fn(size, rows, seed)
                scores.append(q)
            kind = "strip" if rows else "square"
            means.setdefault((name, kind), []).append(float(np.mean(scores)))
            print(
                f"{name:19s} {label:>7s}  " + " ".join(f"{q:6.2f}" for q in scores)
                + f"  mean {np.mean(scores):6.2f}  (input {base:6.2f})  {time.perf_counter() - t0:6.1f} s",
                flush=True,
            )
    print("\nmeans of the cases' means (dB):")
    for (name, kind), v in means.items():
        print(f"  {name:19s} {kind:6s} {np.mean(v):6.2f}")
    print(f"total {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
