#!/usr/bin/env python
"""The saturated-frame warning of the input check (``_validation._bright_frames``): what one such frame costs,
and where the check fires.

1. A 10-frame uint16 video (``samples.texture_composite`` moved 1 px a frame, 48 px, values 0-4000) with frame 4
   saturated (65435-65535): ``segment_video`` mean mask IoU with that frame and with it dropped, as the warning
   advises (150 steps, seeds 0 and 1).
2. With a data folder: every folder's images grouped by shape, each group of three or more checked as a stack
   (false alarms on real stacks and sets).

    .venv/bin/python benchmarks/bright_frame_warning.py                      # part 1 (about 2 min)
    .venv/bin/python benchmarks/bright_frame_warning.py ../shared/eval-data  # and part 2
"""

from __future__ import annotations

import argparse
import collections
import pathlib

import numpy as np

import napari_doubledip as dd
from napari_doubledip import samples
from napari_doubledip._validation import _bright_frames

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def saturated_video() -> tuple[np.ndarray, np.ndarray]:
    s = samples.texture_composite(48, rgb=False)
    frames = np.stack([np.roll(s.data, k, axis=1) for k in range(10)])
    truth = np.stack([np.roll(s.truth["mask"], k, axis=1) for k in range(10)]) > 0
    video = (frames / frames.max() * 4000).astype(np.uint16)
    video[4] = 65535 - np.random.default_rng(0).integers(0, 100, video[4].shape)
    return video, truth


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", help="a folder of images (e.g. ../shared/eval-data)")
    a = p.parse_args()
    if a.data and not pathlib.Path(a.data).is_dir():
        p.error(f"{a.data}: no such folder")
    video, truth = saturated_video()
    print("| seed | IoU with the saturated frame | IoU with it dropped |\n| --- | --- | --- |")
    for seed in (0, 1):
        scores = []
        for x, t in ((video, truth), (np.delete(video, 4, axis=0), np.delete(truth, 4, axis=0))):
            m = dd.segment_video(x, iterations=150, seed=seed).masks > 0.5
            scores.append(float((m & t).sum() / (m | t).sum()))
        print(f"| {seed} | {scores[0]:.3f} | {scores[1]:.3f} |", flush=True)
    if a.data:
        from skimage import io

        root = pathlib.Path(a.data)
        groups: dict = collections.defaultdict(list)
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in SUFFIXES:
                groups[path.parent].append(path)
        checked = fired = 0
        for folder, files in groups.items():
            by_shape: dict = collections.defaultdict(list)
            for f in files[:200]:
                img = io.imread(f)
                by_shape[img.shape].append(img)
            for same in by_shape.values():
                if len(same) < 3:
                    continue
                x = np.stack(same)
                x = x[..., None] if x.ndim == 3 else x[..., :3]
                checked += 1
                if _bright_frames(x, float(x.min()), float(x.max())) is not None:
                    fired += 1
                    print(f"fires on {folder.relative_to(root)} ({len(same)} images)")
        print(f"\n{root}: fires on {fired} of {checked} stacks / sets of three or more same-shaped images")


if __name__ == "__main__":
    main()
