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
    s = hazy_image(32)
    grey = _chw(s.data.mean(axis=-1))
    j, t, a = Hz.dcp_dehaze(grey)
    assert j.shape == (1, 32, 32) and a.shape == (1,)
    four = torch.cat([_chw(s.data), grey])
    j4, _, a4 = Hz.dcp_dehaze(four)
    assert j4.shape == (4, 32, 32) and a4.shape == (4,)


def test_given_airlight_is_used():
    s = hazy_image(32)
    a = torch.tensor([0.82, 0.86, 0.92])
    _, _, used = Hz.dcp_dehaze(_chw(s.data), a)
    assert torch.equal(used, a)
