"""Ready-made pipelines: each recipe's preprocessing and classifier together.

A recipe is a network, the training settings it was measured with (see
:class:`~hemoclf.HemorrhageCNNClassifier`'s ``architecture``) and the
preprocessing that turns raw images into its input. Keeping the three in one
place means that ``make_hemorrhage_pipeline()`` on raw images gives the
figures reported in ``benchmarks/evaluate_recipes.py``.
"""

import difflib
from numbers import Integral

import numpy as np
from sklearn.ensemble import VotingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._classifier import HemorrhageCNNClassifier
from .preprocessing import CTWindow, ResizeRescale

# ResizeRescale settings of each recipe, for 8-bit images (PNG, JPEG).
RECIPE_PREPROCESSING = {
    "paper": {"output_size": (128, 128), "channels": 3, "keep_aspect_ratio": False},
    "default": {"output_size": (128, 128), "channels": 1, "keep_aspect_ratio": True,
                "crop_to_head": True},
}


@validate_params(
    {"recipe": [StrOptions(set(RECIPE_PREPROCESSING))], "hounsfield": ["boolean"],
     "n_networks": [Interval(Integral, 1, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def make_hemorrhage_pipeline(recipe="default", *, hounsfield=False, n_networks=1,
                             **classifier_params):
    """Build the preprocessing and classifier pipeline of a recipe.

    Parameters
    ----------
    recipe : {"default", "paper"}, default="default"
        - ``"default"``: hemoclf's recipe. Images are cropped to the head,
          with the background around it blanked (borders and burned-in
          letters removed), become 128x128 gray (ITU-R 601 luma)
          intensities in [0, 1], scaled to fit without distortion and
          padded with black, then go to
          ``HemorrhageCNNClassifier(architecture="default")``.
        - ``"paper"``: the founding paper's recipe. Images are stretched to
          128x128 RGB in [0, 1] and go to
          ``HemorrhageCNNClassifier(architecture="paper")``.

    hounsfield : bool, default=False
        Set it for images in Hounsfield units (DICOM, NIfTI, the
        :func:`~hemoclf.datasets.make_head_ct` phantom): they are first
        windowed by :class:`~hemoclf.preprocessing.CTWindow` (brain,
        subdural and soft-tissue windows, one channel each), then resized
        as above with ``scale=1``, keeping the three window channels.

    n_networks : int, default=1
        Networks trained on the same images from different seeds, their
        probabilities averaged: with more than one, the last step is a
        :class:`~sklearn.ensemble.VotingClassifier` (``voting="soft"``) of
        ``n_networks`` classifiers named ``network0``, ``network1``, ...
        With ``random_state=r`` (an int) network ``k`` gets ``r + k``, so
        the first network is the one ``n_networks=1`` trains. Training and
        prediction take ``n_networks`` times as long. The user guide's
        section on sensitivity gives what averages of 3 and 5 networks
        measured at a high-sensitivity threshold. :func:`~hemoclf.save_model`
        stores the whole ensemble in one file, and
        :func:`~hemoclf.inspection.grad_cam` averages the networks' maps.

    **classifier_params
        Parameters of :class:`~hemoclf.HemorrhageCNNClassifier` that
        override the recipe's, e.g. ``epochs=30`` or ``random_state=0``.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``[ctwindow,] resizerescale, hemorrhagecnnclassifier`` (or
        ``votingclassifier`` with ``n_networks > 1``).

    See Also
    --------
    HemorrhageCNNClassifier : The classifier and each recipe's settings.
    ResizeRescale : The resizing step.

    Examples
    --------
    >>> from hemoclf import make_hemorrhage_pipeline
    >>> pipe = make_hemorrhage_pipeline(random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['resizerescale', 'hemorrhagecnnclassifier']
    >>> pipe[-1].architecture, pipe[0].channels
    ('default', 1)
    >>> make_hemorrhage_pipeline("paper", epochs=30)[-1].get_params()["epochs"]
    30
    >>> ensemble = make_hemorrhage_pipeline(n_networks=3, random_state=0)[-1]
    >>> [(name, net.random_state) for name, net in ensemble.estimators]
    [('network0', 0), ('network1', 1), ('network2', 2)]
    """
    known = HemorrhageCNNClassifier().get_params()
    for name in classifier_params:
        if name == "architecture":
            value = classifier_params[name]
            if isinstance(value, str) and value in RECIPE_PREPROCESSING:
                fix = f"pass recipe={value!r} instead of architecture="
            else:
                target = ("hemorrhagecnnclassifier__architecture=..." if n_networks == 1
                          else "votingclassifier__network0__architecture=..., "
                          "and so on for each network")
                fix = ("to train another network after a recipe's "
                       "preprocessing, set it on the pipeline this returns: "
                       f"make_hemorrhage_pipeline(...).set_params({target})")
            raise TypeError(
                "make_hemorrhage_pipeline() takes the architecture from its "
                f"recipe; {fix}."
            )
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TypeError(
                f"{name!r} is not a parameter of HemorrhageCNNClassifier.{hint}"
            )
    resize = dict(RECIPE_PREPROCESSING[recipe])
    steps = []
    if hounsfield:
        steps.append(CTWindow())
        resize.update(scale=1.0, channels=None)
    steps.append(ResizeRescale(**resize))
    steps.append(_networks(recipe, n_networks, classifier_params))
    return make_pipeline(*steps)


def _networks(recipe, n_networks, classifier_params):
    """One classifier, or a soft-voting ensemble of ``n_networks`` seeds."""
    if n_networks == 1:
        return HemorrhageCNNClassifier(architecture=recipe, **classifier_params)
    params = dict(classifier_params)
    random_state = params.pop("random_state", None)
    if random_state is not None and not isinstance(random_state, Integral):
        # A RandomState instance gives the first seed; the others follow it.
        random_state = int(check_random_state(random_state).randint(
            np.iinfo(np.int32).max - n_networks))
    return VotingClassifier(
        [(f"network{k}", HemorrhageCNNClassifier(
            architecture=recipe,
            random_state=None if random_state is None else random_state + k,
            **params))
         for k in range(n_networks)],
        voting="soft",
    )
