"""A decision threshold that meets a sensitivity floor on pooled scores."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.model_selection import (
    StratifiedGroupKFold,
    check_cv,
    cross_val_predict,
)
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, validate_params
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _num_samples, check_is_fitted, column_or_1d

# Rates compared with the floor are ratios of counts; this absorbs float
# rounding in min_sensitivity * n (e.g. 0.98 * 50).
_RATE_TOLERANCE = 1e-9


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "min_sensitivity": [Interval(Real, 0, 1, closed="right")],
    },
    prefer_skip_nested_validation=True,
)
def sensitivity_floor_threshold(y_true, y_score, min_sensitivity):
    """The highest threshold whose sensitivity on ``y_score`` reaches a floor.

    An image is called positive when its score is ``>= threshold``. Of the
    ``n`` positive images, at most ``floor((1 - min_sensitivity) * n)`` may
    score below the threshold; among the thresholds that allow no more, every
    one between the lowest positive score that must be kept and the next
    lower score gives the same confusion matrix, and the midpoint is
    returned.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        ``1`` for hemorrhage, ``0`` for normal.
    y_score : array-like of shape (n_samples,)
        Higher means more likely hemorrhage.
    min_sensitivity : float in (0, 1]
        The sensitivity the threshold must reach.

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> from hemoclf.model_selection import sensitivity_floor_threshold
    >>> y = [0, 0, 0, 1, 1, 1, 1]
    >>> scores = [0.1, 0.3, 0.6, 0.2, 0.7, 0.8, 0.9]
    >>> sensitivity_floor_threshold(y, scores, 1.0)   # keeps the 0.2
    0.15
    >>> sensitivity_floor_threshold(y, scores, 0.75)  # may miss one of four
    0.65
    """
    y_true = column_or_1d(y_true)
    y_score = column_or_1d(y_score).astype(np.float64)
    if len(y_true) != len(y_score):
        raise ValueError(f"y_true holds {len(y_true)} labels but y_score "
                         f"{len(y_score)} scores.")
    positive = np.sort(y_score[y_true == 1])
    if positive.size == 0:
        raise ValueError("y_true holds no positive (hemorrhage) case; a "
                         "sensitivity floor needs at least one.")
    allowed = math.floor((1.0 - min_sensitivity) * positive.size + _RATE_TOLERANCE)
    keep = positive[min(allowed, positive.size - 1)]
    below = y_score[y_score < keep]
    return float(keep if below.size == 0 else (keep + below.max()) / 2)


class SensitivityThresholdClassifierCV(
    ClassifierMixin, MetaEstimatorMixin, BaseEstimator
):
    """Binary classifier whose threshold meets a sensitivity floor out of fold.

    The estimator is cross-validated once; the out-of-fold probabilities of
    hemorrhage of all folds are pooled, and the decision threshold is the
    highest one that keeps the sensitivity on that pool at or above
    ``min_sensitivity`` (see :func:`sensitivity_floor_threshold`). The
    estimator is then refitted on all the data, and :meth:`predict` calls
    hemorrhage wherever its probability reaches the threshold.

    Pooling is what sets it apart from
    :class:`~sklearn.model_selection.TunedThresholdClassifierCV` with
    :func:`~hemoclf.metrics.make_sensitivity_constrained_scorer`, which
    scores each fold separately and averages: with about 45 hemorrhages per
    fold a floor of 0.98 allows no miss in any fold, so a single fold's
    missed bleed drags the threshold to that bleed's score. On the pool of
    about 90, the same floor allows one miss, as it would on 90 new patients.

    Parameters
    ----------
    estimator : estimator object
        A binary classifier with ``predict_proba`` (a pipeline ending in
        :class:`~hemoclf.HemorrhageCNNClassifier`, for instance), cloned
        before fitting.
    min_sensitivity : float in (0, 1], default=0.98
        The sensitivity the threshold must reach on the pooled out-of-fold
        probabilities.
    cv : int, cross-validation generator or iterable, default=5
        How the training data are split for the out-of-fold probabilities.
        An int is the number of folds of
        :class:`~sklearn.model_selection.StratifiedKFold`, or of
        :class:`~sklearn.model_selection.StratifiedGroupKFold` when ``fit``
        is given ``groups`` (near-duplicate images then stay in one fold).
        Every image must be in exactly one test fold.
    n_jobs : int, default=None
        Folds fitted in parallel (joblib); ``None`` means 1.

    Attributes
    ----------
    estimator_ : estimator object
        The estimator fitted on all the data.
    best_threshold_ : float
        The decision threshold on the probability of hemorrhage.
    oof_scores_ : ndarray of shape (n_samples,)
        The out-of-fold probabilities of hemorrhage the threshold was chosen
        on.
    cv_sensitivity_ : float
        Sensitivity of the out-of-fold probabilities at ``best_threshold_``.
    cv_specificity_ : float
        Specificity of the out-of-fold probabilities at ``best_threshold_``.
    classes_ : ndarray of shape (2,)
        The class labels; the second is hemorrhage.
    n_features_in_ : int
        Number of features seen in ``fit``, when the estimator records it.

    See Also
    --------
    sensitivity_floor_threshold : The threshold rule.
    sklearn.model_selection.TunedThresholdClassifierCV : Tunes a threshold
        on the average of per-fold objectives.
    sklearn.model_selection.FixedThresholdClassifier : A threshold set by
        hand.

    Notes
    -----
    The floor is met on the out-of-fold probabilities of models trained on
    part of the data; the refitted model sees all of it. Nothing guarantees
    the floor on new patients: report the sensitivity on held-out data with
    its confidence interval (:func:`~hemoclf.metrics.clinical_report`).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from hemoclf.metrics import sensitivity_score
    >>> from hemoclf.model_selection import SensitivityThresholdClassifierCV
    >>> X, y = make_classification(n_samples=300, flip_y=0.1, random_state=0)
    >>> model = SensitivityThresholdClassifierCV(
    ...     LogisticRegression(), min_sensitivity=0.95).fit(X, y)
    >>> bool(model.cv_sensitivity_ >= 0.95)
    True
    >>> bool(model.best_threshold_ < 0.5)
    True
    >>> sensitivity_score(y, model.predict(X)) >= 0.9
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "min_sensitivity": [Interval(Real, 0, 1, closed="right")],
        "cv": ["cv_object"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, estimator, *, min_sensitivity=0.98, cv=5, n_jobs=None):
        self.estimator = estimator
        self.min_sensitivity = min_sensitivity
        self.cv = cv
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, *, groups=None, **fit_params):
        """Cross-validate, choose the threshold, refit on all the data.

        Parameters
        ----------
        X : array-like or list of images
            Whatever ``estimator`` takes, e.g. images of any size before
            :class:`~hemoclf.ResizeRescale`.
        y : array-like of shape (n_samples,)
            Two classes; the larger label is hemorrhage.
        groups : array-like of shape (n_samples,), default=None
            Group labels (e.g. from
            :func:`~hemoclf.datasets.find_near_duplicates`) for a group-aware
            ``cv``.
        **fit_params : dict
            Passed to the estimator's ``fit`` in every fold and in the refit.

        Returns
        -------
        self : object
        """
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(
                "Only binary classification is supported. The type of the "
                f"target is {y_type}: {type(self).__name__} needs two classes, "
                f"normal and hemorrhage, and y holds {np.unique(y)!r}."
            )
        if _num_samples(X) != len(y):
            raise ValueError(f"X holds {_num_samples(X)} samples but y holds "
                             f"{len(y)}.")
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        cv = self.cv
        if isinstance(cv, Integral) and groups is not None:
            cv = StratifiedGroupKFold(cv)
        cv = check_cv(cv, y_encoded, classifier=True)

        proba = cross_val_predict(
            clone(self.estimator), X, y_encoded, groups=groups, cv=cv,
            n_jobs=self.n_jobs, method="predict_proba", params=fit_params,
        )
        self.oof_scores_ = proba[:, 1]
        self.best_threshold_ = sensitivity_floor_threshold(
            y_encoded, self.oof_scores_, self.min_sensitivity
        )
        called = self.oof_scores_ >= self.best_threshold_
        self.cv_sensitivity_ = float(called[y_encoded == 1].mean())
        self.cv_specificity_ = float((~called[y_encoded == 0]).mean())

        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def _positive_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)[:, 1]

    def predict(self, X):
        """Hemorrhage where its probability reaches ``best_threshold_``.

        Parameters
        ----------
        X : array-like or list of images

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        called = self._positive_proba(X) >= self.best_threshold_
        return self.classes_[called.astype(int)]

    def predict_proba(self, X):
        """The refitted estimator's class probabilities.

        Parameters
        ----------
        X : array-like or list of images

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
        """
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def _estimator_has(attr):
        def check(self):
            if hasattr(self, "estimator_"):
                return hasattr(self.estimator_, attr)
            return hasattr(self.estimator, attr)

        return check

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """The refitted estimator's log class probabilities.

        Parameters
        ----------
        X : array-like or list of images

        Returns
        -------
        log_proba : ndarray of shape (n_samples, 2)
        """
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """The refitted estimator's decision function.

        Parameters
        ----------
        X : array-like or list of images

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags = inner.input_tags
        tags.non_deterministic = inner.non_deterministic
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True
        return tags


def threshold_wrappers():
    """The threshold classifiers hemoclf unwraps, for ``isinstance`` tests."""
    from sklearn.model_selection import (
        FixedThresholdClassifier,
        TunedThresholdClassifierCV,
    )

    return (FixedThresholdClassifier, TunedThresholdClassifierCV,
            SensitivityThresholdClassifierCV)


def wrapped_threshold(wrapper):
    """The decision threshold of a fitted threshold classifier."""
    if hasattr(wrapper, "best_threshold_"):
        return float(wrapper.best_threshold_)
    return float(wrapper.threshold)
