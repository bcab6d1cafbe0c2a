"""clinical_report and wilson_interval."""

import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score
from sklearn.utils._param_validation import InvalidParameterError

from hemoclf.metrics import clinical_report, wilson_interval


def _wilson_by_formula(k, n, confidence):
    """The textbook Wilson score interval, written out independently."""
    z = norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_wilson_known_value():
    low, high = wilson_interval(19, 20)
    assert low == pytest.approx(0.7639, abs=1e-4)
    assert high == pytest.approx(0.9911, abs=1e-4)


@pytest.mark.parametrize("k, n", [(0, 10), (10, 10), (3, 7), (90, 100), (1, 1)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_the_formula(k, n, confidence):
    assert wilson_interval(k, n, confidence) == pytest.approx(
        _wilson_by_formula(k, n, confidence)
    )


def test_wilson_is_symmetric_and_bounded():
    low, high = wilson_interval(3, 20)
    other_low, other_high = wilson_interval(17, 20)
    assert (low, high) == pytest.approx((1 - other_high, 1 - other_low))
    assert wilson_interval(0, 20)[0] == 0.0
    assert wilson_interval(20, 20)[1] == pytest.approx(1.0)
    # A wider confidence gives a wider interval.
    assert wilson_interval(3, 20, 0.99)[0] < low


def test_wilson_errors():
    with pytest.raises(ValueError, match="successes=5 is larger than n=4"):
        wilson_interval(5, 4)
    with pytest.raises(InvalidParameterError, match="'n' parameter"):
        wilson_interval(0, 0)
    with pytest.raises(InvalidParameterError, match="'confidence' parameter"):
        wilson_interval(1, 2, confidence=1.0)
    with pytest.raises(InvalidParameterError, match="'successes' parameter"):
        wilson_interval(0.5, 2)


# TP = 9, FN = 1, FP = 2, TN = 8
Y_TRUE = [1] * 10 + [0] * 10
Y_PRED = [1] * 9 + [0] + [1] * 2 + [0] * 8


def test_report_dict_by_hand():
    report = clinical_report(Y_TRUE, Y_PRED, as_dict=True)
    assert {k: report[k] for k in ("n", "tp", "fn", "fp", "tn")} == {
        "n": 20, "tp": 9, "fn": 1, "fp": 2, "tn": 8,
    }
    expected = {
        "accuracy": (17, 20),
        "sensitivity": (9, 10),
        "specificity": (8, 10),
        "ppv": (9, 11),
        "npv": (8, 9),
    }
    for name, (k, n) in expected.items():
        assert report[name] == pytest.approx(k / n)
        low, high = wilson_interval(k, n)
        assert report[f"{name}_ci_low"] == low
        assert report[f"{name}_ci_high"] == high
    assert report["confidence"] == 0.95
    assert "roc_auc" not in report


def test_report_text_shows_the_confusion_matrix_and_counts():
    text = clinical_report(Y_TRUE, Y_PRED, confidence=0.9, digits=2)
    lines = text.splitlines()
    assert lines[0] == "Confusion matrix (positive class: 1, 20 cases)"
    assert lines[2].split() == ["actual", "positive", "TP", "=", "9", "FN", "=", "1"]
    assert lines[3].split() == ["actual", "negative", "FP", "=", "2", "TN", "=", "8"]
    assert "90% CI (Wilson)" in lines[5]
    low, high = wilson_interval(9, 10, 0.9)
    rows = {line.split()[0]: line.split()[1:] for line in lines[6:]}
    assert rows["sensitivity"] == ["0.90", f"[{low:.2f},", f"{high:.2f}]", "9/10"]
    assert rows["NPV"][0] == "0.89" and rows["NPV"][-1] == "8/9"
    assert list(rows) == ["accuracy", "sensitivity", "specificity", "PPV", "NPV"]


def test_report_with_scores_adds_auc():
    rng = np.random.default_rng(0)
    y_score = rng.random(20) + np.array(Y_TRUE) * 0.3
    report = clinical_report(Y_TRUE, Y_PRED, y_score=y_score, as_dict=True)
    assert report["roc_auc"] == roc_auc_score(Y_TRUE, y_score)
    text = clinical_report(Y_TRUE, Y_PRED, y_score=y_score)
    assert f"ROC AUC      {report['roc_auc']:>5.3f}   (no interval computed)" in text


def test_report_marks_undefined_rates():
    # No positive case and nothing predicted negative.
    report = clinical_report([0, 0, 0], [1, 1, 1], y_score=[0.2, 0.5, 0.7],
                             as_dict=True)
    for name in ("sensitivity", "npv", "roc_auc"):
        assert math.isnan(report[name]), name
    assert math.isnan(report["sensitivity_ci_low"])
    assert report["specificity"] == 0.0
    text = clinical_report([0, 0, 0], [1, 1, 1])
    rows = {line.split()[0]: line.split(None, 1)[1] for line in text.splitlines()[6:]}
    assert rows["sensitivity"] == "undefined   (no positive case)"
    assert rows["NPV"] == "undefined   (no negative prediction)"
    assert rows["specificity"].startswith("0.000")


def test_report_rows_make_a_dataframe():
    pd = pytest.importorskip("pandas")
    rows = [
        clinical_report(Y_TRUE, Y_PRED, as_dict=True),
        clinical_report(Y_TRUE, Y_TRUE, as_dict=True),
    ]
    frame = pd.DataFrame(rows, index=["model", "oracle"])
    assert frame.loc["oracle", "sensitivity"] == 1.0
    assert frame.loc["model", "fn"] == 1
    assert all(np.issubdtype(t, np.number) for t in frame.dtypes)


def test_report_string_labels():
    report = clinical_report(
        ["bleed", "normal", "bleed"], ["bleed", "normal", "normal"],
        pos_label="bleed", as_dict=True,
    )
    assert (report["tp"], report["fn"], report["tn"]) == (1, 1, 1)
    text = clinical_report(["bleed", "normal"], ["bleed", "normal"], pos_label="bleed")
    assert text.startswith("Confusion matrix (positive class: 'bleed', 2 cases)")


def test_report_errors():
    with pytest.raises(ValueError, match=r"y_score of shape \(n_samples,\)"):
        clinical_report([0, 1], [0, 1], y_score=[[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clinical_report([0, 1], [0, 1], y_score=[0.1])
    with pytest.raises(ValueError, match="y_pred must hold binary class labels"):
        clinical_report([0, 1], [0.3, 0.6])
    with pytest.raises(InvalidParameterError, match="'confidence' parameter"):
        clinical_report([0, 1], [0, 1], confidence=95)
