"""make_head_ct: shapes, Hounsfield units, determinism and a non-trivial task."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from hemoclf.datasets import HEMORRHAGE_TYPES, make_head_ct


@pytest.fixture(scope="module")
def phantom():
    return make_head_ct(60, image_size=96, random_state=0)


def test_shapes_and_fields(phantom):
    assert phantom.images.shape == (60, 96, 96)
    assert phantom.images.dtype == np.float32
    assert phantom.masks.shape == phantom.images.shape
    assert phantom.masks.dtype == bool
    assert phantom.target.dtype.kind == "i"
    assert phantom.subtle.shape == (60,)
    assert list(phantom.target_names) == ["normal", "hemorrhage"]
    assert "Hounsfield" in phantom.DESCR and "phantom" in phantom.DESCR


def test_balanced_by_default_and_types_match_target(phantom):
    assert np.bincount(phantom.target).tolist() == [30, 30]
    assert set(phantom.hemorrhage_type[phantom.target == 0]) == {"none"}
    assert set(phantom.hemorrhage_type[phantom.target == 1]) <= set(HEMORRHAGE_TYPES)
    assert set(phantom.subtle[phantom.target == 0]) == {"none"}


def test_hounsfield_units_of_the_anatomy(phantom):
    images = phantom.images
    corners = images[:, :6, :6]
    assert abs(np.median(corners) + 1000) < 10  # air
    assert (images.max(axis=(1, 2)) > 600).all()  # bone
    centre = images[:, 40:56, 40:56]
    brain = centre[(centre > 15) & (centre < 50)]
    assert 25 <= np.median(brain) <= 40
    assert images.min() > -1100


def test_masks_mark_blood_in_positives_only(phantom):
    area = phantom.masks.reshape(len(phantom.masks), -1).sum(axis=1)
    assert (area[phantom.target == 0] == 0).all()
    assert (area[phantom.target == 1] > 0).all()
    blood = phantom.images[phantom.masks]
    assert 45 <= np.median(blood) <= 95


def test_deterministic_by_seed():
    a = make_head_ct(5, image_size=48, random_state=3)
    b = make_head_ct(5, image_size=48, random_state=3)
    c = make_head_ct(5, image_size=48, random_state=4)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.hemorrhage_type, b.hemorrhage_type)
    assert not np.array_equal(a.images, c.images)


def test_weights_and_return_x_y():
    images, target = make_head_ct(40, weights=[0.75], image_size=32,
                                  random_state=0, return_X_y=True)
    assert images.shape == (40, 32, 32)
    assert np.bincount(target).tolist() == [30, 10]
    _, target = make_head_ct(10, weights=(0.2, 0.8), image_size=32,
                             random_state=0, return_X_y=True)
    assert target.sum() == 8


@pytest.mark.parametrize("kind", HEMORRHAGE_TYPES)
def test_each_hemorrhage_type_is_drawn(kind):
    data = make_head_ct(6, weights=[0.0], image_size=64, random_state=1,
                        hemorrhage_types=[kind])
    assert set(data.hemorrhage_type) == {kind}
    assert data.masks.any(axis=(1, 2)).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weights": [0.6, 0.6]}, r"must sum to 1"),
        ({"weights": [1.5]}, r"one or two fractions in \[0, 1\]"),
        ({"weights": [0.2, 0.3, 0.5]}, r"one or two fractions"),
        ({"hemorrhage_types": ["subdural", "chronic"]}, r"unknown: \['chronic'\]"),
        ({"hemorrhage_types": []}, r"non-empty subset"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_head_ct(4, image_size=32, **kwargs)


def test_image_size_is_validated():
    with pytest.raises(ValueError, match="image_size"):
        make_head_ct(4, image_size=16)


def test_a_linear_model_on_pixels_is_far_from_perfect():
    # The anatomy varies as much in both classes, and bleeds are often small:
    # raw brain-window pixels do not make the classes linearly separable.
    images, target = make_head_ct(240, image_size=64, random_state=0,
                                  return_X_y=True)
    pixels = np.clip(images / 80, 0, 1).reshape(240, 32, 2, 32, 2).mean(axis=(2, 4))
    auc = cross_val_score(LogisticRegression(C=0.1, max_iter=500),
                          pixels.reshape(240, -1), target, cv=3,
                          scoring="roc_auc").mean()
    assert auc < 0.8


def test_bleeds_are_visible_against_the_brain(phantom):
    # Blood is denser than the brain around it in every positive slice.
    from scipy.ndimage import binary_dilation

    for image, mask in zip(phantom.images[phantom.target == 1],
                           phantom.masks[phantom.target == 1]):
        ring = binary_dilation(mask, iterations=3) & ~mask
        around = image[ring & (image > 0) & (image < 60)]
        assert np.median(image[mask]) > np.median(around) + 5


@pytest.fixture(scope="module")
def phantom_64():
    return make_head_ct(400, image_size=64, random_state=0)


def test_most_bleeds_are_conspicuous_and_a_minority_subtle(phantom_64):
    positive = phantom_64.target == 1
    subtle = phantom_64.subtle[positive]
    assert set(subtle) == {"none", "small", "faint"}
    assert 0.04 <= np.mean(subtle != "none") <= 0.2  # drawn at 0.1
    area = phantom_64.masks[positive].sum(axis=(1, 2))
    conspicuous = area[subtle == "none"]
    # Several pixels of blood at 64x64 for nearly every conspicuous bleed,
    # and the small ones clearly smaller.
    assert np.percentile(conspicuous, 5) >= 10
    assert np.median(area[subtle == "small"]) < 0.6 * np.median(conspicuous)


def test_faint_bleeds_are_less_dense(phantom_64):
    positive = phantom_64.target == 1
    masks, images = phantom_64.masks[positive], phantom_64.images[positive]
    subtle = phantom_64.subtle[positive]
    # The median blood pixel of each bleed, leaving out the pixels blurred
    # with the skull (over 100 HU) of the bleeds along the inner table.
    blood = [i[m & (i < 100)] for i, m in zip(images, masks)]
    core = np.array([np.median(b) if b.size else np.nan for b in blood])
    faint, conspicuous = core[subtle == "faint"], core[subtle == "none"]
    assert np.isfinite(faint).all()
    assert np.median(faint) < np.nanmedian(conspicuous) - 10


def test_simple_image_statistics_do_not_give_the_class_away(phantom_64):
    # Head size, overall density and spread are drawn alike in both classes.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    images = phantom_64.images
    stats = np.column_stack([images.mean(axis=(1, 2)), images.std(axis=(1, 2)),
                             (images > -500).mean(axis=(1, 2))])
    auc = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()),
                          stats, phantom_64.target, cv=5,
                          scoring="roc_auc").mean()
    assert auc < 0.65
