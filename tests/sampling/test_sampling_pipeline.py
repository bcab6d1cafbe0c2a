"""The paper's route as one imbalanced-learn pipeline: resize, augment, train."""

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline

from hemoclf import HemorrhageCNNClassifier, ResizeRescale
from hemoclf.sampling import AugmentationSampler

TINY_CNN = {"filters": (4, 4, 4), "dense_units": 4, "epochs": 1, "batch_size": 8,
            "random_state": 0}


@pytest.fixture(scope="module")
def scans():
    """Ten gray uint8 images of two sizes, 6 normal (0) and 4 hemorrhage (1)."""
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, size=(20, 24) if i % 2 else (30, 30), dtype=np.uint8)
        for i in range(10)
    ]
    return images, np.array([0, 1, 0, 0, 1, 0, 1, 0, 1, 0])


@pytest.fixture
def spies(monkeypatch):
    """Count sampler calls and record the images the classifier trains on."""
    calls = {"resample": 0, "fit_shapes": []}
    resample = AugmentationSampler._fit_resample
    fit = HemorrhageCNNClassifier.fit

    def counting_resample(self, X, y):
        calls["resample"] += 1
        return resample(self, X, y)

    def recording_fit(self, X, y, **params):
        calls["fit_shapes"].append((X.shape, np.bincount(y).tolist()))
        return fit(self, X, y, **params)

    monkeypatch.setattr(AugmentationSampler, "_fit_resample", counting_resample)
    monkeypatch.setattr(HemorrhageCNNClassifier, "fit", recording_fit)
    return calls


def test_augmentation_acts_at_fit_only(scans, spies):
    images, y = scans
    pipeline = make_pipeline(
        ResizeRescale(output_size=(16, 16)),
        AugmentationSampler({0: 12, 1: 12}, random_state=0),
        HemorrhageCNNClassifier(**TINY_CNN),
    )
    pipeline.fit(images, y)
    assert spies["resample"] == 1
    # The network trained on the expanded set: 10 originals + 14 copies.
    assert spies["fit_shapes"] == [((24, 16, 16, 3), [12, 12])]

    predicted = pipeline.predict(images[:7])
    proba = pipeline.predict_proba(images[:7])
    assert predicted.shape == (7,)
    assert proba.shape == (7, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert spies["resample"] == 1  # prediction never resampled


def test_imbalanced_training_set_as_in_the_paper(scans, spies):
    images, y = scans
    pipeline = make_pipeline(
        ResizeRescale(output_size=(16, 16), channels=1),
        AugmentationSampler({0: 8, 1: 16}, random_state=0),
        HemorrhageCNNClassifier(**TINY_CNN, augment=False),
    )
    pipeline.fit(images, y)
    assert spies["fit_shapes"] == [((24, 16, 16, 1), [8, 16])]
    # Scoring predicts the ten images as they are, without resampling them.
    assert pipeline.score(images, y) == np.mean(pipeline.predict(images) == y)
    assert spies["resample"] == 1


@pytest.mark.realdata
def test_sampler_on_real_head_ct(head_ct_dir):
    from PIL import Image

    ids = [0, 1, 2, 100, 101, 102]  # 0-99 hemorrhage, 100-199 normal
    images = [np.asarray(Image.open(head_ct_dir / f"{i:03d}.png")) for i in ids]
    y = np.array([1, 1, 1, 0, 0, 0])
    X = ResizeRescale(output_size=(32, 32)).fit_transform(images)
    sampler = AugmentationSampler({0: 5, 1: 10}, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert X_res.shape == (15, 32, 32, 3)
    assert np.bincount(y_res).tolist() == [5, 10]
    np.testing.assert_array_equal(X_res[:6], X)
    assert 0.0 <= X_res.min() and X_res.max() <= 1.0 + 1e-6
    new = sampler.source_indices_[6:]
    assert all(not np.allclose(a, b) for a, b in zip(X_res[6:], X[new]))
