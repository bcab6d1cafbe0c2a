"""Batched inference through a compiled predict step.

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
every feature map. :func:`inference_model` builds such a folded copy of a
network once, keeps it per network, and refreshes its weights from the
network on every call, so a network that trains on (``warm_start``) is
scored with its current weights. Networks without such pairs, or whose
layers cannot be cloned, are run as they are.
"""

import weakref

import numpy as np

PREDICT_BATCH_SIZE = 64

# Folded inference copies, by network: (copy or None, {producer: bn}).
_FOLDED = weakref.WeakKeyDictionary()
_IDENTITY_CLASS = None


def _identity_class():
    """A layer that passes its input through, standing in for a folded
    ``BatchNormalization`` (it takes the same call arguments)."""
    global _IDENTITY_CLASS
    if _IDENTITY_CLASS is None:
        import keras

        class FoldedBatchNormalization(keras.layers.Layer):
            def call(self, inputs, training=None, mask=None):
                return inputs

            def compute_output_shape(self, input_shape):
                return input_shape

        _IDENTITY_CLASS = FoldedBatchNormalization
    return _IDENTITY_CLASS


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


def _folded_weights(producer, bn):
    """Kernel and bias of ``producer`` with ``bn`` absorbed."""
    weights = producer.get_weights()
    kernel = weights[0]
    bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[-1], kernel.dtype)
    mean = np.asarray(bn.moving_mean)
    scale = 1.0 / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
    if bn.scale:
        scale = scale * np.asarray(bn.gamma)
    shift = np.asarray(bn.beta) if bn.center else 0.0
    # The kernel's last axis is the output channel for Conv2D and Dense alike.
    return [(kernel * scale).astype(kernel.dtype),
            ((bias - mean) * scale + shift).astype(bias.dtype)]


def _build_folded(model):
    import keras

    pairs = _foldable_pairs(model)
    if not pairs:
        return None, {}
    folded_names = {bn.name for bn in pairs.values()}
    identity = _identity_class()

    def clone_layer(layer):
        if layer.name in folded_names:
            return identity(name=layer.name)
        config = layer.get_config()
        if layer.name in pairs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    try:
        copy = keras.models.clone_model(model, clone_function=clone_layer)
    except (TypeError, ValueError, NotImplementedError, KeyError):
        # A subclassed network, or a layer that cannot be rebuilt from its
        # config: run the network as it is.
        return None, {}
    return copy, pairs


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
        rounding (about 1e-6 relative).
    """
    entry = _FOLDED.get(model)
    if entry is None:
        entry = _build_folded(model)
        _FOLDED[model] = entry
    copy, pairs = entry
    if copy is None:
        return model
    folded_names = {bn.name for bn in pairs.values()}
    for layer in model.layers:
        if not layer.weights or layer.name in folded_names:
            continue
        target = copy.get_layer(layer.name)
        if layer.name in pairs:
            target.set_weights(_folded_weights(layer, pairs[layer.name]))
        else:
            target.set_weights(layer.get_weights())
    return copy


def predict_scores(model, X, batch_size=PREDICT_BATCH_SIZE):
    """Return the model's single output for every row of ``X``.

    Parameters
    ----------
    model : keras.Model
        A model with one output unit.
    X : ndarray of shape (n, H, W, C)
        Float32 images.
    batch_size : int
        Rows per compiled call; memory is bounded by one batch of
        activations.

    Returns
    -------
    scores : ndarray of shape (n,), float32
    """
    model = inference_model(model)
    n = X.shape[0]
    scores = np.empty(n, dtype=np.float32)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        out = model.predict_on_batch(X[start:stop])
        scores[start:stop] = np.asarray(out, dtype=np.float32).reshape(stop - start)
    return scores
