"""Hounsfield units to display windows, one channel per window."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils.validation import validate_data

from .._validation import for_each_image, image_batch

# (center, width) in Hounsfield units of the usual head CT windows.
WINDOW_PRESETS = {
    "brain": (40.0, 80.0),
    "subdural": (80.0, 200.0),
    "soft_tissue": (40.0, 380.0),
    "stroke": (32.0, 8.0),
    "bone": (600.0, 2800.0),
}


def _window_bounds(windows):
    """Lower bounds and inverse widths, as float32 arrays, of ``windows``."""
    if isinstance(windows, str) or len(windows) == 0:
        raise ValueError(
            f"windows={windows!r} must be a non-empty sequence of windows, each a "
            f"(center, width) pair in HU or a preset name among "
            f"{sorted(WINDOW_PRESETS)}, e.g. windows=('brain', (80, 200))."
        )
    lows, inverse_widths = [], []
    for k, window in enumerate(windows):
        if isinstance(window, str):
            if window not in WINDOW_PRESETS:
                raise ValueError(
                    f"windows[{k}]={window!r} is not a known window; use one of "
                    f"{sorted(WINDOW_PRESETS)} or a (center, width) pair in HU."
                )
            window = WINDOW_PRESETS[window]
        try:
            center, width = window
        except (TypeError, ValueError):
            raise ValueError(
                f"windows[{k}]={window!r} must be a (center, width) pair in HU "
                "or a preset name, e.g. (40, 80) or 'brain'."
            ) from None
        if not all(isinstance(v, Real) and np.isfinite(v) for v in (center, width)):
            raise ValueError(
                f"windows[{k}]={window!r}: center and width must be finite numbers."
            )
        if width <= 0:
            raise ValueError(
                f"windows[{k}]={window!r} has width {width}; the width must be "
                "positive."
            )
        lows.append(center - width / 2)
        inverse_widths.append(1 / width)
    return np.array(lows, np.float32), np.array(inverse_widths, np.float32)


def _apply_windows(image, lows, inverse_widths, out):
    """Write the windowed channels of a 2-D ``image`` into ``out[..., k]``."""
    scratch = np.empty(image.shape, dtype=np.float32)
    for k in range(len(lows)):
        np.subtract(image, lows[k], out=scratch)
        scratch *= inverse_widths[k]
        np.maximum(scratch, 0, out=scratch)
        np.minimum(scratch, 1, out=scratch)
        out[..., k] = scratch
    return out


def _as_hu_image(image, index):
    """A finite 2-D float32 image of Hounsfield units, or a clear error."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2 or image.dtype.kind not in "uif":
        channels = (
            f" with {image.shape[2]} channels" if image.ndim == 3 else ""
        )
        raise ValueError(
            f"Image {index} has shape {image.shape}{channels} and dtype "
            f"{image.dtype}; CTWindow needs one channel of Hounsfield units per "
            "image, (H, W) or (H, W, 1). RGB/RGBA images (such as PNG exports) "
            "are already windowed: pass them to ResizeRescale directly."
        )
    image = image.astype(np.float32, copy=False)
    if not np.isfinite(image).all():
        raise ValueError(
            f"Image {index} contains NaN or infinity; CTWindow needs finite "
            "Hounsfield units. Replace them first, e.g. with "
            "np.nan_to_num(image, nan=-1000.0) for air."
        )
    return image


def _as_batch(X):
    """``X`` as a checked (n, H, W) array, or as a list of images.

    A 2-D array (or a list of equal-length 1-D rows) is a batch of
    flattened slices, one pixel row each, as ResizeRescale reads it.
    """
    X = image_batch(
        X, estimator_name="CTWindow",
        accepted="slices in Hounsfield units as a dense array of shape "
        "(n, H, W) or a list of 2-D arrays",
    )
    if not isinstance(X, np.ndarray):
        return X
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if X.ndim != 3:
        raise ValueError(
            "CTWindow takes an array of shape (n, H, W) or (n, H, W, 1) in "
            f"Hounsfield units; got shape {X.shape}. RGB/RGBA images (such as "
            "PNG exports) are already windowed: pass them to ResizeRescale "
            "directly."
        )
    return X


class CTWindow(TransformerMixin, BaseEstimator):
    """Map Hounsfield units to display windows, one channel per window.

    Radiologists read head CT through several windows at once: a narrow brain
    window in which fresh blood stands out from brain tissue, a subdural
    window that separates a thin collection from the skull, and a wide soft
    tissue window. Each window ``(center, width)`` maps
    ``[center - width/2, center + width/2]`` linearly onto ``[0, 1]`` and
    clips everything outside, and becomes one channel of the output. The
    transformer is stateless.

    Parameters
    ----------
    windows : sequence of (float, float) or str, \
            default=((40, 80), (80, 200), (40, 380))
        Windows as ``(center, width)`` pairs in Hounsfield units (HU), or
        names of presets: ``"brain"`` (40, 80), ``"subdural"`` (80, 200),
        ``"soft_tissue"`` (40, 380), ``"stroke"`` (32, 8), ``"bone"``
        (600, 2800). The default is brain, subdural, soft tissue.

    n_jobs : int or None, default=None
        Threads that window images in parallel (NumPy releases the GIL in
        its arithmetic), as in :class:`~hemoclf.preprocessing.ResizeRescale`.
        ``None`` uses every core, up to 8; ``1`` works in the calling
        thread; negative values count back from the number of cores.
        Batches of fewer than 16 images always use one thread.

    Attributes
    ----------
    n_features_in_ : int
        Size of the second axis of ``X`` when ``fit`` received an array;
        not set for a list of images.

    See Also
    --------
    hemoclf.preprocessing.ResizeRescale : Resize the windowed images to one
        size; use ``scale=1`` after this transformer.
    hemoclf.datasets.read_image : Read DICOM or NIfTI files in HU.

    Notes
    -----
    The input must be in HU, as :func:`~hemoclf.datasets.read_image` returns
    for DICOM and NIfTI files. PNG or JPEG exports of CT are already
    windowed and cannot be windowed again; an RGB input is an error.

    Examples
    --------
    >>> import numpy as np
    >>> from hemoclf.preprocessing import CTWindow
    >>> hu = np.array([[[-1000.0, 0.0, 40.0, 80.0, 1000.0]]])  # (1, 1, 5)
    >>> CTWindow(windows=["brain", (40, 380)]).fit_transform(hu)[0, 0]
    array([[0.        , 0.        ],
           [0.        , 0.39473686],
           [0.5       , 0.5       ],
           [1.        , 0.6052632 ],
           [1.        , 1.        ]], dtype=float32)
    """

    _parameter_constraints = {"windows": ["array-like"], "n_jobs": [Integral, None]}

    def __init__(self, windows=((40, 80), (80, 200), (40, 380)), *, n_jobs=None):
        self.windows = windows
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.input_tags.allow_nan = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the windows and, for an array, record its shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, 1), \
                or list of 2-D arrays
            Images in Hounsfield units.

        y : None
            Ignored.

        Returns
        -------
        self : CTWindow
        """
        _window_bounds(self.windows)
        if isinstance(_as_batch(X), np.ndarray):
            validate_data(self, X, reset=True, allow_nd=True, dtype="numeric")
        return self

    def transform(self, X):
        """Window each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, 1), \
                or list of 2-D arrays
            Images in Hounsfield units. A list may hold images of different
            sizes. A 2-D array is read as one row of pixels per sample.

        Returns
        -------
        X_out : ndarray of shape (n_samples, H, W, n_windows), float32, or \
                list of ndarray of shape (H, W, n_windows)
            Windowed images in [0, 1]: an array for an array input, a list
            for a list input.
        """
        self._validate_params()
        lows, inverse_widths = _window_bounds(self.windows)
        images = _as_batch(X)
        n_windows = len(lows)
        if isinstance(images, np.ndarray):
            out = np.empty(images.shape + (n_windows,), dtype=np.float32)
        else:
            out = [None] * len(images)

        def one(i):
            image = _as_hu_image(images[i], i)
            target = out[i] if isinstance(out, np.ndarray) else np.empty(
                image.shape + (n_windows,), dtype=np.float32
            )
            out[i] = _apply_windows(image, lows, inverse_widths, target)

        for_each_image(one, len(images), self.n_jobs)
        return out
