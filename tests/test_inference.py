import numpy as np
import pytest

from hemoclf import HemorrhageCNNClassifier
from hemoclf._inference import (
    STAGING_ALIGNMENT,
    _aligned_empty,
    _staged_tensors,
    inference_model,
    keras_scores,
)
from hemoclf.utils._testing import TINY_CNN_PARAMS


@pytest.fixture(scope="module")
def trained(square_images):
    X, y = square_images
    # Enough epochs for the batch-norm statistics to move well away from
    # their initial values, so that folding them is a real change.
    clf = HemorrhageCNNClassifier(architecture="default", filters=(4, 4, 8),
                                  epochs=4, batch_size=8, random_state=0).fit(X, y)
    return clf, X


def _keras_predict(model, X):
    return model.predict(X, batch_size=32, verbose=0).ravel()


def test_folded_network_gives_keras_predict_numbers(trained):
    clf, X = trained
    model = clf.model_
    bn = [layer for layer in model.layers
          if type(layer).__name__ == "BatchNormalization"]
    assert bn and not np.allclose(np.asarray(bn[0].moving_mean), 0.0)
    folded = inference_model(model)
    assert folded is not model
    assert not any(type(layer).__name__ == "BatchNormalization"
                   for layer in folded.layers)
    np.testing.assert_allclose(keras_scores(model, X), _keras_predict(model, X),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1],
                               clf.keras_estimator_.predict_proba(X)[:, 1],
                               rtol=1e-5, atol=1e-6)


def test_folded_copy_is_cached_and_follows_weight_changes(trained):
    clf, X = trained
    model = clf.model_
    folded = inference_model(model)
    assert folded is inference_model(model)
    # The copy shares the network's variables instead of copying them.
    assert {id(v) for v in folded.weights} == {id(v) for v in model.weights}
    saved = model.get_weights()
    try:
        model.set_weights([w * 1.5 for w in saved])
        np.testing.assert_allclose(keras_scores(model, X), _keras_predict(model, X),
                                   rtol=1e-4, atol=1e-6)
    finally:
        model.set_weights(saved)


def test_network_without_batch_norm_runs_as_it_is(square_images):
    X, y = square_images
    clf = HemorrhageCNNClassifier(**TINY_CNN_PARAMS, architecture="paper").fit(X, y)
    assert inference_model(clf.model_) is clf.model_
    np.testing.assert_allclose(keras_scores(clf.model_, X),
                               _keras_predict(clf.model_, X), rtol=1e-5, atol=1e-6)


def test_unfoldable_pairs_are_left_alone():
    import keras

    inputs = keras.Input((6, 6, 2))
    conv = keras.layers.Conv2D(3, 3, activation="relu", name="relu_conv")(inputs)
    bn1 = keras.layers.BatchNormalization(name="after_relu")(conv)
    linear = keras.layers.Conv2D(3, 3, name="linear_conv")(bn1)
    bn2 = keras.layers.BatchNormalization(name="shared_output")(linear)
    out = keras.layers.Concatenate()([keras.layers.Flatten()(bn2),
                                      keras.layers.Flatten()(linear)])
    model = keras.Model(inputs, keras.layers.Dense(1)(out))
    # The activation sits between the first pair; the second convolution's
    # output is also used unnormalised: neither can be folded.
    assert inference_model(model) is model

    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 2, 3), rng.normal(size=3),
                               rng.normal(size=3), rng.uniform(0.5, 2, 3)])
    X = rng.random((5, 6, 6, 2), dtype=np.float32)
    np.testing.assert_allclose(keras_scores(model, X), _keras_predict(model, X),
                               rtol=1e-5, atol=1e-6)


def _nchw_conv_runs_here():
    """Whether TensorFlow's CPU kernels here run a channels-first Conv2D.

    Its own (Eigen) kernels take NHWC only; oneDNN, which TensorFlow turns
    on by default on some CPUs (or with ``TF_ENABLE_ONEDNN_OPTS=1``), also
    takes NCHW.
    """
    import tensorflow as tf

    try:
        tf.nn.conv2d(tf.zeros((1, 1, 3, 3)), tf.zeros((1, 1, 1, 1)), 1, "VALID",
                     data_format="NCHW")
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
        return False
    return True


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_dense_and_conv_pairs_fold_exactly(data_format):
    import keras

    if data_format == "channels_first" and not _nchw_conv_runs_here():
        pytest.skip("TensorFlow's CPU kernels here run Conv2D in NHWC only "
                    "(oneDNN off): no channels-first network can run.")
    channels_first = data_format == "channels_first"
    rng = np.random.default_rng(1)
    inputs = keras.Input((4, 5, 5))
    x = keras.layers.Conv2D(3, 3, data_format=data_format, use_bias=True)(inputs)
    x = keras.layers.BatchNormalization(axis=1 if channels_first else -1)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(4)(x)
    x = keras.layers.BatchNormalization(center=False)(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            values = [rng.uniform(0.5, 2, n)]
            if layer.center:
                values.append(rng.normal(size=n))
            values += [rng.normal(size=n), rng.uniform(0.5, 2, n)]
            layer.set_weights(values)
    folded = inference_model(model)
    assert folded is not model
    X = rng.random((7, 4, 5, 5), dtype=np.float32)
    np.testing.assert_allclose(keras_scores(model, X), _keras_predict(model, X),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("alignment", [64, 128, 4096])
def test_staging_buffer_is_aligned(alignment):
    for shape in [(1,), (3, 5, 7, 1), (64, 128, 128, 3)]:
        buffer = _aligned_empty(shape, np.float32, alignment)
        assert buffer.shape == shape and buffer.flags.c_contiguous
        assert buffer.ctypes.data % alignment == 0


def test_staged_batches_give_the_numbers_of_numpy_batches(trained):
    clf, X = trained
    folded = inference_model(clf.model_)
    # A view that starts 4 bytes into a buffer is aligned to 4 bytes only;
    # 7 rows per batch leave a short last batch.
    raw = np.empty(X.nbytes + 4, dtype=np.uint8)
    unaligned = raw[4:].view(np.float32).reshape(X.shape)
    unaligned[...] = X
    assert unaligned.ctypes.data % STAGING_ALIGNMENT != 0
    expected = np.concatenate([
        np.asarray(folded.predict_on_batch(X[i:i + 7])).ravel()
        for i in range(0, len(X), 7)
    ])
    np.testing.assert_array_equal(keras_scores(clf.model_, unaligned, 7),
                                  expected)
    np.testing.assert_array_equal(keras_scores(clf.model_, X, 7), expected)


def test_without_tensorflow_dlpack_numpy_batches_are_fed(trained, monkeypatch):
    import sys

    import tensorflow as tf

    clf, X = trained
    expected = keras_scores(clf.model_, X)
    assert isinstance(_staged_tensors(X, 4)(X[:4]), tf.Tensor)
    monkeypatch.delattr(tf.experimental, "dlpack")
    monkeypatch.setitem(sys.modules, "tensorflow.experimental.dlpack", None)
    batch = X[:4]
    assert _staged_tensors(X, 4)(batch) is batch
    np.testing.assert_array_equal(keras_scores(clf.model_, X), expected)
