"""Scorers inside cross_validate, GridSearchCV and TunedThresholdClassifierCV."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    TunedThresholdClassifierCV,
    cross_validate,
)
from sklearn.naive_bayes import GaussianNB
from sklearn.utils._param_validation import InvalidParameterError

import hemoclf.metrics
from hemoclf.metrics import (
    CLINICAL_SCORING,
    make_sensitivity_at_specificity_scorer,
    make_sensitivity_constrained_scorer,
    make_specificity_at_sensitivity_scorer,
    npv_score,
    sensitivity_at_specificity,
    sensitivity_score,
    specificity_at_sensitivity,
    specificity_score,
)
from hemoclf.metrics._scorers import _constrained_specificity

CV = StratifiedKFold(n_splits=4)
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data():
    # Overlapping classes, so that the 0.5 threshold misses positives.
    return make_classification(
        n_samples=200, n_features=6, flip_y=0.15, class_sep=0.6, random_state=0
    )


def _folds(X, y):
    """Validation labels and fitted models, fold by fold, as CV sees them."""
    for train, test in CV.split(X, y):
        yield LogisticRegression().fit(X[train], y[train]), X[test], y[test]


def test_clinical_scoring_in_cross_validate(data):
    X, y = data
    result = cross_validate(LogisticRegression(), X, y, cv=CV, scoring=CLINICAL_SCORING)
    for key in CLINICAL_SCORING:
        assert np.all(np.isfinite(result[f"test_{key}"])), key
    for i, (model, X_test, y_test) in enumerate(_folds(X, y)):
        y_pred = model.predict(X_test)
        assert result["test_sensitivity"][i] == sensitivity_score(y_test, y_pred)
        assert result["test_specificity"][i] == specificity_score(y_test, y_pred)
        assert result["test_npv"][i] == npv_score(y_test, y_pred)
        missed = np.sum((y_test == 1) & (y_pred == 0))
        assert missed > 0
        # Counts are negated so that greater is better.
        assert result["test_neg_false_negatives"][i] == -missed


def test_refit_on_sensitivity_picks_the_most_sensitive_candidate(data):
    X, y = data
    search = GridSearchCV(
        LogisticRegression(),
        {"class_weight": [None, {0: 1, 1: 5}]},
        scoring=CLINICAL_SCORING,
        refit="sensitivity",
        cv=CV,
    ).fit(X, y)
    sensitivity = search.cv_results_["mean_test_sensitivity"]
    assert search.best_index_ == np.argmax(sensitivity)
    assert search.best_params_ == {"class_weight": {0: 1, 1: 5}}
    assert sensitivity[1] > sensitivity[0]


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_undefined_score_becomes_nan_with_a_warning(data):
    # A model that never flags anything has no positive prediction: PPV is
    # undefined, reported as nan, not as 0.
    X, y = data
    search = GridSearchCV(
        LogisticRegression(),
        {"class_weight": [{0: 1000, 1: 1e-3}]},
        scoring={"ppv": CLINICAL_SCORING["ppv"], "sensitivity": "recall"},
        refit=False,
        cv=CV,
    )
    with pytest.warns(UserWarning, match="PPV is undefined"):
        search.fit(X, y)
    assert np.isnan(search.cv_results_["mean_test_ppv"][0])


@pytest.mark.parametrize(
    "factory, metric, kwarg",
    [
        (make_sensitivity_at_specificity_scorer, sensitivity_at_specificity,
         "min_specificity"),
        (make_specificity_at_sensitivity_scorer, specificity_at_sensitivity,
         "min_sensitivity"),
    ],
)
def test_threshold_free_scorers_read_scores(data, factory, metric, kwarg):
    X, y = data
    scorer = factory(0.9)
    logistic = LogisticRegression().fit(X, y)
    assert scorer(logistic, X, y) == metric(
        y, logistic.decision_function(X), **{kwarg: 0.9}
    )
    bayes = GaussianNB().fit(X, y)  # no decision_function: probabilities
    assert scorer(bayes, X, y) == metric(
        y, bayes.predict_proba(X)[:, 1], **{kwarg: 0.9}
    )
    # With hemorrhage labelled 0 the scorer takes the other column.
    swapped = LogisticRegression().fit(X, 1 - y)
    assert factory(0.9, pos_label=0)(swapped, X, 1 - y) == pytest.approx(
        scorer(logistic, X, y)
    )


def test_constrained_objective_values():
    y_true = [1, 1, 1, 1, 0, 0, 0, 0]
    caught_all = [1, 1, 1, 1, 1, 0, 0, 0]  # sensitivity 1, specificity 3/4
    missed_one = [1, 1, 1, 0, 0, 0, 0, 0]  # sensitivity 3/4, specificity 1
    assert _constrained_specificity(y_true, caught_all, min_sensitivity=0.95) == 0.75
    assert _constrained_specificity(y_true, missed_one, min_sensitivity=0.95) == (
        0.75 - 101
    )
    assert _constrained_specificity(y_true, missed_one, min_sensitivity=0.75) == 1.0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 1), min_size=8, max_size=8),
    st.lists(st.integers(0, 1), min_size=8, max_size=8),
    st.sampled_from([0.5, 0.8, 0.95, 1.0]),
)
def test_constrained_objective_orders_thresholds(pred_a, pred_b, floor):
    y_true = [1, 1, 1, 1, 0, 0, 0, 0]
    score_a = _constrained_specificity(y_true, pred_a, min_sensitivity=floor)
    score_b = _constrained_specificity(y_true, pred_b, min_sensitivity=floor)
    sens_a = sensitivity_score(y_true, pred_a)
    sens_b = sensitivity_score(y_true, pred_b)
    if sens_a >= floor > sens_b:
        assert score_a > score_b
        # One fold missing the floor outweighs 100 folds that meet it.
        assert (100 * score_a + score_b) / 101 < 0
    if sens_a < floor and sens_b < floor and sens_a > sens_b:
        assert score_a > score_b


def test_tuned_threshold_meets_the_floor_in_every_fold(data):
    X, y = data
    floor = 0.95
    thresholds = np.linspace(0, 1, 201)
    tuned = TunedThresholdClassifierCV(
        LogisticRegression(),
        scoring=make_sensitivity_constrained_scorer(floor),
        thresholds=thresholds,
        cv=CV,
    ).fit(X, y)
    assert 0 <= tuned.best_score_ <= 1
    assert tuned.best_threshold_ < 0.5
    specificities = []
    for model, X_test, y_test in _folds(X, y):
        proba = model.predict_proba(X_test)[:, 1]
        default = sensitivity_score(y_test, model.predict(X_test))
        tuned_pred = (proba >= tuned.best_threshold_).astype(int)
        assert default < floor  # the default threshold misses the floor...
        assert sensitivity_score(y_test, tuned_pred) >= floor  # ...the tuned one not
        specificities.append(specificity_score(y_test, tuned_pred))
    assert tuned.best_score_ == pytest.approx(np.mean(specificities))
    # No threshold of the grid that meets the floor in every fold is more specific.
    fitted = [
        (model.predict_proba(X_test)[:, 1], y_test)
        for model, X_test, y_test in _folds(X, y)
    ]
    feasible = [
        np.mean([specificity_score(y_test, proba >= t) for proba, y_test in fitted])
        for t in thresholds
        if all(sensitivity_score(yt, proba >= t) >= floor for proba, yt in fitted)
    ]
    assert tuned.best_score_ == pytest.approx(max(feasible))


def test_unreachable_floor_gives_a_negative_best_score(data):
    X, y = data
    tuned = TunedThresholdClassifierCV(
        LogisticRegression(),
        scoring=make_sensitivity_constrained_scorer(0.95),
        thresholds=[0.6, 0.7, 0.8],
        cv=CV,
    ).fit(X, y)
    assert tuned.best_score_ < 0
    assert tuned.best_threshold_ == 0.6  # the most sensitive of the three


@pytest.mark.parametrize(
    "factory",
    [
        make_sensitivity_constrained_scorer,
        make_sensitivity_at_specificity_scorer,
        make_specificity_at_sensitivity_scorer,
    ],
)
def test_factories_validate_their_floor(factory):
    with pytest.raises(InvalidParameterError, match="must be a float in the range"):
        factory(1.2)


def test_no_name_reads_like_sklearns_support_weighted_recall():
    names = list(hemoclf.metrics.__all__) + list(CLINICAL_SCORING)
    assert not [name for name in names if "weighted" in name]


def test_importing_metrics_leaves_tensorflow_out():
    code = (
        "import sys, hemoclf.metrics\n"
        "loaded = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "sys.exit(f'importing hemoclf.metrics loaded {loaded}' if loaded else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
