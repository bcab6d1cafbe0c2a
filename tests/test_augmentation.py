"""The fused augmentation layer: each transformation against a reference."""

import keras
import numpy as np
import pytest

from hemoclf._augmentation import _bilinear_warp, augmentation_layers


def _run(layer, x, training=True):
    return keras.ops.convert_to_numpy(layer(x, training=training))


@pytest.fixture
def images():
    return np.random.default_rng(0).random((16, 9, 7, 2)).astype(np.float32)


def _only(**on):
    off = dict(flip_horizontal=False, flip_vertical=False, rotation=0, zoom=0,
               shear=0, shift=0)
    return augmentation_layers(**{**off, **on}, seed=3)


def test_everything_off_means_no_layer():
    assert _only() == []


@pytest.mark.parametrize("flag, flip", [("flip_horizontal", lambda a: a[:, ::-1]),
                                        ("flip_vertical", lambda a: a[::-1])])
def test_flips_are_exact_and_random(images, flag, flip):
    (layer,) = _only(**{flag: True})
    out = _run(layer, images)
    flipped = [np.allclose(o, flip(x), atol=1e-6) for o, x in zip(out, images)]
    same = [np.allclose(o, x, atol=1e-6) for o, x in zip(out, images)]
    assert all(f or s for f, s in zip(flipped, same))
    assert any(flipped) and any(same)


def test_identity_at_inference(images):
    (layer,) = augmentation_layers(seed=0)
    np.testing.assert_array_equal(_run(layer, images, training=False), images)


def test_gamma_bends_intensities_monotonically(images):
    (layer,) = _only(gamma=0.5)
    out = _run(layer, images)
    # One exponent per image, within [exp(-0.5), exp(0.5)]: recover it from
    # a pixel and check that it explains every pixel of the image.
    exponents = []
    for o, x in zip(out, images):
        e = np.log(o.flat[0]) / np.log(x.flat[0])
        assert np.exp(-0.5) - 1e-4 <= e <= np.exp(0.5) + 1e-4
        np.testing.assert_allclose(o, x ** e, rtol=1e-4, atol=1e-6)
        exponents.append(e)
    assert np.ptp(exponents) > 0.2  # drawn per image
    # Black stays black, 1 stays 1, negative values are clipped to 0.
    edges = np.array([0.0, 1.0, -0.5], np.float32).reshape(1, 1, 3, 1)
    np.testing.assert_allclose(_run(layer, edges).ravel(), [0.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_array_equal(_run(layer, images, training=False), images)


def test_gamma_leaves_the_geometric_draws_alone(images):
    geometric = dict(rotation=20, zoom=0.1, flip_horizontal=True)
    (plain,) = _only(**geometric)
    (bent,) = _only(**geometric, gamma=0.3)
    a, b = _run(plain, images), _run(bent, images)
    # Same warps: where the plain output is 0 (filled), so is the bent one.
    np.testing.assert_array_equal(a == 0, b == 0)
    assert not np.allclose(a, b)


def test_warp_rotates_a_quarter_turn_like_numpy():
    import tensorflow as tf

    square = np.random.default_rng(1).random((1, 8, 8, 1)).astype(np.float32)
    matrices = np.array([[[0.0, -1.0], [1.0, 0.0]]], np.float32)
    centre = np.array([3.5, 3.5], np.float32)
    offsets = (centre - matrices[0] @ centre)[np.newaxis]
    out = _bilinear_warp(tf.constant(square), tf.constant(matrices),
                         tf.constant(offsets), "constant", 0.0).numpy()
    np.testing.assert_allclose(out[0, ..., 0], np.rot90(square[0, ..., 0], -1),
                               atol=1e-5)


def test_shift_fills_with_constant():
    import tensorflow as tf

    image = np.ones((1, 6, 6, 1), np.float32)
    identity = np.eye(2, dtype=np.float32)[np.newaxis]
    offsets = np.array([[0.0, -2.0]], np.float32)  # content moves 2 columns right
    out = _bilinear_warp(tf.constant(image), tf.constant(identity),
                         tf.constant(offsets), "constant", 0.5).numpy()[0, ..., 0]
    np.testing.assert_allclose(out[:, :2], 0.5)
    np.testing.assert_allclose(out[:, 2:], 1.0)
    wrapped = _bilinear_warp(tf.constant(np.arange(6, dtype=np.float32).reshape(
        1, 1, 6, 1)), tf.constant(identity), tf.constant(offsets), "wrap", 0.0)
    np.testing.assert_allclose(wrapped.numpy().ravel(), [4, 5, 0, 1, 2, 3])


def test_rotation_zoom_shear_shift_change_images_within_range(images):
    for setting in ({"rotation": 30}, {"zoom": 0.3}, {"shear": 0.3}, {"shift": 0.2}):
        (layer,) = _only(**setting)
        out = _run(layer, images)
        assert out.shape == images.shape
        assert np.isfinite(out).all()
        assert not np.allclose(out, images)
        assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6  # convex blends


def test_seeded_layers_repeat_their_draws(images):
    (a,) = augmentation_layers(seed=7)
    (b,) = augmentation_layers(seed=7)
    np.testing.assert_array_equal(_run(a, images), _run(b, images))


@pytest.mark.parametrize("setting, match", [
    ({"fill_mode": "mirror"}, "fill_mode='mirror' is not supported"),
    ({"rotation": 200}, r"rotation=200 is out of range"),
    ({"zoom": 1.5}, r"zoom=1.5 is out of range"),
    ({"gamma": 3}, r"gamma=3 is out of range"),
    ({"gamma": -0.1}, r"gamma=-0.1 is out of range"),
])
def test_bad_settings_are_rejected(setting, match):
    with pytest.raises(ValueError, match=match):
        augmentation_layers(**setting)


def test_layer_survives_keras_save_and_safe_load(tmp_path, images):
    inputs = keras.Input((9, 7, 2))
    x = augmentation_layers(seed=0)[0](inputs)
    model = keras.Model(inputs, keras.layers.Flatten()(x))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.get_layer("augmentation").get_config()["shear"] == 0.1
    np.testing.assert_array_equal(loaded.predict_on_batch(images),
                                  model.predict_on_batch(images))


def test_gamma_matches_a_float64_power():
    from hemoclf._augmentation import _apply_gamma

    rng = np.random.default_rng(1)
    x = rng.random((8, 32, 32, 3)).astype(np.float32)
    x[:, 0, :4, 0] = [0.0, 1.0, -0.25, 1e-30]
    exponents = np.exp(rng.uniform(-2, 2, 8)).astype(np.float32)
    out = keras.ops.convert_to_numpy(_apply_gamma(x, exponents))
    expected = np.maximum(x, 0).astype(np.float64) ** exponents[:, None, None, None]
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=3e-7)
    np.testing.assert_array_equal(out[:, 0, :3, 0], [[0.0, 1.0, 0.0]] * 8)
    # Monotonic in the intensity, image by image.
    ramp = np.linspace(0, 1, 4097, dtype=np.float32).reshape(1, 1, -1, 1)
    bent = keras.ops.convert_to_numpy(
        _apply_gamma(np.repeat(ramp, 8, axis=0), exponents))
    assert (np.diff(bent, axis=2) >= 0).all()
