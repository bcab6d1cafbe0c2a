"""Shared fixtures: the data folder, fixed seeds and small synthetic images."""

import os
from pathlib import Path

import numpy as np
import pytest

from hemoclf.utils._testing import TINY_CNN_PARAMS, make_square_images


def pytest_configure(config):
    # Under pytest-xdist every worker runs its own TensorFlow: one op thread
    # each keeps the workers from fighting over the cores. This must happen
    # before TensorFlow runs its first op.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)

DATA_ENV = "HEMOCLF_DATA"


def _data_root():
    value = os.environ.get(DATA_ENV)
    return Path(value).resolve() if value else None


@pytest.fixture(scope="session")
def data_root():
    """The shared data folder named by ``HEMOCLF_DATA``; skips when unset."""
    root = _data_root()
    if root is None or not root.is_dir():
        pytest.skip(f"set {DATA_ENV} to the folder holding head_ct/ and cq500_dicom/")
    return root


@pytest.fixture(scope="session")
def head_ct_dir(data_root):
    path = data_root / "head_ct"
    if not (path / "labels.csv").is_file():
        pytest.skip(f"{path} has no labels.csv")
    return path


@pytest.fixture(scope="session")
def cq500_dir(data_root):
    path = data_root / "cq500_dicom"
    if not path.is_dir():
        pytest.skip(f"{path} does not exist")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)



@pytest.fixture(scope="session")
def square_images():
    return make_square_images(48, 16, 1, seed=0)


@pytest.fixture(scope="module")
def fitted_tiny(square_images):
    """A module-scoped fitted tiny classifier on the square images."""
    from hemoclf import HemorrhageCNNClassifier

    X, y = square_images
    return HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y)
