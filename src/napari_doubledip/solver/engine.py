"""The one optimisation loop of Double-DIP, driven by a declarative :class:`Task`.

A task says *which* DIPs exist (:class:`DIP`), *how* their outputs mix into each observed image (``compose``),
and *which* losses apply with *which* weight schedules (:class:`Term`). Everything else (Adam, the learning-rate
schedule, dihedral augmentation of noise/targets/hint maps, input-noise perturbation, mini-batches of frames,
best-result tracking, progress reports with previews, cooperative stopping and the final test-time-augmented
evaluation) lives here, once, for every task.

:func:`optimise` is a generator: it yields :class:`Progress` reports and *returns* a :class:`Solution`, so a GUI
thread worker can drive it and ``yield from`` composes it into task generators.
"""

from __future__ import annotations

import contextvars
import copy
import inspect
import math
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

import numpy as np
import torch

from .augment import N_TRANSFORMS, dihedral, dihedral_inverse
from .device import resolve_precision
from .networks import GroupedSkipNet, NetConfig, safe_depth, split_groups
from .progress import Progress
from .stretches import with_plain_torch
from .threads import run_with_threads, threads_for

__all__ = [
    "DIP",
    "Term",
    "Task",
    "Step",
    "Progress",
    "Solution",
    "optimise",
    "step_work",
    "check_stop",
    "check_progress",
    "constant",
    "window",
    "ramp",
]

#: A loss weight (or noise level): a number, or a function of the run's progress ``t`` in ``[0, 1]``.
Schedule = Union[float, Callable[[float], float]]


def constant(value: float) -> Callable[[float], float]:
    """Schedule that is ``value`` throughout."""
    return lambda t: value


def window(value: float, start: float = 0.0, end: float = 1.0) -> Callable[[float], float]:
    """Schedule that is ``value`` for ``start <= t < end`` and 0 elsewhere (e.g. a hint phase)."""
    return lambda t: value if start <= t < end else 0.0


def ramp(v0: float, v1: float, start: float = 0.0, end: float = 1.0) -> Callable[[float], float]:
    """Schedule that is ``v0`` before ``start``, ``v1`` after ``end`` and linear in between."""

    def f(t: float) -> float:
        if t <= start:
            return v0
        if t >= end:
            return v1
        return v0 + (v1 - v0) * (t - start) / (end - start)

    return f


def _value(s: Schedule, t: float) -> float:
    return float(s(t)) if callable(s) else float(s)


@dataclass
class DIP:
    """One Deep-Image-Prior generator of a task.

    Parameters
    ----------
    out_channels
        Channels of its output (e.g. 3 for an RGB layer, 1 for a mask).
    config
        Network architecture.
    instances
        Number of noise inputs: 1 for a layer shared by all observations, or one per observation (per mixture,
        per frame) for a DIP that produces something different for each.
    size
        Spatial size of the noise input; ``None`` = the working size. Scalar DIPs use a small size.
    scalar
        Average the output over space: one value per channel and instance (mixing coefficients).
    noise_scale
        Amplitude of the fixed uniform noise input.
    walk
        If > 0, instance ``i+1``'s noise is instance ``i``'s plus ``U(-walk, walk)`` (paper Eq. 5), which makes
        the outputs of successive frames temporally coherent.
    """

    out_channels: int
    config: NetConfig = field(default_factory=NetConfig)
    instances: int = 1
    size: tuple[int, int] | None = None
    scalar: bool = False
    noise_scale: float = 0.1
    walk: float = 0.0


class _StepFn(Protocol):
    def __call__(self, step: Step) -> torch.Tensor: ...


@dataclass
class Term:
    """A weighted loss term. ``fn(step)`` returns a scalar tensor; ``weight`` may follow a schedule."""

    name: str
    fn: _StepFn
    weight: Schedule = 1.0


@dataclass
class Task:
    """Declarative description of one Double-DIP decomposition.

    Parameters
    ----------
    name
        Task name (reported in results).
    dips
        The generators, by name.
    target
        Observed images at working size, ``(N, C, H, W)`` float in [0, 1].
    compose
        Mixing model: ``compose(step)`` returns the predicted observations ``(n, C, H, W)`` for the step's
        batch from ``step.out`` (paper Eq. 2, 6, 7, 8).
    terms
        Loss terms with weights/schedules. The term named ``track`` selects the best snapshot.
    iterations
        Number of optimisation steps.
    maps
        Per-pixel auxiliary data (hint masks, boxes), ``(N or 1, K, H, W)``; augmented like the target.
    lr
        Peak Adam learning rate; decays with a cosine to ``lr * lr_floor`` over the run.
    batch
        Observations per iteration (mini-batch over frames); ``None`` = all.
    perturb
        Std of the Gaussian perturbation added to the noise inputs, a schedule over ``t``.
    augment
        Use the 8 dihedral transforms during optimisation and for the final evaluation.
    track, track_from
        The term whose value (at the identity transform, without perturbation) picks the best snapshot,
        and the progress fraction from which tracking starts (e.g. after a hint phase).
    patience
        Stop early when the tracked value has not improved by ``min_delta`` (relative) for this many checks.
    settle, settle_tol, settle_checks
        ``settle(outputs)`` picks what must stop changing from the outputs evaluated at a check, a non-negative
        ``(instances, ...)`` tensor (e.g. the binarised masks of every frame); once tracking has started, the run
        ends when its relative change from the previous check, ``sum|now - prev| / sum max(now, prev)`` per
        instance (``1 - IoU`` for binary masks), stays below ``settle_tol`` for every instance, ``settle_checks``
        checks in a row. ``None``: run the whole budget.
    check_every
        Iterations between checks (best tracking, previews, early stopping).
    restarts, restart_until, restart_select
        Multi-start for ambiguous problems: ``restarts`` candidates (seeds ``seed``, ``seed + RESTART_SEED_STEP``,
        ...) each run the first ``restart_until`` fraction (in ``[0, 1)``) of the iterations, steps and checks
        as in their own single runs; the one whose term ``restart_select`` (default: ``track``), evaluated at the
        identity frame, is lowest goes on to the end (early stopping applies after the pick only). The others
        cost ``(restarts - 1) * restart_until`` of a run. ``1``: no restarts.
    preview
        Turns evaluated outputs into a dict of user-facing numpy arrays for live previews.
    precision
        Compute dtype of the networks: ``"float32"`` (default), ``"bfloat16"`` (autocast), or ``"auto"`` for a
        task measured to keep its quality in bfloat16 (autocast where it pays; see
        :func:`~napari_doubledip.solver.device.resolve_precision`).
    """

    name: str
    dips: dict[str, DIP]
    target: torch.Tensor
    compose: _StepFn
    terms: list[Term]
    iterations: int
    maps: dict[str, torch.Tensor] = field(default_factory=dict)
    lr: float = 0.01
    lr_floor: float = 0.05
    batch: int | None = None
    perturb: Schedule = 0.0
    augment: bool = True
    track: str = "reconstruction"
    track_from: float = 0.0
    patience: int | None = None
    min_delta: float = 2e-3
    settle: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None
    settle_tol: float = 1e-3
    settle_checks: int = 2
    check_every: int = 25
    restarts: int = 1
    restart_until: float = 0.0
    restart_select: str | None = None
    preview: Callable[[dict[str, torch.Tensor]], dict[str, np.ndarray]] | None = None
    precision: str = "float32"


@dataclass
class Step:
    """What loss terms and ``compose`` see at one iteration (all in the augmented frame of the iteration)."""

    out: dict[str, torch.Tensor]
    target: torch.Tensor
    maps: dict[str, torch.Tensor]
    t: float
    index: torch.Tensor
    pred: torch.Tensor | None = None


#: Whether check points compute the task's previews. A blocking call without a progress callback turns them off
#: (nobody sees them; at full resolution they cost 15-30 % of a 2048 x 2048 run); the results do not change.
PREVIEWS: contextvars.ContextVar[bool] = contextvars.ContextVar("napari_doubledip_previews", default=True)


@dataclass
class Solution:
    """Outcome of :func:`optimise`: outputs of the best snapshot, per DIP, ``(I, C, h, w)`` at the DIP's own
    size (the working size unless the DIP sets ``size``; a ``scalar`` DIP's is ``(I, C, 1, 1)``).

    ``threads`` is the CPU thread count the run used (``None`` on a GPU); ``precision`` the compute dtype of the
    networks (``"float32"`` or ``"bfloat16"``); ``working_shape`` the ``(h, w)`` of the task's target.
    """

    outputs: dict[str, torch.Tensor]
    iterations: int
    final_loss: float
    history: list[tuple[int, float]]
    elapsed: float
    stopped: bool
    threads: int | None = None
    precision: str = "float32"
    working_shape: tuple[int, int] | None = None


StopRequest = Union[Callable[[], bool], Any, None]


def check_stop(stop: StopRequest) -> StopRequest:
    """Validate a stop request: ``None``, an object with ``is_set()`` (:class:`threading.Event`) or a callable.

    Raises
    ------
    TypeError
        For anything else (e.g. ``stop=True``, which would otherwise fail only at the first iteration).
    """
    if isinstance(stop, type):  # stop=threading.Event, the class: its is_set() needs an instance
        raise TypeError(
            f"stop is the class {stop.__name__}, not an object of it: pass an instance, e.g. "
            f"stop={stop.__name__}() (keep it to call .set() on)"
        )
    if stop is None or callable(getattr(stop, "is_set", None)):
        return stop
    if callable(stop):
        _check_takes(stop, 0, "stop", "a callable taking no argument (returning True to stop)")
        _refuse_coroutine(stop, "stop")
        return stop
    raise TypeError(
        "stop must be None, a threading.Event (anything with is_set()) or a callable returning True to stop, "
        f"got {type(stop).__name__} {stop!r}"
    )


def check_progress(progress: Callable[[Progress], Any] | None) -> Callable[[Progress], Any] | None:
    """Validate a progress callback: ``None`` or a callable (``TypeError`` otherwise)."""
    if progress is None:
        return progress
    if callable(progress):
        _check_takes(progress, 1, "progress", "a callable taking one argument (a Progress)")
        _refuse_coroutine(progress, "progress")
        return progress
    raise TypeError(f"progress must be None or a callable taking a Progress, got {type(progress).__name__}")


def _check_takes(func: Callable[..., Any], n: int, name: str, wanted: str) -> None:
    """``TypeError`` now, not at the first report, if ``func`` cannot be called with ``n`` positional arguments
    (callables whose signature Python cannot tell, e.g. some builtins, pass)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*([None] * n))
    except TypeError:
        raise TypeError(f"{name} must be {wanted}; {func!r} has the signature {sig}") from None


def _refuse_coroutine(func: Callable[..., Any], name: str) -> None:
    """An ``async def`` function returns a coroutine without running its body: as ``stop`` one that is always
    true (the run ended at once, untrained), as ``progress`` one never awaited (no report arrives)."""
    if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None)):
        raise TypeError(
            f"{name} must be a plain (def) function, got the async function {func!r}: the loop calls it without "
            "awaiting it, so its body would never run"
        )


def _stop_requested(stop: StopRequest) -> bool:
    if stop is None:
        return False
    if callable(getattr(stop, "is_set", None)):
        return bool(stop.is_set())
    value = stop()
    if callable(getattr(value, "is_set", None)):  # stop=multiprocessing.Event: a factory, each call a new event
        raise TypeError(
            f"stop returned {type(value).__name__} {value!r} instead of True / False: pass the event itself, "
            "e.g. stop=multiprocessing.Event() (keep it to call .set() on)"
        )
    try:
        return bool(value)
    except ValueError as exc:  # (e.g. a numpy array of several values: "truth value ... is ambiguous")
        raise TypeError(f"stop returned {type(value).__name__} {value!r}, not True / False") from exc


class _Group:
    """DIPs sharing an architecture, noise size and instance count, evaluated as one grouped network."""

    def __init__(
        self, names: list[str], specs: list[DIP], config: NetConfig, size, device, gen, weights_gen=None
    ) -> None:
        self.names, self.specs = names, specs
        self.sizes = [s.out_channels for s in specs]
        self.instances = specs[0].instances
        # channels_last + grouped convolutions: measured 2.4x faster than separate nets on CPU for small widths.
        net = GroupedSkipNet(config, max(self.sizes), groups=len(specs), generator=weights_gen)
        self.net = net.to(device, memory_format=torch.channels_last)
        noises = []
        for spec in specs:
            shape = (spec.instances, config.in_channels, *size)
            z = (torch.rand(shape, generator=gen) - 0.5) * spec.noise_scale
            if spec.walk > 0 and spec.instances > 1:
                steps = (torch.rand(shape, generator=gen) - 0.5) * 2 * spec.walk
                steps[0] = 0
                z = z[:1] + torch.cumsum(steps, dim=0)
            noises.append(z)
        self.noise = torch.cat(noises, dim=1).to(device).contiguous(memory_format=torch.channels_last)
        self._rotated: dict[int, torch.Tensor] = {}

    def _noise(self, index: torch.Tensor | None, k: int) -> torch.Tensor:
        """The noise input of these instances in dihedral frame ``k``, channels-last contiguous.

        Why: an odd rotation of a channels-last tensor is neither NCHW- nor NHWC-contiguous, and every
        convolution and reflection pad then copies it (forward and backward: ~1 ms of a 35 ms step at 128 px).
        The rotated noise of a whole group is kept (8 orientations of a few MB); batches are rotated per step.
        """
        whole = index is None or self.instances == 1
        z = self.noise if whole else self.noise[index]
        if not k:
            return z
        if whole and self.noise.numel() * self.noise.element_size() * N_TRANSFORMS <= _ROTATION_CACHE_BYTES:
            if k not in self._rotated:
                self._rotated[k] = dihedral(z, k).contiguous(memory_format=torch.channels_last)
            return self._rotated[k]
        return dihedral(z, k).contiguous(memory_format=torch.channels_last)

    def forward(self, index: torch.Tensor | None, k: int, std: float, gen) -> dict[str, torch.Tensor]:
        # The perturbation is i.i.d., so it is drawn in the rotated frame directly (same distribution).
        z = self._noise(index, k)
        if std > 0:
            z = torch.add(z, _gaussian_like(z, gen), alpha=std)
        y = self.net(z)
        outs = split_groups(y, len(self.names), self.sizes)
        result = {}
        for name, spec, o in zip(self.names, self.specs, outs, strict=True):
            result[name] = o.mean(dim=(-2, -1), keepdim=True) if spec.scalar else o
        return result


#: Largest noise input (bytes, all 8 orientations) whose dihedral rotations :class:`_Group` keeps.
_ROTATION_CACHE_BYTES = 64 * 2**20


def _gaussian_like(z: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Standard normal noise shaped like the 4-D ``z``, drawn from ``gen`` (on its device) in channels-last order.

    Drawn as ``(N, H, W, C)`` and viewed as ``(N, C, H, W)``: the sum with a channels-last ``z`` is one
    contiguous pass, and the result feeds the convolutions without a layout copy.
    """
    n, c, h, w = z.shape
    return torch.randn((n, h, w, c), generator=gen, device=gen.device).permute(0, 3, 1, 2).to(z.device)


def _perturbation_generator(device: torch.device, seed: int, cpu_gen: torch.Generator) -> torch.Generator:
    """Generator of the per-step input perturbation: ``cpu_gen`` on CPU, a seeded one on the device elsewhere.

    Why: drawing the perturbation on the host would copy a noise-sized tensor to the GPU every step.
    """
    if device.type == "cpu":
        return cpu_gen
    try:
        return torch.Generator(device=device).manual_seed(seed + 1)
    except (RuntimeError, TypeError):  # a backend without device generators: draw on the host
        return cpu_gen


def _build_groups(
    task: Task, device: torch.device, gen: torch.Generator, weights_gen: torch.Generator
) -> list[_Group]:
    dtype = resolve_precision(task.precision, device)
    h, w = task.target.shape[-2:]
    buckets: dict[tuple, list[tuple[str, DIP]]] = {}
    for name, spec in task.dips.items():
        size = spec.size or (h, w)
        config = spec.config.truncated(safe_depth(spec.config, *size))
        key = (config, size, spec.instances, spec.scalar)
        buckets.setdefault(key, []).append((name, spec))
    groups = []
    for (config, size, _, _), members in buckets.items():
        names = [m[0] for m in members]
        groups.append(_Group(names, [m[1] for m in members], config, size, device, gen, weights_gen))
        groups[-1].net.compute_dtype = dtype
    return groups


def _forward(groups, index, k, std, gen) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for g in groups:
        out.update(g.forward(index, k, std, gen))
    return out


def _select(x: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    return x if index is None or x.shape[0] == 1 else x[index]


def _losses(task: Task, step: Step) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    total = step.target.new_zeros(())
    values: dict[str, torch.Tensor] = {}
    for term in task.terms:
        w = _value(term.weight, step.t)
        if w == 0.0 and term.name != task.track:
            continue
        v = term.fn(step)
        values[term.name] = v.detach()
        if w != 0.0:
            total = total + w * v
    return total, values


@torch.no_grad()
def _evaluate(task: Task, groups: list[_Group], tta: bool, gen) -> dict[str, torch.Tensor]:
    """Outputs for every instance at the identity frame; averaged over the 8 transforms when ``tta``."""
    ks = range(N_TRANSFORMS) if (tta and task.augment) else [0]
    acc: dict[str, torch.Tensor] = {}
    n = task.target.shape[0]
    chunk = min(task.batch or n, n)  # (a batch larger than the instances: all of them at once)
    for k in ks:
        parts: dict[str, list[torch.Tensor]] = {}
        for start in range(0, n, chunk):
            # Every chunk holds exactly ``chunk`` instances (the last one overlaps its predecessor): the
            # networks normalise with the statistics of the batch, and training only ever saw full batches;
            # a short last chunk gave its frames outputs no step had fitted (a lone 9th frame's raw mask: IoU
            # 0.90, against 0.95-0.96 inside any batch of 4; its refined mask 0.960 -> 0.977).
            lo = min(start, n - chunk)
            index = torch.arange(lo, lo + chunk, device=task.target.device)
            out = _forward(groups, index if chunk < n else None, k, 0.0, gen)
            for name, o in out.items():
                if task.dips[name].instances == 1:
                    if start > 0:
                        continue
                else:
                    o = o[start - lo:]
                parts.setdefault(name, []).append(o if task.dips[name].scalar else dihedral_inverse(o, k))
        for name, p in parts.items():
            o = torch.cat(p, dim=0)
            acc[name] = acc[name] + o if name in acc else o
    return {name: o / len(ks) for name, o in acc.items()}


def _term_value(task: Task, outputs: dict[str, torch.Tensor], name: str) -> float:
    """Value of the term ``name`` on evaluated outputs (all instances, identity frame)."""
    index = torch.arange(task.target.shape[0], device=task.target.device)
    step = Step(out=outputs, target=task.target, maps=task.maps, t=1.0, index=index)
    step.pred = task.compose(step)
    for term in task.terms:
        if term.name == name:
            return float(term.fn(step))
    raise KeyError(f"task {task.name!r} has no term named {name!r}")


def _adam(params: list[torch.Tensor], lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam, fused where torch supports it (measured ~3x cheaper optimiser step on CPU), else the default."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


def optimise(
    task: Task,
    *,
    device: torch.device,
    seed: int = 0,
    report_every: int = 5,
    stop: StopRequest = None,
) -> Generator[Progress, None, Solution]:
    """Optimise the task's DIPs; yield :class:`Progress` every ``report_every`` iterations; return a Solution.

    Stopping: ``stop`` (an object with ``is_set()`` such as :class:`threading.Event`, or a callable returning
    ``True``) is checked every iteration; when set, the loop ends early and the best snapshot so far is returned
    with ``stopped=True``. Closing the generator also stops it (without a result). The loop runs with gradients
    on, float32 as the default dtype and no autocast of the caller's (:func:`.stretches.plain_torch`), also when
    called under ``torch.no_grad()``.
    """
    check_stop(stop)
    # (patience and settle_checks of 0 would end the run at its first check, before any tracking)
    counts = [("report_every", report_every, "iterations"), ("task.check_every", task.check_every, "iterations")]
    counts += [("task.settle_checks", task.settle_checks, "checks")]
    counts += [("task.patience", task.patience, "checks")] if task.patience is not None else []
    for name, every, unit in counts:
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"{name} must be a whole number of {unit} >= 1, got {every!r}")
    t0 = time.perf_counter()
    device = torch.device(device)
    # CPU: the thread count follows the work of one step (solver/threads.py), applied between reports only.
    work = step_work(task)
    threads = threads_for(work, torch.get_num_threads()) if device.type == "cpu" else None
    loop = with_plain_torch(_loop(task, device, seed, report_every, stop, t0))
    solution = yield from run_with_threads(loop, device, threads)
    solution.threads = threads
    return solution


def step_work(task: Task) -> int:
    """Work of one optimisation step: sum over the DIPs of (noise inputs per step x pixels x first-level channels).

    A DIP with one instance counts once; one with an instance per observation counts the mini-batch.
    """
    n, (h, w) = task.target.shape[0], task.target.shape[-2:]
    batch = min(task.batch or n, n)
    work = 0
    for spec in task.dips.values():
        sh, sw = spec.size or (h, w)
        work += (batch if spec.instances > 1 else 1) * sh * sw * spec.config.channels[0]
    return int(work)


def _relative_change(now: torch.Tensor, prev: torch.Tensor) -> float:
    """Largest per-instance ``sum|now - prev| / sum max(now, prev)`` (0 where both are all zero)."""
    rows = now.shape[0] if now.dim() else 1
    now, prev = now.reshape(rows, -1), prev.reshape(rows, -1)
    diff = (now - prev).abs().sum(1)
    union = torch.maximum(now, prev).sum(1).clamp_min(1e-12)
    return float((diff / union).max())


class _Run:
    """One optimisation's state: its seeded generators, networks, optimiser and mini-batch order."""

    def __init__(self, task: Task, device: torch.device, seed: int) -> None:
        # Seeded generators of this run only: same seed -> same numbers on CPU, whatever other threads draw from
        # torch's global RNG meanwhile, and theirs is left alone. The weights have their own (seeded as the
        # global RNG once was for them, so a seed gives the weights it gave before).
        self.gen = torch.Generator().manual_seed(seed)
        self.groups = _build_groups(task, device, self.gen, torch.Generator().manual_seed(seed))
        self.opt = _adam([p for g in self.groups for p in g.net.parameters()], task.lr, device)
        self.noise_gen = _perturbation_generator(device, seed, self.gen)
        self.n = task.target.shape[0]
        self.batch = min(task.batch or self.n, self.n)
        self.perm = torch.randperm(self.n, generator=self.gen)
        self.cursor = 0
        self.device = device
        # best-snapshot tracking and early stopping
        self.best_value, self.best_state = math.inf, None
        self.plateau_ref = math.inf
        self.history: list[tuple[int, float]] = []
        self.since_best, self.settled, self.settle_prev = 0, 0, None
        self.pending: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []

    def step(self, task: Task, it: int, total_its: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Iteration ``it`` (1-based) of a ``total_its`` run: one Adam step; returns the loss and term values."""
        t = (it - 1) / total_its
        for pg in self.opt.param_groups:  # cosine decay to lr * lr_floor
            pg["lr"] = task.lr * (task.lr_floor + (1 - task.lr_floor) * 0.5 * (1 + math.cos(math.pi * t)))
        n, batch = self.n, self.batch
        if batch < n:
            if self.cursor + batch > n:
                self.perm, self.cursor = torch.randperm(n, generator=self.gen), 0
            index = self.perm[self.cursor : self.cursor + batch].to(self.device)
            self.cursor += batch
        else:
            index = None
        k = int(torch.randint(N_TRANSFORMS, (1,), generator=self.gen)) if task.augment else 0
        std = _value(task.perturb, t)
        out = _forward(self.groups, index, k, std, self.noise_gen)
        target = _select(task.target, index)
        maps = {name: _select(m, index) for name, m in task.maps.items()}
        if k:
            target = dihedral(target, k)
            maps = {name: dihedral(m, k) for name, m in maps.items()}
        step = Step(
            out=out,
            target=target,
            maps=maps,
            t=t,
            index=index if index is not None else torch.arange(n, device=self.device),
        )
        step.pred = task.compose(step)
        loss, values = _losses(task, step)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), values

    def check(self, task: Task, it: int, total_its: int) -> dict[str, np.ndarray] | None:
        """A check point: evaluate, track the best snapshot and the settling; returns the preview (if any)."""
        t = (it - 1) / total_its
        outputs = _evaluate(task, self.groups, tta=False, gen=self.gen)
        value = _term_value(task, outputs, task.track)
        self.history.append((it, value))
        if t >= task.track_from or it == total_its:
            # A NaN check (a diverged step) ranks last: kept as best, it would win every later comparison.
            ranked = math.inf if math.isnan(value) else value
            # The plateau is measured from a reference that moves only by at least min_delta, so steady small
            # gains that add up to more than min_delta over the patience window are not a plateau.
            ref = self.plateau_ref
            bar = ref - task.min_delta * abs(ref) if math.isfinite(ref) else ref
            if self.best_state is None or ranked < bar:
                self.since_best, self.plateau_ref = 0, ranked
            else:
                self.since_best += 1
            if ranked < self.best_value or self.best_state is None:
                self.best_value = ranked
                self.best_state = [copy.deepcopy(g.net.state_dict()) for g in self.groups]
        if task.settle is not None:
            now = task.settle(outputs)
            if self.settle_prev is not None and t >= task.track_from:
                self.settled = self.settled + 1 if _relative_change(now, self.settle_prev) < task.settle_tol else 0
            self.settle_prev = now
        if task.preview is not None and PREVIEWS.get():
            return task.preview(outputs)
        return None

    def done_early(self, task: Task) -> bool:
        """Whether early stopping (plateau or settled outputs) ends the run."""
        return (task.patience is not None and self.since_best >= task.patience) or (
            task.settle is not None and self.settled >= task.settle_checks
        )


#: Seed offset between restart candidates (candidate 0 uses the run's seed itself).
RESTART_SEED_STEP = 1_000_003


def _check_restarts(task: Task) -> None:
    if int(task.restarts) < 1 or not 0.0 <= float(task.restart_until) < 1.0:
        raise ValueError(
            f"task {task.name!r}: restarts must be >= 1 and restart_until in [0, 1), got {task.restarts} and "
            f"{task.restart_until}"
        )
    select = task.restart_select or task.track
    if task.restarts > 1 and select not in {term.name for term in task.terms}:
        raise ValueError(f"task {task.name!r} has no term named {select!r} to pick restarts by")


def _steps(
    task: Task,
    run: _Run,
    first: int,
    last: int,
    offset: int,
    grand_total: int,
    report_every: int,
    stop: StopRequest,
    t0: float,
    early: bool,
) -> Generator[Progress, None, tuple[int, bool]]:
    """Iterations ``first..last`` of ``run``, reported as ``offset + it`` of ``grand_total``; returns the last
    iteration done and whether a stop request ended them. ``early``: early stopping may end them."""
    total_its = max(int(task.iterations), 1)
    it = first - 1
    for it in range(first, last + 1):
        if _stop_requested(stop):
            return it - 1, True
        run.pending.append(run.step(task, it, total_its))
        check = it % task.check_every == 0 or it == total_its
        if (it + offset) % report_every == 0 or check:
            # One host sync per report: the loss values of this iteration.
            loss = float(run.pending[-1][0])
            values = {key: float(v) for key, v in run.pending[-1][1].items()}
            run.pending.clear()
            preview = run.check(task, it, total_its) if check else None
            # An early stop's last report plans no more iterations: a GUI then shows the run as finishing (the
            # result made at full size) instead of waiting for iterations that will not come.
            ending = early and run.done_early(task)
            total = it + offset if ending else grand_total
            yield Progress(it + offset, total, loss, values, preview, time.perf_counter() - t0)
            if ending:
                return it, False
    return it, False


def _loop(
    task: Task,
    device: torch.device,
    seed: int,
    report_every: int,
    stop: StopRequest,
    t0: float,
) -> Generator[Progress, None, Solution]:
    _check_restarts(task)
    total_its = max(int(task.iterations), 1)
    explore = min(round(task.restart_until * total_its), total_its - 1) if task.restarts > 1 else 0
    candidates = int(task.restarts) if explore > 0 else 1
    grand_total = total_its + (candidates - 1) * explore  # the candidates not kept cost their steps too
    run, stopped, it = None, False, 0

    if candidates > 1:
        # Restarts: each candidate runs (and checks) the first ``explore`` iterations of the schedule, as its
        # single run would; the one whose evaluated ``restart_select`` term is lowest goes on. Early stopping
        # applies after the pick only.
        best_score = math.inf
        for c in range(candidates):
            cand = _Run(task, device, seed + c * RESTART_SEED_STEP)
            it, stopped = yield from _steps(
                task, cand, 1, explore, c * explore, grand_total, report_every, stop, t0, early=False
            )
            if stopped:  # go on with the best finished candidate, else with this one as it is
                run, it = (cand, it) if run is None else (run, explore)
                break
            outputs = _evaluate(task, cand.groups, tta=False, gen=cand.gen)
            score = _term_value(task, outputs, task.restart_select or task.track)
            score = math.inf if math.isnan(score) else score  # (a diverged candidate ranks last)
            if score < best_score or run is None:
                best_score, run = score, cand
            del cand, outputs  # a candidate not kept is freed now
        start, offset = explore + 1, (candidates - 1) * explore
    else:
        run, start, offset = _Run(task, device, seed), 1, 0
    if not stopped:
        it, stopped = yield from _steps(
            task, run, start, total_its, offset, grand_total, report_every, stop, t0, early=True
        )

    groups = run.groups
    if run.best_state is not None:
        for g, state in zip(groups, run.best_state, strict=True):
            g.net.load_state_dict(state)
    # else: stopped before the first check, the current weights are the result
    outputs = _evaluate(task, groups, tta=True, gen=run.gen)
    final = _term_value(task, outputs, task.track)
    dtype = groups[0].net.compute_dtype  # what the networks ran in (one choice for all groups)
    return Solution(
        outputs=outputs,
        iterations=it,
        final_loss=final,
        history=run.history,
        elapsed=time.perf_counter() - t0,
        stopped=stopped,
        precision="float32" if dtype is None else str(dtype).removeprefix("torch."),
        working_shape=(int(task.target.shape[-2]), int(task.target.shape[-1])),
    )


def run(task: Task, *, device: torch.device, seed: int = 0, stop: StopRequest = None) -> Solution:
    """Blocking form of :func:`optimise` (drains the generator)."""
    return drain(optimise(task, device=device, seed=seed, stop=stop))


def drain(gen: Generator[Progress, None, Any], progress: Callable[[Progress], Any] | None = None) -> Any:
    """Run a progress generator to the end, passing each report to ``progress``; return its return value.

    If ``progress`` raises, the generator is closed before the exception propagates (an exception kept in the
    console's history must not keep the run's networks and images alive). An exception raised inside the run
    (Ctrl-C during a step, a failing ``stop`` callable) ends it; its traceback's frames of the run are cleared
    (their variables, not the lines it prints), for the same reason.
    """
    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as done:
                return done.value
            except BaseException as exc:
                traceback.clear_frames(exc.__traceback__)  # (the ended run's frames; running ones are skipped)
                raise
            if progress is not None:
                progress(p)
    finally:
        gen.close()
