"""Run any imbalanced-learn sampler on image arrays."""

import numpy as np
from imblearn.base import BaseSampler
from scipy import sparse
from sklearn.base import _fit_context, clone
from sklearn.utils import check_array, get_tags
from sklearn.utils._param_validation import HasMethods

# Fitted attributes of the wrapped sampler that describe a 2-D input.
_TABLE_ATTRIBUTES = ("n_features_in_", "feature_names_in_")

# Input tags that ImageSampler takes over from the sampler it wraps.
_DELEGATED_INPUT_TAGS = ("sparse", "dataframe", "allow_nan", "string", "categorical")


class ImageSampler(BaseSampler):
    """Apply an imbalanced-learn sampler to images.

    imbalanced-learn's samplers take 2-D tables. This meta-sampler flattens
    each image into one row, runs a clone of ``sampler`` and restores the
    image shape. Samplers that pick rows
    (:class:`~imblearn.under_sampling.RandomUnderSampler`,
    :class:`~imblearn.over_sampling.RandomOverSampler`, the cleaning
    under-samplers) return the chosen images bit for bit; samplers that make
    rows (:class:`~imblearn.over_sampling.SMOTE` and its family,
    ``RandomOverSampler(shrinkage=...)``) return new images built pixel by
    pixel, SMOTE's as blends of two images of a class.

    ``X`` holds images of shape ``(n_samples, height, width, channels)`` or
    ``(n_samples, height, width)``. As everywhere in hemoclf, a 2-D input
    ``(n_samples, n_features)`` is a batch of images one row of pixels high;
    such rows need no flattening, so the wrapped sampler runs on ``X`` as it
    is and its output, its checks and its input types are those of
    ``sampler`` itself.

    Parameters
    ----------
    sampler : imbalanced-learn sampler
        The sampler to run, e.g. ``RandomUnderSampler(random_state=0)``. Its
        parameters are reachable as ``sampler__<name>``, e.g.
        ``sampler__sampling_strategy`` in a grid search.

    Attributes
    ----------
    sampler_ : imbalanced-learn sampler
        The fitted clone of ``sampler``.
    sampling_strategy_ : dict
        ``sampler_.sampling_strategy_``: the number of samples ``sampler_``
        aimed at for each class it resampled; absent when ``sampler_`` has no
        such attribute.
    sample_indices_ : ndarray of shape (n_samples_new,)
        Indices in ``X`` of the images returned, when ``sampler_`` has a
        ``sample_indices_`` attribute after fitting; absent otherwise.
    n_features_in_ : int
        Size of the second axis of ``X`` seen during ``fit_resample``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``; set only when ``X`` is a data frame with
        string column names.

    See Also
    --------
    AugmentationSampler : Over-samples with augmented copies instead.

    Notes
    -----
    Samplers that measure distances between samples (SMOTE, NearMiss,
    EditedNearestNeighbours, ...) measure them between raw pixel vectors, which
    says little about image content; a random sampler or
    :class:`AugmentationSampler` is usually the better choice for images.

    Examples
    --------
    >>> import numpy as np
    >>> from imblearn.under_sampling import RandomUnderSampler
    >>> from hemoclf.sampling import ImageSampler
    >>> X = np.random.default_rng(0).random((6, 8, 8, 1))
    >>> y = np.array([0, 0, 0, 0, 1, 1])
    >>> sampler = ImageSampler(RandomUnderSampler(random_state=0))
    >>> X_res, y_res = sampler.fit_resample(X, y)
    >>> X_res.shape, np.bincount(y_res).tolist()
    ((4, 8, 8, 1), [2, 2])
    >>> bool(np.array_equal(X_res, X[sampler.sample_indices_]))
    True
    """

    _sampling_type = "bypass"

    _parameter_constraints: dict = {"sampler": [HasMethods(["fit_resample"])]}

    def __init__(self, sampler):
        self.sampler = sampler

    def fit(self, X, y, **params):
        """Fit the sampler on the images; same as ``fit_resample``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels]) or \
                (n_samples, n_features)
            Images.
        y : array-like of shape (n_samples,)
            Class labels.
        **params : dict
            Passed to the sampler's ``fit_resample``.

        Returns
        -------
        self : ImageSampler
            The fitted sampler.
        """
        self.fit_resample(X, y, **params)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_resample(self, X, y, **params):
        """Resample the images with a clone of ``sampler``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels]) or \
                (n_samples, n_features)
            Images; a 2-D ``X`` goes to the sampler as it is.
        y : array-like of shape (n_samples,)
            Class labels.
        **params : dict
            Passed to the sampler's ``fit_resample``.

        Returns
        -------
        X_resampled : array-like of shape (n_samples_new, height, width[, \
                channels]) or (n_samples_new, n_features)
            The resampled images, with the shape of the images in ``X``.
        y_resampled : array-like of shape (n_samples_new,)
            Their labels.
        """
        for name in ("sample_indices_", "sampling_strategy_") + _TABLE_ATTRIBUTES:
            if hasattr(self, name):
                delattr(self, name)
        if sparse.issparse(X) or np.ndim(X) <= 2:
            return self._fit_resample(X, y, **params)
        images = check_array(
            X, allow_nd=True, dtype=None, ensure_all_finite=False, input_name="X",
            estimator=self,
        )
        if hasattr(y, "__len__") and len(y) != images.shape[0]:
            raise ValueError(
                f"X holds {images.shape[0]} images but y holds {len(y)} labels; "
                "give one label per image."
            )
        X_flat, *rest = self._fit_resample(
            images.reshape(images.shape[0], -1), y, **params
        )
        self.n_features_in_ = images.shape[1]
        X_res = np.asarray(X_flat).reshape((-1,) + images.shape[1:])
        return (X_res.tolist() if isinstance(X, list) else X_res, *rest)

    def _fit_resample(self, X, y, **params):
        self.sampler_ = clone(self.sampler)
        output = self.sampler_.fit_resample(X, y, **params)
        for name in ("sample_indices_", "sampling_strategy_") + _TABLE_ATTRIBUTES:
            if hasattr(self.sampler_, name):
                setattr(self, name, getattr(self.sampler_, name))
        if hasattr(self, "sample_indices_"):
            self.sample_indices_ = np.asarray(self.sample_indices_)
        return output

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        if hasattr(self.sampler, "__sklearn_tags__"):
            inner = get_tags(self.sampler)
            for name in _DELEGATED_INPUT_TAGS:
                setattr(tags.input_tags, name, getattr(inner.input_tags, name))
            inner_sampler_tags = getattr(inner, "sampler_tags", None)
            if inner_sampler_tags is not None:
                tags.sampler_tags.sample_indices = inner_sampler_tags.sample_indices
        return tags
