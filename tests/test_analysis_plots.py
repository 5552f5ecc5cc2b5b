"""Figures: seaborn FacetGrids that save only when asked, one colour per model from conf/model, located windows
marked with their resolution, hollow markers where a point must be read with care, and failures never drawn
as zeros."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import seaborn as sns
from synthetic_runs import CHANCE, RECALL, run, step, write

import analysis
from analysis import plots
from analysis.steps import steps_to_learn
from analysis.tables import Report
from harness.record import REPO_ROOT
from harness.verdict import STABLE_RUNGS

CONF_MODELS = sorted(p.stem for p in (REPO_ROOT / "conf" / "model").glob("*.yaml"))


def test_model_colours_follow_conf_model_then_the_data():
    assert plots.model_order(["zeta", "alpha_new"]) == CONF_MODELS + ["alpha_new", "zeta"]
    assert plots.model_palette(["zeta"])["gru"] == plots.model_palette()["gru"]  # a new model moves no colour
    assert plots.ordered_models(["zeta", CONF_MODELS[-1], CONF_MODELS[0]]) == [CONF_MODELS[0], CONF_MODELS[-1], "zeta"]


def test_every_figure_is_a_facet_grid_and_nothing_is_written_until_saved(synthetic_sweep, tmp_path):
    report = Report(analysis.load(synthetic_sweep), resamples=50)
    grids = [plots.accuracy_vs_distance(report.table, report.windows), plots.effective_window_plot(report.windows),
             plots.training_dynamics(report.history, "recall"), plots.steps_to_learn_plot(steps_to_learn(
                 report.history))]
    assert all(isinstance(grid, sns.FacetGrid) for grid in grids)
    assert not list(synthetic_sweep.glob("*.png")) and not list(synthetic_sweep.glob("*.pdf"))
    paths = plots.save(grids[0], tmp_path / "figure")
    assert [p.name for p in paths] == ["figure.png", "figure.pdf"] and paths[0].read_bytes()[:4] == b"\x89PNG"


def hollow_points(grid) -> int:
    """Markers with a white face on every panel of a grid."""
    white = mcolors.to_rgba("white")
    return sum(tuple(face) == white for ax in grid.axes.flat for collection in ax.collections
               for face in collection.get_facecolors())


def windows_of(directory):
    report = Report(analysis.load(directory), resamples=50)
    return report.table, report.windows


def test_a_located_window_is_marked_on_the_threshold_with_a_bar_to_the_next_measured_distance(tmp_path):
    write(tmp_path, run("gru", "recall", 0, [step(15, RECALL)] * STABLE_RUNGS, heldout=()))
    table, windows = windows_of(tmp_path)
    grid = plots.accuracy_vs_distance(table, windows)
    ax = grid.axes.flat[0]
    threshold = windows.threshold.iloc[0]
    bars = [line for line in ax.lines if list(line.get_xdata()) == [15, 16]]
    assert len(bars) == 1 and list(bars[0].get_ydata()) == [threshold, threshold]
    (curve,) = [line for line in ax.lines if len(line.get_xdata()) == len(RECALL)]
    assert list(curve.get_xdata()) == RECALL  # every measured distance of the fine curve, nothing in between
    assert hollow_points(grid) == 0  # measured: a filled marker


def test_windows_no_verdict_allows_are_hollow_and_the_legend_says_why(tmp_path):
    moving = [step(w, RECALL) for w in (8, 10, 13, 16, 19)]
    write(tmp_path / "moving", run("gru", "recall", 0, moving, heldout=()))
    write(tmp_path / "measured", run("gru", "recall", 0, [step(15, RECALL)] * STABLE_RUNGS, heldout=()))
    for name, hollow in (("moving", True), ("measured", False)):
        table, windows = windows_of(tmp_path / name)
        for grid in (plots.effective_window_plot(windows), plots.accuracy_vs_distance(table, windows)):
            assert (hollow_points(grid) > 0) == hollow, name
        legend = " ".join(t.get_text() for t in plots.effective_window_plot(windows).legend.get_texts())
        assert "hollow: no window claimed (budget-bound, not learned)" in legend


def test_held_out_distances_are_hollow_squares_and_failures_are_never_zeros(tmp_path):
    write(tmp_path, run("gru", "recall", 0, [step(15, RECALL)] * STABLE_RUNGS))
    write(tmp_path, run("gru", "recall", 1, [step(15, RECALL)], status="failed"))  # a failure: no accuracy at all
    table, windows = windows_of(tmp_path)
    assert table[table.seed == 1].accuracy.isna().all()
    grid = plots.accuracy_vs_distance(table, windows)
    ax = grid.axes.flat[0]
    (curve,) = [line for line in ax.lines if len(line.get_xdata()) == len(RECALL)]
    y = dict(zip(curve.get_xdata(), curve.get_ydata()))
    assert y[8] == 1.0 and y[15] == 1.0 and y[32] == CHANCE  # seed 0 alone: the failed seed adds no zeros
    assert hollow_points(grid) == 2  # held out: 11 and 23
    assert plots.HELDOUT_TEXT in [text.get_text() for text in grid.legend.get_texts()]


def test_seed_extremes_read_censored_windows_at_their_bound():
    assert plots.seed_extremes("15 15 ≥ 32") == (15.0, 32.0)
    assert plots.seed_extremes("< 8 16") == (8.0, 16.0)
    assert all(np.isnan(v) for v in plots.seed_extremes(""))


def test_training_dynamics_repeat_the_last_accuracy_only_for_runs_that_stopped_themselves(tmp_path):
    """A run decided at 1000 keeps its last accuracy to the last step shown, with a tick where it stopped; a run
    paused on the ladder at 500 has not stopped itself (it climbs on later): nothing is drawn for it past 500,
    and no tick. Both are averaged with an LSTM that climbed to the top, 1.0 at 16 from rung 2000."""
    write(tmp_path, run("gru", "recall", 0, [step(15, RECALL)] * STABLE_RUNGS, heldout=()))  # decided at 1000
    write(tmp_path, run("gru", "recall", 1, [step(15, RECALL)] * 2, heldout=()))  # paused at 500
    write(tmp_path, run("lstm", "recall", 0, [step(w, RECALL) for w in (8, 10, 13, 16, 19)], heldout=()))
    history = analysis.load(tmp_path).history
    decided, paused, top = (history[(history.model == m) & (history.seed == s)] for m, s in (("gru", 0), ("gru", 1),
                                                                                            ("lstm", 0)))
    matrix, ticks = plots.dynamics_matrix(pd.concat([decided, top]))
    assert matrix.loc[16, 4000] == (CHANCE + 1.0) / 2 and ticks == {8: 1000, 16: 1000, 32: 1000}
    matrix, ticks = plots.dynamics_matrix(pd.concat([paused, top]))
    assert matrix.loc[16, 4000] == 1.0 and matrix.loc[16, 500] == (CHANCE + CHANCE) / 2 and ticks == {}


def test_labels_with_numbers_sort_by_their_numbers():
    from analysis.plots import model_order, panel_order

    models = ["gru hidden_size=128", "gru hidden_size=16", "gru hidden_size=32"]
    assert model_order(models)[-3:] == ["gru hidden_size=16", "gru hidden_size=32", "gru hidden_size=128"]
    tasks = [f"recall instances={k}" for k in (1, 16, 2, 32, 4, 8)]
    frame = pd.DataFrame({"task": tasks, "setting": "dense", "panel": tasks})
    assert panel_order(frame) == [f"recall instances={k}" for k in (1, 2, 4, 8, 16, 32)]
