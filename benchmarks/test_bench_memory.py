"""Peak memory of training on the paper's expanded set (1000 augmented images).

Measured in a fresh process (its peak resident set size, which includes
TensorFlow itself), so earlier benchmarks in the same pytest run do not count.
The peak is the process's own high-water mark (``VmHWM`` in
``/proc/self/status``): ``getrusage`` would not do, because Linux carries the
parent's high-water mark into ``ru_maxrss`` across the fork and exec that
start the child, so a child of a large pytest process reported the parent's
size (4.2 GiB after the other benchmarks had run).
"""

import json
import subprocess
import sys

LIMIT_BYTES = 1.5 * 1024**3

_SCRIPT = """
import json, resource
import numpy as np
from imblearn.pipeline import make_pipeline
from hemoclf import HemorrhageCNNClassifier
from hemoclf.sampling import AugmentationSampler

rng = np.random.default_rng(0)
X = rng.random((180, 128, 128, 3), dtype=np.float32)
y = np.repeat([0, 1], 90)
pipe = make_pipeline(
    AugmentationSampler({0: 500, 1: 500}, random_state=0),
    HemorrhageCNNClassifier(architecture="paper", epochs=2, random_state=0),
).fit(X, y)
n_seen = pipe[-1].history_["loss"] and len(pipe[-1].history_["loss"])
try:
    with open("/proc/self/status") as status:
        hwm = [line for line in status if line.startswith("VmHWM:")][0]
    peak = int(hwm.split()[1]) * 1024
except OSError:  # no /proc (macOS): ru_maxrss is already in bytes there
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_bytes": peak, "epochs": n_seen}))
"""


def test_peak_rss_fitting_1000_augmented_images(benchmark, measurement):
    def run():
        out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True,
                             text=True, check=True, timeout=900).stdout
        return json.loads(out.strip().splitlines()[-1])

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["peak_rss_mib"] = result["peak_bytes"] / 2**20
    measurement("peak RSS, fit on 1000 augmented 128x128x3 images",
                result["peak_bytes"] / 2**20, "MiB", LIMIT_BYTES / 2**20)
    assert result["peak_bytes"] < LIMIT_BYTES, (
        f"peak RSS {result['peak_bytes'] / 2**20:.0f} MiB exceeds 1.5 GiB"
    )
