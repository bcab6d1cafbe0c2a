"""Cross-validated evaluation of hemoclf's recipes on real and synthetic head CT.

Each recipe (``make_hemorrhage_pipeline(recipe)``: its preprocessing and its
network) is trained from scratch on raw images and scored on held-out folds of
repeated stratified *group* k-fold cross-validation: the groups are the
near-duplicate groups of ``load_head_ct().groups``, so copies of one image
never straddle training and test.

Reported, pooled over the held-out folds of each repeat and averaged over
repeats: ROC AUC, and accuracy, sensitivity, specificity and false negatives
at the 0.5 threshold. With ``--tuned-threshold`` also the operating point of a
threshold tuned on the training folds only, over an inner group k-fold of each
training fold, then applied to the test fold: by default
``SensitivityThresholdClassifierCV(min_sensitivity=--min-sensitivity)`` (the
highest threshold that meets the floor on the pooled inner out-of-fold
probabilities); with ``--tuner per-fold``, ``TunedThresholdClassifierCV`` with
``make_sensitivity_constrained_scorer(--min-sensitivity)`` (the floor met in
every inner fold). ``--inner-folds outer`` makes the inner folds of each
training fold the other outer folds (k - 1 inner folds, each inner network
trained on k - 2 folds, nearly as much data as the outer network): the
network that holds out folds ``j`` and ``k`` serves both outer fold ``j``
and outer fold ``k``, so the k(k - 1)/2 pairs are trained once each, and no
image of a test fold reaches its threshold.

``--n-jobs 2`` trains two folds at once, each in a process of its own (not
with ``--inner-folds outer``) whose TensorFlow runs on its share of the
cores (one thread each on two cores); the probabilities are the same up to
float32 rounding (a process with another TensorFlow thread count can sum in
another order).
``--set NAME=VALUE`` sets a classifier parameter of every recipe (an
unknown name is refused with the closest known one).
``--test-time-augmentation`` makes every network predict with its 4-view
test-time augmentation. ``--networks K`` makes each model an average of
``K`` networks from consecutive seeds (``make_hemorrhage_pipeline(...,
n_networks=K)``), at ``K`` times the training time. ``--first-repeat``
starts the repeats at another seed (``--first-repeat 1 --repeats 1`` runs
the second repeat alone).

Intervals are 95 % percentile bootstrap intervals over near-duplicate groups
(whole groups are resampled, 2000 times; each resample averages over the CV
repeats), so that correlated copies are not counted as independent evidence.

``--controls`` adds shortcut controls on the real images:

- ``metadata``: logistic regression on image height, width, aspect ratio,
  alpha channel and colour, in the same folds: what the file format alone
  gives away;
- ``brain-masked``: the first recipe retrained on images whose intracranial
  region (inside the skull) is blacked out, leaving skull, scalp, background,
  borders and text; an AUC far above 0.5 would mean the recipe can score
  without looking at the brain;
- ``grad-cam``: the share of each test image's Grad-CAM heat inside the
  intracranial region, against the share of the image that region covers.

``--synthetic-bleeds F`` adds, inside every training set (inner ones
included), copies of a fraction ``F`` of its normal images, each with one
synthetic small round bleed pasted into the brain after the recipe's
resizing, labelled hemorrhage, and the same normals once more, labelled
normal (``--synthetic-bleed-unbalanced`` leaves those out); see
:func:`add_synthetic_bleeds`. Test images are never altered.

``--phantom`` evaluates on ``make_head_ct`` slices (in HU, through
``make_hemorrhage_pipeline(recipe, hounsfield=True)``) with stratified k-fold.

Raw per-fold numbers (test indices, labels, probabilities, thresholds, fit
times) are written to ``--json``.

Example::

    python benchmarks/evaluate_recipes.py --data $HEMOCLF_DATA/head_ct \\
        --recipes paper default --repeats 1 --folds 10 --tuned-threshold
"""

import argparse
import ast
import json
import os
import time

import numpy as np
from imblearn import FunctionSampler
from imblearn.pipeline import Pipeline
from joblib import Parallel, cpu_count, delayed
from scipy.ndimage import binary_erosion, gaussian_filter
from scipy.stats import rankdata
from skimage.morphology import convex_hull_image, disk
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    TunedThresholdClassifierCV,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hemoclf import make_hemorrhage_pipeline
from hemoclf.cli import prefer_onednn
from hemoclf.metrics import make_sensitivity_constrained_scorer
from hemoclf.model_selection import (
    SensitivityThresholdClassifierCV,
    sensitivity_floor_threshold,
)

N_BOOTSTRAP = 2000


# --------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------
def synthetic_bleed(image, rng, radii=(3.5, 8.0), contrast=(0.08, 0.22)):
    """One copy of a gray image in [0, 1] with a synthetic small round bleed.

    An ellipse of radii drawn in ``radii`` (pixels at 128 px, scaled with the
    image), at a random angle, with a Gaussian edge of 0.8 px, brightens the
    pixels under it by a level drawn in ``contrast`` (times a 10 % pixel
    texture). Its centre is a brain pixel: inside the convex hull of the
    skull shrunk by about 9 px at 128 px, at no more than 0.15 above the
    median intracranial level (not on a calcification or on bone) and above
    half of it (not in the ventricles or air). The defaults keep the bleed
    dimmer than calcifications and larger than most of them.

    Parameters
    ----------
    image : ndarray of shape (H, W, 1)
    rng : numpy.random.Generator
    radii, contrast : tuple of float

    Returns
    -------
    bleed : ndarray of shape (H, W, 1), float32, or None
        ``None`` when no skull or too small a brain is found.
    """
    gray = image[:, :, 0]
    inner = intracranial_mask(gray, margin=4)
    level = np.median(gray[inner]) if inner.any() else 0.0
    inner &= (gray > 0.5 * level) & (gray < level + 0.15)
    if inner.sum() <= 100:
        return None
    h, w = gray.shape
    ys, xs = np.nonzero(inner)
    k = rng.integers(len(ys))
    scale = h / 128
    ry, rx = rng.uniform(*radii, 2) * scale
    theta = rng.uniform(0, np.pi)
    dy, dx = np.mgrid[0:h, 0:w] - np.array([ys[k], xs[k]])[:, None, None]
    u = (dx * np.cos(theta) + dy * np.sin(theta)) / rx
    v = (-dx * np.sin(theta) + dy * np.cos(theta)) / ry
    profile = gaussian_filter((u ** 2 + v ** 2 <= 1.0).astype(np.float32), 0.8 * scale)
    delta = rng.uniform(*contrast)
    out = np.clip(gray + delta * profile * (0.9 + 0.2 * rng.random(gray.shape)), 0, 1)
    return out[:, :, None].astype(np.float32)


def add_synthetic_bleeds(X, y, fraction=0.3, random_state=0, radii=(3.5, 8.0),
                         contrast=(0.08, 0.22), balance=True):
    """Training images plus synthetic-bleed copies of a fraction of the normals.

    For ``imblearn.FunctionSampler``: it runs on a training set only. Each
    chosen normal (``round(fraction * n_normals)``, drawn without
    replacement) is added once more with one :func:`synthetic_bleed`,
    labelled 1; with ``balance``, also once more as it is, labelled 0, so
    that the classes keep their shares.
    """
    rng = np.random.default_rng(random_state)
    normals = np.flatnonzero(y == 0)
    chosen = rng.choice(normals, int(round(fraction * len(normals))), replace=False)
    made = [(i, synthetic_bleed(X[i], rng, radii, contrast)) for i in chosen]
    made = [(i, bleed) for i, bleed in made if bleed is not None]
    if not made:
        return X, y
    X = np.concatenate([X, np.stack([bleed for _, bleed in made])])
    y_out = np.concatenate([y, np.ones(len(made), dtype=y.dtype)])
    if balance:
        again = [i for i, _ in made]
        X = np.concatenate([X, X[again]])
        y_out = np.concatenate([y_out, np.zeros(len(again), dtype=y.dtype)])
    return X, y_out


def build_pipeline(recipe, *, hounsfield, random_state, classifier_params,
                   synthetic_bleeds=None):
    """``make_hemorrhage_pipeline(recipe, ...)``, with ``synthetic_bleeds``
    (keyword arguments of :func:`add_synthetic_bleeds`, or ``None``) as an
    imbalanced-learn sampler between the resizing and the network."""
    pipe = make_hemorrhage_pipeline(recipe, hounsfield=hounsfield,
                                    random_state=random_state,
                                    **(classifier_params or {}))
    if not synthetic_bleeds:
        return pipe
    sampler = FunctionSampler(func=add_synthetic_bleeds, validate=False,
                              kw_args={**synthetic_bleeds,
                                       "random_state": random_state})
    return Pipeline(pipe.steps[:-1] + [("syntheticbleeds", sampler)]
                    + pipe.steps[-1:])


def _take(images, index):
    if isinstance(images, np.ndarray):
        return images[index]
    return [images[i] for i in index]


def _splits(y, groups, folds, repeat):
    if groups is None:
        cv = StratifiedKFold(folds, shuffle=True, random_state=repeat)
        return list(cv.split(np.zeros(len(y)), y))
    cv = StratifiedGroupKFold(folds, shuffle=True, random_state=repeat)
    return list(cv.split(np.zeros(len(y)), y, groups))


def cross_validate_recipe(recipe, images, y, groups, *, folds, repeats,
                          first_repeat=0, tuned=False, min_sensitivity=0.98,
                          inner_folds=3, tuner="pooled",
                          hounsfield=False, classifier_params=None,
                          saliency_masks=None, n_jobs=1, synthetic_bleeds=None,
                          log=print):
    """Out-of-fold probabilities of one recipe, fold by fold.

    ``n_jobs`` folds are trained at once, each in a process of its own
    (joblib) whose TensorFlow gets its share of the cores (see
    :func:`share_cores`); the shared inner folds of ``inner_folds="outer"``
    need one process.
    """
    records = []
    shared = tuned and inner_folds == "outer"
    if shared and tuner != "pooled":
        raise ValueError("--inner-folds outer works with --tuner pooled only.")
    if shared and n_jobs != 1:
        raise ValueError("--inner-folds outer trains its folds one at a time; "
                         "drop --n-jobs.")
    settings = {"tuned": tuned, "min_sensitivity": min_sensitivity,
                "inner_folds": inner_folds, "tuner": tuner,
                "hounsfield": hounsfield, "classifier_params": classifier_params,
                "saliency_masks": saliency_masks,
                "synthetic_bleeds": synthetic_bleeds}
    for repeat in range(first_repeat, first_repeat + repeats):
        splits = _splits(y, groups, folds, repeat)
        if n_jobs == 1:
            pair_scores = {} if shared else None
            fold_records = (
                _fold_record(recipe, images, y, groups, splits, repeat, fold,
                             pair_scores=pair_scores, log=log, **settings)
                for fold in range(len(splits))
            )
        else:
            threads = max(1, cpu_count() // n_jobs)
            fold_records = Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(_fold_record)(recipe, images, y, groups, splits, repeat,
                                      fold, pair_scores=None, log=log,
                                      tensorflow_threads=threads, **settings)
                for fold in range(len(splits))
            )
        for record in fold_records:
            records.append(record)
            log(f"  {recipe} repeat {repeat} fold {record['fold']}: "
                f"AUC {_safe_auc(y[record['test_index']], record['proba']):.3f}, "
                f"{record['fit_wall_s']:.0f} s wall, {record['fit_cpu_s']:.0f} s CPU")
    return records


def share_cores(threads):
    """Size this process's TensorFlow thread pools to ``threads``.

    TensorFlow gives each process as many intra-op threads as the machine
    has cores; two fold processes on two cores then run four busy threads.
    Each worker therefore takes its share of the cores, before TensorFlow
    first runs in it. The networks are the same (out-of-fold probabilities
    identical to those of two threads per process in a 20-epoch run of the
    default recipe). A worker whose TensorFlow already runs with other
    counts cannot change them: it says so and goes on.
    """
    import tensorflow as tf

    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already initialised in this worker
        current = _tensorflow_threads()
        if current != [threads, threads]:
            print(f"evaluate_recipes: this worker's TensorFlow already runs "
                  f"with {current} intra-op and inter-op threads, not "
                  f"{threads}; its timings are not comparable.", flush=True)


def _tensorflow_threads():
    """This process's TensorFlow intra-op and inter-op thread counts (0: as
    many as TensorFlow chooses, one per core)."""
    import tensorflow as tf

    threading = tf.config.threading
    return [threading.get_intra_op_parallelism_threads(),
            threading.get_inter_op_parallelism_threads()]


def _fold_record(recipe, images, y, groups, splits, repeat, fold, *, tuned,
                 min_sensitivity, inner_folds, tuner, hounsfield,
                 classifier_params, saliency_masks, pair_scores, log,
                 synthetic_bleeds=None, tensorflow_threads=None):
    """Train on every fold but ``fold``, score ``fold``: one record."""
    if tensorflow_threads is not None:
        share_cores(tensorflow_threads)
    train, test = splits[fold]
    pipe = build_pipeline(
        recipe, hounsfield=hounsfield, random_state=1000 * repeat + fold,
        classifier_params=classifier_params, synthetic_bleeds=synthetic_bleeds,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    X_train = _take(images, train)
    record = {"recipe": recipe, "repeat": repeat, "fold": fold,
              "test_index": test.tolist()}
    if pair_scores is not None:
        record.update(_shared_inner_threshold(
            recipe, images, y, splits, fold, pair_scores,
            min_sensitivity, random_state=1000 * repeat + 100,
            hounsfield=hounsfield, classifier_params=classifier_params,
            synthetic_bleeds=synthetic_bleeds, log=log))
        fitted = pipe.fit(X_train, y[train])
    elif tuned:
        inner = _splits(
            y[train], None if groups is None else groups[train],
            inner_folds, repeat,
        )
        fitted, record["threshold"], record["inner_score"] = _tune(
            tuner, pipe, X_train, y[train], inner, min_sensitivity)
    else:
        fitted = pipe.fit(X_train, y[train])
    X_test = _take(images, test)
    record["proba"] = fitted.predict_proba(X_test)[:, 1].tolist()
    record["fit_wall_s"] = time.perf_counter() - wall
    record["fit_cpu_s"] = time.process_time() - cpu
    record["tensorflow_threads"] = _tensorflow_threads()
    if saliency_masks is not None:
        record.update(_saliency_share(fitted, X_test,
                                      _take(saliency_masks, test)))
    return record


def _shared_inner_threshold(recipe, images, y, splits, fold, pair_scores,
                            min_sensitivity, *, random_state, hounsfield,
                            classifier_params, log, synthetic_bleeds=None):
    """The sensitivity-floor threshold of outer fold ``fold``, inner folds shared.

    The inner folds of outer fold ``k`` are the other outer folds: the inner
    model that holds out fold ``j`` is trained on every fold but ``k`` and
    ``j``. That model is the same one that outer fold ``j`` needs to hold
    out fold ``k``, so each pair of folds is trained once (``pair_scores``
    keeps its probabilities on both folds). For fold ``k`` this is the rule
    of ``SensitivityThresholdClassifierCV(cv=<the other folds>)`` on its
    training data (:func:`sensitivity_floor_threshold` on the pooled inner
    probabilities), with a seed of its own for each inner network: nothing
    of fold ``k`` reaches its threshold.
    """
    n_folds = len(splits)
    inner_y, inner_p, fit_s = [], [], 0.0
    for other in range(n_folds):
        if other == fold:
            continue
        pair = (min(fold, other), max(fold, other))
        if pair not in pair_scores:
            held = np.concatenate([splits[pair[0]][1], splits[pair[1]][1]])
            train = np.setdiff1d(np.arange(len(y)), held)
            pipe = build_pipeline(
                recipe, hounsfield=hounsfield,
                random_state=random_state + n_folds * pair[0] + pair[1],
                classifier_params=classifier_params,
                synthetic_bleeds=synthetic_bleeds,
            )
            start = time.perf_counter()
            pipe.fit(_take(images, train), y[train])
            pair_scores[pair] = {
                k: pipe.predict_proba(_take(images, splits[k][1]))[:, 1]
                for k in pair
            }
            fit_s += time.perf_counter() - start
            log(f"    inner model without folds {pair}: "
                f"{time.perf_counter() - start:.0f} s")
        inner_y.append(y[splits[other][1]])
        inner_p.append(pair_scores[pair][other])
    inner_index = np.concatenate([splits[k][1] for k in range(n_folds) if k != fold])
    inner_y, inner_p = np.concatenate(inner_y), np.concatenate(inner_p)
    threshold = sensitivity_floor_threshold(inner_y, inner_p, min_sensitivity)
    return {
        "threshold": threshold,
        "inner_score": float(np.mean(inner_p[inner_y == 0] < threshold)),
        "inner_sensitivity": float(np.mean(inner_p[inner_y == 1] >= threshold)),
        "inner_fit_wall_s": fit_s,
        "inner_index": inner_index.tolist(),
        "inner_proba": inner_p.tolist(),
    }


def _tune(tuner, pipe, X, y, inner, min_sensitivity):
    """``(fitted pipeline, threshold, inner score)`` of a threshold tuner.

    The inner score is the specificity on the inner out-of-fold
    probabilities (pooled), or the per-fold objective's mean (per-fold).
    """
    if tuner == "pooled":
        model = SensitivityThresholdClassifierCV(
            pipe, min_sensitivity=min_sensitivity, cv=inner).fit(X, y)
        return model.estimator_, model.best_threshold_, model.cv_specificity_
    model = TunedThresholdClassifierCV(
        pipe, scoring=make_sensitivity_constrained_scorer(min_sensitivity),
        cv=inner, refit=True,
    ).fit(X, y)
    return model.estimator_, float(model.best_threshold_), float(model.best_score_)


def _safe_auc(y, proba):
    return roc_auc_score(y, proba) if len(np.unique(y)) == 2 else float("nan")


# --------------------------------------------------------------------------
# Summary with bootstrap intervals over near-duplicate groups
# --------------------------------------------------------------------------
def _oof_matrix(records, n):
    row = {repeat: i for i, repeat in
           enumerate(sorted({r["repeat"] for r in records}))}
    proba = np.full((len(row), n), np.nan)
    pred_tuned = np.full((len(row), n), np.nan)
    for r in records:
        idx = np.asarray(r["test_index"])
        proba[row[r["repeat"]], idx] = r["proba"]
        if "threshold" in r:
            pred_tuned[row[r["repeat"]], idx] = (np.asarray(r["proba"])
                                                  >= r["threshold"])
    return proba, pred_tuned


def _rates(y, pred):
    tp = np.sum((pred == 1) & (y == 1))
    tn = np.sum((pred == 0) & (y == 0))
    fn = np.sum((pred == 0) & (y == 1))
    return {
        "accuracy": (tp + tn) / len(y),
        "sensitivity": tp / max(np.sum(y == 1), 1),
        "specificity": tn / max(np.sum(y == 0), 1),
        "false_negatives": fn,
    }


def _auc(y, proba):
    """ROC AUC as the Mann-Whitney statistic, ties counting one half.

    The value of ``roc_auc_score``, without the input checks that make it
    cost about 6 ms a call: the bootstrap calls it 2000 times per repeat.
    """
    positive = y == 1
    n_positive = np.count_nonzero(positive)
    n_negative = len(y) - n_positive
    rank_sum = rankdata(proba)[positive].sum()
    return float((rank_sum - n_positive * (n_positive + 1) / 2)
                 / (n_positive * n_negative))


def _metrics(y, proba, pred_tuned):
    """Metrics averaged over repeats (rows of ``proba``)."""
    rows = []
    for p, t in zip(proba, pred_tuned):
        m = {"roc_auc": _auc(y, p)}
        m.update(_rates(y, (p >= 0.5).astype(int)))
        if not np.isnan(t).any():
            m.update({f"tuned_{k}": v for k, v in _rates(y, t.astype(int)).items()})
        rows.append(m)
    return {k: float(np.mean([row[k] for row in rows])) for k in rows[0]}


def summarize(records, y, groups, seed=0):
    proba, pred_tuned = _oof_matrix(records, len(y))
    point = _metrics(y, proba, pred_tuned)
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    unique = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in unique}
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(N_BOOTSTRAP):
        idx = np.concatenate([members[g] for g in rng.choice(unique, len(unique))])
        if len(np.unique(y[idx])) < 2:
            continue
        boot.append(_metrics(y[idx], proba[:, idx], pred_tuned[:, idx]))
    summary = {}
    for key, value in point.items():
        values = [b[key] for b in boot]
        low, high = np.percentile(values, [2.5, 97.5])
        summary[key] = {"value": value, "low": float(low), "high": float(high)}
    summary["fold_auc_mean"] = float(np.nanmean(
        [_safe_auc(y[r["test_index"]], r["proba"]) for r in records]))
    summary["fit_wall_s"] = float(sum(r["fit_wall_s"] for r in records))
    summary["fit_cpu_s"] = float(sum(r["fit_cpu_s"] for r in records))
    if "threshold" in records[0]:
        summary["thresholds"] = [r["threshold"] for r in records]
    if "saliency_share" in records[0]:
        summary["saliency_share"] = float(np.nanmean(
            [s for r in records for s in r["saliency_share"]]))
        summary["mask_area_share"] = float(np.nanmean(
            [s for r in records for s in r["mask_area_share"]]))
    return summary


def print_table(title, summaries):
    keys = [("roc_auc", "AUC", "{:.3f}"), ("accuracy", "accuracy", "{:.3f}"),
            ("sensitivity", "sensitivity", "{:.3f}"),
            ("specificity", "specificity", "{:.3f}"),
            ("false_negatives", "false neg.", "{:.1f}"),
            ("tuned_sensitivity", "tuned sens.", "{:.3f}"),
            ("tuned_specificity", "tuned spec.", "{:.3f}"),
            ("tuned_false_negatives", "tuned FN", "{:.1f}")]
    print(f"\n{title}")
    print(f"{'':>14}" + "".join(f"{name:>24}" for name in summaries))
    for key, label, fmt in keys:
        if not any(key in s for s in summaries.values()):
            continue
        cells = []
        for s in summaries.values():
            if key not in s:
                cells.append(f"{'-':>24}")
                continue
            v = s[key]
            text = f"{fmt.format(v['value'])} [{fmt.format(v['low'])}, " \
                   f"{fmt.format(v['high'])}]"
            cells.append(f"{text:>24}")
        print(f"{label:>14}" + "".join(cells))
    for extra, label in (("fold_auc_mean", "mean fold AUC"),
                         ("fit_wall_s", "wall s"), ("fit_cpu_s", "CPU s"),
                         ("saliency_share", "CAM in brain"),
                         ("mask_area_share", "brain area")):
        if any(extra in s for s in summaries.values()):
            print(f"{label:>14}" + "".join(
                f"{s[extra]:>24.3f}" if extra in s else f"{'-':>24}"
                for s in summaries.values()))


# --------------------------------------------------------------------------
# Shortcut controls
# --------------------------------------------------------------------------
def intracranial_mask(image, margin=0):
    """Pixels inside the skull of a head CT image, as a bool array.

    The skull is the brightest structure in a brain window. Its convex hull,
    shrunk by about the thickness of the skull (and ``margin`` pixels
    more), is taken as intracranial: everything inside it, fresh blood
    included (as bright as bone in a brain window), is covered, while the
    skull, scalp, background, borders and burned-in text outside it are
    kept. ``image`` is 8-bit RGB(A) or a 2-D gray array of any scale.
    """
    from skimage.color import rgb2gray

    gray = np.asarray(image, dtype=np.float64)
    if gray.ndim == 3:
        gray = rgb2gray(gray[..., :3] / 255.0) * 255.0
    skull = gray >= 0.85 * np.percentile(gray, 99.9)
    if skull.sum() < 50:
        return np.zeros(gray.shape, dtype=bool)
    hull = convex_hull_image(skull)
    radius = max(2, round(0.04 * max(gray.shape))) + margin
    return binary_erosion(hull, structure=disk(radius))


def mask_brain(image, mask):
    out = np.array(image, copy=True)
    out[mask, :3] = 0
    return out


def metadata_features(images):
    rows = []
    for image in images:
        h, w = image.shape[:2]
        rgb = image[..., :3].astype(int)
        colour = float(np.abs(rgb - rgb[..., :1]).max() > 10)
        rows.append([h, w, h / w, float(image.shape[-1] == 4), colour])
    return np.array(rows)


def metadata_control(images, y, groups, folds, repeats, first_repeat=0):
    X = metadata_features(images)
    records = []
    for repeat in range(first_repeat, first_repeat + repeats):
        for fold, (train, test) in enumerate(_splits(y, groups, folds, repeat)):
            model = make_pipeline(StandardScaler(), LogisticRegression())
            model.fit(X[train], y[train])
            records.append({"recipe": "metadata", "repeat": repeat, "fold": fold,
                            "test_index": test.tolist(),
                            "proba": model.predict_proba(X[test])[:, 1].tolist(),
                            "fit_wall_s": 0.0, "fit_cpu_s": 0.0})
    return records


def _saliency_share(fitted, X_test, masks):
    """Share of Grad-CAM heat inside each test image's intracranial mask."""
    from hemoclf.inspection import grad_cam

    heat = grad_cam(fitted, X_test)
    resize = fitted[-2]
    mask_images = [np.repeat((m[..., None] * 255).astype(np.uint8), 3, axis=2)
                   for m in masks]
    small = resize.transform(mask_images)[..., 0] > 0.5
    share = [float((h * m).sum() / h.sum()) if h.sum() > 0 else float("nan")
             for h, m in zip(heat, small)]
    area = [float(m.mean()) for m in small]
    return {"saliency_share": share, "mask_area_share": area}


# --------------------------------------------------------------------------
def _inner_folds(text):
    return text if text == "outer" else int(text)


def _classifier_setting(text):
    """``NAME=VALUE`` to ``(name, value)``, the value read as a Python literal
    where it is one (``3e-3``, ``(16, 32)``) and as a string otherwise."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE, e.g. batch_size=32, got {text!r}")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass  # a word such as cosine
    return name, value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="the head_ct folder (labels.csv, NNN.png)")
    parser.add_argument("--recipes", nargs="+", default=["paper", "default"])
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--first-repeat", type=int, default=0,
                        help="seed of the first repeat's folds and networks")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the recipes' epochs (quick runs only)")
    parser.add_argument("--set", dest="settings", type=_classifier_setting,
                        action="append", default=[], metavar="NAME=VALUE",
                        help="set a HemorrhageCNNClassifier parameter of every "
                        "recipe, e.g. --set batch_size=32 --set "
                        "learning_rate=3e-3 (repeatable; applied last, so "
                        "it wins over --epochs and the like)")
    parser.add_argument("--class-weight-hemorrhage", type=float, default=None,
                        help="weight of the hemorrhage class in the loss, e.g. "
                        "1.5 for the paper's deliberate 40/60 imbalance")
    parser.add_argument("--tuned-threshold", action="store_true")
    parser.add_argument("--min-sensitivity", type=float, default=0.98)
    parser.add_argument("--inner-folds", type=_inner_folds, default=3,
                        help="inner folds of --tuned-threshold: a number, or "
                        "'outer' for the other outer folds, with the model of "
                        "each pair of held-out folds trained once and shared")
    parser.add_argument("--tuner", choices=("pooled", "per-fold"),
                        default="pooled",
                        help="threshold tuner of --tuned-threshold")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="folds trained at once, each in its own process "
                        "with TensorFlow on its share of the cores; "
                        "the table's wall and CPU seconds then add up folds "
                        "that overlap, and the elapsed time of each "
                        "cross-validation is printed after it")
    parser.add_argument("--networks", type=int, default=1,
                        help="networks per model, from consecutive seeds, "
                        "their probabilities averaged")
    parser.add_argument("--test-time-augmentation", action="store_true",
                        help="predict with 4-view test-time augmentation")
    parser.add_argument("--synthetic-bleeds", type=float, default=0.0,
                        metavar="FRACTION",
                        help="add synthetic-bleed copies of this fraction of "
                        "each training set's normals (real head_ct only)")
    parser.add_argument("--synthetic-bleed-radii", type=float, nargs=2,
                        default=None, metavar=("LOW", "HIGH"),
                        help="radii of the synthetic bleeds, pixels at 128 px "
                        "(default 3.5 8)")
    parser.add_argument("--synthetic-bleed-contrast", type=float, nargs=2,
                        default=None, metavar=("LOW", "HIGH"),
                        help="brightening of the synthetic bleeds, in [0, 1] "
                        "units (default 0.08 0.22)")
    parser.add_argument("--synthetic-bleed-unbalanced", action="store_true",
                        help="do not add the chosen normals once more as normals")
    parser.add_argument("--controls", action="store_true")
    parser.add_argument("--phantom", action="store_true",
                        help="also evaluate on the make_head_ct phantom")
    parser.add_argument("--phantom-samples", type=int, default=200)
    parser.add_argument("--phantom-size", type=int, default=128)
    parser.add_argument("--json", default="evaluate_recipes.json")
    args = parser.parse_args(argv)
    if not 0 <= args.synthetic_bleeds <= 1:
        parser.error(f"--synthetic-bleeds {args.synthetic_bleeds} is a fraction "
                     "of the normals: give a value in (0, 1], e.g. 0.3")
    shapes = (args.synthetic_bleed_radii, args.synthetic_bleed_contrast,
              args.synthetic_bleed_unbalanced)
    if not args.synthetic_bleeds and any(shapes):
        parser.error("--synthetic-bleed-radii, --synthetic-bleed-contrast and "
                     "--synthetic-bleed-unbalanced shape the bleeds of "
                     "--synthetic-bleeds FRACTION; give that too")
    if args.synthetic_bleeds and args.controls:
        parser.error("--synthetic-bleeds does not go with --controls: the "
                     "controls score the recipes as they are; run them apart")
    prefer_onednn()  # as the hemoclf command does; before TensorFlow loads

    params = {} if args.epochs is None else {"epochs": args.epochs}
    if args.test_time_augmentation:
        params["test_time_augmentation"] = True
    if args.networks != 1:
        params["n_networks"] = args.networks
    if args.class_weight_hemorrhage is not None:
        params["class_weight"] = {0: 1.0, 1: args.class_weight_hemorrhage}
    params.update(args.settings)
    bleeds = None
    if args.synthetic_bleeds:
        bleeds = {"fraction": args.synthetic_bleeds,
                  "balance": not args.synthetic_bleed_unbalanced}
        if args.synthetic_bleed_radii:
            bleeds["radii"] = tuple(args.synthetic_bleed_radii)
        if args.synthetic_bleed_contrast:
            bleeds["contrast"] = tuple(args.synthetic_bleed_contrast)
    results = {"args": vars(args), "load_average_start": os.getloadavg(),
               "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
               "cpu_count": os.cpu_count(), "records": [], "summaries": {}}
    start_wall, start_cpu = time.perf_counter(), time.process_time()

    if args.data:
        from hemoclf.datasets import load_head_ct

        data = load_head_ct(args.data, progress=False)
        images, y, groups = data.images, data.target, data.groups
        print(f"{len(y)} images, {y.sum()} hemorrhage, "
              f"{len(np.unique(groups))} near-duplicate groups")
        masks = None
        if args.controls:
            masks = [intracranial_mask(image) for image in images]
        summaries = {}
        for recipe in args.recipes:
            elapsed = time.perf_counter()
            records = cross_validate_recipe(
                recipe, images, y, groups, folds=args.folds,
                repeats=args.repeats, tuned=args.tuned_threshold,
                min_sensitivity=args.min_sensitivity,
                inner_folds=args.inner_folds, tuner=args.tuner,
                first_repeat=args.first_repeat,
                classifier_params=params, saliency_masks=masks,
                n_jobs=args.n_jobs, synthetic_bleeds=bleeds,
            )
            elapsed = time.perf_counter() - elapsed
            results.setdefault("cv_elapsed_s", {})[recipe] = elapsed
            print(f"cross-validation of {recipe}: {elapsed:.0f} s elapsed "
                  f"({args.n_jobs} fold(s) at a time)")
            results["records"] += records
            summaries[recipe] = summarize(records, y, groups)
        if args.controls:
            records = metadata_control(images, y, groups, args.folds, args.repeats,
                                       args.first_repeat)
            results["records"] += records
            summaries["metadata"] = summarize(records, y, groups)
            masked = [mask_brain(image, m) for image, m in zip(images, masks)]
            recipe = args.recipes[-1]
            records = cross_validate_recipe(
                recipe, masked, y, groups, folds=args.folds,
                repeats=args.repeats, first_repeat=args.first_repeat,
                classifier_params=params, n_jobs=args.n_jobs,
            )
            for r in records:
                r["recipe"] = f"{recipe}-brain-masked"
            results["records"] += records
            summaries[f"{recipe}-brain-masked"] = summarize(records, y, groups)
        results["summaries"]["head_ct"] = summaries
        print_table(f"Real head CT, {args.repeats}x stratified group "
                    f"{args.folds}-fold CV", summaries)

    if args.phantom:
        from hemoclf.datasets import make_head_ct

        images, y = make_head_ct(args.phantom_samples,
                                 image_size=args.phantom_size, random_state=0,
                                 return_X_y=True)
        summaries = {}
        for recipe in args.recipes:
            records = cross_validate_recipe(
                recipe, images, y, None, folds=args.folds, repeats=args.repeats,
                tuned=args.tuned_threshold, min_sensitivity=args.min_sensitivity,
                inner_folds=args.inner_folds, tuner=args.tuner,
                first_repeat=args.first_repeat,
                hounsfield=True, classifier_params=params, n_jobs=args.n_jobs,
            )
            for r in records:
                r["dataset"] = "phantom"
            results["records"] += records
            summaries[recipe] = summarize(records, y, None)
        results["summaries"]["phantom"] = summaries
        print_table(f"Phantom (make_head_ct, {args.phantom_samples} slices of "
                    f"{args.phantom_size} px), {args.repeats}x stratified "
                    f"{args.folds}-fold CV", summaries)

    results["wall_s"] = time.perf_counter() - start_wall
    results["cpu_s"] = time.process_time() - start_cpu
    results["load_average_end"] = os.getloadavg()
    print(f"\ntotal: {results['wall_s']:.0f} s wall, {results['cpu_s']:.0f} s CPU "
          f"on {os.cpu_count()} cores; load average at start "
          f"{results['load_average_start'][0]:.1f}, at end "
          f"{results['load_average_end'][0]:.1f}")
    with open(args.json, "w") as f:
        json.dump(results, f, default=float)
    print(f"per-fold numbers written to {args.json}")


if __name__ == "__main__":
    main()
