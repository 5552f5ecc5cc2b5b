"""Sweeps that survive: kill and resume, failures isolated, launchers agree, bad sweeps stopped up front."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, TINY_TRAIN, run_script

SIX_RUNS = ["model=attention,gru,lstm", "task.distances=2,3", "task.seq_len=12"]


def sweep_args(outputs: Path, name: str, *extra: str) -> list[str]:
    return ["run.py", "-m", *TINY_TRAIN, f"out_root={outputs}", f"name={name}", *extra]


def results(directory: Path) -> dict[str, dict]:
    """run directory name -> record, for every result.json under directory."""
    return {path.parent.name: json.loads(path.read_text()) for path in sorted(directory.rglob("result.json"))}


def test_sweep_prints_progress_writes_manifest_and_resumes(outputs):
    first = run_script(sweep_args(outputs, "s", *SIX_RUNS))
    assert first.returncode == 0, first.stderr
    assert "[6/6] model=" in first.stdout and "[1/6] model=" in first.stdout
    assert "6 finished, 0 failed" in first.stdout
    manifest = json.loads((outputs / "s" / "sweep.json").read_text())
    assert manifest["state"] == "finished" and len(manifest["jobs"]) == 6
    assert {job["outcome"] for job in manifest["jobs"]} == {"finished"}

    stamps = {name: record["finished_at"] for name, record in results(outputs / "s").items()}
    again = run_script(sweep_args(outputs, "s", *SIX_RUNS))
    assert again.returncode == 0 and "6 already complete and skipped" in again.stdout
    assert "6 skipped (complete), 0 finished" in again.stdout
    assert {name: record["finished_at"] for name, record in results(outputs / "s").items()} == stamps

    forced = run_script(sweep_args(outputs, "s", *SIX_RUNS, "+force=true"))
    assert forced.returncode == 0 and "6 finished" in forced.stdout


def test_kill_and_resume(outputs):
    """SIGKILL a real sweep after about half of its runs, rerun it: every run ends with exactly one complete
    result, no temporary file is read as a result, and the runs that had finished are not retrained."""
    command = [sys.executable, *sweep_args(outputs, "k", *SIX_RUNS, "train.steps=30", "train.eval_every=10")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sweep = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.time() + 120
    while len(list((outputs / "k").rglob("result.json"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    before = {name: record["finished_at"] for name, record in results(outputs / "k").items()}
    assert 3 <= len(before) < 6, "the kill should land in the middle of the sweep"
    assert all(record["status"] == "finished" for record in results(outputs / "k").values())

    rerun = run_script(sweep_args(outputs, "k", *SIX_RUNS, "train.steps=30", "train.eval_every=10"))
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)} already complete and skipped" in rerun.stdout
    after = results(outputs / "k")
    assert len(after) == 6 and all(record["status"] == "finished" for record in after.values())
    assert all(after[name]["finished_at"] == stamp for name, stamp in before.items()), "a finished run was redone"
    assert [p.name for p in (outputs / "k").rglob("result.json")].count("result.json") == 6
    assert not list((outputs / "k").rglob(".*.tmp")), "temporary files must not survive a completed run"


def test_a_diverging_run_fails_alone_and_the_exit_code_says_so(outputs):
    sweep = run_script(sweep_args(outputs, "d", "model=attention,gru", "task.seq_len=12", "task.distances=2",
                                  "train.lr=1e30,0.001", "train.grad_clip=1e30"))
    assert sweep.returncode == 1
    records = results(outputs / "d")
    assert len(records) == 4
    failed = [r for r in records.values() if r["status"] == "failed"]
    assert len(failed) == 2 and all(r["reason"].startswith("diverged at step") for r in failed)
    assert "2 finished, 2 failed" in sweep.stdout and "FAILED [" in sweep.stdout


def comparable(directory: Path) -> dict:
    return {name: (record["status"], [row["accuracy"] for row in record["accuracy_by_distance"]])
            for name, record in results(directory).items()}


@pytest.mark.parametrize("launcher", ["joblib", "local_submitit"])
def test_parallel_launchers_match_the_sequential_sweep(outputs, launcher):
    """Same config hashes, same run directories, and bit-identical accuracies (one thread everywhere)."""
    four = ["model=attention,gru", "task.distances=2,3", "task.seq_len=12"]
    sequential = run_script(sweep_args(outputs, "seq", *four))
    parallel = run_script(sweep_args(outputs, "par", *four, f"hydra/launcher={launcher}"))
    assert sequential.returncode == 0 and parallel.returncode == 0, parallel.stderr
    assert comparable(outputs / "seq") == comparable(outputs / "par")
    assert len(comparable(outputs / "par")) == 4
    report = run_script(["-m", "analysis.report", str(outputs / "par")])
    assert report.returncode == 0 and (outputs / "par" / "results.csv").exists()


def test_joblib_in_several_batches_lands_every_run_once(outputs):
    """Bounded batches keep the parent's memory flat (benchmarks/soak.py); the batches must still add up."""
    sweep = run_script(sweep_args(outputs, "b", *SIX_RUNS, "hydra/launcher=joblib", "hydra.sweeper.max_batch_size=4"))
    assert sweep.returncode == 0, sweep.stderr
    assert "[6/6] model=" in sweep.stdout and "6 finished, 0 failed" in sweep.stdout
    assert {record["status"] for record in results(outputs / "b").values()} == {"finished"}
    assert len(results(outputs / "b")) == 6


def test_default_batch_size_per_launcher():
    from hydra_plugins.resumable_sweeper import default_batch_size

    BasicLauncher = type("BasicLauncher", (), {})
    JoblibLauncher = type("JoblibLauncher", (), {"joblib": {"n_jobs": 2}})
    SlurmLauncher = type("SlurmLauncher", (), {})
    assert default_batch_size(BasicLauncher(), 500) == 1  # a fault outside a run costs one job
    assert default_batch_size(JoblibLauncher(), 500) == 64  # bounded: the parent holds a batch's returns
    assert default_batch_size(SlurmLauncher(), 500) == 500  # a batch boundary on a cluster waits on the queue


def test_unknown_sweep_key_stops_before_any_run(outputs):
    result = run_script(sweep_args(outputs, "bad", "model=attention,gru", "task.distancez=2,3"))
    assert result.returncode == 2
    assert "task.distancez" in result.stderr.strip().splitlines()[-1]
    assert not list(outputs.rglob("result.json"))


def test_one_impossible_job_stops_the_whole_sweep_before_it_starts(outputs):
    result = run_script(sweep_args(outputs, "bad", "model=attention,gru", "task.seq_len=12",
                                   "task.distances=2,40"))
    assert result.returncode == 2
    last_line = (result.stdout + result.stderr).strip().splitlines()[-1]
    assert "task.distances=40" in last_line
    assert not list(outputs.rglob("result.json"))


def test_foreign_files_in_the_results_directory_are_left_alone(outputs):
    foreign = outputs / "f" / "attention_nback_000000000000"
    foreign.mkdir(parents=True)
    (foreign / "result.json").write_text(json.dumps({"status": "finished", "config_hash": "000000000000"}))
    (outputs / "f" / "notes.txt").write_text("mine")
    sweep = run_script(sweep_args(outputs, "f", "model=gru", "task.seq_len=12", "task.distances=2"))
    assert sweep.returncode == 0 and "0 already complete" in sweep.stdout
    assert json.loads((foreign / "result.json").read_text()) == {"status": "finished",
                                                                  "config_hash": "000000000000"}
    assert (outputs / "f" / "notes.txt").read_text() == "mine"
