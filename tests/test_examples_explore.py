"""examples/explore.py runs as a script on a directory of records: the window table with verdicts, and its plot."""

from __future__ import annotations


def test_explore_prints_the_window_table_and_saves_its_plot(synthetic_sweep, script):
    result = script(["examples/explore.py", str(synthetic_sweep)], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "verdict" in result.stdout and "at_least" in result.stdout and "measured" in result.stdout
    figure = synthetic_sweep / "explore_validation_vs_test.png"
    assert f"figure: {figure}" in result.stdout and figure.read_bytes()[:4] == b"\x89PNG"


def test_every_cell_is_marked_for_notebooks():
    from harness.record import REPO_ROOT

    text = (REPO_ROOT / "examples" / "explore.py").read_text()
    assert text.startswith("# %%") and text.count("# %%\n") >= 4
