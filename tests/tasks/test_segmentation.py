import numpy as np
import pytest

import napari_doubledip as dd
from napari_doubledip.samples import iou, texture_composite


@pytest.fixture(scope="module")
def rgb_sample():
    return texture_composite(64)


@pytest.fixture(scope="module")
def rgb_result(rgb_sample):
    return dd.segment(rgb_sample.data, iterations=150, device="cpu", seed=0)


def test_auto_hints_segment_texture_composite(rgb_sample, rgb_result):
    truth = rgb_sample.truth["mask"]
    chance = max(truth.mean(), 1 - truth.mean())  # IoU of "everything is foreground" is ~ truth.mean()
    assert iou(rgb_result.mask, truth) > 0.8 > chance
    assert set(np.unique(rgb_result.mask)) <= {0.0, 1.0}


def test_result_fields(rgb_sample, rgb_result):
    r = rgb_result
    assert r.foreground.shape == rgb_sample.data.shape and r.foreground.dtype == np.float32
    assert r.background.shape == rgb_sample.data.shape
    assert r.soft_mask.min() >= 0 and r.soft_mask.max() <= 1
    assert r.params["iterations"] == 150 and r.seed == 0 and r.device == "cpu"
    assert r.iterations == 150 and np.isfinite(r.final_loss) and not r.stopped
    # foreground equals the image inside the mask
    inside = r.mask > 0.5
    assert np.allclose(r.foreground[inside], rgb_sample.data[inside], atol=1e-5)


def test_auto_hints_are_mostly_right(rgb_sample, rgb_result):
    truth = rgb_sample.truth["mask"]
    h = rgb_result.hints
    assert (h == 1).any() and (h == 2).any()
    assert truth[h == 1].mean() > 0.85 and (~truth[h == 2]).mean() > 0.85


def test_user_scribbles_and_uint16_grayscale():
    s = texture_composite(48, rgb=False)
    truth = s.truth["mask"]
    img16 = (s.data * 60000).astype(np.uint16)
    labels = np.zeros(truth.shape, np.uint8)
    yy, xx = np.nonzero(truth)
    labels[yy[::7], xx[::7]] = 1  # sparse foreground scribbles
    by, bx = np.nonzero(~truth)
    labels[by[::7], bx[::7]] = 2
    r = dd.segment(img16, hints=labels, iterations=120, device="cpu", seed=1)
    assert r.mask.shape == truth.shape
    assert iou(r.mask, truth) > 0.75
    assert r.foreground.shape == img16.shape
    # outputs come back in the input's value range
    assert r.foreground.max() > 1000


def test_hints_as_mask_pair_polarity_follows_user():
    s = texture_composite(48)
    truth = s.truth["mask"]
    # swap the roles: mark the disk as background, the rest as foreground
    fg, bg = ~truth, truth.copy()
    fg[::2] = False
    bg[::2] = False
    r = dd.segment(s.data, hints=(fg, bg), iterations=60, device="cpu", seed=0)
    assert iou(r.mask, ~truth) > 0.8


def test_same_seed_reproducible():
    s = texture_composite(32)
    a = dd.segment(s.data, iterations=20, device="cpu", seed=5)
    b = dd.segment(s.data, iterations=20, device="cpu", seed=5)
    assert np.array_equal(a.soft_mask, b.soft_mask)


def test_working_size_and_full_resolution_output():
    s = texture_composite(64)
    r = dd.segment(s.data, iterations=80, max_size=32, device="cpu", seed=0)
    assert r.mask.shape == (64, 64)
    assert iou(r.mask, s.truth["mask"]) > 0.75


@pytest.mark.parametrize(
    "image, match",
    [
        (np.zeros((4, 4)), "too small"),
        (np.zeros((0, 10)), "empty"),
        (np.zeros((10, 10, 10, 3)), "2D"),
        (np.zeros((16, 16, 7)), "C <= 4"),
        (np.full((16, 16), np.nan), "NaN"),
        (np.array([["a"] * 16] * 16), "numeric"),
    ],
)
def test_bad_images_raise(image, match):
    with pytest.raises((ValueError, TypeError), match=match):
        dd.segment(image, iterations=1)


def test_bad_arguments_raise():
    img = np.random.default_rng(0).random((16, 16))
    with pytest.raises(ValueError, match="hints"):
        dd.segment(img, hints=np.zeros((8, 8)), iterations=1)
    with pytest.raises(ValueError, match="hints"):
        dd.segment(img, hints="magic", iterations=1)
    with pytest.raises(ValueError, match="device"):
        dd.segment(img, device="gpu0", iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        dd.segment(img, iterations=0)
    with pytest.raises(TypeError, match="max_size"):
        dd.segment(img, max_size="big", iterations=1)
