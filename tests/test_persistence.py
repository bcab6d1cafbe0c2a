"""save_model / load_model: round trips, thresholds, refusals."""

import copy
import json
import os
import zipfile

import numpy as np
import pytest
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from hemoclf import (
    HemorrhageCNNClassifier,
    ResizeRescale,
    load_model,
    predict_files,
    save_model,
)
from hemoclf._persistence import ModelFileError, read_manifest
from hemoclf.datasets import make_head_ct
from hemoclf.inspection import grad_cam
from hemoclf.preprocessing import CTWindow
from hemoclf.sampling import AugmentationSampler
from hemoclf.utils._testing import TINY_CNN_PARAMS


def _rewrite_manifest(src, dst, change):
    with zipfile.ZipFile(src) as zf:
        manifest = json.loads(zf.read("hemoclf.json"))
        networks = {name: zf.read(name) for name in zf.namelist()
                    if name.endswith(".keras")}
    change(manifest)
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr("hemoclf.json", json.dumps(manifest))
        for name, keras_bytes in networks.items():
            zf.writestr(name, keras_bytes)
    return dst


@pytest.fixture(scope="module")
def saved_tiny(fitted_tiny, tmp_path_factory):
    return save_model(fitted_tiny, tmp_path_factory.mktemp("m") / "tiny.hemoclf")


@pytest.fixture(scope="module")
def phantom():
    data = make_head_ct(n_samples=24, image_size=32, random_state=0)
    y = np.where(data.target == 1, "hemorrhage", "normal")
    return list(data.images), y


@pytest.fixture(scope="module")
def hu_pipeline(phantom):
    images, y = phantom
    return make_pipeline(
        CTWindow(windows=("brain", (80, 200))),
        ResizeRescale(output_size=(16, 16), scale=1.0, channels=None),
        HemorrhageCNNClassifier(architecture="paper", **TINY_CNN_PARAMS),
    ).fit(images, y)


def test_classifier_round_trip(fitted_tiny, saved_tiny, square_images):
    X, _ = square_images
    loaded = load_model(saved_tiny)
    assert isinstance(loaded, HemorrhageCNNClassifier)
    check_is_fitted(loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted_tiny.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, fitted_tiny.classes_)
    assert loaded.image_shape_ == fitted_tiny.image_shape_
    assert loaded.n_features_in_ == fitted_tiny.n_features_in_
    assert loaded.history_ == pytest.approx(fitted_tiny.history_)
    assert loaded.get_params() == fitted_tiny.get_params()
    assert loaded.resolved_params_ == fitted_tiny.resolved_params_


def test_manifest_records_versions_and_rendering(saved_tiny):
    manifest = read_manifest(saved_tiny)
    assert manifest["format_version"] == 1
    assert set(manifest["versions"]) >= {"hemoclf", "keras", "tensorflow",
                                         "scikit-learn"}
    assert manifest["estimator"] == "classifier"
    assert manifest["threshold"] is None
    with zipfile.ZipFile(saved_tiny) as zf:
        assert sorted(zf.namelist()) == ["hemoclf.json", "model.keras"]


def test_pipeline_round_trip_with_ctwindow(hu_pipeline, phantom, tmp_path):
    images, _ = phantom
    path = save_model(hu_pipeline, tmp_path / "hu.hemoclf",
                      class_names=["hemorrhage", "normal"])
    loaded = load_model(path)
    assert isinstance(loaded, Pipeline)
    assert [name for name, _ in loaded.steps] == [n for n, _ in hu_pipeline.steps]
    assert loaded[0].windows == ("brain", (80, 200))
    check_is_fitted(loaded)
    np.testing.assert_array_equal(
        loaded.predict_proba(images), hu_pipeline.predict_proba(images)
    )
    np.testing.assert_array_equal(loaded.classes_, ["hemorrhage", "normal"])
    manifest = read_manifest(path)
    assert manifest["input"] == "hounsfield"
    assert manifest["class_names"] == ["hemorrhage", "normal"]


def test_display_pipeline_records_dicom_window(fitted_tiny, tmp_path):
    pipe = Pipeline([("resize", ResizeRescale((16, 16), channels=1)),
                     ("clf", fitted_tiny)])
    manifest = read_manifest(save_model(pipe, tmp_path / "d.hemoclf",
                                        dicom_window=(50, 100)))
    assert manifest["input"] == "display"
    assert manifest["render"]["dicom"]["window"] == [50.0, 100.0]
    assert manifest["render"]["png"] == "as stored"


def test_sampler_is_left_out(phantom, tmp_path):
    images, y = phantom
    X = ResizeRescale((16, 16), scale=1 / 1000).fit_transform(images)
    pipe = ImbPipeline([
        ("augment", AugmentationSampler(sampling_strategy={"normal": 16,
                                                           "hemorrhage": 16},
                                        random_state=0)),
        ("clf", HemorrhageCNNClassifier(architecture="paper", **TINY_CNN_PARAMS)),
    ]).fit(X, y)
    path = save_model(pipe, tmp_path / "s.hemoclf")
    loaded = load_model(path)
    assert [name for name, _ in loaded.steps] == ["clf"]
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    assert "augment" in read_manifest(path)["left_out_steps"][0]


def test_threshold_of_wrapper_is_recorded(fitted_tiny, square_images, tmp_path):
    X, y = square_images
    wrapper = FixedThresholdClassifier(fitted_tiny, threshold=0.3).fit(X, y)
    loaded = load_model(save_model(wrapper, tmp_path / "t.hemoclf"))
    assert isinstance(loaded, FixedThresholdClassifier)
    assert loaded.threshold == 0.3
    np.testing.assert_array_equal(loaded.predict(X), wrapper.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), wrapper.predict_proba(X))


def test_threshold_argument(fitted_tiny, square_images, tmp_path):
    X, _ = square_images
    loaded = load_model(save_model(fitted_tiny, tmp_path / "t.hemoclf",
                                   threshold=0.2))
    assert loaded.threshold == 0.2
    positive = fitted_tiny.predict_proba(X)[:, 1] >= 0.2
    np.testing.assert_array_equal(loaded.predict(X),
                                  fitted_tiny.classes_[positive.astype(int)])


def test_conflicting_thresholds_are_refused(fitted_tiny, square_images, tmp_path):
    X, y = square_images
    wrapper = FixedThresholdClassifier(fitted_tiny, threshold=0.3).fit(X, y)
    with pytest.raises(ValueError, match="differs from the threshold 0.3"):
        save_model(wrapper, tmp_path / "t.hemoclf", threshold=0.6)


def test_warm_start_after_load(saved_tiny, square_images):
    X, y = square_images
    loaded = load_model(saved_tiny)
    n_epochs = len(loaded.history_["loss"])
    before = loaded.predict_proba(X)
    loaded.set_params(warm_start=True, epochs=1).fit(X, y)
    assert len(loaded.history_["loss"]) == n_epochs + 1
    assert not np.array_equal(loaded.predict_proba(X), before)


def test_files_from_before_gamma_load_and_train_on(saved_tiny, tmp_path,
                                                  square_images):
    def forget_gamma(manifest):
        step = manifest["steps"][-1]
        del step["params"]["gamma"]
        del step["fitted"]["resolved_params_"]["gamma"]

    path = _rewrite_manifest(saved_tiny, tmp_path / "old.hemoclf", forget_gamma)
    loaded = load_model(path)
    assert loaded.gamma is None and "gamma" not in loaded.resolved_params_
    assert loaded.keras_estimator_ is not None
    X, y = square_images
    n_epochs = len(loaded.history_["loss"])
    loaded.set_params(warm_start=True, epochs=1).fit(X, y)
    assert len(loaded.history_["loss"]) == n_epochs + 1


def test_callbacks_are_dropped_with_a_warning(fitted_tiny, tmp_path):
    import keras

    fitted_tiny.set_params(callbacks=[keras.callbacks.TerminateOnNaN()])
    try:
        path = save_model(fitted_tiny, tmp_path / "c.hemoclf")
    finally:
        fitted_tiny.set_params(callbacks=None)
    with pytest.warns(UserWarning, match="callbacks"):
        loaded = load_model(path)
    assert loaded.callbacks is None


def test_refuses_newer_format_version(saved_tiny, tmp_path):
    path = _rewrite_manifest(saved_tiny, tmp_path / "v.hemoclf",
                             lambda m: m.update(format_version=99))
    with pytest.raises(ModelFileError, match="format version 99.*Upgrade hemoclf"):
        load_model(path)


def test_refuses_newer_major_hemoclf(saved_tiny, tmp_path):
    path = _rewrite_manifest(saved_tiny, tmp_path / "v.hemoclf",
                             lambda m: m["versions"].update(hemoclf="7.0.0"))
    with pytest.raises(ModelFileError, match="newer major version"):
        load_model(path)


def test_refuses_unknown_step_class(saved_tiny, tmp_path):
    def change(manifest):
        manifest["steps"][0]["class"] = "os.system"

    path = _rewrite_manifest(saved_tiny, tmp_path / "x.hemoclf", change)
    with pytest.raises(ModelFileError, match="class 'os.system'.*may hold only"):
        load_model(path)


def test_refuses_invalid_parameters(saved_tiny, tmp_path):
    def change(manifest):
        manifest["steps"][0]["params"]["epochs"] = -3

    path = _rewrite_manifest(saved_tiny, tmp_path / "p.hemoclf", change)
    with pytest.raises(ModelFileError, match="parameters of step 'classifier'"):
        load_model(path)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"not a model at all", "it is not a zip archive"),
        (None, "it holds no hemoclf.json"),
        ({"format": "something-else"}, "hemoclf.json does not name the format"),
    ],
)
def test_refuses_non_model_files(tmp_path, content, reason):
    path = tmp_path / "garbage.hemoclf"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with zipfile.ZipFile(path, "w") as zf:
            if content is None:
                zf.writestr("other.txt", "hello")
            else:
                zf.writestr("hemoclf.json", json.dumps(content))
    with pytest.raises(ModelFileError, match=f"garbage.hemoclf is not a hemoclf "
                       f"model file \\({reason}"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.hemoclf does not exist"):
        load_model(tmp_path / "nothing.hemoclf")


def test_refuses_unsupported_estimators(fitted_tiny, square_images, tmp_path):
    X, y = square_images
    with pytest.raises(TypeError, match="got LogisticRegression"):
        save_model(LogisticRegression(), tmp_path / "a.hemoclf")
    scaled = Pipeline([("scale", StandardScaler()), ("clf", fitted_tiny)])
    with pytest.raises(TypeError, match="Step 'scale' is a StandardScaler"):
        save_model(scaled, tmp_path / "b.hemoclf")
    with pytest.raises(Exception, match="not fitted"):
        save_model(HemorrhageCNNClassifier(), tmp_path / "c.hemoclf")
    assert not any(tmp_path.iterdir())


def test_save_is_atomic(fitted_tiny, tmp_path, monkeypatch):
    target = tmp_path / "model.hemoclf"
    target.write_bytes(b"previous")

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail)
    with pytest.raises(KeyboardInterrupt):
        save_model(fitted_tiny, target)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["model.hemoclf"]


# ---------------------------------------------------------------- ensembles


@pytest.fixture(scope="module")
def fitted_ensemble(square_images):
    """A pipeline ending in a soft-voting ensemble of two tiny networks."""
    X, y = square_images
    labels = np.where(y == 1, "normal", "bleed")  # str labels, not 0/1
    networks = [
        (f"net{k}", HemorrhageCNNClassifier(**{**TINY_CNN_PARAMS, "random_state": k}))
        for k in range(2)
    ]
    pipe = make_pipeline(ResizeRescale(output_size=(12, 12), scale=1.0),
                         VotingClassifier(networks, voting="soft"))
    return pipe.fit(X, labels), X


@pytest.fixture(scope="module")
def saved_ensemble(fitted_ensemble, tmp_path_factory):
    pipe, _ = fitted_ensemble
    return save_model(pipe, tmp_path_factory.mktemp("e") / "ensemble.hemoclf",
                      threshold=0.3, class_names=["no bleed", "bleed"])


def test_ensemble_round_trip(fitted_ensemble, saved_ensemble):
    pipe, X = fitted_ensemble
    with zipfile.ZipFile(saved_ensemble) as zf:
        assert sorted(zf.namelist()) == [
            "hemoclf.json", "networks/0.keras", "networks/1.keras"]
    manifest = read_manifest(saved_ensemble)
    assert manifest["format_version"] == 2
    last = manifest["steps"][-1]
    assert last["class"] == "VotingClassifier"
    assert last["fitted"]["classes_"] == ["bleed", "normal"]
    assert [net["name"] for net in last["networks"]] == ["net0", "net1"]
    assert [net["params"]["random_state"] for net in last["networks"]] == [0, 1]
    assert manifest["positive_class"] == "normal"

    loaded = load_model(saved_ensemble)
    assert isinstance(loaded, FixedThresholdClassifier) and loaded.threshold == 0.3
    ensemble = loaded.estimator_[-1]
    assert isinstance(ensemble, VotingClassifier) and ensemble.voting == "soft"
    assert list(ensemble.named_estimators_) == ["net0", "net1"]
    np.testing.assert_array_equal(ensemble.classes_, pipe.classes_)
    # Every network comes back as it was, and so does their average.
    Xr = pipe[0].transform(X)
    for original, restored in zip(pipe[-1].estimators_, ensemble.estimators_):
        np.testing.assert_array_equal(restored.predict_proba(Xr),
                                      original.predict_proba(Xr))
        assert restored.history_ == original.history_
    proba = pipe.predict_proba(X)
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    expected = np.where(proba[:, 1] >= 0.3, "normal", "bleed")
    np.testing.assert_array_equal(loaded.predict(X), expected)


def test_single_network_files_keep_format_version_1(saved_tiny):
    # Files of one network stay readable by a hemoclf that reads version 1.
    assert read_manifest(saved_tiny)["format_version"] == 1
    with zipfile.ZipFile(saved_tiny) as zf:
        assert sorted(zf.namelist()) == ["hemoclf.json", "model.keras"]


def test_refuses_ensemble_with_a_network_missing(saved_ensemble, tmp_path):
    path = tmp_path / "damaged.hemoclf"
    with zipfile.ZipFile(saved_ensemble) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            if name != "networks/1.keras":
                dst.writestr(name, src.read(name))
    with pytest.raises(ModelFileError, match="it holds no networks/1.keras"):
        load_model(path)


def test_refuses_hard_voting_and_other_members(fitted_ensemble, square_images,
                                               tmp_path):
    pipe, X = fitted_ensemble
    hard = clone(pipe).set_params(votingclassifier__voting="hard")
    hard[-1].estimators_ = pipe[-1].estimators_
    hard[-1].classes_ = pipe[-1].classes_
    with pytest.raises(ValueError, match="voting='hard'.*use voting='soft'"):
        save_model(hard, tmp_path / "hard.hemoclf")
    Xf, y = square_images
    mixed = VotingClassifier(
        [("cnn", HemorrhageCNNClassifier(**TINY_CNN_PARAMS)),
         ("lr", LogisticRegression())], voting="soft")
    mixed.estimators_ = [pipe[-1].estimators_[0],
                         LogisticRegression().fit(Xf.reshape(len(Xf), -1), y)]
    mixed.classes_ = np.array([0, 1])
    with pytest.raises(TypeError, match="Network 'lr'.*LogisticRegression"):
        save_model(mixed, tmp_path / "mixed.hemoclf")
    assert not any(tmp_path.iterdir())
    # Scoring and Grad-CAM, which take soft-voting ensembles of networks,
    # refuse them too, and say what they need.
    with pytest.raises(TypeError, match="needs voting='soft'.*got voting='hard'\\.$"):
        grad_cam(hard, X)
    with pytest.raises(TypeError, match="got voting='soft' and LogisticRegression"):
        grad_cam(mixed, Xf)
    with pytest.raises(TypeError, match="Network 'lr'.*LogisticRegression"):
        predict_files(mixed, [])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda last: last["params"].update(voting="hard"),
         "the ensemble does not vote with 'soft'"),
        (lambda last: last["params"].update(voting="loudly"),
         r"the parameters of step 'votingclassifier' \(VotingClassifier\) are "
         "invalid"),
        (lambda last: last.update(networks=[]), "the ensemble lists no networks"),
        (lambda last: last["networks"][1]["params"].update(epochs=-1),
         r"the parameters of step 'net1' \(HemorrhageCNNClassifier\)"),
    ],
)
def test_refuses_damaged_ensemble_descriptions(saved_ensemble, tmp_path, change,
                                               message):
    path = _rewrite_manifest(saved_ensemble, tmp_path / "d.hemoclf",
                             lambda manifest: change(manifest["steps"][-1]))
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_refuses_networks_of_different_input_shapes(fitted_ensemble, tmp_path):
    pipe, _ = fitted_ensemble
    other = copy.copy(pipe[-1].estimators_[1])
    other.image_shape_ = (8, 8, 1)
    mixed = copy.copy(pipe[-1])
    mixed.estimators_ = [pipe[-1].estimators_[0], other]
    with pytest.raises(ValueError, match=r"different shapes \[\(8, 8, 1\), "
                       r"\(12, 12, 3\)\].*share one input"):
        save_model(mixed, tmp_path / "shapes.hemoclf")
