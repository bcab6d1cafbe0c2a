"""The founding paper's protocol end to end, then an honest estimate.

``hemoclf reproduce`` runs, on the head CT phantom or on the Kaggle images:

1. the paper's protocol: a 90/10 stratified split, the 180 training images
   expanded to 1000 by augmentation (500 per class), the paper's CNN, and
   the paper's confusion matrix (TP, TN, FP, FN, accuracy) on the 20 test
   images;
2. the paper's deliberately imbalanced expansion (400 normal, 600
   hemorrhage) and its confusion matrix;
3. the honest version: repeated group-aware stratified K-fold
   cross-validation with the same pipeline, augmentation inside the training
   folds only, near-duplicate copies kept in one fold, and every rate given
   with a 95 % interval;

and writes a report (Markdown, optionally HTML), the figures and the numbers
(JSON).
"""

import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from ._report import Report

PAPER_TRAIN_SIZE = 180
PAPER_EXPANDED_SIZE = 1000
BALANCED = {0: 0.5, 1: 0.5}
IMBALANCED = {0: 0.4, 1: 0.6}
RATES = ("accuracy", "sensitivity", "specificity", "ppv", "npv")
RATE_LABELS = {"accuracy": "accuracy", "sensitivity": "sensitivity",
               "specificity": "specificity", "ppv": "PPV", "npv": "NPV"}
# (numerator cells, denominator cells) of each rate in a confusion matrix.
_CELLS = {
    "accuracy": (("tp", "tn"), ("tp", "tn", "fp", "fn")),
    "sensitivity": (("tp",), ("tp", "fn")),
    "specificity": (("tn",), ("tn", "fp")),
    "ppv": (("tp",), ("tp", "fp")),
    "npv": (("tn",), ("tn", "fn")),
}


def expansion_strategy(y, shares):
    """Class sizes after the paper's expansion of ``y`` (180 -> 1000).

    The total grows by the paper's factor 1000/180 and is split by
    ``shares``; a class already larger keeps its size.
    """
    total = round(len(y) * PAPER_EXPANDED_SIZE / PAPER_TRAIN_SIZE)
    counts = np.bincount(y, minlength=2)
    return {c: max(int(counts[c]), int(round(total * shares[c]))) for c in (0, 1)}


def with_sampler(pipeline, strategy, seed):
    """An imbalanced-learn pipeline: the preprocessing, a sampler, the network."""
    from imblearn.pipeline import Pipeline

    from .sampling import AugmentationSampler

    steps = list(clone(pipeline).steps)
    sampler = AugmentationSampler(sampling_strategy=strategy, random_state=seed)
    return Pipeline(steps[:-1] + [("augmentationsampler", sampler), steps[-1]])


def _take(X, indices):
    if isinstance(X, np.ndarray):
        return X[indices]
    return [X[i] for i in indices]


def _counts(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "tp": int(np.sum((y_true == 1) & (y_pred == 1))),
        "fn": int(np.sum((y_true == 1) & (y_pred == 0))),
        "fp": int(np.sum((y_true == 0) & (y_pred == 1))),
        "tn": int(np.sum((y_true == 0) & (y_pred == 0))),
    }


def _rate(counts, name):
    top, bottom = _CELLS[name]
    total = sum(counts[c] for c in bottom)
    return sum(counts[c] for c in top) / total if total else float("nan")


def check_folds(y, groups, folds):
    """Raise a clear error when ``folds`` cannot be stratified by group."""
    per_class = [len(np.unique(groups[y == c])) for c in (0, 1)]
    if folds < 2 or min(per_class) < folds:
        raise ValueError(
            f"--folds {folds} needs at least {max(folds, 2)} independent images "
            f"(near-duplicate groups) of each class; there are {per_class[0]} "
            f"normal and {per_class[1]} hemorrhage groups. Lower --folds."
        )


def cross_validate_clinical(estimator, X, y, groups, *, folds=10, repeats=1,
                            seed=0, threshold=0.5, progress=None):
    """Repeated group-aware stratified K-fold CV with clinical rates.

    Each repeat splits with ``StratifiedGroupKFold(shuffle=True,
    random_state=seed + repeat)``, so that every image is scored once per
    repeat by a model that never saw it nor a near-duplicate of it.

    Returns
    -------
    result : dict
        ``folds`` (one dict per fold: repeat, fold, n, counts, rates, auc),
        ``scores`` (out-of-fold probabilities, shape (repeats, n)) and
        ``summary`` (per rate: mean over repeats of the pooled rate, Wilson
        95 % interval, fold mean and SD; pooled ROC AUC).
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    groups = np.asarray(groups)
    check_folds(y, groups, folds)
    scores = np.full((repeats, len(y)), np.nan)
    fold_rows = []
    for repeat in range(repeats):
        cv = StratifiedGroupKFold(n_splits=folds, shuffle=True,
                                  random_state=seed + repeat)
        for fold, (train, test) in enumerate(cv.split(np.zeros(len(y)), y, groups)):
            model = clone(estimator).fit(_take(X, train), y[train])
            p = model.predict_proba(_take(X, test))[:, 1]
            scores[repeat, test] = p
            counts = _counts(y[test], (p >= threshold).astype(int))
            both = 0 < y[test].sum() < len(test)
            fold_rows.append({
                "repeat": repeat, "fold": fold, "n": int(len(test)), **counts,
                **{name: _rate(counts, name) for name in RATES},
                "roc_auc": float(roc_auc_score(y[test], p)) if both else float("nan"),
            })
            if progress is not None:
                progress.update(1)
    return {"folds": fold_rows, "scores": scores,
            "summary": summarize_cv(y, scores, fold_rows, threshold)}


def summarize_cv(y, scores, fold_rows, threshold):
    """Pooled out-of-fold rates with Wilson intervals, and fold spread."""
    per_repeat = [_counts(y, (s >= threshold).astype(int)) for s in scores]
    summary = {}
    with warnings.catch_warnings():  # a rate undefined in every fold is nan
        warnings.simplefilter("ignore", RuntimeWarning)
        _fill_summary(summary, y, scores, fold_rows, per_repeat)
    return summary


def _fill_summary(summary, y, scores, fold_rows, per_repeat):
    from sklearn.metrics import roc_auc_score

    from .metrics import wilson_interval

    for name in RATES:
        top, bottom = _CELLS[name]
        successes = np.mean([sum(c[k] for k in top) for c in per_repeat])
        total = np.mean([sum(c[k] for k in bottom) for c in per_repeat])
        fold_values = np.array([row[name] for row in fold_rows], dtype=float)
        entry = {
            "value": float(successes / total) if total else float("nan"),
            "successes": float(successes),
            "total": float(total),
            "fold_mean": float(np.nanmean(fold_values)),
            "fold_sd": float(np.nanstd(fold_values, ddof=1))
            if np.sum(~np.isnan(fold_values)) > 1 else float("nan"),
        }
        n = int(round(total))
        if n:
            low, high = wilson_interval(min(int(round(successes)), n), n)
        else:
            low = high = float("nan")
        entry.update(ci_low=low, ci_high=high)
        summary[name] = entry
    aucs = [float(roc_auc_score(y, s)) for s in scores]
    fold_auc = np.array([row["roc_auc"] for row in fold_rows], dtype=float)
    summary["roc_auc"] = {
        "value": float(np.mean(aucs)),
        "per_repeat": aucs,
        "fold_mean": float(np.nanmean(fold_auc)),
        "fold_sd": float(np.nanstd(fold_auc, ddof=1))
        if np.sum(~np.isnan(fold_auc)) > 1 else float("nan"),
    }
    summary["per_repeat_counts"] = per_repeat


def cv_table(summary):
    """Rows of the cross-validation table: rate, value, 95 % CI, folds."""
    rows = []
    for name in RATES:
        entry = summary[name]
        rows.append([
            RATE_LABELS[name],
            f"{entry['value']:.3f}",
            f"[{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]",
            f"{entry['successes']:.1f}/{entry['total']:.1f}",
            f"{entry['fold_mean']:.3f} ± {entry['fold_sd']:.3f}",
        ])
    auc = summary["roc_auc"]
    rows.append(["ROC AUC", f"{auc['value']:.3f}", "not computed", "",
                 f"{auc['fold_mean']:.3f} ± {auc['fold_sd']:.3f}"])
    return rows


CV_HEADER = ("rate", "pooled value", "95% CI (Wilson)", "successes/total",
             "fold mean ± SD")


# ----------------------------------------------------------------- protocol


def _versions():
    from ._persistence import _versions

    return _versions()


def _data(data, *, seed, n_phantom, image_size, progress):
    """Images, labels, groups, the preprocessing pipeline and a description."""
    from ._recipes import make_hemorrhage_pipeline

    if data is None:
        from .datasets import make_head_ct

        # Rendered at 128 px at least, as make_head_ct's measured AUCs are;
        # each pipeline then resizes to its own input size.
        rendered = max(image_size, 128)
        phantom = make_head_ct(n_samples=n_phantom, image_size=rendered,
                               random_state=seed)
        return {
            "images": phantom.images,
            "y": phantom.target,
            "groups": np.arange(len(phantom.target)),
            "hounsfield": True,
            "description": (
                f"the synthetic head CT phantom, hemoclf.datasets.make_head_ct("
                f"n_samples={n_phantom}, image_size={rendered}, "
                f"random_state={seed}): images in Hounsfield units, every image "
                "its own group (no duplicates)"
            ),
            "make": make_hemorrhage_pipeline,
        }
    from ._files import load_labelled

    loaded = load_labelled(data, progress=progress)
    n_groups = len(np.unique(loaded["groups"]))
    return {
        "images": loaded["images"],
        "y": loaded["y"],
        "groups": loaded["groups"],
        "hounsfield": loaded["input"] == "hounsfield",
        "description": (
            f"{data} ({loaded['layout']}), {len(loaded['y'])} images in "
            f"{n_groups} near-duplicate groups"
        ),
        "make": make_hemorrhage_pipeline,
    }


def _paper_pipeline(source, *, image_size, epochs, seed):
    pipe = source["make"]("paper", hounsfield=source["hounsfield"],
                          epochs=epochs, random_state=seed)
    pipe.set_params(resizerescale__output_size=(image_size, image_size))
    return pipe


def _preprocess(pipeline, images):
    """Run the stateless preprocessing once; return it and the CV pipeline.

    CTWindow and ResizeRescale learn nothing from data, so applying them
    before the split is the same as applying them in each fold.
    """
    from sklearn.pipeline import Pipeline

    X = Pipeline(pipeline.steps[:-1]).transform(images)
    return np.asarray(X, dtype=np.float32), Pipeline(pipeline.steps[-1:])


def _phase(name, pipeline, X_train, y_train, X_test, y_test, strategy, seed,
           out, figure_prefix):
    import matplotlib.pyplot as plt

    from .inspection import plot_evaluation, plot_training_history
    from .metrics import clinical_report

    model = with_sampler(pipeline, strategy, seed)
    started = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    scores = model.predict_proba(X_test)[:, 1]
    y_pred = (scores >= 0.5).astype(int)
    text = clinical_report(y_test, y_pred, y_score=scores)
    numbers = clinical_report(y_test, y_pred, y_score=scores, as_dict=True)
    clf = model[-1]

    axes = plot_training_history(clf.history_)
    axes[0].figure.suptitle(f"{name}: training accuracy and loss")
    history_png = out / f"{figure_prefix}_history.png"
    axes[0].figure.savefig(history_png, dpi=100, bbox_inches="tight")
    plt.close(axes[0].figure)
    cm, _ = plot_evaluation(y_test, scores, display_labels=["normal", "hemorrhage"])
    cm.ax_.figure.suptitle(f"{name}: test set")
    eval_png = out / f"{figure_prefix}_confusion_roc.png"
    cm.ax_.figure.savefig(eval_png, dpi=100, bbox_inches="tight")
    plt.close(cm.ax_.figure)
    return {
        "name": name,
        "strategy": strategy,
        "train_counts": np.bincount(y_train, minlength=2).tolist(),
        "test_counts": np.bincount(y_test, minlength=2).tolist(),
        "report_text": text,
        "report": numbers,
        "history": clf.history_,
        "fit_seconds": seconds,
        "figures": [history_png.name, eval_png.name],
    }


def run_reproduce(*, out, data=None, epochs=15, folds=5, repeats=1, seed=0,
                  image_size=64, n_phantom=200, compare_default=False,
                  default_epochs=None, html=False, progress=True, log=print,
                  command=None):
    """Run the protocol and write the report; returns the results dict.

    With ``compare_default`` the default recipe is cross-validated on the
    same folds too (section 4 of the report), one fold at a time; on the
    Kaggle images that adds about eleven minutes on a 2-core CPU with
    AVX-512 (``benchmarks/README.md``).
    """
    import matplotlib

    matplotlib.use("Agg")
    from tqdm.auto import tqdm

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = _data(data, seed=seed, n_phantom=n_phantom, image_size=image_size,
                   progress=progress)
    y, groups = np.asarray(source["y"]), np.asarray(source["groups"])
    check_folds(y, groups, folds)
    pipeline = _paper_pipeline(source, image_size=image_size, epochs=epochs,
                               seed=seed)
    X, classifier_only = _preprocess(pipeline, source["images"])
    log(f"Data: {source['description']}; {int((y == 0).sum())} normal, "
        f"{int((y == 1).sum())} hemorrhage.")

    train, test = train_test_split(np.arange(len(y)), test_size=0.1, stratify=y,
                                   random_state=seed)
    n_cv = (2 if compare_default else 1) * folds * repeats
    bar = tqdm(total=2 + n_cv, desc="reproduce", unit="model",
               file=sys.stderr, disable=not progress)
    phases = []
    for name, shares, prefix in (
        ("Paper protocol, balanced expansion", BALANCED, "balanced"),
        ("Paper protocol, imbalanced expansion", IMBALANCED, "imbalanced"),
    ):
        bar.set_description(prefix)
        strategy = expansion_strategy(y[train], shares)
        phases.append(_phase(name, classifier_only, X[train], y[train], X[test],
                             y[test], strategy, seed, out, prefix))
        bar.update(1)
        log(f"{name}: accuracy {phases[-1]['report']['accuracy']:.3f} on "
            f"{len(test)} test images.")

    bar.set_description("cross-validation")
    cv_model = with_sampler(classifier_only, _CvStrategy(BALANCED), seed)
    cv = cross_validate_clinical(cv_model, X, y, groups, folds=folds,
                                 repeats=repeats, seed=seed, progress=bar)
    default = None
    if compare_default:
        default = _default_recipe_cv(source, y, groups, folds=folds,
                                     repeats=repeats, seed=seed,
                                     epochs=default_epochs, out=out, bar=bar)
    bar.close()
    cv_png = out / "cv_confusion_roc.png"
    _cv_figure(y, cv["scores"][0], cv_png)
    wall = time.perf_counter() - started
    results = {
        "data": source["description"],
        "n_images": int(len(y)),
        "class_counts": np.bincount(y, minlength=2).tolist(),
        "n_groups": int(len(np.unique(groups))),
        "image_size": image_size,
        "epochs": epochs,
        "folds": folds,
        "repeats": repeats,
        "seed": seed,
        "split": {"train": int(len(train)), "test": int(len(test))},
        "phases": phases,
        "cv": {"folds": cv["folds"], "summary": cv["summary"]},
        "default_recipe": default,
        "versions": _versions(),
        "wall_seconds": wall,
        "command": command,
        "platform": platform.platform(),
    }
    _write_report(results, out, html=html, cv_figure=cv_png.name)
    with open(out / "results.json", "w", encoding="utf-8") as stream:
        json.dump(results, stream, indent=2, default=_json_default)
    log(f"Cross-validated ({folds}-fold x {repeats}): sensitivity "
        f"{cv['summary']['sensitivity']['value']:.3f} "
        f"[{cv['summary']['sensitivity']['ci_low']:.3f}, "
        f"{cv['summary']['sensitivity']['ci_high']:.3f}], specificity "
        f"{cv['summary']['specificity']['value']:.3f} "
        f"[{cv['summary']['specificity']['ci_low']:.3f}, "
        f"{cv['summary']['specificity']['ci_high']:.3f}].")
    if default is not None:
        summary = default["summary"]
        log(f"Default recipe, same folds: ROC AUC "
            f"{summary['roc_auc']['value']:.3f}, sensitivity "
            f"{summary['sensitivity']['value']:.3f}, specificity "
            f"{summary['specificity']['value']:.3f}.")
    log(f"Report written to {out / 'report.md'} in {wall:.0f} s.")
    return results


def _default_recipe_cv(source, y, groups, *, folds, repeats, seed, epochs, out,
                       bar):
    """Cross-validate the default recipe on the paper run's folds and seeds."""
    bar.set_description("default recipe")
    params = {"random_state": seed}
    if epochs is not None:
        params["epochs"] = epochs
    pipe = source["make"]("default", hounsfield=source["hounsfield"], **params)
    X, clf = _preprocess(pipe, source["images"])
    cv = cross_validate_clinical(clf, X, y, groups, folds=folds,
                                 repeats=repeats, seed=seed, progress=bar)
    figure = out / "default_cv_confusion_roc.png"
    _cv_figure(y, cv["scores"][0], figure)
    return {
        "folds": cv["folds"],
        "summary": cv["summary"],
        "epochs": int(clf[-1]._resolve_params()["epochs"]),
        "input": "x".join(str(s) for s in X.shape[1:]),
        "figure": figure.name,
    }


class _CvStrategy:
    """The paper's expansion for whatever training fold it is given.

    A callable ``sampling_strategy``: each training fold is expanded by the
    paper's factor, with the given class shares.
    """

    def __init__(self, shares):
        self.shares = shares

    def __call__(self, y):
        return expansion_strategy(np.asarray(y), self.shares)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _cv_figure(y, scores, path):
    import matplotlib.pyplot as plt

    from .inspection import plot_evaluation

    cm, _ = plot_evaluation(y, scores, display_labels=["normal", "hemorrhage"])
    cm.ax_.figure.suptitle("Cross-validation, out-of-fold predictions (repeat 1)")
    cm.ax_.figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(cm.ax_.figure)


def _paper_confusion_rows(report):
    return [
        ["TP (hemorrhage found)", report["tp"]],
        ["TN (normal cleared)", report["tn"]],
        ["FP (false alarm)", report["fp"]],
        ["FN (missed hemorrhage)", report["fn"]],
        ["accuracy", f"{report['accuracy']:.3f}"],
    ]


NOT_LEARNED = (
    "**The network did not learn.** Its training loss stayed at ln 2 = 0.693, "
    "the loss of a constant guess, for all {epochs} epochs: the confusion "
    "matrix below reflects a network that scores every image alike, not the "
    "protocol. On the phantom the paper's CNN leaves that plateau only after "
    "many more epochs (60 epochs at 128x128 reach a cross-validated ROC AUC "
    "of about 0.9, far beyond this run's budget); the default recipe, "
    "make_hemorrhage_pipeline('default'), learns it (ROC AUC about "
    "0.98, see make_head_ct)."
)


def did_not_learn(history, tolerance=0.01):
    """Whether the training loss ended on the plateau of a constant guess."""
    loss = np.asarray(history.get("loss", []), dtype=float)
    return bool(len(loss)) and bool(np.all(np.abs(loss[-3:] - np.log(2)) < tolerance))


def _write_default_section(report, default):
    report.heading("4. The same honest estimate for hemoclf's default recipe")
    report.paragraph(
        "The same folds, seeds and threshold, with the library's default "
        "recipe instead of the paper's CNN: make_hemorrhage_pipeline('default')"
        f", its own preprocessing (input {default['input']}), a compact "
        f"batch-normalised CNN trained for {default['epochs']} epochs with "
        "on-the-fly augmentation (no offline expansion)."
    )
    report.table(CV_HEADER, cv_table(default["summary"]))
    report.figure(default["figure"], "Default recipe: confusion matrix and ROC "
                  "curve of the out-of-fold predictions of the first repeat.")


def _write_report(results, out, *, html, cv_figure):
    report = Report("hemoclf reproduce: the founding paper's protocol, "
                    "then an honest estimate")
    report.paragraph(
        f"Data: {results['data']}; {results['class_counts'][0]} normal and "
        f"{results['class_counts'][1]} hemorrhage images. Every figure below "
        "was measured by this run; nothing is copied from the paper."
    )
    if "phantom" in results["data"]:
        report.paragraph(
            "The phantom is synthetic. These numbers show that the protocol "
            "runs and how much its single split can mislead; they say nothing "
            "about performance on patients' scans."
        )
    report.heading("Settings")
    report.bullets([
        f"Network: the paper's CNN (HemorrhageCNNClassifier(architecture="
        f"'paper')), {results['epochs']} epochs (the paper trains 60), Adam at "
        "1e-3, batches of 32, on-the-fly augmentation as in the paper.",
        f"Input: {results['image_size']}x{results['image_size']} pixels (the "
        "paper uses 128x128); "
        + ("CT windows brain 40/80, subdural 80/200, soft tissue 40/380 HU as "
           "three channels (CTWindow), then ResizeRescale(scale=1)."
           if "phantom" in results["data"] else
           "ResizeRescale of the stored images to [0, 1]."),
        f"Seed {results['seed']}: split, augmentation, weights, shuffling and "
        "CV folds are all drawn from it.",
        f"Command: {results['command'] or 'hemoclf.reproduce'}",
    ])
    for phase, label in zip(results["phases"], ("1", "2")):
        report.heading(f"{label}. {phase['name']}")
        strategy = phase["strategy"]
        report.paragraph(
            f"A 90/10 split stratified by class (train_test_split, "
            f"random_state={results['seed']}): {results['split']['train']} "
            f"training images ({phase['train_counts'][0]} normal, "
            f"{phase['train_counts'][1]} hemorrhage) and "
            f"{results['split']['test']} test images "
            f"({phase['test_counts'][0]} normal, {phase['test_counts'][1]} "
            f"hemorrhage). The training images were expanded by "
            f"AugmentationSampler to {strategy[0]} normal and {strategy[1]} "
            f"hemorrhage images (imbalanced-learn pipeline: the test images "
            f"are never augmented). Training took {phase['fit_seconds']:.0f} s."
        )
        report.paragraph("Confusion matrix in the paper's format (threshold 0.5):")
        report.table(["cell", "count"], _paper_confusion_rows(phase["report"]))
        report.paragraph(
            f"With {results['split']['test']} test images each rate is "
            "uncertain; clinical_report gives its Wilson 95% interval:"
        )
        report.code(phase["report_text"])
        if did_not_learn(phase["history"]):
            report.paragraph(NOT_LEARNED.format(epochs=results["epochs"]))
        report.figure(phase["figures"][0],
                      "Training accuracy and loss per epoch (the paper's "
                      "Figures 7 and 8).")
        report.figure(phase["figures"][1], "Confusion matrix and ROC curve on "
                      "the test images.")
    summary = results["cv"]["summary"]
    report.heading("3. Honest estimate: repeated group-aware cross-validation")
    report.paragraph(
        f"StratifiedGroupKFold with {results['folds']} folds, repeated "
        f"{results['repeats']} time(s) with shuffling (random_state = seed + "
        f"repeat), over all {results['n_images']} images in "
        f"{results['n_groups']} groups: near-duplicate copies of an image "
        "share a group and never straddle training and test. Each training "
        "fold is expanded by the paper's factor (1000/180, balanced) inside "
        "the pipeline; the test fold is never augmented. Each image is scored "
        "once per repeat by a model that did not see it."
    )
    report.table(CV_HEADER, cv_table(summary))
    if summary["roc_auc"]["value"] < 0.6:
        report.paragraph(
            f"**No better than chance:** a pooled ROC AUC of "
            f"{summary['roc_auc']['value']:.3f} means that the network, at "
            f"{results['epochs']} epochs and {results['image_size']}x"
            f"{results['image_size']} pixels, did not learn to tell the "
            "classes apart; the rates above describe a guess."
        )
    report.paragraph(
        "Pooled value: the rate over all out-of-fold predictions, averaged "
        "over repeats. 95% CI: Wilson interval for that many successes among "
        "that many images; it covers the sampling of the images, not the "
        "variation between training runs. Fold mean ± SD: across the "
        f"{results['folds'] * results['repeats']} test folds. No interval is "
        "computed for the ROC AUC."
    )
    report.figure(cv_figure, "Confusion matrix and ROC curve of the out-of-fold "
                  "predictions of the first repeat.")
    default = results["default_recipe"]
    if default is not None:
        _write_default_section(report, default)
    else:
        report.paragraph(
            "hemoclf's default recipe was not cross-validated in this run; "
            "`hemoclf reproduce --compare-default` adds it on the same folds."
        )
    report.heading("Reproducibility")
    report.bullets([f"{name} {version}" for name, version in
                    results["versions"].items()]
                   + [f"platform: {results['platform']}",
                      f"wall time: {results['wall_seconds']:.0f} s",
                      "numbers: results.json"])
    (out / "report.md").write_text(report.to_markdown(), encoding="utf-8")
    if html:
        (out / "report.html").write_text(report.to_html(), encoding="utf-8")
