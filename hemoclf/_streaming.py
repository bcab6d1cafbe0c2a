"""Score image files of any number in bounded memory: :func:`predict_files`.

Files are read, decoded and preprocessed by a pool of threads a bounded
number of batches ahead of the network, which scores one batch at a time;
rows come out in the order of the input as soon as their batch is scored.
What a file becomes before the network sees it (Hounsfield units, or a
window rendered to display gray) is decided by :mod:`hemoclf._files`, as
for ``hemoclf predict``; the files are read by :mod:`hemoclf.datasets`.
"""

import os
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)

# Files read ahead of the network, in batches: memory holds at most about
# (READ_AHEAD_BATCHES + 1) * batch_size preprocessed files at once.
READ_AHEAD_BATCHES = 2

ROW_FIELDS = ("file", "slice", "probability", "label", "status", "reason")


class _Model:
    """A fitted model with what is needed to score raw files with it."""

    def __init__(self, model):
        from ._persistence import (
            DEFAULT_DICOM_WINDOW,
            _manifest,
            load_model,
            read_manifest,
        )
        from .inspection._grad_cam import split_estimator

        if isinstance(model, (str, os.PathLike)):
            manifest = read_manifest(model)
            estimator = load_model(model)
            where = os.fspath(model)
        else:
            _, manifest = _manifest(model, None, DEFAULT_DICOM_WINDOW, None, None)
            estimator = model
            where = f"the {type(model).__name__}"
        if manifest.get("estimator") != "pipeline":
            raise ValueError(
                f"{where} is a bare classifier without preprocessing, which "
                "cannot take image files of any size; pass a pipeline that "
                "starts from raw images, e.g. one made by "
                "hemoclf.make_hemorrhage_pipeline or 'hemoclf train'."
            )
        self.manifest = manifest
        self.steps, self.classifier = split_estimator(estimator, ensembles=True)
        threshold = manifest.get("threshold")
        self.threshold = 0.5 if threshold is None else float(threshold)
        self.names = manifest.get("class_names") or [
            str(c) for c in self.classifier.classes_
        ]

    def prepare(self, path):
        """``[(slice, X or None, reason or None)]`` of one file; never raises.

        ``X`` is the preprocessed image, shape ``(1, H, W, C)``.
        """
        from . import _files
        from .datasets import ReadError, read_image
        from .datasets._readers import sniff_format

        try:
            fmt = sniff_format(path)
            image = read_image(path)
        except ReadError as exc:
            return [(None, None, exc.reason)]
        prepared = []
        for index, part in _files.slices_of(image, fmt):
            try:
                X = [_files.render(part, fmt, self.manifest)]
                for step in self.steps:
                    X = step.transform(X)
            except (ValueError, TypeError) as exc:
                prepared.append((index, None, str(exc)))
                continue
            prepared.append((index, np.asarray(X, dtype=np.float32), None))
        return prepared

    def rows(self, pending):
        """Score the prepared entries of ``pending``; the finished rows."""
        ready = [entry for entry in pending if entry[2] is not None]
        if ready:
            X = np.concatenate([entry[2] for entry in ready])
            proba = self.classifier.predict_proba(X)[:, 1]
            for entry, p in zip(ready, proba):
                entry[2] = float(p)
        for file, index, value, reason in pending:
            if reason is None:
                label = self.names[1] if value >= self.threshold else self.names[0]
                yield dict(zip(ROW_FIELDS, (file, index, value, label, "ok", None)))
            else:
                yield dict(
                    zip(ROW_FIELDS, (file, index, None, None, "error", reason))
                )


def _files_of(paths):
    """``(file, None)`` for the files named by ``paths``, lazily.

    Folders are expanded as they come; an empty folder gives
    ``(folder, reason)``. A missing file is reported when it is read.
    """
    from ._files import InputError, list_inputs

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in paths:
        if Path(path).is_dir():
            try:
                files = list_inputs([path])
            except InputError as exc:
                yield os.fspath(path), str(exc)
                continue
            yield from ((os.fspath(file), None) for file in files)
        else:
            yield os.fspath(path), None


def _n_threads(n_jobs):
    if n_jobs is None:
        return 1
    if n_jobs == 0:
        raise ValueError(
            "n_jobs=0 reads no file; use a positive number of threads, -1 for "
            "one per CPU or None for one."
        )
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return n_jobs


def _stream(model, files, batch_size, n_threads, on_error):
    from .datasets import ReadError

    in_flight = deque()
    pool = ThreadPoolExecutor(n_threads, thread_name_prefix="hemoclf-read")

    def read_ahead():
        while len(in_flight) < batch_size * READ_AHEAD_BATCHES:
            file, reason = next(files, (None, None))
            if file is None:
                return
            if reason is None:
                in_flight.append((file, pool.submit(model.prepare, file)))
            else:
                in_flight.append((file, [(None, None, reason)]))

    try:
        read_ahead()
        pending, n_ready = [], 0
        while in_flight:
            file, entries = in_flight.popleft()
            if not isinstance(entries, list):
                entries = entries.result()
            read_ahead()
            for index, X, reason in entries:
                if reason is not None and on_error == "raise":
                    if Path(file).is_dir():
                        raise ValueError(reason)
                    raise ReadError(
                        file, f"{reason} Pass on_error='record' to get an error "
                        "row for such files instead."
                    )
                pending.append([file, index, X, reason])
                n_ready += X is not None
            if n_ready >= batch_size:
                yield from model.rows(pending)
                pending, n_ready = [], 0
        yield from model.rows(pending)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@validate_params(
    {
        "model": [str, os.PathLike, HasMethods(["predict_proba"])],
        "paths": [str, os.PathLike, Iterable],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "on_error": [StrOptions({"record", "raise"})],
    },
    prefer_skip_nested_validation=True,
)
def predict_files(model, paths, *, batch_size=32, n_jobs=None, on_error="record"):
    """Score image files one batch at a time, in bounded memory.

    The Python side of ``hemoclf predict``: PNG, JPEG, DICOM and NIfTI files
    (mixed, any number, any size) are read and preprocessed by ``n_jobs``
    threads, at most two batches ahead of the network, and scored
    ``batch_size`` images at a time. Rows come out in the order of the
    input, one per image (per slice for NIfTI volumes and multi-frame DICOM),
    as soon as their batch is scored, so memory stays flat however many
    files there are, and a loop over the rows can write them out, stop
    early or be interrupted.

    Parameters
    ----------
    model : str, path-like or estimator
        A model file written by :func:`hemoclf.save_model` or
        ``hemoclf train``, or a fitted pipeline that starts from raw images
        (e.g. made by :func:`hemoclf.make_hemorrhage_pipeline`, with one
        network or an ensemble of them), possibly wrapped in a
        :class:`~sklearn.model_selection.FixedThresholdClassifier`.
        DICOM and NIfTI files go to a model that takes display images
        through the model file's window (the brain window, 40/80 HU, for an
        estimator).

    paths : str, path-like or iterable of them
        Files, and folders searched recursively (hidden files skipped, each
        folder's files sorted). An iterable is consumed lazily: a generator
        over millions of paths is never held in memory.

    batch_size : int, default=32
        Images scored at once by the network.

    n_jobs : int, default=None
        Threads that read, decode and preprocess files. ``None`` means 1;
        ``-1`` means one per CPU. Decoding compressed DICOM and resizing
        release the GIL, so threads help when files are large or
        compressed.

    on_error : {"record", "raise"}, default="record"
        For a file that cannot be read or rendered for the model (or an
        empty folder): ``"record"`` yields a row with ``status="error"`` and
        the reason, and goes on; ``"raise"`` raises.

    Returns
    -------
    rows : generator of dict
        One dict per image, in input order, with the keys

        file : str
            The file (or empty folder).
        slice : int or None
            Slice index in a volume; ``None`` for a 2-D image.
        probability : float or None
            Probability of hemorrhage; ``None`` for an error.
        label : str or None
            The class name at the model's threshold (its recorded
            threshold, else 0.5); ``None`` for an error.
        status : {"ok", "error"}
            Whether the image was scored.
        reason : str or None
            What went wrong and how to fix it.

    Raises
    ------
    hemoclf.datasets.ReadError
        With ``on_error="raise"``, when the generator reaches a file that
        cannot be read or rendered.
    ValueError
        If ``model`` is a bare classifier, without preprocessing; with
        ``on_error="raise"``, for an empty folder.

    See Also
    --------
    hemoclf.load_model : Read a model file.
    hemoclf.datasets.read_image : How each file is read.

    Notes
    -----
    Memory holds at most about ``3 * batch_size`` preprocessed files at a
    time: one batch being gathered and two read ahead. The input is never
    listed as a whole, except for the files of one folder, which are sorted.
    To spread prediction over machines, give each Dask task its own share
    of the paths (see the "Scaling out" guide).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from hemoclf import make_hemorrhage_pipeline, predict_files
    >>> from hemoclf.utils._testing import TINY_CNN_PARAMS, make_square_images
    >>> X, y = make_square_images(16, 16)
    >>> pipe = make_hemorrhage_pipeline("paper", **TINY_CNN_PARAMS)
    >>> pipe = pipe.set_params(resizerescale__output_size=(16, 16))
    >>> pipe = pipe.fit((X[..., 0] * 255).astype(np.uint8), y)
    >>> folder = tempfile.mkdtemp()
    >>> for k in range(3):
    ...     Image.fromarray(np.zeros((20, 30), np.uint8)).save(
    ...         os.path.join(folder, f"{k}.png"))
    >>> _ = open(os.path.join(folder, "notes.txt"), "w").write("no image")
    >>> for row in predict_files(pipe, folder, batch_size=2):
    ...     print(os.path.basename(row["file"]), row["status"])
    0.png ok
    1.png ok
    2.png ok
    notes.txt error
    """
    n_threads = _n_threads(n_jobs)
    scorer = _Model(model)
    return _stream(scorer, _files_of(paths), batch_size, n_threads, on_error)
