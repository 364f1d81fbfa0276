import pytest
import torch

import napari_doubledip
from napari_doubledip.solver import threads as T
from napari_doubledip.solver.engine import DIP, Task, Term, optimise
from napari_doubledip.solver.networks import NetConfig


@pytest.fixture(autouse=True)
def _unpinned_passive(monkeypatch):
    monkeypatch.delenv(T.ENV, raising=False)
    # the test process may have imported torch first (then OpenMP spins): these tests are about the passive case
    monkeypatch.setattr(napari_doubledip, "PASSIVE_WAIT", True)


def test_thread_count_follows_the_work_of_a_step():
    unit = T.WORK_PER_THREAD
    assert T.threads_for(0, 8) == 1
    assert T.threads_for(int(0.4 * unit), 8) == 1
    assert T.threads_for(int(1.6 * unit), 8) == 2
    assert T.threads_for(int(6.3 * unit), 8) == 6
    assert T.threads_for(100 * unit, 4) == 4  # never above the ceiling (the user's torch setting)


def test_spinning_openmp_keeps_torch_thread_count(monkeypatch):
    monkeypatch.setattr(napari_doubledip, "PASSIVE_WAIT", False)
    assert not T.passive_wait()
    assert T.threads_for(0, 8) == 8


def test_environment_pins_the_count(monkeypatch):
    monkeypatch.setenv(T.ENV, "3")
    assert T.threads_for(0, 8) == 3
    monkeypatch.setenv(T.ENV, "zero")  # not a positive integer: ignored
    assert T.threads_for(0, 8) == 1


def test_cpu_threads_restores_torch_setting():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with T.cpu_threads(torch.device("cpu"), 0) as n:
            assert n == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), T.cpu_threads(torch.device("cpu"), 0):
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_optimise_runs_with_chosen_threads_and_restores_them_when_closed_early():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        seen = []

        def reconstruction(s):
            seen.append(torch.get_num_threads())
            return (s.pred - s.target).abs().mean()

        task = Task(
            name="fit",
            dips={"y": DIP(1, NetConfig(channels=(8,), skip=(0,), in_channels=2))},
            target=torch.full((1, 1, 16, 16), 0.5),
            compose=lambda s: s.out["y"],
            terms=[Term("reconstruction", reconstruction)],
            iterations=50,
        )
        gen = optimise(task, device=torch.device("cpu"))
        next(gen)  # first report after 5 iterations
        assert set(seen) == {1}  # a tiny step: one thread
        gen.close()  # the GUI cancelled: torch's setting comes back
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
