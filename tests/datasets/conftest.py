"""Writers of small PNG, DICOM and NIfTI files for the reader tests."""

import numpy as np
import pytest
from PIL import Image


def _write_png(path, array, **kwargs):
    Image.fromarray(array).save(path, format="PNG", **kwargs)
    return path


def _write_dicom(
    path,
    raw,
    *,
    slope=1.0,
    intercept=-1024.0,
    modality="CT",
    photometric="MONOCHROME2",
    padding=None,
    compress=False,
    pixel_data=True,
    sop_class=None,
    bits_stored=16,
):
    """A CT-like DICOM file with signed stored values ``raw``.

    ``compress`` is False, True (RLE Lossless) or ``"jpeg-lossless"`` (JPEG
    Lossless, first-order prediction, encoded with imagecodecs).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        CTImageStorage,
        ExplicitVRLittleEndian,
        RLELossless,
        generate_uid,
    )

    raw = np.asarray(raw, dtype=np.int16)
    sop_class = CTImageStorage if sop_class is None else sop_class
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    if modality == "CT":
        ds.RescaleType = "HU"
    if pixel_data:
        ds.set_pixel_data(raw, photometric, bits_stored)
        if raw.ndim == 3:
            ds.NumberOfFrames = raw.shape[0]
        if padding is not None:
            ds.PixelPaddingValue = padding
        if compress == "jpeg-lossless":
            _encode_jpeg_lossless(ds, raw, bits_stored)
        elif compress:
            ds.compress(RLELossless)
    ds.save_as(path, enforce_file_format=True)
    return path


def _encode_jpeg_lossless(ds, raw, bits_stored):
    """Replace the pixel data of ``ds`` with JPEG Lossless (SV1) frames."""
    import imagecodecs
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLosslessSV1

    # A JPEG Lossless frame holds the stored bit pattern as unsigned samples.
    stored = raw.astype(np.uint16) & np.uint16((1 << bits_stored) - 1)
    frames = stored.reshape((-1,) + stored.shape[-2:])
    ds.PixelData = encapsulate([
        imagecodecs.jpeg8_encode(frame, lossless=True, predictor=1,
                                 bitspersample=bits_stored)
        for frame in frames
    ])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1


def _write_nifti(path, data, *, affine=None, slope=None, inter=None):
    import nibabel as nib

    image = nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine)
    if slope is not None:
        image.header.set_slope_inter(slope, inter)
    nib.save(image, str(path))
    return path


@pytest.fixture
def write_png():
    return _write_png


@pytest.fixture
def write_dicom():
    return _write_dicom


@pytest.fixture
def write_nifti():
    return _write_nifti


@pytest.fixture
def ct_raw():
    """Stored CT values: air (-1000 HU) with a 'brain' square of 40 HU."""
    raw = np.full((16, 20), 24, dtype=np.int16)  # -1000 HU with intercept -1024
    raw[4:12, 5:15] = 1064  # 40 HU
    return raw
