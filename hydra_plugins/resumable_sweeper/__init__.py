"""A sweeper for sweeps that take hours: resumable, validated up front, failures isolated and summarised.

Hydra loads sweepers only from ``hydra_plugins``. It keeps Hydra's basic sweep grammar (``a=1,2 b=x,y`` and
``hydra.sweeper.params``) and runs jobs through the configured launcher (in-process, joblib, submitit). It:

1. composes and checks every job's config before any job starts, so a typo or an impossible value stops the
   sweep at once, naming the key;
2. skips every job whose run directory holds a complete ``result.json`` for the same config hash and the same
   code (``+force=true`` reruns them); a job whose code changed reruns, with one line that names the files;
   a job whose run is locked by another live process (another sweep runs it) is skipped and said so;
3. writes ``<sweep dir>/sweep.json``, the manifest of the runs the sweep expects, so a report of a sweep still
   running knows it is partial;
4. hands the launcher bounded batches (``default_batch_size``), and when the launcher itself fails mid-batch
   (a joblib worker killed), puts the jobs that never started back on the queue once (``settle``);
5. ends with a summary of skipped, finished and failed runs, and exits non-zero when any run failed.
"""

import dataclasses
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import get_class
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
MANIFEST = "sweep.json"
PROGRESS = ".progress.json"


@dataclasses.dataclass
class ResumableSweeperConf:
    _target_: str = "hydra_plugins.resumable_sweeper.ResumableSweeper"
    max_batch_size: int | None = None  # jobs per launch; null = per launcher (default_batch_size)
    params: dict[str, str] | None = None  # sweep axes, as in Hydra's basic sweeper


ConfigStore.instance().store(group="hydra/sweeper", name="resumable", node=ResumableSweeperConf,
                             provider="context-window-bench")


@dataclasses.dataclass
class Job:
    overrides: list[str]
    run_dir: Path
    config_hash: str
    sources: dict[str, str]
    outcome: str | None = None  # skipped | elsewhere (locked by another live process) | finished | failed
    reason: str | None = None
    attempts: int = 0  # launches lost to a launcher fault


def default_batch_size(launcher, jobs: int) -> int:
    """How many jobs to hand the launcher at once when hydra.sweeper.max_batch_size is null.

    - In-process (basic launcher): one, so a fault outside a run (Hydra cannot write its files) costs one job.
    - joblib: 32 per worker. The launcher holds every JobReturn of a batch until the batch ends, so one batch
      of everything made the parent grow ~160 KiB per run (benchmarks/soak.py measured it); bounded batches
      keep it flat, and the idle tail at each batch boundary costs about 1/64 of the work.
    - Cluster launchers (submitit): everything at once, since a batch boundary there waits on the queue.
    """
    kind = type(launcher).__name__
    if kind == "BasicLauncher":
        return 1
    if kind == "JoblibLauncher":
        n_jobs = int(getattr(launcher, "joblib", {}).get("n_jobs", -1))
        workers = n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)  # joblib's -1 = all cores
        return 32 * workers
    return max(1, jobs)


class ResumableSweeper(BasicSweeper):
    def sweep(self, arguments: list[str]) -> Any:
        from harness import record
        from harness.runtime import lock_holder

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        jobs, force = self.plan(arguments)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        changed = []
        for job in jobs:
            reuse, why = record.reusable(record.read(job.run_dir / record.RESULT_FILE)[0], job.config_hash,
                                         job.sources)
            if reuse and not force:
                job.outcome = "skipped"
            elif lock_holder(job.run_dir):
                job.outcome, job.reason = "elsewhere", f"running elsewhere ({lock_holder(job.run_dir)})"
            elif why.startswith("code changed"):
                changed.append(f"rerun {job.run_dir.name}: {why}")
        todo = [job for job in jobs if job.outcome is None]
        started, skipped = record.now(), sum(job.outcome == "skipped" for job in jobs)
        elsewhere = sum(job.outcome == "elsewhere" for job in jobs)
        print(f"sweep {sweep_dir}: {len(jobs)} runs; {skipped} already complete and skipped"
              f"{' (+force=true reruns them)' if skipped else ''}; "
              f"{f'{elsewhere} running elsewhere (locked) and skipped; ' if elsewhere else ''}running {len(todo)}",
              flush=True)
        for line in changed:
            print(line, flush=True)
        write_manifest(sweep_dir, jobs, "running", started)
        record.write_json_atomic(sweep_dir / PROGRESS, {"total": len(todo), "done": 0})  # run.py's [k/N] counter

        for job in todo:
            job.reason = unwritable(job.run_dir)
            if job.reason:
                job.outcome = "failed"
                log.error(f"not launching {job.run_dir.name}: {job.reason}")
        queue = [job for job in todo if job.outcome is None]
        batch_size = self.max_batch_size or default_batch_size(self.launcher, len(queue))
        launched = 0
        while queue:
            batch, queue = queue[:batch_size], queue[batch_size:]
            launched_at, fault = time.time(), None
            try:
                self.launcher.launch([job.overrides for job in batch], initial_job_idx=launched)
            except Exception as error:  # an infrastructure fault must not take the other batches down
                fault = f"{type(error).__name__}: {str(error).split('. ')[0][:200]}"  # joblib writes paragraphs
                log.exception(f"launcher failed on a batch of {len(batch)} jobs: {error!r}")
            launched += len(batch)
            queue = settle(batch, fault, launched_at) + queue
            write_manifest(sweep_dir, jobs, "running", started)

        summary = {"total": len(jobs), "skipped": skipped,
                   **{state: sum(job.outcome == state for job in jobs) for state in ("elsewhere", "finished",
                                                                                       "failed")}}
        write_manifest(sweep_dir, jobs, "finished", started, summary)
        print_summary(sweep_dir, jobs, summary)
        if summary["failed"]:
            raise SystemExit(1)
        # Hydra's JobReturns (each with two full configs, ~160 KiB) are not kept: result.json is the truth.
        return summary

    def plan(self, arguments: list[str]) -> tuple[list[Job], bool]:
        """Every job's overrides, run directory, config hash and source hashes, every config checked first."""
        from harness import record
        from harness.config import ConfigError, build, config_hash

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        [all_jobs] = self.split_arguments(overrides, None)
        jobs, by_dir, force, learning_rates, no_validation = [], {}, False, set(), None
        parent_config = HydraConfig.instance().cfg
        try:
            for job_overrides in all_jobs:
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(job_overrides))
                HydraConfig.instance().set_config(cfg)  # the run directory interpolates ${hydra:runtime.choices}
                run_dir = Path(str(cfg.hydra.sweep.dir)) / str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
                try:
                    built = build(cfg, build_model=False)
                except ConfigError as error:
                    raise SystemExit(report_bad_job(job_overrides, error)) from None
                force = force or bool(OmegaConf.select(cfg, "force", default=False))
                learning_rates.add(built.train.lr)
                no_validation = no_validation or (job_overrides if built.train.val_sequences == 0 else None)
                if run_dir in by_dir:  # same config hash: differs only in keys outside it (threads, device...)
                    log.warning(f"jobs {' '.join(by_dir[run_dir].overrides)} and {' '.join(job_overrides)} define "
                                f"the same run ({run_dir.name}); it runs once")
                    continue
                files = record.source_files(type(built.task), get_class(cfg.model._target_))
                by_dir[run_dir] = Job(list(job_overrides), run_dir, config_hash(cfg), record.source_hashes(files))
                jobs.append(by_dir[run_dir])
        finally:
            HydraConfig.instance().cfg = parent_config  # restore the sweep's own config
        if len(learning_rates) > 1 and no_validation:  # the report picks the lr on validation data: it needs some
            raise SystemExit(report_bad_job(no_validation, ConfigError(
                f"train.val_sequences=0: train.lr is swept over {sorted(learning_rates)}, and the learning rate is "
                "chosen on validation accuracy; set train.val_sequences > 0")))
        return jobs, force


def settle(batch: list[Job], fault: str | None, launched_at: float) -> list[Job]:
    """Record each job's outcome from its result.json; return the jobs to launch again. When the launcher fails
    mid-batch (joblib aborts the whole batch when one worker dies, say of the OOM killer), the jobs that never
    started are innocent: they go back on the queue, once. The jobs that were running fail with the launcher's
    reason, and a rerun of the sweep retries them. If nothing in the batch started, nothing is retried."""
    unsettled = [job for job in batch if not collect_outcome(job)]
    if fault is None:
        return []
    started = {id(job) for job in unsettled if started_since(job.run_dir, launched_at)}
    progressed = bool(started) or len(unsettled) < len(batch)
    retry = []
    for job in unsettled:
        job.attempts += 1
        if id(job) in started:
            job.reason = f"its worker was lost while it ran ({fault}); rerun the sweep to retry it"
        elif progressed and job.attempts < 2:
            job.outcome, job.reason = None, None
            retry.append(job)
        else:
            job.reason = f"launcher failed before it started: {fault}"
    if retry:
        log.warning(f"{len(retry)} jobs that had not started go back on the queue after: {fault}")
    return retry


def collect_outcome(job: Job) -> bool:
    """What the job left behind: its result.json is the truth, whatever the launcher returned. Returns whether
    it left a record for this config; without one the job counts as failed."""
    from harness import record
    from harness.runtime import lock_holder

    stored, _ = record.read(job.run_dir / record.RESULT_FILE)
    if stored is not None and stored.config_hash == job.config_hash:
        job.outcome = "finished" if stored.complete else "failed"
        job.reason = None if stored.complete else stored.reason
        return True
    holder = lock_holder(job.run_dir)
    if holder:  # another sweep took the run between our plan and our launch
        job.outcome, job.reason = "elsewhere", f"running elsewhere ({holder})"
        return True
    job.outcome, job.reason = "failed", "the job ended without writing result.json"
    return False


def started_since(run_dir: Path, moment: float) -> bool:
    """Whether a job began in run_dir at or after moment: Hydra writes .hydra/ there as a job starts."""
    try:
        return (run_dir / ".hydra" / "overrides.yaml").stat().st_mtime >= moment - 1.0
    except OSError:
        return False


def unwritable(run_dir: Path) -> str | None:
    """Why a run directory cannot take results (a file in the way, read-only, full disk), or None."""
    probe = run_dir / f".write-probe.{os.getpid()}.tmp"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        return f"output directory not writable: {error}"
    return None


def report_bad_job(overrides, error) -> int:
    print(f"config error in the sweep job [{' '.join(overrides)}]; no run was started\nconfig error: {error}",
          file=sys.stderr)
    return 2


def write_manifest(sweep_dir: Path, jobs: list[Job], state: str, started_at: str, summary=None) -> None:
    from harness.record import now, write_json_atomic

    write_json_atomic(sweep_dir / MANIFEST, {
        "schema_version": 1, "name": sweep_dir.name, "state": state, "started_at": started_at,
        "finished_at": now() if state == "finished" else None, "summary": summary,
        "jobs": [{"run_dir": str(job.run_dir), "config_hash": job.config_hash, "overrides": job.overrides,
                  "outcome": job.outcome, "reason": job.reason} for job in jobs]})


def print_summary(sweep_dir: Path, jobs: list[Job], summary: dict) -> None:
    elsewhere = f"{summary['elsewhere']} running elsewhere (locked), " if summary["elsewhere"] else ""
    print(f"sweep summary: {summary['total']} runs: {summary['skipped']} skipped (complete), {elsewhere}"
          f"{summary['finished']} finished, {summary['failed']} failed", flush=True)
    for job in jobs:
        if job.outcome == "failed":
            print(f"  FAILED [{' '.join(job.overrides)}] {job.run_dir}: {job.reason}", flush=True)
    print(f"results: {sweep_dir}   (report: python -m analysis.report {sweep_dir})", flush=True)
