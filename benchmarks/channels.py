#!/usr/bin/env python
"""Segmentation of a two-channel image whose object shows in one channel only (the widget's "more channels").

A synthetic fluorescence-like pair made from scikit-image's bundled images: a "membrane" channel (a grass
texture everywhere, no object in it, float 0-1) and a "marker" channel (the grey texture composite: a textured
object through a known blob, as uint16 0-60000). ``dd.segment`` at its default budget, IoU of the mask against the
blob for:

- the membrane alone, and the marker alone;
- both channels stacked as they are (different units: the library normalises the stack as a whole, so the
  channel with the smaller range is flat next to the other): the marker in the larger range, then in the
  smaller (the membrane as 0-60000, the marker as 0-1);
- both channels each mapped to 0-1 by its own range first (what the widget does with the layers' contrast limits).

Usage (from the repository root)::

    .venv/bin/python benchmarks/channels.py                 # 128 px, seeds 0 and 1 (about 3 min)
    .venv/bin/python benchmarks/channels.py --size 64 --seeds 0
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
from _cli import int_list  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seeds", default="0,1")
    args = ap.parse_args(argv)
    n = args.size
    truth = samples.blob_mask(n)
    membrane = samples._gray("grass", n)
    marker = (samples.texture_composite(n, rgb=False).data * 60000).astype(np.uint16)
    inputs = {
        "membrane alone": membrane,
        "marker alone": marker,
        "both, raw units (marker 0-60000, membrane 0-1)": np.stack(
            [membrane.astype(np.float32), marker.astype(np.float32)], axis=-1
        ),
        "both, raw units (marker 0-1, membrane 0-60000)": np.stack(
            [membrane * 60000.0, marker / 60000.0], axis=-1
        ).astype(np.float32),
        "both, each 0-1 by its range": np.stack([membrane, marker / 60000.0], axis=-1).astype(np.float32),
    }
    seeds = int_list(ap, args.seeds, "--seeds", 0)
    print(f"| input ({n} px) | " + " | ".join(f"IoU seed {s}" for s in seeds) + " | s / run |")
    print("| --- | " + " | ".join("---:" for _ in seeds) + " | ---: |")
    for name, image in inputs.items():
        ious, times = [], []
        for seed in seeds:
            t = time.perf_counter()
            r = dd.segment(image, seed=seed, device="cpu")
            times.append(time.perf_counter() - t)
            ious.append(samples.iou(r.mask > 0.5, truth))
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in ious) + f" | {np.mean(times):.1f} |", flush=True)


if __name__ == "__main__":
    main()
