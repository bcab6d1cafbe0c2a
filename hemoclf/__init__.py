"""hemoclf: intracranial hemorrhage detection on head CT, the scikit-learn way.

The estimators plug into scikit-learn pipelines, model selection and
imbalanced-learn samplers:

- :class:`HemorrhageCNNClassifier`, a convolutional network classifier
  trained through scikeras;
- :class:`ResizeRescale`, which turns images of any size into the fixed-size
  float arrays the classifier expects.

Subpackages: :mod:`hemoclf.datasets` (readers, the head CT phantom),
:mod:`hemoclf.preprocessing`, :mod:`hemoclf.sampling`, :mod:`hemoclf.metrics`,
:mod:`hemoclf.model_selection` (a decision threshold for sensitivity) and
:mod:`hemoclf.inspection`.
"""

__version__ = "0.1.0.dev0"

from ._classifier import HemorrhageCNNClassifier
from ._distribute import limit_tensorflow_threads
from ._persistence import load_model, save_model
from ._recipes import make_hemorrhage_pipeline
from ._streaming import predict_files
from .preprocessing import ResizeRescale

__all__ = [
    "HemorrhageCNNClassifier",
    "ResizeRescale",
    "__version__",
    "limit_tensorflow_threads",
    "load_model",
    "make_hemorrhage_pipeline",
    "predict_files",
    "save_model",
]
