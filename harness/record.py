"""result.json, the one flat record a run leaves: its schema, its writer, its one reader, and its provenance.

A record keeps evidence apart from judgment. The evidence is what training produced: the validation and test
curves at every rung end (``RungResult``), how far the run trained and why it stopped. The judgment is what
harness.verdict makes of the evidence: the verdict, the rung the run is read at and the test curve there.
``read`` judges every record it reads with the rule as it is now (``judged``), so the sweeper, analysis/ and
the tests all see the current rule's reading, and a change to the rule re-judges stored runs without
retraining them. A run's identity (its config hash and the hashes of the code that trains and scores it) does
not include the rule.

run.py writes the record; everything else reads it through ``read``. The columns of the analysis tables derive
from the dataclasses below, so a field added here appears there. While a run trains, it also appends one JSON
line per log and evaluation to ``metrics.jsonl`` (``MetricsLog``), which is how a sweep that is still running
can be watched.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import verdict
from harness.files import write_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_VERSION = 4
RESULT_FILE = "result.json"
METRICS_FILE = "metrics.jsonl"
# The modules of the training loop: a change to any of them can change the evidence of every run. The rule
# (harness/verdict.py) is not among them: it judges evidence and never changes it.
LOOP_MODULES = ["harness/train.py", "harness/config.py"]
PROJECT_PACKAGES = {"tasks", "models", "harness"}  # where a component's own code can live (never .venv)


@dataclass
class DistanceScore:
    """Accuracy at one distance of the fine curve, on that distance's own set and its planted positions only, at
    the rung the run is read at (derived from its RungResult, never stored twice)."""

    distance: int
    accuracy: float  # the test (eval) stream: never used for any decision
    n: int  # scored positions behind ``accuracy``
    trained: bool  # drawn in training
    heldout: bool  # inside the training range but never trained on (the offset-shortcut check)
    val_accuracy: float | None = None  # the validation stream, at the same rung
    val_n: int = 0
    length: int | None = None  # the sequence length it was scored at, where not the training length
    beyond: bool = False  # past the longest trained distance (train.extrapolate)


@dataclass
class HistoryPoint:
    """One evaluation during training, on the validation stream (or on eval when train.val_sequences=0)."""

    step: int
    distance: int
    accuracy: float  # planted positions of this distance's set
    n: int
    accuracy_all: float  # every scored position of the set, incidental dependencies included
    n_all: int


@dataclass
class RungResult:
    """The evidence at one rung end (or at the step the run reached its target): every distance of the fine
    curve scored on validation, with each position's answer, and on test, on the model as it stood there. Any
    rule can be replayed on these; nothing here is a judgment."""

    step: int
    curve: list  # validation: [[distance, accuracy, n, answers], ...], answers packed as hex (harness.verdict.Point)
    test: list  # test: [[distance, accuracy, n], ...]; read by no decision
    at_target: bool = False  # the loop stopped here: every trained distance at its target accuracy
    beyond: list = field(default_factory=list)  # validation past training: [[distance, length, accuracy, n, answers]]
    test_beyond: list = field(default_factory=list)  # test past training: [[distance, length, accuracy, n]]
    incidental: list = field(default_factory=list)  # test, other distances scored inside the sets: [[d, accuracy, n]]


@dataclass
class Record:
    schema_version: int
    status: str  # running | finished | failed
    model: str
    task: str
    seed: int
    protocol: str
    lr: float
    train_distances: list[int]
    heldout_distances: list[int]
    eval_distances: list[int]  # evaluated during training (listed, task.eval_distances, held-out)
    fine_distances: list[int]  # the curve a window is located on, scored at every rung and at the end
    chance_accuracy: float
    memoryless_cross_entropy: float | None
    params: int
    state_size: int | None  # numbers carried from step to step at inference, at seq_len (models' state_size)
    state_grows_with_length: bool | None  # the model's own statement (a key-value cache grows; a state does not)
    rungs: list[int]  # the budget ladder it climbed (steps); the last is the top
    max_steps: int  # the top rung
    batch_size: int
    seq_len: int
    schedule: str
    target_accuracy: float
    config_hash: str
    source_hash: str
    source_files: dict[str, str]  # path -> hash of its normalised source
    git_commit: str | None
    git_dirty: bool | None
    run_dir: str
    config: dict
    started_at: str
    # where and with what it ran: enough to tell whether two numbers should agree bit for bit
    device: str
    torch_threads: int
    torch_version: str
    python_version: str
    numpy_version: str
    hydra_version: str
    omegaconf_version: str
    hostname: str
    cpu: str
    cuda_device: str | None
    cudnn_version: int | None
    reason: str | None = None  # why it failed
    code_diff: str | None = None  # ``git diff HEAD`` of its source files when they were uncommitted (provenance)
    # evidence: how far it trained, and its curves at every rung
    trained_steps: int | None = None
    cannot: str | None = None  # why the model could not take inputs past its training length at all
    resumed_from: list[int] = field(default_factory=list)  # steps of the checkpoints this run resumed from
    history: list[HistoryPoint] = field(default_factory=list)
    rung_results: list[RungResult] = field(default_factory=list)
    # judgment: set by ``judged`` with the rule as it is now, whenever a record is read
    steps: int | None = None  # the rung it is read at: the budget its numbers rest on
    stop_reason: str | None = None  # target | decided | top | paused (the rule asks for a higher rung)
    verdict: str | None = None  # harness.verdict's at that rung: climbing while paused
    accuracy_by_distance: list[DistanceScore] = field(default_factory=list)  # the test curve at that rung
    incidental_accuracy_by_distance: list[dict] = field(default_factory=list)  # {distance, accuracy, n}
    wall_time_s: float | None = None
    train_time_s: float | None = None
    tokens_per_s: float | None = None
    finished_at: str | None = None

    def finish(self, **outcome) -> Record:
        return dataclasses.replace(self, status="finished", reason=None, finished_at=now(), **outcome)

    def fail(self, reason: str, wall_time_s: float) -> Record:
        return dataclasses.replace(self, status="failed", reason=reason, wall_time_s=wall_time_s, finished_at=now(),
                                   trained_steps=None, steps=None, stop_reason=None, verdict=None,
                                   accuracy_by_distance=[], incidental_accuracy_by_distance=[], history=[],
                                   rung_results=[])

    @property
    def complete(self) -> bool:
        return self.status == "finished"

    def mean_accuracy(self) -> float:
        values = [score.accuracy for score in self.accuracy_by_distance]
        return sum(values) / len(values) if values else float("nan")

    def read_rungs(self) -> list[RungResult]:
        """The rungs up to the one the run is read at: what its judgment rests on."""
        return [rung for rung in self.rung_results if self.steps is None or rung.step <= self.steps]

    def window_text(self) -> str:
        """The window on the test curve at the rung it is read at, as text ('?' before any rung)."""
        curve = [verdict.Point(s.distance, s.accuracy, s.n) for s in self.accuracy_by_distance if s.length is None]
        return verdict.locate(curve, verdict.threshold(self.chance_accuracy)).text if curve else "?"


def cell_hash(config, shared: list[str] = ()) -> str:
    """The config hash with the seed, the learning rate and the ``shared`` keys set to 0. With no shared keys: the
    runs a page reads as one cell (its seeds at each of its rates); with the keys a rate is held across (a load):
    the runs one rate choice covers. ``config`` is a run's composed config, or its record's stored ``config``."""
    from omegaconf import OmegaConf, open_dict

    from harness.config import config_hash

    neutral = config.copy() if OmegaConf.is_config(config) else OmegaConf.create(config)
    with open_dict(neutral):
        neutral.seed, neutral.train.lr = 0, 0.0
        for key in shared:
            OmegaConf.update(neutral, key, 0, merge=False)
    return config_hash(neutral)


def begin(cfg, run_dir: Path, model_name: str, task_name: str, built, config_hash: str, sources: dict[str, str],
          environment: dict) -> Record:
    """The record of a run that is starting: what it is, its provenance and where it runs (``built`` is
    harness.config.build's result; ``environment`` harness.runtime.environment's)."""
    from omegaconf import OmegaConf

    task, model, train, plan = built.task, built.model, built.train, built.plan
    commit, dirty = git_state()
    diff = source_diff(sorted(sources)) if dirty else None
    return Record(
        schema_version=SCHEMA_VERSION, status="running", model=model_name, task=task_name, seed=cfg.seed,
        protocol=train.protocol, lr=train.lr, train_distances=plan.train, heldout_distances=plan.heldout,
        eval_distances=plan.evaluated, fine_distances=plan.fine, chance_accuracy=task.chance_accuracy,
        memoryless_cross_entropy=getattr(task, "memoryless_cross_entropy", None),
        params=sum(p.numel() for p in model.parameters()),
        state_size=model.state_size(task.seq_len) if hasattr(model, "state_size") else None,
        state_grows_with_length=getattr(model, "state_grows_with_length", None), rungs=list(train.rungs),
        max_steps=train.rungs[-1], batch_size=train.batch_size, seq_len=task.seq_len, schedule=train.schedule,
        target_accuracy=train.target_accuracy,
        config_hash=config_hash, source_hash=combined_hash(sources), source_files=sources, git_commit=commit,
        git_dirty=dirty, code_diff=diff, run_dir=str(run_dir), config=OmegaConf.to_container(cfg, resolve=True),
        started_at=now(), **environment)


RUN_FIELDS = [f.name for f in dataclasses.fields(Record) if f.type in ("str", "int", "float", "bool", "str | None",
                                                                        "int | None", "float | None",
                                                                        "bool | None")]
DISTANCE_FIELDS = [f.name for f in dataclasses.fields(DistanceScore)]
HISTORY_FIELDS = [f.name for f in dataclasses.fields(HistoryPoint)]


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# ---------------------------------------------------------------------------------------------- reading, writing


def write_json_atomic(path: Path, content) -> None:
    write_atomic(path, lambda handle: json.dump(content, handle, indent=1))


def write(record: Record) -> Path:
    """result.json: the evidence, and the judgment of the rule at the time of writing (``read`` replaces it)."""
    path = Path(record.run_dir) / RESULT_FILE
    write_json_atomic(path, dataclasses.asdict(record))
    return path


def write_or_report(record: Record) -> None:
    """Write a failed run's record; if even that fails (a full or read-only disk), say so on stderr: the sweeper
    then lists the run as failed without a record."""
    try:
        write(record)
    except OSError as error:
        print(f"run failed and its result could not be written to {record.run_dir}: {record.reason}; {error}",
              file=sys.stderr)


def read(path: Path, fraction: float = verdict.FRACTION, ladder: list[int] | None = None
         ) -> tuple[Record | None, str | None]:
    """(record, None) for a record of this harness, judged by the rule as it is now at threshold ``fraction``, on
    its own ladder or on ``ladder`` (``judged``), else (None, why it is not one). The only reader."""
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        return None, f"not readable JSON ({error})"
    if not isinstance(content, dict) or "schema_version" not in content:
        return None, "not a result record of this harness (no schema_version)"
    if content["schema_version"] != SCHEMA_VERSION:
        name = (content.get("config") or {}).get("name", "NAME")
        return None, (f"{content.get('model')} on {content.get('task')}, seed {content.get('seed')}: schema_version "
                      f"{content['schema_version']}, written by another version of this harness (this one reads "
                      f"{SCHEMA_VERSION}), whose evidence lacks what the rule needs (both curves at every rung); "
                      f"rerun the sweep that made it to make it (`python run.py -m experiment={name}` for a stored "
                      f"experiment; its exact command is in {Path(path).parent.parent / 'multirun.yaml'})")
    try:
        record = Record(**content)
        record.accuracy_by_distance = [DistanceScore(**row) for row in record.accuracy_by_distance]
        record.history = [HistoryPoint(**row) for row in record.history]
        record.rung_results = [RungResult(**row) for row in record.rung_results]
    except TypeError as error:  # a missing or unknown field
        return None, f"not a result record of this harness ({error})"
    if record.status not in ("finished", "failed"):
        return None, f"status {record.status!r}: the run never finished writing"
    record.run_dir = str(Path(path).parent)  # where it is now, even if the directory was moved
    return judged(record, ladder, fraction), None


def judged(record: Record, ladder: list[int] | None = None, fraction: float = verdict.FRACTION) -> Record:
    """The record as the rule reads it now (harness.verdict.judge_run on its ladder, or on ``ladder`` when the
    run is asked to climb another): its verdict, the rung it is read at (``steps``) and the test curve there.
    A run the rule stops at an earlier rung than it trained to is read there (``read_rungs``; the evidence of
    later rungs stays in the record); a run the rule would send higher is ``climbing`` (stop_reason
    ``paused``) at its last rung."""
    if not record.complete or not record.rung_results:
        return record
    rungs = record.rung_results
    top = (ladder or record.rungs)[-1]
    judgment = verdict.judge_run([r.step for r in rungs], [[verdict.Point(*p) for p in r.curve] for r in rungs],
                                 [r.at_target for r in rungs], record.chance_accuracy, top, fraction)
    made, read_at = judgment.decision, rungs[judgment.rung]
    trained, heldout = set(record.train_distances), set(record.heldout_distances)
    val = {p[0]: p for p in read_at.curve}
    scores = [DistanceScore(d, a, n, d in trained, d in heldout, val[d][1], val[d][2]) for d, a, n in read_at.test]
    past = {(p[0], p[1]): p for p in read_at.beyond}
    longest = max(trained, default=0)
    scores += [DistanceScore(d, a, n, d in trained, False, past[d, length][2] if (d, length) in past else None,
                             past[d, length][3] if (d, length) in past else 0, length, d > longest)
               for d, length, a, n in read_at.test_beyond]
    return dataclasses.replace(
        record, steps=read_at.step, verdict=made.verdict, stop_reason=stop_reason(made.verdict),
        accuracy_by_distance=scores,
        incidental_accuracy_by_distance=[{"distance": d, "accuracy": a, "n": n} for d, a, n in read_at.incidental])


def stop_reason(made: str) -> str:
    """target: every trained distance at its target; decided: the rule called it final below the top; top: the
    top rung ended it; paused: the rule asks for a higher rung than it trained to."""
    if made == "climbing":
        return "paused"
    if made == "target":
        return "target"
    return "top" if made in ("budget_bound", "not_learned") else "decided"


def find(root: Path) -> list[Path]:
    return sorted(Path(root).rglob(RESULT_FILE))


class MetricsLog:
    """metrics.jsonl: one JSON object per line, flushed as it is written, so it can be read while a run trains.
    A resumed run keeps the lines up to its checkpoint's step (``keep_until``) and appends after them."""

    def __init__(self, path: Path, keep_until: int = 0):
        kept = [row for row in read_metrics(path) if row.get("step", 0) <= keep_until] if keep_until else []
        self.handle = open(path, "w", buffering=1)
        for row in kept:
            self.handle.write(json.dumps(row) + "\n")

    def write(self, **values) -> None:
        self.handle.write(json.dumps(values) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def read_metrics(path: Path) -> list[dict]:
    """The lines of a metrics.jsonl written so far; a half-written last line (the run is writing) is skipped."""
    rows = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


# ---------------------------------------------------------------------------------------------- provenance


def normalised_source(path: Path) -> str:
    """The module's syntax tree without comments, docstrings or layout: only what can change a result.

    A comment, a docstring or a reformatting leaves the hash alone; any change to code does not."""
    tree = ast.parse(Path(path).read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def source_files(*classes) -> list[str]:
    """Repository files that decide a run's result: the modules of the task's and the model's classes and of
    every class they inherit from, every project module those import (a shared helper such as tasks/instances.py
    or a position table in models/attention.py changes results too), and the training loop."""
    files, pending = set(LOOP_MODULES), [klass.__module__ for component in classes for klass in component.__mro__]
    seen = set()
    while pending:
        name = pending.pop()
        module = sys.modules.get(name)
        if name in seen or module is None or not getattr(module, "__file__", None):
            continue
        seen.add(name)
        path = Path(inspect.getfile(module)).resolve()
        if not (path.is_relative_to(REPO_ROOT) and path.relative_to(REPO_ROOT).parts[0] in PROJECT_PACKAGES):
            continue
        files.add(str(path.relative_to(REPO_ROOT)))
        pending += [getattr(value, "__module__", None) or getattr(value, "__name__", "")
                    for value in vars(module).values() if inspect.ismodule(value) or inspect.isclass(value)
                    or inspect.isfunction(value)]
    return sorted(files)


def source_hashes(files: list[str]) -> dict[str, str]:
    return {name: hashlib.sha256(normalised_source(REPO_ROOT / name).encode()).hexdigest()[:12] for name in files}


def combined_hash(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:12]


def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout, or (None, None) outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def source_diff(files: list[str]) -> str | None:
    """``git diff HEAD`` of these files (the run's training and scoring code), or None when they are committed."""
    try:
        diff = subprocess.run(["git", "diff", "HEAD", "--", *files], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return diff or None


def what_changed(stored: Record, current: dict[str, str]) -> list[str]:
    """The files whose normalised source differs from the stored record's (or that are new or gone)."""
    names = set(stored.source_files) | set(current)
    return sorted(name for name in names if stored.source_files.get(name) != current.get(name))


def reusable(stored: Record | None, config_hash: str, sources: dict[str, str], ladder: list[int],
             stop_at: int | None = None) -> tuple[bool, str]:
    """Whether a stored record can stand for a run with this config and source on this ``ladder`` that climbs
    to step ``stop_at`` (train.climb_to; None: the top), judged by the rule as it is now, and if not, why (one
    line). A run the rule calls final, or one that trained as far as asked, stands; any other climbs on."""
    if stored is None or not stored.complete:
        return False, "no complete result"
    if stored.config_hash != config_hash:
        return False, "config changed"
    changed = what_changed(stored, sources)
    if changed:
        return False, f"code changed since this result: {', '.join(changed)}"
    now = judged(stored, ladder)
    if now.verdict in verdict.RUN_FINAL:
        return True, f"complete result for this config and code ({now.verdict} at step {now.steps})"
    stop_at = stop_at or ladder[-1]
    if stored.trained_steps < stop_at:
        return False, f"climbing at step {stored.trained_steps}: climbs on to step {stop_at}"
    return True, f"complete result for this config and code (climbing, paused at step {stored.trained_steps})"
