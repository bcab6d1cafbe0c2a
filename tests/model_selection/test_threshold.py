"""The pooled sensitivity-floor threshold and its classifier."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    cross_val_predict,
)
from sklearn.utils._param_validation import InvalidParameterError

from hemoclf import HemorrhageCNNClassifier, load_model, save_model
from hemoclf.inspection import grad_cam
from hemoclf.metrics import sensitivity_score, specificity_score
from hemoclf.model_selection import (
    SensitivityThresholdClassifierCV,
    sensitivity_floor_threshold,
)
from hemoclf.utils._testing import TINY_CNN_PARAMS


@pytest.fixture(scope="module")
def noisy():
    return make_classification(n_samples=240, n_features=6, flip_y=0.15,
                               random_state=0)


# ------------------------------------------------------------------ the rule
@pytest.mark.parametrize("n_positive, floor, allowed", [
    (50, 0.98, 1),    # 0.98 * 50 = 49 exactly: one miss
    (49, 0.98, 0),    # 48.02 needed: no miss
    (90, 0.98, 1),
    (100, 0.98, 2),
    (10, 1.0, 0),
    (10, 0.5, 5),
])
def test_misses_allowed_by_the_floor(n_positive, floor, allowed):
    y = np.r_[np.ones(n_positive, int), np.zeros(20, int)]
    scores = np.r_[np.arange(1, n_positive + 1) / 1000, np.full(20, 0.0)]
    threshold = sensitivity_floor_threshold(y, scores, floor)
    assert np.sum(scores[y == 1] < threshold) == allowed


def test_threshold_sits_midway_below_the_kept_case():
    y = [0, 1, 0, 1, 1]
    scores = [0.1, 0.4, 0.3, 0.8, 0.9]
    assert sensitivity_floor_threshold(y, scores, 1.0) == pytest.approx(0.35)
    # Nothing scores below the kept case: the threshold is its score.
    assert sensitivity_floor_threshold([1, 1, 0], [0.2, 0.9, 0.5], 1.0) == 0.2


def test_tied_positive_scores_are_kept_together():
    y = [1, 1, 1, 1, 0]
    scores = [0.3, 0.3, 0.7, 0.9, 0.1]
    # Floor 0.75 allows one miss, but the two lowest positives tie: both stay.
    threshold = sensitivity_floor_threshold(y, scores, 0.75)
    assert threshold == pytest.approx(0.2)  # midway between 0.3 and 0.1
    assert sensitivity_score(y, (np.array(scores) >= threshold).astype(int)) == 1


def test_no_positive_case_is_refused():
    with pytest.raises(ValueError, match="no positive"):
        sensitivity_floor_threshold([0, 0], [0.1, 0.2], 0.9)


def test_rule_refuses_bad_arguments():
    with pytest.raises(ValueError, match="3 labels but y_score 2"):
        sensitivity_floor_threshold([0, 1, 1], [0.1, 0.2], 0.9)
    with pytest.raises(InvalidParameterError, match="min_sensitivity"):
        sensitivity_floor_threshold([0, 1], [0.1, 0.2], 1.5)


@settings(max_examples=200, deadline=None)
@given(
    labels=st.lists(st.integers(0, 1), min_size=2, max_size=60),
    floor=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**16),
)
def test_threshold_is_the_most_specific_that_meets_the_floor(labels, floor, seed):
    y = np.asarray(labels)
    if y.sum() == 0 or y.sum() == len(y):
        return
    # Rounded scores make ties between and within the classes common.
    scores = np.round(np.random.default_rng(seed).random(len(y)), 1)
    threshold = sensitivity_floor_threshold(y, scores, floor)
    assert sensitivity_score(y, (scores >= threshold).astype(int)) >= floor - 1e-9
    best = specificity_score(y, (scores >= threshold).astype(int))
    for candidate in np.unique(scores):
        called = (scores >= candidate).astype(int)
        if sensitivity_score(y, called) >= floor - 1e-9:
            assert specificity_score(y, called) <= best


# ------------------------------------------------------------ the classifier
def test_threshold_comes_from_pooled_out_of_fold_scores(noisy):
    X, y = noisy
    model = SensitivityThresholdClassifierCV(
        LogisticRegression(), min_sensitivity=0.95, cv=4).fit(X, y)
    oof = cross_val_predict(LogisticRegression(), X, y, cv=StratifiedKFold(4),
                            method="predict_proba")[:, 1]
    np.testing.assert_array_equal(model.oof_scores_, oof)
    assert model.best_threshold_ == sensitivity_floor_threshold(y, oof, 0.95)
    called = (oof >= model.best_threshold_).astype(int)
    assert model.cv_sensitivity_ == sensitivity_score(y, called) >= 0.95
    assert model.cv_specificity_ == specificity_score(y, called)
    # Refitted on everything; predict applies the threshold to its scores.
    full = LogisticRegression().fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), full.predict_proba(X))
    np.testing.assert_allclose(model.decision_function(X),
                               full.decision_function(X))
    expected = (full.predict_proba(X)[:, 1] >= model.best_threshold_).astype(int)
    np.testing.assert_array_equal(model.predict(X), expected)
    assert model.n_features_in_ == 6


def test_higher_floor_lowers_the_threshold(noisy):
    X, y = noisy
    thresholds = [
        SensitivityThresholdClassifierCV(LogisticRegression(), min_sensitivity=s,
                                         cv=4).fit(X, y).best_threshold_
        for s in (0.5, 0.9, 0.99)
    ]
    assert thresholds[0] > thresholds[1] > thresholds[2]


def test_groups_make_an_int_cv_group_aware(noisy):
    X, y = noisy
    groups = np.arange(len(y)) // 3
    model = SensitivityThresholdClassifierCV(LogisticRegression(), cv=4)
    model.fit(X, y, groups=groups)
    oof = cross_val_predict(LogisticRegression(), X, y, groups=groups,
                            cv=StratifiedGroupKFold(4), method="predict_proba")
    np.testing.assert_array_equal(model.oof_scores_, oof[:, 1])


def test_fit_params_reach_every_fit(noisy):
    X, y = noisy
    weight = np.where(y == 1, 5.0, 1.0)
    model = SensitivityThresholdClassifierCV(LogisticRegression(), cv=3)
    model.fit(X, y, sample_weight=weight)
    full = LogisticRegression().fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(model.estimator_.coef_, full.coef_)
    oof = cross_val_predict(LogisticRegression(), X, y, cv=StratifiedKFold(3),
                            method="predict_proba",
                            params={"sample_weight": weight})
    np.testing.assert_array_equal(model.oof_scores_, oof[:, 1])


def test_string_labels_keep_their_order(noisy):
    X, y = noisy
    labels = np.array(["hemorrhage", "normal"])[1 - y]  # 1 -> "hemorrhage"
    model = SensitivityThresholdClassifierCV(LogisticRegression(), cv=3)
    model.fit(X, labels)
    # The larger label, "normal", is the positive class, as in scikit-learn.
    assert list(model.classes_) == ["hemorrhage", "normal"]
    assert set(model.predict(X)) <= {"hemorrhage", "normal"}
    sensitivity = np.mean(model.predict(X)[labels == "normal"] == "normal")
    assert sensitivity > 0.9


def test_more_than_two_classes_are_refused():
    X, y = make_classification(n_samples=60, n_classes=3, n_informative=3,
                               random_state=0)
    with pytest.raises(ValueError, match="Only binary classification"):
        SensitivityThresholdClassifierCV(LogisticRegression()).fit(X, y)


def test_invalid_floor_is_refused(noisy):
    X, y = noisy
    with pytest.raises(InvalidParameterError, match="min_sensitivity"):
        SensitivityThresholdClassifierCV(LogisticRegression(),
                                         min_sensitivity=0).fit(X, y)


def test_unfitted_model_refuses_to_predict(noisy):
    X, _ = noisy
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SensitivityThresholdClassifierCV(LogisticRegression()).predict(X)


# ------------------------------------------------- with hemoclf's classifier
@pytest.fixture(scope="module")
def tuned_tiny(square_images):
    X, y = square_images
    return SensitivityThresholdClassifierCV(
        HemorrhageCNNClassifier(**TINY_CNN_PARAMS), min_sensitivity=0.9, cv=2,
    ).fit(X, y)


def test_wraps_the_cnn(tuned_tiny, square_images):
    X, y = square_images
    assert tuned_tiny.cv_sensitivity_ >= 0.9
    scores = tuned_tiny.estimator_.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(
        tuned_tiny.predict(X), (scores >= tuned_tiny.best_threshold_).astype(int))


def test_model_file_keeps_the_threshold(tuned_tiny, square_images, tmp_path):
    X, _ = square_images
    loaded = load_model(save_model(tuned_tiny, tmp_path / "t.hemoclf"))
    assert loaded.threshold == pytest.approx(tuned_tiny.best_threshold_)
    np.testing.assert_array_equal(loaded.predict(X), tuned_tiny.predict(X))


def test_grad_cam_sees_through_the_wrapper(tuned_tiny, square_images):
    X, _ = square_images
    heat = grad_cam(tuned_tiny, X[:2])
    np.testing.assert_allclose(heat, grad_cam(tuned_tiny.estimator_, X[:2]))
