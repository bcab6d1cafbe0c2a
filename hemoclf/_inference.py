"""Batched inference through a compiled predict step.

:func:`predict_scores` is the entry point of all inference: it runs a
network on ONNX Runtime where :mod:`hemoclf._onnx` can translate it, and
through Keras, as described here, otherwise.

``keras.Model.predict`` wraps every call in a ``tf.data`` pipeline, a progress
callback and an epoch iterator; on small CPU batches that machinery costs more
than the forward pass itself. ``Model.predict_on_batch`` runs the same
compiled step that ``predict`` uses (``Model.predict_function``, traced once
and cached on the model) without that machinery, so slicing the input into
batches ourselves gives the same numbers faster.

The forward pass itself is made cheaper by folding batch normalisation into
the layer before it. At inference a ``BatchNormalization`` layer is a fixed
per-channel affine map, ``gamma * (z - mean) / sqrt(var + eps) + beta``; when
``z`` is the linear output of a ``Conv2D`` or ``Dense`` layer, the map can be
absorbed into that layer's kernel and bias, which removes two passes over
every feature map. :func:`inference_model` builds, once per network, a copy
that shares the network's layers and variables and computes the folded
kernel and bias inside the compiled step (a few thousand multiplications),
so a network that trains on (``warm_start``) is always scored with its
current weights and nothing is copied between calls. Networks without such
pairs, or whose layers cannot be cloned, are run as they are.

Handing a NumPy batch to TensorFlow copies it into tensor memory of its
own: for 128x128x3 images that conversion took about 85 ms per 1024 images
here, where NumPy copies the same bytes in about 20 ms, and the paper CNN's
whole forward pass takes 140 to 190 ms. :func:`predict_scores` instead copies
each batch into one reused, 64-byte aligned staging buffer and passes it to
TensorFlow through DLPack, which wraps the memory without a copy.
"""

import weakref

import numpy as np

PREDICT_BATCH_SIZE = 64
# TensorFlow's CPU kernels expect tensor memory aligned to 64 bytes.
STAGING_ALIGNMENT = 64

# Folded inference copies by network (None: run the network as it is).
_FOLDED = weakref.WeakKeyDictionary()
_LAYER_CLASSES = None


def _layer_classes():
    """The two layers of a folded copy, defined on first use."""
    global _LAYER_CLASSES
    if _LAYER_CLASSES is None:
        import keras
        from keras import ops

        class FoldedBatchNormalization(keras.layers.Layer):
            """Passes its input through: the normalisation now happens in
            the layer before (it takes a batch norm's call arguments)."""

            def call(self, inputs, training=None, mask=None):
                return inputs

            def compute_output_shape(self, input_shape):
                return input_shape

        class BatchNormFolded(keras.layers.Layer):
            """``layer`` followed by ``bn``, as one linear map whose kernel
            and bias are computed from both layers' live variables."""

            def __init__(self, layer, bn, **kwargs):
                super().__init__(name=layer.name, **kwargs)
                self.layer = layer
                self.bn = bn

            def call(self, inputs):
                layer, bn = self.layer, self.bn
                scale = ops.rsqrt(bn.moving_variance + bn.epsilon)
                if bn.scale:
                    scale = scale * bn.gamma
                shift = -bn.moving_mean * scale
                if bn.center:
                    shift = shift + bn.beta
                if layer.use_bias:
                    shift = shift + layer.bias * scale
                # The kernel's last axis is the output channel for Conv2D
                # and Dense alike.
                kernel = layer.kernel * scale
                if isinstance(layer, keras.layers.Dense):
                    return ops.matmul(inputs, kernel) + shift
                outputs = layer.convolution_op(inputs, kernel)
                if layer.data_format == "channels_first":
                    shift = ops.reshape(shift, (-1, 1, 1))
                return outputs + shift

            def compute_output_shape(self, input_shape):
                return self.layer.compute_output_shape(input_shape)

        _LAYER_CLASSES = FoldedBatchNormalization, BatchNormFolded
    return _LAYER_CLASSES


def _foldable_pairs(model):
    """``{producer name: batch-norm layer}`` for each foldable pair.

    A pair is foldable when a ``BatchNormalization`` over the channel axis
    takes, as its only input, the output of a linear (no activation) float32
    ``Conv2D`` or ``Dense`` layer that feeds nothing else.
    """
    import keras

    pairs = {}
    for bn in model.layers:
        if type(bn) is not keras.layers.BatchNormalization:
            continue
        if len(bn._inbound_nodes) != 1:
            continue
        parents = bn._inbound_nodes[0].parent_nodes
        if len(parents) != 1:
            continue
        producer = parents[0].operation
        if type(producer) not in (keras.layers.Conv2D, keras.layers.Dense):
            continue
        config = producer.get_config()
        if (
            len(producer._outbound_nodes) != 1
            or config.get("activation") not in ("linear", None)
            or producer.dtype_policy.name != "float32"
            or getattr(producer, "quantization_mode", None) is not None
            or getattr(producer, "lora_enabled", False)
        ):
            continue
        rank = len(bn.input.shape)
        channel_axis = 1 if config.get("data_format") == "channels_first" else rank - 1
        if bn.axis % rank != channel_axis:
            continue
        pairs[producer.name] = bn
    return pairs


def _build_folded(model):
    import keras

    pairs = _foldable_pairs(model)
    if not pairs:
        return None
    folded_names = {bn.name for bn in pairs.values()}
    identity, folded = _layer_classes()

    def clone_layer(layer):
        if layer.name in folded_names:
            return identity(name=layer.name)
        if layer.name in pairs:
            return folded(layer, pairs[layer.name])
        return layer  # shared with the network, variables and all

    try:
        return keras.models.clone_model(model, clone_function=clone_layer)
    except (TypeError, ValueError, NotImplementedError, KeyError):
        # A subclassed network, or a layer that cannot take part in a
        # clone: run the network as it is.
        return None


def inference_model(model):
    """The network to run for inference: a copy of ``model`` with batch
    normalisation folded into the preceding layers, or ``model`` itself.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    model : keras.Model
        Gives the same outputs as ``model(X, training=False)`` up to float32
        rounding (about 1e-6 relative), with ``model``'s current weights.
    """
    if model not in _FOLDED:
        _FOLDED[model] = _build_folded(model)
    copy = _FOLDED[model]
    return model if copy is None else copy


def predict_scores(model, X, batch_size=None, check=None):
    """Return the model's single output for every row of ``X``.

    The network runs on ONNX Runtime where it can be translated (see
    :mod:`hemoclf._onnx`), through Keras's compiled predict step
    (:func:`keras_scores`) otherwise; both give the same numbers up to
    float32 rounding.

    Parameters
    ----------
    model : keras.Model
        A model with one output unit.
    X : ndarray of shape (n, H, W, C)
        Float32 images.
    batch_size : int or None
        Rows per call; ``None`` for the engine's default.
    check : callable or None
        Called on each batch just before it is scored, e.g.
        :func:`sklearn.utils.assert_all_finite`: a check of the batch that
        the scoring then reads while it is still in the CPU's cache, in the
        scoring threads, instead of a separate pass over all of ``X``.

    Returns
    -------
    scores : ndarray of shape (n,), float32
    """
    from ._onnx import ONNX_BATCH_SIZE, onnx_scores

    scores = onnx_scores(model, X, batch_size or ONNX_BATCH_SIZE, check)
    if scores is None:
        scores = keras_scores(model, X, batch_size or PREDICT_BATCH_SIZE, check)
    return scores


def keras_scores(model, X, batch_size=PREDICT_BATCH_SIZE, check=None):
    """Return the model's single output for every row of ``X``, from Keras.

    Parameters
    ----------
    model : keras.Model
        A model with one output unit.
    X : ndarray of shape (n, H, W, C)
        Float32 images.
    batch_size : int
        Rows per compiled call; memory is bounded by one batch of
        activations.
    check : callable or None
        Called on each batch before it is scored.

    Returns
    -------
    scores : ndarray of shape (n,), float32
    """
    model = inference_model(model)
    n = X.shape[0]
    scores = np.empty(n, dtype=np.float32)
    to_tensor = _staged_tensors(X, min(batch_size, n))
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if check is not None:
            check(X[start:stop])
        out = model.predict_on_batch(to_tensor(X[start:stop]))
        scores[start:stop] = np.asarray(out, dtype=np.float32).reshape(stop - start)
    return scores


def _aligned_empty(shape, dtype, alignment=STAGING_ALIGNMENT):
    """An uninitialised C-contiguous array whose data start on ``alignment``."""
    dtype = np.dtype(dtype)
    n_bytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(n_bytes + alignment, dtype=np.uint8)
    offset = -raw.ctypes.data % alignment
    return raw[offset : offset + n_bytes].view(dtype).reshape(shape)


def _staged_tensors(X, batch_size):
    """A function that turns a batch of ``X`` into a TensorFlow tensor.

    The batch is copied into a staging buffer allocated once per call of
    :func:`predict_scores` (so concurrent calls never share it) and wrapped
    with DLPack. ``predict_on_batch`` returns only when the batch has been
    scored, so the buffer can take the next batch. Without TensorFlow's DLPack
    support the NumPy batch is passed as it is.
    """
    try:
        from tensorflow.experimental import dlpack
    except ImportError:  # another Keras backend
        return lambda batch: batch
    if X.dtype != np.float32 or batch_size == 0:
        return lambda batch: batch
    buffer = _aligned_empty((batch_size,) + X.shape[1:], np.float32)

    def to_tensor(batch):
        staged = buffer[: batch.shape[0]]
        np.copyto(staged, batch)
        return dlpack.from_dlpack(staged.__dlpack__())

    return to_tensor
