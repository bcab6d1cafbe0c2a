"""JPEG Lossless DICOM pixel data decoded through imagecodecs."""

import sys
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from pydicom.pixels import get_decoder
from pydicom.uid import JPEGLosslessSV1

from hemoclf.datasets import read_image
from hemoclf.datasets._jpeg_lossless import PLUGIN, decode_frame, pixel_array


@pytest.fixture
def ct_slices(rng):
    """Two frames of signed CT values spanning air to bone, noisy like a scan."""
    raw = rng.integers(-1024, 2000, size=(2, 24, 32)).astype(np.int16)
    raw[:, :4] = -2000  # padding outside the scan field, below air
    return raw


@pytest.fixture
def decode_calls(monkeypatch):
    """Count imagecodecs' JPEG decoding calls."""
    import imagecodecs

    calls = []
    decode = imagecodecs.jpeg8_decode

    def spy(*args, **kwargs):
        calls.append(1)
        return decode(*args, **kwargs)

    monkeypatch.setattr(imagecodecs, "jpeg8_decode", spy)
    return calls


@pytest.mark.parametrize("bits_stored, low, high", [(16, -1024, 3000),
                                                    (12, -2048, 2047)])
def test_same_pixels_as_pydicoms_own_plugins(tmp_path, write_dicom, rng,
                                             decode_calls, bits_stored, low,
                                             high):
    raw = rng.integers(low, high + 1, size=(24, 32)).astype(np.int16)
    path = write_dicom(tmp_path / "slice.dcm", raw, compress="jpeg-lossless",
                       bits_stored=bits_stored)
    ours = pixel_array(pydicom.dcmread(path))
    assert len(decode_calls) == 1
    theirs = pydicom.dcmread(path).pixel_array  # pylibjpeg
    assert ours.dtype == theirs.dtype == np.int16
    np.testing.assert_array_equal(ours, raw)
    np.testing.assert_array_equal(theirs, raw)


def test_read_image_decodes_jpeg_lossless_with_imagecodecs(
        tmp_path, write_dicom, ct_raw, decode_calls):
    plain = read_image(write_dicom(tmp_path / "plain.dcm", ct_raw))
    jpeg = read_image(write_dicom(tmp_path / "jpeg.dcm", ct_raw,
                                  compress="jpeg-lossless"))
    assert len(decode_calls) == 1
    np.testing.assert_array_equal(plain, jpeg)


def test_every_frame_of_a_volume_is_decoded(tmp_path, write_dicom, ct_slices,
                                            decode_calls):
    path = write_dicom(tmp_path / "volume.dcm", ct_slices,
                       compress="jpeg-lossless")
    np.testing.assert_array_equal(pixel_array(pydicom.dcmread(path)), ct_slices)
    assert len(decode_calls) == 2


def test_pydicoms_default_plugin_order_is_left_alone(tmp_path, write_dicom,
                                                     ct_raw, decode_calls):
    path = write_dicom(tmp_path / "jpeg.dcm", ct_raw, compress="jpeg-lossless")
    pixel_array(pydicom.dcmread(path))  # registers the plugin
    assert PLUGIN in get_decoder(JPEGLosslessSV1).available_plugins
    decode_calls.clear()
    np.testing.assert_array_equal(pydicom.dcmread(path).pixel_array, ct_raw)
    assert decode_calls == []


def test_a_failing_decode_falls_back_to_pydicoms_plugins(tmp_path, write_dicom,
                                                         ct_raw, monkeypatch):
    import imagecodecs

    def broken(*args, **kwargs):
        raise imagecodecs.JpegError("corrupt")

    monkeypatch.setattr(imagecodecs, "jpeg8_decode", broken)
    path = write_dicom(tmp_path / "jpeg.dcm", ct_raw, compress="jpeg-lossless")
    np.testing.assert_array_equal(pixel_array(pydicom.dcmread(path)), ct_raw)


def test_without_imagecodecs_pydicoms_plugins_decode(tmp_path, write_dicom,
                                                     ct_raw, monkeypatch):
    path = write_dicom(tmp_path / "jpeg.dcm", ct_raw, compress="jpeg-lossless")
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import fails
    np.testing.assert_array_equal(pixel_array(pydicom.dcmread(path)), ct_raw)


def test_colour_frames_are_left_to_other_plugins():
    runner = SimpleNamespace(samples_per_pixel=3, rows=2, columns=2)
    with pytest.raises(ValueError, match="one sample per pixel, not 3"):
        decode_frame(b"", runner)


def test_a_frame_of_the_wrong_size_is_refused(ct_raw):
    import imagecodecs

    frame = imagecodecs.jpeg8_encode(ct_raw.astype(np.uint16), lossless=True,
                                     predictor=1, bitspersample=16)
    runner = SimpleNamespace(samples_per_pixel=1, rows=ct_raw.shape[0] + 1,
                             columns=ct_raw.shape[1])
    with pytest.raises(ValueError, match=r"holds a \(16, 20\) frame.*\(17, 20\)"):
        decode_frame(frame, runner)


@pytest.mark.realdata
def test_cq500_pixels_match_pydicoms_own_plugins(cq500_dir, decode_calls):
    paths = sorted((cq500_dir / "complex_head_ct").glob("*.dcm"))
    for path in paths:
        ours = pixel_array(pydicom.dcmread(path))
        theirs = pydicom.dcmread(path).pixel_array
        assert ours.dtype == theirs.dtype, path
        np.testing.assert_array_equal(ours, theirs, err_msg=str(path))
    assert len(decode_calls) == 238  # one file of the 239 is uncompressed
