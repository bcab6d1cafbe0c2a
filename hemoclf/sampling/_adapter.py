"""Run any imbalanced-learn sampler on image arrays."""

import numpy as np
from imblearn.base import BaseSampler
from sklearn.base import _fit_context, clone
from sklearn.utils import check_array, get_tags
from sklearn.utils._param_validation import HasMethods


def _image_tags(tags):
    """Declare that a sampler takes image arrays, not 2-D tables."""
    tags.input_tags.two_d_array = False
    tags.input_tags.three_d_array = True
    tags.input_tags.sparse = False
    tags.input_tags.dataframe = False
    return tags


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
    sample_indices_ : ndarray of shape (n_samples_new,)
        Indices in ``X`` of the images kept, when ``sampler_`` picks rows
        (has a ``sample_indices_`` attribute after fitting); absent otherwise.

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

    def _check_X_y(self, X, y, accept_sparse=None):
        X = check_array(
            X, allow_nd=True, dtype=None, input_name="X", estimator=self
        )
        if X.ndim < 3:
            raise ValueError(
                "ImageSampler takes images as an array of shape (n_samples, "
                f"height, width[, channels]); got shape {X.shape}. For a 2-D "
                "table use the imbalanced-learn sampler itself."
            )
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X holds {X.shape[0]} images but y holds {y.shape[0]} labels; "
                "give one label per image."
            )
        return X, y, False

    def fit(self, X, y, **params):
        """Fit the sampler on the images; same as ``fit_resample``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels])
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
        X : array-like of shape (n_samples, height, width[, channels])
            Images.
        y : array-like of shape (n_samples,)
            Class labels.
        **params : dict
            Passed to the sampler's ``fit_resample``.

        Returns
        -------
        X_resampled : ndarray of shape (n_samples_new, height, width[, channels])
            The resampled images, with the shape of the images in ``X``.
        y_resampled : ndarray of shape (n_samples_new,)
            Their labels.
        """
        X, y, _ = self._check_X_y(X, y)
        return self._fit_resample(X, y, **params)

    def _fit_resample(self, X, y, **params):
        self.sampler_ = clone(self.sampler)
        X_flat, y_res = self.sampler_.fit_resample(
            X.reshape(X.shape[0], -1), y, **params
        )[:2]
        if hasattr(self.sampler_, "sample_indices_"):
            self.sample_indices_ = np.asarray(self.sampler_.sample_indices_)
        elif hasattr(self, "sample_indices_"):
            del self.sample_indices_
        return np.asarray(X_flat).reshape((-1,) + X.shape[1:]), y_res

    def __sklearn_tags__(self):
        tags = _image_tags(super().__sklearn_tags__())
        inner = None
        if hasattr(self.sampler, "__sklearn_tags__"):
            inner = getattr(get_tags(self.sampler), "sampler_tags", None)
        if inner is not None:
            tags.sampler_tags.sample_indices = inner.sample_indices
        return tags
