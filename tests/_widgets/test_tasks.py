"""The panels' task adapters (``_widgets/_tasks.py``): a mask given back as hints, scribble checks, the
coefficients' summary, a box covering the frame, the airlight text."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest


def test_mask_as_hints_band_depth_and_cores():
    from napari_doubledip._widgets._tasks import mask_as_hints

    big = np.zeros((256, 256), np.uint8)  # band: 256 / 32 = 8 px
    big[50:150, 50:150] = 1
    hints = mask_as_hints(big)
    assert (hints[50:58, 100] == 0).all() and (hints[58:142, 100] == 1).all()
    small = np.zeros((32, 32), np.uint8)  # 32 / 32 = 1 px, but the band is at least 2 px deep
    small[8:24, 8:24] = 1
    hints = mask_as_hints(small)
    assert (hints[8:10, 16] == 0).all() and (hints[10:22, 16] == 1).all()
    obj = np.zeros((256, 256), np.uint8)  # a small object: its core is where it is deeper than half its depth
    obj[100:114, 100:114] = 1  # depth 7: hints deeper than 3.5 px, rows 103-110
    obj[20:200, 30:33] = 1  # a 3 px stroke (depth 2) keeps its middle line
    hints = mask_as_hints(obj)
    assert (hints[103:111, 106] == 1).all() and (hints[100:103, 106] == 0).all()
    assert (hints[40:180, 31] == 1).all() and (hints[40:180, 30] == 0).all()


def test_mask_as_hints_keeps_every_painted_background_stroke():
    from napari_doubledip._widgets._tasks import mask_as_hints

    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 1
    mask[15, 20:40] = 2  # painted just outside the object, inside the undecided band
    hints = mask_as_hints(mask)
    assert (hints[15, 20:40] == 2).all()
    erased = np.zeros_like(mask)  # a frame whose object was erased and marked absent with 2
    erased[30:34, 30:34] = 2
    frames = mask_as_hints(np.stack([mask, erased]))
    assert (frames[1][30:34, 30:34] == 2).all() and (frames[1][erased == 0] == 0).all()


def test_a_label_image_without_labels_1_and_2_is_not_said_to_give_hints(monkeypatch):
    import napari.utils.notifications as notifications

    from napari_doubledip._widgets._spec import Inputs
    from napari_doubledip._widgets._tasks import _segment

    shown = []
    monkeypatch.setattr(notifications, "show_warning", shown.append)
    objects = (np.arange(400, dtype=np.uint16).reshape(20, 20) // 8) + 3  # labels 3-52: no 1 or 2
    kwargs = _segment(Inputs([np.zeros((20, 20))], {"scribbles": objects, "box": None}))[1]
    assert kwargs["hints"] == "auto" and len(shown) == 1
    assert "automatic hints are used instead" in shown[0] and "objects 1 and 2 are taken" not in shown[0]


def test_alphas_summary_limits():
    from napari_doubledip._widgets._tasks import _alphas_summary

    six = SimpleNamespace(alphas=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6])  # up to 6: each listed
    assert _alphas_summary(six) == "coefficients 0.10, 0.20, 0.30, 0.40, 0.50, 0.60"
    ten = SimpleNamespace(alphas=np.linspace(0.1, 1.0, 10))  # named: the first 8, then the count
    said = _alphas_summary(ten, [f"m{i}" for i in range(10)])
    assert said.startswith("coefficients 'm0' 0.10, ") and said.endswith("'m7' 0.80, ... (10 mixtures)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no "All-NaN slice" warning)
        assert _alphas_summary(SimpleNamespace(alphas=np.full(10, np.nan))) == ""  # every frame left out


def test_a_box_covers_the_frame_only_in_both_directions():
    from napari_doubledip._widgets._tasks import _covers_frame

    assert not _covers_frame((0, 2, 10, 12), (10, 12))  # full height, not full width
    assert not _covers_frame((2, 0, 10, 12), (10, 12))
    assert not _covers_frame((0, 0, 10, 11), (10, 12))
    ellipse = np.ones((10, 12), bool)
    ellipse[0, 0] = False
    assert not _covers_frame(ellipse, (10, 12)) and _covers_frame(np.ones((10, 12), bool), (10, 12))


def test_parse_airlight_takes_auto_in_any_case():
    from napari_doubledip._widgets._tasks import parse_airlight

    assert parse_airlight("Auto") is None and parse_airlight(" AUTO ") is None


def test_dehaze_options_read_a_grey_written_per_channel_on_grey_images_and_stacks():
    from napari_doubledip._widgets._spec import Inputs
    from napari_doubledip._widgets._tasks import _dehaze, _dehaze_stack

    grey = np.zeros((16, 16), np.float32)
    # an RGBA-style grey (4 values) is the grey it means, as an RGB one is
    assert _dehaze(Inputs([grey], {}, {"airlight": "0.9, 0.9, 0.9, 0.9"}))[1]["airlight"] == 0.9
    stack = np.zeros((2, 16, 16), np.float32)  # a grey stack (T, Y, X): one channel
    assert _dehaze_stack(Inputs([stack], {}, {"airlight": "0.9, 0.9, 0.9"}))[1]["airlight"] == 0.9
    with pytest.raises(ValueError, match="1 value for a grey image"):
        _dehaze_stack(Inputs([stack], {}, {"airlight": "0.9, 0.8, 0.7"}))


def test_a_mask_given_back_without_marks_leaves_the_automatic_hints():
    """A result mask picked as scribbles (converted in the worker) that marks nothing: automatic hints, not a
    deferred conversion of nothing."""
    from napari_doubledip._widgets._spec import Inputs
    from napari_doubledip._widgets._tasks import _segment, mask_as_hints
    from napari_doubledip._widgets._worker import Deferred

    img = np.zeros((20, 20))
    empty = Deferred(mask_as_hints, np.zeros((20, 20), np.uint8))
    assert _segment(Inputs([img], {"scribbles": empty, "box": None}))[1]["hints"] == "auto"
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 1
    kept = _segment(Inputs([img], {"scribbles": Deferred(mask_as_hints, mask), "box": None}))[1]["hints"]
    assert isinstance(kept, Deferred) and np.array_equal(kept(), mask_as_hints(mask))


def test_dehaze_options_refuse_an_airlight_at_black_on_boolean_data_too():
    from napari_doubledip._widgets._spec import Inputs
    from napari_doubledip._widgets._tasks import _dehaze

    with pytest.raises(ValueError, match="black level"):  # (before the run, as for unsigned integers)
        _dehaze(Inputs([np.zeros((16, 16), bool)], {}, {"airlight": "0"}))


@pytest.mark.parametrize("text", ["0,9", "[0,9]", "(0,9)", " 0,9, "])
def test_a_decimal_comma_is_pointed_out_with_or_without_brackets(text):
    """A value pasted back from a result's metadata comes in brackets: the hint about a decimal comma holds
    for it too."""
    from napari_doubledip._widgets._spec import Inputs
    from napari_doubledip._widgets._tasks import _dehaze

    with pytest.raises(ValueError, match="write decimals with a point"):
        _dehaze(Inputs([np.zeros((8, 8), np.float32)], {}, {"airlight": text}))


@pytest.mark.parametrize("text", ["60,000", "[60,000]"])
def test_a_thousands_separator_is_pointed_out_with_or_without_brackets(text):
    from napari_doubledip._widgets._spec import Inputs
    from napari_doubledip._widgets._tasks import _dehaze

    with pytest.raises(ValueError, match="without a thousands separator"):
        _dehaze(Inputs([np.zeros((8, 8), np.uint16)], {}, {"airlight": text}))
