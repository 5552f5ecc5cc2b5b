"""report.md from stored results: every section, the budget and the rule beside every claim, partial sweeps,
failures, unreadable files, an empty directory, runs still training, and verdicts in the findings. Sections are
called one by one where the whole report is not the subject (a whole report draws every figure)."""

from __future__ import annotations

import json

import pytest
from synthetic_runs import CHANCE, RECALL, fine, run, step, write, write_small_sweep

import analysis
from analysis import report, sections
from analysis.sweep import Skipped
from analysis.tables import Report
from harness.record import MetricsLog
from harness.verdict import STABLE_RUNGS

SECTIONS = ["## What was found", "## Effective context window", "## Accuracy against distance",
            "## Held-out distances", "## Steps to learn", "## Training dynamics", "## Capacity", "## Attention maps",
            "## Cost scaling", "## Runs", "## Settings"]
TABLES = ["results", "runs", "training_history", "effective_window", "seed_windows", "run_verdicts", "rungs",
          "heldout_gaps", "steps_to_learn", "lr_selection"]
FIGURES = ["accuracy_vs_distance", "effective_window", "training_dynamics_nback", "training_dynamics_recall",
           "steps_to_learn"]


def build(directory, capsys, *options) -> tuple[int, str, str]:
    code = report.main([str(directory), "--resamples", "200", *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def loaded(directory, **options) -> Report:
    return Report(analysis.load(directory), resamples=50, **options)


def test_report_has_every_section_and_states_the_budget_and_the_rule(tmp_path, capsys):
    write_small_sweep(tmp_path)
    code, out, _ = build(tmp_path, capsys)
    assert code == 0 and f"report: {tmp_path / 'report.md'}" in out
    text = (tmp_path / "report.md").read_text()
    assert [s for s in SECTIONS if s in text] == SECTIONS and text.index(SECTIONS[0]) < text.index(SECTIONS[-1])
    found = text.split("## What was found")[1].split("\n## ")[0]
    assert "- **recall** (dense; distances 8–32): attention (1k params): ≥ 32 (seeds ≥ 32); 250 steps x 32 (8k " \
           "sequences); gru (1k params): 15 (seeds 15), to 1 step; 1000 steps x 32 (32k sequences); lstm (1k " \
           "params): budget-bound (still moving at the top rung (4000 steps): window moved +3 (16 to 19)); 4000 " \
           "steps x 32 (128k sequences)." in found
    assert "gru (1k params): 16 (seeds 16), to 16 steps; 4000 steps x 32 (128k sequences)" in found  # n-back, x2
    assert "more training up the ladder did not change it" in found
    assert "17.1" not in text  # no window is interpolated
    window = text.split("## Effective context window")[1].split("\n## ")[0]
    assert "`harness/verdict.py`" in window  # the rule is linked, not restated
    assert "| recall | dense | gru | 1,000 | 0.001 | measured | 15 | 15 | 1 |  | 2 | 1000 steps x 32 (32k " \
           "sequences) |" in window
    assert "No sweep manifest" in text and "python -m analysis.attention" in text and "benchmarks.cost" in text
    assert "## Live" not in text  # nothing is training
    for name in FIGURES:
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / f"{name}.pdf").exists()
        assert f"]({name}.png)" in text
    for table in TABLES:
        assert (tmp_path / f"{table}.csv").exists(), table


def test_the_report_regenerates_identical_bytes(tmp_path, capsys):
    """Five seeds, so the bootstrap interval is drawn too: same records, same bytes (no timestamps, no retraining,
    a fixed bootstrap seed)."""
    for seed, window in enumerate((14, 15, 15, 16, 17)):
        write(tmp_path, run("gru", "recall", seed, [step(window, RECALL)] * STABLE_RUNGS))
    assert build(tmp_path, capsys)[0] == 0
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert "| 15 | 14–17 | 1 | [1" in first["report.md"].decode()  # the window, its range and an interval
    assert build(tmp_path, capsys)[0] == 0
    again = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert first == again


def test_the_threshold_fraction_is_stated_and_moves_the_windows(tmp_path):
    ramp = {d: max(CHANCE, 1.0 - 0.05 * (d - 8)) for d in RECALL}  # 0.9125 reached at 9, 0.5625 at 16
    write(tmp_path, run("gru", "recall", 0, [ramp] * STABLE_RUNGS, heldout=()))
    default, lower = loaded(tmp_path), loaded(tmp_path, fraction=0.5)
    assert "Threshold: 0.5 of the way from chance to 1.0." in sections.header(lower).text
    assert (default.windows.window_text.tolist(), lower.windows.window_text.tolist()) == (["9"], ["16"])


def manifest(directory, run_dirs, state="finished", pending=(), lost=()) -> None:
    jobs = [{"run_dir": str(d), "config_hash": d.name.rsplit("_", 1)[1], "overrides": [f"model={d.name.split('_')[0]}",
                                                                                      "task=recall"],
             "outcome": "finished"} for d in run_dirs]
    jobs += [{"run_dir": str(directory / f"gru_recall_{i:04d}"), "config_hash": f"{i:04d}",
              "overrides": ["model=gru", "task=recall", f"seed={i + 5}"], "outcome": None}
             for i in range(len(pending))]
    jobs += [{"run_dir": str(directory / f"lstm_recall_{i:04d}"), "config_hash": f"l{i:03d}",
              "overrides": ["model=lstm", "task=recall"], "outcome": "failed",
              "reason": "output directory not writable: [Errno 30] Read-only file system"} for i in range(len(lost))]
    (directory / "sweep.json").write_text(json.dumps({
        "schema_version": 1, "name": "small", "state": state, "started_at": "2026-01-01T00:00:00",
        "finished_at": None, "jobs": jobs, "summary": None}))


def two_runs(directory) -> list:
    return [write(directory, run(model, "recall", 0, [step(15, RECALL)] * STABLE_RUNGS)) for model in ("gru", "lstm")]


def test_partial_sweep_says_how_many_runs_have_results_and_lists_the_pending_ones(tmp_path):
    run_dirs = two_runs(tmp_path)
    manifest(tmp_path, run_dirs, state="running", pending=[1, 2])
    found = loaded(tmp_path)
    text = sections.header(found).text
    assert "Partial results" in text and "2 of 4 runs have results, 2 pending" in text
    assert "still running or was interrupted (its manifest says it is running)" in text
    assert "seed=6" in sections.runs_section(found).text  # the pending jobs are listed


def test_finished_sweep_is_reported_whole_and_an_interrupted_one_partial(tmp_path):
    run_dirs = two_runs(tmp_path)
    manifest(tmp_path, run_dirs)
    assert "state: finished) finished: all 2 runs have results" in sections.header(loaded(tmp_path)).text
    manifest(tmp_path, run_dirs, state="finished", pending=[1])
    text = sections.header(loaded(tmp_path)).text
    assert "Partial results" in text and "1 pending" in text
    manifest(tmp_path, run_dirs, state="finished", lost=[1])  # failed before writing a result: a failure
    found = loaded(tmp_path)
    text = sections.header(found).text + sections.runs_section(found).text
    assert "Partial results" not in text and "1 failed without writing one" in text
    assert "Read-only file system" in text and "1 run failed" in text


def test_failures_and_unreadable_files_are_listed_never_plotted_as_zeros(tmp_path, capsys):
    two_runs(tmp_path)
    write(tmp_path, run("gru", "recall", 5, [step(15, RECALL)], status="failed",
                        reason="diverged at step 7: non-finite loss"))
    write(tmp_path, run("lstm", "copy", 0, [step(15, RECALL)], status="failed", reason="RuntimeError: boom"))
    (tmp_path / "truncated").mkdir()
    (tmp_path / "truncated" / "result.json").write_text('{"status": "fini')
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "result.json").write_text('{"loss": 0.1}')
    code, _, err = build(tmp_path, capsys)
    text = (tmp_path / "report.md").read_text()
    assert code == 0
    assert "warning: skipping" in err and "truncated" in err and "foreign" in err
    assert "2 runs failed" in text and "diverged at step 7" in text and "gru: 1 run failed (not counted)" in text
    assert "**copy** (dense): no finished run, so no window; 1 run(s) failed (lstm)" in text
    assert "2 result files could not be read" in text and "truncated/result.json" in text
    assert "foreign/result.json" in text
    windows = (tmp_path / "effective_window.csv").read_text()
    assert "copy" not in windows and ",2,0 1," not in windows  # the failed seed 5 is no seed of the gru cell


def test_empty_directory_writes_a_report_that_says_so_and_fails(tmp_path, capsys):
    code, _, err = build(tmp_path, capsys)
    assert code == 1 and "no result.json" in err
    text = (tmp_path / "report.md").read_text()
    assert "No results" in text and "from 0 stored result.json records" in text


def test_the_attention_section_includes_maps_that_exist(tmp_path):
    run_dirs = two_runs(tmp_path)
    found = loaded(tmp_path)
    assert "None made yet" in sections.attention_section(found).text
    for name in ["attention_maps.png", "attention_maps.pdf", "attention_mass.png", "attention_mass.pdf"]:
        (run_dirs[0] / name).write_bytes(b"\x89PNG")
    (run_dirs[0] / "attention_mass.csv").write_text("layer,head,distance,mass_on_answer\n1,1,2,0.9\n1,2,2,0.1\n")
    text = sections.attention_section(loaded(tmp_path)).text
    assert f"]({run_dirs[0].name}/attention_maps.png)" in text and "| 1 | 0.90 |" in text
    assert ": gru on recall, trained on [8, 9, 10, 12," in text  # what the run was, from its record


@pytest.mark.parametrize("content", ["not json", '{"jobs": "nope"}'])
def test_malformed_manifest_is_ignored_with_a_warning(tmp_path, content):
    two_runs(tmp_path)
    (tmp_path / "sweep.json").write_text(content)
    with pytest.warns(Skipped, match="sweep.json"):
        found = loaded(tmp_path)
    assert "No sweep manifest" in sections.header(found).text


def test_findings_print_no_window_where_none_is_claimed_and_name_each_verdict(tmp_path):
    write(tmp_path, run("gru", "recall", 0, [step(w, RECALL) for w in (8, 10, 13, 16, 19)]))  # budget-bound
    write(tmp_path, run("lstm", "recall", 0, [{d: CHANCE for d in RECALL}] * 5))  # not learned
    memorised = {**{d: 0.3 for d in fine(8, 64)}, 8: 1.0, 16: 0.99, 32: 0.97, 64: 0.98, 11: 0.68, 23: 0.45, 45: 0.36}
    for seed in (0, 1):
        write(tmp_path, run("attention", "assoc_recall", seed, [memorised], protocol="mixed"))
    found = loaded(tmp_path)
    text = sections.findings(found).text
    assert "gru (1k params): budget-bound (still moving at the top rung (4000 steps): window moved +3 (16 to 19)); " \
           "4000 steps x 32 (128k sequences)" in text
    assert "lstm (1k params): not learned (at chance everywhere at the last two rungs (4000 steps)); 4000 steps " \
           "x 32 (128k sequences)" in text
    assert "attention (1k params): offset shortcut (held-out d=11: 0.68 against 1.00 from trained 8 and 16); 250 " \
           "steps x 32 (8k sequences)" in text
    assert "≥ 64" not in text  # the memoriser's curve alone looks unlimited; no window is printed for it
    held_out = sections.heldout_section(found).text
    assert "| assoc_recall | mixed | attention | 11 | 0.680 | 8, 16 | 0.995 | -0.315 | 0.021 | **yes** |" in held_out
    assert "| assoc_recall | mixed | attention | 45 | 0.360 | 32, 64 | 0.975 | -0.615 | 0.022 | **yes** |" in held_out


def running_run(directory, name="gru_recall_running"):
    run_dir = directory / name
    run_dir.mkdir(parents=True)
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    for step_, loss, accuracy in ((50, 2.0, 0.2), (100, 1.2, 0.6)):
        metrics.write(step=step_, loss=loss, lr=1e-3, elapsed_s=1.0, val_accuracy={"4": accuracy, "8": 0.125})
    metrics.close()
    return run_dir


def test_a_sweep_still_running_shows_its_live_curves(tmp_path):
    two_runs(tmp_path)
    running_run(tmp_path)
    found = loaded(tmp_path)
    assert "1 run(s) are in progress" in sections.header(found).text
    part = sections.live_section(found)
    text = part.text
    assert "## Live" in text and "**In progress.**" in text and "](live.png)" in text
    assert set(part.figures) == {"live"} and set(part.tables) == {"live_metrics"}
    assert not (tmp_path / "live.png").exists(), "a section writes nothing; analysis.report writes its files"
    assert "| gru_recall_running | 100 | 0.600 | 0.125 | 1.200 |" in text


def test_live_curves_are_drawn_before_any_run_has_finished(tmp_path, capsys):
    running_run(tmp_path)
    code, _, err = build(tmp_path, capsys)
    assert code == 1 and "no result.json" in err  # no result yet: still exit 1
    text = (tmp_path / "report.md").read_text()
    assert "No results" in text and "## Live" in text and (tmp_path / "live.png").exists()


def test_a_new_section_is_one_function_and_one_list_entry(tmp_path, capsys, monkeypatch):
    write(tmp_path, run("gru", "recall", 0, [step(15, RECALL)] * STABLE_RUNGS, heldout=()))
    monkeypatch.setattr(report, "SECTIONS", [sections.header,
                                             lambda r: sections.Part(f"## Extra\n\n{len(r.windows)} windows")])
    build(tmp_path, capsys)
    assert (tmp_path / "report.md").read_text().endswith("## Extra\n\n1 windows\n")


def test_records_made_before_the_evidence_was_stored_are_named_with_the_command_that_makes_it(tmp_path, capsys):
    """Judges what it can, names the cells it cannot and says how to make their evidence; exits non-zero only
    when it can judge nothing."""
    old = tmp_path / "mixed" / "gru_recall_0123"
    old.mkdir(parents=True)
    (old / "result.json").write_text(json.dumps({"schema_version": 3, "status": "finished", "model": "gru",
                                                 "task": "recall", "seed": 2, "config": {"name": "headline"}}))
    write(tmp_path / "mixed", run("lstm", "recall", 0, [step(15, RECALL)] * STABLE_RUNGS))
    assert report.main([str(tmp_path / "mixed")]) == 0
    text = (tmp_path / "mixed" / "report.md").read_text()
    assert "**Not judged:** 1 record made before the evidence the rule reads was stored (gru on recall)" in text
    assert "python run.py -m experiment=headline" in text and "lstm" in text
    only_old = tmp_path / "old"
    old.rename(only_old)
    assert report.main([str(tmp_path / "old")]) == 1
