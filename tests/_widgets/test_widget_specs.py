"""How the task specs turn layers into library arguments and results into layers: which result field becomes
which layer, the kind of a by-product layer, what a whole-stack mode keeps in the layers' metadata and says,
and the channels a stack mode counts (a mutation review found each untested)."""

from __future__ import annotations

import numpy as np

import napari_doubledip
from napari_doubledip import samples


def _capture_result(monkeypatch):
    """Wrap ``napari_doubledip.iterate`` (the worker's driver) to keep the library's result of each run."""
    real = napari_doubledip.iterate
    results = []

    def keeping(*args, **kwargs):
        result = yield from real(*args, **kwargs)
        results.append(result)
        return result

    monkeypatch.setattr(napari_doubledip, "iterate", keeping)
    return results


def test_transparency_layers_come_back_in_the_librarys_order(viewer, open_widget, run_widget, monkeypatch):
    """'<input> layer 1' is the result's first layer and 'layer 2' its second (not swapped)."""
    results = _capture_result(monkeypatch)
    s = samples.two_mixtures(32)
    viewer.add_image(s.data[0], name="m1")
    viewer.add_image(s.data[1], name="m2")
    widget = open_widget("Transparency")
    widget.pickers["mixtures"].value = [viewer.layers["m1"], viewer.layers["m2"]]
    run_widget(widget)
    (result,) = results
    first, second = (np.asarray(layer, dtype=np.float32) for layer in result.layers[:2])
    assert not np.allclose(first, second)  # (else the test could not tell them apart)
    np.testing.assert_allclose(viewer.layers["m1 layer 1"].data, first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(viewer.layers["m1 layer 2"].data, second, rtol=1e-5, atol=1e-6)


def test_the_watermarks_opacity_is_a_map_not_an_image_in_the_inputs_units(viewer, open_widget, run_widget):
    """The alpha (opacity, 0-1) is shown as a grey map with limits 0-1, not with the input's colormap and its
    contrast limits (0-1000 here, under which the map would be black)."""
    from napari_doubledip import _sample_data

    s = samples.watermarked(32)
    grey = (s.data.mean(axis=-1) * 1000).astype(np.float32)
    viewer.add_image(grey, name="wm", colormap="magenta", contrast_limits=(0, 1000))
    data, kwargs, _ = _sample_data._box_layer(s.extra["box"], "box")
    viewer.add_shapes(data, **kwargs)
    widget = open_widget("Watermark removal")
    widget.pickers["box"].value = viewer.layers["box"]
    run_widget(widget)
    alpha = viewer.layers["wm alpha"]
    assert tuple(alpha.contrast_limits) == (0.0, 1.0)
    assert alpha.colormap.name == "gray"
    clean = viewer.layers["wm clean"]  # (an image part: shown as its input is)
    assert clean.colormap.name == "magenta"


def test_all_frames_as_mixtures_keeps_each_frames_coefficient(viewer, open_widget, run_widget):
    """The whole-stack mixtures mode records the estimated coefficients (one per frame) in its layers'
    metadata, as the one-image mode does."""
    s = samples.two_mixtures(32)
    viewer.add_image(s.data, name="stack")
    widget = open_widget("Transparency")
    widget.frames.value = "all frames are mixtures"
    run_widget(widget)
    for part in ("layer 1", "layer 2"):
        alphas = viewer.layers[f"stack {part}"].metadata.get("alphas")
        assert alphas is not None and len(alphas) == 2, part


def test_a_box_with_a_watermarked_stack_is_said_to_limit_the_watermark(viewer, open_widget, infos):
    """'all frames share the watermark' with a box picked: said, as for a set of image layers."""
    s = samples.watermark_set(2, 32)
    viewer.add_image(np.stack(list(s.data)), name="frames")
    widget = open_widget("Watermark removal")
    viewer.add_shapes([np.array([[2, 2], [12, 12]], float)], shape_type="rectangle", name="notes")
    widget.pickers["images"].value = [viewer.layers["frames"]]
    widget.pickers["box"].value = viewer.layers["notes"]
    widget.frames.value = "all frames share the watermark"
    assert widget._prepare().kwargs["box"] is not None
    assert [m for m in infos if "looked for inside the box only" in m and "set 'box' to none" in m], infos


def test_every_frame_of_an_rgb_stack_counts_its_colour_channels(viewer, open_widget):
    """An RGB stack (T, Y, X, 3) run frame by frame has 3 channels: an airlight per channel and the 'haze
    lines' prior (RGB only) are accepted before the run."""
    rgb = samples.hazy_image(32).data
    viewer.add_image(np.stack([rgb, rgb[::-1]]), name="rgb stack", rgb=True)
    widget = open_widget("Dehazing")
    widget.frames.value = "every frame, one by one"
    widget.task_options["airlight"].value = "0.8, 0.85, 0.9"
    widget.task_options["transmission_prior"].value = "haze lines"
    kwargs = widget._prepare().kwargs
    assert tuple(kwargs["airlight"]) == (0.8, 0.85, 0.9) and kwargs["transmission_prior"] == "haze lines"
