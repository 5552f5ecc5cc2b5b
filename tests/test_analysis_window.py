"""analysis/window.py on synthetic records whose right answer is known by construction: the run verdicts replayed
from the validation curves at each rung, each seed's window located on its test curve, and the cell table with
its median and range over seeds, its budget and its verdict (harness.verdict, clause 5)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_runs import CHANCE, LADDER, RECALL, fine, run, step, write, write_per_distance, write_small_sweep

import analysis
from analysis import report
from analysis.window import SEED_COLUMNS, WINDOW_COLUMNS, heldout_gaps, run_verdicts, seed_windows, window_table
from harness.verdict import STABLE_RUNGS, ThresholdError

STABLE = [step(15, RECALL)] * STABLE_RUNGS  # a window of 15, unchanged over the rungs that measure it
MOVING = [step(w, RECALL) for w in (8, 10, 13, 16, 19)]  # still moving at the top rung


def tables(directory, fraction: float = 0.9):
    results = analysis.load(directory)
    runs = run_verdicts(results.rungs, fraction)
    return runs, seed_windows(results.table, runs, fraction), window_table(results.table, results.rungs, fraction,
                                                                             resamples=200)


def only(frame) -> dict:
    assert len(frame) == 1, frame
    return frame.iloc[0].to_dict()


def test_the_small_sweep_gives_the_verdicts_and_windows_it_was_built_with(tmp_path):
    write_small_sweep(tmp_path)
    runs, seeds, windows = tables(tmp_path)
    assert list(windows.columns) == WINDOW_COLUMNS and list(seeds.columns) == SEED_COLUMNS
    cells = windows.set_index(["task", "model"])
    expected = {("recall", "attention"): ("at_least", "≥ 32", np.nan), ("recall", "gru"): ("measured", "15", 1),
                ("recall", "lstm"): ("budget_bound", "19", 1), ("nback", "attention"): ("at_least", "≥ 32", np.nan),
                ("nback", "gru"): ("measured", "16", 16), ("nback", "lstm"): ("budget_bound", "8", 8)}
    for key, (verdict, text, resolution) in expected.items():
        assert (cells.loc[key, "verdict"], cells.loc[key, "window_text"]) == (verdict, text), key
        assert cells.loc[key, "resolution"] == resolution or np.isnan(resolution), key
    assert cells.loc[("nback", "gru"), "claim"] == "16 (seeds 16), to 16 steps; 4000 steps x 32 (128k sequences)"
    assert cells.loc[("recall", "gru"), "claim"] == "15 (seeds 15), to 1 step; 1000 steps x 32 (32k sequences)"
    assert cells.loc[("recall", "lstm"), "claim"].startswith("budget-bound (still moving at the top rung (4000 steps)")
    # the analysis replays the loop: at the loop's threshold it draws the verdict the loop recorded, run by run
    recorded = {r.run_dir: r.verdict for r in analysis.load(tmp_path).records}
    assert dict(zip(runs.run_dir, runs.verdict)) == recorded


def test_a_window_between_doubling_distances_is_the_last_one_reached_never_an_interpolation(tmp_path):
    """Per-distance n-back at 8, 16, 32: 1.0, 1.0, chance. The window is 16, to 16 steps; the old table said 17.1."""
    write_per_distance(tmp_path, "sliding_window", "nback", 0, [{8: 1.0, 16: 1.0, 32: CHANCE}] * len(LADDER))
    cell = only(tables(tmp_path)[2])
    assert (cell["window"], cell["window_text"], cell["resolution"], cell["deciding_distance"]) == (16, "16", 16, 32)
    assert cell["verdict"] == "measured"  # its run at 32 is not_learned, the others at_least


def test_the_median_and_range_over_three_seeds_and_no_interval_below_five(tmp_path):
    for seed, window in enumerate((17, 14, 15)):
        write(tmp_path, run("gru", "recall", seed, [step(window, RECALL)] * STABLE_RUNGS))
    cell = only(tables(tmp_path)[2])
    assert (cell["verdict"], cell["window"], cell["window_text"], cell["range_text"]) == ("measured", 15, "15",
                                                                                          "14–17")
    assert cell["seed_windows"] == "17 14 15" and cell["n_seeds"] == 3 and cell["seeds"] == "0 1 2"
    assert cell["interval_text"] == "" and cell["claim"].startswith("15 (seeds 14–17), to 1 step;")


def test_two_seeds_take_the_lower_middle_and_five_give_an_interval(tmp_path):
    for seed, window in enumerate((14, 17)):
        write(tmp_path / "two", run("gru", "recall", seed, [step(window, RECALL)] * STABLE_RUNGS))
    assert only(tables(tmp_path / "two")[2])["window"] == 14  # a measured distance, never 15.5
    for seed, window in enumerate((14, 15, 15, 16, 17)):
        write(tmp_path / "five", run("gru", "recall", seed, [step(window, RECALL)] * STABLE_RUNGS))
    cell = only(tables(tmp_path / "five")[2])
    assert cell["window"] == 15 and cell["interval_text"].startswith("[1") and cell["range_text"] == "14–17"


def test_the_verdict_follows_validation_and_the_reported_window_follows_test(tmp_path):
    """Test curves that disagree with validation, in each input of the verdict: the verdict reads only validation;
    the window printed is located on the test curve."""
    # the rungs moved on validation (budget-bound at the top); the test curve alone would look settled
    write(tmp_path / "moving", run("gru", "recall", 0, MOVING, test=step(15, RECALL)))
    cell = only(tables(tmp_path / "moving")[2])
    assert (cell["verdict"], cell["window_text"]) == ("budget_bound", "15")
    # validation measured a window of 15 where the test curve holds to 32: measured, and the test's ≥ 32 reported
    write(tmp_path / "short", run("gru", "recall", 0, STABLE, test=step(32, RECALL)))
    cell = only(tables(tmp_path / "short")[2])
    assert (cell["verdict"], cell["window_text"], cell["censored"]) == ("measured", "≥ 32", "above")
    # validation at least 32 where the test curve ends at 20: at_least, and the test's 20 reported
    write(tmp_path / "long", run("gru", "recall", 0, [step(32, RECALL)], test=step(20, RECALL)))
    cell = only(tables(tmp_path / "long")[2])
    assert (cell["verdict"], cell["window_text"], cell["resolution"]) == ("at_least", "20", 1)
    # a held-out dip on the test curve only is no shortcut; on the validation curve only, it is one
    dip = {**step(15, RECALL), 11: 0.3}
    write(tmp_path / "test_dip", run("gru", "recall", 0, STABLE, test=dip))
    assert only(tables(tmp_path / "test_dip")[2])["verdict"] == "measured"
    write(tmp_path / "val_dip", run("gru", "recall", 0, [dip] * STABLE_RUNGS, test=step(15, RECALL)))
    cell = only(tables(tmp_path / "val_dip")[2])
    assert cell["verdict"] == "offset_shortcut" and cell["why"].startswith("held-out d=11: 0.30 against 1.00")


def test_scrambling_the_test_accuracies_moves_the_windows_and_no_verdict(tmp_path):
    write_small_sweep(tmp_path)
    results = analysis.load(tmp_path)
    table = results.table
    scrambled = table.assign(accuracy=np.where(table.accuracy.notna(), 1.0 - table.accuracy.fillna(0), np.nan))
    before = window_table(table, results.rungs, resamples=50)
    after = window_table(scrambled, results.rungs, resamples=50)
    assert list(before.verdict) == list(after.verdict) and list(before.window) != list(after.window)


def test_a_paused_run_makes_its_cell_budget_bound_and_shows_its_window_so_far(tmp_path):
    write(tmp_path, run("gru", "recall", 0, STABLE))
    paused = run("gru", "recall", 1, [step(12, RECALL), step(15, RECALL)])  # climb_to 500: still climbing
    assert (paused.stop_reason, paused.verdict, paused.steps) == ("paused", "climbing", 500)
    write(tmp_path, paused)
    runs, seeds, windows = tables(tmp_path)
    table = analysis.load(tmp_path).table
    assert table[table.seed == 1].accuracy.notna().all() and len(table[table.seed == 1]) == len(RECALL)
    assert seeds.set_index("seed").window.tolist() == [15, 15]  # the test curve at the rung it paused at
    cell = only(windows)
    assert (cell["verdict"], cell["why"]) == ("budget_bound", "1 run(s) paused on the ladder at step 500")
    assert cell["claim"] == "budget-bound (1 run(s) paused on the ladder at step 500); 500–1000 steps x 32 " \
        "(16k–32k sequences)"


def test_a_cell_at_chance_at_the_top_is_not_learned_with_its_budget(tmp_path):
    at_chance = {d: CHANCE for d in RECALL}
    for seed in (0, 1):
        write(tmp_path, run("lstm", "recall", seed, [at_chance] * len(LADDER)))
    cell = only(tables(tmp_path)[2])
    assert cell["verdict"] == "not_learned" and cell["window_text"] == "< 8"
    assert cell["claim"] == "not learned (at chance everywhere at the last two rungs (4000 steps)); 4000 steps x 32 " \
        "(128k sequences)"
    write(tmp_path, run("lstm", "recall", 2, STABLE))  # one seed learned: the seeds' windows decide
    assert only(tables(tmp_path)[2])["verdict"] == "measured"


def test_one_seed_still_moving_at_the_top_is_enough_for_budget_bound(tmp_path):
    write(tmp_path, run("gru", "recall", 0, STABLE))
    write(tmp_path, run("gru", "recall", 1, MOVING))
    cell = only(tables(tmp_path)[2])
    assert (cell["verdict"], cell["why"]) == ("budget_bound", "still moving at the top rung (4000 steps): window "
                                                              "moved +3 (16 to 19)")
    assert cell["window_text"] == "15" and cell["range_text"] == "15–19"  # located, reported, not claimed


def test_a_run_at_its_target_is_final_and_one_below_the_shortest_distance_is_never_measured(tmp_path):
    """The GRU on assoc_recall sat at 0.41 everywhere, above chance and unchanged: the old rule measured "< 8". A
    plateau under the threshold climbs to the top and is not learned there, with its budget; still moving at
    the top, it is budget-bound."""
    write(tmp_path / "target", run("gru", "recall", 0, [step(15, RECALL)], at_target=True))
    runs, _, windows = tables(tmp_path / "target")
    assert list(runs.stop_reason) == ["target"] and list(runs.verdict) == ["target"]
    assert (only(windows)["verdict"], only(windows)["window_text"]) == ("measured", "15")
    below = {d: 0.41 for d in RECALL}  # left chance, reached nowhere, and unchanged over the rungs
    write(tmp_path / "paused", run("lstm", "recall", 0, [below] * STABLE_RUNGS))
    assert only(tables(tmp_path / "paused")[0])["verdict"] == "climbing"
    write(tmp_path / "plateau", run("lstm", "recall", 0, [below] * len(LADDER)))
    cell = only(tables(tmp_path / "plateau")[2])
    assert (cell["verdict"], cell["window_text"]) == ("not_learned", "< 8")
    assert cell["claim"].startswith("not learned (") and cell["claim"].endswith("4000 steps x 32 (128k sequences)")
    rising = [{d: a for d in RECALL} for a in (0.3, 0.35, 0.41, 0.5, 0.6)]
    write(tmp_path / "rising", run("lstm", "recall", 0, rising))
    assert only(tables(tmp_path / "rising")[2])["verdict"] == "budget_bound"


def memoriser(directory, seeds=(0, 1)) -> None:
    """The issue's attention on assoc_recall, mixed on 8, 16, 32, 64: 0.97-1.00 there, 0.36-0.68 at the held-out
    11, 23, 45, and 0.3 at the other untrained distances of the fine curve."""
    curve = {**{d: 0.3 for d in fine(8, 64)}, 8: 1.0, 16: 0.99, 32: 0.97, 64: 0.98, 11: 0.68, 23: 0.45, 45: 0.36}
    for seed in seeds:
        write(directory, run("attention", "assoc_recall", seed, [curve], protocol="mixed", ladder=[1500, 3000]))


def test_an_offset_shortcut_is_found_at_every_held_out_distance_and_named(tmp_path):
    memoriser(tmp_path)
    runs, _, windows = tables(tmp_path)
    cell = only(windows)
    assert cell["window_text"] == "8"  # the untrained distances between the listed ones end the window
    assert cell["verdict"] == "offset_shortcut"
    assert cell["claim"] == "offset shortcut (held-out d=11: 0.68 against 1.00 from trained 8 and 16); 1500 steps " \
        "x 32 (48k sequences)"
    gaps = heldout_gaps(analysis.load(tmp_path).rungs)
    assert list(gaps.distance) == [11, 23, 45] and gaps.shortcut.all()
    assert (gaps.n == 2 * 256).all() and list(gaps.below) == [8, 16, 32]  # positions pooled over seeds


def test_held_out_gaps_read_each_runs_last_rung(tmp_path):
    """At 250 the held-out 11 lagged (still learning: its window ended at 10); by the last rung it caught up: no
    shortcut, and the window measured once it held over the last two steps up."""
    lagging = {**step(15, RECALL), 11: 0.3}
    write(tmp_path, run("gru", "recall", 0, [lagging, *STABLE]))
    gaps = heldout_gaps(analysis.load(tmp_path).rungs)
    assert list(gaps.distance) == [11, 23] and not gaps.shortcut.any() and gaps.accuracy.tolist() == [1.0, CHANCE]
    assert only(tables(tmp_path)[2])["verdict"] == "measured"


def test_a_failed_run_is_no_seed_and_no_zero(tmp_path):
    for seed in (0, 1):
        write(tmp_path, run("gru", "recall", seed, STABLE))
    write(tmp_path, run("gru", "recall", 2, STABLE, status="failed"))
    cell = only(tables(tmp_path)[2])
    assert (cell["n_seeds"], cell["seeds"], cell["window"], cell["verdict"]) == (2, "0 1", 15, "measured")


def test_seeds_decided_at_different_rungs_state_both_budgets(tmp_path):
    write(tmp_path, run("gru", "recall", 0, STABLE))
    write(tmp_path, run("gru", "recall", 1, [step(12, RECALL), step(13, RECALL)] + [step(15, RECALL)] * 3))
    runs, seeds, windows = tables(tmp_path)
    assert list(seeds.steps) == [1000, 4000] and list(seeds.sequences) == [32000, 128000]
    assert only(windows)["budget_text"] == "1000–4000 steps x 32 (32k–128k sequences)"


def test_the_threshold_fraction_moves_windows_and_verdicts_and_a_bad_one_is_refused(tmp_path):
    """0.95 everywhere: at least 32 at 0.9 (0.9125); at 0.99 (0.991) below the shortest distance, and a run the
    loop stopped as at_least at its first rung would still climb, so its cell is budget-bound."""
    write(tmp_path, run("gru", "recall", 0, [{d: 0.95 for d in RECALL}]))
    assert only(tables(tmp_path, 0.9)[2])["verdict"] == "at_least"
    runs, _, windows = tables(tmp_path, 0.99)
    assert list(runs.verdict) == ["climbing"] and only(windows)["verdict"] == "budget_bound"
    assert only(windows)["threshold"] == pytest.approx(CHANCE + 0.99 * (1 - CHANCE))
    results = analysis.load(tmp_path)
    with pytest.raises(ThresholdError, match="--threshold-fraction=1.5"):
        window_table(results.table, results.rungs, 1.5)


def test_report_refuses_a_threshold_outside_chance_to_one(tmp_path, capsys):
    write(tmp_path, run("gru", "recall", 0, STABLE))
    assert report.main([str(tmp_path), "--threshold-fraction", "1.5"]) == 2
    error = capsys.readouterr().err
    assert "--threshold-fraction=1.5" in error and "(0, 1]" in error
    assert not (tmp_path / "report.md").exists()
