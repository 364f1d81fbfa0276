"""Watermark removal and dehazing on synthetic images with ground truth: PSNR and wall time.

Dehazing (``samples.hazy_image``: a scene with a depth ramp, ``t = exp(-1.4 depth)``, uniform or left-to-right
varying airlight): the hazy input, a plain dark-channel-prior dehaze (He et al. 2011, 15 x 15 window,
guided-filter refinement, ``solver.haze.dcp_dehaze``) and ``dd.dehaze`` at its defaults; PSNR of the haze-free
image, correlation of the transmission with the truth, mean absolute airlight error.

Watermark (``samples.watermarked``: stroke text at 50 % opacity in a box; ``samples.watermark_set``: three
pictures sharing one watermark): PSNR inside the box (or over the whole images) of the input and of
``dd.remove_watermark`` at its defaults, correlation of the opacity with the truth.

Reproduce (about 5 minutes on a 2-core CPU)::

    .venv/bin/python benchmarks/synthetic_watermark_dehaze.py --size 256
    .venv/bin/python benchmarks/synthetic_watermark_dehaze.py --size 256 --only dehaze --scene chelsea  # hard case
    .venv/bin/python benchmarks/synthetic_watermark_dehaze.py --only watermark_set --sets 3rgb,3grey,2rgb \
        --seeds 0,1,2
    .venv/bin/python benchmarks/synthetic_watermark_dehaze.py --only watermark_set --sets 3rgb,3rgb-box \
        --size 128 --seeds 0,1  # a set with a box around the watermark
    .venv/bin/python benchmarks/synthetic_watermark_dehaze.py --only watermark --sets none --seeds 0,1,2 \
        --watermark-scene astronaut --watermark-position 0.6 --threads 1  # over a busy region
    .venv/bin/python benchmarks/synthetic_watermark_dehaze.py --only watermark --sets none \
        --watermark-scene coffee --watermark-position 0.3 --watermark-opacity 0.3  # over a bright rim

Timings are wall-clock seconds of the whole call (including the final full-resolution step); with other jobs on
the machine, ``--threads 1`` avoids OpenMP oversubscription and is then the faster setting.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import napari_doubledip as dd
from napari_doubledip import samples as S
from napari_doubledip.solver.haze import dcp_dehaze
from _cli import int_list


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def bench_dehaze(
    size: int, seeds: list[int], scene: str, iterations: int | None, max_size: int | None, prior: str = "auto"
) -> None:
    print(f"== dehaze, {size}x{size} '{scene}' (PSNR dB of the haze-free image; corr(t); |A error|; seconds)")
    for varying in (False, True):
        s = S.hazy_image(size, varying_airlight=varying, scene=scene)
        truth = s.truth["clean"]
        label = "varying airlight" if varying else "uniform airlight"
        print(f"-- {label}: hazy input {S.psnr(s.data, truth):.2f}")
        x = torch.from_numpy(s.data).permute(2, 0, 1).contiguous()
        t0 = time.perf_counter()
        j, t, a = dcp_dehaze(x, radius=7)  # (He et al.'s 15 x 15 window, as evaluate.py's baseline)
        dt = time.perf_counter() - t0
        a_err = np.abs(a.numpy() - s.truth["airlight"]).mean()
        print(
            f"   DCP baseline     {S.psnr(j.permute(1, 2, 0).numpy(), truth):6.2f}  corr(t) "
            f"{_corr(t.numpy(), s.truth['transmission']):.3f}  |A err| {a_err:.3f}  {dt:6.2f}s"
        )
        for seed in seeds:
            t0 = time.perf_counter()
            r = dd.dehaze(
                s.data, iterations=iterations, max_size=max_size, device="cpu", seed=seed, transmission_prior=prior
            )
            dt = time.perf_counter() - t0
            print(
                f"   Double-DIP s={seed}  {S.psnr(r.clean, truth):6.2f}  corr(t) "
                f"{_corr(r.transmission, s.truth['transmission']):.3f}  |A err| "
                f"{np.abs(r.airlight - s.truth['airlight']).mean():.3f}  {dt:6.2f}s  ({r.iterations} it)",
                flush=True,
            )


def bench_watermark(
    size: int, seeds: list[int], iterations: int | None, max_size: int | None,
    sets: list[tuple[int, bool, bool]] = ((3, True, False),), box: bool = True, scene: str = "rocket",
    position: float = 0.15, opacity: float = 0.5,
) -> None:
    print(f"== watermark, {size}x{size} (PSNR dB vs the clean image; corr(alpha); seconds)")
    s = S.watermarked(size, opacity=opacity, scene=scene, position=position)
    b = s.extra["box_mask"]
    truth = s.truth["clean"]
    seeds_box = seeds if box else []
    if box:
        print(f"-- one image + box: input in the box {S.psnr(s.data[b], truth[b]):.2f}, "
              f"whole {S.psnr(s.data, truth):.2f}")
    for seed in seeds_box:
        t0 = time.perf_counter()
        r = dd.remove_watermark(s.data, box=s.extra["box"], iterations=iterations, max_size=max_size, device="cpu",
                                seed=seed)
        dt = time.perf_counter() - t0
        print(
            f"   Double-DIP s={seed}  in box {S.psnr(r.clean[b], truth[b]):6.2f}"
            f"  whole {S.psnr(r.clean, truth):6.2f}"
            f"  corr(alpha) {_corr(r.alpha[b], s.truth['alpha'][b]):.3f}  {dt:6.2f}s  ({r.iterations} it)",
            flush=True,
        )
    for n, rgb, boxed in sets:
        s = S.watermark_set(n, size, rgb=rgb)
        truth = s.truth["clean"]
        before = np.mean([S.psnr(x, t) for x, t in zip(s.data, truth)])
        set_box = None
        if boxed:  # the watermark's band, 4 px wider on each side (a box drawn loosely around it)
            ys, xs = np.nonzero(s.extra["box_mask"])
            set_box = tuple(int(v) for v in (ys.min() - 4, xs.min() - 4, ys.max() + 5, xs.max() + 5))
        print(f"-- {n} {'RGB' if rgb else 'grey'} images sharing the watermark, "
              f"{f'box {set_box}' if boxed else 'no box'}: input {before:.2f} "
              f"(mean over images; over the stack {S.psnr(s.data, truth):.2f})")
        for seed in seeds:
            t0 = time.perf_counter()
            r = dd.remove_watermark(s.data, box=set_box, iterations=iterations, max_size=max_size, device="cpu",
                                    seed=seed)
            dt = time.perf_counter() - t0
            after = np.mean([S.psnr(x, t) for x, t in zip(r.clean, truth)])
            print(
                f"   Double-DIP s={seed}  {after:6.2f}  stack {S.psnr(r.clean, truth):6.2f}"
                f"  corr(alpha) {_corr(r.alpha, s.truth['alpha']):.3f}  {dt:6.2f}s  ({r.iterations} it)",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seeds", type=str, default="0")
    p.add_argument("--only", choices=["dehaze", "watermark", "watermark_set"], default=None,
                   help="watermark_set: only the sets sharing a watermark")
    p.add_argument("--sets", default="3rgb",
                   help="watermark sets without a box, e.g. 3rgb,3grey,2rgb, or with one: 3rgb-box ('none': the "
                   "box case only)")
    p.add_argument("--scene", default="coffee", help="haze-free picture for the dehazing case")
    p.add_argument("--watermark-scene", default="rocket", help="picture under the boxed watermark")
    p.add_argument("--watermark-position", type=float, default=0.15,
                   help="top of the boxed watermark's band, a fraction of the height (0.6 with 'astronaut': the "
                   "suit and badge, a busy region)")
    p.add_argument("--watermark-opacity", type=float, default=0.5, help="opacity of the boxed watermark's text")
    p.add_argument("--iterations", type=int, default=None, help="default: each task's measured default")
    p.add_argument("--max-size", type=int, default=None)
    p.add_argument("--transmission-prior", default="auto", help="dehaze's transmission_prior")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = int_list(p, args.seeds, "--seeds", 0)
    sets = []  # (checked before any work: a typo found after the dehazing section threw minutes away)
    for v in [] if args.sets in ("", "none") else args.sets.split(","):
        kind, _, boxed = v.partition("-")
        ok = kind[:1].isdigit() and 2 <= int(kind[0]) <= 5 and kind[1:] in ("rgb", "grey")
        if not ok or boxed not in ("", "box"):
            p.error(f"--sets: each set is <n><rgb|grey>[-box] with n 2-5, e.g. 3rgb or 3rgb-box, got {v!r}")
        sets.append((int(kind[0]), kind[1:] == "rgb", boxed == "box"))
    print(f"torch {torch.__version__}, at most {torch.get_num_threads()} threads (the engine picks per task)")
    from speed import warm_up

    warm_up("cpu")  # (else the first timed run holds the process's start-up)
    if args.only in (None, "dehaze"):
        bench_dehaze(args.size, seeds, args.scene, args.iterations, args.max_size, args.transmission_prior)
    if args.only in (None, "watermark", "watermark_set"):
        bench_watermark(args.size, seeds, args.iterations, args.max_size, sets, box=args.only != "watermark_set",
                        scene=args.watermark_scene, position=args.watermark_position,
                        opacity=args.watermark_opacity)


if __name__ == "__main__":
    main()
