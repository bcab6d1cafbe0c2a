"""Keras model builders for :class:`~hemoclf.HemorrhageCNNClassifier`.

Each builder takes the input shape learned at fit time and the architecture
hyper-parameters, and returns an uncompiled ``keras.Model`` with one sigmoid
output: the probability of hemorrhage.

``RECIPE_PARAMS`` holds, for each named architecture, the training settings it
was designed and measured with; the classifier takes them for every
hyper-parameter left at ``None``.
"""

from ._augmentation import augmentation_layers

POOLINGS = ("avg", "max", "avgmax")
# Training steps per call of Keras's compiled train function; an epoch
# shorter than this runs in one call.
STEPS_PER_EXECUTION = 32


def _global_pooling(x, pooling):
    """Global pooling of the last feature map: average, maximum or both."""
    from keras import layers

    if pooling not in POOLINGS:
        raise ValueError(
            f"pooling={pooling!r} is not one of {POOLINGS}: 'avg' averages the "
            "last feature map, 'max' takes its maximum, 'avgmax' concatenates "
            "both."
        )
    pooled = []
    if pooling in ("avg", "avgmax"):
        pooled.append(layers.GlobalAveragePooling2D(name="gap")(x))
    if pooling in ("max", "avgmax"):
        pooled.append(layers.GlobalMaxPooling2D(name="gmp")(x))
    return pooled[0] if len(pooled) == 1 else layers.Concatenate(name="pool")(pooled)


def build_paper_cnn(
    input_shape,
    *,
    filters=(32, 64, 64),
    kernel_size=3,
    dense_units=64,
    dropout=0.4,
    pooling="avg",
    augmentation=None,
):
    """The CNN of the founding paper.

    Three ``Conv2D`` layers (stride 2, ReLU) with a 2x2 max pooling after the
    first two, global average pooling, a ReLU ``Dense`` layer, dropout and a
    sigmoid output. For 128x128 inputs the feature maps are 64x64x32,
    32x32x32, 16x16x64, 8x8x64 and 4x4x64, as in the paper. ``"same"``
    padding keeps every stage valid for small inputs.

    Parameters
    ----------
    input_shape : tuple of int
        ``(height, width, channels)``.
    filters : tuple of three int
        Filters of the three convolutions.
    kernel_size : int
        Size of the square convolution kernels.
    dense_units : int
        Width of the hidden dense layer.
    dropout : float
        Dropout rate before the output layer.
    pooling : {"avg", "max", "avgmax"}
        Global pooling of the last feature map; the paper averages.
    augmentation : dict or None
        Keyword arguments of :func:`hemoclf._augmentation.augmentation_layers`;
        the resulting layers act only while training. ``None`` for none.

    Returns
    -------
    model : keras.Model
    """
    import keras
    from keras import layers

    if len(filters) != 3:
        raise ValueError(
            f"filters={tuple(filters)!r} must give the filters of the paper "
            "CNN's three convolutions, e.g. (32, 64, 64)."
        )
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for layer in augmentation_layers(**augmentation) if augmentation else ():
        x = layer(x)
    for i, n_filters in enumerate(filters):
        x = layers.Conv2D(
            int(n_filters),
            kernel_size,
            strides=2,
            padding="same",
            activation="relu",
            name=f"conv{i + 1}",
        )(x)
        if i < 2:
            x = layers.MaxPooling2D(2, padding="same", name=f"pool{i + 1}")(x)
    x = _global_pooling(x, pooling)
    x = layers.Dense(int(dense_units), activation="relu", name="dense")(x)
    x = layers.Dropout(float(dropout), name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="hemorrhage")(x)
    return keras.Model(inputs, outputs, name="paper_cnn")


def build_default_cnn(
    input_shape,
    *,
    filters=(16, 16, 32, 64, 128),
    kernel_size=3,
    dense_units=0,
    dropout=0.3,
    pooling="max",
    augmentation=None,
):
    """hemoclf's default CNN: a compact, batch-normalised VGG-style network.

    A 5x5 stride-2 stem convolution, then one 3x3 convolution and a 2x2 max
    pooling per stage, each convolution followed by batch normalisation and
    ReLU; global max pooling, dropout and a sigmoid output (optionally after
    a hidden ReLU ``Dense`` layer). With the default filters a 128x128 image
    (the default recipe's input) goes through 64x64x16, 32x32x16, 16x16x32,
    8x8x64 and 4x4x128 feature maps; about 0.1 M weights. ``"same"``
    padding and global pooling keep every stage valid for any input size,
    down to one pixel row.

    Parameters
    ----------
    input_shape : tuple of int
        ``(height, width, channels)``.
    filters : tuple of int
        Filters of the stem convolution, then of each stage (at least three
        values).
    kernel_size : int
        Size of the square kernels of the stage convolutions.
    dense_units : int
        Width of a hidden dense layer before the output; ``0`` for none.
    dropout : float
        Dropout rate before the output layer.
    pooling : {"avg", "max", "avgmax"}
        Global pooling of the last feature map: the average, the maximum
        (a small focal finding is not diluted by the rest of the slice), or
        both concatenated.
    augmentation : dict or None
        Keyword arguments of :func:`hemoclf._augmentation.augmentation_layers`;
        the resulting layers act only while training. ``None`` for none.

    Returns
    -------
    model : keras.Model
    """
    import keras
    from keras import layers

    if len(filters) < 3:
        raise ValueError(
            f"filters={tuple(filters)!r} must give at least three convolutions: "
            "the default CNN's stem and two or more stages, e.g. "
            "(16, 16, 32, 64, 128)."
        )

    def conv_bn_relu(x, n_filters, size, strides, name):
        x = layers.Conv2D(int(n_filters), size, strides=strides, padding="same",
                          use_bias=False, name=name)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.Activation("relu", name=f"{name}_relu")(x)

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for layer in augmentation_layers(**augmentation) if augmentation else ():
        x = layer(x)
    x = conv_bn_relu(x, filters[0], 5, 2, "stem")
    for i, n_filters in enumerate(filters[1:]):
        x = conv_bn_relu(x, n_filters, kernel_size, 1, f"conv{i + 1}")
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i + 1}")(x)
    x = _global_pooling(x, pooling)
    if dense_units:
        x = layers.Dense(int(dense_units), activation="relu", name="dense")(x)
    x = layers.Dropout(float(dropout), name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="hemorrhage")(x)
    return keras.Model(inputs, outputs, name="default_cnn")


ARCHITECTURES = {"default": build_default_cnn, "paper": build_paper_cnn}

# The training settings of each named architecture: the classifier uses them
# for every hyper-parameter left at None. A callable architecture gets the
# "default" settings.
RECIPE_PARAMS = {
    "paper": {
        "filters": (32, 64, 64),
        "kernel_size": 3,
        "dense_units": 64,
        "dropout": 0.4,
        "pooling": "avg",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "weight_decay": 0.0,
        "learning_rate_schedule": "constant",
        "epochs": 60,
        "batch_size": 32,
        "rotation": 15.0,
        "zoom": 0.05,
        "shear": 0.1,
        "shift": 0.05,
        "gamma": 0.0,
        "test_time_augmentation": False,
    },
    "default": {
        "filters": (16, 16, 32, 64, 128),
        "kernel_size": 3,
        "dense_units": 0,
        "dropout": 0.3,
        "pooling": "max",
        "optimizer": "adamw",
        "learning_rate": 2e-3,
        "weight_decay": 1e-4,
        "learning_rate_schedule": "cosine",
        "epochs": 120,
        "batch_size": 16,
        "rotation": 15.0,
        "zoom": 0.05,
        "shear": 0.1,
        "shift": 0.05,
        "gamma": 0.4,
        "test_time_augmentation": False,
    },
}


def build_model(meta, compile_kwargs=None, *, architecture, architecture_params,
                augmentation, steps_per_execution=1):
    """Build the model named by ``architecture`` for the shape in ``meta``.

    This is the model-building function handed to scikeras, which calls it
    with ``meta``, the facts it learned from the training data, and
    ``compile_kwargs``, the loss, optimizer and metrics it resolved. The
    model is compiled here, with ``steps_per_execution``: Keras then runs
    that many training steps per call of its compiled function instead of
    one, which saves Python and dispatch overhead between small batches and
    gives the same weights. A model that comes back compiled from a
    callable ``architecture`` is left as it is.
    """
    input_shape = tuple(meta["X_shape_"][1:])
    if callable(architecture):
        model = architecture(input_shape, augmentation=augmentation,
                             **architecture_params)
    else:
        model = ARCHITECTURES[architecture](
            input_shape, augmentation=augmentation, **architecture_params
        )
    if compile_kwargs is not None and not model.compiled:
        model.compile(**compile_kwargs, steps_per_execution=steps_per_execution)
    if model.compiled:
        build_training_state(model)
    return model


def build_training_state(model):
    """Create a compiled model's optimizer and metric variables now.

    Without a distribution strategy, Keras on TensorFlow creates them while it
    traces the train step, and TensorFlow traces a function that creates
    variables a second time. Created here, eagerly, they let one trace
    serve the whole fit: about a second less per fit, most of the cost of a
    small one. The weights and the history are the same.

    The metrics are built by scoring one blank image, then reset. That is
    done only for a network of one image input and one probability output,
    as hemoclf builds them; for any other (a callable ``architecture`` may
    return one), Keras builds the metrics itself, for the targets it sees.
    """
    import numpy as np

    if not model.built:  # its weights appear in the first call, in fit
        return
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    inputs = getattr(model, "inputs", None) or []
    outputs = getattr(model, "outputs", None) or []
    if (len(inputs) != 1 or len(outputs) != 1
            or tuple(outputs[0].shape[1:]) != (1,)):
        return
    x = np.zeros((1, *inputs[0].shape[1:]), dtype=inputs[0].dtype)
    y_pred = model(x, training=False)
    model.compute_metrics(x, np.zeros(y_pred.shape, dtype=x.dtype), y_pred,
                          sample_weight=None)
    model.reset_metrics()
