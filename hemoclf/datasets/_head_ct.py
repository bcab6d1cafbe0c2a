"""Load the Kaggle "Head CT - hemorrhage" images from a local folder."""

import csv
import os
import re
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

from ._descr import load_descr
from ._duplicates import find_near_duplicates
from ._readers import _PARALLEL_CONSTRAINTS, _read_all

DATA_ENV = "HEMOCLF_DATA"
_PNG_NAME = re.compile(r"(\d+)\.png", re.IGNORECASE)


def _head_ct_folder(data_home):
    """The folder holding labels.csv, from ``data_home`` or HEMOCLF_DATA."""
    if data_home is None:
        root = os.environ.get(DATA_ENV)
        if not root:
            raise FileNotFoundError(
                "No head CT folder given: pass data_home=<folder with NNN.png "
                f"and labels.csv> or set the environment variable {DATA_ENV} to "
                "the folder that holds head_ct/. The images are never "
                "downloaded; get them from Kaggle, 'Head CT - hemorrhage' "
                "(doi:10.34740/KAGGLE/DSV/152137)."
            )
        candidates = [Path(root) / "head_ct"]
    else:
        candidates = [Path(data_home), Path(data_home) / "head_ct"]
    for folder in candidates:
        if (folder / "labels.csv").is_file():
            return folder
    raise FileNotFoundError(
        f"No labels.csv in {' or '.join(str(c) for c in candidates)}: point "
        "data_home (or HEMOCLF_DATA/head_ct) to the folder with the Kaggle "
        "files NNN.png and labels.csv."
    )


def _read_labels(path):
    """``{id: label}`` from labels.csv (header ``id, hemorrhage``)."""
    labels = {}
    with open(path, newline="", encoding="utf-8-sig") as stream:
        rows = csv.reader(stream, skipinitialspace=True)
        header = [name.strip().lower() for name in next(rows, [])]
        if "id" not in header or "hemorrhage" not in header:
            raise ValueError(
                f"{path}: the header must name the columns 'id' and "
                f"'hemorrhage' (as in 'id, hemorrhage'); found {header}."
            )
        i_id, i_label = header.index("id"), header.index("hemorrhage")
        for line, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            try:
                key, label = row[i_id].strip(), row[i_label].strip()
            except IndexError:
                raise ValueError(
                    f"{path}, line {line}: expected {len(header)} columns, got "
                    f"{row}."
                ) from None
            if not key.isdigit():
                raise ValueError(
                    f"{path}, line {line}: id {key!r} is not a non-negative "
                    "integer; ids name the files, e.g. 7 or 007 for 007.png."
                )
            if label not in ("0", "1"):
                raise ValueError(
                    f"{path}, line {line}: hemorrhage {label!r} must be 0 "
                    "(normal) or 1 (hemorrhage)."
                )
            if int(key) in labels:
                raise ValueError(
                    f"{path}, line {line}: id {int(key)} appears twice; keep "
                    "one row per image."
                )
            labels[int(key)] = int(label)
    if not labels:
        raise ValueError(f"{path} has a header but no rows.")
    return labels


def _png_files(folder):
    """``{id: path}`` of the files named NNN.png (padded or not)."""
    files = {}
    for path in sorted(folder.iterdir()):
        match = _PNG_NAME.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        key = int(match.group(1))
        if key in files:
            raise ValueError(
                f"{files[key].name} and {path.name} in {folder} both stand for "
                f"id {key}; keep one of them."
            )
        files[key] = path
    return files


def _list_ids(ids, limit=20):
    ids = sorted(ids)
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "return_X_y": ["boolean"],
        **_PARALLEL_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def load_head_ct(
    data_home=None,
    *,
    return_X_y=False,
    on_error="raise",
    n_jobs=None,
    progress=None,
):
    r"""Load the Kaggle "Head CT - hemorrhage" set from a local folder.

    200 head CT slices exported as PNG, 100 with and 100 without
    intracranial hemorrhage (Kitamura, 2018). The files are never downloaded:
    they are read from ``data_home`` or from ``$HEMOCLF_DATA/head_ct``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder holding ``labels.csv`` and the images ``NNN.png``, or a
        folder that holds it as ``head_ct/``. ``None`` reads the folder
        ``head_ct`` under the environment variable ``HEMOCLF_DATA``.

    return_X_y : bool, default=False
        If true, return ``(images, target)`` instead of a Bunch.

    on_error : {"raise", "skip"}, default="raise"
        What to do with an image that cannot be read: raise a
        :class:`~hemoclf.datasets.ReadError`, or leave it out, list it in
        ``skipped`` and warn.

    n_jobs : int, default=None
        Number of files read at once, in threads (see
        :func:`~hemoclf.datasets.read_images`). ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context; ``-1`` means all CPUs.

    progress : bool, default=None
        Show a progress bar; ``None`` shows it only in an interactive
        terminal.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with:

        images : list of ndarray
            The images as stored, ``uint8`` of shape ``(H, W, 3)`` (RGB) or
            ``(H, W, 4)`` (RGBA, alpha 255), sizes 134 to 957 pixels.
            :class:`~hemoclf.preprocessing.ResizeRescale` drops the alpha
            channel and brings them to one size. Ordered by id.
        target : ndarray of shape (n_images,), int
            1 for hemorrhage, 0 for normal.
        filenames : ndarray of shape (n_images,), str
            Path of each image.
        groups : ndarray of shape (n_images,), int
            Near-duplicate groups from
            :func:`~hemoclf.datasets.find_near_duplicates`: copies of one
            image share a group. Pass them as ``groups`` to
            :class:`~sklearn.model_selection.StratifiedGroupKFold`.
        target_names : ndarray of str
            ``["normal", "hemorrhage"]``.
        skipped : list of (str, str)
            Files left out with ``on_error="skip"`` and the reason.
        DESCR : str
            Description of the set: source, citation, license status and
            known duplicates.

    (images, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If no folder with ``labels.csv`` is found.
    ValueError
        If ``labels.csv`` is malformed, or if labels and image files do not
        match (the message lists the missing and extra ids).
    ReadError
        With ``on_error="raise"``, for an image that cannot be read.

    See Also
    --------
    make_head_ct : A synthetic stand-in, always available.
    load_image_folder : Any folder with one subfolder per class.

    Examples
    --------
    With ``HEMOCLF_DATA`` set, ``load_head_ct()`` reads the 200 images. The
    same layout in a folder of one's own:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from hemoclf.datasets import load_head_ct
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "labels.csv"), "w") as f:
    ...     _ = f.write("id, hemorrhage\n0,1\n1,0\n")
    >>> for i in range(2):
    ...     Image.fromarray(np.full((40, 30, 3), 60 * i, np.uint8)).save(
    ...         os.path.join(folder, f"{i:03d}.png"))
    >>> data = load_head_ct(folder)
    >>> data.target, data.images[0].shape
    (array([1, 0]), (40, 30, 3))
    """
    folder = _head_ct_folder(data_home)
    labels = _read_labels(folder / "labels.csv")
    files = _png_files(folder)
    missing, extra = set(labels) - set(files), set(files) - set(labels)
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"ids in labels.csv without an image: {_list_ids(missing)}")
        if extra:
            problems.append(f"images without a label: ids {_list_ids(extra)}")
        raise ValueError(
            f"Labels and images in {folder} do not match; "
            + "; ".join(problems)
            + ". Restore the missing files or fix labels.csv."
        )
    ids = sorted(labels)
    kept, skipped = _read_all(
        [files[i] for i in ids], on_error=on_error, n_jobs=n_jobs,
        progress=progress, desc="Reading head CT",
    )
    label_of = {os.fspath(files[i]): labels[i] for i in ids}
    images = [image for _, image, _ in kept]
    target = np.array([label_of[path] for path, _, _ in kept], dtype=int)
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        filenames=np.array([path for path, _, _ in kept], dtype=str),
        groups=find_near_duplicates(images),
        target_names=np.array(["normal", "hemorrhage"]),
        skipped=skipped,
        DESCR=load_descr("head_ct.rst"),
    )
