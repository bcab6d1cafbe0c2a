"""load_image_folder on class folders of mixed PNG, JPEG, DICOM and NIfTI."""

import numpy as np
import pytest
from PIL import Image

from hemoclf.datasets import ReadError, load_image_folder


@pytest.fixture
def mixed_folder(tmp_path, write_png, write_dicom, write_nifti, ct_raw):
    """normal/: a PNG and a DICOM; hemorrhage/: a 3-slice NIfTI and a JPEG."""
    root = tmp_path / "data"
    (root / "normal").mkdir(parents=True)
    (root / "hemorrhage" / "patient_7").mkdir(parents=True)
    write_png(root / "normal" / "a.png", np.full((6, 6), 50, np.uint8))
    write_dicom(root / "normal" / "b.dcm", ct_raw)
    write_nifti(root / "hemorrhage" / "patient_7" / "head.nii.gz",
                np.zeros((4, 5, 3), np.int16))
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(
        root / "hemorrhage" / "c.jpg")
    (root / "normal" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return root


def test_mixed_formats_and_nifti_slices(mixed_folder, ct_raw):
    data = load_image_folder(mixed_folder)
    assert list(data.target_names) == ["normal", "hemorrhage"]
    names = [p.rsplit("/", 1)[-1] for p in data.filenames]
    assert names == ["a.png", "b.dcm", "c.jpg", "head.nii.gz", "head.nii.gz",
                     "head.nii.gz"]
    np.testing.assert_array_equal(data.target, [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(data.slice_index, [-1, -1, -1, 0, 1, 2])
    assert data.images[1].dtype == np.float32 and data.images[1].shape == ct_raw.shape
    assert data.images[2].shape == (8, 8, 3)
    assert all(img.shape == (5, 4) for img in data.images[3:])
    assert data.skipped == []


def test_return_x_y(mixed_folder):
    images, target = load_image_folder(mixed_folder, return_X_y=True)
    assert len(images) == len(target) == 6


def test_other_class_names_are_sorted_after_normal(tmp_path, write_png):
    for name in ("subdural", "normal", "epidural"):
        (tmp_path / name).mkdir()
        write_png(tmp_path / name / "x.png", np.zeros((3, 3), np.uint8))
    data = load_image_folder(tmp_path)
    assert list(data.target_names) == ["normal", "epidural", "subdural"]
    np.testing.assert_array_equal(data.target, [0, 1, 2])


def test_class_names_without_normal_are_sorted(tmp_path, write_png):
    for name in ("b_class", "a_class"):
        (tmp_path / name).mkdir()
        write_png(tmp_path / name / "x.png", np.zeros((3, 3), np.uint8))
    assert list(load_image_folder(tmp_path).target_names) == ["a_class", "b_class"]


def test_non_image_file_raises_or_is_skipped(mixed_folder):
    notes = mixed_folder / "hemorrhage" / "notes.txt"
    notes.write_text("reader comments")
    with pytest.raises(ReadError, match=r"notes\.txt.*not a PNG, JPEG, DICOM or "
                       "NIfTI"):
        load_image_folder(mixed_folder)
    with pytest.warns(UserWarning, match=r"Skipped 1 of 5 files.*notes\.txt"):
        data = load_image_folder(mixed_folder, on_error="skip")
    assert len(data.images) == 6
    assert data.skipped == [(str(notes), data.skipped[0][1])]
    assert "not a PNG" in data.skipped[0][1]


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=r"is empty: put the images in one "
                       r"subfolder per class"):
        load_image_folder(tmp_path)


def test_folder_without_class_folders(tmp_path, write_png):
    write_png(tmp_path / "a.png", np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match="holds no class folder"):
        load_image_folder(tmp_path)


def test_empty_class_folder(tmp_path, write_png):
    (tmp_path / "normal").mkdir()
    (tmp_path / "hemorrhage").mkdir()
    write_png(tmp_path / "normal" / "a.png", np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match=r"class folder .*hemorrhage holds no "
                       "files"):
        load_image_folder(tmp_path)


def test_loose_files_are_reported(mixed_folder):
    (mixed_folder / "README.txt").write_text("how the set was made")
    with pytest.warns(UserWarning, match=r"Ignored 1 file\(s\).*README\.txt"):
        load_image_folder(mixed_folder)


def test_path_that_is_not_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_image_folder(tmp_path / "missing")


def test_unreadable_file_is_named(mixed_folder, monkeypatch):
    from hemoclf.datasets import _readers

    real_open = open

    def guarded_open(path, *args, **kwargs):
        if str(path).endswith("a.png"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_readers, "open", guarded_open, raising=False)
    with pytest.raises(ReadError, match=r"a\.png.*permission denied"):
        load_image_folder(mixed_folder)
