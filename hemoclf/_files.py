"""Input files for the command line: labelled data, images to score, CSV out.

Every file is read by :mod:`hemoclf.datasets`; this module only decides
what the model receives: display images (PNG/JPEG exports of CT) or
Hounsfield units (DICOM, NIfTI), rendering one into the other where the
model file says how.
"""

import csv
import os
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ._persistence import INPUT_DISPLAY, INPUT_HU

HU_FORMATS = ("dicom", "nifti")


class InputError(ValueError):
    """Bad input named on the command line (exit code 2)."""


def is_hounsfield(image, fmt):
    """Whether ``image``, read from a file of format ``fmt``, holds HU."""
    return fmt in HU_FORMATS and image.dtype == np.float32


def window_to_display(image, window):
    """Hounsfield units through a ``(center, width)`` window onto 0-255 gray."""
    center, width = window
    low = center - width / 2
    return (np.clip((image - low) / width, 0, 1) * 255).astype(np.float32)


def render(image, fmt, manifest):
    """An image read from a file, as the model's pipeline takes it.

    Raises
    ------
    ValueError
        If the model cannot take this kind of image (a PNG for a model that
        takes Hounsfield units).
    """
    if manifest["input"] == INPUT_HU:
        if not is_hounsfield(image, fmt):
            raise ValueError(
                f"the model takes Hounsfield units (DICOM or NIfTI CT), and this "
                f"{fmt.upper()} image is already rendered for display; score it "
                "with a model trained on PNG/JPEG images."
            )
        return image
    if is_hounsfield(image, fmt):
        return window_to_display(image, manifest["render"][fmt]["window"])
    return image


def slices_of(image, fmt):
    """``[(slice index or None, 2-D image)]`` of one file's content."""
    if fmt in HU_FORMATS and image.ndim == 3 and image.dtype == np.float32:
        return [(k, image[k]) for k in range(image.shape[0])]
    return [(None, image)]


def list_inputs(paths):
    """The files named by ``paths`` (files, or folders searched recursively).

    Hidden files and folders are skipped inside folders. Order: as given,
    each folder's files sorted.
    """
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise InputError(f"{path} is an empty folder; no image to score.")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path} does not exist; pass image files or folders.")
    return files


def _union_groups(*labelings):
    """Connected components of samples sharing a label in any labeling."""
    n = len(labelings[0])
    rows, cols = [], []
    offset = n
    for labels in labelings:
        _, codes = np.unique(labels, return_inverse=True)
        rows.append(np.arange(n))
        cols.append(offset + codes)
        offset += codes.max() + 1
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(offset, offset))
    _, components = connected_components(graph, directed=False)
    _, groups = np.unique(components[:n], return_inverse=True)
    return groups


def load_labelled(path, *, progress=False, window=(40.0, 80.0)):
    """Labelled images from the Kaggle layout or a class-per-folder tree.

    Returns
    -------
    data : dict
        ``images`` (list, as the model's pipeline takes them), ``y`` (0/1
        ints, 1 hemorrhage), ``groups`` (near-duplicate copies and the slices
        of one volume share a group), ``class_names``, ``input`` (``"display"``
        or ``"hounsfield"``), ``layout``, ``rendered`` (files rendered from HU
        to display, when DICOM and PNG are mixed).
    """
    from .datasets import find_near_duplicates, load_head_ct, load_image_folder
    from .datasets._readers import sniff_format

    root = Path(path)
    if not root.is_dir():
        raise InputError(
            f"{root} is not a folder; pass the Kaggle folder (NNN.png and "
            "labels.csv) or a folder with one subfolder per class "
            "(normal/, hemorrhage/)."
        )
    if (root / "labels.csv").is_file() or (root / "head_ct" / "labels.csv").is_file():
        data = load_head_ct(root, progress=progress)
        return {
            "images": data.images,
            "y": np.asarray(data.target, dtype=int),
            "groups": np.asarray(data.groups),
            "class_names": ["normal", "hemorrhage"],
            "input": INPUT_DISPLAY,
            "layout": "Kaggle head CT (labels.csv)",
            "rendered": 0,
        }
    data = load_image_folder(root, progress=progress)
    if len(data.target_names) != 2:
        raise InputError(
            f"{root} has {len(data.target_names)} class folders "
            f"({', '.join(data.target_names)}); hemoclf needs two: normal and "
            "hemorrhage."
        )
    formats = {f: sniff_format(f) for f in np.unique(data.filenames)}
    hu = np.array([is_hounsfield(img, formats[f])
                   for img, f in zip(data.images, data.filenames)])
    images, rendered = list(data.images), 0
    if hu.all():
        kind = INPUT_HU
    else:
        kind = INPUT_DISPLAY
        for k in np.flatnonzero(hu):
            images[k] = window_to_display(images[k], window)
            rendered += 1
    duplicates = find_near_duplicates(images) if kind == INPUT_DISPLAY else (
        np.arange(len(images))
    )
    return {
        "images": images,
        "y": np.asarray(data.target, dtype=int),
        "groups": _union_groups(duplicates, data.filenames),
        "class_names": [str(name) for name in data.target_names],
        "input": kind,
        "layout": "one folder per class",
        "rendered": rendered,
    }


class AtomicCSV:
    """A CSV file written to a temporary file and moved into place on success.

    Use as a context manager: on an exception (or Ctrl-C) inside the block
    the temporary file is removed and ``path`` is left as it was.
    """

    def __init__(self, path, header):
        self.path = Path(path)
        self.header = header

    def __enter__(self):
        import tempfile

        if not self.path.parent.is_dir():
            raise InputError(
                f"The folder of {self.path} does not exist; create it or pick "
                "another --csv path."
            )
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent,
                                         prefix=f".{self.path.name}.", suffix=".tmp")
        self._stream = os.fdopen(fd, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self._stream)
        self.writer.writerow(self.header)
        return self.writer

    def __exit__(self, exc_type, exc, tb):
        try:
            self._stream.close()
        finally:
            if exc_type is None:
                os.replace(self._tmp, self.path)
            else:
                Path(self._tmp).unlink(missing_ok=True)
        return False
