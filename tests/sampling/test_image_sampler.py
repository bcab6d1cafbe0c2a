"""ImageSampler: imbalanced-learn samplers on image arrays."""

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import make_pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError

from hemoclf.sampling import ImageSampler


@pytest.fixture(scope="module")
def images():
    """Twenty 6x6 RGB images, 14 normal (0) and 6 hemorrhage (1)."""
    rng = np.random.default_rng(0)
    y = np.array([0] * 14 + [1] * 6)
    rng.shuffle(y)
    X = rng.random((20, 6, 6, 3), dtype=np.float32) + y[:, None, None, None]
    return X, y


@pytest.mark.parametrize(
    "sampler, counts",
    [
        (RandomUnderSampler(random_state=0), [6, 6]),
        (RandomOverSampler(random_state=0), [14, 14]),
        (RandomUnderSampler(sampling_strategy=0.5, random_state=0), [12, 6]),
    ],
)
def test_row_pickers_return_the_images_themselves(images, sampler, counts):
    X, y = images
    image_sampler = ImageSampler(sampler)
    X_res, y_res = image_sampler.fit_resample(X, y)
    assert X_res.shape == (sum(counts),) + X.shape[1:]
    assert X_res.dtype == X.dtype
    assert np.bincount(y_res).tolist() == counts
    np.testing.assert_array_equal(X_res, X[image_sampler.sample_indices_])
    np.testing.assert_array_equal(y_res, y[image_sampler.sample_indices_])
    assert image_sampler.sampler_ is not sampler
    assert not hasattr(sampler, "sample_indices_")  # the parameter stays unfitted


def test_over_sampler_keeps_the_originals_first(images):
    X, y = images
    X_res, _ = ImageSampler(RandomOverSampler(random_state=0)).fit_resample(X, y)
    np.testing.assert_array_equal(X_res[: len(X)], X)


def test_three_dimensional_images(images):
    X, y = images
    gray = X[..., 0]
    image_sampler = ImageSampler(RandomUnderSampler(random_state=0))
    X_res, _ = image_sampler.fit_resample(gray, y)
    assert X_res.shape == (12, 6, 6)
    np.testing.assert_array_equal(X_res, gray[image_sampler.sample_indices_])


def _on_segment(point, start, end):
    """Whether ``point`` lies on the segment from ``start`` to ``end``."""
    direction = end - start
    t = np.dot(point - start, direction) / np.dot(direction, direction)
    return 0 <= t <= 1 and np.allclose(point, start + t * direction, atol=1e-5)


def test_smote_interpolates_between_images_of_a_class(images):
    X, y = images
    image_sampler = ImageSampler(SMOTE(k_neighbors=3, random_state=0))
    X_res, y_res = image_sampler.fit_resample(X, y)
    assert X_res.shape == (28, 6, 6, 3)
    assert np.bincount(y_res).tolist() == [14, 14]
    assert not hasattr(image_sampler, "sample_indices_")
    np.testing.assert_array_equal(X_res[: len(X)], X)
    minority = X[y == 1].reshape(6, -1).astype(np.float64)
    for synthetic in X_res[len(X):].reshape(8, -1).astype(np.float64):
        assert not any(np.array_equal(synthetic, m) for m in minority)
        assert any(
            _on_segment(synthetic, a, b)
            for i, a in enumerate(minority)
            for b in minority[i + 1:]
        )


def test_shrinkage_makes_new_images(images):
    X, y = images
    X_res, _ = ImageSampler(
        RandomOverSampler(shrinkage=1.0, random_state=0)
    ).fit_resample(X, y)
    assert X_res.shape == (28, 6, 6, 3)
    originals = X.reshape(20, -1)
    for row in X_res[len(X):].reshape(8, -1):
        assert not any(np.array_equal(row, o) for o in originals)


def test_refitting_with_a_generator_drops_stale_indices(images):
    X, y = images
    image_sampler = ImageSampler(RandomUnderSampler(random_state=0)).fit(X, y)
    assert hasattr(image_sampler, "sample_indices_")
    image_sampler.set_params(sampler=SMOTE(k_neighbors=3, random_state=0))
    image_sampler.fit_resample(X, y)
    assert not hasattr(image_sampler, "sample_indices_")


def test_tags_follow_the_wrapped_sampler():
    picker = ImageSampler(RandomUnderSampler()).__sklearn_tags__()
    tags = ImageSampler(SMOTE()).__sklearn_tags__()
    assert picker.sampler_tags.sample_indices
    assert not tags.sampler_tags.sample_indices
    assert tags.input_tags.three_d_array and tags.input_tags.two_d_array
    # Input tags come from the wrapped sampler: RandomUnderSampler takes NaN
    # and strings, SMOTE takes neither.
    assert picker.input_tags.allow_nan and picker.input_tags.string
    assert not tags.input_tags.allow_nan and not tags.input_tags.string


def _flatten(X):
    return X.reshape(len(X), -1)


def test_grid_search_tunes_the_sampling_strategy(images):
    X, y = images
    pipeline = make_pipeline(
        ImageSampler(RandomUnderSampler(random_state=0)),
        FunctionTransformer(_flatten),
        LogisticRegression(),
    )
    grid = {"imagesampler__sampler__sampling_strategy": [0.5, 1.0]}
    search = GridSearchCV(
        pipeline, grid, cv=StratifiedKFold(3), scoring="recall"
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    best = search.best_estimator_
    strategy = search.best_params_["imagesampler__sampler__sampling_strategy"]
    assert best[0].sampler_.sampling_strategy == strategy
    # The refit pipeline trained on the under-sampled images: 6 hemorrhages
    # and 6 / strategy normal ones.
    assert len(best[0].sample_indices_) == 6 + round(6 / strategy)
    assert best.predict(X).shape == (20,)
    assert clone(pipeline).get_params()["imagesampler__sampler__random_state"] == 0


@pytest.mark.parametrize(
    "sampler",
    [
        RandomUnderSampler(sampling_strategy={0: 8}, random_state=0),
        SMOTE(sampling_strategy=0.8, k_neighbors=3, random_state=0),
    ],
    ids=["under", "smote"],
)
def test_flat_rows_go_to_the_sampler_as_they_are(images, sampler):
    X, y = images
    rows = X.reshape(20, -1)
    image_sampler = ImageSampler(sampler)
    X_res, y_res = image_sampler.fit_resample(rows, y)
    X_alone, y_alone = clone(sampler).fit_resample(rows, y)
    np.testing.assert_array_equal(X_res, X_alone)
    np.testing.assert_array_equal(y_res, y_alone)
    assert image_sampler.sampling_strategy_ == image_sampler.sampler_.sampling_strategy_
    assert image_sampler.n_features_in_ == 108
    # The same images as (20, 6, 6, 3) arrays give the same rows.
    X_images, _ = ImageSampler(sampler).fit_resample(X, y)
    np.testing.assert_array_equal(X_images.reshape(len(X_images), -1), X_res)


def test_data_frames_pass_through(images):
    pd = pytest.importorskip("pandas")
    X, y = images
    frame = pd.DataFrame(X.reshape(20, -1)).add_prefix("pixel_")
    image_sampler = ImageSampler(RandomUnderSampler(random_state=0))
    X_res, y_res = image_sampler.fit_resample(frame, pd.Series(y, name="bleed"))
    assert isinstance(X_res, pd.DataFrame) and y_res.name == "bleed"
    assert image_sampler.feature_names_in_.tolist() == frame.columns.tolist()
    np.testing.assert_array_equal(
        X_res.to_numpy(), frame.to_numpy()[image_sampler.sample_indices_]
    )


def test_image_lists_come_back_as_lists(images):
    X, y = images
    image_sampler = ImageSampler(RandomUnderSampler(random_state=0))
    X_res, y_res = image_sampler.fit_resample(X.tolist(), y.tolist())
    assert isinstance(X_res, list) and isinstance(y_res, list)
    np.testing.assert_array_equal(np.asarray(X_res), X[image_sampler.sample_indices_])
    # n_features_in_ is the second axis of X, as for the other estimators.
    assert image_sampler.n_features_in_ == 6
    assert not hasattr(image_sampler, "feature_names_in_")


def test_label_count_must_match(images):
    X, y = images
    with pytest.raises(ValueError, match="X holds 20 images but y holds 19 labels"):
        ImageSampler(RandomUnderSampler()).fit_resample(X, y[:19])


def test_sampler_must_resample(images):
    X, y = images
    with pytest.raises(InvalidParameterError, match="'sampler' parameter"):
        ImageSampler(LogisticRegression()).fit_resample(X, y)


def test_wrapped_sampler_parameters_are_checked(images):
    X, y = images
    with pytest.raises(InvalidParameterError, match="'sampling_strategy' parameter "
                       "of RandomUnderSampler"):
        ImageSampler(RandomUnderSampler(sampling_strategy="most")).fit_resample(X, y)
