"""analysis/pages.py: results pages and the README block are generated from the records, and say what they say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic_runs import RECALL, run, step, write, write_small_sweep

from analysis import load, pages
from analysis.records import load_records
from analysis.report import main
from analysis.tables import Report


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sweep")
    write_small_sweep(directory, seeds=(0, 1, 2))
    (directory / "sweep.json").write_text(json.dumps({"schema_version": 1, "name": "sweep", "state": "finished",
                                                      "jobs": [], "sittings": [
        {"started_at": "2026-01-01T00:00:00+0000", "updated_at": "2026-01-01T01:00:00+0000"},
        {"started_at": "2026-01-02T00:00:00+0000", "updated_at": "2026-01-02T00:30:00+0000"}]}))
    return directory


@pytest.fixture(scope="module")
def built(sweep, tmp_path_factory):
    """The page and a README, generated once from the sweep."""
    root = tmp_path_factory.mktemp("docs")
    readme = root / "README.md"
    start, end = pages.markers("headline")
    readme.write_text(f"# Title\n\nbefore\n{start}\nold table\n{end}\nafter\n")
    page = root / "docs" / "results" / "sweep.md"
    assert main([str(sweep), "--markdown", str(page), "--readme", str(readme)]) == 0
    return page, readme


def rows_of(markdown: str, header: str) -> list[list[str]]:
    """The body rows of the first table whose header line starts with ``header``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    body = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        body.append([cell.strip() for cell in line.strip("|").split("|")])
    return body


def test_the_page_says_what_the_records_say(sweep, built):
    """Every cell of the page's full table is the window table's, and the compact table agrees with it."""
    page, _ = built
    text = page.read_text()
    windows = Report(load(sweep)).windows
    full = rows_of(text, "| task | model | params")
    assert len(full) == len(windows)
    for row, cell in zip(full, windows.itertuples()):
        assert row[:2] == [cell.task, cell.model]
        assert row[4] == cell.verdict.replace("_", " ") and row[5] == cell.window_text
    compact = {row[0]: row[1:] for row in rows_of(text, "| task | attention")}
    for cell in windows.itertuples():
        expected = cell.window_text if cell.verdict in ("measured", "at_least") else pages.SHORT[cell.verdict]
        assert compact[cell.task][["attention", "gru", "lstm"].index(cell.model)] == expected
    assert (page.parent / "sweep" / "accuracy_vs_distance.png").read_bytes()[:4] == b"\x89PNG"


def test_the_page_is_stamped_from_the_records_and_the_sittings(sweep, built):
    text = built[0].read_text()
    records = load(sweep).runs
    assert f"Made from {len(records)} run records" in text
    assert "90 min of wall time over 2 sittings" in text  # 60 + 30 minutes, from sweep.json
    assert "This sweep is not finished" not in text
    assert "do not edit by hand" in text and "torch 2.13.0" in text


def test_the_readme_block_is_replaced_and_nothing_else(sweep, built):
    page, readme = built
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n") and text.endswith("after\n") and "old table" not in text
    assert "[docs/results/sweep.md](docs/results/sweep.md)" in text and "| task | attention | gru | lstm |" in text
    main([str(sweep), "--markdown", str(page), "--readme", str(readme)])
    assert readme.read_text() == text, "regenerating gives the same README"


def test_a_readme_without_the_markers_is_refused(sweep, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no block here\n")
    assert main([str(tmp_path / "missing"), "--markdown", str(tmp_path / "p.md"), "--readme", str(readme)]) == 2
    assert main([str(sweep), "--markdown", str(tmp_path / "p.md"), "--readme", str(readme)]) == 2
    assert "no <!-- headline:start -->" in capsys.readouterr().err
    assert readme.read_text() == "# no block here\n"


def test_the_judging_commit_is_dirty_only_when_the_code_that_judges_changed(tmp_path, monkeypatch):
    """Rewriting a page or the README is no change to the rule; editing harness/ or analysis/ is."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    for name in ("README.md", "harness/verdict.py", "analysis/window.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "start")
    monkeypatch.setattr(pages, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(pages, "git_state", lambda: ("0123456789abcdef", True))
    (tmp_path / "README.md").write_text("regenerated\n")
    assert pages.judging_code() == ("0123456789abcdef", False)
    (tmp_path / "harness" / "verdict.py").write_text("changed\n")
    assert pages.judging_code() == ("0123456789abcdef", True)


def test_a_sitting_that_was_stopped_counts_until_its_last_finished_record(tmp_path):
    """Its manifest was written only when it began; the records it finished say how long it worked."""
    (tmp_path / "sweep.json").write_text(json.dumps({"schema_version": 1, "name": "s", "state": "running", "jobs": [],
                                                     "sittings": [
        {"started_at": "2026-01-01T00:00:00+0000", "updated_at": "2026-01-01T00:00:00+0000"},
        {"started_at": "2026-01-01T02:00:00+0000", "updated_at": "2026-01-01T02:10:00+0000"}]}))
    finished = ["2026-01-01T00:20:00+0000", "2026-01-01T00:40:00+0000", "2026-01-01T02:30:00+0000"]
    assert pages.wall_time(tmp_path, finished) == (70 * 60.0, 2)  # 40 min, then 30 min
    assert pages.wall_time(tmp_path) == (10 * 60.0, 2)  # from the manifest alone


def test_a_cell_still_choosing_its_rate_is_shown_as_such_never_as_one_candidates_window():
    import pandas as pd

    windows = pd.DataFrame({"task": ["recall"] * 3, "protocol": "dense", "model": ["gru", "gru", "lstm"],
                            "batch_size": 32, "lr": [1e-3, 3e-3, 1e-3], "verdict": ["measured", "budget_bound",
                                                                                     "at_least"],
                            "window_text": ["< 8", "12", "≥ 128"], "agree": True})
    table = pages.compact_table(windows)
    assert table.loc[0, "gru"] == "choosing lr" and table.loc[0, "lstm"] == "≥ 128"
    assert list(pages.choosing(windows)) == [True, True, False]


def test_a_page_made_while_its_sweep_runs_says_so(tmp_path):
    directory = tmp_path / "sweep"
    run_dirs = write_small_sweep(directory, seeds=(0,))
    jobs = [{"run_dir": str(d), "config_hash": d.name.rsplit("_", 1)[-1], "outcome": "finished"} for d in run_dirs]
    jobs.append({"run_dir": str(directory / "gru_recall_notyet"), "config_hash": "notyet", "outcome": None})
    (directory / "sweep.json").write_text(json.dumps({"schema_version": 1, "name": "sweep", "state": "running",
                                                      "jobs": jobs, "sittings": []}))
    page, readme = tmp_path / "page.md", tmp_path / "README.md"
    readme.write_text("\n".join(pages.markers("headline")) + "\n")
    assert main([str(directory), "--markdown", str(page), "--readme", str(readme)]) == 0
    assert "This sweep is not finished" in readme.read_text()
    assert (f"records for {len(run_dirs)} of its {len(jobs)} jobs; of the others 0 are learning-rate candidates "
            "not chosen and 1 are still to run") in page.read_text()


def test_a_cell_whose_sweep_still_owes_it_runs_is_not_final(tmp_path):
    """GRU seed 0 measured 15 while seeds 1 and 2 are still to run: budget-bound, naming them, not 15 read from one
    seed. LSTM at 1e-3 reached 32, but its choosing seed has a rate candidate still to run (an extension past a
    winning edge): its rate is still being chosen, so 32 is not yet its answer. The manifest names each job's cell
    (harness.record.cell_hash), the seed and the rate."""
    from harness.record import cell_hash

    directory = tmp_path / "sweep"
    gru = run("gru", "recall", 0, [step(15, RECALL)] * 3, model_config={"cell": "gru"})
    lstm = run("lstm", "recall", 0, [step(32, RECALL)], model_config={"cell": "lstm"})
    write(directory, gru), write(directory, lstm)
    before = Report(load(directory)).windows.set_index("model")
    assert before.loc["gru", "window_text"] == "15" and before.loc["lstm", "window_text"] == "≥ 32"

    def owed(record, seed, lr):
        return {"run_dir": str(directory / f"{record.model}_owed_{seed}_{lr}"), "config_hash": f"owed{seed}{lr}",
                "cell": cell_hash(record.config), "seed": seed, "lr": lr, "outcome": None}

    jobs = [{"run_dir": record.run_dir, "config_hash": record.config_hash, "outcome": "finished"}
            for record in (gru, lstm)] + [owed(gru, 1, 1e-3), owed(gru, 2, 1e-3), owed(lstm, 0, 3e-3)]
    (directory / "sweep.json").write_text(json.dumps({"schema_version": 1, "name": "sweep", "state": "running",
                                                      "jobs": jobs, "sittings": []}))
    report = Report(load(directory))
    windows = report.windows.set_index("model")
    assert windows.loc["gru", "verdict"] == "budget_bound"
    assert windows.loc["gru", "why"] == "2 run(s) not yet run (seeds 1, 2)"
    assert not report.lr_choice[report.lr_choice.model == "lstm"].chosen.any()
    assert windows.loc["lstm", "verdict"] == "budget_bound"
    assert windows.loc["lstm", "why"] == "the rate is still being chosen: candidate 0.003 not yet run"
    assert list(pages.compact_table(report.windows).loc[0, ["gru", "lstm"]]) == ["budget-bound"] * 2


def test_a_pass_over_a_finished_sweep_is_no_sitting(tmp_path):
    """Rerunning a finished sweep (to rewrite its manifest, or by a script that runs every step again) trains
    nothing and ends; it is no sitting of work. A sitting stopped before any run finished still counts."""
    (tmp_path / "sweep.json").write_text(json.dumps({"schema_version": 1, "name": "s", "state": "finished", "jobs": [],
                                                     "sittings": [
        {"started_at": "2026-01-01T00:00:00+0000", "updated_at": "2026-01-01T00:30:00+0000", "state": "finished"},
        {"started_at": "2026-01-01T01:00:00+0000", "updated_at": "2026-01-01T01:00:40+0000", "state": "finished"},
        {"started_at": "2026-01-01T02:00:00+0000", "updated_at": "2026-01-01T02:10:00+0000", "state": "running"}]}))
    finished = ["2026-01-01T00:20:00+0000", "2026-01-01T00:30:00+0000"]
    assert pages.wall_time(tmp_path, finished) == (40 * 60.0, 2)  # 30 min, no pass of 40 s, then 10 min stopped


def test_records_older_than_every_known_sitting_count_as_one_more(tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps({"schema_version": 1, "name": "s", "state": "running", "jobs": [],
                                                     "sittings": [
        {"started_at": "2026-01-01T05:00:00+0000", "updated_at": "2026-01-01T05:30:00+0000"}]}))
    started = ["2026-01-01T01:00:00+0000", "2026-01-01T02:00:00+0000", "2026-01-01T05:05:00+0000"]
    finished = ["2026-01-01T01:30:00+0000", "2026-01-01T03:00:00+0000", "2026-01-01T05:20:00+0000"]
    assert pages.wall_time(tmp_path, finished, started) == ((30 + 120) * 60.0, 2)


def test_the_stamp_names_the_code_state_the_commit_range_and_the_records_from_uncommitted_code(tmp_path):
    """Provenance in one clause, not a list of every commit: one hash over the training code's files, the first
    and last commit, how many records came from uncommitted code, and any whose stored diff no longer applies."""
    import difflib
    import subprocess

    from harness.record import REPO_ROOT

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    original = subprocess.run(["git", "show", "HEAD:harness/train.py"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.splitlines(keepends=True)
    applies = "".join(difflib.unified_diff(original, ["# an edit\n", *original], "a/harness/train.py",
                                           "b/harness/train.py"))
    stale = applies.replace(original[0], "a line that is not there\n")
    records = []
    for k, (commit, diff) in enumerate([("a" * 40, None), (head, applies), (head, stale), (head, None)]):
        record = run("gru", "recall", k, [step(15, RECALL)] * 3, source_files={"harness/train.py": "abc"},
                     git_commit=commit, code_diff=diff, started_at=f"2026-01-0{k + 1}T00:00:00+0000")
        records.append(load_records(write_one(tmp_path, record))[0])
    text = pages.provenance(records)
    assert "one state of its 1 source files" in text and f"commits aaaaaaaaaa to {head[:10]} (2 commits)" in text
    assert "2 records from uncommitted training code (diff stored)" in text
    assert f"1 whose stored diff no longer applies to its commit: {Path(records[2].run_dir).name}" in text
    records[3].source_files = {"harness/train.py": "def"}
    assert "training code in more than one state (harness/train.py: 2 hashes)" in pages.provenance(records)


def write_one(directory, record):
    """One record in a directory of its own; returns that directory."""
    run_dir = write(directory / record.config_hash, record)
    return run_dir.parent


def test_a_budget_bound_cell_shows_its_window_at_every_rung(tmp_path):
    """The small sweep's LSTM on recall moved 8, 10, 13, 16, 19 over its five rungs: not claimed, but shown."""
    write_small_sweep(tmp_path / "sweep")
    lines = pages.budget_bound_lines(Report(load(tmp_path / "sweep"), resamples=10))
    text = "\n".join(lines)
    assert "## Budget-bound cells, rung by rung" in text
    assert "| recall | lstm | 8 (2) | 10 (2) | 13 (2) | 16 (2) | 19 (2) |" in text
    assert "| recall | gru |" not in text  # measured: no row
