"""Sensitivity-first metrics, scorers and reports for hemorrhage detection.

The positive class is hemorrhage (``pos_label=1`` by default). Rates whose
denominator is empty raise instead of returning 0.

Functions on predicted labels: :func:`sensitivity_score`,
:func:`specificity_score`, :func:`ppv_score`, :func:`npv_score`,
:func:`f2_score`. On scores, over all thresholds:
:func:`sensitivity_at_specificity`, :func:`specificity_at_sensitivity`.
Reporting: :func:`clinical_report`, :func:`wilson_interval`.

``CLINICAL_SCORING`` is a dict for the ``scoring`` parameter of
:func:`~sklearn.model_selection.cross_validate` and
:class:`~sklearn.model_selection.GridSearchCV` (e.g. with
``refit="sensitivity"``). Its keys: ``"accuracy"``, ``"roc_auc"``,
``"sensitivity"``, ``"specificity"``, ``"ppv"``, ``"npv"``, ``"f2"`` and
``"neg_false_negatives"``, the number of missed bleeds negated so that
greater is better as scikit-learn requires. Copy it before adding keys:
``dict(CLINICAL_SCORING, balanced_accuracy="balanced_accuracy")``. Its
scorers take ``1`` as the hemorrhage label, as ``"roc_auc"`` takes the larger
label; for other labels build them with
``sklearn.metrics.make_scorer(sensitivity_score, pos_label="bleed")``.

:func:`make_sensitivity_constrained_scorer` is the objective for
:class:`~sklearn.model_selection.TunedThresholdClassifierCV`: the most
specific decision threshold that keeps sensitivity above a floor.
"""

from ._clinical import (
    f2_score,
    npv_score,
    ppv_score,
    sensitivity_at_specificity,
    sensitivity_score,
    specificity_at_sensitivity,
    specificity_score,
)
from ._report import clinical_report, wilson_interval
from ._scorers import (
    CLINICAL_SCORING,
    f2_scorer,
    make_sensitivity_at_specificity_scorer,
    make_sensitivity_constrained_scorer,
    make_specificity_at_sensitivity_scorer,
    neg_false_negatives_scorer,
    npv_scorer,
    ppv_scorer,
    sensitivity_scorer,
    specificity_scorer,
)

__all__ = [
    "CLINICAL_SCORING",
    "clinical_report",
    "f2_score",
    "f2_scorer",
    "make_sensitivity_at_specificity_scorer",
    "make_sensitivity_constrained_scorer",
    "make_specificity_at_sensitivity_scorer",
    "neg_false_negatives_scorer",
    "npv_score",
    "npv_scorer",
    "ppv_score",
    "ppv_scorer",
    "sensitivity_at_specificity",
    "sensitivity_score",
    "sensitivity_scorer",
    "specificity_at_sensitivity",
    "specificity_score",
    "specificity_scorer",
    "wilson_interval",
]
