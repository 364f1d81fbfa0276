"""The panels' module-level helpers in ``_widgets/_base.py`` (status-line text, marks, alignment, placing and
zooming results), tested directly on small real or fake layers: no viewer, no run."""

from __future__ import annotations

from types import SimpleNamespace

import napari.layers
import numpy as np
import pytest

from napari_doubledip._widgets import _base, _layers


def _fake_outputs(shown, hidden=()):
    """A job whose outputs add into channels of an overlay: ``(layer name, source)`` pairs."""
    outputs = SimpleNamespace(
        added_into=lambda on: list(shown if on else hidden), source_name=lambda source: source.name
    )
    return SimpleNamespace(outputs=outputs)


def test_added_into_says_it_for_one_input_and_them_for_several():
    """Two results of one channel (a mixture's two layers) add into one input: "hide it", not "hide them"
    (caught: the count went by the layers, not by the inputs)."""
    c0, c1 = SimpleNamespace(name="c0"), SimpleNamespace(name="c1")
    one = _base._added_into(_fake_outputs([("c0 layer 1", c0), ("c0 layer 2", c0)]))
    assert one == (
        "; 'c0 layer 1' and 'c0 layer 2' add into 'c0' in the channel overlay: hide it to see the result alone"
    )
    two = _base._added_into(_fake_outputs([("c0 clean", c0), ("c1 clean", c1)]))
    assert two.endswith("into 'c1' in the channel overlay: hide them to see the result alone")
    assert _base._added_into(_fake_outputs([])) == ""


def test_labels_too_large_or_lazy_to_read_are_taken_to_hold_marks():
    """A lazy or very large Labels layer is not read in the GUI thread: taken to hold scribbles (so that the
    automatic hints are greyed out as for any scribbles), not taken for empty."""
    da = pytest.importorskip("dask.array")
    assert _base._marks(SimpleNamespace(data=da.zeros((8, 8), dtype=np.uint8)))
    side = int(np.sqrt(_base._LABELS_CHECK_PIXELS)) + 1
    huge = np.broadcast_to(np.zeros(1, np.uint8), (side, side))  # (no memory: a view of one byte)
    assert _base._marks(SimpleNamespace(data=huge))
    small = np.zeros((8, 8), np.uint8)
    assert not _base._marks(SimpleNamespace(data=small))
    small[2, 2] = 2
    assert _base._marks(SimpleNamespace(data=small))


def test_a_view_of_any_level_of_a_pyramid_shares_its_memory():
    """Labels read from a multiscale layer are a view of one of its levels: copied at Run like any other, so
    that strokes painted before the run starts do not reach it (caught: only a non-multiscale layer was seen)."""
    full = np.zeros((16, 16), np.uint8)
    coarse = np.zeros((8, 8), np.uint8)
    layer = napari.layers.Labels([full, coarse], multiscale=True)
    assert _base._shares_memory(coarse[2:6], layer) and _base._shares_memory(full[:4], layer)
    assert not _base._shares_memory(coarse.copy(), layer)
    assert _base._shares_memory(full[1:], napari.layers.Labels(full))


def test_the_shape_key_of_a_pyramid_covers_every_level():
    """New data of a pyramid with other coarser levels (the level read may change) is a new shape."""
    a = napari.layers.Image([np.zeros((64, 64)), np.zeros((32, 32))], multiscale=True)
    b = napari.layers.Image([np.zeros((64, 64)), np.zeros((16, 16))], multiscale=True)
    assert _base._shape_key(a) == ((64, 64), (32, 32)) and _base._shape_key(a) != _base._shape_key(b)


def test_channels_last_thresholds():
    """At most 7 columns: refused (the library decomposes frames of 8 or more columns); 8 to 32 columns with at
    least 8 times as many rows: a warning; else none (caught: 8 columns refused; caught: 32 columns not warned)."""
    grey = SimpleNamespace(rgb=False)
    assert _base._channels_last(grey, (64, 64, 7)) == "refuse"
    assert _base._channels_last(grey, (64, 64, 8)) == "warn"
    assert _base._channels_last(grey, (256, 256, 32)) == "warn"
    assert _base._channels_last(grey, (256, 256, 33)) is None
    assert _base._channels_last(grey, (255, 32, 32)) is None  # (as many rows as columns: frames)
    assert _base._channels_last(SimpleNamespace(rgb=True), (64, 64, 3)) is None
    assert _base._channels_last(grey, (64, 3)) is None


def test_marks_elsewhere_name_five_frames_and_count_the_rest():
    """Scribbles on 7 other frames: the first five named, "and 2 more" (caught: saying "and 7 more")."""
    data = np.zeros((9, 8, 8), np.uint8)
    for t in range(2, 9):
        data[t, 3, 3] = 1
    layer = napari.layers.Labels(data)
    assert _base._marked_elsewhere(layer, np.zeros((8, 8), np.uint8)) == "frames 2, 3, 4, 5, 6 and 2 more"
    data[3:] = 0
    assert _base._marked_elsewhere(napari.layers.Labels(data), np.zeros((8, 8), np.uint8)) == "frame 2"
    assert _base._marked_elsewhere(napari.layers.Labels(data), data[2]) == ""  # (the frame read has marks)


def test_new_labels_spanning_a_pyramid_at_full_resolution_are_fresh(monkeypatch):
    """napari's "new labels" over a multiscale image read at a coarser level makes a layer of the full
    resolution: it is fresh (taken as the scribbles) as one at the level read is (caught: only the latter)."""
    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 32 * 32)
    image = napari.layers.Image([np.zeros((64, 64)), np.zeros((32, 32))], multiscale=True)
    assert _layers.frame_shape(image) == (32, 32) and _layers.full_frame_shape(image) == (64, 64)
    for shape in ((64, 64), (32, 32)):
        assert _base._fresh_labels(napari.layers.Labels(np.zeros(shape, np.uint8)), [image]), shape
    assert not _base._fresh_labels(napari.layers.Labels(np.zeros((48, 48), np.uint8)), [image])
    painted = np.zeros((64, 64), np.uint8)
    painted[1, 1] = 1
    assert not _base._fresh_labels(napari.layers.Labels(painted), [image])
    assert _base._fresh_labels(napari.layers.Labels(painted), [image], empty=False)


def test_scribbles_are_labels_1_and_2_and_not_a_runs_mask():
    """A segmentation of many labels (up to 3) is not scribbles; neither is a run's own mask, which is
    0/1."""
    data = np.zeros((8, 8), np.uint8)
    data[1, 1], data[2, 2] = 1, 2
    assert _base._scribbled(napari.layers.Labels(data))
    assert not _base._scribbled(napari.layers.Labels(data, metadata={"task": "segmentation", "part": "mask"}))
    data[3, 3] = 3
    assert not _base._scribbled(napari.layers.Labels(data))
    assert not _base._scribbled(napari.layers.Labels(np.zeros((8, 8), np.uint8)))


def test_labels_with_more_axes_than_the_image_are_not_checked_frame_by_frame():
    """Labels with axes the image lacks are read at the slider on those: their frames are not matched with the
    image's (caught: the check ran on them too, and took frames at another spacing for a misalignment)."""
    image = napari.layers.Image(np.zeros((4, 16, 16), np.float32))
    labels = napari.layers.Labels(np.zeros((2, 4, 16, 16), np.uint8), scale=(1, 2, 1, 1))
    assert _base._frames_meet(labels, image)


def test_aligned_without_within_allows_frames_beyond_the_image():
    """``within=False``: a layer starting a whole number of frames in is aligned even past the image's last
    frame (scribbles with more frames than the image pair by index); with ``within`` it is not."""
    image = napari.layers.Image(np.zeros((4, 16, 16), np.float32))
    longer = napari.layers.Labels(np.zeros((6, 16, 16), np.uint8))
    assert not _base._aligned(longer, image) and _base._aligned(longer, image, within=False)
    late = napari.layers.Labels(np.zeros((1, 16, 16), np.uint8), translate=(7, 0, 0))
    assert not _base._aligned(late, image) and _base._aligned(late, image, within=False)
    half = napari.layers.Labels(np.zeros((1, 16, 16), np.uint8), translate=(1.5, 0, 0))
    assert not _base._aligned(half, image, within=False)


def test_aligned_tolerates_a_thousandth_of_the_smallest_pixel_only():
    """A scale 0.5 % off (5 % of a pixel over 10 pixels) is no alignment (caught: a tenth of the largest pixel)."""
    image = napari.layers.Image(np.zeros((16, 16), np.float32), scale=(1.0, 1.0))
    assert _base._aligned(napari.layers.Labels(np.zeros((16, 16), np.uint8), scale=(1.0, 1.00001)), image)
    assert not _base._aligned(napari.layers.Labels(np.zeros((16, 16), np.uint8), scale=(1.0, 1.005)), image)
    tiny = napari.layers.Image(np.zeros((16, 16), np.float32), scale=(1e-7, 1e-7))
    assert not _base._aligned(napari.layers.Labels(np.zeros((16, 16), np.uint8), scale=(1e-7, 1.005e-7)), tiny)


def test_a_mask_at_the_level_a_pyramid_is_read_is_aligned_with_it(monkeypatch):
    """A mask written at the level a multiscale image is read at (its pixels over the averaged full-resolution
    ones) lines up with the image (caught: compared pixel for pixel, it did not)."""
    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 32 * 32)
    image = napari.layers.Image([np.zeros((64, 64)), np.zeros((32, 32))], multiscale=True)
    mask = napari.layers.Labels(np.zeros((32, 32), np.uint8), scale=(2, 2), translate=(0.5, 0.5))
    assert _base._aligned(mask, image)
    assert not _base._aligned(napari.layers.Labels(np.zeros((32, 32), np.uint8), scale=(2, 2)), image)


def test_a_whole_stack_frame_is_placed_on_its_slice():
    """A one-frame result of a whole-stack run of a (T, Z, Y, X) stack along T at Z = 2: placed at Z = 2 on the
    axes after T (napari shows it at every T) (caught: repeated along T); along Z at T = 1: repeated along the
    3 Z planes, at T = 1."""
    plane = np.ones((8, 8), np.float32)
    data, offset = _base._place(plane, 2, (None, 2), (5, 3))
    assert data.shape == (1, 8, 8) and offset == (2,)
    data, offset = _base._place(plane, 2, (1, None), (5, 3))
    assert data.shape == (1, 3, 8, 8) and offset == (1, 0)
    data, offset = _base._place(plane, 2, (4,), (5,))
    assert data.shape == (1, 8, 8) and offset == (4,)
    data, offset = _base._place(plane, 2, (None,), (5,))
    assert data is plane and offset == ()


def test_split_leaves_a_plane_as_high_as_the_number_of_inputs_whole():
    """A (2, W) plane shared by two inputs is one value, not a row each."""
    plane = np.zeros((2, 8))
    assert len(_base._split(plane, 2)) == 1 and _base._split(plane, 2)[0] is plane
    assert len(_base._split(np.zeros((2, 8, 8)), 2)) == 2


def test_a_preview_is_zoomed_per_axis_and_past_an_rgb_axis():
    """A 8 x 12 preview of a 16 x 36 frame: 2x along Y, 3x along X (caught: X by Y's); of an RGB one the colour
    axis is not a pixel axis."""
    grey, rgb = SimpleNamespace(rgb=False), SimpleNamespace(rgb=True)
    assert _base._zoom(np.zeros((8, 12), np.float32), (16, 36), grey) == (2.0, 3.0)
    assert _base._zoom(np.zeros((8, 12, 3), np.float32), (16, 36), rgb) == (2.0, 3.0)
    assert _base._zoom(np.zeros((16, 36, 3), np.float32), (16, 36), rgb) == ()
    assert _base._zoom(np.zeros((2, 8, 12), np.float32), (16, 36), grey) == (2.0, 3.0)  # (a stack's frames)
