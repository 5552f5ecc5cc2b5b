"""benchmarks/: the speed benchmark stays runnable at its smallest setting; the soak (slow) lands 200 runs."""

from __future__ import annotations

import pytest
from conftest import MODEL_CONFIGS, run_script


def test_smallest_benchmark_runs(tmp_path):
    """Numbers are not asserted (they are noise at this size); the script must run end to end."""
    out = tmp_path / "RESULTS.md"
    result = run_script(["-m", "benchmarks.speed", "--smallest", "--out", str(out)], timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = out.read_text()
    for section in ("Harness vs bare loop", "Attention paths", "Sweep throughput", "Headline cost"):
        assert section in text
    for model in MODEL_CONFIGS:
        assert f"| {model} |" in text


@pytest.mark.slow
def test_soak_of_200_runs(tmp_path):
    """200 tiny runs through joblib: all land, none twice, the parent's memory stays flat."""
    out = tmp_path / "RESULTS.md"
    result = run_script(["-m", "benchmarks.soak", "--runs", "200", "--out", str(out)], timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "| 200 | 200 | 200 | 0 | 0 |" in out.read_text()
