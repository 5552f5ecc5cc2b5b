"""Verdicts on synthetic records whose right answer is known: settled, still rising, noisy but flat, stopped at the
target, and a model that memorised its training offsets."""

from __future__ import annotations

import pytest
from synthetic_runs import CHANCE, record, write, write_per_distance

import analysis
from analysis.trust import heldout_gaps, rising_table
from analysis.window import window_table

CURVE = {2: 1.0, 4: 1.0, 8: 0.5, 16: CHANCE}  # the window ends between 4 and 8: 8 decides it


def verdict_of(directory) -> dict:
    results = analysis.load(directory)
    return window_table(results.table, results.history, resamples=50).set_index("model").iloc[0].to_dict()


@pytest.mark.parametrize("shape, verdict", [("settled", "measured"), ("flat", "measured"), ("rising", "budget_bound")])
def test_a_window_is_claimed_only_from_runs_that_stopped_rising(tmp_path, shape, verdict):
    write_per_distance(tmp_path, "gru", "nback", 0, CURVE, shape=shape)
    window = verdict_of(tmp_path)
    assert window["verdict"] == verdict and window["deciding_distance"] == 8
    if verdict == "budget_bound":
        assert window["claim"] == "budget-bound (still rising at 400 steps)" and window["rising_seeds"] == "0"
        assert "." not in window["claim"]  # no window number where none is claimed
    else:
        assert window["claim"] == window["window_text"] and window["claim"].startswith("4.")


def test_one_rising_seed_is_enough_and_only_the_deciding_distance_counts(tmp_path):
    write(tmp_path, record("gru", "recall", 0, CURVE, protocol="mixed"))
    write(tmp_path, record("gru", "recall", 1, CURVE, protocol="mixed",
                           curves={2: [1.0] * 8, 4: [1.0] * 8, 8: [0.1 * k for k in range(1, 9)], 16: [CHANCE] * 8}))
    assert verdict_of(tmp_path)["verdict"] == "budget_bound" and verdict_of(tmp_path)["rising_seeds"] == "1"
    rising_elsewhere = tmp_path / "elsewhere"
    write(rising_elsewhere, record("gru", "recall", 0, CURVE, protocol="mixed",
                                   curves={2: [1.0] * 8, 4: [1.0] * 8, 8: [0.5] * 8,
                                           16: [CHANCE + 0.01 * k for k in range(8)]}))
    assert verdict_of(rising_elsewhere)["verdict"] == "measured"  # 16 still climbs, but 8 ends the window


def test_a_run_that_reached_its_target_was_not_cut_short_by_the_budget(tmp_path):
    """Stopped at the target after two evaluations: too few for the trend test, which would call it rising; but
    the budget did not stop it, so its window stands."""
    write(tmp_path, record("gru", "recall", 0, CURVE, protocol="mixed", stop_reason="target",
                           curves={d: [CHANCE, a] for d, a in CURVE.items()}))
    rising = rising_table(analysis.load(tmp_path).history)
    assert not rising.rising.any()
    assert verdict_of(tmp_path)["verdict"] == "measured"


def test_below_the_smallest_distance_is_measured_when_settled_and_budget_bound_when_rising(tmp_path):
    flat = {2: 0.5, 4: 0.3}
    write(tmp_path / "settled", record("lstm", "recall", 0, flat, protocol="mixed"))
    write(tmp_path / "rising", record("lstm", "recall", 0, flat, protocol="mixed", shape="rising"))
    settled = verdict_of(tmp_path / "settled")
    assert (settled["verdict"], settled["claim"], settled["deciding_distance"]) == ("measured", "< 2", 2)
    assert verdict_of(tmp_path / "rising")["verdict"] == "budget_bound"


def test_never_dropping_is_at_least_even_while_rising(tmp_path):
    write(tmp_path, record("attention", "recall", 0, {2: 1.0, 4: 1.0}, protocol="mixed", shape="rising"))
    window = verdict_of(tmp_path)
    assert (window["verdict"], window["claim"]) == ("at_least", "≥ 4")
    assert not rising_table(analysis.load(tmp_path).history).rising.any()  # at the target: nothing left to rise


def memoriser(directory, heldout_accuracy: float, seeds=(0, 1), **options):
    """Mixed training on 2, 4, 8, 16 with 3, 6 and 11 held out: perfect on the trained offsets."""
    for seed in seeds:
        curve = {2: 1.0, 3: heldout_accuracy, 4: 1.0, 6: heldout_accuracy, 8: 1.0, 11: heldout_accuracy, 16: 1.0}
        write(directory, record("gru", "assoc_recall", seed, curve, protocol="mixed", heldout={3, 6, 11}, **options))


def test_a_model_that_memorised_its_training_offsets_has_an_offset_shortcut(tmp_path):
    memoriser(tmp_path, heldout_accuracy=CHANCE)
    window = verdict_of(tmp_path)
    assert window["verdict"] == "offset_shortcut" and window["window_text"] == "≥ 16"  # the curve alone looks perfect
    assert window["claim"] == "offset shortcut (held-out d=3: 0.12 against 1.00 from trained 2 and 4)"
    gaps = heldout_gaps(analysis.load(tmp_path).table)
    assert list(gaps.distance) == [3, 6, 11] and gaps.shortcut.all() and (gaps.n == 2000).all()  # n over seeds


def test_precedence_offset_shortcut_before_budget_bound(tmp_path):
    memoriser(tmp_path, heldout_accuracy=CHANCE, shape="rising")
    assert verdict_of(tmp_path)["verdict"] == "offset_shortcut"


def test_a_held_out_gap_counts_only_beyond_its_binomial_noise_and_the_margin(tmp_path):
    """A held-out 0.90 between trained 1.0s: a gap of -0.10. Over 2 x 10 positions its noise is about 0.09 (within
    2 noise); over 2 x 100 about 0.03 (a shortcut). A held-out 0.98 over 2 x 1000 positions is 0.02 below, far
    beyond its noise of 0.003, but within the 0.05 margin: the model learned the rule, not the offsets."""
    memoriser(tmp_path / "few", heldout_accuracy=0.90, n=10)
    memoriser(tmp_path / "enough", heldout_accuracy=0.90, n=100)
    memoriser(tmp_path / "small", heldout_accuracy=0.98, n=1000)
    assert verdict_of(tmp_path / "few")["verdict"] == "at_least"  # the trained curve is perfect: ≥ 16
    assert verdict_of(tmp_path / "enough")["verdict"] == "offset_shortcut"
    assert verdict_of(tmp_path / "small")["verdict"] == "at_least"
    gaps = heldout_gaps(analysis.load(tmp_path / "small").table)
    assert gaps.gap.to_numpy() == pytest.approx(-0.02) and not gaps.shortcut.any()


def test_a_held_out_distance_beyond_the_window_does_not_count(tmp_path):
    curve = {2: 1.0, 3: 1.0, 4: 1.0, 6: CHANCE, 8: CHANCE}
    write(tmp_path, record("gru", "recall", 0, curve, protocol="mixed", heldout={3, 6}))
    window = verdict_of(tmp_path)
    assert window["verdict"] == "measured" and 4 < window["window"] < 8  # 6 lies above the window
    assert window["max_distance"] == 8 and window["min_distance"] == 2  # held-out points are not on the curve


def test_a_run_that_learned_nothing_claims_no_window(tmp_path):
    """Flat at chance everywhere until the cap: a plateau before learning and a model that cannot learn look the
    same, so the verdict is budget-bound, not a measured '< d'; once anything was learned, a flat curve settles."""
    at_chance = {2: CHANCE, 4: CHANCE, 8: CHANCE}
    write(tmp_path / "nothing", record("lstm", "recall", 0, at_chance, protocol="mixed"))
    window = verdict_of(tmp_path / "nothing")
    assert window["verdict"] == "budget_bound" and window["claim"] == "budget-bound (nothing learned at 400 steps)"
    write(tmp_path / "something", record("lstm", "recall", 0, {2: 0.6, 4: CHANCE, 8: CHANCE}, protocol="mixed"))
    assert verdict_of(tmp_path / "something")["verdict"] == "measured"
    stopped = tmp_path / "stopped"  # a run that reached its target was not cut short, whatever else it learned
    write(stopped, record("lstm", "recall", 0, at_chance, protocol="mixed", stop_reason="target"))
    assert verdict_of(stopped)["verdict"] == "measured"


def test_a_run_the_loop_settled_is_budget_bound_only_where_its_planted_curve_visibly_rises(tmp_path):
    """The loop settles on every scored position; the planted ones at the deciding distance may still climb
    (brackets). Visibly rising (0.5 to 0.85 over the last half, 1000 positions each): budget-bound. Flat, but on
    too few positions for the trend test to show it stopped (64): the loop's judgment stands, measured."""
    climbing = [0.5] * 4 + [0.55, 0.65, 0.75, 0.85]
    write(tmp_path / "climbing", record("gru", "brackets", 0, {2: 1.0, 4: 1.0, 8: 0.85}, protocol="mixed",
                                        stop_reason="settled", curves={2: [1.0] * 8, 4: [1.0] * 8, 8: climbing}))
    window = verdict_of(tmp_path / "climbing")
    assert (window["verdict"], window["deciding_distance"]) == ("budget_bound", 8)
    write(tmp_path / "noisy", record("gru", "brackets", 0, {2: 1.0, 4: 1.0, 8: 0.5}, protocol="mixed", n=64,
                                     stop_reason="settled", curves={2: [1.0] * 8, 4: [1.0] * 8, 8: [0.5] * 8}))
    assert verdict_of(tmp_path / "noisy")["verdict"] == "measured"


def test_seeds_that_disagree_at_the_deciding_distance_are_budget_bound(tmp_path):
    """Seed 0 learned 8 (1.0); seed 1 never left chance there. The mean curve ends the window at 8, but a sibling
    under the same budget reached it, so seed 1 has not shown that the model cannot. Two seeds that both stay
    at chance at 8 measure the window."""
    curves = {0: {2: 1.0, 4: 1.0, 8: 1.0}, 1: {2: 1.0, 4: 1.0, 8: CHANCE}}
    for seed, curve in curves.items():
        write(tmp_path / "disagree", record("attention", "nback", seed, curve, protocol="mixed", shape="flat"))
    window = verdict_of(tmp_path / "disagree")
    assert (window["verdict"], window["deciding_distance"], window["seeds_reaching"]) == ("budget_bound", 8, 1)
    assert window["claim"].startswith("budget-bound (d=8 reached by 1 of 2 seeds; never left chance in 1")
    for seed in (0, 1):
        write(tmp_path / "agree", record("attention", "nback", seed, curves[1], protocol="mixed", shape="flat"))
    assert verdict_of(tmp_path / "agree")["verdict"] == "measured"


def test_a_distance_at_chance_waits_while_the_run_still_learns_elsewhere(tmp_path):
    """Attention learns n-back's distances one after another: at the cap, 4 still climbs and 8 never left chance.
    8 decides the window, and nothing says learning would not reach it next: budget-bound. Once every distance
    has settled, the same flat 8 ends a measured window."""
    climbing = [0.25 + 0.1 * k for k in range(8)]  # ends at 0.95, above the threshold
    write(tmp_path / "climbing", record("attention", "nback", 0, {2: 1.0, 4: 0.95, 8: CHANCE}, protocol="mixed",
                                        curves={2: [1.0] * 8, 4: climbing, 8: [CHANCE] * 8}))
    window = verdict_of(tmp_path / "climbing")
    assert (window["verdict"], window["deciding_distance"]) == ("budget_bound", 8)
    write(tmp_path / "settled", record("attention", "nback", 0, {2: 1.0, 4: 0.95, 8: CHANCE}, protocol="mixed",
                                       curves={2: [1.0] * 8, 4: [0.95] * 8, 8: [CHANCE] * 8}))
    assert verdict_of(tmp_path / "settled")["verdict"] == "measured"


@pytest.mark.parametrize("evaluations_at_chance, verdict", [(2, "measured"), (4, "budget_bound")])
def test_a_distance_at_chance_waits_while_the_staircase_moved_lately(tmp_path, evaluations_at_chance, verdict):
    """Every curve has settled by the cap, but 4 reached its level only at step 250 of 400 (4 evaluations at
    chance): the staircase moved in the second half of the run, so the 8 that never left chance may be next.
    Reached at step 150 (2 evaluations at chance), the same flat 8 ends a measured window."""
    step_up = [CHANCE] * evaluations_at_chance + [0.95] * (8 - evaluations_at_chance)
    write(tmp_path, record("attention", "nback", 0, {2: 1.0, 4: 0.95, 8: CHANCE}, protocol="mixed",
                           curves={2: [1.0] * 8, 4: step_up, 8: [CHANCE] * 8}))
    window = verdict_of(tmp_path)
    assert (window["verdict"], window["deciding_distance"]) == (verdict, 8)
