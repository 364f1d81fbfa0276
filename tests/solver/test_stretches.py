import numpy as np
import pytest
import torch

import napari_doubledip as dd
from napari_doubledip.solver.stretches import drive, with_plain_torch


def _states():
    """Yields the torch state it sees in each stretch."""
    for _ in range(3):
        yield (torch.is_grad_enabled(), torch.is_autocast_enabled("cpu"), torch.get_default_dtype())
    return "done"


def test_each_stretch_runs_in_plain_torch_and_the_callers_state_is_back_at_every_yield():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            gen = with_plain_torch(_states())
            seen = []
            for state in gen:
                seen.append(state)
                # between two stretches: the caller's settings
                assert not torch.is_grad_enabled() and torch.is_autocast_enabled("cpu")
                assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(old)
    assert seen == [(True, False, torch.float32)] * 3


def test_drive_passes_sends_throws_and_close_through():
    def inner():
        got = []
        try:
            while True:
                try:
                    got.append((yield len(got)))
                except KeyError as exc:
                    got.append(str(exc))
        finally:
            closed.append(got)

    closed: list = []
    calls = []
    gen = drive(inner(), lambda advance: calls.append(1) or advance())
    assert next(gen) == 0 and gen.send("a") == 1 and gen.throw(KeyError("k")) == 2
    gen.close()
    assert closed == [["a", "'k'"]] and len(calls) == 3

    def returns():
        yield 1
        return "result"

    gen = drive(returns(), lambda advance: advance())
    assert next(gen) == 1
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "result"


def test_a_task_ignores_the_callers_grad_mode_autocast_and_default_dtype():
    img = np.random.default_rng(0).random((24, 24, 3)).astype(np.float32)
    ref = dd.segment(img, iterations=4, max_size=16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        quiet = dd.segment(img, iterations=4, max_size=16)
    assert quiet.precision == "float32" and np.array_equal(quiet.soft_mask, ref.soft_mask)
    with torch.inference_mode():
        assert np.array_equal(dd.segment(img, iterations=4, max_size=16).soft_mask, ref.soft_mask)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        wide = dd.segment(img, iterations=4, max_size=16)
        hazy = dd.dehaze(img, iterations=4, max_size=16)
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(old)
    assert np.array_equal(wide.soft_mask, ref.soft_mask)
    assert hazy.clean.dtype == np.float32 and np.isfinite(hazy.clean).all()


def test_a_default_dtype_set_while_another_run_computes_is_switched_too():
    """Runs in two threads share the switch to float32; a float64 default set in between (napari's console
    during a GUI run) is switched for the next stretch as well, and is what comes back at the end."""
    from napari_doubledip.solver.stretches import plain_torch

    old = torch.get_default_dtype()
    try:
        with plain_torch():  # another run's stretch
            torch.set_default_dtype(torch.float64)
            with plain_torch():
                assert torch.get_default_dtype() == torch.float32
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(old)


def test_a_callers_cuda_autocast_is_off_in_every_stretch_and_back_at_every_yield():
    """The caller's open autocast of any device type, not only the CPU's (mutation: only "cpu" checked). The CUDA
    flag is set directly: torch.autocast("cuda") disables itself on a machine without CUDA."""
    import warnings

    def cuda_states():
        for _ in range(2):
            yield torch.is_autocast_enabled("cuda")

    torch.set_autocast_enabled("cuda", True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "CUDA is not available" from torch.autocast("cuda", enabled=False)
            seen = []
            for state in with_plain_torch(cuda_states()):
                seen.append(state)
                assert torch.is_autocast_enabled("cuda")
    finally:
        torch.set_autocast_enabled("cuda", False)
    assert seen == [False, False]
