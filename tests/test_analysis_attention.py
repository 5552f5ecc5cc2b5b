"""analysis.attention on a really trained model: the maps show the weights the model uses to find its answer."""

from __future__ import annotations

import json

import pandas as pd
import torch
from synthetic_runs import run, write

from analysis import attention

QUICK = ["train.warmup_steps=50", "train.eval_every=50", "train.log_every=50"]  # conf/train/quick.yaml's schedule


def test_trained_attention_on_recall_puts_most_of_the_query_mass_on_the_marked_token(tmp_path, capsys, tiny_run):
    """A 2-layer attention model trained on recall (seq_len 32, distance 8, one rung of 300 steps, the quick
    schedule) solves it within 100 steps and stops at its target, and its query puts most of its attention on the
    marked value token, 8 steps back: the maps and the mass are the weights the model computes with, not a picture
    of something else.

    Measured on seeds 0-4: accuracy 1.0 after 100 steps, and the best head of layer 1 puts 0.76-0.99 of the
    query's mass on the value token (uniform attention would put about 0.04 there). At one training distance the
    lookup is a fixed relative offset, which RoPE lets the first layer learn directly; layer 2 spreads its
    attention. So the test asserts on the best layer and head, not on the last layer."""
    result = tiny_run(["task=recall", "task.seq_len=32", "task.distances=8", "train.rungs=[300]",
                       "train.eval_sequences=128", *QUICK], tmp_path, "attention", "recall")
    assert result.complete and result.stop_reason == "target" and result.accuracy_by_distance[0].accuracy > 0.95

    assert attention.main([str(tmp_path / "run"), "--sequences", "64"]) == 0
    out = capsys.readouterr().out
    assert "maps:" in out and "mass_csv:" in out
    mass = pd.read_csv(tmp_path / "run" / "attention_mass.csv")
    assert set(mass.layer) == {1, 2} and set(mass["head"]) == {1, 2, 3, 4} and set(mass.distance) == {8}
    assert (mass.n_positions == 64 * 4).all()  # recall scores task.instances = 4 queries per sequence
    best = mass.loc[mass.mass_on_answer.idxmax()]
    assert best.mass_on_answer > 0.5 and best.mass_on_answer > 5 * best.uniform_baseline
    for name in ["attention_maps.png", "attention_maps.pdf", "attention_mass.png", "attention_mass.pdf"]:
        assert (tmp_path / "run" / name).stat().st_size > 0

    # the position the weights point at is where the answer comes from: change the token there, the answer follows
    _, task, model = attention.load_run(tmp_path / "run")
    batch = attention.test_set(task, result, 8)
    rows, queries = torch.nonzero(batch.distance[:64] >= 0, as_tuple=True)
    changed, sources = batch.inputs[:64].clone(), queries - 8
    changed[rows, sources] += 1 - task.num_symbols * ((changed[rows, sources] - task.marked) % task.num_symbols
                                                      == task.num_symbols - 1)  # the next value, same instance
    with torch.inference_mode():
        predicted = model(changed).argmax(-1)[rows, queries]
    assert (predicted == task.answer_from_source(changed, rows, sources, queries)).float().mean() > 0.9


def test_non_attention_run_is_refused_with_a_clear_message(tmp_path, capsys):
    gru = run("gru", "recall", 0, [{8: 1.0}], protocol="per_distance",
              model_config={"_target_": "models.recurrent.RecurrentModel"})
    run_dir = write(tmp_path, gru)
    assert attention.main([str(run_dir)]) == 2
    error = capsys.readouterr().err
    assert "'gru'" in error and "no attention weights" in error and "model=attention" in error


def test_run_without_saved_weights_is_refused(tmp_path, capsys, tiny_run):
    tiny_run(["task.seq_len=16", "task.distances=3", "train.save_model=false"], tmp_path, "attention", "nback")
    assert attention.main([str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "no model.pt" in error and "train.save_model" in error


def test_distance_the_run_was_not_evaluated_at_is_refused(tmp_path, capsys, tiny_run):
    tiny_run(["task.seq_len=16", "task.distances=3"], tmp_path, "attention", "nback")
    assert attention.main([str(tmp_path / "run"), "--distance", "5"]) == 2
    assert "--distance=5" in capsys.readouterr().err
    stored = json.loads((tmp_path / "run" / "result.json").read_text())
    assert stored["model"] == "attention"  # nothing was rewritten
