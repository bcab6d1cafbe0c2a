"""Group identical and near-identical images: perceptual hash, then keypoints.

Two stages keep this fast and precise. A perceptual hash of each image,
cropped to the head, proposes candidate pairs; slices of one scan look alike
to a 64-bit hash, so each candidate pair is then confirmed by matching ORB
keypoints under one similarity transform (rotation, scale, shift), which
copies of one picture share and neighbouring slices do not.
"""

import warnings
from numbers import Integral

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import radius_neighbors_graph
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

_HASHES = ("phash", "dhash", "whash", "average_hash")
# Keypoint check: images resized to this side, this many ORB keypoints; a
# pair is confirmed when this share of the keypoints fit one transform.
_MATCH_SIDE = 192
_N_KEYPOINTS = 200
_MIN_INLIER_SHARE = 0.125


def _gray_uint8(image, index):
    """A 2-D uint8 rendering of one image: luma for colour, equalised otherwise."""
    from PIL import Image

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (2, 4):  # drop alpha
        image = image[:, :, :-1]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        if image.dtype == np.uint8:  # ITU-R 601 luma, in Pillow's C code
            return np.asarray(Image.fromarray(np.ascontiguousarray(image)).convert("L"))
        image = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if image.ndim != 2 or image.dtype.kind not in "uifb" or min(image.shape) < 2:
        raise ValueError(
            f"Image {index} has shape {image.shape} and dtype {image.dtype}; "
            "find_near_duplicates needs 2-D gray or (H, W, C) colour images of "
            "at least 2x2 pixels. Split volumes into 2-D slices first."
        )
    if image.dtype == np.uint8:
        return image
    # Other dtypes (Hounsfield units, 16 bits): equalise the histogram of
    # the pixels above the background, so that the texture inside the head
    # shows whatever the value range; the background stays black.
    from skimage.exposure import equalize_hist

    image = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = image.min(), image.max()
    if high == low:
        return np.zeros(image.shape, dtype=np.uint8)
    inside = image > low + 0.1 * (high - low)
    gray = equalize_hist(image, nbins=1024, mask=inside)
    return np.where(inside, 1 + gray * 254, 0).astype(np.uint8)


def _crop_to_head(gray, level=0.1):
    """Crop to the largest connected region brighter than the background.

    The background is the darkest intensity; a pixel belongs to the region
    when it is more than ``level`` of the intensity range above it. Borders,
    padding and burnt-in letters then do not change the crop.
    """
    low, high = int(gray.min()), int(gray.max())
    if high == low:
        return gray
    labels, n = ndimage.label(gray > low + level * (high - low))
    sizes = np.bincount(labels.ravel())[1:]
    box = ndimage.find_objects(labels, max_label=n)[int(np.argmax(sizes))]
    return gray[box]


def _resized(gray, side):
    from PIL import Image

    scale = side / max(gray.shape)
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return Image.fromarray(gray).resize(size, Image.Resampling.LANCZOS)


def _keypoints(gray):
    """ORB keypoints (row, col) and binary descriptors, or None if too few.

    Smooth images give few corners at the default FAST threshold: lower it
    until half the wanted keypoints are found.
    """
    from skimage.feature import ORB

    image = np.asarray(_resized(gray, _MATCH_SIDE), dtype=np.float64) / 255
    found = None
    for fast_threshold in (0.1, 0.05, 0.02):
        orb = ORB(n_keypoints=_N_KEYPOINTS, fast_threshold=fast_threshold, n_scales=2)
        try:
            orb.detect_and_extract(image)
        except RuntimeError:  # no keypoint at all, e.g. a flat image
            continue
        found = orb.keypoints, orb.descriptors
        if len(orb.keypoints) >= _N_KEYPOINTS // 2:
            break
    if found is None or len(found[0]) < 3:
        return None
    return found


def _same_picture(first, second):
    """Whether enough keypoints of two images fit one similarity transform."""
    from skimage.feature import match_descriptors
    from skimage.measure import ransac
    from skimage.transform import SimilarityTransform

    (points_a, descriptors_a), (points_b, descriptors_b) = first, second
    matches = match_descriptors(descriptors_a, descriptors_b, cross_check=True,
                                max_ratio=0.8)
    needed = _MIN_INLIER_SHARE * _N_KEYPOINTS
    if len(matches) < needed:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no inliers found" is an answer here
        model, inliers = ransac(
            (points_a[matches[:, 0], ::-1], points_b[matches[:, 1], ::-1]),
            SimilarityTransform, min_samples=3, residual_threshold=1.5,
            max_trials=300, rng=0,
        )
    return bool(model) and inliers is not None and inliers.sum() >= needed


def _hash(gray, hash_size, method):
    """Perceptual hash of a gray image, as a flat boolean array."""
    import imagehash
    from PIL import Image

    digest = getattr(imagehash, method)(Image.fromarray(gray), hash_size=hash_size)
    return digest.hash.ravel()


@validate_params(
    {
        "images": ["array-like"],
        "threshold": [Interval(Integral, 0, None, closed="left")],
        "hash_size": [Interval(Integral, 2, None, closed="left")],
        "method": [StrOptions(set(_HASHES))],
        "verify": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def find_near_duplicates(images, *, threshold=10, hash_size=8, method="phash",
                         verify=True):
    """Group identical and near-identical images.

    Near duplicates are copies of one picture: re-cropped, re-scaled,
    re-saved, re-windowed or with burnt-in letters. Each image is rendered
    in gray and cropped to its largest bright region (the head), so that
    borders and letters do not count. Pairs whose perceptual hashes differ
    in at most ``threshold`` bits are candidates; with ``verify=True`` a
    candidate pair is kept only if at least 25 of the 200 ORB keypoints of
    the two images match under one similarity transform (rotation, scale,
    shift), which tells copies from neighbouring slices of one scan.

    Groups are the connected components of the kept pairs, so ``a ~ b`` and
    ``b ~ c`` put ``a``, ``b`` and ``c`` in one group. Pass them to
    :class:`~sklearn.model_selection.StratifiedGroupKFold` or
    :class:`~sklearn.model_selection.GroupShuffleSplit` so that no copy of
    a test image is seen in training.

    Parameters
    ----------
    images : sequence of ndarray
        2-D gray or ``(H, W, C)`` colour images of any sizes and dtypes.
        ``uint8`` colour images are converted to luma; images of other
        dtypes, such as Hounsfield units, are rendered by equalising the
        histogram of the pixels above the background.
    threshold : int, default=10
        Largest Hamming distance between the hashes of a candidate pair,
        out of ``hash_size ** 2`` bits. Without verification, lower it
        (e.g. 4): slices of one scan are often within 10 bits.
    hash_size : int, default=8
        Side of the hash; the hash has ``hash_size ** 2`` bits.
    method : {"phash", "dhash", "whash", "average_hash"}, default="phash"
        The :mod:`imagehash` function.
    verify : bool, default=True
        Confirm each candidate pair by matching keypoints. An image too
        flat to have keypoints is then grouped only with images of the same
        hash.

    Returns
    -------
    groups : ndarray of shape (n_images,), dtype int
        Group label of each image, numbered from 0 in the order of first
        appearance; an image with no near duplicate is alone in its group.

    See Also
    --------
    load_head_ct : Exposes these groups for the Kaggle head CT set.
    sklearn.model_selection.StratifiedGroupKFold : Splits that keep groups
        whole.

    Notes
    -----
    On the 200 Kaggle head CT images the defaults find the 14 groups listed
    in the ``DESCR`` of :func:`load_head_ct`, each checked by eye. Copies of
    one picture matched 38 to 200 keypoints, re-windowed copies 30 and 46,
    the closest pair of different slices (of one scan) 20; the hash alone,
    at any threshold that catches all copies, also pairs many different
    slices.

    The keypoint check needs some texture: copies of images smaller than
    about 64 pixels, or of nearly flat images, may not be confirmed; for
    those use ``verify=False`` with a small ``threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skimage import data
    >>> from hemoclf.datasets import find_near_duplicates
    >>> photo = data.camera()
    >>> copy = np.asarray(Image.fromarray(photo[20:-10, 15:-25]).resize((300, 280)))
    >>> find_near_duplicates([photo, data.moon(), copy, data.coins()])
    array([0, 1, 0, 2])
    """
    heads = [_crop_to_head(_gray_uint8(image, i)) for i, image in enumerate(images)]
    n = len(heads)
    if n == 0:
        return np.zeros(0, dtype=int)
    hashes = np.array([_hash(head, hash_size, method) for head in heads])
    candidates = radius_neighbors_graph(
        hashes, radius=(threshold + 0.5) / hashes.shape[1], metric="hamming"
    ).tocoo()
    keep = candidates.row < candidates.col
    pairs = list(zip(candidates.row[keep], candidates.col[keep]))
    if verify:
        features = {}

        def keypoints(i):
            if i not in features:
                features[i] = _keypoints(heads[i])
            return features[i]

        def confirmed(i, j):
            a, b = keypoints(i), keypoints(j)
            if a is None or b is None:
                return np.array_equal(hashes[i], hashes[j])
            return _same_picture(a, b)

        pairs = [(i, j) for i, j in pairs if confirmed(i, j)]
    rows = np.array([i for i, _ in pairs], dtype=int)
    cols = np.array([j for _, j in pairs], dtype=int)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # Number the groups by first appearance, whatever the component order.
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=int)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse]
