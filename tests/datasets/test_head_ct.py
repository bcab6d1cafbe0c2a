"""load_head_ct on small Kaggle-like folders and on the shared copy."""

import numpy as np
import pytest
from PIL import Image
from sklearn.model_selection import StratifiedGroupKFold

from hemoclf.datasets import ReadError, load_head_ct, make_head_ct


def _picture(index, size=48):
    """A distinct uint8 RGB 'head' for each index."""
    hu = make_head_ct(1, image_size=size, random_state=index).images[0]
    gray = (np.clip(hu / 80, 0, 1) * 255).astype(np.uint8)
    return np.repeat(gray[:, :, np.newaxis], 3, axis=2)


def _kaggle_folder(folder, labels, *, header="id, hemorrhage", padded=True,
                   write=None):
    """NNN.png files and labels.csv, as in the Kaggle download."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [header] + [f"{i},{label}" for i, label in labels.items()]
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    for i in (labels if write is None else write):
        name = f"{i:03d}.png" if padded else f"{i}.png"
        Image.fromarray(_picture(i)).save(folder / name)
    return folder


def test_loads_images_labels_and_description(tmp_path):
    folder = _kaggle_folder(tmp_path / "head_ct", {0: 1, 1: 1, 2: 0, 3: 0})
    data = load_head_ct(folder)
    assert len(data.images) == 4
    assert all(img.shape == (48, 48, 3) and img.dtype == np.uint8
               for img in data.images)
    np.testing.assert_array_equal(data.target, [1, 1, 0, 0])
    assert [p.rsplit("/", 1)[-1] for p in data.filenames] == [
        "000.png", "001.png", "002.png", "003.png"
    ]
    assert list(data.target_names) == ["normal", "hemorrhage"]
    assert data.skipped == []
    assert "10.34740/KAGGLE/DSV/152137" in data.DESCR
    assert "license" in data.DESCR.lower()
    np.testing.assert_array_equal(data.groups, [0, 1, 2, 3])


def test_unpadded_names_and_header_without_space(tmp_path):
    folder = _kaggle_folder(tmp_path / "kaggle", {7: 1, 12: 0},
                            header="id,hemorrhage", padded=False)
    np.testing.assert_array_equal(load_head_ct(folder).target, [1, 0])


def test_reads_the_folder_under_hemoclf_data(tmp_path, monkeypatch):
    _kaggle_folder(tmp_path / "head_ct", {0: 1, 1: 0})
    monkeypatch.setenv("HEMOCLF_DATA", str(tmp_path))
    images, target = load_head_ct(return_X_y=True)
    assert len(images) == 2
    np.testing.assert_array_equal(target, [1, 0])
    # data_home may also name the folder that holds head_ct/.
    assert len(load_head_ct(tmp_path).images) == 2


def test_without_data_home_or_environment(monkeypatch):
    monkeypatch.delenv("HEMOCLF_DATA", raising=False)
    with pytest.raises(FileNotFoundError,
                       match="pass data_home=.*or set the environment variable "
                       "HEMOCLF_DATA.*never downloaded"):
        load_head_ct()


def test_folder_without_labels(tmp_path):
    with pytest.raises(FileNotFoundError, match="No labels.csv in"):
        load_head_ct(tmp_path)


def test_mismatch_lists_missing_and_extra_ids(tmp_path):
    folder = _kaggle_folder(tmp_path / "head_ct", {0: 1, 1: 1, 2: 0},
                            write=[0, 2, 5, 9])
    with pytest.raises(ValueError, match=r"without an image: 1;.*without a "
                       r"label: ids 5, 9"):
        load_head_ct(folder)


def test_two_files_for_one_id(tmp_path):
    folder = _kaggle_folder(tmp_path / "head_ct", {1: 1})
    Image.fromarray(_picture(1)).save(folder / "1.png")
    with pytest.raises(ValueError, match=r"001\.png and 1\.png .* id 1"):
        load_head_ct(folder)


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,label\n0,1\n", r"header must name the columns 'id' and 'hemorrhage'"),
        ("id, hemorrhage\n0,2\n", r"line 2: hemorrhage '2' must be 0"),
        ("id, hemorrhage\nx,1\n", r"line 2: id 'x' is not a non-negative integer"),
        ("id, hemorrhage\n0,1\n0,0\n", r"line 3: id 0 appears twice"),
        ("id, hemorrhage\n0\n", r"line 2: expected 2 columns"),
        ("id, hemorrhage\n", r"has a header but no rows"),
    ],
)
def test_malformed_labels(tmp_path, content, message):
    folder = tmp_path / "head_ct"
    folder.mkdir()
    (folder / "labels.csv").write_text(content)
    with pytest.raises(ValueError, match=r"labels\.csv.*" + message):
        load_head_ct(folder)


def test_unreadable_image_raises_or_is_skipped(tmp_path):
    folder = _kaggle_folder(tmp_path / "head_ct", {0: 1, 1: 0, 2: 0})
    (folder / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ReadError, match=r"001\.png"):
        load_head_ct(folder)
    with pytest.warns(UserWarning, match="Skipped 1 of 3 files"):
        data = load_head_ct(folder, on_error="skip")
    np.testing.assert_array_equal(data.target, [1, 0])
    assert [p.rsplit("/", 1)[-1] for p in data.filenames] == ["000.png", "002.png"]
    assert data.skipped[0][0].endswith("001.png")
    assert len(data.groups) == 2


def test_copies_share_a_group(tmp_path):
    from skimage import data

    folder = _kaggle_folder(tmp_path / "head_ct", {0: 1, 1: 1, 2: 0, 3: 0},
                            write=[])
    photo = data.camera()
    copy = Image.fromarray(photo[20:-10, 15:-25]).resize((300, 280))
    for name, picture in (("000", photo), ("001", data.moon()),
                          ("002", data.coins())):
        Image.fromarray(picture).save(folder / f"{name}.png")
    copy.save(folder / "003.png")
    np.testing.assert_array_equal(load_head_ct(folder).groups, [0, 1, 2, 0])


@pytest.mark.realdata
def test_the_shared_kaggle_set(head_ct_dir):
    data = load_head_ct(head_ct_dir, progress=False)
    assert len(data.images) == 200
    assert np.bincount(data.target).tolist() == [100, 100]
    np.testing.assert_array_equal(data.target[:100], 1)
    assert {img.shape[2] for img in data.images} == {3, 4}
    assert all(img.dtype == np.uint8 for img in data.images)
    copies = [np.flatnonzero(data.groups == g).tolist()
              for g in np.unique(data.groups) if (data.groups == g).sum() > 1]
    assert copies == [
        [4, 57], [5, 22, 58], [9, 65], [10, 66], [11, 61], [12, 30], [73, 95],
        [104, 186], [105, 187], [145, 148], [146, 149], [147, 150], [188, 189],
        [198, 199],
    ]
    # Group-aware folds never put copies of one picture on both sides.
    folds = StratifiedGroupKFold(n_splits=5).split(data.images, data.target,
                                                   data.groups)
    for train, test in folds:
        assert not set(data.groups[train]) & set(data.groups[test])
