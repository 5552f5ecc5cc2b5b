"""The decision rule, stated once: where a window ends, when more training would not move it, what a cell of
seeds concludes, and which learning rate climbs the budget ladder. The training loop, the sweeper and the
analysis all call these functions; nothing else decides.

A curve is a list of ``Point(distance, accuracy, n)``, ascending in distance, each accuracy over n distinct
scored positions. Every input to a decision is a validation curve; the test curves only give the reported
number. The rule judges stored evidence: a run's record keeps its curves at every rung (harness/record.py),
``judge_run`` replays this rule over them, and this module is not part of any run's identity, so a change here
re-judges every stored run without retraining one.

1. Threshold: ``chance + f (1 - chance)``, f = 0.9 by default, so "reaching" a distance means nearly
   solving it, whatever the task's chance.
2. Locate: the curve is fitted by a decreasing step function (weighted isotonic regression, each distance
   weighed by its positions); the window is the largest measured distance whose fitted accuracy is at or
   above the threshold, and its resolution is the gap to the next measured distance (1 on a fine grid).
   Fitted above at the longest distance: ``at_least`` it; below at the shortest: ``below`` it. The fit pools
   neighbouring distances only where the curve rises with distance, so the window does not ride on the
   noisiest point near the threshold (the last crossing of a noisy curve is a maximum over its noise, and
   lands long on a gentle decline), a hard limit that the data show as a step is located exactly, and a dip
   below the threshold that holds over many distances ends the window however well the curve recovers after
   it. Nothing between two measured distances is assumed, because a hard limit can sit anywhere between them.
3. Left chance: the curve's accuracy pooled over all its positions, each counted once, stands LEARNED_Z
   standard errors above chance. Re-evaluations of one set are not new positions, so they are never pooled.
4. A run at the end of each rung of its ladder:
   - ``target`` (every trained distance at the target accuracy: the loop stopped training there) and
     ``at_least`` are final at any rung: nothing inside the measured range is left to gain.
   - a run that has not left chance climbs: the plateau before learning looks like a model that cannot
     learn. At the top, at chance at both of the last two rungs: ``not_learned``, with its budget.
   - a window below the shortest distance is never ``measured``: it climbs, and at the top it is
     ``not_learned`` when its curve held still over the last two steps up (a plateau under the threshold:
     remembering the values and ignoring the keys scores above chance on associative recall), else
     ``budget_bound``. A curve that never reaches the threshold is not a window anyone measured.
   - ``measured`` when more training did not change the window: at each of the last two steps up the ladder
     (STABLE_RUNGS rungs, 4x the training) it moved by at most one distance (on a coarse grid: not at all),
     and the accuracy over the octave past it, [D, 2D) for deciding distance D, changed by less than TOLERANCE
     with its 95% interval inside +-TOLERANCE, or stayed at chance at both rungs (answers at chance flip from
     rung to rung without anything being learned). One distance holds too few positions to show a change that
     small; the octave past the window does, and it is where the window would grow next. Two steps, not one,
     because runs sit on plateaus before they learn, and one doubling can pass over such a plateau unchanged.
   - otherwise it climbs to the next rung; at the top it is ``budget_bound``.
   A run is read at the first rung where the rule calls it final: the evidence of later rungs, if any, is
   not read.
5. A cell (one model, task, protocol and learning rate; its seeds): ``offset_shortcut`` when a held-out
   distance inside the training range scores below its trained neighbours, both of which reach the
   threshold, by more than SHORTCUT_MARGIN and significantly (one-sided, Holm-corrected at SHORTCUT_ALPHA
   over the checks of a seed's curve), on a majority of its seeds: the model answers the offsets it trained
   on, not the task's rule. Else ``budget_bound`` when any run is; else ``not_learned`` when every run is;
   else the median seed's window: ``at_least`` or ``measured``. Windows are reported as the median and range
   over seeds; an interval is given only with at least MIN_SEEDS_FOR_INTERVAL seeds, since 2 or 3 seeds
   resample to a handful of values.
6. Learning rate (successive halving on validation, on one seed): from the second rung on, a candidate whose
   curve's mean accuracy is below the best's by more than LR_CUT_Z standard errors of the difference stops
   climbing. Short horizons mislead (a rate at chance at the first rung can be the only one that learns by the
   top), so nothing is cut at the first rung, candidates that cannot be told apart all climb, and rates at
   chance are never cut against each other. The last candidate standing is chosen; at the top, the best mean
   accuracy (ties: the smaller rate). A choice at an edge of the grid extends it (``extend_rates``): one more
   rate beyond that edge, judged with the others at the same rungs, and again while the new one wins.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

FRACTION = 0.9  # default threshold fraction between chance and 1
LEARNED_Z = 3.0  # standard errors above chance: "left chance"
TOLERANCE = 0.05  # the accuracy change between rungs that still counts as "no change"
STABLE_RUNGS = 3  # measured when unchanged over the last two steps up the ladder (4x the training)
INTERVAL_Z = 1.96  # the 95% interval of that change
MAX_MOVE = 1  # the distance a window may move between rungs and still be unchanged
SHORTCUT_MARGIN = 0.05  # a held-out deficit smaller than this is no shortcut, however many positions show it
SHORTCUT_ALPHA = 0.025  # one-sided level of the held-out checks of one curve, Holm-corrected over them
LR_CUT_Z = 3.0  # a learning rate stops climbing when this many standard errors behind the best
LR_FIRST_CUT = 1  # the first rung (index) at which a learning rate can be cut: never on one short horizon
LR_BOUNDS = (1e-6, 1.0)  # a grid is never extended past these rates
LR_MAX_EXTENSIONS = 3  # rates added past one edge of a grid at most
MIN_SEEDS_FOR_INTERVAL = 5
RUN_FINAL = ("target", "at_least", "measured", "not_learned", "budget_bound")  # a run that climbs no further
SOLVED = ("target", "at_least", "measured")  # final whatever the budget; the others could climb a higher ladder
CELL_VERDICTS = ("offset_shortcut", "budget_bound", "not_learned", "at_least", "measured")


class Point(NamedTuple):
    distance: int
    accuracy: float
    n: int
    answers: str = ""  # right (1) and wrong (0) at each position, in the set's fixed order, packed as hex


class ThresholdError(ValueError):
    """A threshold fraction outside (0, 1]; the message names the option and what is allowed."""


def threshold(chance: float, fraction: float = FRACTION, option: str = "--threshold-fraction") -> float:
    if not 0.0 < fraction <= 1.0:
        raise ThresholdError(f"{option}={fraction:g}: the threshold chance + {fraction:g} x (1 - chance) must lie in "
                             "(chance, 1]; allowed are fractions in (0, 1]")
    return chance + fraction * (1.0 - chance)


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error over n positions, with p smoothed to (k + 1) / (n + 2) so 0 and 1 keep noise."""
    p = (accuracy * n + 1.0) / (n + 2.0)
    return math.sqrt(p * (1.0 - p) / max(n, 1))


def pooled(points: Sequence[Point]) -> tuple[float, int]:
    """Accuracy over the positions of several distances, each position once."""
    n = sum(p.n for p in points)
    return sum(p.accuracy * p.n for p in points) / max(n, 1), n


def normal_tail(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


# ---------------------------------------------------------------------------------------------- 2. locate


@dataclass(frozen=True)
class Window:
    value: int  # the window (censored: the shortest or longest measured distance)
    censored: str  # none | above (at least value) | below (less than value)
    resolution: int | None  # gap to the next measured distance; None when censored above
    deciding: int | None  # the first measured distance past the window (below the threshold)
    index: int  # position of the window in the curve; -1 when below

    @property
    def text(self) -> str:
        return {"none": f"{self.value}", "above": f"≥ {self.value}", "below": f"< {self.value}"}[self.censored]

    @property
    def reach(self) -> float:
        """The window as a distance to compare: below the shortest distance sits one step under it."""
        return self.value - 1 if self.censored == "below" else self.value


def decreasing_fit(curve: Sequence[Point]) -> list[float]:
    """The weighted least-squares decreasing fit of the curve's accuracies (pool adjacent violators, each
    distance weighed by its positions): clause 2's smoothing, which pools only where the curve rises."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for point in curve:
        blocks.append([point.accuracy, max(point.n, 1e-9), 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            mean, weight, count = blocks.pop()
            before = blocks[-1]
            total = before[1] + weight
            blocks[-1] = [(before[0] * before[1] + mean * weight) / total, total, before[2] + count]
    return [mean for mean, _, count in blocks for _ in range(int(count))]


def locate(curve: Sequence[Point], at: float) -> Window:
    """The window of one curve at threshold ``at`` (clause 2)."""
    if not curve:
        raise ValueError("an empty curve has no window")
    reached = [i for i, fitted in enumerate(decreasing_fit(curve)) if fitted >= at]
    if not reached:
        return Window(curve[0].distance, "below", None, curve[0].distance, -1)
    i = reached[-1]
    if i == len(curve) - 1:
        return Window(curve[-1].distance, "above", None, None, i)
    return Window(curve[i].distance, "none", curve[i + 1].distance - curve[i].distance, curve[i + 1].distance, i)


def left_chance(curve: Sequence[Point], chance: float) -> bool:
    """Clause 3."""
    accuracy, n = pooled(curve)
    return n > 0 and accuracy > chance + LEARNED_Z * standard_error(chance, n)


def at_chance(points: Sequence[Point], chance: float) -> bool:
    """Accuracy over these positions within LEARNED_Z standard errors of chance, either way: guessing (clause 4),
    by the same measure as clause 3's."""
    accuracy, n = pooled(points)
    return n > 0 and abs(accuracy - chance) <= LEARNED_Z * standard_error(chance, n)


def octave_past(curve: Sequence[Point], window: Window) -> list[Point]:
    """The measured distances in [D, 2D) for the window's deciding distance D (clause 4); empty when at_least."""
    if window.deciding is None:
        return []
    return [p for p in curve if window.deciding <= p.distance < 2 * window.deciding]


# ---------------------------------------------------------------------------------------------- 4. a run


@dataclass(frozen=True)
class RunDecision:
    verdict: str  # target | at_least | measured | not_learned | budget_bound | climbing
    window: Window
    change: float | None  # accuracy change over the octave past the window, since the previous rung
    change_error: float | None  # its standard error
    why: str  # one line
    moved: float = 0  # the distance the window moved since the previous rung (up: positive)

    @property
    def still_growing(self) -> bool:
        """Growth shown, not only a plateau missed: the window moved up by more than MAX_MOVE, or the accuracy
        past it rose by more than its 95% interval."""
        return self.moved > MAX_MOVE or (self.change is not None and self.change - INTERVAL_Z * self.change_error > 0)


def decide_run(rungs: Sequence[Sequence[Point]], chance: float, top: bool, at_target: bool = False,
               fraction: float = FRACTION) -> RunDecision:
    """The run's verdict from its validation curves at each rung end so far (clause 4). ``top``: the last
    rung is the top of its ladder. ``at_target``: the loop stopped it at its target accuracy."""
    at = threshold(chance, fraction)
    last = rungs[-1]
    window = locate(last, at)
    climbing = "budget_bound" if top else "climbing"
    if at_target:
        return RunDecision("target", window, None, None, "every trained distance at the target accuracy")
    if window.censored == "above":
        return RunDecision("at_least", window, None, None, "at or above the threshold at the longest distance")
    if not left_chance(last, chance):
        at_chance_twice = len(rungs) >= 2 and not left_chance(rungs[-2], chance)
        if top and at_chance_twice:
            return RunDecision("not_learned", window, None, None, "at chance everywhere at the last two rungs")
        return RunDecision(climbing, window, None, None, "not yet above chance")
    if len(rungs) < STABLE_RUNGS:
        return RunDecision(climbing, window, None, None, f"{len(rungs)} rung(s): too few to compare")
    steps = [compare(rungs[i - 1], rungs[i], at, chance) for i in range(len(rungs) - STABLE_RUNGS + 1, len(rungs))]
    last_step = steps[-1]
    unstable = next((step for step in reversed(steps) if not step.stable), None)
    if window.censored == "below":  # a plateau under the threshold is no window: it climbs to the top
        best = max(p.accuracy for p in last)
        why = f"below the threshold {at:.3f} at every distance from {window.value} (best {best:.2f})"
        made = "not_learned" if top and unstable is None else climbing
        return RunDecision(made, window, last_step.change, last_step.error,
                           why if unstable is None else f"{why}; {unstable.why}", last_step.moved)
    if unstable is None:
        return RunDecision("measured", window, last_step.change, last_step.error, last_step.why, last_step.moved)
    return RunDecision(climbing, window, last_step.change, last_step.error, unstable.why, last_step.moved)


class Comparison(NamedTuple):
    stable: bool
    change: float  # accuracy over the octave past the later window, later minus earlier
    error: float
    moved: float  # the distance the window moved (up: positive)
    why: str


def compare(earlier: Sequence[Point], later: Sequence[Point], at: float, chance: float = 0.0) -> Comparison:
    """One step up the ladder: did the window move by more than MAX_MOVE in distance, and did the accuracy over
    the octave past it change by TOLERANCE or more, or by an amount whose 95% interval is not inside
    +-TOLERANCE, unless it was at chance at both rungs?"""
    window, before = locate(later, at), locate(earlier, at)
    band = octave_past(later, window)
    distances = {p.distance for p in band}
    then = [p for p in earlier if p.distance in distances]
    change, error = band_change(then, band)
    moved = window.reach - before.reach
    guessing = bool(band) and at_chance(band, chance) and at_chance(then, chance)
    flat = guessing or abs(change) + INTERVAL_Z * error < TOLERANCE
    stable = abs(moved) <= MAX_MOVE and flat
    if abs(moved) > MAX_MOVE:
        why = f"window moved {moved:+g} ({before.text} to {window.text})"
    elif guessing:
        why = f"window moved {moved:+g}; the octave past it stayed at chance ({change:+.3f} ± {error:.3f})"
    else:
        why = f"window moved {moved:+g}; octave past it changed {change:+.3f} ± {error:.3f}"
    return Comparison(stable, change, error, moved, why)


def band_change(then: Sequence[Point], now: Sequence[Point]) -> tuple[float, float]:
    """The change in accuracy over the same positions scored twice, and its standard error. Paired where both
    scorings kept their answers: positions that went right (b) and went wrong (c) give a change of (b - c) / n
    with variance (b + c - (b - c)^2 / n) / n^2 (McNemar), so a model whose answers did not move is seen not
    to have moved; otherwise as two independent binomial samples."""
    (new, n_new), (old, n_old) = pooled(now), pooled(then)
    if not now or any(not p.answers for p in [*then, *now]) or n_new != n_old:
        return new - old, math.hypot(standard_error(new, n_new), standard_error(old, n_old))
    gained = lost = 0
    for before, after in zip(sorted(then), sorted(now)):
        right_before, right_after = int(before.answers, 16), int(after.answers, 16)
        flipped = right_before ^ right_after
        gained, lost = gained + (right_after & flipped).bit_count(), lost + (right_before & flipped).bit_count()
    n = n_new
    return (gained - lost) / n, math.sqrt(max(gained + lost - (gained - lost) ** 2 / n, 1.0)) / n


class Judgment(NamedTuple):
    decision: RunDecision  # at the rung the run is read at
    rung: int  # index of that rung among the run's rungs
    final: bool  # False: the rule asks for the next rung of the ladder


def judge_run(steps: Sequence[int], curves: Sequence[Sequence[Point]], at_target: Sequence[bool], chance: float,
              top: int, fraction: float = FRACTION) -> Judgment:
    """Replay clause 4 over a run's stored rungs (their steps, validation curves and target flags) on a ladder
    whose top is ``top``: the run is read at the first rung the rule calls final, else at its last rung, still
    climbing. The one place a stored run is judged: the loop, the sweeper and the report all call it."""
    if not curves:
        raise ValueError("a run with no rung has nothing to judge")
    for k in range(len(curves)):
        made = decide_run(curves[:k + 1], chance, top=steps[k] >= top, at_target=at_target[k], fraction=fraction)
        if made.verdict != "climbing":
            return Judgment(made, k, True)
    return Judgment(made, len(curves) - 1, False)


# ---------------------------------------------------------------------------------------------- 5. a cell


class Shortcut(NamedTuple):
    distance: int
    accuracy: float  # over every seed's positions
    n: int
    below: int
    above: int
    expected: float  # interpolated in log2 distance between the trained neighbours (every seed's positions)
    gap: float
    noise: float
    seeds: int  # seeds whose own curve was checked here (both neighbours at the threshold)
    seeds_flagged: int  # seeds whose own check, Holm-corrected, shows the deficit
    flagged: bool  # on a majority of the seeds


class HeldOut(NamedTuple):
    """One held-out distance against its trained neighbours on one curve."""
    distance: int
    accuracy: float
    n: int
    below: int
    above: int
    expected: float
    gap: float
    noise: float
    eligible: bool  # both trained neighbours at or above the threshold: a deficit here can only be a shortcut


def held_out_gaps(curve: Sequence[Point], trained: set[int], heldout: set[int], at: float) -> list[HeldOut]:
    """Every held-out distance with a trained neighbour on each side, against those neighbours."""
    points = {p.distance: p for p in curve}
    rows = []
    for h in sorted(heldout & set(points)):
        below = [d for d in points if d in trained and d < h]
        above = [d for d in points if d in trained and d > h]
        if not below or not above:
            continue
        lo, hi, mid = points[max(below)], points[min(above)], points[h]
        t = (math.log2(h) - math.log2(lo.distance)) / (math.log2(hi.distance) - math.log2(lo.distance))
        expected = (1 - t) * lo.accuracy + t * hi.accuracy
        noise = math.sqrt(standard_error(mid.accuracy, mid.n) ** 2 + ((1 - t) * standard_error(lo.accuracy, lo.n)) ** 2
                          + (t * standard_error(hi.accuracy, hi.n)) ** 2)
        rows.append(HeldOut(h, mid.accuracy, mid.n, lo.distance, hi.distance, expected, mid.accuracy - expected,
                            noise, lo.accuracy >= at and hi.accuracy >= at))
    return rows


def holm_flags(gaps: Sequence[HeldOut]) -> set[int]:
    """The distances whose deficit is beyond SHORTCUT_MARGIN and significant at SHORTCUT_ALPHA after Holm's
    correction over the eligible checks of one curve."""
    eligible = sorted((normal_tail(-g.gap / g.noise), g) for g in gaps if g.eligible)
    flagged = set()
    for rank, (p, gap) in enumerate(eligible):
        if p > SHORTCUT_ALPHA / (len(eligible) - rank):
            break
        if gap.gap < -SHORTCUT_MARGIN:
            flagged.add(gap.distance)
    return flagged


def shortcut_check(curves: Sequence[Sequence[Point]], trained: set[int], heldout: set[int],
                   at: float) -> list[Shortcut]:
    """Clause 5's held-out checks of a cell: each seed's curve checked on its own, a distance flagged when a
    majority of the seeds flag it. The rows report the positions of every seed pooled."""
    per_seed = [held_out_gaps(curve, trained, heldout, at) for curve in curves]
    flags = [holm_flags(gaps) for gaps in per_seed]
    by_distance: dict[int, list[Point]] = {}
    for curve in curves:
        for p in curve:
            by_distance.setdefault(p.distance, []).append(p)
    pooled_curve = [Point(d, *pooled(points)) for d, points in sorted(by_distance.items())]
    rows = []
    for gap in held_out_gaps(pooled_curve, trained, heldout, at):
        checked = sum(any(g.distance == gap.distance and g.eligible for g in gaps) for gaps in per_seed)
        hits = sum(gap.distance in flagged for flagged in flags)
        rows.append(Shortcut(gap.distance, gap.accuracy, gap.n, gap.below, gap.above, gap.expected, gap.gap,
                             gap.noise, checked, hits, hits * 2 > len(curves)))
    return rows


def median_window(windows: Sequence[Window]) -> tuple[Window, Window, Window]:
    """(median, shortest, longest) of the seeds' windows, ordered with ``below`` first and ``at_least`` last. With
    an even count the median is the lower middle one: a window is a measured distance, never an average."""
    ordered = sorted(windows, key=order_key)
    return ordered[(len(ordered) - 1) // 2], ordered[0], ordered[-1]


def order_key(window: Window) -> tuple[float, int]:
    return ({"below": -math.inf, "above": math.inf}.get(window.censored, 0.0), window.value)


def decide_cell(run_verdicts: Sequence[str], windows: Sequence[Window], shortcuts: Sequence[Shortcut]) -> str:
    """Clause 5: the cell's verdict from its runs' verdicts, its seeds' windows and its held-out checks."""
    if any(s.flagged for s in shortcuts):
        return "offset_shortcut"
    if any(v not in RUN_FINAL or v == "budget_bound" for v in run_verdicts):
        return "budget_bound"
    if run_verdicts and all(v == "not_learned" for v in run_verdicts):
        return "not_learned"
    if not windows:  # no run scored yet
        return "budget_bound"
    return "at_least" if median_window(windows)[0].censored == "above" else "measured"


def seed_interval(windows: Sequence[Window], resamples: int = 2000, seed: int = 0) -> tuple[Window, Window] | None:
    """A 95% percentile bootstrap interval of the median window over seeds, or None below MIN_SEEDS_FOR_INTERVAL."""
    if len(windows) < MIN_SEEDS_FOR_INTERVAL:
        return None
    import random

    rng = random.Random(seed)
    medians = sorted((median_window(rng.choices(windows, k=len(windows)))[0] for _ in range(resamples)),
                     key=order_key)
    return medians[int(0.025 * resamples)], medians[min(resamples - 1, int(0.975 * resamples))]


# ---------------------------------------------------------------------------------------------- 6. learning rate


class RateScore(NamedTuple):
    lr: float
    accuracy: float  # mean over the curve's distances, each distance weighted alike
    error: float  # its standard error
    learned: bool  # left chance


def rate_score(lr: float, curve: Sequence[Point], chance: float) -> RateScore:
    accuracy = statistics.fmean(p.accuracy for p in curve)
    error = math.sqrt(sum(standard_error(p.accuracy, p.n) ** 2 for p in curve)) / len(curve)
    return RateScore(lr, accuracy, error, left_chance(curve, chance))


def rates_to_keep(scores: Sequence[RateScore]) -> list[float]:
    """The candidates that go on climbing after a rung (clause 6), best first."""
    best = max(scores, key=lambda s: (s.accuracy, -s.lr))
    keep = [s for s in scores if s is best or not best.learned or
            best.accuracy - s.accuracy <= LR_CUT_Z * math.hypot(best.error, s.error)]
    return [s.lr for s in sorted(keep, key=lambda s: (-s.accuracy, s.lr))]


def best_rate(scores: Sequence[RateScore]) -> float:
    """At the top of the ladder, or when candidates finished at different rungs: the best mean accuracy."""
    return max(scores, key=lambda s: (s.accuracy, -s.lr)).lr


def choose_rate(candidates: dict[float, Sequence[Sequence[Point]]], final: dict[float, bool], chance: float,
                ladder_length: int) -> tuple[list[float], float | None, int]:
    """Replay clause 6 over one seed's runs at each candidate rate: their validation curves at each rung they
    are read at (empty: not run yet) and whether the rule calls each run final there. Returns (rates still
    climbing, the chosen rate or None, the rung index they must reach next). The sweeper launches what it
    asks for; the report replays it."""
    alive = sorted(candidates)
    for r in range(ladder_length):
        if [lr for lr in alive if not final[lr] and len(candidates[lr]) <= r]:
            return alive, None, r
        scores = [rate_score(lr, candidates[lr][min(r, len(candidates[lr]) - 1)], chance) for lr in alive]
        if r >= LR_FIRST_CUT:
            alive = rates_to_keep(scores)
        if len(alive) == 1 or all(final[lr] and len(candidates[lr]) <= r + 1 for lr in alive) or \
                r == ladder_length - 1:  # final by this rung: a run that climbed past it is judged there
            return alive, best_rate([s for s in scores if s.lr in alive]), r
    return alive, None, ladder_length - 1


def next_rate(lr: float, up: bool) -> float:
    """The neighbour of ``lr`` on the 1-3 series (..., 1e-3, 3e-3, 1e-2, 3e-2, ...), up or down."""
    exponent = math.floor(math.log10(lr) + 1e-9)
    mantissa = lr / 10 ** exponent
    if up:
        value = 3 * 10 ** exponent if mantissa < 2 else 10 ** (exponent + 1)
    else:
        value = 10 ** exponent if mantissa > 2 else 3 * 10 ** (exponent - 1)
    return float(f"{value:.1g}")


def extend_rates(grid: Sequence[float], rates: Sequence[float], chosen: float) -> float | None:
    """The rate to add when ``chosen`` sits at an edge of the candidates ``rates`` (the ``grid`` asked for and any
    extensions so far), or None: a choice inside the range, a grid of one rate (fixed, not chosen), a bound of
    LR_BOUNDS, or LR_MAX_EXTENSIONS already added past that edge."""
    if len(grid) < 2 or chosen not in (min(rates), max(rates)):
        return None
    up = chosen == max(rates)
    added = [r for r in rates if (r > max(grid) if up else r < min(grid))]
    candidate = next_rate(chosen, up)
    if len(added) >= LR_MAX_EXTENSIONS or not LR_BOUNDS[0] <= candidate <= LR_BOUNDS[1]:
        return None
    return candidate
