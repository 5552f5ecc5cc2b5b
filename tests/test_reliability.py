"""Reliability: the same config gives the same numbers, and kills and faults never lose or fake a result."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import torch
from conftest import REPO, TINY_TRAIN, compose_config, run_script

import run
from analysis.records import load_records

SIX_RUNS = ["model=attention,gru,lstm", "task.distances=2,3", "task.seq_len=12", "train.steps=30",
            "train.eval_every=10"]


def sweep_args(outputs: Path, name: str, *extra: str) -> list[str]:
    return ["run.py", "-m", *TINY_TRAIN, f"out_root={outputs}", f"name={name}", *extra]


# ------------------------------------------------------------------------------------------------ determinism


def test_same_config_seed_and_threads_give_bit_identical_results(tmp_path):
    overrides = [*TINY_TRAIN, "train.steps=12", "train.eval_every=4", "task.seq_len=16", "task.distances=3",
                 "task.eval_distances=[3,7]", "threads=1"]
    records, weights = [], []
    for attempt in ("first", "second"):
        cfg = compose_config([*overrides, f"out_root={tmp_path}"])
        records.append(run.execute(cfg, tmp_path / attempt, "attention", "nback", multirun=True))
        weights.append(torch.load(tmp_path / attempt / "model.pt", weights_only=True))
    first, second = records
    assert first["accuracy_by_distance"] == second["accuracy_by_distance"]
    assert first["history"] == second["history"]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    for key in ("torch_threads", "torch_version", "python_version", "numpy_version", "hydra_version"):
        assert first[key], key
    assert first["torch_threads"] == 1


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


# ------------------------------------------------------------------------------------------------ kills


def check_every_result_is_complete(directory: Path) -> dict:
    """Every result.json present parses, is finished or failed, and belongs to its own directory."""
    found = {}
    for path in directory.rglob("result.json"):
        record = json.loads(path.read_text())  # a half-written file would raise here
        assert record["status"] in ("finished", "failed")
        assert path.parent.name.endswith(record["config_hash"])
        found[path.parent.name] = record
    return found


def kill_repeatedly_then_resume(outputs: Path, kills: int, seed: int, *extra: str) -> None:
    rng = random.Random(seed)
    command = [sys.executable, *sweep_args(outputs, "kills", *SIX_RUNS, *extra)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(kills):
        sweep = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        time.sleep(rng.uniform(0.5, 6.0))  # anywhere: start-up, mid-training, mid-write, between runs
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
        check_every_result_is_complete(outputs / "kills")
    final = run_script(sweep_args(outputs, "kills", *SIX_RUNS, *extra))
    assert final.returncode == 0, final.stdout + final.stderr
    records = check_every_result_is_complete(outputs / "kills")
    assert len(records) == 6 and all(r["status"] == "finished" for r in records.values())
    assert sorted(p.name for p in (outputs / "kills").rglob("result.json")) == ["result.json"] * 6
    assert not list((outputs / "kills").rglob(".*.tmp")), "no temporary file may outlive its run"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the report reads all six without skipping anything
        assert len(load_records(outputs / "kills")) == 6


def test_three_random_kills_then_resume(outputs):
    kill_repeatedly_then_resume(outputs, kills=3, seed=0)


@pytest.mark.slow
def test_ten_random_kills_of_a_parallel_sweep_then_resume(outputs):
    kill_repeatedly_then_resume(outputs, 10, 1, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")


def fake_job(tmp_path: Path, name: str, state: str):
    """A sweeper Job whose run directory looks finished, started-then-lost, or never started."""
    from hydra_plugins.resumable_sweeper import Job

    run_dir = tmp_path / name
    run_dir.mkdir()
    if state in ("finished", "lost"):
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra" / "overrides.yaml").write_text("[]")
    if state == "finished":
        (run_dir / "result.json").write_text(json.dumps({"config_hash": name, "status": "finished"}))
    return Job([f"name={name}"], run_dir, name, name)


def test_a_lost_worker_requeues_the_jobs_that_never_started_once(tmp_path):
    """joblib aborts a whole batch when one worker dies (the OOM killer, say): innocent jobs go back on the
    queue once, the jobs in flight fail with the launcher's reason, and a broken launcher is not retried."""
    from hydra_plugins.resumable_sweeper import ResumableSweeper

    started = time.time()
    done, lost, waiting = (fake_job(tmp_path, n, s) for n, s in [("a", "finished"), ("b", "lost"), ("c", "never")])
    retry = ResumableSweeper.settle([done, lost, waiting], "TerminatedWorkerError: worker died", started)
    assert retry == [waiting] and waiting.outcome is None and waiting.attempts == 1
    assert done.outcome == "finished"
    assert lost.outcome == "failed" and "TerminatedWorkerError" in lost.reason and "rerun" in lost.reason

    again = ResumableSweeper.settle([waiting], "TerminatedWorkerError: worker died", time.time())
    assert again == [] and waiting.outcome == "failed"  # one retry only: the second loss is recorded
    assert "before it started" in waiting.reason

    idle = fake_job(tmp_path, "d", "never")
    assert ResumableSweeper.settle([idle], "BrokenLauncher: no workers", time.time()) == []
    assert idle.outcome == "failed" and "before it started" in idle.reason  # nothing started: not retried


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is pid, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                found.append((int(stat.parent.name), (stat.parent / "cmdline").read_text().replace("\0", " ")))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.slow
def test_a_killed_joblib_worker_costs_only_the_runs_in_flight(outputs):
    long_runs = ["model=attention,gru,lstm", "task.distances=2,3,4", "task.seq_len=12", "train=quick",
                 "train.steps=1500", "train.eval_every=500", "train.target_accuracy=1.0", "train.eval_sequences=8"]
    command = [sys.executable, *sweep_args(outputs, "w", *long_runs, "hydra/launcher=joblib",
                                           "hydra.launcher.n_jobs=2")]
    sweep = subprocess.Popen(command, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not list((outputs / "w").rglob(".hydra")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    workers = [pid for pid, cmd in children(sweep.pid) if "LokyProcess" in cmd]
    assert workers, "no joblib worker found"
    os.kill(workers[0], signal.SIGKILL)
    output, _ = sweep.communicate(timeout=600)
    assert sweep.returncode == 1, output[-3000:]  # the runs in flight failed, and the exit code says so
    assert "go back on the queue" in output
    records = check_every_result_is_complete(outputs / "w")
    lost = json.loads((outputs / "w" / "sweep.json").read_text())["jobs"]
    failed = [job for job in lost if job["outcome"] == "failed"]
    assert 1 <= len(failed) <= 2 and all("worker was lost" in job["reason"] for job in failed)
    assert sum(r["status"] == "finished" for r in records.values()) == 9 - len(failed)
    resume = run_script(sweep_args(outputs, "w", *long_runs, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"))
    assert resume.returncode == 0 and f"running {len(failed)}" in resume.stdout


# ------------------------------------------------------------------------------------------------ faults

FAULTY_TASK = '''
from tasks.nback import NBack


class FaultyNBack(NBack):
    """n-back whose sampler raises on its fail_at_call-th call: a task bug in the middle of training."""

    def __init__(self, fail_at_call: int = 5, **settings):
        super().__init__(**settings)
        self.fail_at_call, self.calls = fail_at_call, 0

    def sample(self, batch_size, generator, distance=None):
        self.calls += 1
        if self.calls == self.fail_at_call:
            raise RuntimeError("the sampler broke on purpose")
        return super().sample(batch_size, generator, distance)
'''


def test_an_exception_inside_a_task_sampler_fails_that_run_only(outputs, tmp_path):
    (tmp_path / "faulty_task.py").write_text(textwrap.dedent(FAULTY_TASK))
    sweep = run_script(sweep_args(outputs, "faulty", "task._target_=faulty_task.FaultyNBack",
                                  "+task.fail_at_call=5,1000", "task.seq_len=12", "task.distances=2"),
                       extra_env={"PYTHONPATH": str(tmp_path)})
    assert sweep.returncode == 1
    records = check_every_result_is_complete(outputs / "faulty")
    statuses = sorted(record["status"] for record in records.values())
    assert statuses == ["failed", "finished"]
    [failed] = [r for r in records.values() if r["status"] == "failed"]
    assert failed["reason"] == "RuntimeError: the sampler broke on purpose"
    assert "1 finished, 1 failed" in sweep.stdout


def test_a_full_disk_is_recorded_as_a_failure(tmp_path, monkeypatch):
    """The finished record cannot be written (ENOSPC); the failure record can: it says why."""
    calls = []
    original = run.write_json_atomic

    def full_once(path, record):
        calls.append(record["status"])
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(path, record)

    monkeypatch.setattr(run, "write_json_atomic", full_once)
    cfg = compose_config([*TINY_TRAIN, "task.seq_len=12", "task.distances=2", f"out_root={tmp_path}"])
    record = run.execute(cfg, tmp_path / "run", "attention", "nback", multirun=True)
    assert calls == ["finished", "failed"]
    assert record["status"] == "failed" and "No space left on device" in record["reason"]
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "failed"


def test_a_disk_that_takes_nothing_does_not_crash_the_run(tmp_path, monkeypatch, capsys):
    def always_full(path, record):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(run, "write_json_atomic", always_full)
    cfg = compose_config([*TINY_TRAIN, "task.seq_len=12", "task.distances=2", f"out_root={tmp_path}"])
    record = run.execute(cfg, tmp_path / "run", "attention", "nback", multirun=True)  # must not raise
    assert record["status"] == "failed" and "Read-only file system" in record["reason"]
    assert "could not be written" in capsys.readouterr().err
    assert not (tmp_path / "run" / "result.json").exists()


def test_an_unwritable_run_directory_fails_that_run_and_the_sweep_goes_on(outputs):
    """A file standing where a run directory must go (as a read-only or broken mount would) fails that run
    before it is launched; the other runs finish and the exit code says a run failed."""
    first = run_script(sweep_args(outputs, "blocked", "model=gru", "task.seq_len=12", "task.distances=2"))
    assert first.returncode == 0
    [gru_dir] = [p for p in (outputs / "blocked").iterdir() if p.name.startswith("gru_")]
    for path in sorted(gru_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    gru_dir.rmdir()
    gru_dir.write_text("not a directory")
    sweep = run_script(sweep_args(outputs, "blocked", "model=gru,lstm", "task.seq_len=12", "task.distances=2"))
    assert sweep.returncode == 1
    assert "output directory not writable" in sweep.stdout
    assert "1 finished, 1 failed" in sweep.stdout
    manifest = json.loads((outputs / "blocked" / "sweep.json").read_text())
    assert sorted(job["outcome"] for job in manifest["jobs"]) == ["failed", "finished"]
