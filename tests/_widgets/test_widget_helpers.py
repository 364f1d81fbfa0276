"""The widgets' building blocks without running a task: inputs from layers, hints, transforms, device list."""

from __future__ import annotations

import warnings

import napari.layers
import numpy as np
import pytest

import napari_doubledip as dd
from napari_doubledip import samples
from napari_doubledip._widgets._base import _aligned, _split, _zoom
from napari_doubledip._widgets._devices import DEVICES, DeviceChoice
from napari_doubledip._widgets._layers import (
    OutputLayers,
    current_frame,
    read_box,
    rectangle_frames,
    read_frame_boxes,
    read_image,
    read_labels,
    resample_labels,
    transform,
)
from napari_doubledip._widgets._spec import Inputs
from napari_doubledip._widgets._tasks import SPECS, _segment, mask_as_hints, parse_airlight


def test_a_box_drawn_at_pixel_edges_stays_there_through_a_scale_or_a_rotation(viewer):
    """Corners at the edges of pixels 10-29 x 12-35, on a Shapes layer with the image's own transform, came back
    from the world with float noise (9.4999999999999929) and took a row and a column more."""
    corners = np.array([[9.5, 11.5], [9.5, 35.5], [29.5, 35.5], [29.5, 11.5]])
    for tf in ({}, {"scale": (0.2, 0.1), "translate": (5.0, 3.0)}, {"scale": (0.2, 0.1), "rotate": 30}):
        image = viewer.add_image(np.zeros((48, 48)), **tf)
        shapes = viewer.add_shapes([corners], shape_type="rectangle", **tf)
        assert read_box(shapes, image, viewer) == (10, 12, 30, 36), tf
        viewer.layers.clear()


def test_read_box_in_image_pixels(viewer):
    image = viewer.add_image(np.zeros((40, 60)), scale=(2.0, 2.0), translate=(10.0, 0.0))
    # world rectangle rows 30..50, cols 20..60 -> image pixels rows 10..20, cols 10..30
    shapes = viewer.add_shapes([[[30, 20], [30, 60], [50, 60], [50, 20]]], shape_type="rectangle")
    assert read_box(shapes, image, viewer) == (10, 10, 21, 31)


def test_read_box_picks_the_selected_rectangle_and_needs_one(viewer):
    image = viewer.add_image(np.zeros((40, 40)))
    shapes = viewer.add_shapes(
        [np.array([[1, 1], [1, 5], [5, 5], [5, 1]]), np.array([[10, 10], [10, 20], [20, 20], [20, 10]])],
        shape_type="rectangle",
    )
    assert read_box(shapes, image, viewer) == (10, 10, 21, 21)  # the last one by default
    shapes.selected_data = {0}  # (as napari leaves the last drawn shape after drawing: not a pick)
    assert read_box(shapes, image, viewer) == (10, 10, 21, 21)
    shapes.mode = "select"  # a selection made in the select mode picks
    shapes.selected_data = {0}
    assert read_box(shapes, image, viewer) == (1, 1, 6, 6)
    lines = viewer.add_shapes([np.array([[0, 0], [9, 9]])], shape_type="line")
    with pytest.raises(ValueError, match="no rectangle"):
        read_box(lines, image, viewer)


def test_an_ellipse_a_polygon_or_a_rotated_rectangle_is_read_as_a_mask(viewer):
    from skimage.draw import polygon2mask

    from napari_doubledip.tasks.watermark import box_mask

    image = viewer.add_image(np.zeros((40, 50)), scale=(2.0, 2.0))
    ellipse = viewer.add_shapes([[[20, 20], [20, 80], [60, 80], [60, 20]]], shape_type="ellipse")  # world units
    mask = read_box(ellipse, image, viewer)  # image pixels: centre (20, 25), half-axes 10 and 15
    yy, xx = np.mgrid[:40, :50]
    inside = ((yy - 20) / 10) ** 2 + ((xx - 25) / 15) ** 2
    assert mask.dtype == bool and mask[inside < 0.9].all() and not mask[inside > 1.1].any()
    assert not mask[10, 10] and mask[20, 25]  # the bounding box's corner is outside, the centre inside
    triangle = [[4, 4], [4, 40], [36, 4]]
    poly = viewer.add_shapes([np.array(triangle, float) * 2], shape_type="polygon")
    assert (read_box(poly, image, viewer) == polygon2mask((40, 50), triangle)).all()
    diamond = [[4, 20], [20, 36], [36, 20], [20, 4]]  # a rectangle rotated by 45 degrees
    rect = viewer.add_shapes([np.array(diamond, float) * 2], shape_type="rectangle")
    assert (read_box(rect, image, viewer) == polygon2mask((40, 50), diamond)).all()
    assert box_mask(read_box(rect, image, viewer), (40, 50)).sum() == polygon2mask((40, 50), diamond).sum()
    # an axis-aligned rectangle stays a box, and a rectangle axis-aligned in the image's rotated frame too
    image.rotate = 90
    world = [image.data_to_world(p) for p in ([10, 10], [10, 30], [20, 30], [20, 10])]
    square = viewer.add_shapes([np.array(world, float)], shape_type="rectangle")
    assert read_box(square, image, viewer) == (10, 10, 21, 31)
    lines = viewer.add_shapes([np.array([[0, 0], [9, 9]])], shape_type="path")
    with pytest.raises(ValueError, match="no rectangle"):
        read_box(lines, image, viewer)


def test_fill_in_scribbles_is_enabled_only_with_a_scribbles_layer(viewer, open_widget):
    viewer.add_image(np.zeros((32, 32)), name="img")
    widget = open_widget("Segmentation")
    option = widget.task_options["auto_fill"]
    assert widget.pickers["scribbles"].value is None and not option.enabled
    labels = viewer.add_labels(np.zeros((32, 32), np.uint8), name="scribbles")
    widget.pickers["scribbles"].value = labels
    assert option.enabled
    widget._set_running(True)
    assert not option.enabled
    widget._set_running(False)
    assert option.enabled
    widget.pickers["scribbles"].value = None
    assert not option.enabled


def test_a_box_layer_with_only_lines_is_flagged(viewer, open_widget, warnings_shown):
    viewer.add_image(np.zeros((32, 32)), name="img")
    lines = viewer.add_shapes([np.array([[2, 2], [20, 20]])], shape_type="line", name="lines")
    widget = open_widget("Segmentation")
    widget.pickers["box"].value = lines
    assert widget._prepare().kwargs.get("box") is None
    assert any("'lines' holds no rectangle, ellipse or polygon" in m for m in warnings_shown)


def test_whole_stack_segmentation_takes_a_box_per_frame(viewer, open_widget):
    """A moving object boxed on several frames: each of those frames gets its own box hints, the others none;
    boxes on one frame only (or a 2D Shapes layer) hint every frame alike."""
    stack = viewer.add_image(np.zeros((4, 48, 48), np.float32), name="mov")
    shapes = viewer.add_shapes(ndim=3, name="boxes")
    shapes.add_rectangles(np.array([[0, 2, 2], [0, 2, 20], [0, 20, 20], [0, 20, 2]]))
    shapes.add_rectangles(np.array([[2, 25, 25], [2, 25, 45], [2, 45, 45], [2, 45, 25]]))
    viewer.layers.selection.active = stack
    widget = open_widget("Segmentation")
    widget.pickers["box"].value = shapes
    widget.frames.value = "whole stack (video)"
    kwargs = widget._prepare().kwargs
    assert kwargs["box"] == {0: (2, 2, 21, 21), 2: (25, 25, 46, 46)} and kwargs["hints"] == "auto"
    shapes.data = shapes.data[:1]  # one frame's box: it applies to every frame
    assert widget._prepare().kwargs["box"] == (2, 2, 21, 21)
    flat = viewer.add_shapes([np.array([[30, 30], [30, 40], [40, 40], [40, 30]], float)], shape_type="rectangle")
    widget.pickers["box"].value = flat  # a 2D Shapes layer over the stack: one box for all
    assert widget._prepare().kwargs["box"] == (30, 30, 41, 41)


def test_segmentation_boxes_around_several_objects_are_their_union(viewer, open_widget, infos):
    """Two rectangles around two cells: both bound the object (only the last one did, and the other cell was
    background without a word); on a stack, frame by frame."""
    img = viewer.add_image(np.zeros((48, 48), np.float32), name="cells")
    two = [
        np.array([[2, 2], [2, 15], [15, 15], [15, 2]], float),
        np.array([[30, 30], [30, 45], [45, 45], [45, 30]], float),
    ]
    boxes = viewer.add_shapes(two, shape_type="rectangle", name="boxes")
    viewer.layers.selection.active = img
    widget = open_widget("Segmentation")
    widget.pickers["box"].value = boxes
    box = widget._prepare().kwargs["box"]
    expected = np.zeros((48, 48), bool)
    expected[2:16, 2:16] = expected[30:46, 30:46] = True
    np.testing.assert_array_equal(box, expected)
    boxes.selected_data = {1}  # left selected by drawing (pan / zoom mode): both still count
    np.testing.assert_array_equal(widget._prepare().kwargs["box"], expected)
    boxes.mode = "select"
    boxes.selected_data = {1}  # a selection narrows it down, as for the watermark's box
    assert widget._prepare().kwargs["box"] == (30, 30, 46, 46)
    assert any("the 1 selected of the 2 shapes in 'boxes' are used" in m for m in infos)
    # selected lines narrow nothing (they enclose nothing), and are not counted as narrowing it
    boxes.add_lines(np.array([[40, 2], [45, 10]], float))
    said = len(infos)
    boxes.selected_data = {2}
    np.testing.assert_array_equal(widget._prepare().kwargs["box"], expected)  # (all regions, as none selected)
    assert not [m for m in infos[said:] if "selected of the" in m], infos[said:]
    said = len(infos)
    boxes.selected_data = {1, 2}
    assert widget._prepare().kwargs["box"] == (30, 30, 46, 46)
    assert [m for m in infos[said:] if "the 1 selected of the 2 shapes" in m], infos[said:]
    boxes.selected_data = set()
    stack = viewer.add_image(np.zeros((3, 48, 48), np.float32), name="mov")
    per = viewer.add_shapes(ndim=3, name="per frame")
    per.add_rectangles(np.array([[0, *p] for p in two[0]]))
    per.add_rectangles(np.array([[0, *p] for p in two[1]]))
    per.add_rectangles(np.array([[2, 20, 20], [2, 20, 30], [2, 30, 30], [2, 30, 20]], float))
    widget.pickers["image"].value = stack
    widget.pickers["box"].value = per
    widget.frames.value = "whole stack (video)"
    frame_boxes = widget._prepare().kwargs["box"]
    np.testing.assert_array_equal(frame_boxes[0], expected)
    assert frame_boxes[2] == (20, 20, 31, 31)


def _rect(lead, y0, x0, y1, x1):
    lead = list(lead)
    return np.array([lead + [y0, x0], lead + [y0, x1], lead + [y1, x1], lead + [y1, x0]], float)


def test_rectangles_sit_on_frames_of_their_own_axes(viewer, open_widget):
    """napari lines layers up by their last axes: a 2D Shapes layer is on every frame of a stack even while a
    longer layer is open, a (Z, Y, X) one on Z frames of a (T, Z, Y, X) stack, and a rectangle on no frame of
    the stack is nobody's box."""
    viewer.add_image(np.zeros((3, 4, 32, 32), np.float32), name="big4d")
    stack = viewer.add_image(np.zeros((4, 32, 32), np.float32), name="stack")
    flat = viewer.add_shapes([_rect((), 4, 4, 20, 20)], shape_type="rectangle")
    viewer.dims.set_current_step(0, 2)  # the 4D layer's first axis
    viewer.dims.set_current_step(1, 1)  # the stack's frame 1
    index = read_image(stack, viewer)[1]
    assert index == (1,) and read_box(flat, stack, viewer, index=index) == (4, 4, 21, 21)
    # a rectangle drawn on frame 6 of a longer (8-frame) layer lies on no frame of a 4-frame stack
    viewer.layers.remove("big4d")
    viewer.add_image(np.zeros((8, 32, 32), np.float32), name="longer")
    boxes = viewer.add_shapes(ndim=3, name="boxes")
    boxes.add_rectangles(_rect((0,), 2, 2, 12, 12))
    boxes.add_rectangles(_rect((6,), 16, 16, 28, 28))
    assert read_box(boxes, stack, viewer) == (2, 2, 13, 13)
    assert read_frame_boxes(boxes, stack, viewer, None) is None  # one frame of the stack has a rectangle


def test_a_current_frame_between_key_frames_takes_the_box_spanning_them(viewer, open_widget, infos):
    """Rectangles on frames 1 and 3 of a (T, Y, X) stack: a whole-stack run gives frame 2 the rectangle spanning
    both; a current-frame run on frame 2 was refused ("no rectangle ... on this frame") instead."""
    viewer.add_image(np.zeros((5, 32, 32), np.float32), name="st")
    shapes = viewer.add_shapes(ndim=3, name="boxes")
    shapes.add_rectangles(_rect((1,), 2, 2, 12, 12))
    shapes.add_rectangles(_rect((3,), 16, 16, 28, 28))
    viewer.layers.selection.active = viewer.layers["st"]
    widget = open_widget("Segmentation")
    widget.pickers["box"].value = shapes
    viewer.dims.set_current_step(0, 2)
    assert widget._prepare().kwargs["box"] == (2, 2, 29, 29)
    assert [m for m in infos if "frame [2] has no box of its own" in m and "frames [1] and [3]" in m], infos
    viewer.dims.set_current_step(0, 3)  # a key frame: its own
    assert widget._prepare().kwargs["box"] == (16, 16, 29, 29)
    viewer.dims.set_current_step(0, 4)  # after the last: refused as before
    with pytest.raises(ValueError, match="on this frame"):
        widget._prepare()
    shapes.add_rectangles(_rect((2,), 40, 40, 50, 50))  # frame 2's own region, off the image: its error
    viewer.dims.set_current_step(0, 2)
    with pytest.raises(ValueError, match="does not overlap image"):
        widget._prepare()


def test_a_current_frame_spans_key_frames_along_the_sequence_axis_only(viewer, open_widget):
    """(T, Z, Y, X), boxes at (T 1, Z 0) and (T 3, Z 0), sequence axis Z: frame (2, 0) lies between them along
    T, which is not the sequence: refused, as a whole-stack run along Z at T 2 is."""
    viewer.add_image(np.zeros((5, 2, 32, 32), np.float32), name="tz")
    shapes = viewer.add_shapes(ndim=4, name="boxes")
    shapes.add_rectangles(_rect((1, 0), 2, 2, 12, 12))
    shapes.add_rectangles(_rect((3, 0), 16, 16, 28, 28))
    viewer.layers.selection.active = viewer.layers["tz"]
    widget = open_widget("Segmentation")
    widget.pickers["box"].value = shapes
    viewer.dims.set_current_step(0, 2)
    viewer.dims.set_current_step(1, 0)
    widget.sequence_axis.value = 1
    with pytest.raises(ValueError, match="on this frame"):
        widget._prepare()
    widget.sequence_axis.value = 0
    assert widget._prepare().kwargs["box"] == (2, 2, 29, 29)


def test_per_frame_boxes_along_a_chosen_sequence_axis(viewer, open_widget):
    """(T, Z, Y, X) stack, sequence axis Z: a (Z, Y, X) Shapes layer's rectangles on Z = 0 and Z = 2."""
    stack = viewer.add_image(np.zeros((2, 4, 32, 32), np.float32), name="tzyx")
    shapes = viewer.add_shapes(ndim=3, name="boxes")
    shapes.add_rectangles(_rect((0,), 2, 2, 12, 12))
    shapes.add_rectangles(_rect((2,), 16, 16, 28, 28))
    viewer.layers.selection.active = stack
    widget = open_widget("Segmentation")
    widget.pickers["box"].value = shapes
    widget.frames.value = "whole stack (video)"
    widget.sequence_axis.value = 1
    assert widget._prepare().kwargs["box"] == {0: (2, 2, 13, 13), 2: (16, 16, 29, 29)}


def test_a_rectangle_without_area_is_refused_by_the_widget_and_the_library(viewer):
    from napari_doubledip.tasks.watermark import box_mask

    image = viewer.add_image(np.zeros((32, 32)))
    line = np.array([[8, 4], [8, 20], [8, 20], [8, 4]], float)  # a click-and-drag along one row
    shapes = viewer.add_shapes([line], shape_type="rectangle")
    with pytest.raises(ValueError, match="no height or width"):
        read_box(shapes, image, viewer)
    with pytest.raises(ValueError, match="no height or width"):
        box_mask(shapes.data, (32, 32))


def test_the_widget_and_the_library_read_a_rectangle_alike(viewer):
    """A box drawn in napari gives the same pixels in the widget and from ``remove_watermark(box=shapes.data)``."""
    from napari_doubledip.tasks.watermark import box_mask

    image = viewer.add_image(np.zeros((40, 50)))
    for corners in ([[8, 6], [8, 24], [21, 24], [21, 6]], [[7.7, 5.2], [7.7, 30.5], [20.4, 30.5], [20.4, 5.2]]):
        shapes = viewer.add_shapes([np.array(corners, float)], shape_type="rectangle")
        top, left, bottom, right = read_box(shapes, image, viewer)
        mask = box_mask(shapes.data, (40, 50))
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1) == (top, left, bottom, right)
    assert (top, left, bottom, right) == (8, 5, 21, 31)  # the pixels the second rectangle overlaps


def test_read_box_of_a_stack_takes_the_rectangle_on_the_frame(viewer, open_widget, warnings_shown):
    """Rectangles drawn over a stack sit on a frame: the box of frame 0 is the one drawn there."""
    stack = viewer.add_image(np.zeros((3, 48, 48), np.float32), name="mov")
    shapes = viewer.add_shapes(ndim=3, name="boxes")
    shapes.add_rectangles(np.array([[0, 2, 2], [0, 2, 20], [0, 20, 20], [0, 20, 2]]))  # drawn on frame 0
    shapes.add_rectangles(np.array([[2, 25, 25], [2, 25, 45], [2, 45, 45], [2, 45, 25]]))  # on frame 2
    assert read_box(shapes, stack, viewer, index=(0,)) == (2, 2, 21, 21)
    assert read_box(shapes, stack, viewer, index=(2,)) == (25, 25, 46, 46)
    with pytest.raises(ValueError, match="no rectangle, ellipse or polygon on this frame"):
        read_box(shapes, stack, viewer, index=(1,))
    assert read_box(shapes, stack, viewer) == (25, 25, 46, 46)  # a whole stack: the last drawn
    # through the widgets, at the slider's frame 0
    viewer.dims.set_current_step(0, 0)
    viewer.layers.selection.active = stack
    watermark = open_widget("Watermark removal")
    watermark.pickers["box"].value = shapes
    assert watermark._prepare().kwargs["box"] == (2, 2, 21, 21)
    segmentation = open_widget("Segmentation")
    segmentation.pickers["box"].value = shapes
    # one frame: the box goes to segment(box=...) (outside background, automatic hints inside)
    kwargs = segmentation._prepare().kwargs
    assert kwargs["box"] == (2, 2, 21, 21) and kwargs["hints"] == "auto"
    watermark.frames.value = "all frames share the watermark"  # one box for every frame, and a word about which
    box = watermark._prepare().kwargs["box"]  # (the watermark is looked for in all the regions)
    expected = np.zeros((48, 48), bool)
    expected[2:21, 2:21] = expected[25:46, 25:46] = True
    np.testing.assert_array_equal(box, expected)
    assert warnings_shown and "shapes on several frames" in warnings_shown[-1]
    assert "all its regions" in warnings_shown[-1]
    segmentation.frames.value = "whole stack (video)"
    segmentation.pickers["box"].value = shapes
    assert set(segmentation._prepare().kwargs["box"]) == {0, 2}  # (segmentation: a box per frame)


def test_the_current_frame_of_a_sheared_stack_is_the_plane_on_screen(viewer):
    """A deskewed light-sheet stack (shear mixing Y into Z): napari picks the plane it shows from the slider
    alone; taking the view's centre into the transform as well picked plane 1 while plane 2 was shown."""
    planes = np.stack([np.full((40, 40), z, np.float32) for z in range(4)])
    layer = viewer.add_image(planes, name="sheet", scale=(2, 0.5, 0.5), shear=(0.3, 0, 0))
    for z in range(4):
        viewer.dims.set_current_step(0, z)
        assert current_frame(layer, viewer) == (z,)
        assert read_image(layer, viewer)[0][0, 0] == z
        with warnings.catch_warnings():  # napari's own slice, what the user sees (private: where it still is)
            warnings.simplefilter("ignore")
            shown = getattr(getattr(getattr(layer, "_slice", None), "image", None), "raw", None)
        if shown is not None:
            assert int(np.asarray(shown).flat[0]) == z


def test_the_current_frame_beside_a_layer_in_other_units_is_the_plane_on_screen(viewer):
    """(A review's case.) napari 0.9 puts a stack in um and a layer in nm into one world in nm; the slider's
    point (2000 nm on plane 2) was taken in the stack's own units: a current-frame run was refused ("no frame at
    the current slider position") and a lenient read took the last plane."""
    planes = np.stack([np.full((24, 24), z, np.float32) for z in range(5)])
    stack = viewer.add_image(planes, name="um", units=("um",) * 3)
    viewer.add_image(np.zeros((5, 24, 24), np.float32), name="nm", units=("nm",) * 3, scale=(1000,) * 3)
    for z in (0, 2, 4):
        viewer.dims.set_current_step(0, z)
        assert current_frame(stack, viewer, strict=True) == (z,)
        assert read_image(stack, viewer)[0][0, 0] == z


def test_a_box_and_scribbles_in_other_units_are_read_where_napari_shows_them(viewer):
    """(A review's case.) A box and scribbles in nm over an image in um (napari shows them in one world, in nm)
    were read through each layer's own units: the box "does not overlap the image", the scribbles "mark
    nothing where napari shows it" (automatic hints instead); the alignment check said they did not line up."""
    from napari_doubledip._widgets._base import _aligned

    image = viewer.add_image(np.zeros((48, 48)), scale=(0.2, 0.1), translate=(5.0, 3.0), units=("um", "um"))
    centres = np.array([[10, 12], [10, 36], [30, 36], [30, 12]], float)  # image pixel centres
    box = viewer.add_shapes([centres * (200, 100) + (5000, 3000)], shape_type="rectangle", units=("nm", "nm"))
    assert read_box(box, image, viewer) == (10, 12, 31, 37)
    marks = np.zeros((96, 96), np.uint8)
    marks[40:44, 48:54] = 1  # (half-size pixels: image rows 20-21, columns 24-26)
    scribbles = viewer.add_labels(marks, scale=(100.0, 50.0), translate=(5000.0, 3000.0), units=("nm", "nm"))
    read = resample_labels(scribbles, image)
    assert sorted(map(tuple, np.argwhere(read == 1)[[0, -1]])) == [(20, 24), (21, 26)]
    same = viewer.add_labels(np.zeros((48, 48), np.uint8), scale=(200.0, 100.0), translate=(5000.0, 3000.0),
                             units=("nm", "nm"))
    assert _aligned(same, image) and not _aligned(scribbles, image)
    # a layer of inconsistent units (a plain Points layer: pixels) makes napari drop units, converting nothing:
    # the box is then shown, and read, 8000 px away
    viewer.add_points(np.zeros((1, 2)))
    assert not viewer.dims.units
    with pytest.raises(ValueError, match="does not overlap"):
        read_box(box, image, viewer)


def test_a_box_over_a_deskewed_stack_is_read_where_napari_draws_it(viewer):
    """A stack whose world Y depends on Z (a deskew): napari draws a plane without that part of the transform.
    A rectangle drawn over rows 8-20 of the plane shown was read on rows 0-9 (and a plain 3D Shapes layer's on
    another frame, refused): the full transform was inverted at the screen position."""
    deskew = np.eye(4)
    deskew[1, 0] = 1.0  # y_world = y + z
    planes = np.zeros((5, 32, 32), np.float32)
    image = viewer.add_image(planes, name="deskewed", scale=(4, 1, 1), affine=deskew)
    viewer.dims.set_current_step(0, 3)
    z = float(viewer.dims.point[0])
    shapes = viewer.add_shapes(ndim=3, name="box")  # (no transform: drawn at the slider's world Z)
    shapes.add_rectangles(np.array([[z, 8.0, 8.0], [z, 8.0, 24.0], [z, 20.0, 24.0], [z, 20.0, 8.0]]))
    assert rectangle_frames(shapes, image, viewer, None) == [(3,)]
    assert read_box(shapes, image, viewer, (3,)) == (8, 8, 21, 25)
    corners = np.array([[8.0, 8.0], [8.0, 24.0], [20.0, 24.0], [20.0, 8.0]])
    flat = viewer.add_shapes([corners], shape_type="rectangle", name="flat")
    assert read_box(flat, image, viewer, (3,)) == (8, 8, 21, 25)  # a 2D Shapes layer: on every frame
    # With a translate along Z the drawn plane moves in Y too (y_world = y + z_world: the translate's Z part
    # is in the displayed block's offset): rows 18-30 on screen are rows 8-20 of the plane (read at 18-30).
    image.translate = (10.0, 0.0, 0.0)
    viewer.dims.set_point(0, 4 * 3 + 10.0)  # plane 3
    z = float(viewer.dims.point[0])
    assert current_frame(image, viewer) == (3,)
    moved = viewer.add_shapes(ndim=3, name="moved")
    moved.add_rectangles(np.array([[z, 18.0, 8.0], [z, 18.0, 24.0], [z, 30.0, 24.0], [z, 30.0, 8.0]]))
    assert read_box(moved, image, viewer, (3,)) == (8, 8, 21, 25)
    with warnings.catch_warnings():  # napari's own drawing transform (private: where it still is)
        warnings.simplefilter("ignore")
        drawn = getattr(getattr(image, "_transforms", None), "simplified", None)
    if drawn is not None:
        block = drawn.set_slice(list(viewer.dims.displayed))
        np.testing.assert_allclose(block.inverse([18.0, 8.0]), [8.0, 8.0])


def test_a_box_on_another_plane_of_a_shapes_layer_with_more_axes_says_where_it_is(viewer):
    """(A review's case.) napari's "new shapes" button makes a Shapes layer with a stack's axes; a box drawn
    on its plane 3 over a 2D image, then the slider moved to 0: "has no rectangle (nor ellipse or polygon);
    draw one", though the layer list shows it."""
    viewer.add_image(np.zeros((5, 40, 40), np.float32), name="other stack")
    image = viewer.add_image(np.zeros((32, 32), np.float32), name="flat")
    shapes = viewer.add_shapes(ndim=3, name="box")
    shapes.add_rectangles(np.array([[3.0, 4.0, 4.0], [3.0, 4.0, 20.0], [3.0, 20.0, 20.0], [3.0, 20.0, 4.0]]))
    viewer.dims.set_current_step(0, 3)
    assert read_box(shapes, image, viewer) == (4, 4, 21, 21)
    viewer.dims.set_current_step(0, 0)
    with pytest.raises(ValueError, match=r"'box' has no rectangle .* on its plane at the slider; it has more axes "
                       r"than image 'flat' and regions on its plane 3: move the slider .*add_shapes\(ndim=2\)"):
        read_box(shapes, image, viewer)


def test_boxes_on_several_frames_are_read_in_a_3d_view(viewer):
    """In a 3D view the frame axis is on screen: each rectangle belongs to the frame it lies on (all were read
    on the frame at world 0 once, one merged box for the whole stack, or none at a translate)."""
    image = viewer.add_image(np.zeros((8, 64, 64), np.float32), name="video", translate=(100.0, 0.0, 0.0))
    shapes = viewer.add_shapes(ndim=3, name="boxes")
    for t, (a, b) in ((0, (5.0, 20.0)), (5, (30.0, 50.0))):
        z = 100.0 + t
        shapes.add_rectangles(np.array([[z, a, a], [z, a, b], [z, b, b], [z, b, a]]))
    expected = {0: (5, 5, 21, 21), 5: (30, 30, 51, 51)}
    assert read_frame_boxes(shapes, image, viewer, (None,)) == expected
    viewer.dims.ndisplay = 3
    assert read_frame_boxes(shapes, image, viewer, (None,)) == expected
    assert read_box(shapes, image, viewer, (5,)) == (30, 30, 51, 51)


def test_a_current_frame_is_read_only_while_the_viewer_shows_yx(viewer):
    stack = viewer.add_image(np.zeros((6, 32, 32), np.float32), name="vol")
    viewer.dims.order = (1, 0, 2)  # Z-X on screen, the slider moves along Y
    with pytest.raises(ValueError, match="shows another plane"):
        read_image(stack, viewer)
    assert read_image(stack, viewer, whole_stack=True)[0].shape == (6, 32, 32)  # the whole stack is fine
    viewer.dims.order = (0, 2, 1)  # X-Y (transposed) shows the same planes
    assert read_image(stack, viewer)[0].shape == (32, 32)
    viewer.dims.order = (1, 0, 2)
    viewer.dims.ndisplay = 3  # the frames are the depth: the one at the (hidden) slider is not the user's choice
    with pytest.raises(ValueError, match="3D view shows the frames of 'vol' as depth"):
        read_image(stack, viewer)
    assert read_image(stack, viewer, whole_stack=True)[0].shape == (6, 32, 32)
    plane = viewer.add_image(np.zeros((32, 32), np.float32), name="plane")
    assert read_image(plane, viewer)[0].shape == (32, 32)  # a 2D layer in a 3D view has no hidden frame
    movie = viewer.add_image(np.zeros((2, 6, 32, 32), np.float32), name="movie")
    viewer.dims.order = (3, 0, 1, 2)  # 3D view of T, Z, Y: X is the slider
    with pytest.raises(ValueError, match="does not show the Y-X frames of 'movie'"):
        read_image(movie, viewer)
    # a whole-stack run along T takes Z at its slider: not while Z is shown (as depth, or in a rolled 2D view)
    viewer.layers.remove(plane)
    viewer.layers.remove(stack)
    viewer.dims.order = (0, 1, 2, 3)  # 3D view of Z, Y, X
    with pytest.raises(ValueError, match=r"shows axis 1 of 'movie'.*along axis 0 takes at its slider"):
        read_image(movie, viewer, whole_stack=True, axis=0)
    assert read_image(movie, viewer, whole_stack=True, axis=1)[0].shape == (6, 32, 32)  # Z is the sequence
    viewer.dims.ndisplay = 2
    viewer.dims.order = (0, 2, 1, 3)  # Z-X on screen, Y at a slider
    with pytest.raises(ValueError, match="shows axis 1 of"):
        read_image(movie, viewer, whole_stack=True, axis=0)
    viewer.dims.order = (0, 1, 2, 3)
    assert read_image(movie, viewer, whole_stack=True, axis=0)[0].shape == (2, 32, 32)


def test_read_image_frames_and_labels(viewer):
    stack = np.arange(3 * 8 * 9, dtype=np.float32).reshape(3, 8, 9)
    image = viewer.add_image(stack)
    viewer.dims.set_current_step(0, 1)
    frame, index = read_image(image, viewer)
    assert index == (1,) and np.array_equal(frame, stack[1])
    whole, index = read_image(image, viewer, whole_stack=True)
    assert index is None and whole.shape == stack.shape
    labels = viewer.add_labels(np.zeros((3, 8, 9), np.uint8))
    labels.data[1, 2, 3] = 1
    assert read_labels(labels, image, viewer)[2, 3] == 1
    wrong = viewer.add_labels(np.zeros((5, 5), np.uint8))
    with pytest.raises(ValueError, match="Labels layer from the image"):
        read_labels(wrong, image, viewer)


def test_segmentation_arguments():
    img = np.zeros((20, 20, 3))
    assert _segment(Inputs([img], {"scribbles": None, "box": None}))[1] == {"hints": "auto", "reassign": "auto"}
    empty = np.zeros((20, 20), np.uint8)
    assert _segment(Inputs([img], {"scribbles": empty, "box": None}))[1] == {"hints": "auto", "reassign": "auto"}
    assert _segment(Inputs([img], {"scribbles": None, "box": (4, 4, 16, 16)}))[1] == {
        "hints": "auto", "box": (4, 4, 16, 16), "reassign": "auto"
    }
    for choice, margin in (("all (small objects)", 0.0), ("where clear", 0.1), ("off", None), ("auto", "auto")):
        kwargs = _segment(Inputs([img], {"scribbles": None, "box": None}, {"reassign": choice}))[1]
        assert kwargs["reassign"] == margin
    many = {"automatic": "intensity (many objects)"}
    assert _segment(Inputs([img], {"scribbles": None, "box": None}, many))[1]["hints"] == "intensity"
    scribbles = empty.copy()
    scribbles[2, 2], scribbles[18, 18] = 1, 2
    both = _segment(Inputs([img], {"scribbles": scribbles, "box": (0, 0, 10, 10)}))[1]
    assert both["hints"] is scribbles and both["box"] == (0, 0, 10, 10) and both["auto_fill"] is True
    alone = _segment(Inputs([img], {"scribbles": scribbles, "box": None}, {"auto_fill": False}))[1]
    assert alone == {"hints": scribbles, "auto_fill": False, "reassign": "auto"}
    many = {"automatic": "intensity (many objects)"}  # scribbles filled in by intensity hints
    assert _segment(Inputs([img], {"scribbles": scribbles, "box": None}, many))[1]["auto_fill"] == "intensity"
    assert _segment(Inputs([img], {"scribbles": scribbles, "box": None}, {**many, "auto_fill": False}))[1][
        "auto_fill"] is False


def test_a_mask_given_back_is_read_as_hints_inside_both_regions():
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 1
    mask[60:, 60:] = 2  # a background stroke painted over it
    hints = mask_as_hints(mask)
    assert set(np.unique(hints)) == {0, 1, 2}
    assert (hints[24:40, 24:40] == 1).all() and (hints[:10, :10] == 2).all() and (hints[60:, 60:] == 2).all()
    assert (hints[14:18, 18:46] == 0).all()  # a band along the border is left to the run (radius 2 px here)
    frames = mask_as_hints(np.stack([mask, np.zeros_like(mask)]))  # per frame
    assert np.array_equal(frames[0], hints) and (frames[1] == 0).all()  # a frame not computed: no hints
    assert np.array_equal(mask_as_hints(mask * 2), mask * 2)  # no foreground: plain scribbles
    big = np.zeros((256, 256), np.uint8)  # radius 8 px: a small object and a thin stroke keep a core of hints
    big[100:114, 100:114] = 1
    big[20:200, 30:40] = 1
    hints = mask_as_hints(big)
    assert (hints[105:109, 105:109] == 1).all() and (hints[30:190, 34:36] == 1).all()
    assert not (hints[big == 0] == 1).any() and not (hints[big == 1] == 2).any()
    big[150:152, 150:152] = 1  # a speck left by the earlier run, and a pinhole in the object: no hints
    big[106, 106] = 0
    hints = mask_as_hints(big)
    assert (hints[150:152, 150:152] == 0).all() and hints[106, 106] == 0


def test_a_segmentation_mask_picked_as_scribbles_gives_background_hints_too(
    viewer, open_widget, run_widget, errors, monkeypatch
):
    """... converted in the worker thread (its distance transforms froze the GUI for seconds on a large
    mask), and the run then reads the converted hints."""
    from napari_doubledip._widgets._worker import Deferred

    viewer.add_image(samples.texture_composite(48).data, name="comp")
    widget = open_widget("Segmentation", iterations=3)
    run_widget(widget)
    mask = viewer.layers["comp mask"]
    widget.pickers["scribbles"].value = mask
    deferred = widget._prepare().kwargs["hints"]
    assert isinstance(deferred, Deferred)
    hints = deferred()
    assert np.array_equal(hints, mask_as_hints(mask.data)) and (hints == 2).any() and not (mask.data == 2).any()
    import threading

    calls = []
    convert = Deferred.__call__
    monkeypatch.setattr(Deferred, "__call__", lambda d: calls.append(threading.current_thread()) or convert(d))
    run_widget(widget)
    assert not errors and calls and threading.main_thread() not in calls
    assert viewer.layers["comp foreground"].metadata["params"]["hints"] == "user"  # (the mask: a new layer)
    painted = viewer.add_labels(np.asarray(mask.data).copy(), name="painted")  # not a result: read as it is
    widget.pickers["scribbles"].value = painted
    assert np.array_equal(widget._prepare().kwargs["hints"], mask.data)


def test_scribbles_with_other_labels_are_flagged(monkeypatch):
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_warning", shown.append)
    img = np.zeros((20, 20))
    scribbles = np.zeros((20, 20), np.uint8)
    scribbles[2:4, 2:4] = 3  # e.g. a new label picked with "M"
    assert _segment(Inputs([img], {"scribbles": scribbles, "box": None}))[1]["hints"] == "auto"
    assert len(shown) == 1 and "automatic hints" in shown[0]
    assert shown[0].startswith("Segmentation (Double-DIP): scribble labels [3] are ignored")
    scribbles[10, 10] = 1
    hints = _segment(Inputs([img], {"scribbles": scribbles, "box": None}))[1]["hints"]
    assert len(shown) == 2 and "automatic" not in shown[1]
    assert hints[10, 10] == 1 and (hints[2:4, 2:4] == 0).all()  # the 3s read as unmarked: the library takes it
    assert (scribbles[2:4, 2:4] == 3).all()  # the layer's data is not touched
    assert dd.segment(img + np.eye(20), hints=hints, iterations=1).hints[10, 10] == 1
    scribbles[10, 10] = 0
    _segment(Inputs([img], {"scribbles": scribbles, "box": (4, 4, 16, 16)}))  # the box's hints apply
    assert len(shown) == 3 and "automatic" not in shown[2]
    objects = np.arange(400, dtype=np.uint16).reshape(20, 20) // 8  # a label image of 50 objects (0-49)
    _segment(Inputs([img], {"scribbles": objects, "box": None}))
    assert "scribble labels [3, 4, 5, 6, 7, ... (47 labels)] are ignored" in shown[3]  # all counted
    assert "a label image of objects, not scribbles: its objects 1 and 2 are taken" in shown[3]


def test_parse_airlight():
    assert parse_airlight("auto") is None and parse_airlight("") is None
    assert parse_airlight("0.9") == (0.9,)
    assert parse_airlight("0.9, 0.8 0.7") == (0.9, 0.8, 0.7)
    # as the layers' metadata records it (a list), pasted back
    assert parse_airlight("[217.0, 214.0, 216.0]") == parse_airlight("(217, 214, 216)") == (217.0, 214.0, 216.0)
    with pytest.raises(ValueError):
        parse_airlight("bright")
    assert parse_airlight("1, 2") == (1.0, 2.0)  # one per channel of a 2-channel image: the library checks
    with pytest.raises(ValueError, match="one per channel"):
        parse_airlight(",")
    assert parse_airlight("0.9,0.8 ; 0.7") == (0.9, 0.8, 0.7)
    with pytest.raises(ValueError, match="empty value"):  # a value left out: not read as three
        parse_airlight("0.8,,0.9,0.9")
    # a separator at either end leaves no value out (it was "an empty value between two commas")
    assert parse_airlight("230, 235, 240,") == parse_airlight(" ;230 235 240 ; ") == (230.0, 235.0, 240.0)
    assert parse_airlight("0.9;") == parse_airlight("0.9 ,") == (0.9,)
    assert parse_airlight("230 , 235\t,\n") == (230.0, 235.0)
    for text in ("nan", "0.9, inf, 0.9"):
        with pytest.raises(ValueError, match="finite"):  # (refused before the run, not in the worker)
            parse_airlight(text)


def test_transform_takes_trailing_axes_and_zooms(viewer):
    layer = viewer.add_image(np.zeros((4, 10, 20)), scale=(5.0, 2.0, 3.0), translate=(1.0, 10.0, 20.0))
    tf = transform(layer, 2)
    assert tf["scale"] == (2.0, 3.0) and tf["translate"] == (10.0, 20.0) and tf["affine"].shape == (3, 3)
    z = transform(layer, 2, zoom=(2.0, 4.0))  # a preview at half / quarter size covers the same area
    assert z["scale"] == (4.0, 12.0) and z["translate"] == (11.0, 24.5)
    assert _zoom(np.zeros((5, 5)), (10, 20), layer) == (2.0, 4.0)
    assert _zoom(np.zeros((10, 20)), (10, 20), layer) == ()


def test_a_zoomed_output_of_a_rotated_source_covers_the_pixels_it_averages(viewer):
    """A preview at a working size (or a coarser multiscale level) of a rotated source lies over the pixels
    it stands for: the half-pixel shift turns with the source (a mutation review: unrotated, it passed)."""
    layer = viewer.add_image(np.zeros((10, 20)), scale=(2.0, 3.0), translate=(10.0, 20.0), rotate=30)
    out = viewer.add_image(np.zeros((5, 5)), **transform(layer, 2, zoom=(2.0, 4.0)))
    for i, j in [(0, 0), (2, 3), (4, 4)]:
        np.testing.assert_allclose(
            out.data_to_world((i, j)), layer.data_to_world((2 * i + 0.5, 4 * j + 1.5)), atol=1e-9
        )


def test_transform_pads_axes_the_source_no_longer_has(viewer):
    """A stack's result, after its layer got 2D data during the run: identity on the missing leading axis."""
    layer = viewer.add_image(np.zeros((10, 20)), scale=(2.0, 3.0), translate=(10.0, 20.0), rotate=30)
    tf = transform(layer, 3, offset=(1,))
    assert tf["scale"] == (1.0, 2.0, 3.0) and tf["translate"][1:] == (10.0, 20.0)
    assert tf["translate"][0] == 1.0  # (the frame's offset, in unit steps)
    assert tf["rotate"].shape == tf["shear"].shape == (3, 3) and tf["affine"].shape == (4, 4)
    np.testing.assert_allclose(tf["rotate"][1:, 1:], np.asarray(layer.rotate))
    assert tf["rotate"][0, 0] == 1 and not tf["rotate"][0, 1:].any()
    assert len(tf["units"]) == len(tf["axis_labels"]) == 3
    out = viewer.add_image(np.zeros((2, 10, 20)), **tf)  # napari takes it
    np.testing.assert_allclose(out.data_to_world((0, 5, 5))[1:], layer.data_to_world((5, 5)))
    # placed as the source was at Run (3D then: T scale 4 from 100, in seconds, labelled t)
    placed = {"scale": (4.0, 2.0, 3.0), "translate": (100.0, 10.0, 20.0), "units": ("s", "um", "um"),
              "axis_labels": ("t", "y", "x")}
    tf = transform(layer, 3, offset=(1,), placed=placed)
    assert tf["scale"] == (4.0, 2.0, 3.0) and tf["translate"][0] == 104.0
    assert tf["axis_labels"][0] == "t" and tf["units"][0] == "s"
    viewer.add_image(np.zeros((2, 10, 20)), **tf)


def test_output_layers_reuse_and_rollback(viewer):
    source = viewer.add_image(np.ones((8, 8), np.float32), name="img", contrast_limits=(0, 2))
    book = OutputLayers(viewer, "demo")
    layer = book.write("img part", "part", np.zeros((8, 8), np.float32), kind="image", source=source, metadata={})
    assert layer.metadata["task"] == "demo" and tuple(layer.contrast_limits) == (0, 2)
    book.rollback()
    assert [la.name for la in viewer.layers] == ["img"]
    kept = OutputLayers(viewer, "demo")
    kept.write("img part", "part", np.zeros((8, 8), np.float32), kind="image", source=source, metadata={"v": 1})
    rerun = OutputLayers(viewer, "demo")
    rerun.write("img part", "part", np.full((8, 8), 5, np.float32), kind="image", source=source, metadata={"v": 2})
    assert viewer.layers["img part"].metadata["v"] == 2 and viewer.layers["img part"].data.max() == 5
    rerun.rollback()
    assert viewer.layers["img part"].metadata["v"] == 1 and viewer.layers["img part"].data.max() == 0
    other = OutputLayers(viewer, "another task")  # a same-named layer of another task is not overwritten
    other.write("img part", "part", np.ones((8, 8), np.float32), kind="map", source=source, metadata={})
    assert len(viewer.layers) == 3 and isinstance(viewer.layers[-1], napari.layers.Image)


def test_split_per_input():
    stack = np.zeros((2, 8, 8))
    assert len(_split(stack, 2)) == 2 and _split(stack, 1)[0] is stack
    assert len(_split([np.zeros((8, 8))] * 3, 3)) == 3
    assert len(_split(np.zeros((8, 8)), 2)) == 1


def test_device_choice_disables_missing_devices(qtbot):
    import torch

    combo = DeviceChoice()
    qtbot.addWidget(combo.native)
    available = combo.probe()
    assert available[-1] == "cpu"
    model = combo.native.model()
    enabled = {name: model.item(i).isEnabled() for i, name in enumerate(DEVICES)}
    assert enabled["auto"] and enabled["cpu"]
    assert enabled["cuda"] == torch.cuda.is_available()


def test_device_probe_in_background_updates_the_list(qtbot, monkeypatch, warnings_shown):
    """The first click probes in a thread (importing torch there), then greys out what is missing; a device
    picked in the list opened meanwhile goes back to auto, with a word (it went silently)."""
    from napari_doubledip._widgets import _devices

    monkeypatch.setattr(_devices, "_probe_devices", lambda: ["cpu"])
    monkeypatch.setattr(_devices, "_torch_loaded", lambda: False)  # as at napari start-up
    combo = DeviceChoice()
    qtbot.addWidget(combo.native)
    combo.value = "mps"
    assert combo.available is None
    combo.probe_in_background()
    qtbot.waitUntil(lambda: combo.available is not None, timeout=10_000)
    model = combo.native.model()
    enabled = {name: model.item(i).isEnabled() for i, name in enumerate(DEVICES)}
    assert enabled == {"auto": True, "cpu": True, "cuda": False, "mps": False}
    assert combo.value == "auto"  # an unavailable choice falls back
    assert warnings_shown == ["device: mps is not available on this machine; set to auto"]


def test_the_device_check_import_is_known_to_other_panels(qtbot, monkeypatch, tmp_path):
    """The device list's check imports torch in a thread of its own: another panel opened or clicked meanwhile
    saw torch in sys.modules, took it for imported and checked in the GUI thread, waiting there for the rest of
    that import. It is known to ``importing()`` until it ends, and the list is updated after it."""
    from napari_doubledip._widgets import _devices, _worker

    (tmp_path / "dd_slow_devices.py").write_text("import time\ntime.sleep(1.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_devices, "_DEVICE_MODULE", "dd_slow_devices")
    monkeypatch.setattr(_devices, "_probe_devices", lambda: ["cpu"])
    monkeypatch.setattr(_devices, "_torch_loaded", lambda: False)  # as at napari start-up
    combo = DeviceChoice()
    qtbot.addWidget(combo.native)
    combo.probe_in_background()
    assert _worker.importing()  # (so another panel's _torch_loaded() is False: it checks in the background)
    qtbot.waitUntil(lambda: combo.available is not None, timeout=10_000)
    assert combo.available == ["cpu"] and not _worker.importing()


def test_a_wheel_turn_picks_no_device_before_the_check(qtbot, monkeypatch):
    """A wheel turn over the device list changed it before any check (which started on a click or key press
    only): "cuda" on a machine without one, refused once the run had started. It starts the check and is held
    back until the check is done; then Qt skips the greyed-out devices."""
    import threading

    from qtpy.QtCore import QEvent, QPoint, QPointF, Qt
    from qtpy.QtGui import QKeyEvent, QWheelEvent
    from qtpy.QtWidgets import QApplication

    from napari_doubledip._widgets import _devices

    gate = threading.Event()
    monkeypatch.setattr(_devices, "_probe_devices", lambda: gate.wait(10) and ["cpu"])
    monkeypatch.setattr(_devices, "_torch_loaded", lambda: False)  # as at napari start-up
    combo = DeviceChoice()
    qtbot.addWidget(combo.native)
    combo.native.show()

    def wheel(down: int = -120) -> None:
        centre = QPointF(combo.native.rect().center())
        event = QWheelEvent(centre, QPointF(combo.native.mapToGlobal(QPoint(5, 5))), QPoint(0, 0), QPoint(0, down),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(combo.native, event)

    wheel()
    wheel()
    down = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Down, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(combo.native, down)
    assert combo.value == "auto" and combo.available is None  # held back while the check runs
    # ... but not Tab: focus moves on (it was stuck on the list until the check was done)
    tab = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Tab, Qt.KeyboardModifier.NoModifier)
    assert not combo._watcher.eventFilter(combo.native, tab) and combo._watcher.eventFilter(combo.native, down)
    gate.set()
    qtbot.waitUntil(lambda: combo.available is not None, timeout=10_000)
    for _ in range(3):
        wheel()
    assert combo.value == "cpu"  # (cuda and mps greyed out: skipped)


def test_every_spec_is_well_formed():
    for spec in SPECS.values():
        assert spec.title == f"{spec.display_name} (Double-DIP)"  # (notifications name the plugin)
        assert spec.inputs[0].kind == "image" and not spec.modes[0].stack
        parts = [o.part for m in spec.modes for o in m.outputs]
        assert all(parts) and spec.iterations > 0 and spec.max_size >= 16
        optional = {i.name for i in spec.inputs if i.optional}
        assert all(o.needs in optional for o in spec.options if o.needs)  # an option about an optional input


def test_read_labels_of_a_whole_stack_follow_the_sequence_axis(viewer):
    """(Z, T, Y, X) image, sequence axis 1: (T, Y, X) scribbles are per frame; a 3D layer that fits neither the
    sequence nor the image is an error, not silently cut to the slider's slice."""
    image = viewer.add_image(np.zeros((2, 3, 8, 9), np.float32))
    _frames, index = read_image(image, viewer, whole_stack=True, axis=1)
    assert index == (0, None)
    per_frame = viewer.add_labels(np.zeros((3, 8, 9), np.uint8))
    per_frame.data[2, 1, 1] = 1
    got = read_labels(per_frame, image, viewer, whole_stack=True, index=index)
    assert got.shape == (3, 8, 9) and got[2, 1, 1] == 1
    full = viewer.add_labels(np.zeros((2, 3, 8, 9), np.uint8))
    full.data[0, 1, 4, 4] = 2
    got = read_labels(full, image, viewer, whole_stack=True, index=index)
    assert got.shape == (3, 8, 9) and got[1, 4, 4] == 2
    with pytest.raises(ValueError, match=r"must be one frame \(8, 9\) or \(2, 3, 8, 9\) or \(3, 8, 9\)"):
        read_labels(viewer.add_labels(np.zeros((2, 8, 9), np.uint8)), image, viewer, whole_stack=True, index=index)
    one = viewer.add_labels(np.zeros((8, 9), np.uint8))
    assert read_labels(one, image, viewer, whole_stack=True, index=index).shape == (8, 9)


def test_lazy_labels_are_sliced_before_they_are_loaded(viewer):
    import dask.array as da

    image = viewer.add_image(np.zeros((20, 16, 16), np.float32))
    loads = []
    lazy = da.from_array(np.zeros((20, 16, 16), np.uint8), chunks=(1, 16, 16)).map_blocks(
        lambda b: loads.append(1) or b, dtype=np.uint8
    )
    layer = napari.layers.Labels(lazy)
    viewer.dims.set_current_step(0, 3)
    loads.clear()
    out = read_labels(layer, image, viewer, index=(3,))
    assert isinstance(out, np.ndarray) and out.shape == (16, 16) and len(loads) == 1  # the frame, not 20


def test_labels_with_fewer_leading_axes_line_up_with_the_last_ones(viewer):
    """(Z, T, Y, X) image with Z = T: (T, Y, X) scribbles are per T, as napari shows them, whichever axis is the
    sequence: per frame for T, the slider's T for every Z frame."""
    image = viewer.add_image(np.zeros((3, 3, 8, 9), np.float32))
    scribbles = viewer.add_labels(np.zeros((3, 8, 9), np.uint8))
    scribbles.data[1, 4, 4] = 1  # painted at t = 1
    viewer.dims.set_current_step(1, 1)
    _frames, index = read_image(image, viewer, whole_stack=True, axis=0)  # Z is the sequence
    got = read_labels(scribbles, image, viewer, whole_stack=True, index=index)
    assert got.shape == (8, 9) and got[4, 4] == 1
    viewer.dims.set_current_step(1, 2)
    _frames, index = read_image(image, viewer, whole_stack=True, axis=0)
    assert not read_labels(scribbles, image, viewer, whole_stack=True, index=index).any()
    _frames, index = read_image(image, viewer, whole_stack=True, axis=1)  # T is the sequence
    got = read_labels(scribbles, image, viewer, whole_stack=True, index=index)
    assert got.shape == (3, 8, 9) and got[1, 4, 4] == 1 and got.sum() == 1


def test_whole_sequence_labels_on_one_slice_are_read_there(viewer):
    """(T, Z, Y, X) image, T the sequence: labels (T, 1, Y, X) placed at Z = 2 (a whole-stack run's mask) are read
    at the slider's Z, also with the slider past the image's frames on T (read whole); at a Z they do not
    cover, an error."""
    image = viewer.add_image(np.zeros((5, 3, 8, 9), np.float32))
    viewer.add_image(np.zeros((10, 3, 8, 9), np.float32))  # a longer layer: the T slider goes past the image
    labels = viewer.add_labels(np.zeros((5, 1, 8, 9), np.uint8), translate=(0, 2, 0, 0))
    labels.data[3, 0, 4, 4] = 1
    viewer.dims.set_current_step(0, 8)
    viewer.dims.set_current_step(1, 2)
    _frames, index = read_image(image, viewer, whole_stack=True, axis=0)
    got = read_labels(labels, image, viewer, whole_stack=True, index=index)
    assert got.shape == (5, 8, 9) and got[3, 4, 4] == 1 and got.sum() == 1
    assert _aligned(labels, image)
    viewer.dims.set_current_step(1, 0)
    _frames, index = read_image(image, viewer, whole_stack=True, axis=0)
    with pytest.raises(ValueError, match="no frame at the current slider position"):
        read_labels(labels, image, viewer, whole_stack=True, index=index)


def test_current_frame_is_the_frame_napari_shows_at_a_half_step(viewer):
    """Time-lapses 1 s and 2 s apart: at t = 5 napari shows frame 2 (5 / 2 = 2.5, rounded half to even) of the
    slower one; the strict read refused it as "no frame at the current slider position"."""
    viewer.add_image(np.zeros((6, 8, 8), np.float32), name="fast")
    frames = np.arange(3, dtype=np.float32)[:, None, None] * np.ones((3, 8, 8), np.float32)
    slow = viewer.add_image(frames, scale=(2, 1, 1), name="slow")
    for t, expected in [(5.0, 2), (4.0, 2), (3.0, 2), (1.0, 0)]:  # (3 / 2 = 1.5 rounds to 2 too)
        viewer.dims.set_point(0, t)
        assert current_frame(slow, viewer, strict=True) == (expected,)
        assert slow.get_value((t, 4, 4), world=True) == expected  # the frame napari shows there


def test_alignment_allows_whole_frame_offsets_within_the_stack():
    """A layer may start a whole number of frames into a stack (grey or RGB), its frames within the image's."""
    for rgb in (False, True):
        data = np.zeros((40, 16, 16, 3) if rgb else (40, 16, 16), np.float32)  # more frames than rows
        image = napari.layers.Image(data, rgb=rgb, scale=(2.0, 0.5, 0.5))
        frame = napari.layers.Labels(np.zeros((1, 16, 16), np.uint8), scale=(2.0, 0.5, 0.5))
        for t, ok in [(30, True), (39, True), (40, False), (-1, False), (30.5, False)]:
            frame.translate = (2.0 * t, 0, 0)
            assert _aligned(frame, image) is ok, (rgb, t)
        frame.translate = (60.0, 0.25, 0)  # on frame 30, half a pixel off in Y
        assert not _aligned(frame, image)


def test_a_working_size_preview_is_resized_to_the_frame():
    from napari_doubledip._widgets._layers import to_frame as _to_frame

    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 1
    up = _to_frame(mask, (16, 16), "labels")
    assert up.dtype == np.uint8 and set(np.unique(up)) == {0, 1} and up[4:12, 4:12].all() and not up[:4].any()
    rgb = _to_frame(np.random.default_rng(0).random((8, 8, 3)).astype(np.float32), (16, 24), "image")
    assert rgb.shape == (16, 24, 3) and rgb.dtype == np.float32


def _pyramid(full: np.ndarray, levels: int = 3) -> list[np.ndarray]:
    """A mean pyramid (each level halves Y and X), as OME-Zarr writers make."""
    out = [full]
    for _ in range(levels - 1):
        a = out[-1]
        out.append(a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2, *a.shape[2:]).mean(axis=(1, 3)))
    return out


def test_a_multiscale_layer_is_read_at_its_finest_level_within_the_pixel_budget(viewer, monkeypatch):
    from napari_doubledip._widgets import _layers

    full = np.random.default_rng(0).random((64, 128, 3)).astype(np.float32)
    layer = viewer.add_image(_pyramid(full), rgb=True, multiscale=True, scale=(0.5, 0.25), translate=(3.0, 1.0))
    assert _layers.read_level(layer) == 0  # 64 x 128 fits the default budget
    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 32 * 64)
    assert _layers.read_level(layer) == 1 and _layers.frame_shape(layer) == (32, 64)
    assert _layers.full_frame_shape(layer) == (64, 128) and _layers.level_zoom(layer) == (2.0, 2.0)
    data, index = read_image(layer, viewer)
    assert index is None and data.shape == (32, 64, 3)
    np.testing.assert_array_equal(data, layer.data[1])
    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 1)  # nothing fits: the coarsest level
    assert _layers.read_level(layer) == 2
    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 32 * 64)
    # Results at that level are placed over the full-resolution pixels they average: the world position of an
    # output pixel's centre is the mean of its four full-resolution pixel centres.
    tf = transform(layer, 2)
    out = napari.layers.Image(np.zeros((32, 64)), **tf)
    for y, x in ((0, 0), (5, 17)):
        block = [layer.data_to_world((2 * y + dy, 2 * x + dx)) for dy in (0, 1) for dx in (0, 1)]
        np.testing.assert_allclose(out.data_to_world((y, x)), np.mean(block, axis=0))


def test_a_pyramid_that_also_shrinks_its_frames_is_read_where_frame_indices_agree(viewer, monkeypatch):
    from napari_doubledip._widgets import _layers

    full = np.zeros((4, 64, 64), dtype=np.float32)
    levels = [full, full[:, ::2, ::2], full[::2, ::4, ::4]]  # the last level also halves the frames
    layer = viewer.add_image(levels, multiscale=True)
    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 1)
    assert _layers.read_level(layer) == 1


def test_downscale_labels_keeps_thin_strokes_and_the_majority():
    labels = np.zeros((2, 40, 60), dtype=np.uint8)
    labels[0, 10, 5:50] = 1  # a one-pixel stroke at full resolution
    labels[0, 30:34, 0:4] = 2  # a 4 x 4 block of background...
    labels[0, 33, 3] = 1  # ...with one foreground pixel in it
    labels[1, :, 30:] = 2
    out = dd_downscale(labels, (10, 15))
    assert out.shape == (2, 10, 15) and out.dtype == np.uint8
    assert (out[0, 2, 2:12] == 1).all() and (out[0, 2, 13:] == 0).all()  # columns 5-49 -> coarse 1-12
    assert out[0, 7:9, 0].tolist() == [2, 2]  # the block's cells (rows 30-33 -> coarse 7-8): majority 2
    assert (out[1, :, 8:] == 2).all() and (out[1, :, :7] == 0).all()
    # chunked reading gives the same result, whatever the chunk
    for rows in (1, 3, 7, 1024):
        np.testing.assert_array_equal(dd_downscale(labels, (10, 15), rows=rows), out)
    # against a brute-force count on many labels: each coarse pixel holds one of its block's most frequent ones
    many = np.random.default_rng(2).integers(0, 9, (40, 60)).astype(np.int32)
    coarse = dd_downscale(many, (10, 15), rows=6)
    for y in range(10):
        for x in range(15):
            block = many[4 * y : 4 * y + 4, 4 * x : 4 * x + 4]
            counts = np.bincount(block[block != 0], minlength=9)
            assert coarse[y, x] != 0 and counts[coarse[y, x]] == counts.max()
    # and a frame that does not divide evenly
    odd = np.zeros((41, 61), dtype=np.int32)
    odd[20, :] = 3
    assert (dd_downscale(odd, (21, 31))[10] == 3).all()


def dd_downscale(labels, shape, rows=1024):
    from napari_doubledip._widgets._layers import downscale_labels

    return downscale_labels(labels, shape, rows=rows)


def test_scribbles_and_boxes_over_a_multiscale_image_are_read_at_its_level(viewer, monkeypatch):
    from napari_doubledip._widgets import _layers

    monkeypatch.setattr(_layers, "LEVEL_PIXELS", 40 * 40)
    full = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    image = viewer.add_image(_pyramid(full), multiscale=True, name="slide")
    scribbles = np.zeros((64, 64), dtype=np.uint8)  # painted at full resolution, as napari's new Labels is
    scribbles[8:10, 8:40] = 1
    scribbles[50, 4:60] = 2
    labels = viewer.add_labels(scribbles)
    read = read_labels(labels, image, viewer)
    assert read.shape == (32, 32)
    assert (read[4, 4:20] == 1).all() and (read[25, 2:30] == 2).all() and set(np.unique(read)) == {0, 1, 2}
    # a mask of an earlier run (at the level read) is taken as it is
    earlier = viewer.add_labels(np.ones((32, 32), dtype=np.uint8))
    assert read_labels(earlier, image, viewer).shape == (32, 32)
    # a rectangle around full-resolution rows 8-23 and columns 16-47 covers rows 4-11, columns 8-23 there
    shapes = viewer.add_shapes([[[7.5, 15.5], [23.5, 47.5]]], shape_type="rectangle")
    assert read_box(shapes, image, viewer) == (4, 8, 12, 24)
    with pytest.raises(ValueError, match=r"frames of shape \(48, 48\).*has \(64, 64\)"):
        read_labels(viewer.add_labels(np.zeros((48, 48), dtype=np.uint8)), image, viewer)


def test_the_status_says_how_long_is_left_once_there_is_a_pace():
    from types import SimpleNamespace

    from napari_doubledip._widgets._runs import time_left

    def p(iteration, total, elapsed):
        return SimpleNamespace(iteration=iteration, total=total, elapsed=elapsed)

    assert time_left(p(3, 300, 10.0)) == ""  # too few iterations to go by
    assert time_left(p(50, 300, 1.0)) == ""  # too short a time
    assert time_left(p(100, 300, 10.0)) == ", about 20 s left"
    assert time_left(p(100, 1000, 20.0)) == ", about 3 min left"
    assert time_left(p(300, 300, 30.0)) == ", finishing"
    assert time_left(p(295, 300, 30.0)) == ", almost done"  # (0.5 s: not "about 0 s left")
    # the pace since the first report: set-up and the first slow iterations (here 8 s for 5) do not count
    assert time_left(p(105, 305, 18.0), since=(5, 8.0)) == ", about 20 s left"
    assert time_left(p(8, 305, 12.0), since=(5, 8.0)) == ""  # (3 iterations since: too few)


def test_lazy_inputs_are_loaded_chunk_by_chunk_with_reports(monkeypatch):
    import threading

    import dask.array as da

    from napari_doubledip._widgets import _worker

    monkeypatch.setattr(_worker, "LOAD_REPORT_SECONDS", 0.0)
    monkeypatch.setattr(_worker, "LOAD_STEP_BYTES", 0)  # (one chunk a step)
    a = np.arange(4 * 6 * 5, dtype=np.uint16).reshape(4, 6, 5)
    images = [da.from_array(a, chunks=(1, 6, 5)), da.from_array(a[::-1], chunks=(2, 6, 5))]
    hints = da.from_array(np.ones((6, 5), np.uint8), chunks=(3, 5))

    def drain(gen):
        reports = []
        try:
            while True:
                reports.append(next(gen))
        except StopIteration as end:
            return reports, end.value

    reports, (args, kwargs) = drain(_worker._load((images,), {"hints": hints, "box": None}, threading.Event()))
    assert isinstance(args[0], list) and all(isinstance(x, np.ndarray) for x in args[0])
    np.testing.assert_array_equal(args[0][0], a)
    np.testing.assert_array_equal(args[0][1], a[::-1])
    assert isinstance(kwargs["hints"], np.ndarray) and kwargs["box"] is None
    assert len(reports) == 4 + 2 + 2 and all(r.stage.startswith("loading the input") for r in reports)
    # the run's own copies, nobody else's: read-only, so that the library does not copy them again
    from napari_doubledip._validation import loaded

    assert all(loaded(x, own=True) is x for x in (*args[0], kwargs["hints"]))
    mine = a.copy()
    assert loaded(mine, own=True) is not mine and loaded(mine[1:], own=True) is not mine  # a caller's: copied
    view = a.copy()
    view.flags.writeable = False
    assert loaded(view[1:], own=True) is not view  # (read-only view of memory others may write: copied)
    # nothing lazy: nothing to report, the arguments as they were
    plain = (a,)
    assert drain(_worker._load(plain, {}, threading.Event())) == ([], (plain, {}))
    # a stop request ends the loading without a result
    stop = threading.Event()
    stop.set()
    assert drain(_worker._load((images,), {}, stop))[1] is None


def test_array_likes_are_wrapped_in_slabs_that_load_a_few_at_a_time(monkeypatch):
    """A zarr-like layer array in one piece would load as one uninterruptible read: wrapped in slabs of the
    first axis (whole store chunks), it loads a few slabs a step, each read as a slice of the store, and a stop
    between steps leaves the rest unread."""
    import threading

    from napari_doubledip._widgets import _layers, _worker

    class Store:  # an array-like with chunks of its own, counting its reads
        def __init__(self, a, chunks):
            self.a, self.shape, self.dtype, self.ndim, self.chunks = a, a.shape, a.dtype, a.ndim, chunks
            self.reads = []

        def __getitem__(self, key):
            self.reads.append(key)
            return self.a[key]

    a = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    monkeypatch.setattr(_layers, "LAZY_CHUNK_BYTES", 16 * 48 * 2)  # 16 rows
    store = Store(a, (8, 16))
    x = _layers.lazy_array(store)
    assert x.chunks == ((16,) * 4, (16,) * 3)  # two store chunks of rows a slab; the store's columns
    plain = _layers.lazy_array(a)
    assert plain.chunks[0] == (16,) * 4 and plain.chunks[1:] == ((48,),)
    assert _layers.lazy_array(x) is x  # a dask array keeps its author's chunks
    # frames larger than a slab: rows of each frame too (a current-frame read keeps only its frame's chunks)
    movie = _layers.lazy_array(np.zeros((3, 64, 48), np.uint16))
    assert movie.chunks == ((1, 1, 1), (16,) * 4, (48,)) and movie[1].chunks[0] == (16,) * 4
    monkeypatch.setattr(_worker, "LOAD_REPORT_SECONDS", 0.0)
    monkeypatch.setattr(_worker, "LOAD_STEP_BYTES", 32 * 48 * 2)  # two slabs a step
    assert _worker._steps((16, 16, 16, 16), 48 * 2) == [32, 64]
    assert _worker._steps((10, 30, 5, 5, 4), 48 * 2) == [40, 54]
    assert _worker._steps((3,), 48 * 2) == [3]

    store.reads.clear()
    gen = _worker._load((x,), {}, threading.Event())
    next(gen)  # the first step's report
    rows = sorted({(k[0].start, k[0].stop) for k in store.reads if k[0].stop > k[0].start})
    assert rows == [(0, 16), (16, 32)]  # slices of the store, not the whole of it
    assert next(gen).stage.startswith("loading the input")  # the second step
    with pytest.raises(StopIteration) as end:
        next(gen)
    np.testing.assert_array_equal(end.value.value[0][0], a)
    store.reads.clear()
    stop = threading.Event()
    gen = _worker._load((x,), {}, stop)
    next(gen)
    stop.set()
    with pytest.raises(StopIteration) as end:
        next(gen)
    assert end.value.value is None
    assert max(k[0].stop for k in store.reads) == 32  # the second half was never read


def test_an_in_memory_wrapper_with_compute_is_not_taken_for_dask():
    """An xarray.DataArray holding numpy has ``compute`` and ``chunks = None``: wrapped and loaded like any
    array-like, not read as a dask array (its None chunks failed the load: "'NoneType' object is not
    iterable")."""
    import threading

    from napari_doubledip._widgets import _layers, _worker

    class InMemory:  # what the widget reads of a numpy-backed DataArray
        chunks = None

        def __init__(self, a):
            self.a, self.shape, self.dtype, self.ndim, self.nbytes = a, a.shape, a.dtype, a.ndim, a.nbytes

        def compute(self):
            return self

        def __getitem__(self, key):
            return self.a[key]

        def __array__(self, dtype=None, copy=None):
            return self.a

    a = np.arange(24 * 20, dtype=np.uint16).reshape(24, 20)
    assert not _worker._is_lazy(InMemory(a)) and _worker._is_lazy(_layers.lazy_array(a))
    x = _layers.lazy_array(InMemory(a))
    gen = _worker._load((x,), {}, threading.Event())
    with pytest.raises(StopIteration) as end:
        while True:
            next(gen)
    np.testing.assert_array_equal(end.value.value[0][0], a)


def test_a_frame_without_a_region_says_where_the_regions_are(viewer):
    """Over a stack, napari's "new shapes" layer puts a rectangle on the frame it was drawn on; the current
    frame's run elsewhere is refused with the frames that have one and how to draw one for every frame."""
    from napari_doubledip._widgets._layers import read_box

    image = viewer.add_image(np.zeros((4, 32, 32), np.float32), name="st")
    shapes = viewer.add_shapes(ndim=3, name="boxes")
    shapes.add_rectangles(np.array([[0, 3, 3], [0, 3, 20], [0, 18, 20], [0, 18, 3]], float))
    assert read_box(shapes, image, viewer, index=(0,)) == (3, 3, 19, 21)
    with pytest.raises(ValueError, match=r"on this frame of 'st' \(2\); draw one on it \(it has some on frame 0; "
                       r".*viewer.add_shapes\(ndim=2\)"):
        read_box(shapes, image, viewer, index=(2,))
    flat = viewer.add_shapes(ndim=2, name="flat")
    flat.add_rectangles(np.array([[3, 3], [18, 20]], float))
    assert read_box(flat, image, viewer, index=(2,)) == (3, 3, 19, 21)  # (one for every frame)


def test_alphas_summary_for_the_status_line():
    from types import SimpleNamespace

    from napari_doubledip._widgets._tasks import _alphas_summary

    assert _alphas_summary(SimpleNamespace(alphas=np.array([0.5]))) == ""  # one image: says nothing
    assert _alphas_summary(SimpleNamespace(alphas=[0.296, 0.688, 0.492])) == "coefficients 0.30, 0.69, 0.49"
    many = SimpleNamespace(alphas=np.linspace(0.31, 0.52, 10))
    assert _alphas_summary(many) == "coefficients 0.31-0.52 over 10 frames"
    assert _alphas_summary(SimpleNamespace()) == ""
    # a mixture left out of a set (NaN: not a mixture of the layers)
    assert _alphas_summary(SimpleNamespace(alphas=[0.3, np.nan, 0.7])) == "coefficients 0.30, left out, 0.70"
    many.alphas[3] = np.nan
    assert _alphas_summary(many) == "coefficients 0.31-0.52 over 10 frames (1 left out)"
    # one layer per mixture: named (a blank layer picked among them was "mixture(s) 0 (from 0)" only)
    said = _alphas_summary(SimpleNamespace(alphas=[np.nan, 0.3, 0.7]), ["blank", "A", "B"])
    assert said == "coefficients 'blank' left out, 'A' 0.30, 'B' 0.70"
    assert _alphas_summary(many, ["stack"]) == "coefficients 0.31-0.52 over 10 frames (1 left out)"  # one layer
    # (a review's case) one mixture among blanks, separated alone: its coefficient says nothing ('photo' 0.50)
    alone = SimpleNamespace(alphas=[np.nan, 0.5])
    said = _alphas_summary(alone, ["blank", "photo"])
    assert said == "'photo' separated alone (the others are blank or constant)"
    assert _alphas_summary(alone) == "mixture 1 separated alone (the others are blank or constant)"


def test_an_unchanged_transform_sets_nothing():
    """Each transform setter costs napari a refresh of the layer; napari gives a shear back as a vector where the
    transform holds its matrix, so the shear was set again at every live preview."""
    from napari.layers import Image

    from napari_doubledip._widgets._layers import _set_transform, transform

    source = Image(np.zeros((4, 8, 8)), shear=[0.1, 0.0, 0.2], scale=(2.0, 1.0, 0.5))
    out = Image(np.zeros((4, 8, 8)), **transform(source, 3))
    fired = []
    for key in ("scale", "translate", "rotate", "shear", "affine", "units", "axis_labels"):
        getattr(out.events, key).connect(lambda _e, key=key: fired.append(key))
    _set_transform(out, transform(source, 3))
    assert fired == []
    source.shear = [0.1, 0.3, 0.2]
    _set_transform(out, transform(source, 3))
    assert fired == ["shear"] and np.allclose(out.shear, [0.1, 0.3, 0.2])


def test_an_input_check_is_a_raise_in_the_package_not_a_c_error_on_its_line(monkeypatch):
    """Errors shown without a traceback are the package's own ``raise`` of a ValueError/TypeError; one that
    numpy's C code raises on a line of the package (a reshape, ``None[0]``: a bug) keeps its traceback."""
    import linecache
    import os

    from napari_doubledip._validation import _PACKAGE_DIR
    from napari_doubledip._widgets._runs import is_input_check

    def raised(source: str, name: str) -> BaseException:
        path = os.path.join(_PACKAGE_DIR, name)  # (a module of the package, as linecache reads it)
        lines = source.splitlines(keepends=True)
        monkeypatch.setitem(linecache.cache, path, (len(source), None, lines, path))
        try:
            exec(compile(source, path, "exec"), {})
        except Exception as exc:  # noqa: BLE001
            return exc
        raise AssertionError("no error")

    check = raised('raise ValueError(\n    "box must lie inside the image"\n)\n', "_check_probe.py")
    assert is_input_check(check)
    assert not is_input_check(raised("import numpy as np\nnp.zeros(10).reshape(3, 3)\n", "_bug_probe.py"))
    assert not is_input_check(raised("x = None\nx[0]\n", "_bug_probe2.py"))
    assert not is_input_check(raised("int('3.5')\n", "_bug_probe3.py"))
    try:
        np.zeros(10).reshape(3, 3)  # outside the package
    except ValueError as exc:
        assert not is_input_check(exc)


def test_a_slow_import_can_be_left_and_is_waited_for(tmp_path, monkeypatch):
    """The first run imports torch (3-4 s) in a thread of its own, reporting a stage meanwhile, so that Cancel
    acts at once (it waited for the whole import); the next run waits for the import left running; an import's
    error reaches the run."""
    import sys
    import threading
    import time

    from napari_doubledip._widgets._worker import import_in_thread

    (tmp_path / "dd_slow_module.py").write_text("import time\ntime.sleep(1.0)\nVALUE = 1\n")
    (tmp_path / "dd_broken_module.py").write_text("raise ImportError('no torch here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    stop = threading.Event()
    gen = import_in_thread("dd_slow_module", stop)
    report = next(gen)
    assert report.stage.startswith("loading PyTorch") and report.iteration == 0
    stop.set()
    t0 = time.perf_counter()
    with pytest.raises(StopIteration) as left:
        next(gen)
    assert left.value.value is False and time.perf_counter() - t0 < 0.5
    reports = []
    again = import_in_thread("dd_slow_module", threading.Event())  # (the import left running: waited for)
    with pytest.raises(StopIteration) as done:
        while True:
            reports.append(next(again))
    assert done.value.value is True and reports and sys.modules["dd_slow_module"].VALUE == 1
    with pytest.raises(StopIteration) as known:  # (imported: no thread, no report)
        next(import_in_thread("dd_slow_module", threading.Event()))
    assert known.value.value is True
    with pytest.raises(ImportError, match="no torch here"):
        list(import_in_thread("dd_broken_module", threading.Event()))


def test_a_runtime_error_while_importing_is_a_task_error(monkeypatch):
    """superqt ends a worker whose generator raised a RuntimeError with a warning only (no errored, no finished
    signal: the panel stayed running for good); one raised while the first run imports torch is wrapped too."""
    from napari_doubledip._widgets import _worker

    def failing(function, stop):
        raise RuntimeError("torch failed to initialise")
        yield  # (a generator, as the import's is)

    monkeypatch.setattr(_worker, "_import_library", failing)
    with pytest.raises(_worker.TaskError, match="RuntimeError: torch failed to initialise"):
        list(_worker.run_task("dehaze", (), {}, _worker.Control()))


def test_no_device_check_in_the_gui_thread_while_a_first_run_imports_torch(monkeypatch):
    """torch is in sys.modules from the start of its import: a panel asked it for devices at a cancelled first
    run's end, in the GUI thread, and waited there for the import going on in its own thread."""
    import sys
    import threading

    import torch  # noqa: F401

    from napari_doubledip._widgets import _devices, _worker

    assert "torch" in sys.modules and _devices._torch_loaded()
    monkeypatch.setitem(_worker._IMPORTS, "napari_doubledip.tasks.dehaze", (threading.Event(), []))
    assert _worker.importing() and not _devices._torch_loaded()


def test_library_messages_in_the_panels_words():
    """Every argument name a library warning may show in a panel is replaced by the panel's own words."""
    from napari_doubledip._widgets._runs import panel_words

    many = (
        "saliency hints (hints='auto') look for one object and may find only a few; hints='intensity' (the "
        "widget's automatic hints 'intensity (many objects)') finds them all"
    )
    assert panel_words(many) == (
        "saliency hints look for one object and may find only a few; automatic hints 'intensity (many objects)' "
        "finds them all"
    )
    none = (
        "hints mark no pixel (no 1 or 2) and auto_fill=False: the run has no hints at all, and the mask is the "
        "networks' own split; pass auto_fill=True (or hints='auto') for automatic hints"
    )
    assert "auto_fill" not in panel_words(none) and "'fill in scribbles' is off" in panel_words(none)
    for text in (many, none, "draw a larger box, raise max_size, or scribble", "or use hints='auto'"):
        assert not any(word in panel_words(text) for word in ("hints=", "auto_fill", "max_size")), text


def test_a_box_covers_the_frame_as_the_library_reads_it():
    """The panel's "covers the whole frame" judgement rounds a box's float noise as the library does (a box
    from 1e-12 before row 1 starts at row 1: it leaves row 0 out)."""
    from napari_doubledip._widgets._tasks import _covers_frame
    from napari_doubledip.tasks.watermark import box_mask

    assert _covers_frame((0, 0, 10, 12), (10, 12)) and _covers_frame((-3, -1e-9, 10 - 1e-12, 12), (10, 12))
    noisy = (1 - 1e-12, 0, 10, 12)
    assert not _covers_frame(noisy, (10, 12)) and not box_mask(noisy, (10, 12)).all()


def test_new_data_of_a_stack_too_long_to_checksum_is_a_change_unless_it_grew(monkeypatch, warnings_shown):
    """(A review's case.) Frames appended to a whole stack of over 512 frames (not checksummed: GUI time) were
    warned about as new data; appended frames are no change. The same frames replaced still are."""
    from types import SimpleNamespace

    from napari_doubledip._widgets import _layers as layers_mod
    from napari_doubledip._widgets._runs import tell_replaced_data

    monkeypatch.setattr(layers_mod, "DIGEST_MAX_FRAMES", 4)  # (6 frames: too many to checksum, as 600 are)
    data = np.random.default_rng(0).random((6, 16, 16)).astype(np.float32)
    for new, said in ((np.concatenate([data, data[:1]]), False), (data[::-1].copy(), True)):
        layer = napari.layers.Image(data, name="live")
        job = SimpleNamespace(
            sources=[layer], leads=[(6,)], read_data=[layer.data], frames=[(None,)], frame=(None,), full=(16, 16),
            replaced_sources=[0], outputs=SimpleNamespace(source_name=lambda s: s.name),
        )
        layer.data = new
        warnings_shown.clear()
        tell_replaced_data("Dehazing", job)
        assert bool([m for m in warnings_shown if "'live' got new data during the run" in m]) is said, new.shape
