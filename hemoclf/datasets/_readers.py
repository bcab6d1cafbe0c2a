"""Read PNG, JPEG, DICOM and NIfTI files, choosing the reader from the content.

Each reader returns a NumPy array: the stored pixels for PNG and JPEG,
Hounsfield units for CT in DICOM and NIfTI. Every failure is a
:class:`ReadError` that names the file, says what is wrong and how to fix it.
"""

import gzip
import os
import warnings
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions, validate_params
from tqdm.auto import tqdm

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
GZIP_SIGNATURE = b"\x1f\x8b"
NIFTI_MAGICS = {348: (344, (b"n+1\0", b"ni1\0")), 540: (4, (b"n+2\0", b"ni2\0"))}

AIR_HU = -1000.0
# Air is -1000 HU and nothing in a patient is less dense: values at or below
# this bound are the scanner's padding outside the field of view (CQ500 files
# store -3024 HU there).
PADDING_BELOW_HU = -2000.0

# Pillow modes kept as stored; every other mode is converted (see _read_pil).
_KEPT_MODES = {"L", "RGB", "RGBA", "I", "F", "I;16", "I;16B", "I;16L"}


class ReadError(OSError):
    """A file could not be read as an image.

    A subclass of :class:`OSError`, like the errors Pillow raises for broken
    images. The message names the file and the fix; the original exception,
    if any, is chained as ``__cause__``.

    Parameters
    ----------
    path : str or path-like
        The file.
    reason : str
        What is wrong and what to do about it.

    Attributes
    ----------
    path : str
        The file.
    reason : str
        What is wrong and what to do about it.
    """

    def __init__(self, path, reason):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"Cannot read {self.path}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)


def _describe(exc):
    """``Type: message`` of an exception, on one line."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _is_nifti_header(head):
    for order in ("little", "big"):
        size = int.from_bytes(head[:4], order)
        if size in NIFTI_MAGICS:
            offset, magics = NIFTI_MAGICS[size]
            return head[offset : offset + 4] in magics
    return False


def sniff_format(path):
    """Name the format of a file from its first bytes.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    format : {"png", "jpeg", "dicom", "nifti", "pillow"}
        ``"pillow"`` is another raster format Pillow recognises (TIFF, BMP,
        ...).

    Raises
    ------
    ReadError
        If the file cannot be opened, is empty or is in none of these
        formats.
    """
    head = _read_head(path, 352)
    if not head:
        raise ReadError(path, "the file is empty (0 bytes); replace it or remove it.")
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(JPEG_SIGNATURE):
        return "jpeg"
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(GZIP_SIGNATURE):
        try:
            with gzip.open(path, "rb") as stream:
                inner = stream.read(352)
        except (OSError, EOFError) as exc:
            raise ReadError(
                path, f"the gzip stream is broken ({_describe(exc)})."
            ) from exc
        if _is_nifti_header(inner):
            return "nifti"
        raise ReadError(
            path, "it is gzip-compressed but holds no NIfTI image; only .nii.gz "
            "volumes are read from gzip files."
        )
    if _is_nifti_header(head):
        return "nifti"
    if _pillow_identifies(path):
        return "pillow"
    if _is_dicom_without_preamble(path):
        return "dicom"
    raise ReadError(
        path, f"it is not a PNG, JPEG, DICOM or NIfTI image (it starts with "
        f"{head[:8]!r}); remove it from the folder or convert it."
    )


def _read_head(path, n_bytes):
    try:
        with open(path, "rb") as stream:
            return stream.read(n_bytes)
    except PermissionError as exc:
        raise ReadError(
            path, "permission denied; give the user running Python read access "
            "to the file (e.g. chmod a+r)."
        ) from exc
    except IsADirectoryError as exc:
        raise ReadError(path, "it is a folder, not a file.") from exc
    except OSError as exc:
        raise ReadError(path, f"the file cannot be opened ({_describe(exc)}).") from exc


def _pillow_identifies(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def _is_dicom_without_preamble(path):
    """Whether a file without the 'DICM' preamble still parses as a DICOM image."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        return isinstance(ds.get("Rows"), Integral) and "SOPClassUID" in ds
    except Exception:  # noqa: BLE001 - any parse failure means "not DICOM"
        return False


def _read_pil(path):
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in _KEPT_MODES:
                has_alpha = "A" in image.mode or "transparency" in image.info
                image = image.convert("RGBA" if has_alpha else "RGB")
            array = np.asarray(image)
    except Image.DecompressionBombError as exc:
        raise ReadError(
            path, f"{exc} Raise PIL.Image.MAX_IMAGE_PIXELS if the file is trusted."
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ReadError(
            path, f"the image data is corrupt or truncated ({_describe(exc)}); "
            "re-export or re-download the file."
        ) from exc
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _decoder_problem(ds):
    """Why the pixel data of ``ds`` cannot be decoded here, or None."""
    from pydicom.pixels import get_decoder

    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None or not syntax.is_compressed:
        return None
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        return (
            f"its transfer syntax {syntax.name} ({syntax}) has no pixel data "
            "decoder in pydicom; convert the file to an uncompressed syntax "
            "(e.g. with dcmdjpeg or gdcmconv --raw)."
        )
    if decoder.is_available:
        return None
    missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
    return (
        f"its pixel data is compressed with {syntax.name} ({syntax}) and no "
        f"decoder for it is installed. Install one of: {missing} "
        "(e.g. pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg "
        "pylibjpeg-rle)."
    )


def _padding_mask(raw, ds):
    """Pixels equal to (or in the range of) PixelPaddingValue, in stored units."""
    value = ds.get("PixelPaddingValue")
    if value is None:
        return None
    limit = ds.get("PixelPaddingRangeLimit")
    if limit is None:
        return raw == value
    low, high = sorted((value, limit))
    return (raw >= low) & (raw <= high)


def _no_pixel_data_reason(ds):
    sop = ds.get("SOPClassUID")
    kind = f"SOP class {sop.name}" if sop is not None else "no SOP class"
    if len(ds) == 0 or "Rows" in ds or str(getattr(sop, "name", "")).endswith(
        "Image Storage"
    ):
        return (
            f"the DICOM data set ({kind}) ends before its pixel data element "
            "(7FE0,0010) PixelData; the file is truncated or damaged."
        )
    return (
        f"the DICOM file ({kind}) has no pixel data element (7FE0,0010) "
        "PixelData, so it is not an image; remove it from the image folder."
    )


def _read_dicom(path):
    """One DICOM file as float32 Hounsfield units (for CT); see read_image."""
    import pydicom
    from pydicom.pixels import apply_modality_lut

    from ._jpeg_lossless import pixel_array

    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types
        raise ReadError(
            path, f"the DICOM data cannot be parsed ({_describe(exc)}); the file "
            "is damaged or truncated."
        ) from exc
    if not any(k in ds for k in ("PixelData", "FloatPixelData",
                                 "DoubleFloatPixelData")):
        raise ReadError(path, _no_pixel_data_reason(ds))
    problem = _decoder_problem(ds)
    if problem is not None:
        raise ReadError(path, problem)
    try:
        raw = pixel_array(ds)
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        raise ReadError(
            path, f"the pixel data cannot be decoded ({_describe(exc)}); the file "
            "is damaged or truncated."
        ) from exc
    is_volume = int(ds.get("NumberOfFrames", 1) or 1) > 1
    if ds.get("SamplesPerPixel", 1) != 1:
        return raw, is_volume  # colour (e.g. secondary capture): no HU
    values = np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)
    is_ct = ds.get("Modality", "CT") == "CT" or ds.get("RescaleType") == "HU"
    if is_ct:
        padding = _padding_mask(raw, ds)
        if padding is not None:
            values[padding] = AIR_HU
        values[values <= PADDING_BELOW_HU] = AIR_HU
    elif ds.get("PhotometricInterpretation") == "MONOCHROME1":
        # Not HU: flip over the stored range so that larger means brighter.
        bits = int(ds.BitsStored)
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        extremes = (np.array([-(2 ** (bits - 1)), 2 ** (bits - 1) - 1]) if signed
                    else np.array([0, 2**bits - 1]))
        low, high = np.asarray(apply_modality_lut(extremes, ds), dtype=np.float32)
        values = (low + high) - values
    return values, is_volume


def _read_nifti(path):
    """A NIfTI volume as float32 (n_slices, H, W) axial slices; see read_image."""
    import nibabel as nib

    try:
        image = nib.load(os.fspath(path))
        image = nib.funcs.squeeze_image(image)
        if image.ndim > 3:
            raise ReadError(
                path, f"it is a {image.ndim}-D NIfTI image of shape {image.shape}; "
                "only 2-D and 3-D volumes are read. Split the series first "
                "(e.g. nibabel.four_to_three)."
            )
        image = nib.as_closest_canonical(image)
        data = image.get_fdata(dtype=np.float32)
    except ReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types
        raise ReadError(
            path, f"the NIfTI data cannot be read ({_describe(exc)}); the file is "
            "damaged or truncated."
        ) from exc
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    # RAS+ voxel axes grow towards the patient's right, anterior and
    # superior. Show each axial slice as radiologists read it, like a DICOM
    # axial image: anterior at the top, the patient's right on the left.
    volume = np.transpose(data[::-1, ::-1, :], (2, 1, 0))
    return np.ascontiguousarray(volume), True


def _read(path):
    """``(array, is_volume)`` for one file; raises ReadError."""
    kind = sniff_format(path)
    if kind == "dicom":
        return _read_dicom(path)
    if kind == "nifti":
        return _read_nifti(path)
    return _read_pil(path), False  # PNG, JPEG and other Pillow formats


@validate_params(
    {"path": [str, os.PathLike]},
    prefer_skip_nested_validation=True,
)
def read_image(path):
    """Read one image file: PNG, JPEG, DICOM or NIfTI.

    The format is recognised from the file's content (PNG signature, JPEG
    start-of-image marker, ``DICM`` at byte 128 or a DICOM data set without
    preamble, a NIfTI-1/2 header, gzip-compressed or not), never from its
    extension alone.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    image : ndarray
        - PNG, JPEG and other Pillow formats: the stored pixels, ``uint8``
          (``uint16`` for 16-bit gray), shape ``(H, W)`` for gray, ``(H, W, 3)``
          for RGB, ``(H, W, 4)`` for RGBA. Palette, 1-bit, gray+alpha and
          CMYK images are converted to RGB, or RGBA when they have
          transparency.
        - DICOM: ``float32`` of shape ``(H, W)`` (``(n_frames, H, W)`` for a
          multi-frame file), in Hounsfield units for CT: the modality LUT
          (RescaleSlope, RescaleIntercept) applied, padding pixels
          (PixelPaddingValue, or any value at or below -2000 HU such as the
          -3024 HU outside the scan field) set to air, -1000 HU. Compressed
          transfer syntaxes are decoded by pydicom's plugins; grayscale
          JPEG Lossless (the usual CT archive format) by imagecodecs'
          libjpeg-turbo when it is installed, about four times as fast.
        - NIfTI (``.nii``, ``.nii.gz``): ``float32`` of shape
          ``(n_slices, H, W)``, the values after ``scl_slope``/``scl_inter``
          (HU for CT), reoriented to the closest canonical (RAS+) orientation
          so that ``image[k]`` is the k-th axial slice from the feet up, shown
          as radiologists read it (anterior at the top, the patient's right
          on the image's left).

    Raises
    ------
    ReadError
        If the file cannot be opened, is in no supported format, is
        truncated or corrupt, has no pixel data, or needs a decoder that is
        not installed.

    See Also
    --------
    read_images : Read many files, in parallel, with error handling.
    hemoclf.preprocessing.CTWindow : Hounsfield units to display windows.

    Notes
    -----
    ``MONOCHROME1`` only says how values are displayed; CT values stay in HU.
    For other modalities a ``MONOCHROME1`` image is flipped over its stored
    range so that larger values are always brighter.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> from PIL import Image
    >>> from hemoclf.datasets import read_image
    >>> path = os.path.join(tempfile.mkdtemp(), "slice.dat")  # any extension
    >>> Image.fromarray(np.full((4, 6), 7, dtype=np.uint8)).save(path, "PNG")
    >>> image = read_image(path)
    >>> image.shape, image.dtype, int(image[0, 0])
    ((4, 6), dtype('uint8'), 7)
    """
    return _read(path)[0]


def _read_or_reason(path):
    """``(image, is_volume, None)`` or ``(None, False, reason)``; never raises."""
    try:
        image, is_volume = _read(path)
    except ReadError as exc:
        return None, False, exc.reason
    return image, is_volume, None


def _read_all(paths, *, on_error, n_jobs, progress, desc):
    """Read ``paths`` in order; returns results and the skipped files."""
    paths = [os.fspath(p) for p in paths]
    jobs = (delayed(_read_or_reason)(p) for p in paths)
    # Threads: the decoders (Pillow, imagecodecs, zlib) release the GIL, and
    # threads start at once and hand back arrays without copies. A joblib
    # backend set by the caller (e.g. "loky") takes precedence.
    results = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(jobs)
    kept, skipped = [], []
    disable = None if progress is None else not progress
    for path, (image, is_volume, reason) in zip(
        paths, tqdm(results, total=len(paths), desc=desc, unit="file",
                    disable=disable)
    ):
        if reason is None:
            kept.append((path, image, is_volume))
        elif on_error == "raise":
            raise ReadError(path, reason + " Pass on_error='skip' to skip such "
                            "files.")
        else:
            skipped.append((path, reason))
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} of {len(paths)} files that could not be "
            f"read, e.g. {skipped[0][0]}: {skipped[0][1]} The full list is in "
            "the 'skipped' field of the result.",
            UserWarning,
            stacklevel=3,
        )
    return kept, skipped


_PARALLEL_CONSTRAINTS = {
    "on_error": [StrOptions({"raise", "skip"})],
    "n_jobs": [Integral, None],
    "progress": ["boolean", None],
}


@validate_params(
    {"paths": ["array-like"], **_PARALLEL_CONSTRAINTS},
    prefer_skip_nested_validation=True,
)
def read_images(paths, *, on_error="raise", n_jobs=None, progress=None):
    """Read many image files, in parallel, as :func:`read_image` does.

    Parameters
    ----------
    paths : sequence of str or path-like
        The files, in the order of the output.

    on_error : {"raise", "skip"}, default="raise"
        What to do with a file that cannot be read: raise a
        :class:`ReadError`, or leave it out, list it in ``skipped`` and
        warn.

    n_jobs : int, default=None
        Number of files read at once. ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context; ``-1`` means all CPUs. The
        files are read in threads: the decoders (Pillow, imagecodecs for
        JPEG Lossless DICOM, zlib) release the GIL while they work, so on
        two cores two threads read the 239 CQ500 files about 1.4 times as
        fast as one. For files whose decoder holds the GIL, read in
        processes instead with ``joblib.parallel_config(backend="loky")``.

    progress : bool, default=None
        Show a progress bar (tqdm). ``None`` shows it only in an interactive
        terminal.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with:

        images : list of ndarray
            One array per file read, as :func:`read_image` returns it.
        filenames : ndarray of str
            The files read, in the order of ``images``.
        skipped : list of (str, str)
            ``(file, reason)`` of the files left out with
            ``on_error="skip"``; empty otherwise.

    Raises
    ------
    ReadError
        With ``on_error="raise"``, for the first file that cannot be read.

    See Also
    --------
    read_image : Read one file.
    load_image_folder : Read a labelled folder of images.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> from PIL import Image
    >>> from hemoclf.datasets import read_images
    >>> folder = tempfile.mkdtemp()
    >>> Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(
    ...     os.path.join(folder, "a.png"))
    >>> with open(os.path.join(folder, "notes.txt"), "w") as f:
    ...     _ = f.write("not an image")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):
    ...     result = read_images([os.path.join(folder, "a.png"),
    ...                           os.path.join(folder, "notes.txt")],
    ...                          on_error="skip")
    >>> len(result.images), len(result.skipped)
    (1, 1)
    """
    kept, skipped = _read_all(paths, on_error=on_error, n_jobs=n_jobs,
                              progress=progress, desc="Reading images")
    return Bunch(
        images=[image for _, image, _ in kept],
        filenames=np.array([path for path, _, _ in kept], dtype=str),
        skipped=skipped,
    )
