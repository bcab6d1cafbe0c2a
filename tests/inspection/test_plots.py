"""Figures: Grad-CAM overlays, training curves, confusion matrix and ROC."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.metrics import confusion_matrix, roc_auc_score  # noqa: E402

from hemoclf.inspection import (  # noqa: E402
    plot_evaluation,
    plot_grad_cam,
    plot_training_history,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_grad_cam_figure_renders(fitted_tiny, square_images):
    X, _ = square_images
    axes = plot_grad_cam(fitted_tiny, X[:3], alpha=0.5)
    assert len(axes) == 3
    fig = axes[0].figure
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())
    width, height = fig.canvas.get_width_height()
    assert pixels.shape == (height, width, 4)
    assert np.isfinite(pixels).all()
    assert pixels[..., :3].std() > 0  # something was drawn
    for axis in axes:
        assert len(axis.get_images()) == 2  # the image and the heatmap
        assert axis.get_title().startswith("P(1) = ")


def test_grad_cam_on_given_axes(fitted_tiny, square_images):
    X, _ = square_images
    fig, axes = plt.subplots(1, 2)
    assert list(plot_grad_cam(fitted_tiny, X[:2], ax=axes)) == list(axes)
    with pytest.raises(ValueError, match="ax holds 2 axes; 3 are needed"):
        plot_grad_cam(fitted_tiny, X[:3], ax=axes)


def test_training_history_lines():
    history = {"accuracy": [0.5, 0.7, 0.9], "loss": [0.7, 0.5, 0.3]}
    axes = plot_training_history(history)
    assert [len(axis.get_lines()) for axis in axes] == [1, 1]
    np.testing.assert_array_equal(axes[0].get_lines()[0].get_ydata(),
                                  history["accuracy"])
    history.update(val_accuracy=[0.5, 0.6, 0.6], val_loss=[0.7, 0.6, 0.6])
    axes = plot_training_history(history)
    assert [len(axis.get_lines()) for axis in axes] == [2, 2]
    assert axes[1].get_ylabel() == "Loss"


def test_training_history_of_estimator(fitted_tiny):
    axes = plot_training_history(fitted_tiny)
    n_epochs = len(fitted_tiny.history_["loss"])
    assert len(axes[1].get_lines()[0].get_xdata()) == n_epochs


def test_training_history_needs_accuracy_and_loss():
    with pytest.raises(ValueError, match=r"no \['accuracy'\] entries"):
        plot_training_history({"loss": [0.5]})


def test_evaluation_uses_sklearn_displays():
    y = np.array([0, 0, 0, 1, 1, 1])
    score = np.array([0.1, 0.6, 0.2, 0.8, 0.4, 0.9])
    cm, roc = plot_evaluation(y, score, threshold=0.5,
                              display_labels=["normal", "hemorrhage"])
    np.testing.assert_array_equal(cm.confusion_matrix,
                                  confusion_matrix(y, score >= 0.5))
    assert roc.roc_auc == pytest.approx(roc_auc_score(y, score))
