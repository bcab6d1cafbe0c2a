"""Seeding of Keras and TensorFlow that leaves the process as it found it.

Keras draws weight initialisations, dropout masks, augmentation parameters and
the per-epoch shuffling of ``Model.fit`` from process-wide generators (Python's
``random``, NumPy's legacy global state, TensorFlow's global seed and Keras's
global ``SeedGenerator``). To make one ``fit`` reproducible we seed all of them
for the duration of the call and restore every one of them afterwards.

scikeras 0.13 does the same through ``random_state`` but also switches on
TensorFlow's op determinism and does not always switch it off again, after
which any unseeded TensorFlow random op elsewhere in the process raises
"Random ops require a seed to be set when determinism is enabled". hemoclf
therefore never passes ``random_state`` to scikeras and seeds here instead.
"""

import random
from contextlib import contextmanager

import numpy as np


def _tf_state():
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    return context.global_seed(), config.is_op_determinism_enabled()


@contextmanager
def keras_seed(seed):
    """Seed Python, NumPy, TensorFlow and Keras inside a ``with`` block.

    Parameters
    ----------
    seed : int or None
        The seed. ``None`` makes the block a no-op (unseeded, non-reproducible
        training that leaves every generator as it is).

    Notes
    -----
    On exit the Python and NumPy generator states, TensorFlow's global seed,
    Keras's global seed and ``SeedGenerator`` and TensorFlow's op-determinism
    flag are put back exactly as they were on entry.
    """
    if seed is None:
        yield
        return

    import keras
    import tensorflow as tf
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    from tensorflow.python.framework import config

    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002
    tf_seed, determinism = _tf_state()
    keras_global_seed = global_state.get_global_attribute(GLOBAL_RANDOM_SEED)
    keras_generator = global_state.get_global_attribute(GLOBAL_SEED_GENERATOR)
    try:
        keras.utils.set_random_seed(int(seed))
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
        tf.random.set_seed(tf_seed)
        global_state.set_global_attribute(GLOBAL_RANDOM_SEED, keras_global_seed)
        global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, keras_generator)
        if config.is_op_determinism_enabled() != determinism:
            if determinism:
                config.enable_op_determinism()
            else:
                config.disable_op_determinism()
