"""The automatic segmentation hints on the Weizmann horses: how precise each saliency estimate and the hints are.

For every horse case of ``cases.json`` (long side at most ``--max-size``), with the ground-truth mask:

- saliency IoU: the map thresholded at its Otsu level against the mask, for the two estimates of
  ``solver/saliency.py`` (boundary contrast, boundary connectivity) and their geometric mean (what the hints use);
- hint precision and coverage: of the foreground hints, the share on the horse (precision) and the share of the
  horse they cover; of the background hints, the share off the horse; from the saliency alone
  (``colour=False``) and refined by the colour model (the default on RGB images).

No optimisation runs: a few seconds per case. Reproduce the module docstring's figures::

    .venv/bin/python benchmarks/saliency_hints.py ../shared/eval-data
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from evaluate import load_case, require_cases  # noqa: E402  (the evaluation's loading and resizing)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--max-size", type=int, default=256)
    args = parser.parse_args()
    require_cases(parser, args.data_dir)

    import torch

    from napari_doubledip.solver import saliency as S

    listed = json.loads((args.data_dir / "cases.json").read_text())
    cases = [c for c in listed if c.get("task") == "segmentation" and "horse" in c["case"].lower()]
    rows = []
    for case in cases:
        data = load_case(args.data_dir, case, args.max_size)
        image = torch.from_numpy(np.ascontiguousarray(data["inputs"][0][..., :3])).permute(2, 0, 1).float()
        truth = data["gt"]["mask"]
        maps = {
            "contrast": S.boundary_contrast(image),
            "connectivity": torch.from_numpy(S.boundary_connectivity(image.permute(1, 2, 0).double().numpy())),
            "mean": S.saliency(image),
        }
        row = {f"{k} IoU": iou(v.numpy() > S._otsu(v.float()), truth) for k, v in maps.items()}
        for colour in (False, True):
            fg, bg = (m.numpy() for m in S.saliency_hints(image, colour=colour))
            tag = "colour" if colour else "saliency"
            row[f"{tag} fg precision"] = float(truth[fg].mean()) if fg.any() else float("nan")
            row[f"{tag} fg coverage"] = float(fg[truth].mean())
            row[f"{tag} bg precision"] = float((~truth[bg]).mean()) if bg.any() else float("nan")
        rows.append(row)
        print(case["case"], "  ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    print(f"\nmeans over {len(rows)} cases:")
    for key in rows[0]:
        print(f"  {key:24s} {np.nanmean([r[key] for r in rows]):.3f}")


if __name__ == "__main__":
    main()
