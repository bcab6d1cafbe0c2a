"""Samplers for image arrays, for imbalanced-learn pipelines.

:class:`AugmentationSampler` over-samples with augmented copies of the
training images (the founding paper's expansion of the training set);
:class:`ImageSampler` runs any imbalanced-learn sampler on images. Both act
only while an :class:`imblearn.pipeline.Pipeline` is fitted.
"""

from ._adapter import ImageSampler
from ._augment import AugmentationSampler

__all__ = ["AugmentationSampler", "ImageSampler"]
