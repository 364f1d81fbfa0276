#!/usr/bin/env python
"""Several mixtures of the same two layers: coefficients and layers recovered, on synthetic mixtures.

For each set of true coefficients (RGB and grey), prints the coefficients :func:`estimate_alphas` finds (no
network; skipped on commits that lack it), the coefficients ``dd.separate_layers`` returns, the mean layer PSNR
(better ordering of the two layers) and the wall time. Only the public API and the bundled images are used, so
the same command on an older commit measures the solver as it was then.

Usage (from the repository root)::

    .venv/bin/python benchmarks/mixture_coefficients.py                    # default budget, 128 px
    .venv/bin/python benchmarks/mixture_coefficients.py --iterations 150,600
    .venv/bin/python benchmarks/mixture_coefficients.py --noise 0.02 --estimate-only   # noisy mixtures
    .venv/bin/python benchmarks/mixture_coefficients.py --noise 0.02 --estimate-only --size 64 --seeds 0,1,2

With ``--estimate-only`` it ends with the estimate's largest and mean error over the rows (each coefficient
against the truth, the better of the two layer orders).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))
from _cli import int_list  # noqa: E402

SETS = ((0.3, 0.7), (0.2, 0.55), (0.45, 0.85), (0.2, 0.5, 0.8))


def _layer_psnr(layers, truth) -> float:
    from napari_doubledip.samples import psnr

    a = (psnr(layers[0], truth["layer1"]) + psnr(layers[1], truth["layer2"])) / 2
    b = (psnr(layers[1], truth["layer1"]) + psnr(layers[0], truth["layer2"])) / 2
    return max(a, b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", default="", help="comma-separated budgets (default: the default budget)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds of the noise (and runs), one row each (default: --seed)")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="std of Gaussian noise added to each mixture on its own (values in 0-1; seeded)")
    parser.add_argument("--estimate-only", action="store_true", help="only the coefficients' estimate (fast)")
    args = parser.parse_args(argv)
    if not (np.isfinite(args.noise) and args.noise >= 0):
        parser.error(f"--noise must be >= 0, got {args.noise}")
    if args.size < 16:
        parser.error(f"--size must be >= 16, got {args.size}")

    import torch

    import napari_doubledip as dd
    from napari_doubledip import samples as S
    from napari_doubledip.tasks import transparency as T

    budgets = [int(x) for x in args.iterations.split(",") if x] or [None]
    seeds = int_list(parser, args.seeds, "--seeds", 0) if args.seeds is not None else [args.seed]
    errors = []
    print("| coefficients | colour | seed | estimate (s) | iterations | returned | layer PSNR dB | wall s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for alphas, rgb, seed in ((a, c, d) for a in SETS for c in (True, False) for d in seeds):
        s = S.two_mixtures(args.size, alphas=alphas, rgb=rgb)
        if args.noise:  # (independent per mixture: a camera's noise; the truth stays noise-free)
            rng = np.random.default_rng(seed)
            s.data[:] = s.data + rng.normal(0.0, args.noise, s.data.shape).astype(s.data.dtype)
        est = "n/a"
        if hasattr(T, "estimate_alphas"):
            m = torch.from_numpy(s.data)
            m = m.permute(0, 3, 1, 2) if m.ndim == 4 else m[:, None]
            t0 = time.perf_counter()
            a = T.estimate_alphas(m).numpy()
            est = f"{np.array2string(a, precision=3)} ({time.perf_counter() - t0:.1f})"
            truth = np.asarray(alphas)  # (layer1 is a convention: the better of the two orders)
            errors.append(min(np.abs(a - truth).max(), np.abs(a - (1 - truth)).max()))
        head = f"| {'/'.join(map(str, alphas))} | {'RGB' if rgb else 'grey'} | {seed} | {est}"
        if args.estimate_only:
            print(f"{head} | - | - | - | - |", flush=True)
            continue
        for its in budgets:
            t0 = time.perf_counter()
            r = dd.separate_layers(s.data, iterations=its, device="cpu", seed=seed)
            wall = time.perf_counter() - t0
            print(f"{head} | {r.iterations} | {np.array2string(r.alphas, precision=3)} | "
                  f"{_layer_psnr(r.layers, s.truth):.2f} | {wall:.1f} |", flush=True)
    if errors:
        print(f"\nestimate's error: largest {max(errors):.3f}, mean {np.mean(errors):.4f} over {len(errors)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
