"""ResizeRescale against naive per-image loops (scikit-image and Pillow).

The naive loops are what a user would write first: read each image's pixels,
resize it, fix its channels, rescale, stack. They produce the same
(n, 128, 128, 3) float32 array as ResizeRescale.
"""

import numpy as np
import pytest
from PIL import Image
from skimage.transform import resize as sk_resize

from hemoclf import ResizeRescale
from hemoclf.utils._testing import bench_full

FULL = bench_full()


def _rgb_float(image):
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return image


def naive_skimage(images, scale):
    return np.stack([
        sk_resize(_rgb_float(img), (128, 128), anti_aliasing=True,
                  preserve_range=True).astype(np.float32) * scale
        for img in images
    ])


def naive_pillow(images, scale):
    out = []
    for img in images:
        img = _rgb_float(img)
        channels = [
            np.asarray(Image.fromarray(img[:, :, k], mode="F").resize(
                (128, 128), Image.Resampling.BILINEAR))
            for k in range(3)
        ]
        out.append(np.stack(channels, axis=2) * scale)
    return np.stack(out)


def naive_pillow_uint8(images):
    return np.stack([
        np.asarray(Image.fromarray(img).convert("RGB").resize(
            (128, 128), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
        for img in images
    ])


@pytest.fixture(scope="module")
def head_ct_images(head_ct_dir):
    paths = sorted(head_ct_dir.glob("*.png"))
    return [np.asarray(Image.open(p)) for p in paths]


@pytest.fixture(scope="module")
def phantom_windows():
    from hemoclf.datasets import make_head_ct
    from hemoclf.preprocessing import CTWindow

    X, _ = make_head_ct(400 if FULL else 200, random_state=0, return_X_y=True)
    return CTWindow().fit_transform(X)  # (n, 256, 256, 3) floats in [0, 1]


def test_same_numbers_as_the_naive_loops(head_ct_images, phantom_windows):
    ours = ResizeRescale().transform(head_ct_images)
    # Pillow's reducing_gap pre-shrinks the largest images with a box filter:
    # a few pixels differ by up to a few grey levels from a plain resize.
    diff = np.abs(ours - naive_pillow_uint8(head_ct_images))
    assert diff.mean() < 1e-3 and diff.max() <= 6 / 255
    # scikit-image's Gaussian anti-aliasing and Pillow's filters differ at
    # sharp edges (skull, burned-in text): close on average, a few pixels off.
    diff = np.abs(ours - naive_skimage(head_ct_images, 1 / 255))
    assert diff.mean() < 0.01 and np.mean(diff > 0.08) < 0.005
    ours = ResizeRescale(scale=1).transform(phantom_windows)
    np.testing.assert_allclose(ours, naive_pillow(phantom_windows, 1.0), atol=1e-6)


G_CT_SK = "resize head_ct: vs skimage loop"
G_CT_PIL = "resize head_ct: vs Pillow loop"
G_PH_SK = "resize phantom: vs skimage loop"
G_PH_PIL = "resize phantom: vs Pillow loop"


def test_head_ct_skimage_loop(compare, head_ct_images):
    compare(lambda: naive_skimage(head_ct_images, 1 / 255), group=G_CT_SK,
            role="baseline")


def test_head_ct_resize_rescale_vs_skimage(compare, head_ct_images):
    compare(lambda: ResizeRescale().transform(head_ct_images), group=G_CT_SK,
            role="hemoclf", target=2.0, note="200 real PNGs, native sizes")


def test_head_ct_pillow_loop(compare, head_ct_images):
    compare(lambda: naive_pillow_uint8(head_ct_images), group=G_CT_PIL,
            role="baseline")


def test_head_ct_resize_rescale_vs_pillow(compare, head_ct_images):
    compare(lambda: ResizeRescale().transform(head_ct_images), group=G_CT_PIL,
            role="hemoclf", target=2.0, note="200 real PNGs, native sizes")


def test_phantom_skimage_loop(compare, phantom_windows):
    compare(lambda: naive_skimage(phantom_windows, 1.0), group=G_PH_SK,
            role="baseline")


def test_phantom_resize_rescale_vs_skimage(compare, phantom_windows):
    compare(lambda: ResizeRescale(scale=1).transform(phantom_windows), group=G_PH_SK,
            role="hemoclf", target=2.0, note="windowed phantom 256 -> 128, float")


def test_phantom_pillow_loop(compare, phantom_windows):
    compare(lambda: naive_pillow(phantom_windows, 1.0), group=G_PH_PIL,
            role="baseline")


def test_phantom_resize_rescale_vs_pillow(compare, phantom_windows):
    compare(lambda: ResizeRescale(scale=1).transform(phantom_windows), group=G_PH_PIL,
            role="hemoclf", target=2.0, note="windowed phantom 256 -> 128, float")
