"""A clinical evaluation report: confusion matrix and rates with intervals."""

from numbers import Integral, Real

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score
from sklearn.utils import check_array, check_consistent_length, column_or_1d
from sklearn.utils._param_validation import Interval, validate_params

from ._clinical import _POS_LABEL, _confusion_counts


@validate_params(
    {
        "successes": [Interval(Integral, 0, None, closed="left")],
        "n": [Interval(Integral, 1, None, closed="left")],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def wilson_interval(successes, n, confidence=0.95):
    """Wilson score confidence interval for a binomial proportion.

    Unlike the normal ("Wald") interval it stays inside ``[0, 1]`` and keeps
    a useful width at 0/n and n/n, which is where a screening test's
    sensitivity usually sits on a small test set.

    Parameters
    ----------
    successes : int
        Number of successes, e.g. detected hemorrhages.
    n : int
        Number of trials, e.g. hemorrhages in the test set; at least 1.
    confidence : float in (0, 1), default=0.95
        Confidence level.

    Returns
    -------
    low, high : float
        The interval's bounds.

    See Also
    --------
    scipy.stats.binomtest : Computes it (``proportion_ci(method="wilson")``).
    clinical_report : Reports every rate with this interval.

    Examples
    --------
    >>> from hemoclf.metrics import wilson_interval
    >>> low, high = wilson_interval(19, 20)
    >>> round(low, 3), round(high, 3)
    (0.764, 0.991)
    """
    if successes > n:
        raise ValueError(
            f"successes={successes} is larger than n={n}; a proportion counts "
            "successes among n trials."
        )
    ci = binomtest(int(successes), int(n)).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return float(ci.low), float(ci.high)


# (key, label, numerator, denominator, what an empty denominator means)
_RATES = (
    ("accuracy", "accuracy", ("tp", "tn"), ("tp", "tn", "fp", "fn"), "no case"),
    ("sensitivity", "sensitivity", ("tp",), ("tp", "fn"), "no positive case"),
    ("specificity", "specificity", ("tn",), ("tn", "fp"), "no negative case"),
    ("ppv", "PPV", ("tp",), ("tp", "fp"), "no positive prediction"),
    ("npv", "NPV", ("tn",), ("tn", "fn"), "no negative prediction"),
)


def _report_dict(counts, confidence):
    report = {"n": sum(counts.values()), **counts}
    for key, _, top, bottom, _ in _RATES:
        successes = sum(counts[name] for name in top)
        total = sum(counts[name] for name in bottom)
        if total:
            low, high = wilson_interval(successes, total, confidence)
            value = successes / total
        else:
            value = low = high = float("nan")
        report.update(
            {key: value, f"{key}_ci_low": low, f"{key}_ci_high": high}
        )
    report["confidence"] = confidence
    return report


def _report_text(report, counts, pos_label, digits):
    width = digits + 2
    level = f"{report['confidence'] * 100:g}% CI (Wilson)"
    cells = {name: f"{name.upper()} = {count}" for name, count in counts.items()}
    lines = [
        f"Confusion matrix (positive class: {pos_label!r}, {report['n']} cases)",
        f"{'':17}{'predicted positive':>20}{'predicted negative':>20}",
        f"{'actual positive':17}{cells['tp']:>20}{cells['fn']:>20}",
        f"{'actual negative':17}{cells['fp']:>20}{cells['tn']:>20}",
        "",
        f"{'':13}{'value':>{width}}   {level}",
    ]
    for key, label, top, bottom, missing in _RATES:
        successes = sum(counts[name] for name in top)
        total = sum(counts[name] for name in bottom)
        if not total:
            lines.append(f"{label:13}{'undefined':>{width}}   ({missing})")
            continue
        interval = (
            f"[{report[key + '_ci_low']:.{digits}f}, "
            f"{report[key + '_ci_high']:.{digits}f}]"
        )
        lines.append(
            f"{label:13}{report[key]:>{width}.{digits}f}   {interval}   "
            f"{successes}/{total}"
        )
    if "roc_auc" in report:
        value = report["roc_auc"]
        text = (
            f"{'undefined':>{width}}   (needs both classes)"
            if np.isnan(value)
            else f"{value:>{width}.{digits}f}   (no interval computed)"
        )
        lines.append(f"{'ROC AUC':13}{text}")
    return "\n".join(lines)


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
        "y_score": ["array-like", None],
        "pos_label": _POS_LABEL,
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "as_dict": ["boolean"],
        "digits": [Interval(Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def clinical_report(
    y_true, y_pred, *, y_score=None, pos_label=1, confidence=0.95, as_dict=False,
    digits=3,
):
    """Confusion matrix and clinical rates, each with a Wilson interval.

    Gives TP, FN, FP and TN, then accuracy, sensitivity, specificity, PPV and
    NPV with their counts and Wilson score confidence intervals, and the ROC
    AUC when ``y_score`` is given. On a 20-image test set a sensitivity of
    10/10 is compatible with a true sensitivity near 72 %; the interval says so.

    A rate whose denominator is empty (no positive case, no negative
    prediction, ...) is reported as undefined (``nan`` in the dict), never as
    0 or 1.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted binary labels.
    y_score : array-like of shape (n_samples,), default=None
        Scores of the positive class (probabilities or decision values); adds
        the ROC AUC, without an interval.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class.
    confidence : float in (0, 1), default=0.95
        Confidence level of the intervals.
    as_dict : bool, default=False
        Return a flat dict instead of text.
    digits : int, default=3
        Digits after the decimal point in the text.

    Returns
    -------
    report : str or dict
        Text, or a dict with keys ``n``, ``tp``, ``fn``, ``fp``, ``tn``, then
        for each of ``accuracy``, ``sensitivity``, ``specificity``, ``ppv`` and
        ``npv`` the value and ``<name>_ci_low`` / ``<name>_ci_high``, then
        ``confidence`` and, with ``y_score``, ``roc_auc``. A list of such
        dicts makes a :class:`pandas.DataFrame`, one row per model.

    See Also
    --------
    wilson_interval : The interval used.
    sklearn.metrics.classification_report : Per-class precision and recall.

    Examples
    --------
    >>> from hemoclf.metrics import clinical_report
    >>> y_true = [1] * 10 + [0] * 10
    >>> y_pred = [1] * 10 + [0] * 9 + [1]
    >>> print(clinical_report(y_true, y_pred))
    Confusion matrix (positive class: 1, 20 cases)
                     predicted positive  predicted negative
    actual positive             TP = 10              FN = 0
    actual negative              FP = 1              TN = 9
    <BLANKLINE>
                 value   95% CI (Wilson)
    accuracy     0.950   [0.764, 0.991]   19/20
    sensitivity  1.000   [0.722, 1.000]   10/10
    specificity  0.900   [0.596, 0.982]   9/10
    PPV          0.909   [0.623, 0.984]   10/11
    NPV          1.000   [0.701, 1.000]   9/9
    >>> clinical_report(y_true, y_pred, as_dict=True)["sensitivity_ci_low"]
    0.722...
    """
    tn, fp, fn, tp = _confusion_counts(y_true, y_pred, pos_label=pos_label)
    counts = {"tp": int(tp), "fn": int(fn), "fp": int(fp), "tn": int(tn)}
    report = _report_dict(counts, confidence)
    if y_score is not None:
        check_consistent_length(y_true, y_score)
        y_score = check_array(y_score, ensure_2d=False, input_name="y_score")
        if y_score.ndim != 1:
            raise ValueError(
                "clinical_report needs y_score of shape (n_samples,), the score "
                f"of the positive class; got shape {y_score.shape}. Pass one "
                "column, e.g. estimator.predict_proba(X)[:, 1]."
            )
        actual = column_or_1d(y_true) == pos_label
        report["roc_auc"] = (
            float(roc_auc_score(actual, y_score))
            if 0 < actual.sum() < actual.shape[0]
            else float("nan")
        )
    if as_dict:
        return report
    return _report_text(report, counts, pos_label, digits)
