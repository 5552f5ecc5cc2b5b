"""The example of docs/adding-a-model.md, copied out of the page and run, so the docs cannot rot.

Its two file blocks go into a scratch copy of the repository, at the paths their first lines name; there the
real model contract runs on the new model (it picks up every YAML in conf/model), a tiny real run.py run must
write a finished result.json, and benchmarks/models.py must count its FLOPs with no entry of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import FENCE, REPO, TINY_TRAIN, contract_passes, example_files, run_script, scratch_repository

PAGE = REPO / "docs" / "adding-a-model.md"


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory) -> tuple[Path, str]:
    """A copy of the repository's source plus the page's two files (tests/support.py)."""
    root = tmp_path_factory.mktemp("scratch") / "repo"
    return root, scratch_repository(root, PAGE, "models")


def test_docs_model_passes_the_contract(scratch_repo):
    """Every contract test of the new YAML, and the parameter match against the models already there."""
    root, name = scratch_repo
    contract_passes(root, "tests/test_model_contract.py", f"{name} or parameter_counts")


def test_docs_model_runs_through_run_py(scratch_repo):
    root, name = scratch_repo
    outputs = root / "outputs"
    result = run_script(["run.py", *TINY_TRAIN, f"model={name}", f"out_root={outputs}"], cwd=root)
    assert result.returncode == 0, result.stderr
    [result_file] = list(outputs.rglob("result.json"))
    record = json.loads(result_file.read_text())
    assert record["status"] == "finished" and record["model"] == name
    assert record["state_size"] > 0


def run_check(root: Path, lines: list[str]) -> None:
    """Run Python lines in the scratch repository, with tests/ importable; fail with their traceback."""
    result = run_script(["-c", "\n".join(["import sys", "sys.path.insert(0, 'tests')", *lines])], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]


def test_docs_model_flops_are_counted_with_no_entry(scratch_repo):
    """Nothing in benchmarks/ names the model: torch's counter sees each convolution and linear layer act once per
    token."""
    root, name = scratch_repo
    run_check(root, ["import torch.nn as nn",
                     "from test_model_contract import make_model",
                     "from benchmarks.models import training_flops",
                     f"model = make_model({name!r})",
                     "layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]",
                     "per_token = sum(2 * m.weight.numel() for m in layers)",
                     "assert training_flops(model, batch=2, length=10) == 3 * 2 * 10 * per_token"])


def test_docs_model_has_a_colour_of_its_own(scratch_repo):
    root, name = scratch_repo
    run_check(root, ["from analysis.plots import model_palette",
                     "palette = model_palette()",
                     f"assert list(palette.values()).count(palette[{name!r}]) == 1, palette"])


def test_the_page_asks_for_two_files_and_nothing_else():
    assert {Path(path).parts[0] for path in example_files(PAGE)} == {"models", "conf"}
    prose = " ".join(FENCE.sub("", PAGE.read_text()).split())
    assert "Nothing else has to change" in prose
    bullets = [b for b in prose.split(" - ") if "tests/test_" in b and "test_model_contract.py" not in b]
    assert bullets and all(b.startswith("Optional") for b in bullets), bullets
