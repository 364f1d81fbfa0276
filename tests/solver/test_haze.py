import numpy as np
import pytest
import torch

from napari_doubledip.samples import hazy_image, psnr
from napari_doubledip.solver import haze as Hz


def _chw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(2, 0, 1).contiguous() if x.ndim == 3 else torch.from_numpy(x)[None]


def test_dark_channel_is_min_over_channels_and_window():
    x = torch.ones(3, 9, 9)
    x[1, 4, 4] = 0.2  # one dark value in one channel
    d = Hz.dark_channel(x, radius=1)
    assert d.shape == (1, 9, 9)
    assert torch.allclose(d[0, 3:6, 3:6], torch.full((3, 3), 0.2))
    assert float(d[0, 0, 0]) == 1.0 and float(d[0, 4, 6]) == 1.0
    # batched input and one channel (a local minimum filter)
    assert Hz.dark_channel(x[None], 1).shape == (1, 1, 9, 9)
    assert torch.equal(Hz.dark_channel(x[1:2], 1), d)
    # On random data: the window minimum, brute force (replicate border), at a rectangular size.
    # Wide windows (the running minimum) too, including windows wider than the image and ties.
    y = torch.rand(2, 13, 17, generator=torch.Generator().manual_seed(0))
    ties = torch.randint(0, 4, (3, 29, 41), generator=torch.Generator().manual_seed(1)).float()
    for image, r in [(y, 3), (y, 8), (y, 20), (ties, 9), (ties, 12)]:
        padded = torch.nn.functional.pad(image.amin(0)[None, None], (r,) * 4, mode="replicate")[0, 0]
        brute = padded.unfold(0, 2 * r + 1, 1).unfold(1, 2 * r + 1, 1).amin(dim=(-1, -2))
        assert torch.equal(Hz.dark_channel(image, r)[0], brute), r


def test_airlight_estimate_finds_the_opaque_haze():
    rng = np.random.default_rng(0)
    scene = rng.random((48, 48, 3)).astype(np.float32) * 0.6
    a = np.array([0.7, 0.8, 0.95], np.float32)
    t = np.linspace(0.02, 0.9, 48, dtype=np.float32)[:, None, None]  # top rows almost pure airlight
    hazy = t * scene + (1 - t) * a
    est = Hz.estimate_airlight(_chw(hazy)).numpy()
    assert np.allclose(est, a, atol=0.03)
    with pytest.raises(ValueError, match="image"):
        Hz.estimate_airlight(torch.zeros(8, 8))


def test_an_empty_channel_is_no_haze_cue():
    # Two-colour fluorescence stored as RGB: the empty blue channel would be the dark channel everywhere (no
    # haze, an arbitrary airlight); it is left out, and its own airlight (0) keeps it empty.
    s = hazy_image(48)
    x = _chw(s.data).clone()
    x[2] = 0
    a = Hz.estimate_airlight(x)
    assert torch.equal(a[:2], Hz.estimate_airlight(x[:2])) and float(a[2]) == 0.0  # as for the 2 channels
    assert np.allclose(a[:2].numpy(), s.truth["airlight"][0, 0, :2], atol=0.06)
    t = Hz.dcp_transmission(x, a)[0].numpy()
    assert np.corrcoef(t.ravel(), s.truth["transmission"].ravel())[0, 1] > 0.8 and t.mean() < 0.8
    lines = Hz.haze_lines_transmission(x, a)[0].numpy()
    assert lines.min() < 0.9  # the lower bound 1 - min_c I_c / A_c does not count the black channel
    # ... nor a camera offset with noise in that channel
    x[2] = 0.02 + 0.003 * torch.rand(x.shape[1:], generator=torch.Generator().manual_seed(0))
    assert torch.allclose(Hz.estimate_airlight(x)[:2], a[:2], atol=0.01)
    # An airlight map black in every channel somewhere: those pixels count all channels (no inf, no NaN).
    amap = torch.from_numpy(s.truth["airlight"]).permute(2, 0, 1).clone()
    amap[:, :24, :24] = 0
    j, t_map, _ = Hz.dcp_dehaze(_chw(s.data), amap, radius=2)
    assert torch.isfinite(t_map).all() and torch.isfinite(j).all()


def test_recover_inverts_the_haze_model_exactly():
    s = hazy_image(32, varying_airlight=True)
    j = Hz.recover(_chw(s.data), torch.from_numpy(s.truth["transmission"]), _chw(s.truth["airlight"]))
    assert psnr(j.permute(1, 2, 0).numpy(), s.truth["clean"]) > 50


@pytest.mark.parametrize("varying", [False, True])
def test_dcp_baseline_beats_the_hazy_input(varying):
    s = hazy_image(64, varying_airlight=varying)
    j, t, a = Hz.dcp_dehaze(_chw(s.data))
    assert j.shape == (3, 64, 64) and t.shape == (1, 64, 64) and a.shape == (3,)
    assert float(t.min()) >= 0.1 and float(t.max()) <= 1.0
    assert psnr(j.permute(1, 2, 0).numpy(), s.truth["clean"]) > psnr(s.data, s.truth["clean"]) + 4
    assert np.corrcoef(t.numpy().ravel(), s.truth["transmission"].ravel())[0, 1] > 0.8


def test_dcp_works_on_grey_and_four_channels():
    """Not shapes alone (a review: returning the hazy input for grey passed): a grey hazy image is dehazed, and
    a 4th channel joins the dark channel without changing what the other three give where it is no darker."""
    s = hazy_image(32)  # (its grey version obeys the haze model too: grey = the channels' mean, a linear map)
    grey, clean = s.data.mean(axis=-1), s.truth["clean"].mean(axis=-1)
    j, t, a = Hz.dcp_dehaze(_chw(grey))
    assert j.shape == (1, 32, 32) and a.shape == (1,)
    assert psnr(j[0].numpy(), clean) > psnr(grey, clean) + 3  # (measured 18.5 against 12.6 dB)
    assert np.corrcoef(t[0].numpy().ravel(), s.truth["transmission"].ravel())[0, 1] > 0.8  # (0.96)
    rgb = _chw(s.data)
    j3, t3, _ = Hz.dcp_dehaze(rgb)
    j4, t4, a4 = Hz.dcp_dehaze(torch.cat([rgb, torch.ones(1, 32, 32)]))  # (a 4th channel at white: no cue)
    assert j4.shape == (4, 32, 32) and a4.shape == (4,)
    # (the guide, the channels' mean, differs a little: the same transmission up to that)
    assert float((t4 - t3).abs().mean()) < 0.02
    truth = s.truth["clean"]
    assert psnr(j4[:3].permute(1, 2, 0).numpy(), truth) > psnr(s.data, truth) + 3


def test_given_airlight_is_used():
    """The transmission and the inversion use the given airlight (a review: one only echoed back passed)."""
    s = hazy_image(32)
    x = _chw(s.data)
    a = torch.tensor([0.82, 0.86, 0.92])
    j, t, used = Hz.dcp_dehaze(x, a)
    assert torch.equal(used, a)
    r = Hz.patch_radius((32, 32))
    guide = x.mean(0, keepdim=True)
    coarse = Hz.dcp_transmission(x, a, r, 0.95)
    assert torch.allclose(t, Hz.guided_filter(guide, coarse, 4 * r, 1e-3).clamp(0.1, 1.0), atol=1e-6)
    assert torch.allclose(j, Hz.recover(x, t, a, 0.1), atol=1e-6)
    # a brighter airlight: less of each pixel is haze, so a higher transmission everywhere
    _, t_bright, _ = Hz.dcp_dehaze(x, a * 1.08)
    assert float((t_bright - t).min()) >= 0 and float((t_bright - t).mean()) > 0.02


def test_haze_lines_recover_the_transmission_of_a_bright_scene():
    # A haze-free scene of a few bright colours (no dark pixel anywhere: the dark channel prior fails), hazed
    # with a transmission ramp that reaches 1: every haze line holds a haze-free pixel, so the lines are exact.
    rng = np.random.default_rng(0)
    palette = rng.uniform(0.35, 0.85, (12, 3))
    clean = palette[rng.integers(0, 12, (48, 48))]
    t = np.repeat(np.linspace(0.3, 1.0, 48)[:, None], 48, axis=1)
    a = np.array([0.92, 0.95, 0.97])
    hazy = torch.from_numpy(t[..., None] * clean + (1 - t[..., None]) * a).permute(2, 0, 1).float()
    a_t = torch.from_numpy(a).float()
    lines = Hz.haze_lines_transmission(hazy, a_t)
    assert lines.shape == (1, 48, 48) and lines.dtype == torch.float32
    assert float(lines.min()) >= 0 and float(lines.max()) <= 1
    dcp = Hz.dcp_transmission(hazy, a_t, 1)
    err_lines = np.abs(lines[0].numpy() - t).mean()
    assert err_lines < 0.02
    assert np.abs(dcp[0].numpy() - t).mean() > 5 * err_lines


def test_haze_lines_follow_the_synthetic_transmission_and_need_colour():
    s = hazy_image(64)
    x = _chw(s.data)
    a = torch.from_numpy(s.truth["airlight"].reshape(-1, 3)[0]).float()
    t = Hz.haze_lines_transmission(x, a)
    assert np.corrcoef(t.numpy().ravel(), s.truth["transmission"].ravel())[0, 1] > 0.7
    # A grey airlight given as one value is the same as three equal ones.
    grey = torch.tensor(0.9)
    assert torch.equal(Hz.haze_lines_transmission(x, grey), Hz.haze_lines_transmission(x, grey.expand(3)))
    with pytest.raises(ValueError, match="colour"):
        Hz.haze_lines_transmission(x[:1], a[:1])


# --- a mutation review's cases: each check below failed under a change no other test saw ---


def test_recover_divides_by_the_floored_transmission():
    image = torch.full((3, 8, 8), 0.95)
    j = Hz.recover(image, torch.full((1, 8, 8), 0.01), torch.ones(3), t_min=0.1)
    torch.testing.assert_close(j, torch.full_like(image, 0.5))  # (0.95 - 0.9) / 0.1, not / 0.01 clipped to 0


def test_haze_lines_keep_the_clean_image_non_negative():
    """t is bounded below by 1 - min_c I_c / A_c, where J = (I - (1 - t) A) / t reaches 0."""
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.8
    a = torch.tensor([0.9, 0.92, 0.95])
    t = Hz.haze_lines_transmission(x, a, n_lines=20)
    bound = 1 - (x / a[:, None, None]).amin(0)
    assert bool((t.reshape(bound.shape) >= bound - 1e-5).all())
