"""The analysis package: one entry point, and it never reaches into training or names a model."""

from __future__ import annotations

import ast

import analysis
from harness.record import REPO_ROOT

ANALYSIS = sorted((REPO_ROOT / "analysis").glob("*.py"))


def test_load_is_the_entry_point(synthetic_sweep):
    results = analysis.load(synthetic_sweep)
    assert isinstance(results, analysis.Results) and len(results.table) > 0


def test_analysis_never_imports_the_training_loop_or_run():
    for path in ANALYSIS:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name not in ("run", "harness.train") and not name.startswith("benchmarks"), (path.name, name)


def test_no_model_name_is_written_into_analysis():
    """Colours and orders come from conf/model and the data, so a new model is two files and nothing here."""
    models = [p.stem for p in (REPO_ROOT / "conf" / "model").glob("*.yaml")]
    for path in ANALYSIS:
        strings = {node.value for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not strings & set(models), (path.name, strings & set(models))


def test_the_rule_is_stated_once_and_analysis_only_calls_it():
    """Every decision (where a window ends, whether a run or a cell is decided, which rate is chosen, what chance
    and the threshold are) lives in harness/verdict.py; no analysis module defines its own version of one."""
    from harness import verdict

    rule = {name for name in vars(verdict) if callable(getattr(verdict, name)) and not name[0].isupper()}
    for path in ANALYSIS:
        defined = {node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)}
        assert not defined & rule, (path.name, defined & rule)
