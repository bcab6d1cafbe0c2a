"""benchmarks/evaluate_recipes.py, which produces the recipe figures the docs cite."""

from pathlib import Path

import numpy as np
import pytest
from joblib import cpu_count

from hemoclf.utils._testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "evaluate_recipes.py"


@pytest.fixture(scope="module")
def er():
    return load_script(SCRIPT)


@pytest.fixture(scope="module")
def phantom():
    from hemoclf.datasets import make_head_ct

    return make_head_ct(24, image_size=32, random_state=0, return_X_y=True)


def test_argument_combinations_are_refused(er, phantom):
    images, y = phantom
    common = {"folds": 3, "repeats": 1, "tuned": True, "inner_folds": "outer"}
    with pytest.raises(ValueError, match="--tuner pooled only"):
        er.cross_validate_recipe("paper", images, y, None, tuner="per-fold",
                                 **common)
    with pytest.raises(ValueError, match="one at a time; drop --n-jobs"):
        er.cross_validate_recipe("paper", images, y, None, n_jobs=2, **common)


def test_a_later_repeat_alone_is_summarised(er):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 10)
    folds = np.array_split(rng.permutation(20), 2)
    records = [{"repeat": 0, "fold": k, "test_index": idx.tolist(),
                "proba": rng.random(len(idx)).tolist(), "threshold": 0.3,
                "fit_wall_s": 1.0, "fit_cpu_s": 1.0}
               for k, idx in enumerate(folds)]
    later = [dict(r, repeat=1) for r in records]
    first, second = er.summarize(records, y, None), er.summarize(later, y, None)
    assert np.isfinite(second["roc_auc"]["value"])
    assert second == first


def test_bootstrap_auc_is_roc_auc_score(er):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.permutation(np.repeat([0, 1], [7, 13]))
        proba = rng.integers(0, 4, len(y)) / 3  # many ties
        assert er._auc(y, proba) == pytest.approx(roc_auc_score(y, proba), abs=1e-12)


def test_folds_in_parallel_give_the_same_probabilities(er, phantom):
    images, y = phantom
    kwargs = {"folds": 3, "repeats": 1, "first_repeat": 1, "hounsfield": True,
              "classifier_params": {"epochs": 1}, "log": lambda *a: None}
    one = er.cross_validate_recipe("paper", images, y, None, n_jobs=1, **kwargs)
    two = er.cross_validate_recipe("paper", images, y, None, n_jobs=2, **kwargs)
    assert [r["fold"] for r in two] == [0, 1, 2]
    # Each of the two worker processes takes its share of the cores.
    share = max(1, cpu_count() // 2)
    assert all(r["tensorflow_threads"] == [share, share] for r in two)
    assert all(r["repeat"] == 1 for r in one + two)
    for a, b in zip(one, two):
        assert a["test_index"] == b["test_index"]
        # The same networks; a worker process may run TensorFlow with
        # another number of threads than this one (one per pytest-xdist
        # worker), which can reorder sums in some CPUs' kernels by one
        # float32 rounding step. Another seed or fold moves them by far more.
        np.testing.assert_allclose(a["proba"], b["proba"], rtol=1e-6, atol=1e-7)


def test_share_cores_says_when_tensorflow_already_runs(er, capsys):
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow's thread pools now exist
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    er.share_cores(intra + 7)
    message = capsys.readouterr().out
    assert f"not {intra + 7}; its timings are not comparable" in message
    assert tf.config.threading.get_intra_op_parallelism_threads() == intra


def test_set_reads_literals_and_words(er):
    assert er._classifier_setting("learning_rate=3e-3") == ("learning_rate", 3e-3)
    assert er._classifier_setting("filters=(16, 32)") == ("filters", (16, 32))
    assert er._classifier_setting("optimizer=adamw") == ("optimizer", "adamw")
    assert er._classifier_setting("batch_size=32") == ("batch_size", 32)


@pytest.mark.parametrize("text", ["batch_size", "=32", "batch size=32"])
def test_set_refuses_what_is_not_name_equals_value(er, text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError,
                       match="expected NAME=VALUE, e.g. batch_size=32"):
        er._classifier_setting(text)


@pytest.fixture(scope="module")
def gray_heads():
    """Phantom slices windowed and resized as the default recipe sees them."""
    from hemoclf import ResizeRescale
    from hemoclf.datasets import make_head_ct
    from hemoclf.preprocessing import CTWindow

    X, y = make_head_ct(12, image_size=128, random_state=1, return_X_y=True)
    X = CTWindow(windows=((40, 80),)).fit_transform(X)
    X = ResizeRescale(channels=1, scale=1, keep_aspect_ratio=True,
                      crop_to_head=True).fit_transform(X)
    return X, y


def test_synthetic_bleeds_are_small_dim_copies_of_normals(er, gray_heads):
    X, y = gray_heads
    n_normals = int((y == 0).sum())
    X2, y2 = er.add_synthetic_bleeds(X, y, fraction=0.5, random_state=0)
    k = int(round(0.5 * n_normals))
    assert X2.shape == (len(X) + 2 * k,) + X.shape[1:]
    np.testing.assert_array_equal(y2, np.r_[y, np.ones(k), np.zeros(k)])
    np.testing.assert_array_equal(X2[: len(X)], X)
    bleeds, again = X2[len(X): len(X) + k], X2[len(X) + k:]
    for bleed, normal in zip(bleeds, again):
        # The balancing copy is a training normal itself.
        assert any(np.array_equal(normal, x) for x in X[y == 0])
        diff = bleed - normal
        assert diff.min() >= 0
        assert 0.08 * 0.9 - 0.01 < diff.max() <= 0.22 * 1.1 + 1e-6
        # One blob of radii 3.5 to 8 px, edge included: a small share of the slice.
        changed = diff > 0.01
        assert 20 <= changed.sum() <= 0.02 * changed.size
    again_X, again_y = er.add_synthetic_bleeds(X, y, fraction=0.5, random_state=0)
    np.testing.assert_array_equal(again_X, X2)
    unbalanced = er.add_synthetic_bleeds(X, y, fraction=0.5, random_state=0,
                                         balance=False)
    assert len(unbalanced[0]) == len(X) + k and unbalanced[1][len(X):].all()


def test_synthetic_bleeds_act_on_training_sets_only(er, gray_heads):
    pipe = er.build_pipeline("default", hounsfield=False, random_state=3,
                             classifier_params={"epochs": 1},
                             synthetic_bleeds={"fraction": 0.3})
    assert [name for name, _ in pipe.steps] == [
        "resizerescale", "syntheticbleeds", "hemorrhagecnnclassifier"]
    assert pipe.named_steps["syntheticbleeds"].kw_args == {
        "fraction": 0.3, "random_state": 3}
    plain = er.build_pipeline("default", hounsfield=False, random_state=3,
                              classifier_params=None, synthetic_bleeds=None)
    assert [name for name, _ in plain.steps] == [
        "resizerescale", "hemorrhagecnnclassifier"]
    X, y = gray_heads
    images = (X[..., 0] * 255).astype(np.uint8)
    seen = []

    def recording(X, y, **kw):
        X_out, y_out = er.add_synthetic_bleeds(X, y, **kw)
        seen.append((len(y), y_out[len(y):].tolist()))
        return X_out, y_out

    pipe.named_steps["syntheticbleeds"].set_params(func=recording)
    pipe.fit(images, y)
    # Fitted once, on the training images plus bleeds and their normals ...
    (n_in, added), = seen
    k = int(round(0.3 * (y == 0).sum()))
    assert n_in == len(y) and added == [1] * k + [0] * k
    # ... and scored on the images given, none added, the sampler not run again.
    assert pipe.predict_proba(images).shape == (len(y), 2)
    assert len(seen) == 1


@pytest.mark.parametrize("argv, message", [
    (["--synthetic-bleeds", "0.3", "--controls"],
     "--synthetic-bleeds does not go with --controls"),
    (["--synthetic-bleeds", "1.5"], "give a value in (0, 1]"),
    (["--synthetic-bleed-radii", "2", "6"], "give that too"),
    (["--synthetic-bleed-unbalanced"], "give that too"),
])
def test_synthetic_bleed_options_are_checked(er, capsys, argv, message):
    with pytest.raises(SystemExit):
        er.main(["--data", "unused"] + argv)
    assert message in capsys.readouterr().err
