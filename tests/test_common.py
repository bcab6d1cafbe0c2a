"""Common estimator checks over every hemoclf estimator.

scikit-learn's checks run on every estimator; the samplers also run
imbalanced-learn's sampler checks (class counts under each
``sampling_strategy``, dtypes, lists, data frames, one-hot and 2-D targets).
The checks really run: no tag is set to make a suite skip them. Each expected
failure states why the behaviour is intended.
"""

import pytest
from imblearn.over_sampling import SMOTE
from imblearn.under_sampling import RandomUnderSampler
from imblearn.utils.estimator_checks import check_param_validation
from imblearn.utils.estimator_checks import (
    parametrize_with_checks as parametrize_with_sampler_checks,
)
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from hemoclf import HemorrhageCNNClassifier, ResizeRescale
from hemoclf.model_selection import SensitivityThresholdClassifierCV
from hemoclf.preprocessing import CTWindow
from hemoclf.sampling import AugmentationSampler, ImageSampler

# Tiny settings keep the ~60 classifier checks to a couple of minutes.
ESTIMATORS = [
    HemorrhageCNNClassifier(
        filters=(4, 4, 4), dense_units=4, epochs=2, batch_size=16, augment=False,
        random_state=0,
    ),
    ResizeRescale(output_size=(4, 4)),
    ResizeRescale(output_size=(4, 4), keep_aspect_ratio=True, crop_to_head=True),
    CTWindow(),
    AugmentationSampler(random_state=0),
    # A sampler that picks rows (sample_indices_) and one that makes rows.
    ImageSampler(RandomUnderSampler(random_state=0)),
    ImageSampler(SMOTE(k_neighbors=2, random_state=0)),
    # The checks' small data sets: a floor the default threshold also meets.
    SensitivityThresholdClassifierCV(LogisticRegression(), min_sensitivity=0.8,
                                     cv=3),
]

SAMPLERS = [e for e in ESTIMATORS if hasattr(e, "fit_resample")]

EXPECTED_FAILURES = {
    "HemorrhageCNNClassifier": {
        "check_sample_weight_equivalence_on_dense_data": (
            "mini-batch gradient descent sees a duplicated image twice per "
            "epoch in different batches, which is not the same optimisation "
            "path as one image with weight 2; the weights are honoured in the "
            "loss (see test_class_weight_changes_training)"
        ),
    },
    "ResizeRescale": {
        "check_n_features_in_after_fitting": (
            "stateless by design: a fitted ResizeRescale resizes images of any "
            "size, so a different input width at transform time is valid"
        ),
    },
    "SensitivityThresholdClassifierCV": {
        "check_classifiers_train": (
            "predict applies the tuned threshold, not 0.5, so it differs from "
            "the argmax of predict_proba by design (scikit-learn expects the "
            "same failure of its TunedThresholdClassifierCV)"
        ),
        "check_classifiers_one_label_sample_weights": (
            "sample weights reach the estimator's fits, but the threshold is "
            "chosen on unweighted counts of out-of-fold calls, so a class "
            "weighted zero still shapes the threshold"
        ),
    },
    "CTWindow": {
        "check_n_features_in_after_fitting": (
            "stateless by design: windowing is per pixel, so a fitted CTWindow "
            "takes slices of any size at transform time"
        ),
    },
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


def test_expected_failures_are_few_and_explained():
    entries = [r for reasons in EXPECTED_FAILURES.values() for r in reasons.values()]
    assert len(entries) <= 5
    assert all(len(reason) > 40 for reason in entries)


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@parametrize_with_sampler_checks(
    SAMPLERS, expected_failed_checks=_expected_failed_checks
)
def test_imblearn_compatible_sampler(estimator, check):
    check(estimator)


@pytest.mark.parametrize("sampler", SAMPLERS, ids=repr)
def test_sampler_parameter_validation(sampler):
    # scikit-learn's own version of this check calls fit but not fit_resample.
    check_param_validation(type(sampler).__name__, sampler)
