"""The paper's image augmentation, as Keras preprocessing layers.

One definition serves two users: :class:`~hemoclf.HemorrhageCNNClassifier`
puts these layers at the front of its network, where Keras applies them only
while training, and :class:`~hemoclf.sampling.AugmentationSampler` runs them
once to write augmented copies of the training images.

The parameters follow the paper (horizontal and vertical flips, rotation,
zoom 0.05, counter-clockwise shear, width/height shift 0.05, fill mode
``"constant"``). Every transformation is switched off by setting its
parameter to ``False`` or ``0``.
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
}


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
):
    """Build the list of Keras augmentation layers for the given settings.

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
        Base seed; each layer gets its own seed derived from it.

    Returns
    -------
    layers : list of keras.layers.Layer
        Empty when every transformation is switched off.
    """
    import keras

    if fill_mode not in FILL_MODES:
        raise ValueError(
            f"fill_mode={fill_mode!r} is not supported; use one of {FILL_MODES}."
        )
    for name, value in (("rotation", rotation), ("zoom", zoom), ("shear", shear),
                        ("shift", shift)):
        if value is None or value is False:
            continue
        if not 0 <= float(value) <= (180 if name == "rotation" else 1):
            raise ValueError(
                f"{name}={value!r} is out of range; use 0 to switch it off or a "
                f"value in [0, {180 if name == 'rotation' else 1}]."
            )

    def _seed(offset):
        return None if seed is None else int(seed) + offset

    fill = {"fill_mode": fill_mode, "fill_value": float(fill_value)}
    layers = []
    mode = {
        (True, True): "horizontal_and_vertical",
        (True, False): "horizontal",
        (False, True): "vertical",
    }.get((bool(flip_horizontal), bool(flip_vertical)))
    if mode is not None:
        layers.append(keras.layers.RandomFlip(mode, seed=_seed(1)))
    if rotation:
        layers.append(
            keras.layers.RandomRotation(float(rotation) / 360.0, seed=_seed(2), **fill)
        )
    if zoom:
        layers.append(keras.layers.RandomZoom(float(zoom), seed=_seed(3), **fill))
    if shear:
        layers.append(
            # A (low, high) pair: Keras turns a float into a symmetric range
            # that its own loader then rejects when a saved model is read back.
            keras.layers.RandomShear(
                (0.0, float(shear)), (0.0, 0.0), seed=_seed(4), **fill
            )
        )
    if shift:
        layers.append(
            keras.layers.RandomTranslation(
                float(shift), float(shift), seed=_seed(5), **fill
            )
        )
    return layers
