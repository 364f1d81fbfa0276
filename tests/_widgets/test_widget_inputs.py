"""The panels' input side (``TaskWidget``): where pickers fall when layers go, which added Shapes / Labels
layers are taken up, the sequence axis remembered, refusals before a run. No optimisation runs here."""

from __future__ import annotations

import numpy as np

SEG = "Segmentation"
TRANS = "Transparency"


def _fake_result(viewer, name, source, task="segmentation", part="background"):
    """An image layer marked as a run's output (what _layers.is_result looks for), without running anything."""
    return viewer.add_image(
        np.zeros((16, 16), np.float32), name=name, metadata={"task": task, "part": part, "source": source}
    )


def test_a_removed_input_falls_on_the_users_image_not_an_active_result(viewer, open_widget):
    """The picked image removed while a run's output is the active layer: the picker falls on the user's
    own image, not on that result (a result that is active does not count as the user's choice)."""
    viewer.add_image(np.zeros((16, 16), np.float32), name="in")
    result = _fake_result(viewer, "in background", "in")
    viewer.add_image(np.ones((16, 16), np.float32), name="mine")
    widget = open_widget(SEG)
    widget.pickers["image"].value = viewer.layers["in"]
    viewer.layers.selection.active = result
    viewer.layers.remove("in")
    assert widget.pickers["image"].value.name == "mine"


def test_a_removed_input_falls_on_the_active_image(viewer, open_widget):
    """The picked image removed: the picker falls on the active image (where napari users expect the input),
    not on the first image of the list."""
    for name in ("a", "b", "c"):
        viewer.add_image(np.zeros((16, 16), np.float32), name=name)
    widget = open_widget(SEG)
    widget.pickers["image"].value = viewer.layers["c"]
    viewer.layers.selection.active = viewer.layers["b"]
    viewer.layers.remove("c")
    assert widget.pickers["image"].value.name == "b"


RECT = np.array([[2, 2], [2, 9], [9, 9], [9, 2]], float)


def test_a_panel_opens_on_the_last_shapes_layer_holding_a_rectangle(viewer, open_widget):
    """The box preselected at opening is the last Shapes layer that holds a rectangle, not the first, nor a
    later Shapes layer with nothing drawn in it."""
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    viewer.add_shapes([RECT], shape_type="rectangle", name="old box")
    viewer.add_shapes([RECT + 10], shape_type="rectangle", name="new box")
    viewer.add_shapes(name="empty")
    viewer.layers.selection.active = viewer.layers["img"]
    widget = open_widget("Watermark removal")
    assert [la.name for la in widget.pickers["images"].value] == ["img"]
    assert widget.pickers["box"].value.name == "new box"


def test_a_shapes_layer_added_does_not_replace_a_box_with_a_rectangle(viewer, open_widget):
    """A new Shapes layer becomes the box only while the box holds no rectangle: annotations added later do
    not take the place of the box drawn."""
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    widget = open_widget(SEG)
    viewer.add_shapes([RECT], shape_type="rectangle", name="box")
    assert widget.pickers["box"].value.name == "box"
    viewer.add_shapes([RECT + 10], shape_type="rectangle", name="notes")
    assert widget.pickers["box"].value.name == "box"


def test_a_shapes_layer_of_lines_added_is_not_a_box(viewer, open_widget):
    """A Shapes layer that comes holding only lines (a measurement, a scale bar) encloses nothing: not a box."""
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    widget = open_widget(SEG)
    viewer.add_shapes([np.array([[2, 2], [20, 20]], float)], shape_type="line", name="scale bar")
    assert widget.pickers["box"].value is None


def test_an_axis_the_panel_picked_for_a_layer_is_not_remembered_as_the_users(viewer, open_widget):
    """Only the sequence axis the user chose for a layer comes back with it: the axis the panel picked for a
    layer (skipping its single-frame axis 0) is not; picked again, that layer takes the current axis."""
    viewer.add_image(np.zeros((1, 3, 4, 16, 16), np.float32), name="D")
    viewer.add_image(np.zeros((2, 2, 2, 16, 16), np.float32), name="E")
    viewer.layers.selection.active = viewer.layers["D"]
    widget = open_widget(SEG)
    widget.frames.value = widget.frames.choices[-1]
    assert widget.pickers["image"].value.name == "D" and widget.sequence_axis.value == 1  # (the panel's pick)
    widget.pickers["image"].value = viewer.layers["E"]
    widget.sequence_axis.value = 2  # the user's choice, for E
    widget.pickers["image"].value = viewer.layers["D"]
    assert widget.sequence_axis.value == 2  # (nobody chose one for D; its axis 2 has frames)


def test_picking_a_layer_after_a_fall_onto_a_result_is_a_choice(viewer, open_widget):
    """The picker fell onto a run's result because its input was removed: Run asks first; but once the user has
    changed the picker, even back to that result, it is their choice and Run asks nothing."""
    viewer.add_image(np.zeros((16, 16), np.float32), name="in")
    _fake_result(viewer, "in background", "in")
    widget = open_widget(SEG)
    widget.pickers["image"].value = viewer.layers["in"]
    viewer.layers.remove("in")
    fallen = widget.pickers["image"].value
    assert fallen.name == "in background"
    viewer.add_image(np.zeros((16, 16), np.float32), name="x")
    widget.pickers["image"].value = viewer.layers["x"]
    widget.pickers["image"].value = fallen  # chosen on purpose
    job = widget._prepare()  # (no "the input layer was removed" question)
    assert [s.name for s in job.sources] == ["in background"]


def test_a_stack_mode_with_several_stacks_is_refused(viewer, open_widget):
    """A whole-stack mode takes one stack layer: several selected are refused with the reason."""
    import pytest

    for name in ("s1", "s2"):
        viewer.add_image(np.random.default_rng(0).random((3, 16, 16)).astype(np.float32), name=name)
    widget = open_widget(TRANS)
    widget.pickers["mixtures"].value = [viewer.layers["s1"], viewer.layers["s2"]]
    widget.frames.value = "all frames are mixtures"
    with pytest.raises(ValueError, match="takes one stack layer; 2 layers are selected"):
        widget._prepare()


def test_a_watermark_frame_of_a_stack_along_its_second_axis_points_to_the_stack_mode(
    viewer, open_widget, errors
):
    """A (1, T, Y, X) stack (one plane on axis 0, frames on axis 1): one frame without a box is refused with the
    advice to use the stack's frames (its sequence has 4), not to select several images."""
    viewer.add_image(np.zeros((1, 4, 16, 16), np.float32), name="tzyx")
    widget = open_widget("Watermark removal")
    assert widget.sequence_axis.value == 1
    assert widget.run() is None
    assert "choose 'frames: all frames share the watermark'" in errors[-1], errors


def test_a_panel_opened_on_several_images_does_not_preselect_a_box(viewer, open_widget):
    """A Shapes layer with a rectangle (an annotation) is not preselected as the box when the panel opens on
    a set of images: the box narrows a one-image run only."""
    viewer.open_sample("napari-doubledip", "watermark_set")
    viewer.add_shapes([RECT], shape_type="rectangle", name="notes")
    widget = open_widget("Watermark removal")
    assert len(widget.pickers["images"].value) == 3
    assert widget.pickers["box"].value is None



def test_a_panel_opened_with_a_samples_box_active_starts_at_its_image(viewer, open_widget):
    """The watermarked sample's box active (the user's own image listed first): the panel starts at the box's
    image, not at the first image of the list."""
    viewer.add_image(np.zeros((64, 64, 3), np.float32), name="mine", rgb=True)
    viewer.open_sample("napari-doubledip", "watermarked")
    viewer.layers.selection.active = viewer.layers["watermark box"]
    assert open_widget(SEG).pickers["image"].value.name == "watermarked"


def test_an_output_labels_layer_added_is_not_taken_for_scribbles(viewer, open_widget):
    """A Labels layer that is a run's output (another panel's mask, empty at first) is not adopted as the
    scribbles, though it spans the image as napari's "new labels" does."""
    viewer.add_image(np.zeros((16, 16), np.float32), name="img")
    widget = open_widget(SEG)
    viewer.add_labels(
        np.zeros((16, 16), np.uint8), name="img mask",
        metadata={"task": "segmentation", "part": "mask", "source": "img"},
    )
    assert widget.pickers["scribbles"].value is None
    viewer.add_labels(np.zeros((16, 16), np.uint8), name="Labels")  # (napari's "new labels": taken)
    assert widget.pickers["scribbles"].value.name == "Labels"


def test_a_new_labels_layer_does_not_replace_the_scribbles_picked(viewer, open_widget):
    """napari's "new labels" becomes the scribbles only while there are none: a second one (another label
    image to paint) leaves the scribbles picked alone."""
    viewer.add_image(np.zeros((16, 16), np.float32), name="img")
    widget = open_widget(SEG)
    viewer.add_labels(np.zeros((16, 16), np.uint8), name="hints")
    assert widget.pickers["scribbles"].value.name == "hints"
    viewer.add_labels(np.zeros((16, 16), np.uint8), name="Labels")
    assert widget.pickers["scribbles"].value.name == "hints"


def test_the_axis_the_user_chose_for_a_layer_comes_back_over_the_current_one(viewer, open_widget):
    """Picked again, a layer takes the sequence axis the user chose for it, not the axis left current by the
    layer picked in between."""
    viewer.add_image(np.zeros((4, 3, 16, 16), np.float32), name="A")
    viewer.add_image(np.zeros((2, 2, 16, 16), np.float32), name="F")
    viewer.layers.selection.active = viewer.layers["A"]
    widget = open_widget(SEG)
    widget.frames.value = widget.frames.choices[-1]
    widget.sequence_axis.value = 1
    widget.sequence_axis.value = 0  # the user's choice for A
    widget.pickers["image"].value = viewer.layers["F"]
    widget.sequence_axis.value = 1  # and for F
    widget.pickers["image"].value = viewer.layers["A"]
    assert widget.sequence_axis.value == 0


def test_a_plain_stack_in_a_whole_stack_mode_shows_no_sequence_axis(viewer, open_widget):
    """A (T, Y, X) stack has one leading axis: nothing to choose, the sequence axis stays hidden even in a
    whole-stack mode (it shows for two or more leading axes)."""
    viewer.add_image(np.zeros((4, 16, 16), np.float32), name="movie")
    widget = open_widget(SEG)
    widget.frames.value = widget.frames.choices[-1]
    assert not widget.frames.native.isHidden() and widget.sequence_axis.native.isHidden()
