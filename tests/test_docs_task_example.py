"""The "Adding a task" example of docs/adding-a-task.md, copied out of the page and run, so the docs cannot rot.

Its code blocks go into a scratch copy of the repository, at the paths their first
lines name; there the real contract tests run on the new task (they pick up every
YAML in conf/task), and a tiny real run.py run must write a finished result.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import FENCE, REPO, TINY_TRAIN, contract_passes, example_files, run_script, scratch_repository

PAGE = REPO / "docs" / "adding-a-task.md"


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory) -> tuple[Path, str]:
    """A copy of the repository's source plus the page's two files (tests/support.py)."""
    root = tmp_path_factory.mktemp("scratch") / "repo"
    return root, scratch_repository(root, PAGE, "tasks")


def test_docs_task_passes_the_contract(scratch_repo):
    root, name = scratch_repo
    contract_passes(root, "tests/test_task_contract.py", name)


def test_docs_task_runs_through_run_py(scratch_repo):
    root, name = scratch_repo
    outputs = root / "outputs"
    result = run_script(["run.py", *TINY_TRAIN, f"task={name}", "model=gru", f"out_root={outputs}"], cwd=root)
    assert result.returncode == 0, result.stderr
    [result_file] = list(outputs.rglob("result.json"))
    record = json.loads(result_file.read_text())
    assert record["status"] == "finished" and record["task"] == name
    assert record["chance_accuracy"] == pytest.approx(0.25)
    assert [row["distance"] for row in record["accuracy_by_distance"]] == [8]


def test_the_page_asks_for_two_files_and_nothing_else():
    """Defect: the section said "nothing else changes", then asked for a catalog test in a third file. A task is two
    files; the contract picks the YAML up by itself, and a brute-force test is recommended, not required."""
    section = PAGE.read_text()
    assert {Path(path).parts[0] for path in example_files(PAGE)} == {"tasks", "conf"}
    prose = " ".join(FENCE.sub("", section).split())
    assert "Nothing else has to change" in prose
    bullets = [b for b in prose.split(" - ") if "tests/test_" in b and "test_task_contract.py" not in b]
    assert bullets and all(b.startswith("Optional") for b in bullets), bullets
