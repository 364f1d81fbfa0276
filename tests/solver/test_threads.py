import threading
import time
import warnings

import pytest
import torch

from napari_doubledip import _validation as validation
from napari_doubledip.solver import threads as T
from napari_doubledip.solver.engine import DIP, Task, Term, drain, optimise, step_work
from napari_doubledip.solver.networks import NetConfig

TINY = NetConfig(channels=(8,), skip=(0,), in_channels=2)


@pytest.fixture(autouse=True)
def _two_threads_unpinned(monkeypatch):
    monkeypatch.delenv(T.ENV, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _task(seen, iterations=50, size=16):
    def reconstruction(s):
        seen.append(torch.get_num_threads())
        return (s.pred - s.target).abs().mean()

    return Task(
        name="fit",
        dips={"y": DIP(1, TINY)},
        target=torch.full((1, 1, size, size), 0.5),
        compose=lambda s: s.out["y"],
        terms=[Term("reconstruction", reconstruction)],
        iterations=iterations,
    )


def test_thread_count_follows_the_work_of_a_step():
    unit = T.WORK_PER_THREAD
    assert T.threads_for(0, 8) == 1
    assert T.threads_for(int(0.4 * unit), 8) == 1
    assert T.threads_for(int(1.6 * unit), 8) == 2
    assert T.threads_for(int(2.5 * unit), 8) == 3  # halves round up
    assert T.threads_for(int(6.3 * unit), 8) == 6
    assert T.threads_for(100 * unit, 4) == 4  # never above the ceiling (the caller's torch setting)


def test_environment_pins_the_count(monkeypatch):
    monkeypatch.setenv(T.ENV, "3")
    assert T.threads_for(0, 2) == 3  # the pin wins over the ceiling
    monkeypatch.setattr(validation, "_SAID_ONCE", set())
    for bad in ("zero", "-2", "²"):  # not a count: ignored, and said once
        monkeypatch.setenv(T.ENV, bad)
        with pytest.warns(UserWarning, match=f"{T.ENV}='{bad}' is not a whole number of threads"):
            assert T.threads_for(0, 8) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert T.threads_for(0, 8) == 1
    for auto in ("", "0"):
        monkeypatch.setenv(T.ENV, auto)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert T.threads_for(0, 8) == 1  # empty or 0: the work decides


def test_step_work_counts_batched_instances_and_noise_sizes():
    target = torch.zeros(6, 3, 32, 32)
    px = 32 * 32

    def task(**kw):
        return Task(name="w", target=target, compose=lambda s: s.out["a"], terms=[], iterations=1, **kw)

    per_frame = DIP(3, TINY, instances=6)  # 8 first-level channels
    shared = DIP(3, NetConfig(channels=(16,), skip=(0,)))
    scalar = DIP(1, TINY, instances=6, size=(4, 4), scalar=True)
    assert step_work(task(dips={"a": per_frame})) == 6 * px * 8  # batch None: every frame
    assert step_work(task(dips={"a": per_frame}, batch=4)) == 4 * px * 8
    assert step_work(task(dips={"a": per_frame}, batch=10)) == 6 * px * 8  # batch larger than the stack
    assert step_work(task(dips={"a": shared}, batch=4)) == px * 16  # one instance: counted once
    assert step_work(task(dips={"a": scalar}, batch=4)) == 4 * 16 * 8  # its own small noise size


def test_optimise_runs_with_chosen_threads_and_reports_them():
    seen = []
    sol = drain(optimise(_task(seen, iterations=20), device="cpu"))  # a string device works too
    assert set(seen) == {1} and sol.threads == 1  # a tiny step: one thread
    assert torch.get_num_threads() == 2  # restored after the run


def test_callers_setting_is_back_at_every_report_and_after_errors():
    seen = []
    gen = optimise(_task(seen), device=torch.device("cpu"))
    for _ in range(3):
        next(gen)
        assert torch.get_num_threads() == 2  # between reports the caller has its own setting
    assert set(seen) == {1}
    gen.close()
    assert torch.get_num_threads() == 2

    def broken(s):
        raise ValueError("bad term")

    task = _task(seen)
    task.terms = [Term("reconstruction", broken)]
    with pytest.raises(ValueError, match="bad term"):
        drain(optimise(task, device=torch.device("cpu")))
    assert torch.get_num_threads() == 2


def test_run_abandoned_in_a_worker_thread_leaves_no_changed_setting():
    """A GUI worker that quits never closes its generator: nothing may stay changed, in that thread or others."""
    counts = {}

    def worker():
        gen = optimise(_task([]), device=torch.device("cpu"))
        next(gen)
        counts["worker after report"] = torch.get_num_threads()
        # abandoned here: no close(), no further next()

    th = threading.Thread(target=worker)
    th.start()
    th.join()
    assert counts["worker after report"] == 2
    seen = []
    big = _task(seen, iterations=5, size=512)  # 512 x 512 x 8 channels: 2.1 M -> 2 threads
    sol = drain(optimise(big, device=torch.device("cpu")))
    assert sol.threads == 2 and set(seen) == {2}


def test_the_count_chosen_at_the_start_holds_for_the_whole_run():
    """Resumed from a thread with another setting, a run kept changing its count (and so its numbers), while
    ``threads`` reported the first one."""
    seen = []
    gen = optimise(_task(seen, iterations=6, size=512), device=torch.device("cpu"), report_every=2)
    next(gen)
    torch.set_num_threads(1)  # e.g. resumed from a GUI worker thread set up differently
    sol = drain(gen)
    assert torch.get_num_threads() == 1  # the resuming thread's own setting is back
    assert sol.threads == 2 and set(seen) == {2}


def test_throw_is_delivered_to_the_inner_generator():
    gen = optimise(_task([]), device=torch.device("cpu"))
    next(gen)
    with pytest.raises(KeyError, match="from the caller") as info:
        gen.throw(KeyError("from the caller"))
    assert torch.get_num_threads() == 2
    # raised where the run waited (a review: an outer generator that ignored the throw re-raised it at its own
    # yield, which passed the checks above)
    tb, where = info.value.__traceback__, []
    while tb is not None:
        where.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "_steps" in where and "_loop" in where, where


def test_a_thread_starting_torch_work_during_a_run_keeps_the_process_setting():
    """torch copies a process-wide count into each thread at its first parallel operation: a thread that starts
    while a one-thread run computes must get the process's 2, not the run's 1 (and the run keeps its 1)."""
    inside, later = [], {}
    started, release = threading.Event(), threading.Event()

    def reconstruction(s):
        inside.append(torch.get_num_threads())
        if not started.is_set():
            started.set()
            release.wait(30)  # hold the run inside a stretch while the other thread starts
        return (s.pred - s.target).abs().mean()

    task = _task([], iterations=10)
    task.terms = [Term("reconstruction", reconstruction)]
    run = threading.Thread(target=lambda: drain(optimise(task, device=torch.device("cpu"))))
    run.start()
    assert started.wait(30)

    def newcomer():
        torch.ones(64, 64).sum()  # its first torch work
        later["count"] = torch.get_num_threads()

    th = threading.Thread(target=newcomer)
    th.start()
    th.join()
    release.set()
    run.join()
    assert later["count"] == 2 and set(inside) == {1}


def test_a_run_puts_back_the_process_setting_not_its_threads_own():
    """(A review's case.) A worker thread set up with 2 threads runs after the user lowered torch's setting to
    1: the run put back its thread's 2 as the process-wide count, which every new thread then started with."""
    ready, go, done = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def worker():
        torch.get_num_threads()  # (its count is set up now: 2)
        ready.set()
        go.wait(30)
        drain(optimise(_task(seen, iterations=4), device=torch.device("cpu")))  # (a small run: 1 thread)
        done.set()

    th = threading.Thread(target=worker)
    th.start()
    assert ready.wait(30)
    torch.set_num_threads(1)  # the user lowers the setting meanwhile
    go.set()
    th.join()
    assert done.is_set() and set(seen) == {1}
    seen = []
    fresh = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    fresh.start()
    fresh.join()
    assert seen == [1]


def test_two_runs_at_once_leave_the_process_setting(monkeypatch):
    """(A review's case.) A run sets its own count, which sets the process-wide one too, and puts that back
    from a helper thread: a second run reading the process-wide count in between took the first run's 1 for the
    process's setting and put it back at its end, so every thread started later had 1 thread, not 2."""
    set_elsewhere = T._set_elsewhere
    in_window, ready, go = threading.Event(), threading.Event(), threading.Event()

    def slow(n):
        if threading.current_thread().name == "first" and not in_window.is_set():
            in_window.set()  # the process-wide count is the run's 1 until this puts it back
            time.sleep(0.3)
        set_elsewhere(n)

    monkeypatch.setattr(T, "_set_elsewhere", slow)

    def second():
        torch.get_num_threads()  # (its own count is set up now: the process's 2)
        ready.set()
        go.wait(30)
        T._call_with(1, lambda: time.sleep(0.6))  # (ends after the first)

    b = threading.Thread(target=second, name="second")
    b.start()
    assert ready.wait(30)
    a = threading.Thread(target=lambda: T._call_with(1, lambda: None), name="first")
    a.start()
    assert in_window.wait(30)
    go.set()
    a.join()
    b.join()
    seen = []
    fresh = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    fresh.start()
    fresh.join()
    assert seen == [2]


def test_a_run_at_the_threads_own_count_starts_no_helper_thread(monkeypatch):
    """Where the run's count is the resuming thread's own, a stretch changes nothing and starts no helper
    thread (the module's promise: none then; four per report otherwise)."""
    helpers = []
    in_helper = T._in_helper
    monkeypatch.setattr(T, "_in_helper", lambda fn: helpers.append(fn) or in_helper(fn))
    assert T._call_with(2, lambda: torch.get_num_threads()) == 2
    assert helpers == []
    assert T._call_with(1, lambda: torch.get_num_threads()) == 1
    assert helpers and torch.get_num_threads() == 2  # (another count: helpers put the process's back)


def test_a_count_changed_inside_a_stretch_is_put_back():
    """The caller's count is back at every report, also when the work itself changed it (a term or a callback
    calling torch.set_num_threads), and also when the run's count was the caller's own."""
    T._call_with(2, lambda: torch.set_num_threads(3))
    assert torch.get_num_threads() == 2
