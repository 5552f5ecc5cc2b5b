"""Calibration: a control whose true window is known comes out right, to one step, on every seed.

A one-layer sliding window of w sees exactly w - 1 steps back. On recall, which can place a value at any
distance, its window must be located at w - 1 with resolution 1 (an interpolating rule printed 8.6 for w = 16:
a step from 1.0 at 8 to chance at 16 on a x2 grid). The same control at w = 16, trained for real, is
experiment=calibration; this is its small, fast twin."""

from __future__ import annotations

import pytest
from support import compose_config

import run

WINDOW = 4  # sees itself and the 3 positions before it
SMALL = ["task=recall", "task.instances=4", "task.seq_len=28", "task.distances=[2,4,8,16]", "model=sliding_window",
         f"model.window={WINDOW}", "model.n_layers=1", "model.d_model=32", "train=quick", "train.protocol=dense",
         "train.heldout=none", "train.rungs=[100,200,400,800]", "train.eval_every=50", "train.lr=0.003",
         "train.val_sequences=128", "train.eval_sequences=64", "threads=1"]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_one_layer_sliding_window_is_located_at_its_reach(seed, tmp_path):
    record = run.execute(compose_config([*SMALL, f"seed={seed}", f"out_root={tmp_path}"]), tmp_path / "run",
                         "sliding_window", "recall", multirun=True).record
    assert record.verdict == "measured", [(r.step, r.curve) for r in record.rung_results]
    assert record.window_text() == str(WINDOW - 1), record.accuracy_by_distance
    curve = {row.distance: row.accuracy for row in record.accuracy_by_distance}
    assert all(curve[d] > 0.95 for d in range(2, WINDOW)) and all(curve[d] < 0.5 for d in range(WINDOW, 17))
