"""Training on Keras's array pipeline with autotuning off gives Keras's weights."""

import numpy as np
import pytest
from scikeras.wrappers import KerasClassifier

from hemoclf import HemorrhageCNNClassifier, _keras_fit
from hemoclf._keras_fit import KerasArrayClassifier, array_dataset
from hemoclf.utils._testing import TINY_CNN_PARAMS, make_square_images


@pytest.fixture(scope="module")
def images():
    # 44 images: two full batches of 16 and a partial one of 12; half of
    # them, 22, make two validation batches of 16 and 6.
    return make_square_images(44, 16, 1, seed=3)


def _fit(X, y, *, on_arrays=False, **params):
    """Fit, on the dataset (checked to be used) or on the arrays."""
    clf = HemorrhageCNNClassifier(**{**TINY_CNN_PARAMS, "epochs": 3, **params})
    datasets = []

    def recorded(*args, **kwargs):
        datasets.append(array_dataset(*args, **kwargs))
        return datasets[-1]

    with pytest.MonkeyPatch.context() as patch:
        if on_arrays:  # what Keras does with the arrays itself
            patch.setattr(_keras_fit, "array_dataset", lambda *a, **k: None)
        else:
            patch.setattr(_keras_fit, "array_dataset", recorded)
        clf.fit(X, y)
    assert on_arrays or (len(datasets) == 1 and datasets[0] is not None)
    return clf


def test_array_dataset_is_keras_pipeline_without_autotuning(images):
    import tensorflow as tf

    X, y = images
    weights = np.linspace(0.5, 1.5, len(y)).astype(np.float32)
    dataset = array_dataset(X, y.reshape(-1, 1).astype(np.float32), weights,
                            batch_size=16, shuffle=False)
    assert isinstance(dataset, tf.data.Dataset)
    assert dataset.options().autotune.enabled is False
    assert int(dataset.cardinality()) == 3
    batches = list(dataset.as_numpy_iterator())
    assert [len(b[0]) for b in batches] == [16, 16, 12]
    # Unshuffled, the batches are the arrays in order, weights included.
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), X)
    np.testing.assert_array_equal(np.concatenate([b[2] for b in batches]), weights)


def test_array_dataset_shuffles_within_batches(images):
    X, y = images
    dataset = array_dataset(X, y, None, batch_size=16, shuffle="batch")
    batches = [b[0] for b in dataset.as_numpy_iterator()]
    # Each batch holds the same images as unshuffled, in another order.
    for batch, start in zip(batches, (0, 16, 32)):
        expected = X[start:start + 16]
        assert not np.array_equal(batch, expected)
        assert sorted(image.tobytes() for image in batch) == sorted(
            image.tobytes() for image in expected
        )


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"class_weight": {0: 1.0, 1: 3.0}},
        {"validation_split": 0.5},
        {"batch_size": np.int64(16)},
    ],
    ids=["plain", "class_weight", "validation_split", "numpy_batch_size"],
)
def test_same_weights_as_keras_on_arrays(images, params):
    X, y = images
    on_dataset = _fit(X, y, **params)
    on_arrays = _fit(X, y, on_arrays=True, **params)
    assert type(on_dataset.keras_estimator_) is KerasArrayClassifier
    for a, b in zip(on_dataset.model_.get_weights(), on_arrays.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert on_dataset.history_ == on_arrays.history_
    assert len(on_dataset.history_["loss"]) == 3


def test_dataset_path_is_taken(images, monkeypatch):
    calls = []
    original = _keras_fit.array_dataset

    def spy(*args, **kwargs):
        dataset = original(*args, **kwargs)
        calls.append(dataset)
        return dataset

    monkeypatch.setattr(_keras_fit, "array_dataset", spy)
    X, y = images
    clf = HemorrhageCNNClassifier(**{**TINY_CNN_PARAMS, "epochs": 1}).fit(X, y)
    assert len(calls) == 1 and calls[0] is not None
    assert len(clf.history_["loss"]) == 1
    # A warm start trains on the dataset too.
    clf.set_params(warm_start=True).fit(X, y)
    assert len(calls) == 2 and len(clf.history_["loss"]) == 2


def test_falls_back_to_arrays_without_keras_adapter(images, monkeypatch):
    from keras.src.trainers.data_adapters import array_data_adapter

    monkeypatch.delattr(array_data_adapter, "ArrayDataAdapter")
    X, y = images
    assert array_dataset(X, y, None, batch_size=16, shuffle=True) is None
    clf = HemorrhageCNNClassifier(**{**TINY_CNN_PARAMS, "epochs": 1}).fit(X, y)
    assert len(clf.history_["loss"]) == 1


def test_distribution_strategy_keeps_scikeras_wrapper():
    clf = HemorrhageCNNClassifier(distribute_strategy="mirrored")
    estimator = clf._make_keras_estimator(clf._resolve_params())
    assert type(estimator) is KerasClassifier
    estimator = HemorrhageCNNClassifier()._make_keras_estimator(
        HemorrhageCNNClassifier()._resolve_params()
    )
    assert type(estimator) is KerasArrayClassifier
