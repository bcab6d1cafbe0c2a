"""Training throughput: HemorrhageCNNClassifier.fit against plain Keras.

Both sides build, compile and train the same paper CNN on the same float32
arrays with the same batch size and epochs, so the ratio measures what the
scikit-learn layer (validation, scikeras, seeding) costs.
"""

import numpy as np
import pytest

from hemoclf import HemorrhageCNNClassifier
from hemoclf.utils._testing import bench_full

FULL = bench_full()

N_IMAGES, EPOCHS = (1000, 5) if FULL else (512, 3)
BATCH = 32


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    X = rng.random((N_IMAGES, 128, 128, 3), dtype=np.float32)
    y = np.arange(N_IMAGES) % 2
    return X, y


def _plain_keras(X, y):
    import keras

    from hemoclf._models import build_paper_cnn

    keras.utils.set_random_seed(0)
    model = build_paper_cnn(X.shape[1:])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    return model


def _hemoclf(X, y, augment):
    return HemorrhageCNNClassifier(
        architecture="paper", epochs=EPOCHS, batch_size=BATCH, augment=augment,
        random_state=0,
    ).fit(X, y)


GROUP_FIT = "fit: hemoclf vs plain Keras"
GROUP_AUG = "fit: with vs without augmentation"


def test_fit_plain_keras(compare, images):
    compare(lambda: _plain_keras(*images), group=GROUP_FIT, role="baseline")


def test_fit_hemoclf(compare, images):
    compare(lambda: _hemoclf(*images, augment=False), group=GROUP_FIT, role="hemoclf",
            target=0.95, note=f"{N_IMAGES} images 128x128x3, {EPOCHS} epochs")


def test_fit_without_augmentation(compare, images):
    compare(lambda: _hemoclf(*images, augment=False), group=GROUP_AUG, role="baseline")


def test_fit_with_augmentation(compare, images):
    # At most 1.3 times slower: the ratio (speed-up) must stay above 1/1.3.
    compare(lambda: _hemoclf(*images, augment=True), group=GROUP_AUG, role="hemoclf",
            target=1 / 1.3, note="flips, rotation, zoom, shear, shift")
