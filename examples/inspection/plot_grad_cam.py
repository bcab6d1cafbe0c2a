"""
=====================================
Where does the network look? Grad-CAM
=====================================

:func:`~hemoclf.inspection.grad_cam` weighs the feature maps of the last
convolution block by the gradient of the hemorrhage score, which marks the
regions that raise it; :func:`~hemoclf.inspection.plot_grad_cam` overlays
them on the images as the classifier sees them. On the phantom the bleed's
true outline is known (``masks``), so the heatmap can be checked against it.

The network here is trained for seconds on 150 small phantom slices and
learns little; the example shows how to run the check, and a heatmap of a
weak model is no evidence about a strong one. On real images the same check
asks whether a model scores from the brain or from a shortcut (borders,
letters, the skull).
"""

# %%
# A small model on the phantom
# ----------------------------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from hemoclf import HemorrhageCNNClassifier, ResizeRescale
from hemoclf.datasets import make_head_ct
from hemoclf.inspection import grad_cam, plot_grad_cam
from hemoclf.preprocessing import CTWindow

data = make_head_ct(n_samples=180, image_size=48, random_state=0)
train, test = train_test_split(np.arange(180), test_size=30,
                               stratify=data.target, random_state=0)
pipe = make_pipeline(
    CTWindow(),
    ResizeRescale(output_size=(48, 48), scale=1.0, channels=None),
    HemorrhageCNNClassifier("paper", epochs=8, random_state=0),
)
pipe.fit(data.images[train], data.target[train])

# %%
# Heatmaps on held-out hemorrhage slices
# --------------------------------------
# Red outline: the bleed. Each title gives the predicted probability of
# hemorrhage.

shown = test[data.target[test] == 1][:5]
axes = plot_grad_cam(pipe, data.images[shown])
for ax, k in zip(axes, shown):
    ax.contour(data.masks[k], levels=[0.5], colors="red", linewidths=0.8)
    ax.set_xlabel(data.hemorrhage_type[k])
axes[0].figure.suptitle("Grad-CAM of the hemorrhage score (brain window)")

# %%
# How much of the heat falls on the bleed?
# ----------------------------------------
# A number to go with the pictures: the share of each heatmap inside the
# bleed, against the share of the image the bleed covers. A model that looks
# at the bleed puts far more heat there than its area.

heat = grad_cam(pipe, data.images[shown])
area = data.masks[shown].mean(axis=(1, 2))
for k, h, m, fraction in zip(shown, heat, data.masks[shown], area):
    where = (f"{h[m].sum() / h.sum():5.1%} of the heat" if h.sum() > 0
             else "no region raises the score (an all-zero map), so none")
    print(f"image {k:3d} ({data.hemorrhage_type[k]}): {where} on the bleed, "
          f"which covers {fraction:.1%} of the image")
plt.show()
