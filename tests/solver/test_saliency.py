import numpy as np
import pytest
import torch

from napari_doubledip.samples import blob_mask, iou, texture_composite
from napari_doubledip.solver.saliency import colour_model, saliency_hints


def _chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.atleast_3d(img).copy()).permute(2, 0, 1).float()


def test_colour_model_recovers_the_outline_from_crude_seeds():
    s = texture_composite(64)
    truth = s.truth["mask"]
    band = np.zeros_like(truth)
    band[:4], band[-4:], band[:, :4], band[:, -4:] = True, True, True, True
    yy, xx = np.mgrid[:64, :64]
    # crude foreground seeds: a disk on the object's middle, and a larger one spilling over its edge
    for radius, precision in ((12, 1.0), (16, 0.95)):
        seed_fg = np.hypot(yy - 32, xx - 35) < radius
        assert truth[seed_fg].mean() >= precision and iou(seed_fg, truth) < 0.75
        p = colour_model(_chw(s.data), torch.from_numpy(seed_fg), torch.from_numpy(band)).numpy()
        assert p.shape == truth.shape and p.min() >= 0 and p.max() <= 1
        assert iou(p > 0.5, truth) > 0.9
        # the confident pixels are right: they are what the segmentation gets as hints
        assert truth[p > 0.8].mean() > 0.97 and (~truth[p < 0.2]).mean() > 0.97


def test_colour_model_is_deterministic():
    s = texture_composite(48)
    x, fg = _chw(s.data), torch.from_numpy(blob_mask(48, radius=0.15))
    bg = ~torch.from_numpy(blob_mask(48, radius=0.45))
    assert torch.equal(colour_model(x, fg, bg), colour_model(x, fg, bg))


def test_hints_refined_by_colour_on_rgb_only():
    rgb = texture_composite(64)
    truth = rgb.truth["mask"]
    plain = [m.numpy() for m in saliency_hints(_chw(rgb.data), colour=False)]
    col = [m.numpy() for m in saliency_hints(_chw(rgb.data))]
    # on RGB the colour step covers more of each region without losing precision
    assert col[0].sum() > plain[0].sum() and col[1].sum() >= plain[1].sum()
    assert truth[col[0]].mean() > 0.97 and (~truth[col[1]]).mean() > 0.97
    assert not (col[0] & col[1]).any()
    # grey images keep the saliency hints (intensity alone measured worse on real photographs), also when
    # stored as RGB
    grey = _chw(texture_composite(64, rgb=False).data)
    for image in (grey, grey.expand(3, -1, -1)):
        for a, b in zip(saliency_hints(image), saliency_hints(image, colour=False), strict=True):
            assert torch.equal(a, b)


def test_boundary_connectivity_weighs_each_superpixel_edge_once(monkeypatch):
    """(A review's case.) The geodesic graph summed the pixel pairs along each superpixel border: an edge's
    weight was its appearance distance times the border's length, not the distance (Zhu et al. 2014)."""
    import scipy.sparse.csgraph as csgraph
    from skimage.color import rgb2lab
    from skimage.segmentation import slic

    from napari_doubledip.solver.saliency import boundary_connectivity

    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(0.5, 0.03, (64, 64, 3)), 0, 1)
    img[20:44, 20:44] = np.clip(img[20:44, 20:44] + [0.3, -0.2, 0.0], 0, 1)
    graphs = []
    real = csgraph.shortest_path
    monkeypatch.setattr(csgraph, "shortest_path", lambda g, *a, **k: graphs.append(g.tocoo()) or real(g, *a, **k))
    boundary_connectivity(img)
    # the same superpixels and region means as the function's
    labels = slic(img, n_segments=200, compactness=10, channel_axis=-1, start_label=0, convert2lab=True)
    lab = rgb2lab(img).reshape(-1, 3)
    count = np.bincount(labels.ravel())
    means = np.stack([np.bincount(labels.ravel(), lab[:, i]) / count for i in range(3)], 1)
    g = graphs[0]
    assert len(g.data) > 100
    np.testing.assert_allclose(g.data, np.linalg.norm(means[g.row] - means[g.col], axis=1) + 1e-6, rtol=1e-6)


def test_boundary_connectivity_solves_its_system_outside_numpy(monkeypatch):
    """numpy's LAPACK solve holds the GIL (and its OpenBLAS threads spin beside torch's): in a whole-stack
    segmentation's automatic hints it froze napari's event loop for up to 0.35 s at a time
    (``benchmarks/hint_stalls.py``). The system is solved by torch, to the same values."""
    from napari_doubledip.solver.saliency import boundary_connectivity

    rng = np.random.default_rng(1)
    img = np.clip(rng.normal(0.4, 0.05, (48, 48, 3)), 0, 1)
    img[12:36, 14:34] += 0.4
    img = img.clip(0, 1)
    real = np.linalg.solve
    monkeypatch.setattr(torch.linalg, "solve", lambda a, b: torch.from_numpy(real(a.numpy(), b.numpy())))
    expected = boundary_connectivity(img)  # the same system solved by numpy
    monkeypatch.undo()
    monkeypatch.setattr(np.linalg, "solve", lambda *a, **k: pytest.fail("numpy.linalg.solve called"))
    sal = boundary_connectivity(img)
    np.testing.assert_allclose(sal, expected, atol=1e-9)
    assert sal[24, 24] > 0.8 > 0.2 > sal[2, 2]  # the bright square is salient, the border is not


def test_colour_hints_are_the_confident_pixels_and_never_overlap():
    """Where half the pixels of object and background share one grey, the colour model is unsure there: those
    pixels are neither hint (a mutation review: thresholds swapped made them both, 2084 pixels)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    disk = (yy - 32) ** 2 + (xx - 32) ** 2 < 225
    img = np.zeros((64, 64, 3))
    img[...] = [0.1, 0.2, 0.8]
    img[disk] = [0.9, 0.2, 0.1]
    img[rng.random((64, 64)) < 0.5] = [0.5, 0.5, 0.5]
    img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)
    fg, bg = saliency_hints(torch.from_numpy(img).permute(2, 0, 1).float())
    assert not bool((fg & bg).any()) and int(fg.sum()) > 20 and int(bg.sum()) > 20
    assert disk[fg.numpy()].mean() > 0.9 and (~disk)[bg.numpy()].mean() > 0.9
