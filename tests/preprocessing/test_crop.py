"""Cropping to the head: what is kept, what is blanked, odd input."""

import numpy as np
import pytest

from hemoclf import ResizeRescale
from hemoclf.preprocessing._crop import crop_to_head, head_mask


def _rendering(*, background=40, gap=False):
    """A display rendering: a skull ring around a brain with a round bleed, on
    a gray border with a letter burned into the top-left corner."""
    image = np.full((120, 160), background, dtype=np.uint8)
    yy, xx = np.mgrid[:120, :160]
    r = (yy - 65) ** 2 / 45**2 + (xx - 85) ** 2 / 55**2
    image[r <= 1] = 250  # skull
    image[r <= 0.8] = 110  # brain
    image[(yy - 60) ** 2 + (xx - 100) ** 2 <= 36] = 170  # bleed
    if gap:  # a craniotomy: the ring opens on the upper right
        image[(r > 0.8) & (r <= 1) & (yy < 50) & (xx > 95)] = background
    image[3:12, 4:10] = 255  # the letter
    return image


def test_the_head_is_kept_and_the_border_blanked():
    image = _rendering()
    cropped = crop_to_head(image, margin=0)
    # The skull spans rows 20..110 and columns 30..140.
    assert cropped.shape == (91, 111)
    assert cropped.dtype == np.uint8
    # Corners (border, letter) are black; the bleed and the brain survive.
    assert cropped[0, 0] == 0 and cropped[-1, -1] == 0
    assert (cropped == 170).sum() == (image == 170).sum()
    assert (cropped == 110).sum() == (image == 110).sum()
    assert not (cropped[:8, :8] == 255).any()


def test_the_margin_widens_the_crop():
    image = _rendering()
    tight = crop_to_head(image, margin=0)
    wide = crop_to_head(image, margin=0.05)
    assert wide.shape == (tight.shape[0] + 2 * 4, tight.shape[1] + 2 * 5)


def test_an_open_skull_keeps_the_brain_inside():
    image = _rendering(gap=True)
    cropped = crop_to_head(image, margin=0)
    assert (cropped == 170).sum() == (image == 170).sum()
    assert (cropped == 110).sum() == (image == 110).sum()


def test_colour_and_alpha_give_the_gray_crop():
    gray = _rendering()
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    cropped = crop_to_head(rgba, margin=0)
    assert cropped.shape == (91, 111, 4)
    np.testing.assert_array_equal(cropped[..., 0], crop_to_head(gray, margin=0))


def test_hounsfield_background_becomes_the_image_minimum():
    hu = np.where(_rendering() == 40, -1000.0, 40.0).astype(np.float32)
    hu[_rendering() == 250] = 1000.0
    hu[:3, :3] = -1024.0  # padding
    cropped = crop_to_head(hu, margin=0)
    assert cropped[0, 0] == -1024.0
    assert cropped[45, 55] == 40.0


@pytest.mark.parametrize("image", [np.zeros((30, 30), np.uint8),
                                   np.full((30, 30, 3), 0.5)])
def test_a_blank_image_is_left_alone(image):
    assert head_mask(image[..., 0] if image.ndim == 3 else image) is None
    assert crop_to_head(image) is image


def test_resize_rescale_crops_before_resizing():
    image = np.zeros((400, 400), dtype=np.uint8)
    image[150:250, 100:300] = 200  # a small head in a large border
    plain = ResizeRescale((32, 32), channels=1, keep_aspect_ratio=True)
    cropped = ResizeRescale((32, 32), channels=1, keep_aspect_ratio=True,
                            crop_to_head=True)
    # Without the crop the head covers a quarter of the rows; with it (and
    # its 2 % margin), it fills the width and half of the height.
    assert (plain.transform([image])[0, :, 16, 0] > 0.5).sum() == 8
    out = cropped.transform([image])[0, :, :, 0]
    assert (out[16] > 0.5).sum() >= 30
    assert 14 <= (out[:, 16] > 0.5).sum() <= 16


def test_crop_to_head_rejects_nan():
    image = np.ones((20, 20))
    image[3, 4] = np.nan
    with pytest.raises(ValueError, match="Image 1 contains NaN"):
        ResizeRescale((8, 8), crop_to_head=True).transform(
            [np.ones((20, 20)), image])


@pytest.mark.realdata
def test_real_head_ct_images_keep_their_head(head_ct_dir):
    from PIL import Image

    for path in sorted(head_ct_dir.glob("*.png")):
        image = np.asarray(Image.open(path))
        cropped = crop_to_head(image)
        # The renderings are already framed around the head: the crop keeps
        # most of each side, and blanks the corners.
        assert cropped.shape[0] >= 0.6 * image.shape[0], path
        assert cropped.shape[1] >= 0.6 * image.shape[1], path
        corners = cropped[[0, 0, -1, -1], [0, -1, 0, -1], :3]
        assert (corners == 0).all(), path
