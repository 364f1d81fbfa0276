import subprocess
import sys

import numpy as np
import pytest

import napari_doubledip as dd


def test_import_does_not_import_torch():
    # Progress is what a console user's callback receives and annotates with; it must not load torch either
    code = ("import napari_doubledip, napari_doubledip.samples, sys; napari_doubledip.Progress; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_passive_wait_policy_set_before_torch_and_reported():
    import os

    import pytest

    code = "import {first}, os, napari_doubledip as d; print(d.PASSIVE_WAIT, os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    cases = [  # (imported first, OMP_WAIT_POLICY before start-up, expected output)
        ("sys", None, "True PASSIVE"),  # the package sets it before torch loads OpenMP
        ("torch", None, "False PASSIVE"),  # too late: torch (OpenMP) was imported first
        ("torch", "passive", "True passive"),  # in effect since start-up
        ("sys", "ACTIVE", "False ACTIVE"),  # the user's setting wins
    ]
    for first, policy, expected in cases:
        run_env = env if policy is None else {**env, "OMP_WAIT_POLICY": policy}
        out = subprocess.run([sys.executable, "-c", code.format(first=first)], capture_output=True, text=True,
                             check=True, env=run_env)
        if out.stdout.strip() != expected:
            pytest.fail(f"first={first} policy={policy}: {out.stdout.strip()!r} != {expected!r}")


def test_iterate_gives_generator_with_progress_and_result():
    img = np.random.default_rng(0).random((24, 24))
    gen = dd.iterate(dd.segment, img, iterations=10, device="cpu")
    reports = []
    while True:
        try:
            reports.append(next(gen))
        except StopIteration as done:
            result = done.value
            break
    assert reports[-1].iteration == 10 and reports[-1].total == 10
    assert isinstance(result, dd.SegmentationResult)
    losses = reports[-1].losses  # each term's value at the report
    assert "reconstruction" in losses and all(np.isfinite(v) for v in losses.values())


def test_progress_callback_and_stop():
    img = np.random.default_rng(0).random((24, 24))
    seen = []
    r = dd.segment(img, iterations=500, device="cpu", progress=seen.append, stop=lambda: len(seen) >= 3)
    assert r.stopped and r.iterations < 500 and len(seen) == 3


def test_iterate_takes_a_progress_callback_too(monkeypatch):
    from napari_doubledip.tasks import segmentation

    runs = []

    def spy(*args, **kwargs):  # the engine's generator that segment drives
        runs.append(real(*args, **kwargs))
        return runs[-1]

    real = segmentation.optimise
    monkeypatch.setattr(segmentation, "optimise", spy)
    img = np.random.default_rng(0).random((24, 24))
    seen = []
    gen = dd.iterate(dd.segment, img, iterations=10, device="cpu", progress=seen.append)
    reports = list(gen)
    assert reports and seen == reports
    gen = dd.iterate(dd.segment, img, iterations=50, device="cpu", progress=seen.append)
    next(gen)
    assert runs[-1].gi_frame is not None  # the run is suspended at its first report...
    gen.close()  # closes the run as well
    assert runs[-1].gi_frame is None  # ...and closed with it: its networks and images are released
    import pytest

    with pytest.raises(TypeError, match="progress"):
        dd.iterate(dd.segment, img, progress="not callable")


def test_previews_only_for_a_progress_callback_and_the_same_numbers(dehaze_previews):
    """A blocking call without a callback skips the previews (nobody sees them); the result is the same."""
    made = dehaze_previews
    img = np.random.default_rng(0).random((24, 24, 3))
    seen = []
    with_cb = dd.dehaze(img, iterations=10, device="cpu", progress=seen.append)
    assert made and any(p.preview is not None for p in seen)
    made.clear()
    plain = dd.dehaze(img, iterations=10, device="cpu")
    assert not made
    np.testing.assert_array_equal(with_cb.clean, plain.clean)
    np.testing.assert_array_equal(with_cb.transmission, plain.transmission)
    assert any(p.preview is not None for p in dd.iterate(dd.dehaze, img, iterations=10, device="cpu"))


def test_iterate_rejects_other_callables():
    import pytest

    with pytest.raises(TypeError):
        dd.iterate(print, 1)


def test_iterate_checks_the_argument_names_at_the_call():
    """A misspelt keyword is said when the generator is made, as the blocking call says it, not at the first
    next() (in a thread worker, after the user has moved on)."""
    import numpy as np
    import pytest

    image = np.zeros((16, 16))
    with pytest.raises(TypeError, match=r"^segment\(\) got an unexpected keyword argument 'iteration'"):
        dd.iterate(dd.segment, image, iteration=5)
    with pytest.raises(TypeError, match=r"missing a required argument: 'frames'"):
        dd.iterate(dd.dehaze_frames)
    dd.iterate(dd.dehaze_frames, [image, image], iterations=1).close()  # (right names: no error)


def test_stop_and_progress_are_checked_at_the_call(monkeypatch):
    import pytest

    from napari_doubledip.tasks import segmentation

    img = np.random.default_rng(0).random((16, 16))
    # nothing may be set up before the check: the image would be validated first
    monkeypatch.setattr(segmentation, "as_image", lambda *a, **k: pytest.fail("set-up ran"))
    with pytest.raises(TypeError, match="stop must be"):
        dd.segment(img, iterations=1, stop=True)
    with pytest.raises(TypeError, match="progress must be"):
        dd.segment(img, iterations=1, progress=5)
    with pytest.raises(TypeError, match="stop must be"):
        dd.iterate(dd.segment, img, iterations=1, stop=True)  # at the call, not at the first next()
    import threading

    with pytest.raises(TypeError, match=r"stop is the class Event.*stop=Event\(\)"):  # (parentheses forgotten)
        dd.segment(img, iterations=1, stop=threading.Event)

    async def never_true():  # an async function returns a coroutine, always true as a stop (the run ended at
        return False  # once, untrained), never awaited as progress (no report came)

    async def report(p):
        pass

    with pytest.raises(TypeError, match="stop must be a plain .* async function"):
        dd.segment(img, iterations=1, stop=never_true)
    with pytest.raises(TypeError, match="progress must be a plain .* async function"):
        dd.segment(img, iterations=1, progress=report)
    import multiprocessing

    monkeypatch.undo()  # (this one is found at the first check of the run)
    with pytest.raises(TypeError, match=r"stop returned Event.*instead of True / False"):
        dd.segment(img, iterations=1, stop=multiprocessing.Event)
    with pytest.raises(TypeError, match=r"stop returned ndarray .*, not True / False"):  # (numpy's "ambiguous")
        dd.segment(img, iterations=1, stop=lambda: np.array([False, True]))


def _tiny_calls():
    rng = np.random.default_rng(0)
    img, frames = rng.random((16, 16)), rng.random((2, 16, 16))
    return [
        (dd.segment, (img,), {}),
        (dd.separate_layers, (img,), {}),
        (dd.remove_watermark, (img,), {"box": (4, 4, 8, 8)}),
        (dd.dehaze, (img,), {}),
        (dd.segment_video, (frames,), {}),
        (dd.separate_video_layers, (frames,), {}),
    ]


def test_every_task_validates_the_seed():
    import pytest

    for func, args, kwargs in _tiny_calls():
        for seed in (None, 1.5, "7", True):
            with pytest.raises(TypeError, match="seed"):
                dd.iterate(func, *args, seed=seed, iterations=1, **kwargs).send(None)
        with pytest.raises(ValueError, match="seed"):
            dd.iterate(func, *args, seed=-1, iterations=1, **kwargs).send(None)
    from napari_doubledip._validation import check_seed

    assert check_seed(np.int64(3)) == 3 and type(check_seed(np.int64(3))) is int
    assert check_seed(2**32 - 1) == 2**32 - 1
    with pytest.raises(ValueError, match="seed"):  # (torch would run 2**32 as 0)
        check_seed(2**32)


def test_library_warnings_point_at_the_callers_line():
    """Warnings raised deep in a task (run as a generator) name the user's call, blocking or via iterate()."""
    import warnings

    a = np.random.default_rng(0).random((24, 24))
    mixed = [a.astype(np.float32), (a[::-1] * 255).astype(np.uint8)]  # different dtypes: a warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dd.separate_layers(mixed, iterations=1, device="cpu")
        gen = dd.iterate(dd.dehaze, (a * 255).astype(np.uint8), airlight=0.9, iterations=1, device="cpu")
        for _ in gen:  # airlight 0.9 on a uint8 image: "nearly black"
            pass
    messages = " | ".join(str(w.message) for w in caught)
    assert "different dtypes" in messages and "nearly black" in messages, messages
    assert {w.filename for w in caught} == {__file__}, [(w.filename, str(w.message)) for w in caught]


def test_napari_layers_and_multiscale_data_are_refused_with_what_to_pass():
    """From napari's console: a layer, or multiscale data (np.asarray gives its smallest level), is refused
    with what to pass instead, for images, hints and boxes alike."""
    import napari
    import pytest

    img = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    layer = napari.layers.Image(img)
    pyramid = napari.layers.Image([img, img[::2, ::2]], multiscale=True).data
    shapes = napari.layers.Shapes([np.array([[2, 2], [10, 10]])], shape_type="rectangle")
    calls = [
        (lambda: dd.segment(layer), "image is a napari Image layer; pass its data: layer.data"),
        (lambda: dd.segment(pyramid), r"multiscale data \(2 levels\); pass one level: layer.data\[0\]"),
        (lambda: dd.separate_layers([layer, layer]), r"mixtures\[0\] is a napari Image layer"),
        (lambda: dd.segment(img, hints=napari.layers.Labels(np.zeros((32, 32), int))), "napari Labels layer"),
        (lambda: dd.remove_watermark(img, box=shapes), r"box is a napari Shapes layer.*layer\.to_masks"),
        (lambda: dd.dehaze_frames(pyramid), r"frames is multiscale data \(2 levels\)"),  # (not read as (H, W))
        (lambda: dd.dehaze_frames(layer), "frames is a napari Image layer"),
    ]
    for call, message in calls:
        with pytest.raises(TypeError, match=message):
            call()
    assert dd.segment(pyramid[0], iterations=1, device="cpu").mask.shape == (32, 32)
    # the advice for an ellipse's inside (its data is its bounding box's corners) works as written
    ellipse = napari.layers.Shapes([np.array([[4, 4], [4, 28], [28, 28], [28, 4]])], shape_type="ellipse")
    inside = ellipse.to_masks(img.shape[:2])[0]
    r = dd.segment(img, box=inside, iterations=1, device="cpu")
    assert r.mask[~inside].max() == 0 and 0.7 < inside.sum() / 24**2 < 0.85


def test_torch_tensors_are_taken_as_arrays():
    """Tensors straight from a model: requiring grad, bfloat16 (numpy has neither), as image and as hints."""
    import torch

    img = np.random.default_rng(0).random((24, 24, 3)).astype(np.float32)
    ref = dd.segment(img, iterations=2, max_size=16, device="cpu")
    t = torch.from_numpy(img).requires_grad_(True)
    assert np.array_equal(dd.segment(t, iterations=2, max_size=16, device="cpu").soft_mask, ref.soft_mask)
    hints = torch.zeros(24, 24, dtype=torch.bfloat16)
    hints[8:16, 8:16] = 1
    r = dd.segment(img, hints=hints, iterations=2, max_size=16, device="cpu")
    assert (r.hints[8:16, 8:16] == 1).all()
    r = dd.separate_layers(torch.from_numpy(np.stack([img, img[::-1]])).to(torch.bfloat16), iterations=2,
                           max_size=16, device="cpu")
    assert r.layers[0].shape == img.shape


def test_results_are_of_the_input_as_it_was_at_the_call():
    """The generator form hands control back at every report: what the caller writes into its array meanwhile
    (a live buffer refilled, a thread) must not reach the result (the tasks that copy input values into it
    read them again at the end)."""
    import torch

    from napari_doubledip import samples
    from napari_doubledip.solver.engine import drain

    img = (samples.texture_composite(32).data * 255).astype(np.uint8)
    frames = np.stack([img, img[::-1], img[:, ::-1]])
    calls = [
        (dd.segment, img, {}),
        (dd.remove_watermark, img, {"box": (4, 4, 20, 20)}),
        (dd.segment_video, frames, {}),
        (dd.dehaze_frames, frames, {}),
    ]
    for func, data, kw in calls:
        ref = func(data.copy(), iterations=3, max_size=16, device="cpu", seed=0, **kw)
        for form in (np.array, torch.from_numpy, list) if data.ndim == 4 else (np.array, torch.from_numpy):
            given = form(data.copy())  # (a list: of frames)
            gen = dd.iterate(func, given, iterations=3, max_size=16, device="cpu", seed=0, **kw)
            next(gen)
            for item in (given if form is list else [given]):
                item[...] = 0  # written into while the run goes on
            r = drain(gen)
            for name in ("clean", "foreground", "background"):
                if hasattr(ref, name):
                    np.testing.assert_array_equal(getattr(r, name), getattr(ref, name), err_msg=f"{func} {name}")


def test_a_pint_quantity_is_taken_as_its_numbers():
    """napari depends on pint: a Quantity (units attached) is not lazy data, although it has a compute()."""
    pint = pytest.importorskip("pint")
    img = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    q = pint.UnitRegistry().Quantity(img, "count")
    ref = dd.segment(img, iterations=2, max_size=16, device="cpu")
    assert np.array_equal(dd.segment(q, iterations=2, max_size=16, device="cpu").foreground, ref.foreground)
    frames = np.stack([img, img[::-1]])
    r = dd.segment_video(pint.UnitRegistry().Quantity(frames, "count"), iterations=2, max_size=16, device="cpu")
    assert r.masks.shape == (2, 24, 24)


def test_inputs_whose_values_the_results_cannot_keep_warn():
    import warnings

    img = np.random.default_rng(0).random((24, 24))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dd.segment(1e6 + img * 1e-2, iterations=1, device="cpu")  # float32 results: ~1 value at 1e6
        dd.segment(np.ma.masked_less(img, 0.1), iterations=1, device="cpu")
        dd.segment(1e3 + img, iterations=1, device="cpu")  # ~16000 levels: fine
        dd.dehaze(np.full((24, 24, 3), 7, np.uint16), iterations=1, device="cpu")
        dd.segment(img * 1e-300, iterations=1, device="cpu")  # below float32: no offset to subtract
        dd.segment(img * 1e-40, iterations=1, device="cpu")  # float32 subnormals, ~70000 levels: fine
    messages = [str(w.message) for w in caught]
    assert len(messages) == 4, messages
    assert "varies by 0.00999 on an offset of 1e+06" in messages[0] and "subtract the offset" in messages[0]
    assert "mask of image (a masked array) is ignored" in messages[1]
    assert "image is constant (7): there is nothing to decompose" in messages[2]
    assert "below what the float32 results resolve" in messages[3] and "rescale it first" in messages[3]


def test_values_at_the_float32_maximum_and_hot_pixels_in_small_images():
    """np.spacing is inf at float32's maximum: no overflow warnings and no false 'cannot resolve' advice; and in
    an image under ~1000 values the 99.9th percentile must not be the hot pixel itself."""
    import warnings

    from napari_doubledip._validation import as_image

    img = np.random.default_rng(0).random((24, 24))
    top = np.finfo(np.float32).max
    hot, wide = img.copy(), img * 2 - 1
    hot[5, 5] = 1000.0
    wide[0, 0], wide[0, 1] = top, -top
    at_max = img.astype(np.float32)
    at_max[5, 5] = top
    two = hot.copy()
    two[15, 15] = 1000.0
    rgb = np.random.default_rng(1).random((24, 24, 3))  # a hot pixel is 3 values there
    rgb[5, 5] = 1000.0
    cases = [
        (hot, ["1 isolated pixel(s)"]), (wide, []), (at_max, ["1 isolated pixel(s)"]),
        (two, ["2 isolated pixel(s)"]), (rgb, ["1 isolated pixel(s)"]),
    ]
    for x, expected in cases:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            as_image(x)
        messages = [f"{w.category.__name__}: {w.message}" for w in caught]
        assert len(messages) == len(expected) and all(e in m for e, m in zip(expected, messages)), messages


def test_label_hints_reach_torch_as_a_writable_array():
    """A read-only array (a broadcast view) makes torch.from_numpy warn about undefined behaviour; the widget
    showed that warning as a notification on the first run with scribbles."""
    import warnings

    import torch

    from napari_doubledip._validation import hint_labels

    labels = np.zeros((24, 24), np.uint8)
    labels[8:16, 8:16], labels[:2] = 1, 2
    assert hint_labels(labels, (24, 24)).flags.writeable
    assert hint_labels(labels, (24, 24), frames=3).flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.from_numpy(hint_labels(labels, (24, 24)))


def test_task_functions_are_annotated_with_their_results():
    """help() and IDEs: a blocking task function returns its result type, not the generator's."""
    import inspect
    import typing

    for func, result in [(dd.segment, "SegmentationResult"), (dd.separate_layers, "LayersResult"),
                         (dd.remove_watermark, "WatermarkResult"), (dd.dehaze, "DehazeResult"),
                         (dd.segment_video, "VideoSegmentationResult"),
                         (dd.separate_video_layers, "VideoLayersResult")]:
        assert inspect.signature(func).return_annotation == result
        assert typing.get_type_hints(func)["return"] is getattr(dd, result)
        assert "progress" in inspect.signature(func).parameters
        assert "Progress" in str(typing.get_type_hints(func)["progress"])  # help() says what it receives
        # ... as briefly as the other annotations (it spelled out collections.abc and the module path)
        assert inspect.signature(func).parameters["progress"].annotation == "Callable[[Progress], Any] | None"


def test_elapsed_is_the_whole_call(monkeypatch):
    """``r.elapsed`` counts set-up (here the automatic hints) and finishing, not only the optimisation."""
    import time

    from napari_doubledip.tasks import segmentation

    real = segmentation.saliency_hints

    def slow_hints(image):
        time.sleep(0.5)
        return real(image)

    monkeypatch.setattr(segmentation, "saliency_hints", slow_hints)
    img = np.random.default_rng(0).random((24, 24))
    r = dd.segment(img, iterations=2, device="cpu")
    assert r.elapsed >= 0.5 and r.history  # (the optimisation itself takes a few ms here)
    gen = dd.iterate(dd.segment, img, iterations=2, device="cpu")
    try:
        while True:
            next(gen)
    except StopIteration as done:
        assert done.value.elapsed >= 0.5


def test_top_level_manifest_is_the_packaged_one():
    """The design card keeps a ``napari.yaml`` at the top level; npe2 reads the packaged copy (editable and wheel
    installs alike), so the two must not drift."""
    from pathlib import Path

    top = Path(__file__).parents[1] / "napari.yaml"
    packaged = Path(dd.__file__).with_name("napari.yaml")
    assert top.read_text(encoding="utf-8") == packaged.read_text(encoding="utf-8")


def test_every_result_is_a_run_info():
    for name in dd.__all__:
        if name.endswith("Result"):
            assert issubclass(getattr(dd, name), dd.RunInfo), name


def test_results_compare_as_objects():
    """Results hold arrays: == is identity (a field-by-field comparison would raise on the arrays' truth)."""
    img = np.random.default_rng(0).random((24, 24))
    a, b = (dd.segment(img, iterations=2, device="cpu") for _ in range(2))
    assert a == a and a != b and len({a, b}) == 2  # (hashable too: a result can key a dict)


@pytest.mark.parametrize(
    "module",
    [
        "napari_doubledip",
        "napari_doubledip.samples",
        "napari_doubledip.tasks._common",
        "napari_doubledip.tasks.segmentation",
        "napari_doubledip.tasks.transparency",
        "napari_doubledip.tasks.watermark",
        "napari_doubledip.tasks.dehaze",
        "napari_doubledip.tasks.video",
    ],
)
def test_docstring_examples_run(module):
    """The examples in the public docstrings run as written (those that need a viewer are skipped there)."""
    import doctest
    import importlib

    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module}"


def test_results_and_samples_print_as_what_they_hold():
    """In a console a result shows its arrays' shapes and its run's record, not every pixel."""
    from napari_doubledip import samples

    s = samples.texture_composite(32)
    r = dd.segment(s.data, iterations=2, max_size=16, device="cpu")
    text = repr(r)
    assert text.startswith("SegmentationResult(mask=array((32, 32), float32), ") and len(text) < 1000
    assert "foreground=array((32, 32, 3), float32)" in text and "'max_size': 16" in text
    assert "working_shape=(16, 16)" in text
    assert repr(s).startswith("Sample(data=array((32, 32, 3), float32), truth={'mask': array((32, 32), bool)}")
    from napari_doubledip.tasks._common import RunInfo

    results = ["SegmentationResult", "LayersResult", "WatermarkResult", "DehazeResult", "VideoSegmentationResult",
               "VideoLayersResult"]
    ours = [c for c in RunInfo.__subclasses__() if c.__module__.startswith("napari_doubledip.")]
    for cls in [getattr(dd, name) for name in results] + ours:
        assert cls.__repr__ is RunInfo.__repr__, cls  # (a dataclass making its own repr would dump pixels)
    layers = dd.separate_layers(samples.two_mixtures(24).data, iterations=2, device="cpu")
    assert "layers=(array((24, 24), float32), array((24, 24), float32)), alphas=array((2,), float32)" in str(
        layers
    )


def test_readme_python_blocks_compile():
    """What a user pastes into napari's console from the README must at least parse."""
    import re
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    assert blocks
    for i, block in enumerate(blocks):
        compile(block, f"README python block {i}", "exec")


@pytest.mark.parametrize("argv, said", [
    (["--tasks", "segmentation,segmentaton"], "segmentaton"),
    (["--tasks", "segmentation", "--device", "gpu"], "--device"),
    (["--tasks", "segmentation", "--size", "4"], "--size"),
])
def test_demo_checks_every_argument_before_running(tmp_path, capsys, argv, said):
    from napari_doubledip import demo

    with pytest.raises(SystemExit) as exit_:
        demo.main([*argv, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2 and said in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_demo_panel_takes_every_channel_count():
    """The demo's side-by-side pictures: grey, 1-4 channels (two channels crashed: a review's case)."""
    from napari_doubledip.demo import panel

    images = [np.full((6, 5), 0.5)] + [np.full((6, 5, c), 0.5) for c in (1, 2, 3, 4)]
    out = panel(images, gap=1)
    assert out.shape == (6, 5 * 5 + 4, 3) and out.dtype == np.uint8
    assert out[0, 12].tolist() == [128, 128, 0]  # the two-channel tile: red and green


def test_the_reference_preset_works_at_full_resolution():
    """The reference recipe runs at the image's own size unless max_size says otherwise."""
    from napari_doubledip.tasks._common import resolve_max_size

    assert resolve_max_size(None, 128, (300, 200), "reference") == 300
    assert resolve_max_size(None, 128, (300, 200), "default") == 128
    assert resolve_max_size(64, 128, (300, 200), "reference") == 64
    # public: segment's default max_size is 128; the reference recipe fits a 160 px image as it is
    img = np.random.default_rng(0).random((160, 144))
    r = dd.segment(img, preset="reference", iterations=1, device="cpu")
    assert r.working_shape == (160, 144)


def test_the_repr_of_a_long_history_and_a_one_item_tuple():
    """A one-item tuple keeps its comma; a long history is summarised."""
    from napari_doubledip.tasks._common import RunInfo

    text = repr(RunInfo(params={"box": (5,)}, history=[(i, 0.5) for i in range(100)]))
    assert "'box': (5,)" in text
    assert "history=[100 items: (0, 0.5), ..., (99, 0.5)]" in text


def test_the_repr_shows_a_short_list_whole():
    """A short list (a box's bounds, a short run's history) is shown item by item, from 9 items summarised;
    arrays in it show as shape and dtype, a 0-d array as its value."""
    from napari_doubledip.samples import Sample
    from napari_doubledip.tasks._common import RunInfo

    text = repr(
        RunInfo(
            params={"box": [3, 4, 15, 27], "eight": list(range(8)), "nine": list(range(9))},
            history=[(1, 0.5), (2, 0.25)],
        )
    )
    assert "'box': [3, 4, 15, 27]" in text
    assert "'eight': [0, 1, 2, 3, 4, 5, 6, 7]" in text and "'nine': [9 items: 0, ..., 8]" in text
    assert "history=[(1, 0.5), (2, 0.25)]" in text
    s = Sample(
        np.zeros((4, 4), np.float32), {"alpha": np.array(0.5, np.float32)}, "s",
        extra={"corners": [np.zeros((4, 2))]},
    )
    assert "'corners': [array((4, 2), float64)]" in repr(s)
    assert "'alpha': 0.5" in repr(s)


def test_the_repr_shortens_only_a_long_text():
    """A text up to 200 characters is shown whole; a longer one is cut."""
    from napari_doubledip.tasks._common import RunInfo

    text = repr(RunInfo(params={"note": "n" * 100, "log": "p" * 300}))
    assert "'note': '" + "n" * 100 + "'" in text
    assert "p" * 100 not in text and "..." in text and len(text) < 500


def test_a_progress_error_under_iterate_closes_the_run(monkeypatch):
    """An error in ``progress=`` under ``iterate`` reaches the caller and closes the run at once (else it is
    closed only when its generator is garbage-collected: while the caller holds the exception, its traceback
    keeps the suspended optimisation and its networks alive)."""
    from napari_doubledip.tasks import segmentation

    runs = []
    real = segmentation.optimise

    def spy(*args, **kwargs):
        runs.append(real(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(segmentation, "optimise", spy)

    class Boom(Exception):
        pass

    def progress(p):
        raise Boom

    gen = dd.iterate(dd.segment, np.random.default_rng(0).random((16, 16)), iterations=50, device="cpu",
                     progress=progress)
    with pytest.raises(Boom) as caught:
        next(gen)
    assert caught.value is not None  # (the exception and its traceback are still held here)
    assert runs and runs[-1].gi_frame is None  # the run was closed with the error


def test_psnr_and_iou_against_hand_computed_values():
    """The metrics the tests and benchmarks score with: PSNR uses the given data range (255 for uint8 data),
    and IoU is intersection over union of the set pixels, 1 for two empty masks (nothing to disagree on)."""
    from napari_doubledip.samples import iou, psnr

    zeros = np.zeros((4, 4))
    assert psnr(np.full((4, 4), 25.5), zeros, data_range=255) == pytest.approx(20.0)  # mse 650.25
    assert psnr(np.full((4, 4), 0.1), zeros) == pytest.approx(20.0)
    assert psnr(zeros, zeros) == float("inf")
    a = np.array([[1, 1, 0, 0]], bool)
    b = np.array([[1, 0, 0, 0]], bool)
    assert iou(a, b) == pytest.approx(0.5) and iou(a, ~a) == 0.0
    assert iou(zeros, zeros) == 1.0 and iou(a.astype(float), a) == 1.0


def test_watermark_samples_composite_at_their_opacity():
    """The watermark samples obey ``I = (1 - a) J + a W`` with the truth's ``a``, and ``a`` is ``opacity`` times
    the text (half the opacity: half the alpha)."""
    from napari_doubledip.samples import watermark_set, watermarked

    for rgb in (True, False):
        s = watermarked(64, opacity=0.6, rgb=rgb)
        a = s.truth["alpha"][..., None] if rgb else s.truth["alpha"]
        np.testing.assert_allclose(s.data, (1 - a) * s.truth["clean"] + a * s.truth["watermark"], atol=1e-6)
        half = watermarked(64, opacity=0.3, rgb=rgb)
        np.testing.assert_allclose(half.truth["alpha"], s.truth["alpha"] / 2, atol=1e-6)
        assert 0.3 < s.truth["alpha"].max() <= 0.6 + 1e-6
        t = watermark_set(2, 64, opacity=0.6, rgb=rgb)
        a = t.truth["alpha"][..., None] if rgb else t.truth["alpha"]
        np.testing.assert_allclose(t.data, (1 - a) * t.truth["clean"] + a * t.truth["watermark"], atol=1e-6)
        assert 0.3 < t.truth["alpha"].max() <= 0.6 + 1e-6


def test_hazy_samples_obey_the_haze_model():
    """``I = t J + (1 - t) A`` with the truth's ``t`` and ``A``, grey and RGB; ``t`` is the nearer, the higher."""
    from napari_doubledip.samples import hazy_image

    for rgb in (True, False):
        for varying in (False, True):
            s = hazy_image(32, varying_airlight=varying, rgb=rgb)
            t = s.truth["transmission"][..., None] if rgb else s.truth["transmission"]
            np.testing.assert_allclose(
                s.data, t * s.truth["clean"] + (1 - t) * s.truth["airlight"], atol=1e-6
            )
            assert s.truth["transmission"][-1].mean() > s.truth["transmission"][0].mean()  # near at the bottom


def test_mixture_samples_hold_their_alphas_of_layer1():
    from napari_doubledip.samples import single_mixture, two_mixtures

    s = two_mixtures(32, alphas=(0.2, 0.9))
    for a, m in zip((0.2, 0.9), s.data, strict=True):
        np.testing.assert_allclose(m, a * s.truth["layer1"] + (1 - a) * s.truth["layer2"], atol=1e-6)
    one = single_mixture(32, alpha=0.7)
    np.testing.assert_allclose(one.data, 0.7 * one.truth["layer1"] + 0.3 * one.truth["layer2"], atol=1e-6)
