import subprocess
import sys

import numpy as np

import napari_doubledip as dd


def test_import_does_not_import_torch():
    code = "import napari_doubledip, napari_doubledip.samples, sys; print('torch' in sys.modules)"
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


def test_progress_callback_and_stop():
    img = np.random.default_rng(0).random((24, 24))
    seen = []
    r = dd.segment(img, iterations=500, device="cpu", progress=seen.append, stop=lambda: len(seen) >= 3)
    assert r.stopped and r.iterations < 500 and len(seen) == 3


def test_iterate_rejects_other_callables():
    import pytest

    with pytest.raises(TypeError):
        dd.iterate(print, 1)
