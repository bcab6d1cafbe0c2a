"""Keras model builders for :class:`~hemoclf.HemorrhageCNNClassifier`.

Each builder takes the input shape learned at fit time and the architecture
hyper-parameters, and returns an uncompiled ``keras.Model`` with one sigmoid
output: the probability of hemorrhage.
"""

from ._augmentation import augmentation_layers


def build_paper_cnn(
    input_shape,
    *,
    filters=(32, 64, 64),
    kernel_size=3,
    dense_units=64,
    dropout=0.4,
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
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(int(dense_units), activation="relu", name="dense")(x)
    x = layers.Dropout(float(dropout), name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="hemorrhage")(x)
    return keras.Model(inputs, outputs, name="paper_cnn")


ARCHITECTURES = {"paper": build_paper_cnn}


def build_model(meta, *, architecture, architecture_params, augmentation):
    """Build the model named by ``architecture`` for the shape in ``meta``.

    This is the model-building function handed to scikeras, which calls it
    with ``meta``, the facts it learned from the training data.
    """
    input_shape = tuple(meta["X_shape_"][1:])
    if callable(architecture):
        return architecture(input_shape, augmentation=augmentation,
                            **architecture_params)
    return ARCHITECTURES[architecture](
        input_shape, augmentation=augmentation, **architecture_params
    )
