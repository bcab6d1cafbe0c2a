"""read_image / read_images on PNG, JPEG, DICOM and NIfTI files written here."""

import gzip
import os
import pickle
import warnings

import numpy as np
import pytest
from joblib import parallel_config
from PIL import Image

from hemoclf.datasets import ReadError, _readers, read_image, read_images

# --------------------------------------------------------------------- PNG/JPEG


@pytest.mark.parametrize(
    "array",
    [
        np.arange(30, dtype=np.uint8).reshape(5, 6),
        np.arange(90, dtype=np.uint8).reshape(5, 6, 3),
        np.arange(120, dtype=np.uint8).reshape(5, 6, 4),
        (np.arange(30, dtype=np.uint16) * 2000).reshape(5, 6),
    ],
    ids=["gray", "rgb", "rgba", "gray16"],
)
def test_png_is_read_as_stored(tmp_path, write_png, array):
    path = write_png(tmp_path / "image.png", array)
    image = read_image(path)
    assert image.dtype == array.dtype
    np.testing.assert_array_equal(image, array)


def test_palette_png_becomes_rgb(tmp_path):
    path = tmp_path / "palette.png"
    Image.fromarray(np.full((4, 4, 3), (200, 10, 10), np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE
    ).save(path)
    image = read_image(path)
    assert image.shape == (4, 4, 3)
    np.testing.assert_array_equal(image[0, 0], [200, 10, 10])


def test_jpeg_is_read(tmp_path):
    path = tmp_path / "slice.jpg"
    Image.fromarray(np.full((8, 8), 120, np.uint8)).save(path, quality=95)
    image = read_image(path)
    assert image.shape == (8, 8) and image.dtype == np.uint8
    assert abs(int(image.mean()) - 120) <= 2


def test_format_comes_from_content_not_extension(tmp_path, write_png, write_dicom,
                                                 ct_raw):
    png = write_png(tmp_path / "looks_like.dcm", np.zeros((3, 3), np.uint8))
    dicom = write_dicom(tmp_path / "looks_like.png", ct_raw)
    assert read_image(png).dtype == np.uint8
    assert read_image(dicom).dtype == np.float32
    assert _readers.sniff_format(png) == "png"
    assert _readers.sniff_format(dicom) == "dicom"


def test_truncated_png_names_the_file(tmp_path, write_png, rng):
    path = write_png(tmp_path / "cut.png",
                     rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReadError, match=r"cut\.png.*corrupt or truncated"):
        read_image(path)


def test_corrupt_png_names_the_file(tmp_path, write_png):
    path = write_png(tmp_path / "bad.png", np.zeros((16, 16), np.uint8))
    data = bytearray(path.read_bytes())
    data[40:60] = b"\x00" * 20  # inside the IHDR/IDAT chunks: CRC mismatch
    path.write_bytes(bytes(data))
    with pytest.raises(ReadError, match=r"bad\.png"):
        read_image(path)


def test_non_image_file_is_a_read_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("patient list, not an image")
    with pytest.raises(ReadError, match=r"notes\.txt.*not a PNG, JPEG, DICOM or "
                       r"NIfTI image"):
        read_image(path)


def test_empty_file_is_a_read_error(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ReadError, match=r"empty\.png.*empty \(0 bytes\)"):
        read_image(path)


def test_folder_is_a_read_error(tmp_path):
    with pytest.raises(ReadError, match="is a folder"):
        read_image(tmp_path)


def test_missing_file_is_a_read_error(tmp_path):
    with pytest.raises(ReadError, match=r"gone\.png.*cannot be opened"):
        read_image(tmp_path / "gone.png")


def test_permission_denied_is_a_read_error(tmp_path, write_png, monkeypatch):
    path = write_png(tmp_path / "locked.png", np.zeros((3, 3), np.uint8))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_readers, "open", refuse, raising=False)
    with pytest.raises(ReadError, match=r"locked\.png.*permission denied.*chmod"):
        read_image(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_unreadable_file_is_a_read_error(tmp_path, write_png):
    path = write_png(tmp_path / "locked.png", np.zeros((3, 3), np.uint8))
    path.chmod(0)
    try:
        with pytest.raises(ReadError, match="permission denied"):
            read_image(path)
    finally:
        path.chmod(0o644)


def test_read_error_is_an_os_error_that_pickles():
    error = ReadError("/data/a.png", "broken.")
    assert isinstance(error, OSError)
    assert str(error) == "Cannot read /data/a.png: broken."
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason) == (error.path, error.reason)


# ------------------------------------------------------------------------ DICOM


def test_dicom_is_read_in_hounsfield_units(tmp_path, write_dicom, ct_raw):
    image = read_image(write_dicom(tmp_path / "ct.dcm", ct_raw))
    assert image.dtype == np.float32 and image.shape == ct_raw.shape
    assert image[0, 0] == -1000 and image[5, 5] == 40


def test_dicom_rescale_slope_is_applied(tmp_path, write_dicom, ct_raw):
    image = read_image(write_dicom(tmp_path / "ct.dcm", ct_raw, slope=0.5,
                                   intercept=-512))
    np.testing.assert_allclose(image, ct_raw * 0.5 - 512)


def test_dicom_padding_value_becomes_air(tmp_path, write_dicom, ct_raw):
    raw = ct_raw.copy()
    raw[:, :2] = -1  # declared padding: -1025 HU after rescale, not physical
    image = read_image(write_dicom(tmp_path / "pad.dcm", raw, padding=-1))
    assert (image[:, :2] == -1000).all()
    assert image[5, 5] == 40


def test_dicom_values_below_minus_2000_hu_become_air(tmp_path, write_dicom, ct_raw):
    raw = ct_raw.copy()
    raw[0, :] = -2000  # -3024 HU outside the scan field, as in CQ500
    image = read_image(write_dicom(tmp_path / "field.dcm", raw))
    assert (image[0] == -1000).all()
    assert image.min() == -1000


def test_rle_compressed_dicom_is_decoded(tmp_path, write_dicom, ct_raw):
    plain = read_image(write_dicom(tmp_path / "plain.dcm", ct_raw))
    rle = read_image(write_dicom(tmp_path / "rle.dcm", ct_raw, compress=True))
    np.testing.assert_array_equal(plain, rle)


def test_missing_decoder_names_syntax_and_packages(tmp_path, write_dicom, ct_raw,
                                                   monkeypatch):
    from pydicom.pixels import get_decoder
    from pydicom.uid import RLELossless

    path = write_dicom(tmp_path / "rle.dcm", ct_raw, compress=True)
    decoder = get_decoder(RLELossless)
    monkeypatch.setattr(type(decoder), "is_available", property(lambda self: False))
    with pytest.raises(ReadError, match=r"rle\.dcm.*RLE Lossless \(1\.2\.840\.10008"
                       r"\.1\.2\.5\).*no decoder.*pip install pylibjpeg"):
        read_image(path)


def test_monochrome1_ct_stays_in_hounsfield_units(tmp_path, write_dicom, ct_raw):
    image = read_image(write_dicom(tmp_path / "m1.dcm", ct_raw,
                                   photometric="MONOCHROME1"))
    assert image[0, 0] == -1000 and image[5, 5] == 40


def test_monochrome1_non_ct_is_flipped(tmp_path, write_dicom):
    raw = np.array([[0, 100], [200, 300]], dtype=np.int16)
    m2 = read_image(write_dicom(tmp_path / "m2.dcm", raw, modality="MR",
                                intercept=0))
    m1 = read_image(write_dicom(tmp_path / "m1.dcm", raw, modality="MR",
                                intercept=0, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(m2, raw)
    # Flipped over the signed 16-bit range: larger stored means darker.
    np.testing.assert_array_equal(m1, -1 - raw)


def test_multiframe_dicom_is_a_volume(tmp_path, write_dicom, ct_raw):
    volume = read_image(write_dicom(tmp_path / "mf.dcm",
                                    np.stack([ct_raw, ct_raw + 10])))
    assert volume.shape == (2,) + ct_raw.shape
    assert volume[1, 5, 5] == 50


def test_dicom_without_preamble_is_recognised(tmp_path, write_dicom, ct_raw):
    path = write_dicom(tmp_path / "ct.dcm", ct_raw)
    bare = tmp_path / "bare"
    bare.write_bytes(path.read_bytes()[132:])  # no preamble, no 'DICM'
    assert _readers.sniff_format(bare) == "dicom"
    np.testing.assert_array_equal(read_image(bare), read_image(path))


def test_dicom_without_pixel_data_is_not_an_image(tmp_path, write_dicom, ct_raw):
    from pydicom.uid import BasicTextSRStorage

    path = write_dicom(tmp_path / "report.dcm", ct_raw, pixel_data=False,
                       sop_class=BasicTextSRStorage)
    with pytest.raises(ReadError, match=r"report\.dcm.*Basic Text SR Storage.*no "
                       r"pixel data.*not an image"):
        read_image(path)


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.95])
def test_truncated_dicom_names_the_file(tmp_path, write_dicom, ct_raw, keep):
    path = write_dicom(tmp_path / "cut.dcm", ct_raw)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ReadError, match=r"cut\.dcm.*truncated"):
        read_image(path)


# ------------------------------------------------------------------------ NIfTI


def _ras_volume():
    """(x, y, z) = (4, 5, 3) RAS+ volume with one bright voxel per slice."""
    data = np.zeros((4, 5, 3), dtype=np.int16)
    for z in range(3):
        data[0, 4, z] = 100 + z  # patient's far left, most anterior
    return data


def test_nifti_volume_becomes_axial_slices(tmp_path, write_nifti):
    volume = read_image(write_nifti(tmp_path / "head.nii", _ras_volume()))
    assert volume.shape == (3, 5, 4) and volume.dtype == np.float32
    # Anterior at the top, patient's left on the image's right, feet first.
    assert volume[0, 0, 3] == 100 and volume[2, 0, 3] == 102
    assert np.count_nonzero(volume) == 3


def test_nifti_is_reoriented_to_canonical(tmp_path, write_nifti):
    ras = read_image(write_nifti(tmp_path / "ras.nii", _ras_volume()))
    # The same head stored left-right and top-bottom flipped (LAI order).
    affine = np.diag([-1.0, 1.0, -1.0, 1.0])
    affine[:3, 3] = [3, 0, 2]
    flipped = _ras_volume()[::-1, :, ::-1]
    other = read_image(write_nifti(tmp_path / "lai.nii", flipped, affine=affine))
    np.testing.assert_array_equal(ras, other)


def test_nifti_scaling_is_applied_and_gzip_is_read(tmp_path, write_nifti):
    data = np.full((3, 3, 2), 532, dtype=np.int16)
    path = write_nifti(tmp_path / "scaled.nii.gz", data, slope=2.0, inter=-1024.0)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    volume = read_image(path)
    np.testing.assert_allclose(volume, 40.0)


def test_four_d_nifti_is_refused(tmp_path, write_nifti):
    path = write_nifti(tmp_path / "series.nii", np.zeros((3, 3, 2, 2), np.int16))
    with pytest.raises(ReadError, match=r"series\.nii.*4-D.*four_to_three"):
        read_image(path)


def test_truncated_nifti_names_the_file(tmp_path, write_nifti):
    path = write_nifti(tmp_path / "cut.nii", np.ones((8, 8, 8), np.int16))
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(ReadError, match=r"cut\.nii.*damaged or truncated"):
        read_image(path)


def test_gzip_without_nifti_is_refused(tmp_path):
    path = tmp_path / "notes.nii.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(b"just text" * 50)
    with pytest.raises(ReadError, match=r"notes\.nii\.gz.*gzip.*no NIfTI"):
        read_image(path)


# ------------------------------------------------------------------ read_images


def _mixed_files(tmp_path, write_png, write_dicom, ct_raw):
    good = [
        write_png(tmp_path / "a.png", np.full((4, 4), 9, np.uint8)),
        write_dicom(tmp_path / "b.dcm", ct_raw),
        write_png(tmp_path / "c.png", np.full((5, 5, 3), 7, np.uint8)),
    ]
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    return good, bad


def test_read_images_keeps_order(tmp_path, write_png, write_dicom, ct_raw):
    good, _ = _mixed_files(tmp_path, write_png, write_dicom, ct_raw)
    result = read_images(good)
    assert [img.shape for img in result.images] == [(4, 4), ct_raw.shape, (5, 5, 3)]
    assert list(result.filenames) == [str(p) for p in good]
    assert result.skipped == []


def test_read_images_raises_on_first_bad_file(tmp_path, write_png, write_dicom,
                                              ct_raw):
    good, bad = _mixed_files(tmp_path, write_png, write_dicom, ct_raw)
    with pytest.raises(ReadError, match=r"notes\.txt.*on_error='skip'"):
        read_images([good[0], bad, good[1]])


def test_read_images_skips_and_lists_bad_files(tmp_path, write_png, write_dicom,
                                               ct_raw):
    good, bad = _mixed_files(tmp_path, write_png, write_dicom, ct_raw)
    with pytest.warns(UserWarning, match=r"Skipped 1 of 4 files.*notes\.txt"):
        result = read_images([good[0], bad, good[1], good[2]], on_error="skip")
    assert len(result.images) == 3
    assert list(result.filenames) == [str(p) for p in good]
    assert [path for path, _ in result.skipped] == [str(bad)]
    assert "not a PNG, JPEG, DICOM or NIfTI" in result.skipped[0][1]


def test_read_images_in_parallel_matches_serial(tmp_path, write_png, write_dicom,
                                                ct_raw):
    good, bad = _mixed_files(tmp_path, write_png, write_dicom, ct_raw)
    paths = [good[0], bad, good[1], good[2]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        serial = read_images(paths, on_error="skip")
        with parallel_config(backend="threading"):
            parallel = read_images(paths, on_error="skip", n_jobs=2)
    assert list(parallel.filenames) == list(serial.filenames)
    assert parallel.skipped == serial.skipped
    for a, b in zip(parallel.images, serial.images):
        np.testing.assert_array_equal(a, b)


def test_read_images_validates_on_error():
    with pytest.raises(ValueError, match="on_error"):
        read_images([], on_error="ignore")


# ------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_all_cq500_files_load_with_plausible_hu(cq500_dir):
    paths = sorted((cq500_dir / "complex_head_ct").glob("*.dcm"))
    assert len(paths) == 239
    result = read_images(paths, n_jobs=2, progress=False)
    assert result.skipped == [] and len(result.images) == 239
    for path, image in zip(result.filenames, result.images):
        assert image.shape == (512, 512) and image.dtype == np.float32, path
        # Padding (-3024 HU) is mapped to air; nothing is below air.
        assert image.min() >= -1024, path
    # Mid slice of the 0.625 mm series: air around the head, brain inside.
    series = result.images[1:]
    mid = series[len(series) // 2]
    assert abs(np.median(mid[:40, :40]) + 1000) < 30
    assert 20 <= np.median(mid[216:296, 216:296]) <= 45
    # The 5 mm slice of the other patient, too.
    assert 20 <= np.median(result.images[0][216:296, 216:296]) <= 45


def test_progress_bar_is_switchable(tmp_path, write_png, capsys):
    paths = [write_png(tmp_path / f"{i}.png", np.zeros((3, 3), np.uint8))
             for i in range(3)]
    read_images(paths, progress=True)
    assert "Reading images" in capsys.readouterr().err
    read_images(paths, progress=False)
    assert capsys.readouterr().err == ""
