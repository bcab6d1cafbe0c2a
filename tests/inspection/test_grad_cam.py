"""Grad-CAM heatmaps on a network that has learned where the bright square is."""

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from hemoclf import HemorrhageCNNClassifier, ResizeRescale
from hemoclf.inspection import grad_cam
from hemoclf.utils._testing import make_square_images


@pytest.fixture(scope="module")
def squares():
    return make_square_images(64, 32, 1, seed=0)


@pytest.fixture(scope="module")
def learned(squares):
    """The paper's CNN, small, trained until it tells the squares apart."""
    X, y = squares
    clf = HemorrhageCNNClassifier(
        architecture="paper", filters=(8, 8, 8), dense_units=8, epochs=30,
        batch_size=16, learning_rate=1e-2, augment=False, random_state=0,
    ).fit(X, y)
    assert (clf.predict(X) == y).mean() > 0.9
    return clf


def test_heatmaps_shape_range_and_location(learned, squares):
    X, y = squares
    maps = grad_cam(learned, X[:12])
    assert maps.shape == (12, 32, 32)
    assert maps.dtype == np.float32
    assert np.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1
    positives = np.flatnonzero(y[:12] == 1)
    inside, outside = [], []
    for k in positives:
        square = X[k, :, :, 0] > 0.6
        inside.append(maps[k][square].mean())
        outside.append(maps[k][~square].mean())
        assert maps[k].max() == pytest.approx(1.0)
    assert np.mean(inside) > np.mean(outside)


def test_pipeline_input_is_preprocessed(learned, squares):
    X, _ = squares
    raw = [np.kron(X[k, :, :, 0], np.ones((2, 2))) for k in range(4)]  # 64x64
    pipe = Pipeline([("resize", ResizeRescale((32, 32), scale=1.0, channels=1)),
                     ("clf", learned)])
    maps = grad_cam(pipe, raw)
    assert maps.shape == (4, 32, 32)
    np.testing.assert_allclose(maps, grad_cam(learned, pipe[0].transform(raw)),
                               atol=1e-6)


def test_named_layer(learned, squares):
    X, _ = squares
    maps = grad_cam(learned, X[:3], layer="conv1")
    assert maps.shape == (3, 32, 32)
    assert np.isfinite(maps).all()


def test_bad_layers(learned, squares):
    X, _ = squares
    with pytest.raises(ValueError, match="layer='nope' is not a layer"):
        grad_cam(learned, X[:2], layer="nope")
    with pytest.raises(ValueError, match="Grad-CAM needs a convolutional layer"):
        grad_cam(learned, X[:2], layer="gap")


def test_bad_input(learned, squares):
    X, _ = squares
    with pytest.raises(ValueError, match=r"takes images of shape \(32, 32, 1\)"):
        grad_cam(learned, X[:2, :8, :8])
    with pytest.raises(TypeError, match="got ResizeRescale"):
        grad_cam(ResizeRescale(), X[:2])
