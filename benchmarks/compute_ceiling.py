"""How close hemoclf's forward pass runs to this CPU's float32 arithmetic peak.

For each architecture, a network is trained for one epoch on random images
(as in ``test_bench_predict.py``), and the script prints:

- the multiply-adds of one image's forward pass, counted from the network's
  ``Conv2D`` and ``Dense`` layers (pooling and activations are not
  multiply-adds and are not counted; batch normalisation is folded into
  the convolutions at inference);
- the median time of ``HemorrhageCNNClassifier.predict_proba`` and of
  scikeras's ``KerasClassifier.predict_proba`` on the same network;
- the rate hemoclf's forward pass reaches, in GFLOP/s (two floating-point
  operations per multiply-add), next to the best rate of a large float32
  matrix product (``numpy.matmul``, BLAS on every core this process may
  use): the practical peak of the machine for this arithmetic;
- the rate a given speed-up over scikeras would need, and the speed-up a
  forward pass running at that peak would give.

A speed-up target whose rate is above the matrix-product peak cannot be
reached by a faster implementation of the same arithmetic; only less
arithmetic (another network, or fewer operations per convolution) would.

Example::

    python benchmarks/compute_ceiling.py --images 1024 --target 3
"""

import argparse
import time

import numpy as np


def multiply_adds(model):
    """Multiply-adds of one sample's pass through ``model``'s ``Conv2D`` and
    ``Dense`` layers (ungrouped, undilated convolutions)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            out_h, out_w = layer.output.shape[1:3]
            total += int(np.prod(layer.kernel.shape)) * int(out_h) * int(out_w)
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def _times(function, repeats):
    """Wall times of ``repeats`` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def median_time(function, repeats):
    """Median wall time of ``repeats`` calls, after one warm-up call."""
    return float(np.median(_times(function, repeats)))


def matmul_gflops(size=2048, repeats=7):
    """Best float32 rate of ``size`` x ``size`` matrix products, in GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    return 2 * size**3 / min(_times(lambda: a @ b, repeats)) / 1e9


def measure(architecture, images, *, repeats, peak, target):
    """One row of the table for ``architecture`` scored on ``images``."""
    from hemoclf import HemorrhageCNNClassifier

    y = np.arange(len(images)) % 2
    n_fit = min(64, len(images))
    clf = HemorrhageCNNClassifier(architecture=architecture, epochs=1, augment=False,
                                  random_state=0).fit(images[:n_fit], y[:n_fit])
    flop = 2 * multiply_adds(clf.model_) * len(images)
    hemoclf_s = median_time(lambda: clf.predict_proba(images), repeats)
    scikeras = clf.keras_estimator_
    scikeras_s = median_time(lambda: scikeras.predict_proba(images), repeats)
    return {
        "architecture": architecture,
        "madds_per_image": flop / 2 / len(images),
        "hemoclf_s": hemoclf_s,
        "scikeras_s": scikeras_s,
        "ratio": scikeras_s / hemoclf_s,
        "hemoclf_gflops": flop / hemoclf_s / 1e9,
        "target_gflops": flop / (scikeras_s / target) / 1e9,
        "ratio_at_peak": scikeras_s / (flop / (peak * 1e9)),
    }


def format_row(row, peak, target):
    return (
        f"{row['architecture']:>8}: {row['madds_per_image'] / 1e6:.1f} M multiply-adds "
        f"per image; hemoclf {row['hemoclf_s']:.3f} s, "
        f"scikeras {row['scikeras_s']:.3f} s "
        f"(ratio {row['ratio']:.2f}); hemoclf runs at "
        f"{row['hemoclf_gflops']:.0f} GFLOP/s "
        f"({row['hemoclf_gflops'] / peak:.0%} of the matrix-product peak); a ratio of "
        f"{target:g} needs {row['target_gflops']:.0f} GFLOP/s "
        f"({row['target_gflops'] / peak:.0%} of it); at the peak the ratio would be "
        f"{row['ratio_at_peak']:.2f}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1024,
                        help="random images scored per call (1024, as the benchmark)")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per median")
    parser.add_argument("--target", type=float, default=3.0,
                        help="speed-up over scikeras to size the needed rate for")
    parser.add_argument("--architectures", nargs="+", default=["default", "paper"],
                        choices=["default", "paper"])
    parser.add_argument("--matmul-size", type=int, default=2048)
    args = parser.parse_args(argv)

    peak = matmul_gflops(args.matmul_size, args.repeats)
    print(f"float32 matrix product {args.matmul_size}^3 (numpy, all cores): "
          f"best {peak:.0f} GFLOP/s")
    images = np.random.default_rng(0).random(
        (args.images, args.size, args.size, args.channels), dtype=np.float32)
    rows = []
    for architecture in args.architectures:
        row = measure(architecture, images, repeats=args.repeats, peak=peak,
                      target=args.target)
        print(format_row(row, peak, args.target))
        rows.append(row)
    return peak, rows


if __name__ == "__main__":
    main()
