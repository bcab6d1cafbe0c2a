"""benchmarks/compute_ceiling.py, whose figures explain the predict target."""

from pathlib import Path

import pytest

from hemoclf.utils._testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compute_ceiling.py"


@pytest.fixture(scope="module")
def cc():
    return load_script(SCRIPT)


def test_multiply_adds_of_the_paper_cnn(cc):
    from hemoclf._models import build_paper_cnn

    model = build_paper_cnn((128, 128, 3))
    # 3x3 stride-2 convolutions: 3->32 channels out at 64x64, 32->64 at 16x16
    # (after a 2x2 pooling), 64->64 at 4x4; then Dense 64->64 and 64->1.
    expected = (9 * 3 * 32 * 64 * 64 + 9 * 32 * 64 * 16 * 16 + 9 * 64 * 64 * 4 * 4
                + 64 * 64 + 64)
    assert cc.multiply_adds(model) == expected == 8_851_520


def test_multiply_adds_of_the_default_cnn(cc):
    from hemoclf._models import build_default_cnn

    model = build_default_cnn((128, 128, 1))
    # 5x5 stride-2 stem 1->16 at 64x64, then 3x3 convolutions 16->16 at
    # 64x64, 16->32 at 32x32, 32->64 at 16x16, 64->128 at 8x8; Dense 128->1.
    expected = (25 * 1 * 16 * 64 * 64 + 9 * 16 * 16 * 64 * 64 + 9 * 16 * 32 * 32 * 32
                + 9 * 32 * 64 * 16 * 16 + 9 * 64 * 128 * 8 * 8 + 128)
    assert cc.multiply_adds(model) == expected


def test_main_prints_a_row_per_architecture(cc, capsys):
    peak, rows = cc.main(["--images", "8", "--size", "32", "--repeats", "1",
                          "--architectures", "paper", "--matmul-size", "64"])
    assert peak > 0
    (row,) = rows
    assert row["architecture"] == "paper"
    assert row["ratio"] == pytest.approx(row["scikeras_s"] / row["hemoclf_s"])
    assert row["hemoclf_gflops"] == pytest.approx(
        2 * row["madds_per_image"] * 8 / row["hemoclf_s"] / 1e9)
    # At the peak the forward pass takes flop / peak seconds.
    assert row["ratio_at_peak"] == pytest.approx(
        row["scikeras_s"] * peak / row["hemoclf_gflops"] / row["hemoclf_s"])
    out = capsys.readouterr().out
    assert "GFLOP/s" in out and "   paper:" in out
