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
from tasks.base import IGNORE


def test_attention_learns_nback(outputs):
    """Proof that learning works at all: a small attention model solves 8-back far above chance (1/8)."""
    cfg = compose_config(["train=quick", "train.rungs=[300]", "train.eval_every=50", "task.distances=8",
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


def points(distance: int, curve: list[float], n: int = 4000, every: int = 100) -> list[HistoryPoint]:
    return [HistoryPoint((i + 1) * every, distance, a, n, a, n) for i, a in enumerate(curve)]


@pytest.fixture
def mixed_plan():
    return build(compose_config(["train.protocol=mixed", "task.distances=[4,8]"]), build_model=False).plan


def test_target_when_every_trained_distance_is_solved(mixed_plan):
    assert train.at_target(points(4, [0.5, 0.995]) + points(8, [0.5, 0.99]), mixed_plan, 0.99)
    assert not train.at_target(points(4, [0.5, 0.995]) + points(8, [0.5, 0.9]), mixed_plan, 0.99)


def test_incidental_positions_block_the_target(mixed_plan):
    """A set whose planted distance is solved but whose other queries are not is not done."""
    half_done = [HistoryPoint(100, d, 1.0, 100, 0.35, 400) for d in (4, 8)]
    assert not train.at_target(half_done, mixed_plan, 0.99)


def test_target_needs_the_planted_positions_too(mixed_plan):
    history = points(4, [1.0, 1.0]) + [HistoryPoint(100, 8, 0.5, 64, 0.99, 2589), HistoryPoint(200, 8, 0.9, 64,
                                                                                                0.995, 2589)]
    assert not train.at_target(history, mixed_plan, 0.99)


# A one-layer sliding window of 2 sees one step back: recall at distance 1 solved, 2..4 at chance, unchanged.
SHORT_REACH = ["task=recall", "task.instances=2", "task.distances=[1,4]", "train.protocol=dense", "train.heldout=none",
               "model=sliding_window", "model.window=2", "model.n_layers=1", "model.d_model=32", "train.lr=0.003",
               "train.val_sequences=128", "train.eval_sequences=32", "train.eval_every=50"]


@pytest.mark.parametrize("overrides, reason, verdict", [
    (["task.distances=2", "train.target_accuracy=0.2", "train.rungs=[40]"], "target", "target"),
    ([*SHORT_REACH, "train.rungs=[100,200,400,800,1600]"], "decided", "measured"),
    (["task.distances=2", "train.lr=1e-9", "train.rungs=[20,40]"], "top", "not_learned"),
    (["task.distances=2", "train.rungs=[20,40,80]", "train.climb_to=20"], "paused", "climbing"),
])
def test_a_run_stops_for_each_of_its_reasons(overrides, reason, verdict, outputs):
    """A model that learns nothing (lr 1e-9) is flat at chance, which is what a plateau before learning looks
    like: it is never decided below the top, and at the top it is not_learned. Every run scores its test sets
    at every rung, and keeps its checkpoint unless it reached its target (a rule may send any other higher)."""
    record = execute_tiny(["task.seq_len=12", "train.eval_every=4", "train.warmup_steps=0", *overrides], outputs)
    assert record.status == "finished" and (record.stop_reason, record.verdict) == (reason, verdict), \
        [(r.step, r.curve) for r in record.rung_results]
    assert record.steps <= record.max_steps and record.trained_steps == record.steps
    assert record.accuracy_by_distance and all(rung.test for rung in record.rung_results)
    assert (outputs / "run" / "checkpoint.pt").exists() is (reason != "target")
    if reason == "decided":
        assert record.steps < record.max_steps and len(record.rung_results) >= 2


def test_a_run_continued_up_the_ladder_equals_one_trained_straight_through(tmp_path):
    """Paused at a rung (train.climb_to), continued later: the same record and weights as one run straight to
    the top at the same thread count. The rungs are outside the config hash, so it is the same run."""
    overrides = ["task=recall", "task.seq_len=32", "task.distances=[4,8]", "train.protocol=dense",
                 "train.rungs=[6,12,24]", "train.eval_every=3", "train.checkpoint_every=5", "train.lr=0.003",
                 "train.target_accuracy=1.0"]
    straight = execute_tiny(overrides, tmp_path / "straight")
    first = execute_tiny([*overrides, "train.climb_to=6"], tmp_path / "climbed")
    assert first.steps == 6 and first.stop_reason == "paused"
    second = execute_tiny([*overrides, "train.climb_to=12"], tmp_path / "climbed")
    continued = execute_tiny(overrides, tmp_path / "climbed")
    assert second.resumed_from == [6] and continued.resumed_from == [6, 12]
    assert continued.rung_results == straight.rung_results and continued.history == straight.history
    assert continued.accuracy_by_distance == straight.accuracy_by_distance
    weights = [torch.load(d / "run" / "model.pt", weights_only=True) for d in (tmp_path / "straight",
                                                                                tmp_path / "climbed")]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


@pytest.mark.parametrize("task_name", ["assoc_recall", "flipflop", "selective_copy", "brackets", "recall"])
def test_incidental_dependencies_at_held_out_distances_carry_no_loss(task_name):
    """Brute force: the loop's own training batches, read back by tests/test_tasks_catalog.py's readers. Only
    the planted dependency avoided the held-out distances; incidental ones (other reads, queries, closings)
    kept their natural distances and carried loss at 11, 23, 45 and 91. Every position the reader finds at a
    held-out distance is unscored; every other one keeps the reader's target."""
    from test_tasks_catalog import CASES

    built = build(compose_config([f"task={task_name}", "experiment=context_window", "train.batch_size=64"]))
    heldout = set(built.plan.heldout)
    assert heldout == {11, 23, 45, 91}
    step = train.TrainingStep(built.task, built.model, built.train, built.plan, 0, torch.device("cpu"))
    read, masked = CASES[task_name][0], 0
    for _ in range(3):
        inputs, targets = step.batch()
        for sequence, scored in zip(inputs.tolist(), targets.tolist()):
            expected, distances = read(built.task, sequence)
            for target, want, distance in zip(scored, expected, distances):
                assert target == (IGNORE if distance in heldout else want)
                masked += distance in heldout
    assert masked > 0 or task_name == "recall", "no incidental position at a held-out distance: a vacuous test"


def test_metrics_grow_line_by_line_before_the_result_exists(outputs):
    """metrics.jsonl is written and flushed at every log and evaluation while the run trains."""
    command = [sys.executable, "run.py", "train=quick", "train.rungs=[3000]", "train.eval_every=20",
               "train.log_every=5", "train.eval_sequences=8", "train.val_sequences=8", "task.seq_len=16",
               "task.distances=3", "threads=1", "train.target_accuracy=1.0", f"out_root={outputs}"]
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
    overrides = [*TINY_TRAIN, "train.rungs=[12]", "train.eval_every=4", "task.seq_len=16", "task.distances=3",
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


def test_learned_positions_past_their_table_are_recorded_as_cannot(outputs):
    """train.extrapolate asks a model with learned positions for longer inputs than it has rows: the run finishes,
    records why it cannot, and scores nothing past its length (never a crash, never a zero)."""
    record = execute_tiny(["task=recall", "task.seq_len=32", "train.protocol=dense", "task.distances=[4,8,16]",
                           "model.positional=learned", "train.extrapolate=[32]", "train.target_accuracy=0.01"],
                          outputs)
    assert record.status == "finished" and "exceeds the 32 positions this model learned" in record.cannot
    assert all(row.length is None for row in record.accuracy_by_distance) and record.accuracy_by_distance
    assert all(rung.beyond == [] for rung in record.rung_results)


def test_distances_past_training_are_scored_at_every_rung_and_on_the_test_sets(outputs):
    record = execute_tiny(["task=recall", "task.seq_len=32", "train.protocol=dense", "task.distances=[4,8,16]",
                           "train.extrapolate=[32,64]"], outputs)
    assert record.cannot is None
    past = [(row.distance, row.length, row.beyond, row.trained) for row in record.accuracy_by_distance
            if row.length is not None]
    assert past == [(32, 47, True, False), (64, 79, True, False), (4, 79, False, True), (8, 79, False, True),
                    (16, 79, False, True)]
    assert all([(p[0], p[1]) for p in rung.beyond] == [(32, 47), (64, 79), (4, 79), (8, 79), (16, 79)]
               for rung in record.rung_results)
