import pytest
import torch

from napari_doubledip.solver.networks import GroupedSkipNet, NetConfig, safe_depth, split_groups


@pytest.mark.parametrize("shape", [(32, 32), (24, 40), (17, 9)])
@pytest.mark.parametrize("skip", [(0, 0, 0), (0, 4, 4)])
def test_output_shape_and_range(shape, skip):
    cfg = NetConfig(channels=(8, 16, 16), skip=skip, in_channels=4)
    cfg = cfg.truncated(safe_depth(cfg, *shape))
    net = GroupedSkipNet(cfg, out_channels=3, groups=2)
    with torch.no_grad():
        y = net(torch.rand(2, 8, *shape))
    assert y.shape == (2, 6, *shape)
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_groups_are_independent_networks():
    """Changing group 1's input must not change group 0's output (grouped convs do not mix groups)."""
    torch.manual_seed(0)
    net = GroupedSkipNet(NetConfig(channels=(8, 16), skip=(2, 2), in_channels=4), out_channels=1, groups=2).eval()
    z = torch.rand(1, 8, 16, 16)
    z2 = z.clone()
    z2[:, 4:] = torch.rand(1, 4, 16, 16)
    a, b = split_groups(net(z), 2, [1, 1]), split_groups(net(z2), 2, [1, 1])
    assert torch.allclose(a[0], b[0])
    assert not torch.allclose(a[1], b[1])


def test_safe_depth_limits_levels_for_tiny_images():
    cfg = NetConfig(channels=(8, 16, 32, 64, 128), skip=(0,) * 5, kernel=5)
    assert safe_depth(cfg, 8, 8) < 5
    assert safe_depth(cfg, 256, 256) == 5
    # (a review's case) too small for even one level: said, not a reflection-padding error in the forward pass
    with pytest.raises(ValueError, match="2 x 9 input is too small for the network's 3 x 3 convolutions"):
        safe_depth(NetConfig(channels=(8, 16), skip=(0, 0)), 2, 9)
    assert safe_depth(NetConfig(channels=(8, 16), skip=(0, 0)), 3, 9) == 1
    one = NetConfig(channels=(8, 16), skip=(0, 0), in_channels=2).truncated(1)
    assert GroupedSkipNet(one, out_channels=1, groups=1)(torch.rand(1, 2, 3, 9)).shape == (1, 1, 3, 9)


def test_safe_depth_keeps_the_coarsest_level_a_config_asks_for():
    """Levels of 10 x 128: 5, 3, 2 px across; a config asking for 4 px keeps one level (5 px), others all three
    (e.g. the watermark's 8 x 8 colour net keeps its two levels)."""
    plain = NetConfig(channels=(8, 16, 32), skip=(0, 0, 0))
    assert safe_depth(plain, 10, 128) == 3 and safe_depth(NetConfig(channels=(8, 16), skip=(0, 0)), 8, 8) == 2
    wide = NetConfig(channels=(8, 16, 32), skip=(0, 0, 0), coarsest=4)
    assert safe_depth(wide, 10, 128) == 1 and safe_depth(wide, 16, 16) == 2 and safe_depth(wide, 32, 32) == 3
    assert wide.truncated(1).coarsest == 4


def test_config_validation():
    with pytest.raises(ValueError, match="skip"):
        NetConfig(channels=(8, 16), skip=(0,))


@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_pointwise_layers_match_plain_convolutions(channels_last):
    """The fast layers (1x1 convolutions as one GEMM, no bias before a BatchNorm) against plain nn.Conv2d ones:
    same initial weights, outputs and gradients, and the biases the fast net leaves out are dead weight."""
    cfg = NetConfig(channels=(8, 16), skip=(2, 2), in_channels=4)
    nets = []
    for fast in (True, False):
        torch.manual_seed(0)
        net = GroupedSkipNet(cfg, out_channels=3, groups=3, fast=fast)
        nets.append(net.to(memory_format=torch.channels_last) if channels_last else net)
    fast, plain = nets
    fast_params, plain_params = dict(fast.named_parameters()), dict(plain.named_parameters())
    dropped = set(plain_params) - set(fast_params)
    assert not set(fast_params) - set(plain_params)
    assert dropped and all(name.endswith("bias") for name in dropped)
    assert "head.bias" in fast_params  # the output head keeps its bias (no BatchNorm after it)
    for name, a in fast_params.items():
        assert torch.equal(a.reshape(plain_params[name].shape), plain_params[name]), name
    z = torch.rand(2, 12, 20, 16)
    if channels_last:
        z = z.contiguous(memory_format=torch.channels_last)
    ya, yb = fast(z), plain(z)
    assert torch.allclose(ya, yb, atol=1e-6)
    ya.square().sum().backward()
    yb.square().sum().backward()
    for name, a in fast_params.items():
        assert torch.allclose(a.grad.reshape(plain_params[name].shape), plain_params[name].grad, atol=1e-4,
                              rtol=1e-4), name
    # the plain net's biases in front of a BatchNorm get rounding noise as gradient; the others reach ~100
    largest = max(float(p.grad.abs().max()) for p in plain_params.values())
    assert largest > 1.0
    for name in dropped:
        assert float(plain_params[name].grad.abs().max()) < 1e-4 * largest, name


def test_bfloat16_body_keeps_float32_outputs_close_to_float32():
    """Autocast runs the body in bf16; the head and sigmoid stay float32, so outputs are not bf16-quantised."""
    torch.manual_seed(0)
    net = GroupedSkipNet(NetConfig(channels=(8, 16), skip=(0, 2), in_channels=4), out_channels=3, groups=2)
    z = torch.rand(1, 8, 32, 32)
    y32 = net(z)
    net.compute_dtype = torch.bfloat16
    y16 = net(z)
    assert y16.dtype == torch.float32
    assert float((y16 - y32).detach().abs().max()) < 0.05
    # not on the bf16 grid: a float32 head makes values between bf16 steps
    assert not torch.equal(y16, y16.to(torch.bfloat16).float())
    y16.mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in net.parameters())


def test_weights_come_from_the_generator_as_torch_draws_them():
    """A seed gives the weights nn.Conv2d's own initialisation draws after torch.manual_seed(seed) (what runs
    used before the run-local generator), and building a network leaves the global RNG alone."""
    from napari_doubledip.solver.networks import _conv

    torch.manual_seed(4)
    ref = torch.nn.Conv2d(6, 10, 3, groups=2)
    ours = _conv(3, 5, 3, 2, fast=True, bias=True, generator=torch.Generator().manual_seed(4))
    assert torch.equal(ours.weight, ref.weight) and torch.equal(ours.bias, ref.bias)
    torch.manual_seed(4)
    ref1 = torch.nn.Conv2d(6, 10, 1, groups=2)
    ours1 = _conv(3, 5, 1, 2, fast=True, generator=torch.Generator().manual_seed(4))  # the 1x1 GEMM form
    assert torch.equal(ours1.weight, ref1.weight.reshape(2, 5, 3)) and torch.equal(ours1.bias, ref1.bias)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    GroupedSkipNet(NetConfig(channels=(8, 16), skip=(2, 2), in_channels=4), 3, groups=2,
                   generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.rand(3), expected)


def test_layers_are_the_dip_skip_architecture():
    """Per level a stride-2 reflection-padded convolution and a stride-1 one, each followed by BatchNorm and
    LeakyReLU(0.2); the decoder starts each level with a BatchNorm (mutations: zero padding, stride 1, ReLU)."""
    from torch import nn

    cfg = NetConfig(channels=(8, 16, 16), skip=(0, 4, 4), kernel=5, in_channels=4)
    net = GroupedSkipNet(cfg, out_channels=3, groups=2)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    assert convs and all(m.padding_mode == "reflect" and m.padding == (2, 2) for m in convs)
    for down in net.down:
        assert down[0][0].stride == (2, 2) and down[1][0].stride == (1, 1)
    acts = [m for m in net.modules() if isinstance(m, nn.LeakyReLU)]
    assert acts and all(m.negative_slope == 0.2 for m in acts)
    for up in net.up:
        assert isinstance(up[0], nn.BatchNorm2d)
    # a plain conv -> BatchNorm -> LeakyReLU block everywhere in the body
    blocks = [m for m in net.modules() if type(m).__name__ == "_GConv"]
    assert blocks and all(isinstance(b[1], nn.BatchNorm2d) for b in blocks)
    # the levels really halve the image: 37 x 21 -> 19 x 11 -> 10 x 6 -> 5 x 3
    sizes = []
    hooks = [d.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:]))) for d in net.down]
    with torch.no_grad():
        net(torch.rand(1, 8, 37, 21))
    for h in hooks:
        h.remove()
    assert sizes == [(19, 11), (10, 6), (5, 3)]


def test_decoder_upsamples_bilinearly_and_concatenates_the_skip_branch():
    """The input of each decoder level is, group by group, [skip branch, bilinear upsampling of the level below]
    (a mutation review: nearest upsampling, the skip branch not reaching the decoder)."""
    from torch.nn import functional as F

    torch.manual_seed(0)
    cfg = NetConfig(channels=(8, 16), skip=(2, 3), in_channels=4)
    net = GroupedSkipNet(cfg, out_channels=1, groups=2)
    seen: dict = {}
    hooks = [net.down[-1].register_forward_hook(lambda m, i, o: seen.__setitem__("bottom", o.clone()))]
    for level in range(2):
        hooks.append(net.skip[level].register_forward_hook(
            lambda m, i, o, level=level: seen.__setitem__(("skip", level), o.clone())))
        hooks.append(net.up[level].register_forward_pre_hook(
            lambda m, i, level=level: seen.__setitem__(("in", level), i[0].clone())))
        hooks.append(net.up[level].register_forward_hook(
            lambda m, i, o, level=level: seen.__setitem__(("out", level), o.clone())))
    with torch.no_grad():
        net(torch.rand(1, 8, 20, 14))
    for h in hooks:
        h.remove()
    below = {1: seen["bottom"], 0: seen[("out", 1)]}
    sizes = {0: (20, 14), 1: (10, 7)}
    for level in range(2):
        up = F.interpolate(below[level], size=sizes[level], mode="bilinear", align_corners=False)
        sk = seen[("skip", level)]
        n, _, h, w = up.shape
        expected = torch.cat([sk.reshape(n, 2, -1, h, w), up.reshape(n, 2, -1, h, w)], dim=2).reshape(n, -1, h, w)
        assert torch.allclose(seen[("in", level)], expected, atol=1e-6), level
        assert sk.abs().max() > 0  # the skip branch carries something
