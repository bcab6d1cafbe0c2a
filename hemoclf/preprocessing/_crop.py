"""Crop head CT images to the head and blank what lies outside it.

Head CT renderings differ in how much border surrounds the head, in the
colour of that border and in the letters, rulers and annotations burned into
it; a classifier can learn those instead of the brain. ``crop_to_head`` finds
the head in an image (the largest region brighter than the image border,
closed by its convex hull), crops the image to the head's bounding box plus a
margin and blanks the pixels outside the head. :class:`~hemoclf.ResizeRescale`
applies it before resizing when ``crop_to_head=True``.
"""

import numpy as np

# Tissue: brighter than the border by this fraction of the range from the
# border's median to the image's 99th percentile.
TISSUE_THRESHOLD = 0.1
# Margin kept around the head's bounding box, as a fraction of its size.
CROP_MARGIN = 0.02
# The head is found on the image reduced to this many pixels a side at most.
MASK_SIZE = 256


def _intensity(image):
    """One gray intensity per pixel: the mean of the colour channels."""
    if image.ndim == 2:
        return image.astype(np.float32, copy=False)
    channels = image.shape[2]
    colour = image[:, :, : 3 if channels >= 3 else 1]  # drop alpha
    return colour.mean(axis=2, dtype=np.float32)


def _shrunk(gray):
    """``gray`` reduced so that its longer side is at most ``MASK_SIZE``, and
    the (row, column) factors back to full size."""
    from PIL import Image

    h, w = gray.shape
    if max(h, w) <= MASK_SIZE:
        return gray, 1.0, 1.0
    ratio = MASK_SIZE / max(h, w)
    size = (max(1, round(w * ratio)), max(1, round(h * ratio)))
    small = np.asarray(Image.fromarray(gray, mode="F").resize(
        size, Image.Resampling.BOX))
    return small, h / small.shape[0], w / small.shape[1]


def _filled_hull(region, shape, fy, fx):
    """The convex hull of ``region`` (boolean, reduced scale) drawn at full
    size ``shape``, where a reduced pixel spans ``fy`` x ``fx`` pixels.

    ``skimage.morphology.convex_hull_image`` gives the hull too, but tests
    every pixel against the polygon: about 105 ms for one head_ct image,
    where scipy's hull of the rows' extreme pixels, drawn by Pillow, keeps
    the whole crop near 10 ms.
    """
    from PIL import Image, ImageDraw
    from scipy.spatial import ConvexHull, QhullError

    rows = np.flatnonzero(region.any(axis=1))
    first = region[rows].argmax(axis=1)
    last = region.shape[1] - 1 - region[rows, ::-1].argmax(axis=1)
    # Each row's extreme pixels, by the corners of the area they cover.
    left, right = first * fx, (last + 1) * fx - 1
    top, bottom = rows * fy, (rows + 1) * fy - 1
    points = np.concatenate([
        np.column_stack([left, top]), np.column_stack([left, bottom]),
        np.column_stack([right, top]), np.column_stack([right, bottom]),
    ])
    try:
        polygon = points[ConvexHull(points).vertices]
    except QhullError:  # one row or one column: the bounding box
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        polygon = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    canvas = Image.new("1", (shape[1], shape[0]), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon], fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def head_mask(gray, threshold=TISSUE_THRESHOLD):
    """The head in a 2-D intensity image, as a boolean mask (or None).

    Pixels brighter than the background by ``threshold`` of the range from
    the background (the median of the image border) to the 99th percentile
    are tissue; a 2-pixel opening detaches specks and thin lines, the
    largest connected region is the head, and its convex hull closes skull
    defects and the dark brain inside. The region is found on the image
    reduced to at most ``MASK_SIZE`` pixels a side, and its hull drawn at
    full size. None when no pixel stands out from the background (a blank
    image).
    """
    from scipy import ndimage

    small, fy, fx = _shrunk(np.ascontiguousarray(gray, dtype=np.float32))
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    background = float(np.median(border))
    top = float(np.percentile(small, 99))
    if not top > background:
        return None
    tissue = small > background + threshold * (top - background)
    opened = ndimage.binary_opening(tissue, iterations=2)
    if opened.any():
        tissue = opened
    labels, n_regions = ndimage.label(tissue)
    if n_regions == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    largest = labels == 1 + int(np.argmax(sizes))
    return _filled_hull(largest, gray.shape, fy, fx)


def crop_to_head(image, *, threshold=TISSUE_THRESHOLD, margin=CROP_MARGIN):
    """``image`` cropped to the head, with the pixels outside the head blanked.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        Gray, gray+alpha, RGB or RGBA; finite intensities.
    threshold : float
        Tissue threshold; see :func:`head_mask`.
    margin : float
        Margin kept around the head's bounding box, as a fraction of its
        height and width.

    Returns
    -------
    cropped : ndarray of shape (h, w) or (h, w, C)
        Of the input dtype. Pixels outside the head are 0 for unsigned
        integer images (black in display renderings) and the image's minimum
        for others (air in Hounsfield units or windowed images). An image in
        which nothing stands out from its border is returned unchanged.
    """
    mask = head_mask(_intensity(image), threshold)
    if mask is None:
        return image
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom = rows[0], rows[-1] + 1
    left, right = cols[0], cols[-1] + 1
    dy = int(margin * (bottom - top))
    dx = int(margin * (right - left))
    top, bottom = max(0, top - dy), min(image.shape[0], bottom + dy)
    left, right = max(0, left - dx), min(image.shape[1], right + dx)
    cropped = image[top:bottom, left:right].copy()
    fill = 0 if image.dtype.kind == "u" else image.min()
    cropped[~mask[top:bottom, left:right]] = fill
    return cropped
