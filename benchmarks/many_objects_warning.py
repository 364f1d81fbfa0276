#!/usr/bin/env python
"""Where ``segment``'s many-objects warning fires (saliency hints on a field of many separate objects).

``segment(hints="auto")`` warns, before it runs, when the image looks like many separate objects
(``tasks.segmentation.many_objects``: at least 8 regions of 0.05-5 % of the image on the objects' side of Otsu's
threshold, covering at least 1.5 times the area of any larger regions there), pointing to ``hints="intensity"``.
This script prints the number of objects the rule counts where it fires (``None``: silent) on synthetic fields of
nuclei, the package's blob fields and scikit-image's coins (where it should fire) and, with a data folder, on
every photograph under it (PNG / JPEG / BMP, ground-truth and mask files left out; where it should not), at the
default working size of 128 px.

    .venv/bin/python benchmarks/many_objects_warning.py                      # synthetic fields (seconds)
    .venv/bin/python benchmarks/many_objects_warning.py ../shared/eval-data  # and every photograph there
"""

from __future__ import annotations

import argparse
import collections
import pathlib

import numpy as np
import torch

from napari_doubledip import samples
from napari_doubledip._validation import as_image
from napari_doubledip.solver.filters import resize
from napari_doubledip.tasks.segmentation import DEFAULTS, many_objects

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def verdict(image: np.ndarray) -> int | None:
    """``many_objects`` of the image at segmentation's default working size."""
    arr, _ = as_image(image)
    t = torch.from_numpy(arr).permute(2, 0, 1)[None]
    h, w = t.shape[-2:]
    s = min(1.0, DEFAULTS["max_size"] / max(h, w))
    return many_objects(resize(t, (max(8, round(h * s)), max(8, round(w * s))))[0])


def nuclei(size: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    img = np.full((size, size), 100.0)
    for _ in range(count):
        cy, cx = rng.integers(20, size - 20, 2)
        r = rng.integers(size // 64, size // 32)
        img += 900 * (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r)
    return rng.poisson(img).astype(np.uint16)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", help="a folder of photographs (e.g. ../shared/eval-data)")
    a = p.parse_args()
    if a.data and not pathlib.Path(a.data).is_dir():
        p.error(f"{a.data}: no such folder")
    print("| synthetic field | warns (objects) |\n| --- | --- |")
    for seed in range(3):
        print(f"| nuclei, 512 px, 40 discs, seed {seed} | {verdict(nuclei(512, 40, seed))} |")
    for size in (128, 256, 512):
        print(f"| samples.blob_field({size}) | {verdict(samples.blob_field(size).data)} |")
    from skimage import data

    print(f"| skimage.data.coins() | {verdict(data.coins())} |")
    if a.data:
        root = pathlib.Path(a.data)
        counts: collections.Counter = collections.Counter()
        from skimage import io

        for path in sorted(root.rglob("*")):
            name = str(path.relative_to(root)).lower()
            if path.suffix.lower() not in SUFFIXES or any(k in name for k in ("gt", "mask", "ground")):
                continue
            img = io.imread(path)
            if img.ndim == 3 and img.shape[-1] == 4:
                img = img[..., :3]
            if img.ndim == 3 and img.shape[-1] > 4:
                continue
            fired = verdict(img) is not None
            counts[fired] += 1
            if fired:
                print(f"fires on {path.relative_to(root)}")
        print(f"\n{root}: {counts[True]} of {counts[True] + counts[False]} photographs warned about")


if __name__ == "__main__":
    main()
