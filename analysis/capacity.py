"""The capacity law (issue 12): the effective window against state size, and against training budget.

The seed claim is that attention's reference window is unlimited and GRU's and LSTM's limited. Limited by what?
Capacity (the state is too small to hold what lies d steps back) or trainability (gradient descent does not
find the solution within the budget)? Collins, Sohl-Dickstein & Sussillo (2017, "Capacity and Trainability in
Recurrent Neural Networks", ICLR) found that common RNNs store about 5 bits per parameter and about one real
number per hidden unit, and that architectures differ mostly in trainability; Zoology (Arora et al. 2023,
arXiv:2312.04927) showed that fixed-state models need a state that grows with what must be recalled.

Everything here is a pure function of the loaded tables (analysis.load); nothing trains.

- **Cells.** analysis.records.CELL has no model size, so sizes of one family would pool into one window. Here
  each (model, state_size, params) is its own variant: the lr is chosen per variant on validation
  (analysis.learning_rate) and its window, CI and verdict come from analysis.window and analysis.trust.
- **The fit.** Per fixed-state family, task, protocol and budget: least squares of log2 window on log2 state
  size over the sizes whose window is a number (not censored, verdict ``measured``); the slope is α (window ∝
  S^α). R² is of that fit on the point estimates (1 by construction with 2 points). 95% CI: resample seeds
  within each size (analysis.window.bootstrap_windows, an independent stream per size), recompute each size's
  window from its resampled mean curve, refit, take the 2.5 and 97.5 percentiles of α; a resampled window that
  comes out censored is clipped to the distance it is censored at (counted in ``censored_resamples``). Sizes
  left out are listed with why: censored (< smallest / ≥ largest distance), budget-bound, offset shortcut.
  A family whose ``state_size(seq_len)`` reads its sequence length (a key-value cache, 2·L·d_model per layer)
  is drawn but never fitted: its state measures the length, not a capacity.
- **The information floor.** On n-back a window of d needs the last d symbols, d·log2 K bits (K =
  config.task.num_symbols); a state of S numbers at b bits each holds d = S·b / log2 K. Drawn for b = 1 and
  b = 5 (REFERENCE_BITS; 5 after Collins et al.'s ~5 bits per parameter, the most gradient-trained RNNs were
  seen to store per trained number, here applied per state number as an order of magnitude). On recall, k
  pending values need k·log2 K bits at every distance, a floor flat in d: a state below k·log2 K / b numbers
  cannot hold them. Bits per state number = bits needed at the window / S.
- **Capacity- or budget-limited** (``limits``), per variant: the window at each evaluation step is the window of
  the mean validation curve over seeds (a run that stopped itself keeps its last accuracy). Over the last half
  of the evaluations (at least harness.trend.MIN_POINTS), fit log2 window against step by least squares; the
  slope's standard error comes from the residuals. "budget" (still growing) when slope > 0 at z > 2
  (harness.trend.Z) and the fitted growth over those evaluations is at least GROWTH_TOLERANCE (0.1 doublings,
  a 7% longer window: significant is not enough, since at 4000 steps and 16 evaluations a window creeping from
  8.8 to 8.9 is 10 standard errors from flat); otherwise "capacity" (the window had stopped growing; a plateau
  of optimisation looks the same, which is what α across sizes tells apart). Before that test: a final window
  ≥ the largest distance is "beyond_range" (not limited within the distances measured); if no seed's run hit
  the step cap, "capacity" (it stopped itself: the budget did not bind); a final window < the smallest distance
  moves no window, so the trust verdict decides (budget_bound → "budget"); fewer evaluations than MIN_POINTS is
  "undetermined".
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from analysis.learning_rate import at_chosen_lr, lr_selection
from analysis.records import Results
from analysis.trust import KEYS
from analysis.window import (
    BOOTSTRAP_SEED,
    CI_LEVEL,
    DEFAULT_FRACTION,
    RESAMPLES,
    bootstrap_windows,
    effective_window,
    format_distance,
    seed_matrix,
    window_table,
)
from harness.record import REPO_ROOT
from harness.trend import MIN_POINTS, Z, fitted_count

GROWTH_TOLERANCE = 0.1  # doublings of the window over the fitted evaluations that count as still growing
REFERENCE_BITS = (1.0, 5.0)  # bits per state number drawn as floors: a binary code, and Collins et al.'s ~5
FLOORS = {"nback": "per_distance", "recall": "flat"}  # tasks whose bits needed are known (module docstring)
SETTING = ["task", "protocol", "max_steps", "batch_size"]  # what one fit is of, with the model family
LIMITS = {"capacity": "capacity-limited", "budget": "budget-limited",
          "beyond_range": "not limited within the distances measured", "undetermined": "undetermined"}
WINDOW_COLUMNS = SETTING + ["model", "state_size", "params", "lr", "n_seeds", "window", "censored", "window_text",
                            "window_low", "window_high", "ci_text", "verdict", "claim", "min_distance",
                            "max_distance", "limited_by", "growth_per_1k_steps", "growth_z", "bits_needed",
                            "bits_per_number", "state_grows", "in_fit"]
FIT_COLUMNS = ["model", *SETTING, "alpha", "alpha_low", "alpha_high", "intercept", "r_squared", "n_points",
               "alpha_at_budget", "alpha_at_budget_low", "alpha_at_budget_high", "r_squared_at_budget",
               "sizes_used", "sizes_left_out", "bits_per_number", "bits_text", "floor_bits", "num_symbols", "note",
               "censored_resamples", "resamples"]
GROWTH_COLUMNS = SETTING + ["model", "state_size", "params", "lr", "step", "window", "censored", "n_runs"]


@dataclass
class Capacity:
    """The tables of the analysis: ``windows`` (one row per variant), ``fits`` (one per family and setting),
    ``growth`` (the window at each evaluation step), ``floors`` (per task: the kind of floor and its numbers)."""

    windows: pd.DataFrame
    fits: pd.DataFrame
    growth: pd.DataFrame
    floors: pd.DataFrame
    unsized: int = 0  # finished runs that recorded no state_size: left out of every table here

    @property
    def enough(self) -> bool:
        return bool(len(self.windows)) and bool(
            (self.windows.groupby(["model", "task"]).state_size.nunique() >= 2).any())


def analyse(results: Results, fraction: float = DEFAULT_FRACTION, resamples: int = RESAMPLES) -> Capacity:
    """Every table of the capacity analysis from one loaded directory."""
    runs = run_info(results)
    unsized = sum(r.complete for r in results.records) - len(runs)
    table, history = by_variant(results.table, runs), by_variant(results.history, runs)
    if table.empty:
        return Capacity(pd.DataFrame(columns=WINDOW_COLUMNS), pd.DataFrame(columns=FIT_COLUMNS),
                        pd.DataFrame(columns=GROWTH_COLUMNS), floors(pd.DataFrame(columns=WINDOW_COLUMNS)), unsized)
    selection = lr_selection(table)
    table, history = at_chosen_lr(table, selection), at_chosen_lr(history, selection)
    windows = window_table(table, history, fraction, resamples).join(cell_info(table, runs), on=KEYS)
    growth = window_growth(history, windows)
    windows = bits(limits(windows, growth, history))
    fits = fit_table(windows, table, resamples)
    windows = windows.assign(in_fit=[fitted(w, fits) for w in windows.itertuples(index=False)])
    windows = windows.rename(columns={"model": "variant", "family": "model"})
    growth = growth.rename(columns={"model": "variant", "family": "model"})
    return Capacity(windows[WINDOW_COLUMNS].sort_values(SETTING[:2] + ["model", "state_size"]).reset_index(drop=True),
                    fits, growth[GROWTH_COLUMNS], floors(windows), unsized)


# ---------------------------------------------------------------------------------------------- variants


def run_info(results: Results) -> pd.DataFrame:
    """Per finished record with a state size: its family, size, variant label and what the floor needs."""
    rows = [{"run_dir": r.run_dir, "family": r.model, "state_size": r.state_size,
             "variant": f"{r.model}@{r.state_size}/{r.params}",
             "num_symbols": r.config.get("task", {}).get("num_symbols"),
             "instances": r.config.get("task", {}).get("instances"),
             "state_grows": state_depends_on_length(r.config.get("model", {}).get("_target_", ""))}
            for r in results.records if r.complete and r.state_size is not None]
    return pd.DataFrame(rows, columns=["run_dir", "family", "state_size", "variant", "num_symbols", "instances",
                                       "state_grows"])


def by_variant(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (table or history) restricted to runs with a state size, with ``model`` set to the variant
    (family@state_size/params), so that every function keyed on CELL treats each size as its own cell."""
    variant = frame.run_dir.map(runs.set_index("run_dir").variant)
    return frame[variant.notna()].assign(model=variant[variant.notna()]).reset_index(drop=True)


def cell_info(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell (KEYS, model = variant): family, state_size, whether the state grows with the sequence, and the
    task's alphabet size K and item count k (NaN where the cell's runs disagree)."""
    merged = table[KEYS + ["run_dir"]].drop_duplicates().merge(runs.drop(columns="variant"), on="run_dir")

    def one(values):
        values = values.dropna().unique()
        return values[0] if len(values) == 1 else np.nan

    return merged.groupby(KEYS).agg(family=("family", "first"), state_size=("state_size", "first"),
                                    state_grows=("state_grows", "any"), num_symbols=("num_symbols", one),
                                    instances=("instances", one))


@cache
def state_depends_on_length(target: str) -> bool:
    """Whether the model class at ``target`` computes ``state_size(seq_len)`` from seq_len (a key-value cache
    grows with the sequence; a recurrent state does not). Read from its source, never imported or run; False
    when the class or its state_size cannot be found."""
    module, _, name = target.rpartition(".")
    try:
        tree = ast.parse((REPO_ROOT / f"{module.replace('.', '/')}.py").read_text()) if module else None
    except (OSError, SyntaxError, ValueError):
        return False
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name] if tree else []
    methods = [n for c in classes for n in c.body if isinstance(n, ast.FunctionDef) and n.name == "state_size"]
    return any(isinstance(n, ast.Name) and n.id == "seq_len" for m in methods for s in m.body for n in ast.walk(s))


# ---------------------------------------------------------------------------------------------- window over steps


def window_growth(history: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Per cell and evaluation step: the window of the mean validation curve over seeds (curve distances only; a
    run that stopped itself keeps its last accuracy at later steps), with the cell's threshold."""
    curve = history[history.heldout != True]  # noqa: E712
    cells = windows.set_index(KEYS)
    rows = []
    for key, cell in curve.groupby(KEYS, sort=True):
        if key not in cells.index:
            continue
        steps = sorted(cell.step.unique())
        per_run = []
        for _, run in cell.groupby("run_dir"):
            matrix = run.pivot_table(index="step", columns="distance", values="accuracy").reindex(steps)
            per_run.append(matrix.ffill() if run.stop_reason.iloc[0] != "cap" else matrix)
        mean = pd.concat(per_run).groupby(level=0).mean().sort_index(axis=1)  # (steps, distances)
        for step, accuracy in mean.iterrows():
            kept = accuracy.dropna()
            if kept.empty:
                continue
            window = effective_window(list(kept.index), kept.to_numpy(), cells.loc[key, "threshold"])
            rows.append({**dict(zip(KEYS, key)), "step": step, "window": window.value, "censored": window.censored,
                         "n_runs": sum(bool(m.loc[step].notna().any()) for m in per_run)})
    growth = pd.DataFrame(rows, columns=KEYS + ["step", "window", "censored", "n_runs"])
    return growth.join(cells[["family", "state_size", "params"]], on=KEYS)


def growth_slope(steps, log2_windows) -> tuple[float, float]:
    """Least-squares slope of log2 window per 1000 steps over the last half of the evaluations (at least
    MIN_POINTS), and its z score, slope / standard error from the residuals; NaN with fewer evaluations."""
    keep = fitted_count(len(steps))
    if len(steps) < MIN_POINTS:
        return math.nan, math.nan
    x, y = np.asarray(steps[-keep:], dtype=float), np.asarray(log2_windows[-keep:], dtype=float)
    spread = np.sum((x - x.mean()) ** 2)
    slope = np.sum((x - x.mean()) * (y - y.mean())) / spread
    if abs(slope) * (x[-1] - x[0]) < 1e-9:  # no change over the fitted evaluations
        return 0.0, 0.0
    residual = y - y.mean() - slope * (x - x.mean())
    error = math.sqrt(np.sum(residual ** 2) / (len(x) - 2) / spread)
    return float(slope * 1000.0), float(slope / error) if error > 0 else math.copysign(math.inf, slope)


def limits(windows: pd.DataFrame, growth: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """``windows`` with limited_by, growth_per_1k_steps (doublings of the window per 1000 steps, over the last
    half of the evaluations) and growth_z; the rule is in the module docstring."""
    capped = history.groupby(KEYS).stop_reason.agg(lambda reasons: bool((reasons == "cap").any()))
    series = dict(list(growth.sort_values("step").groupby(KEYS)))
    rows = []
    for window in windows.itertuples(index=False):
        key = tuple(getattr(window, k) for k in KEYS)
        steps = series.get(key, growth.iloc[:0])
        bounded = steps.window.clip(window.min_distance, window.max_distance).to_numpy(dtype=float)
        slope, z = growth_slope(steps.step.tolist(), np.log2(bounded).tolist())
        if window.censored == "above":
            limited = "beyond_range"
        elif not capped.get(key, False):
            limited = "capacity"
        elif math.isnan(z):
            limited = "undetermined"
        elif window.censored == "below":
            limited = "budget" if window.verdict == "budget_bound" else "capacity"
        else:
            span = steps.step.iloc[-1] - steps.step.iloc[-fitted_count(len(steps))]  # covered by the fitted ones
            limited = "budget" if slope > 0 and z > Z and slope * span / 1000.0 >= GROWTH_TOLERANCE else "capacity"
        rows.append({"limited_by": limited, "growth_per_1k_steps": slope, "growth_z": z})
    return windows.assign(**pd.DataFrame(rows, index=windows.index,
                                         columns=["limited_by", "growth_per_1k_steps", "growth_z"]))


# ---------------------------------------------------------------------------------------------- floors and bits


def floor_bits(task: str, window: float, num_symbols, instances) -> float:
    """Bits a state must hold for a window on ``task``: n-back d·log2 K; recall k·log2 K at any d; else NaN."""
    kind = FLOORS.get(task)
    if kind is None or pd.isna(num_symbols) or (kind == "flat" and pd.isna(instances)):
        return math.nan
    return float((window if kind == "per_distance" else instances) * math.log2(num_symbols))


def bits(windows: pd.DataFrame) -> pd.DataFrame:
    """``windows`` with bits_needed (the task's floor at the window) and bits_per_number (bits_needed / S)."""
    needed = np.array([floor_bits(w.task, w.window, w.num_symbols, w.instances)
                       for w in windows.itertuples(index=False)], dtype=float)
    return windows.assign(bits_needed=needed, bits_per_number=needed / windows.state_size.to_numpy(dtype=float))


def floors(windows: pd.DataFrame) -> pd.DataFrame:
    """Per task: the kind of floor (per_distance, flat or none), log2 K, the flat floor's bits, and a sentence."""
    rows = []
    for task, cells in windows.groupby("task", sort=True):
        symbols, items = cells.num_symbols.dropna().unique(), cells.instances.dropna().unique()
        kind = FLOORS.get(task, "none") if len(symbols) == 1 else "none"
        kind = "none" if kind == "flat" and len(items) != 1 else kind
        per_symbol = math.log2(symbols[0]) if kind != "none" else math.nan
        flat = items[0] * per_symbol if kind == "flat" else math.nan
        if kind == "per_distance":
            text = (f"{task}: a window of d needs the last d symbols, d·log2 {symbols[0]:g} = {per_symbol:.3g}·d "
                    f"bits; a state of S numbers at b bits each holds d = S·b / {per_symbol:.3g}.")
        elif kind == "flat":
            text = (f"{task}: {items[0]:g} pending values need {items[0]:g}·log2 {symbols[0]:g} = {flat:.3g} bits "
                    f"at every distance, a floor flat in d; a state below {flat:.3g} / b numbers cannot hold them.")
        else:
            text = (f"{task}: no floor drawn, since the bits a window needs are defined here only for n-back "
                    "(d·log2 K) and recall (k·log2 K), from one alphabet size per task.")
        rows.append({"task": task, "kind": kind, "bits_per_symbol": per_symbol, "flat_bits": flat, "text": text})
    return pd.DataFrame(rows, columns=["task", "kind", "bits_per_symbol", "flat_bits", "text"])


# ---------------------------------------------------------------------------------------------- the fit


def left_out_reason(window) -> str | None:
    """Why a size is not a point of the fit, or None when it is one."""
    if window.verdict == "offset_shortcut":
        return "offset shortcut"
    if window.verdict == "budget_bound":
        return "budget-bound"
    if window.censored == "below":
        return f"< {format_distance(window.min_distance)}: below the smallest distance"
    if window.censored == "above":
        return f"≥ {format_distance(window.max_distance)}: beyond the largest distance"
    return None


def least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Slope, intercept and R² of y on x."""
    slope, intercept = np.polyfit(x, y, 1)
    total = np.sum((y - y.mean()) ** 2)
    r_squared = 1.0 - np.sum((y - intercept - slope * x) ** 2) / total if total > 0 else 1.0
    return float(slope), float(intercept), float(r_squared)


def fit_table(windows: pd.DataFrame, table: pd.DataFrame, resamples: int = RESAMPLES) -> pd.DataFrame:
    """One row per (family, task, protocol, budget): α, its 95% seed-bootstrap CI, R², the sizes used and left
    out (with why), and the bits per state number at the family's largest window. A family whose state grows
    with the sequence is listed, not fitted."""
    curve = table[(table.status == "finished") & table.accuracy.notna() & (table.heldout != True)]  # noqa: E712
    rows = []
    for (family, *setting), cells in windows.groupby(["family", *SETTING], sort=True):
        cells = cells.sort_values("state_size")
        reasons = [left_out_reason(w) for w in cells.itertuples(index=False)]
        used = cells[[r is None for r in reasons]]
        row = dict(model=family, **dict(zip(SETTING, setting)), n_points=len(used), resamples=0,
                   censored_resamples=0, sizes_used=" ".join(str(int(s)) for s in used.state_size),
                   sizes_left_out="; ".join(f"{int(s)} ({r})" for s, r in zip(cells.state_size, reasons) if r),
                   **largest_window_bits(cells))
        if cells.state_grows.any():
            row.update(n_points=0, sizes_used="", sizes_left_out="", note="not fitted: its state_size reads the "
                       "sequence length (a key-value cache), so its state size measures the length, not a capacity")
            rows.append(row)
            continue
        # The same fit over every size with a window inside the range, budget-bound ones included: how the
        # window reached at this budget scales with the state. Not a capacity law where sizes were still growing.
        numeric = cells[(cells.censored == "none") & (cells.verdict != "offset_shortcut")]
        if len(numeric) >= 2:
            law = power_law(numeric, curve, resamples)
            row.update(alpha_at_budget=law["alpha"], r_squared_at_budget=law["r_squared"],
                       alpha_at_budget_low=law["alpha_low"], alpha_at_budget_high=law["alpha_high"])
        if len(used) < 2:
            row["note"] = f"not fitted: {len(used)} size(s) with a measured window, a fit needs 2"
        else:
            row.update(power_law(used, curve, resamples), note="2 points: R² is 1 by construction" if len(used) == 2
                       else "")
        rows.append(row)
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def power_law(sizes: pd.DataFrame, curve: pd.DataFrame, resamples: int) -> dict:
    """α, intercept and R² of log2 window on log2 state size over ``sizes``, with α's seed-bootstrap CI."""
    x = np.log2(sizes.state_size.to_numpy(float))
    alpha, intercept, r_squared = least_squares(x, np.log2(sizes.window.to_numpy(float)))
    return dict(alpha=alpha, intercept=intercept, r_squared=r_squared, **alpha_interval(sizes, curve, x, resamples))


def alpha_interval(used: pd.DataFrame, curve: pd.DataFrame, x: np.ndarray, resamples: int) -> dict:
    """Percentile CI of α: seeds resampled independently within each size, each size's window recomputed from
    its resampled mean curve (a censored one clipped to its bound), and the line refitted."""
    samples, censored = [], np.zeros(resamples, dtype=bool)
    for i, window in enumerate(used.itertuples(index=False)):
        cell = curve[np.logical_and.reduce([curve[k] == getattr(window, k) for k in KEYS])]
        seeds, distances, per_seed = seed_matrix(cell)
        if len(seeds) < 2:
            return {"alpha_low": math.nan, "alpha_high": math.nan}
        log_windows = bootstrap_windows(distances, per_seed, window.threshold, resamples, BOOTSTRAP_SEED + i)
        censored |= ~np.isfinite(log_windows)
        samples.append(np.clip(log_windows, math.log2(distances[0]), math.log2(distances[-1])))
    centred = x - x.mean()
    slopes = np.stack(samples, axis=1) @ centred / np.sum(centred ** 2)  # (R,): least squares per resample
    tail = (1.0 - CI_LEVEL) / 2.0
    low, high = np.quantile(slopes, [tail, 1.0 - tail], method="inverted_cdf")
    return {"alpha_low": float(low), "alpha_high": float(high), "resamples": resamples,
            "censored_resamples": int(censored.sum())}


def largest_window_bits(cells: pd.DataFrame) -> dict:
    """Bits per state number at the family's largest measured window (verdict measured, not censored); with none,
    at its largest '≥' window (verdict at least), a lower bound when the floor grows with the distance."""
    claimed = cells[cells.verdict.isin(["measured", "at_least"]) & (cells.censored != "below")
                    & cells.bits_per_number.notna()]
    if claimed.empty:
        return {"bits_per_number": math.nan, "bits_text": "", "floor_bits": math.nan, "num_symbols": math.nan}
    best = claimed.assign(measured=claimed.censored == "none").sort_values(
        ["measured", "window", "state_size"], ascending=[False, False, True]).iloc[0]
    lower = best.censored == "above" and FLOORS.get(best.task) == "per_distance"
    return {"bits_per_number": best.bits_per_number, "floor_bits": best.bits_needed, "num_symbols": best.num_symbols,
            "bits_text": f"{'≥ ' if lower else ''}{best.bits_per_number:.2g} at S = {int(best.state_size)} "
                         f"(window {best.window_text})"}


def fitted(window, fits: pd.DataFrame) -> bool:
    """Whether this cell is a point of its family's fit."""
    fit = fits[(fits.model == window.family) & np.logical_and.reduce([fits[k] == getattr(window, k)
                                                                      for k in SETTING])]
    return bool(len(fit)) and pd.notna(fit.alpha.iloc[0]) and str(int(window.state_size)) in \
        fit.sizes_used.iloc[0].split()


# ---------------------------------------------------------------------------------------------- sentences


def sizes_text(sizes) -> str:
    return ", ".join(str(int(s)) for s in sorted(sizes))


def limit_summary(cells: pd.DataFrame) -> str:
    """'capacity-limited at every size (S = 16, 64)', or each kind with its sizes ('budget-limited at S ≥ 128')."""
    cells = cells.sort_values("state_size")
    kinds = list(dict.fromkeys(cells.limited_by))
    if len(kinds) == 1:
        return f"{LIMITS[kinds[0]]} at every size (S = {sizes_text(cells.state_size)})"
    parts = []
    for kind in kinds:
        sizes = set(cells[cells.limited_by == kind].state_size)
        if len(sizes) > 1 and sizes == set(cells.state_size.iloc[-len(sizes):]):
            parts.append(f"{LIMITS[kind]} at S ≥ {int(min(sizes))}")
        elif len(sizes) > 1 and sizes == set(cells.state_size.iloc[:len(sizes)]):
            parts.append(f"{LIMITS[kind]} at S ≤ {int(max(sizes))}")
        else:
            parts.append(f"{LIMITS[kind]} at S = {sizes_text(sizes)}")
    return "; ".join(parts)


def findings(capacity: Capacity) -> list[str]:
    """One plain paragraph per family and setting, generated from the numbers."""
    lines = []
    for fit in capacity.fits.itertuples(index=False):
        cells = capacity.windows[(capacity.windows.model == fit.model) & np.logical_and.reduce(
            [capacity.windows[k] == getattr(fit, k) for k in SETTING])]
        text = f"**{fit.model}** on {fit.task} ({fit.protocol}, at most {fit.max_steps} steps): "
        if pd.notna(fit.alpha):
            ci = f"95% CI {fit.alpha_low:.2f} to {fit.alpha_high:.2f}" if pd.notna(fit.alpha_low) else "CI undefined"
            still = (cells[cells.in_fit].limited_by == "budget").any()
            text += (f"window ∝ S^{fit.alpha:.2f} ({ci}, R² {fit.r_squared:.2f}, sizes {fit.sizes_used}); "
                     + ("the window was still growing with steps at some fitted sizes, so α holds for this budget "
                        "only; " if still else "at every fitted size the window had stopped growing with steps; "))
        else:
            windows = ", ".join(f"{w} at S = {int(s)}" for w, s in zip(cells.claim, cells.state_size))
            text += f"{fit.note}; windows {windows}; "
            if pd.notna(fit.alpha_at_budget):
                ci = (f"95% CI {fit.alpha_at_budget_low:.2f} to {fit.alpha_at_budget_high:.2f}"
                      if pd.notna(fit.alpha_at_budget_low) else "CI undefined")
                reached = ", ".join(f"{w} at S = {int(s)}" for w, s, c in
                                    zip(cells.window_text, cells.state_size, cells.censored) if c == "none")
                text += (f"the windows reached within the budget ({reached}) scale as S^{fit.alpha_at_budget:.2f} "
                         f"({ci}, R² {fit.r_squared_at_budget:.2f}): how far this budget gets, not a capacity; ")
        text += limit_summary(cells) + "."
        if pd.notna(fit.bits_per_number) and FLOORS.get(fit.task) == "per_distance":
            low, high = REFERENCE_BITS
            where = (f"below {low:g} bit" if fit.bits_per_number < low else f"above {high:g} bits"
                     if fit.bits_per_number > high else f"between {low:g} and {high:g} bits")
            text += f" Bits per state number at its largest window: {fit.bits_text}, {where}."
        if fit.sizes_left_out and pd.notna(fit.alpha):
            text += f" Left out of the fit: {fit.sizes_left_out}."
        lines.append(text)
    if capacity.unsized:
        lines.append(f"{capacity.unsized} finished run(s) recorded no state_size and are left out of this section.")
    return lines


READING = (
    "Each model size is its own cell: its lr chosen on validation, its effective window, CI and verdict computed as "
    "in the effective-window table, over seeds. **Window against state size** (log-log): filled circles are "
    "measured windows, triangles censored ones at their bound (▲ ≥ the largest distance, ▼ < the smallest), "
    "hollow markers budget-bound ones. **The fit**: for each family with a fixed state and at least 2 measured "
    "sizes, the least-squares slope α of log window against log state size (window ∝ S^α; dashed); its 95% CI "
    "resamples seeds within each size ({resamples} resamples), recomputes each size's window and refits; R² is "
    "of the fit on the point estimates. Censored, budget-bound and offset-shortcut sizes are left out and listed. "
    "**α at this budget** is the same fit over every size whose window lies inside the distances, budget-bound "
    "ones included: how far the budget gets at each size, not a capacity law. "
    "A family whose state grows with the sequence (a key-value cache, 2·L·d_model per layer) is drawn but not "
    "fitted. **The information floor** (grey): the window a state of S numbers could hold at b bits per number, "
    "for b = {bits}; {reference} Bits per state number = bits the task needs at the window / S. **Window "
    "against training budget**: the window of the mean validation curve at every evaluation. A size is "
    "**budget-limited** when, over the last half of the evaluations, the least-squares slope of log2 window "
    "against step is positive at more than {z:g} standard errors (from the residuals) and the fitted growth over "
    "those evaluations is at least {tolerance:g} doublings; **capacity-limited** "
    "otherwise, or when no seed's run hit the step cap; **not limited within the distances measured** when its "
    "window is ≥ the largest distance. A window < the smallest distance cannot move, so there the verdict "
    "decides (budget-bound: budget-limited). Capacity-limited means the window had stopped growing within this "
    "budget; an optimisation plateau looks the same, which is what α across sizes tells apart. Tables: "
    "[capacity_fit.csv](capacity_fit.csv), [capacity_windows.csv](capacity_windows.csv).")
REFERENCE_TEXT = ("1 bit is a binary code per number; 5 bits follows Collins, Sohl-Dickstein & Sussillo (2017, "
                  "ICLR), who found common RNNs store about 5 bits per parameter and about one real number per "
                  "hidden unit, so 5 bits per state number is a generous ceiling for one real number.")
NOT_ENOUGH = ("The capacity analysis needs one model on one task at two or more state sizes (for example "
              "`model.hidden_size=16,64,256`); no (model, task) here has finished runs at more than one recorded "
              "state_size.")


def reading(resamples: int) -> str:
    """The section's definitions, with this report's numbers."""
    return READING.format(resamples=resamples, bits=" and ".join(f"{b:g}" for b in REFERENCE_BITS),
                          reference=REFERENCE_TEXT, z=Z, tolerance=GROWTH_TOLERANCE)


def fit_rows(fits: pd.DataFrame) -> pd.DataFrame:
    """The fit table as the report shows it: numbers formatted, '' where undefined."""
    def number(value, form="{:.2f}"):
        return form.format(value) if pd.notna(value) else ""

    return fits.assign(alpha=[number(a) if pd.notna(a) else "not fitted" for a in fits.alpha],
                       ci=[f"[{lo:.2f}, {hi:.2f}]" if pd.notna(lo) else "" for lo, hi in
                           zip(fits.alpha_low, fits.alpha_high)],
                       r_squared=fits.r_squared.map(number), bits_text=fits.bits_text.fillna(""),
                       at_budget=[f"{a:.2f} [{lo:.2f}, {hi:.2f}]" if pd.notna(lo) else number(a) for a, lo, hi in
                                  zip(fits.alpha_at_budget, fits.alpha_at_budget_low, fits.alpha_at_budget_high)])
