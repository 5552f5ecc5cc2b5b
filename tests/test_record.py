"""harness/record.py: the one reader, provenance, and resume that knows the code as well as the config."""

from __future__ import annotations

import json
import shutil

import pytest
from support import REPO, TINY_TRAIN, compose_config, execute_tiny, run_script

from harness import record as records
from run import execute


def test_complete_result_is_skipped_and_force_reruns(outputs):
    overrides = [*TINY_TRAIN, f"out_root={outputs}", "task.seq_len=16", "task.distances=3"]
    first = execute(compose_config(overrides), outputs / "run", "model", "task", multirun=True)
    again = execute(compose_config(overrides), outputs / "run", "model", "task", multirun=True)
    assert not first.reused and again.reused and again.record.finished_at == first.record.finished_at
    forced = execute(compose_config([*overrides, "+force=true"]), outputs / "run", "model", "task", multirun=True)
    assert not forced.reused


def test_every_record_says_which_code_produced_it(outputs):
    record = execute_tiny(["task.seq_len=16", "task.distances=3"], outputs)
    assert len(record.git_commit) == 40 and isinstance(record.git_dirty, bool)
    assert {"tasks/nback.py", "tasks/base.py", "models/attention.py", "harness/train.py"} <= set(record.source_files)
    assert not any(".venv" in name or "site-packages" in name for name in record.source_files)
    assert "harness/verdict.py" not in record.source_files, "the rule judges evidence; it is no part of identity"
    assert record.source_hash == records.combined_hash(record.source_files)


def test_the_normalised_hash_ignores_comments_and_docstrings_but_not_code(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""Doc."""\n\ndef f(x):\n    """Say."""\n    return x + 1  # one\n')
    base = records.normalised_source(module)
    module.write_text('"""Other doc."""\n\n\ndef f(x):\n    # a new comment\n    return x + 1\n')
    assert records.normalised_source(module) == base
    module.write_text('"""Doc."""\n\ndef f(x):\n    return x + 2\n')
    assert records.normalised_source(module) != base


@pytest.fixture
def copy_of_the_repository(tmp_path):
    """A copy of the code (not outputs or .venv) that a test may edit without touching the real one."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", "outputs", ".git", "__pycache__"))
    return copy


def test_editing_a_task_reruns_a_finished_run_and_says_why(copy_of_the_repository, outputs):
    """Defect: changing chance_accuracy in tasks/nback.py and rerunning printed `skip ...` and kept the old result.
    Now a code change reruns the run with one line that names the file; a comment does not."""
    args = ["run.py", *TINY_TRAIN, "task.seq_len=16", "task.distances=3", f"out_root={outputs}"]
    assert run_script(args, cwd=copy_of_the_repository).returncode == 0
    nback = copy_of_the_repository / "tasks" / "nback.py"
    nback.write_text(nback.read_text() + "\n# a comment changes nothing\n")
    second = run_script(args, cwd=copy_of_the_repository)
    assert "skip attention_nback_" in second.stdout + second.stderr
    nback.write_text(nback.read_text().replace("self.chance_accuracy = 1.0 / self.num_symbols",
                                               "self.chance_accuracy = 0.5 / self.num_symbols"))
    third = run_script(args, cwd=copy_of_the_repository)
    assert third.returncode == 0
    assert "code changed since this result: tasks/nback.py" in third.stdout + third.stderr
    [result] = outputs.rglob("result.json")
    assert json.loads(result.read_text())["chance_accuracy"] == 0.0625


def test_editing_the_rule_retrains_nothing_and_re_judges_the_stored_run(copy_of_the_repository, outputs):
    """A stricter rule (a window must hold over three steps up instead of two): the stored run is not retrained
    and not reset; it is continued from its checkpoint, to the rung the new rule asks for."""
    args = ["run.py", *TINY_TRAIN, f"out_root={outputs}", "task=recall", "task.instances=2", "task.seq_len=12",
            "task.distances=[1,4]", "train.protocol=dense", "train.heldout=none", "model=sliding_window",
            "model.window=2", "model.n_layers=1", "model.d_model=16", "train.rungs=[25,50,100,200]",
            "train.eval_every=25", "train.val_sequences=64", "train.lr=0.01"]
    assert run_script(args, cwd=copy_of_the_repository).returncode == 0
    [result] = outputs.rglob("result.json")
    before = json.loads(result.read_text())
    rule = copy_of_the_repository / "harness" / "verdict.py"
    rule.write_text(rule.read_text().replace("STABLE_RUNGS = 3", "STABLE_RUNGS = 4"))
    again = run_script(args, cwd=copy_of_the_repository)
    assert again.returncode == 0 and "code changed" not in again.stdout + again.stderr
    after = json.loads(result.read_text())
    assert after["source_hash"] == before["source_hash"] and after["config_hash"] == before["config_hash"]
    assert (before["verdict"], before["trained_steps"], after["verdict"]) == ("measured", 100, "measured")
    assert after["resumed_from"] == [100] and after["trained_steps"] == 200  # one rung higher, from where it stopped
    assert after["rung_results"][:len(before["rung_results"])] == before["rung_results"]


def test_the_reader_names_what_is_wrong(tmp_path):
    cases = {"broken.json": "{not json", "foreign.json": json.dumps({"status": "finished"}),
             "old.json": json.dumps({"schema_version": 1, "status": "finished"}),
             "odd.json": json.dumps({"schema_version": records.SCHEMA_VERSION, "status": "finished", "bogus": 1})}
    for name, content in cases.items():
        (tmp_path / name).write_text(content)
    reasons = {name: records.read(tmp_path / name)[1] for name in cases}
    assert "not readable JSON" in reasons["broken.json"]
    assert "no schema_version" in reasons["foreign.json"]
    assert "schema_version 1" in reasons["old.json"] and "rerun" in reasons["old.json"]
    assert "not a result record" in reasons["odd.json"]


def test_metrics_reader_skips_a_half_written_last_line(tmp_path):
    path = tmp_path / records.METRICS_FILE
    log = records.MetricsLog(path)
    log.write(step=1, loss=2.0)
    log.write(step=2, loss=1.5)
    log.close()
    with open(path, "a") as handle:
        handle.write('{"step": 3, "lo')
    assert [row["step"] for row in records.read_metrics(path)] == [1, 2]
