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

Keras also draws the default seed of every initializer and ``SeedGenerator``
from Python's process-wide ``random`` module. Any other thread drawing from
that module during a seeded ``fit`` (a Dask worker's event loop does, every
few milliseconds) shifts those draws: the same ``random_state`` then gives
other initial weights, now and then a network that is dead from the start.
Inside ``keras_seed`` Keras's draws therefore come from a generator of the
calling thread's own, seeded like the global one, so a seeded fit gives the
same numbers whatever other threads do.
"""

import random
import threading
from contextlib import contextmanager

import numpy as np


class _ThreadSeededRandom:
    """Stands in for the ``random`` module inside Keras's seed_generator.

    In a thread inside :func:`keras_seed` it draws from that thread's own
    ``random.Random``; everywhere else from the ``random`` module itself.
    """

    def __init__(self):
        self._local = threading.local()

    @property
    def generator(self):
        return getattr(self._local, "generator", None)

    @generator.setter
    def generator(self, value):
        self._local.generator = value

    def __getattr__(self, name):
        generator = self.generator
        return getattr(random if generator is None else generator, name)


_KERAS_RANDOM = _ThreadSeededRandom()


def _keras_random():
    """Route Keras's default-seed draws through ``_KERAS_RANDOM`` (once).

    Raises a clear error if Keras no longer draws its default seeds from a
    module-level ``python_random``: seeded fits would not be reproducible
    under concurrent threads, so it must not pass silently.
    """
    from keras.src.random import seed_generator

    current = getattr(seed_generator, "python_random", None)
    if current is _KERAS_RANDOM:
        return _KERAS_RANDOM
    if current is not random:
        raise RuntimeError(
            "keras.src.random.seed_generator no longer draws its default seeds "
            "from Python's random module (python_random), so hemoclf cannot "
            "make seeded training independent of other threads; update "
            "hemoclf._seeding for this Keras version."
        )
    seed_generator.python_random = _KERAS_RANDOM
    return _KERAS_RANDOM


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
    keras_random = _keras_random()
    outer_generator = keras_random.generator
    try:
        keras.utils.set_random_seed(int(seed))
        # The same stream as random.seed(seed) gives, but this thread's own.
        keras_random.generator = random.Random(int(seed))
        yield
    finally:
        keras_random.generator = outer_generator
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
