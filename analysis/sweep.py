"""Read a sweep manifest (``<sweep dir>/sweep.json``), when there is one, to tell a partial sweep from a whole one.

The manifest lists every job a sweep launched, and those of other sweeps sharing its directory
(hydra_plugins/resumable_sweeper writes it):
``{"schema_version": 1, "name", "state": "running" | "finished", "started_at", "finished_at",
"jobs": [{"run_dir", "config_hash", "cell", "seed", "lr", "overrides", "outcome", "reason"}], "summary"}``
(``cell``: harness.record.cell_hash, the cell a report files the run under; older manifests lack it).
A job has results when a result.json with its config hash was read, or its run_dir holds one. A job without
one is pending while its outcome is null; a job the sweep marked failed without a result.json (the launcher
failed, the directory was not writable) is a failure with the manifest's reason. Without a manifest the
report covers the records it finds and says it cannot know what is missing.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from harness.record import RESULT_FILE

MANIFEST_FILE = "sweep.json"


class Skipped(UserWarning):
    """A file under the results directory that was not read: the message names it and says why."""


@dataclass
class SweepProgress:
    path: Path
    name: str
    state: str
    jobs: list[dict]
    pending: list[dict]  # no result.json, no outcome yet
    failed: list[dict]  # no result.json, and the sweep says why it has none

    @property
    def with_results(self) -> int:
        return len(self.jobs) - len(self.pending) - len(self.failed)

    @property
    def partial(self) -> bool:
        return bool(self.pending) or self.state == "running"


def read_manifests(root: Path) -> dict[Path, dict]:
    """Every manifest under root; a file that is not one is skipped with a warning naming it."""
    manifests = {}
    for path in sorted(Path(root).rglob(MANIFEST_FILE)):
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            warnings.warn(f"ignoring {path}: not readable JSON ({error})", Skipped, stacklevel=2)
            continue
        jobs = manifest.get("jobs") if isinstance(manifest, dict) else None
        if not isinstance(jobs, list) or not all(isinstance(job, dict) and "run_dir" in job for job in jobs):
            warnings.warn(f"ignoring {path}: not a sweep manifest (needs a list of jobs, each with a run_dir)",
                          Skipped, stacklevel=2)
            continue
        manifests[path] = manifest
    return manifests


def job_run_dirs(manifests: dict[Path, dict]) -> list[Path]:
    """Run directories the manifests point to (they may lie outside the directory being reported)."""
    return [Path(job["run_dir"]) for manifest in manifests.values() for job in manifest["jobs"]]


def progress(path: Path, manifest: dict, result_hashes: set[str]) -> SweepProgress:
    jobs = manifest["jobs"]
    missing = [job for job in jobs if job.get("config_hash") not in result_hashes
               and not (Path(job["run_dir"]) / RESULT_FILE).is_file()]
    return SweepProgress(Path(path), str(manifest.get("name") or Path(path).parent.name),
                         str(manifest.get("state") or "unknown"), jobs,
                         [job for job in missing if job.get("outcome") is None],
                         [job for job in missing if job.get("outcome") is not None])


def job_label(job: dict) -> dict:
    """model, task and a readable override string for a job that has no result.json to say what it was."""
    overrides = [str(o) for o in job.get("overrides") or []]
    choice = {o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[1] for o in overrides if "=" in o}
    reason = job.get("reason") or f"outcome {job.get('outcome')!r}, but no result.json"
    return {"model": choice.get("model", ""), "task": choice.get("task", ""), "overrides": " ".join(overrides),
            "run_dir": job["run_dir"], "reason": reason if job.get("outcome") is not None else ""}
