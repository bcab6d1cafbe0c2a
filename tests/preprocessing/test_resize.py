"""ResizeRescale: sizes, channels, dtypes, scaling and bad input."""

import numpy as np
import pytest
from skimage.transform import resize as sk_resize

from hemoclf import ResizeRescale


def test_mixed_sizes_and_modes_become_one_array():
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (300, 200, 3), dtype=np.uint8),  # RGB
        rng.integers(0, 256, (135, 821, 4), dtype=np.uint8),  # RGBA
        rng.integers(0, 256, (512, 512), dtype=np.uint8),  # gray
        rng.integers(0, 4096, (64, 80), dtype=np.uint16),  # 12-bit in uint16
        rng.random((50, 60, 1)).astype(np.float64),  # float gray
    ]
    X = ResizeRescale().fit_transform(images)
    assert X.shape == (5, 128, 128, 3)
    assert X.dtype == np.float32
    assert np.isfinite(X).all()


def test_default_rescale_maps_uint8_range_to_unit_interval():
    images = [np.full((40, 30, 3), 255, np.uint8), np.zeros((40, 30, 3), np.uint8)]
    X = ResizeRescale(output_size=(8, 8)).transform(images)
    np.testing.assert_allclose(X[0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(X[1], 0.0)


def test_alpha_is_dropped_and_gray_repeated():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 7
    gray = np.full((10, 10), 51, np.uint8)
    X = ResizeRescale(output_size=(10, 10)).transform([rgba, gray])
    np.testing.assert_allclose(X[0, ..., 0], 1.0)
    np.testing.assert_allclose(X[0, ..., 1:], 0.0)
    np.testing.assert_allclose(X[1], 0.2, rtol=1e-6)


@pytest.mark.parametrize("bands", [3, 4])
@pytest.mark.parametrize("colour_pixel", [None, (0, 0), (40, 70), (79, 99)])
def test_gray_saved_as_colour_gives_pillows_colour_resize(bands, colour_pixel):
    # Gray scans saved as RGB(A) are resampled as one band; colour images,
    # even with one coloured pixel away from the middle row, as three.
    from PIL import Image

    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (80, 100), dtype=np.uint8)
    image = np.repeat(gray[:, :, np.newaxis], bands, axis=2)
    if bands == 4:
        image[..., 3] = 200
    if colour_pixel is not None:
        image[colour_pixel + (1,)] ^= 0xFF
    expected = np.asarray(
        Image.fromarray(np.ascontiguousarray(image[..., :3])).resize(
            (48, 32), Image.Resampling.BILINEAR),
        dtype=np.float32,
    ) * np.float32(1 / 255)
    X = ResizeRescale(output_size=(32, 48)).transform([image])
    np.testing.assert_array_equal(X[0], expected)
    assert np.array_equal(X[0, ..., 0], X[0, ..., 1]) == (colour_pixel is None)


def test_rgb_to_gray_uses_luma():
    rgb = np.zeros((6, 6, 3), np.uint8)
    rgb[..., 1] = 255
    X = ResizeRescale(output_size=(6, 6), channels=1).transform([rgb])
    assert X.shape == (1, 6, 6, 1)
    np.testing.assert_allclose(X, 0.7154, rtol=1e-4)


def test_channels_none_keeps_input_channels():
    X = ResizeRescale(output_size=(4, 4), channels=None).transform(
        np.zeros((2, 8, 8, 1), np.float32)
    )
    assert X.shape == (2, 4, 4, 1)
    with pytest.raises(ValueError, match="mix gray and colour"):
        ResizeRescale(channels=None).transform(
            [np.zeros((8, 8)), np.zeros((8, 8, 3))]
        )


def test_resize_is_anti_aliased_like_skimage():
    # A fine checkerboard averages to mid-gray when shrunk with anti-aliasing.
    board = (np.indices((256, 256)).sum(axis=0) % 2 * 255).astype(np.uint8)
    X = ResizeRescale(output_size=(32, 32), channels=1).transform([board])
    reference = sk_resize(board / 255.0, (32, 32), anti_aliasing=True)
    assert abs(X.mean() - 0.5) < 0.02
    assert X[0, 4:-4, 4:-4].std() < 0.05
    np.testing.assert_allclose(X[0, 4:-4, 4:-4, 0], reference[4:-4, 4:-4], atol=0.05)


def test_smooth_image_matches_skimage_resize():
    yy, xx = np.mgrid[0:200, 0:150]
    img = (np.sin(yy / 20.0) * np.cos(xx / 15.0) * 100 + 128).astype(np.float32)
    X = ResizeRescale(output_size=(50, 40), channels=1, scale=1).transform([img])
    reference = sk_resize(img, (50, 40), anti_aliasing=True, preserve_range=True)
    np.testing.assert_allclose(X[0, 2:-2, 2:-2, 0], reference[2:-2, 2:-2], atol=3.0)


def test_keep_aspect_ratio_pads_with_pad_value():
    img = np.full((100, 50), 200, np.uint8)
    X = ResizeRescale(
        output_size=(20, 20), channels=1, keep_aspect_ratio=True, pad_value=0, scale=1
    ).transform([img])
    # The 2:1 image fills the middle 10 columns; the sides are padding.
    np.testing.assert_allclose(X[0, :, 5:15, 0], 200, rtol=1e-5)
    np.testing.assert_allclose(X[0, :, :5, 0], 0)
    np.testing.assert_allclose(X[0, :, 15:, 0], 0)


def test_same_size_input_is_only_rescaled():
    X = np.random.default_rng(0).random((3, 16, 16, 3)).astype(np.float32)
    out = ResizeRescale(output_size=(16, 16), scale=2.0).transform(X)
    np.testing.assert_allclose(out, 2 * X, rtol=1e-6)


def test_transform_does_not_modify_input():
    X = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    before = X.copy()
    ResizeRescale(output_size=(16, 16)).transform(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ([np.zeros((4, 4, 5))], ValueError, "5 channels"),
        ([np.zeros((4, 4)), np.zeros(4)], ValueError, r"Image 1 has shape \(4,\)"),
        ([np.array([["a", "b"]])], ValueError, "must be a numeric 2-D"),
        (np.zeros((2, 4, 4, 3, 1)), ValueError,
         r"got an array of shape \(2, 4, 4, 3, 1\)"),
        (np.zeros(4), ValueError, "Reshape your data"),
        (5, TypeError, "got int"),
    ],
)
def test_bad_images_are_rejected(bad, error, match):
    with pytest.raises(error, match=match):
        ResizeRescale().transform(bad)


def test_nan_is_rejected():
    img = np.zeros((4, 4))
    img[0, 0] = np.nan
    with pytest.raises(ValueError, match="Image 0 contains NaN"):
        ResizeRescale().transform([img])
    with pytest.raises(ValueError, match="NaN"):
        ResizeRescale().transform(np.stack([img, img]))


def test_sparse_is_rejected():
    import scipy.sparse as sp

    with pytest.raises(TypeError, match="does not take sparse input"):
        ResizeRescale().fit(sp.csr_matrix(np.eye(3)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"output_size": (0, 10)}, "pair of positive integers"),
        ({"output_size": (10,)}, "pair of positive integers"),
        ({"channels": 2}, "must be 1 .gray., 3 .RGB. or None"),
        ({"interpolation": "cubic"}, "interpolation"),
        ({"scale": -1}, "scale"),
    ],
)
def test_bad_parameters_are_rejected(params, match):
    with pytest.raises(ValueError, match=match):
        ResizeRescale(**params).fit_transform([np.zeros((4, 4))])


def test_real_head_ct_images_resize(head_ct_dir):
    from PIL import Image

    paths = sorted(head_ct_dir.glob("*.png"))
    paths = paths[:12] + paths[-12:]
    images = [np.asarray(Image.open(p)) for p in paths]
    assert {img.shape[-1] for img in images} == {3, 4}
    X = ResizeRescale().fit_transform(images)
    assert X.shape == (24, 128, 128, 3)
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert X.mean() > 0.05  # not blank
