"""Dehazing a stack plane by plane (``dd.dehaze_frames``): quality per plane and time, against ``dd.dehaze``.

A synthetic hazy stack: the same scene behind haze that thickens from plane to plane (``samples.hazy_image``
with the haze coefficient ``beta`` rising, so the later planes are dense haze), as in a focal series whose
deeper planes see through more scattering tissue. Prints, per plane, the PSNR of the hazy input and of the
dehazed plane against the haze-free truth, the haze setting the plane ran with, and the wall time of the
whole stack next to that of dehazing one plane alone; checks that a plane of the stack equals the plane
dehazed alone.

    .venv/bin/python benchmarks/dehaze_stack.py                  # 6 planes of 128 x 128 (~1-2 min on 2 cores)
    .venv/bin/python benchmarks/dehaze_stack.py --planes 10 --size 256 --rgb
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import napari_doubledip as dd
from napari_doubledip.samples import hazy_image, psnr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--planes", type=int, default=6)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--rgb", action="store_true", help="RGB planes (default: grey, as in fluorescence)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    betas = np.linspace(0.8, 4.0, args.planes)
    samples = [hazy_image(args.size, rgb=args.rgb, beta=float(b)) for b in betas]
    scale = 4000.0  # uint16 counts, as a camera gives them
    stack = (np.stack([s.data for s in samples]) * scale).astype(np.uint16)
    truth = [s.truth["clean"] for s in samples]

    from speed import warm_up

    warm_up()  # (else the first timed call, the whole stack, holds the process's start-up and the ratio shrinks)
    t = time.perf_counter()
    r = dd.dehaze_frames(stack, seed=args.seed)
    whole = time.perf_counter() - t
    t = time.perf_counter()
    alone = dd.dehaze(stack[-1], seed=args.seed)
    one = time.perf_counter() - t

    kind = "RGB" if args.rgb else "grey"
    print(f"{args.planes} planes of {args.size} x {args.size} ({kind}, uint16), seed {args.seed}")
    print("| plane | beta | haze | hazy PSNR (dB) | dehazed PSNR (dB) |")
    print("| --- | --- | --- | --- | --- |")
    haze = r.params["haze"] if isinstance(r.params["haze"], list) else [r.params["haze"]] * args.planes
    for i, (b, gt) in enumerate(zip(betas, truth, strict=True)):
        hazy = psnr(stack[i] / scale, gt)
        clean = psnr(r.clean[i] / scale, gt)
        print(f"| {i} | {b:.2f} | {haze[i]} | {hazy:.2f} | {clean:.2f} |")
    same = np.array_equal(alone.clean, r.clean[-1]) and np.array_equal(alone.transmission, r.transmission[-1])
    print(f"whole stack {whole:.1f} s ({r.iterations} iterations), one plane alone {one:.1f} s "
          f"({whole / one:.2f}x for {args.planes} planes); last plane identical to dd.dehaze of it alone: {same}")


if __name__ == "__main__":
    main()
