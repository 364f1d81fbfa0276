"""Deep-Image-Prior generator networks.

The "skip" encoder-decoder of Ulyanov et al. (2018) as Double-DIP uses it: per level a stride-2 convolution
downsampling, bilinear upsampling on the way back, optional 1x1 skip branches, BatchNorm, LeakyReLU, reflection
padding and a sigmoid head.

Several DIPs of the same architecture are evaluated as *one* module with grouped convolutions
(``groups=G``): the coupled DIPs of a task cost one forward pass instead of ``G`` small ones, which matters
on CPU where these tiny convolutions are dominated by per-call overhead. BatchNorm statistics are per channel,
so a grouped network is exactly ``G`` independent networks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import skip_init

__all__ = ["NetConfig", "GroupedSkipNet", "safe_depth"]


@dataclass(frozen=True)
class NetConfig:
    """Architecture of one DIP generator.

    Parameters
    ----------
    channels
        Feature channels per level (the encoder depth is ``len(channels)``).
    skip
        Channels of the 1x1 skip branch per level (0 = no skip at that level).
    kernel
        Spatial kernel size of the down/up convolutions.
    in_channels
        Channels of the noise input.
    coarsest
        Fewest pixels across the coarsest level that :func:`safe_depth` leaves (0: as few as the reflection
        padding allows). A network without skip branches passes everything through that level.
    """

    channels: tuple[int, ...] = (16, 32, 64)
    skip: tuple[int, ...] = (0, 0, 4)
    kernel: int = 3
    in_channels: int = 8
    coarsest: int = 0

    def __post_init__(self) -> None:
        if len(self.skip) != len(self.channels):
            raise ValueError("NetConfig: `skip` needs one entry per level of `channels`")

    def truncated(self, depth: int) -> NetConfig:
        """The same architecture with only its first ``depth`` levels (for tiny images)."""
        depth = max(1, min(depth, len(self.channels)))
        return NetConfig(self.channels[:depth], self.skip[:depth], self.kernel, self.in_channels, self.coarsest)


def safe_depth(config: NetConfig, height: int, width: int) -> int:
    """Largest number of levels such that reflection padding stays valid at the coarsest level, and that level
    keeps at least ``config.coarsest`` pixels across; at least 1 (a ``ValueError`` when even one level cannot
    be built: the tasks refuse images under 8 x 8 before that)."""
    pad = config.kernel // 2
    floor = max(pad, config.coarsest - 1)
    depth, h, w = 0, height, width
    while depth < len(config.channels):
        h, w = (h + 1) // 2, (w + 1) // 2
        if min(h, w) <= floor:
            break
        depth += 1
    if depth == 0 and min((height + 1) // 2, (width + 1) // 2) <= pad:  # (reflection padding needs > pad)
        raise ValueError(
            f"a {height} x {width} input is too small for the network's {config.kernel} x {config.kernel} "
            f"convolutions: at least {2 * pad + 1} pixels a side"
        )
    return max(depth, 1)


class _Pointwise(nn.Module):
    """Grouped 1x1 convolution as one matrix product over the channels of a channels_last tensor.

    Same initialisation (and so the same numbers for a seed) as ``nn.Conv2d(cin * groups, cout * groups, 1,
    groups=groups)``; the weight is stored as ``(groups, cout, cin)`` instead of ``(groups * cout, cin, 1, 1)``.
    Why: on one CPU thread torch runs small-batch 1x1 convolutions on its slow path, group by group, with layout
    copies; here the weight is assembled block-diagonally and the whole layer is a single GEMM on the (free) NHWC
    view. Measured 10-13 % off a training step of the default nets.
    """

    def __init__(
        self, cin: int, cout: int, groups: int, bias: bool = True, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        weight = _default_weight(torch.empty(cout * groups, cin, 1, 1), generator)
        b = _default_bias(cout * groups, cin, generator)
        self.weight = nn.Parameter(weight.reshape(groups, cout, cin))
        self.bias = nn.Parameter(b) if bias else None
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.block_diag(*self.weight.unbind(0)) if self.groups > 1 else self.weight[0]
        return F.linear(x.permute(0, 2, 3, 1), w, self.bias).permute(0, 3, 1, 2)


def _default_weight(weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``nn.Conv2d``'s default weight initialisation, in place (drawn from ``generator``, else the global RNG).

    What ``nn.init.kaiming_uniform_(weight, a=math.sqrt(5))`` draws, bit for bit, written out because its
    ``generator`` argument needs torch 2.2.
    """
    fan_in = weight.shape[1] * math.prod(weight.shape[2:])
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))  # leaky_relu gain of the slope sqrt(5)
    bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
    with torch.no_grad():
        return weight.uniform_(-bound, bound, generator=generator)


def _default_bias(n: int, fan_in: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``nn.Conv2d``'s default bias initialisation (drawn from ``generator``, else the global RNG)."""
    bound = 1 / math.sqrt(fan_in)
    return torch.empty(n).uniform_(-bound, bound, generator=generator)


def _conv(
    cin: int,
    cout: int,
    k: int,
    groups: int,
    stride: int = 1,
    fast: bool = True,
    bias: bool = True,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Grouped convolution ``cin * groups -> cout * groups`` (reflection padded if ``k > 1``).

    ``bias=False`` (only with ``fast``) leaves out the bias of a convolution that feeds a BatchNorm: the
    networks always normalise with batch statistics (DIP trains and evaluates in training mode), which subtract
    any per-channel constant, so that bias has no effect on the output and a zero gradient; leaving it out
    saves its broadcast add and gradient reduction (measured ~3 % of a step at 128 px). Its initial values are
    still drawn, so a seed gives the same weights as with the bias.

    The weights are drawn as ``nn.Conv2d`` draws them, from ``generator`` (else the global RNG).
    """
    if k == 1 and stride == 1 and fast:
        return _Pointwise(cin, cout, groups, bias=bias, generator=generator)
    conv = skip_init(  # no draw from the global RNG here: it is shared by every thread
        nn.Conv2d,
        cin * groups,
        cout * groups,
        k,
        stride=stride,
        padding=k // 2,
        padding_mode="reflect" if k > 1 else "zeros",
        groups=groups,
        bias=bias or not fast,
    )
    with torch.no_grad():  # nn.Conv2d.reset_parameters, with the generator
        _default_weight(conv.weight, generator)
        b = _default_bias(cout * groups, cin * k * k, generator)
        if conv.bias is not None:
            conv.bias.copy_(b)
    return conv


class _GConv(nn.Sequential):
    """Grouped conv (reflection padded) + BatchNorm + LeakyReLU."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int,
        groups: int,
        stride: int = 1,
        act: bool = True,
        fast: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        # No bias before the BatchNorm (see _conv).
        conv = _conv(cin, cout, k, groups, stride, fast, bias=False, generator=generator)
        layers: list[nn.Module] = [conv, nn.BatchNorm2d(cout * groups)]
        if act:
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        super().__init__(*layers)


def _group_cat(a: torch.Tensor, b: torch.Tensor, groups: int) -> torch.Tensor:
    """Concatenate channels group by group, keeping the grouped-conv channel layout."""
    n, _, h, w = a.shape
    return torch.cat([a.reshape(n, groups, -1, h, w), b.reshape(n, groups, -1, h, w)], dim=2).reshape(n, -1, h, w)


class GroupedSkipNet(nn.Module):
    """``groups`` independent DIP skip networks of one architecture, run as one module.

    Input: ``(B, groups * in_channels, H, W)`` noise, group-major. Output: ``(B, groups * out_channels, H, W)``
    in ``[0, 1]`` (sigmoid head), group-major. ``fast=False`` builds every 1x1 convolution as a plain
    ``nn.Conv2d`` (the naive baseline of ``benchmarks/speed.py``); the function is the same.

    ``compute_dtype``: ``None`` runs in float32; ``torch.bfloat16`` runs the body under ``torch.autocast``
    (weights, gradients and optimiser stay float32). The 1x1 head and the sigmoid always run in
    float32, so that outputs are not quantised to 8 mantissa bits (bf16 steps of 1/256 near 1 would cap a layer's
    PSNR around 50 dB).
    """

    compute_dtype: torch.dtype | None = None

    def __init__(
        self,
        config: NetConfig,
        out_channels: int,
        groups: int = 1,
        fast: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.config, self.out_channels, self.groups = config, out_channels, groups
        k, g, gen = config.kernel, groups, generator
        self.down = nn.ModuleList()
        self.skip = nn.ModuleList()
        self.up = nn.ModuleList()
        cin = config.in_channels
        for level, (c, s) in enumerate(zip(config.channels, config.skip, strict=True)):
            self.down.append(
                nn.Sequential(
                    _GConv(cin, c, k, g, stride=2, fast=fast, generator=gen),
                    _GConv(c, c, k, g, fast=fast, generator=gen),
                )
            )
            self.skip.append(_GConv(cin, s, 1, g, fast=fast, generator=gen) if s > 0 else nn.Identity())
            deeper = config.channels[level + 1] if level + 1 < len(config.channels) else c
            self.up.append(
                nn.Sequential(
                    nn.BatchNorm2d((s + deeper) * g),
                    _GConv(s + deeper, c, k, g, fast=fast, generator=gen),
                    _GConv(c, c, 1, g, fast=fast, generator=gen),
                )
            )
            cin = c
        self.head = _conv(config.channels[0], out_channels, 1, g, fast=fast, generator=gen)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        dtype = self.compute_dtype
        if dtype is None:
            return torch.sigmoid(self.head(self._body(z)))
        with torch.autocast(z.device.type, dtype=dtype):
            x = self._body(z)
        with torch.autocast(z.device.type, enabled=False):
            return torch.sigmoid(self.head(x.float()))

    def _body(self, z: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor | None] = []
        sizes: list[tuple[int, int]] = []
        x = z
        for down, skip, s in zip(self.down, self.skip, self.config.skip, strict=True):
            skips.append(skip(x) if s > 0 else None)
            sizes.append((x.shape[-2], x.shape[-1]))
            x = down(x)
        for level in reversed(range(len(self.down))):
            x = F.interpolate(x, size=sizes[level], mode="bilinear", align_corners=False)
            sk = skips[level]
            if sk is not None:
                x = _group_cat(sk, x, self.groups)
            x = self.up[level](x)
        return x


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def split_groups(y: torch.Tensor, groups: int, sizes: Sequence[int]) -> list[torch.Tensor]:
    """Split a grouped output ``(B, groups * C, H, W)`` into one ``(B, sizes[i], H, W)`` tensor per group."""
    n, _, h, w = y.shape
    # unbind, not indexing: its backward is one stack instead of a zero-filled copy of ``y`` per group.
    parts = y.reshape(n, groups, -1, h, w).unbind(1)
    return [p if p.shape[1] == c else p[:, :c] for p, c in zip(parts, sizes, strict=True)]
