"""The paper's image augmentation, as one fused Keras preprocessing layer.

One definition serves two users: :class:`~hemoclf.HemorrhageCNNClassifier`
puts the layer at the front of its network, where Keras applies it only
while training, and :class:`~hemoclf.sampling.AugmentationSampler` runs it
once to write augmented copies of the training images.

The parameters follow the paper (horizontal and vertical flips, rotation,
zoom 0.05, counter-clockwise shear, width/height shift 0.05, fill mode
``"constant"``), plus one the paper does not use: a random gamma correction
of the intensities (``gamma``, off by default), for renderings whose
brightness and contrast vary from scanner to scanner. Every transformation is
switched off by setting its parameter to ``False`` or ``0``.

Why one layer rather than Keras's ``RandomFlip``, ``RandomRotation``,
``RandomZoom``, ``RandomShear`` and ``RandomTranslation`` in a row: each of
those resamples the whole batch on its own, and TensorFlow's CPU kernel for
it (``ImageProjectiveTransformV3``) costs about 1 ms per 128x128x3 image, so
the chain made training about four times slower than the network itself.
Here the five transformations are composed into one affine map per image and
the image is resampled once, by a bilinear gather compiled with XLA: the
whole augmentation costs a fraction of a training step
(``benchmarks/test_bench_fit.py`` measures it).
"""

FILL_MODES = ("constant", "reflect", "wrap", "nearest")

# Default augmentation settings, shared by the classifier and the sampler.
AUGMENTATION_DEFAULTS = {
    "flip_horizontal": True,
    "flip_vertical": True,
    "rotation": 15.0,
    "zoom": 0.05,
    "shear": 0.1,
    "shift": 0.05,
    "fill_mode": "constant",
    "fill_value": 0.0,
    "gamma": 0.0,
}

_LAYER_CLASS = None


def _check_settings(rotation, zoom, shear, shift, fill_mode, gamma=0.0):
    if not 0 <= float(gamma) <= 2:
        raise ValueError(
            f"gamma={gamma!r} is out of range; use 0 to switch it off or a "
            "value in [0, 2] (the largest |log| of the random gamma exponent)."
        )
    if fill_mode not in FILL_MODES:
        raise ValueError(
            f"fill_mode={fill_mode!r} is not supported; use one of {FILL_MODES}."
        )
    for name, value in (("rotation", rotation), ("zoom", zoom), ("shear", shear),
                        ("shift", shift)):
        high = 180 if name == "rotation" else 1
        if not 0 <= float(value) <= high:
            raise ValueError(
                f"{name}={value!r} is out of range; use 0 to switch it off or a "
                f"value in [0, {high}]."
            )


def _fold_indices(index, size, fill_mode):
    """Map integer pixel indices outside ``[0, size)`` back inside."""
    import tensorflow as tf

    if fill_mode == "wrap":
        return tf.math.floormod(index, size)
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a
        period = 2 * size
        index = tf.math.floormod(index, period)
        return tf.where(index >= size, period - 1 - index, index)
    return tf.clip_by_value(index, 0, size - 1)  # "nearest" and "constant"


def _bilinear_warp(images, matrices, offsets, fill_mode, fill_value):
    """Resample each image at ``matrices @ (row, col) + offsets``.

    ``images`` is (n, H, W, C); ``matrices`` (n, 2, 2) and ``offsets`` (n, 2)
    map output pixel coordinates (row, col) to input coordinates.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    rows = tf.cast(tf.range(h), images.dtype)
    cols = tf.cast(tf.range(w), images.dtype)
    grid_r, grid_c = tf.meshgrid(rows, cols, indexing="ij")
    grid = tf.stack([tf.reshape(grid_r, [-1]), tf.reshape(grid_c, [-1])])  # (2, HW)
    src = tf.linalg.matmul(matrices, grid) + offsets[:, :, tf.newaxis]  # (n, 2, HW)
    src_r, src_c = src[:, 0], src[:, 1]
    r0, c0 = tf.floor(src_r), tf.floor(src_c)
    wr, wc = src_r - r0, src_c - c0
    r0 = tf.cast(r0, tf.int32)
    c0 = tf.cast(c0, tf.int32)
    flat = tf.reshape(images, [-1, c])
    base = (tf.range(n) * h * w)[:, tf.newaxis]
    out = 0.0
    for dr, dc, weight in (
        (0, 0, (1 - wr) * (1 - wc)),
        (0, 1, (1 - wr) * wc),
        (1, 0, wr * (1 - wc)),
        (1, 1, wr * wc),
    ):
        r, col = r0 + dr, c0 + dc
        value = tf.gather(flat, base + _fold_indices(r, h, fill_mode) * w
                          + _fold_indices(col, w, fill_mode))
        if fill_mode == "constant":
            inside = (r >= 0) & (r < h) & (col >= 0) & (col < w)
            value = tf.where(inside[..., tf.newaxis], value, fill_value)
        out = out + value * weight[..., tf.newaxis]
    return tf.reshape(out, shape)


def _apply_gamma(images, exponents):
    """``max(images, 0) ** exponents``, one positive exponent per image.

    Written as ``exp(exponent * log(x))``: TensorFlow's CPU ``Pow`` kernel,
    with the exponent broadcast over each image, takes about 13 ms for a
    batch of 16 images of 128x128x3 on one core, more than the warp itself;
    ``Log``, ``Mul`` and ``Exp`` take about 2.6 ms and agree with it to
    within 1.2e-7 on [0, 1]. ``log(0) = -inf`` keeps black at 0, and
    ``log(1) = 0`` keeps 1 at 1.
    """
    import tensorflow as tf

    logs = tf.math.log(tf.maximum(images, 0.0))
    return tf.exp(logs * exponents[:, tf.newaxis, tf.newaxis, tf.newaxis])


_WARP = None


def _compiled_warp():
    """One XLA-compiled warp for the process, so that every fit (every CV
    fold, every grid point) reuses the compilations for the shapes it has
    already seen instead of compiling afresh."""
    global _WARP
    if _WARP is None:
        import tensorflow as tf

        _WARP = tf.function(_bilinear_warp, jit_compile=True, reduce_retracing=True)
    return _WARP


def _layer_class():
    """Define the Keras layer on first use, so importing hemoclf stays light."""
    global _LAYER_CLASS
    if _LAYER_CLASS is not None:
        return _LAYER_CLASS

    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="hemoclf")
    class RandomAffineAugmentation(keras.layers.Layer):
        """Random flips, rotation, zoom, shear and shift in one resampling.

        Active only when called with ``training=True``; the identity
        otherwise. Per image it draws: a left-right and an up-down flip with
        probability 1/2 each, a rotation angle uniform in ``[-rotation,
        rotation]`` degrees, a zoom factor uniform in ``[1 - zoom, 1 +
        zoom]``, a horizontal shear uniform in ``[0, shear]`` (one direction,
        as the paper's counter-clockwise shear) and row and column shifts
        uniform in ``[-shift, shift]`` times the image size; then, if
        ``gamma`` is not 0, a gamma exponent ``exp(u)`` with ``u`` uniform
        in ``[-gamma, gamma]``: intensities ``x`` (taken as [0, 1], negative
        values clipped to 0) become ``x ** exp(u)``, which brightens or
        darkens the mid-tones while black stays black and 1 stays 1.
        """

        def __init__(
            self,
            flip_horizontal=True,
            flip_vertical=True,
            rotation=15.0,
            zoom=0.05,
            shear=0.1,
            shift=0.05,
            fill_mode="constant",
            fill_value=0.0,
            seed=None,
            gamma=0.0,
            **kwargs,
        ):
            super().__init__(**kwargs)
            _check_settings(rotation, zoom, shear, shift, fill_mode, gamma)
            self.flip_horizontal = bool(flip_horizontal)
            self.flip_vertical = bool(flip_vertical)
            self.rotation = float(rotation)
            self.zoom = float(zoom)
            self.shear = float(shear)
            self.shift = float(shift)
            self.fill_mode = fill_mode
            self.fill_value = float(fill_value)
            self.gamma = float(gamma)
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)
            self._warp = _compiled_warp()
            self.supports_masking = False

        def get_config(self):
            return {
                **super().get_config(),
                "flip_horizontal": self.flip_horizontal,
                "flip_vertical": self.flip_vertical,
                "rotation": self.rotation,
                "zoom": self.zoom,
                "shear": self.shear,
                "shift": self.shift,
                "fill_mode": self.fill_mode,
                "fill_value": self.fill_value,
                "seed": self.seed,
                "gamma": self.gamma,
            }

        def compute_output_shape(self, input_shape):
            return input_shape

        def _uniform(self, n, low, high):
            return keras.random.uniform(
                (n,), low, high, dtype="float32", seed=self.seed_generator
            )

        def _flip_sign(self, n, enabled):
            if not enabled:
                return tf.ones((n,))
            coin = self._uniform(n, 0.0, 1.0)
            return tf.where(coin < 0.5, -1.0, 1.0)

        def call(self, inputs, training=None):
            if not training:
                return inputs
            images = tf.convert_to_tensor(inputs, dtype="float32")
            shape = tf.shape(images)
            n = shape[0]
            h = tf.cast(shape[1], "float32")
            w = tf.cast(shape[2], "float32")
            angle = self._uniform(n, -1.0, 1.0) * (self.rotation * 3.141592653589793
                                                   / 180.0)
            scale = 1.0 + self._uniform(n, -self.zoom, self.zoom)
            shear = self._uniform(n, 0.0, self.shear)
            shift_r = self._uniform(n, -self.shift, self.shift) * h
            shift_c = self._uniform(n, -self.shift, self.shift) * w
            flip_r = self._flip_sign(n, self.flip_vertical)
            flip_c = self._flip_sign(n, self.flip_horizontal)

            cos, sin = tf.cos(angle), tf.sin(angle)
            # Output (row, col) -> input (row, col), about the image centre:
            # src = flip @ rotate @ shear @ (dst - centre) / scale + centre - shift
            m00 = cos / scale
            m01 = (-sin + cos * shear) / scale
            m10 = sin / scale
            m11 = (cos + sin * shear) / scale
            matrices = tf.reshape(
                tf.stack([flip_r * m00, flip_r * m01, flip_c * m10, flip_c * m11],
                         axis=1),
                (-1, 2, 2),
            )
            centre = tf.stack([(h - 1.0) / 2.0, (w - 1.0) / 2.0])
            offsets = (
                centre[tf.newaxis, :]
                - tf.linalg.matvec(matrices, tf.broadcast_to(centre, (n, 2)))
                - tf.stack([shift_r, shift_c], axis=1)
            )
            out = self._warp(images, matrices, offsets, self.fill_mode,
                             self.fill_value)
            if self.gamma:
                # Drawn last, so that the geometric draws of a given seed do
                # not depend on whether gamma is on.
                exponent = tf.exp(self._uniform(n, -self.gamma, self.gamma))
                out = _apply_gamma(out, exponent)
            return tf.cast(out, inputs.dtype)

    _LAYER_CLASS = RandomAffineAugmentation
    return _LAYER_CLASS


def augmentation_layers(
    *,
    flip_horizontal=True,
    flip_vertical=True,
    rotation=15.0,
    zoom=0.05,
    shear=0.1,
    shift=0.05,
    fill_mode="constant",
    fill_value=0.0,
    seed=None,
    gamma=0.0,
):
    """Build the Keras augmentation layers for the given settings.

    Parameters
    ----------
    flip_horizontal, flip_vertical : bool
        Random left-right and up-down flips.
    rotation : float
        Largest rotation in degrees, drawn uniformly in ``[-rotation, rotation]``.
    zoom : float
        Largest relative zoom in or out (``0.05`` zooms by up to 5 %).
    shear : float
        Largest horizontal shear as a fraction of the image size, in one
        direction only (the paper's counter-clockwise shear).
    shift : float
        Largest width and height shift as a fraction of the image size.
    fill_mode : {"constant", "reflect", "wrap", "nearest"}
        How points outside the image are filled.
    fill_value : float
        Value used with ``fill_mode="constant"``.
    seed : int or None
        Seed of the layer's random draws.
    gamma : float
        Largest random gamma correction, as the natural log of the exponent:
        intensities ``x`` in [0, 1] become ``x ** exp(u)``, ``u`` uniform in
        ``[-gamma, gamma]`` (``0.4``: exponents from 0.67 to 1.49).

    Returns
    -------
    layers : list of keras.layers.Layer
        One fused ``RandomAffineAugmentation`` layer, or an empty list when
        every transformation is switched off.
    """
    _check_settings(rotation or 0, zoom or 0, shear or 0, shift or 0, fill_mode,
                    gamma or 0)
    if not (flip_horizontal or flip_vertical or rotation or zoom or shear or shift
            or gamma):
        return []
    layer = _layer_class()(
        flip_horizontal=flip_horizontal,
        flip_vertical=flip_vertical,
        rotation=rotation or 0.0,
        zoom=zoom or 0.0,
        shear=shear or 0.0,
        shift=shift or 0.0,
        fill_mode=fill_mode,
        fill_value=fill_value,
        seed=seed,
        gamma=gamma or 0.0,
        name="augmentation",
    )
    return [layer]
