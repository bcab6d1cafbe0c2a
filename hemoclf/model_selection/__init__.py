"""Choosing the decision threshold for sensitivity.

:class:`SensitivityThresholdClassifierCV` wraps a classifier and calls
hemorrhage above the highest threshold that keeps a sensitivity floor on the
pooled out-of-fold probabilities of a cross-validation;
:func:`sensitivity_floor_threshold` is its rule, on scores at hand.
"""

from ._threshold import SensitivityThresholdClassifierCV, sensitivity_floor_threshold

__all__ = ["SensitivityThresholdClassifierCV", "sensitivity_floor_threshold"]
