"""The demo command (``demo.py``): the figures it prints (each against its own baseline) and the panels it
writes. The library calls are replaced by fakes with known results: no optimisation runs here (the real
demo's figures are checked by ``scripts/demo.sh``)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

import napari_doubledip as dd
from napari_doubledip import samples as S


def _fake(monkeypatch, name, make):
    """Replace ``dd.<name>`` by ``make(data, **kwargs)`` (the demo functions import the package at call time)."""
    calls = []

    def fake(data, **kwargs):
        calls.append(kwargs)
        return make(np.asarray(data), **kwargs)

    monkeypatch.setattr(dd, name, fake)
    return calls


def _numbers(text):
    return [float(v) for v in re.findall(r"-?\d+\.\d+", text)]


def test_demo_segmentation_figures_and_hint_colours(monkeypatch):
    from napari_doubledip import demo

    s = S.texture_composite(32)
    hints = np.zeros((32, 32), np.uint8)
    hints[:4], hints[-4:] = 1, 2
    truth = s.truth["mask"]
    _fake(monkeypatch, "segment", lambda d, **k: SimpleNamespace(
        hints=hints, mask=truth.astype(np.float32), foreground=d, background=d))
    images, quality = demo._segmentation(32, "cpu")
    assert quality == "IoU 1.000"
    # grey: no hint, white: foreground, black: background
    assert images[1][0, 0] == 1.0 and images[1][-1, 0] == 0.0 and images[1][16, 16] == 0.5


def test_demo_many_objects_compares_with_otsu_on_its_own(monkeypatch):
    from skimage.filters import gaussian, threshold_otsu

    from napari_doubledip import demo

    s = S.blob_field(32)
    truth = s.truth["mask"]
    _fake(monkeypatch, "segment", lambda d, **k: SimpleNamespace(mask=truth.astype(np.float32)))
    _, quality = demo._many_objects(32, "cpu")
    smooth = gaussian(s.data, 1.0)
    otsu = S.iou(smooth > threshold_otsu(smooth), truth)
    assert otsu < 0.999  # (else the check below could not tell the baseline from the result)
    assert quality == f"IoU 1.000 (Otsu {otsu:.3f})"


def test_demo_transparency_matches_layers_either_way_round_and_its_baseline(monkeypatch):
    from napari_doubledip import demo

    rng = np.random.default_rng(0)
    l1, l2 = rng.random((32, 32, 3)), rng.random((32, 32, 3))
    mixtures = np.stack([0.2 * l1 + 0.8 * l2, 0.4 * l1 + 0.6 * l2])  # both nearer layer 2
    sample = SimpleNamespace(data=mixtures, truth={"layer1": l1, "layer2": l2, "alphas": np.array([0.2, 0.4])})
    monkeypatch.setattr(S, "two_mixtures", lambda size, rgb=False: sample)
    # the run's layers in the other order, each a little off: the figures are the swapped pairing's
    _fake(monkeypatch, "separate_layers", lambda d, **k: SimpleNamespace(
        layers=(l2 + 0.01, l1 + 0.03), alphas=np.array([0.2, 0.4], np.float32)))
    _, quality = demo._transparency(32, "cpu")
    assert quality.startswith(f"layer PSNR {S.psnr(l1 + 0.03, l1):.2f} / {S.psnr(l2 + 0.01, l2):.2f} dB")
    as_is = max(S.psnr(m, s) for m in mixtures for s in (l1, l2))  # the best mixture against either layer
    assert as_is == max(S.psnr(m, l2) for m in mixtures) > max(S.psnr(m, l1) for m in mixtures) + 1
    assert quality.endswith(f"best mixture as a layer {as_is:.2f} dB)")


def test_demo_watermark_figures_are_inside_the_box_against_the_input(monkeypatch):
    from napari_doubledip import demo

    s = S.watermarked(32)
    inside = s.extra["box_mask"]
    clean = s.truth["clean"].copy()
    clean[inside] += 0.05  # exact outside the box, off inside it
    _fake(monkeypatch, "remove_watermark",
          lambda d, **k: SimpleNamespace(clean=clean, alpha=np.zeros(d.shape[:2])))
    _, quality = demo._watermark(32, "cpu")
    truth = s.truth["clean"][inside]
    assert quality == (f"PSNR in the box {S.psnr(clean[inside], truth):.2f} dB "
                       f"(input {S.psnr(s.data[inside], truth):.2f} dB)")


def test_demo_dehazing_and_video_figures(monkeypatch):
    from napari_doubledip import demo

    s = S.hazy_image(32, varying_airlight=True)
    clean = s.truth["clean"] + 0.02
    _fake(monkeypatch, "dehaze", lambda d, **k: SimpleNamespace(
        clean=clean, transmission=np.ones(d.shape[:2]), airlight=np.ones(d.shape)))
    _, quality = demo._dehazing(32, "cpu")
    truth = s.truth["clean"]
    assert quality == f"PSNR {S.psnr(clean, truth):.2f} dB (hazy input {S.psnr(s.data, truth):.2f} dB)"

    v = S.moving_object_video(32, frames=10)
    masks = v.truth["masks"].astype(np.float32)
    masks[5:] = 0  # half the frames found nothing: mean IoU 0.5
    _fake(monkeypatch, "segment_video", lambda d, **k: SimpleNamespace(masks=masks))
    images, quality = demo._video_segmentation(32, "cpu")
    assert quality == "mean IoU 0.500"
    # the first, middle and last frames and their masks
    assert all(np.array_equal(a, b) for a, b in zip(images[:3], v.data[[0, 5, 9]]))
    assert all(np.array_equal(a, b) for a, b in zip(images[3:], masks[[0, 5, 9]]))

    r = S.reflection_video(32, frames=10)
    static = r.truth["static"] + 0.01
    _fake(monkeypatch, "separate_video_layers", lambda d, **k: SimpleNamespace(static=static, dynamic=d))
    _, quality = demo._video_transparency(32, "cpu")
    assert quality == (f"static layer PSNR {S.psnr(static, r.truth['static']):.2f} dB "
                       f"(temporal mean {S.psnr(r.data.mean(0), r.truth['static']):.2f} dB)")


def test_demo_main_writes_a_panel_per_task_at_the_size_asked(tmp_path, capsys, monkeypatch):
    from napari_doubledip import demo

    sizes = []

    def fake(size, device):
        sizes.append(size)
        return [np.zeros((4, 4))], "quality"

    monkeypatch.setattr(demo, "DEMOS", {"one": fake, "two": fake})
    assert demo.main(["--out", str(tmp_path), "--tasks", "one, two", "--size", "16", "--device", "cpu"]) == 0
    assert sizes == [16, 16]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.png", "two.png"]
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("one") and "quality" in out[0] and out[0].endswith("one.png")


@pytest.mark.parametrize(
    "argv, said", [(["--tasks", ","], "unknown task"), (["--tasks", "one", "--size", "15"], "--size")]
)
def test_demo_refuses_no_task_and_a_size_below_16(tmp_path, capsys, monkeypatch, argv, said):
    from napari_doubledip import demo

    ran = []
    monkeypatch.setattr(demo, "DEMOS", {"one": lambda size, device: ran.append(size) or ([np.zeros((4, 4))], "")})
    with pytest.raises(SystemExit) as exit_:
        demo.main([*argv, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2 and said in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not ran
