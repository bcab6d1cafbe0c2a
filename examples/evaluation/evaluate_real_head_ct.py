"""
===========================================================
Cross-validating the default recipe on the real head CT set
===========================================================

The 200 Kaggle head CT images hold near-duplicates: the same slice exported
twice, or neighbouring slices of one patient. A plain k-fold puts copies on
both sides of the split and flatters the model. Here the folds come from
:class:`~sklearn.model_selection.StratifiedGroupKFold` with the
near-duplicate groups of :func:`hemoclf.datasets.load_head_ct`, and the
decision threshold is tuned on the training folds only, for a sensitivity of
at least 98 % on their pooled out-of-fold probabilities, with
:class:`~hemoclf.model_selection.SensitivityThresholdClassifierCV`.

The full evaluation, with both recipes, bootstrap intervals and shortcut
controls, is ``benchmarks/evaluate_recipes.py``.
"""

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from hemoclf import make_hemorrhage_pipeline
from hemoclf.datasets import load_head_ct
from hemoclf.metrics import clinical_report
from hemoclf.model_selection import SensitivityThresholdClassifierCV

data = load_head_ct()  # reads $HEMOCLF_DATA/head_ct
images, y, groups = data.images, data.target, data.groups

# %%
# Out-of-fold probabilities and tuned decisions
# ----------------------------------------------
# ``make_hemorrhage_pipeline()`` resizes the raw images as the default recipe
# expects (cropped to the head, 128x128 gray, aspect ratio kept) and trains
# its CNN. The tuner's inner folds are grouped too, so the threshold never
# sees a copy of a test image.
proba = np.empty(len(y))
decision = np.empty(len(y), dtype=int)
outer = StratifiedGroupKFold(10, shuffle=True, random_state=0)
for fold, (train, test) in enumerate(outer.split(images, y, groups)):
    inner = StratifiedGroupKFold(2, shuffle=True, random_state=0)
    train_images = [images[i] for i in train]
    test_images = [images[i] for i in test]
    model = SensitivityThresholdClassifierCV(
        make_hemorrhage_pipeline(random_state=fold), min_sensitivity=0.98,
        cv=inner,
    ).fit(train_images, y[train], groups=groups[train])
    proba[test] = model.predict_proba(test_images)[:, 1]
    decision[test] = model.predict(test_images)

print(f"ROC AUC: {roc_auc_score(y, proba):.3f}")
print(clinical_report(y, decision, y_score=proba))

# %%
# Where does the network look?
# ----------------------------
# Grad-CAM heatmaps of the last fold's model on a few of its test images;
# the heat should sit inside the skull, on the bleed, not on borders or
# burned-in text.
from hemoclf.inspection import plot_grad_cam  # noqa: E402

plot_grad_cam(model.estimator_, test_images[:4])
