import torch

from napari_doubledip.samples import two_mixtures
from napari_doubledip.solver import losses as L


def _layers():
    s = two_mixtures(48)
    a = torch.from_numpy(s.truth["layer1"])[None, None]
    b = torch.from_numpy(s.truth["layer2"])[None, None]
    return a, b


def test_exclusion_lower_for_independent_layers():
    a, b = _layers()
    independent = float(L.exclusion(a, b))
    identical = float(L.exclusion(a, a.clone()))
    assert independent < 0.8 * identical


def test_exclusion_is_differentiable():
    a, b = _layers()
    a.requires_grad_(True)
    L.exclusion(a, b).backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


def test_binary_mask_prefers_binary():
    binary = (torch.rand(1, 1, 16, 16) > 0.5).float()
    grey = torch.full((1, 1, 16, 16), 0.5) + 0.05 * torch.randn(1, 1, 16, 16)
    assert float(L.binary_mask(binary)) < float(L.binary_mask(grey))


def test_masked_l1_only_counts_masked_pixels():
    a, b = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    b[..., :4, :] = 1.0
    w = torch.zeros(1, 1, 8, 8)
    w[..., 4:, :] = 1
    assert float(L.masked_l1(a, b, w)) == 0.0
    w[..., :4, :] = 1
    assert abs(float(L.masked_l1(a, b, w)) - 0.5) < 1e-6


def test_smoothness_lower_for_smooth_map():
    yy = torch.linspace(0, 1, 32)[None, None, :, None].expand(1, 1, 32, 32)
    noisy = yy + 0.2 * torch.rand(1, 1, 32, 32)
    assert float(L.smoothness(yy)) < 0.1 * float(L.smoothness(noisy))


def test_reconstruction_kinds():
    a, b = torch.zeros(4), torch.full((4,), 2.0)
    assert float(L.reconstruction(a, b, "l1")) == 2.0
    assert float(L.reconstruction(a, b, "mse")) == 4.0


def test_exclusion_ignores_the_second_layers_gain_and_has_no_floor():
    """Zhang et al.'s balancing ratio is part of the loss: its gradient along a gain on the second layer is 0
    (the ratio was detached: 0.03, which dims that layer at no gain in the loss). And no offset floors it: at
    a tenth of the contrast, layers with the same edges still score about twice independent ones (an offset of
    1e-6 in the root made both 0.032)."""
    from skimage import data, transform

    a = torch.tensor(transform.resize(data.camera(), (64, 64)), dtype=torch.float32)[None, None]
    b = torch.tensor(transform.resize(data.coins(), (64, 64)), dtype=torch.float32)[None, None]
    gain = torch.ones((), requires_grad=True)
    L.exclusion(a, b * gain).backward()
    assert abs(float(gain.grad)) < 1e-5
    same, independent = float(L.exclusion(0.1 * a, 0.1 * a)), float(L.exclusion(0.1 * a, 0.1 * b))
    assert same > 1.5 * independent
    flat = torch.zeros_like(a, requires_grad=True)
    loss = L.exclusion(flat, b)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(flat.grad).all()


def test_total_variation_of_a_one_pixel_side_is_not_nan():
    from napari_doubledip.solver.losses import total_variation

    x = torch.tensor([[[[0.0, 1.0, 0.0, 1.0]]]])
    assert float(total_variation(x)) == 1.0 and float(total_variation(x.transpose(-1, -2))) == 1.0
    assert float(total_variation(torch.ones(1, 1, 1, 1))) == 0.0


def test_exclusion_averages_its_levels_at_halved_resolutions():
    """Each level is the last one downsampled 2x (a mutation review: every level at full size passed)."""
    from torch.nn import functional as F

    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 1, 1, 32, 32, generator=gen)
    one = L.exclusion(a, b, levels=1)
    half = L.exclusion(F.avg_pool2d(a, 2), F.avg_pool2d(b, 2), levels=1)
    torch.testing.assert_close(L.exclusion(a, b, levels=2), (one + half) / 2)
