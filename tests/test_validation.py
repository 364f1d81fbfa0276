"""_validation: input readings a mutation review found untested (each test fails under its mutation)."""

from __future__ import annotations

import numpy as np
import pytest

import napari_doubledip as dd


def test_a_boolean_image_is_read_as_0_and_1():
    """A boolean image is data of 0 and 1 (not refused as non-numeric)."""
    from napari_doubledip._validation import as_image

    img = np.zeros((16, 16), bool)
    img[4:12, 4:12] = True
    x, vr = as_image(img)
    assert x.dtype == np.float32 and x.shape == (16, 16, 1)
    assert (vr.lo, vr.hi) == (0.0, 1.0)
    np.testing.assert_array_equal(x[..., 0], img.astype(np.float32))
    # and through the public API
    assert dd.segment(img, iterations=1, device="cpu").mask.shape == (16, 16)


def test_a_narrow_strip_keeps_at_least_8_working_pixels_across():
    """The working size never goes below 8 pixels across (the networks' smallest input)."""
    from napari_doubledip._validation import working_shape

    assert working_shape((10, 200), 100) == (8, 100)  # 10 * 0.5 = 5 -> 8
    assert working_shape((1000, 20), 100) == (100, 8)
    r = dd.segment(np.random.default_rng(0).random((10, 200)), max_size=100, iterations=1, device="cpu")
    assert r.working_shape == (8, 100) and r.mask.shape == (10, 200)


def test_max_size_below_16_is_refused():
    """A working size below 16 is refused (no test used one between 8 and 15)."""
    from napari_doubledip._validation import check_max_size

    assert check_max_size(16, 128) == 16
    for bad in (8, 15):
        with pytest.raises(ValueError, match="max_size must be >= 16"):
            check_max_size(bad, 128)
    with pytest.raises(ValueError, match="max_size must be >= 16"):
        dd.segment(np.random.default_rng(0).random((32, 32)), max_size=8, iterations=1)


def test_a_0d_array_as_hints_is_named_as_a_single_value():
    """A 0-d array as hints is a single value, refused as no hint form (not a label image of shape ())."""
    img = np.random.default_rng(0).random((16, 16))
    for hints in (np.array(True), np.array(1)):
        with pytest.raises(TypeError, match="hints must be 'auto', 'intensity', None, a label image"):
            dd.segment(img, hints=hints, iterations=1)
