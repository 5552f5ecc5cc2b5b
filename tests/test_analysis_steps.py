"""Steps to learn on synthetic validation histories whose crossing steps are known."""

from __future__ import annotations

import numpy as np
import seaborn as sns
from synthetic_runs import CHANCE, record, write

import analysis
from analysis.plots import steps_to_learn_plot
from analysis.steps import steps_to_learn

THRESHOLD = CHANCE + 0.9 * (1 - CHANCE)  # 0.9125


def test_the_first_evaluation_at_or_above_the_threshold_is_the_step_learned(tmp_path):
    curves = {2: [0.5, 0.95, 1.0, 1.0], 8: [0.2, 0.5, 0.8, THRESHOLD], 32: [CHANCE, 0.3, 0.95, 0.5],
              64: [CHANCE] * 4}  # 32 is learned and then lost: it still counts as learned at 300
    for seed in (0, 1):
        write(tmp_path, record("gru", "recall", seed, {d: c[-1] for d, c in curves.items()}, protocol="mixed",
                               curves=curves if seed == 0 else {d: [CHANCE] * 4 for d in curves}))
    steps = steps_to_learn(analysis.load(tmp_path).history)
    first = steps[steps.seed == 0].set_index("distance").steps_to_learn
    assert first[2] == 200 and first[8] == 400 and first[32] == 300 and np.isnan(first[64])
    assert steps[steps.seed == 1].steps_to_learn.isna().all()  # never learned: NaN, not a number of steps
    assert (steps.threshold == THRESHOLD).all() and set(steps.steps) == {400}
    assert steps_to_learn(analysis.load(tmp_path).history, fraction=0.5).set_index(["seed", "distance"]).loc[
        (0, 8), "steps_to_learn"] == 300  # a lower threshold (0.5625) is reached sooner


def test_the_figure_is_a_facet_grid_and_shows_what_was_never_learned(tmp_path):
    write(tmp_path, record("gru", "recall", 0, {2: 1.0, 8: CHANCE}, protocol="mixed"))
    write(tmp_path, record("attention", "recall", 0, {2: 1.0, 8: 1.0}, protocol="mixed"))
    grid = steps_to_learn_plot(steps_to_learn(analysis.load(tmp_path).history))
    assert isinstance(grid, sns.FacetGrid) and not list(tmp_path.glob("*.png"))  # drawing saves nothing
    texts = [t.get_text() for t in grid.axes.flat[0].texts]
    assert any("not learned in 400 steps" in t for t in texts)
