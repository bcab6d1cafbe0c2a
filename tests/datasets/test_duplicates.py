"""find_near_duplicates: copies share a group, different images do not."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data
from sklearn.model_selection import StratifiedGroupKFold

from hemoclf.datasets import find_near_duplicates


def _png_round_trip(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    buffer.seek(0)
    return np.asarray(Image.open(buffer))


def _recropped_copy(image, scale=0.6):
    """Re-cropped, re-scaled and re-saved (PNG) copy of a uint8 image."""
    cropped = Image.fromarray(image[20:-10, 15:-25])
    size = (round(cropped.width * scale), round(cropped.height * scale))
    return _png_round_trip(np.asarray(cropped.resize(size)))


def test_a_recropped_rescaled_resaved_copy_shares_a_group():
    photo = data.camera()
    groups = find_near_duplicates([photo, _recropped_copy(photo), data.moon()])
    np.testing.assert_array_equal(groups, [0, 0, 1])


def test_copies_across_colour_modes_and_borders():
    photo = data.astronaut()  # RGB
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    padded = np.pad(photo, ((30, 0), (0, 40), (0, 0)))  # black borders
    groups = find_near_duplicates([photo, data.coins(), rgba, padded])
    np.testing.assert_array_equal(groups, [0, 1, 0, 0])


def test_float_images_are_accepted():
    photo = data.camera().astype(np.float32) * 4 - 1000  # e.g. HU-like range
    groups = find_near_duplicates([photo, photo.copy(), data.moon() * 1.0])
    np.testing.assert_array_equal(groups, [0, 0, 1])


def test_groups_are_numbered_by_first_appearance():
    photo, moon = data.camera(), data.moon()
    groups = find_near_duplicates([moon, photo, data.coins(), photo, moon])
    np.testing.assert_array_equal(groups, [0, 1, 2, 1, 0])


def test_verification_rejects_hash_neighbours_that_are_not_copies():
    # Two noise images have close hashes after heavy blurring, but their
    # keypoints do not match.
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    a, b = (np.clip(128 + 60 * gaussian_filter(rng.standard_normal((256, 256)), 3)
                    + np.linspace(-80, 80, 256), 0, 255).astype(np.uint8)
            for _ in range(2))
    assert find_near_duplicates([a, b], threshold=64, verify=False).tolist() == [0, 0]
    assert find_near_duplicates([a, b], threshold=64).tolist() == [0, 1]


def test_phantom_copies_share_a_group():
    from hemoclf.datasets import make_head_ct

    hu = make_head_ct(2, image_size=128, random_state=3).images
    copy = np.asarray(Image.fromarray(hu[0][8:-4, 4:-8]).resize((96, 93)))
    groups = find_near_duplicates([hu[0], hu[1], copy])
    np.testing.assert_array_equal(groups, [0, 1, 0])


def test_flat_images_fall_back_on_equal_hashes():
    flat = np.full((32, 32), 7, np.uint8)
    groups = find_near_duplicates([flat, flat.copy(), data.camera()])
    np.testing.assert_array_equal(groups, [0, 0, 1])


def test_empty_input():
    assert find_near_duplicates([]).shape == (0,)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((4, 4, 4, 1)), r"Image 0 has shape \(4, 4, 4, 1\).*2-D slices"),
        (np.zeros((1, 8)), r"at least 2x2 pixels"),
        (np.array([["a", "b"], ["c", "d"]]), r"dtype <U1"),
    ],
)
def test_bad_images_are_named(image, message):
    with pytest.raises(ValueError, match=message):
        find_near_duplicates([image])


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="method"):
        find_near_duplicates([data.camera()], method="md5")
    with pytest.raises(ValueError, match="threshold"):
        find_near_duplicates([data.camera()], threshold=-1)


def test_groups_keep_copies_on_one_side_of_a_split():
    photos = [data.camera(), data.moon(), data.coins(), data.astronaut(),
              data.coffee(), data.immunohistochemistry()]
    images = photos + [_recropped_copy(photos[0]), _recropped_copy(photos[1])]
    groups = find_near_duplicates(images)
    assert groups[6] == groups[0] and groups[7] == groups[1]
    assert len(set(groups)) == 6
    target = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    for train, test in StratifiedGroupKFold(n_splits=2).split(images, target, groups):
        assert not set(groups[train]) & set(groups[test])
