"""The ``hemoclf`` command line, run as a user runs it: in a subprocess."""

import csv
import json
import os
import platform
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from hemoclf import load_model
from hemoclf._files import AtomicCSV, window_to_display
from hemoclf._persistence import read_manifest
from hemoclf.datasets import read_image

TINY = ["--epochs", "1", "--image-size", "16", "--seed", "0"]


def run(*args, check_rc=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-m", "hemoclf", *map(str, args)],
                            capture_output=True, text=True, env=env, timeout=300)
    if check_rc is not None:
        assert result.returncode == check_rc, result.stderr
    return result


def write_dicom(path, hu):
    """A CT slice in HU as a DICOM file (stored = HU + 1024)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.PixelData = (hu + 1024).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    """Class folders of small gray PNGs; hemorrhage images carry a bright blob."""
    root = tmp_path_factory.mktemp("pngs")
    rng = np.random.default_rng(0)
    for label, name in enumerate(("normal", "hemorrhage")):
        (root / name).mkdir()
        for k in range(8):
            size = int(rng.integers(20, 40))
            img = rng.normal(70, 10, (size, size))
            if label:
                img[size // 4 : size // 2, size // 4 : size // 2] += 120
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
                root / name / f"{name}_{k}.png")
    return root


@pytest.fixture(scope="module")
def model_file(png_folder, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.hemoclf"
    result = run("train", png_folder, "--out", path, "--recipe", "paper", *TINY,
                 check_rc=0)
    assert "Model written to" in result.stderr
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, png_folder):
    """Mixed inputs: two PNGs, a DICOM, a NIfTI volume of 3 slices, a corrupt file."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(1)
    hu = rng.normal(35, 10, (24, 24)).astype(np.int16)
    write_dicom(root / "slice.dcm", hu)
    volume = rng.normal(30, 10, (24, 24, 3)).astype(np.float32)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), root / "volume.nii.gz")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    pngs = sorted((png_folder / "hemorrhage").iterdir())[:2]
    return {"pngs": pngs, "dicom": root / "slice.dcm",
            "nifti": root / "volume.nii.gz", "broken": root / "broken.png"}


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_help_has_examples():
    result = run("--help", check_rc=0)
    assert "examples:" in result.stdout
    for command in ("reproduce", "train", "predict", "evaluate"):
        assert command in result.stdout
        sub = run(command, "--help", check_rc=0)
        assert "examples:" in sub.stdout and f"hemoclf {command}" in sub.stdout


def test_no_command_is_a_usage_error():
    result = run(check_rc=2)
    assert "usage: hemoclf" in result.stderr


def test_bad_option_is_a_usage_error():
    result = run("predict", "m.hemoclf", "x.png", "--csv", "o.csv",
                 "--batch-size", "0", check_rc=2)
    assert "must be positive" in result.stderr


def test_train_writes_a_pipeline_for_raw_images(model_file, png_folder):
    manifest = read_manifest(model_file)
    assert manifest["estimator"] == "pipeline"
    assert manifest["input"] == "display"
    assert manifest["class_names"] == ["normal", "hemorrhage"]
    assert manifest["metadata"]["n_images"] == 16
    assert manifest["render"]["dicom"]["window"] == [40.0, 80.0]
    model = load_model(model_file)
    assert model[-1].callbacks is None
    assert model[-1].image_shape_ == (16, 16, 3)


def test_train_and_predict_an_ensemble(png_folder, tmp_path):
    path = tmp_path / "ensemble.hemoclf"
    result = run("train", png_folder, "--out", path, "--recipe", "paper",
                 "--networks", 2, *TINY, check_rc=0)
    assert "(2 networks)" in result.stderr
    assert "training network 2/2" in result.stderr
    manifest = read_manifest(path)
    assert manifest["metadata"]["networks"] == 2
    assert manifest["steps"][-1]["class"] == "VotingClassifier"
    seeds = [net["params"]["random_state"] for net in manifest["steps"][-1]["networks"]]
    assert seeds == [0, 1]
    model = load_model(path)
    assert all(net.callbacks is None for net in model[-1].estimators_)

    out = tmp_path / "scores.csv"
    run("predict", path, png_folder, "--csv", out, "--quiet", check_rc=0)
    rows = read_rows(out)
    files = [row["file"] for row in rows]
    expected = model.predict_proba([read_image(f) for f in files])[:, 1]
    printed = np.array([float(row["probability"]) for row in rows])
    np.testing.assert_allclose(printed, expected, rtol=1e-6)
    # The average of the two networks, not either one of them.
    X = model[0].transform([read_image(f) for f in files])
    members = [net.predict_proba(X)[:, 1] for net in model[-1].estimators_]
    np.testing.assert_allclose(printed, np.mean(members, axis=0), rtol=1e-6)
    assert not np.allclose(members[0], members[1])


def test_predict_mixed_inputs(model_file, inputs, tmp_path):
    out = tmp_path / "scores.csv"
    files = [*inputs["pngs"], inputs["dicom"], inputs["nifti"], inputs["broken"]]
    result = run("predict", model_file, *files, "--csv", out, "--batch-size", 2)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    rows = read_rows(out)
    assert [row["file"] for row in rows] == [str(f) for f in files[:3]] + [
        str(inputs["nifti"])] * 3 + [str(inputs["broken"])]
    assert [row["slice"] for row in rows[3:6]] == ["0", "1", "2"]
    ok, broken = rows[:6], rows[6]
    assert all(row["status"] == "ok" and row["reason"] == "" for row in ok)
    assert broken["status"] == "error" and broken["probability"] == ""
    assert "corrupt or truncated" in broken["reason"]

    # The model file, loaded in Python, gives the probabilities printed,
    # for raw PNGs and for DICOM/NIfTI rendered through the brain window.
    model = load_model(model_file)
    raw = [read_image(p) for p in inputs["pngs"]]
    raw.append(window_to_display(read_image(inputs["dicom"]), (40, 80)))
    raw += [window_to_display(s, (40, 80)) for s in read_image(inputs["nifti"])]
    expected = model.predict_proba(raw)[:, 1]
    printed = np.array([float(row["probability"]) for row in ok])
    np.testing.assert_allclose(printed, expected, rtol=1e-6)
    labels = np.where(expected >= 0.5, "hemorrhage", "normal")
    assert [row["label"] for row in ok] == list(labels)


def test_predict_folder_all_good(model_file, png_folder, tmp_path):
    out = tmp_path / "scores.csv"
    run("predict", model_file, png_folder, "--csv", out, "--quiet", check_rc=0)
    rows = read_rows(out)
    assert len(rows) == 16
    assert {row["status"] for row in rows} == {"ok"}


def test_predict_missing_input(model_file, tmp_path):
    out = tmp_path / "scores.csv"
    result = run("predict", model_file, tmp_path / "nowhere", "--csv", out,
                 check_rc=2)
    assert "nowhere does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_predict_garbage_model(inputs, tmp_path):
    model = tmp_path / "model.hemoclf"
    model.write_text("this is not a model")
    result = run("predict", model, inputs["dicom"], "--csv", tmp_path / "o.csv",
                 check_rc=2)
    assert "is not a hemoclf model file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("preset, expected", [(None, "1"), ("0", "0")])
def test_command_turns_onednn_on_unless_told(tmp_path, preset, expected):
    """The command sets TF_ENABLE_ONEDNN_OPTS before TensorFlow is imported."""
    code = (
        "import os, sys\n"
        "from hemoclf.cli import main\n"
        f"rc = main(['train', {str(tmp_path / 'nowhere')!r}, '--out', 'm.hemoclf'])\n"
        "print(rc, os.environ.get('TF_ENABLE_ONEDNN_OPTS'),\n"
        "      'tensorflow' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if preset is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = preset
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, env=env, timeout=120)
    rc, value, tf_imported = result.stdout.split()
    assert rc == "2", result.stderr
    if platform.machine().lower() not in ("x86_64", "amd64"):
        expected = preset or "None"
    assert value == expected
    # TensorFlow reads the variable once, at import: it must not be loaded
    # before the command sets it.
    assert tf_imported == "False"


def test_train_missing_folder(tmp_path):
    result = run("train", tmp_path / "nowhere", "--out", tmp_path / "m.hemoclf",
                 check_rc=2)
    assert "nowhere is not a folder" in result.stderr
    assert not (tmp_path / "m.hemoclf").exists()


def test_evaluate_model(model_file, png_folder):
    result = run("evaluate", model_file, png_folder, "--quiet", check_rc=0)
    assert "16 images" in result.stdout
    assert "95% CI (Wilson)" in result.stdout
    assert "sensitivity" in result.stdout


def test_evaluate_cv(png_folder):
    result = run("evaluate", "--cv", png_folder, "--folds", 2, "--recipe", "paper",
                 *TINY, "--quiet", check_rc=0)
    assert "StratifiedGroupKFold, 2 folds" in result.stdout
    assert "fold mean" in result.stdout and "sensitivity" in result.stdout


def test_evaluate_cv_of_an_ensemble(png_folder, monkeypatch, capsys):
    """``--networks 2`` cross-validates a soft average of two seeds."""
    import hemoclf._reproduce
    from hemoclf import cli

    cross_validate = hemoclf._reproduce.cross_validate_clinical
    seen = []

    def spy(estimator, *args, **kwargs):
        seen.append(estimator)
        return cross_validate(estimator, *args, **kwargs)

    monkeypatch.setattr(hemoclf._reproduce, "cross_validate_clinical", spy)
    code = cli.main(["evaluate", "--cv", str(png_folder), "--folds", "2",
                     "--networks", "2", *TINY, "--quiet"])
    assert code == 0
    (pipe,) = seen
    ensemble = pipe[-1]
    assert ensemble.voting == "soft"
    seeds = [net.random_state for _, net in ensemble.estimators]
    assert seeds == [0, 1]
    out = capsys.readouterr().out
    assert "Recipe 'default' (average of 2 networks)" in out
    assert "StratifiedGroupKFold, 2 folds" in out
    assert "fold mean" in out and "sensitivity" in out


def test_evaluate_argument_count(png_folder):
    result = run("evaluate", png_folder, check_rc=2)
    assert "takes MODEL DATA" in result.stderr
    result = run("evaluate", "--cv", png_folder, png_folder, check_rc=2)
    assert "takes one DATA folder" in result.stderr


def test_evaluate_too_many_folds(png_folder):
    result = run("evaluate", "--cv", png_folder, "--folds", 20, check_rc=2)
    assert "--folds 20 needs at least 20" in result.stderr


def test_reproduce_default_epochs_needs_compare_default(tmp_path):
    result = run("reproduce", "--quick", "--default-epochs", 2, "--out",
                 tmp_path / "r", check_rc=2)
    assert "runs only with --compare-default" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("compare_default", [False, True])
def test_reproduce_quick(tmp_path, compare_default):
    out = tmp_path / "report"
    flags = ["--compare-default"] if compare_default else []
    result = run("reproduce", "--quick", "--out", out, "--html", *flags,
                 check_rc=0)
    assert "Report written to" in result.stderr
    report = (out / "report.md").read_text()
    assert "Confusion matrix in the paper's format" in report
    assert "StratifiedGroupKFold with 2 folds" in report
    section = "The same honest estimate for hemoclf's default recipe"
    assert (section in report) is compare_default
    assert ("`hemoclf reproduce --compare-default` adds it" in report) is (
        not compare_default)
    assert (out / "default_cv_confusion_roc.png").exists() is compare_default
    assert ("Default recipe, same folds" in result.stderr) is compare_default
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    for name in ("balanced_history.png", "balanced_confusion_roc.png",
                 "imbalanced_confusion_roc.png", "cv_confusion_roc.png"):
        assert (out / name).stat().st_size > 1000
    results = json.loads((out / "results.json").read_text())
    assert results["phases"][0]["strategy"] == {"0": 100, "1": 100}
    cells = results["phases"][0]["report"]
    assert cells["tp"] + cells["fn"] + cells["fp"] + cells["tn"] == 4
    assert results["cv"]["summary"]["accuracy"]["total"] == 40
    default = results["default_recipe"]
    if compare_default:
        assert default["summary"]["accuracy"]["total"] == 40
        assert default["epochs"] == 1
    else:
        assert default is None


def test_interrupted_predict_leaves_no_csv(model_file, inputs, tmp_path,
                                           monkeypatch):
    """A crash (here Ctrl-C) mid-run leaves no partial CSV, nor a temp file."""
    import hemoclf._files
    from hemoclf import cli

    out = tmp_path / "scores.csv"
    out.write_text("previous results\n")
    calls = []

    def render(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return args[0]

    monkeypatch.setattr(hemoclf._files, "render", render)
    code = cli.main(["predict", str(model_file), *map(str, inputs["pngs"]),
                     str(inputs["dicom"]), str(inputs["nifti"]), "--csv", str(out),
                     "--batch-size", "1", "--quiet"])
    assert code == 130
    # Reader threads may render a file or two more before the interrupt
    # reaches the main thread.
    assert len(calls) >= 3
    assert out.read_text() == "previous results\n"
    assert os.listdir(tmp_path) == ["scores.csv"]


def test_atomic_csv_writes_on_success(tmp_path):
    out = tmp_path / "a.csv"
    with AtomicCSV(out, ["a", "b"]) as writer:
        writer.writerow([1, 2])
        assert not out.exists()
    assert out.read_text().splitlines() == ["a,b", "1,2"]
