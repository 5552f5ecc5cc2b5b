"""Stored runs into tables. ``load(DIR)`` reads everything once and returns a ``Results``:

    results = analysis.load("outputs/quick")
    results.table       # one row per run and evaluated distance: Record's scalar fields + DistanceScore's fields
    results.runs        # one row per run: Record's scalar fields and its distance lists
    results.history     # one row per run, evaluation and distance: the run's keys + HistoryPoint's fields
    results.rungs       # one row per run, rung and distance of the fine curve: the validation curve judged there
    results.beyond      # past the training length (train.extrapolate): test rows, and validation rows per rung
    results.live        # runs still training (metrics.jsonl, no result.json yet): one row per step and series
    results.pending     # runs a sweep manifest lists with no record yet, in the cell each will join
    results.records, results.sweeps, results.unreadable

Records are read by harness.record.read, the one reader, and the columns derive from its dataclasses, so a
field added there appears here. Failed runs stay in ``table`` with a row per distance they should have
measured and no accuracy: shown as failures, never as zeros. Files that are not records are kept in
``unreadable`` with the reason, and each is warned about.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from analysis.sweep import Skipped, SweepProgress, job_run_dirs, progress, read_manifests
from harness import record as schema
from harness.record import DISTANCE_FIELDS, HISTORY_FIELDS, METRICS_FILE, RESULT_FILE, RUN_FIELDS, Record
from harness.verdict import FRACTION

CELL = ["task", "protocol", "model", "batch_size"]  # what a window is of (each run states the steps it took)
LIST_FIELDS = [f.name for f in dataclasses.fields(Record) if f.type == "list[int]"]  # the run's distances
TABLE_COLUMNS = RUN_FIELDS + DISTANCE_FIELDS
RUN_COLUMNS = RUN_FIELDS + LIST_FIELDS
HISTORY_KEYS = CELL + ["lr", "seed", "chance_accuracy", "target_accuracy", "steps", "max_steps", "stop_reason",
                       "verdict", "run_dir"]
HISTORY_COLUMNS = HISTORY_KEYS + HISTORY_FIELDS + ["trained", "heldout"]
RUNG_COLUMNS = HISTORY_KEYS + ["rung", "distance", "accuracy", "n", "answers", "test_accuracy", "test_n", "trained",
                                "heldout"]
LIVE_COLUMNS = ["run", "run_dir", "step", "quantity", "series", "distance", "value"]


class NoResults(RuntimeError):
    pass


@dataclass
class Results:
    """Everything stored under one directory; the tables are derived from ``records`` on first use."""

    directory: Path
    records: list[Record]
    unreadable: list[tuple[Path, str]]  # (file, why it is not a record)
    sweeps: list[SweepProgress]
    live_dirs: list[Path]  # runs with a metrics.jsonl and no result.json: still training, or interrupted

    @cached_property
    def table(self) -> pd.DataFrame:
        return sized(tidy(self.records), self.records)

    @cached_property
    def runs(self) -> pd.DataFrame:
        return sized(run_table(self.records), self.records)

    @cached_property
    def history(self) -> pd.DataFrame:
        return sized(history_table(self.records), self.records)

    @cached_property
    def rungs(self) -> pd.DataFrame:
        return sized(rung_table(self.records), self.records)

    @cached_property
    def beyond(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(test rows, validation rows per rung) scored past the training length, each with its ``length``."""
        return sized(tidy(self.records, beyond=True), self.records), sized(rung_table(self.records, beyond=True),
                                                                           self.records)

    @cached_property
    def live(self) -> pd.DataFrame:
        return live_table(self.live_dirs, self.directory)

    @cached_property
    def pending(self) -> pd.DataFrame:
        """One row per run a sweep manifest lists with no record yet, in the cell (CELL) it will join, with its lr
        and seed: a cell read while its other seeds, or a rate candidate, are still to run is not final. Only cells
        that have a record (no other is on a page) and manifests that name each job's cell (harness.record
        cell_hash, written by the sweeper since it stores one)."""
        labelled = self.runs.set_index("run_dir")
        cells = {}
        for record in self.records:
            cells.setdefault(schema.cell_hash(record.config), tuple(labelled.loc[record.run_dir, CELL]))
        rows = [{**dict(zip(CELL, cells[job["cell"]])), "lr": float(job["lr"]), "seed": int(job["seed"])}
                for sweep in self.sweeps for job in sweep.pending if job.get("cell") in cells]
        return pd.DataFrame(rows, columns=CELL + ["lr", "seed"])


def load(directory: Path, fraction: float = FRACTION) -> Results:
    """Every record under DIR (plus any a sweep manifest points to elsewhere), judged by the rule as it is now at
    threshold ``fraction`` (harness.record.read), the files that are not records, sweep progress, and the runs
    still training."""
    directory = Path(directory)
    manifests = read_manifests(directory)
    paths = {p.resolve(): p for p in schema.find(directory)}
    for run_dir in job_run_dirs(manifests):
        if (run_dir / RESULT_FILE).is_file():
            paths.setdefault((run_dir / RESULT_FILE).resolve(), run_dir / RESULT_FILE)
    records, unreadable = [], []
    for path in sorted(paths.values()):
        record, problem = schema.read(path, fraction)
        if record is None:
            unreadable.append((path, problem))
            warnings.warn(f"skipping {path}: {problem}", Skipped, stacklevel=2)
        else:
            records.append(record)
    hashes = {record.config_hash for record in records}
    sweeps = [progress(path, manifest, hashes) for path, manifest in manifests.items()]
    done = {path.parent.resolve() for path in paths.values()}  # a result.json, even an unreadable one: not live
    metrics = {p.parent.resolve(): p.parent for p in directory.rglob(METRICS_FILE)}
    metrics.update({d.resolve(): d for d in job_run_dirs(manifests) if (d / METRICS_FILE).is_file()})
    live = [metrics[key] for key in sorted(metrics) if key not in done]
    return Results(directory, records, unreadable, sweeps, live)


def load_records(directory: Path) -> list[Record]:
    """The records under DIR alone (unreadable files are warned about and skipped)."""
    return load(directory).records


# ---------------------------------------------------------------------------------------------- tables


def labels(records: list[Record], group: str, axes: tuple[str, ...] = ()) -> dict[str, str]:
    """run_dir -> the name a run's model (``group="model"``) or task (``"task"``) goes by in tables and figures: its
    conf name, or, where one directory holds it with several settings, the name with the settings that differ
    (``gru hidden_size=256``, ``recall instances=8``). Sizes and loads are never pooled. ``axes``: keys that are
    a curve's axis, never a setting (a task's distances)."""
    settings: dict[str, dict[str, dict]] = {}
    for record in records:
        config = {k: v for k, v in (record.config.get(group) or {}).items() if k not in ("_target_", *axes)}
        settings.setdefault(getattr(record, group), {})[record.run_dir] = config
    named = {}
    for name, by_run in settings.items():
        keys = sorted({k for config in by_run.values() for k in config})
        differing = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in by_run.values()}) > 1]
        for run_dir, config in by_run.items():
            named[run_dir] = " ".join([name] + [f"{k}={config.get(k)}" for k in differing])
    return named


def model_labels(records: list[Record]) -> dict[str, str]:
    """Each run's model name (``labels``); the task's vocabulary, which changes the parameter count from task to
    task, does not make a new model."""
    return labels(records, "model")


def task_labels(records: list[Record]) -> dict[str, str]:
    """Each run's task name (``labels``): a load sweep's recall at instances=1..32 is six tasks."""
    return labels(records, "task", ("distances", "eval_distances"))


def load_of(record: Record) -> float:
    """The load of the record's task (the value of its class's ``load_key``), or NaN for a task that names none."""
    from hydra.utils import get_class

    task = record.config.get("task") or {}
    try:
        key = getattr(get_class(task["_target_"]), "load_key", None)
    except Exception:  # a task this checkout cannot import (a record from elsewhere): no load to read
        return float("nan")
    return float(task[key]) if key and task.get(key) is not None else float("nan")


def sized(frame: pd.DataFrame, records: list[Record]) -> pd.DataFrame:
    """``frame`` with ``model`` and ``task`` replaced by model_labels and task_labels (the conf names kept as
    ``family`` and ``task_family``), and each row's ``load`` (load_of)."""
    models, tasks = model_labels(records), task_labels(records)
    loads = {record.run_dir: load_of(record) for record in records}
    return frame.assign(family=frame.model, model=frame.run_dir.map(models).fillna(frame.model),
                        task_family=frame.task, task=frame.run_dir.map(tasks).fillna(frame.task),
                        load=frame.run_dir.map(loads).astype(float))


def run_fields(record: Record) -> dict:
    return {name: getattr(record, name) for name in RUN_FIELDS}


def tidy(records: list[Record], beyond: bool = False) -> pd.DataFrame:
    """One row per (run, distance of its fine curve), on the test sets at the rung the run is read at. A failed
    run gets a row per distance it should have measured, with no accuracy, so it is visible wherever it would
    have appeared, and never as a zero."""
    rows = []
    for record in records:
        run = run_fields(record)
        if beyond:  # past the training length only (``length`` set); see Results.beyond
            rows += [{**run, **dataclasses.asdict(s)} for s in record.accuracy_by_distance if s.length is not None]
        elif record.complete and record.accuracy_by_distance:
            rows += [{**run, **dataclasses.asdict(s)} for s in record.accuracy_by_distance if s.length is None]
        else:
            rows += [{**run, "distance": d, "n": 0, "trained": d in record.train_distances,
                      "heldout": d in record.heldout_distances, "val_n": 0}
                     for d in record.fine_distances or record.eval_distances or [None]]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values(["task", "model", "seed", "distance", "run_dir"], kind="stable").reset_index(drop=True)


def run_table(records: list[Record]) -> pd.DataFrame:
    """One row per run: what it was, how it ended, and where and with what it ran."""
    rows = [{**run_fields(r), **{name: " ".join(map(str, getattr(r, name))) for name in LIST_FIELDS}}
            for r in records]
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    first = [min(r.train_distances, default=-1) for r in records]
    order = table.assign(first=first).sort_values(["task", "model", "protocol", "lr", "seed", "first", "run_dir"],
                                                  kind="stable").index
    return table.loc[order].reset_index(drop=True)


def history_table(records: list[Record]) -> pd.DataFrame:
    """One row per (finished run, evaluation, distance) up to the rung it is read at: how accuracy at each listed
    distance grew in training, on the validation stream."""
    rows = []
    for record in filter(lambda r: r.complete, records):
        run = {key: getattr(record, key) for key in HISTORY_KEYS}
        rows += [{**run, **dataclasses.asdict(point), "trained": point.distance in record.train_distances,
                  "heldout": point.distance in record.heldout_distances}
                 for point in record.history if point.step <= record.steps]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def rung_table(records: list[Record], beyond: bool = False) -> pd.DataFrame:
    """One row per (finished run, rung up to the one it is read at, distance of the fine curve): the validation
    curve harness.verdict judged at that rung (with each position's right or wrong answer, for paired
    comparisons between rungs) and the test curve scored beside it."""
    rows = []
    for record in filter(lambda r: r.complete, records):
        run = {key: getattr(record, key) for key in HISTORY_KEYS}
        trained, heldout = set(record.train_distances), set(record.heldout_distances)
        for rung in record.read_rungs():
            if beyond:  # the rows scored past the training length, with their length
                test = {(d, length): (a, n) for d, length, a, n in rung.test_beyond}
                rows += [{**run, "rung": rung.step, "distance": d, "length": length, "accuracy": a, "n": n,
                          "answers": answers, "test_accuracy": test.get((d, length), (None, 0))[0],
                          "test_n": test.get((d, length), (None, 0))[1], "trained": d in trained, "heldout": False}
                         for d, length, a, n, answers in rung.beyond]
                continue
            test = {d: (a, n) for d, a, n in rung.test}
            rows += [{**run, "rung": rung.step, "distance": d, "accuracy": a, "n": n, "answers": answers[0] if answers
                      else "", "test_accuracy": test.get(d, (None, 0))[0], "test_n": test.get(d, (None, 0))[1],
                      "trained": d in trained, "heldout": d in heldout} for d, a, n, *answers in rung.curve]
    return pd.DataFrame(rows, columns=RUNG_COLUMNS + (["length"] if beyond else []))


def live_table(run_dirs: list[Path], directory: Path) -> pd.DataFrame:
    """The metrics.jsonl of runs still training, long: validation accuracy per distance and loss, per step."""
    rows = []
    for run_dir in run_dirs:
        run = {"run": relative(run_dir, directory), "run_dir": str(run_dir)}
        for line in schema.read_metrics(run_dir / METRICS_FILE):
            if "loss" in line:
                rows.append({**run, "step": line["step"], "quantity": "loss", "series": "loss", "value": line["loss"]})
            rows += [{**run, "step": line["step"], "quantity": "validation accuracy", "series": f"d={d}",
                      "distance": int(d), "value": accuracy}
                     for d, accuracy in (line.get("val_accuracy") or {}).items()]
    return pd.DataFrame(rows, columns=LIVE_COLUMNS)


def relative(path: Path, directory: Path) -> str:
    try:
        return os.path.relpath(path, directory)
    except ValueError:
        return str(path)
