"""tasks/frames.each_frame: a single-image task run frame by frame, driven with a small fake task."""

from dataclasses import dataclass

import numpy as np
import pytest

from napari_doubledip._validation import warn
from napari_doubledip.solver.progress import Progress
from napari_doubledip.tasks import frames as F
from napari_doubledip.tasks._common import RunInfo

pytestmark = pytest.mark.filterwarnings("ignore:frame 0 .of")  # (the fake task's warning, said once a stack)


@dataclass(kw_only=True)
class FakeResult(RunInfo):
    out: np.ndarray
    note: str


def fake_steps(frame, *, stop=None, budget=None, extra=None, thrown=None, early=None):
    """Doubles the frame over ``budget`` (default: the frame's first value) steps, with a preview each step;
    ``early``: stops after that many steps as the engine does on a plateau (its last report's total)."""
    n = int(frame.flat[0]) if budget is None else budget
    warn(f"frame mean {float(frame.mean()):.3f} is not checked")  # the same warning every frame, numbers aside
    it = 0
    for step in range(1, n + 1):
        if stop is not None and stop():
            break
        it = step
        try:
            yield Progress(iteration=it, total=it if it == early else n, loss=1.0 / it, losses={},
                           preview={"out": frame * 0 + it}, elapsed=0.0)
            if it == early:
                break
        except KeyError as exc:
            if thrown is not None:
                thrown.append(exc)
            raise
        except GeneratorExit:
            if thrown is not None:
                thrown.append("closed")
            raise
    params = {"budget": n, "seed": 0, "extra": extra if extra is not None else np.array([1.0, np.nan])}
    return FakeResult(out=frame * 2.0, note=f"ran {it}", params=params, iterations=it, final_loss=1.0 / max(it, 1),
                      history=[(it, 0.5)], stopped=it < n and it != early)


def _drain(gen):
    reports = []
    while True:
        try:
            reports.append(next(gen))
        except StopIteration as end:
            return reports, end.value


def test_frames_are_run_one_after_the_other_as_one_run():
    stack = np.stack([np.full((8, 8), v, np.float32) for v in (4, 1, 4)])  # budgets 4, 1, 4
    with pytest.warns(UserWarning) as said:
        reports, r = _drain(F.each_frame(fake_steps, stack, {}))
    assert [str(w.message) for w in said] == ["frame 0 (of 3): frame mean 4.000 is not checked"]  # once
    np.testing.assert_array_equal(r.out, stack * 2)
    assert r.note == ["ran 4", "ran 1", "ran 4"] and r.iterations == 9 and not r.stopped
    assert [p.iteration for p in reports] == list(range(1, 10))
    totals = [p.total for p in reports]
    assert totals[:-1] == sorted(totals[:-1]) and totals[-2] >= 9  # an estimate that never goes down ...
    assert totals[-1] == 9  # ... until the last frame's run ends
    early, r_early = _drain(F.each_frame(fake_steps, stack, {"early": 2}))  # each frame stops after 2 steps
    assert r_early.iterations == 5 and early[-1].iteration == early[-1].total == 5 and not r_early.stopped
    assert r.params["budget"] == [4, 1, 4] and r.params["seed"] == 0  # differing: per frame; equal: once
    assert r.params["frames"] == 3 and r.params["frames_run"] == 3
    assert np.array_equal(r.params["extra"], [1.0, np.nan], equal_nan=True)  # (an array with NaN: equal)
    assert [h[0] for h in r.history] == [4, 5, 9]
    # the preview is the whole stack: frames done, the current one, NaN for those to come
    first = reports[0].preview["out"]
    assert np.all(first[0] == 1) and np.isnan(first[1:]).all()
    assert np.all(reports[4].preview["out"][0] == 8) and np.all(reports[4].preview["out"][1] == 1)


def test_a_stop_keeps_the_frames_run_and_the_rest_is_nan():
    stack = np.stack([np.full((8, 8), 3, np.float32)] * 3)
    polls = iter(range(100))
    _, r = _drain(F.each_frame(fake_steps, stack, {}, stop=lambda: next(polls) >= 5))
    assert r.stopped and r.params["frames_run"] == 2 and r.note == ["ran 3", "ran 1", None]
    assert np.isnan(r.out[2]).all() and np.all(r.out[:2] == 6)


def test_a_frame_stopped_while_it_was_set_up_is_not_a_result():
    """The stop came after the check between frames, before the frame's first step: its untrained output
    would have passed for a finished frame."""
    stack = np.stack([np.full((8, 8), 3, np.float32)] * 3)
    polls = iter(range(100))  # frame 0 polls 3 times, the check between frames once, then frame 1
    _, r = _drain(F.each_frame(fake_steps, stack, {}, stop=lambda: next(polls) >= 4))
    assert r.stopped and r.params["frames_run"] == 1 and r.iterations == 3 and np.isnan(r.out[1:]).all()


def test_a_setting_of_the_environment_is_not_said_as_a_frames_warning():
    def steps(frame, **kw):
        warn("NAPARI_DOUBLEDIP_PRECISION='bf16' is not 'float32' or 'bfloat16' (or 'auto'); ignored")
        return (yield from fake_steps(frame, **kw))

    with pytest.warns(UserWarning) as said:
        _drain(F.each_frame(steps, np.full((2, 8, 8), 1, np.float32), {}))
    assert [str(w.message) for w in said if "NAPARI" in str(w.message)] == [
        "NAPARI_DOUBLEDIP_PRECISION='bf16' is not 'float32' or 'bfloat16' (or 'auto'); ignored"
    ]  # (not "frame 0 (of 2): ...": the process's setting, not the frame's data)


def test_masked_frames_are_said_once_and_mixed_dtypes_are_not_scaled_together(recwarn):
    values = np.full((2, 8, 8), 2, np.float32)
    values[:, 0, 0] = 0
    stack = np.ma.masked_less(values, 1)
    _drain(F.each_frame(fake_steps, stack, {}))
    assert [str(w.message) for w in recwarn].count("the mask of frames (a masked array) is ignored: "
                                                   + F._MASK_ADVICE) == 1
    recwarn.clear()
    _drain(F.each_frame(fake_steps, [np.full((8, 8), 2, np.float32), np.full((8, 8), 2, np.uint8)], {}))
    assert not [w for w in recwarn if "together" in str(w.message)]  # (each frame runs in its own range)
    # ... and in its own dtype (stacked, the uint8 frame was run as float32: a review's case)
    seen = []

    def dtype_steps(frame, *, stop=None):
        seen.append(frame.dtype)
        return (yield from fake_steps(frame, stop=stop))

    _drain(F.each_frame(dtype_steps, [np.full((8, 8), 2, np.float32), np.full((8, 8), 2, np.uint8)], {}))
    assert seen == [np.float32, np.uint8]
    seen.clear()
    _drain(F.each_frame(dtype_steps, np.full((2, 8, 8), 2, np.uint16), {}))
    assert seen == [np.uint16, np.uint16]


def test_throw_reaches_the_frames_run_and_closing_closes_it():
    stack = np.stack([np.full((8, 8), 3, np.float32)] * 2)
    thrown = []
    gen = F.each_frame(fake_steps, stack, {"thrown": thrown})
    next(gen)
    with pytest.raises(KeyError, match="from the worker"):
        gen.throw(KeyError("from the worker"))
    assert len(thrown) == 1 and isinstance(thrown[0], KeyError)
    gen = F.each_frame(fake_steps, stack, {"thrown": thrown})
    next(gen)
    gen.close()  # (the worker's quit): the frame's run is closed with it, not left suspended
    assert thrown[1:] == ["closed"]


def test_long_stacks_are_previewed_smaller(monkeypatch):
    monkeypatch.setattr(F, "PREVIEW_STACK_BYTES", 4 * 10 * 16 * 16)  # 16 x 16 per frame for 10 frames
    stack = np.ones((10, 64, 64), np.float32)
    gen = F.each_frame(fake_steps, stack, {"budget": 2})
    first = next(gen)
    assert first.preview["out"].shape == (10, 16, 16)
    _, r = _drain(gen)
    assert r.out.shape == (10, 64, 64)  # the result at full size


def test_bad_stacks_are_refused_under_their_name():
    with pytest.raises(ValueError, match="frames contains NaN"):
        next(F.each_frame(fake_steps, np.full((2, 8, 8), np.nan), {}))
    stack = np.ones((12, 8, 8))
    stack[[3, 9], 2, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(2 of 768, in frames\[3\], frames\[9\];"):
        next(F.each_frame(fake_steps, stack, {}))  # which frames: a long stack's bad ones are found
    with pytest.raises(ValueError, match="frames must be"):
        next(F.each_frame(fake_steps, np.zeros((16, 16, 3)), {}))


def test_the_final_loss_is_the_mean_over_the_frames_that_have_one():
    """A frame whose loss is NaN (diverged) does not make the stack's NaN (a mutation review's case)."""

    def steps(frame, *, stop=None):
        yield Progress(iteration=1, total=1, loss=1.0, losses={}, preview=None, elapsed=0.0)
        loss = float("nan") if frame.flat[0] == 1 else 0.25
        return FakeResult(out=frame, note="", params={}, iterations=1, final_loss=loss, history=[(1, loss)])

    stack = np.stack([np.full((8, 8), v, np.float32) for v in (0, 1, 2)])
    assert _drain(F.each_frame(steps, stack, {}))[1].final_loss == 0.25
