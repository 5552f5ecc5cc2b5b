"""End to end: a tiny real sweep through run.py, then `python -m analysis.report`; the tables and figures come
from stored records only, and a run without its result.json shows up as live from its real metrics.jsonl."""

from __future__ import annotations

import pandas as pd

from analysis.records import TABLE_COLUMNS
from analysis.report import main as report_main
from harness.verdict import CELL_VERDICTS, RUN_FINAL


def test_multirun_then_report(outputs, script, tiny_train):
    sweep = script(["run.py", "-m", *tiny_train, f"out_root={outputs}", "name=tiny", "model=attention,gru",
                    "task.seq_len=16", "task.distances=2,5"])
    assert sweep.returncode == 0, sweep.stderr
    directory = outputs / "tiny"
    assert len(list(directory.rglob("result.json"))) == 4

    report = script(["-m", "analysis.report", str(directory)])
    assert report.returncode == 0, report.stderr
    assert f"figure: {directory / 'accuracy_vs_distance.png'}" in report.stdout
    table = pd.read_csv(directory / "results.csv")
    assert list(table.columns) == [*TABLE_COLUMNS, "family", "task_family", "load"]  # the conf names behind labels
    assert set(table.model) == {"attention", "gru"} and sorted(table.distance.unique()) == [2, 5]
    assert len(table) == 4 and table.accuracy.between(0, 1).all() and (table.params > 0).all()
    assert table.val_accuracy.between(0, 1).all()  # the validation stream travels with every row
    figure = (directory / "accuracy_vs_distance.png").read_bytes()
    assert figure[:4] == b"\x89PNG" and (directory / "accuracy_vs_distance.pdf").exists()
    windows = pd.read_csv(directory / "effective_window.csv")
    assert set(windows.verdict) <= set(CELL_VERDICTS) and len(windows) == 2  # one cell per model
    runs = pd.read_csv(directory / "runs.csv")
    assert set(runs.verdict) <= {*RUN_FINAL, "climbing"} and (runs.steps <= 4).all()  # the ladder's top: 4 steps
    replayed = pd.read_csv(directory / "run_verdicts.csv")  # the analysis replays the loop's rule on validation
    assert dict(zip(replayed.run_dir, replayed.verdict)) == dict(zip(runs.run_dir, runs.verdict))
    rungs = pd.read_csv(directory / "rungs.csv")
    assert set(rungs.run_dir) == set(runs.run_dir) and set(rungs.rung) <= {2, 4}
    assert len(pd.read_csv(directory / "steps_to_learn.csv")) == 4

    # again, in this interpreter (the command line is tested above; a second interpreter costs seconds)
    assert report_main([str(directory)]) == 0  # regenerating gives the same outputs
    assert pd.read_csv(directory / "results.csv").equals(table)
    assert (directory / "accuracy_vs_distance.png").read_bytes() == figure

    interrupted = sorted(directory.rglob("result.json"))[0]
    interrupted.unlink()  # as if the run were still training: only its metrics.jsonl remains
    assert report_main([str(directory)]) == 0
    text = (directory / "report.md").read_text()
    assert "## Live" in text and interrupted.parent.name in text and (directory / "live.png").exists()


def test_report_of_empty_directory_fails_clearly(tmp_path, script):
    result = script(["-m", "analysis.report", str(tmp_path)])
    assert result.returncode != 0 and "no result.json" in result.stderr
