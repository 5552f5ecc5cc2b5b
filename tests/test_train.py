"""harness/train.py: learning works, stop reasons, live metrics, each distance on its own set, determinism, and a
training step free of host synchronisation (runs are driven through run.execute)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import pytest
import torch
from support import MODEL_CONFIGS, REPO, TASK_CONFIGS, TINY_TRAIN, compose_config, execute_tiny

import run
from harness import record as records
from harness import train
from harness.config import build
from harness.record import HistoryPoint


def test_attention_learns_nback(outputs):
    """Proof that learning works at all: a small attention model solves 8-back far above chance (1/8)."""
    cfg = compose_config(["train=quick", "train.steps=300", "train.eval_every=50", "task.distances=8",
                          "task.seq_len=64", "threads=1", f"out_root={outputs}"])
    record = run.execute(cfg, outputs / "learn", "attention", "nback", multirun=True).record
    [row] = record.accuracy_by_distance
    assert row.accuracy > 0.9, record.history


def test_gpu_settings_are_decided_correctly_without_a_gpu():
    """CI has no GPU: check the CUDA decisions on CPU. bf16 autocast goes to attention on CUDA only, and task
    data is made on the generator's device, whatever that device is."""
    from tasks.base import data_generator

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    for model_name, expected in [("attention", True), ("sliding_window", True), ("gru", False), ("lstm", False)]:
        built = build(compose_config([f"model={model_name}"]))
        assert train.uses_bf16(built.train, built.model, cuda) is expected
        assert train.uses_bf16(built.train, built.model, cpu) is False
        assert train.uses_bf16(dataclasses.replace(built.train, bf16=False), built.model, cuda) is False
    generator = data_generator("NBack", 0, "train", device="cpu")
    assert built.task.sample(2, generator, 8).inputs.device == generator.device


# ------------------------------------------------------------------------------------------------ stopping


CHANCE = 0.125  # n-back's, 8 symbols


def points(distance: int, curve: list[float], n: int = 4000, every: int = 100) -> list[HistoryPoint]:
    return [HistoryPoint((i + 1) * every, distance, a, n, a, n) for i, a in enumerate(curve)]


@pytest.fixture
def settled_plan():
    cfg = compose_config(["train.protocol=mixed", "task.distances=[4,8]", "train.stop_when=settled"])
    built = build(cfg, build_model=False)
    return built.plan, built.train


def test_stop_reason_target_when_every_trained_distance_is_solved(settled_plan):
    plan, train_cfg = settled_plan
    history = points(4, [0.5, 0.995]) + points(8, [0.5, 0.99])
    assert train.stop_reason(history, plan, train_cfg, CHANCE) == "target"
    assert train.stop_reason(points(4, [0.5, 0.995]) + points(8, [0.5, 0.9]), plan, train_cfg, CHANCE) is None


def test_stop_reason_settled_only_when_every_distance_stopped_rising(settled_plan):
    plan, train_cfg = settled_plan
    flat = [0.5, 0.6, 0.7, 0.70, 0.71, 0.70, 0.70, 0.71]
    rising = [0.5, 0.6, 0.7, 0.74, 0.78, 0.82, 0.86, 0.90]
    assert train.stop_reason(points(4, [1.0] * 8) + points(8, flat), plan, train_cfg, CHANCE) == "settled"
    assert train.stop_reason(points(4, [1.0] * 8) + points(8, rising), plan, train_cfg, CHANCE) is None
    assert train.stop_reason(points(4, flat) + points(8, flat), plan, dataclasses.replace(
        train_cfg, stop_when="target"), CHANCE) is None, "stop_when=target never stops for settling"
    assert train.stop_reason(points(4, [1.0] * 8) + points(8, flat), plan, dataclasses.replace(
        train_cfg, min_steps=900), CHANCE) is None, "not before min_steps"
    at_chance = [0.13, 0.12, 0.125, 0.12, 0.13, 0.125, 0.12, 0.13]
    assert train.stop_reason(points(4, at_chance) + points(8, at_chance), plan, train_cfg, CHANCE) is None, \
        "a run that has learned nothing is on a plateau or cannot learn: it goes on to the cap"


def test_incidental_positions_block_early_stopping(settled_plan):
    """A set whose planted distance is solved but whose other queries are not is not done (issue 14, item 9)."""
    plan, train_cfg = settled_plan
    half_done = [HistoryPoint(100, d, 1.0, 100, 0.35, 400) for d in (4, 8)]
    assert train.stop_reason(half_done, plan, train_cfg, CHANCE) is None


def test_a_planted_curve_that_visibly_rises_blocks_settling(settled_plan):
    """Brackets: every scored position at d=8 is flat at 0.96 (thousands of short-range closings), while the 64
    planted positions climb from 0.6 to 0.9: not settled. Once the planted curve is flat too, it settles."""
    plan, train_cfg = settled_plan
    climbing = [0.6, 0.62, 0.64, 0.7, 0.75, 0.8, 0.85, 0.9]
    solved = points(4, [1.0] * 8)
    history = solved + [HistoryPoint((i + 1) * 100, 8, a, 64, 0.96, 2589) for i, a in enumerate(climbing)]
    assert train.stop_reason(history, plan, train_cfg, CHANCE) is None
    flat = solved + [HistoryPoint((i + 1) * 100, 8, 0.8, 64, 0.96, 2589) for i in range(8)]
    assert train.stop_reason(flat, plan, train_cfg, CHANCE) == "settled"


def test_target_needs_the_planted_positions_too(settled_plan):
    plan, train_cfg = settled_plan
    history = points(4, [1.0, 1.0]) + [HistoryPoint(100, 8, 0.5, 64, 0.99, 2589), HistoryPoint(200, 8, 0.9, 64,
                                                                                                0.995, 2589)]
    assert train.stop_reason(history, plan, train_cfg, CHANCE) != "target"


# A GRU with a state of 2 numbers learns a little of 2-back and no more: it settles well above chance, below target.
TOO_SMALL = ["model=gru", "model.hidden_size=2", "train.lr=0.01", "task.seq_len=24", "train.eval_sequences=32",
             "train.val_sequences=32", "train.eval_every=10"]


@pytest.mark.parametrize("overrides, reason", [
    (["task.distances=2", "train.target_accuracy=0.2", "train.steps=40"], "target"),
    ([*TOO_SMALL, "task.distances=2", "train.stop_when=settled", "train.steps=600"], "settled"),
    (["task.distances=2", "train.stop_when=settled", "train.steps=20"], "cap"),
    (["task.distances=2", "train.stop_when=settled", "train.lr=1e-9", "train.steps=60"], "cap"),
])
def test_an_until_settled_run_stops_for_each_of_its_reasons(overrides, reason, outputs):
    """The last case: a model that learns nothing (lr 1e-9) is flat at chance, which is what a plateau before
    learning looks like: it is never called settled and trains to the cap."""
    record = execute_tiny(["task.seq_len=12", "train.eval_every=4", "train.warmup_steps=0", *overrides], outputs)
    assert record.status == "finished" and record.stop_reason == reason, record.history
    assert record.steps <= record.max_steps
    if reason == "settled":
        assert record.steps < record.max_steps


def test_metrics_grow_line_by_line_before_the_result_exists(outputs):
    """metrics.jsonl is written and flushed at every log and evaluation while the run trains."""
    command = [sys.executable, "run.py", "train=quick", "train.steps=3000", "train.eval_every=20", "train.log_every=5",
               "train.eval_sequences=8", "train.val_sequences=8", "task.seq_len=16", "task.distances=3",
               "threads=1", "train.target_accuracy=1.0", f"out_root={outputs}"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        seen, deadline = [], time.time() + 120
        while time.time() < deadline and len(set(seen) - {0}) < 3:  # three different non-zero line counts
            found = list(outputs.rglob(records.METRICS_FILE))
            if found:
                assert not (found[0].parent / "result.json").exists()
                seen.append(len(records.read_metrics(found[0])))
            time.sleep(0.2)
        assert len(set(seen) - {0}) >= 3 and seen == sorted(seen), seen
    finally:
        process.kill()
        process.wait()
    lines = records.read_metrics(found[0])
    assert {"step", "loss", "lr", "elapsed_s"} <= set(lines[0])
    assert any("val_accuracy" in line for line in lines)


def test_each_distance_is_judged_on_its_own_set(outputs):
    """The accuracy at a distance does not change when other distances are evaluated too (issue 14, item 10)."""
    alone = execute_tiny(["task=flipflop", "task.seq_len=32", "task.distances=8", "train.save_model=false"],
                         outputs / "a")
    together = execute_tiny(["task=flipflop", "task.seq_len=32", "task.distances=8", "task.eval_distances=[4,8,16]",
                             "train.save_model=false"], outputs / "b")
    score = {row.distance: row.accuracy for row in together.accuracy_by_distance}
    assert alone.accuracy_by_distance[0].accuracy == score[8]


# ------------------------------------------------------------------------------------------------ determinism


def test_same_config_seed_and_threads_give_bit_identical_results(tmp_path):
    overrides = [*TINY_TRAIN, "train.steps=12", "train.eval_every=4", "task.seq_len=16", "task.distances=3",
                 "task.eval_distances=[3,7]", "threads=1"]
    results, weights = [], []
    for attempt in ("first", "second"):
        cfg = compose_config([*overrides, f"out_root={tmp_path}"])
        results.append(run.execute(cfg, tmp_path / attempt, "attention", "nback", multirun=True).record)
        weights.append(torch.load(tmp_path / attempt / "model.pt", weights_only=True))
    first, second = results
    assert first.accuracy_by_distance == second.accuracy_by_distance
    assert first.history == second.history
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    for key in ("torch_threads", "torch_version", "python_version", "numpy_version", "hydra_version"):
        assert getattr(first, key), key
    assert first.torch_threads == 1


def test_a_different_seed_gives_different_weights(tmp_path):
    """The determinism test could pass vacuously if the seed did nothing; it does not."""
    paths = []
    for seed in (0, 1):
        cfg = compose_config([*TINY_TRAIN, "task.seq_len=16", "task.distances=3", f"seed={seed}",
                              f"out_root={tmp_path}"])
        run.execute(cfg, tmp_path / f"s{seed}", "attention", "nback", multirun=True)
        paths.append(tmp_path / f"s{seed}" / "model.pt")
    a, b = (torch.load(p, weights_only=True) for p in paths)
    assert not all(torch.equal(a[name], b[name]) for name in a)


# ------------------------------------------------------------------------------------------------ host syncs

@pytest.mark.parametrize("task_name", TASK_CONFIGS)
@pytest.mark.parametrize("model_name", MODEL_CONFIGS)
def test_training_steps_issue_no_host_sync(task_name, model_name, sync_counter):
    cfg = compose_config([f"task={task_name}", f"model={model_name}", "train.batch_size=4", "threads=1",
                          "train.protocol=dense", "task.distances=[8,16]"])
    built = build(cfg)
    step = train.TrainingStep(built.task, built.model, built.train, built.plan, seed=0, device=torch.device("cpu"))
    step(1)  # the first call may validate and cache the mixture of distances
    for key in sync_counter:
        sync_counter[key] = 0
    for index in range(2, 5):
        step(index)
    assert sum(sync_counter.values()) == 0, f"host syncs inside training steps: {sync_counter}"
    step.drain()
    assert sum(sync_counter.values()) >= 1, "drain() syncs once: the counter must see it, or it sees nothing"
