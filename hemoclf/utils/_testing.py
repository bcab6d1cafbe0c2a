"""Helpers for hemoclf's own test suite and benchmarks.

Kept inside the package, as scikit-learn keeps ``sklearn.utils._testing``, so
that tests, benchmarks and doctests share one definition of the tiny settings
that keep them fast.
"""

import numpy as np

# Tiny network settings: one fit of a few dozen 16x16 images costs about a
# second on two CPU cores, most of it graph tracing.
TINY_CNN_PARAMS = {
    "filters": (4, 4, 4),
    "dense_units": 4,
    "epochs": 2,
    "batch_size": 16,
    "random_state": 0,
}


def make_square_images(n_samples=40, size=16, channels=1, *, seed=0):
    """Tiny learnable images: positives carry a bright square, negatives not.

    Parameters
    ----------
    n_samples : int
        Number of images; labels alternate 0, 1, 0, 1, ...
    size : int
        Height and width.
    channels : int
        Number of channels.
    seed : int
        Seed of the noise and square positions.

    Returns
    -------
    X : ndarray of shape (n_samples, size, size, channels), float32
    y : ndarray of shape (n_samples,), int
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(0.3, 0.1, size=(n_samples, size, size, channels))
    X = X.astype(np.float32)
    y = np.arange(n_samples) % 2
    side = max(1, size // 3)
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, size - side + 1, size=2)
        X[i, r : r + side, c : c + side] += 0.6
    return X, y


def bench_full():
    """Whether the benchmarks run their full sizes (``HEMOCLF_BENCH_FULL=1``)."""
    import os

    return os.environ.get("HEMOCLF_BENCH_FULL") == "1"


def load_script(path):
    """Import the Python file at ``path`` as a module named after it.

    For the scripts in ``benchmarks/``, which are not a package and are
    run from the command line.
    """
    import importlib.util
    from pathlib import Path

    path = Path(path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
