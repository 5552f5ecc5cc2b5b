"""run.py: one whole run (execute) for every model writes a valid record, failures and full disks are recorded,
a single run from the command line, its one-line progress in sweeps."""

from __future__ import annotations

import errno
import json
import logging

import pytest
from support import MODEL_CONFIGS, TINY_TRAIN, execute_tiny, run_script

import run
from harness import record as records
from harness.record import read


def test_single_run_through_the_cli(outputs):
    result = run_script(["run.py", *TINY_TRAIN, "task.seq_len=16", "task.distances=3", f"out_root={outputs}"])
    assert result.returncode == 0, result.stderr
    [result_file] = list(outputs.rglob("result.json"))
    assert result_file.parent.parent == outputs / "default"
    assert result_file.parent.name.startswith("attention_nback_")
    assert json.loads(result_file.read_text())["status"] == "finished"
    assert (result_file.parent / "metrics.jsonl").exists()


def test_progress_line_names_model_task_distances_seed_and_outcome(outputs, tmp_path):
    run_script(["run.py", *TINY_TRAIN, "task.seq_len=16", "task.distances=3", f"out_root={outputs}"])
    record, _ = read(next(outputs.rglob("result.json")))
    (tmp_path / ".progress.json").write_text(json.dumps({"total": 5, "done": 1}))
    line = run.progress_line(record, tmp_path)
    assert line.startswith(f"[2/5] model=attention task=nback d=3 seed=0 lr=0.001 {record.verdict} at step 4 (top), "
                           "window ")
    assert run.progress_line(record, tmp_path / "elsewhere").startswith("[?] "), "no counter, no count"


RECORD_KEYS = {"schema_version", "status", "model", "task", "seed", "protocol", "train_distances", "eval_distances",
               "chance_accuracy", "params", "steps", "max_steps", "accuracy_by_distance", "history", "wall_time_s",
               "tokens_per_s", "device", "torch_threads", "torch_version", "python_version", "config",
               "config_hash", "run_dir", "git_commit", "git_dirty", "source_hash", "stop_reason", "state_size",
               "state_grows_with_length", "rungs", "verdict", "rung_results", "fine_distances", "schedule"}


@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_tiny_run_writes_a_valid_result(model, outputs):
    record = execute_tiny([f"model={model}", "task.seq_len=16", "task.distances=3", "task.eval_distances=[3,9]"],
                          outputs, model_name=model, task_name="nback")
    stored, problem = records.read(outputs / "run" / "result.json")
    assert problem is None and stored == record and record.status == "finished"
    assert RECORD_KEYS <= set(json.loads((outputs / "run" / "result.json").read_text()))
    assert [row.distance for row in record.accuracy_by_distance] == [3, 9]
    assert [row.trained for row in record.accuracy_by_distance] == [True, False]
    assert all(0.0 <= row.accuracy <= 1.0 and row.n > 0 for row in record.accuracy_by_distance)
    assert all(row.val_n > 0 and row.val_accuracy is not None for row in record.accuracy_by_distance)
    assert record.params > 0 and record.torch_threads == 1 and record.steps == 4 and record.stop_reason == "top"
    assert record.verdict in ("budget_bound", "not_learned") and [r.step for r in record.rung_results] == [2, 4]
    assert record.config["model"]["_target_"].startswith("models.")
    assert (outputs / "run" / "model.pt").exists()
    assert not list((outputs / "run").glob(".*.tmp")), "temporary files must not be left behind"


def test_divergence_is_recorded_as_failure(outputs):
    record = execute_tiny(["task.seq_len=16", "task.distances=3", "train.lr=1e30", "train.grad_clip=1e30"], outputs)
    assert record.status == "failed" and record.reason.startswith("diverged at step")
    assert json.loads((outputs / "run" / "result.json").read_text())["status"] == "failed"


# ------------------------------------------------------------------------------------------------ faults


def test_a_full_disk_is_recorded_as_a_failure(tmp_path, monkeypatch):
    """The finished record cannot be written (ENOSPC); the failure record can: it says why."""
    calls = []
    original = records.write_json_atomic

    def full_once(path, content):
        calls.append(content["status"])
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(path, content)

    monkeypatch.setattr(records, "write_json_atomic", full_once)
    record = execute_tiny(["task.seq_len=12", "task.distances=2"], tmp_path)
    assert calls == ["finished", "failed"]
    assert record.status == "failed" and "No space left on device" in record.reason
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "failed"


def test_a_disk_that_takes_nothing_does_not_crash_the_run(tmp_path, monkeypatch, capsys):
    def always_full(path, content):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(records, "write_json_atomic", always_full)
    record = execute_tiny(["task.seq_len=12", "task.distances=2"], tmp_path)  # must not raise
    assert record.status == "failed" and "Read-only file system" in record.reason
    assert "could not be written" in capsys.readouterr().err
    assert not (tmp_path / "run" / "result.json").exists()


def test_a_task_that_cannot_make_every_distance_says_windows_are_located_to_the_ones_it_can(outputs, caplog):
    """n-back makes only the lags it has tags for: the fine curve is those lags, and the run says so once."""
    caplog.set_level(logging.INFO, logger="run")
    record = execute_tiny(["train.protocol=dense", "task.distances=[2,4,8]", "task.seq_len=16"], outputs)
    assert record.fine_distances == [2, 4, 8]
    assert "NBack produces 3 of the 7 distances in [2, 8]: windows are located to those, not to one step" in caplog.text
