"""report.md from stored results: every section, partial sweeps, failures, unreadable files, an empty directory,
runs still training, and verdicts in the findings."""

from __future__ import annotations

import json

import pytest
from synthetic_runs import CHANCE, record, write, write_per_distance, write_small_sweep

from analysis import report, sections
from harness.record import MetricsLog

SECTIONS = ["## What was found", "## Effective context window", "## Accuracy against distance",
            "## Held-out distances", "## Steps to learn", "## Training dynamics", "## Attention maps",
            "## Cost scaling", "## Runs", "## Settings"]


def small_sweep(directory, seeds=(0, 1)) -> list:
    return write_small_sweep(directory, seeds)


def build(directory, capsys) -> tuple[int, str, str]:
    code = report.main([str(directory), "--resamples", "200"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_has_every_section_states_the_budget_and_regenerates_identically(tmp_path, capsys):
    small_sweep(tmp_path)
    code, out, _ = build(tmp_path, capsys)
    assert code == 0 and f"report: {tmp_path / 'report.md'}" in out
    text = (tmp_path / "report.md").read_text()
    for section in SECTIONS:
        assert section in text
    found = text.split("## What was found")[1].split("## ")[0]
    assert "at most 400 steps x 32 sequences, early stop at 0.99" in found  # the budget beside every conclusion
    assert "attention ≥ 16" in found and "gru 4." in found and "for the stated training budget only" in found
    assert "beyond the largest trained distance 4 (extrapolation)" in found  # recall, mixed, trained on 2 and 4
    assert "No sweep manifest" in text and "python -m analysis.attention" in text and "benchmarks.cost" in text
    assert "## Live" not in text  # nothing is training
    for name in ["accuracy_vs_distance", "effective_window", "training_dynamics_nback", "training_dynamics_recall",
                 "steps_to_learn"]:
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / f"{name}.pdf").exists()
        assert f"]({name}.png)" in text
    for table in ["results", "runs", "effective_window", "training_history", "heldout_gaps", "steps_to_learn",
                  "lr_selection"]:
        assert (tmp_path / f"{table}.csv").exists()
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert build(tmp_path, capsys)[0] == 0
    again = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert first == again  # same records, same bytes: no timestamps, no retraining, fixed bootstrap seed


def manifest(directory, run_dirs, state="finished", pending=(), lost=()) -> None:
    jobs = [{"run_dir": str(d), "config_hash": d.name.rsplit("_", 1)[1], "overrides": [f"model={d.name.split('_')[0]}",
                                                                                      "task=nback"],
             "outcome": "finished"} for d in run_dirs]
    jobs += [{"run_dir": str(directory / f"gru_nback_{i:04d}"), "config_hash": f"{i:04d}",
              "overrides": ["model=gru", "task=nback", f"task.distances={32 * (i + 1)}"], "outcome": None}
             for i in range(len(pending))]
    jobs += [{"run_dir": str(directory / f"lstm_nback_{i:04d}"), "config_hash": f"l{i:03d}",
              "overrides": ["model=lstm", "task=nback"], "outcome": "failed",
              "reason": "output directory not writable: [Errno 30] Read-only file system"} for i in range(len(lost))]
    (directory / "sweep.json").write_text(json.dumps({
        "schema_version": 1, "name": "small", "state": state, "started_at": "2026-01-01T00:00:00",
        "finished_at": None, "jobs": jobs, "summary": None}))


def test_partial_sweep_says_how_many_runs_have_results(tmp_path, capsys):
    run_dirs = small_sweep(tmp_path, seeds=(0,))
    manifest(tmp_path, run_dirs, state="running", pending=[1, 2])
    code, _, _ = build(tmp_path, capsys)
    text = (tmp_path / "report.md").read_text()
    total = len(run_dirs) + 2
    assert code == 0 and "Partial results" in text and f"{len(run_dirs)} of {total} runs have results" in text
    assert "still running or was interrupted" in text and "task.distances=64" in text  # the pending jobs are listed


def test_finished_sweep_is_reported_whole_and_an_interrupted_one_partial(tmp_path, capsys):
    run_dirs = small_sweep(tmp_path, seeds=(0,))
    manifest(tmp_path, run_dirs)
    build(tmp_path, capsys)
    assert f"state: finished) finished: all {len(run_dirs)} runs have results" in (tmp_path / "report.md").read_text()
    manifest(tmp_path, run_dirs, state="finished", pending=[1])
    build(tmp_path, capsys)
    text = (tmp_path / "report.md").read_text()
    assert "Partial results" in text and "1 pending" in text
    manifest(tmp_path, run_dirs, state="finished", lost=[1])  # failed before writing a result: a failure
    build(tmp_path, capsys)
    text = (tmp_path / "report.md").read_text()
    assert "Partial results" not in text and "1 failed without writing one" in text
    assert "Read-only file system" in text and "1 run failed" in text


def test_failures_and_unreadable_files_are_listed_never_plotted_as_zeros(tmp_path, capsys):
    small_sweep(tmp_path, seeds=(0,))
    write(tmp_path, record("gru", "nback", 5, {32: 0.0}, status="failed", reason="diverged at step 7: non-finite loss"))
    write(tmp_path, record("lstm", "copy", 0, {8: 0.0}, status="failed", reason="RuntimeError: boom"))
    (tmp_path / "truncated").mkdir()
    (tmp_path / "truncated" / "result.json").write_text('{"status": "fini')
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "result.json").write_text('{"loss": 0.1}')
    code, _, err = build(tmp_path, capsys)
    text = (tmp_path / "report.md").read_text()
    assert code == 0
    assert "warning: skipping" in err and "truncated" in err and "foreign" in err
    assert "2 runs failed" in text and "diverged at step 7" in text and "gru: 1 run failed (not counted)" in text
    assert "**copy** (per_distance): no finished run, so no window; 1 run(s) failed (lstm)" in text
    assert "2 result files could not be read" in text and "truncated/result.json" in text
    assert "foreign/result.json" in text


def test_empty_directory_writes_a_report_that_says_so_and_fails(tmp_path, capsys):
    code, out, err = build(tmp_path, capsys)
    assert code == 1 and "no result.json" in err
    text = (tmp_path / "report.md").read_text()
    assert "No results" in text and "from 0 stored result.json records" in text


def test_attention_and_cost_sections_include_figures_that_exist(tmp_path, capsys):
    run_dirs = small_sweep(tmp_path, seeds=(0,))
    attention_run = next(d for d in run_dirs if d.name.startswith("attention_nback"))
    for name in ["attention_maps.png", "attention_maps.pdf", "attention_mass.png", "attention_mass.pdf",
                 "cost.png", "cost.pdf"]:
        target = attention_run if name.startswith("attention") else tmp_path
        (target / name).write_bytes(b"\x89PNG")
    (attention_run / "attention_mass.csv").write_text("layer,head,distance,mass_on_answer\n1,1,2,0.9\n1,2,2,0.1\n")
    (tmp_path / "cost_slopes.csv").write_text("model,metric,slope,lengths,n_points\nattention,time,1.9,1024-4096,3\n")
    build(tmp_path, capsys)
    text = (tmp_path / "report.md").read_text()
    assert f"]({attention_run.name}/attention_maps.png)" in text and "| 1 | 0.90 |" in text
    assert "](cost.png)" in text and "| attention | time | 1.90 |" in text


@pytest.mark.parametrize("content", ["not json", '{"jobs": "nope"}'])
def test_malformed_manifest_is_ignored_with_a_warning(tmp_path, capsys, content):
    small_sweep(tmp_path, seeds=(0,))
    (tmp_path / "sweep.json").write_text(content)
    code, _, err = build(tmp_path, capsys)
    assert code == 0 and "sweep.json" in err and "No sweep manifest" in (tmp_path / "report.md").read_text()


def test_findings_print_no_window_for_a_budget_bound_cell_and_name_an_offset_shortcut(tmp_path, capsys):
    write_per_distance(tmp_path, "gru", "nback", 0, {2: 1.0, 4: 0.95, 8: 0.5}, shape="rising", max_steps=1200)
    for seed in (0, 1):
        write(tmp_path, record("lstm", "nback", seed, {2: 1.0, 3: CHANCE, 4: 1.0}, protocol="mixed", heldout={3}))
    assert build(tmp_path, capsys)[0] == 0
    text = (tmp_path / "report.md").read_text()
    found = text.split("## What was found")[1].split("## ")[0]
    assert "gru budget-bound (still rising at 1200 steps)." in found and "CI" not in found.split("gru")[1]
    assert "lstm offset shortcut (held-out d=3: 0.12 against 1.00 from trained 2 and 4)" in found
    assert "| nback | mixed | lstm | 3 | 0.125 | 2, 4 | 1.000 | -0.875 |" in text  # the held-out table
    assert "| gru | 1,000 | 1 | budget-bound (still rising at 1200 steps) | budget bound |  |" in text  # no CI


def running_run(directory, name="gru_nback_running"):
    run_dir = directory / name
    run_dir.mkdir(parents=True)
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    for step, loss, accuracy in ((50, 2.0, 0.2), (100, 1.2, 0.6)):
        metrics.write(step=step, loss=loss, lr=1e-3, elapsed_s=1.0, val_accuracy={"4": accuracy, "8": 0.125})
    metrics.close()
    return run_dir


def test_a_sweep_still_running_shows_its_live_curves(tmp_path, capsys):
    small_sweep(tmp_path, seeds=(0,))
    running_run(tmp_path)
    assert build(tmp_path, capsys)[0] == 0
    text = (tmp_path / "report.md").read_text()
    assert "1 run(s) are in progress" in text and "## Live" in text and "**In progress.**" in text
    assert "](live.png)" in text and (tmp_path / "live.png").read_bytes()[:4] == b"\x89PNG"
    assert "| gru_nback_running | 100 | 0.600 | 0.125 | 1.200 |" in text


def test_live_curves_are_drawn_before_any_run_has_finished(tmp_path, capsys):
    running_run(tmp_path)
    code, _, err = build(tmp_path, capsys)
    assert code == 1 and "no result.json" in err  # no result yet: still exit 1, as before
    text = (tmp_path / "report.md").read_text()
    assert "No results" in text and "## Live" in text and (tmp_path / "live.png").exists()


def test_a_new_section_is_one_function_and_one_list_entry(tmp_path, capsys, monkeypatch):
    small_sweep(tmp_path, seeds=(0,))
    monkeypatch.setattr(report, "SECTIONS", [*sections.SECTIONS, lambda r: f"## Extra\n\n{len(r.windows)} windows"])
    build(tmp_path, capsys)
    assert (tmp_path / "report.md").read_text().endswith("## Extra\n\n6 windows\n")
