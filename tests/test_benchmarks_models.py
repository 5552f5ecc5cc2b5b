"""benchmarks/models.py stays runnable, and its FLOP formulas agree with the model shapes."""

from __future__ import annotations

from support import MODEL_CONFIGS, run_script
from test_model_contract import make_model

from benchmarks.models import training_flops


def test_smallest_models_benchmark_runs(tmp_path):
    """Numbers are not asserted (noise at this size); the script must run end to end and list every model."""
    out = tmp_path / "RESULTS.md"
    result = run_script(["-m", "benchmarks.models", "--smallest", "--out", str(out)], timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = out.read_text()
    assert "<!-- models:start -->" in text and "of peak" in text
    for model in MODEL_CONFIGS:
        assert f"| {model} |" in text


def test_every_model_has_a_flop_formula():
    for name in MODEL_CONFIGS:
        assert training_flops(make_model(name), batch=2, length=24) > 0, name


def test_lstm_flops_match_a_hand_count():
    """One LSTM layer, H = 112, input 112: 4 gates x H x (input + H) multiply-adds per token, plus the head."""
    model = make_model("lstm")
    per_token = 2 * 4 * 112 * (112 + 112) + 2 * 112 * 8
    assert training_flops(model, batch=3, length=24) == 3 * 3 * 24 * per_token
