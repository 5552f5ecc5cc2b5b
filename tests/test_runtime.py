"""harness/runtime.py: long runs survive. Checkpoints resume a killed run exactly, foreign checkpoints are refused,
a run is never trained twice at once, a preempted submitit job resumes after its requeue, and parallel workers
get a GPU each."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from support import REPO, compose_config, run_script

from harness import record as records
from harness import runtime
from harness.verdict import SOLVED
from run import execute

# Long enough to be killed in the middle (a few seconds on one thread), small enough to stay cheap.
RESUMABLE = ["train=quick", "train.rungs=[400]", "train.eval_every=50", "train.log_every=25", "train.eval_sequences=16",
             "train.val_sequences=16", "train.checkpoint_every=20", "train.target_accuracy=1.0", "task.seq_len=16",
             "task.distances=3", "model=gru", "model.hidden_size=32", "threads=1"]


def the_record(directory: Path) -> records.Record:
    [path] = directory.rglob(records.RESULT_FILE)
    record, problem = records.read(path)
    assert problem is None, problem
    return record


def kill_after_a_checkpoint(command: list[str], directory: Path) -> None:
    """Start a run, SIGKILL it once a checkpoint exists (and before it finishes)."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not list(directory.rglob(runtime.CHECKPOINT_FILE)) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.kill()
    process.wait()
    assert list(directory.rglob(runtime.CHECKPOINT_FILE)), "no checkpoint was written"
    assert not list(directory.rglob(records.RESULT_FILE)), "the run finished before it could be killed"


def test_a_killed_run_resumes_from_its_checkpoint_and_ends_exactly_as_an_uninterrupted_one(tmp_path):
    whole = run_script(["run.py", *RESUMABLE, f"out_root={tmp_path / 'whole'}"])
    assert whole.returncode == 0, whole.stderr
    command = [sys.executable, "run.py", *RESUMABLE, f"out_root={tmp_path / 'killed'}"]
    kill_after_a_checkpoint(command, tmp_path / "killed")
    resumed = run_script(command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from step" in resumed.stdout + resumed.stderr
    a, b = the_record(tmp_path / "whole"), the_record(tmp_path / "killed")
    assert b.resumed_from and b.resumed_from[0] % 20 == 0
    assert a.accuracy_by_distance == b.accuracy_by_distance
    assert a.history == b.history and a.steps == b.steps and a.stop_reason == b.stop_reason
    tokens = b.steps * b.batch_size * b.seq_len  # throughput spans the resume, like train_time_s
    assert b.tokens_per_s == pytest.approx(tokens / b.train_time_s)
    kept = bool(list((tmp_path / "killed").rglob(runtime.CHECKPOINT_FILE)))
    assert kept is (b.verdict not in SOLVED), "deleted once the run is solved; kept where a higher rung could go on"
    lines = records.read_metrics(next((tmp_path / "killed").rglob(records.METRICS_FILE)))
    steps = [line["step"] for line in lines if "loss" in line]  # (rung lines share their evaluation's step)
    assert steps == sorted(set(steps)), "the resumed run's metrics continue the killed run's without repeats"


def test_a_checkpoint_of_other_code_or_config_is_refused_and_the_run_starts_over(tmp_path, caplog):
    overrides = [o for o in RESUMABLE if not o.startswith("train.rungs")] + ["train.rungs=[40]", "train.eval_every=20",
                                                                             f"out_root={tmp_path}"]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runtime.save_checkpoint(run_dir, {"config_hash": "another", "source_hash": "x", "step": 20})
    record = execute(compose_config(overrides), run_dir, "gru", "nback", multirun=True).record
    assert "checkpoint from another config: starting from step 0" in caplog.text
    assert record.status == "finished" and record.resumed_from == [] and record.steps == 40
    (run_dir / records.RESULT_FILE).unlink()
    cfg = compose_config(overrides)
    runtime.save_checkpoint(run_dir, {"config_hash": record.config_hash, "source_hash": "old code", "step": 20})
    record = execute(cfg, run_dir, "gru", "nback", multirun=True).record
    assert "checkpoint from other code" in caplog.text and record.resumed_from == []


def test_keep_checkpoint_keeps_it(tmp_path):
    overrides = ["train.rungs=[40]", "train.checkpoint_every=10", "train.keep_checkpoint=true", "task.seq_len=12",
                 "task.distances=2", "train.eval_sequences=8", "threads=1", f"out_root={tmp_path}"]
    record = execute(compose_config(overrides), tmp_path / "run", "attention", "nback", multirun=True).record
    state = torch.load(tmp_path / "run" / runtime.CHECKPOINT_FILE, weights_only=True)
    last = 30 if record.verdict in SOLVED else 40  # an unsolved run also saves where it stopped, to climb on
    assert state["step"] == last and {"model", "training_step", "rng", "history", "rungs"} <= set(state)


# ------------------------------------------------------------------------------------------------ locks


def test_a_fresh_lock_makes_a_second_run_skip_and_a_stale_one_is_taken_over(tmp_path):
    overrides = ["train=quick", "train.rungs=[4]", "train.eval_every=2", "task.seq_len=12", "task.distances=2",
                 "threads=1", f"out_root={tmp_path}"]
    run_dir = tmp_path / "run"
    held = runtime.RunLock(run_dir)
    try:
        outcome = execute(compose_config(overrides), run_dir, "attention", "nback", multirun=True)
        assert outcome.record is None and f"pid {os.getpid()}" in outcome.locked
        assert not (run_dir / records.RESULT_FILE).exists()
    finally:
        held.release()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (run_dir / runtime.LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout),
                                                         "heartbeat": time.time()}))
    assert runtime.lock_holder(run_dir) is None, "the process is gone: the lock is stale"
    outcome = execute(compose_config(overrides), run_dir, "attention", "nback", multirun=True)
    assert outcome.record.status == "finished" and not (run_dir / runtime.LOCK_FILE).exists()


def test_a_lock_from_another_host_is_stale_only_once_its_heartbeat_is_old(tmp_path):
    lock = tmp_path / runtime.LOCK_FILE
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "heartbeat": time.time() - 10}))
    assert "host elsewhere" in runtime.lock_holder(tmp_path)
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "heartbeat": time.time() - 2 * runtime.STALE_AFTER_S}))
    assert runtime.lock_holder(tmp_path) is None


@pytest.mark.slow
def test_two_sweeps_on_one_directory_never_train_a_run_twice(outputs):
    """A second sweep started while the first runs skips the run the first holds, says so in its first line, and
    each run is trained once."""
    args = ["run.py", "-m", *RESUMABLE, "train.rungs=[300]", "seed=0,1,2", f"out_root={outputs}", "name=two"]
    first = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not list((outputs / "two").rglob(runtime.LOCK_FILE)) and time.time() < deadline:
        time.sleep(0.05)
    second = run_script(args)
    first_output, _ = first.communicate(timeout=300)
    first_line = next(line for line in second.stdout.splitlines() if line.startswith("sweep "))
    assert "1 running elsewhere (locked) and skipped" in first_line, second.stdout
    assert first.returncode == 0 and second.returncode == 0, first_output + second.stdout + second.stderr
    trained = first_output.count("acc=") + second.stdout.count("acc=")
    assert trained == 3, "every run trained exactly once between the two sweeps"
    assert len(list((outputs / "two").rglob(records.RESULT_FILE))) == 3


# ------------------------------------------------------------------------------------------------ preemption


def submitted_jobs() -> list[int]:
    """pids of the processes that run a submitit job's function (children of the local executor)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if "submitit.core._submit" in cmdline.read_text().replace("\0", " "):
                found.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return found


@pytest.mark.slow
def test_a_preempted_submitit_job_is_requeued_and_resumes_from_its_checkpoint(outputs):
    """The timeout/preemption signal (SIGUSR2) reaches a run under hydra/launcher=local_submitit: it saves a
    checkpoint, submitit requeues the job, and the new attempt resumes and finishes as an uninterrupted run."""
    args = ["run.py", "-m", *RESUMABLE, "train.rungs=[600]", "hydra/launcher=local_submitit", f"out_root={outputs}",
            "name=pre"]
    sweep = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 180
    while not list((outputs / "pre").rglob(runtime.CHECKPOINT_FILE)) and time.time() < deadline:
        time.sleep(0.1)
    [job] = submitted_jobs()
    os.kill(job, signal.SIGUSR2)
    output, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, output[-3000:]
    record = the_record(outputs / "pre")
    assert record.status == "finished" and record.resumed_from, output[-3000:]
    whole = execute(compose_config([*RESUMABLE, "train.rungs=[600]", f"out_root={outputs / 'whole'}"]),
                    outputs / "whole" / "run", "gru", "nback", multirun=True).record
    assert dataclasses.astuple(whole.accuracy_by_distance[0]) == dataclasses.astuple(record.accuracy_by_distance[0])
    assert whole.history == record.history


def test_the_slurm_preset_requeues_on_timeout():
    from omegaconf import OmegaConf

    assert OmegaConf.load(REPO / "conf" / "hydra" / "launcher" / "slurm.yaml").max_num_timeout > 0


# ------------------------------------------------------------------------------------------------ devices


def test_parallel_workers_get_one_gpu_each_round_robin(monkeypatch, tmp_path):
    """Faked: three GPUs. Claims held at once get distinct devices, starting from job number mod GPUs; a fourth
    job takes the first free one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    claims = [runtime.DeviceClaim("auto", job, tmp_path) for job in (1, 2, 3)]
    assert [str(c.device) for c in claims] == ["cuda:1", "cuda:2", "cuda:0"]
    claims[1].release()
    late = runtime.DeviceClaim("auto", 4, tmp_path)  # its own would be cuda:1 (4 mod 3), which is taken
    assert str(late.device) == "cuda:2"
    assert str(runtime.DeviceClaim("cuda:0", 5, tmp_path).device) == "cuda:0", "an explicit device is obeyed"
    for claim in (claims[0], claims[2], late):
        claim.release()
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert str(runtime.DeviceClaim("auto", 7, tmp_path).device) == "cuda", "one GPU: no slots needed"
