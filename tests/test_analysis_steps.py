"""Steps to learn on synthetic validation histories whose crossing steps are known."""

from __future__ import annotations

import numpy as np
import seaborn as sns
from synthetic_runs import CHANCE, RECALL, THRESHOLD, run, step, write

import analysis
from analysis.plots import steps_to_learn_plot
from analysis.steps import STEPS_COLUMNS, steps_to_learn
from harness.verdict import STABLE_RUNGS

MEASURED = [step(15, RECALL)] * STABLE_RUNGS  # measured at rung 1000


def test_the_first_evaluation_at_or_above_the_threshold_is_the_step_learned(tmp_path):
    histories = {8: [0.5, 0.95, 1.0, 1.0], 16: [0.2, 0.5, 0.8, THRESHOLD], 23: [CHANCE, 0.3, 0.95, 0.5],
                 32: [CHANCE] * 4}  # 23 is learned and then lost: it still counts as learned at 750
    write(tmp_path, run("gru", "recall", 0, MEASURED, history=histories))
    write(tmp_path, run("gru", "recall", 1, MEASURED, history={d: [CHANCE] * 4 for d in histories}))
    steps = steps_to_learn(analysis.load(tmp_path).history)
    assert list(steps.columns) == STEPS_COLUMNS
    first = steps[steps.seed == 0].set_index("distance")
    assert first.steps_to_learn[8] == 500 and first.steps_to_learn[16] == 1000 and first.steps_to_learn[23] == 750
    assert np.isnan(first.steps_to_learn[32])
    assert first.heldout[23] and not first.trained[23]  # held out of training, learned all the same
    assert steps[steps.seed == 1].steps_to_learn.isna().all()  # never learned: NaN, not a number of steps
    assert (steps.threshold == THRESHOLD).all() and set(steps.steps) == {1000} and set(steps.stop_reason) == {
        "decided"}
    lower = steps_to_learn(analysis.load(tmp_path).history, fraction=0.5).set_index(["seed", "distance"])
    assert lower.loc[(0, 16), "steps_to_learn"] == 750  # a lower threshold (0.5625) is reached sooner


def test_the_figure_is_a_facet_grid_and_shows_what_was_never_learned(tmp_path):
    write(tmp_path, run("gru", "recall", 0, MEASURED, heldout=()))
    write(tmp_path, run("attention", "recall", 0, [step(32, RECALL)], heldout=()))
    grid = steps_to_learn_plot(steps_to_learn(analysis.load(tmp_path).history))
    assert isinstance(grid, sns.FacetGrid) and not list(tmp_path.glob("*.png"))  # drawing saves nothing
    texts = [t.get_text() for t in grid.axes.flat[0].texts]
    assert any("not learned in 1000 steps" in t for t in texts)  # gru at 16 and 32 within its 1000 steps
