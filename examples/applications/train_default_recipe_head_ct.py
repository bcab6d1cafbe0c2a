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
recipe's 90 epochs at 128x128 pixels: minutes on a GPU, longer on a CPU.
"""

import os

from sklearn.model_selection import StratifiedGroupKFold, TunedThresholdClassifierCV

from hemoclf import make_hemorrhage_pipeline, save_model
from hemoclf.datasets import load_head_ct
from hemoclf.metrics import make_sensitivity_constrained_scorer

if "HEMOCLF_DATA" not in os.environ:
    raise SystemExit("Set HEMOCLF_DATA to the folder that holds head_ct/.")
data = load_head_ct(progress=True)
print(f"{len(data.target)} images, {data.target.sum()} with hemorrhage, "
      f"{len(set(data.groups))} near-duplicate groups")

# %%
# The recipe and its threshold
# ----------------------------
# The threshold is tuned on group-aware folds (copies of one picture stay
# together) for a sensitivity of at least 0.95, then the pipeline is refitted
# on all images. The folds are passed as precomputed splits, since
# TunedThresholdClassifierCV forwards ``groups`` only with scikit-learn's
# metadata routing switched on.

folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
pipe = make_hemorrhage_pipeline("default", random_state=0)
model = TunedThresholdClassifierCV(
    pipe,
    scoring=make_sensitivity_constrained_scorer(0.95),
    cv=list(folds.split(data.images, data.target, data.groups)),
    random_state=0,
)
model.fit(data.images, data.target)
print(f"threshold {model.best_threshold_:.3f}, mean inner-fold specificity at "
      f"sensitivity >= 0.95: {model.best_score_:.3f} (negative: floor not met)")

# %%
# Saving the model
# ----------------
# One file, without pickle: ``hemoclf predict model.hemoclf scans/ --csv
# scores.csv`` scores PNG, JPEG, DICOM and NIfTI files with it.

path = save_model(model, "head_ct_default.hemoclf",
                  class_names=list(data.target_names),
                  metadata={"trained_on": "Kaggle head CT, 200 images"})
print(f"written to {path}")
