"""Inference throughput: predict_proba against scikeras on the same model.

Two trained networks are scored: the default recipe's (batch normalisation,
which hemoclf folds into the convolutions at inference) and the paper's CNN.
Each baseline is the scikeras ``KerasClassifier`` that trained the network,
so both sides run the very same weights and differ only in the inference
path.
"""

import numpy as np
import pytest

from hemoclf import HemorrhageCNNClassifier
from hemoclf.utils._testing import bench_full

FULL = bench_full()

N_IMAGES = 4096 if FULL else 1024
ARCHITECTURES = ("default", "paper")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.random((N_IMAGES, 128, 128, 3), dtype=np.float32)


@pytest.fixture(scope="module", params=ARCHITECTURES)
def fitted(request, images):
    X = images
    y = np.arange(len(X)) % 2
    clf = HemorrhageCNNClassifier(architecture=request.param, epochs=1,
                                  augment=False, random_state=0)
    clf.fit(X[:64], y[:64])
    np.testing.assert_allclose(
        clf.predict_proba(X[:256]), clf.keras_estimator_.predict_proba(X[:256]),
        rtol=1e-5, atol=1e-6,
    )
    return request.param, clf


def test_predict_proba_scikeras(compare, fitted, images):
    name, clf = fitted
    compare(lambda: clf.keras_estimator_.predict_proba(images),
            group=f"predict_proba, {name} CNN: hemoclf vs scikeras", role="baseline")


def test_predict_proba_hemoclf(compare, fitted, images):
    name, clf = fitted
    compare(lambda: clf.predict_proba(images),
            group=f"predict_proba, {name} CNN: hemoclf vs scikeras", role="hemoclf",
            target=3.0, note=f"{N_IMAGES} images 128x128x3")
