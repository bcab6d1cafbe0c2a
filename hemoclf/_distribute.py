"""Scaling out on engines people already run: Dask workers and tf.distribute.

Two concerns live here:

- :func:`limit_tensorflow_threads` gives a Dask worker plugin that caps the
  threads TensorFlow, OpenMP and BLAS use in each worker, so that several
  workers on one machine do not each start a thread per core;
- the helpers behind ``HemorrhageCNNClassifier(distribute_strategy=...)``:
  turning the parameter into a ``tf.distribute.Strategy``, entering its
  scope, and predicting with a network trained on several replicas.

``distributed`` is an optional dependency (``pip install hemoclf[dask]``);
the plugin class is created on first use (PEP 562 module ``__getattr__``)
so that importing hemoclf never imports it. The class is still found by
name, ``hemoclf._distribute.TensorFlowThreadLimit``, so the plugin pickles
by reference to the workers.
"""

import functools
import os
import weakref
from contextlib import nullcontext
from numbers import Integral

from sklearn.utils._param_validation import Interval, validate_params

from ._inference import predict_scores as _predict_scores

THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                    "OMP_NUM_THREADS")

STRATEGIES = ("mirrored",)


# --------------------------------------------------------------- Dask workers


def _apply_thread_limit(n_threads, worker_name):
    """Cap TensorFlow's, OpenMP's and BLAS's threads in this process."""
    from threadpoolctl import threadpool_limits

    for name in THREAD_VARIABLES:
        os.environ[name] = str(n_threads)
    threadpool_limits(limits=n_threads)  # BLAS/OpenMP already loaded

    import tensorflow as tf

    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(n_threads)
        threading.set_inter_op_parallelism_threads(n_threads)
    except RuntimeError as exc:  # TensorFlow already initialised
        current = (threading.get_intra_op_parallelism_threads(),
                   threading.get_inter_op_parallelism_threads())
        if current != (n_threads, n_threads):
            raise RuntimeError(
                f"Dask worker {worker_name!r} started TensorFlow before the "
                f"thread limit could be applied (intra-op, inter-op threads: "
                f"{current}, wanted {n_threads}). Register "
                "hemoclf.limit_tensorflow_threads() right after creating the "
                "Client, before submitting work, or restart the workers "
                "(client.restart())."
            ) from exc

    from ._augmentation import _layer_class

    _layer_class()  # registers hemoclf's Keras layer: fitted models unpickle


@functools.cache
def _thread_limit_class():
    from distributed import WorkerPlugin

    class TensorFlowThreadLimit(WorkerPlugin):
        """Dask worker plugin: at most ``n_threads`` TensorFlow threads.

        Made by :func:`hemoclf.limit_tensorflow_threads`, which documents it.
        """

        idempotent = True

        def __init__(self, n_threads):
            self.n_threads = n_threads
            self.name = f"hemoclf-tensorflow-threads-{n_threads}"

        def setup(self, worker):
            _apply_thread_limit(self.n_threads, getattr(worker, "name", None))

        def __repr__(self):
            return f"{type(self).__name__}(n_threads={self.n_threads})"

    # Found by name in this module (see __getattr__): pickles by reference.
    TensorFlowThreadLimit.__module__ = __name__
    TensorFlowThreadLimit.__qualname__ = "TensorFlowThreadLimit"
    return TensorFlowThreadLimit


def __getattr__(name):
    if name == "TensorFlowThreadLimit":
        return _thread_limit_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@validate_params(
    {"n_threads": [Interval(Integral, 1, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def limit_tensorflow_threads(n_threads=1):
    """A Dask worker plugin that caps the threads TensorFlow uses per worker.

    TensorFlow sizes its thread pools to the machine's cores. Several Dask
    workers on one machine each do so, and then fight over the cores: a
    search that should run ``n_workers`` fits at once runs slower than one
    fit at a time. Register this plugin on the client before submitting
    work; in every worker, present and future, it

    - sets ``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS`` and
      ``OMP_NUM_THREADS`` (inherited by processes the worker starts);
    - caps the BLAS and OpenMP pools already loaded (``threadpoolctl``);
    - imports TensorFlow and sets its intra-op and inter-op thread counts
      (``tf.config.threading``), which only works before TensorFlow has run
      anything in that worker;
    - registers hemoclf's Keras layers, so that fitted classifiers sent to
      the worker unpickle there even before it has built a network.

    Give each worker ``n_threads`` cores: for ``threads_per_worker=1``
    workers, the default ``n_threads=1``; on a machine of ``C`` cores,
    ``n_workers * n_threads`` should not exceed ``C``.

    Parameters
    ----------
    n_threads : int, default=1
        Threads of each of TensorFlow's two pools (intra-op: inside one
        operation; inter-op: operations in parallel), and of BLAS/OpenMP.

    Returns
    -------
    plugin : distributed.WorkerPlugin
        Pass it to ``client.register_plugin``. Registering the same
        ``n_threads`` twice is harmless.

    Raises
    ------
    RuntimeError
        From ``client.register_plugin``, when a worker already initialised
        TensorFlow with other thread counts (restart the workers first).

    See Also
    --------
    hemoclf.HemorrhageCNNClassifier : Its ``distribute_strategy`` trains
        one network on several devices.

    Notes
    -----
    Needs ``distributed`` (``pip install "hemoclf[dask]"``). Setting up a
    worker imports TensorFlow there, which takes a few seconds; the first
    task then starts at once.

    Examples
    --------
    >>> from hemoclf import limit_tensorflow_threads
    >>> plugin = limit_tensorflow_threads(1)
    >>> plugin
    TensorFlowThreadLimit(n_threads=1)
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    ... # doctest: +SKIP
    >>> client.register_plugin(plugin)  # doctest: +SKIP
    """
    try:
        cls = _thread_limit_class()
    except ImportError as exc:
        raise ImportError(
            "limit_tensorflow_threads needs Dask's 'distributed' package; "
            'install it with: pip install "hemoclf[dask]".'
        ) from exc
    return cls(int(n_threads))


# ------------------------------------------------------------ tf.distribute


def resolve_strategy(spec):
    """The ``tf.distribute.Strategy`` named by ``distribute_strategy``.

    ``None`` stays ``None``; ``"mirrored"`` builds a new
    ``tf.distribute.MirroredStrategy()`` over all local GPUs (all logical
    CPUs when there is no GPU); a strategy object is returned as it is.
    """
    if spec is None or not isinstance(spec, str):
        return spec
    import tensorflow as tf

    if spec == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ValueError(
        f"distribute_strategy={spec!r} is not known; use one of {STRATEGIES}, "
        "a tf.distribute.Strategy or None."
    )


def strategy_scope(strategy):
    """``strategy.scope()``, or a context that does nothing for ``None``."""
    return nullcontext() if strategy is None else strategy.scope()


def _replicas(model):
    strategy = getattr(model, "distribute_strategy", None)
    return 1 if strategy is None else strategy.num_replicas_in_sync


# Single-device copies of networks trained on several replicas, by network.
_SINGLE_DEVICE = weakref.WeakKeyDictionary()


def single_device_copy(model):
    """A single-device network with ``model``'s current weights.

    A network built under a ``MirroredStrategy`` keeps one copy of each
    variable per replica, and Keras's batch normalisation keeps its moving
    statistics per replica too (synchronised on read, as their mean). Run
    through ``Model.predict_on_batch``, every replica scores the whole
    batch and the outputs are concatenated; through ``Model.predict``, the
    rows are split across replicas, each with its own moving statistics,
    so an image's probability depends on its position in the batch.
    Scoring a single-device copy with the weights as read in cross-replica
    context (the mean of the replicas' moving statistics, exactly what a
    saved or pickled model holds) gives every image one probability.

    The copy's structure is cached per network; its weights are refreshed
    from ``model`` on every call, so continued training is seen.
    """
    import keras

    copy = _SINGLE_DEVICE.get(model)
    if copy is None:
        copy = keras.models.clone_model(model)
        _SINGLE_DEVICE[model] = copy
    copy.set_weights(model.get_weights())
    return copy


def predict_scores(model, X, batch_size=None, check=None):
    """:func:`hemoclf._inference.predict_scores`, for replicated networks too.

    A network trained on one device is scored as it is; one trained on
    several replicas is scored through :func:`single_device_copy`.
    """
    if _replicas(model) > 1:
        model = single_device_copy(model)
    return _predict_scores(model, X, batch_size, check)
