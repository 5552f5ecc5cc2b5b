"""analysis/beyond.py: windows past the training length, located and judged by the rule that judges the windows
inside it, beside those windows; positions-only accuracies; a model that cannot take longer inputs."""

from __future__ import annotations

import pandas as pd
import pytest
from synthetic_runs import CHANCE, MARGIN, fine, run, step, write

from analysis import load, pages
from analysis.beyond import position_table, summary
from analysis.report import main
from analysis.tables import Report

INSIDE = fine(8, 64)  # dense 8..64 at length 72, held out 11, 23, 45 (the extrapolation experiment's curve)
PAST = [128, 256, 512, 1024]  # train.extrapolate


def past(window: int) -> dict[int, float]:
    """1.0 at the distances past training up to ``window``, chance beyond."""
    return {d: 1.0 if d <= window else CHANCE for d in PAST}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    directory = tmp_path_factory.mktemp("extrapolation")
    for seed in (0, 1):
        # positive control: a hard window of 15, unchanged past training at every rung (measured at 1000)
        write(directory, run("sliding_window", "recall", seed, [step(15, INSIDE)] * 3, past=[past(0)] * 3,
                             positions={8: 1.0, 16: CHANCE, 32: CHANCE, 64: CHANCE}, seq_len=72))
        # solved the training range at its target at rung 250; reaches 256 past it, there
        write(directory, run("attention", "recall", seed, [step(64, INSIDE)], at_target=True,
                             past=[past(256)], positions={8: 1.0, 16: 1.0, 32: 1.0, 64: 0.6}, seq_len=72))
        # in range at least 64 at rung 250 (decided, no target); past training, every distance to 1024
        write(directory, run("gru", "recall", seed, [step(64, INSIDE, high=0.95)], past=[past(1024)],
                             positions={8: 0.95, 16: 0.95, 32: 0.95, 64: 0.95}, seq_len=72))
        # still learning in range: paused at rung 500 (train.climb_to), its curve past training moving
        write(directory, run("lstm", "recall", seed, [step(w, INSIDE) for w in (20, 30)], past=[past(0)] * 2,
                             positions={8: 1.0, 16: 1.0, 32: 0.5, 64: CHANCE}, seq_len=72))
        # learned positions: cannot read past max_len, recorded with the reason
        write(directory, run("attention_learned", "recall", seed, [step(64, INSIDE)], at_target=True, seq_len=72,
                             cannot="learned positions stop at max_len=72; asked for 136"))
        # ... and at a rate that fell behind by the second rung (not chosen): left out past training too
        write(directory, run("attention_learned", "recall", seed, [step(8, INSIDE)] * 2, lr=1e-2, seq_len=72,
                             cannot="learned positions stop at max_len=72; asked for 136"))
    return Report(load(directory), resamples=10), directory


def cell(report, model):
    found = report[0].extrapolation
    (row,) = found[found.model == model].itertuples(index=False)
    return row


def test_the_positive_control_keeps_its_window_past_training(report):
    row = cell(report, "sliding_window")
    assert (row.in_range_verdict, row.in_range_text) == ("measured", "15")
    assert (row.verdict, row.window_text, row.range_text) == ("measured", "15", "15")
    assert (row.max_trained_distance, row.train_length, row.max_distance) == (64, 72, 1024)
    assert row.longest_length == 1024 + MARGIN


def test_a_run_stopped_at_its_target_is_read_where_it_stopped(report):
    """The loop never trains on for the distances past training: the window there is the one at the rung that
    solved the training range, with that budget beside it; located on measured distances (256, not between
    256 and 512)."""
    row = cell(report, "attention")
    assert (row.in_range_verdict, row.in_range_text) == ("at_least", "≥ 64")
    assert (row.verdict, row.window_text) == ("measured", "256")
    assert row.budget_text.startswith("250 steps")


def test_a_window_that_reaches_the_longest_distance_is_a_lower_bound(report):
    row = cell(report, "gru")
    assert (row.verdict, row.window_text) == ("at_least", "≥ 1024")


def test_a_paused_cell_is_budget_bound_past_training_with_its_window_so_far(report):
    """Paused runs scored their test sets at the rung they paused at: the window there is shown, not claimed."""
    row = cell(report, "lstm")
    assert row.in_range_verdict == "budget_bound" and row.verdict == "budget_bound"
    assert (row.window_text, row.read_at) == ("30", "500")


def test_a_model_that_cannot_take_the_length_is_recorded_as_cannot(report):
    row = cell(report, "attention_learned")
    assert row.verdict == "cannot" and "max_len=72" in row.cannot and row.window != row.window
    lines = summary(report[0].extrapolation)
    assert lines[:2] == ["**attention** (trained to 64 at length 72): recall 256 (measured, to 256 steps (an "
                         "octave); read at 250 steps).",
                         "**attention_learned**: cannot on any task (learned positions stop at max_len=72; asked for "
                         "136)."]
    assert "**lstm** (trained to 64 at length 72): recall budget-bound." in lines
    assert "**sliding_window** (trained to 64 at length 72): recall 15 (measured; read at 1000 steps)." in lines


def test_positions_only_accuracy_beside_the_training_length(report):
    table, _ = report[0].extended
    positions = position_table(table)
    lstm = positions[positions.model == "lstm"].set_index("distance")
    assert lstm.loc[32, "change"] == pytest.approx(0.5 - CHANCE)  # paused: its test curves at the rung it paused at
    control = positions[positions.model == "sliding_window"].set_index("distance")
    assert list(control.index) == [8, 16, 32, 64] and set(control.length) == {1024 + MARGIN}
    assert list(control.accuracy) == [1.0, CHANCE, CHANCE, CHANCE] and (control.change == 0).all()
    attention = positions[positions.model == "attention"].set_index("distance")
    assert attention.loc[64, "accuracy"] == 1.0 and attention.loc[64, "change"] == pytest.approx(-0.4)


def test_the_page_puts_both_windows_side_by_side_and_the_readme_gets_the_sentences(report, tmp_path):
    _, directory = report
    cost = pd.DataFrame({"model": ["gru", "attention", "attention"], "seq_len": [72, 72, 1032],
                         "status": "measured", "step_time_s": [0.001, 0.002, 0.05],
                         "memory_bytes": [2 ** 20, 2 ** 21, 2 ** 25], "memory_meaning": "peak"})
    cost.to_csv(directory / "cost_inference.csv", index=False)
    readme = tmp_path / "README.md"
    start, end = pages.markers("extrapolation")
    readme.write_text(f"# T\n{start}\nold\n{end}\n")
    page = tmp_path / "docs" / "results" / "extrapolation.md"
    assert main([str(directory), "--markdown", str(page), "--readme", str(readme), "--block", "extrapolation"]) == 0
    text = page.read_text()
    assert "| recall | attention | 1,000 | ≥ 64 (at least) | 256 (measured), to 256 steps (an octave) | 250 | 256 | " \
        "64 / 72 | 1024 |" in text
    assert "| recall | lstm | 1,000 | budget-bound | budget-bound | 500 | 30 |" in text  # no number beside a verdict
    assert "| recall | attention_learned | 1,000 | ≥ 64 (at least) | cannot |" in text
    assert "| model | L = 72 | L = 1032 |" in text and "| attention | 2.00 ms, 2.00 MiB | 50.00 ms, 32.00 MiB |" in text
    assert "| gru | 1.00 ms, 1.00 MiB |  |" in text  # not measured there: blank, never a zero
    block = readme.read_text()
    assert "old" not in block and "- **attention** (trained to 64 at length 72): recall 256 (measured, to 256 steps " \
        "(an octave); read at 250 steps)." in block


def test_the_resolution_stands_beside_a_claimed_window_at_or_past_training_and_nowhere_else():
    """Past training the distances double, so a window located there is known to an octave; a verdict that
    withholds the window (a budget-bound cell once read "budget-bound, to 256") or a lower bound gets no number."""
    from analysis.beyond import resolution_note

    cells = pd.DataFrame([
        {"verdict": "measured", "censored": "none", "window": 64, "resolution": 64},  # at the longest trained
        {"verdict": "measured", "censored": "none", "window": 256, "resolution": 256},
        {"verdict": "measured", "censored": "none", "window": 15, "resolution": 1},  # inside the fine range
        {"verdict": "budget_bound", "censored": "none", "window": 256, "resolution": 256},
        {"verdict": "budget_bound", "censored": "none", "window": 30, "resolution": 1},
        {"verdict": "at_least", "censored": "above", "window": 1024, "resolution": float("nan")},
    ]).assign(max_trained_distance=64)
    assert [resolution_note(c) for c in cells.itertuples(index=False)] == [
        ", to 64 steps (an octave)", ", to 256 steps (an octave)", "", "", "", ""]


def test_a_cell_still_choosing_its_rate_gives_no_answer_in_the_sentence(report):
    """While a sweep runs, a cell has a row per rate candidate: the sentence says so once instead of listing
    one answer per candidate (the rerun's page read "flipflop budget-bound, flipflop 128")."""
    found = report[0].extrapolation
    gru = found[found.model == "gru"]
    second = gru.assign(lr=gru.lr * 10, verdict="budget_bound", window_text="30")
    lines = summary(pd.concat([found, second], ignore_index=True))
    assert "**gru** (trained to 64 at length 72): recall still choosing its learning rate." in lines
    assert summary(found) != lines and "**gru** (trained to 64 at length 72): recall ≥ 1024" in summary(found)[2]
