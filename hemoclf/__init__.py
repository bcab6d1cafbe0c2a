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

import lazy_loader as _lazy

# The estimators and subpackages load on first use: ``import hemoclf`` and
# the command line's ``--help`` do not pay for scikit-learn or TensorFlow.
__getattr__, __dir__, _ = _lazy.attach(
    __name__,
    submodules=[
        "datasets",
        "inspection",
        "metrics",
        "model_selection",
        "preprocessing",
        "sampling",
        "utils",
    ],
    submod_attrs={
        "_classifier": ["HemorrhageCNNClassifier"],
        "_distribute": ["limit_tensorflow_threads"],
        "_persistence": ["load_model", "save_model"],
        "_recipes": ["make_hemorrhage_pipeline"],
        "_streaming": ["predict_files"],
        "preprocessing": ["ResizeRescale"],
    },
)

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
