"""Look inside a fitted model: Grad-CAM heatmaps and figures.

- :func:`grad_cam` and :func:`plot_grad_cam`: where the network finds
  hemorrhage;
- :func:`plot_training_history`: accuracy and loss per epoch;
- :func:`plot_evaluation`: confusion matrix and ROC curve, through
  scikit-learn's displays.
"""

from ._grad_cam import grad_cam
from ._plots import plot_evaluation, plot_grad_cam, plot_training_history

__all__ = ["grad_cam", "plot_evaluation", "plot_grad_cam", "plot_training_history"]
