"""Synthetic result.json records whose right answer is known by construction, for the analysis tests.

They are built from harness.record's dataclasses and written by its writer, so the tests use the schema
instead of re-typing it. Validation histories come in a few shapes (see ``history``)."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np

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
           decisions_on: str = "val", reason: str = "diverged at step 3: non-finite loss",
           model_config: dict | None = None, task_config: dict | None = None, **fields) -> Record:
    """One run. ``curve``: distance -> test accuracy; ``val``: distance -> validation accuracy at the end (default:
    the test accuracy); the validation history has ``shape``, or is given per distance by ``curves``.
    ``model_config`` and ``task_config`` add to the run's config; ``fields`` set Record fields (state_size=...)."""
    distances = sorted(curve)
    trained = set(distances) - set(heldout) if trained is None else set(trained)
    val = dict(curve) if val is None else val
    key = f"{model}/{task}/{seed}/{protocol}/{distances}/{max_steps}/{lr}"
    key += f"/{sorted(fields.items())}/{model_config}/{task_config}" if fields or model_config or task_config else ""
    train = {"steps": max_steps, "lr": lr, "target_accuracy": 0.99, "val_sequences": 256 * (decisions_on == "val"),
             "eval_sequences": 512, "batch_size": 32}
    run = Record(
        schema_version=schema.SCHEMA_VERSION, status="running", model=model, task=task, seed=seed, protocol=protocol,
        lr=lr, train_distances=sorted(trained), heldout_distances=sorted(heldout), eval_distances=distances,
        chance_accuracy=CHANCE, memoryless_cross_entropy=None, params=1000, state_size=None, max_steps=max_steps,
        batch_size=32, seq_len=128, stop_when="target", target_accuracy=0.99, decisions_on=decisions_on,
        config_hash=f"{zlib.crc32(key.encode()):08x}", source_hash="0" * 12, source_files={}, git_commit=None,
        git_dirty=None, run_dir="", started_at="2026-01-01T00:00:00+0000",
        config={"train": train, "model": {"_target_": "models.fake.Model", **(model_config or {})},
                "task": {"_target_": "tasks.fake.Task", "seq_len": 128, **(task_config or {})}, "seed": seed},
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


# ---------------------------------------------------------------------------------------------- capacity


THRESHOLD = CHANCE + 0.9 * (1 - CHANCE)  # the window threshold at the default fraction
RAMP = 0.08  # accuracy lost per doubling of distance near the window: both straddling points stay inside (0, 1)
CAPACITY_DISTANCES = [2, 4, 8, 16, 32, 64, 128]
RECURRENT = "models.recurrent.RecurrentModel"  # state_size ignores seq_len
ATTENTION = "models.attention.AttentionModel"  # state_size is its key-value cache, growing with seq_len


def ramp(window: float, distances=CAPACITY_DISTANCES) -> dict[int, float]:
    """A curve whose effective window is exactly ``window``: linear in log2 distance through the threshold at
    ``window`` (slope RAMP per doubling), clipped to [chance, 1] away from it."""
    return {d: min(1.0, max(CHANCE, THRESHOLD + RAMP * (math.log2(window) - math.log2(d)))) for d in distances}


def ramp_history(windows: list[float], distances=CAPACITY_DISTANCES) -> dict[int, list[float]]:
    """Validation histories whose window at evaluation k is windows[k]."""
    curves = [ramp(w, distances) for w in windows]
    return {d: [curve[d] for curve in curves] for d in distances}


def sized_record(model: str, task: str, seed: int, state_size: int, window: float, windows: list[float] | None = None,
                 noise: dict[int, float] | None = None, target: str = RECURRENT, num_symbols: int = 8,
                 distances=CAPACITY_DISTANCES, task_config: dict | None = None, **options) -> Record:
    """A mixed-protocol run of one model size whose test (and validation) curve has window ``window``, plus
    ``noise`` (distance -> offset); its validation history has window ``windows[k]`` at evaluation k (default:
    the settled shape)."""
    curve = {d: min(1.0, max(0.0, a + (noise or {}).get(d, 0.0))) for d, a in ramp(window, distances).items()}
    curves = ramp_history(windows, distances) if windows else None
    return record(model, task, seed, curve, protocol="mixed", curves=curves, state_size=state_size,
                  params=100 * state_size, model_config={"_target_": target, "hidden_size": state_size},
                  task_config={"num_symbols": num_symbols, **(task_config or {})}, **options)


def centred_noise(seeds, scale: float, rng, distances=CAPACITY_DISTANCES) -> list[dict[int, float]]:
    """Per seed, an offset per distance, scattered by ``scale`` and centred over seeds, so the mean curve is exact."""
    offsets = rng.normal(0.0, scale, size=(len(seeds), len(distances)))
    offsets -= offsets.mean(axis=0)
    return [dict(zip(distances, row)) for row in offsets]


CAPACITY_ALPHA = 0.75
CAPACITY_SIZES = [16, 32, 64, 128, 256]  # window 0.5 * S^0.75: 4 to 32, inside the distances measured


def write_capacity_sweep(directory: Path, seeds=(0, 1, 2), alpha: float = CAPACITY_ALPHA, sizes=CAPACITY_SIZES,
                         extra: bool = True) -> list[Path]:
    """n-back (K = 8) for one recurrent family whose window is 0.5 * S^alpha exactly at ``sizes``, 3 seeds with
    centred noise; with ``extra``, three sizes the fit must leave out (2: < 2, 4096: >= 128, 512: budget-bound,
    its window still growing when the cap stopped it) and an attention family at two widths (never fitted)."""
    rng = np.random.default_rng(0)
    run_dirs = []
    for size in [*sizes, *([2, 4096] if extra else [])]:
        for seed, noise in zip(seeds, centred_noise(seeds, 0.003, rng)):
            run_dirs.append(write(directory, sized_record("gru", "nback", seed, size, 0.5 * size ** alpha,
                                                          noise=noise)))
    if extra:
        growing = [0.5 * 512 ** alpha * 2 ** ((k - 7) / 2) for k in range(8)]
        for seed in seeds:
            run_dirs.append(write(directory, sized_record("gru", "nback", seed, 512, growing[-1], windows=growing)))
        for d_model, window in ((16, 24.0), (32, 48.0)):
            for seed in seeds:
                run_dirs.append(write(directory, sized_record("attention", "nback", seed, 2 * 128 * d_model * 2,
                                                              window, target=ATTENTION)))
    return run_dirs
