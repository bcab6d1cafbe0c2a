import numpy as np
import pytest
from PIL import Image

from hemoclf import ResizeRescale
from hemoclf.preprocessing._resample import FILTERS, resample_float, resampling_matrix

PILLOW = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}


def pillow_float(image, size, interpolation):
    """Pillow's float ("F" mode) resize, one channel at a time."""
    h, w = size
    return np.stack([
        np.asarray(Image.fromarray(np.ascontiguousarray(image[:, :, k]), mode="F")
                   .resize((w, h), PILLOW[interpolation]))
        for k in range(image.shape[2])
    ], axis=2)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("interpolation", sorted(FILTERS))
@pytest.mark.parametrize(
    "in_shape, size",
    [
        ((256, 256, 3), (128, 128)),  # exact halving (the phantom)
        ((821, 600, 1), (128, 128)),  # large, uneven reduction (head_ct)
        ((97, 131, 3), (128, 64)),  # enlarge one axis, shrink the other
        ((40, 50, 1), (40, 17)),  # one axis unchanged
        ((5, 7, 3), (1, 1)),  # down to one pixel
        ((1, 1, 1), (9, 4)),  # up from one pixel
    ],
)
def test_resample_gives_pillows_numbers(rng, interpolation, in_shape, size):
    image = rng.uniform(-1.0, 2.0, size=in_shape).astype(np.float32)
    ours = resample_float(image, size, interpolation)
    assert ours.shape == size + in_shape[2:] and ours.dtype == np.float32
    np.testing.assert_allclose(ours, pillow_float(image, size, interpolation),
                               rtol=0, atol=2e-6)


@pytest.mark.parametrize("interpolation", sorted(FILTERS))
def test_resampling_rows_are_normalised_and_local(interpolation):
    weights = resampling_matrix(300, 70, interpolation).toarray()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    # Each output pixel only reads input pixels within the widened support.
    _, support = FILTERS[interpolation]
    reach = support * 300 / 70 + 1
    rows, cols = np.nonzero(weights)
    centers = (rows + 0.5) * 300 / 70
    assert np.all(np.abs(cols + 0.5 - centers) <= reach)


@pytest.mark.parametrize("interpolation", sorted(PILLOW))
@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
def test_resize_rescale_float_path_matches_pillow(rng, interpolation,
                                                   keep_aspect_ratio):
    images = [rng.uniform(0, 1, size=s).astype(np.float32)
              for s in [(256, 256, 3), (300, 180, 3), (64, 90, 3)]]
    transformer = ResizeRescale(scale=1, interpolation=interpolation,
                                keep_aspect_ratio=keep_aspect_ratio)
    out = transformer.transform(images)
    for image, got in zip(images, out):
        if keep_aspect_ratio:
            ratio = min(128 / image.shape[0], 128 / image.shape[1])
            size = (round(image.shape[0] * ratio), round(image.shape[1] * ratio))
            top, left = (128 - size[0]) // 2, (128 - size[1]) // 2
            got = got[top : top + size[0], left : left + size[1]]
        else:
            size = (128, 128)
        np.testing.assert_allclose(got, pillow_float(image, size, interpolation),
                                   rtol=0, atol=2e-6)


def test_threads_give_the_same_numbers(rng):
    images = rng.uniform(0, 1, size=(40, 200, 150, 3)).astype(np.float32)
    one = ResizeRescale(scale=1, n_jobs=1).transform(images)
    np.testing.assert_array_equal(ResizeRescale(scale=1, n_jobs=2).transform(images),
                                  one)
