"""Pins of the scikeras and scikit-learn behaviours hemoclf relies on.

hemoclf repairs scikeras 0.13 on modern scikit-learn in one place
(``HemorrhageCNNClassifier.__sklearn_tags__``, plus its own seeding in
``hemoclf._seeding``). These tests fail loudly when either library changes
under us: when scikeras is fixed (the repair may go) or when scikit-learn
changes what a classifier must declare (the repair must follow).
"""

import subprocess
import sys

import numpy as np
import pytest
import scikeras
import sklearn
from sklearn.base import is_classifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import (
    FixedThresholdClassifier,
    StratifiedKFold,
    TunedThresholdClassifierCV,
    cross_val_score,
)
from sklearn.utils import get_tags

from hemoclf import HemorrhageCNNClassifier
from hemoclf.utils._testing import TINY_CNN_PARAMS


def test_scikeras_still_reports_no_estimator_type():
    """The fault we repair. If this fails, scikeras was fixed: revisit
    ``HemorrhageCNNClassifier.__sklearn_tags__`` and the module docstring."""
    from scikeras.wrappers import KerasClassifier

    tags = get_tags(KerasClassifier(model=None))
    assert tags.estimator_type is None, (
        f"scikeras {scikeras.__version__} now declares estimator_type="
        f"{tags.estimator_type!r} on scikit-learn {sklearn.__version__}"
    )
    assert not is_classifier(KerasClassifier(model=None))


_LEAK_PROBE = """
import numpy as np
X = np.random.default_rng(0).random((20, 4, 4, 1), dtype=np.float32)
y = np.arange(20) % 2
{fit}
from tensorflow.python.framework import config
import tensorflow as tf
print("determinism", config.is_op_determinism_enabled())
try:
    tf.random.uniform([1])
    print("unseeded op ok")
except Exception as exc:
    print("unseeded op raised", type(exc).__name__)
"""

_SCIKERAS_FIT = """
import keras
from scikeras.wrappers import KerasClassifier
def build():
    return keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(),
         keras.layers.Dense(1, activation="sigmoid")])
KerasClassifier(model=build, loss="binary_crossentropy", epochs=1,
                random_state=0, verbose=0).fit(X, y)
"""

_HEMOCLF_FIT = """
from hemoclf import HemorrhageCNNClassifier
HemorrhageCNNClassifier(filters=(2, 2, 2), dense_units=2, epochs=1,
                        random_state=0).fit(X, y)
"""


def _probe(fit_code):
    # A fresh process: TensorFlow reads its determinism setting when it first
    # runs, which is when the leak shows.
    out = subprocess.run(
        [sys.executable, "-c", _LEAK_PROBE.format(fit=fit_code)],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    return out


def test_scikeras_random_state_leaves_op_determinism_on():
    """Why hemoclf never passes ``random_state`` to scikeras: in a fresh
    process its seeding leaves TensorFlow's op determinism on, and every
    unseeded random op afterwards raises. If this fails, scikeras restores
    the process now and could seed for us."""
    out = _probe(_SCIKERAS_FIT)
    assert "determinism True" in out, out
    assert "unseeded op raised" in out, out


def test_hemoclf_seeding_leaves_a_fresh_process_clean():
    out = _probe(_HEMOCLF_FIT)
    assert "determinism False" in out, out
    assert "unseeded op ok" in out, out


def test_classifier_tags_declare_a_binary_classifier():
    clf = HemorrhageCNNClassifier()
    tags = get_tags(clf)
    assert is_classifier(clf)
    assert tags.estimator_type == "classifier"
    assert tags.classifier_tags is not None
    assert tags.classifier_tags.multi_class is False
    assert tags.regressor_tags is None
    assert tags.input_tags.allow_nan is False


@pytest.fixture(scope="module")
def cv_data():
    from hemoclf.utils._testing import make_square_images

    return make_square_images(40, 16, 1, seed=1)


def test_roc_auc_scoring_gives_real_numbers(cv_data):
    X, y = cv_data
    scores = cross_val_score(
        HemorrhageCNNClassifier(**TINY_CNN_PARAMS),
        X,
        y,
        scoring="roc_auc",
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    )
    assert scores.shape == (2,)
    assert np.all(np.isfinite(scores))
    assert np.all((scores >= 0) & (scores <= 1))


def test_tuned_threshold_classifier_fits_and_predicts(cv_data):
    X, y = cv_data
    tuned = TunedThresholdClassifierCV(
        HemorrhageCNNClassifier(**TINY_CNN_PARAMS),
        scoring="balanced_accuracy",
        cv=2,
        random_state=0,
    ).fit(X, y)
    assert 0.0 <= tuned.best_threshold_ <= 1.0
    assert np.isfinite(tuned.best_score_)
    pred = tuned.predict(X)
    proba = tuned.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(pred, (proba >= tuned.best_threshold_).astype(int))


def test_fixed_threshold_classifier_moves_the_operating_point(cv_data, fitted_tiny):
    X, _ = cv_data
    frozen = FrozenEstimator(fitted_tiny)
    low = FixedThresholdClassifier(frozen, threshold=0.0).fit(X[:4], [0, 1, 0, 1])
    high = FixedThresholdClassifier(frozen, threshold=1.01).fit(X[:4], [0, 1, 0, 1])
    # Threshold 0 flags every image, a threshold above 1 none.
    assert np.all(low.predict(X) == 1)
    assert np.all(high.predict(X) == 0)
