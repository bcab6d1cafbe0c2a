"""AugmentationSampler on small image arrays."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from hemoclf._augmentation import AUGMENTATION_DEFAULTS, FILL_MODES
from hemoclf.sampling import AugmentationSampler

OFF = {"flip_horizontal": False, "flip_vertical": False, "rotation": 0, "zoom": 0,
       "shear": 0, "shift": 0}


@pytest.fixture(scope="module")
def images():
    """Ten 12x12 one-channel images, 7 normal (0) and 3 hemorrhage (1)."""
    rng = np.random.default_rng(0)
    X = rng.random((10, 12, 12, 1), dtype=np.float32)
    y = np.array([0, 1, 0, 0, 1, 0, 0, 1, 0, 0])
    return X, y


@pytest.fixture(scope="module")
def resampled(images):
    X, y = images
    sampler = AugmentationSampler({0: 12, 1: 9}, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    return sampler, X_res, y_res


@pytest.mark.parametrize(
    "strategy, expected",
    [
        ({0: 12, 1: 9}, [12, 9]),
        ({1: 5}, [7, 5]),
        (1.0, [7, 7]),
        (0.8, [7, 5]),  # int(0.8 * 7) images of class 1
        ("auto", [7, 7]),
        ("not majority", [7, 7]),
        ("minority", [7, 7]),
        ("all", [7, 7]),
        (lambda y: {0: 8, 1: 8}, [8, 8]),
    ],
)
def test_class_counts_as_asked(images, strategy, expected):
    X, y = images
    _, y_res = AugmentationSampler(strategy, **OFF).fit_resample(X, y)
    assert np.bincount(y_res).tolist() == expected


def test_the_papers_expansion():
    # 90 + 90 training images to 500 + 500.
    X = np.zeros((180, 4, 4, 1), dtype=np.float32)
    y = np.repeat([0, 1], 90)
    X_res, y_res = AugmentationSampler({0: 500, 1: 500}, **OFF).fit_resample(X, y)
    assert X_res.shape == (1000, 4, 4, 1)
    assert np.bincount(y_res).tolist() == [500, 500]


def test_multiclass_auto(images):
    X, _ = images
    y = np.array([0, 0, 0, 0, 0, 1, 1, 2, 2, 2])
    _, y_res = AugmentationSampler(**OFF).fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [5, 5, 5]


def test_originals_first_and_untouched(images, resampled):
    X, y = images
    _, X_res, y_res = resampled
    assert X_res.dtype == X.dtype
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(y_res[: len(y)], y)


def test_source_indices_and_even_copies(images, resampled):
    X, y = images
    sampler, _, y_res = resampled
    sources = sampler.source_indices_
    np.testing.assert_array_equal(sources[: len(X)], np.arange(len(X)))
    new = sources[len(X):]
    np.testing.assert_array_equal(y[new], y_res[len(X):])
    # Generated images come class by class, in sorted label order.
    assert np.all(np.diff(y_res[len(X):]) >= 0)
    for label in (0, 1):
        copies = np.bincount(new, minlength=len(X))[y == label]
        assert copies.max() - copies.min() <= 1
    assert sampler.sampling_strategy_ == {0: 5, 1: 6}


def test_augmented_copies_differ_from_their_sources(images, resampled):
    X, _ = images
    sampler, X_res, _ = resampled
    new = sampler.source_indices_[len(X):]
    for generated, source in zip(X_res[len(X):], X[new]):
        assert not np.allclose(generated, source)
    assert np.all(np.isfinite(X_res))


def test_everything_switched_off_copies_exactly(images):
    X, y = images
    sampler = AugmentationSampler({0: 12, 1: 9}, random_state=0, **OFF)
    X_res, _ = sampler.fit_resample(X, y)
    np.testing.assert_array_equal(X_res, X[sampler.source_indices_])


def test_flips_alone_only_flip(images):
    X, y = images
    sampler = AugmentationSampler(
        {0: 40, 1: 40}, random_state=0, **{**OFF, "flip_horizontal": True}
    )
    X_res, _ = sampler.fit_resample(X, y)
    kinds = []
    for generated, source in zip(X_res[len(X):], X[sampler.source_indices_[len(X):]]):
        if np.array_equal(generated, source):
            kinds.append("same")
        else:
            np.testing.assert_array_equal(generated, source[:, ::-1])
            kinds.append("flipped")
    assert {"same", "flipped"} == set(kinds)


def test_gamma_alone_bends_intensities(images):
    X, y = images
    sampler = AugmentationSampler({0: 12, 1: 9}, random_state=0,
                                  **{**OFF, "gamma": 0.5})
    X_res, _ = sampler.fit_resample(X, y)
    for generated, source in zip(X_res[len(X):], X[sampler.source_indices_[len(X):]]):
        exponent = np.log(generated.flat[0]) / np.log(source.flat[0])
        np.testing.assert_allclose(generated, source ** exponent, rtol=1e-4,
                                   atol=1e-6)


def test_fill_value_fills_the_border(images):
    X, y = images
    params = {**OFF, "shift": 0.5, "fill_value": 7.0}
    X_res, _ = AugmentationSampler({1: 6}, random_state=0, **params).fit_resample(X, y)
    # Pixels are in [0, 1]; shifted-in border pixels carry the fill value.
    assert X_res[len(X):].max() == pytest.approx(7.0)
    assert X_res[: len(X)].max() <= 1.0


def test_same_seed_same_output_other_seed_other_output(images, resampled):
    X, y = images
    _, X_res, y_res = resampled
    X_again, y_again = AugmentationSampler({0: 12, 1: 9}, random_state=0).fit_resample(
        X, y
    )
    np.testing.assert_array_equal(X_again, X_res)
    np.testing.assert_array_equal(y_again, y_res)
    X_other, _ = AugmentationSampler({0: 12, 1: 9}, random_state=1).fit_resample(X, y)
    assert not np.array_equal(X_other, X_res)


def test_random_state_instance_is_drawn_from(images):
    X, y = images
    rng = np.random.RandomState(0)
    sampler = AugmentationSampler({1: 6}, random_state=rng)
    first, _ = sampler.fit_resample(X, y)
    second, _ = sampler.fit_resample(X, y)
    assert not np.array_equal(first, second)


def test_three_dimensional_input_keeps_its_rank(images, resampled):
    X, y = images
    _, X_res, _ = resampled
    X_3d, _ = AugmentationSampler({0: 12, 1: 9}, random_state=0).fit_resample(
        X[..., 0], y
    )
    assert X_3d.shape == X_res.shape[:-1]
    np.testing.assert_array_equal(X_3d, X_res[..., 0])


@pytest.mark.parametrize(
    "dtype, expected", [(np.float64, np.float64), (np.uint8, np.float32)]
)
def test_dtypes(images, dtype, expected):
    X, y = images
    X = (X * 255).astype(dtype)
    X_res, _ = AugmentationSampler({1: 5}, random_state=0).fit_resample(X, y)
    assert X_res.dtype == expected
    np.testing.assert_array_equal(X_res[: len(X)], X)


def test_rgb_images_and_small_batches(images):
    X, y = images
    X = np.repeat(X, 3, axis=-1)
    sampler = AugmentationSampler({1: 8}, random_state=0, batch_size=2)
    X_res, _ = sampler.fit_resample(X, y)
    assert X_res.shape == (15, 12, 12, 3)
    # A gray image stays gray: the same transformation moves every channel.
    np.testing.assert_array_equal(X_res[..., 0], X_res[..., 2])


def test_fit_computes_the_strategy_only(images):
    X, y = images
    sampler = AugmentationSampler().fit(X, y)
    assert sampler.sampling_strategy_ == {1: 4}
    assert not hasattr(sampler, "source_indices_")


def test_defaults_match_the_classifiers_augmentation():
    params = AugmentationSampler().get_params()
    assert {k: params[k] for k in AUGMENTATION_DEFAULTS} == AUGMENTATION_DEFAULTS
    allowed = AugmentationSampler._parameter_constraints["fill_mode"][0].options
    assert allowed == set(FILL_MODES)


def test_clone_and_tags():
    sampler = AugmentationSampler({0: 3}, rotation=5.0, random_state=3)
    assert clone(sampler).get_params() == sampler.get_params()
    tags = sampler.__sklearn_tags__()
    assert tags.input_tags.two_d_array and tags.input_tags.three_d_array
    assert not tags.input_tags.sparse


def test_flat_rows_are_images_one_pixel_high(images):
    X, y = images
    rows = X[:, 0, :, 0]  # (10, 12)
    sampler = AugmentationSampler({0: 12, 1: 9}, random_state=0)
    X_rows, y_rows = sampler.fit_resample(rows, y)
    X_flat_images, y_images = AugmentationSampler(
        {0: 12, 1: 9}, random_state=0
    ).fit_resample(rows[:, np.newaxis, :, np.newaxis], y)
    assert X_rows.shape == (21, 12)
    np.testing.assert_array_equal(X_rows, X_flat_images[:, 0, :, 0])
    np.testing.assert_array_equal(y_rows, y_images)
    np.testing.assert_array_equal(X_rows[:10], rows)
    new = sampler.source_indices_[10:]
    assert not np.allclose(X_rows[10:], rows[new])
    assert sampler.n_features_in_ == 12


def test_data_frames_lists_and_one_hot_labels_keep_their_type(images):
    pd = pytest.importorskip("pandas")
    X, y = images
    rows = X[:, 0, :, 0]
    columns = [f"pixel_{i}" for i in range(12)]
    sampler = AugmentationSampler({0: 9, 1: 5}, random_state=0)
    X_df, y_s = sampler.fit_resample(
        pd.DataFrame(rows, columns=columns), pd.Series(y, name="hemorrhage")
    )
    assert isinstance(X_df, pd.DataFrame) and list(X_df.columns) == columns
    assert isinstance(y_s, pd.Series) and y_s.name == "hemorrhage"
    assert sampler.feature_names_in_.tolist() == columns
    X_arr, y_arr = AugmentationSampler({0: 9, 1: 5}, random_state=0).fit_resample(
        rows, y
    )
    np.testing.assert_array_equal(X_df.to_numpy(), X_arr)
    np.testing.assert_array_equal(y_s.to_numpy(), y_arr)

    X_list, y_list = AugmentationSampler({1: 4}, **OFF).fit_resample(
        X[..., 0].tolist(), y.tolist()
    )
    assert isinstance(X_list, list) and isinstance(y_list, list)
    assert np.shape(X_list) == (11, 12, 12)

    y_three = np.array([0, 1, 0, 0, 1, 2, 2, 1, 0, 2])
    one_hot = np.eye(3, dtype=int)[y_three]
    _, y_hot = AugmentationSampler({1: 4}, **OFF).fit_resample(X, one_hot)
    assert y_hot.shape == (11, 3)
    np.testing.assert_array_equal(y_hot.argmax(axis=1), [*y_three, 1])


def test_volumes_are_refused_with_a_fix(images):
    X, y = images
    with pytest.raises(ValueError, match=r"got shape \(10, 12, 12, 1, 1\)\. Cut "
                       "volumes into 2-D slices"):
        AugmentationSampler().fit_resample(X[..., np.newaxis], y)


def test_label_errors(images):
    X, y = images
    with pytest.raises(ValueError, match="X holds 10 images but y holds 9 labels"):
        AugmentationSampler().fit_resample(X, y[:9])
    with pytest.raises(ValueError, match="Unknown label type"):
        AugmentationSampler().fit_resample(X, np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="With over-sampling methods, the number of "
                       "samples in a class should be greater or equal"):
        AugmentationSampler({0: 3}).fit_resample(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"fill_mode": "mirror"}, "'fill_mode' parameter"),
        ({"rotation": 200}, "'rotation' parameter"),
        ({"zoom": 1.0}, "'zoom' parameter"),
        ({"gamma": 2.5}, "'gamma' parameter"),
        ({"batch_size": 0}, "'batch_size' parameter"),
        ({"sampling_strategy": "most"}, "'sampling_strategy' parameter"),
    ],
)
def test_parameter_errors(images, params, match):
    X, y = images
    with pytest.raises(InvalidParameterError, match=match):
        AugmentationSampler(**params).fit_resample(X, y)


def test_nan_images_are_refused(images):
    X, y = images
    X = X.copy()
    X[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        AugmentationSampler().fit_resample(X, y)
