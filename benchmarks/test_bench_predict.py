"""Inference throughput: predict_proba against scikeras on the same model."""

import numpy as np
import pytest

from hemoclf import HemorrhageCNNClassifier
from hemoclf.utils._testing import bench_full

FULL = bench_full()

N_IMAGES = 4096 if FULL else 1024
GROUP = "predict_proba: hemoclf vs scikeras"


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.random((N_IMAGES, 128, 128, 3), dtype=np.float32)
    y = np.arange(N_IMAGES) % 2
    clf = HemorrhageCNNClassifier(epochs=1, augment=False, random_state=0)
    clf.fit(X[:64], y[:64])
    # The scikeras estimator that trained the model predicts with the very
    # same weights: the baseline differs only in the inference path.
    np.testing.assert_allclose(
        clf.predict_proba(X[:256]), clf.keras_estimator_.predict_proba(X[:256]),
        atol=1e-5,
    )
    return clf, X


def test_predict_proba_scikeras(compare, fitted):
    clf, X = fitted
    compare(lambda: clf.keras_estimator_.predict_proba(X), group=GROUP, role="baseline")


def test_predict_proba_hemoclf(compare, fitted):
    clf, X = fitted
    compare(lambda: clf.predict_proba(X), group=GROUP, role="hemoclf", target=3.0,
            note=f"{N_IMAGES} images 128x128x3")
