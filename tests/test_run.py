"""run.py end to end: tiny real runs for every model, refusals of bad input, and a sign that learning works."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from conftest import MODEL_CONFIGS, TINY_TRAIN, execute_tiny, run_script

import run

RECORD_KEYS = {"schema_version", "status", "model", "task", "seed", "protocol", "train_distances", "eval_distances",
               "chance_accuracy", "params", "steps", "max_steps", "accuracy_by_distance", "history", "wall_time_s",
               "tokens_per_s", "device", "torch_threads", "torch_version", "python_version", "config",
               "config_hash", "run_dir"}


@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_tiny_run_writes_a_valid_result(model, outputs):
    record = execute_tiny([f"model={model}", "task.seq_len=16", "task.distances=3", "task.eval_distances=[3,9]"],
                          outputs, model_name=model, task_name="nback")
    stored = json.loads((outputs / "run" / "result.json").read_text())
    assert stored == record and record["status"] == "finished"
    assert RECORD_KEYS <= set(record)
    assert [row["distance"] for row in record["accuracy_by_distance"]] == [3, 9]
    assert [row["trained"] for row in record["accuracy_by_distance"]] == [True, False]
    assert all(0.0 <= row["accuracy"] <= 1.0 and row["n"] > 0 for row in record["accuracy_by_distance"])
    assert record["params"] > 0 and record["torch_threads"] == 1 and record["steps"] == 4
    assert record["config"]["model"]["_target_"].startswith("models.")
    assert (outputs / "run" / "model.pt").exists()
    assert not list((outputs / "run").glob(".*.tmp")), "temporary files must not be left behind"


def test_complete_result_is_skipped_and_force_reruns(outputs):
    first = execute_tiny(["task.seq_len=16", "task.distances=3"], outputs)
    again = execute_tiny(["task.seq_len=16", "task.distances=3"], outputs)
    assert again.get("skipped") and again["finished_at"] == first["finished_at"]
    forced = execute_tiny(["task.seq_len=16", "task.distances=3", "+force=true"], outputs)
    assert not forced.get("skipped")


def test_config_hash_ignores_where_and_how_a_run_executes():
    from conftest import compose_config
    base = run.config_hash(compose_config([]))
    assert base == run.config_hash(compose_config(["threads=1", "device=cpu", "name=other", "out_root=/elsewhere"]))
    assert base != run.config_hash(compose_config(["seed=1"]))
    assert base != run.config_hash(compose_config(["model.d_model=32"]))


def test_divergence_is_recorded_as_failure(outputs):
    record = execute_tiny(["task.seq_len=16", "task.distances=3", "train.lr=1e30", "train.grad_clip=1e30"], outputs)
    assert record["status"] == "failed" and record["reason"].startswith("diverged at step")
    stored = json.loads((outputs / "run" / "result.json").read_text())
    assert stored["status"] == "failed"


def test_single_run_through_the_cli(outputs):
    result = run_script(["run.py", *TINY_TRAIN, "task.seq_len=16", "task.distances=3", f"out_root={outputs}"])
    assert result.returncode == 0, result.stderr
    [result_file] = list(outputs.rglob("result.json"))
    assert result_file.parent.parent == outputs / "default"
    assert result_file.parent.name.startswith("attention_nback_")
    assert json.loads(result_file.read_text())["status"] == "finished"


def test_attention_learns_nback(outputs):
    """Proof that learning works at all: a small attention model solves 8-back far above chance (1/8)."""
    cfg_overrides = ["train=quick", "train.steps=300", "train.eval_every=50", "task.distances=8", "task.seq_len=64",
                     "threads=1"]
    from conftest import compose_config
    cfg = compose_config([*cfg_overrides, f"out_root={outputs}"])
    record = run.execute(cfg, outputs / "learn", "attention", "nback", multirun=True)
    [row] = record["accuracy_by_distance"]
    assert row["accuracy"] > 0.9, record["history"]


def test_gpu_settings_are_decided_correctly_without_a_gpu():
    """CI has no GPU: check the CUDA decisions on CPU. bf16 autocast goes to attention on CUDA only, and task
    data is made on the generator's device, whatever that device is."""
    from conftest import compose_config

    from tasks.base import data_generator

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    for model_name, expected in [("attention", True), ("sliding_window", True), ("gru", False), ("lstm", False)]:
        cfg = compose_config([f"model={model_name}"])
        task, model, settings = run.build(cfg)
        assert run.uses_bf16(settings, model, cuda) is expected
        assert run.uses_bf16(settings, model, cpu) is False
        assert run.uses_bf16(dataclasses.replace(settings, bf16=False), model, cuda) is False
    generator = data_generator("NBack", 0, "train", device="cpu")
    assert task.sample(2, generator).inputs.device == generator.device
