"""Training throughput: HemorrhageCNNClassifier.fit against plain Keras.

Both sides build, compile and train the same paper CNN on the same float32
arrays with the same batch size and epochs, so the ratio measures what the
scikit-learn layer (validation, scikeras, seeding) costs. A third group
trains the default CNN as the default recipe does, with its fused batch
normalisation against Keras's own layer in the same places.
"""

import numpy as np
import pytest

from hemoclf import HemorrhageCNNClassifier
from hemoclf.utils._testing import bench_full

FULL = bench_full()

N_IMAGES, EPOCHS = (1000, 5) if FULL else (512, 3)
BATCH = 32
# The default recipe's training on gray images, in its batches of 16.
N_GRAY, GRAY_EPOCHS = (1000, 6) if FULL else (512, 4)


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


def _default_cnn_with_keras_batch_norm(input_shape, **params):
    """The default CNN with ``keras.layers.BatchNormalization`` layers."""
    import keras

    from hemoclf._batch_norm import fused_batch_norm_class
    from hemoclf._models import build_default_cnn

    fused = fused_batch_norm_class()

    def clone(layer):
        cls = (keras.layers.BatchNormalization if type(layer) is fused
               else type(layer))
        return cls.from_config(layer.get_config())

    return keras.models.clone_model(build_default_cnn(input_shape, **params),
                                    clone_function=clone)


@pytest.fixture(scope="module")
def gray_images():
    rng = np.random.default_rng(0)
    X = rng.random((N_GRAY, 128, 128, 1), dtype=np.float32)
    return X, np.arange(N_GRAY) % 2


def _default_recipe(X, y, architecture):
    return HemorrhageCNNClassifier(architecture, epochs=GRAY_EPOCHS,
                                   random_state=0).fit(X, y)


GROUP_FIT = "fit: hemoclf vs plain Keras"
GROUP_AUG = "fit: with vs without augmentation"
GROUP_BN = "fit: default CNN, fused vs Keras batch norm"


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


def test_fit_default_keras_batch_norm(compare, gray_images):
    compare(lambda: _default_recipe(*gray_images, _default_cnn_with_keras_batch_norm),
            group=GROUP_BN, role="baseline")


def test_fit_default_fused_batch_norm(compare, gray_images):
    # A training epoch of the default recipe is about a sixth shorter; the
    # fixed costs of a fit (build, trace) take a share of the gain.
    compare(lambda: _default_recipe(*gray_images, "default"), group=GROUP_BN,
            role="hemoclf", target=1.08,
            note=f"{N_GRAY} images 128x128x1, {GRAY_EPOCHS} epochs, batch 16")
