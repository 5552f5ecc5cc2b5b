"""The effective window on synthetic curves whose right answer is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_runs import CHANCE, record, write, write_per_distance

import analysis
from analysis import report
from analysis.window import ThresholdError, deciding_distance, effective_window, threshold_for, window_table

DISTANCES = [1, 2, 4, 8, 16, 32]
THRESHOLD = CHANCE + 0.9 * (1 - CHANCE)  # 0.9125


def test_threshold_sits_the_given_fraction_of_the_way_from_chance_to_one():
    assert threshold_for(0.125, 0.9) == pytest.approx(0.9125)
    assert threshold_for(0.5, 1.0) == 1.0


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_threshold_outside_chance_to_one_is_refused(fraction):
    with pytest.raises(ThresholdError, match=r"--threshold-fraction=.*\(chance, 1\].*\(0, 1\]"):
        threshold_for(CHANCE, fraction)


def test_step_curve_window_is_exact():
    # accuracy 1.0 up to 8, chance from 16 on: the threshold is crossed (1 - 0.9) of the way from 8 to 16 in log2
    step = [1.0, 1.0, 1.0, 1.0, CHANCE, CHANCE]
    window = effective_window(DISTANCES, step, THRESHOLD)
    assert window.censored == "none" and window.value == pytest.approx(2 ** 3.1, rel=1e-12)
    # a step whose last high point sits exactly on the threshold ends the window exactly there
    on_threshold = [1.0, 1.0, 1.0, THRESHOLD, CHANCE, CHANCE]
    assert effective_window(DISTANCES, on_threshold, THRESHOLD).value == pytest.approx(8.0, rel=1e-12)


def test_window_is_interpolated_in_log2_distance_between_the_straddling_points():
    curve = [1.0, 1.0, 0.95, 0.5, 0.2, CHANCE]
    expected = 2 ** (math.log2(4) + (0.95 - THRESHOLD) / (0.95 - 0.5) * (math.log2(8) - math.log2(4)))
    assert effective_window(DISTANCES, curve, THRESHOLD).value == pytest.approx(expected, rel=1e-12)
    assert 4 < expected < 5  # about 4.24: log-linear, not the linear 4 + 4 * 0.083 = 4.33


def test_window_ends_at_the_first_drop_even_if_the_curve_recovers():
    curve = [1.0, 1.0, 0.5, 1.0, 1.0, 1.0]
    expected = 2 ** (1 + (1.0 - THRESHOLD) / (1.0 - 0.5))
    assert effective_window(DISTANCES, curve, THRESHOLD).value == pytest.approx(expected)


def test_the_deciding_distance_is_the_first_below_the_threshold():
    assert deciding_distance(DISTANCES, [1.0, 1.0, 0.5, 1.0, 1.0, 1.0], THRESHOLD) == 4
    assert np.isnan(deciding_distance(DISTANCES, [1.0] * 6, THRESHOLD))


def windows_of(directory, **options):
    results = analysis.load(directory)
    return window_table(results.table, results.history, **options)


def test_censored_windows_say_so():
    never_drops = effective_window(DISTANCES, [1.0] * 6, THRESHOLD)
    assert (never_drops.censored, never_drops.value, never_drops.text) == ("above", 32.0, "≥ 32")
    never_reached = effective_window(DISTANCES, [0.5] * 6, THRESHOLD)
    assert (never_reached.censored, never_reached.value, never_reached.text) == ("below", 1.0, "< 1")


def test_window_table_from_result_files_uses_the_mean_over_seeds_and_ignores_failures(tmp_path):
    write_per_distance(tmp_path, "gru", "nback", 0, dict(zip(DISTANCES, [1.0, 1.0, 1.0, 1.0, CHANCE, CHANCE])))
    write_per_distance(tmp_path, "gru", "nback", 1, dict(zip(DISTANCES, [1.0, 1.0, 1.0, 0.8, CHANCE, CHANCE])))
    write(tmp_path, record("gru", "nback", 2, {16: 0.0}, status="failed"))  # a failure is not an accuracy of 0
    write_per_distance(tmp_path, "attention", "nback", 0, dict(zip(DISTANCES, [1.0] * 6)))
    windows = windows_of(tmp_path).set_index("model")
    # the mean curve is 1, 1, 1, 0.9, chance, chance: below the threshold already at 8
    expected = 2 ** (2 + (1.0 - THRESHOLD) / (1.0 - 0.9))
    assert windows.loc["gru", "window"] == pytest.approx(expected)
    assert windows.loc["gru", "n_seeds"] == 2 and windows.loc["gru", "seeds"] == "0 1"
    assert windows.loc["attention", "window_text"] == "≥ 32" and windows.loc["attention", "censored"] == "above"
    assert windows.loc["attention", "ci_text"] == "undefined (n_seeds=1)"
    assert np.isnan(windows.loc["attention", "window_low"])
    assert windows.loc["gru", "verdict"] == "measured" and windows.loc["attention", "verdict"] == "at_least"


def noisy_seeds(directory, seeds: int, rng) -> None:
    """Seeds scattered around a known smooth curve that crosses the threshold between 8 and 16."""
    distances = [2 ** k for k in range(8)]
    truth = {d: 1.0 - 0.875 / (1 + math.exp(-(math.log2(d) - 4.5) * 1.5)) for d in distances}
    for seed in range(seeds):
        noisy = {d: float(np.clip(a + rng.normal(0, 0.03), 0, 1)) for d, a in truth.items()}
        write(directory, record("gru", "recall", seed, noisy, protocol="mixed"))


def ci_width(directory) -> float:
    row = windows_of(directory).iloc[0]
    assert row.window_low_censored == "none" and row.window_high_censored == "none"
    assert row.window_low <= row.window <= row.window_high
    return math.log2(row.window_high) - math.log2(row.window_low)


def test_confidence_interval_narrows_as_seeds_are_added(tmp_path):
    """Mean CI width (log2) over independent replicate sweeps: 12 seeds give a narrower interval than 3.

    One draw of 3 seeds can give a narrow interval by luck (3 seeds allow only 10 distinct resamples, and the
    percentile bootstrap is known to be too narrow with so few), so the claim is tested on average."""
    rng = np.random.default_rng(7)
    widths = {}
    for seeds in (3, 12):
        replicates = []
        for replicate in range(8):
            noisy_seeds(tmp_path / f"{seeds}_{replicate}", seeds, rng)
            replicates.append(ci_width(tmp_path / f"{seeds}_{replicate}"))
        widths[seeds] = float(np.mean(replicates))
    assert 0 < widths[12] < widths[3]


def test_report_refuses_a_threshold_outside_chance_to_one(tmp_path, capsys):
    write(tmp_path, record("gru", "nback", 0, {2: 1.0}))
    assert report.main([str(tmp_path), "--threshold-fraction", "1.5"]) == 2
    error = capsys.readouterr().err
    assert "--threshold-fraction=1.5" in error and "(0, 1]" in error
    assert not (tmp_path / "report.md").exists()


def test_runs_with_different_budgets_are_never_pooled(tmp_path):
    write_per_distance(tmp_path, "gru", "nback", 0, {2: 1.0, 4: 1.0, 8: CHANCE}, max_steps=400)
    write_per_distance(tmp_path, "gru", "nback", 0, {2: 1.0, 4: 1.0, 8: 1.0}, max_steps=20000)
    windows = windows_of(tmp_path).set_index("max_steps")
    assert windows.loc[400, "censored"] == "none" and windows.loc[20000, "window_text"] == "≥ 8"
