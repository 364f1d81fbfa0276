import warnings

import numpy as np
import pytest
from skimage.transform import resize

import napari_doubledip as dd
from napari_doubledip.samples import psnr, watermark_set, watermarked
from napari_doubledip.tasks.watermark import box_mask, shared_edges


def test_box_mask_forms_and_clipping():
    m = box_mask((2, 3, 5, 7), (10, 12))
    assert m.shape == (10, 12) and m.sum() == 3 * 4 and m[2, 3] and not m[5, 7]
    # napari rectangle corners (float, any order) -> the pixels they overlap (pixel i spans i - 0.5 .. i + 0.5):
    # rows 2.2 .. 4.6 -> 2..4, cols 3.0 .. 6.4 -> 3..6, the box (2, 3, 5, 7)
    corners = np.array([[2.2, 3.0], [2.2, 6.4], [4.4, 6.4], [4.4, 3.0]])
    assert np.array_equal(box_mask(corners, (10, 12)), m)
    # integer corners (as the widgets and samples draw a box) include both end rows/columns
    assert np.array_equal(box_mask(np.array([[2, 3], [4, 6]]), (10, 12)), m)
    # one box as a detector lists boxes, a (1, 4) row (refused with advice for several regions: a review's case)
    assert np.array_equal(box_mask(np.array([[2, 3, 5, 7]]), (10, 12)), m)
    with pytest.raises(ValueError, match=r"box is empty: \(y0, x0, y1, x1\) = \(5, 3, 5, 7\)"):
        box_mask(np.array([[5, 3, 5, 7]]), (10, 12))
    # corners in another order are not an empty box: told which order, with the box they make (a review's case)
    with pytest.raises(ValueError, match=r"\(5, 3, 2, 7\) has its corners reversed.*e\.g\. \(2, 3, 5, 7\)"):
        box_mask(np.array([[5, 3, 2, 7]]), (10, 12))
    # a mask with a trailing axis (imread's (H, W, 1), a bool or a 0/255 one) is a mask, not "an image"
    labels = m.astype(np.uint8) * 2
    labels[2, 3] = 1
    for trailing in (m[..., None], m[..., None].astype(np.uint8) * 255, labels[..., None]):
        assert np.array_equal(box_mask(trailing, (10, 12)), m)
    with pytest.raises(ValueError, match=r"box is empty: \(y0, x0, y1, x1\) = \(5, 9, 5, 2\)"):
        box_mask((5, 9, 5, 2), (10, 12))  # (empty and reversed: told empty, not offered an empty box)
    with pytest.raises(ValueError, match="is an image, not a box"):  # (a one-channel image is still refused)
        box_mask(np.arange(120.0).reshape(10, 12, 1), (10, 12))
    # partly outside: clipped
    assert box_mask((-5, -5, 3, 3), (10, 12)).sum() == 9
    assert box_mask((2, 3, 2**70, 2**70), (10, 12)).sum() == 8 * 9  # (beyond int64: not "must be numeric")
    # a bool among the numbers is refused, not read as 1 (a review's case); a mask as rows of booleans is fine
    with pytest.raises(TypeError, match=r"box must be \(y0, x0, y1, x1\) numbers.*got \(True, 3, 5, 7\)"):
        box_mask((True, 3, 5, 7), (10, 12))
    with pytest.raises(TypeError, match=r"box must be \(y0, x0, y1, x1\) numbers"):
        box_mask([[True, 3, 5, 7]], (10, 12))  # (one row, as detectors list boxes)
    # a box thinner than the float noise that is snapped away, or touching the image only within it: refused
    # (it gave an empty mask, then an IndexError deep in segment; a review's case)
    with pytest.raises(ValueError, match="box is empty.*covers no pixel"):
        box_mask((2.0000001, 0, 2.0000004, 5), (10, 12))
    for outside in ((-5, 0, 1e-7, 5), (10 - 1e-7, 0, 12, 5)):
        with pytest.raises(ValueError, match="lies outside the 10x12 image"):
            box_mask(outside, (10, 12))
    assert np.array_equal(box_mask(m.tolist(), (10, 12)), m)
    # a box converted from physical units carries float noise (0.3 / 0.1 = 2.9999999999999996): no extra column
    # (a review's case), as for napari corners
    assert np.array_equal(box_mask(tuple(v / 0.1 for v in (0.2, 0.3, 0.5, 0.7)), (10, 12)), m)
    mask = np.zeros((10, 12), bool)
    mask[1:3, 1:3] = True
    assert np.array_equal(box_mask(mask, (10, 12)), mask)


@pytest.mark.parametrize("size", [12, 33, 64])
def test_watermark_samples_at_any_size_and_position(size):
    """(A review's case.) The text band ran off the image (a low position, an image under 16 px): a numpy
    broadcast error instead of a sample."""
    for position in (0.0, 0.15, 0.8, 1.0):
        s = watermarked(size, position=position)
        assert s.data.shape == (size, size, 3) and s.truth["alpha"].max() > 0.2
        y0, x0, y1, x1 = s.extra["box"]
        assert s.truth["alpha"][:y0].sum() == 0 == s.truth["alpha"][y1:].sum()  # (the box holds it)
    assert watermark_set(3, size).data.shape == (3, size, size, 3)
    with pytest.raises(ValueError, match="position must be between 0 and 1"):
        watermarked(size, position=1.5)


def test_box_from_a_napari_shapes_layer_as_is():
    m = box_mask((2, 3, 5, 7), (10, 12))
    corners = np.array([[2.2, 3.0], [2.2, 6.4], [4.4, 6.4], [4.4, 3.0]])
    assert np.array_equal(box_mask([corners], (10, 12)), m)  # layer.data: a list of one shape's corners
    assert np.array_equal(box_mask(corners[None], (10, 12)), m)
    on_stack = np.c_[np.full(4, 7.0), corners]  # (4, 3) corners of a rectangle drawn on frame 7 of a stack
    assert np.array_equal(box_mask(on_stack, (10, 12)), m)
    assert np.array_equal(box_mask([np.c_[np.zeros(4), on_stack]], (10, 12)), m)  # (4, D) in a list
    with pytest.raises(ValueError, match="one rectangle, got 2 shapes"):
        box_mask([corners, corners[:3]], (10, 12))
    with pytest.raises(ValueError, match="one rectangle"):
        box_mask(np.stack([corners, corners]), (10, 12))
    with pytest.raises(ValueError, match="different planes"):
        box_mask(np.c_[np.arange(4.0), corners], (10, 12))


@pytest.mark.parametrize(
    ("box", "match"),
    [
        ((20, 20, 30, 30), "outside"),
        ((-9, 0, -1, 5), "outside"),
        ((5, 5, 5, 9), "empty"),
        ((5, 9, 8, 2), "corners reversed"),
        (np.zeros((16, 16), bool), "empty"),
        (np.zeros((8, 8), bool), "shape"),
        (np.ones((3, 16, 16), np.uint8), r"image's shape \(16, 16\), got \(3, 16, 16\).*share one box"),
        (np.ones((16, 16), bool), "whole image"),
        ((1, 2, 3), "box"),
        ((0, 0, np.nan, 4), "NaN"),
    ],
)
def test_bad_boxes_are_rejected(box, match):
    with pytest.raises(ValueError, match=match):
        dd.remove_watermark(np.zeros((16, 16)), box=box, iterations=1)
    with pytest.raises(TypeError, match="box must be numeric"):
        dd.remove_watermark(np.zeros((16, 16)), box=np.array([2, 2, 9, 9], complex), iterations=1)
    # a box per image (no such thing for a set: it shares one) is told so, not sent to a video function
    with pytest.raises(TypeError, match=r"got a dict; the images of a set share one box.*any\(axis=0\)"):
        dd.remove_watermark([np.zeros((16, 16))] * 2, box={0: (2, 2, 9, 9), 1: (2, 2, 9, 9)}, iterations=1)


def test_an_image_passed_as_the_box_is_refused():
    """remove_watermark(image1, image2): the second image lands in `box`; read as a mask it ran on a nonsense
    box (any pixel above 0), and a colour one was taken for rectangle corners."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((2, 32, 32)) * 255).astype(np.uint8)
    b[:6] = 0  # a black band: the 'mask' would not cover the whole image
    with pytest.raises(ValueError, match=r"looks like an image.*remove_watermark\(\[image1, image2\]\)"):
        dd.remove_watermark(a, b, iterations=1)
    with pytest.raises(ValueError, match=r"box of shape \(32, 32, 3\) is an image"):
        dd.remove_watermark(np.stack([a] * 3, -1), np.stack([b] * 3, -1), iterations=1)
    # a low-bit-depth image (a 4-bit scan: 16 values) counted as a mask of every pixel above 0
    with pytest.raises(ValueError, match="16 different values: it looks like an image"):
        dd.remove_watermark(a // 16, b // 16, iterations=1)
    labels = np.zeros((32, 32), np.uint8)  # masks as they come: 0/255 from a PNG, a few labels
    labels[4:9, 4:12] = 255
    assert box_mask(labels, (32, 32)).sum() == 40
    labels[20:24, 20:24] = 3
    assert box_mask(labels, (32, 32)).sum() == 56
    many = np.zeros((32, 32), np.uint16)  # segmentation's box: a label image of any count is its labels > 0
    for i in range(20):
        many[i, :10] = i + 1
    assert box_mask(many, (32, 32), whole=True, task="segment").sum() == 200
    soft = np.zeros((32, 32))  # a mask resized with interpolation: a few fractional values
    soft[4:10, 4:10], soft[3, 4:10], soft[10, 4:10] = 1.0, 0.5, 0.25
    assert box_mask(soft, (32, 32)).sum() == 48
    thumbnail = np.zeros((12, 12))  # resized with interpolation: many values on its edge (read as segment does)
    thumbnail[2:5, 2:10] = 1
    ramp = resize(thumbnail, (32, 32), order=1)
    assert len(np.unique(ramp)) > 16 and np.array_equal(box_mask(ramp, (32, 32)), ramp > 0)
    assert np.array_equal(box_mask(ramp, (32, 32)), box_mask(ramp, (32, 32), whole=True))
    as_bytes = (ramp * 255).astype(np.uint8)  # (resized as uint8, e.g. by PIL)
    assert np.array_equal(box_mask(as_bytes, (32, 32)), as_bytes > 0)
    strokes = np.zeros((16, 24))  # thin strokes (text) resized by 2.5: their middles stay below the top
    strokes[4, 2:20], strokes[6:12, 8], strokes[10, 12:22] = 1, 1, 1
    blurred = resize(strokes, (40, 60), order=1)
    assert len(np.unique(blurred)) > 16
    assert np.array_equal(box_mask(blurred, (40, 60)), blurred > 0)
    rectangle = np.zeros((12, 18))  # a rectangle resized by 2.3: rounding leaves 0.9999999 inside its ones
    rectangle[4:8, 5:14] = 1
    upscaled = resize(rectangle, (28, 41), order=1, anti_aliasing=False)
    assert ((upscaled > 0.999) & (upscaled < 1)).any() and len(np.unique(upscaled)) > 16
    assert np.array_equal(box_mask(upscaled, (28, 41)), upscaled > 0)
    spots = np.where(a > 200, a, 0) / 255.0  # background-subtracted: mostly 0, yet an image
    scan = np.minimum(1.0, a / 100.0)  # a clipped scan: mostly at its top
    for image in (a / 255.0, spots, scan):
        with pytest.raises(ValueError, match="looks like an image"):
            box_mask(image, (32, 32))
    with pytest.raises(ValueError, match="box mask contains NaN"):
        box_mask(np.where(ramp > 0.5, np.nan, ramp), (32, 32))
    with pytest.raises(ValueError, match="got 2 shapes.*boolean mask of their union"):
        box_mask([np.array([[1, 1], [4, 4]])] * 2, (32, 32))
    with pytest.raises(ValueError, match=r"got shape \(2, 4\).*boolean mask of their union"):
        box_mask(np.array([(1, 1, 4, 4), (8, 8, 12, 12)]), (32, 32))
    many = np.zeros((64, 64), np.int32)  # the labels of 20 text lines: told how to pass them, then taken
    for i in range(20):
        many[2 + 3 * i, 5:20] = i + 1
    with pytest.raises(ValueError, match=r"for many labels pass labels > 0"):
        box_mask(many, (64, 64), task="remove_watermark")
    assert box_mask(many > 0, (64, 64), task="remove_watermark").sum() == 300
    # a numeric mask of another size is told the image's shape (it went to the box-numbers advice)
    with pytest.raises(ValueError, match=r"box mask must have the image's shape \(32, 32\), got \(64, 64\)"):
        box_mask(np.pad(labels, 16), (32, 32))
    # a 0/255 mask read as int8 (its set pixels are -1) is not called empty
    with pytest.raises(ValueError, match="only negative values.*mask != 0"):
        box_mask((labels > 0).astype(np.uint8).view(np.int8) * -1, (32, 32))
    ringing = np.zeros((32, 32))  # a float mask's negatives are ringing: empty, not "only negative values"
    ringing[5, 5] = -1e-9
    with pytest.raises(ValueError, match=r"box mask is empty \(no pixel set\)"):
        box_mask(ringing, (32, 32))
    # a polygon's corners on a layer of 5 axes are no mask of another size
    with pytest.raises(ValueError, match=r"box must be \(y0, x0, y1, x1\).*got shape \(6, 5\)"):
        box_mask(np.arange(30.0).reshape(6, 5), (32, 32))
    # a mask per image of a set, as a list: one mask is needed (it read 'got 2 shapes')
    with pytest.raises(ValueError, match=r"got a list of 2 masks; the images of a set share one box"):
        box_mask([labels, labels], (32, 32), task="remove_watermark")


def test_copies_of_one_image_without_a_box_are_pointed_out():
    img = watermarked(32, rgb=False).data
    with pytest.warns(UserWarning, match="copies of one image"):
        dd.remove_watermark([img] * 3, iterations=1, device="cpu")
    # re-saved copies: one grey level of noise (a review's case: no warning before)
    u = np.round(img / img.max() * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    copies = [np.clip(u.astype(int) + rng.integers(-1, 2, u.shape), 0, 255).astype(np.uint8) for _ in range(2)]
    with pytest.warns(UserWarning, match="copies of one image"):
        dd.remove_watermark([u, *copies], iterations=1, device="cpu")
    # different images sharing the watermark: no such warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        dd.remove_watermark(watermark_set(size=32).data, iterations=1, device="cpu")


class _CountingArray:
    """A lazy array that counts how often its values are read."""

    def __init__(self, data):
        self.data, self.reads = data, 0
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim

    def __array__(self, dtype=None, copy=None):
        self.reads += 1
        return self.data if dtype is None else self.data.astype(dtype)


def test_input_validation():
    with pytest.raises(ValueError, match="single image needs a box"):
        dd.remove_watermark(np.zeros((16, 16, 3)), iterations=1)
    with pytest.raises(ValueError, match="same shape"):
        dd.remove_watermark([np.zeros((16, 16)), np.zeros((16, 20))], iterations=1)
    with pytest.raises(TypeError, match="box"):
        dd.remove_watermark(np.zeros((16, 16)), box=("a", "b", "c", "d"), iterations=1)
    with pytest.raises(TypeError, match="iterations"):
        dd.remove_watermark(np.zeros((2, 16, 16)), iterations=1.5)
    # options are checked before the input is loaded (a lazy stack computed) or warned about
    lazy = _CountingArray(np.zeros((2, 16, 16)))
    for bad in (dict(iterations=1.5), dict(max_size=0), dict(preset="fast"), dict(precision="half")):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # (a constant set's warning would come first)
            with pytest.raises((TypeError, ValueError)):
                dd.remove_watermark(lazy, **bad)
    assert lazy.reads == 0


def test_outside_the_box_is_the_input_exactly():
    s = watermarked(32)
    img = np.round(s.data * 255).astype(np.uint8)
    r = dd.remove_watermark(img, box=s.extra["box"], iterations=5, device="cpu")
    assert r.params["box"] == [int(v) for v in s.extra["box"]]  # recorded, so the run can be repeated
    assert r.params["box_mask"] is False
    out = ~s.extra["box_mask"]
    assert r.clean.shape == img.shape and r.clean.dtype == np.float32
    assert np.array_equal(r.clean[out], img[out].astype(np.float32))
    assert r.alpha.shape == (32, 32) and np.all(r.alpha[out] == 0) and r.alpha.max() <= 1
    assert r.watermark.shape == img.shape
    assert np.array_equal(r.box, s.extra["box_mask"])
    two = np.zeros((32, 32), bool)  # (a review's case) two rectangles: their bounds alone would not repeat it
    two[2:10, 4:28], two[18:28, 4:28] = True, True
    r = dd.remove_watermark(img, box=two, iterations=1, device="cpu")
    assert r.params["box"] == [2, 4, 28, 28] and r.params["box_mask"] is True and np.array_equal(r.box, two)


def test_a_torch_tensor_with_a_box():
    """A tensor that requires grad, or in bfloat16 (numpy has neither), is taken as it is validated: the
    pixels outside the box come from it too."""
    import torch

    s = watermarked(32)
    x = torch.from_numpy(s.data.astype(np.float32))
    for tensor in (x.clone().requires_grad_(), x.bfloat16()):
        r = dd.remove_watermark(tensor, box=s.extra["box"], iterations=2, device="cpu")
        out = ~s.extra["box_mask"]
        assert np.array_equal(r.clean[out], tensor.detach().float().numpy()[out])


def test_shared_watermark_shapes_and_grey():
    s = watermark_set(2, 32, rgb=False)
    r = dd.remove_watermark(list(s.data), iterations=3, device="cpu")
    assert r.clean.shape == (2, 32, 32) and r.watermark.shape == (32, 32) and r.alpha.shape == (32, 32)
    assert r.box.all() and r.params["images"] == 2


def test_several_images_with_a_box():
    s = watermark_set(2, 32)
    box = (8, 2, 24, 30)
    r = dd.remove_watermark(s.data, box=box, iterations=3, device="cpu")
    assert r.clean.shape == s.data.shape
    assert np.array_equal(r.clean[:, :8], s.data[:, :8])
    # and inside the box every image is worked on (a review: the input handed back passed; measured 0.22 as the
    # largest change after 3 steps)
    inside = np.zeros((32, 32), bool)
    inside[8:24, 2:30] = True
    assert r.alpha[inside].max() > 0 and not r.alpha[~inside].any()
    for i in range(2):
        assert np.abs(r.clean[i][inside] - s.data[i][inside]).max() > 0.01, i
    # a full-frame rectangle (a widget's box around everything) is no box for a set: it was refused as
    # "nothing outside it to learn the clean image from", where the same set without a box runs
    free = dd.remove_watermark(s.data, iterations=3, device="cpu")
    for whole in ((0, 0, 32, 32), np.ones((32, 32), bool), [[-0.5, -0.5], [31.5, 31.5]]):
        r = dd.remove_watermark(s.data, box=whole, iterations=3, device="cpu")
        assert r.params["box"] is None and np.array_equal(r.clean, free.clean)


@pytest.mark.slow
def test_box_removes_the_watermark_inside_the_box():
    s = watermarked(64)
    b = s.extra["box_mask"]
    r = dd.remove_watermark(s.data, box=s.extra["box"], device="cpu", seed=0)
    before, after = psnr(s.data[b], s.truth["clean"][b]), psnr(r.clean[b], s.truth["clean"][b])
    assert after > before + 3, (before, after)
    assert np.corrcoef(r.alpha[b], s.truth["alpha"][b])[0, 1] > 0.7


def test_one_image_inpaints_its_box_for_a_shorter_phase_than_a_set():
    """One image releases the clean layer in its box after 10 % of the run, a set with a box after the authors'
    30 % (the other images tell the watermark from one image's structure; measured in ``WEIGHTS``' notes)."""
    import torch

    from napari_doubledip.tasks import watermark as wm

    box = torch.zeros(1, 1, 32, 32)
    box[..., 8:24, 8:24] = 1

    def phase(n: int) -> list[float]:
        task = wm.build_task(torch.rand(n, 3, 32, 32), box, 100)
        terms = {t.name: t.weight for t in task.terms}
        return [terms["under"](t) for t in (0.05, 0.15, 0.35)] + [terms["clean_in_box"](t) for t in (0.05, 0.25)]

    under = wm.WEIGHTS["under"]
    assert phase(1)[:3] == [under, 0.0, 0.0] and phase(1)[3] == 0.0 and phase(1)[4] > 0
    assert phase(3)[:3] == [under, under, 0.0] and phase(3)[3:] == [0.0, 0.0]


@pytest.mark.slow
def test_a_bright_rim_crossing_the_box_is_not_painted_over():
    """Faint text over a coffee cup whose white rim crosses the box: the rim, which the inpainting cannot
    continue, must stay the clean layer's. With the authors' 30 % inpainting phase the opacity took it and the
    output painted the inpainting over it (64 px, seeds 0-2: 18.55 / 18.16 / 17.51 dB in the box against the
    input's 23.24); with 10 %: 23.24 / 23.30 / 23.35."""
    s = watermarked(64, opacity=0.3, scene="coffee", position=0.3)
    b = s.extra["box_mask"]
    r = dd.remove_watermark(s.data, box=s.extra["box"], device="cpu", seed=0)
    before, after = psnr(s.data[b], s.truth["clean"][b]), psnr(r.clean[b], s.truth["clean"][b])
    assert after > before - 1, (before, after)


@pytest.mark.slow
def test_shared_edges_mark_the_common_watermark_not_one_images_edges():
    import torch

    rng = np.random.default_rng(0)
    imgs = torch.from_numpy(0.02 * rng.random((3, 1, 48, 48)).astype(np.float32))
    imgs[:, :, 20:28, 10:38] += 0.5  # a mark every image shares
    imgs[0, :, 2:8, 2:8] += 0.8  # a strong edge in one image only
    sup = shared_edges(imgs, dilation=3)[0, 0]
    assert sup.shape == (48, 48) and float(sup.min()) >= 0 and float(sup.max()) <= 1
    assert float(sup[20, 10:38].min()) > 0.9 and float(sup[27, 10:38].min()) > 0.9  # the mark's outline
    assert float(sup[0:10, 0:10].max()) < 0.5  # one image's square is not a watermark candidate
    assert float(sup[36:, :].max()) < 0.5  # flat background


@pytest.mark.slow
def test_shared_watermark_is_found_without_a_box():
    """Three images sharing a watermark: cleaner, and the opacity found on the text.

    Asserted on the median of three seeds: without a box this task is seed-sensitive (README, known
    limitations), and a change of rounding moves single seeds a lot. PSNR gain, seeds 0-7, on a 2-core AMD EPYC
    with AVX-512: 0.5 / 9.5 / 1.7 / 2.0 / 4.6 / 0.7 / 0.5 / 1.0 dB with one thread, 1.0 / 1.2 / 0.1 / 1.1 / 3.9
    / 0.9 / 1.7 / 5.0 dB with two (``NAPARI_DOUBLEDIP_THREADS=2``); opacity contrast 0.15-0.38 and 0.11-0.32.
    (Five seeds until 2026-12-06: the test took 106-118 s of the suite's 15 minutes; seeds 0-2 meet the same
    thresholds in both columns.)
    """
    s = watermark_set(3, 64)
    before = np.mean([psnr(x, t) for x, t in zip(s.data, s.truth["clean"])])
    text = s.truth["alpha"] > 0.25
    gains, contrasts = [], []
    for seed in range(3):
        r = dd.remove_watermark(s.data, device="cpu", seed=seed)
        gains.append(np.mean([psnr(x, t) for x, t in zip(r.clean, s.truth["clean"])]) - before)
        # the recovered opacity is the text: high on the strokes, low elsewhere
        contrasts.append(r.alpha[text].mean() - r.alpha[~text].mean())
    assert min(gains) > -0.5 and np.median(gains) > 0.5, gains
    assert min(contrasts) > 0.05 and np.median(contrasts) > 0.1, contrasts


def test_preview_has_every_output():
    s = watermark_set(2, 32)
    previews = []
    dd.remove_watermark(
        s.data, iterations=25, device="cpu", progress=lambda p: p.preview and previews.append(p.preview)
    )
    last = previews[-1]
    assert last["clean"].shape == s.data.shape and last["alpha"].shape == (32, 32)
    assert last["watermark"].shape == (32, 32, 3)


def test_small_box_runs_on_a_crop_large_box_on_the_whole_image():
    """A small box is optimised on a crop around it (full-size outputs, input kept exactly outside the box);
    a box whose context covers most of the image keeps the whole image."""
    rng = np.random.default_rng(0)
    img = rng.random((96, 96)).astype(np.float32)
    small = dd.remove_watermark(img, box=(40, 30, 50, 60), iterations=3, device="cpu")
    y0, x0, y1, x1 = small.params["region"]
    assert (y0, x0, y1, x1) == (24, 14, 66, 76)  # box + max(16, short side) on each side
    assert small.clean.shape == img.shape and small.alpha.shape == img.shape[:2]
    assert np.array_equal(small.clean[~small.box], img[~small.box])
    assert np.all(small.alpha[~small.box] == 0)
    large = dd.remove_watermark(img, box=(10, 10, 80, 80), iterations=3, device="cpu")
    assert large.params["region"] == [0, 0, 96, 96]


def test_opacity_dip_generates_only_the_box_and_its_margin():
    """With a box the opacity DIP's canvas is the box plus a margin (its output is zero outside the box anyway);
    a box whose rectangle covers most of the image keeps the whole canvas; the reference recipe keeps it too."""
    import torch

    from napari_doubledip.tasks import watermark as wm

    box = torch.zeros(1, 1, 64, 64)
    box[..., 20:30, 10:40] = 1
    region = wm.alpha_window(box, margin=4)
    assert region == (16, 6, 34, 44)
    assert wm.alpha_window(box, margin=40) is None  # would cover the whole image
    assert wm.alpha_window(torch.ones(1, 1, 64, 64)[..., :60, :], margin=0) is None
    a = torch.rand(1, 1, 18, 38)
    placed = wm.place_alpha(a, region, (64, 64))
    assert placed.shape == (1, 1, 64, 64) and torch.equal(placed[..., 16:34, 6:44], a)
    outside = placed.clone()
    outside[..., 16:34, 6:44] = 0
    assert not outside.any()
    task = wm.build_task(torch.rand(1, 3, 64, 64), box, 10, region)
    assert task.dips["alpha"].size == (18, 38) and not task.augment
    assert "alpha_margin" in [t.name for t in task.terms]  # the margin is held near zero
    with pytest.raises(ValueError, match="needs a box"):
        wm.build_task(torch.rand(2, 3, 64, 64), None, 10, region)
    # end to end: outputs at full size, opacity zero outside the box
    s = watermarked(64)
    r = dd.remove_watermark(s.data, box=s.extra["box"], iterations=5, device="cpu")
    assert r.alpha.shape == (64, 64) and np.all(r.alpha[~r.box] == 0) and r.alpha[r.box].max() > 0
    ref = dd.remove_watermark(s.data, box=s.extra["box"], iterations=2, device="cpu", preset="reference")
    assert ref.alpha.shape == (64, 64)


def test_box_interior_follows_the_surroundings_while_the_clean_layer_inpaints(monkeypatch):
    """In the first phase the clean layer is not fitted inside the box; its local means are held to a fill from
    the surroundings. Without that an untrained DIP leaves an arbitrary blob there (which the opacity then
    covered, swapping the layers: docs/measurements.md, "Known limitations"). Checked at the end of that phase,
    3 seeds."""
    import torch

    from napari_doubledip.solver import losses as L
    from napari_doubledip.solver.engine import run
    from napari_doubledip.tasks import watermark as wm
    from napari_doubledip.tasks._common import to_tensor

    s = watermarked(64)
    target, truth = (to_tensor(a[None], torch.device("cpu")) for a in (s.data, s.truth["clean"]))
    box = torch.from_numpy(s.extra["box_mask"]).float()[None, None]
    its = round(60 / wm.WEIGHTS["inpaint_end"])  # a 60-step phase
    phase_end = int(wm.WEIGHTS["inpaint_end"] * its)

    def interior_error(weight: float, seed: int) -> float:
        monkeypatch.setitem(wm.WEIGHTS, "under", weight)
        calls = iter(range(10**6))
        sol = run(wm.build_task(target, box, its), device=torch.device("cpu"), seed=seed,
                  stop=lambda: next(calls) >= phase_end)
        assert sol.stopped and sol.iterations == phase_end
        diff = L.local_mean(sol.outputs["clean"], wm.UNDER_RADIUS) - L.local_mean(truth, wm.UNDER_RADIUS)
        return float((diff.abs() * box).sum() / (box.sum() * diff.shape[1]))

    held = [interior_error(wm.WEIGHTS["under"], seed) for seed in range(3)]
    free = [interior_error(0.0, seed) for seed in range(3)]
    # measured: 0.005-0.008 held, 0.015-0.12 free (seeds 0-5)
    assert max(held) < 0.02, held
    assert np.mean(free) > 3 * np.mean(held), (held, free)


def test_full_resolution_opacity_follows_the_watermark_edges():
    """Outputs at working size come back to full size with the opacity guided by the input's edges: given the
    exact layers at half resolution, the recovered image is clearly better than with a bilinear opacity (measured:
    43.0 vs 25.6 dB in the box, input 16.3)."""
    import torch

    from napari_doubledip.solver.filters import resize
    from napari_doubledip.tasks import watermark as wm
    from napari_doubledip.tasks._common import to_tensor

    s = watermarked(96)
    as_t = lambda a: to_tensor(a[None], torch.device("cpu"))  # noqa: E731
    full, truth = as_t(s.data), as_t(s.truth["clean"])
    alpha = torch.from_numpy(s.truth["alpha"])[None, None]
    box = torch.from_numpy(s.extra["box_mask"]).float()[None, None]
    half = (48, 48)
    out = {"alpha": resize(alpha, half), "colour": as_t(s.truth["watermark"])[..., :1, :1],
           "clean": resize(truth, half)}
    clean, _, m = wm.finish(full, out, box)
    b = s.extra["box_mask"]
    guided = psnr(clean[0].permute(1, 2, 0).numpy()[b], s.truth["clean"][b])
    m_bilinear = resize(out["alpha"], (96, 96)) * box
    plain = (full - m_bilinear * (out["colour"] - resize(out["clean"], (96, 96)))).clamp(0, 1)
    bilinear = psnr(plain[0].permute(1, 2, 0).numpy()[b], s.truth["clean"][b])
    assert guided > bilinear + 2, (guided, bilinear)
    assert float(m.min()) >= 0 and float(m.max()) <= 1 and torch.all(m[box == 0] == 0)


@pytest.mark.parametrize("boxed", [True, False])
def test_reduced_previews_of_a_large_image(monkeypatch, boxed, run_device):
    """Previews of an image over PREVIEW_PIXELS come at a reduced size; the result is the same (on the CPU,
    bit for bit; CUDA's backward kernels are not repeatable to the bit, run to run)."""
    from napari_doubledip.tasks import watermark as W

    monkeypatch.setattr(W, "PREVIEW_PIXELS", 20 * 20)
    if boxed:
        s = watermarked(40)
        args, kwargs = (s.data,), {"box": s.extra["box"]}
    else:
        s = watermark_set(3, 40)
        args, kwargs = (s.data,), {}
    seen = []
    r = dd.remove_watermark(*args, **kwargs, iterations=6, device="cpu", progress=seen.append)
    previews = [p.preview for p in seen if p.preview is not None]
    assert previews
    for p in previews:
        clean = p["clean"] if boxed else p["clean"][0]  # one image, or the first of the set
        assert p["alpha"].shape == (20, 20) and clean.shape[:2] == (20, 20)
    if run_device == "cpu":
        plain = dd.remove_watermark(*args, **kwargs, iterations=6, device="cpu")
        np.testing.assert_array_equal(r.clean, plain.clean)
        np.testing.assert_array_equal(r.alpha, plain.alpha)


def test_a_set_shares_one_opacity_and_one_colour_and_the_colour_waits():
    """(A mutation review's cases.) A set has a clean image per image but one opacity and one colour; with a
    box, the colour is held until the opacity has formed (no gradient reaches it before ``colour_from``)."""
    from types import SimpleNamespace

    import torch

    from napari_doubledip.tasks import watermark as wm

    task = wm.build_task(torch.rand(3, 3, 32, 32), None, 10)
    assert task.dips["clean"].instances == 3
    assert task.dips["alpha"].instances == 1 and task.dips["colour"].instances == 1
    target = torch.rand(1, 3, 32, 32)
    box = torch.zeros(1, 1, 32, 32)
    box[..., 8:20, 4:28] = 1
    task = wm.build_task(target, box, 10)
    grads = []
    for t in (0.1, 0.5):
        colour = torch.rand(1, 3, 1, 1, requires_grad=True)
        alpha = torch.full((1, 1, 32, 32), 0.5, requires_grad=True)
        out = {"clean": torch.rand(1, 3, 32, 32), "alpha": alpha, "colour": colour}
        task.compose(SimpleNamespace(out=out, maps=task.maps, t=t, target=target)).sum().backward()
        grads.append(colour.grad)
    assert grads[0] is None and grads[1] is not None and float(grads[1].abs().sum()) > 0


def test_a_crop_run_returns_one_watermark_colour_over_the_whole_image():
    """With a box the watermark is one colour (a scalar DIP); a small box runs on a crop, and the colour layer
    outside the crop is that colour too, not zero."""
    rng = np.random.default_rng(0)
    img = rng.random((96, 96)).astype(np.float32)
    r = dd.remove_watermark(img, box=(40, 30, 50, 60), iterations=3, device="cpu")
    assert r.params["region"] == [24, 14, 66, 76]  # (a crop)
    assert r.watermark.shape == img.shape
    assert np.ptp(r.watermark) < 1e-5 and r.watermark.min() > 0.01
