"""The hot-pixel warning of the input check (``_validation._bright_outliers``): where it fires, and its cost.

Prints, for a set of synthetic cases (a hot pixel, a small bright object, puncta, a sparse binary image, large
inputs), whether the check reports isolated far-brighter pixels and how long it took; with a data folder, also
how many of the images under it (PNG / JPEG / BMP / TIFF, read with scikit-image) it fires on (false alarms on
real images).

    .venv/bin/python benchmarks/outlier_warning.py                      # synthetic cases (~10 s)
    .venv/bin/python benchmarks/outlier_warning.py ../shared/eval-data  # and every image there
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from napari_doubledip._validation import _bright_outliers

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def check(arr: np.ndarray) -> tuple[object, float]:
    """The check's verdict on ``arr`` ((H, W) or (..., H, W, C)) and its time in seconds."""
    a = arr[..., None] if arr.ndim == 2 else arr
    t = time.perf_counter()
    verdict = _bright_outliers(a, float(a.min()), float(a.max()))
    return verdict, time.perf_counter() - t


def synthetic_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    hot = rng.integers(100, 4100, (10, 32, 32, 1)).astype(np.uint16)
    hot[4, 0, 0] = 65535
    block = rng.integers(0, 50, (512, 512)).astype(np.uint8)
    block[100:103, 100:103] = 255
    obj = rng.integers(0, 50, (2048, 2048)).astype(np.uint8)
    obj[100:120, 100:110] = 255
    yy, xx = np.mgrid[:1024, :1024]
    puncta = rng.poisson(10, (1024, 1024)).astype(np.float32)
    for cy, cx in rng.integers(50, 970, (5, 2)):
        puncta += 400 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.5**2))
    sparse = np.zeros((512, 512), np.float32)
    sparse.flat[rng.choice(sparse.size, 10, replace=False)] = 1
    big = rng.random((4096, 4096, 3), dtype=np.float32) * 0.2
    big[7, 7, 0] = 1
    stack = rng.random((100, 512, 512, 3), dtype=np.float32) * 0.2
    stack[50, 3, 3] = 1
    plain = (rng.random((4096, 4096, 3)) * 255).astype(np.uint8)
    return {
        "uint16 video, one hot pixel": hot,
        "512 px uint8, 3x3 bright object": block,
        "2048 px uint8, 20x10 bright object": obj,
        "1024 px Poisson + 5 puncta": puncta,
        "512 px binary, 10 set pixels": sparse,
        "4096 px RGB float32, one hot pixel": big,
        "4096 px RGB float32, reversed columns (not contiguous)": big[:, ::-1],
        "100 x 512 px RGB float32, one hot pixel": stack,
        "4096 px RGB uint8, uniform noise": plain,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", nargs="?", help="folder searched for images (e.g. ../shared/eval-data)")
    args = parser.parse_args()
    if args.data_dir and not pathlib.Path(args.data_dir).is_dir():
        parser.error(f"{args.data_dir}: no such folder")
    for name, arr in synthetic_cases().items():
        verdict, seconds = check(arr)
        said = "none" if verdict is None else f"{verdict[0]} pixel(s), clip at {verdict[2]:g}"
        print(f"{name:58s} {said:34s} {seconds:6.3f} s")
    if args.data_dir:
        from skimage import io

        files = sorted(p for p in pathlib.Path(args.data_dir).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        read, hits = 0, []
        for path in files:
            try:
                arr = np.asarray(io.imread(path))
            except Exception:  # (unreadable files are skipped)
                continue
            if arr.ndim == 3 and arr.shape[-1] == 4:
                arr = arr[..., :3]
            if arr.ndim not in (2, 3) or arr.max() == arr.min():
                continue
            read += 1
            if check(arr)[0] is not None:
                hits.append(path)
        print(f"{read} images under {args.data_dir}: the warning fires on {len(hits)}")
        for path in hits[:20]:
            print("  ", path)


if __name__ == "__main__":
    main()
