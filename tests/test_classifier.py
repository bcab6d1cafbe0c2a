"""HemorrhageCNNClassifier: input handling, training options, reproducibility."""

import pickle
import random

import numpy as np
import pytest
from sklearn.base import clone

from hemoclf import HemorrhageCNNClassifier
from hemoclf.utils._testing import TINY_CNN_PARAMS


def test_fit_predict_shapes_and_attributes(fitted_tiny, square_images):
    X, y = square_images
    proba = fitted_tiny.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_array_equal(fitted_tiny.classes_, [0, 1])
    assert fitted_tiny.image_shape_ == (16, 16, 1)
    assert fitted_tiny.n_features_in_ == 16
    assert set(fitted_tiny.history_) == {"loss", "accuracy"}
    assert len(fitted_tiny.history_["loss"]) == TINY_CNN_PARAMS["epochs"]
    pred = fitted_tiny.predict(X)
    np.testing.assert_array_equal(pred, (proba[:, 1] >= 0.5).astype(int))


def test_learns_an_easy_task(square_images):
    X, y = square_images
    clf = HemorrhageCNNClassifier(
        filters=(8, 8, 8), dense_units=8, epochs=30, batch_size=16, learning_rate=0.01,
        augment=False, random_state=0,
    ).fit(X, y)
    assert clf.score(X, y) >= 0.9


def test_string_labels_work_through_classes(square_images):
    X, y = square_images
    labels = np.where(y == 1, "hemorrhage", "normal")
    clf = HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["hemorrhage", "normal"])
    assert set(clf.predict(X)) <= {"hemorrhage", "normal"}


@pytest.mark.parametrize("rank", [3, 4])
def test_three_and_four_d_input(square_images, rank):
    X, y = square_images
    X_in = X[..., 0] if rank == 3 else X
    clf = HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X_in, y)
    assert clf.image_shape_ == (16, 16, 1)
    assert clf.predict_proba(X_in).shape == (len(X), 2)


def test_flattened_input_with_image_shape(square_images, fitted_tiny):
    X, y = square_images
    flat = X.reshape(len(X), -1)
    clf = HemorrhageCNNClassifier(image_shape=(16, 16), **TINY_CNN_PARAMS).fit(flat, y)
    assert clf.image_shape_ == (16, 16, 1)
    # Same seed, same pixels: flattening changes nothing.
    np.testing.assert_array_equal(clf.predict_proba(flat), fitted_tiny.predict_proba(X))


def test_two_d_input_without_image_shape_is_a_pixel_row():
    rng = np.random.default_rng(0)
    X = rng.random((20, 6), dtype=np.float32)
    y = np.arange(20) % 2
    clf = HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y)
    assert clf.image_shape_ == (1, 6, 1)


def test_same_seed_gives_identical_probabilities(square_images, fitted_tiny):
    X, y = square_images
    again = HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), fitted_tiny.predict_proba(X))
    other = HemorrhageCNNClassifier(**{**TINY_CNN_PARAMS, "random_state": 1}).fit(X, y)
    assert not np.array_equal(other.predict_proba(X), fitted_tiny.predict_proba(X))


def test_same_seed_while_another_thread_draws_random_numbers(square_images,
                                                             fitted_tiny):
    """Keras draws its default seeds from Python's ``random`` module, which
    a Dask worker's event loop also draws from; a seeded fit must not see
    those draws (were it to, the first kernel would change from fit to fit).

    The thread draws about once a millisecond, as an event loop does: a
    thread drawing in a tight loop would hold the GIL and make each fit ten
    times slower without testing anything more. With the repair switched
    off, fits beside this thread gave other probabilities in 3 of 3 tries."""
    import threading

    X, y = square_images
    stop = threading.Event()

    def draw():
        while not stop.is_set():
            random.random()
            stop.wait(0.001)

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    try:
        fits = [HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y)
                for _ in range(2)]
    finally:
        stop.set()
        thread.join()
    for clf in fits:
        np.testing.assert_array_equal(clf.predict_proba(X),
                                      fitted_tiny.predict_proba(X))


def test_keras_default_seeds_still_come_from_python_random():
    """The repair above replaces ``python_random`` in Keras's seed_generator;
    if Keras stops drawing from there, this fails and says so."""
    from keras.src.random import seed_generator

    from hemoclf._seeding import _KERAS_RANDOM, _keras_random

    assert _keras_random() is _KERAS_RANDOM
    assert seed_generator.python_random is _KERAS_RANDOM
    # Outside a seeded fit the stand-in draws from the random module itself.
    random.seed(5)
    expected = random.randint(1, int(1e9))
    random.seed(5)
    assert seed_generator.make_default_seed() == expected


def test_keras_drawing_seeds_elsewhere_is_reported(monkeypatch):
    from keras.src.random import seed_generator

    from hemoclf._seeding import _keras_random

    monkeypatch.setattr(seed_generator, "python_random", object())
    with pytest.raises(RuntimeError, match="no longer draws its default seeds"):
        _keras_random()


def test_random_state_instance_is_accepted(square_images):
    X, y = square_images
    a = HemorrhageCNNClassifier(
        **{**TINY_CNN_PARAMS, "random_state": np.random.RandomState(3)}
    ).fit(X, y)
    b = HemorrhageCNNClassifier(
        **{**TINY_CNN_PARAMS, "random_state": np.random.RandomState(3)}
    ).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_fit_leaks_no_global_random_state(square_images):
    import keras
    import tensorflow as tf
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    X, y = square_images
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    py_before, np_before = random.getstate(), np.random.get_state()  # noqa: NPY002
    tf_seed_before = context.global_seed()
    keras_seed_before = keras.utils.get_random_seed() if hasattr(
        keras.utils, "get_random_seed") else None
    determinism_before = config.is_op_determinism_enabled()

    HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y)

    assert random.getstate() == py_before
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == np_before[0]
    np.testing.assert_array_equal(after[1], np_before[1])
    assert after[2:] == np_before[2:]
    assert context.global_seed() == tf_seed_before
    if keras_seed_before is not None or hasattr(keras.utils, "get_random_seed"):
        assert keras.utils.get_random_seed() == keras_seed_before
    assert config.is_op_determinism_enabled() == determinism_before
    # With determinism left on, an unseeded random op raises; it must not.
    value = tf.random.uniform([2])
    assert value.shape == (2,)


def test_pickle_round_trip_gives_identical_probabilities(fitted_tiny, square_images):
    X, _ = square_images
    restored = pickle.loads(pickle.dumps(fitted_tiny))
    np.testing.assert_array_equal(
        restored.predict_proba(X), fitted_tiny.predict_proba(X)
    )
    np.testing.assert_array_equal(restored.classes_, fitted_tiny.classes_)


def test_clone_is_unfitted_with_same_params(fitted_tiny):
    cloned = clone(fitted_tiny)
    assert cloned.get_params() == fitted_tiny.get_params()
    assert not hasattr(cloned, "model_")


def test_paper_architecture_shapes():
    from hemoclf._models import build_paper_cnn

    model = build_paper_cnn((128, 128, 3))
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv1"] == (64, 64, 32)
    assert shapes["pool1"] == (32, 32, 32)
    assert shapes["conv3"] == (4, 4, 64)
    assert shapes["gap"] == (64,)
    assert shapes["hemorrhage"] == (1,)
    assert model.get_layer("dropout").rate == 0.4


def test_augmentation_layer_follows_parameters(square_images):
    X, y = square_images
    on = HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y)
    layer = on.model_.get_layer("augmentation")
    assert (layer.rotation, layer.zoom, layer.shear, layer.shift) == (15.0, 0.05, 0.1,
                                                                      0.05)
    assert layer.flip_horizontal and layer.flip_vertical
    assert layer.fill_mode == "constant"
    assert layer.gamma == 0.4  # the default recipe's
    some = HemorrhageCNNClassifier(
        **TINY_CNN_PARAMS, rotation=0, shear=0, flip_vertical=False, fill_mode="wrap"
    ).fit(X, y)
    layer = some.model_.get_layer("augmentation")
    assert (layer.rotation, layer.shear, layer.flip_vertical) == (0.0, 0.0, False)
    assert layer.fill_mode == "wrap"
    paper = HemorrhageCNNClassifier("paper", epochs=1, gamma=None).fit(X, y)
    assert paper.model_.get_layer("augmentation").gamma == 0.0
    bent = HemorrhageCNNClassifier(**TINY_CNN_PARAMS, gamma=0.2).fit(X, y)
    assert bent.model_.get_layer("augmentation").gamma == 0.2
    off = HemorrhageCNNClassifier(**TINY_CNN_PARAMS, augment=False).fit(X, y)
    assert "augmentation" not in [layer.name for layer in off.model_.layers]
    # Augmentation acts only in training: predictions are deterministic.
    np.testing.assert_array_equal(on.predict_proba(X), on.predict_proba(X))


def test_validation_split_is_stratified_and_recorded(square_images):
    X, y = square_images
    clf = HemorrhageCNNClassifier(**TINY_CNN_PARAMS, validation_split=0.25).fit(X, y)
    assert {"val_loss", "val_accuracy"} <= set(clf.history_)


def test_callbacks_early_stopping(square_images):
    import keras

    X, y = square_images
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    clf = HemorrhageCNNClassifier(
        **{**TINY_CNN_PARAMS, "epochs": 10}, callbacks=[stop]
    ).fit(X, y)
    assert len(clf.history_["loss"]) < 10


def test_several_steps_per_call_give_the_same_weights(square_images, fitted_tiny):
    import keras

    from hemoclf._models import STEPS_PER_EXECUTION

    X, y = square_images
    # 48 images in batches of 16: three steps per epoch, all in one call.
    assert fitted_tiny.model_.steps_per_execution == STEPS_PER_EXECUTION > 3
    counted = []
    watcher = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: counted.append(batch))
    stepwise = HemorrhageCNNClassifier(**TINY_CNN_PARAMS, callbacks=[watcher])
    stepwise.fit(X, y)
    # A callback that watches batches sees every step.
    assert stepwise.model_.steps_per_execution == 1
    assert counted == [0, 1, 2] * TINY_CNN_PARAMS["epochs"]
    for ours, reference in zip(fitted_tiny.model_.get_weights(),
                               stepwise.model_.get_weights()):
        np.testing.assert_array_equal(ours, reference)


def _variables_created_while_tracing(fit):
    import tensorflow as tf

    names = []

    def record(next_creator, **kwargs):
        if not tf.executing_eagerly():
            names.append(kwargs.get("name"))
        return next_creator(**kwargs)

    with tf.variable_creator_scope(record):
        fitted = fit()
    return names, fitted


def test_train_step_creates_no_variables(square_images, fitted_tiny, monkeypatch):
    # A train step that creates variables is traced twice: the optimizer and
    # metric variables are made before training, so one trace serves a fit.
    from hemoclf import _models

    X, y = square_images
    names, _ = _variables_created_while_tracing(
        lambda: HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y))
    assert names == []
    # Keras left to create them itself does so while tracing, and trains
    # the same weights.
    monkeypatch.setattr(_models, "build_training_state", lambda model: None)
    names, lazy = _variables_created_while_tracing(
        lambda: HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y))
    assert {"total", "count"} <= set(names)
    assert any(name.endswith("_momentum") for name in names)
    for ours, reference in zip(fitted_tiny.model_.get_weights(),
                               lazy.model_.get_weights()):
        np.testing.assert_array_equal(ours, reference)
    assert lazy.history_ == fitted_tiny.history_


def test_training_state_waits_for_networks_it_cannot_build_for():
    # Variables are made ahead only where they can be made right: not for a
    # network whose weights appear in its first call (the optimizer would
    # get no variables), and metrics only for one probability output.
    import keras

    from hemoclf._models import build_training_state

    deferred = keras.Sequential([keras.layers.Flatten(),
                                 keras.layers.Dense(1, activation="sigmoid")])
    deferred.compile(optimizer="adam", loss="binary_crossentropy",
                     metrics=["accuracy"])
    build_training_state(deferred)
    assert not deferred.optimizer.built

    inputs = keras.Input((4, 4, 1))
    two = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(
        keras.layers.Flatten()(inputs)))
    two.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    build_training_state(two)
    assert two.optimizer.built
    assert {m.name: len(m.variables) for m in two.metrics}["compile_metrics"] == 0

    one = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
        keras.layers.Flatten()(inputs)))
    one.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    build_training_state(one)
    assert one.optimizer.built
    assert {m.name: len(m.variables) for m in one.metrics}["compile_metrics"] == 2


def test_class_weight_changes_training(square_images, fitted_tiny):
    X, y = square_images
    weighted = HemorrhageCNNClassifier(
        **TINY_CNN_PARAMS, class_weight={0: 1.0, 1: 5.0}
    ).fit(X, y)
    assert not np.array_equal(weighted.predict_proba(X), fitted_tiny.predict_proba(X))
    balanced = HemorrhageCNNClassifier(**TINY_CNN_PARAMS, class_weight="balanced")
    balanced.fit(X[:30], y[:30])
    assert hasattr(balanced, "model_")


def test_warm_start_continues_training(square_images):
    X, y = square_images
    clf = HemorrhageCNNClassifier(**TINY_CNN_PARAMS, warm_start=True).fit(X, y)
    model = clf.model_
    clf.fit(X, y)
    assert clf.model_ is model
    assert len(clf.history_["loss"]) == 2 * TINY_CNN_PARAMS["epochs"]
    with pytest.raises(ValueError, match="warm_start=True continues training"):
        clf.fit(X, np.where(y == 1, "hemorrhage", "normal"))
    with pytest.raises(ValueError, match="expecting 16 features"):
        clf.fit(X[:, :8, :8], y)


def test_optimizer_and_learning_rate_reach_keras(square_images):
    X, y = square_images
    clf = HemorrhageCNNClassifier(
        **TINY_CNN_PARAMS, optimizer="sgd", learning_rate=0.05
    ).fit(X, y)
    assert type(clf.model_.optimizer).__name__ == "SGD"
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.05)


# ---------------------------------------------------------------- bad input


def _tiny():
    return HemorrhageCNNClassifier(**TINY_CNN_PARAMS)


def test_nan_and_inf_are_rejected(square_images):
    X, y = square_images
    bad = X.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _tiny().fit(bad, y)
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        _tiny().fit(bad, y)


@pytest.mark.parametrize("row", [0, 20, -1])
@pytest.mark.parametrize("value, message", [(np.nan, "Input X contains NaN"),
                                            (np.inf, "Input X contains infinity")])
def test_nan_and_inf_are_rejected_in_predict(fitted_tiny, square_images, row,
                                             value, message):
    from functools import partial

    from sklearn.utils import assert_all_finite

    from hemoclf._inference import keras_scores

    X, _ = square_images
    bad = X.astype(np.float32)
    bad[row, 3, 2] = value
    # Checked batch by batch as the batches are scored: a bad value in any
    # batch, first or last, stops the prediction, on either engine.
    for method in (fitted_tiny.predict_proba, fitted_tiny.predict):
        with pytest.raises(ValueError, match=message):
            method(bad)
    with pytest.raises(ValueError, match=message):
        keras_scores(fitted_tiny.model_, bad, 7,
                     check=partial(assert_all_finite, input_name="X"))


def test_rank_above_four_is_rejected(square_images):
    X, y = square_images
    with pytest.raises(ValueError, match="got an array of rank 5"):
        _tiny().fit(X[..., np.newaxis], y)


def test_image_shape_mismatch_is_rejected(square_images):
    X, y = square_images
    flat = X.reshape(len(X), -1)
    with pytest.raises(ValueError, match=r"image_shape=\(10, 10\) does not match"):
        HemorrhageCNNClassifier(image_shape=(10, 10), **TINY_CNN_PARAMS).fit(flat, y)
    with pytest.raises(ValueError, match=r"does not match the images in X"):
        HemorrhageCNNClassifier(image_shape=(8, 8, 1), **TINY_CNN_PARAMS).fit(X, y)


def test_single_class_is_rejected(square_images):
    X, _ = square_images
    with pytest.raises(ValueError, match="only 1 class"):
        _tiny().fit(X, np.zeros(len(X), dtype=int))


def test_more_than_two_classes_are_rejected(square_images):
    X, _ = square_images
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        _tiny().fit(X, np.arange(len(X)) % 3)


def test_continuous_target_is_rejected(square_images):
    X, _ = square_images
    with pytest.raises(ValueError, match="Unknown label type"):
        _tiny().fit(X, np.linspace(0, 1, len(X)))


def test_predict_on_other_image_size_is_rejected(fitted_tiny, square_images):
    X, _ = square_images
    with pytest.raises(ValueError, match="Resize them first"):
        fitted_tiny.predict_proba(np.zeros((2, 16, 16, 3), dtype=np.float32))


def test_invalid_parameters_are_rejected(square_images):
    X, y = square_images
    with pytest.raises(ValueError, match="dropout"):
        HemorrhageCNNClassifier(dropout=1.5).fit(X, y)
    with pytest.raises(ValueError, match="architecture"):
        HemorrhageCNNClassifier(architecture="resnet").fit(X, y)
    with pytest.raises(ValueError, match="'gamma' parameter"):
        HemorrhageCNNClassifier(gamma=-0.5).fit(X, y)
    with pytest.raises(ValueError, match="filters=.* three convolutions"):
        HemorrhageCNNClassifier(**{**TINY_CNN_PARAMS, "filters": (4, 4)}).fit(X, y)


def test_validation_split_too_large_for_data(square_images):
    X, y = square_images
    with pytest.raises(ValueError, match="cannot hold out a stratified sample"):
        HemorrhageCNNClassifier(**TINY_CNN_PARAMS, validation_split=0.01).fit(
            X[:6], y[:6]
        )
