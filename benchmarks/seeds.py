"""Seed spread: one task's synthetic case (the cases of ``speed.py``) run over several seeds and recipes.

A single run of a Double-DIP task is one draw: the result depends on the seed (the networks' initial weights and
noise inputs), by several dB for the ambiguous tasks. Comparisons of recipes, or of a change, need the spread;
this script prints the quality and wall time of every (recipe, seed) and the mean / min / max per recipe.

Reproduce the one-image transparency comparison in the README (about 40 minutes on a 2-core CPU alone, about 80
alongside other work: the reference recipe's 8000 steps take 7-18 minutes a seed)::

    .venv/bin/python benchmarks/seeds.py transparency_single --seeds 0,1,2,3,4
    .venv/bin/python benchmarks/seeds.py transparency_single --recipes reference --seeds 0,1,2,3,4
    .venv/bin/python benchmarks/seeds.py transparency_single --seeds 0,1,2,3,4 --iterations 1500
    .venv/bin/python benchmarks/seeds.py transparency_single --seeds 0,1,2,3,4 --iterations 800 --max-size 96

Runs are sequential in this process (``speed.py`` gives the careful timings: fresh processes, peak RSS).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import speed  # noqa: E402  (the synthetic cases and quality measures)
from _cli import int_list, name_list  # noqa: E402


def run(
    task: str,
    recipes: list[str],
    seeds: list[int],
    size: int,
    iterations: int | None,
    device: str,
    max_size: int | None = None,
) -> None:
    """Print one line per (recipe, seed) and a summary per recipe (``max_size``: the working size passed on)."""
    import napari_doubledip as dd

    speed._register_optional()
    if task not in speed.BENCHES:
        raise SystemExit(f"unknown task {task!r}; available: {', '.join(speed.BENCHES)}")
    bench = speed.BENCHES[task]
    sample = bench.sample(size)
    func = getattr(dd, bench.func)
    kw = {} if max_size is None else {"max_size": max_size}
    speed.warm_up(device)  # (else the first seed's time holds the process's start-up)
    print(f"== {task}, {size} px: {bench.case}; {bench.metric}, wall seconds")
    for recipe in recipes:
        scores = []
        for seed in seeds:
            t0 = time.perf_counter()
            r = bench.call(func, sample, preset=recipe, iterations=iterations, device=device, seed=seed, **kw)
            dt = time.perf_counter() - t0
            scores.append(bench.quality(r, sample))
            print(f"{recipe:9s} seed {seed}: {scores[-1]:7.3f}  {dt:7.1f} s  ({r.iterations} it, "
                  f"{r.threads or '-'} threads)", flush=True)
        s = np.asarray(scores)
        print(f"{recipe:9s} mean {s.mean():.3f}  min {s.min():.3f}  max {s.max():.3f}  (seeds {seeds})",
              flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", help="a task of speed.py (segmentation, transparency, transparency_single, ...)")
    p.add_argument("--recipes", default="default", help="comma-separated presets: default, reference")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--size", type=int, default=128, help="image side in px")
    p.add_argument("--iterations", type=int, default=None, help="default: the recipe's own")
    p.add_argument("--max-size", type=int, default=None, help="working size (default: the task's own)")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    seeds = int_list(p, a.seeds, "--seeds", 0)
    recipes = name_list(p, a.recipes, "--recipes", ("default", "reference"))  # (checked before the warm-up)
    run(a.task, recipes, seeds, a.size, a.iterations, a.device, a.max_size)


if __name__ == "__main__":
    main()
