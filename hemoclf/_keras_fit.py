"""Training through scikeras on Keras's array pipeline, with tf.data's autotuning off.

``keras.Model.fit`` turns NumPy arrays into a ``tf.data`` pipeline (Keras's
``ArrayDataAdapter``: a shuffled index per epoch, batches gathered in a
parallel map, prefetched) whose parallelism and buffers tf.data tunes while
it runs. When two training processes share two cores, as the folds of a
cross-validation with ``n_jobs=2`` do, that tuning leaves the cores idle
about a quarter of the time. :class:`KerasArrayClassifier` hands Keras the
very same pipeline with autotuning off: the same batches in the same order,
hence the same weights bit for bit (``tests/test_keras_fit.py`` checks it),
without the idle time. ``benchmarks/README.md`` gives the timings.

The adapter is a private part of Keras. Should a Keras release move or
change it, :func:`array_dataset` returns ``None`` and training falls back
to Keras's own handling of the arrays; the tests then fail, loudly.
"""

from numbers import Integral

from scikeras.wrappers import KerasClassifier

__all__ = ["KerasArrayClassifier", "array_dataset"]


def array_dataset(x, y, sample_weight, *, batch_size, shuffle):
    """Keras's pipeline for ``fit(x, y, sample_weight)``, autotuning off.

    Parameters
    ----------
    x, y : ndarray
        Training inputs and encoded targets, as ``keras.Model.fit`` takes them.
    sample_weight : ndarray or None
        Per-sample loss weights.
    batch_size : int
        Samples per batch.
    shuffle : bool or "batch"
        Whether each epoch draws a new order (with TensorFlow's seeds, as
        ``fit(shuffle=True)`` does); ``"batch"`` shuffles within batches
        only, as in ``keras.Model.fit``.

    Returns
    -------
    dataset : tf.data.Dataset or None
        Batches of ``(x, y[, sample_weight])``, of known length; ``None`` when
        Keras's adapter cannot be used (then pass the arrays to Keras).
    """
    try:
        import tensorflow as tf
        from keras.src.trainers.data_adapters.array_data_adapter import (
            ArrayDataAdapter,
        )

        adapter = ArrayDataAdapter(
            x, y, sample_weight=sample_weight, batch_size=batch_size,
            shuffle=shuffle,
        )
        dataset = adapter.get_tf_dataset()
        n_batches = int(adapter.num_batches)
    except (ImportError, AttributeError, TypeError):
        return None
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options).apply(
        tf.data.experimental.assert_cardinality(n_batches)
    )


class KerasArrayClassifier(KerasClassifier):
    """scikeras's ``KerasClassifier``, training on :func:`array_dataset`.

    Everything else (parameters, encoders, history, warm starts) is
    scikeras's. Only the hand-over to ``keras.Model.fit`` changes: the
    arrays scikeras has validated and encoded go to Keras as the dataset of
    its own array pipeline with tf.data's autotuning off. Validation data
    passed to ``fit`` is left to Keras.
    """

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs,
                         initial_epoch, **kwargs):
        batch_size = kwargs.get("batch_size", self.batch_size)
        shuffle = kwargs.get("shuffle", self.shuffle)
        dataset = None
        if isinstance(batch_size, Integral) and batch_size > 0:
            dataset = array_dataset(X, y, sample_weight, batch_size=batch_size,
                                    shuffle=shuffle)
        if dataset is None:
            return super()._fit_keras_model(
                X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
            )
        # The dataset holds the targets, weights, batches and order; the
        # validation data keeps the batches Keras would have given it.
        validation_batch_size = kwargs.get(
            "validation_batch_size", self.validation_batch_size
        )
        kwargs.update(batch_size=None, shuffle=False,
                      validation_batch_size=validation_batch_size or batch_size)
        return super()._fit_keras_model(
            dataset, None, None, warm_start, epochs, initial_epoch, **kwargs
        )
