"""Figures: seaborn FacetGrids that save only when asked, one colour per model from conf/model, and hollow markers
where a point must be read with care."""

from __future__ import annotations

import matplotlib.colors as mcolors
import seaborn as sns
from synthetic_runs import CHANCE, record, write

import analysis
from analysis import plots
from analysis.trust import rising_table
from analysis.window import window_table
from harness.record import REPO_ROOT

CONF_MODELS = sorted(p.stem for p in (REPO_ROOT / "conf" / "model").glob("*.yaml"))


def test_model_colours_follow_conf_model_then_the_data():
    assert plots.model_order(["zeta", "alpha_new"]) == CONF_MODELS + ["alpha_new", "zeta"]
    assert plots.model_palette(["zeta"])["gru"] == plots.model_palette()["gru"]  # a new model moves no colour
    assert plots.ordered_models(["zeta", CONF_MODELS[-1], CONF_MODELS[0]]) == [CONF_MODELS[0], CONF_MODELS[-1], "zeta"]


def test_every_figure_is_a_facet_grid_and_nothing_is_written_until_saved(synthetic_sweep, tmp_path):
    results = analysis.load(synthetic_sweep)
    windows = window_table(results.table, results.history, resamples=50)
    grids = [plots.accuracy_vs_distance(results.table, windows, rising_table(results.history)),
             plots.effective_window_plot(windows), plots.training_dynamics(results.history, "nback")]
    assert all(isinstance(grid, sns.FacetGrid) for grid in grids)
    assert not list(synthetic_sweep.glob("*.png")) and not list(synthetic_sweep.glob("*.pdf"))
    paths = plots.save(grids[0], tmp_path / "figure")
    assert [p.name for p in paths] == ["figure.png", "figure.pdf"] and paths[0].read_bytes()[:4] == b"\x89PNG"


def hollow_points(grid) -> int:
    """Markers with a white face on every panel of a grid."""
    white = mcolors.to_rgba("white")
    return sum(tuple(face) == white for ax in grid.axes.flat for collection in ax.collections
               for face in collection.get_facecolors())


def test_budget_bound_points_are_hollow_and_the_legend_says_why(tmp_path):
    write(tmp_path / "rising", record("gru", "recall", 0, {2: 1.0, 8: CHANCE + 0.3}, protocol="mixed", shape="rising"))
    write(tmp_path / "settled", record("gru", "recall", 0, {2: 1.0, 8: CHANCE + 0.3}, protocol="mixed"))
    for name, hollow in (("rising", True), ("settled", False)):
        results = analysis.load(tmp_path / name)
        windows = window_table(results.table, results.history, resamples=50)
        for grid in (plots.effective_window_plot(windows),
                     plots.accuracy_vs_distance(results.table, windows, rising_table(results.history))):
            assert (hollow_points(grid) > 0) == hollow, name
            if hollow:
                assert "still rising when training stopped" in " ".join(t.get_text() for t in grid.legend.get_texts())


def test_held_out_distances_are_hollow_squares_off_the_curve(tmp_path):
    write(tmp_path, record("gru", "recall", 0, {2: 1.0, 3: 0.2, 4: 1.0}, protocol="mixed", heldout={3}))
    results = analysis.load(tmp_path)
    grid = plots.accuracy_vs_distance(results.table)
    (line,) = [line for line in grid.axes.flat[0].lines if len(line.get_xdata()) > 1 and line.get_marker() == "o"]
    assert list(line.get_xdata()) == [2, 4]  # the curve skips the held-out distance
    assert hollow_points(grid) == 1 and "held out of training (offset check)" in [
        text.get_text() for text in grid.legend.get_texts()]
