"""Benchmark plumbing: every speed target is a ratio against a baseline
measured in the same run, on the same data.

Each comparison is a pair of benchmarks in one pytest-benchmark group: the
baseline (``role="baseline"``) runs first, then hemoclf's path
(``role="hemoclf"``). hemoclf's rounds are interleaved with rounds of the
baseline (run as pytest-benchmark's untimed ``setup`` and timed here), so
that both sides see the machine in the same state: on a shared machine
whose speed drifts over a minute, timing all baseline rounds before all
hemoclf rounds moved ratios by 10 to 30 %. The hemoclf test computes
``ratio = interleaved baseline median / hemoclf median`` (a speed-up: above
1 means hemoclf is faster), stores it in the benchmark's ``extra_info`` and
fails if it is below the group's target. The terminal summary prints the
table; ``.benchmarks/ratios.json`` keeps it.

A reduced set runs by default; ``HEMOCLF_BENCH_FULL=1`` runs the full sizes.
``HEMOCLF_BENCH_ROUNDS=N`` times every benchmark N times instead of 3 (after
one warm-up round): more rounds steady the medians on a noisy machine.
"""

import json
import os
import platform
import statistics
import time
from pathlib import Path

import pytest

from hemoclf.utils._testing import bench_full

# The scripts in gpu/ are run by hand on a GPU machine (see gpu/README.md) and
# import PyTorch: neither tests nor doctests.
collect_ignore = ["gpu"]

FULL = bench_full()
_MEDIANS = {}
_BASELINES = {}
_ROWS = []


def data_root():
    value = os.environ.get("HEMOCLF_DATA")
    return Path(value).resolve() if value else None


@pytest.fixture(scope="session")
def head_ct_dir():
    root = data_root()
    if root is None or not (root / "head_ct" / "labels.csv").is_file():
        pytest.skip("set HEMOCLF_DATA to the folder holding head_ct/")
    return root / "head_ct"


@pytest.fixture(scope="session")
def cq500_dir():
    root = data_root()
    if root is None or not (root / "cq500_dicom").is_dir():
        pytest.skip("set HEMOCLF_DATA to the folder holding cq500_dicom/")
    return root / "cq500_dicom"


@pytest.fixture
def compare(benchmark):
    """Run ``fn`` under pytest-benchmark as the baseline or hemoclf's path."""

    def run(fn, *, group, role, target=None, rounds=3, note=""):
        benchmark.group = group
        benchmark.extra_info["role"] = role
        rounds = int(os.environ.get("HEMOCLF_BENCH_ROUNDS", rounds))
        setup, baseline_times = None, []
        if role == "baseline":
            _BASELINES[group] = fn
        else:
            baseline = _BASELINES.get(group)
            assert baseline is not None, f"run the baseline of {group!r} first"

            def setup():  # untimed by pytest-benchmark: timed here
                start = time.perf_counter()
                baseline()
                baseline_times.append(time.perf_counter() - start)

        result = benchmark.pedantic(fn, setup=setup, rounds=rounds, iterations=1,
                                    warmup_rounds=1)
        median = benchmark.stats.stats.median
        _MEDIANS[(group, role)] = median
        if role == "hemoclf":
            # The last `rounds` baseline runs preceded the timed rounds; the
            # first preceded the warm-up round.
            base = statistics.median(baseline_times[-rounds:])
            benchmark.extra_info["baseline_interleaved_median"] = base
            benchmark.extra_info["baseline_separate_median"] = _MEDIANS[
                (group, "baseline")]
            ratio = base / median
            benchmark.extra_info["ratio_vs_baseline"] = ratio
            _ROWS.append({"group": group, "baseline_s": base, "hemoclf_s": median,
                          "ratio": ratio, "target": target, "note": note,
                          "met": target is None or ratio >= target})
            if target is not None:
                assert ratio >= target, (
                    f"{group}: hemoclf is {ratio:.2f}x the baseline, below the "
                    f"{target:.2f}x target"
                )
        return result

    return run


_MEASUREMENTS = []


@pytest.fixture
def measurement():
    """Record a measured quantity with its limit for the summary table."""

    def record(name, value, unit, limit):
        _MEASUREMENTS.append({"name": name, "value": value, "unit": unit,
                              "limit": limit, "met": value <= limit})

    return record


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    for row in _MEASUREMENTS:
        write(f"{row['name']}: {row['value']:.0f} {row['unit']} (limit "
              f"{row['limit']:.0f} {row['unit']}): "
              f"{'met' if row['met'] else 'NOT met'}")
    if not _ROWS:
        return
    write("")
    write(f"hemoclf benchmark ratios ({'full' if FULL else 'reduced'} set, "
          f"{platform.machine()}, {os.cpu_count()} cores)")
    write(f"{'group':46s} {'baseline s':>11s} {'hemoclf s':>10s} {'ratio':>7s} "
          f"{'target':>7s}  met")
    for row in _ROWS:
        target = "" if row["target"] is None else f"{row['target']:.2f}"
        write(f"{row['group']:46s} {row['baseline_s']:11.3f} {row['hemoclf_s']:10.3f} "
              f"{row['ratio']:7.2f} {target:>7s}  {'yes' if row['met'] else 'NO'}")
    out = Path(".benchmarks")
    out.mkdir(exist_ok=True)
    (out / "ratios.json").write_text(
        json.dumps({"ratios": _ROWS, "measurements": _MEASUREMENTS}, indent=2)
    )
