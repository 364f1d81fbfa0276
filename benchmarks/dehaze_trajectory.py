"""How dehazing quality evolves during one run, and what the run itself could tell about it (stopping rules).

Used for "Dehazing: why light haze is over-dehazed" in ``docs/measurements.md``.

For each hazy case (real ones from an evaluation folder, described by its ``cases.json``, and the synthetic
``samples.hazy_image`` scenes), runs ``dd.dehaze`` at its default budget with a preview every ``--every`` steps
and prints, per check point: PSNR of the full-resolution result against the ground truth, and statistics of the
current solution that need no ground truth (mean transmission, fraction of pixels the haze model would make
negative before clipping, mean dark channel of the unclipped result, reconstruction loss). Writes all rows to
``--out`` as JSON.

    .venv/bin/python benchmarks/dehaze_trajectory.py ../shared/eval-data --out results/dehaze_traj.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import napari_doubledip as dd
from napari_doubledip import samples as S
from napari_doubledip.solver import engine
from napari_doubledip.solver import haze as Hz
from napari_doubledip.tasks import dehaze as dh_mod

sys.path.insert(0, str(Path(__file__).parent))
import evaluate as E  # noqa: E402


def stats(img: np.ndarray, t: np.ndarray, a: np.ndarray) -> dict[str, float]:
    """Ground-truth-free statistics of a result: unclipped J from the haze model."""
    t3 = np.clip(t, dh_mod.T_MIN, 1)[..., None] if img.ndim == 3 else np.clip(t, dh_mod.T_MIN, 1)
    j = (img - (1 - t3) * a) / t3
    jt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(j, -1, 0) if j.ndim == 3 else j[None])).float()
    r = Hz.patch_radius(img.shape[:2])
    dc = Hz.dark_channel(jt.clamp(0, 1), r)
    jmin = j.min(axis=-1) if j.ndim == 3 else j
    return {
        "t_mean": float(t.mean()),
        "neg_frac": float((jmin < -0.02).mean()),
        "neg_mass": float(np.clip(-j, 0, None).mean()),
        "over_frac": float(((j.max(axis=-1) if j.ndim == 3 else j) > 1.02).mean()),
        "dark_mean": float(dc.mean()),
        "j_std": float(np.clip(j, 0, 1).std()),
        "j_mean": float(np.clip(j, 0, 1).mean()),
        "a_mean": float(np.mean(a)),
        "a_std": float(np.mean(np.std(a.reshape(-1, a.shape[-1]) if a.ndim == 3 else a.reshape(-1, 1), axis=0))),
    }


def run_case(
    name: str, img: np.ndarray, gt: np.ndarray, every: int, iterations: int | None, seed: int, tta: bool
) -> dict:
    rows = []
    orig = dh_mod.build_task

    def build(*a, **k):
        task = orig(*a, **k)
        task.check_every = every
        return task

    dh_mod.build_task = build
    evaluate_orig = engine._evaluate
    if tta:  # previews as the final result is made (averaged over the 8 dihedral transforms)
        engine._evaluate = lambda task, groups, tta=False, gen=None: evaluate_orig(task, groups, tta=True, gen=gen)
    try:
        def progress(p):
            if p.preview is None:
                return
            out = np.clip(p.preview["clean"], 0, 1)
            row = {"it": p.iteration, "psnr": E.psnr(E.match_channels(out, gt), gt), "loss": p.losses.get(
                "reconstruction", float("nan"))}
            row.update(stats(img, p.preview["transmission"], p.preview["airlight"]))
            rows.append(row)

        t0 = time.perf_counter()
        r = dd.dehaze(img, iterations=iterations, device="cpu", seed=seed, progress=progress)
        dt = time.perf_counter() - t0
    finally:
        dh_mod.build_task = orig
        engine._evaluate = evaluate_orig
    final = E.psnr(E.match_channels(np.clip(r.clean, 0, 1), gt), gt)
    best = max(rows, key=lambda x: x["psnr"])
    print(f"{name:28s} {r.params['haze']:7s} final {final:6.2f} best {best['psnr']:6.2f} @ {best['it']:4d} "
          f"input {E.psnr(img, gt):6.2f} ({dt:.0f} s)", flush=True)
    for row in rows:
        print("   " + " ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
    return {"case": name, "haze": r.params["haze"], "final": final, "rows": rows, "input": E.psnr(img, gt)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", type=Path, nargs="?")
    p.add_argument("--max-size", type=int, default=256)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", default="", help="comma-separated substrings of case names (default all)")
    p.add_argument("--no-synthetic", action="store_true")
    p.add_argument("--no-tta", action="store_true", help="previews without the final result's 8-way averaging")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    if a.no_synthetic and a.data_dir is None:
        p.error("nothing to run: give the data folder, or leave out --no-synthetic")
    if a.data_dir is not None:
        E.require_cases(p, a.data_dir)
    torch.set_num_threads(1)
    want = E.case_keys(a.cases)
    out = []
    if not a.no_synthetic:
        for scene in ("coffee", "chelsea"):
            for varying in (False, True):
                s = S.hazy_image(a.max_size, varying_airlight=varying, scene=scene)
                name = f"synthetic {scene}{' varying' if varying else ''}"
                if E.named(name, want):
                    gt = s.truth["clean"]
                    out.append(run_case(name, s.data, gt, a.every, a.iterations, a.seed, not a.no_tta))
    if a.data_dir is not None:
        cases = json.loads((a.data_dir / "cases.json").read_text())
        for case in cases:
            if case["task"] != "dehazing" or not E.named(case["case"], want):
                continue
            data = E.load_case(a.data_dir, case, a.max_size)
            out.append(run_case(case["case"], data["inputs"][0], data["gt"]["clean"], a.every, a.iterations,
                                a.seed, not a.no_tta))
    if want and not out:
        raise SystemExit(f"no case matches --cases {a.cases!r}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
