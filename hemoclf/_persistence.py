"""Save and load fitted hemoclf models without pickle.

A model file (suffix ``.hemoclf``) is a zip archive of:

- ``model.keras``: the trained network, in Keras's own format, read back
  with ``keras.saving.load_model(..., safe_mode=True)``, which refuses to
  deserialise Python code (lambdas) and finds layers only among Keras's own
  and those registered by hemoclf. An ensemble of networks (a soft-voting
  ``VotingClassifier`` of classifiers, as made by
  ``make_hemorrhage_pipeline(n_networks=...)``) has one member per network
  instead, ``networks/0.keras``, ``networks/1.keras``, ...;
- ``hemoclf.json``: everything else, as plain JSON: the class and
  parameters of every step, the fitted attributes of the classifier
  (``classes_``, ``n_features_in_``, ``image_shape_``, ``history_``), the
  decision threshold, what kind of input the model takes and how DICOM and
  NIfTI files are rendered for it, and the library versions that wrote it.

Files of one network are written in format version 1, which every hemoclf
reads; ensembles in format version 2, which a hemoclf that reads version 1
only refuses with an error that asks for an upgrade.

Loading rebuilds the estimators from an allow-list of hemoclf classes and
plain values only, so that opening a model file never runs code from it.
"""

import datetime
import json
import os
import platform
import tempfile
import warnings
import zipfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_is_fitted

from .model_selection._threshold import threshold_wrappers, wrapped_threshold

FORMAT_NAME = "hemoclf.model"
FORMAT_VERSION = 2  # the newest version written and read
SINGLE_NETWORK_VERSION = 1  # written for one network: older hemoclf reads it
READABLE_VERSIONS = (1, 2)
SUFFIX = ".hemoclf"
_MANIFEST = "hemoclf.json"
_KERAS_MEMBER = "model.keras"
_ENSEMBLE = "VotingClassifier"  # the only step that may hold several networks

# What the first step of a model takes, and how files are made into it.
INPUT_DISPLAY = "display"  # 8-bit display images (PNG/JPEG exports of CT)
INPUT_HU = "hounsfield"  # Hounsfield units (DICOM/NIfTI), windowed by CTWindow
DEFAULT_DICOM_WINDOW = (40.0, 80.0)  # brain window, (center, width) in HU


class ModelFileError(ValueError):
    """A file is not a hemoclf model file, or one this version cannot read."""


def _step_classes():
    """The classes a model file may name, by name (the allow-list)."""
    from ._classifier import HemorrhageCNNClassifier
    from .preprocessing import CTWindow, ResizeRescale

    return {
        cls.__name__: cls
        for cls in (ResizeRescale, CTWindow, HemorrhageCNNClassifier)
    }


def _fit_only_step(step):
    """Whether ``step`` only acts in ``fit`` (an imbalanced-learn sampler)."""
    return hasattr(step, "fit_resample") and not hasattr(step, "transform")


# ---------------------------------------------------------------- JSON values


class _NotSerialisable(Exception):
    pass


def _encode(value):
    """A JSON value for a parameter; sequences become lists, dicts pairs."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (Integral, Real)) and not isinstance(value, bool):
        if isinstance(value, Real) and not np.isfinite(value):
            raise _NotSerialisable
        return value.item() if hasattr(value, "item") else value
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    raise _NotSerialisable


def _decode(value):
    """The parameter value for a JSON value written by ``_encode``."""
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if isinstance(value, dict):
        if set(value) != {"__dict__"} or not isinstance(value["__dict__"], list):
            raise ModelFileError(f"unexpected object {value!r} among the parameters")
        return {_decode(k): _decode(v) for k, v in value["__dict__"]}
    return value


def _label(value):
    """A class label as a JSON scalar."""
    value = value.item() if isinstance(value, np.generic) else value
    if not isinstance(value, (bool, Integral, Real, str)):
        raise TypeError(
            f"The class label {value!r} of type {type(value).__name__} cannot be "
            "stored in a model file; use int or str labels, e.g. 0/1."
        )
    return value


def _encode_params(step, name, dropped):
    params = {}
    for key, value in step.get_params(deep=False).items():
        if key == "callbacks" and value:
            dropped.append(
                f"{name}.callbacks: Keras callbacks are code and are not stored; "
                "the loaded model has callbacks=None."
            )
            continue
        try:
            params[key] = _encode(value)
        except _NotSerialisable:
            dropped.append(
                f"{name}.{key}={value!r} is not a plain value and is not stored; "
                "the loaded model has the default value, used only if it is "
                "fitted again."
            )
    return params


# ------------------------------------------------------------------- saving


def _unwrap(estimator, threshold):
    """``(inner estimator, threshold)``, the threshold read from a wrapper."""
    if isinstance(estimator, threshold_wrappers()):
        check_is_fitted(estimator, "estimator_")
        if getattr(estimator, "response_method", "auto") not in (
            "auto", "predict_proba"
        ):
            raise ValueError(
                f"{type(estimator).__name__} thresholds "
                f"{estimator.response_method!r}; save_model stores thresholds "
                "on the probability of hemorrhage only: use "
                "response_method='predict_proba'."
            )
        inner = estimator.estimator_
        pos_label = getattr(estimator, "pos_label", None)
        if pos_label is not None and pos_label != inner.classes_[1]:
            raise ValueError(
                f"{type(estimator).__name__} has pos_label={pos_label!r}, "
                f"but hemoclf's positive (hemorrhage) class is "
                f"{inner.classes_[1]!r}; set pos_label=None."
            )
        wrapped = wrapped_threshold(estimator)
        if threshold is not None and not np.isclose(threshold, wrapped):
            raise ValueError(
                f"threshold={threshold} differs from the threshold {wrapped} of "
                f"the {type(estimator).__name__}; pass one of them only."
            )
        return inner, wrapped
    return estimator, threshold


def _steps_of(estimator):
    """``[(name, step)]`` of a pipeline, or of a bare classifier."""
    from ._classifier import HemorrhageCNNClassifier

    if isinstance(estimator, HemorrhageCNNClassifier):
        return [("classifier", estimator)], False
    if type(estimator).__name__ == _ENSEMBLE:
        return [("ensemble", estimator)], False
    if isinstance(estimator, Pipeline) or type(estimator).__name__ == "Pipeline":
        return list(estimator.steps), True
    raise TypeError(
        "save_model stores a fitted HemorrhageCNNClassifier or a soft-voting "
        "VotingClassifier of them, a Pipeline ending in either, or any of "
        "these wrapped in FixedThresholdClassifier, "
        "TunedThresholdClassifierCV or SensitivityThresholdClassifierCV; got "
        f"{type(estimator).__name__}."
    )


def _input_kind(steps):
    from .preprocessing import CTWindow

    return INPUT_HU if isinstance(steps[0][1], CTWindow) else INPUT_DISPLAY


def _render(kind, window):
    if kind == INPUT_HU:
        return {
            "dicom": "Hounsfield units, as read by hemoclf.datasets.read_image",
            "nifti": "Hounsfield units, as read by hemoclf.datasets.read_image",
            "png": "not accepted: the model takes Hounsfield units",
            "jpeg": "not accepted: the model takes Hounsfield units",
        }
    center, width = window
    rendered = {
        "window": [float(center), float(width)],
        "range": [0.0, 255.0],
        "description": (
            f"window {center:g}/{width:g} HU mapped linearly onto 0-255 gray, "
            "as an 8-bit export of CT"
        ),
    }
    return {"dicom": rendered, "nifti": rendered, "png": "as stored",
            "jpeg": "as stored"}


def _versions():
    import keras
    import sklearn
    import tensorflow as tf

    from . import __version__

    return {
        "hemoclf": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _step_record(name, step, dropped):
    record = {
        "name": name,
        "class": type(step).__name__,
        "params": _encode_params(step, name, dropped),
        "fitted": {},
    }
    if hasattr(step, "n_features_in_"):
        record["fitted"]["n_features_in_"] = int(step.n_features_in_)
    return record


def _network_record(name, clf, dropped):
    """The record of a fitted classifier: parameters and fitted attributes."""
    check_is_fitted(clf)
    record = _step_record(name, clf, dropped)
    resolved = {}
    for key, value in getattr(clf, "resolved_params_", {}).items():
        try:
            resolved[key] = _encode(value)
        except _NotSerialisable:
            dropped.append(
                f"{name}: the trained-with setting {key}={value!r} is not a plain "
                "value and is not stored; warm_start=True cannot continue training."
            )
    record["fitted"].update(
        {
            "resolved_params_": resolved,
            "classes_": [_label(c) for c in clf.classes_],
            "image_shape_": [int(s) for s in clf.image_shape_],
            "history_": {
                key: [float(v) for v in values]
                for key, values in clf.history_.items()
            },
        }
    )
    return record


def _ensemble_record(name, ensemble, dropped):
    """``([(member, network)], record)`` of a fitted soft-voting ensemble."""
    from ._classifier import HemorrhageCNNClassifier

    check_is_fitted(ensemble, "estimators_")
    if ensemble.voting != "soft":
        raise ValueError(
            f"Step {name!r} votes with voting={ensemble.voting!r}; a model file "
            "holds soft-voting ensembles only, whose probability is the average "
            "of the networks': use voting='soft' (as "
            "make_hemorrhage_pipeline(n_networks=...) does)."
        )
    names = [net_name for net_name, net in ensemble.estimators if net != "drop"]
    fitted = list(ensemble.estimators_)
    for net_name, net in zip(names, fitted):
        if not isinstance(net, HemorrhageCNNClassifier):
            raise TypeError(
                f"Network {net_name!r} of step {name!r} is a "
                f"{type(net).__name__}; a model file holds ensembles of "
                "HemorrhageCNNClassifier only."
            )
    shapes = {tuple(net.image_shape_) for net in fitted}
    if len(shapes) != 1:
        raise ValueError(
            f"The networks of step {name!r} take images of different shapes "
            f"{sorted(shapes)}; an ensemble's networks must share one input."
        )
    params = {
        key: value for key, value in ensemble.get_params(deep=False).items()
        if key != "estimators"
    }
    try:
        params = {key: _encode(value) for key, value in params.items()}
    except _NotSerialisable:
        raise TypeError(
            f"The parameters of step {name!r} ({params!r}) are not plain values."
        ) from None
    networks, records = [], []
    for index, (net_name, net) in enumerate(zip(names, fitted)):
        member = f"networks/{index}.keras"
        network = _network_record(net_name, net, dropped)
        network["member"] = member
        networks.append((member, net))
        records.append(network)
    record = {
        "name": name,
        "class": _ENSEMBLE,
        "params": params,
        "fitted": {"classes_": [_label(c) for c in ensemble.classes_]},
        "networks": records,
    }
    return networks, record


def _manifest(estimator, threshold, dicom_window, class_names, metadata):
    from ._classifier import HemorrhageCNNClassifier

    inner, threshold = _unwrap(estimator, threshold)
    steps, is_pipeline = _steps_of(inner)
    check_is_fitted(inner)
    dropped, left_out, records = [], [], []
    allowed = _step_classes()
    kept = []
    for name, step in steps:
        if step is None or step == "passthrough":
            continue
        if _fit_only_step(step):
            left_out.append(
                f"step {name!r} ({type(step).__name__}) acts only while fitting "
                "and is left out of the stored pipeline."
            )
            continue
        is_ensemble = type(step).__name__ == _ENSEMBLE
        if not is_ensemble and (type(step).__name__ not in allowed or not isinstance(
            step, allowed[type(step).__name__]
        )):
            raise TypeError(
                f"Step {name!r} is a {type(step).__name__}; a model file holds "
                f"pipelines of {', '.join(sorted(allowed))} only (plus "
                "imbalanced-learn samplers, which are left out), ending in one "
                "classifier or in a soft-voting VotingClassifier of them."
            )
        kept.append((name, step))
    last = kept[-1][1] if kept else None
    if not isinstance(last, HemorrhageCNNClassifier) and (
        type(last).__name__ != _ENSEMBLE
    ):
        raise TypeError(
            "The last step of the pipeline must be a fitted "
            "HemorrhageCNNClassifier, or a soft-voting VotingClassifier of them "
            "(make_hemorrhage_pipeline(n_networks=...))."
        )
    if any(isinstance(s, HemorrhageCNNClassifier) or type(s).__name__ == _ENSEMBLE
           for _, s in kept[:-1]):
        raise TypeError("A model file holds one classifier or ensemble, at the end.")
    for name, step in kept[:-1]:
        records.append(_step_record(name, step, dropped))
    if isinstance(last, HemorrhageCNNClassifier):
        networks = [(_KERAS_MEMBER, last)]
        records.append(_network_record(kept[-1][0], last, dropped))
        classes = last.classes_
    else:
        networks, record = _ensemble_record(kept[-1][0], last, dropped)
        records.append(record)
        classes = last.classes_
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) != len(classes):
            raise ValueError(
                f"class_names={class_names!r} must name the {len(classes)} "
                f"classes {list(classes)}, in that order."
            )
    if threshold is not None and not 0 <= float(threshold) <= 1:
        raise ValueError(
            f"threshold={threshold} must be a probability in [0, 1]."
        )
    kind = _input_kind(kept) if is_pipeline else INPUT_DISPLAY
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
    single = networks[0][0] == _KERAS_MEMBER
    return networks, {
        "format": FORMAT_NAME,
        "format_version": SINGLE_NETWORK_VERSION if single else FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "versions": _versions(),
        "estimator": "pipeline" if is_pipeline else "classifier",
        "steps": records,
        "threshold": None if threshold is None else float(threshold),
        "positive_class": _label(classes[1]),
        "class_names": class_names,
        "input": kind if is_pipeline else "classifier input",
        "render": _render(kind, dicom_window) if is_pipeline else None,
        "dropped": dropped,
        "left_out_steps": left_out,
        "metadata": metadata,
    }


def _atomic_write(path, write):
    """Call ``write(stream)`` on a temporary file, then move it to ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            write(stream)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@validate_params(
    {
        "estimator": [object],
        "path": [str, os.PathLike],
        "threshold": [Real, None],
        "dicom_window": [tuple, list],
        "class_names": ["array-like", None],
        "metadata": [dict, None],
    },
    prefer_skip_nested_validation=True,
)
def save_model(
    estimator,
    path,
    *,
    threshold=None,
    dicom_window=DEFAULT_DICOM_WINDOW,
    class_names=None,
    metadata=None,
):
    """Write a fitted model to one file, without pickle.

    The file is a zip archive holding the network (or each network of an
    ensemble) in Keras's ``.keras`` format and a JSON description of
    everything else: the parameters of
    every step, the classes, the input shape, the training history, the
    decision threshold, how DICOM and NIfTI input is rendered for the model
    and the versions of hemoclf, Keras, TensorFlow and scikit-learn. It is
    written to a temporary file first and moved into place, so an
    interrupted save never leaves a half-written model.

    Parameters
    ----------
    estimator : estimator
        A fitted :class:`~hemoclf.HemorrhageCNNClassifier`; or a fitted
        :class:`~sklearn.pipeline.Pipeline` (or imbalanced-learn pipeline) of
        :class:`~hemoclf.preprocessing.CTWindow`,
        :class:`~hemoclf.ResizeRescale` and samplers, ending in the
        classifier or in a soft-voting
        :class:`~sklearn.ensemble.VotingClassifier` of classifiers (an
        ensemble, as made by
        :func:`~hemoclf.make_hemorrhage_pipeline` with ``n_networks > 1``);
        or either of them wrapped in a fitted
        :class:`~sklearn.model_selection.FixedThresholdClassifier`,
        :class:`~sklearn.model_selection.TunedThresholdClassifierCV` or
        :class:`~hemoclf.model_selection.SensitivityThresholdClassifierCV`,
        whose threshold is recorded. Samplers act only while fitting and are left
        out.

    path : str or path-like
        The file to write; by convention with the suffix ``.hemoclf``.

    threshold : float in [0, 1], default=None
        Decision threshold on the probability of hemorrhage to record, for
        an estimator that is not wrapped in a threshold classifier. ``None``
        keeps the classifier's 0.5 (or the wrapper's threshold).

    dicom_window : (float, float), default=(40, 80)
        ``(center, width)`` in Hounsfield units of the window through which
        DICOM and NIfTI files are rendered to 0-255 gray for a model whose
        preprocessing takes display images (PNG or JPEG exports of CT, such
        as the Kaggle head CT set). The default is the brain window. Not
        used for a pipeline that starts with
        :class:`~hemoclf.preprocessing.CTWindow`, which takes Hounsfield
        units.

    class_names : sequence of str, default=None
        Display names of ``classes_``, in their order, e.g.
        ``["normal", "hemorrhage"]`` for labels 0 and 1.

    metadata : dict, default=None
        Any JSON-serialisable description to keep with the model, e.g. the
        training data.

    Returns
    -------
    path : pathlib.Path
        The file written.

    See Also
    --------
    load_model : Read the file back.

    Notes
    -----
    Keras callbacks, a callable ``architecture`` and other parameters that
    are code rather than plain values are not stored; they are listed in the
    file (``"dropped"``) and a warning names them at load.

    Examples
    --------
    >>> import os, tempfile
    >>> from hemoclf import HemorrhageCNNClassifier, save_model, load_model
    >>> from hemoclf.utils._testing import TINY_CNN_PARAMS, make_square_images
    >>> X, y = make_square_images(16, 16)
    >>> clf = HemorrhageCNNClassifier(**TINY_CNN_PARAMS).fit(X, y)
    >>> path = save_model(clf, os.path.join(tempfile.mkdtemp(), "tiny.hemoclf"))
    >>> loaded = load_model(path)
    >>> bool((loaded.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    import keras

    window = tuple(float(v) for v in dicom_window)
    if len(window) != 2 or window[1] <= 0:
        raise ValueError(
            f"dicom_window={dicom_window!r} must be a (center, width) pair in HU "
            "with a positive width, e.g. (40, 80) for the brain window."
        )
    networks, manifest = _manifest(estimator, threshold, window, class_names,
                                   metadata)
    members = {}
    with tempfile.TemporaryDirectory() as tmp:
        keras_path = os.path.join(tmp, _KERAS_MEMBER)
        for member, clf in networks:
            keras.saving.save_model(clf.model_, keras_path)
            with open(keras_path, "rb") as stream:
                members[member] = stream.read()

    def write(stream):
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_MANIFEST, json.dumps(manifest, indent=2))
            for member, keras_bytes in members.items():
                zf.writestr(member, keras_bytes)

    _atomic_write(path, write)
    return Path(path)


# ------------------------------------------------------------------ loading


def _not_a_model(path, why):
    return ModelFileError(
        f"{path} is not a hemoclf model file ({why}); pass a file written by "
        "hemoclf.save_model or 'hemoclf train'."
    )


def read_manifest(path):
    """The JSON description of a model file, checked for format and version.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.

    Returns
    -------
    manifest : dict
        The description: steps and parameters, threshold, input kind and
        rendering, versions, ...

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is not a hemoclf model file, or was written in a format
        version this hemoclf cannot read.
    """
    manifest, _ = _open(path, with_keras=False)
    return manifest


def _check_version(path, manifest):
    from . import __version__

    version = manifest.get("format_version")
    written_by = manifest.get("versions", {}).get("hemoclf", "an unknown version")
    if not isinstance(version, int) or version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ModelFileError(
            f"{path} is a hemoclf model file of format version {version!r}, "
            f"written by hemoclf {written_by}; this hemoclf {__version__} reads "
            f"format versions {' and '.join(map(str, READABLE_VERSIONS))}. "
            + ("Upgrade hemoclf to read it." if newer else
               "Re-train the model or load it with the hemoclf that wrote it.")
        )
    try:
        major = int(str(written_by).split(".")[0])
    except ValueError:
        raise ModelFileError(
            f"{path}: the hemoclf version {written_by!r} it names is not a "
            "version number; the file is damaged."
        ) from None
    if major > int(__version__.split(".")[0]):
        raise ModelFileError(
            f"{path} was written by hemoclf {written_by}, a newer major version "
            f"than this hemoclf {__version__}; upgrade hemoclf to read it."
        )


def _open(path, *, with_keras):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist or is not a file; pass the path of a model "
            "file written by hemoclf.save_model or 'hemoclf train'."
        )
    if not zipfile.is_zipfile(path):
        raise _not_a_model(path, "it is not a zip archive")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if _MANIFEST not in names:
                raise _not_a_model(path, f"it holds no {_MANIFEST}")
            manifest = json.loads(zf.read(_MANIFEST).decode("utf-8"))
            if not isinstance(manifest, dict) or (
                manifest.get("format") != FORMAT_NAME
            ):
                raise _not_a_model(path, f"{_MANIFEST} does not name the format "
                                   f"{FORMAT_NAME!r}")
            _check_version(path, manifest)
            members = {}
            for member in _keras_members(manifest) if with_keras else ():
                if member not in names:
                    raise _not_a_model(path, f"it holds no {member}")
                members[member] = zf.read(member)
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError,
            OSError) as exc:
        raise _not_a_model(path, f"{type(exc).__name__}: {exc}") from exc
    return manifest, members


def _keras_members(manifest):
    """The archive members holding the networks a manifest describes."""
    records = manifest.get("steps")
    last = records[-1] if isinstance(records, list) and records else {}
    if isinstance(last, dict) and last.get("class") == _ENSEMBLE:
        networks = last.get("networks")
        if isinstance(networks, list):
            return [str(net.get("member")) if isinstance(net, dict) else ""
                    for net in networks]
    return [_KERAS_MEMBER]


def _load_keras(path, keras_bytes):
    import keras

    from ._augmentation import _layer_class

    _layer_class()  # registers hemoclf's augmentation layer for safe loading

    with tempfile.TemporaryDirectory() as tmp:
        keras_path = os.path.join(tmp, _KERAS_MEMBER)
        with open(keras_path, "wb") as stream:
            stream.write(keras_bytes)
        try:
            return keras.saving.load_model(keras_path, safe_mode=True)
        except Exception as exc:  # noqa: BLE001 - Keras raises many types
            raise ModelFileError(
                f"{path}: the network in {_KERAS_MEMBER} cannot be loaded "
                f"safely ({type(exc).__name__}: {exc})."
            ) from exc


def _build_step(path, record, classes):
    cls_name = record.get("class")
    if cls_name not in classes:
        raise ModelFileError(
            f"{path} names a step of class {cls_name!r}; a model file may hold "
            f"only {', '.join(sorted(classes))}."
        )
    step = _construct(path, record, classes[cls_name])
    n_features = record.get("fitted", {}).get("n_features_in_")
    if n_features is not None:
        step.n_features_in_ = int(n_features)
    return step


def _construct(path, record, cls, *args):
    """``cls(*args, **stored parameters)``, its parameters validated."""
    params = {k: _decode(v) for k, v in record.get("params", {}).items()}
    try:
        step = cls(*args, **params)
        step._validate_params()
    except (TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path}: the parameters of step {record.get('name')!r} "
            f"({cls.__name__}) are invalid: {exc}"
        ) from exc
    return step


def _load_network(path, record, classes, members):
    """A fitted classifier from its record and its network's member."""
    clf = _build_step(path, record, classes)
    if not isinstance(clf, classes["HemorrhageCNNClassifier"]):
        raise ModelFileError(
            f"{path}: step {record.get('name')!r} is a {type(clf).__name__}, not "
            "a HemorrhageCNNClassifier; the file is damaged."
        )
    model = _load_keras(path, members[record.get("member", _KERAS_MEMBER)])
    return _restore_classifier(path, clf, record["fitted"], model)


def _load_ensemble(path, record, classes, members):
    """A fitted soft-voting ``VotingClassifier`` of the stored networks."""
    from sklearn.ensemble import VotingClassifier
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import Bunch

    networks = record["networks"]
    if not isinstance(networks, list) or not networks:
        raise ModelFileError(f"{path}: the ensemble lists no networks; the file "
                             "is damaged.")
    fitted = [(str(net["name"]), _load_network(path, net, classes, members))
              for net in networks]
    ensemble = _construct(path, record, VotingClassifier, fitted)
    if ensemble.voting != "soft":
        raise ModelFileError(f"{path}: the ensemble does not vote with 'soft'; "
                             "the file is damaged.")
    ensemble.le_ = LabelEncoder().fit(np.asarray(record["fitted"]["classes_"]))
    ensemble.classes_ = ensemble.le_.classes_
    ensemble.estimators_ = [net for _, net in fitted]
    ensemble.named_estimators_ = Bunch(**dict(fitted))
    return ensemble


def _restore_classifier(path, clf, fitted, model):
    classes = np.asarray(fitted["classes_"])
    if classes.ndim != 1 or classes.size != 2 or classes.dtype.kind not in "biufU":
        raise ModelFileError(
            f"{path}: classes_ must be two int or str labels; got "
            f"{fitted['classes_']!r}."
        )
    image_shape = tuple(int(s) for s in fitted["image_shape_"])
    if tuple(model.input_shape[1:]) != image_shape:
        raise ModelFileError(
            f"{path}: the network takes images of shape {model.input_shape[1:]}, "
            f"but the description says {image_shape}; the file is damaged."
        )
    clf.classes_ = classes
    clf.image_shape_ = image_shape
    clf.n_features_in_ = int(fitted["n_features_in_"])
    clf.history_ = {
        str(key): [float(v) for v in values]
        for key, values in fitted.get("history_", {}).items()
    }
    clf.resolved_params_ = {
        str(key): _decode(value)
        for key, value in fitted.get("resolved_params_", {}).items()
    }
    clf.model_ = model
    try:
        clf.keras_estimator_ = _keras_estimator_for(clf)
    except (KeyError, TypeError, ValueError):
        clf.keras_estimator_ = None  # warm_start cannot continue (documented)
    return clf


def _keras_estimator_for(clf):
    """A scikeras estimator around the loaded network, for ``warm_start``.

    scikeras learns its encoders from data; two dummy images of the right
    shape and the two encoded labels give it the same state a fit would.
    The network itself is used as it is (no rebuild, no new weights).
    """
    estimator = clf._make_keras_estimator(clf.resolved_params_)
    estimator.set_params(model=clf.model_)
    dummy = np.zeros((2,) + clf.image_shape_, dtype=np.float32)
    return estimator.initialize(dummy, np.array([0, 1]))


@validate_params(
    {"path": [str, os.PathLike]},
    prefer_skip_nested_validation=True,
)
def load_model(path):
    """Read a model file written by :func:`save_model`.

    Nothing in the file is executed: the network is read by
    ``keras.saving.load_model`` with ``safe_mode=True``, and the estimators
    are rebuilt from an allow-list of hemoclf classes and plain JSON values.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    estimator : estimator
        The fitted estimator, ready to predict without retraining: a
        :class:`~hemoclf.HemorrhageCNNClassifier`, or a
        :class:`~sklearn.pipeline.Pipeline` of the stored steps ending in
        one, or in a fitted soft-voting
        :class:`~sklearn.ensemble.VotingClassifier` of them for an ensemble
        (samplers are left out, as they act only while fitting), wrapped
        in a :class:`~sklearn.model_selection.FixedThresholdClassifier` when
        a threshold was recorded. The classifier's ``classes_``,
        ``n_features_in_``, ``image_shape_``, ``resolved_params_``,
        ``model_`` and ``history_`` are restored (each network's, for an
        ensemble, with the ensemble's ``classes_``); its ``keras_estimator_`` is
        a scikeras estimator around the loaded network, so that
        ``warm_start=True`` continues training it. It is ``None`` when a
        training setting could not be stored (a warning at load says which),
        and a warm-started ``fit`` then fails.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is not a hemoclf model file, was written in an
        incompatible format version or by a newer major version of hemoclf,
        or is damaged.

    See Also
    --------
    save_model : Write a model file.

    Examples
    --------
    >>> from hemoclf import load_model
    >>> load_model("model.hemoclf")  # doctest: +SKIP
    Pipeline(steps=[('resizerescale', ResizeRescale()),
                    ('hemorrhagecnnclassifier', HemorrhageCNNClassifier())])
    """
    manifest, members = _open(path, with_keras=True)
    classes = _step_classes()
    records = manifest.get("steps")
    if not isinstance(records, list) or not records:
        raise _not_a_model(path, "it lists no steps")
    try:
        steps = [(str(r["name"]), _build_step(path, r, classes))
                 for r in records[:-1]]
        if records[-1].get("class") == _ENSEMBLE:
            clf = _load_ensemble(path, records[-1], classes, members)
        else:
            clf = _load_network(path, records[-1], classes, members)
        steps.append((str(records[-1]["name"]), clf))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"{path}: the description is incomplete or damaged ({exc!r})."
        ) from exc
    if manifest.get("dropped"):
        warnings.warn(
            f"{path}: not stored in the file, defaults used instead: "
            + " ".join(manifest["dropped"]),
            UserWarning,
            stacklevel=2,
        )
    estimator = Pipeline(steps) if manifest.get("estimator") == "pipeline" else clf
    threshold = manifest.get("threshold")
    if threshold is not None:
        wrapper = FixedThresholdClassifier(
            estimator, threshold=float(threshold), response_method="predict_proba"
        )
        wrapper.estimator_ = estimator
        return wrapper
    return estimator
