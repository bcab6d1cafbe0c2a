"""
=====================================================
Training the default recipe on the Kaggle head CT set
=====================================================

Trains hemoclf's default recipe (:func:`hemoclf.make_hemorrhage_pipeline`)
on the 200 Kaggle "Head CT - hemorrhage" PNG images and saves it with a
decision threshold tuned for sensitivity. Before trusting the model,
estimate how it does on unseen images with group-aware cross-validation
(``hemoclf evaluate --cv``, or the evaluation examples); this script only
trains and saves.

The images are read from ``$HEMOCLF_DATA/head_ct`` (``labels.csv`` and
``000.png`` ... ``199.png``); nothing is downloaded. Training runs the
recipe's 120 epochs at 128x128 pixels: minutes on a GPU, longer on a CPU.
"""

import os

from sklearn.model_selection import StratifiedGroupKFold

from hemoclf import make_hemorrhage_pipeline, save_model
from hemoclf.datasets import load_head_ct
from hemoclf.model_selection import SensitivityThresholdClassifierCV

if "HEMOCLF_DATA" not in os.environ:
    raise SystemExit("Set HEMOCLF_DATA to the folder that holds head_ct/.")
data = load_head_ct(progress=True)
print(f"{len(data.target)} images, {data.target.sum()} with hemorrhage, "
      f"{len(set(data.groups))} near-duplicate groups")

# %%
# The recipe and its threshold
# ----------------------------
# The threshold is the highest that keeps a sensitivity of at least 0.95 on
# the pooled out-of-fold probabilities of group-aware folds (copies of one
# picture stay together); then the pipeline is refitted on all images.

folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
pipe = make_hemorrhage_pipeline("default", random_state=0)
model = SensitivityThresholdClassifierCV(pipe, min_sensitivity=0.95, cv=folds)
model.fit(data.images, data.target, groups=data.groups)
print(f"threshold {model.best_threshold_:.3f}; out of fold, sensitivity "
      f"{model.cv_sensitivity_:.3f} at specificity {model.cv_specificity_:.3f}")

# %%
# Saving the model
# ----------------
# One file, without pickle: ``hemoclf predict model.hemoclf scans/ --csv
# scores.csv`` scores PNG, JPEG, DICOM and NIfTI files with it.

path = save_model(model, "head_ct_default.hemoclf",
                  class_names=list(data.target_names),
                  metadata={"trained_on": "Kaggle head CT, 200 images"})
print(f"written to {path}")
