"""The samples napari's File > Open Sample lists (``_sample_data.py``, the manifest's entries): what marks each
opening, the special metadata, and a panel following the samples opened."""

from __future__ import annotations

import numpy as np
import pytest

from napari_doubledip import _sample_data

PLUGIN = "napari-doubledip"
SEG = "Segmentation"


@pytest.mark.parametrize("name", _sample_data.__all__)
def test_every_sample_opening_marks_its_layers_as_one_opening(name):
    """Every sample's layers say which opening they came from (a panel on a sample moves to the next sample
    opened, and a sample's box goes only with its own image): the same id within one opening, a new one at the
    next; a set of several layers is marked as one set."""
    first, second = getattr(_sample_data, name)(), getattr(_sample_data, name)()
    ids = {kwargs["metadata"][_sample_data.SAMPLE_KEY] for _data, kwargs, _kind in first}
    again = {kwargs["metadata"][_sample_data.SAMPLE_KEY] for _data, kwargs, _kind in second}
    assert len(ids) == 1 and len(again) == 1 and ids != again
    sets = {kwargs["metadata"].get("sample_set") for _data, kwargs, _kind in first}
    assert sets == (ids if len(first) > 1 else {None})
    video = [kwargs["metadata"].get(_sample_data.VIDEO_KEY) for _data, kwargs, kind in first if kind == "image"]
    assert all(video) == name.endswith("_video") and (all(video) or not any(video))


def test_the_samples_special_metadata():
    (data, kwargs, _), = _sample_data.blob_field()
    assert data.dtype == np.uint16 and 2048 < int(data.max()) <= 4095  # 12-bit, as the docstring says
    assert kwargs["metadata"][_sample_data.OPTIONS_KEY] == {"automatic": "intensity (many objects)"}
    (_img, image_kwargs, _), (_rect, box_kwargs, kind) = _sample_data.watermarked()
    assert kind == "shapes" and box_kwargs["metadata"][_sample_data.BOX_FOR_KEY] == "watermark"
    assert box_kwargs["metadata"]["sample_set"] == image_kwargs["metadata"]["sample_set"]


def test_each_sample_menu_entry_opens_its_own_sample():
    """File > Open Sample's entries (napari.yaml's sample_data keys) each load the sample of their name."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    entries = pm.get_manifest(PLUGIN).contributions.sample_data
    assert {s.key for s in entries} == set(_sample_data.__all__)
    for s in entries:
        loaded = [kwargs["name"] for _data, kwargs, _kind in pm.commands.get(s.command)()]
        assert loaded == [kwargs["name"] for _data, kwargs, _kind in getattr(_sample_data, s.key)()], s.key


def test_a_panel_on_a_sample_moves_to_the_hazy_image_and_the_reflection_video(viewer, open_widget):
    """(The other samples are covered by test_a_panel_open_on_a_sample_moves_to_the_next_sample_opened.)"""
    dehazing = open_widget("Dehazing")
    viewer.open_sample(PLUGIN, "texture_composite")
    assert dehazing.pickers["image"].value.name == "texture composite"
    viewer.open_sample(PLUGIN, "hazy_image")
    assert dehazing.pickers["image"].value.name == "hazy image"
    viewer.open_sample(PLUGIN, "texture_composite")  # and on from it
    assert dehazing.pickers["image"].value.name == "texture composite [1]"
    transparency = open_widget("Transparency")
    viewer.open_sample(PLUGIN, "two_mixtures")
    assert sorted(la.name for la in transparency.pickers["mixtures"].value) == ["mixture 1", "mixture 2"]
    viewer.open_sample(PLUGIN, "reflection_video")
    assert [la.name for la in transparency.pickers["mixtures"].value] == ["reflection video"]
    assert "video" in str(transparency.frames.value)
