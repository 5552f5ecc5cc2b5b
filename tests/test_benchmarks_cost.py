"""benchmarks.cost on tiny lengths: real training steps, tidy CSVs, a figure, and the time budget's skips."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from benchmarks import cost


def test_cost_script_measures_tiny_lengths_and_writes_tidy_outputs(tmp_path, capsys):
    code = cost.main(["--out", str(tmp_path), "--lengths", "8,16,32", "--models", "attention,attention_explicit,gru",
                      "--budget-seconds", "60", "--repeats", "1", "--batch-size", "2", "--threads", "1"])
    assert code == 0
    table = pd.read_csv(tmp_path / "cost.csv")
    assert list(table.columns) == cost.COST_COLUMNS
    assert len(table) == 9 and (table.status == "measured").all()
    assert (table.step_time_s > 0).all() and (table.memory_bytes > 0).all()
    assert set(table.memory_kind) == {"cpu_saved_for_backward+params+grads+adamw"}
    assert set(table.memory_meaning) == {cost.MEMORY_MEANING["cpu_saved_for_backward+params+grads+adamw"]}
    assert table.groupby("model").params.nunique().eq(1).all()  # the model does not grow with L
    for model, group in table.groupby("model"):
        assert group.sort_values("seq_len").memory_bytes.is_monotonic_increasing, model
    slopes = pd.read_csv(tmp_path / "cost_slopes.csv")
    assert set(slopes.metric) == {"time", "memory"} and set(slopes.model) == set(table.model)
    assert "figure:" in capsys.readouterr().out
    from analysis import plots  # the figure is the report's: benchmarks write tables, analysis draws them
    plots.save(plots.cost_plot(table, slopes), tmp_path / "cost")
    assert (tmp_path / "cost.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "cost.pdf").exists()


def test_explicit_attention_saves_the_quadratic_weights_the_fused_kernel_does_not():
    def activations(name, length):  # bytes saved for backward: the step's memory without parameters and state
        row = cost.measure_training(name, length, 2, 1, torch.device("cpu"))
        return row["memory_bytes"] - row["state_bytes"]

    fused, explicit = (activations(name, 256) / activations(name, 64) for name in ("attention", "attention_explicit"))
    # x4 length: the fused kernel saves O(L) (measured 3.3; constant terms keep it under 4); the explicit path
    # keeps the (L, L) weights for backward (measured 5.1, growing to 9.5 from 256 to 1024)
    assert fused < 4.2 and explicit > 1.4 * fused


def test_lengths_that_would_overrun_the_budget_are_skipped_with_a_reason():
    rows = cost.sweep(["gru"], [8, 16, 32], batch_size=2, repeats=1, budget=1e-6, device=torch.device("cpu"),
                      memory_limit=2 ** 40, log=lambda line: None)
    assert list(rows.status) == ["measured", "skipped", "skipped"]
    assert "--budget-seconds" in rows.reason.iloc[1] and "longer than L=16" in rows.reason.iloc[2]


def test_extrapolation_uses_the_measured_slope():
    assert cost.extrapolate([(100, 1.0), (200, 4.0)], 400) == pytest.approx(16.0)  # slope 2
    assert cost.extrapolate([(100, 1.0)], 200) == pytest.approx(4.0)  # one point: assume quadratic
    reason = cost.skip_reason([{"seq_len": 100, "step_time_s": 0.1, "memory_bytes": 2 ** 30}], 200, 2, 100, 100,
                              100, 2 ** 31, torch.device("cpu"))
    assert "memory" in reason and "--max-memory-gb" in reason  # 4 GiB x transient margin > 2 GiB


def test_unknown_model_is_refused(tmp_path, capsys):
    assert cost.main(["--out", str(tmp_path), "--models", "transformerxl"]) == 2
    error = capsys.readouterr().err
    assert "transformerxl" in error and "allowed are" in error and "attention" in error


def test_inference_mode_measures_each_point_in_a_fresh_process(tmp_path):
    """Per sequence: the time of one forward pass over the batch and the rise of peak resident memory it
    causes; attention's memory grows faster with length than the GRU's."""
    code = cost.main(["--out", str(tmp_path), "--mode", "inference", "--lengths", "64,512", "--models",
                      "attention_explicit,gru", "--budget-seconds", "600", "--repeats", "1", "--batch-size", "4",
                      "--threads", "1"])
    assert code == 0
    table = pd.read_csv(tmp_path / "cost_inference.csv")
    assert (table.status == "measured").all() and set(table["mode"]) == {"inference"}
    assert set(table.memory_kind) == {"cpu_peak_rss_increase"} and (table.step_time_s > 0).all()
    growth = table.pivot_table(index="model", columns="seq_len", values="memory_bytes")
    assert growth.loc["attention_explicit", 512] > growth.loc["attention_explicit", 64]
    assert (tmp_path / "cost_inference_slopes.csv").exists()


def test_a_bad_mode_is_refused(tmp_path, capsys):
    assert cost.main(["--out", str(tmp_path), "--mode", "serve"]) == 2
    assert "--mode='serve'" in capsys.readouterr().err
