"""Input validation shared by the estimators."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array


def as_image_batch(X, image_shape=None, *, estimator_name="the estimator"):
    """Give a validated array the 4-D ``(n, height, width, channels)`` layout.

    Parameters
    ----------
    X : ndarray of shape (n, H, W, C), (n, H, W) or (n, n_features)
        Finite numeric array, already checked by ``validate_data``.
    image_shape : tuple of int or None
        ``(H, W)`` or ``(H, W, C)`` used to unflatten a 2-D ``X``. With
        ``None`` a 2-D array is read as one row of pixels per sample, shape
        ``(n, 1, n_features, 1)``.
    estimator_name : str
        Name used in error messages.

    Returns
    -------
    X : ndarray of shape (n, H, W, C)
    """
    if X.ndim > 4:
        raise ValueError(
            f"{estimator_name} takes images as an array of shape (n, H, W, C), "
            f"(n, H, W) or (n, H*W*C); got an array of rank {X.ndim} with shape "
            f"{X.shape}. Stack volumes into 2-D slices first."
        )
    if X.ndim == 2:
        if image_shape is None:
            return X.reshape(X.shape[0], 1, X.shape[1], 1)
        shape = tuple(int(s) for s in image_shape)
        if len(shape) not in (2, 3) or int(np.prod(shape)) != X.shape[1]:
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} does not match the "
                f"{X.shape[1]} features of each row of X: it must be (H, W) or "
                f"(H, W, C) with H*W*C == {X.shape[1]}."
            )
        if len(shape) == 2:
            shape = shape + (1,)
        return X.reshape((X.shape[0],) + shape)
    if image_shape is not None:
        expected = tuple(int(s) for s in image_shape)
        got = X.shape[1:] if X.ndim == 4 else X.shape[1:] + (1,)
        if expected not in (got, got[:2]):
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} does not match the images in "
                f"X of shape {X.shape}; set image_shape=None for image arrays."
            )
    if X.ndim == 3:
        return X[..., np.newaxis]
    return X


def image_batch(X, *, estimator_name, accepted):
    """``X`` as a checked array or as a list of per-image arrays.

    Shared by the image transformers. An array (or an array-like such as a
    DataFrame) is checked by ``check_array``; a 2-D array, or a list of
    equal-length 1-D rows, is a batch of flattened images, one pixel row each,
    and comes back as ``(n, 1, F)``. Any other sequence comes back as a list
    of arrays, for the caller to check image by image.

    Parameters
    ----------
    X : array-like, sparse matrix or sequence of arrays
        The input.
    estimator_name : str
        Name used in error messages.
    accepted : str
        What the estimator takes, completing "pass ..." in error messages.
    """
    if sp.issparse(X):
        raise TypeError(
            f"{estimator_name} does not take sparse input: pass {accepted}."
        )
    if hasattr(X, "iloc") or (
        not isinstance(X, (list, tuple)) and hasattr(X, "__array__")
    ):
        X = np.asarray(X)
    elif isinstance(X, (list, tuple)) and X and all(np.ndim(x) == 1 for x in X):
        X = np.asarray(X)
    if not isinstance(X, np.ndarray):
        try:
            return [np.asarray(image) for image in X]
        except TypeError as exc:
            raise TypeError(
                f"{estimator_name} takes {accepted}; got {type(X).__name__}."
            ) from exc
    X = check_array(X, allow_nd=True, dtype="numeric", input_name="X")
    return X[:, np.newaxis, :] if X.ndim == 2 else X


def for_each_image(function, n_images, n_jobs):
    """Call ``function(i)`` for every image index, in threads where it pays.

    ``n_jobs=None`` uses every core up to 8, ``1`` the calling thread, and a
    negative value counts back from the number of cores, as in joblib.
    Batches of fewer than 16 images always run in the calling thread. The
    image kernels used (Pillow's resampling, NumPy's ufuncs) release the GIL,
    so threads scale.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    cores = os.cpu_count() or 1
    if n_images < 16:
        n_threads = 1
    elif n_jobs is None:
        n_threads = min(cores, 8)
    else:
        n_threads = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    if n_threads > 1:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(function, range(n_images)))
    else:
        for i in range(n_images):
            function(i)
