"""Resize and rescale images of any size to one fixed-size float array."""

from numbers import Integral, Real

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from .._validation import for_each_image, image_batch
from ._crop import crop_to_head
from ._resample import FILTERS, resample_float

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}

# Pillow first shrinks by an integer factor with a box filter while the image
# stays at least this many times the target size, then resamples: "in most
# cases indistinguishable from fair resampling" (Pillow docs) and much faster
# for the large reductions of CT renderings (e.g. 821 -> 128 px).
_REDUCING_GAP = 3.0

# ITU-R 601 luma weights, as in skimage.color.rgb2gray and PIL's "L" mode.
_LUMA = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)


def _to_list(X):
    """Images of ``X`` as a 3-D or 4-D array, or a list of 2-D or 3-D arrays.

    Arrays are checked by ``check_array``; a 2-D array (or a list of equal
    length 1-D rows) is a batch of flattened images, one pixel row each.
    """
    images = image_batch(
        X, estimator_name="ResizeRescale",
        accepted="images as a dense array of shape (n, H, W[, C]) or a list of "
        "arrays",
    )
    if isinstance(images, np.ndarray):
        if images.ndim > 4:
            raise ValueError(
                "ResizeRescale takes a batch of images: an array of shape "
                "(n, H, W) or (n, H, W, C), or a list of 2-D or 3-D arrays; got "
                f"an array of shape {images.shape}."
            )
        return images
    for i, img in enumerate(images):
        if img.ndim not in (2, 3) or img.dtype.kind not in "uifb":
            raise ValueError(
                f"Image {i} has shape {img.shape} and dtype {img.dtype}: every "
                "image must be a numeric 2-D (H, W) or 3-D (H, W, C) array."
            )
        if img.ndim == 3 and img.shape[2] not in (1, 2, 3, 4):
            raise ValueError(
                f"Image {i} has {img.shape[2]} channels; ResizeRescale reads "
                "gray (1), gray+alpha (2), RGB (3) or RGBA (4) images."
            )
    return images


def _gray_in_colour(image):
    """Whether an RGB(A) image's colour channels are all equal.

    Gray scans are often saved as RGB (135 of the 200 head_ct PNGs). A
    colour image is told apart by its middle row, most often without
    reading the rest.
    """
    row = image[image.shape[0] // 2]
    return all(
        np.array_equal(part[..., 0], part[..., 1])
        and np.array_equal(part[..., 1], part[..., 2])
        for part in (row, image)
    )


def _check_finite(image, index):
    if not np.isfinite(image).all():
        raise ValueError(
            f"Image {index} contains NaN or infinity; ResizeRescale needs "
            "finite intensities. Replace them (e.g. with np.nan_to_num)."
        )


class ResizeRescale(TransformerMixin, BaseEstimator):
    """Resize images to one size, fix their channels and rescale intensities.

    A stateless transformer that turns a batch of images, of any size and
    colour mode, into the float32 array ``(n, height, width, channels)`` the
    classifier expects. The paper's preprocessing is the default: 128x128
    pixels, intensities rescaled from [0, 255] to [0, 1].

    Parameters
    ----------
    output_size : tuple of (int, int), default=(128, 128)
        ``(height, width)`` of the output images.

    scale : float, default=1/255
        Factor applied to the intensities after resizing. Use ``1`` for
        inputs already in [0, 1], such as the output of
        :class:`~hemoclf.preprocessing.CTWindow`.

    channels : {1, 3} or None, default=3
        Channels of the output. Gray images are repeated to 3 channels, RGB
        images are converted to gray (ITU-R 601 luma) for 1. An alpha channel
        is always dropped. ``None`` keeps each image's own channel count
        (alpha dropped), which must then be the same for all images.

    keep_aspect_ratio : bool, default=False
        If true, scale each image so that it fits ``output_size`` without
        distortion and pad the rest with ``pad_value``. If false, stretch
        it to ``output_size``, as the paper does.

    pad_value : float, default=0.0
        Intensity of the padding, in input units (before ``scale``).

    crop_to_head : bool, default=False
        Before resizing, crop each image to the head (the largest region
        brighter than the image border, closed by its convex hull, plus a 2 %
        margin) and blank the pixels outside it: 0 for unsigned integer
        images, the image's minimum for others. Borders, their colour and the
        letters burned into them then no longer reach the classifier, and
        the head fills the output. An image in which nothing stands out from
        its border is only resized.

    interpolation : {"bilinear", "bicubic", "lanczos", "box", "nearest"}, \
            default="bilinear"
        Resampling filter. All but ``"nearest"`` are anti-aliased when
        shrinking: the filter support grows with the reduction factor. 8-bit
        gray, RGB and RGBA images are resampled in 8 bits by Pillow, as
        Keras's ``load_img`` does (results rounded to whole grey levels);
        other images are resampled in float32 with Pillow's filter weights,
        applied to all channels at once as sparse matrix products (the same
        numbers as Pillow's float mode, to float32 rounding).

    n_jobs : int or None, default=None
        Threads that resize images in parallel (Pillow and SciPy release the
        GIL while they resample). ``None`` uses every core, up to 8; ``1`` resizes in
        the calling thread; negative values count back from the number of
        cores, as in joblib. Batches of fewer than 16 images always use one
        thread.

    Attributes
    ----------
    n_features_in_ : int
        Size of the second axis of ``X`` when ``fit`` received an array;
        not set for a list of images.

    See Also
    --------
    hemoclf.preprocessing.CTWindow : Hounsfield units to windowed channels.
    hemoclf.HemorrhageCNNClassifier : The classifier this prepares input for.

    Examples
    --------
    >>> import numpy as np
    >>> from hemoclf import ResizeRescale
    >>> images = [np.full((300, 200, 3), 255, dtype=np.uint8),
    ...           np.zeros((512, 512), dtype=np.uint8)]
    >>> X = ResizeRescale(output_size=(64, 64)).fit_transform(images)
    >>> X.shape, X.dtype
    ((2, 64, 64, 3), dtype('float32'))
    >>> float(X[0].min()), float(X[1].max())
    (1.0, 0.0)
    """

    _parameter_constraints = {
        "output_size": [tuple, list],
        "scale": [Interval(Real, 0, None, closed="neither")],
        "channels": [StrOptions({"1", "3"}), Interval(Integral, 1, 3, closed="both"),
                     None],
        "keep_aspect_ratio": ["boolean"],
        "pad_value": [Real],
        "crop_to_head": ["boolean"],
        "interpolation": [StrOptions(set(_RESAMPLE))],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        output_size=(128, 128),
        *,
        scale=1 / 255,
        channels=3,
        keep_aspect_ratio=False,
        pad_value=0.0,
        crop_to_head=False,
        interpolation="bilinear",
        n_jobs=None,
    ):
        self.output_size = output_size
        self.scale = scale
        self.channels = channels
        self.keep_aspect_ratio = keep_aspect_ratio
        self.pad_value = pad_value
        self.crop_to_head = crop_to_head
        self.interpolation = interpolation
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.input_tags.allow_nan = False
        return tags

    def _check_params(self):
        size = tuple(self.output_size)
        if len(size) != 2 or not all(
            isinstance(s, Integral) and s > 0 for s in size
        ):
            raise ValueError(
                f"output_size={self.output_size!r} must be a pair of positive "
                "integers (height, width), e.g. (128, 128)."
            )
        if self.channels is not None and int(self.channels) not in (1, 3):
            raise ValueError(
                f"channels={self.channels!r} must be 1 (gray), 3 (RGB) or None "
                "(keep the input's channels)."
            )
        return size

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and, for an array, record its shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W[, C]) or list of arrays
            Images.

        y : None
            Ignored.

        Returns
        -------
        self : ResizeRescale
        """
        self._check_params()
        images = _to_list(X)
        if isinstance(images, np.ndarray):
            validate_data(self, X, reset=True, allow_nd=True, dtype="numeric")
        return self

    def transform(self, X):
        """Resize, convert channels and rescale each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W[, C]) or list of arrays
            Images: gray ``(H, W)`` or ``(H, W, 1)``, gray+alpha, RGB or
            RGBA, of integer or float dtype, possibly of different sizes. A
            2-D array is read as one row of pixels per sample.

        Returns
        -------
        X_out : ndarray of shape (n_samples, height, width, channels), float32
        """
        size = self._check_params()
        images = _to_list(X)
        n = len(images)
        channels = self._output_channels(images)
        out = np.empty((n,) + size + (channels,), dtype=np.float32)
        resample = _RESAMPLE[self.interpolation]
        scale = np.float32(self.scale)

        def one(i):
            # Converted and repeated to the output's channels as it is
            # copied in, then scaled in place, in the image's thread.
            out[i] = self._resize_one(images[i], i, size, channels, resample)
            out[i] *= scale

        for_each_image(one, n, self.n_jobs)
        return out

    def _resize_one(self, image, index, size, channels, resample):
        image = np.asarray(image)
        if self.crop_to_head:
            image = self._crop(image, index)
        fast = self._resize_uint8(image, size, channels, resample)
        if fast is not None:
            return fast
        img = self._fix_channels(image.astype(np.float32, copy=False), channels, index)
        _check_finite(img, index)
        return self._resize(img, size, resample)

    @staticmethod
    def _crop(image, index):
        if image.dtype.kind == "f":
            _check_finite(image, index)
        return crop_to_head(image)

    def _resize_uint8(self, image, size, channels, resample):
        """Resample 8-bit gray, RGB or RGBA images in Pillow's native modes.

        This is what Keras's ``load_img(target_size=...)`` does; the result is
        rounded to 8 bits (at most 0.5/255 from the float path) and is several
        times faster than resampling each channel in float. Returns the
        8-bit result, of shape ``(height, width, 1)`` for one band, or
        ``None`` when the image needs the float path.
        """
        if image.dtype != np.uint8 or self.keep_aspect_ratio:
            return None
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if (channels == 3 and image.ndim == 3 and image.shape[2] in (3, 4)
                and _gray_in_colour(image)):
            # Pillow resamples each band alike: one band gives the same
            # numbers as three, for a third of the work.
            image = image[:, :, 0]
        if image.ndim == 2:
            mode = "L"
        elif image.shape[2] in (3, 4) and channels == 3:
            mode = "RGB"
            if image.shape[2] == 4:
                image = image[:, :, :3]
        else:
            return None
        h, w = size
        pil = Image.fromarray(np.ascontiguousarray(image), mode=mode)
        if pil.size != (w, h):
            pil = pil.resize((w, h), resample, reducing_gap=_REDUCING_GAP)
        resized = np.asarray(pil)
        # One band broadcasts to the output's channels.
        return resized[:, :, np.newaxis] if mode == "L" else resized

    def _output_channels(self, images):
        if self.channels is not None:
            return int(self.channels)
        counts = set()
        for img in images:
            c = 1 if img.ndim == 2 else img.shape[-1]
            counts.add(3 if c in (3, 4) else 1)
        if len(counts) > 1:
            raise ValueError(
                "The images mix gray and colour channels; with channels=None "
                "they must all have the same. Set channels=1 or channels=3."
            )
        return counts.pop() if counts else 3

    @staticmethod
    def _fix_channels(img, channels, index):
        if img.ndim == 2:
            img = img[:, :, np.newaxis]
        c = img.shape[2]
        if c in (2, 4):  # drop alpha
            img = img[:, :, : c - 1]
            c -= 1
        if c == channels:
            return img
        if channels == 3:  # gray -> RGB
            return np.repeat(img, 3, axis=2)
        return (img @ _LUMA)[:, :, np.newaxis]  # RGB -> gray

    def _resize(self, img, size, resample):
        h, w = size
        in_h, in_w = img.shape[:2]
        if self.keep_aspect_ratio:
            ratio = min(h / in_h, w / in_w)
            new_h = max(1, round(in_h * ratio))
            new_w = max(1, round(in_w * ratio))
        else:
            new_h, new_w = h, w
        if (new_h, new_w) == (in_h, in_w):
            resized = img
        elif self.interpolation in FILTERS:
            resized = resample_float(img, (new_h, new_w), self.interpolation)
        else:
            resized = np.stack(
                [
                    np.asarray(
                        Image.fromarray(np.ascontiguousarray(img[:, :, k]),
                                        mode="F").resize((new_w, new_h), resample)
                    )
                    for k in range(img.shape[2])
                ],
                axis=2,
            )
        if (new_h, new_w) == (h, w):
            return resized
        canvas = np.full((h, w, img.shape[2]), self.pad_value, dtype=np.float32)
        top, left = (h - new_h) // 2, (w - new_w) // 2
        canvas[top : top + new_h, left : left + new_w] = resized
        return canvas
