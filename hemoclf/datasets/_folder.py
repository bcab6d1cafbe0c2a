"""Load a folder of images with one subfolder per class."""

import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

from ._readers import _PARALLEL_CONSTRAINTS, _read_all

NEGATIVE_CLASS = "normal"
POSITIVE_CLASS = "hemorrhage"


def _class_order(names):
    """``normal`` first, ``hemorrhage`` next, the other names sorted after."""
    rank = {NEGATIVE_CLASS: 0, POSITIVE_CLASS: 1}
    return sorted(names, key=lambda name: (rank.get(name.lower(), 2), name))


def _visible(path, root):
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


@validate_params(
    {
        "path": [str, os.PathLike],
        "return_X_y": ["boolean"],
        **_PARALLEL_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def load_image_folder(
    path,
    *,
    return_X_y=False,
    on_error="raise",
    n_jobs=None,
    progress=None,
):
    """Load images from a folder with one subfolder per class.

    Every file under a class folder, at any depth, is read with
    :func:`~hemoclf.datasets.read_image`, whatever its extension: PNG, JPEG,
    DICOM and NIfTI can be mixed. Each axial slice of a NIfTI volume (and
    each frame of a multi-frame DICOM) becomes one sample. Hidden files and
    folders (names starting with ``"."``) are ignored.

    Parameters
    ----------
    path : str or path-like
        The folder, e.g. holding ``normal/`` and ``hemorrhage/``.

    return_X_y : bool, default=False
        If true, return ``(images, target)`` instead of a Bunch.

    on_error : {"raise", "skip"}, default="raise"
        What to do with a file that cannot be read: raise a
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
            One 2-D image (or ``(H, W, C)`` colour image) per sample, as
            :func:`~hemoclf.datasets.read_image` returns it: stored pixels
            for PNG and JPEG, Hounsfield units for DICOM and NIfTI.
        target : ndarray of shape (n_samples,), int
            Index of the sample's class in ``target_names``.
        target_names : ndarray of str
            Class folder names: ``"normal"`` first (label 0), then
            ``"hemorrhage"`` (label 1), then any other names in sorted order.
        filenames : ndarray of shape (n_samples,), str
            The file each sample comes from (repeated for the slices of a
            volume).
        slice_index : ndarray of shape (n_samples,), int
            Index of the slice in its volume (NIfTI, from the feet up) or of
            the frame in a multi-frame DICOM; -1 for a file holding one
            image.
        skipped : list of (str, str)
            Files left out with ``on_error="skip"`` and the reason.

    (images, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a folder.
    ValueError
        If the folder holds no class folder, or a class folder holds no file.
    ReadError
        With ``on_error="raise"``, for a file that cannot be read.

    See Also
    --------
    read_image : The reader used for each file.
    load_head_ct : The Kaggle head CT folder layout.

    Notes
    -----
    Slices of one volume (or of one patient's series) are strongly
    correlated: split them with a group-aware splitter, e.g.
    ``GroupKFold().split(X, y, groups=data.filenames)`` for volumes.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from hemoclf.datasets import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> for name, n in (("normal", 2), ("hemorrhage", 1)):
    ...     os.mkdir(os.path.join(root, name))
    ...     for k in range(n):
    ...         Image.fromarray(np.zeros((8, 8), np.uint8)).save(
    ...             os.path.join(root, name, f"{k}.png"))
    >>> data = load_image_folder(root)
    >>> data.target_names, data.target
    (array(['normal', 'hemorrhage'], dtype='<U10'), array([0, 0, 1]))
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root} is not a folder; pass the folder that holds one subfolder "
            "per class, e.g. normal/ and hemorrhage/."
        )
    entries = [p for p in sorted(root.iterdir()) if _visible(p, root)]
    classes = _class_order([p.name for p in entries if p.is_dir()])
    if not classes:
        what = "is empty" if not entries else "holds no class folder"
        raise ValueError(
            f"{root} {what}: put the images in one subfolder per class, e.g. "
            f"{root / NEGATIVE_CLASS} and {root / POSITIVE_CLASS}."
        )
    loose = [p.name for p in entries if p.is_file()]
    if loose:
        warnings.warn(
            f"Ignored {len(loose)} file(s) in {root} outside the class folders: "
            f"{', '.join(loose[:5])}. Move images into a class folder.",
            UserWarning,
            stacklevel=2,
        )
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        files = [p for p in sorted(folder.rglob("*"))
                 if p.is_file() and _visible(p, root)]
        if not files:
            raise ValueError(
                f"The class folder {folder} holds no files; add its images or "
                "remove the folder."
            )
        paths += files
        labels += [label] * len(files)
    kept, skipped = _read_all(paths, on_error=on_error, n_jobs=n_jobs,
                              progress=progress, desc="Reading images")
    label_of = dict(zip(map(os.fspath, paths), labels))
    images, target, filenames, slice_index = [], [], [], []
    for file, image, is_volume in kept:
        slices = list(image) if is_volume else [image]
        images += slices
        target += [label_of[file]] * len(slices)
        filenames += [file] * len(slices)
        slice_index += list(range(len(slices))) if is_volume else [-1]
    target = np.array(target, dtype=int)
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        target_names=np.array(classes),
        filenames=np.array(filenames, dtype=str),
        slice_index=np.array(slice_index, dtype=int),
        skipped=skipped,
    )
