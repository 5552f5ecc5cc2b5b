"""run.py, the Hydra entry point: a single run from the command line, its one-line progress in sweeps."""

from __future__ import annotations

import json

from support import TINY_TRAIN, run_script

import run
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
    assert line.startswith("[2/5] model=attention task=nback d=3 seed=0 lr=0.001 acc=")
    assert "(cap at step 4)" in line
    assert run.progress_line(record, tmp_path / "elsewhere").startswith("[?] "), "no counter, no count"
