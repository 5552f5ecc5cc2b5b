"""hydra_plugins/resumable_sweeper: sweeps that survive kills and lost workers, failures isolated, launchers agree,
bad sweeps stopped up front."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support import REPO, TINY_TRAIN, execute_tiny, run_script

from harness.record import cell_hash, read, write

SIX_RUNS = ["model=attention,gru,lstm", "task.distances=2,3", "task.seq_len=12"]
LONGER = ["train.rungs=[30]", "train.eval_every=10"]


def sweep_args(outputs: Path, name: str, *extra: str) -> list[str]:
    return ["run.py", "-m", *TINY_TRAIN, f"out_root={outputs}", f"name={name}", *extra]


def results(directory: Path) -> dict[str, dict]:
    """run directory name -> record (as stored JSON), for every result.json under directory."""
    return {path.parent.name: json.loads(path.read_text()) for path in sorted(directory.rglob("result.json"))}


def test_sweep_prints_progress_writes_manifest_and_resumes(outputs):
    first = run_script(sweep_args(outputs, "s", *SIX_RUNS))
    assert first.returncode == 0, first.stderr
    assert "[6/6] model=" in first.stdout and "[1/6] model=" in first.stdout
    assert "6 finished, 0 failed" in first.stdout
    manifest = json.loads((outputs / "s" / "sweep.json").read_text())
    assert manifest["state"] == "finished" and len(manifest["jobs"]) == 6
    assert {job["outcome"] for job in manifest["jobs"]} == {"finished"}
    stored = results(outputs / "s")
    for job in manifest["jobs"]:  # the cell a report files a run still to come under, as it files its record
        record = stored[Path(job["run_dir"]).name]
        assert (job["cell"], job["seed"], job["lr"]) == (cell_hash(record["config"]), record["seed"], record["lr"])
    assert len({job["cell"] for job in manifest["jobs"]}) == 6

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
    command = [sys.executable, *sweep_args(outputs, "k", *SIX_RUNS, "train.rungs=[30]", "train.eval_every=10")]
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

    rerun = run_script(sweep_args(outputs, "k", *SIX_RUNS, "train.rungs=[30]", "train.eval_every=10"))
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


@pytest.mark.slow  # 45 s of the 5-min budget on 2 cores; `make test-slow` runs it
def test_parallel_launchers_match_the_sequential_sweep(outputs):
    """Same config hashes, same run directories, and bit-identical accuracies (one thread everywhere), under
    joblib and under submitit's local executor (the SLURM path, pickles included)."""
    four = ["model=attention,gru", "task.distances=2,3", "task.seq_len=12"]
    sequential = run_script(sweep_args(outputs, "seq", *four))
    assert sequential.returncode == 0, sequential.stderr
    for launcher in ("joblib", "local_submitit"):
        parallel = run_script(sweep_args(outputs, launcher, *four, f"hydra/launcher={launcher}"))
        assert parallel.returncode == 0, parallel.stderr
        assert comparable(outputs / "seq") == comparable(outputs / launcher)
        assert len(comparable(outputs / launcher)) == 4
    report = run_script(["-m", "analysis.report", str(outputs / "joblib")])
    assert report.returncode == 0 and (outputs / "joblib" / "results.csv").exists()


@pytest.mark.slow
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


def test_a_load_sweep_that_changes_anything_but_the_load_is_refused_naming_the_keys(outputs):
    """Recall's vocabulary follows its load unless task.vocab_instances fixes it: a load sweep without it would
    compare models of different sizes. (Settings swept beside the load, such as task.seq_len=25,40, make separate
    load axes, each at one length: that is allowed.)"""
    result = run_script(sweep_args(outputs, "load", "model=gru", "task=recall", "task.distances=2",
                                   "task.instances=1,4"))
    assert result.returncode == 2 and not list(outputs.rglob("result.json"))
    last_line = (result.stdout + result.stderr).strip().splitlines()[-1]
    assert last_line.startswith("config error: task.instances=1,4: the load changes the vocabulary (task.vocab_size)")
    assert "parameter count" in last_line and "task.vocab_instances" in last_line


def test_two_sweeps_sharing_a_directory_keep_each_others_jobs_in_its_manifest(tmp_path):
    """Two experiments with one output dir (the load axis and the state axis): the second sweep's manifest still
    lists the first one's jobs, so a job of the first that never ran is reported missing, not forgotten."""
    from analysis.sweep import progress, read_manifests
    from hydra_plugins.resumable_sweeper import Job, write_manifest

    def job(name, outcome):
        return Job([f"model={name}"], tmp_path / name, f"hash_{name}", {}, outcome=outcome)

    write_manifest(tmp_path, [job("a", "finished"), job("b", None)], "running", "2026-01-01T00:00:00+0000")
    write_manifest(tmp_path, [job("c", "finished"), job("a", "skipped")], "finished", "2026-01-02T00:00:00+0000")
    [(path, manifest)] = read_manifests(tmp_path).items()
    assert sorted((Path(j["run_dir"]).name, j["outcome"]) for j in manifest["jobs"]) == [
        ("a", "skipped"), ("b", None), ("c", "finished")], "the latest sweep's word on a job it shares wins"
    swept = progress(path, manifest, result_hashes={"hash_a", "hash_c"})
    assert [Path(j["run_dir"]).name for j in swept.pending] == ["b"] and swept.partial
    assert len(manifest["sittings"]) == 2


def test_a_load_sweep_at_fixed_settings_runs(outputs):
    result = run_script(sweep_args(outputs, "load", "model=gru", "task=recall", "task.distances=2",
                                   "task.instances=1,4", "task.vocab_instances=4", "task.seq_len=25"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list(outputs.rglob("result.json"))) == 2


def test_a_rate_chosen_at_the_largest_load_is_held_across_loads(outputs):
    """hydra.sweeper.rate_chosen_at: the rate is chosen on seed 0 at instances=2 only; instances=1 trains at the
    chosen rate alone, so that only the load changes along the axis."""
    args = sweep_args(outputs, "shared", "model=gru", "task=recall", "task.distances=2", "task.seq_len=16",
                      "task.instances=1,2", "task.vocab_instances=2", "train.lr=1e-9,0.01", "train.rungs=[10,20]",
                      "train.eval_every=10", "hydra.sweeper.rate_chosen_at=['task.instances=2']")
    result = run_script(args)
    assert result.returncode == 0, result.stderr[-2000:]
    stored = {(r["config"]["task"]["instances"], r["lr"]) for r in results(outputs / "shared").values()}
    chosen = {lr for load, lr in stored if load == 1}
    assert len(chosen) == 1 and (1, 1e-9) not in stored, stored
    assert {lr for load, lr in stored if load == 2} >= {1e-9, 0.01}, "the candidates train at the largest load"
    manifest = json.loads((outputs / "shared" / "sweep.json").read_text())
    reasons = {job["reason"] for job in manifest["jobs"] if job["outcome"] == "not_chosen"}
    assert reasons and all("chosen on seed 0 at task.instances=2" in reason for reason in reasons), reasons


def test_a_rate_chosen_at_a_setting_the_sweep_never_runs_is_refused(outputs):
    result = run_script(sweep_args(outputs, "nowhere", "model=gru", "task=recall", "task.distances=2",
                                   "task.seq_len=16", "task.instances=1,2", "task.vocab_instances=2",
                                   "train.lr=1e-3,1e-2", "hydra.sweeper.rate_chosen_at=['task.instances=4']"))
    assert result.returncode == 2 and not list(outputs.rglob("result.json"))
    assert "rate_chosen_at=[task.instances=4]: no job of gru recall has that setting" in result.stderr


def test_a_learning_rate_grid_climbs_by_successive_halving(outputs):
    """Two rates on seed 0 climb rung by rung; the one far behind (1e-9 learns nothing) stops at the first rung
    where it is cut (never the first), the edge that wins extends the grid by one rate judged at the same rungs,
    only the chosen rate trains seed 1, and a rerun trains nothing more."""
    args = sweep_args(outputs, "lr", "model=gru", "task.seq_len=12", "task.distances=2", "train.lr=1e-9,0.01",
                      "seed=0,1", "train.rungs=[20,40,80]", "train.eval_every=10", "train.val_sequences=64",
                      "train.warmup_steps=5")
    first = run_script(args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "2 wait for their learning rate to be chosen" in first.stdout
    assert "round 1 trains 2 runs, up to 2 rungs; 2 learning-rate candidates climb to rung 20" in first.stdout
    assert "lr 0.01 won at the edge of the grid 1e-09, 0.01 for gru nback: lr 0.03 joins the candidates" in first.stdout
    manifest = json.loads((outputs / "lr" / "sweep.json").read_text())
    outcomes = {(job["overrides"][-2], job["overrides"][-1].split("=")[1]): job["outcome"] for job in manifest["jobs"]}
    stored = {(r["lr"], r["seed"]): r for r in results(outputs / "lr").values()}
    [chosen] = {lr for lr, seed in stored if seed == 1}
    assert set(stored) == {(1e-9, 0), (0.01, 0), (0.03, 0), (chosen, 1)}, "a rate not chosen never trains seed 1"
    assert sorted(outcomes.values()) == ["finished", "finished", *["not_chosen"] * 4], outcomes
    cut = stored[(1e-9, 0)]
    assert cut["trained_steps"] == 40 and cut["stop_reason"] == "paused", "cut at the second rung, not the first"
    assert manifest["summary"]["not_chosen"] == 4 and "4 not chosen" in first.stdout
    again = run_script(args)
    assert again.returncode == 0 and "2 already complete and skipped" in again.stdout
    assert "round 1 trains nothing" in again.stdout
    assert {r["finished_at"] for r in results(outputs / "lr").values()} == \
        {r["finished_at"] for r in stored.values()}


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
    command = [sys.executable, *sweep_args(outputs, "kills", *SIX_RUNS, *LONGER, *extra)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(kills):
        sweep = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        time.sleep(rng.uniform(0.5, 6.0))  # anywhere: start-up, mid-training, mid-write, between runs
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
        check_every_result_is_complete(outputs / "kills")
    final = run_script(sweep_args(outputs, "kills", *SIX_RUNS, *LONGER, *extra))
    assert final.returncode == 0, final.stdout + final.stderr
    records = check_every_result_is_complete(outputs / "kills")
    assert len(records) == 6 and all(r["status"] == "finished" for r in records.values())
    assert sorted(p.name for p in (outputs / "kills").rglob("result.json")) == ["result.json"] * 6
    assert not list((outputs / "kills").rglob(".*.tmp")), "no temporary file may outlive its run"
    assert all(read(path)[0] is not None for path in (outputs / "kills").rglob("result.json")), \
        "the one reader reads all six"


@pytest.mark.slow  # test_kill_and_resume covers one kill in the default suite
def test_three_random_kills_then_resume(outputs):
    kill_repeatedly_then_resume(outputs, kills=3, seed=0)


@pytest.mark.slow
def test_ten_random_kills_of_a_parallel_sweep_then_resume(outputs):
    kill_repeatedly_then_resume(outputs, 10, 1, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")


def fake_job(tmp_path: Path, name: str, state: str, template=None):
    """A sweeper Job whose run directory looks finished, started-then-lost, or never started."""
    from hydra_plugins.resumable_sweeper import Job

    run_dir = tmp_path / name
    run_dir.mkdir()
    if state in ("finished", "lost"):
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra" / "overrides.yaml").write_text("[]")
    if state == "finished":
        write(dataclasses.replace(template, config_hash=name, run_dir=str(run_dir)))
    return Job([f"name={name}"], run_dir, name, {})


def test_a_lost_worker_requeues_the_jobs_that_never_started_once(tmp_path):
    """joblib aborts a whole batch when one worker dies (the OOM killer, say): innocent jobs go back on the
    queue once, the jobs in flight fail with the launcher's reason, and a broken launcher is not retried."""
    from hydra_plugins.resumable_sweeper import settle

    template = execute_tiny(["task.seq_len=12", "task.distances=2"], tmp_path / "template")
    started = time.time()
    done, lost, waiting = (fake_job(tmp_path, n, s, template) for n, s in [("a", "finished"), ("b", "lost"),
                                                                              ("c", "never")])
    retry = settle([done, lost, waiting], "TerminatedWorkerError: worker died", started)
    assert retry == [waiting] and waiting.outcome is None and waiting.attempts == 1
    assert done.outcome == "finished"
    assert lost.outcome == "failed" and "TerminatedWorkerError" in lost.reason and "rerun" in lost.reason

    again = settle([waiting], "TerminatedWorkerError: worker died", time.time())
    assert again == [] and waiting.outcome == "failed"  # one retry only: the second loss is recorded
    assert "before it started" in waiting.reason

    idle = fake_job(tmp_path, "d", "never")
    assert settle([idle], "BrokenLauncher: no workers", time.time()) == []
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
                 "train.rungs=[1500]", "train.eval_every=500", "train.target_accuracy=1.0", "train.eval_sequences=8"]
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

    def sample(self, batch_size, generator, distance=None, weights=None):
        self.calls += 1
        if self.calls == self.fail_at_call:
            raise RuntimeError("the sampler broke on purpose")
        return super().sample(batch_size, generator, distance, weights)
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


# ------------------------------------------------------------------------------------------------ a changed rule


REACH_ONE = ["task=recall", "task.instances=2", "task.seq_len=12", "task.distances=[1,4]", "train.protocol=dense",
             "train.heldout=none", "model=sliding_window", "model.window=2", "model.n_layers=1", "model.d_model=16",
             "train.rungs=[25,50,100,200]", "train.eval_every=25", "train.log_every=25", "train.val_sequences=64",
             "train.eval_sequences=16", "train.warmup_steps=5", "train.lr=0.003,0.03", "seed=0,1"]


def sweep_under_rule(outputs: Path, stable_rungs: int, *extra: str) -> subprocess.CompletedProcess:
    """The sweep's command, in a fresh interpreter whose rule measures a window after ``stable_rungs`` rungs
    unchanged (the basic launcher runs every job in that interpreter, so the whole sweep sees that rule)."""
    argv = sweep_args(outputs, "rule", *REACH_ONE, *extra)
    code = (f"import runpy, sys\nfrom harness import verdict\nverdict.STABLE_RUNGS = {stable_rungs}\n"
            f"sys.argv = {argv!r}\nrunpy.run_path('run.py', run_name='__main__')\n")
    return run_script(["-c", code])


def judged(directory: Path, stable_rungs: int, monkeypatch) -> tuple:
    """(chosen rates, each run's verdict and the rung it is read at, each cell's verdict and windows), as the
    report reads them under that rule."""
    from analysis import load
    from analysis.tables import Report
    from harness import verdict

    monkeypatch.setattr(verdict, "STABLE_RUNGS", stable_rungs)
    report = Report(load(directory), resamples=10)
    runs = report.results.runs.sort_values(["lr", "seed"])
    return (report.lr_choice[["lr", "chosen"]].values.tolist(),
            runs[["lr", "seed", "verdict", "steps"]].values.tolist(),
            report.windows[["lr", "verdict", "window_text", "range_text"]].values.tolist())


def test_a_changed_rule_re_judges_the_stored_sweep_as_a_fresh_sweep_under_it_would_end(outputs, monkeypatch):
    """Evidence apart from judgment. A sweep made under a lenient rule (a window measured once unchanged over one
    step up the ladder), rerun under the stricter one (two steps), trains only what the stricter rule asks for,
    continuing runs from their checkpoints, and ends where a fresh sweep under the stricter rule ends: the same
    chosen rates, verdicts, rungs read and windows. The other way round, the report alone re-judges: no
    training, and a run the lenient rule stops earlier is read at that earlier rung."""
    lenient = sweep_under_rule(outputs / "changed", 2)
    assert lenient.returncode == 0, lenient.stderr[-2000:]
    under_lenient = judged(outputs / "changed" / "rule", 2, monkeypatch)
    stored = {path: path.read_bytes() for path in (outputs / "changed").rglob("*") if path.is_file()}
    dry = sweep_under_rule(outputs / "changed", 3, "hydra.sweeper.dry_run=true")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "round 1 trains 2 runs" in dry.stdout and "dry run" in dry.stdout, dry.stdout[-2000:]
    assert {path: path.read_bytes() for path in (outputs / "changed").rglob("*") if path.is_file()} == stored, \
        "a dry run trains and writes nothing"
    stricter = sweep_under_rule(outputs / "changed", 3)
    assert stricter.returncode == 0, stricter.stderr[-2000:]
    assert "continue from their checkpoints" in stricter.stdout and "round 1 trains 2 runs" in stricter.stdout
    fresh = sweep_under_rule(outputs / "fresh", 3)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    rejudged = judged(outputs / "changed" / "rule", 3, monkeypatch)
    assert rejudged == judged(outputs / "fresh" / "rule", 3, monkeypatch)
    assert max(steps for *_, steps in rejudged[1]) > max(steps for *_, steps in under_lenient[1])
    # back to the lenient rule: the later evidence stays in the records and is not read
    assert judged(outputs / "changed" / "rule", 2, monkeypatch) == under_lenient
    assert judged(outputs / "fresh" / "rule", 2, monkeypatch) == under_lenient
