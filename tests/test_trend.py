"""harness/trend.py: the "has it stopped rising" test behind every stop and every verdict, on synthetic histories
whose answer is known."""

from __future__ import annotations

import random

import pytest

from harness import trend

STEPS = [100 * (i + 1) for i in range(10)]  # the window: the last 5 evaluations, 400 steps


def noisy(curve, n, seed):
    """Accuracies measured on n positions: the true curve plus binomial sampling noise."""
    rng = random.Random(seed)
    return [sum(rng.random() < p for _ in range(n)) / n for p in curve]


def test_a_flat_curve_settles_once_the_evidence_shows_it():
    flat = [0.5, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    assert trend.has_settled(STEPS, flat, [2000] * 10, target=0.99), "2000 positions: flat to within 0.05"
    assert trend.is_rising(STEPS, flat, [64] * 10), "64 positions cannot rule out a gain of 0.05: not settled"


def test_a_climb_larger_than_the_tolerance_is_rising_and_a_smaller_one_settles():
    climbing = [0.1 + 0.02 * i for i in range(10)]  # +0.08 over the window
    creeping = [0.5 + 0.005 * i for i in range(10)]  # +0.02 over the window
    assert trend.is_rising(STEPS, climbing, [20000] * 10)
    assert not trend.has_settled(STEPS, climbing, [20000] * 10, target=0.99)
    assert not trend.is_rising(STEPS, creeping, [20000] * 10), "a gain below the tolerance is a plateau"


def test_a_plateau_before_learning_is_not_taken_for_the_end():
    """Attention on assoc_recall sat at about 0.45 for 300 steps, then climbed to 0.9 (seed 0 of the headline's
    pilot). Four flat evaluations over 150 steps on 256 positions each must not settle it."""
    plateau = [0.42, 0.44, 0.45, 0.44]
    assert trend.is_rising([150, 200, 250, 300], plateau, [256] * 4)


def test_noisy_but_flat_settles_when_there_is_enough_evidence():
    """A flat true curve measured on 4000 positions per evaluation: the upper bound of the fitted gain over the
    window sits near 0.02, so almost every draw settles (the design gives about 0.1% that do not)."""
    settled = sum(not trend.is_rising(STEPS, noisy([0.4] * 10, 4000, seed), [4000] * 10) for seed in range(200))
    assert settled / 200 > 0.95


def test_a_true_rise_is_rarely_called_settled():
    """A curve that gains 0.08 over the window, measured on 1000 positions: the test must not stop it."""
    truth = [0.3 + 0.02 * i for i in range(10)]
    called_settled = sum(not trend.is_rising(STEPS, noisy(truth, 1000, seed), [1000] * 10) for seed in range(200))
    assert called_settled / 200 < 0.03


def test_too_few_evaluations_count_as_rising():
    assert trend.is_rising(STEPS[:3], [0.5, 0.5, 0.5], [10000] * 3)
    assert not trend.has_settled(STEPS[:3], [0.5, 0.5, 0.5], [10000] * 3, target=0.99)


def test_a_run_that_reached_the_target_has_settled_even_if_it_rose_to_get_there():
    early_stopped = [0.2, 0.6, 0.995]  # stop_reason target after three evaluations
    assert trend.has_settled(STEPS[:3], early_stopped, [256] * 3, target=0.99)


def test_left_chance_needs_more_than_noise():
    assert not trend.left_chance([0.13, 0.12, 0.14], [512] * 3, chance=0.125)
    assert trend.left_chance([0.13, 0.25], [512] * 2, chance=0.125)
    # attention's d=128 on n-back (512 positions): one evaluation 3 errors above chance, then back; the old rule
    # (any one evaluation 2 errors above) took it as learned and let the run stop as settled at step 400
    assert not trend.left_chance([0.14, 0.17, 0.11, 0.11], [512] * 4, chance=0.125)
    assert not trend.left_chance([0.13, 0.12, 0.13, 0.14], [4608] * 4, chance=0.125)  # its d=64: pooled 0.135


def test_visibly_rising_needs_evidence_of_a_rise():
    steps = [100, 200, 300, 400, 500]
    assert trend.visibly_rising(steps, [0.62, 0.67, 0.64, 0.86, 0.89], [64] * 5)  # brackets' planted d=64
    assert not trend.visibly_rising(steps, [0.46, 0.52, 0.52, 0.48, 0.46], [64] * 5)  # flat and noisy
    assert not trend.visibly_rising(steps[:3], [0.1, 0.5, 0.9], [64] * 3), "too few evaluations: no evidence"


def test_standard_error_keeps_some_noise_at_zero_and_one():
    assert trend.standard_error(1.0, 100) > 0 and trend.standard_error(0.0, 100) > 0
    assert trend.standard_error(0.5, 100) == pytest.approx(0.05, rel=0.02)
