import subprocess
import sys

import numpy as np

import napari_doubledip as dd


def test_import_does_not_import_torch():
    code = "import napari_doubledip, napari_doubledip.samples, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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


def test_progress_callback_and_stop():
    img = np.random.default_rng(0).random((24, 24))
    seen = []
    r = dd.segment(img, iterations=500, device="cpu", progress=seen.append, stop=lambda: len(seen) >= 3)
    assert r.stopped and r.iterations < 500 and len(seen) == 3


def test_iterate_rejects_other_callables():
    import pytest

    with pytest.raises(TypeError):
        dd.iterate(print, 1)
