"""Synthetic result.json records whose right answer is known by construction, for the analysis tests.

They are built from harness.record's dataclasses and written by its writer, so the tests use the schema
instead of re-typing it. Validation histories come in a few shapes (see ``history``)."""

from __future__ import annotations

import zlib
from pathlib import Path

from harness import record as schema
from harness.record import DistanceScore, HistoryPoint, Record

CHANCE = 0.125
EVALUATIONS = 8  # evaluations per run, evenly spaced up to the run's last step
ENVIRONMENT = dict(device="cpu", torch_threads=1, torch_version="2.13.0", python_version="3.11.9",
                   numpy_version="2.3.0", hydra_version="1.3.2", omegaconf_version="2.3.0", hostname="test",
                   cpu="x86_64", cuda_device=None, cudnn_version=None)


def history(final: float, shape: str) -> list[float]:
    """Validation accuracy at each evaluation, ending at ``final``.

    settled: chance for two evaluations, then flat at final. rising: a straight line from chance to final, so
    it is still climbing when training stops. flat: final with noise of +-0.03 that has no trend."""
    if shape == "settled":
        return [CHANCE] * 2 + [final] * (EVALUATIONS - 2)
    if shape == "rising":
        return [CHANCE + (final - CHANCE) * k / EVALUATIONS for k in range(1, EVALUATIONS + 1)]
    if shape == "flat":
        return [min(1.0, max(0.0, final + 0.03 * s)) for s in [1, -1, -1, 1] * (EVALUATIONS // 4)]
    raise ValueError(f"shape={shape!r}: allowed are settled, rising, flat")


def record(model: str, task: str, seed: int, curve: dict[int, float], protocol: str = "per_distance",
           trained: set[int] | None = None, heldout: set[int] = frozenset(), status: str = "finished",
           max_steps: int = 400, lr: float = 1e-3, val: dict[int, float] | None = None, shape: str = "settled",
           curves: dict[int, list[float]] | None = None, stop_reason: str = "cap", n: int = 1000,
           decisions_on: str = "val", reason: str = "diverged at step 3: non-finite loss", **fields) -> Record:
    """One run. ``curve``: distance -> test accuracy; ``val``: distance -> validation accuracy at the end (default:
    the test accuracy); the validation history has ``shape``, or is given per distance by ``curves``."""
    distances = sorted(curve)
    trained = set(distances) - set(heldout) if trained is None else set(trained)
    val = dict(curve) if val is None else val
    key = f"{model}/{task}/{seed}/{protocol}/{distances}/{max_steps}/{lr}"
    train = {"steps": max_steps, "lr": lr, "target_accuracy": 0.99, "val_sequences": 256 * (decisions_on == "val"),
             "eval_sequences": 512, "batch_size": 32}
    run = Record(
        schema_version=schema.SCHEMA_VERSION, status="running", model=model, task=task, seed=seed, protocol=protocol,
        lr=lr, train_distances=sorted(trained), heldout_distances=sorted(heldout), eval_distances=distances,
        chance_accuracy=CHANCE, memoryless_cross_entropy=None, params=1000, state_size=None, max_steps=max_steps,
        batch_size=32, seq_len=128, stop_when="target", target_accuracy=0.99, decisions_on=decisions_on,
        config_hash=f"{zlib.crc32(key.encode()):08x}", source_hash="0" * 12, source_files={}, git_commit=None,
        git_dirty=None, run_dir="", started_at="2026-01-01T00:00:00+0000",
        config={"train": train, "model": {"_target_": "models.fake.Model"},
                "task": {"_target_": "tasks.fake.Task", "seq_len": 128}, "seed": seed},
        **ENVIRONMENT)
    if status != "finished":
        return run.fail(reason, 1.0)
    measured = val if decisions_on == "val" else curve  # the stream behind the history
    curves = curves or {d: history(measured[d], shape) for d in distances}
    count = len(curves[distances[0]])
    steps = [max_steps * k // count for k in range(1, count + 1)]
    points = [HistoryPoint(step, d, accuracy, n, accuracy, n) for d in distances for step, accuracy in
              zip(steps, curves[d])]
    scores = [DistanceScore(d, curve[d], n, d in trained, d in heldout, val[d] if decisions_on == "val" else None,
                            n * (decisions_on == "val")) for d in distances]
    finished = run.finish(steps=steps[-1], stop_reason=stop_reason, accuracy_by_distance=scores, history=points,
                          wall_time_s=1.0, train_time_s=1.0, tokens_per_s=1.0)
    finished.finished_at = "2026-01-01T00:01:00+0000"
    for name, value in fields.items():
        setattr(finished, name, value)
    return finished


def write(directory: Path, run: Record) -> Path:
    """Write a record to directory/<model>_<task>_<hash>/result.json, as run.py lays runs out."""
    run_dir = Path(directory) / f"{run.model}_{run.task}_{run.config_hash}"
    run_dir.mkdir(parents=True, exist_ok=True)
    run.run_dir = str(run_dir)
    schema.write(run)
    return run_dir


def write_per_distance(directory: Path, model: str, task: str, seed: int, curve: dict[int, float], **options) -> list:
    """A per_distance sweep: one run per distance, as `-m task.distances=...` makes them."""
    return [write(directory, record(model, task, seed, {d: a}, **options)) for d, a in curve.items()]


SMALL_SWEEP_CURVES = {"attention": [1.0, 1.0, 1.0, 1.0], "gru": [1.0, 1.0, 0.5, CHANCE],
                      "lstm": [1.0, 0.95, 0.6, CHANCE]}


def write_small_sweep(directory: Path, seeds=(0, 1)) -> list[Path]:
    """nback per distance (2, 4, 8, 16) for three models and ``seeds``, plus a mixed-protocol recall run per model
    trained on 2 and 4 only (8 and 16 are extrapolation). Every history settles."""
    run_dirs = []
    for model, accuracies in SMALL_SWEEP_CURVES.items():
        curve = dict(zip([2, 4, 8, 16], accuracies))
        for seed in seeds:
            run_dirs += write_per_distance(directory, model, "nback", seed, curve)
        run_dirs.append(write(directory, record(model, "recall", 0, curve, protocol="mixed", trained={2, 4})))
    return run_dirs
