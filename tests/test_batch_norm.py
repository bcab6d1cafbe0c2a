"""FusedBatchNormalization computes what Keras's BatchNormalization computes."""

import numpy as np
import pytest

from hemoclf._batch_norm import batch_norm_classes, fused_batch_norm_class


def _pair(shape, **kwargs):
    """A Keras batch norm and a fused one, built alike with random weights."""
    import keras

    rng = np.random.default_rng(1)
    layers = (keras.layers.BatchNormalization(**kwargs),
              fused_batch_norm_class()(**kwargs))
    for layer in layers:
        layer.build(shape)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32")
               for w in layers[0].weights]
    for layer in layers:
        layer.set_weights(weights)
    return layers


def _train_step(layer, x, upstream):
    """Output, gradients of ``sum(output * upstream)``, moving statistics."""
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * upstream)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    stats = [np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)]
    return [np.asarray(y), *(np.asarray(g) for g in grads), *stats]


@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False},
                                    {"momentum": 0.5, "epsilon": 1e-5}])
@pytest.mark.parametrize("shape", [(4, 8, 8, 3), (1, 1, 1, 2)])
def test_training_step_matches_keras(kwargs, shape):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, shape).astype("float32")
    upstream = rng.normal(size=shape).astype("float32")
    keras_bn, fused_bn = _pair(shape, **kwargs)
    initial_variance = np.asarray(keras_bn.moving_variance).copy()
    expected = _train_step(keras_bn, x, upstream)
    got = _train_step(fused_bn, x, upstream)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
    # The moving variance moved, so its update (biased variance) was compared.
    assert not np.allclose(expected[-1], initial_variance)


def test_fused_kernel_is_the_one_used_in_training():
    import tensorflow as tf

    fused_bn = _pair((2, 4, 4, 3))[1]
    graph = tf.function(lambda x: fused_bn(x, training=True)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3), tf.float32)).graph
    ops = {op.type for op in graph.get_operations()}
    assert "FusedBatchNormV3" in ops


@pytest.mark.parametrize("shape,kwargs", [
    ((2, 5, 3), {}),                  # not an image batch
    ((2, 3, 4, 4), {"axis": 1}),      # channels first
    ((2, 4, 4, 3), {"epsilon": 1e-6}),  # below the fused kernel's epsilon
    ((2, 4, 4, 3), {"dtype": "mixed_float16"}),  # computes in float16
])
def test_other_cases_run_the_keras_code(shape, kwargs):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    upstream = rng.normal(size=shape).astype("float32")
    keras_bn, fused_bn = _pair(shape, **kwargs)
    graph = tf.function(lambda x: fused_bn(x, training=True)).get_concrete_function(
        tf.TensorSpec(shape, tf.float32)).graph
    assert "FusedBatchNormV3" not in {op.type for op in graph.get_operations()}
    for a, b in zip(_train_step(fused_bn, x, upstream),
                    _train_step(keras_bn, x, upstream)):
        np.testing.assert_array_equal(a, b)


def test_inference_is_the_parents():
    shape = (3, 6, 6, 4)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    keras_bn, fused_bn = _pair(shape)
    np.testing.assert_array_equal(np.asarray(fused_bn(x, training=False)),
                                  np.asarray(keras_bn(x, training=False)))


def test_is_a_batch_norm_that_saves_and_loads(tmp_path):
    import keras

    cls = fused_batch_norm_class()
    assert issubclass(cls, keras.layers.BatchNormalization)
    assert cls in batch_norm_classes()
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, cls(momentum=0.9, name="bn")(inputs))
    model.get_layer("bn").set_weights(
        [np.full(2, v, "float32") for v in (2.0, 0.5, 1.0, 4.0)])
    path = tmp_path / "bn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = loaded.get_layer("bn")
    assert type(layer) is cls
    assert layer.get_config() == model.get_layer("bn").get_config()
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)),
                                  keras.ops.convert_to_numpy(model(x)))
