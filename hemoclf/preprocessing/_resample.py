"""Float resampling with Pillow's filters, as two sparse matrix products.

Pillow resamples a float ("F" mode) image one channel at a time: a
horizontal pass, then a vertical one, each output pixel a normalised,
anti-aliased weighted sum of the input pixels around it. Both passes are
linear maps along one axis, so each is a sparse matrix (a few taps per output
pixel) that can be built once per size and filter and applied to all the
channels of an image at once with :mod:`scipy.sparse`, which releases the GIL
while it multiplies. The weights are Pillow's own (``precompute_coeffs`` in
Pillow's ``Resample.c``); the results agree with Pillow's to float32
rounding, and ``tests/preprocessing/test_resample.py`` holds them to it.
"""

from functools import lru_cache

import numpy as np
import scipy.sparse as sp


def _box(x):
    return ((x > -0.5) & (x <= 0.5)).astype(np.float64)


def _bilinear(x):
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _bicubic(x, a=-0.5):
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _lanczos(x):
    return np.where((x >= -3.0) & (x < 3.0), np.sinc(x) * np.sinc(x / 3.0), 0.0)


# Pillow's filters and their supports (half-widths at scale 1).
FILTERS = {
    "box": (_box, 0.5),
    "bilinear": (_bilinear, 1.0),
    "bicubic": (_bicubic, 2.0),
    "lanczos": (_lanczos, 3.0),
}


@lru_cache(maxsize=128)
def resampling_matrix(in_size, out_size, interpolation):
    """Pillow's resampling weights from ``in_size`` to ``out_size`` pixels.

    Parameters
    ----------
    in_size, out_size : int
        Pixels along the axis before and after resampling.
    interpolation : {"box", "bilinear", "bicubic", "lanczos"}
        Pillow's filter. When shrinking, its support widens by the reduction
        factor (anti-aliasing).

    Returns
    -------
    weights : scipy.sparse.csr_array of shape (out_size, in_size), float32
        Row ``i`` holds the weights of output pixel ``i``; each non-empty row
        sums to one.
    """
    kernel, support = FILTERS[interpolation]
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = support * filter_scale
    center = (np.arange(out_size) + 0.5) * scale
    # Pillow rounds the span's ends with a C cast, clamped to the image.
    first = np.maximum(np.floor(center - support + 0.5), 0.0)[:, None]
    stop = np.minimum(np.floor(center + support + 0.5), in_size)[:, None]
    pixel = np.arange(in_size)[None, :]
    inside = (pixel >= first) & (pixel < stop)
    weights = np.where(inside, kernel((pixel - center[:, None] + 0.5) / filter_scale),
                       0.0)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total != 0)
    return sp.csr_array(weights.astype(np.float32))


@lru_cache(maxsize=128)
def _horizontal_matrix(in_size, out_size, interpolation, channels):
    # The width pass acts on rows of interleaved channels: (W * C) -> (w * C).
    return sp.csr_array(sp.kron(resampling_matrix(in_size, out_size, interpolation),
                                sp.csr_array(np.eye(channels, dtype=np.float32))))


def resample_float(image, size, interpolation):
    """Resize a float32 ``(H, W, C)`` image to ``size`` as Pillow would.

    Parameters
    ----------
    image : ndarray of shape (H, W, C), float32
    size : tuple of (int, int)
        ``(height, width)`` of the result.
    interpolation : {"box", "bilinear", "bicubic", "lanczos"}

    Returns
    -------
    resized : ndarray of shape (height, width, C), float32
    """
    in_h, in_w, channels = image.shape
    h, w = size
    rows = image.reshape(in_h, in_w * channels)
    if h != in_h:
        rows = resampling_matrix(in_h, h, interpolation) @ rows
    if w != in_w:
        rows = (_horizontal_matrix(in_w, w, interpolation, channels) @ rows.T).T
    return np.ascontiguousarray(rows, dtype=np.float32).reshape(h, w, channels)
