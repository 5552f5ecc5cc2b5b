"""When can a window be claimed? Two checks turn each effective window into a verdict.

- ``offset_shortcut``: a held-out distance h (inside the training range, never trained on; DistanceScore.heldout)
  at or below the window scores below its trained neighbours by more than noise. With lo and hi the nearest
  trained distances below and above h, t = (log2 h - log2 lo) / (log2 hi - log2 lo), and mean accuracies over
  seeds a(.):
      gap   = a(h) - [(1 - t) a(lo) + t a(hi)]          (linear interpolation in log2 distance)
      noise = sqrt(se(h)^2 + (1 - t)^2 se(lo)^2 + t^2 se(hi)^2)
  with se = harness.trend.standard_error of each mean, n summed over seeds. A shortcut when gap < -2 noise and
  the gap exceeds 0.05 (SHORTCUT_MARGIN): the model answers the offsets it was trained on, not the task's rule,
  so its window is no window. (With thousands of positions, a deficit of 0.01 is significant and still no
  shortcut: attention on referent scores 0.98 at held-out 23 against 0.99 at trained 16 and 32.)
- ``budget_bound``: the deciding distance is the first curve distance whose mean accuracy is below the threshold
  (the one that ends the window; for "< d", the smallest). If, in any seed's run that the step cap stopped
  (stop_reason "cap"), the validation history at that distance is still rising (harness.trend.is_rising, and
  not yet at the run's target accuracy: not harness.trend.has_settled), more steps might move the window, so
  none is claimed. The same holds when such a run learned nothing at any distance (never left chance:
  harness.trend.left_chance, pooled over the last half of its evaluations at 3 standard errors, the loop's test):
  a plateau before learning looks like a model that cannot learn;
  and when the deciding distance never left chance while the run was still learning elsewhere: still rising at
  some other distance, or having gained at one only in the second half of its steps (``late_gain``). Learning
  may reach it next: attention learns n-back's distances one after another, a doubling every 100-200 steps, so
  a staircase that last moved at step 300 of 500 looks settled by step 500 and is not. A run that stopped itself
  at its target was not cut short by the budget. A run that stopped as settled was, unless the planted curve
  at that distance contradicts the loop: visibly rising, its slope more than Z standard errors above 0
  (``visibly_rising``). The loop settles on every scored position (incidental queries too), many more than the
  planted ones; on brackets those are flat while the planted distance still climbs (GRU at d=64: 0.64, 0.86,
  0.89 at steps 300-500, stopped as settled at 500).
- ``budget_bound`` too when the seeds disagree: at the deciding distance some seed reached the threshold while
  another never left chance. A sibling run under the same budget shows the model can reach that distance, so
  the seed at chance has not shown that it cannot (attention at d_model=128 on n-back: one seed learned 64 at
  step 400, the other stopped at step 400 with 64 at chance).
- otherwise ``measured`` (the crossing, or "< d", seen in settled runs) or ``at_least`` (at or above the
  threshold at the longest distance measured: the window is at least that).

Precedence: offset_shortcut, then budget_bound, then measured / at_least. Held-out distances are not points of
the window's curve; they serve this check only.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.records import CELL
from harness.trend import TOLERANCE, has_settled, left_chance, pooled_last_half, standard_error, visibly_rising

SHORTCUT_MARGIN = 0.05  # a held-out deficit smaller than this is no shortcut, however many positions show it
KEYS = CELL + ["lr"]  # a window's cell (task, protocol, model, budget), at one learning rate
GAP_COLUMNS = KEYS + ["distance", "accuracy", "n", "below", "above", "trained_accuracy", "gap", "noise", "shortcut"]
RISING_COLUMNS = KEYS + ["seed", "run_dir", "distance", "steps", "stop_reason", "rising", "learned", "left_chance"]
VERDICTS = ("offset_shortcut", "budget_bound", "measured", "at_least")
JUDGED = ["verdict", "claim", "rising_seeds", "steps_run"]  # the columns judge() adds
RISING_TEXT = "still rising when training stopped"


def rising_table(history: pd.DataFrame) -> pd.DataFrame:
    """Per (run, distance): was the run stopped by the cap while its validation history at that distance was still
    rising (not settled by harness.trend: rising, and below the target), or while it had learned nothing at any
    distance (never above chance by harness.trend.left_chance: a plateau before learning and a model that cannot
    learn look the same, so no window is claimed from it)?"""
    curves = {key: (p.step.tolist(), p.accuracy.tolist(), p.n.tolist(), p.chance_accuracy.iloc[0],
                    p.target_accuracy.iloc[0])
              for key, p in history.sort_values("step").groupby(["run_dir", "distance"], sort=True)}
    above = {key: left_chance(acc, n, chance) for key, (_, acc, n, chance, _) in curves.items()}
    settled = {key: has_settled(steps, acc, n, target) for key, (steps, acc, n, _, target) in curves.items()}
    learned, learning = {}, {}
    for (run_dir, _), value in above.items():
        learned[run_dir] = learned.get(run_dir, False) or value
    for key, value in settled.items():
        steps, accuracies, counts, _, _ = curves[key]
        late = above[key] and late_gain(steps, accuracies, counts)
        learning[key[0]] = learning.get(key[0], False) or not value or late
    rows = []
    first_rows = history.drop_duplicates(["run_dir", "distance"]).set_index(["run_dir", "distance"])
    for key in curves:
        first, run_dir = first_rows.loc[key], key[0]
        # Still learning somewhere (or lately) while this distance never left chance: learning may reach it next
        # (attention learns n-back's distances one after another), so its plateau at chance says nothing yet.
        waiting = not above[key] and learning[run_dir]
        capped = first.stop_reason == "cap"
        rising = (capped and (not settled[key] or not learned[run_dir] or waiting)) or \
            (first.stop_reason == "settled" and visibly_rising(*curves[key][:3]))
        rows.append({**{k: first[k] for k in KEYS}, "seed": first.seed, "run_dir": run_dir, "distance": key[1],
                     "steps": first.steps, "stop_reason": first.stop_reason, "learned": learned[run_dir],
                     "rising": rising,
                     "left_chance": above[key]})
    return pd.DataFrame(rows, columns=RISING_COLUMNS)


def late_gain(steps, accuracies, counts) -> bool:
    """Whether a curve arrived at its final level only in the second half of the run: its first evaluation within
    TOLERANCE of the level (the accuracy pooled over the last half of the evaluations, as in left_chance)
    comes after half the run's last step. The staircase's last step up, which a settled test on each distance
    alone cannot see once the step is over."""
    level, _ = pooled_last_half(accuracies, counts)
    arrived = next(step for step, a in zip(steps, accuracies) if a >= level - TOLERANCE)
    return arrived > steps[-1] / 2


def heldout_gaps(table: pd.DataFrame) -> pd.DataFrame:
    """Per cell and held-out distance: its accuracy against the interpolation of its trained neighbours."""
    finished = table[(table.status == "finished") & table.accuracy.notna()]
    means = finished.groupby(KEYS + ["distance", "trained", "heldout"]).agg(accuracy=("accuracy", "mean"),
                                                                           n=("n", "sum")).reset_index()
    rows = []
    for key, cell in means.groupby(KEYS, sort=True):
        trained = cell[cell.trained.astype(bool)].set_index("distance").sort_index()
        for h in cell[cell.heldout.astype(bool)].itertuples():
            below, above = trained[trained.index < h.distance], trained[trained.index > h.distance]
            if below.empty or above.empty:
                continue
            lo, hi = below.iloc[-1], above.iloc[0]
            t = (math.log2(h.distance) - math.log2(lo.name)) / (math.log2(hi.name) - math.log2(lo.name))
            interpolated = (1 - t) * lo.accuracy + t * hi.accuracy
            noise = math.sqrt(standard_error(h.accuracy, h.n) ** 2 + ((1 - t) * standard_error(lo.accuracy, lo.n)) ** 2
                              + (t * standard_error(hi.accuracy, hi.n)) ** 2)
            gap = h.accuracy - interpolated
            rows.append({**dict(zip(KEYS, key)), "distance": h.distance, "accuracy": h.accuracy, "n": h.n,
                         "below": lo.name, "above": hi.name, "trained_accuracy": interpolated, "gap": gap,
                         "noise": noise, "shortcut": gap < -max(2 * noise, SHORTCUT_MARGIN)})
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


def judge(windows: pd.DataFrame, gaps: pd.DataFrame, rising: pd.DataFrame) -> pd.DataFrame:
    """``windows`` with verdict, claim (the text a report may print), rising_seeds and steps_run."""
    rows = []
    for window in windows.itertuples(index=False):
        key = tuple(getattr(window, k) for k in KEYS)
        cell_gaps = gaps[of_cell(gaps, key) & gaps.shortcut.astype(bool) & (gaps.distance <= window.window)]
        at_deciding = rising[of_cell(rising, key) & (rising.distance == window.deciding_distance)]
        cell_rising = at_deciding[at_deciding.rising.astype(bool)]
        stuck = at_deciding[~at_deciding.left_chance.astype(bool)] if window.seeds_reaching else at_deciding.iloc[:0]
        if len(cell_gaps):
            first = cell_gaps.sort_values("distance").iloc[0]  # the shortest distance that fails the check
            verdict = "offset_shortcut"
            claim = (f"offset shortcut (held-out d={first.distance:.0f}: {first.accuracy:.2f} against "
                     f"{first.trained_accuracy:.2f} from trained {first.below:.0f} and {first.above:.0f})")
        elif len(cell_rising):
            verdict = "budget_bound"
            why = "still rising" if cell_rising.learned.all() else "nothing learned"
            claim = f"budget-bound ({why} at {cell_rising.steps.max():.0f} steps)"
        elif len(stuck):
            verdict, cell_rising = "budget_bound", stuck
            claim = (f"budget-bound (d={window.deciding_distance:.0f} reached by {window.seeds_reaching} of "
                     f"{window.n_seeds} seeds; never left chance in {len(stuck)} within {stuck.steps.max():.0f} steps)")
        else:
            verdict = "at_least" if window.censored == "above" else "measured"
            claim = window.window_text
        rows.append({"verdict": verdict, "claim": claim,
                     "rising_seeds": " ".join(str(int(s)) for s in sorted(cell_rising.seed.unique())),
                     "steps_run": cell_rising.steps.max() if len(cell_rising) else np.nan})
    return windows.assign(**pd.DataFrame(rows, index=windows.index, columns=JUDGED))


def of_cell(frame: pd.DataFrame, key: tuple) -> pd.Series:
    """Rows of ``frame`` whose KEYS equal ``key``."""
    mask = pd.Series(True, index=frame.index)
    for column, value in zip(KEYS, key):
        mask &= frame[column] == value
    return mask
