"""The ``hemoclf`` command line: reproduce, train, predict, evaluate.

Exit codes: 0 success; 1 a failure while running (or, for ``predict``, some
files could not be scored); 2 a usage or input error (bad option, missing
folder, not a model file). Errors are one line on stderr, without a
traceback. Progress bars and informational messages go to stderr and are
switched off by ``--quiet``.
"""

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

from ._models import RECIPE_PARAMS

EXIT_FAILURE = 1
EXIT_USAGE = 2

MAIN_EPILOG = """\
examples:
  hemoclf reproduce --out results/            the paper's protocol on the built-in
                                              phantom (a few minutes on 2 cores)
  hemoclf train data/head_ct --out model.hemoclf
  hemoclf predict model.hemoclf scans/ slice.dcm --csv scores.csv
  hemoclf evaluate model.hemoclf data/test_folder
  hemoclf evaluate --cv data/head_ct --folds 10

DATA is either the Kaggle "Head CT - hemorrhage" folder (NNN.png and
labels.csv) or a folder with one subfolder per class (normal/, hemorrhage/)
holding PNG, JPEG, DICOM or NIfTI files. Run 'hemoclf COMMAND --help' for
the options of a command.
"""

REPRODUCE_EPILOG = """\
examples:
  hemoclf reproduce --out results/
  hemoclf reproduce --out results/ --compare-default   with hemoclf's recipe
  hemoclf reproduce --data data/head_ct --out results/ --epochs 60 --repeats 5
  hemoclf reproduce --quick --out /tmp/smoke      a smoke test (under a minute)

Writes OUT/report.md (and report.html with --html), the figures as PNG and
every number in OUT/results.json.
"""

TRAIN_EPILOG = """\
examples:
  hemoclf train data/head_ct --out model.hemoclf
  hemoclf train data/dicom_by_class --out model.hemoclf --recipe paper --seed 1
  hemoclf train data/head_ct --out ensemble.hemoclf --networks 3

The model file holds the preprocessing and the network: 'hemoclf predict'
takes raw PNG, JPEG, DICOM and NIfTI files with it.
"""

PREDICT_EPILOG = """\
examples:
  hemoclf predict model.hemoclf scans/ --csv scores.csv
  hemoclf predict model.hemoclf a.png b.dcm volume.nii.gz --csv scores.csv

One CSV row per image (per slice for NIfTI volumes and multi-frame DICOM):
file, slice, probability of hemorrhage, label at the model's threshold,
status (ok or error) and the reason of an error. A file that cannot be read
gets an error row and does not stop the others; the exit code is then 1.
The CSV appears only once complete.
"""

EVALUATE_EPILOG = """\
examples:
  hemoclf evaluate model.hemoclf data/test_folder
  hemoclf evaluate --cv data/head_ct --recipe paper --folds 10 --repeats 3

With a MODEL: the confusion matrix and clinical rates on DATA, each rate
with its Wilson 95% interval. With --cv: the recipe trained and tested by
group-aware stratified K-fold cross-validation (copies of one image stay in
one fold).
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and a one-line hint on usage errors."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _common(parser):
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars and no informational messages")


def _seed(parser):
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="random seed of splits, augmentation and training "
                        "(default: 0)")


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def build_parser():
    """The argument parser of the ``hemoclf`` command."""
    from . import __version__

    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="hemoclf",
        description="Detect intracranial hemorrhage on head CT images: reproduce "
        "the founding paper, train a model, score images, evaluate.",
        epilog=MAIN_EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version",
                        version=f"hemoclf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_Parser)

    rep = sub.add_parser(
        "reproduce", help="run the paper's protocol, then an honest "
        "cross-validated estimate, and write a report",
        description="The founding paper's protocol end to end (90/10 split, "
        "augmentation 180->1000, the paper's CNN, its confusion matrix; then "
        "its imbalanced expansion), followed by repeated group-aware "
        "stratified K-fold cross-validation with 95% intervals.",
        epilog=REPRODUCE_EPILOG, formatter_class=fmt,
    )
    rep.add_argument("--data", metavar="DIR",
                     help="Kaggle head CT folder or class-per-folder tree "
                     "(default: the built-in synthetic phantom, no download)")
    rep.add_argument("--out", metavar="DIR", default="hemoclf-reproduce",
                     help="folder for the report, figures and results.json "
                     "(default: ./hemoclf-reproduce)")
    rep.add_argument("--epochs", type=_positive(int), metavar="N",
                     help="training epochs (default: 15, to finish in about five "
                     "minutes on two CPU cores; the paper: 60)")
    rep.add_argument("--folds", type=_positive(int), metavar="K",
                     help="cross-validation folds (default: 5)")
    rep.add_argument("--repeats", type=_positive(int), metavar="R",
                     help="cross-validation repeats (default: 1)")
    _seed(rep)
    rep.add_argument("--compare-default", action="store_true",
                     help="also cross-validate hemoclf's default recipe on the "
                     "same folds (10 to 20 more minutes on the Kaggle images "
                     "with 10 folds, on two CPU cores)")
    rep.add_argument("--default-epochs", type=_positive(int), metavar="N",
                     help="epochs of the default recipe's cross-validation, "
                     "with --compare-default (default: the recipe's, "
                     f"{RECIPE_PARAMS['default']['epochs']})")
    rep.add_argument("--quick", action="store_true",
                     help="a smoke test: 40 phantom images of 32 px, "
                     "1 epoch, 2 folds (explicit options still win)")
    rep.add_argument("--html", action="store_true",
                     help="also write report.html")
    advanced = rep.add_argument_group("advanced")
    advanced.add_argument("--image-size", type=_positive(int), metavar="N",
                          help="side of the network input in pixels (default: "
                          "64; the paper: 128)")
    advanced.add_argument("--phantom-size", type=_positive(int), metavar="N",
                          help="number of phantom images (default: 200, as the "
                          "Kaggle set)")
    _common(rep)

    tr = sub.add_parser(
        "train", help="train a model on labelled images and write a model file",
        description="Train the preprocessing and network of a recipe on all "
        "images of DATA and write them to one model file.",
        epilog=TRAIN_EPILOG, formatter_class=fmt,
    )
    tr.add_argument("data", metavar="DATA", help="labelled images (see "
                    "'hemoclf --help')")
    tr.add_argument("--out", required=True, metavar="MODEL",
                    help="model file to write, e.g. model.hemoclf")
    tr.add_argument("--recipe", choices=("default", "paper"), default="default",
                    help="'default': hemoclf's network; 'paper': the founding "
                    "paper's (default: default)")
    tr.add_argument("--epochs", type=_positive(int), metavar="N",
                    help="training epochs (default: the recipe's: "
                    f"{RECIPE_PARAMS['default']['epochs']} for default, "
                    f"{RECIPE_PARAMS['paper']['epochs']} for paper)")
    _networks_option(tr)
    _seed(tr)
    advanced = tr.add_argument_group("advanced")
    advanced.add_argument("--image-size", type=_positive(int), metavar="N",
                          help="side of the network input in pixels (default: "
                          "the recipe's, 128)")
    _common(tr)

    pr = sub.add_parser(
        "predict", help="score image files with a model and write a CSV",
        description="Score PNG, JPEG, DICOM and NIfTI files (or folders of "
        "them, mixed) with a model file.",
        epilog=PREDICT_EPILOG, formatter_class=fmt,
    )
    pr.add_argument("model", metavar="MODEL", help="model file")
    pr.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="image files or folders (searched recursively)")
    pr.add_argument("--csv", required=True, metavar="OUT", help="CSV file to write")
    pr.add_argument("--jobs", type=_positive(int), default=None, metavar="N",
                    help="threads that read and preprocess files (default: "
                    "all cores, up to 8)")
    pr.add_argument("--batch-size", type=_positive(int), default=32, metavar="N",
                    help="images held in memory and scored at once (default: 32)")
    _common(pr)

    ev = sub.add_parser(
        "evaluate", help="clinical metrics with 95%% intervals, of a model or "
        "cross-validated",
        description="Evaluate a model file on labelled images, or "
        "cross-validate a recipe with --cv.",
        epilog=EVALUATE_EPILOG, formatter_class=fmt,
    )
    ev.add_argument("paths", nargs="+", metavar="MODEL DATA",
                    help="MODEL DATA, or DATA alone with --cv")
    ev.add_argument("--cv", action="store_true",
                    help="cross-validate the recipe on DATA instead of "
                    "evaluating a model file")
    ev.add_argument("--recipe", choices=("default", "paper"), default="default",
                    help="recipe to cross-validate (with --cv)")
    ev.add_argument("--folds", type=_positive(int), default=10, metavar="K",
                    help="cross-validation folds (with --cv; default: 10)")
    ev.add_argument("--repeats", type=_positive(int), default=1, metavar="R",
                    help="cross-validation repeats (with --cv; default: 1)")
    ev.add_argument("--epochs", type=_positive(int), metavar="N",
                    help="training epochs (with --cv; default: the recipe's)")
    _networks_option(ev, " (with --cv)")
    _seed(ev)
    advanced = ev.add_argument_group("advanced")
    advanced.add_argument("--image-size", type=_positive(int), metavar="N",
                          help="side of the network input (with --cv)")
    _common(ev)
    return parser


# ----------------------------------------------------------------- helpers


def _info(args):
    def log(message):
        if not args.quiet:
            print(message, file=sys.stderr)
    return log


def _load_data(path, args, window=(40.0, 80.0)):
    from ._files import InputError, load_labelled

    try:
        return load_labelled(path, progress=not args.quiet, window=window)
    except (ValueError, FileNotFoundError) as exc:
        raise InputError(str(exc)) from exc


def _networks_option(parser, scope=""):
    parser.add_argument("--networks", type=_positive(int), default=1, metavar="K",
                        help="average the probabilities of K networks trained "
                        "from seeds SEED, SEED+1, ...; K times the training "
                        f"and prediction time{scope} (default: 1)")


def _recipe_pipeline(recipe, hounsfield, args):
    from ._recipes import make_hemorrhage_pipeline

    params = {"random_state": args.seed}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    pipe = make_hemorrhage_pipeline(recipe, hounsfield=hounsfield,
                                    n_networks=args.networks, **params)
    if args.image_size is not None:
        pipe.set_params(resizerescale__output_size=(args.image_size,) * 2)
    return pipe


def _epoch_progress(total, desc, disable):
    """A Keras callback that advances a tqdm bar once per epoch."""
    import keras
    from tqdm.auto import tqdm

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=total, desc=desc, unit="epoch", file=sys.stderr,
                            disable=disable)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.set_postfix(loss=f"{(logs or {}).get('loss', float('nan')):.3f}")
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochProgress()


def _pipeline_manifest(path):
    """The model file's manifest; refuses a classifier without preprocessing."""
    from ._files import InputError
    from ._persistence import read_manifest

    manifest = read_manifest(path)
    if manifest.get("estimator") != "pipeline":
        raise InputError(
            f"{path} holds a bare classifier without preprocessing; save a "
            "pipeline that starts from raw images (as 'hemoclf train' does)."
        )
    return manifest


def _open_model(path):
    from ._persistence import load_model
    from .inspection._grad_cam import split_estimator

    manifest = _pipeline_manifest(path)
    estimator = load_model(path)
    steps, clf = split_estimator(estimator, ensembles=True)
    threshold = manifest.get("threshold")
    threshold = 0.5 if threshold is None else float(threshold)
    names = manifest.get("class_names") or [str(c) for c in clf.classes_]
    return estimator, manifest, steps, clf, threshold, names


# ---------------------------------------------------------------- commands


def cmd_reproduce(args):
    from ._reproduce import run_reproduce

    quick = args.quick
    settings = {
        "epochs": args.epochs or (1 if quick else 15),
        "folds": args.folds or (2 if quick else 5),
        "repeats": args.repeats or 1,
        "image_size": args.image_size or (32 if quick else 64),
        "n_phantom": args.phantom_size or (40 if quick else 200),
        "compare_default": args.compare_default,
        "default_epochs": args.default_epochs or (1 if quick else None),
    }
    from ._files import InputError

    if args.data is not None and not Path(args.data).is_dir():
        raise InputError(f"--data {args.data} is not a folder.")
    if args.default_epochs is not None and not args.compare_default:
        raise InputError("--default-epochs sets the epochs of the default "
                         "recipe's cross-validation, which runs only with "
                         "--compare-default; add it, or drop --default-epochs.")
    run_reproduce(out=args.out, data=args.data, seed=args.seed, html=args.html,
                  progress=not args.quiet, log=_info(args),
                  command="hemoclf " + " ".join(sys.argv[1:]), **settings)
    return 0


def cmd_train(args):
    from ._files import INPUT_HU, InputError
    from ._persistence import save_model

    log = _info(args)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise InputError(f"The folder of --out {out} does not exist; create it "
                         "first.")
    data = _load_data(args.data, args)
    y = data["y"]
    pipe = _recipe_pipeline(args.recipe, data["input"] == INPUT_HU, args)
    networks = _networks_of(pipe[-1])
    epochs = networks[0]._resolve_params()["epochs"]
    for k, clf in enumerate(networks):
        desc = "training" if len(networks) == 1 else (
            f"training network {k + 1}/{len(networks)}")
        clf.set_params(callbacks=[_epoch_progress(epochs, desc, args.quiet)])
    log(f"Training the {args.recipe!r} recipe"
        + (f" ({len(networks)} networks)" if len(networks) > 1 else "")
        + f" on {len(y)} images "
        f"({int((y == 0).sum())} {data['class_names'][0]}, "
        f"{int((y == 1).sum())} {data['class_names'][1]}) from {args.data}.")
    started = time.perf_counter()
    pipe.fit(data["images"], y)
    seconds = time.perf_counter() - started
    # The progress bars are not part of the model.
    for clf in networks + _networks_of(pipe[-1], fitted=True):
        clf.set_params(callbacks=None)
    metadata = {
        "trained_on": os.fspath(Path(args.data).resolve()),
        "layout": data["layout"],
        "n_images": int(len(y)),
        "class_counts": [int((y == 0).sum()), int((y == 1).sum())],
        "recipe": args.recipe,
        "epochs": int(epochs),
        "networks": len(networks),
        "seed": args.seed,
        "rendered_from_hounsfield": data["rendered"],
        "training_seconds": round(seconds, 1),
    }
    save_model(pipe, out, class_names=data["class_names"], metadata=metadata)
    accuracy = min(clf.history_.get("accuracy", [float("nan")])[-1]
                   for clf in _networks_of(pipe[-1], fitted=True))
    log(f"Trained in {seconds:.0f} s (final training accuracy {accuracy:.3f}"
        + (", the lowest of the networks" if len(networks) > 1 else "")
        + ", "
        "which says nothing about new images: run 'hemoclf evaluate --cv' for "
        f"an honest estimate). Model written to {out}.")
    return 0


def _networks_of(classifier, fitted=False):
    """The classifiers of a pipeline's last step: itself, or an ensemble's."""
    if hasattr(classifier, "estimators"):
        return list(classifier.estimators_ if fitted else
                    [net for _, net in classifier.estimators])
    return [classifier]


def cmd_predict(args):
    from tqdm.auto import tqdm

    from ._files import AtomicCSV, list_inputs
    from ._streaming import ROW_FIELDS, predict_files

    log = _info(args)
    files = list_inputs(args.inputs)
    manifest = _pipeline_manifest(args.model)
    threshold = manifest.get("threshold")
    threshold = 0.5 if threshold is None else float(threshold)
    failed = scored = 0
    with AtomicCSV(args.csv, list(ROW_FIELDS)) as writer:
        progress = tqdm(files, desc="predict", unit="file", file=sys.stderr,
                        disable=args.quiet)
        # Reading and preprocessing run in threads a bounded number of
        # batches ahead of the network: memory stays flat for any input size.
        for row in predict_files(args.model, progress, batch_size=args.batch_size,
                                 n_jobs=args.jobs):
            if row["status"] == "ok":
                scored += 1
                writer.writerow([row["file"], _blank(row["slice"]),
                                 repr(row["probability"]), row["label"], "ok", ""])
            else:
                failed += 1
                writer.writerow([row["file"], _blank(row["slice"]), "", "",
                                 "error", row["reason"]])
    log(f"Scored {scored} images from {len(files)} files at threshold "
        f"{threshold:g}; {failed} could not be scored (see the status and "
        f"reason columns). Written to {args.csv}.")
    return EXIT_FAILURE if failed else 0


def _blank(value):
    return "" if value is None else value


def cmd_evaluate(args):
    from ._files import INPUT_HU, InputError

    if args.cv:
        if len(args.paths) != 1:
            raise InputError("evaluate --cv takes one DATA folder; got "
                             f"{len(args.paths)} paths.")
        return _evaluate_cv(args, args.paths[0])
    if len(args.paths) != 2:
        raise InputError("evaluate takes MODEL DATA (or --cv DATA); got "
                         f"{len(args.paths)} paths.")
    from ._files import window_to_display
    from .metrics import clinical_report

    model_path, data_path = args.paths
    estimator, manifest, steps, clf, threshold, names = _open_model(model_path)
    window = (40.0, 80.0)
    if manifest["input"] != INPUT_HU:
        window = tuple(manifest["render"]["dicom"]["window"])
    data = _load_data(data_path, args, window=window)
    images = data["images"]
    if manifest["input"] == INPUT_HU and data["input"] != INPUT_HU:
        raise InputError(
            f"{model_path} takes Hounsfield units (DICOM/NIfTI), but {data_path} "
            "holds display images (PNG/JPEG)."
        )
    if manifest["input"] != INPUT_HU and data["input"] == INPUT_HU:
        images = [window_to_display(image, window) for image in images]
    proba = _batched_proba(estimator, images, args.quiet)
    y_pred = (proba >= threshold).astype(int)
    print(f"Model {model_path} on {data_path}: {len(data['y'])} images, "
          f"threshold {threshold:g}, positive class {names[1]!r}.")
    print(clinical_report(data["y"], y_pred, y_score=proba))
    return 0


def _batched_proba(estimator, images, quiet, batch_size=64):
    import numpy as np
    from tqdm.auto import tqdm

    out = []
    for start in tqdm(range(0, len(images), batch_size), desc="scoring",
                      unit="batch", file=sys.stderr, disable=quiet):
        out.append(estimator.predict_proba(images[start : start + batch_size])[:, 1])
    return np.concatenate(out)


def _evaluate_cv(args, data_path):
    from tqdm.auto import tqdm

    from ._files import INPUT_HU, InputError
    from ._reproduce import (
        CV_HEADER,
        _preprocess,
        check_folds,
        cross_validate_clinical,
        cv_table,
    )

    data = _load_data(data_path, args)
    try:
        check_folds(data["y"], data["groups"], args.folds)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    pipe = _recipe_pipeline(args.recipe, data["input"] == INPUT_HU, args)
    X, classifier_only = _preprocess(pipe, data["images"])
    bar = tqdm(total=args.folds * args.repeats, desc="cross-validation",
               unit="fold", file=sys.stderr, disable=args.quiet)
    result = cross_validate_clinical(classifier_only, X, data["y"], data["groups"],
                                     folds=args.folds, repeats=args.repeats,
                                     seed=args.seed, progress=bar)
    bar.close()
    n_groups = len(set(data["groups"].tolist()))
    averaged = (f" (average of {args.networks} networks)" if args.networks > 1
                else "")
    print(f"Recipe {args.recipe!r}{averaged} on {data_path}: {len(data['y'])} "
          "images in "
          f"{n_groups} near-duplicate groups; StratifiedGroupKFold, "
          f"{args.folds} folds x {args.repeats} repeat(s), seed {args.seed}.")
    rows = [CV_HEADER] + cv_table(result["summary"])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(CV_HEADER))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    print("Pooled value: all out-of-fold predictions at threshold 0.5; 95% CI: "
          "Wilson interval over the images.")
    return 0


COMMANDS = {
    "reproduce": cmd_reproduce,
    "train": cmd_train,
    "predict": cmd_predict,
    "evaluate": cmd_evaluate,
}


def prefer_onednn():
    """Let TensorFlow train with oneDNN on x86-64, unless the user said otherwise.

    TensorFlow's x86-64 builds turn oneDNN on by default only on CPUs with
    certain instruction sets; on a CPU without AVX-512 the default recipe
    trained about 1.6 times as fast with it (see the installation guide).
    TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is imported, so
    this must run first; a value already in the environment is kept. The
    command's process is hemoclf's own: the library itself never sets it.
    """
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def main(argv=None):
    """Run the ``hemoclf`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    prefer_onednn()
    # TensorFlow's Python warnings (e.g. on retracing, expected when one
    # process trains many models) would bury the progress bars.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from ._files import InputError
    from ._persistence import ModelFileError

    try:
        return COMMANDS[args.command](args)
    except (InputError, ModelFileError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"hemoclf {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"hemoclf {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        print(f"hemoclf {args.command}: failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
