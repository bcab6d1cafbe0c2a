"""The hemorrhage classifier: a CNN trained through scikeras.

Why delegation rather than a subclass of ``scikeras.wrappers.KerasClassifier``
------------------------------------------------------------------------------
scikeras 0.13 (its last release) predates scikit-learn's ``__sklearn_tags__``
protocol. On scikit-learn 1.6 and later its ``KerasClassifier`` reports
``estimator_type=None``: ``is_classifier`` is false, ``scoring="roc_auc"``
silently yields ``nan`` and ``TunedThresholdClassifierCV`` refuses it. A
subclass can override ``__sklearn_tags__``, but it still inherits scikeras's
mixin order (``BaseWrapper`` left of ``ClassifierMixin``, an MRO error if
reversed), its ``_more_tags`` and its ``**kwargs`` constructor with custom
``__setattr__``/``_get_param_names`` machinery, which fail scikit-learn's
common checks in ways no subclass can repair.

:class:`HemorrhageCNNClassifier` is therefore an estimator of our own
(``ClassifierMixin, BaseEstimator``, explicit parameters, validation in
``fit``) that hands the training itself to a ``KerasClassifier`` it builds in
``fit`` and keeps as ``keras_estimator_``. Everything scikit-learn sees
(tags, parameters, classes, validation) is defined here, in one place, and
``tests/test_classifier_contract.py`` pins each behaviour we rely on so that
a change in scikeras or scikit-learn fails loudly.

Inference does not go through scikeras either: ``predict_proba`` translates
the trained network into an ONNX graph and scores batches with ONNX Runtime
(see :mod:`hemoclf._onnx`), or, for a network the translation does not
cover, runs Keras's compiled predict step on batches directly (see
:mod:`hemoclf._inference`). Both are several times faster on CPU than
``Model.predict`` and give the same numbers up to float32 rounding.
"""

import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._augmentation import FILL_MODES
from ._distribute import (
    STRATEGIES,
    predict_scores,
    resolve_strategy,
    strategy_scope,
)
from ._models import (
    ARCHITECTURES,
    POOLINGS,
    RECIPE_PARAMS,
    STEPS_PER_EXECUTION,
    build_model,
)
from ._seeding import keras_seed
from ._validation import as_image_batch

_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin",
                "on_batch_end")


def _watches_batches(callback):
    """Whether a Keras callback overrides a training-batch hook."""
    import keras

    base = keras.callbacks.Callback
    for hook in _BATCH_HOOKS:
        method = getattr(callback, hook, None)
        # A bound method, or a function set on the instance (LambdaCallback).
        if getattr(method, "__func__", method) is not getattr(base, hook):
            return True
    return False


class _KerasLayers:
    """Pickles as a call that registers hemoclf's custom Keras layer."""

    def __reduce__(self):
        from ._augmentation import _layer_class

        return _layer_class, ()


class HemorrhageCNNClassifier(ClassifierMixin, BaseEstimator):
    """Convolutional network that tells hemorrhage from normal head CT images.

    A binary classifier over images. It builds the Keras network for the
    image shape it sees in ``fit``, trains it through scikeras's
    ``KerasClassifier`` and predicts with a compiled forward pass. The
    positive class (``classes_[1]``, the larger label in sorted order, e.g.
    ``1`` or ``"hemorrhage"`` against ``"normal"``) is the one whose
    probability the network outputs.

    Parameters
    ----------
    architecture : {"default", "paper"} or callable, default="default"
        The recipe: the network and the training settings it was measured
        with, which every hyper-parameter left at ``None`` below takes.

        - ``"default"``: hemoclf's compact CNN (see
          :func:`hemoclf._models.build_default_cnn`): a 5x5 stride-2 stem
          and four stages of 3x3 convolution, batch normalisation, ReLU and
          max pooling (16, 16, 32, 64, 128 filters), global max pooling
          (a small focal bleed is not averaged away), dropout 0.3, a sigmoid
          output; AdamW (learning rate 2e-3, weight decay 1e-4) with a
          cosine decay of the learning rate over 120 epochs of batches of
          16; the paper's augmentation plus a random gamma correction
          (``gamma=0.4``). Its preprocessing (see
          :func:`hemoclf.make_hemorrhage_pipeline`) crops each image to
          the head and gives 128x128 gray images with the aspect ratio
          kept.
        - ``"paper"``: the CNN of the founding paper, exactly: three 3x3
          stride-2 ReLU convolutions (32, 64, 64 filters), max pooling after
          the first two, global average pooling, a 64-unit dense layer,
          dropout 0.4 and a sigmoid output; Adam at a constant 1e-3, 60
          epochs of batches of 32, the paper's augmentation.
        - a callable is called as ``architecture(input_shape, filters=...,
          kernel_size=..., dense_units=..., dropout=..., augmentation=...)``
          and must return an uncompiled ``keras.Model`` with one sigmoid
          output; it takes the ``"default"`` training settings.

        :func:`hemoclf.make_hemorrhage_pipeline` pairs each recipe with its
        preprocessing.

    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(H, W, C)`` of the images when ``X`` holds flattened
        images, one per row (as scikit-learn's digits are stored). With
        ``None``, a 2-D ``X`` is read as one row of pixels per sample, and
        3-D ``(n, H, W)`` and 4-D ``(n, H, W, C)`` arrays are used as they
        are.

    filters : tuple of int, default=None
        Filters of the convolutions: three for ``"paper"``; the stem's then
        each stage's for ``"default"``. ``None``: (32, 64, 64) and
        (16, 16, 32, 64, 128).

    kernel_size : int, default=None
        Size of the square convolution kernels (``None``: 3).

    dense_units : int, default=None
        Width of the hidden dense layer; ``0`` for none (``"default"``
        only). ``None``: 64 for ``"paper"``, 0 for ``"default"``.

    dropout : float, default=None
        Dropout rate before the output layer. ``None``: 0.4 for
        ``"paper"``, 0.3 for ``"default"``.

    pooling : {"avg", "max", "avgmax"}, default=None
        Global pooling of the last feature map: its average, its maximum
        (a small focal bleed is not diluted by the rest of the slice), or
        both concatenated. ``None``: the recipe's. A callable
        ``architecture`` receives ``pooling=`` only when it is set.

    optimizer : str or keras optimizer class, default=None
        Optimizer, by Keras name (``"adam"``, ``"adamw"``, ``"sgd"``, ...)
        or class. ``None``: ``"adam"`` for ``"paper"``, ``"adamw"`` for
        ``"default"``.

    learning_rate : float, default=None
        (Initial) learning rate of the optimizer. ``None``: 1e-3 for
        ``"paper"``, 2e-3 for ``"default"``.

    weight_decay : float, default=None
        Decoupled weight decay of the optimizer; ``0`` for none. ``None``:
        0 for ``"paper"``, 1e-4 for ``"default"``.

    learning_rate_schedule : {"constant", "cosine"}, default=None
        ``"cosine"`` decays the learning rate from ``learning_rate`` towards
        zero along half a cosine over the epochs of each ``fit``.
        ``None``: ``"constant"`` for ``"paper"``, ``"cosine"`` for
        ``"default"``.

    epochs : int, default=None
        Number of passes over the training data (``None``: 60).

    batch_size : int, default=None
        Images per gradient step. ``None``: 32 for ``"paper"``, 16 for
        ``"default"``.

    validation_split : float, default=0.0
        Fraction of the training data held out, stratified by class and
        drawn with ``random_state``, to report validation loss and metrics
        in ``history_`` and to drive callbacks such as early stopping.
        Unlike Keras's own ``validation_split``, which takes the last rows,
        the held-out rows are a random stratified sample.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, keyed by the labels of ``y``.
        ``"balanced"`` weights classes inversely to their frequency. Raising
        the weight of the hemorrhage class trades specificity for
        sensitivity.

    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks for training, e.g. ``EarlyStopping`` together with
        ``validation_split``. Training runs up to 32 steps per call of
        Keras's compiled train function (the same weights as one step per
        call, with less overhead between small batches); when a callback
        overrides a training-batch hook (``on_train_batch_end``, ...),
        and under ``distribute_strategy``, every step is its own call, so
        the hook sees each batch.

    augment : bool, default=True
        Whether to augment the training images on the fly. The
        augmentation layers act only while training; ``predict_proba`` sees
        the images as they are. The transformations below are each
        switched off by ``False`` or ``0``; both recipes use the paper's
        settings, and ``"default"`` adds a random gamma correction.

    flip_horizontal : bool, default=True
        Random left-right flips.

    flip_vertical : bool, default=True
        Random up-down flips.

    rotation : float, default=None
        Largest random rotation, in degrees (``None``: 15).

    zoom : float, default=None
        Largest relative random zoom in or out (``None``: 0.05).

    shear : float, default=None
        Largest random counter-clockwise shear, as a fraction of the image
        size (``None``: 0.1).

    shift : float, default=None
        Largest random width and height shift, as a fraction of the image
        size (``None``: 0.05).

    gamma : float, default=None
        Largest random gamma correction of the intensities, as the natural
        log of the exponent: each training image's intensities ``x`` (taken
        as [0, 1]) become ``x ** exp(u)``, ``u`` uniform in ``[-gamma,
        gamma]``, so that the network does not depend on how bright or
        contrasted a rendering is. ``None``: 0.4 for ``"default"``
        (exponents from 0.67 to 1.49), 0 (off) for ``"paper"``, which does
        not use it.

    fill_mode : {"constant", "reflect", "wrap", "nearest"}, default="constant"
        How the augmentation fills points outside the image; ``"constant"``
        fills with zeros.

    test_time_augmentation : bool, default=None
        Average the predicted probability over the image and its flips (the
        flips enabled above). ``None``: false for both named recipes. It
        multiplies the cost of prediction by the number of views (up to
        four).

    warm_start : bool, default=False
        When true and the classifier is fitted, ``fit`` continues training
        the existing network for ``epochs`` more epochs instead of building
        a new one, and appends to ``history_``.

    distribute_strategy : "mirrored", tf.distribute.Strategy or None, \
            default=None
        Train one network on several devices (data parallelism): the
        network is built, compiled and trained inside ``strategy.scope()``,
        each batch split across the replicas. ``"mirrored"`` builds a
        ``tf.distribute.MirroredStrategy()`` in ``fit``, over all local GPUs
        (all logical CPU devices when there is none); a strategy object is
        used as it is. Prefer the string: it clones, pickles and travels to
        joblib or Dask workers, where the strategy is built on the worker's
        own devices. A strategy object is cloned by deep copy but cannot be
        pickled: a pickled classifier (one sent to another process, too)
        holds ``None`` in its place, with a warning. ``predict_proba``
        scores on one device with the replicas' weights (batch
        normalisation's moving statistics averaged over the replicas, as a
        saved model holds them). With ``warm_start``, training continues on
        the devices the network was built on. ``None`` trains on
        TensorFlow's default device.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, augmentation, shuffling and
        the validation split. With an int, two fits on the same data in one
        process give identical ``predict_proba`` on the CPU (tested). Across
        processes, thread counts, machines, TensorFlow versions or on GPUs
        the float arithmetic may be ordered differently: fits then agree
        closely but not bit for bit (differences of about 1e-5 were seen
        between Dask workers). TensorFlow's op determinism is not switched
        on. The process-wide generators seeded during ``fit`` are restored
        when it returns. With ``None`` training is not reproducible.

    verbose : int, default=0
        Keras's training output: 0 silent, 1 progress bar, 2 one line per
        epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive
        (hemorrhage) class.

    resolved_params_ : dict
        The hyper-parameters the network was built and trained with: the
        recipe's values with those given explicitly put in their place.

    n_features_in_ : int
        Size of the second axis of ``X`` seen during ``fit``.

    image_shape_ : tuple of int
        ``(H, W, C)`` of the images the network was built for.

    model_ : keras.Model
        The trained network.

    history_ : dict of str to list of float
        Loss and accuracy per epoch (and their ``val_`` counterparts with
        ``validation_split``), as recorded by Keras.

    keras_estimator_ : scikeras.wrappers.KerasClassifier
        The scikeras estimator that trained ``model_``.

    See Also
    --------
    hemoclf.ResizeRescale : Turns images of any size into the input this
        classifier expects.
    hemoclf.sampling.AugmentationSampler : Augmented copies of the training
        images, as the paper's 180-to-1000 expansion.
    sklearn.model_selection.TunedThresholdClassifierCV : Tune the decision
        threshold for sensitivity.

    Notes
    -----
    ``predict`` labels an image positive when its probability is at least
    0.5. For a clinical operating point tune the threshold with
    :class:`~sklearn.model_selection.TunedThresholdClassifierCV` and
    :func:`hemoclf.metrics.make_sensitivity_constrained_scorer`.

    Examples
    --------
    >>> import numpy as np
    >>> from hemoclf import HemorrhageCNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 16, 16, 1), dtype=np.float32)
    >>> y = np.array(["normal", "hemorrhage"] * 20)
    >>> X[y == "hemorrhage", 4:12, 4:12] += 1.0
    >>> clf = HemorrhageCNNClassifier(filters=(8, 8, 8), dense_units=8,
    ...                               epochs=5, random_state=0).fit(X, y)
    >>> clf.classes_
    array(['hemorrhage', 'normal'], dtype='<U10')
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        "architecture": [StrOptions(set(ARCHITECTURES)), callable],
        "image_shape": [tuple, list, None],
        "filters": [tuple, list, None],
        "kernel_size": [Interval(Integral, 1, None, closed="left"), None],
        "dense_units": [Interval(Integral, 0, None, closed="left"), None],
        "dropout": [Interval(Real, 0, 1, closed="left"), None],
        "pooling": [StrOptions(set(POOLINGS)), None],
        "optimizer": [str, type, None],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left"), None],
        "learning_rate_schedule": [StrOptions({"constant", "cosine"}), None],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "validation_split": [Interval(Real, 0, 1, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "callbacks": [list, None],
        "augment": ["boolean"],
        "flip_horizontal": ["boolean"],
        "flip_vertical": ["boolean"],
        "rotation": [Interval(Real, 0, 180, closed="both"), None],
        "zoom": [Interval(Real, 0, 1, closed="left"), None],
        "shear": [Interval(Real, 0, 1, closed="left"), None],
        "shift": [Interval(Real, 0, 1, closed="left"), None],
        "gamma": [Interval(Real, 0, 2, closed="both"), None],
        "fill_mode": [StrOptions(set(FILL_MODES))],
        "test_time_augmentation": ["boolean", None],
        "warm_start": ["boolean"],
        "distribute_strategy": [StrOptions(set(STRATEGIES)), HasMethods(["scope"]),
                                None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        architecture="default",
        *,
        image_shape=None,
        filters=None,
        kernel_size=None,
        dense_units=None,
        dropout=None,
        pooling=None,
        optimizer=None,
        learning_rate=None,
        weight_decay=None,
        learning_rate_schedule=None,
        epochs=None,
        batch_size=None,
        validation_split=0.0,
        class_weight=None,
        callbacks=None,
        augment=True,
        flip_horizontal=True,
        flip_vertical=True,
        rotation=None,
        zoom=None,
        shear=None,
        shift=None,
        gamma=None,
        fill_mode="constant",
        test_time_augmentation=None,
        warm_start=False,
        distribute_strategy=None,
        random_state=None,
        verbose=0,
    ):
        self.architecture = architecture
        self.image_shape = image_shape
        self.filters = filters
        self.kernel_size = kernel_size
        self.dense_units = dense_units
        self.dropout = dropout
        self.pooling = pooling
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.learning_rate_schedule = learning_rate_schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.class_weight = class_weight
        self.callbacks = callbacks
        self.augment = augment
        self.flip_horizontal = flip_horizontal
        self.flip_vertical = flip_vertical
        self.rotation = rotation
        self.zoom = zoom
        self.shear = shear
        self.shift = shift
        self.gamma = gamma
        self.fill_mode = fill_mode
        self.test_time_augmentation = test_time_augmentation
        self.warm_start = warm_start
        self.distribute_strategy = distribute_strategy
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Declared here, in one place: scikeras's own wrapper reports no
        # estimator type on scikit-learn >= 1.6 (see the module docstring).
        tags.estimator_type = "classifier"
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True
        tags.input_tags.allow_nan = False
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        strategy = self.distribute_strategy
        if strategy is not None and not isinstance(strategy, str):
            warnings.warn(
                f"distribute_strategy={type(strategy).__name__} object cannot "
                "be pickled; the pickled classifier holds "
                "distribute_strategy=None. Pass distribute_strategy='mirrored' "
                "to keep it.",
                UserWarning,
                stacklevel=2,
            )
            state = {**state, "distribute_strategy": None}
        if hasattr(self, "model_"):
            # Unpickled before the networks: registers hemoclf's Keras layer,
            # which a fresh process (a joblib or Dask worker) does not know.
            state = {"_keras_layers": _KerasLayers(), **state}
        return state

    def __setstate__(self, state):
        state = dict(state)
        state.pop("_keras_layers", None)
        super().__setstate__(state)

    def _resolve_params(self):
        """The recipe's hyper-parameters, overridden by those not ``None``."""
        recipe = self.architecture if isinstance(self.architecture, str) else "default"
        params = dict(RECIPE_PARAMS[recipe])
        for name in params:
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        params["filters"] = tuple(int(f) for f in params["filters"])
        return params

    def _augmentation_kwargs(self, params):
        if not self.augment:
            return None
        return {
            "flip_horizontal": self.flip_horizontal,
            "flip_vertical": self.flip_vertical,
            "rotation": params["rotation"],
            "zoom": params["zoom"],
            "shear": params["shear"],
            "shift": params["shift"],
            # Model files written before gamma existed lack it: off.
            "gamma": params.get("gamma", 0.0),
            "fill_mode": self.fill_mode,
        }

    def _encode_target(self, y):
        check_classification_targets(y)
        classes, y_encoded = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"y contains only 1 class ({classes[0]!r}); "
                f"{type(self).__name__} needs examples of both classes, "
                "hemorrhage and normal."
            )
        if classes.size > 2 or type_of_target(y) not in ("binary",):
            raise ValueError(
                "Only binary classification is supported: "
                f"{type(self).__name__} tells hemorrhage from normal, but y has "
                f"{classes.size} classes: {list(classes)}. "
                "Merge the hemorrhage subtypes into one label first."
            )
        return classes, y_encoded

    def _training_seed(self):
        if self.random_state is None:
            return None
        rng = check_random_state(self.random_state)
        return int(rng.randint(np.iinfo(np.int32).max))

    def _make_keras_estimator(self, params):
        from scikeras.wrappers import KerasClassifier

        from ._keras_fit import KerasArrayClassifier

        architecture_params = {
            name: params[name]
            for name in ("filters", "kernel_size", "dense_units", "dropout")
        }
        if not callable(self.architecture) or self.pooling is not None:
            # Callables written before ``pooling`` existed keep working.
            architecture_params["pooling"] = params["pooling"]
        callbacks = list(self.callbacks or [])
        # Several steps per compiled call give the same weights faster, but
        # a callback's batch hooks would then run once per call: callbacks
        # that watch batches get one step per call. So does training under
        # a distribution strategy, where Keras 3.15's multi-step loop fails
        # (an unfed placeholder in its iterator check).
        one_step = self.distribute_strategy is not None or any(
            _watches_batches(callback) for callback in callbacks
        )
        model = partial(
            build_model,
            architecture=self.architecture,
            architecture_params=architecture_params,
            augmentation=self._augmentation_kwargs(params),
            steps_per_execution=1 if one_step else STEPS_PER_EXECUTION,
        )
        if params["learning_rate_schedule"] == "cosine":
            from ._callbacks import CosineLearningRate

            callbacks.append(
                CosineLearningRate(params["learning_rate"], params["epochs"])
            )
        optimizer_kwargs = {"optimizer__learning_rate": params["learning_rate"]}
        if params["weight_decay"]:
            optimizer_kwargs["optimizer__weight_decay"] = params["weight_decay"]
        # Under a distribution strategy Keras distributes the arrays itself.
        wrapper = (KerasClassifier if self.distribute_strategy is not None
                   else KerasArrayClassifier)
        return wrapper(
            model=model,
            loss="binary_crossentropy",
            optimizer=params["optimizer"],
            **optimizer_kwargs,
            metrics=["accuracy"],
            epochs=params["epochs"],
            batch_size=params["batch_size"],
            callbacks=callbacks or None,
            verbose=self.verbose,
            shuffle=True,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on labelled images.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W, C), (n_samples, H, W) or \
                (n_samples, n_features)
            Training images, already resized and scaled (for example by
            :class:`~hemoclf.ResizeRescale`). See ``image_shape`` for 2-D
            input.

        y : array-like of shape (n_samples,)
            Labels of exactly two classes, e.g. 0/1 or
            ``"normal"``/``"hemorrhage"``.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss; multiplied by the weights
            from ``class_weight``.

        Returns
        -------
        self : HemorrhageCNNClassifier
            The fitted classifier.
        """
        warm = self.warm_start and hasattr(self, "model_")
        X, y = validate_data(
            self, X, y, reset=not warm, allow_nd=True, dtype=np.float32, order="C"
        )
        X = as_image_batch(X, self.image_shape, estimator_name=type(self).__name__)
        classes, y_encoded = self._encode_target(y)
        if warm:
            if X.shape[1:] != self.image_shape_ or not np.array_equal(
                classes, self.classes_
            ):
                raise ValueError(
                    "warm_start=True continues training the fitted network, "
                    "which needs images of the same shape "
                    f"{self.image_shape_} and the same classes "
                    f"{list(self.classes_)}; got {X.shape[1:]} and "
                    f"{list(classes)}. Set warm_start=False to start afresh."
                )

        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if self.class_weight is not None:
            cw = compute_sample_weight(self.class_weight, y).astype(np.float32)
            weights = cw if weights is None else weights * cw

        params = self._resolve_params()
        seed = self._training_seed()
        fit_kwargs = {}
        X_train, y_train, w_train = X, y_encoded, weights
        if self.validation_split:
            arrays = [X, y_encoded] + ([weights] if weights is not None else [])
            try:
                split = train_test_split(
                    *arrays,
                    test_size=self.validation_split,
                    stratify=y_encoded,
                    random_state=seed,
                )
            except ValueError as exc:
                raise ValueError(
                    f"validation_split={self.validation_split} cannot hold out a "
                    f"stratified sample of {X.shape[0]} images: {exc} Lower it "
                    "or pass more images."
                ) from exc
            X_train, X_val, y_train, y_val = split[:4]
            w_train = split[4] if weights is not None else None
            fit_kwargs["validation_data"] = (
                X_val,
                y_val.astype(np.float32).reshape(-1, 1),
            )

        if warm:
            estimator = self.keras_estimator_
            estimator.set_params(warm_start=True, epochs=params["epochs"])
        else:
            estimator = self._make_keras_estimator(params)
        # A warm start continues on the network's own strategy (Keras keeps it).
        strategy = None if warm else resolve_strategy(self.distribute_strategy)
        with keras_seed(seed), strategy_scope(strategy):
            estimator.fit(X_train, y_train, sample_weight=w_train, **fit_kwargs)

        self.classes_ = classes
        self.resolved_params_ = params
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.keras_estimator_ = estimator
        self.model_ = estimator.model_
        history = {key: list(val) for key, val in estimator.history_.items()}
        if warm:  # scikeras restarts its history on every fit; we append
            history = {
                key: self.history_.get(key, []) + val for key, val in history.items()
            }
        self.history_ = history
        return self

    def _positive_proba(self, X):
        check_is_fitted(self)
        # Finiteness is checked batch by batch as the batches are scored:
        # in the scoring threads, on data the network then reads from cache.
        X = validate_data(
            self, X, reset=False, allow_nd=True, dtype=np.float32, order="C",
            ensure_all_finite=False,
        )
        X = as_image_batch(X, self.image_shape, estimator_name=type(self).__name__)
        if X.shape[1:] != self.image_shape_:
            raise ValueError(
                f"X holds images of shape {X.shape[1:]}, but "
                f"{type(self).__name__} was fitted on images of shape "
                f"{self.image_shape_}. Resize them first, e.g. with "
                f"hemoclf.ResizeRescale(output_size={self.image_shape_[:2]})."
            )
        scores = predict_scores(
            self.model_, X,
            check=partial(assert_all_finite, input_name="X",
                          estimator_name=type(self).__name__),
        )
        if self.resolved_params_["test_time_augmentation"]:
            views = [X[:, :, ::-1]] if self.flip_horizontal else []
            if self.flip_vertical:
                views.append(X[:, ::-1])
            if self.flip_horizontal and self.flip_vertical:
                views.append(X[:, ::-1, ::-1])
            for view in views:
                scores += predict_scores(self.model_, np.ascontiguousarray(view))
            scores /= 1 + len(views)
        return scores.astype(np.float64)

    def predict_proba(self, X):
        """Probability of each class for each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W, C), (n_samples, H, W) or \
                (n_samples, n_features)
            Images of the shape seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Columns in the order of ``classes_``; the second column is the
            probability of hemorrhage.
        """
        p = self._positive_proba(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """Predict the class of each image at the 0.5 threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W, C), (n_samples, H, W) or \
                (n_samples, n_features)
            Images of the shape seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            ``classes_[1]`` where the probability of hemorrhage is at least
            0.5, else ``classes_[0]``.
        """
        positive = self._positive_proba(X) >= 0.5
        return self.classes_[positive.astype(int)]
