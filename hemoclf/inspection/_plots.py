"""Figures: Grad-CAM overlays, training curves, confusion matrix and ROC."""

import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

from ._grad_cam import classifier_input, grad_cam, split_estimator

_CURVES = (("accuracy", "Accuracy"), ("loss", "Loss"))


def _axes(ax, n, *, ncols=None, size=3.0):
    import matplotlib.pyplot as plt

    if ax is None:
        ncols = ncols or n
        nrows = int(np.ceil(n / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows),
                                 squeeze=False)
        for extra in axes.flat[n:]:
            extra.set_visible(False)
        return np.asarray(axes).ravel()[:n]
    axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
    if axes.size != n:
        raise ValueError(f"ax holds {axes.size} axes; {n} are needed.")
    return axes


def plot_grad_cam(estimator, images, *, layer=None, ax=None, alpha=0.4,
                  cmap="jet", ncols=None):
    """Overlay Grad-CAM heatmaps on the images the classifier sees.

    Parameters
    ----------
    estimator : estimator
        A fitted :class:`~hemoclf.HemorrhageCNNClassifier`, a soft-voting
        ensemble of them, or a pipeline ending in either; see
        :func:`grad_cam`.

    images : array-like or list of arrays
        Images as the estimator takes them.

    layer : str, default=None
        Layer to explain; ``None`` takes the last convolution block's
        output (see :func:`grad_cam`).

    ax : matplotlib Axes or array of Axes, default=None
        One axes per image; ``None`` creates a figure.

    alpha : float, default=0.4
        Opacity of the heatmap over the image.

    cmap : str, default="jet"
        Colormap of the heatmap.

    ncols : int, default=None
        Columns of the figure created when ``ax`` is None; one row by
        default.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        One per image, each titled with the probability of the positive
        class; ``axes[0].figure`` is the figure.

    See Also
    --------
    grad_cam : The heatmaps themselves.

    Notes
    -----
    Each image is shown as the classifier receives it (after the pipeline's
    preprocessing), in gray from its first channel: the brain window after
    :class:`~hemoclf.preprocessing.CTWindow`, the red channel of a PNG
    export (equal to the gray level for gray exports).
    """
    X, clf = classifier_input(estimator, images, ensembles=True)
    heatmaps = grad_cam(clf, X, layer=layer)
    proba = clf.predict_proba(X)[:, 1]
    axes = _axes(ax, X.shape[0], ncols=ncols)
    for k, axis in enumerate(axes):
        axis.imshow(X[k, :, :, 0], cmap="gray")
        axis.imshow(heatmaps[k], cmap=cmap, alpha=alpha, vmin=0, vmax=1)
        axis.set_title(f"P({clf.classes_[1]}) = {proba[k]:.2f}", fontsize=9)
        axis.set_axis_off()
    return axes


def _history(history_or_estimator):
    if isinstance(history_or_estimator, dict):
        return history_or_estimator
    _, clf = split_estimator(history_or_estimator)
    return clf.history_


def plot_training_history(history_or_estimator, *, axes=None):
    """Accuracy and loss per epoch, for training and validation data.

    The founding paper's Figures 7 and 8. Validation curves are drawn when
    the history holds them (``val_accuracy``, ``val_loss``: a classifier
    fitted with ``validation_split``).

    Parameters
    ----------
    history_or_estimator : dict or estimator
        A history, ``{"accuracy": [...], "loss": [...], ...}``, or a fitted
        :class:`~hemoclf.HemorrhageCNNClassifier` (or a pipeline ending in
        one) whose ``history_`` is drawn.

    axes : array of two matplotlib Axes, default=None
        Where to draw accuracy and loss; ``None`` creates a figure.

    Returns
    -------
    axes : ndarray of two matplotlib Axes
        Accuracy, then loss.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from hemoclf.inspection import plot_training_history
    >>> axes = plot_training_history({"accuracy": [0.6, 0.8], "loss": [0.7, 0.4]})
    >>> [len(axis.get_lines()) for axis in axes]
    [1, 1]
    """
    history = _history(history_or_estimator)
    missing = [key for key, _ in _CURVES if key not in history]
    if missing:
        raise ValueError(
            f"The history has no {missing} entries (it has {sorted(history)}); "
            "it must come from a classifier compiled with the accuracy metric."
        )
    axes = _axes(axes, 2, size=4.0)
    for axis, (key, label) in zip(axes, _CURVES):
        epochs = np.arange(1, len(history[key]) + 1)
        axis.plot(epochs, history[key], marker=".", label="training")
        if f"val_{key}" in history:
            axis.plot(epochs, history[f"val_{key}"], marker=".",
                      label="validation")
        axis.set_xlabel("Epoch")
        axis.set_ylabel(label)
        axis.set_title(f"{label} per epoch")
        axis.legend()
    return axes


def plot_evaluation(y_true, y_score, *, threshold=0.5, display_labels=None,
                    pos_label=1, axes=None):
    """Confusion matrix and ROC curve side by side.

    A convenience over scikit-learn's
    :class:`~sklearn.metrics.ConfusionMatrixDisplay` and
    :class:`~sklearn.metrics.RocCurveDisplay`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, with ``pos_label`` for hemorrhage.
    y_score : array-like of shape (n_samples,)
        Probability of hemorrhage.
    threshold : float, default=0.5
        Scores at or above it are predicted positive in the confusion
        matrix.
    display_labels : sequence of str, default=None
        Names of the negative and positive classes.
    pos_label : int or str, default=1
        The hemorrhage label.
    axes : array of two matplotlib Axes, default=None
        ``None`` creates a figure.

    Returns
    -------
    confusion_display : sklearn.metrics.ConfusionMatrixDisplay
    roc_display : sklearn.metrics.RocCurveDisplay
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    labels = np.unique(y_true)
    negative = [label for label in labels if label != pos_label]
    order = (negative[:1] or [None]) + [pos_label]
    if order[0] is None:
        raise ValueError("y_true holds only the positive class.")
    y_pred = np.where(y_score >= threshold, pos_label, order[0])
    axes = _axes(axes, 2, size=4.0)
    cm = ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=order, display_labels=display_labels, ax=axes[0],
        colorbar=False,
    )
    axes[0].set_title(f"Confusion matrix (threshold {threshold:g})")
    roc = RocCurveDisplay.from_predictions(y_true, y_score, pos_label=pos_label,
                                           ax=axes[1])
    axes[1].set_title("ROC curve")
    return cm, roc
