"""ONNX Runtime inference gives the numbers of the Keras path."""

import sys

import numpy as np
import pytest

from hemoclf import HemorrhageCNNClassifier, _onnx
from hemoclf._inference import keras_scores, predict_scores
from hemoclf._onnx import Untranslatable, onnx_scores, onnx_session, translate
from hemoclf.utils._testing import make_square_images


def _randomise_batch_norm(model, rng):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n),
                               rng.normal(size=n), rng.uniform(0.5, 2, n)])


@pytest.fixture(scope="module")
def odd_images():
    # 21x19 pixels: "same" padding is uneven at every stride-2 stage, where
    # TensorFlow and ONNX Runtime must pad the same side.
    X, y = make_square_images(24, 21, 2, seed=3)
    return X[:, :, :19].astype(np.float32), y


@pytest.mark.parametrize("architecture, params", [
    ("paper", {"filters": (4, 6, 8), "dense_units": 5}),
    ("paper", {"filters": (4, 6, 8), "dense_units": 5, "pooling": "max"}),
    ("default", {"filters": (4, 6, 8, 8)}),
    ("default", {"filters": (4, 6, 8), "dense_units": 3, "pooling": "avgmax"}),
])
def test_networks_score_as_in_keras(odd_images, architecture, params):
    X, y = odd_images
    clf = HemorrhageCNNClassifier(architecture=architecture, epochs=1,
                                  batch_size=8, random_state=0, **params).fit(X, y)
    _randomise_batch_norm(clf.model_, np.random.default_rng(0))
    assert onnx_session(clf.model_) is not None
    expected = keras_scores(clf.model_, X)
    # Not a constant output: the comparison below can tell networks apart.
    assert np.ptp(expected) > 1e-3
    np.testing.assert_allclose(onnx_scores(clf.model_, X), expected,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict_scores(clf.model_, X), expected,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1],
                               clf.keras_estimator_.predict_proba(X)[:, 1],
                               rtol=1e-5, atol=1e-6)


def test_translated_graph_is_valid_onnx(odd_images):
    import onnx

    X, y = odd_images
    clf = HemorrhageCNNClassifier(architecture="default", filters=(4, 4, 4),
                                  epochs=1, random_state=0).fit(X, y)
    graph = translate(clf.model_)
    onnx.checker.check_model(graph, full_check=True)
    ops = [node.op_type for node in graph.graph.node]
    # Batch normalisation is folded away; augmentation and dropout vanish.
    assert "BatchNormalization" not in ops
    assert ops.count("Conv") == 3 and ops[0] == "Transpose"


def _hand_built_network(layer):
    import keras

    inputs = keras.Input((9, 9, 2))
    x = keras.layers.Conv2D(3, 3, padding="valid", name="conv")(inputs)
    x = keras.layers.ReLU()(x)
    x = layer(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def test_plain_keras_layers_are_translated():
    import keras

    model = _hand_built_network(keras.layers.MaxPooling2D(2, strides=1))
    X = np.random.default_rng(0).random((5, 9, 9, 2), dtype=np.float32)
    np.testing.assert_allclose(onnx_scores(model, X), keras_scores(model, X),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [
    "Reshape", "AveragePooling2D", "LeakyReLU", "ReLU6",
])
def test_untranslatable_networks_run_through_keras(layer):
    import keras

    made = {
        "Reshape": lambda: keras.layers.Reshape((7, 7, 3)),
        "AveragePooling2D": lambda: keras.layers.AveragePooling2D(1),
        "LeakyReLU": lambda: keras.layers.LeakyReLU(),
        "ReLU6": lambda: keras.layers.ReLU(max_value=6.0),
    }[layer]()
    model = _hand_built_network(made)
    with pytest.raises(Untranslatable):
        translate(model)
    assert onnx_session(model) is None
    X = np.random.default_rng(1).random((6, 9, 9, 2), dtype=np.float32)
    assert onnx_scores(model, X) is None
    np.testing.assert_array_equal(predict_scores(model, X), keras_scores(model, X))


def test_layer_shared_within_the_network_is_not_translated():
    import keras

    inputs = keras.Input((9, 9, 2))
    conv = keras.layers.Conv2D(2, 3, padding="same")
    x = conv(conv(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    with pytest.raises(Untranslatable, match="shared within the network"):
        translate(model)
    X = np.random.default_rng(2).random((4, 9, 9, 2), dtype=np.float32)
    assert onnx_scores(model, X) is None


@pytest.mark.parametrize("architecture, keras_first", [
    ("paper", False),
    # keras_scores builds a copy with batch normalisation folded in, which
    # shares the network's layers: their second call, in the copy, must not
    # make the network untranslatable once its weights change.
    ("default", True),
])
def test_session_follows_weight_changes(odd_images, architecture, keras_first):
    X, y = odd_images
    clf = HemorrhageCNNClassifier(architecture=architecture, filters=(4, 4, 4),
                                  dense_units=4, epochs=1,
                                  random_state=0).fit(X, y)
    model = clf.model_
    if keras_first:
        keras_scores(model, X)
    session = onnx_session(model)
    assert session is not None
    assert onnx_session(model) is session  # cached
    before = onnx_scores(model, X)
    model.set_weights([w * 1.5 for w in model.get_weights()])
    assert onnx_session(model) not in (session, None)
    after = onnx_scores(model, X)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, keras_scores(model, X), rtol=1e-5, atol=1e-6)


def test_threads_give_the_numbers_of_one_thread(odd_images, monkeypatch):
    X, y = odd_images
    clf = HemorrhageCNNClassifier(architecture="default", filters=(4, 4, 4),
                                  epochs=1, random_state=0).fit(X, y)
    monkeypatch.setattr(_onnx, "n_threads", lambda: 1)
    one = onnx_scores(clf.model_, X, batch_size=5)
    monkeypatch.setattr(_onnx, "n_threads", lambda: 3)
    np.testing.assert_array_equal(onnx_scores(clf.model_, X, batch_size=5), one)
    # Rows not in float32 C order are converted, not rejected.
    np.testing.assert_allclose(
        onnx_scores(clf.model_, np.asfortranarray(X, dtype=np.float64)), one,
        rtol=1e-6, atol=1e-7)


def test_n_threads_follows_tensorflow_setting(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(tf.config.threading,
                        "get_intra_op_parallelism_threads", lambda: 3)
    assert _onnx.n_threads() == 3
    monkeypatch.setattr(tf.config.threading,
                        "get_intra_op_parallelism_threads", lambda: 0)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "5")
    assert _onnx.n_threads() == 5
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "")
    assert _onnx.n_threads() >= 1


def test_without_onnxruntime_keras_scores(odd_images, monkeypatch):
    X, y = odd_images
    clf = HemorrhageCNNClassifier(architecture="paper", filters=(4, 4, 4),
                                  dense_units=4, epochs=1,
                                  random_state=1).fit(X, y)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert onnx_session(clf.model_) is None
    np.testing.assert_array_equal(predict_scores(clf.model_, X),
                                  keras_scores(clf.model_, X))


def test_session_load_failure_warns_and_falls_back(odd_images, monkeypatch):
    import onnxruntime

    X, y = odd_images
    clf = HemorrhageCNNClassifier(architecture="paper", filters=(4, 4, 4),
                                  dense_units=4, epochs=1,
                                  random_state=2).fit(X, y)

    def broken(*args, **kwargs):
        raise RuntimeError("no kernel")

    monkeypatch.setattr(onnxruntime, "InferenceSession", broken)
    with pytest.warns(RuntimeWarning, match="scored through Keras"):
        assert onnx_session(clf.model_) is None
    np.testing.assert_array_equal(predict_scores(clf.model_, X),
                                  keras_scores(clf.model_, X))
