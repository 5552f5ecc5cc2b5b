"""benchmarks/models.py stays runnable, and its FLOPs, counted by torch's FlopCounterMode, agree with hand counts
and with the plain computations that the fused kernels stand for."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from support import MODEL_CONFIGS, run_script
from test_model_contract import make_model
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.models import forward_flops, training_flops, visible_kernels


def test_smallest_models_benchmark_runs(tmp_path):
    """Numbers are not asserted (noise at this size); the script must run end to end and list every model."""
    out = tmp_path / "RESULTS.md"
    result = run_script(["-m", "benchmarks.models", "--smallest", "--out", str(out)], timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = out.read_text()
    assert "<!-- models:start -->" in text and "of peak" in text
    for model in MODEL_CONFIGS:
        assert f"| {model} |" in text


def test_every_model_is_counted():
    for name in MODEL_CONFIGS:
        assert training_flops(make_model(name), batch=2, length=24) > 0, name


def test_lstm_flops_match_a_hand_count():
    """One LSTM layer, H = 112, input 112: 4 gates x H x (input + H) multiply-adds per token, plus the head."""
    model = make_model("lstm")
    per_token = 2 * 4 * 112 * (112 + 112) + 2 * 112 * 8
    assert training_flops(model, batch=3, length=24) == 3 * 3 * 24 * per_token


def counted(function, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        function(*args)
    return counter.get_total_flops()


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_fused_recurrence_is_counted_as_its_cell_stepped_by_hand(kind):
    """On the counting path, a whole-sequence nn.LSTM (fused on CPU) counts what its nn.LSTMCell, stepped over
    the tokens, counts."""
    layer, cell = getattr(nn, kind)(6, 5, batch_first=True), getattr(nn, f"{kind}Cell")(6, 5)
    x = torch.randn(3, 7, 6)

    def stepped():
        h = None
        for t in range(x.shape[1]):
            h = cell(x[:, t], h)

    with visible_kernels():
        assert counted(layer, x) == counted(stepped) > 0


@pytest.mark.parametrize("name", ["attention", "sliding_window"])
def test_attention_is_counted_as_its_explicit_path_computes(name):
    """The fused path (invisible to the counter on CPU) counts as the six explicit steps do: QKᵀ and weights·V over
    the whole L x L matrix, 2 x 2 x L x d_model FLOPs per token and layer on top of the linear layers."""
    fused, explicit = make_model(name, path="fused"), make_model(name, path="explicit")
    linear = sum(2 * m.in_features * m.out_features for m in explicit.modules() if isinstance(m, nn.Linear))
    per_token = linear + explicit.n_layers * 2 * 2 * 24 * explicit.d_model
    assert forward_flops(fused, batch=2, length=24) == forward_flops(explicit, batch=2, length=24) == \
        2 * 24 * per_token


def test_a_model_of_visible_operations_needs_no_entry():
    """Nothing in benchmarks/ names a model: one the counter can see is counted as it is."""
    model = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    assert training_flops(model, batch=2, length=5) == 3 * 2 * 5 * (2 * 8 * 16 + 2 * 16 * 4)
