"""Synthetic result.json records (schema 4) whose right answer is known by construction, for the analysis tests.

A run is given as its validation curve at each rung end it reached (``rungs``, distance -> accuracy) and its
test curve; everything else follows harness/train.py, so every record is one the loop could have written:

- the verdict at each rung is harness.verdict.decide_run's on the validation curves so far;
- a run stops climbing at its first rung that is not ``climbing`` (rungs given past it are refused, unless
  ``beyond_final`` says the run trained on under another rule);
- a run whose last rung is still ``climbing`` was paused there (train.climb_to): stop_reason ``paused``;
- the test curve is scored at every rung: ``test`` at the last, the validation curve at the others;
- the judgment (verdict, stop_reason, the rung read at) is harness.record.judged's; the history holds the
  evaluated distances at every rung end.

The tests state the expected answers themselves; these helpers only build and write the records. The
curves come in a few shapes: ``step`` (1.0 up to a window, chance past it) and ``ramp``."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

from harness import record as schema
from harness import verdict
from harness.record import HistoryPoint, Record, RungResult

CHANCE = 0.125
THRESHOLD = CHANCE + verdict.FRACTION * (1 - CHANCE)  # 0.9125, the default window threshold
LADDER = [250, 500, 1000, 2000, 4000]  # the budget ladder, in steps; the last is the top
N = 256  # scored positions per distance, on validation and on test
BATCH = 32
MARGIN = 8  # a distance past training is scored in a sequence of d + MARGIN tokens (harness.config.plan_beyond)
ENVIRONMENT = dict(device="cpu", torch_threads=1, torch_version="2.13.0", python_version="3.11.9",
                   numpy_version="2.3.0", hydra_version="1.3.2", omegaconf_version="2.3.0", hostname="test",
                   cpu="x86_64", cuda_device=None, cudnn_version=None)


def fine(low: int, high: int) -> list[int]:
    """Every distance from low to high: a fine curve, as dense and mixed runs record it."""
    return list(range(low, high + 1))


def step(window: int, distances, high: float = 1.0, low: float = CHANCE) -> dict[int, float]:
    """``high`` up to and including ``window``, ``low`` past it: a hard limit, as a sliding window has."""
    return {d: high if d <= window else low for d in distances}


def ramp(window: int, distances, per_doubling: float = 0.08) -> dict[int, float]:
    """Through the threshold at ``window`` exactly: at it, just above; at the next distance, below; linear in
    log2 distance (``per_doubling`` lost per doubling), clipped to [chance, 1]."""
    return {d: min(1.0, max(CHANCE, THRESHOLD + 1e-9 + per_doubling * (math.log2(window) - math.log2(d))))
            for d in distances}


def midpoints(listed) -> list[int]:
    """train.heldout=auto: the rounded geometric midpoint of each pair of neighbouring listed distances."""
    return sorted({round(math.sqrt(a * b)) for a, b in zip(listed, listed[1:])} - set(listed))


def replay(curves: list[list[verdict.Point]], ladder, chance: float, at_target: bool,
           beyond_final: bool = False) -> list[verdict.RunDecision]:
    """harness.train's decision at every rung end, refusing rungs the loop would never have reached (unless
    ``beyond_final``: the run trained on under another rule, and the record keeps that evidence)."""
    decisions = []
    for k in range(len(curves)):
        if decisions and decisions[-1].verdict != "climbing" and not beyond_final:
            raise ValueError(f"the loop stopped this run at rung {ladder[k - 1]} ({decisions[-1].verdict}): "
                             f"no rung {ladder[k]}")
        decisions.append(verdict.decide_run(curves[:k + 1], chance, top=ladder[k] >= ladder[-1],
                                            at_target=at_target and k == len(curves) - 1))
    return decisions


def run(model: str, task: str, seed: int, rungs: list[dict[int, float]], test: dict[int, float] | None = None, *,
        ladder=LADDER, protocol: str = "dense", listed=None, heldout=None, at_target: bool = False,
        status: str = "finished", lr: float = 1e-3, n: int = N, val_n: int | None = None, chance: float = CHANCE,
        history: dict[int, list[float]] | None = None, reason: str = "diverged at step 3: non-finite loss",
        model_config: dict | None = None, task_config: dict | None = None, past: list[dict[int, float]] | None = None,
        positions: dict[int, float] | None = None, cannot: str | None = None, beyond_final: bool = False,
        **fields) -> Record:
    """One run. ``rungs``: its validation curve at each rung end it reached, every distance of its fine curve;
    ``test``: its test curve at the last rung (default: the last validation curve). ``listed``:
    task.distances (default: the powers of two on the curve); ``heldout``: default train.heldout=auto for dense
    and mixed. ``n`` / ``val_n``: scored positions per distance of test / validation. ``history``: distance ->
    validation accuracy at evaluations evenly spaced up to the last step (default: the rung curves at each rung
    end). ``past``: its validation curve past the longest trained distance at each rung (train.extrapolate), each
    distance scored at length d + MARGIN, and on test the last one; ``positions``: trained distance -> accuracy
    at the longest of those lengths (positions only), at every rung and on test; ``cannot``: the model could
    not take the longer inputs (no rows past training). ``fields`` set Record fields (state_size=...)."""
    distances = sorted(rungs[0]) if rungs else sorted(test or {})
    listed = sorted(listed or [d for d in distances if d & (d - 1) == 0] or distances)
    if protocol == "per_distance":
        heldout, trained = [], listed
    else:
        heldout = sorted(midpoints(listed) if heldout is None else heldout)
        trained = [d for d in distances if d not in heldout] if protocol == "dense" else listed
    evaluated = sorted(set(listed) | set(heldout))
    val_n = n if val_n is None else val_n
    key = f"{model}/{task}/{seed}/{protocol}/{distances}/{listed}/{lr}/{model_config}/{task_config}"
    key += f"/{sorted(fields.items())}"
    train = {"rungs": list(ladder), "lr": lr, "protocol": protocol, "batch_size": BATCH, "schedule": "constant",
             "target_accuracy": 0.99, "val_sequences": 64, "eval_sequences": 64}
    started = Record(
        schema_version=schema.SCHEMA_VERSION, status="running", model=model, task=task, seed=seed, protocol=protocol,
        lr=lr, train_distances=trained, heldout_distances=heldout, eval_distances=evaluated, fine_distances=distances,
        chance_accuracy=chance, memoryless_cross_entropy=None, params=1000, state_size=None,
        state_grows_with_length=None, rungs=list(ladder), max_steps=ladder[-1], batch_size=BATCH, seq_len=136,
        schedule="constant", target_accuracy=0.99, config_hash=f"{zlib.crc32(key.encode()):08x}",
        source_hash="0" * 12, source_files={}, git_commit=None, git_dirty=None, run_dir="",
        started_at="2026-01-01T00:00:00+0000", config={
            "train": train, "seed": seed, "model": {"_target_": "models.fake.Model", **(model_config or {})},
            "task": {"_target_": "tasks.fake.Task", "distances": listed, **(task_config or {})}}, **ENVIRONMENT)
    for name, value in fields.items():
        setattr(started, name, value)
    if status != "finished":
        return started.fail(reason, 1.0)
    curves = [[verdict.Point(d, curve[d], val_n) for d in distances] for curve in rungs]
    replay(curves, ladder, chance, at_target, beyond_final)
    steps = ladder[len(rungs) - 1]
    longest = max(past[0]) + MARGIN if past else None
    beyond = [[[d, d + MARGIN, a, val_n, ""] for d, a in sorted(curve.items())]
              + [[d, longest, a, val_n, ""] for d, a in sorted((positions or {}).items())] for curve in past or []]
    tests = [dict(curve) for curve in rungs[:-1]] + [dict(rungs[-1]) if test is None else test]
    results = [RungResult(ladder[k], [list(p) for p in curves[k]], [[d, tests[k][d], n] for d in distances],
                          at_target and k == len(rungs) - 1, beyond[k] if beyond else [],
                          [row[:3] + [n] for row in beyond[k]] if beyond else [])
               for k in range(len(rungs))]
    if history is None:
        points = [HistoryPoint(ladder[k], d, curve[d], val_n, curve[d], val_n)
                  for k, curve in enumerate(rungs) for d in evaluated]
    else:
        count = len(next(iter(history.values())))
        points = [HistoryPoint(steps * (k + 1) // count, d, accuracy, val_n, accuracy, val_n)
                  for d, accuracies in sorted(history.items()) for k, accuracy in enumerate(accuracies)]
    finished = started.finish(trained_steps=steps, history=points, rung_results=results, wall_time_s=1.0,
                              train_time_s=1.0, tokens_per_s=1.0, cannot=cannot)
    finished.finished_at = "2026-01-01T00:01:00+0000"
    return schema.judged(finished)


def write(directory: Path, record: Record) -> Path:
    """Write a record to directory/<model>_<task>_<hash>/result.json, as run.py lays runs out."""
    run_dir = Path(directory) / f"{record.model}_{record.task}_{record.config_hash}"
    run_dir.mkdir(parents=True, exist_ok=True)
    record.run_dir = str(run_dir)
    schema.write(record)
    return run_dir


def write_per_distance(directory: Path, model: str, task: str, seed: int, rungs: list[dict[int, float]],
                       **options) -> list[Path]:
    """A per_distance sweep: one run per distance (as `-m task.distances=...` makes them), each climbing the
    ladder on its own one-point curve; ``rungs`` gives the whole curve at each rung end, and each run stops at
    its own first final rung."""
    run_dirs = []
    for d in sorted(rungs[0]):
        curves = [{d: curve[d]} for curve in rungs]
        for k in range(len(curves)):  # the loop's own stop: the first rung that is not climbing
            points = [[verdict.Point(d, c[d], options.get("val_n", options.get("n", N)))] for c in curves[:k + 1]]
            top = options.get("ladder", LADDER)
            if verdict.decide_run(points, options.get("chance", CHANCE), top=top[k] >= top[-1]).verdict != "climbing":
                curves = curves[:k + 1]
                break
        run_dirs.append(write(directory, run(model, task, seed, curves, protocol="per_distance", **options)))
    return run_dirs


# ---------------------------------------------------------------------------------------------- the small sweep


RECALL = fine(8, 32)  # dense recall: listed 8, 16, 32; held out 11 and 23
NBACK = [8, 16, 32]  # n-back per distance: one run per lag, a x2 grid
SMALL_SWEEP = {  # model -> (recall's validation curve at each rung, n-back's at each rung)
    "attention": ([step(32, RECALL)], [step(32, NBACK)] * 5),  # at least 32 at the first rung
    "gru": ([step(15, RECALL)] * 3, [step(16, NBACK)] * 5),  # recall measured 15 at 1000; n-back 16, to 16 steps
    "lstm": ([step(w, RECALL) for w in (8, 10, 13, 16, 19)],  # still moving at the top
             [{8: 1.0, 16: a, 32: CHANCE} for a in (0.45, 0.5, 0.55, 0.6, 0.6)]),
}


def write_small_sweep(directory: Path, seeds=(0, 1)) -> list[Path]:
    """Three models, ``seeds``, on dense recall over 8..32 (one run each) and per_distance n-back at 8, 16, 32.

    recall: attention at least 32 (at rung 250), gru measured 15 (at 1000, unchanged over 3 rungs), lstm
    budget-bound (its window still moving at 4000). n-back: attention at least 32; gru measured 16, to 16 steps
    (its run at 32 never leaves chance: not_learned); lstm budget-bound (16 at 0.6, on too few positions to
    show it stopped)."""
    run_dirs = []
    for model, (recall, nback) in SMALL_SWEEP.items():
        for seed in seeds:
            run_dirs.append(write(directory, run(model, "recall", seed, recall)))
            run_dirs += write_per_distance(directory, model, "nback", seed, nback)
    return run_dirs


# ---------------------------------------------------------------------------------------------- capacity


RECURRENT = "models.recurrent.RecurrentModel"
CAPACITY_DISTANCES = fine(4, 128)
CAPACITY_SIZES = [16, 64, 256, 1024]
CAPACITY_ALPHA = 0.5  # window = 2 * S^0.5: 8, 16, 32, 64 at CAPACITY_SIZES, all on the fine curve


def law(size: int, alpha: float = CAPACITY_ALPHA) -> int:
    return round(2 * size ** alpha)


def sized_run(model: str, task: str, seed: int, state_size: int, rungs: list[dict[int, float]],
              num_symbols: int = 8, grows: bool = False, **options) -> Record:
    """A dense run of one model size (model.hidden_size=state_size), its curves given per rung; nothing held out
    unless ``heldout`` says so."""
    return run(model, task, seed, rungs, state_size=state_size, state_grows_with_length=grows,
               params=100 * state_size, model_config={"_target_": RECURRENT, "hidden_size": state_size},
               task_config={"num_symbols": num_symbols}, **{"heldout": (), **options})


def write_capacity_sweep(directory: Path, seeds=(0, 1, 2), sizes=CAPACITY_SIZES, offsets=None) -> list[Path]:
    """n-back (K = 8) for one recurrent family whose window is 2 * S^0.5, measured as soon as the rule allows;
    ``offsets[seed][size]`` moves one seed's window by that many steps (the spread of α over seeds)."""
    run_dirs = []
    for seed in seeds:
        for size in sizes:
            window = law(size) + ((offsets or {}).get(seed, {}).get(size, 0))
            curve = step(window, CAPACITY_DISTANCES)
            run_dirs.append(write(directory, sized_run("gru", "nback", seed, size, [curve] * verdict.STABLE_RUNGS)))
    return run_dirs
