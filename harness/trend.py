"""Is accuracy still rising? One test, used by the training loop (``train.stop_when=settled``) and by the
analysis (a window is claimed only from runs that had settled).

The test. Take the last half of a run's evaluations (at least ``MIN_POINTS``). Each accuracy was measured on
n scored positions, so it carries binomial noise with standard error sqrt(p (1 - p) / n), with p smoothed to
(k + 1) / (n + 2) so that 0 and 1 keep some noise. Fit a straight line to accuracy against step by weighted
least squares (weights 1 / se²). Accuracy is *still rising* when the slope is positive and exceeds Z = 2
standard errors of the slope (one-sided, about 2% false alarms when the curve is flat). It has *settled* when
it is not rising, or when it already stands at or above the target.

A run that has learned nothing yet (no distance above chance by more than Z standard errors at any evaluation)
is never called settled: a flat curve at chance is what a plateau before learning looks like, and what a model
that cannot learn the task looks like; only more steps tell them apart.

Two honest limits. The binomial error treats evaluations as independent, while they reuse one fixed set, so
the test errs towards "settled" only when optimisation noise is larger than sampling noise. And "settled"
means no measurable rise over the last half of training: a curve that sits on a plateau and jumps later (as
attention sometimes does when it forms a lookup circuit) is not ruled out; a larger cap is the only cure.
"""

from __future__ import annotations

import math

Z = 2.0  # standard errors of the slope that count as a rise
MIN_POINTS = 4  # evaluations in the window before any verdict; fewer is "still rising"
WINDOW = 0.5  # the fraction of the evaluations (the latest ones) the line is fitted to


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy over n positions, with p smoothed away from 0 and 1."""
    p = (accuracy * n + 1.0) / (n + 2.0)
    return math.sqrt(p * (1.0 - p) / max(n, 1))


def slope_and_z(steps, accuracies, counts) -> tuple[float, float]:
    """Weighted least-squares slope of accuracy per 1000 steps over the window, and its z score."""
    points = list(zip(steps, accuracies, counts))
    window = points[-max(MIN_POINTS, math.ceil(WINDOW * len(points))):]
    if len(window) < MIN_POINTS:
        return float("nan"), float("nan")
    weights = [1.0 / standard_error(a, n) ** 2 for _, a, n in window]
    total = sum(weights)
    mean_x = sum(w * s for w, (s, _, _) in zip(weights, window)) / total
    mean_y = sum(w * a for w, (_, a, _) in zip(weights, window)) / total
    spread = sum(w * (s - mean_x) ** 2 for w, (s, _, _) in zip(weights, window))
    if spread == 0:
        return float("nan"), float("nan")
    slope = sum(w * (s - mean_x) * (a - mean_y) for w, (s, a, _) in zip(weights, window)) / spread
    return slope * 1000.0, slope * math.sqrt(spread)


def is_rising(steps, accuracies, counts) -> bool:
    """True while the evidence says accuracy still climbs, or when there are too few evaluations to say."""
    _, z = slope_and_z(steps, accuracies, counts)
    return math.isnan(z) or z > Z


def left_chance(accuracies, counts, chance: float) -> bool:
    """Whether any evaluation scored above chance by more than Z standard errors (of chance, over n positions)."""
    return any(a > chance + Z * standard_error(chance, n) for a, n in zip(accuracies, counts))


def has_settled(steps, accuracies, counts, target: float) -> bool:
    """At or above the target at the last evaluation, or no longer rising."""
    return bool(accuracies) and (accuracies[-1] >= target or not is_rising(steps, accuracies, counts))
