"""Transformers that turn images into the arrays the classifier expects."""

from ._resize import ResizeRescale
from ._window import CTWindow

__all__ = ["CTWindow", "ResizeRescale"]
