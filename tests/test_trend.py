"""harness/trend.py: the "still rising" test behind every stop and every verdict, on synthetic histories whose
answer is known."""

from __future__ import annotations

import random

import pytest

from harness import trend

STEPS = [100 * (i + 1) for i in range(10)]


def noisy(curve, n, seed):
    """Accuracies measured on n positions: the true curve plus binomial sampling noise."""
    rng = random.Random(seed)
    return [sum(rng.random() < p for _ in range(n)) / n for p in curve]


def test_a_flat_curve_has_settled():
    flat = [0.5, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    assert not trend.is_rising(STEPS, flat, [256] * 10)
    assert trend.has_settled(STEPS, flat, [256] * 10, target=0.99)


def test_a_curve_still_climbing_is_rising():
    climbing = [0.1 + 0.08 * i for i in range(10)]
    assert trend.is_rising(STEPS, climbing, [256] * 10)
    assert not trend.has_settled(STEPS, climbing, [256] * 10, target=0.99)


def test_a_slow_climb_counts_once_it_exceeds_the_noise():
    slow = [0.50 + 0.01 * i for i in range(10)]  # +0.05 over the last half
    assert not trend.is_rising(STEPS, slow, [64] * 10), "within the noise of 64 positions"
    assert trend.is_rising(STEPS, slow, [20000] * 10), "far beyond the noise of 20000 positions"


def test_noisy_but_flat_is_rarely_called_rising():
    """A flat true curve measured with binomial noise: the one-sided z > 2 test should raise a false alarm in
    about 2% of runs; allow up to 6% for 400 draws."""
    alarms = sum(trend.is_rising(STEPS, noisy([0.4] * 10, 256, seed), [256] * 10) for seed in range(400))
    assert alarms / 400 < 0.06


def test_too_few_evaluations_count_as_rising():
    assert trend.is_rising(STEPS[:3], [0.5, 0.5, 0.5], [256] * 3)
    assert not trend.has_settled(STEPS[:3], [0.5, 0.5, 0.5], [256] * 3, target=0.99)


def test_a_run_that_reached_the_target_has_settled_even_if_it_rose_to_get_there():
    early_stopped = [0.2, 0.6, 0.995]  # stop_reason target after three evaluations
    assert trend.has_settled(STEPS[:3], early_stopped, [256] * 3, target=0.99)


def test_standard_error_keeps_some_noise_at_zero_and_one():
    assert trend.standard_error(1.0, 100) > 0 and trend.standard_error(0.0, 100) > 0
    assert trend.standard_error(0.5, 100) == pytest.approx(0.05, rel=0.02)
