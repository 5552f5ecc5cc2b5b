"""The "Adding a task" example of docs/adding-a-task.md, copied out of the page and run, so the docs cannot rot.

Its code blocks go into a scratch copy of the repository, at the paths their first
lines name; there the real contract tests run on the new task (they pick up every
YAML in conf/task), and a tiny real run.py run must write a finished result.json.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from support import REPO, TINY_TRAIN, run_script

FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PAGE = REPO / "docs" / "adding-a-task.md"


def add_a_task_blocks() -> dict[str, str]:
    """{path: text} for the code blocks of docs/adding-a-task.md; each block names its path first."""
    section = PAGE.read_text()
    blocks = {}
    for language, text in FENCE.findall(section):
        first_line = text.splitlines()[0]
        assert first_line.startswith("# "), f"a {language} block must name its file on its first line"
        blocks[first_line[2:].strip()] = text
    return blocks


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory) -> tuple[Path, str]:
    """A copy of the repository's source (no .git, .venv or outputs) plus the page's two files."""
    root = tmp_path_factory.mktemp("scratch") / "repo"
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".git", ".venv", "outputs", "__pycache__", "*.pyc",
                                                               ".pytest_cache", ".ruff_cache"))
    blocks = add_a_task_blocks()
    [python_file] = [path for path in blocks if path.startswith("tasks/") and path.endswith(".py")]
    [yaml_file] = [path for path in blocks if path.startswith("conf/task/") and path.endswith(".yaml")]
    assert len(blocks) == 2, f"the example is exactly two files, got {sorted(blocks)}"
    for path, text in blocks.items():
        assert not (REPO / path).exists(), f"{path} already exists in the repository: pick a new name for the example"
        (root / path).write_text(text)
    return root, Path(yaml_file).stem


def test_docs_task_passes_the_contract(scratch_repo):
    root, name = scratch_repo
    result = run_script(["-m", "pytest", "-q", "tests/test_task_contract.py", "-k", name], cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr  # 0 also means some tests were selected
    assert re.search(r"\d+ passed", result.stdout) and "failed" not in result.stdout


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
    assert {Path(path).parts[0] for path in add_a_task_blocks()} == {"tasks", "conf"}
    prose = " ".join(FENCE.sub("", section).split())
    assert "Nothing else has to change" in prose
    bullets = [b for b in prose.split(" - ") if "tests/test_" in b and "test_task_contract.py" not in b]
    assert bullets and all(b.startswith("Optional") for b in bullets), bullets
