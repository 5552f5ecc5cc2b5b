"""The effective context window: one number per model, task and protocol, with a bootstrap CI over seeds.

Definition. The threshold sits a fraction f of the way from chance to a perfect score,
``threshold = chance + f * (1 - chance)`` (f = 0.9 by default). Walking up from the
smallest measured distance, the window ends between the last distance whose mean
accuracy (over seeds) is at or above the threshold and the first one below it; the
value is interpolated linearly in log2(distance) between those two points:

    log2 w = log2 d_i + (acc_i - threshold) / (acc_i - acc_{i+1}) * (log2 d_{i+1} - log2 d_i)

Two cases give no number and are kept as what they are, censored values:
``above`` (the curve never drops: the window is >= the largest measured distance) and
``below`` (the smallest measured distance is already below the threshold: < it).

Uncertainty: resample seeds with replacement, recompute the mean curve and its window,
and take the 2.5 and 97.5 percentiles. Censored resamples sort as -inf (below) and +inf
(above), so a bound of the interval can itself be censored. With one seed the interval
is undefined, and said to be so.

The curve is the listed, trained and evaluated distances; held-out distances (inside the training range, never
trained on) are not points of it: they feed the offset-shortcut check. Every window carries a verdict
(measured, at_least, budget_bound, offset_shortcut; see analysis.trust). Everything here is a pure function of
the tidy and history tables (analysis.records).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import trust

DEFAULT_FRACTION = 0.9
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95
GROUP_KEYS = trust.KEYS  # task, protocol, model, the budget (part of what a window means), and the learning rate
WINDOW_COLUMNS = GROUP_KEYS + ["verdict", "claim", "window", "censored", "window_text", "deciding_distance",
                               "rising_seeds", "steps_run", "window_low", "window_low_censored", "window_high",
                               "window_high_censored", "ci_text", "n_seeds", "seeds", "seeds_reaching", "min_distance",
                               "max_distance", "max_trained_distance", "beyond_training", "chance_accuracy",
                               "threshold_fraction", "threshold", "target_accuracy", "params", "resamples"]


class ThresholdError(ValueError):
    """A threshold that cannot be met or is met by guessing; the message names the option and its range."""


@dataclass(frozen=True)
class Window:
    """An effective window in distance units. ``censored`` is none, above (>= value) or below (< value)."""

    value: float
    censored: str = "none"

    @property
    def text(self) -> str:
        return {"none": format_distance(self.value), "above": f"≥ {format_distance(self.value)}",
                "below": f"< {format_distance(self.value)}"}[self.censored]


def format_distance(value: float) -> str:
    return f"{value:.0f}" if value >= 100 or float(value).is_integer() else f"{value:.1f}"


def threshold_for(chance: float, fraction: float, option: str = "--threshold-fraction") -> float:
    """chance + fraction * (1 - chance); refuses a fraction that puts the threshold outside (chance, 1]."""
    if not 0.0 < fraction <= 1.0:
        raise ThresholdError(f"{option}={fraction:g}: the threshold chance + {fraction:g} x (1 - chance) must lie in "
                             "(chance, 1]; allowed are fractions in (0, 1]")
    return chance + fraction * (1.0 - chance)


def effective_window(distances, accuracy, threshold: float) -> Window:
    """The window of one mean curve (distances ascending, no NaN); see the module docstring."""
    distances, accuracy = np.asarray(distances, dtype=float), np.asarray(accuracy, dtype=float)
    log_window, censored = _log2_windows(np.log2(distances), accuracy[None, :], threshold)
    kind = {-1: "below", 0: "none", 1: "above"}[int(censored[0])]
    value = {"below": distances[0], "above": distances[-1]}.get(kind, 2.0 ** log_window[0])
    return Window(float(value), kind)


def deciding_distance(distances, accuracy, threshold: float) -> float:
    """The first distance whose accuracy is below the threshold (the one that ends the window), or NaN."""
    below = [d for d, a in zip(distances, accuracy) if a < threshold]
    return float(below[0]) if below else float("nan")


def _log2_windows(log_distance: np.ndarray, curves: np.ndarray, threshold: float):
    """Vectorised over curves (R, D): log2 of each window and its censoring (-1 below, 0 none, +1 above)."""
    below = curves < threshold  # (R, D)
    first_below = np.where(below.any(axis=1), below.argmax(axis=1), curves.shape[1])  # (R,)
    censored = np.where(first_below == 0, -1, np.where(first_below == curves.shape[1], 1, 0))
    if curves.shape[1] == 1:  # one distance: always censored, nothing to interpolate
        return np.where(censored > 0, np.inf, -np.inf), censored
    last = np.clip(first_below - 1, 0, curves.shape[1] - 2)  # the last point at or above the threshold
    rows = np.arange(len(curves))
    high, low = curves[rows, last], curves[rows, last + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.clip((high - threshold) / (high - low), 0.0, 1.0)
    log_window = log_distance[last] + fraction * (log_distance[last + 1] - log_distance[last])
    return np.where(censored == 0, log_window, np.where(censored > 0, np.inf, -np.inf)), censored


def bootstrap_windows(distances, per_seed: np.ndarray, threshold: float, resamples: int = RESAMPLES,
                      seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """log2 windows of ``resamples`` mean curves, each over seeds drawn with replacement from the rows of
    ``per_seed`` (seeds x distances, NaN where a seed has no measurement). -inf / +inf mark censored ones."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(per_seed), size=(resamples, len(per_seed)))  # (R, S)
    samples = per_seed[picks]  # (R, S, D)
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(samples), axis=1)  # (R, D)
        curves = np.where(counts > 0, np.nansum(samples, axis=1) / np.maximum(counts, 1), np.nan)
    log_distance = np.log2(np.asarray(distances, dtype=float))
    if not np.isnan(curves).any():
        return _log2_windows(log_distance, curves, threshold)[0]
    # a resample that lost every seed measured at some distance: compute it on the distances it has
    out = np.empty(resamples)
    for r, curve in enumerate(curves):
        keep = ~np.isnan(curve)
        out[r] = _log2_windows(log_distance[keep], curve[keep][None, :], threshold)[0][0]
    return out


def confidence_interval(log_windows: np.ndarray, distances, level: float = CI_LEVEL) -> tuple[Window, Window]:
    """Percentile interval of bootstrap windows; a censored bound is reported as such (< min, >= max)."""
    tail = (1.0 - level) / 2.0
    bounds = np.quantile(log_windows, [tail, 1.0 - tail], method="inverted_cdf")  # no interpolation across inf
    return tuple(_as_window(bound, distances) for bound in bounds)


def _as_window(log_value: float, distances) -> Window:
    if np.isposinf(log_value):
        return Window(float(max(distances)), "above")
    if np.isneginf(log_value):
        return Window(float(min(distances)), "below")
    return Window(float(2.0 ** log_value))


def seed_matrix(group: pd.DataFrame) -> tuple[list[int], list[int], np.ndarray]:
    """Seeds, distances and a (seeds x distances) accuracy matrix, NaN where a seed was not measured."""
    pivot = group.pivot_table(index="seed", columns="distance", values="accuracy", aggfunc="mean")
    pivot = pivot.sort_index().sort_index(axis=1)
    return list(pivot.index), [int(d) for d in pivot.columns], pivot.to_numpy(dtype=float)


def window_table(table: pd.DataFrame, history: pd.DataFrame, fraction: float = DEFAULT_FRACTION,
                 resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """One row per (task, protocol, model, budget, lr): the effective window of the mean curve over seeds, its
    censoring, a 95% percentile bootstrap CI over seeds, and its verdict (analysis.trust) from the validation
    ``history``. Finished runs only; failures never count as 0; held-out distances are not on the curve."""
    curve = table[(table.status == "finished") & table.accuracy.notna() & (table.heldout != True)]  # noqa: E712
    rows = []
    for key, group in curve.groupby(GROUP_KEYS, sort=True, dropna=False):
        seeds, distances, per_seed = seed_matrix(group)
        chance = float(group.chance_accuracy.max())
        threshold = threshold_for(chance, fraction)
        mean_curve = np.nanmean(per_seed, axis=0)
        window = effective_window(distances, mean_curve, threshold)
        deciding = deciding_distance(distances, mean_curve, threshold)
        # seeds at or above the threshold where the mean curve ends the window (they disagree if others are not)
        reaching = 0 if np.isnan(deciding) else int(np.sum(per_seed[:, distances.index(int(deciding))] >= threshold))
        trained = group[group.trained.fillna(False).astype(bool)].distance
        max_trained = int(trained.max()) if len(trained) else None
        row = dict(zip(GROUP_KEYS, key), window=window.value, censored=window.censored, window_text=window.text,
                   deciding_distance=deciding, n_seeds=len(seeds),
                   seeds=" ".join(str(int(s)) for s in seeds), seeds_reaching=reaching, min_distance=distances[0],
                   max_distance=distances[-1], max_trained_distance=max_trained,
                   beyond_training=max_trained is not None and window.censored != "below"
                   and window.value > max_trained, chance_accuracy=chance, threshold_fraction=fraction,
                   threshold=threshold, target_accuracy=group.target_accuracy.max(),
                   params=int(group.params.median()), resamples=resamples if len(seeds) > 1 else 0)
        if len(seeds) > 1:
            low, high = confidence_interval(bootstrap_windows(distances, per_seed, threshold, resamples, seed),
                                            distances)
            row.update(window_low=low.value, window_low_censored=low.censored, window_high=high.value,
                       window_high_censored=high.censored, ci_text=f"[{low.text}, {high.text}]")
        else:
            row.update(window_low=np.nan, window_low_censored="", window_high=np.nan, window_high_censored="",
                       ci_text="undefined (n_seeds=1)")
        rows.append(row)
    windows = pd.DataFrame(rows, columns=[c for c in WINDOW_COLUMNS if c not in trust.JUDGED])
    judged = trust.judge(windows, trust.heldout_gaps(table), trust.rising_table(history))
    return judged[WINDOW_COLUMNS]
