"""Over-sampling by writing augmented copies of training images."""

from numbers import Integral, Real

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_target_type
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from .._validation import as_image_batch

# The names of hemoclf._augmentation.FILL_MODES, repeated here so that
# importing hemoclf.sampling does not import Keras (a test keeps them equal).
_FILL_MODES = {"constant", "reflect", "wrap", "nearest"}


class AugmentationSampler(BaseOverSampler):
    """Over-sample images with augmented copies, as in the founding paper.

    Adds randomly flipped, rotated, zoomed, sheared and shifted copies of the
    training images until every class reaches the size that
    ``sampling_strategy`` asks for. The transformations are those of
    :class:`~hemoclf.HemorrhageCNNClassifier`'s on-the-fly augmentation (one
    definition, Keras preprocessing layers). The paper's expansion of 180
    training images (90 per class) to 1000 is
    ``sampling_strategy={0: 500, 1: 500}``; its deliberately imbalanced set
    is a dict with more hemorrhage images than normal ones.

    The original images come first in the output, unchanged and in their
    order, followed by the generated copies class by class. Each original of
    a class is copied as evenly as possible (the counts differ by at most
    one). Inside an :class:`imblearn.pipeline.Pipeline` the sampler acts
    only while fitting; prediction sees the images as they are.

    ``X`` holds images of shape ``(n_samples, height, width, channels)`` or
    ``(n_samples, height, width)``. As everywhere in hemoclf, a 2-D array
    ``(n_samples, n_features)`` is a batch of images one row of pixels high,
    shape ``(n_samples, 1, n_features, 1)``; its augmented copies come back
    as rows of the same width. Lists, data frames (sparse ones included) and
    one-hot encoded labels come back in the type they came in.

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        Size of each class after sampling, with imbalanced-learn's
        over-sampling semantics:

        - dict: ``{label: total number of images}``, e.g. ``{0: 500, 1: 500}``;
          a class left out is not sampled; a total below the current count is
          an error;
        - float: ratio of the minority to the majority class after sampling
          (binary problems only);
        - ``"auto"`` or ``"not majority"``: every class but the majority up to
          the majority's size; ``"minority"``, ``"not minority"``, ``"all"``
          the classes they name;
        - callable: ``sampling_strategy(y)`` returns such a dict.

    flip_horizontal : bool, default=True
        Random left-right flips.
    flip_vertical : bool, default=True
        Random up-down flips.
    rotation : float, default=15.0
        Largest random rotation in degrees; 0 switches rotation off.
    zoom : float, default=0.05
        Largest relative zoom in or out; 0 switches zoom off.
    shear : float, default=0.1
        Largest counter-clockwise shear as a fraction of the image size;
        0 switches shear off.
    shift : float, default=0.05
        Largest width and height shift as a fraction of the image size;
        0 switches shifting off.
    fill_mode : {"constant", "reflect", "wrap", "nearest"}, default="constant"
        How points moved in from outside the image are filled.
    fill_value : float, default=0.0
        The fill with ``fill_mode="constant"``.
    gamma : float, default=0.0
        Largest random gamma correction of the intensities (taken as
        [0, 1]), as the natural log of the exponent; 0 (the paper's
        setting) switches it off.
    random_state : int, RandomState instance or None, default=None
        Chooses which images are copied and seeds the transformations. An
        int gives identical output for identical input and ``batch_size``.
    batch_size : int, default=32
        Images transformed at once; bounds the memory the transformation
        needs.

    Attributes
    ----------
    sampling_strategy_ : dict
        Number of images generated for each class.
    n_features_in_ : int
        Size of the second axis of ``X`` seen during ``fit_resample``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``; set only when ``X`` is a data frame with
        string column names.
    source_indices_ : ndarray of shape (n_samples_new,)
        For each output image, the index in ``X`` of the image it was made
        from; its first ``n_samples`` entries are ``0, 1, ..., n_samples - 1``.

    See Also
    --------
    ImageSampler : Any imbalanced-learn sampler on image arrays.
    hemoclf.HemorrhageCNNClassifier : Augments on the fly instead.
    sklearn.model_selection.TunedThresholdClassifierCV : Moves the decision
        threshold for sensitivity instead of changing the training set.

    Notes
    -----
    Over-sampling by augmentation and an imbalanced training set change what
    the network learns; a tuned decision threshold
    (:func:`hemoclf.metrics.make_sensitivity_constrained_scorer`) reaches a
    sensitivity target without retraining and is easier to validate.

    Examples
    --------
    >>> import numpy as np
    >>> from hemoclf.sampling import AugmentationSampler
    >>> X = np.random.default_rng(0).random((6, 16, 16, 1), dtype=np.float32)
    >>> y = np.array([0, 0, 0, 0, 1, 1])
    >>> sampler = AugmentationSampler({0: 5, 1: 5}, random_state=0)
    >>> X_res, y_res = sampler.fit_resample(X, y)
    >>> X_res.shape, np.bincount(y_res).tolist()
    ((10, 16, 16, 1), [5, 5])
    >>> bool(np.array_equal(X_res[:6], X))
    True
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "flip_horizontal": ["boolean"],
        "flip_vertical": ["boolean"],
        "rotation": [Interval(Real, 0, 180, closed="both")],
        "zoom": [Interval(Real, 0, 1, closed="left")],
        "shear": [Interval(Real, 0, 1, closed="left")],
        "shift": [Interval(Real, 0, 1, closed="left")],
        "fill_mode": [StrOptions(_FILL_MODES)],
        "fill_value": [Real],
        "gamma": [Interval(Real, 0, 2, closed="both")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        sampling_strategy="auto",
        *,
        flip_horizontal=True,
        flip_vertical=True,
        rotation=15.0,
        zoom=0.05,
        shear=0.1,
        shift=0.05,
        fill_mode="constant",
        fill_value=0.0,
        gamma=0.0,
        random_state=None,
        batch_size=32,
    ):
        self.sampling_strategy = sampling_strategy
        self.flip_horizontal = flip_horizontal
        self.flip_vertical = flip_vertical
        self.rotation = rotation
        self.zoom = zoom
        self.shear = shear
        self.shift = shift
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.gamma = gamma
        self.random_state = random_state
        self.batch_size = batch_size

    def _check_X_y(self, X, y, accept_sparse=None):
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        if hasattr(X, "sparse"):  # a data frame of sparse columns
            X = X.sparse.to_dense()
        X = validate_data(
            self, X, reset=True, allow_nd=True, dtype=(np.float32, np.float64)
        )
        if X.ndim > 4:
            raise ValueError(
                f"{type(self).__name__} takes images as an array of shape "
                "(n_samples, height, width, channels) or (n_samples, height, "
                f"width); got shape {X.shape}. Cut volumes into 2-D slices first."
            )
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"X holds {X.shape[0]} images but y holds {y.shape[0]} labels; "
                "give one label per image."
            )
        return X, y, binarize_y

    def fit_resample(self, X, y):
        """Add augmented copies of the images of the classes to over-sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels), \
                (n_samples, height, width) or (n_samples, n_features)
            Training images; float32 and float64 are kept, other types become
            float32. A 2-D array or data frame is read as one row of pixels
            per sample.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or their one-hot encoding.

        Returns
        -------
        X_resampled : ndarray, list or DataFrame of shape (n_samples_new, ...)
            ``X`` followed by the generated images, with the type, rank and
            dtype of ``X``.
        y_resampled : ndarray, list, Series or DataFrame of shape \
                (n_samples_new,) or (n_samples_new, n_classes)
            The labels in the type of ``y``, those of the generated images
            last.
        """
        return super().fit_resample(X, y)

    def _fit_resample(self, X, y):
        rng = check_random_state(self.random_state)
        sources = [np.arange(X.shape[0])]
        for label, n_new in self.sampling_strategy_.items():
            members = np.flatnonzero(y == label)
            n_rounds = -(-n_new // members.shape[0])
            draws = [rng.permutation(members) for _ in range(n_rounds)]
            sources.append(np.concatenate(draws or [members[:0]])[:n_new])
        self.source_indices_ = np.concatenate(sources)
        new = self.source_indices_[X.shape[0]:]
        seed = int(rng.randint(np.iinfo(np.int32).max))
        X_new = self._augment(X[new], seed)
        return np.concatenate([X, X_new]), y[self.source_indices_]

    def _augment(self, images, seed):
        """Run the augmentation layers over ``images`` batch by batch."""
        from .._augmentation import augmentation_layers

        layers = augmentation_layers(
            flip_horizontal=self.flip_horizontal,
            flip_vertical=self.flip_vertical,
            rotation=self.rotation,
            zoom=self.zoom,
            shear=self.shear,
            shift=self.shift,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            gamma=self.gamma,
            seed=seed,
        )
        if not layers or images.shape[0] == 0:
            return images.copy()
        import keras

        batches = as_image_batch(images, estimator_name=type(self).__name__)
        out = np.empty(batches.shape, dtype=images.dtype)
        for start in range(0, batches.shape[0], self.batch_size):
            batch = batches[start:start + self.batch_size].astype(np.float32)
            for layer in layers:
                batch = layer(batch, training=True)
            out[start:start + self.batch_size] = keras.ops.convert_to_numpy(batch)
        return out.reshape(images.shape)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.sparse = False
        return tags
