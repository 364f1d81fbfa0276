"""The "reference" preset: the authors' recipe (network sizes, learning rate, iterations, full resolution)."""

from __future__ import annotations

import numpy as np
import pytest

import napari_doubledip as dd
from napari_doubledip.solver.presets import REFERENCE, apply_preset, check_preset
from napari_doubledip.tasks import segmentation

RNG = np.random.default_rng(0)
IMG = RNG.random((40, 40, 3)).astype(np.float32)
FRAMES = RNG.random((3, 40, 40)).astype(np.float32)

CALLS = {
    "segmentation": lambda **kw: dd.segment(IMG, **kw),
    "transparency": lambda **kw: dd.separate_layers([IMG, IMG[::-1]], **kw),
    "transparency_single": lambda **kw: dd.separate_layers(IMG, **kw),
    "watermark": lambda **kw: dd.remove_watermark(IMG, box=(4, 4, 36, 36), **kw),
    "dehazing": lambda **kw: dd.dehaze(IMG, **kw),
    "video_segmentation": lambda **kw: dd.segment_video(FRAMES, **kw),
    "video_transparency": lambda **kw: dd.separate_video_layers(FRAMES, **kw),
}


@pytest.mark.parametrize("key", list(CALLS))
def test_every_task_accepts_the_reference_preset(key):
    """Stopped at once: the run is set up with the authors' iteration count, at full resolution."""
    r = CALLS[key](preset="reference", stop=lambda: True, device="cpu")
    assert r.stopped and r.params["preset"] == "reference"
    assert r.params["precision"] == "auto" and r.precision == "float32"  # the authors' numerics
    assert r.params["iterations"] == REFERENCE[key][2]
    assert r.params["max_size"] == 40


def test_apply_preset_swaps_networks_rate_and_budget():
    import torch

    target = torch.rand(1, 3, 32, 32)
    z = torch.zeros(1, 1, 32, 32)
    fg = torch.zeros(1, 1, 32, 32)
    fg[..., 8:24, 8:24] = 1
    task = segmentation.build_task(target, fg, 1 - fg, 400, user_hints=False)  # automatic hints: no augmentation
    assert apply_preset(task, "default") is task
    assert not task.augment and task.lr == 0.02 and task.settle is not None
    prior = segmentation.build_task(target, z, z, 400, user_hints=True)  # no hints: the DIP prior, augmented
    assert prior.augment and prior.lr == 0.01
    ref = apply_preset(task, "reference")
    config, lr, its = REFERENCE["segmentation"]
    assert ref.iterations == its and ref.lr == lr and ref.patience is None and ref.settle is None and ref.augment
    assert all(d.config.channels == config.channels for d in ref.dips.values())
    assert apply_preset(task, "reference", iterations=50).iterations == 50
    assert ref.precision == "float32" and task.precision == "float32"  # single-image tasks: float32
    assert apply_preset(task, "reference", precision="bfloat16").precision == "bfloat16"  # explicit wins
    assert apply_preset(task, "default", precision="float32").precision == "float32"
    with pytest.raises(ValueError, match="precision"):
        apply_preset(task, "default", precision="fp16")


def test_only_the_video_tasks_ask_for_automatic_precision(monkeypatch):
    """"auto" (bfloat16 on CPUs with AMX) only where it was measured to keep quality: the video tasks.

    The CPU is made to report AMX, so that "auto" means bfloat16 here whatever CPU runs the test.
    """
    from napari_doubledip.solver import device as device_mod

    monkeypatch.delenv("NAPARI_DOUBLEDIP_PRECISION", raising=False)
    monkeypatch.setattr(device_mod, "_cpu_has_amx", lambda: True)
    for key in ("video_segmentation", "video_transparency"):
        r = CALLS[key](stop=lambda: True, device="cpu")
        assert r.params["precision"] == "auto" and r.precision == "bfloat16", key
    for key in ("segmentation", "transparency", "transparency_single", "watermark", "dehazing"):
        assert CALLS[key](stop=lambda: True, device="cpu").precision == "float32", key
    monkeypatch.setattr(device_mod, "_cpu_has_amx", lambda: False)  # elsewhere "auto" is float32
    assert CALLS["video_segmentation"](stop=lambda: True, device="cpu").precision == "float32"
    with pytest.raises(ValueError, match="preset"):
        check_preset("fast")


def test_precision_is_applied_and_recorded():
    """Same seed in both precisions: bfloat16 really runs (other numbers, close ones) and is recorded as such."""
    runs = {
        p: dd.separate_layers(np.stack([IMG, IMG[::-1]]), iterations=10, device="cpu", precision=p)
        for p in ("float32", "bfloat16")
    }
    for p, r in runs.items():
        assert r.precision == p and r.params["precision"] == p
        assert all(np.isfinite(layer).all() for layer in r.layers)
    a, b = runs["float32"].layers[0], runs["bfloat16"].layers[0]
    assert not np.array_equal(a, b)  # autocast changed the arithmetic...
    assert np.abs(a - b).mean() < 0.05  # ...not the result


def test_bad_precision_is_rejected_before_any_work():
    with pytest.raises(ValueError, match="precision"):
        dd.dehaze(IMG, precision="half")


def test_reference_preset_uses_the_authors_full_architecture_and_a_constant_rate():
    """Kernel, skips and levels of the authors' networks (not only the channel counts), a constant learning
    rate (lr_floor 1), no early stopping, checks at most every 100 iterations; DIPs of a fixed small size (the
    airlight) are kept (a mutation review: only `channels` swapped, the cosine decay left, patience kept,
    check_every kept, the size-fixed DIPs replaced too)."""
    import dataclasses

    import torch

    from napari_doubledip.tasks import dehaze, transparency

    target = torch.rand(2, 3, 32, 32)
    task = transparency.build_task(target, 400)
    ref = apply_preset(task, "reference")
    config = REFERENCE["transparency"][0]
    assert ref.lr_floor == 1.0 and ref.check_every >= 100
    assert apply_preset(dataclasses.replace(task, patience=3), "reference").patience is None  # no early stop
    for name, dip in ref.dips.items():
        if dip.scalar or dip.size is not None:
            assert dip == task.dips[name], name
        else:
            assert dip.config == dataclasses.replace(config, in_channels=task.dips[name].config.in_channels), name
            assert dip.config.kernel == 5 and dip.config.skip == (0, 0, 0, 4, 4)
    hazy = dehaze.build_task(torch.rand(1, 3, 32, 32), torch.full((1, 3, 1, 1), 0.8), 400)
    sized = [name for name, dip in hazy.dips.items() if dip.size is not None and not dip.scalar]
    assert sized  # the airlight DIP
    ref = apply_preset(hazy, "reference")
    for name in sized:
        assert ref.dips[name] == hazy.dips[name], name
