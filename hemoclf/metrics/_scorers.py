"""Scorers for model selection, all following scikit-learn's sign convention.

scikit-learn maximises every scorer, so a scorer must grow as the model gets
better. Rates (sensitivity, specificity, ...) already do. Counts of errors do
not, so :data:`CLINICAL_SCORING` reports the number of missed bleeds negated,
under the key ``"neg_false_negatives"`` (``-3`` means three missed bleeds),
the same way scikit-learn names ``"neg_log_loss"``.
"""

from numbers import Real

from sklearn.metrics import make_scorer
from sklearn.utils._param_validation import Interval, validate_params

from ._clinical import (
    _POS_LABEL,
    _RATE_TOLERANCE,
    _confusion_counts,
    f2_score,
    npv_score,
    ppv_score,
    sensitivity_at_specificity,
    sensitivity_score,
    specificity_at_sensitivity,
    specificity_score,
)

# Probabilities when the estimator has no decision function, as roc_auc does.
_SCORE_RESPONSE = ("decision_function", "predict_proba")


def _false_negatives(y_true, y_pred, *, pos_label=1, sample_weight=None):
    """Number (or total weight) of positive cases predicted negative."""
    return _confusion_counts(
        y_true, y_pred, pos_label=pos_label, sample_weight=sample_weight
    )[2]


# Subtracted from the sensitivity where it misses its floor, so that one
# cross-validation fold that misses it outweighs up to 100 folds that meet it.
_INFEASIBLE_OFFSET = 101.0


def _constrained_specificity(
    y_true, y_pred, *, min_sensitivity, pos_label=1, sample_weight=None
):
    """Specificity where sensitivity reaches its floor, else sensitivity - 101."""
    sensitivity = sensitivity_score(
        y_true, y_pred, pos_label=pos_label, sample_weight=sample_weight
    )
    if sensitivity >= min_sensitivity - _RATE_TOLERANCE:
        return specificity_score(
            y_true, y_pred, pos_label=pos_label, sample_weight=sample_weight
        )
    return sensitivity - _INFEASIBLE_OFFSET


sensitivity_scorer = make_scorer(sensitivity_score)
specificity_scorer = make_scorer(specificity_score)
ppv_scorer = make_scorer(ppv_score)
npv_scorer = make_scorer(npv_score)
f2_scorer = make_scorer(f2_score)
neg_false_negatives_scorer = make_scorer(_false_negatives, greater_is_better=False)

CLINICAL_SCORING = {
    "accuracy": "accuracy",
    "roc_auc": "roc_auc",
    "sensitivity": sensitivity_scorer,
    "specificity": specificity_scorer,
    "ppv": ppv_scorer,
    "npv": npv_scorer,
    "f2": f2_scorer,
    "neg_false_negatives": neg_false_negatives_scorer,
}


@validate_params(
    {
        "min_specificity": [Interval(Real, 0, 1, closed="both")],
        "pos_label": _POS_LABEL,
    },
    prefer_skip_nested_validation=True,
)
def make_sensitivity_at_specificity_scorer(min_specificity, *, pos_label=1):
    """Scorer for :func:`sensitivity_at_specificity` on an estimator's scores.

    The scorer reads ``decision_function``, or ``predict_proba`` where the
    estimator has none, and takes the column of ``pos_label``.

    Parameters
    ----------
    min_specificity : float in [0, 1]
        Lowest acceptable specificity.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, greater is better.

    See Also
    --------
    make_specificity_at_sensitivity_scorer : The constraint the other way round.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from hemoclf.metrics import make_sensitivity_at_specificity_scorer
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> scorer = make_sensitivity_at_specificity_scorer(0.9)
    >>> 0 <= scorer(LogisticRegression().fit(X, y), X, y) <= 1
    True
    """
    return make_scorer(
        sensitivity_at_specificity,
        response_method=_SCORE_RESPONSE,
        min_specificity=min_specificity,
        pos_label=pos_label,
    )


@validate_params(
    {
        "min_sensitivity": [Interval(Real, 0, 1, closed="both")],
        "pos_label": _POS_LABEL,
    },
    prefer_skip_nested_validation=True,
)
def make_specificity_at_sensitivity_scorer(min_sensitivity, *, pos_label=1):
    """Scorer for :func:`specificity_at_sensitivity` on an estimator's scores.

    The scorer reads ``decision_function``, or ``predict_proba`` where the
    estimator has none, and takes the column of ``pos_label``. Use it to
    compare models by how many normal scans each can clear at a sensitivity
    no clinician would go below.

    Parameters
    ----------
    min_sensitivity : float in [0, 1]
        Lowest acceptable sensitivity.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, greater is better.

    See Also
    --------
    make_sensitivity_constrained_scorer : Picks a decision threshold instead.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from hemoclf.metrics import make_specificity_at_sensitivity_scorer
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> scorer = make_specificity_at_sensitivity_scorer(0.95)
    >>> 0 <= scorer(LogisticRegression().fit(X, y), X, y) <= 1
    True
    """
    return make_scorer(
        specificity_at_sensitivity,
        response_method=_SCORE_RESPONSE,
        min_sensitivity=min_sensitivity,
        pos_label=pos_label,
    )


@validate_params(
    {
        "min_sensitivity": [Interval(Real, 0, 1, closed="both")],
        "pos_label": _POS_LABEL,
    },
    prefer_skip_nested_validation=True,
)
def make_sensitivity_constrained_scorer(min_sensitivity, *, pos_label=1):
    """Objective that maximises specificity subject to a sensitivity floor.

    Made for :class:`sklearn.model_selection.TunedThresholdClassifierCV`,
    which scores predicted labels at many decision thresholds on each
    cross-validation fold, averages the folds and keeps the best threshold.
    At a threshold where sensitivity reaches ``min_sensitivity`` the score is
    the specificity, in ``[0, 1]``. Elsewhere it is ``sensitivity - 101``, in
    ``[-101, -100)``: one fold that misses the floor pulls the average below
    zero, under every threshold that meets the floor in all folds (for up to
    100 folds), and among thresholds that miss it the more sensitive scores
    higher. So the tuner picks the most specific threshold that meets the
    floor in every fold, and a negative ``best_score_`` says that no
    threshold did.

    Parameters
    ----------
    min_sensitivity : float in [0, 1]
        The sensitivity the chosen threshold must reach.
    pos_label : int, float, bool or str, default=1
        The label of the hemorrhage class.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` on predicted labels, greater is better.

    See Also
    --------
    sklearn.model_selection.TunedThresholdClassifierCV : Tunes the threshold.
    make_specificity_at_sensitivity_scorer : The same trade-off, threshold-free.

    Notes
    -----
    The floor is met on the validation folds the threshold is tuned on; with
    ``thresholds`` given as an array every fold is scored at exactly those
    thresholds, while with an int each fold's scores are interpolated onto a
    common grid. Nothing guarantees it on new patients: report the
    sensitivity on held-out data with its confidence interval
    (:func:`clinical_report`).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import TunedThresholdClassifierCV
    >>> from hemoclf.metrics import (
    ...     make_sensitivity_constrained_scorer, sensitivity_score)
    >>> X, y = make_classification(n_samples=200, flip_y=0.2, random_state=0)
    >>> model = TunedThresholdClassifierCV(
    ...     LogisticRegression(),
    ...     scoring=make_sensitivity_constrained_scorer(0.95)).fit(X, y)
    >>> bool(model.best_score_ >= 0)
    True
    >>> sensitivity_score(y, model.predict(X)) >= 0.95
    True
    """
    return make_scorer(
        _constrained_specificity,
        min_sensitivity=min_sensitivity,
        pos_label=pos_label,
    )
