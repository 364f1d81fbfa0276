"""Run every task on the bundled synthetic samples and write the results as images.

Usage::

    python -m napari_doubledip.demo --out results [--size 256] [--device auto] [--tasks segmentation,...]

For each task it writes ``<task>.png`` (a panel: inputs | outputs | ground truth) and prints the time and the
quality against the known ground truth.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import samples as S


def _rgb(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.ndim == 2:
        x = np.stack([x] * 3, axis=-1)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[-1] == 2:  # (two channels: red and green)
        x = np.concatenate([x, np.zeros_like(x[..., :1])], axis=-1)
    return np.clip(x[..., :3], 0, 1)


def panel(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Side-by-side uint8 RGB panel of equally tall images (white gaps)."""
    tiles = [_rgb(im) for im in images]
    h = max(t.shape[0] for t in tiles)
    out = []
    for t in tiles:
        pad = np.ones((h, t.shape[1], 3), np.float32)
        pad[: t.shape[0]] = t
        out += [pad, np.ones((h, gap, 3), np.float32)]
    return (np.concatenate(out[:-1], axis=1) * 255).round().astype(np.uint8)


def _segmentation(size: int, device: str) -> tuple[list[np.ndarray], str]:
    import napari_doubledip as dd

    s = S.texture_composite(size)
    r = dd.segment(s.data, device=device)
    hints = np.choose(r.hints, [0.5, 1.0, 0.0])  # grey: no hint, white: foreground, black: background
    return [s.data, hints, r.mask, r.foreground, r.background], (
        f"IoU {S.iou(r.mask, s.truth['mask']):.3f}"
    )


def _many_objects(size: int, device: str) -> tuple[list[np.ndarray], str]:
    import napari_doubledip as dd
    from skimage.filters import gaussian, threshold_otsu

    s = S.blob_field(size)
    r = dd.segment(s.data, hints="intensity", device=device)
    smooth = gaussian(s.data, 1.0)
    otsu = smooth > threshold_otsu(smooth)
    shown = (s.data - s.data.min()) / (s.data.max() - s.data.min())
    truth = s.truth["mask"]
    return [shown, otsu, r.mask, truth], f"IoU {S.iou(r.mask, truth):.3f} (Otsu {S.iou(otsu, truth):.3f})"


def _transparency(size: int, device: str) -> tuple[list[np.ndarray], str]:
    import napari_doubledip as dd

    s = S.two_mixtures(size, rgb=True)
    r = dd.separate_layers(s.data, device=device)
    l1, l2 = r.layers
    direct = (S.psnr(l1, s.truth["layer1"]), S.psnr(l2, s.truth["layer2"]))
    swapped = (S.psnr(l2, s.truth["layer1"]), S.psnr(l1, s.truth["layer2"]))
    best = max(direct, swapped, key=sum)  # (each layer's own PSNR: a mean of dB would hide a weak one)
    # the baseline: a mixture taken as a layer as it is (the best of every mixture against either true layer)
    as_is = max(S.psnr(m, s.truth[k]) for m in s.data for k in ("layer1", "layer2"))
    return [*s.data, l1, l2, s.truth["layer1"], s.truth["layer2"]], (
        f"layer PSNR {best[0]:.2f} / {best[1]:.2f} dB, alphas {[round(float(a), 3) for a in r.alphas]} "
        f"(true {[round(float(a), 3) for a in s.truth['alphas']]}; best mixture as a layer {as_is:.2f} dB)"
    )


def _watermark(size: int, device: str) -> tuple[list[np.ndarray], str]:
    import napari_doubledip as dd

    s = S.watermarked(size)
    r = dd.remove_watermark(s.data, box=s.extra["box"], device=device)
    inside = s.extra["box_mask"]
    return [s.data, r.clean, r.alpha, s.truth["clean"]], (
        f"PSNR in the box {S.psnr(r.clean[inside], s.truth['clean'][inside]):.2f} dB "
        f"(input {S.psnr(s.data[inside], s.truth['clean'][inside]):.2f} dB)"
    )


def _watermark_set(size: int, device: str) -> tuple[list[np.ndarray], str]:
    import napari_doubledip as dd

    s = S.watermark_set(3, size)
    r = dd.remove_watermark(s.data, device=device)
    return [*s.data, *r.clean, r.alpha], (
        f"PSNR {S.psnr(r.clean, s.truth['clean']):.2f} dB (input {S.psnr(s.data, s.truth['clean']):.2f} dB)"
    )


def _dehazing(size: int, device: str) -> tuple[list[np.ndarray], str]:
    import napari_doubledip as dd

    s = S.hazy_image(size, varying_airlight=True)
    r = dd.dehaze(s.data, device=device)
    return [s.data, r.clean, r.transmission, r.airlight, s.truth["clean"]], (
        f"PSNR {S.psnr(r.clean, s.truth['clean']):.2f} dB (hazy input {S.psnr(s.data, s.truth['clean']):.2f} dB)"
    )


def _video_segmentation(size: int, device: str) -> tuple[list[np.ndarray], str]:
    import napari_doubledip as dd

    s = S.moving_object_video(min(size, 128), frames=10)
    r = dd.segment_video(s.data, device=device)
    ious = [S.iou(m, t) for m, t in zip(r.masks, s.truth["masks"], strict=True)]
    picks = [0, len(r.masks) // 2, len(r.masks) - 1]
    return [*(s.data[i] for i in picks), *(r.masks[i] for i in picks)], f"mean IoU {np.mean(ious):.3f}"


def _video_transparency(size: int, device: str) -> tuple[list[np.ndarray], str]:
    import napari_doubledip as dd

    s = S.reflection_video(min(size, 128), frames=10)
    r = dd.separate_video_layers(s.data, device=device)
    return [s.data[0], s.data[-1], r.dynamic[0], r.dynamic[-1], r.static, s.truth["static"]], (
        f"static layer PSNR {S.psnr(r.static, s.truth['static']):.2f} dB "
        f"(temporal mean {S.psnr(s.data.mean(0), s.truth['static']):.2f} dB)"
    )


#: task name -> function(size, device) returning (panel images, quality line)
DEMOS: dict[str, Callable[[int, str], tuple[list[np.ndarray], str]]] = {
    "segmentation": _segmentation,
    "many_objects": _many_objects,
    "transparency": _transparency,
    "watermark": _watermark,
    "watermark_set": _watermark_set,
    "dehazing": _dehazing,
    "video_segmentation": _video_segmentation,
    "video_transparency": _video_transparency,
}


def main(argv: list[str] | None = None) -> int:
    from skimage.io import imsave

    parser = argparse.ArgumentParser(
        prog="python -m napari_doubledip.demo", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="results", help="output folder for the PNG panels")
    parser.add_argument("--size", type=int, default=256, help="side of the synthetic sample images")
    parser.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda[:N] or mps")
    parser.add_argument("--tasks", default=",".join(DEMOS), help=f"comma-separated subset of {list(DEMOS)}")
    args = parser.parse_args(argv)
    # Every argument is checked before the first task: a typo in a later name must not cost the earlier runs.
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    unknown = [n for n in names if n not in DEMOS]
    if unknown or not names:
        parser.error(f"unknown task(s) {unknown or [args.tasks]}; choose from {list(DEMOS)}")
    if args.size < 16:
        parser.error(f"--size must be at least 16, got {args.size}")
    from napari_doubledip.solver.device import resolve_device

    try:
        resolve_device(args.device)
    except (ValueError, TypeError) as exc:
        parser.error(f"--device: {exc}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    width = max(len(n) for n in names)
    for name in names:
        t0 = time.perf_counter()
        images, quality = DEMOS[name](args.size, args.device)
        seconds = time.perf_counter() - t0
        imsave(out / f"{name}.png", panel(images), check_contrast=False)
        print(f"{name:{width}s} {seconds:6.1f} s  {quality}  -> {out / (name + '.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
