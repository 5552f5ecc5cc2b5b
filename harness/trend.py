"""Has accuracy stopped rising? One test, used by the training loop (``train.stop_when=settled``) and by the
analysis (a window is claimed only from runs that had settled).

The test. Take the last half of a run's evaluations (at least ``MIN_POINTS``). Each accuracy was measured on
n scored positions, so it carries binomial noise with standard error sqrt(p (1 - p) / n), with p smoothed to
(k + 1) / (n + 2) so that 0 and 1 keep some noise. Fit a straight line to accuracy against step by weighted
least squares (weights 1 / se²). The curve has *settled* when even the slope's upper bound, slope + Z standard
errors, would gain less than ``TOLERANCE`` (0.05) over the span of those evaluations, or when it already stands
at or above the target. Otherwise it is *rising*: either it visibly climbs, or the evaluations are too few or
too noisy to show that it stopped. Absence of evidence of a rise is not taken for evidence of a plateau: with
256 positions per evaluation, a flat stretch of 4 evaluations over 150 steps cannot rule out a gain of 0.05,
and a run that sits on such a stretch just before it learns (attention on assoc_recall does) is not stopped.

A distance that has not left chance (its accuracy pooled over the last half of the evaluations is not
LEARNED_Z standard errors above chance, ``left_chance``) may sit on the plateau before learning: the loop
never stops such a run as settled, and the analysis claims no window from a capped run that learned nothing.
Pooled and at 3 errors, because a run has up to a dozen distances and several evaluations each: one
evaluation 2 errors above chance turns up by noise in most runs that learned nothing, and an earlier rule that
accepted it stopped attention on n-back at step 400 with d=64 at chance (0.12-0.14), while its sibling seed
learned 64 by step 400. The loop also refuses to settle while a planted curve visibly rises
(``visibly_rising``): it judges every scored position, and on brackets those are flat (0.96-0.97, thousands of
short-range closings) while the 64 planted positions at d=64 still climb (0.64, 0.86, 0.89).

Two honest limits. The binomial error treats evaluations as independent, while they reuse one fixed set. And
"settled" means no rise of 0.05 over the last half of training: a curve that sits on a plateau above chance
and jumps later is not ruled out; a larger cap is the only cure.
"""

from __future__ import annotations

import math

Z = 2.0  # standard errors: the one-sided bound used for rising and settled (about 2.3% each)
LEARNED_Z = 3.0  # standard errors above chance, on the pooled last half of a curve's evaluations: "left chance"
MIN_POINTS = 4  # evaluations in the window before any verdict; fewer is "rising"
WINDOW = 0.5  # the fraction of the evaluations (the latest ones) the line is fitted to
TOLERANCE = 0.05  # the accuracy a settled curve could still gain over its window, at most


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy over n positions, with p smoothed away from 0 and 1."""
    p = (accuracy * n + 1.0) / (n + 2.0)
    return math.sqrt(p * (1.0 - p) / max(n, 1))


def fitted_count(evaluations: int) -> int:
    """How many of the latest evaluations a trend is fitted to: the last half, at least MIN_POINTS."""
    return max(MIN_POINTS, math.ceil(WINDOW * evaluations))


def pooled_last_half(accuracies, counts) -> tuple[float, int]:
    """The accuracy pooled over the last half of the evaluations (weighted by positions), and those positions."""
    half = len(accuracies) // 2
    pooled_n = sum(counts[half:])
    return sum(a * n for a, n in zip(accuracies[half:], counts[half:])) / max(pooled_n, 1), pooled_n


def fit(steps, accuracies, counts) -> tuple[float, float, float]:
    """Weighted least-squares slope of accuracy per step over the window, its standard error, and the window's
    span in steps; NaNs when there are fewer than MIN_POINTS evaluations."""
    points = list(zip(steps, accuracies, counts))
    window = points[-fitted_count(len(points)):]
    if len(window) < MIN_POINTS:
        return float("nan"), float("nan"), float("nan")
    weights = [1.0 / standard_error(a, n) ** 2 for _, a, n in window]
    total = sum(weights)
    mean_x = sum(w * s for w, (s, _, _) in zip(weights, window)) / total
    mean_y = sum(w * a for w, (_, a, _) in zip(weights, window)) / total
    spread = sum(w * (s - mean_x) ** 2 for w, (s, _, _) in zip(weights, window))
    if spread == 0:
        return float("nan"), float("nan"), float("nan")
    slope = sum(w * (s - mean_x) * (a - mean_y) for w, (s, a, _) in zip(weights, window)) / spread
    return slope, 1.0 / math.sqrt(spread), window[-1][0] - window[0][0]


def slope_and_z(steps, accuracies, counts) -> tuple[float, float]:
    """The window's slope in accuracy per 1000 steps and its z score (slope / standard error)."""
    slope, error, _ = fit(steps, accuracies, counts)
    return slope * 1000.0, slope / error


def is_rising(steps, accuracies, counts) -> bool:
    """True unless the evaluations show the curve stopped: the slope's upper bound gains < TOLERANCE over the
    window. Too few or too noisy evaluations count as rising."""
    slope, error, span = fit(steps, accuracies, counts)
    return math.isnan(slope) or (slope + Z * error) * span >= TOLERANCE


def has_settled(steps, accuracies, counts, target: float) -> bool:
    """At or above the target at the last evaluation, or shown to have stopped rising."""
    return bool(accuracies) and (accuracies[-1] >= target or not is_rising(steps, accuracies, counts))


def visibly_rising(steps, accuracies, counts) -> bool:
    """Evidence of a rise, not absence of evidence of a plateau: the slope over the last half of the evaluations
    stands more than Z standard errors above 0 (too few evaluations: no evidence)."""
    slope, error, _ = fit(steps, accuracies, counts)
    return not math.isnan(slope) and slope > Z * error


def left_chance(accuracies, counts, chance: float) -> bool:
    """Whether a curve has left chance: its accuracy pooled over the last half of the evaluations stands
    LEARNED_Z standard errors (of chance, over the pooled positions) above chance."""
    pooled, pooled_n = pooled_last_half(accuracies, counts)
    return pooled > chance + LEARNED_Z * standard_error(chance, pooled_n)
