"""Fast decoding of JPEG Lossless DICOM pixel data, as a pydicom plugin.

CT archives commonly store slices as JPEG Lossless (transfer syntaxes
1.2.840.10008.1.2.4.57 and 1.2.840.10008.1.2.4.70, e.g. the CQ500 files).
pydicom decodes them with pylibjpeg-libjpeg or GDCM; the libjpeg-turbo
decoder of `imagecodecs <https://github.com/cgohlke/imagecodecs>`_ gives the
same pixels in about a quarter of the time (2.6 ms against 11 ms for a
512x512 CQ500 slice) and releases the GIL while it works.

The module follows pydicom's decoding plugin interface (``is_available``,
``DECODER_DEPENDENCIES`` and a frame decoding function), so pydicom keeps
doing the bookkeeping: frame extraction, pixel representation, bits stored,
validation. :func:`pixel_array` registers the plugin with pydicom on first
use and asks for it by name; pydicom's own order of plugins, which other
code relies on, is left as it is.
"""

import threading

from pydicom import uid

PLUGIN = "hemoclf-imagecodecs"

DECODER_DEPENDENCIES = {
    uid.JPEGLossless: ("numpy", "imagecodecs"),
    uid.JPEGLosslessSV1: ("numpy", "imagecodecs"),
}

_REGISTER_LOCK = threading.Lock()


def is_available(syntax):
    """Whether imagecodecs can decode pixel data of transfer syntax ``syntax``."""
    if syntax not in DECODER_DEPENDENCIES:
        return False
    try:
        import imagecodecs
    except ImportError:
        return False
    return bool(imagecodecs.JPEG8.available)


def decode_frame(src, runner):
    """Decode one encoded frame ``src`` to its raw little-endian pixel bytes.

    This is the function pydicom's ``Decoder`` calls (``runner`` is its
    ``DecodeRunner``). Colour frames are refused: :func:`pixel_array` only
    asks for this plugin for grayscale data, and otherwise (or when this
    plugin fails) decodes with pydicom's own plugins.
    """
    import imagecodecs

    if runner.samples_per_pixel != 1:
        raise ValueError(
            f"the {PLUGIN} plugin decodes one sample per pixel, not "
            f"{runner.samples_per_pixel}"
        )
    frame = imagecodecs.jpeg8_decode(src)
    if frame.shape != (runner.rows, runner.columns):
        raise ValueError(
            f"the JPEG stream holds a {frame.shape} frame, but the data set "
            f"describes ({runner.rows}, {runner.columns}) pixels"
        )
    # The decoded container follows the JPEG precision; pydicom reads the
    # buffer with this number of bits per pixel.
    runner.set_option("bits_allocated", 8 * frame.dtype.itemsize)
    return frame.astype(frame.dtype.newbyteorder("<"), copy=False).tobytes()


def _registered_decoder(syntax):
    """pydicom's decoder for ``syntax`` with this plugin available, or None."""
    from pydicom.pixels import get_decoder

    if not is_available(syntax):
        return None
    decoder = get_decoder(syntax)
    with _REGISTER_LOCK:
        if PLUGIN not in decoder.available_plugins:
            decoder.add_plugin(PLUGIN, (__name__, "decode_frame"))
    return decoder


def pixel_array(ds):
    """The pixel array of ``ds``, decoded by imagecodecs where it applies.

    JPEG Lossless grayscale data go through imagecodecs (when installed);
    everything else, and any frame imagecodecs fails on, goes through
    ``ds.pixel_array`` and pydicom's usual plugins.

    Parameters
    ----------
    ds : pydicom.Dataset
        A data set with pixel data.

    Returns
    -------
    array : ndarray
        As ``ds.pixel_array`` returns it.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax in DECODER_DEPENDENCIES and ds.get("SamplesPerPixel", 1) == 1:
        decoder = _registered_decoder(syntax)
        if decoder is not None:
            try:
                return decoder.as_array(ds, decoding_plugin=PLUGIN)[0]
            except Exception:  # noqa: BLE001 - fall back to pydicom's plugins
                pass
    return ds.pixel_array
