"""Binary metrics that put missed bleeds first.

Every metric here reads the positive class as "hemorrhage" (``pos_label``,
``1`` by default) and refuses to report a proportion whose denominator is
empty: a sensitivity computed without a single positive case is not a
sensitivity, so these functions raise a :class:`ValueError` that says which
cases are missing instead of returning ``0`` with a warning as
:func:`sklearn.metrics.recall_score` does.
"""

from numbers import Real

import numpy as np
from sklearn.metrics import roc_curve
from sklearn.utils import check_array, check_consistent_length, column_or_1d
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.multiclass import type_of_target, unique_labels

# Constraint shared by every ``pos_label`` parameter.
_POS_LABEL = [Real, str, "boolean"]

# Rounding slack when a rate read off the ROC curve is compared with a target:
# 1 - 1/20 is 0.95 on paper but may land one ulp below it in floating point.
_RATE_TOLERANCE = 1e-12


def _check_labels(y_true, y_pred, pos_label, *, name_pred="y_pred"):
    """Validate a binary pair of label arrays and return them as 1-D arrays."""
    check_consistent_length(y_true, y_pred)
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty; at least one sample is needed.")
    for name, y in (("y_true", y_true), (name_pred, y_pred)):
        kind = type_of_target(y, input_name=name)
        if kind != "binary":
            raise ValueError(
                f"{name} must hold binary class labels; got target type {kind!r}. "
                "These metrics compare hemorrhage (pos_label) with everything "
                "else: binarize multiclass labels first, and pass predicted labels "
                "(estimator.predict), not scores."
            )
    labels = unique_labels(y_true, y_pred)
    if labels.shape[0] > 2:
        raise ValueError(
            f"y_true and {name_pred} together hold {labels.shape[0]} labels "
            f"{labels.tolist()}; binary metrics need at most two."
        )
    if labels.shape[0] == 2 and pos_label not in labels.tolist():
        raise ValueError(
            f"pos_label={pos_label!r} is not one of the labels "
            f"{labels.tolist()}; set pos_label to the hemorrhage label."
        )
    return y_true, y_pred


def _confusion_counts(y_true, y_pred, *, pos_label=1, sample_weight=None):
    """Return ``(tn, fp, fn, tp)`` for binary labels, weighted when asked.

    Counts are integers without ``sample_weight`` and floats with it.
    """
    y_true, y_pred = _check_labels(y_true, y_pred, pos_label)
    if sample_weight is None:
        weight = np.ones(y_true.shape[0], dtype=np.int64)
    else:
        check_consistent_length(y_true, sample_weight)
        weight = column_or_1d(sample_weight)
    actual = y_true == pos_label
    predicted = y_pred == pos_label
    tp = weight[actual & predicted].sum()
    fn = weight[actual & ~predicted].sum()
    fp = weight[~actual & predicted].sum()
    tn = weight[~actual & ~predicted].sum()
    return tn, fp, fn, tp


def _ratio(numerator, denominator, *, metric, missing, pos_label):
    if denominator == 0:
        raise ValueError(
            f"{metric} is undefined: {missing} (pos_label={pos_label!r}). "
            "Evaluate on a set that holds both classes, e.g. with stratified "
            "splits (sklearn.model_selection.StratifiedKFold)."
        )
    return float(numerator / denominator)


_LABEL_PARAMS = {
    "y_true": ["array-like"],
    "y_pred": ["array-like"],
    "pos_label": _POS_LABEL,
    "sample_weight": ["array-like", None],
}


@validate_params(_LABEL_PARAMS, prefer_skip_nested_validation=True)
def sensitivity_score(y_true, y_pred, *, pos_label=1, sample_weight=None):
    """Sensitivity (recall of the positive class): TP / (TP + FN).

    The share of hemorrhages that the classifier flags. ``1 - sensitivity`` is
    the miss rate, the share of bleeds sent home.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted binary labels.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    sensitivity : float
        In ``[0, 1]``.

    Raises
    ------
    ValueError
        When ``y_true`` holds no positive case, or labels are not binary.

    See Also
    --------
    specificity_score : The same for the negative class.
    sklearn.metrics.recall_score : Returns 0 with a warning where this raises.

    Examples
    --------
    >>> from hemoclf.metrics import sensitivity_score
    >>> sensitivity_score([1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 1])
    0.75
    """
    tn, fp, fn, tp = _confusion_counts(
        y_true, y_pred, pos_label=pos_label, sample_weight=sample_weight
    )
    return _ratio(
        tp, tp + fn, metric="sensitivity", missing="y_true holds no positive case",
        pos_label=pos_label,
    )


@validate_params(_LABEL_PARAMS, prefer_skip_nested_validation=True)
def specificity_score(y_true, y_pred, *, pos_label=1, sample_weight=None):
    """Specificity (recall of the negative class): TN / (TN + FP).

    The share of normal scans that the classifier leaves alone.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted binary labels.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class; every other label is negative.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    specificity : float
        In ``[0, 1]``.

    Raises
    ------
    ValueError
        When ``y_true`` holds no negative case, or labels are not binary.

    See Also
    --------
    sensitivity_score : The same for the positive class.

    Examples
    --------
    >>> from hemoclf.metrics import specificity_score
    >>> specificity_score([1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 1])
    0.5
    """
    tn, fp, fn, tp = _confusion_counts(
        y_true, y_pred, pos_label=pos_label, sample_weight=sample_weight
    )
    return _ratio(
        tn, tn + fp, metric="specificity", missing="y_true holds no negative case",
        pos_label=pos_label,
    )


@validate_params(_LABEL_PARAMS, prefer_skip_nested_validation=True)
def ppv_score(y_true, y_pred, *, pos_label=1, sample_weight=None):
    """Positive predictive value (precision): TP / (TP + FP).

    The share of flagged scans that really show a hemorrhage.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted binary labels.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    ppv : float
        In ``[0, 1]``.

    Raises
    ------
    ValueError
        When nothing is predicted positive, or labels are not binary.

    See Also
    --------
    npv_score : The same for negative predictions.
    sklearn.metrics.precision_score : Returns 0 with a warning where this raises.

    Examples
    --------
    >>> from hemoclf.metrics import ppv_score
    >>> ppv_score([1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 1])
    0.75
    """
    tn, fp, fn, tp = _confusion_counts(
        y_true, y_pred, pos_label=pos_label, sample_weight=sample_weight
    )
    return _ratio(
        tp, tp + fp, metric="PPV", missing="no sample is predicted positive",
        pos_label=pos_label,
    )


@validate_params(_LABEL_PARAMS, prefer_skip_nested_validation=True)
def npv_score(y_true, y_pred, *, pos_label=1, sample_weight=None):
    """Negative predictive value: TN / (TN + FN).

    The share of scans called normal that really are normal: how far a
    negative result can be trusted.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted binary labels.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class; every other label is negative.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    npv : float
        In ``[0, 1]``.

    Raises
    ------
    ValueError
        When nothing is predicted negative, or labels are not binary.

    See Also
    --------
    ppv_score : The same for positive predictions.

    Examples
    --------
    >>> from hemoclf.metrics import npv_score
    >>> npv_score([1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 1])
    0.5
    """
    tn, fp, fn, tp = _confusion_counts(
        y_true, y_pred, pos_label=pos_label, sample_weight=sample_weight
    )
    return _ratio(
        tn, tn + fn, metric="NPV", missing="no sample is predicted negative",
        pos_label=pos_label,
    )


@validate_params(_LABEL_PARAMS, prefer_skip_nested_validation=True)
def f2_score(y_true, y_pred, *, pos_label=1, sample_weight=None):
    """F-beta score with beta = 2, weighing sensitivity above precision.

    ``F2 = 5 TP / (5 TP + 4 FN + FP)``: a missed bleed costs four times what
    a false alarm costs. This is not scikit-learn's ``recall_weighted``, which
    averages recall over classes weighted by their support.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted binary labels.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    f2 : float
        In ``[0, 1]``.

    Raises
    ------
    ValueError
        When there is no positive case in ``y_true`` nor in ``y_pred``, or
        labels are not binary.

    See Also
    --------
    sklearn.metrics.fbeta_score : The general F-beta score.

    Examples
    --------
    >>> from hemoclf.metrics import f2_score
    >>> f2_score([1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 1])
    0.75
    """
    tn, fp, fn, tp = _confusion_counts(
        y_true, y_pred, pos_label=pos_label, sample_weight=sample_weight
    )
    return _ratio(
        5 * tp, 5 * tp + 4 * fn + fp, metric="F2",
        missing="neither y_true nor y_pred holds a positive case",
        pos_label=pos_label,
    )


def _roc(y_true, y_score, pos_label, sample_weight, metric):
    """Validate threshold-free inputs and return the ROC curve's rates."""
    check_consistent_length(y_true, y_score)
    y_true = column_or_1d(y_true)
    y_score = check_array(y_score, ensure_2d=False, input_name="y_score")
    if y_score.ndim != 1:
        raise ValueError(
            f"{metric} needs y_score of shape (n_samples,), the score of the "
            f"positive class; got shape {y_score.shape}. Pass one column, e.g. "
            "estimator.predict_proba(X)[:, 1]."
        )
    kind = type_of_target(y_true, input_name="y_true")
    labels = np.unique(y_true)
    if kind != "binary" or labels.shape[0] != 2:
        raise ValueError(
            f"{metric} needs y_true with exactly two classes; got "
            f"{labels.tolist()}. Both hemorrhage and normal cases must be present "
            "to trade one rate against the other."
        )
    if pos_label not in labels.tolist():
        raise ValueError(
            f"pos_label={pos_label!r} is not one of the labels {labels.tolist()}; "
            "set pos_label to the hemorrhage label."
        )
    fpr, tpr, _ = roc_curve(
        y_true, y_score, pos_label=pos_label, sample_weight=sample_weight,
        drop_intermediate=False,
    )
    return fpr, tpr


_SCORE_PARAMS = {
    "y_true": ["array-like"],
    "y_score": ["array-like"],
    "pos_label": _POS_LABEL,
    "sample_weight": ["array-like", None],
}


@validate_params(
    {**_SCORE_PARAMS, "min_specificity": [Interval(Real, 0, 1, closed="both")]},
    prefer_skip_nested_validation=True,
)
def sensitivity_at_specificity(
    y_true, y_score, *, min_specificity, pos_label=1, sample_weight=None
):
    """Best sensitivity over all thresholds that keep specificity high enough.

    Reads the ROC curve of ``y_score`` and returns the largest sensitivity
    among the operating points whose specificity is at least
    ``min_specificity``. The point "flag nothing" always qualifies, so the
    result is defined (it is ``0`` when no useful threshold qualifies).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels, both classes present.
    y_score : array-like of shape (n_samples,)
        Scores of the positive class: probabilities or decision values.
    min_specificity : float in [0, 1]
        Lowest acceptable specificity.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    sensitivity : float
        In ``[0, 1]``.

    See Also
    --------
    specificity_at_sensitivity : The constraint the other way round.
    make_sensitivity_at_specificity_scorer : The scorer for model selection.

    Examples
    --------
    >>> from hemoclf.metrics import sensitivity_at_specificity
    >>> y_true = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> y_score = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    >>> sensitivity_at_specificity(y_true, y_score, min_specificity=1.0)
    0.75
    >>> sensitivity_at_specificity(y_true, y_score, min_specificity=0.75)
    1.0
    """
    fpr, tpr = _roc(
        y_true, y_score, pos_label, sample_weight, "sensitivity_at_specificity"
    )
    feasible = 1.0 - fpr >= min_specificity - _RATE_TOLERANCE
    return float(tpr[feasible].max())


@validate_params(
    {**_SCORE_PARAMS, "min_sensitivity": [Interval(Real, 0, 1, closed="both")]},
    prefer_skip_nested_validation=True,
)
def specificity_at_sensitivity(
    y_true, y_score, *, min_sensitivity, pos_label=1, sample_weight=None
):
    """Best specificity over all thresholds that keep sensitivity high enough.

    Reads the ROC curve of ``y_score`` and returns the largest specificity
    among the operating points whose sensitivity is at least
    ``min_sensitivity``: "how many normal scans can be cleared if at most
    ``1 - min_sensitivity`` of the bleeds may be missed". The point "flag
    everything" always qualifies, so the result is defined.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels, both classes present.
    y_score : array-like of shape (n_samples,)
        Scores of the positive class: probabilities or decision values.
    min_sensitivity : float in [0, 1]
        Lowest acceptable sensitivity.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    specificity : float
        In ``[0, 1]``.

    See Also
    --------
    sensitivity_at_specificity : The constraint the other way round.
    make_specificity_at_sensitivity_scorer : The scorer for model selection.

    Examples
    --------
    >>> from hemoclf.metrics import specificity_at_sensitivity
    >>> y_true = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> y_score = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    >>> specificity_at_sensitivity(y_true, y_score, min_sensitivity=1.0)
    0.75
    """
    fpr, tpr = _roc(
        y_true, y_score, pos_label, sample_weight, "specificity_at_sensitivity"
    )
    feasible = tpr >= min_sensitivity - _RATE_TOLERANCE
    return float((1.0 - fpr[feasible]).max())
