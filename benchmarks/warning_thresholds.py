#!/usr/bin/env python
"""The measurements behind two warnings: a dehazed image saturated by an offset, and poorly determined mixing
coefficients of several mixtures.

``--dehaze [DATA]``: ``dehaze`` at its defaults but a 64 px working size (``max_size=64``) on synthetic offset
cases and, with the evaluation folder, on its hazy photos (all of real-hazy-noGT and Dense-HAZE, the first 8 of
RTTS and the first 6 of RESIDE-OTS), long side 128 px. Per image: the darkest value over the brightest
(``min/max``), the share of the clean image at its brightest value in every channel (``at-max``), and whether
``dehaze`` warned (its own rule: per non-empty channel, the 0.1 % quantile, pixels already at the top not counted;
``tasks/dehaze.py`` ``SATURATED_SHARE`` / ``OFFSET_LEVEL``).

``--mixtures``: ``estimate_alphas``' deciding score (its minimum over its median; ``UNCERTAIN_SCORE`` in
``tasks/transparency.py``) and the coefficients found, for 0.3 / 0.7 and 0.2 / 0.55 mixtures of scikit-image
pictures and textures at 128 px, smoothed random noise at 64 px, and a weak reflection (camera over astronaut at
2.5 / 5, 7.5 / 15 and 15 / 30 %, with its layers' RMS error after a 20-iteration ``separate_layers``) at 64 px.

    .venv/bin/python benchmarks/warning_thresholds.py --mixtures                               # seconds
    .venv/bin/python benchmarks/warning_thresholds.py --dehaze ../shared/eval-data             # ~10 min
"""

from __future__ import annotations

import argparse
import pathlib
import warnings

import numpy as np
import torch


def _dehaze_row(name: str, image: np.ndarray) -> None:
    import napari_doubledip as dd

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = dd.dehaze(image, max_size=64, seed=0)
    c = np.asarray(r.clean, np.float64)
    c = c if c.ndim == 3 else c[..., None]
    x = np.asarray(image, np.float64)
    at_max = float(np.mean((c >= c.max() - 1e-6 * max(1.0, abs(c.max()))).all(-1)))
    warned = any("saturated on" in str(w.message) for w in caught)
    print(f"{name[:32]:32s} min/max {x.min() / x.max():.2f}  at-max {at_max:.2f}  warned {warned}", flush=True)


def dehaze_survey(data: pathlib.Path | None) -> None:
    from skimage import io, transform

    from napari_doubledip import samples

    hz = samples.hazy_image(96).data
    g = hz.mean(-1)
    g = (g - g.min()) / (g.max() - g.min())
    _dehaze_row("synthetic hazy, rgb", hz)
    _dehaze_row("grey uint16 at 1000-1060", (g * 60 + 1000).astype(np.uint16))
    _dehaze_row("grey uint16 at 1000-1600", (g * 600 + 1000).astype(np.uint16))
    _dehaze_row("grey uint16 at 0-60000", (g * 60000).astype(np.uint16))
    if data is None:
        return
    root = data / "dehazing"
    files = (
        sorted((root / "real-hazy-noGT").glob("*.png"))
        + sorted((root / "real-hazy-noGT" / "RTTS").glob("*"))[:8]
        + sorted((root / "RESIDE-OTS-samples" / "hazy").glob("*"))[:6]
        + sorted((root / "Dense-HAZE" / "hazy").glob("*"))
    )
    for f in files:
        im = io.imread(f)[..., :3]
        h, w = im.shape[:2]
        im = transform.resize(im, (128, max(1, round(128 * w / h))), anti_aliasing=True)
        _dehaze_row(f.name, im)


def _score(mixes: list[np.ndarray]) -> tuple[float | None, np.ndarray | None]:
    from napari_doubledip.solver.filters import resize
    from napari_doubledip.tasks import transparency as T

    st = torch.from_numpy(np.stack([np.atleast_3d(np.asarray(x, np.float32)) for x in mixes])).permute(0, 3, 1, 2)
    st = (st - st.min()) / (st.max() - st.min())
    st = resize(st, T.working_shape(st.shape[-2:], T.ESTIMATE_SIZE))
    info: dict = {}
    a = T._estimate_alphas(st, info=info)
    return info.get("score_ratio"), None if a is None else np.round(a.numpy(), 3)


def mixtures_survey() -> None:
    from scipy.ndimage import gaussian_filter
    from skimage import data, transform

    def show(name: str, mixes: list[np.ndarray]) -> None:
        ratio, alphas = _score(mixes)
        print(f"{name:40s} score {'-' if ratio is None else f'{ratio:.2f}'}  coefficients {alphas}", flush=True)

    pairs = {
        "camera / moon": (data.camera(), data.moon()),
        "astronaut / coffee (grey)": (data.astronaut().mean(-1), data.coffee().mean(-1)),
        "brick / grass": (data.brick(), data.grass()),
        "gravel / brick": (data.gravel(), data.brick()),
        "grass / gravel": (data.grass(), data.gravel()),
    }
    for name, (x, y) in pairs.items():
        x, y = (transform.resize(v.astype(float), (128, 128)) for v in (x, y))
        for a, b in ((0.3, 0.7), (0.2, 0.55)):
            show(f"{name} {a} / {b}", [a * x + (1 - a) * y, b * x + (1 - b) * y])
    rng = np.random.default_rng(0)
    for sigma in (1, 2, 4):
        x, y = (gaussian_filter(rng.random((64, 64)), sigma) for _ in range(2))
        x, y = (x - x.min()) / np.ptp(x), (y - y.min()) / np.ptp(y)
        show(f"smoothed noise, sigma {sigma}, 0.3 / 0.7", [0.3 * x + 0.7 * y, 0.7 * x + 0.3 * y])
    ast = transform.resize(data.astronaut().mean(-1) / 255.0, (64, 64), anti_aliasing=True)
    cam = transform.resize(data.camera(), (64, 64), anti_aliasing=True)
    import napari_doubledip as dd

    for refl in (0.05, 0.15, 0.3):
        a = (refl / 2, refl)
        mixes = [v * cam + (1 - v) * ast for v in a]
        show(f"reflection at {a[0]:.3f} / {a[1]:.3f}", mixes)
        l1, l2 = dd.separate_layers(mixes, iterations=20, device="cpu").layers
        rms = [float(np.sqrt(np.mean((u - v) ** 2))) for u, v in ((l1, cam), (l2, ast))]
        print(f"{'':40s} layers RMS off (20 iterations): {rms[0]:.3f}, {rms[1]:.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dehaze", nargs="?", const="", default=None, metavar="DATA",
                   help="the dehazing survey (with the evaluation folder: its photos too)")
    p.add_argument("--mixtures", action="store_true", help="the mixing-coefficient scores")
    args = p.parse_args(argv)
    if args.dehaze is None and not args.mixtures:
        p.error("choose --dehaze [DATA] and/or --mixtures")
    if args.dehaze and not (pathlib.Path(args.dehaze) / "dehazing").is_dir():
        p.error(f"{args.dehaze}: no dehazing folder there (give the evaluation data folder, e.g. "
                "../shared/eval-data)")
    warnings.simplefilter("ignore")  # (the survey records dehaze's own warnings itself)
    if args.mixtures:
        mixtures_survey()
    if args.dehaze is not None:
        dehaze_survey(pathlib.Path(args.dehaze) if args.dehaze else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
