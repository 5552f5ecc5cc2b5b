"""Train one model on one task, measure accuracy per dependency distance, write result.json.

    python run.py                                   # one run, conf/config.yaml's defaults
    python run.py model=gru task.distances=16       # any key can be overridden
    python run.py -m experiment=quick               # the demo sweep (attention, gru, lstm x n-back d=2..64)

Each run lands in a directory named after its model, task and a hash of its config, so the same command
always lands in the same place. A run whose result.json is complete for the same config and the same code is
skipped on the next invocation (``+force=true`` reruns it). This file is the Hydra entry point and what one
run does (``execute``); the checks live in harness/config.py, the loop in harness/train.py, the record in
harness/record.py, checkpoints and locks in harness/runtime.py.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import NamedTuple

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from harness import record as records
from harness import runtime, verdict
from harness.config import REPO_ROOT, ConfigError, build, build_logger, config_hash, explain_composition_error
from harness.record import Record
from harness.train import Diverged, train

log = logging.getLogger("run")


# An absolute path to conf/, so the entry point also works when called as run.main from the importable module,
# which is what launchers pickle (see the end of this file).
@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    choices, run_dir = hydra_cfg.runtime.choices, Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        record, reused, locked = execute(cfg, run_dir, choices.get("model"), choices.get("task"), multirun)
    except ConfigError as error:
        discard_if_empty(run_dir)
        print(f"config error: {error}", file=sys.stderr)  # the last line names the key, value and what is allowed
        raise SystemExit(2) from None
    if locked:
        print(f"skip: {locked}", flush=True)
        return float("nan")
    if multirun and not reused:
        print(progress_line(record, Path(hydra_cfg.sweep.dir)), flush=True)
    elif record.complete and not reused:
        log.info(f"done: {record.run_dir}/result.json  {record.verdict} at step {record.steps}, window "
                 f"{record.window_text()}")
    return record.mean_accuracy()


class Execution(NamedTuple):
    record: Record | None  # None when the run is locked by another process
    reused: bool  # a stored result for the same config and code stood in for training
    locked: str | None = None  # who holds the run's lock, when another live process does


def describe(model_name: str, task_name: str, plan, seed) -> str:
    """`gru nback d=8..128 seed=0`: what a log line is about, in a sweep whose lines interleave."""
    listed = plan.evaluated if len(plan.train) > 1 else plan.train
    shown = str(listed[0]) if len(listed) == 1 else f"{listed[0]}..{listed[-1]}"
    return f"{model_name} {task_name} d={shown} seed={seed}"


def execute(cfg: DictConfig, run_dir: Path, model_name: str, task_name: str, multirun: bool) -> Execution:
    """One whole run, without Hydra's globals (tests and the sweep launcher call it directly): check, reuse a
    stored result if config and code are unchanged, else take the run's lock, train (resuming from a
    checkpoint if there is one), evaluate and write result.json."""
    run_dir = Path(run_dir)
    built = build(cfg)  # raises ConfigError before any compute, even for a finished run
    task, model, train_cfg, plan = built.task, built.model, built.train, built.plan
    runtime.resolve_device(cfg.device)  # refuses cuda where there is none, before anything else
    digest, sources = config_hash(cfg), records.source_hashes(records.source_files(type(task), type(model)))
    label = describe(model_name, task_name, plan, cfg.seed)
    stored, _ = records.read(run_dir / records.RESULT_FILE)
    reuse, why = records.reusable(stored, digest, sources, train_cfg.rungs, train_cfg.climb_to)
    if reuse and not OmegaConf.select(cfg, "force", default=False):
        log.info(f"skip {run_dir.name} ({label}): {why} (+force=true reruns it)")
        return Execution(stored, True)
    if stored is not None and stored.complete:
        log.info(f"{'continue' if 'climbs on' in why else 'rerun'} {run_dir.name} ({label}): {why}")
    forced = reuse and OmegaConf.select(cfg, "force", default=False)
    gaps = coarse_gaps(task, plan)
    if gaps:
        log.info(f"[{label}] {gaps}")
    logger = build_logger(cfg, run_dir)
    try:
        lock = runtime.RunLock(run_dir)
    except runtime.RunLocked as locked:
        log.info(f"skip {run_dir.name} ({label}): {locked}")
        return Execution(None, False, str(locked))
    claim = runtime.DeviceClaim(cfg.device, runtime.job_number(), run_dir.parent)
    torch.set_num_threads(runtime.resolve_threads(cfg.threads))
    tag = {"config_hash": digest, "source_hash": records.combined_hash(sources)}
    record = records.begin(cfg, run_dir, model_name, task_name, built, digest, sources,
                           runtime.environment(claim.device))
    started = time.perf_counter()
    try:
        for stale in run_dir.glob(".*.tmp"):  # left by a run killed mid-write; never read as a result
            stale.unlink()
        if forced:  # +force=true trains again from step 0, not from where the stored run paused
            (run_dir / runtime.CHECKPOINT_FILE).unlink(missing_ok=True)
        outcome = train(task, model, train_cfg, plan, cfg.seed, claim.device, run_dir, tag,
                        rule(task.chance_accuracy, train_cfg.rungs), logger, label, progress=not multirun,
                        beyond=built.beyond)
        if train_cfg.save_model:
            runtime.save_weights(run_dir, model)
        record = records.judged(record.finish(**outcome, wall_time_s=time.perf_counter() - started), train_cfg.rungs)
        records.write(record)  # written last: its presence marks the run complete
        if not train_cfg.keep_checkpoint and record.verdict == "target":  # solved: no rule continues it
            (run_dir / runtime.CHECKPOINT_FILE).unlink(missing_ok=True)
    except Exception as error:  # recorded, never dropped: the sweep goes on
        reason = str(error) if isinstance(error, Diverged) else f"{type(error).__name__}: {error}"
        log.error(f"[{label}] run failed: {reason}")
        record = record.fail(reason, time.perf_counter() - started)
        records.write_or_report(record)
    finally:
        if logger is not None:
            logger.close()
        claim.release()
        lock.release()
    return Execution(record, False)


def rule(chance: float, ladder: list[int]):
    """The loop's ``judge``: harness.verdict's decision on the rungs so far, on this ladder. The loop asks it only
    when to stop; the record keeps the evidence, and every reader judges it again with the rule of its day."""
    def judge(rungs) -> verdict.RunDecision:
        curves = [[verdict.Point(*p) for p in rung.curve] for rung in rungs]
        return verdict.decide_run(curves, chance, top=rungs[-1].step >= ladder[-1], at_target=rungs[-1].at_target)
    return judge


def coarse_gaps(task, plan) -> str | None:
    """Where the fine curve cannot be fine: the task cannot produce every distance in its range (n-back makes
    only the lags it has tags for), so windows are located to the distances it can make. Said once per run."""
    span = plan.fine[-1] - plan.fine[0] + 1
    if len(plan.fine) < 2 or len(plan.fine) == span:
        return None
    return (f"{task.name} produces {len(plan.fine)} of the {span} distances in [{plan.fine[0]}, {plan.fine[-1]}]: "
            "windows are located to those, not to one step")


def discard_if_empty(run_dir: Path) -> None:
    """Remove the directory Hydra made for a config that was refused, if it holds only Hydra's own files."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "run.log"}:
        shutil.rmtree(run_dir, ignore_errors=True)


def progress_line(record: Record, sweep_dir: Path) -> str:
    """`[k/N] model=... task=... d=... seed=... acc=... in 12.3 s`; k counts jobs finished so far in this sweep,
    across parallel processes, through a counter file the sweeper resets (a lock makes increments atomic)."""
    counter, position = sweep_dir / ".progress.json", "?"
    try:
        with open(sweep_dir / ".progress.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(counter.read_text())
            state["done"] += 1
            counter.write_text(json.dumps(state))
            position = f"{state['done']}/{state['total']}"
    except (OSError, ValueError, KeyError):  # no sweeper manifest (e.g. hydra/sweeper=basic): no count
        pass
    distances = record.train_distances
    shown = str(distances[0]) if len(distances) == 1 else f"{distances[0]}..{distances[-1]}"
    outcome = (f"{record.verdict} at step {record.steps} ({record.stop_reason}), window "
               f"{record.window_text()}" if record.complete else f"FAILED ({record.reason})")
    return (f"[{position}] model={record.model} task={record.task} d={shown} seed={record.seed} lr={record.lr:g} "
            f"{outcome} in {record.wall_time_s or 0.0:.1f} s")


def cli() -> None:
    """Hydra's entry point, with composition errors (unknown group, unknown key, wrong type, bad syntax)
    reported by a last line that names the key and what is allowed."""
    from hydra.errors import ConfigCompositionException, OverrideParseException

    os.environ["HYDRA_FULL_ERROR"] = "1"  # composition errors reach us instead of Hydra's generic printer
    try:
        main()
    except (ConfigCompositionException, OverrideParseException) as error:
        print(str(error), file=sys.stderr)
        print(f"config error: {explain_composition_error(error, sys.argv[1:])}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    # Hand over to the module imported under its own name: joblib and submitit then pickle the task function
    # by reference (workers import run.py) instead of by value with every global it touches.
    import run

    run.cli()
