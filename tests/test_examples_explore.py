"""examples/explore.py runs as a script on a directory of records: the window table with its verdicts, claims,
seeds' windows and run verdicts, and a plot of its own."""

from __future__ import annotations


def test_explore_prints_the_window_table_and_saves_its_plot(synthetic_sweep, script):
    result = script(["examples/explore.py", str(synthetic_sweep)], timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for column in ("verdict", "window_text", "range_text", "resolution", "n_seeds", "budget_text", "val_window",
                   "stop_reason"):
        assert column in out, column
    assert "at_least" in out and "measured" in out and "budget_bound" in out and "not_learned" in out
    assert "recall / gru: 15 (seeds 15), to 1 step; 1000 steps x 32 (32k sequences)" in out  # a claim
    figure = synthetic_sweep / "explore_validation_vs_test.png"
    assert f"figure: {figure}" in out and figure.read_bytes()[:4] == b"\x89PNG"


def test_explore_on_a_directory_without_records_says_so(tmp_path, script):
    result = script(["examples/explore.py", str(tmp_path)], timeout=120)
    assert result.returncode == 1 and "no result.json records under" in result.stderr


def test_every_cell_is_marked_for_notebooks():
    from harness.record import REPO_ROOT

    text = (REPO_ROOT / "examples" / "explore.py").read_text()
    assert text.startswith("# %%") and text.count("# %%\n") >= 5
