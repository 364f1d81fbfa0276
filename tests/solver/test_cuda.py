"""CUDA checks: the solver's pieces give the CPU's numbers on a GPU, and runs there leave nothing behind.

Skipped where torch sees no CUDA device (CI has none). On a GPU machine run them with the task suite redirected
there: ``NAPARI_DOUBLEDIP_TEST_DEVICE=cuda pytest tests/solver/test_cuda.py tests/tasks`` (``benchmarks/gpu.sh``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture
def exact_float32():
    """cuDNN's TF32 convolutions differ from the CPU at ~1e-3: compare in full float32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("fast", [True, False])
def test_network_forward_and_backward_match_cpu(exact_float32, fast):
    from napari_doubledip.solver.networks import GroupedSkipNet, NetConfig

    torch.manual_seed(0)
    cfg = NetConfig(channels=(8, 16, 16), skip=(0, 4, 4), in_channels=4)
    net = GroupedSkipNet(cfg, out_channels=3, groups=2, fast=fast)
    gpu = GroupedSkipNet(cfg, out_channels=3, groups=2, fast=fast)
    gpu.load_state_dict(net.state_dict())
    gpu = gpu.cuda().to(memory_format=torch.channels_last)
    z = torch.rand(2, 8, 40, 24)
    y = net(z)
    y_gpu = gpu(z.cuda().contiguous(memory_format=torch.channels_last))
    assert torch.allclose(y, y_gpu.cpu(), atol=1e-5)
    y.square().sum().backward()
    y_gpu.square().sum().backward()
    for (name, p), p_gpu in zip(net.named_parameters(), gpu.parameters(), strict=True):
        assert torch.allclose(p.grad, p_gpu.grad.cpu(), atol=1e-4, rtol=1e-3), name


def test_filters_and_dihedral_match_cpu(exact_float32):
    from napari_doubledip.solver.augment import N_TRANSFORMS, dihedral, dihedral_inverse
    from napari_doubledip.solver.filters import guided_filter, guided_upsample

    gen = torch.Generator().manual_seed(0)
    guide, src = torch.rand(3, 48, 32, generator=gen), torch.rand(2, 48, 32, generator=gen)
    on_gpu = guided_filter(guide.cuda(), src.cuda(), 4).cpu()
    assert torch.allclose(guided_filter(guide, src, 4), on_gpu, atol=1e-5)
    low = torch.rand(2, 12, 8, generator=gen)
    assert torch.allclose(guided_upsample(guide, low, 4), guided_upsample(guide.cuda(), low.cuda(), 4).cpu(),
                          atol=1e-5)
    x = torch.rand(1, 3, 20, 12, generator=gen)
    for k in range(N_TRANSFORMS):
        assert torch.equal(dihedral(x.cuda(), k).cpu(), dihedral(x, k))
        assert torch.equal(dihedral_inverse(dihedral(x.cuda(), k), k).cpu(), x)


def _composite():
    from napari_doubledip import samples as S

    return S.texture_composite(48)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_segment_on_cuda_returns_host_arrays_and_frees_the_gpu(precision):
    import napari_doubledip as dd
    from napari_doubledip import samples as S

    s = _composite()
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    r = dd.segment(s.data, iterations=150, device="cuda", seed=0, precision=precision)
    torch.cuda.synchronize()
    assert r.device.startswith("cuda")
    assert r.precision == precision
    for a in (r.mask, r.foreground, r.background):
        assert isinstance(a, np.ndarray) and a.dtype == np.float32
    assert r.foreground.shape == s.data.shape
    assert max(S.iou(r.mask, s.truth["mask"]), S.iou(1 - r.mask, s.truth["mask"])) > 0.8
    assert torch.cuda.memory_allocated() - before < 1 << 20  # nothing of the run is left on the GPU


def test_auto_device_is_cuda():
    import napari_doubledip as dd

    s = _composite()
    r = dd.separate_layers([s.data, s.data[::-1]], iterations=5, device="auto", seed=0)
    assert r.device.startswith("cuda")
