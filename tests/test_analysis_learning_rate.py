"""The learning rate of each cell, replayed from the stored validation curves by harness.verdict.choose_rate (the
sweeper's successive halving up the ladder): the rate the sweep chose, and why; never the test set."""

from __future__ import annotations

import pandas as pd
import pytest
from synthetic_runs import CHANCE, RECALL, run, step, write

import analysis
from analysis import sections
from analysis.learning_rate import SELECTION_COLUMNS, at_chosen_lr, lr_selection
from analysis.tables import Report

AT_CHANCE = {d: CHANCE for d in RECALL}
LEARNED = step(20, RECALL)


def lstm_on_recall(directory, test_prefers: float = 1e-2) -> None:
    """Seed 0 at 3e-3 and 1e-2 (the sweeper's candidates), both at chance at rung 250. By 500, 3e-3 has learned
    and climbs on until measured at 2000; 1e-2 is still at chance, is cut, and was paused there. Seeds 1 and 2
    train the chosen rate only. The test curves favour ``test_prefers``, which must change nothing."""
    good, bad = {**LEARNED, 32: 0.2}, {**LEARNED, 32: 1.0}
    write(directory, run("lstm", "recall", 0, [AT_CHANCE, LEARNED, LEARNED, LEARNED], lr=3e-3,
                         test=bad if test_prefers == 1e-2 else good))
    write(directory, run("lstm", "recall", 0, [AT_CHANCE, AT_CHANCE], lr=1e-2))
    for seed in (1, 2):
        write(directory, run("lstm", "recall", seed, [LEARNED] * 3, lr=3e-3))


def selection_of(directory) -> pd.DataFrame:
    results = analysis.load(directory)
    return lr_selection(results.rungs, results.runs)


def test_short_horizons_do_not_choose_the_rate_the_rung_that_tells_them_apart_does(tmp_path):
    lstm_on_recall(tmp_path)
    selection = selection_of(tmp_path)
    assert list(selection.columns) == SELECTION_COLUMNS
    rows = selection.set_index("lr")
    assert rows.chosen.to_dict() == {3e-3: True, 1e-2: False}
    assert set(rows.rung) == {500} and set(rows.seed) == {0}  # chosen at the rung 1e-2 was cut at, on seed 0
    assert rows.loc[1e-2, "val_accuracy"] == CHANCE
    assert rows.loc[3e-3, "val_accuracy"] == pytest.approx((13 + 12 * CHANCE) / 25)  # distances weighed alike
    assert rows.loc[3e-3, "runs"] == 3 and rows.loc[1e-2, "runs"] == 1


def test_the_test_curves_have_no_say(tmp_path):
    lstm_on_recall(tmp_path / "a", test_prefers=1e-2)
    lstm_on_recall(tmp_path / "b", test_prefers=3e-3)
    a, b = selection_of(tmp_path / "a"), selection_of(tmp_path / "b")
    assert not analysis.load(tmp_path / "a").table.accuracy.equals(analysis.load(tmp_path / "b").table.accuracy)
    assert a.drop(columns="runs").equals(b.drop(columns="runs")) and list(a[a.chosen].lr) == [3e-3]


def test_windows_and_curves_are_reported_at_the_chosen_rate_only(tmp_path):
    lstm_on_recall(tmp_path)
    report = Report(analysis.load(tmp_path), resamples=50)
    assert set(report.table.lr) == {3e-3} and set(report.rungs.lr) == {3e-3} and set(report.history.lr) == {3e-3}
    (cell,) = report.windows.itertuples()
    assert (cell.lr, cell.n_seeds, cell.verdict, cell.window_text) == (3e-3, 3, "measured", "20")
    found = sections.findings(report).text
    assert "at lr 0.003 (chosen on validation)" in found
    part = sections.Part()
    text = sections.learning_rates(report, part)
    assert "| recall | dense | lstm | 32 | 0.003 (0.580 ± 0.003), 0.01 (0.125 ± 0.004) | 0 | 500 | 0.003 |" in text
    assert part.tables["lr_selection"].chosen.sum() == 1


def test_a_cell_still_choosing_keeps_every_rate_visible(tmp_path):
    """Both rates at chance at rung 250 and neither has climbed further yet: nothing is chosen, and every row of
    both rates stays in the tables."""
    write(tmp_path, run("lstm", "recall", 0, [AT_CHANCE], lr=3e-3))
    write(tmp_path, run("lstm", "recall", 0, [AT_CHANCE], lr=1e-2))
    results = analysis.load(tmp_path)
    selection = lr_selection(results.rungs, results.runs)
    assert not selection.chosen.any() and set(selection.rung) == {250}
    assert len(at_chosen_lr(results.table, selection)) == len(results.table)
    report = Report(results, resamples=50)
    assert "still choosing" in sections.learning_rates(report, sections.Part())


def test_one_rate_per_cell_needs_no_choice(tmp_path):
    write(tmp_path, run("gru", "recall", 0, [LEARNED] * 3))
    selection = selection_of(tmp_path)
    assert selection.chosen.tolist() == [True] and len(selection) == 1
    found = Report(analysis.load(tmp_path))
    assert "one per cell (0.001); nothing was chosen" in sections.learning_rates(found, sections.Part())


def test_a_rate_whose_run_failed_is_no_candidate(tmp_path):
    write(tmp_path, run("gru", "recall", 0, [LEARNED] * 3, lr=1e-3))
    write(tmp_path, run("gru", "recall", 0, [LEARNED], lr=1e-2, status="failed"))
    selection = selection_of(tmp_path)
    assert selection.lr.tolist() == [1e-3] and selection.chosen.all()
    results = analysis.load(tmp_path)
    assert set(at_chosen_lr(results.table, selection).lr) == {1e-3}  # the failure is listed under Runs, not here
