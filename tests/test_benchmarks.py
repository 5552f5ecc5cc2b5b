"""benchmarks/: the speed and checkpoint benchmarks stay runnable at their smallest setting; the soak (slow)
lands 200 runs."""

from __future__ import annotations

import pytest
from support import MODEL_CONFIGS, run_script


def smallest_speed_benchmark(tmp_path, *extra) -> str:
    out = tmp_path / "RESULTS.md"
    result = run_script(["-m", "benchmarks.speed", "--smallest", "--out", str(out), *extra], timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out.read_text()


def test_smallest_benchmark_runs(tmp_path):
    """Numbers are not asserted (they are noise at this size); the script must run end to end. The sweep
    sections start sweeps in subprocesses: the slow test below covers them."""
    text = smallest_speed_benchmark(tmp_path, "--skip-sweeps")
    for section in ("Harness vs bare loop", "Attention paths", "Headline cost"):
        assert section in text
    for model in MODEL_CONFIGS:
        assert f"| {model} |" in text


@pytest.mark.slow
def test_smallest_benchmark_runs_with_its_sweeps(tmp_path):
    assert "Sweep throughput" in smallest_speed_benchmark(tmp_path)


def test_smallest_checkpoint_benchmark_runs(tmp_path):
    out = tmp_path / "RESULTS.md"
    result = run_script(["-m", "benchmarks.checkpoint", "--smallest", "--out", str(out)], timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = out.read_text()
    assert "Checkpoint overhead" in text and "Default `train.checkpoint_every=" in text
    for model in MODEL_CONFIGS:
        assert f"| {model} |" in text


@pytest.mark.slow
def test_soak_of_400_runs(tmp_path):
    """400 tiny runs through joblib: all land, none twice, the parent's memory stays flat. 400, not 200: the
    parent warms up for about 250 runs (239 MiB at run 50, 250 MiB at 200, then flat: 252 MiB at 400), and a
    soak of 200 measured that warm-up as +34 KiB per run over its second half in one of two attempts."""
    out = tmp_path / "RESULTS.md"
    result = run_script(["-m", "benchmarks.soak", "--runs", "400", "--out", str(out)], timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "| 400 | 400 | 400 | 0 | 0 |" in out.read_text()
