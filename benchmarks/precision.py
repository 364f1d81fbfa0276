"""float32 against bfloat16 autocast: speed and quality of our defaults, several seeds, every task.

For each task of ``benchmarks/speed.py`` (same synthetic samples with ground truth, same quality metrics) and
each seed, the public call at its defaults runs once with the networks in float32 and once under bfloat16
autocast (``precision=``; the order alternates per seed so that drift of the machine's speed
hits both). Printed: s/iteration, wall time, iterations and quality per run, then per task the mean quality of
each precision, the difference, and the wall-time ratio. This is the measurement behind
``precision="auto"`` (see ``napari_doubledip.solver.device.resolve_precision``).

Reproduce (about 35 minutes on the 2-core development CPU)::

    .venv/bin/python benchmarks/precision.py --size 128 --seeds 0,1,2 --out results/precision
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402  (the task table, samples and quality metrics)
from speed import _cpu_has_amx  # noqa: E402
from _cli import int_list  # noqa: E402

PRECISIONS = ("float32", "bfloat16")


def run_one(task: str, size: int, seed: int, precision: str, device: str = "cpu") -> dict:
    import napari_doubledip as dd

    bench = speed.BENCHES[task]
    sample = bench.sample(size)
    reports: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    r = bench.call(getattr(dd, bench.func), sample, device=device, seed=seed, precision=precision,
                   progress=lambda p: reports.append((p.iteration, p.elapsed)))
    wall = time.perf_counter() - t0
    s_it = speed._steady(reports, 10)
    return dict(task=task, size=size, seed=seed, device=device, precision=r.precision, wall=wall, s_it=s_it,
                iterations=r.iterations, threads=r.threads, quality=float(bench.quality(r, sample)))


def summary(rows: list[dict], tasks: list[str]) -> str:
    """Per task (those with runs of both precisions): quality per seed and mean, difference, speed ratios."""
    lines = ["| task | metric | float32: quality per seed (mean) | bfloat16: quality per seed (mean) | "
             "bf16 - fp32 | s/it fp32 → bf16 | wall fp32 / bf16 |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for task in tasks:
        by = {pr: [r for r in rows if r["task"] == task and r["precision"] == pr] for pr in PRECISIONS}
        if not all(by.values()):
            continue
        q = {pr: [r["quality"] for r in by[pr]] for pr in PRECISIONS}
        fmt = {pr: " / ".join(f"{v:.3f}" for v in q[pr]) + f" ({np.mean(q[pr]):.3f})" for pr in PRECISIONS}
        sit = {pr: np.mean([r["s_it"] for r in by[pr] if r["s_it"]]) for pr in PRECISIONS}
        wall = {pr: sum(r["wall"] for r in by[pr]) for pr in PRECISIONS}
        lines.append(f"| {task} | {speed.BENCHES[task].metric} | {fmt['float32']} | {fmt['bfloat16']} | "
                     f"{np.mean(q['bfloat16']) - np.mean(q['float32']):+.3f} | "
                     f"{sit['float32']:.4f} → {sit['bfloat16']:.4f} | {wall['float32'] / wall['bfloat16']:.2f}x |")
    return "\n".join(lines)


def write(out: str | None, rows: list[dict], tasks: list[str], partial: bool) -> None:
    """Write <out>.md and <out>.json; also after each run (``partial``), so that a run cut off by a time limit
    (gpu.sh) keeps what it measured."""
    if not out:
        return
    base = Path(out)
    base = base.with_suffix("") if base.suffix in (".md", ".json") else base
    base.parent.mkdir(parents=True, exist_ok=True)
    note = "\n\nPARTIAL: the run had not finished when this was written" if partial else ""
    Path(str(base) + ".md").write_text(summary(rows, tasks) + note + "\n")
    Path(str(base) + ".json").write_text(json.dumps(rows, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="all")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps (one warm-up run first off the CPU)")
    p.add_argument("--out", default=None, help="write <out>.md and <out>.json")
    args = p.parse_args(argv)
    import torch

    speed._register_optional()
    tasks = list(speed.BENCHES) if args.tasks == "all" else args.tasks.split(",")
    unknown = [t for t in tasks if t not in speed.BENCHES]
    if unknown:
        p.error(f"unknown task(s) {unknown}; choose from {', '.join(speed.BENCHES)} or all")
    seeds = int_list(p, args.seeds, "--seeds", 0)
    print(f"torch {torch.__version__}, {os.cpu_count()} logical CPUs, AMX: {_cpu_has_amx()}, "
          f"size {args.size}, seeds {seeds}, device {args.device}", flush=True)
    speed.warm_up(args.device)  # (on the CPU too: else the first run, a float32 one, pays the start-up)
    rows = []
    for task in tasks:
        for i, seed in enumerate(seeds):
            for precision in PRECISIONS if i % 2 == 0 else PRECISIONS[::-1]:
                r = run_one(task, args.size, seed, precision, args.device)
                rows.append(r)
                threads = f"{r['threads']}t" if r["threads"] else args.device  # threads matter on the CPU only
                print(f"{task:20s} seed {seed} {r['precision']:9s} {r['s_it'] or float('nan'):.4f} s/it "
                      f"x {r['iterations']:4d} ({threads})  {r['wall']:6.1f} s  "
                      f"{speed.BENCHES[task].metric} {r['quality']:.3f}", flush=True)
                write(args.out, rows, tasks, partial=True)
    table = summary(rows, tasks)
    print("\n" + table, flush=True)
    write(args.out, rows, tasks, partial=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
