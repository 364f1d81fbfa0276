#!/usr/bin/env python
"""Evaluate napari-doubledip on real images with ground truth, next to simple baselines.

Reads a data folder described by its ``cases.json`` (the team's copy is ``../shared/eval-data``; research-use
files: they are read from that path, never copied into the repository or the package), runs every case through
the public task functions with their default budget, and writes one markdown table per task (metrics next to the
baselines, wall seconds per case, means per data set) plus a JSON dump of everything.

Usage (from the repository root)::

    .venv/bin/python benchmarks/evaluate.py ../shared/eval-data --max-size 256
    .venv/bin/python benchmarks/evaluate.py ../shared/eval-data --tasks segmentation --cases horse001,horse017
    .venv/bin/python benchmarks/evaluate.py ../shared/eval-data --tasks dehazing --iterations 200 --pictures
    .venv/bin/python benchmarks/evaluate.py ../shared/eval-data --list

What is measured, per task (see ``benchmarks/README.md``, "Evaluation", for the exact rules):

- **dehazing**: PSNR/SSIM of ``dd.dehaze(...).clean`` vs the haze-free GT, next to the hazy input and the dark
  channel prior (He et al. 2011, guided-filter refinement; ``solver.haze.dcp_dehaze``).
- **segmentation**: IoU of ``dd.segment(...).mask`` vs the GT mask, polarity resolved (``max(IoU(m), IoU(1-m))``)
  and as returned, next to Otsu on grey levels and 2-means on colour (same polarity rule) and to the trivial
  all-foreground mask; plus the precision of the automatic hints.
- **transparency**: PSNR/SSIM of the recovered transmission (the better-matching of the two contributions
  ``a*layer1``, ``(1-a)*layer2``) vs GT, next to the input as output; the multi-frame set against the temporal
  mean / median / minimum and the Poisson-integrated temporal median of the gradients (Weiss 2001); the
  four-mixture set (no layer GT) by its recovered mixing weights and reconstruction.
- **watermark**: PSNR/SSIM vs the clean GT (whole image and inside the simulated user box), next to the input and
  to biharmonic inpainting of the box; the shared-watermark set (no GT): time and a picture.
- **video**: mean IoU per DAVIS clip (polarity resolved once per clip), next to per-frame 2-means.

With ``--max-size`` the inputs *and* their ground truth are resized (anti-aliased; masks re-thresholded at 0.5)
so that the long side is at most that many pixels, and everything is evaluated at that size. ``--work-size`` is
passed to the task functions as their ``max_size`` (working resolution; default: the library's).
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import math
import os
import platform
import re
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))

from _cli import cpu_name  # noqa: E402

TASKS = ("dehazing", "segmentation", "transparency", "watermark", "video")
#: The public functions the cases call (keys of ``--kwargs``, besides the task names).
FUNCTIONS = ("dehaze", "segment", "separate_layers", "remove_watermark", "segment_video",
             "separate_video_layers")
ALIASES = {"dehaze": "dehazing", "haze": "dehazing", "seg": "segmentation", "segment": "segmentation",
           "layers": "transparency", "reflection": "transparency", "wm": "watermark", "videos": "video"}

#: Simulated user box for a single watermarked image: pixels where the input differs from the clean GT by more
#: than this (max over channels, in [0, 1] units) ...
WATERMARK_DIFF = 0.03
#: ... bounding box dilated by this many pixels on each side (clipped to the image).
WATERMARK_MARGIN = 4


# ----------------------------------------------------------------------------------------------------------------
# Loading


def _as_float(img: np.ndarray) -> np.ndarray:
    """uint8/uint16/float image -> float32 in [0, 1]; alpha channel dropped."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    if img.ndim == 3 and img.shape[-1] == 2:  # grey + alpha
        img = img[..., 0]
    if np.issubdtype(img.dtype, np.integer):
        return (img.astype(np.float32) / np.iinfo(img.dtype).max).astype(np.float32)
    img = img.astype(np.float32)
    return np.clip(img / 255.0, 0, 1) if img.max() > 1.5 else img


def target_shape(shape: tuple[int, ...], max_size: int | None) -> tuple[int, int]:
    h, w = int(shape[0]), int(shape[1])
    if not max_size or max(h, w) <= max_size:
        return h, w
    s = max_size / max(h, w)
    return max(8, round(h * s)), max(8, round(w * s))


def load_image(path: Path, max_size: int | None) -> np.ndarray:
    from skimage import io
    from skimage.transform import resize

    img = _as_float(io.imread(str(path)))
    shape = target_shape(img.shape, max_size)
    if shape != img.shape[:2]:
        img = resize(img, shape, anti_aliasing=True, preserve_range=True).astype(np.float32)
    return np.clip(img, 0, 1)


def load_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Binary mask (``> half of the dtype range`` = foreground), resized to ``shape`` and re-thresholded."""
    from skimage import io
    from skimage.transform import resize

    m = _as_float(io.imread(str(path)))
    if m.ndim == 3:
        m = m.max(-1)
    if m.shape != tuple(shape):
        m = resize(m, shape, anti_aliasing=True, preserve_range=True)
    return m > 0.5


def load_case(data_dir: Path, case: dict, max_size: int | None) -> dict[str, Any]:
    inputs = [load_image(data_dir / p, max_size) for p in case["input"]]
    shape = inputs[0].shape[:2]
    gt: dict[str, Any] = {}
    for k, v in case.get("gt", {}).items():
        if k in ("mask",):
            gt[k] = load_mask(data_dir / v, shape)
        elif k == "masks":
            gt[k] = np.stack([load_mask(data_dir / p, shape) for p in v])
        elif isinstance(v, str):
            g = load_image(data_dir / v, None)
            if g.shape[:2] != shape:
                from skimage.transform import resize

                g = resize(g, shape, anti_aliasing=True, preserve_range=True).astype(np.float32)
            gt[k] = g
        else:
            gt[k] = v
    return {"inputs": inputs, "gt": gt, "shape": shape}


# ----------------------------------------------------------------------------------------------------------------
# Metrics


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    kw = {"channel_axis": -1} if a.ndim == 3 else {}
    win = min(7, *[s if s % 2 else s - 1 for s in a.shape[:2]])
    return float(structural_similarity(a, b, data_range=1.0, win_size=win, **kw))


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    mask, truth = np.asarray(mask) > 0.5, np.asarray(truth) > 0.5
    union = np.logical_or(mask, truth).sum()
    return float(np.logical_and(mask, truth).sum() / union) if union else 1.0


def resolved_iou(mask: np.ndarray, truth: np.ndarray) -> tuple[float, float, bool]:
    """(resolved, as returned, flipped): resolved = the better of the mask and its complement."""
    m = np.asarray(mask) > 0.5
    raw, comp = iou(m, truth), iou(~m, truth)
    return max(raw, comp), raw, comp > raw


def gain_psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """PSNR after the best global gain: ``s = <x, y> / <x, x>`` (least squares), ``clip(s * x)`` vs ``y``.

    Scores the structure of a layer estimate when its overall brightness is not identifiable (one mixture)."""
    x, y = np.asarray(estimate, np.float64), np.asarray(truth, np.float64)
    den = float((x * x).sum())
    s = float((x * y).sum()) / den if den > 0 else 1.0
    return psnr(np.clip(s * x, 0, 1), y)


def clip01(x: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(x, np.float32), 0, 1)


def match_channels(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``x`` shaped like ``like``: a missing channel axis repeated, a leading axis of one dropped."""
    x = np.asarray(x, np.float32)
    if x.ndim == like.ndim + 1 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == like.ndim:
        return x
    if x.ndim == like.ndim - 1:
        return np.repeat(x[..., None], like.shape[-1], -1)
    return x


# ----------------------------------------------------------------------------------------------------------------
# Baselines


#: The baseline's dark-channel window: He et al.'s stated 15 x 15 (radius 7). The library's own rule (1/64 of
#: the short side: 7 x 7 at 256 px) weakened the baseline here (a review, 2026-12-07: RESIDE 17.14 dB with it,
#: 20.12 with 15 x 15, at 256 px).
DCP_RADIUS = 7


def dcp_baseline(image: np.ndarray) -> np.ndarray:
    """Dark-channel-prior dehazing (He et al. 2011) with guided-filter refinement: the library's implementation,
    at He et al.'s 15 x 15 window (:data:`DCP_RADIUS`)."""
    import torch

    from napari_doubledip.solver.haze import dcp_dehaze

    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, 0))).float()
    clean, _t, _a = dcp_dehaze(x, radius=DCP_RADIUS)
    return np.moveaxis(clean.numpy(), 0, -1).astype(np.float32)


def _grey(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else img[..., :3].mean(-1) if img.shape[-1] >= 3 else img[..., 0]


def otsu_mask(img: np.ndarray) -> np.ndarray:
    """Otsu threshold on grey levels; 1 = brighter class."""
    from skimage.filters import threshold_otsu

    g = _grey(img)
    return g > threshold_otsu(g)


def kmeans2_mask(img: np.ndarray, iterations: int = 30) -> np.ndarray:
    """2-means on colour (numpy; deterministic start at the darkest and brightest pixels); 1 = brighter centre."""
    x = img.reshape(-1, img.shape[-1] if img.ndim == 3 else 1).astype(np.float64)
    g = x.mean(1)
    c = np.stack([x[np.argmin(g)], x[np.argmax(g)]])
    lab = np.zeros(len(x), bool)
    for _ in range(iterations):
        d = ((x[:, None, :] - c[None]) ** 2).sum(-1)
        new = d[:, 1] < d[:, 0]
        if np.array_equal(new, lab) and _ > 0:
            break
        lab = new
        for k in (0, 1):
            sel = lab == bool(k)
            if sel.any():
                c[k] = x[sel].mean(0)
    if c[0].mean() > c[1].mean():
        lab = ~lab
    return lab.reshape(img.shape[:2])


def watermark_box(image: np.ndarray, clean: np.ndarray) -> tuple[int, int, int, int]:
    """Simulated user box (y0, x0, y1, x1), end-exclusive: bounding box of |input - clean| > WATERMARK_DIFF
    (max over channels), dilated by WATERMARK_MARGIN px and clipped to the image."""
    d = np.abs(np.asarray(image, np.float32) - np.asarray(clean, np.float32))
    d = d.max(-1) if d.ndim == 3 else d
    ys, xs = np.nonzero(d > WATERMARK_DIFF)
    h, w = d.shape
    if len(ys) == 0:
        return 0, 0, h, w
    m = WATERMARK_MARGIN
    return max(0, ys.min() - m), max(0, xs.min() - m), min(h, ys.max() + 1 + m), min(w, xs.max() + 1 + m)


def biharmonic_box(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic

    m = np.zeros(image.shape[:2], bool)
    y0, x0, y1, x1 = box
    m[y0:y1, x0:x1] = True
    kw = {"channel_axis": -1} if image.ndim == 3 else {}
    return inpaint_biharmonic(image, m, **kw).astype(np.float32)


def weiss_static(frames: np.ndarray) -> np.ndarray:
    """Static layer of ``(T, H, W, C)`` frames from the temporal median of their gradients (Weiss 2001),
    Poisson-integrated (the library's ``static_estimate``, the video-transparency hint), its constant per channel
    set from the temporal median frame (the median over pixels of their difference): no ground truth used."""
    import torch

    from napari_doubledip.tasks.video import static_estimate

    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(frames, -1, 1))).float()
    s = np.moveaxis(static_estimate(x)[0].numpy(), 0, -1)
    med = np.median(frames, 0)
    return (s + np.median((med - s).reshape(-1, s.shape[-1]), 0)).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# Calling the library


class Runner:
    """Calls the public task functions with the command-line budget, timing each call."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.extra: dict[str, dict[str, Any]] = json.loads(args.kwargs) if args.kwargs else {}

    def available(self, name: str) -> bool:
        import napari_doubledip as dd

        try:
            getattr(dd, name)
            return True
        except Exception:
            return False

    def __call__(self, name: str, *pos: Any, task: str, **kw: Any) -> tuple[Any, float]:
        import napari_doubledip as dd

        fn = getattr(dd, name)
        params = inspect.signature(fn).parameters
        base = {"iterations": self.args.iterations, "max_size": self.args.work_size, "device": self.args.device,
                "seed": self.args.seed, "preset": self.args.preset}
        call = {k: v for k, v in base.items() if v is not None and k in params}
        call.update(self.extra.get(task, {}))
        call.update(self.extra.get(name, {}))
        call.update(kw)
        if self.args.verbose and "progress" not in call:
            last = [0.0]

            def progress(p):
                if time.perf_counter() - last[0] > 10 or p.iteration == p.total:
                    last[0] = time.perf_counter()
                    print(f"      it {p.iteration}/{p.total} loss {p.loss:.4g} ({p.elapsed:.0f} s)", flush=True)

            call["progress"] = progress
        t0 = time.perf_counter()
        r = fn(*pos, **call)
        return r, time.perf_counter() - t0


def run_info(r: Any) -> dict[str, Any]:
    out = {}
    for k in ("params", "iterations", "final_loss", "elapsed", "stopped"):
        if hasattr(r, k):
            v = getattr(r, k)
            out[k] = v if not isinstance(v, float) or math.isfinite(v) else None
    return out


def timed(fn: Callable, *a: Any, **k: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


# ----------------------------------------------------------------------------------------------------------------
# Tasks. Each evaluator returns (row, panels): row = metrics by column key, panels = [(label, image)] for pictures.


def eval_dehazing(run: Runner, case: dict, data: dict) -> tuple[dict, list]:
    img, clean = data["inputs"][0], data["gt"]["clean"]
    row: dict[str, Any] = {"input_psnr": psnr(img, clean), "input_ssim": ssim(img, clean)}
    panels = [("hazy input", img)]
    try:
        dcp, row["dcp_s"] = timed(dcp_baseline, img)
        row.update(dcp_psnr=psnr(dcp, clean), dcp_ssim=ssim(dcp, clean))
    except Exception as e:  # noqa: BLE001
        dcp = None
        row["notes"] = f"DCP failed: {type(e).__name__}: {e}"
    r, row["ours_s"] = run("dehaze", img, task="dehazing")
    out = clip01(match_channels(r.clean, clean))
    row.update(ours_psnr=psnr(out, clean), ours_ssim=ssim(out, clean), _info=run_info(r))
    a = getattr(r, "airlight", None)
    if a is not None:
        a = np.asarray(a, np.float32)
        mean = a.reshape(-1, a.shape[-1]).mean(0) if a.ndim == 3 else a.reshape(-1)
        row["_info"]["airlight_mean"] = mean.tolist()
        a0 = getattr(r, "airlight_init", None)
        if a0 is not None:
            row["_info"]["airlight_init"] = np.asarray(a0, np.float32).reshape(-1)[:4].tolist()
    panels.append(("Double-DIP", out))
    if dcp is not None:
        panels.append(("DCP baseline", dcp))
    panels.append(("ground truth", clean))
    return row, panels


def _mask_rgb(mask: np.ndarray, img: np.ndarray) -> np.ndarray:
    """Picture of a mask: the image inside, dark grey outside."""
    m = np.asarray(mask, bool)
    base = img if img.ndim == 3 else np.repeat(img[..., None], 3, -1)
    return np.where(m[..., None], base, 0.15 * base + 0.1).astype(np.float32)


def eval_segmentation(run: Runner, case: dict, data: dict) -> tuple[dict, list]:
    img, gt = data["inputs"][0], data["gt"]["mask"]
    row: dict[str, Any] = {"trivial_iou": iou(np.ones_like(gt), gt)}
    (otsu, row["otsu_s"]) = timed(otsu_mask, img)
    (km, row["kmeans_s"]) = timed(kmeans2_mask, img)
    row["otsu_iou"] = resolved_iou(otsu, gt)[0]
    row["kmeans_iou"] = resolved_iou(km, gt)[0]
    r, row["ours_s"] = run("segment", img, task="segmentation")
    res, raw, flipped = resolved_iou(r.mask, gt)
    row.update(ours_iou=res, ours_iou_raw=raw, flipped=flipped, _info=run_info(r))
    hints = getattr(r, "hints", None)
    if hints is not None:
        hints = np.asarray(hints)
        fg, bg = hints == 1, hints == 2
        row["hint_fg_prec"] = float(gt[fg].mean()) if fg.any() else None
        row["hint_bg_prec"] = float((~gt[bg]).mean()) if bg.any() else None
        row["hint_cover"] = float((fg | bg).mean())
    mask = np.asarray(r.mask) > 0.5
    km_fair = km if iou(km, gt) >= iou(~km, gt) else ~km
    panels = [("image", img), ("Double-DIP mask" + (" (flipped)" if flipped else ""), _mask_rgb(mask, img)),
              ("2-means", _mask_rgb(km_fair, img)), ("ground truth", _mask_rgb(gt, img))]
    if hints is not None:
        h = np.asarray(img if img.ndim == 3 else np.repeat(img[..., None], 3, -1)).copy() * 0.5
        h[hints == 1] = (1.0, 0.2, 0.2)
        h[hints == 2] = (0.2, 0.4, 1.0)
        panels.insert(1, ("hints: red fg, blue bg", h))
    return row, panels


def _best_contribution(layers: tuple, alphas: np.ndarray, truth: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Single mixture: the scaled layers a*l1, (1-a)*l2; returns (index 1|2, estimate, the other one)."""
    a = float(np.asarray(alphas).reshape(-1)[0])
    c1 = clip01(a * match_channels(layers[0], truth))
    c2 = clip01((1 - a) * match_channels(layers[1], truth))
    return (1, c1, c2) if psnr(c1, truth) >= psnr(c2, truth) else (2, c2, c1)


def eval_transparency(run: Runner, case: dict, data: dict) -> tuple[dict, list]:
    ims, gt = data["inputs"], data["gt"]
    row: dict[str, Any] = {}
    if len(ims) == 1:  # CEILNet synthetic (T and R) or real glass (T only)
        img, t = ims[0], gt["transmission"]
        row.update(input_psnr=psnr(img, t), input_ssim=ssim(img, t), input_gain_psnr=gain_psnr(img, t))
        r, row["ours_s"] = run("separate_layers", img, task="transparency")
        k, est, other = _best_contribution(r.layers, r.alphas, t)
        row["recon_psnr"] = psnr(clip01(est + other), img)
        row.update(ours_psnr=psnr(est, t), ours_ssim=ssim(est, t), ours_gain_psnr=gain_psnr(est, t),
                   layer=f"{'a' if k == 1 else '(1-a)'}*layer{k}",
                   alpha=float(np.asarray(r.alphas).reshape(-1)[0]), _info=run_info(r))
        panels = [("input", img), ("Double-DIP transmission", est), ("Double-DIP other layer", other)]
        if "reflection" in gt:
            row["ours_r_psnr"] = psnr(other, gt["reflection"])
            panels.append(("GT reflection", gt["reflection"]))
        panels.append(("GT transmission", t))
        return row, panels
    if not gt:  # several mixtures of the same two layers, no layer GT: mixing weights from the file names
        weights = [re.search(r"(\d+\.\d+)", Path(p).name) for p in case["input"]]
        r, row["ours_s"] = run("separate_layers", ims, task="transparency")
        a = np.asarray(r.alphas, np.float64).reshape(-1)
        l1, l2 = (match_channels(x, ims[0]) for x in r.layers)
        kept = np.isfinite(a)  # (NaN: an image left out as no mixture of the two layers)
        used = [im for im, k in zip(ims, kept) if k]
        recon = [clip01(ai * l1 + (1 - ai) * l2) for ai in a[kept]]
        row["recon_psnr"] = float(np.mean([psnr(x, y) for x, y in zip(recon, used)]))
        row["alphas"] = " ".join(f"{v:.2f}" for v in a)
        if all(weights):
            w = np.array([float(m.group(1)) for m in weights])
            err = min(np.abs(a - w)[kept].mean(), np.abs(a - (1 - w))[kept].mean())
            row["alpha_err"] = float(err)  # (over the images kept; `alphas` shows any left out as nan)
            row["weights"] = " ".join(f"{v:.2f}" for v in w)
        row["_info"] = run_info(r)
        return row, [("mixture 1", ims[0]), ("mixture N", ims[-1]), ("Double-DIP layer 1", clip01(l1)),
                     ("Double-DIP layer 2", clip01(l2))]
    # Several frames, same background (GT), varying reflection.
    t = gt["transmission"]
    stack = np.stack(ims)
    row["input_psnr"] = float(np.mean([psnr(x, t) for x in ims]))
    row["input_ssim"] = float(np.mean([ssim(x, t) for x in ims]))
    base = {"mean": stack.mean(0), "median": np.median(stack, 0), "min": stack.min(0),
            "weiss": clip01(weiss_static(stack if stack.ndim == 4 else stack[..., None]).reshape(t.shape))}
    for k, v in base.items():
        row[f"{k}_psnr"] = psnr(v, t)
    method = "separate_video_layers" if case.get("_method") == "video" else "separate_layers"
    if method == "separate_video_layers":
        r, row["ours_s"] = run(method, stack, task="transparency")
        static = match_channels(r.static, t)
        a = np.asarray(getattr(r, "alphas", np.ones(len(ims))), np.float64).reshape(-1)
        cands = {"static": clip01(static), "mean (1-a)*static": clip01((1 - a.mean()) * static)}
    else:
        r, row["ours_s"] = run(method, stack, task="transparency")
        a = np.asarray(r.alphas, np.float64).reshape(-1)
        l1, l2 = (match_channels(x, t) for x in r.layers)
        am = float(np.nanmean(a))  # (NaN: a frame left out as no mixture of the layers)
        cands = {"layer1": clip01(l1), "layer2": clip01(l2), "mean a*layer1": clip01(am * l1),
                 "mean (1-a)*layer2": clip01((1 - am) * l2)}
    best = max(cands, key=lambda k: psnr(cands[k], t))
    est = cands[best]
    row.update(ours_psnr=psnr(est, t), ours_ssim=ssim(est, t), ours_gain_psnr=gain_psnr(est, t), layer=best,
               method=method, _info=run_info(r))
    return row, [("frame 1", ims[0]), ("temporal min", base["min"]), (f"Double-DIP {best}", est),
                 ("GT background", t)]


def eval_watermark(run: Runner, case: dict, data: dict) -> tuple[dict, list]:
    ims, gt = data["inputs"], data["gt"]
    row: dict[str, Any] = {}
    if len(ims) == 1:
        img, clean = ims[0], gt["clean"]
        box = watermark_box(img, clean)
        y0, x0, y1, x1 = box
        row["box"] = f"{y0},{x0},{y1},{x1}"

        def scores(prefix: str, x: np.ndarray) -> None:
            row[f"{prefix}_psnr"] = psnr(x, clean)
            row[f"{prefix}_ssim"] = ssim(x, clean)
            row[f"{prefix}_box_psnr"] = psnr(x[y0:y1, x0:x1], clean[y0:y1, x0:x1])

        scores("input", img)
        bh, row["biharmonic_s"] = timed(biharmonic_box, img, box)
        scores("biharmonic", bh)
        r, row["ours_s"] = run("remove_watermark", img, task="watermark", box=box)
        out = clip01(match_channels(r.clean, clean))
        scores("ours", out)
        row["_info"] = run_info(r)
        boxed = img.copy()
        boxed[y0:y1, [x0, max(x0, x1 - 1)]] = (1, 0, 0)
        boxed[[y0, max(y0, y1 - 1)], x0:x1] = (1, 0, 0)
        return row, [("input + simulated box", boxed), ("Double-DIP", out), ("biharmonic box", bh),
                     ("ground truth", clean)]
    row["images"] = len(ims)
    r, row["ours_s"] = run("remove_watermark", ims, task="watermark")
    clean = [clip01(match_channels(c, ims[0])) for c in r.clean]
    row["_info"] = run_info(r)
    panels = [("input 1", ims[0]), ("Double-DIP 1", clean[0]), ("input 2", ims[1]), ("Double-DIP 2", clean[1])]
    wm = getattr(r, "watermark", None)
    if wm is not None:
        w = np.asarray(wm, np.float32)
        w = w[0] if w.ndim == 4 else w
        al = getattr(r, "alpha", None)
        if al is not None:
            al = np.asarray(al, np.float32)
            al = al[0] if al.ndim == 3 and al.shape[0] != w.shape[0] else al
            if al.ndim == 2 and w.ndim == 3:
                w = w * al[..., None]
        panels.append(("watermark", clip01(match_channels(w, ims[0]))))
    return row, panels


def eval_video(run: Runner, case: dict, data: dict) -> tuple[dict, list]:
    frames, gt = np.stack(data["inputs"]), data["gt"]
    row: dict[str, Any] = {"frames": len(frames)}
    if "masks" in gt:
        masks_gt = gt["masks"]
        row["trivial_iou"] = float(np.mean([iou(np.ones_like(g), g) for g in masks_gt]))
        km, row["kmeans_s"] = timed(lambda: np.stack([kmeans2_mask(f) for f in frames]))
        row["kmeans_iou"] = max(float(np.mean([iou(m, g) for m, g in zip(km, masks_gt)])),
                                float(np.mean([iou(~m, g) for m, g in zip(km, masks_gt)])))
        r, row["ours_s"] = run("segment_video", frames, task="video")
        m = np.asarray(r.masks) > 0.5
        raw = [iou(x, g) for x, g in zip(m, masks_gt)]
        comp = [iou(~x, g) for x, g in zip(m, masks_gt)]
        flipped = np.mean(comp) > np.mean(raw)
        per = comp if flipped else raw
        row.update(ours_iou=float(np.mean(per)), ours_iou_raw=float(np.mean(raw)), flipped=bool(flipped),
                   ours_iou_min=float(np.min(per)), _info=run_info(r))
        row["_info"]["per_frame_iou"] = [round(v, 4) for v in per]
        mm = ~m if flipped else m
        panels = []
        for i in (0, len(frames) // 2, len(frames) - 1):
            panels += [(f"frame {i}", frames[i]), (f"Double-DIP {i}", _mask_rgb(mm[i], frames[i])),
                       (f"GT {i}", _mask_rgb(masks_gt[i], frames[i]))]
        return row, panels
    r, row["ours_s"] = run("separate_video_layers", frames, task="video")
    row["_info"] = run_info(r)
    dyn = np.asarray(r.dynamic, np.float32)
    return row, [("frame 0", frames[0]), ("dynamic 0", clip01(match_channels(dyn[0], frames[0]))),
                 ("static", clip01(match_channels(r.static, frames[0])))]


EVALUATORS = {"dehazing": eval_dehazing, "segmentation": eval_segmentation, "transparency": eval_transparency,
              "watermark": eval_watermark, "video": eval_video}


def needed_function(case: dict) -> str:
    t, gt = case["task"], case.get("gt", {})
    if t == "dehazing":
        return "dehaze"
    if t == "segmentation":
        return "segment"
    if t == "transparency":
        return "separate_video_layers" if case.get("_method") == "video" else "separate_layers"
    if t == "watermark":
        return "remove_watermark"
    return "segment_video" if "masks" in gt else "separate_video_layers"


# ----------------------------------------------------------------------------------------------------------------
# Tables

F2, F3, S = "{:.2f}", "{:.3f}", "{:.1f}"

#: Per task: (key, header, format). Bold headers mark our method's columns (not the best of a row).
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "dehazing": [("input_psnr", "hazy PSNR", F2), ("dcp_psnr", "DCP PSNR", F2), ("ours_psnr", "**ours PSNR**", F2),
                 ("input_ssim", "hazy SSIM", F3), ("dcp_ssim", "DCP SSIM", F3), ("ours_ssim", "**ours SSIM**", F3),
                 ("dcp_s", "DCP s", "{:.2f}"), ("ours_s", "ours s", S)],
    "segmentation": [("trivial_iou", "all-fg IoU", F3), ("otsu_iou", "Otsu IoU", F3),
                     ("kmeans_iou", "2-means IoU", F3),
                     ("ours_iou", "**ours IoU**", F3), ("ours_iou_raw", "ours IoU as returned", F3),
                     ("hint_fg_prec", "hint fg prec.", F3), ("hint_bg_prec", "hint bg prec.", F3),
                     ("hint_cover", "hint cover", F3), ("ours_s", "ours s", S)],
    "transparency: one image": [
        ("input_psnr", "input PSNR", F2), ("ours_psnr", "**ours T PSNR**", F2), ("input_ssim", "input SSIM", F3),
        ("ours_ssim", "**ours T SSIM**", F3), ("input_gain_psnr", "input PSNR, gain-matched", F2),
        ("ours_gain_psnr", "ours T PSNR, gain-matched", F2), ("ours_r_psnr", "ours R PSNR", F2),
        ("layer", "T estimate", "{}"), ("alpha", "a", F2), ("recon_psnr", "recon. PSNR", F2),
        ("ours_s", "ours s", S)],
    "transparency: several mixtures, no layer GT": [
        ("recon_psnr", "recon. PSNR", F2), ("alphas", "ours alphas", "{}"), ("weights", "file weights", "{}"),
        ("alpha_err", "alpha MAE", F3), ("ours_s", "ours s", S)],
    "transparency: multi-frame, GT background": [
        ("input_psnr", "frames PSNR (mean)", F2), ("mean_psnr", "temporal mean PSNR", F2),
        ("median_psnr", "temporal median PSNR", F2), ("min_psnr", "temporal min PSNR", F2),
        ("weiss_psnr", "median gradients (Weiss) PSNR", F2),
        ("ours_psnr", "**ours PSNR**", F2), ("input_ssim", "frames SSIM (mean)", F3),
        ("ours_ssim", "**ours SSIM**", F3), ("ours_gain_psnr", "ours PSNR, gain-matched", F2),
        ("layer", "background estimate", "{}"), ("ours_s", "ours s", S)],
    "watermark: one image, simulated box": [
        ("box", "box y0,x0,y1,x1", "{}"), ("input_psnr", "input PSNR", F2),
        ("biharmonic_psnr", "biharmonic PSNR", F2), ("ours_psnr", "**ours PSNR**", F2),
        ("input_box_psnr", "input PSNR (box)", F2), ("biharmonic_box_psnr", "biharmonic PSNR (box)", F2),
        ("ours_box_psnr", "**ours PSNR (box)**", F2), ("input_ssim", "input SSIM", F3),
        ("biharmonic_ssim", "biharmonic SSIM", F3), ("ours_ssim", "**ours SSIM**", F3), ("ours_s", "ours s", S)],
    "watermark: several images, no GT": [("images", "images", "{}"), ("ours_s", "ours s", S)],
    "video: segmentation": [
        ("frames", "frames", "{}"), ("trivial_iou", "all-fg IoU", F3), ("kmeans_iou", "2-means IoU", F3),
        ("ours_iou", "**ours mean IoU**", F3), ("ours_iou_raw", "ours IoU as returned", F3),
        ("ours_iou_min", "ours worst frame", F3), ("ours_s", "ours s", S)],
    "video: layers, no GT": [("frames", "frames", "{}"), ("ours_s", "ours s", S)],
}

#: Columns that are not averaged.
NO_MEAN = {"frames", "images", "alpha"}


def section_of(case: dict) -> str:
    """Table a case belongs to (a task may have several kinds of case, each with its own columns)."""
    t, n, gt = case["task"], len(case["input"]), case.get("gt", {})
    if t == "transparency":
        if n == 1:
            return "transparency: one image"
        return "transparency: multi-frame, GT background" if gt else "transparency: several mixtures, no layer GT"
    if t == "watermark":
        return "watermark: one image, simulated box" if n == 1 else "watermark: several images, no GT"
    if t == "video":
        return "video: segmentation" if "masks" in gt else "video: layers, no GT"
    return t



def group_of(case_name: str) -> str:
    return case_name.split()[0].split("/")[0]


def fmt(v: Any, f: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–" if v is None else ("inf" if v > 0 else "nan")
    if isinstance(v, bool):
        return "yes" if v else ""
    try:
        return f.format(v)
    except (ValueError, TypeError):
        return str(v)


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


#: Metrics whose columns compare methods (``<method>_<metric>``: ``input_psnr``, ``dcp_psnr``, ``ours_psnr``...).
COMPARED = ("psnr", "ssim", "iou", "box_psnr", "gain_psnr")


def _compared(key: str) -> str | None:
    """The metric a column compares methods on, or ``None`` (a time, a reconstruction, a note)."""
    metric = key.split("_", 1)[1] if "_" in key else ""
    return metric if metric in COMPARED and key != "recon_psnr" else None


def markdown_table(section: str, rows: list[dict]) -> str:
    cols = [c for c in COLUMNS[section] if any(r.get(c[0]) is not None for r in rows)]
    head = ["case"] + [c[1] for c in cols] + ["notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(cols) + ["---"]) + "|"]

    def notes(r: dict) -> str:
        n = []
        if r.get("error"):
            n.append("**FAILED**: " + r["error"].splitlines()[-1][:160].replace("|", "/"))
        if r.get("flipped"):
            n.append("polarity flipped")
        if r.get("skipped"):
            n.append(r["skipped"])
        if r.get("method") and r["method"] != "separate_layers":
            n.append(r["method"])
        if r.get("notes"):
            n.append(r["notes"])
        return "; ".join(n)

    for r in rows:
        lines.append("| " + " | ".join([r["case"]] + [fmt(r.get(k), f) for k, _, f in cols] + [notes(r)]) + " |")
    # means per group (data set) with >1 case, then overall when there are several groups
    # (one method per mean: the multi-frame set's "(video layers)" rows are averaged on their own, and only the
    # main method's rows over all data sets)
    other = [bool(r.get("method")) and r["method"] != "separate_layers" for r in rows]
    groups: dict[str, list[dict]] = {}
    for r, o in zip(rows, other, strict=True):
        groups.setdefault(group_of(r["case"]) + (f" ({r['method']})" if o else ""), []).append(r)
    summaries = [(f"mean {g} (n={len(rs)})", rs) for g, rs in groups.items() if len(rs) > 1]
    main = [r for r, o in zip(rows, other, strict=True) if not o]
    if len({group_of(r["case"]) for r in main}) > 1:
        summaries.append((f"mean all (n={len(main)})", main))
    if not any(_numeric(r.get(k)) for r in rows for k, _, _ in cols):
        summaries = []
    for label, rs in summaries:
        cells = []
        for k, _, f in cols:
            # the methods compared on one metric are averaged over the same cases: those where all have a
            # number (a run that failed or gave NaN on a hard case must not leave only the easy ones in its mean)
            peers = [c for c, _, _ in cols if _compared(c) == _compared(k)] if _compared(k) else [k]
            peers = [c for c in peers if any(x.get(c) is not None for x in rs)]
            kept = [r for r in rs if all(_numeric(r.get(c)) for c in peers)]
            vals = [r[k] for r in kept if _numeric(r.get(k))] if k not in NO_MEAN else []
            if not vals:
                cells.append("")
                continue
            cell = "*" + fmt(float(np.mean(vals)), f) + "*"
            cells.append(cell if len(vals) == len(rs) else f"{cell} (n={len(vals)})")
        lines.append("| " + " | ".join([f"*{label}*"] + cells + [""]) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# Pictures


def save_panels(path: Path, panels: list[tuple[str, np.ndarray]], min_width: int = 200) -> None:
    """Side-by-side PNG of labelled panels (small images enlarged by an integer factor, nearest neighbour)."""
    from PIL import Image, ImageDraw

    imgs = []
    for label, x in panels:
        x = np.asarray(x, np.float32)
        if x.ndim == 2:
            x = np.repeat(x[..., None], 3, -1)
        x = (np.clip(x[..., :3], 0, 1) * 255 + 0.5).astype(np.uint8)
        f = max(1, math.ceil(min_width / x.shape[1]))
        if f > 1:
            x = np.repeat(np.repeat(x, f, 0), f, 1)
        imgs.append((label, x))
    h = max(x.shape[0] for _, x in imgs)
    w = max(x.shape[1] for _, x in imgs)
    bar, pad = 14, 2
    n = len(imgs)
    cols = n if n <= 5 else 3 if n % 3 == 0 else 4
    rows = (n + cols - 1) // cols
    canvas = Image.new("RGB", (cols * (w + pad), rows * (h + bar + pad)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (label, x) in enumerate(imgs):
        r, c = divmod(i, cols)
        x0, y0 = c * (w + pad), r * (h + bar + pad)
        draw.text((x0 + 2, y0 + 1), label, fill=(0, 0, 0))
        canvas.paste(Image.fromarray(x), (x0, y0 + bar))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


# ----------------------------------------------------------------------------------------------------------------
# Driver


def environment(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    cpu = cpu_name()
    import napari_doubledip as dd

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),  # (pasteable: quoted where needed)
        "machine": f"{cpu or platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__} "
                   f"(at most {torch.get_num_threads()} threads, the engine picks per task), "
                   f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "napari_doubledip": dd.__version__,
        "max_size": args.max_size,
        "work_size": args.work_size,
        "iterations": args.iterations,
        "preset": args.preset,
        "device": args.device,
        "seed": args.seed,
    }


def case_keys(text: str | None) -> list[str]:
    """``--cases``' comma-separated substrings, lower-cased (matching is case-insensitive)."""
    return [k.strip().lower() for k in (text or "").split(",") if k.strip()]


def named(name: str, keys: list[str]) -> bool:
    """Whether a case name holds one of ``keys`` (no keys: every case)."""
    return not keys or any(k in name.lower() for k in keys)


def select_cases(cases: list[dict], args: argparse.Namespace) -> list[dict]:
    names = args.tasks.split(",") if args.tasks else list(TASKS)
    tasks = [ALIASES.get(t.strip().lower(), t.strip().lower()) for t in names]
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise SystemExit(f"unknown task(s) {bad}; choose from {', '.join(TASKS)}")
    subs = case_keys(args.cases)
    out = []
    for c in cases:
        if c["task"] not in tasks:
            continue
        if named(c["case"], subs):
            out.append(c)
        # The multi-frame reflection set is also run through the video-layers model when it exists (a row of
        # its own: selected by the name --list shows, e.g. "video layers", without the one-model row)
        video = c["case"] + " (video layers)"
        if c["task"] == "transparency" and len(c["input"]) > 2 and c.get("gt") and named(video, subs):
            out.append({**c, "case": video, "_method": "video"})
    return out


def require_cases(parser: argparse.ArgumentParser, folder: Path) -> None:
    """Stop with a usage error when ``folder`` has no ``cases.json`` (a mistyped path: said at once, not
    after the synthetic cases, nor as a traceback)."""
    if not (Path(folder) / "cases.json").is_file():
        parser.error(f"{folder}: no cases.json there (give the evaluation data folder, e.g. ../shared/eval-data)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("data_dir", type=Path, nargs="?", default=None,
                   help="folder with cases.json (e.g. ../shared/eval-data); optional with --render")
    p.add_argument("--tasks", default=None, help=f"comma-separated subset of {','.join(TASKS)} (default: all)")
    p.add_argument("--cases", default=None, help="comma-separated substrings of case names (case-insensitive)")
    p.add_argument("--max-size", type=int, default=256,
                   help="resize inputs and GT so the long side is at most this (0 = as stored); default 256")
    p.add_argument("--work-size", type=int, default=None,
                   help="max_size (working size) passed to the task functions (default: theirs)")
    p.add_argument("--iterations", type=int, default=None,
                   help="iterations per run (default: each task's default)")
    p.add_argument("--preset", default=None, help="preset passed to the task functions (default: theirs)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0,
                   help="torch.set_num_threads: ceiling of the per-task thread choice (0 = torch's default)")
    p.add_argument("--kwargs", default=None,
                   help='JSON of extra keyword arguments per task or function name, '
                        'e.g. \'{"segment": {"hints": null}}\'')
    p.add_argument("--no-gt", action="store_true",
                   help="also run the video cases without ground truth (time and picture only)")
    p.add_argument("--out", type=Path, default=Path("results/eval"), help="output folder (default results/eval)")
    p.add_argument("--pictures", action="store_true", help="save side-by-side PNGs per case under OUT/pictures")
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    p.add_argument("--render", default=None, metavar="JSON[,JSON]",
                   help="run nothing: re-write the tables in OUT from results.json file(s) of earlier runs "
                        "(merged in order; a later run's row replaces an earlier one of the same case; rows of "
                        "files from before 2026-12 are sorted into sections by cases.json: give the data folder)")
    p.add_argument("--verbose", action="store_true", help="print optimisation progress")
    args = p.parse_args(argv)
    if args.max_size == 0:
        args.max_size = None

    if args.data_dir is None and not args.render:
        p.error("the data folder (with cases.json) is required, unless --render")
    if args.data_dir is not None:
        require_cases(p, args.data_dir)
    if args.kwargs:  # (checked before any case runs)
        try:
            extra = json.loads(args.kwargs)
        except json.JSONDecodeError as exc:
            p.error(f"--kwargs is not valid JSON ({exc}): {args.kwargs!r}")
        if not isinstance(extra, dict) or not all(isinstance(v, dict) for v in extra.values()):
            p.error(f"--kwargs takes a JSON object of objects, per function, got {args.kwargs!r}")
        unknown = sorted(set(extra) - set(TASKS) - set(FUNCTIONS))
        if unknown:  # (a mistyped key would run the cases at their defaults without a sign)
            p.error(f"--kwargs: unknown task or function name(s) {unknown}; use one of "
                    f"{', '.join(TASKS + FUNCTIONS)}")
    missing = [f for f in (args.render or "").split(",") if f and not Path(f).is_file()]
    if missing:
        p.error(f"--render: no such file(s) {missing}")
    data_dir = args.data_dir.resolve() if args.data_dir is not None else None
    cases = json.loads((data_dir / "cases.json").read_text()) if data_dir is not None else []
    out = args.out
    if args.render:
        out.mkdir(parents=True, exist_ok=True)
        env, results = merge_results([Path(f) for f in args.render.split(",")], cases)
        write_outputs(out, env, results)
        print((out / "summary.md").read_text())
        return 0
    selected = select_cases(cases, args)
    if args.list:
        for c in selected:
            gt = ",".join(c.get("gt", {})) or "-"
            print(f"{c['task']:13s} {c['case']:45s} {len(c['input']):3d} input(s)  gt: {gt}")
        return 0
    if not selected:
        print("no case selected", file=sys.stderr)
        return 1

    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    env = environment(args)
    run = Runner(args)
    from speed import warm_up

    warm_up(args.device)  # (else the first case's time holds the process's start-up)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    print(f"# evaluation: {len(selected)} case(s), max size {args.max_size}, data {data_dir}", flush=True)

    for c in selected:
        task = c["task"]
        rows = results.setdefault(task, [])
        row: dict[str, Any] = {"case": c["case"], "section": section_of(c), "kind": c.get("kind", "")}
        fn = needed_function(c)
        if not c.get("gt") and task == "video" and not args.no_gt:
            row["skipped"] = "no GT (run with --no-gt)"
            rows.append(row)
            write_outputs(out, env, results)
            continue
        if not run.available(fn):
            row["skipped"] = f"dd.{fn} not available"
            rows.append(row)
            write_outputs(out, env, results)
            print(f"- {task} / {c['case']}: skipped (dd.{fn} not available)", flush=True)
            continue
        print(f"- {task} / {c['case']} ...", flush=True)
        t0 = time.perf_counter()
        panels: list = []
        try:
            data = load_case(data_dir, c, args.max_size)
            row["size"] = "x".join(map(str, data["shape"]))
            metrics, panels = EVALUATORS[task](run, c, data)
            row.update(metrics)
        except Exception as e:  # noqa: BLE001 - a failing case is reported, the run goes on
            row["error"] = f"{type(e).__name__}: {e}"
            row["traceback"] = traceback.format_exc()
            print(row["traceback"], file=sys.stderr, flush=True)
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
        if args.pictures and panels:
            try:
                name = re.sub(r"[^A-Za-z0-9_.-]+", "_", c["case"]).strip("_")
                save_panels(out / "pictures" / f"{task}_{name}.png", panels)
            except Exception as e:  # noqa: BLE001
                print(f"  picture failed: {e}", file=sys.stderr)
        summary = {k: v for k, v in row.items() if k.endswith(("psnr", "iou", "_s")) and _numeric(v)}
        print("  " + ("FAILED " + row["error"] if "error" in row else
                      ", ".join(f"{k}={v:.3f}" for k, v in summary.items())), flush=True)
        write_outputs(out, env, results)

    print()
    print((out / "summary.md").read_text())
    pics = f", {out}/pictures/" if args.pictures else ""
    print(f"written: {out}/summary.md, {out}/<task>.md, {out}/results.json{pics}")
    failed = [r.get("case", "?") for rs in results.values() for r in rs if "error" in r]
    if failed:  # (as speed.py: a caller that goes by the exit status sees failed cases)
        print(f"{len(failed)} case(s) failed: {failed}", file=sys.stderr)
        return 1
    return 0


def merge_results(files: list[Path], cases: list[dict]) -> tuple[dict[str, Any], dict[str, list[dict]]]:
    """Rows of several results.json files, in order; a later row replaces an earlier one of the same case."""
    by_name = {c["case"]: c for c in cases}
    envs, results = [], {}
    for f in files:
        d = json.loads(f.read_text())
        envs.append(d["environment"])
        for task, rows in d["results"].items():
            have = results.setdefault(task, [])
            for r in rows:
                if "section" not in r:
                    c = by_name.get(r["case"].replace(" (video layers)", ""), {"task": task, "input": [1]})
                    r["section"] = section_of(c)
                idx = next((i for i, h in enumerate(have) if h["case"] == r["case"]), None)
                if idx is None:
                    have.append(r)
                else:
                    have[idx] = r
    env = dict(envs[-1])
    if len(envs) > 1:
        env["date"] = ", ".join(sorted({e["date"] for e in envs}))
        env["command"] = "`; `".join(e["command"] for e in envs)
        for k in ("max_size", "work_size", "iterations", "preset", "seed", "machine"):
            vals = list(dict.fromkeys(str(e.get(k)) for e in envs))
            if len(vals) > 1:
                env[k] = " / ".join(v if v != "None" else "default" for v in vals) + " (per run, in order)"
    return env, results


def write_outputs(out: Path, env: dict[str, Any], results: dict[str, list[dict]]) -> None:
    """OUT/<task>.md (a table per kind of case), OUT/summary.md (all, with the run's header), OUT/results.json."""
    head = [
        "# Double-DIP evaluation", "",
        f"- date: {env['date']}",
        f"- machine: {env['machine']}",
        f"- command: `{env['command']}`",
        f"- evaluated at long side <= {env['max_size'] or 'stored size'} px (inputs and ground truth resized "
        f"together); working size {env['work_size'] or 'library default'}, iterations "
        f"{env['iterations'] or 'library default'}, preset {env['preset'] or 'default'}, seed {env['seed']}", "",
    ]
    parts = []
    for task, rows in results.items():
        sections: dict[str, list[dict]] = {}
        for r in rows:
            sections.setdefault(r["section"], []).append(r)
        text = []
        for sec, rs in sections.items():
            if sec != task:
                text += [f"### {sec}", ""]
            text += [markdown_table(sec, rs), ""]
        (out / f"{task}.md").write_text(f"## {task}\n\n" + "\n".join(text))
        parts += [f"## {task}", "", *text]
    (out / "summary.md").write_text("\n".join(head + parts))
    dump = json.dumps({"environment": env, "results": results}, indent=1, default=_json)
    (out / "results.json").write_text(dump)


def _json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
