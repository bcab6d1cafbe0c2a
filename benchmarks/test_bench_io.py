"""Reading the CQ500 DICOM files and windowing them, against a naive loop.

The naive loop is what a user would write first: for each file,
``pydicom.dcmread``, ``ds.pixel_array``, the rescale to Hounsfield units and
one ``np.clip`` per window, in float64; pydicom decodes the JPEG Lossless
pixel data with its default plugin (pylibjpeg-libjpeg). hemoclf's path is
``read_images(paths, n_jobs=-1)`` (one thread per core, JPEG Lossless decoded
by imagecodecs) followed by ``CTWindow().transform``. Both return the same
(512, 512, 3) windowed images, apart from the padding outside the scan field,
which hemoclf maps to air (0 in every window either way).
"""

import numpy as np
import pytest

from hemoclf.datasets import read_images
from hemoclf.preprocessing import CTWindow

WINDOWS = ((40, 80), (80, 200), (40, 380))
GROUP = "io: CQ500 DICOM read + CTWindow"


def naive_read_and_window(paths):
    import pydicom

    out = []
    for path in paths:
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        out.append(np.stack(
            [np.clip((hu - (center - width / 2)) / width, 0, 1)
             for center, width in WINDOWS],
            axis=-1,
        ))
    return out


def hemoclf_read_and_window(paths):
    images = read_images(paths, n_jobs=-1, progress=False).images
    return CTWindow(windows=WINDOWS).transform(images)


@pytest.fixture(scope="module")
def cq500_paths(cq500_dir):
    paths = sorted((cq500_dir / "complex_head_ct").glob("*.dcm"))
    assert len(paths) == 239
    return paths


def test_same_output(cq500_paths):
    paths = cq500_paths[:3]
    for naive, ours in zip(naive_read_and_window(paths),
                           hemoclf_read_and_window(paths)):
        np.testing.assert_allclose(naive, ours, atol=1e-6)


def test_naive_loop(compare, cq500_paths):
    compare(lambda: naive_read_and_window(cq500_paths), group=GROUP,
            role="baseline")


def test_hemoclf(compare, cq500_paths):
    compare(lambda: hemoclf_read_and_window(cq500_paths), group=GROUP,
            role="hemoclf", target=2.0,
            note="239 files, 238 JPEG Lossless; n_jobs=-1 threads")
