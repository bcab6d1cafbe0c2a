"""CTWindow: Hounsfield units to one clipped channel per window."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from hemoclf.preprocessing import CTWindow, ResizeRescale


def test_default_windows_values():
    hu = np.array([[[-1000.0, 0.0, 40.0, 80.0, 200.0]]])  # (1, 1, 5)
    out = CTWindow().fit_transform(hu)
    assert out.shape == (1, 1, 5, 3) and out.dtype == np.float32
    # brain 40/80: [0, 80] -> [0, 1]
    np.testing.assert_allclose(out[0, 0, :, 0], [0, 0, 0.5, 1, 1])
    # subdural 80/200: [-20, 180] -> [0, 1]
    np.testing.assert_allclose(out[0, 0, :, 1], [0, 0.1, 0.3, 0.5, 1])
    # soft tissue 40/380: [-150, 230] -> [0, 1]
    np.testing.assert_allclose(out[0, 0, :, 2],
                               [0, 150 / 380, 190 / 380, 230 / 380, 350 / 380],
                               rtol=1e-6)


def test_output_is_clipped_to_unit_interval(rng):
    hu = rng.uniform(-3000, 3000, size=(4, 16, 16))
    out = CTWindow(windows=[(40, 80), (600, 2800), (0, 1)]).fit_transform(hu)
    assert out.min() == 0 and out.max() == 1
    assert ((out == 0) | (out == 1)).mean() > 0.5  # the narrow windows saturate


def test_presets_and_channel_count():
    hu = np.zeros((2, 3, 3))
    out = CTWindow(windows=["brain", "subdural", "soft_tissue", "bone",
                            "stroke"]).fit_transform(hu)
    assert out.shape == (2, 3, 3, 5)
    np.testing.assert_allclose(out[0, 0, 0], [0, 0.1, 150 / 380, 0.5 - 600 / 2800,
                                              0], rtol=1e-6)
    assert CTWindow(windows=[(40, 80)]).fit_transform(hu).shape == (2, 3, 3, 1)


def test_trailing_channel_axis_is_accepted():
    hu = np.full((2, 4, 4, 1), 40.0)
    out = CTWindow().fit_transform(hu)
    assert out.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(out[..., 0], 0.5)


def test_list_of_images_of_different_sizes_gives_a_list():
    images = [np.full((5, 7), 40.0), np.full((9, 3, 1), 80, dtype=np.int16)]
    out = CTWindow().fit_transform(images)
    assert isinstance(out, list)
    assert [o.shape for o in out] == [(5, 7, 3), (9, 3, 3)]
    assert all(o.dtype == np.float32 for o in out)
    np.testing.assert_allclose(out[1][..., 0], 1.0)


def test_transform_needs_no_fit():
    hu = np.zeros((1, 2, 2))
    np.testing.assert_array_equal(CTWindow().transform(hu),
                                  CTWindow().fit(hu).transform(hu))


def test_composes_with_resize_rescale():
    rng = np.random.default_rng(0)
    images = [rng.normal(30, 20, (64, 48)), rng.normal(30, 20, (40, 40))]
    pipe = make_pipeline(CTWindow(), ResizeRescale(scale=1, output_size=(32, 32)))
    X = pipe.fit_transform(images)
    assert X.shape == (2, 32, 32, 3) and X.dtype == np.float32
    assert 0 <= X.min() and X.max() <= 1
    # ResizeRescale keeps the windows: the brain channel stays near 30/80.
    assert abs(float(np.median(X[..., 0])) - 30 / 80) < 0.05


@pytest.mark.parametrize(
    "windows, message",
    [
        ([(40, 0)], r"windows\[0\]=\(40, 0\) has width 0; the width must be positive"),
        ([(40, 80), "lung"], r"windows\[1\]='lung' is not a known window"),
        ([(40, 80, 1)], r"must be a \(center, width\) pair"),
        ([(40, np.nan)], r"must be finite numbers"),
        ([], r"non-empty sequence of windows"),
    ],
)
def test_bad_windows(windows, message):
    with pytest.raises(ValueError, match=message):
        CTWindow(windows=windows).fit_transform(np.zeros((1, 2, 2)))


def test_a_single_preset_name_is_not_a_sequence():
    with pytest.raises(ValueError, match="windows"):
        CTWindow(windows="brain").fit(np.zeros((1, 2, 2)))


def test_rgb_images_are_refused():
    rgb = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"shape \(2, 8, 8, 3\).*already windowed"):
        CTWindow().transform(rgb)
    with pytest.raises(ValueError, match=r"Image 0 has shape \(8, 8, 3\) with 3 "
                       r"channels.*ResizeRescale"):
        CTWindow().transform([rgb[0]])


def test_non_finite_values_are_refused():
    image = np.zeros((4, 4))
    image[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"Image 0 contains NaN.*nan_to_num"):
        CTWindow().transform([image])
    with pytest.raises(ValueError, match="NaN"):
        CTWindow().transform(image[np.newaxis])


def test_stateless_tags():
    tags = CTWindow().__sklearn_tags__()
    assert tags.requires_fit is False
    assert tags.transformer_tags.preserves_dtype == ["float32"]


def test_threads_give_the_same_output(rng):
    array = rng.uniform(-100, 200, size=(20, 16, 12))
    images = list(array[:10]) + [rng.uniform(-100, 200, size=(9, 7))] * 10
    serial = CTWindow(n_jobs=1)
    threaded = CTWindow(n_jobs=2)
    np.testing.assert_array_equal(serial.transform(array), threaded.transform(array))
    for a, b in zip(serial.transform(images), threaded.transform(images)):
        np.testing.assert_array_equal(a, b)


def test_sparse_input_is_refused():
    import scipy.sparse as sp

    with pytest.raises(TypeError, match="does not take sparse input"):
        CTWindow().transform(sp.csr_matrix(np.eye(3)))
