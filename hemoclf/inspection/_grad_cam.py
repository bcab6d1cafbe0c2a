"""Grad-CAM heatmaps: where in the image the network finds hemorrhage."""

import numpy as np
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_is_fitted

from ..model_selection._threshold import threshold_wrappers

GRAD_CAM_BATCH_SIZE = 32


def split_estimator(estimator, *, ensembles=False):
    """``(preprocessing steps, classifier)`` of a fitted hemoclf model.

    Parameters
    ----------
    estimator : estimator
        A fitted :class:`~hemoclf.HemorrhageCNNClassifier`, a pipeline ending
        in one, or either wrapped in a threshold classifier.
    ensembles : bool, default=False
        Whether the classifier may also be a fitted soft-voting
        :class:`~sklearn.ensemble.VotingClassifier` of
        :class:`~hemoclf.HemorrhageCNNClassifier` (for scoring; what looks
        inside one network, such as Grad-CAM, leaves it ``False``).

    Returns
    -------
    steps : list of transformers
        The pipeline's steps before the classifier that act at prediction
        (samplers and ``"passthrough"`` are skipped); empty for a bare
        classifier.
    classifier : HemorrhageCNNClassifier or VotingClassifier
    """
    from .._classifier import HemorrhageCNNClassifier

    if isinstance(estimator, threshold_wrappers()):
        estimator = getattr(estimator, "estimator_", estimator.estimator)
    steps = []
    if hasattr(estimator, "steps"):
        *head, (_, last) = estimator.steps
        steps = [
            step for _, step in head
            if step not in (None, "passthrough") and hasattr(step, "transform")
        ]
        estimator = last
    is_ensemble = type(estimator).__name__ == "VotingClassifier"
    if is_ensemble and ensembles:
        check_is_fitted(estimator, "estimators_")
        others = [type(net).__name__ for net in estimator.estimators_
                  if not isinstance(net, HemorrhageCNNClassifier)]
        if estimator.voting != "soft" or others:
            raise TypeError(
                "An ensemble's probability is the average of its networks': it "
                "needs voting='soft' and HemorrhageCNNClassifier networks only "
                f"(as make_hemorrhage_pipeline(n_networks=...) makes); got "
                f"voting={estimator.voting!r}"
                + (f" and {', '.join(others)}." if others else ".")
            )
        return steps, estimator
    if not isinstance(estimator, HemorrhageCNNClassifier):
        hint = ""
        if is_ensemble:
            hint = (" For an ensemble of networks "
                    "(make_hemorrhage_pipeline(n_networks=...)), look at one "
                    "network at a time, e.g. make_pipeline(*pipe[:-1], "
                    "pipe[-1].estimators_[0]).")
        raise TypeError(
            "Expected a fitted HemorrhageCNNClassifier or a pipeline ending in "
            f"one; got {type(estimator).__name__}.{hint}"
        )
    check_is_fitted(estimator)
    return steps, estimator


def _networks(classifier):
    """The networks of a classifier: itself, or an ensemble's, with weights."""
    if hasattr(classifier, "estimators_"):
        weights = classifier.weights
        if weights is not None:
            kept = [w for (_, net), w in zip(classifier.estimators, weights)
                    if net != "drop"]
            weights = np.asarray(kept, dtype=float)
        return list(classifier.estimators_), weights
    return [classifier], None


def classifier_input(estimator, X, *, ensembles=False):
    """Run the preprocessing steps of ``estimator`` on ``X``.

    Returns
    -------
    X_clf : ndarray of shape (n, H, W, C), float32
        The images as the classifier receives them.
    classifier : HemorrhageCNNClassifier or VotingClassifier
        A soft-voting ensemble of them only with ``ensembles=True`` (see
        :func:`split_estimator`).
    """
    steps, clf = split_estimator(estimator, ensembles=ensembles)
    for step in steps:
        X = step.transform(X)
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3:
        X = X[..., np.newaxis]
    image_shape = _networks(clf)[0][0].image_shape_
    if X.shape[1:] != image_shape:
        raise ValueError(
            f"The classifier takes images of shape {image_shape}; the input "
            f"reaches it with shape {X.shape[1:]}. Pass images as the model's "
            "pipeline expects them, or resize them first."
        )
    return X, clf


def _last_spatial_layer(model):
    """The last layer with a 4-D output larger than 1x1 pixel.

    That is the last convolution block's output, unless the network has
    shrunk the image to a single pixel there (small inputs), which would
    give a uniform map.
    """
    import keras

    seen_conv = False
    for layer in model.layers:
        seen_conv = seen_conv or isinstance(layer, keras.layers.Conv2D)
    if not seen_conv:
        raise ValueError(
            f"The network {model.name!r} has no Conv2D layer to explain; pass "
            "layer=<name> of a layer with a 4-D output."
        )
    spatial = [layer for layer in model.layers if len(layer.output.shape) == 4]
    for layer in reversed(spatial):
        height, width = layer.output.shape[1:3]
        if height is None or height * width > 1:
            return layer
    if spatial:
        return spatial[-1]
    raise ValueError(f"The network {model.name!r} has no layer with a 4-D output.")


def _logit_model(model, layer):
    """A model giving the layer's activations and the positive-class logit.

    For a sigmoid output the gradient is taken on the logit, which does not
    saturate as the probability nears 0 or 1 (Grad-CAM's class score before
    the final non-linearity).
    """
    import keras

    out_layer = model.layers[-1]
    activation = getattr(out_layer, "activation", None)
    if isinstance(out_layer, keras.layers.Dense) and activation is not None and (
        getattr(activation, "__name__", "") == "sigmoid"
    ):
        return keras.Model(model.inputs, [layer.output, out_layer.input]), out_layer
    return keras.Model(model.inputs, [layer.output, model.output]), None


@validate_params(
    {"estimator": [object], "X": ["array-like", list], "layer": [str, None]},
    prefer_skip_nested_validation=True,
)
def grad_cam(estimator, X, *, layer=None):
    """Grad-CAM heatmaps of the hemorrhage class for a batch of images.

    Gradient-weighted class activation mapping (Selvaraju et al., 2017):
    the activations of a convolution layer, weighted by the spatially
    averaged gradient of the hemorrhage score with respect to them, summed
    over channels and kept where positive. High values mark regions that
    raise the network's hemorrhage score.

    Parameters
    ----------
    estimator : estimator
        A fitted :class:`~hemoclf.HemorrhageCNNClassifier` or soft-voting
        ensemble of them (:class:`~sklearn.ensemble.VotingClassifier`, as
        made by :func:`~hemoclf.make_hemorrhage_pipeline` with
        ``n_networks > 1``), or a fitted pipeline ending in either
        (optionally wrapped in a threshold classifier). A pipeline's
        preprocessing is applied to ``X`` first.

    X : array-like or list of arrays
        Images as the estimator takes them: raw images for a pipeline (any
        size, e.g. as read from files), ``(n, H, W, C)`` arrays for a bare
        classifier.

    layer : str, default=None
        Name of the layer to explain; ``None`` takes the output of the last
        convolution block: the last layer with a spatial (4-D) output, after
        its activation, batch normalisation and pooling (``conv3`` of the
        paper's network), skipping layers whose output is a single pixel.

    Returns
    -------
    heatmaps : ndarray of shape (n_samples, H, W), float32
        One map per image at the classifier's input size ``image_shape_[:2]``,
        scaled to [0, 1] per image (all zeros where no region raises the
        score). For an ensemble, the average of its networks' maps, each
        scaled to [0, 1] and weighted as the ensemble weights their votes,
        then scaled to [0, 1] again; every network explains the layer of
        the same name.

    See Also
    --------
    plot_grad_cam : Overlay the heatmaps on the images.

    Notes
    -----
    The score differentiated is the logit of the positive class,
    ``classes_[1]``, when the network ends in a sigmoid ``Dense`` layer (as
    hemoclf's networks do), so that confidently classified images still get
    a map. Augmentation layers are inactive, as at prediction; the map
    explains one forward pass of each image, without the classifier's
    test-time flips.

    Examples
    --------
    >>> from hemoclf import HemorrhageCNNClassifier
    >>> from hemoclf.inspection import grad_cam
    >>> from hemoclf.utils._testing import TINY_CNN_PARAMS, make_square_images
    >>> X, y = make_square_images(16, 16)
    >>> clf = HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y)
    >>> maps = grad_cam(clf, X[:3])
    >>> maps.shape, bool(maps.min() >= 0), bool(maps.max() <= 1)
    ((3, 16, 16), True, True)
    """
    X, clf = classifier_input(estimator, X, ensembles=True)
    networks, weights = _networks(clf)
    if len(networks) == 1:
        return _network_grad_cam(networks[0], X, layer)
    maps = np.average([_network_grad_cam(net, X, layer) for net in networks],
                      axis=0, weights=weights)
    return _scale_to_unit(maps).astype(np.float32)


def _scale_to_unit(maps):
    """Each map divided by its peak (a map without a positive value stays 0)."""
    peak = maps.reshape(maps.shape[0], -1).max(axis=1)
    peak[peak <= 0] = 1.0
    return np.clip(maps / peak[:, None, None], 0, 1)


def _network_grad_cam(clf, X, layer):
    """Grad-CAM of one fitted classifier on its own input ``X``."""
    import tensorflow as tf

    model = clf.model_
    if layer is None:
        target = _last_spatial_layer(model)
    else:
        try:
            target = model.get_layer(layer)
        except ValueError:
            names = [lay.name for lay in model.layers]
            raise ValueError(
                f"layer={layer!r} is not a layer of the network; its layers are "
                f"{names}."
            ) from None
    if len(target.output.shape) != 4:
        raise ValueError(
            f"layer={target.name!r} has output shape {target.output.shape}; "
            "Grad-CAM needs a convolutional layer with a 4-D output."
        )
    grad_model, dense = _logit_model(model, target)
    height, width = clf.image_shape_[:2]
    heatmaps = np.empty((X.shape[0], height, width), dtype=np.float32)
    for start in range(0, X.shape[0], GRAD_CAM_BATCH_SIZE):
        batch = tf.convert_to_tensor(X[start : start + GRAD_CAM_BATCH_SIZE])
        with tf.GradientTape() as tape:
            activations, out = grad_model(batch, training=False)
            if dense is not None:
                out = tf.matmul(out, dense.kernel) + dense.bias
            score = tf.reduce_sum(out[:, 0])
        grads = tape.gradient(score, activations)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))
        cam = tf.image.resize(cam[..., tf.newaxis], (height, width),
                              method="bilinear")[..., 0].numpy()
        cam = np.nan_to_num(cam, nan=0.0, posinf=0.0, neginf=0.0)
        heatmaps[start : start + cam.shape[0]] = _scale_to_unit(cam)
    return heatmaps
