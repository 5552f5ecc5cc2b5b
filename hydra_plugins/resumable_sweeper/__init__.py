"""A sweeper for sweeps that take hours: resumable, validated up front, failures isolated and summarised.

Hydra loads sweepers only from ``hydra_plugins``. It keeps Hydra's basic sweep grammar (``a=1,2 b=x,y`` and
``hydra.sweeper.params``) and runs jobs through the configured launcher (in-process, joblib, submitit). It:

1. composes and checks every job's config before any job starts, so a typo or an impossible value stops the
   sweep at once, naming the key;
2. skips every job whose run directory holds a complete ``result.json`` for the same config hash and the same
   code that is final or has climbed as far as asked (``+force=true`` reruns them); a job whose code changed
   reruns, with one line that names the files; a job whose run is locked by another live process (another
   sweep runs it) is skipped and said so;
3. climbs the budget ladder in rounds where a cell sweeps several learning rates: its first seed's runs at
   every rate climb rung by rung, a rate that harness.verdict.choose_rate cuts stops, and only the chosen rate
   trains the other seeds (successive halving); a cell with one rate climbs at once. Rerunning the sweep
   continues where the ladder stands;
4. writes ``<sweep dir>/sweep.json``, the manifest of the runs the sweep expects, so a report of a sweep still
   running knows it is partial;
5. hands the launcher bounded batches (``default_batch_size``), and when the launcher itself fails mid-batch
   (a joblib worker killed), puts the jobs that never started back on the queue once (``settle``);
6. ends with a summary of skipped, finished, failed and not-chosen runs, and exits non-zero when any run failed.
"""

import dataclasses
import json
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
    # key=value settings whose key shares one learning-rate choice over its values, made at that value
    # ([task.instances=32]: chosen at the largest load and held across loads); empty: each setting chooses its own
    rate_chosen_at: list[str] = dataclasses.field(default_factory=list)
    # print what the first round would train (runs, rungs, continuations) and stop: the cost of a rule change,
    # or of a raised ladder, before any compute; nothing is written
    dry_run: bool = False


ConfigStore.instance().store(group="hydra/sweeper", name="resumable", node=ResumableSweeperConf,
                             provider="context-window-bench")


@dataclasses.dataclass
class Job:
    overrides: list[str]
    run_dir: Path
    config_hash: str
    sources: dict[str, str]
    cell: str = ""  # the config hash without seed and learning rate: the runs that share a rate choice
    seed: int = 0
    lr: float = 0.0
    rungs: tuple[int, ...] = ()
    chance: float = 0.0
    climb_to: int | None = None  # this round's pause (None: the top)
    force: bool = False  # +force=true: train again from step 0
    label: str = ""  # model and task, for messages
    extension: bool = False  # a rate added past the edge of its cell's grid
    trained: int = 0  # steps its stored evidence reaches (where it continues from)
    load: tuple | None = None  # (load key, its value, the config hash without it, what it must hold fixed)
    chooser: bool = True  # among the runs the cell's rate is chosen on (hydra.sweeper.rate_chosen_at)
    page_cell: str = ""  # the config hash without seed and rate only (loads kept apart): the cell a report files it in
    outcome: str | None = None  # skipped | elsewhere | finished | failed | not_chosen
    reason: str | None = None
    attempts: int = 0  # launches lost to a launcher fault
    launched: bool = False

    def launch_overrides(self) -> list[str]:
        """The job's overrides with this round's pause; +force=true only on its first launch (a later round
        continues the run it forced)."""
        def key(override: str) -> str:
            return override.lstrip("+~").split("=", 1)[0]

        kept = [o for o in self.overrides if key(o) != "train.climb_to" and not (self.launched and key(o) == "force")]
        return kept + ([] if self.climb_to is None else [f"train.climb_to={self.climb_to}"])


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
    def __init__(self, max_batch_size: int | None = None, params: dict | None = None,
                 rate_chosen_at: list | None = None, dry_run: bool = False):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.dry_run = dry_run
        self.rate_chosen_at = dict(setting.split("=", 1) for setting in rate_chosen_at or [] if "=" in setting)
        malformed = [setting for setting in rate_chosen_at or [] if "=" not in setting]
        if malformed:
            raise SystemExit(report_bad_job([], f"hydra.sweeper.rate_chosen_at={malformed[0]!r}: give key=value, "
                                                "e.g. task.instances=32"))

    def sweep(self, arguments: list[str]) -> Any:
        from harness import record

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        jobs, force = self.plan(arguments)
        started, launched, asked = record.now(), 0, set()
        todo = self.next_round(jobs, force, asked)
        skipped = sum(job.outcome == "skipped" for job in jobs)
        elsewhere = sum(job.outcome == "elsewhere" for job in jobs)
        waiting = sum(job.outcome is None for job in jobs) - len(todo)
        print(f"sweep {sweep_dir}: {len(jobs)} runs; {skipped} already complete and skipped"
              f"{' (+force=true reruns them)' if skipped else ''}; "
              f"{f'{elsewhere} running elsewhere (locked) and skipped; ' if elsewhere else ''}"
              f"{f'{waiting} wait for their learning rate to be chosen; ' if waiting else ''}"
              f"round 1 trains {describe_round(todo)}", flush=True)
        print(provenance(jobs), flush=True)
        for job in todo:
            _, why = record.reusable(record.read(job.run_dir / record.RESULT_FILE)[0], job.config_hash, job.sources,
                                     list(job.rungs), job.climb_to)
            if why.startswith("code changed"):
                print(f"rerun {job.run_dir.name}: {why}", flush=True)
        if self.dry_run:
            print("dry run (hydra.sweeper.dry_run=true): nothing trained or written; later rounds depend on what "
                  "this one finds", flush=True)
            return {"total": len(jobs), "skipped": skipped, "todo": len(todo)}
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        round_number = 1
        while todo:
            write_manifest(sweep_dir, jobs, "running", started)
            record.write_json_atomic(sweep_dir / PROGRESS, {"total": len(todo), "done": 0})  # run.py's [k/N]
            if round_number > 1:
                print(f"round {round_number} trains {describe_round(todo)}", flush=True)
            launched = self.launch_all(todo, launched, sweep_dir, jobs, started)
            force, round_number = False, round_number + 1
            todo = self.next_round(jobs, force, asked)

        states = ("elsewhere", "finished", "failed", "not_chosen")
        summary = {"total": len(jobs), "skipped": skipped, **{s: sum(job.outcome == s for job in jobs) for s in states}}
        write_manifest(sweep_dir, jobs, "finished", started, summary)
        print_summary(sweep_dir, jobs, summary)
        if summary["failed"]:
            raise SystemExit(1)
        # Hydra's JobReturns (each with two full configs, ~160 KiB) are not kept: result.json is the truth.
        return summary

    def launch_all(self, todo: list[Job], launched: int, sweep_dir: Path, jobs: list[Job], started: str) -> int:
        """Hand ``todo`` to the launcher in bounded batches, the longest climbs first; settle each batch."""
        for job in todo:
            job.reason = unwritable(job.run_dir)
            if job.reason:
                job.outcome = "failed"
                log.error(f"not launching {job.run_dir.name}: {job.reason}")
        queue = sorted((job for job in todo if job.outcome is None), key=lambda job: job.climb_to is not None)
        batch_size = self.max_batch_size or default_batch_size(self.launcher, len(queue))
        while queue:
            batch, queue = queue[:batch_size], queue[batch_size:]
            launched_at, fault = time.time(), None
            try:
                self.launcher.launch([job.launch_overrides() for job in batch], initial_job_idx=launched)
            except Exception as error:  # an infrastructure fault must not take the other batches down
                fault = f"{type(error).__name__}: {str(error).split('. ')[0][:200]}"  # joblib writes paragraphs
                log.exception(f"launcher failed on a batch of {len(batch)} jobs: {error!r}")
            launched += len(batch)
            for job in batch:
                job.launched = True
            queue = settle(batch, fault, launched_at) + queue
            write_manifest(sweep_dir, jobs, "running", started)
        return launched

    def next_round(self, jobs: list[Job], force: bool, asked: set) -> list[Job]:
        """The jobs to launch next, each with how far to climb, as the rule as it is now asks (a run's stored
        evidence is judged again on the job's ladder: a run the rule calls final is skipped, one it sends higher
        is continued from its checkpoint); marks the jobs that need nothing (skipped, elsewhere, not_chosen), and
        adds a rate past the edge of a grid whose edge wins (harness.verdict.extend_rates). ``asked`` remembers
        (run, rung) launches, so a run that cannot get there (it failed, or is locked) is never asked twice."""
        from harness import record
        from harness.runtime import lock_holder
        from harness.verdict import RUN_FINAL, Point, choose_rate, extend_rates

        def stored(job: Job):
            found = record.read(job.run_dir / record.RESULT_FILE, ladder=list(job.rungs))[0]
            fresh = found is not None and found.complete and found.config_hash == job.config_hash and \
                not record.what_changed(found, job.sources)
            return found if fresh and not force else None

        wanted = []  # (job, climb_to)
        for cell in dict.fromkeys(job.cell for job in jobs):
            members = [job for job in jobs if job.cell == cell and job.outcome not in ("failed", "not_chosen")]
            grid = sorted({job.lr for job in jobs if job.cell == cell and not job.extension})
            if len({job.lr for job in members}) <= 1:
                wanted += [(job, None) for job in members]
                continue
            first_seed = min(job.seed for job in members if job.chooser)
            while True:
                candidates = {job.lr: job for job in members if job.seed == first_seed and job.chooser}
                runs = {lr: stored(job) for lr, job in candidates.items()}
                curves = {lr: [[Point(*p) for p in rung.curve] for rung in run.read_rungs()] if run else []
                          for lr, run in runs.items()}
                final = {lr: run is not None and run.verdict in RUN_FINAL for lr, run in runs.items()}
                alive, chosen, rung = choose_rate(curves, final, members[0].chance, len(members[0].rungs))
                extension = None if chosen is None else extend_rates(grid, sorted(candidates), chosen)
                if extension is None:
                    break
                added = self.extend([job for job in members if job.lr == chosen], extension)
                jobs.extend(added)
                members.extend(added)
                print(f"lr {chosen:g} won at the edge of the grid {', '.join(f'{lr:g}' for lr in grid)} for "
                      f"{added[0].label}: lr {extension:g} joins the candidates (harness.verdict, clause 6)",
                      flush=True)
            if chosen is None:
                wanted += [(candidates[lr], members[0].rungs[rung]) for lr in alive]
                continue
            for job in members:
                if job.lr != chosen:
                    job.outcome = "not_chosen"
                    job.reason = (f"lr {chosen:g} was chosen on seed {first_seed}{self.chosen_where()} "
                                  "(harness.verdict, clause 6)")
            wanted += [(job, None) for job in members if job.lr == chosen]
        todo = []
        for job, climb_to in wanted:
            found = stored(job)
            stop_at = climb_to or job.rungs[-1]
            if found is not None and (found.verdict in RUN_FINAL or found.trained_steps >= stop_at):
                job.outcome = job.outcome or "skipped"
                continue
            holder = lock_holder(job.run_dir)
            if holder:
                job.outcome, job.reason = "elsewhere", f"running elsewhere ({holder})"
            elif (job.run_dir, stop_at) not in asked:
                asked.add((job.run_dir, stop_at))
                job.climb_to, job.outcome, job.reason = climb_to, None, None
                job.trained = found.trained_steps if found is not None else 0
                todo.append(job)
        return todo

    def chosen_where(self) -> str:
        return "".join(f" at {key}={value}" for key, value in self.rate_chosen_at.items())

    def extend(self, like: list[Job], lr: float) -> list[Job]:
        """A new rate candidate for every seed of a cell: the overrides of ``like`` (the cell's jobs at one rate)
        with train.lr=lr, composed and checked as every job is; only the first seed's trains unless it is chosen."""
        def at_rate(job: Job) -> list[str]:
            return [o for o in job.overrides if o.lstrip("+~").split("=", 1)[0] != "train.lr"] + [f"train.lr={lr}"]

        added = self.compose([at_rate(job) for job in like])
        for job in added:
            job.extension = True
        return added

    def plan(self, arguments: list[str]) -> tuple[list[Job], bool]:
        """Every job's overrides, run directory, config hash and source hashes, every config checked first."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        [all_jobs] = self.split_arguments(overrides, None)
        jobs = self.compose([list(o) for o in all_jobs])
        problem = load_axis_problem(jobs)
        for cell in dict.fromkeys(job.cell for job in jobs):
            members = [job for job in jobs if job.cell == cell]
            if len({job.lr for job in members}) > 1 and not any(job.chooser for job in members):
                setting = ", ".join(f"{key}={value}" for key, value in self.rate_chosen_at.items())
                problem = problem or (f"hydra.sweeper.rate_chosen_at=[{setting}]: no job of {members[0].label} has "
                                      "that setting, so no rate could be chosen; name a value the sweep runs")
        if problem:
            raise SystemExit(report_bad_job([], problem))
        force = any(job.force for job in jobs)
        return jobs, force

    def compose(self, all_overrides: list[list[str]]) -> list[Job]:
        """Compose and check each job's config (a bad one stops the sweep before any run, naming the key), and
        make its Job; two jobs that define the same run are kept once."""
        from harness import record
        from harness.config import ConfigError, build, config_hash

        jobs, by_dir = [], {}
        parent_config = HydraConfig.instance().cfg
        try:
            for job_overrides in all_overrides:
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(job_overrides))
                HydraConfig.instance().set_config(cfg)  # the run directory interpolates ${hydra:runtime.choices}
                run_dir = Path(str(cfg.hydra.sweep.dir)) / str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
                try:
                    built = build(cfg, build_model=False)
                except ConfigError as error:
                    raise SystemExit(report_bad_job(job_overrides, error)) from None
                if run_dir in by_dir:  # same config hash: differs only in keys outside it (threads, device...)
                    log.warning(f"jobs {' '.join(by_dir[run_dir].overrides)} and {' '.join(job_overrides)} define "
                                f"the same run ({run_dir.name}); it runs once")
                    continue
                files = record.source_files(type(built.task), get_class(cfg.model._target_))
                choices = cfg.hydra.runtime.choices
                shared = self.rate_chosen_at
                for key in shared:
                    if OmegaConf.select(cfg, key, default=None) is None:
                        raise SystemExit(report_bad_job(job_overrides, f"hydra.sweeper.rate_chosen_at: {key} is not "
                                                                       "a key of this config"))
                by_dir[run_dir] = Job(list(job_overrides), run_dir, config_hash(cfg), record.source_hashes(files),
                                      record.cell_hash(cfg, list(shared)), cfg.seed, built.train.lr,
                                      tuple(built.train.rungs),
                                      built.task.chance_accuracy, force=bool(OmegaConf.select(cfg, "force",
                                                                                                default=False)),
                                      label=f"{choices.get('model')} {choices.get('task')}",
                                      load=load_of(cfg, built.task), page_cell=record.cell_hash(cfg),
                                      chooser=all(str(OmegaConf.select(cfg, key)) == value
                                                  for key, value in shared.items()))
                jobs.append(by_dir[run_dir])
        finally:
            HydraConfig.instance().cfg = parent_config  # restore the sweep's own config
        return jobs


def load_of(cfg, task) -> tuple | None:
    """For a task that names its load (``load_key``): the key, its value, the hash of the config without the
    load, the seed and the rate (the jobs that make one load axis), and what must not change along the axis."""
    from harness.record import cell_hash

    key = getattr(task, "load_key", None)
    if key is None:
        return None
    fixed = {"task.seq_len": task.seq_len, "the vocabulary (task.vocab_size)": task.vocab_size,
             "the classes (task.num_classes)": task.num_classes}
    return f"task.{key}", getattr(task, key), cell_hash(cfg, [f"task.{key}"]), fixed


def load_axis_problem(jobs: list[Job]) -> str | None:
    """Why a sweep that varies a task's load would change something else with it (the sequence length, the
    vocabulary or the classes, and so the parameter count), naming the keys; None when nothing does."""
    axes: dict[str, list[Job]] = {}
    for job in jobs:
        if job.load is not None:
            axes.setdefault(job.load[2], []).append(job)
    for members in axes.values():
        key = members[0].load[0]
        loads = sorted({job.load[1] for job in members})
        if len(loads) < 2:
            continue
        for name in members[0].load[3]:
            values = sorted({job.load[3][name] for job in members})
            if len(values) > 1:
                return (f"{key}={','.join(map(str, loads))}: the load changes {name} too ({values[0]} to "
                        f"{values[-1]}), and with it the model's parameter count; hold it fixed at the largest "
                        "load's settings (task.seq_len; recall's task.vocab_instances, assoc_recall's task.num_keys)")
    return None


def describe_round(todo: list[Job]) -> str:
    """'12 runs, up to 40 rungs (5 continue from their checkpoints); 4 learning-rate candidates climb to rung 250':
    what a round will train, said before it starts. A run that climbs to the top may stop earlier (the rule)."""
    if not todo:
        return "nothing"
    rungs = sum(sum(job.trained < r <= (job.climb_to or job.rungs[-1]) for r in job.rungs) for job in todo)
    continued = sum(job.trained > 0 for job in todo)
    text = f"{len(todo)} run{'s' * (len(todo) != 1)}, up to {rungs} rung{'s' * (rungs != 1)}"
    text += f" ({continued} continue from their checkpoints)" if continued else ""
    pauses = sorted({job.climb_to for job in todo if job.climb_to is not None})
    if pauses:
        climbing = sum(job.climb_to is not None for job in todo)
        text += (f"; {climbing} learning-rate candidate{'s' * (climbing != 1)} climb{'s' * (climbing == 1)} to rung "
                 f"{', '.join(map(str, pauses))}")
    return text


def provenance(jobs: list[Job]) -> str:
    """One line: the commit the sweep trains from, and whether its training code is uncommitted (each record then
    keeps the diff of its own source files, so it can be reproduced)."""
    from harness.record import git_state, source_diff

    commit, dirty = git_state()
    files = sorted({name for job in jobs for name in job.sources})
    diff = source_diff(files) if dirty else None
    if commit is None:
        return "provenance: not a git checkout; records cannot name the code they came from"
    if diff is None:
        return f"provenance: training code as committed at {commit[:10]}"
    changed = sorted({line.split(" b/")[-1] for line in diff.splitlines() if line.startswith("diff --git")})
    return (f"provenance: training code UNCOMMITTED at {commit[:10]} ({', '.join(changed)}); each record stores "
            "its diff")


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
    where = f"the sweep job [{' '.join(overrides)}]" if overrides else "the sweep"
    print(f"config error in {where}; no run was started\nconfig error: {error}", file=sys.stderr)
    return 2


def write_manifest(sweep_dir: Path, jobs: list[Job], state: str, started_at: str, summary=None) -> None:
    """sweep.json. ``sittings`` keeps every invocation of the sweep (a sweep resumed three times took four), each
    with when it started and when it last wrote, so the wall time of a sweep spread over sittings adds up. Jobs of
    other sweeps that share the directory (two experiments with one output dir) stay listed as they were, so the
    report still knows which of theirs are missing."""
    from harness.record import now, write_json_atomic

    previous = {}
    try:
        previous = json.loads((sweep_dir / MANIFEST).read_text())
        previous = previous if isinstance(previous, dict) else {}
    except (OSError, ValueError):
        pass
    sitting = {"started_at": started_at, "updated_at": now(), "state": state}
    sittings = [s for s in previous.get("sittings") or [] if s.get("started_at") != started_at] + [sitting]
    ours = [{"run_dir": str(job.run_dir), "config_hash": job.config_hash, "cell": job.page_cell, "seed": job.seed,
             "lr": job.lr, "overrides": job.overrides, "outcome": job.outcome, "reason": job.reason} for job in jobs]
    listed = {job["run_dir"] for job in ours}
    others = [job for job in previous.get("jobs") or [] if isinstance(job, dict) and "run_dir" in job
              and job["run_dir"] not in listed]
    write_json_atomic(sweep_dir / MANIFEST, {
        "schema_version": 1, "name": sweep_dir.name, "state": state, "started_at": started_at,
        "finished_at": now() if state == "finished" else None, "summary": summary, "sittings": sittings,
        "jobs": ours + others})


def print_summary(sweep_dir: Path, jobs: list[Job], summary: dict) -> None:
    elsewhere = f"{summary['elsewhere']} running elsewhere (locked), " if summary["elsewhere"] else ""
    not_chosen = f", {summary['not_chosen']} not chosen (their learning rate was cut)" if summary["not_chosen"] else ""
    print(f"sweep summary: {summary['total']} runs: {summary['skipped']} skipped (complete), {elsewhere}"
          f"{summary['finished']} finished, {summary['failed']} failed{not_chosen}", flush=True)
    for job in jobs:
        if job.outcome == "failed":
            print(f"  FAILED [{' '.join(job.overrides)}] {job.run_dir}: {job.reason}", flush=True)
    print(f"results: {sweep_dir}   (report: python -m analysis.report {sweep_dir})", flush=True)
