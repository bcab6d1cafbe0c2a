"""Label and score metrics against hand counts, sklearn/imblearn and brute force."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imblearn.metrics import sensitivity_score as imblearn_sensitivity
from imblearn.metrics import specificity_score as imblearn_specificity
from sklearn.metrics import fbeta_score, precision_score, recall_score
from sklearn.utils._param_validation import InvalidParameterError

from hemoclf.metrics import (
    f2_score,
    npv_score,
    ppv_score,
    sensitivity_at_specificity,
    sensitivity_score,
    specificity_at_sensitivity,
    specificity_score,
)

LABEL_METRICS = [sensitivity_score, specificity_score, ppv_score, npv_score, f2_score]

# TP = 3, FN = 1, FP = 2, TN = 4
Y_TRUE = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
Y_PRED = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]


@pytest.mark.parametrize(
    "metric, expected",
    [
        (sensitivity_score, 3 / 4),
        (specificity_score, 4 / 6),
        (ppv_score, 3 / 5),
        (npv_score, 4 / 5),
        (f2_score, 5 * 3 / (5 * 3 + 4 * 1 + 2)),
    ],
)
def test_hand_counted_confusion_matrix(metric, expected):
    assert metric(Y_TRUE, Y_PRED) == pytest.approx(expected)


@pytest.mark.parametrize(
    "metric, expected",
    [
        (sensitivity_score, 4 / 6),  # 4 of the 6 zeros predicted 0
        (specificity_score, 3 / 4),  # 3 of the 4 ones predicted 1
        (ppv_score, 4 / 5),
        (npv_score, 3 / 5),
    ],
)
def test_pos_label_swaps_the_classes(metric, expected):
    assert metric(Y_TRUE, Y_PRED, pos_label=0) == pytest.approx(expected)


def test_string_labels():
    y_true = ["bleed", "bleed", "normal", "normal"]
    y_pred = ["bleed", "normal", "normal", "normal"]
    assert sensitivity_score(y_true, y_pred, pos_label="bleed") == 0.5
    assert specificity_score(y_true, y_pred, pos_label="bleed") == 1.0


def _binary_pairs(seed, n=40):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, n)
    y_true[:2] = [0, 1]
    y_pred = rng.integers(0, 2, n)
    y_pred[:2] = [0, 1]
    weight = rng.random(n)
    return y_true, y_pred, weight


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("weighted", [False, True])
def test_agrees_with_sklearn_and_imblearn(seed, weighted):
    y_true, y_pred, weight = _binary_pairs(seed)
    kw = {"sample_weight": weight} if weighted else {}
    sens = sensitivity_score(y_true, y_pred, **kw)
    assert sens == pytest.approx(recall_score(y_true, y_pred, **kw))
    assert sens == pytest.approx(imblearn_sensitivity(y_true, y_pred, **kw))
    spec = specificity_score(y_true, y_pred, **kw)
    assert spec == pytest.approx(recall_score(y_true, y_pred, pos_label=0, **kw))
    if not weighted:
        # imbalanced-learn 0.14 counts TN with weighted sums taken from an
        # unweighted total, so only its unweighted specificity is a reference.
        assert spec == pytest.approx(imblearn_specificity(y_true, y_pred))
    assert ppv_score(y_true, y_pred, **kw) == pytest.approx(
        precision_score(y_true, y_pred, **kw)
    )
    assert npv_score(y_true, y_pred, **kw) == pytest.approx(
        precision_score(y_true, y_pred, pos_label=0, **kw)
    )
    assert f2_score(y_true, y_pred, **kw) == pytest.approx(
        fbeta_score(y_true, y_pred, beta=2, **kw)
    )


binary_pairs = st.integers(4, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(binary_pairs)
def test_properties_of_label_metrics(pair):
    y_true, y_pred = (np.array(a) for a in pair)
    values = {}
    for metric in LABEL_METRICS:
        try:
            values[metric] = metric(y_true, y_pred)
        except ValueError:
            continue
        assert 0.0 <= values[metric] <= 1.0
    flipped_true, flipped_pred = 1 - y_true, 1 - y_pred
    if 0 in y_true:
        swapped = sensitivity_score(flipped_true, flipped_pred)
        assert values[specificity_score] == swapped
    if 0 in y_pred:
        assert values[npv_score] == ppv_score(flipped_true, flipped_pred)
    if sensitivity_score in values and ppv_score in values:
        # F-beta is a weighted harmonic mean of sensitivity and PPV.
        low, high = sorted([values[sensitivity_score], values[ppv_score]])
        assert low - 1e-12 <= values[f2_score] <= high + 1e-12


@pytest.mark.parametrize(
    "metric, y_true, y_pred, match",
    [
        (sensitivity_score, [0, 0, 0], [0, 1, 0], "sensitivity is undefined: y_true "
         "holds no positive case"),
        (specificity_score, [1, 1, 1], [0, 1, 0], "specificity is undefined: y_true "
         "holds no negative case"),
        (ppv_score, [0, 1, 0], [0, 0, 0], "PPV is undefined: no sample is predicted "
         "positive"),
        (npv_score, [0, 1, 0], [1, 1, 1], "NPV is undefined: no sample is predicted "
         "negative"),
        (f2_score, [0, 0], [0, 0], "F2 is undefined: neither y_true nor y_pred"),
    ],
)
def test_undefined_rates_raise(metric, y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        metric(y_true, y_pred)


@pytest.mark.parametrize("metric", LABEL_METRICS)
@pytest.mark.parametrize(
    "y_true, y_pred, kwargs, match",
    [
        ([0, 1, 2], [0, 1, 1], {}, "y_true must hold binary class labels; got target "
         "type 'multiclass'"),
        ([0, 1, 1], [0.2, 0.7, 0.9], {}, "y_pred must hold binary class labels; got "
         "target type 'continuous'.*pass predicted labels"),
        ([0, 1, 1], [2, 2, 1], {}, r"together hold 3 labels \[0, 1, 2\]"),
        ([0, 1, 1], [0, 1, 1], {"pos_label": 2}, r"pos_label=2 is not one of the "
         r"labels \[0, 1\]"),
        ([0, 1, 1], [0, 1], {}, "inconsistent numbers of samples"),
        ([], [], {}, "y_true is empty"),
    ],
)
def test_bad_labels_are_named(metric, y_true, y_pred, kwargs, match):
    with pytest.raises(ValueError, match=match):
        metric(y_true, y_pred, **kwargs)


def test_parameters_are_validated():
    with pytest.raises(InvalidParameterError, match="'pos_label' parameter"):
        sensitivity_score([0, 1], [0, 1], pos_label=[1])
    with pytest.raises(InvalidParameterError, match="'min_specificity' parameter"):
        sensitivity_at_specificity([0, 1], [0.1, 0.9], min_specificity=1.5)
    with pytest.raises(InvalidParameterError, match="'min_sensitivity' parameter"):
        specificity_at_sensitivity([0, 1], [0.1, 0.9], min_sensitivity=-0.1)


# Scores: negatives 0.1 0.2 0.3 0.6, positives 0.4 0.7 0.8 0.9.
SCORE_TRUE = [0, 0, 0, 0, 1, 1, 1, 1]
SCORES = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]


@pytest.mark.parametrize(
    "min_specificity, expected", [(1.0, 0.75), (0.8, 0.75), (0.75, 1.0), (0.0, 1.0)]
)
def test_sensitivity_at_specificity_by_hand(min_specificity, expected):
    assert sensitivity_at_specificity(
        SCORE_TRUE, SCORES, min_specificity=min_specificity
    ) == expected


@pytest.mark.parametrize(
    "min_sensitivity, expected", [(1.0, 0.75), (0.75, 1.0), (0.0, 1.0)]
)
def test_specificity_at_sensitivity_by_hand(min_sensitivity, expected):
    assert specificity_at_sensitivity(
        SCORE_TRUE, SCORES, min_sensitivity=min_sensitivity
    ) == expected


def test_threshold_free_metrics_read_the_pos_label():
    # The same cases labelled the other way round: hemorrhage is 0.
    swapped = 1 - np.array(SCORE_TRUE)
    assert sensitivity_at_specificity(
        swapped, SCORES, min_specificity=1.0, pos_label=0
    ) == 0.75
    # Read with pos_label=1 the high scores belong to the negatives.
    assert sensitivity_at_specificity(swapped, SCORES, min_specificity=1.0) == 0.0


def test_floor_given_as_a_fraction_of_cases_is_met_exactly():
    # 19 of 20 negatives below every positive: specificity 0.95 must qualify
    # even though 1 - 1/20 is not exactly 0.95 in floating point.
    y_true = [0] * 20 + [1] * 5
    scores = list(range(19)) + [100] + [50] * 5
    assert sensitivity_at_specificity(y_true, scores, min_specificity=0.95) == 1.0


def _brute_force(y_true, y_score):
    """(sensitivity, specificity) for every threshold, predicting score >= t."""
    points = []
    for t in [np.inf, *np.unique(y_score)]:
        y_pred = (y_score >= t).astype(int)
        tp = np.sum((y_pred == 1) & (y_true == 1))
        tn = np.sum((y_pred == 0) & (y_true == 0))
        points.append((tp / np.sum(y_true == 1), tn / np.sum(y_true == 0)))
    return points


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 9)), min_size=2, max_size=30)
    .filter(lambda rows: len({r[0] for r in rows}) == 2),
    st.sampled_from([0.0, 0.5, 0.8, 0.9, 1.0]),
)
def test_threshold_metrics_match_brute_force(rows, floor):
    y_true = np.array([r[0] for r in rows])
    y_score = np.array([r[1] for r in rows], dtype=float)
    points = _brute_force(y_true, y_score)
    assert sensitivity_at_specificity(y_true, y_score, min_specificity=floor) == (
        pytest.approx(max(sens for sens, spec in points if spec >= floor))
    )
    assert specificity_at_sensitivity(y_true, y_score, min_sensitivity=floor) == (
        pytest.approx(max(spec for sens, spec in points if sens >= floor))
    )


@pytest.mark.parametrize(
    "metric, kwargs",
    [
        (sensitivity_at_specificity, {"min_specificity": 0.9}),
        (specificity_at_sensitivity, {"min_sensitivity": 0.9}),
    ],
)
def test_threshold_free_errors(metric, kwargs):
    name = metric.__name__
    with pytest.raises(ValueError, match=rf"{name} needs y_true with exactly two "
                       r"classes; got \[1\]"):
        metric([1, 1, 1], [0.2, 0.5, 0.9], **kwargs)
    with pytest.raises(ValueError, match=r"exactly two classes; got \[0, 1, 2\]"):
        metric([0, 1, 2], [0.2, 0.5, 0.9], **kwargs)
    with pytest.raises(ValueError, match=r"y_score of shape \(n_samples,\).*"
                       r"predict_proba\(X\)\[:, 1\]"):
        metric([0, 1, 1], [[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]], **kwargs)
    with pytest.raises(ValueError, match=r"pos_label='yes' is not one of the labels"):
        metric([0, 1, 1], [0.2, 0.5, 0.9], pos_label="yes", **kwargs)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        metric([0, 1, 1], [0.2, 0.5], **kwargs)
