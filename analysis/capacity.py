"""The capacity law: the effective window against the state a model carries, and what limits it.

The seed claim is that attention's reference window is unlimited and GRU's and LSTM's limited. Limited by what?
Capacity (the state is too small to hold what lies d steps back) or trainability (gradient descent does not
find the solution within the budget)? Collins, Sohl-Dickstein & Sussillo (2017, "Capacity and Trainability in
Recurrent Neural Networks", ICLR) found that common RNNs store about 5 bits per parameter and about one real
number per hidden unit; Zoology (Arora et al. 2023, arXiv:2312.04927) showed that fixed-state models need a state
that grows with what must be recalled.

Everything here is a pure function of the report's tables; nothing trains, and nothing is decided here:

- **Sizes.** Each model size is its own cell (analysis.records names sized models by the settings that differ),
  with the window and verdict of the effective-window table (analysis.window, by harness.verdict).
- **Limited by** (per size, from the ladder): ``capacity`` when the window is measured (more training did not
  move it; an optimisation plateau looks the same, which is what α across sizes tells apart); ``budget`` when it
  is budget-bound and some seed shows growth (RunDecision.still_growing: the window moved up, or the accuracy
  past it rose by more than its 95% interval); ``undetermined`` when budget-bound without either growth or a
  plateau shown; ``beyond_range`` when at least the longest distance; ``not_learned``; ``offset_shortcut``.
- **The fit.** Per fixed-state family, task and protocol: least squares of log2 window on log2 state size over
  the sizes measured with an uncensored window, on the median windows: α (window ∝ S^α). The spread is the
  range of α over seeds (each seed's windows fitted alone), never a bootstrap over 2 or 3 seeds. A family whose
  state grows with the sequence (``state_grows_with_length``: a key-value cache) is drawn but not fitted.
- **The information floor.** On n-back a window of d needs the last d symbols, d·log2 K bits; a state of S
  numbers at b bits each holds d = S·b / log2 K, drawn for b = 1 and 5 (REFERENCE_BITS). On recall, k pending
  values need k·log2 K bits at every distance, a floor flat in d.
- **Items held against state** (issue 25; ``fit_items_held``, ``items_held_points``): the load axis
  (analysis.load_axis) reads, per size and seed, how many items a model holds out to the longest distance.
  α of items held ∝ S^α is fitted per seed over its decided sizes (least squares in log-log), and given as the
  median over seeds with its range; a point that is not decided (budget-bound, every load reaching, a bracket
  left open) is never fitted, and where fewer than 2 decided sizes remain in every seed, α is "undetermined"
  with the reason. Beside it, the same floor in items: a state of S numbers at b bits holds at most
  S·b / (bits per item) items, log2 K bits for an item that is one of K values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.window import KEYS, curve_of, of_cell
from harness import verdict

REFERENCE_BITS = (1.0, 5.0)  # bits per state number drawn as floors: a binary code, and Collins et al.'s ~5
FLOORS = {"nback": "per_distance", "recall": "flat"}  # tasks whose bits needed are known (module docstring)
SETTING = ["task", "protocol", "batch_size"]  # what one fit is of, with the model family
LIMITS = {"capacity": "capacity-limited", "budget": "budget-limited", "undetermined": "undetermined",
          "beyond_range": "not limited within the distances measured", "not_learned": "not learned",
          "offset_shortcut": "offset shortcut"}
SIZE_COLUMNS = ["model", "variant", *SETTING, "state_size", "state_grows", "params", "lr", "n_seeds", "window",
                "censored", "window_text", "range_text", "verdict", "claim", "limited_by", "min_distance",
                "max_distance", "steps_max", "bits_needed", "bits_per_number", "in_fit"]
FIT_COLUMNS = ["model", *SETTING, "alpha", "alpha_min", "alpha_max", "intercept", "r_squared", "n_points",
               "sizes_used", "sizes_left_out", "bits_text", "note"]
GROWTH_COLUMNS = ["model", "variant", *SETTING, "state_size", "step", "window", "censored", "steps_max"]


@dataclass
class Capacity:
    windows: pd.DataFrame  # one row per size
    fits: pd.DataFrame  # one row per family and setting
    growth: pd.DataFrame  # the median validation window over seeds at each rung
    floors: pd.DataFrame  # per task: the kind of floor and its numbers

    @property
    def enough(self) -> bool:
        return bool(len(self.windows)) and bool((self.windows.groupby(["model", "task"]).state_size.nunique() >= 2)
                                                .any())


def analyse(windows: pd.DataFrame, seeds: pd.DataFrame, runs: pd.DataFrame, rungs: pd.DataFrame,
            records: pd.DataFrame, fraction: float = verdict.FRACTION) -> Capacity:
    """The capacity tables from the report's (analysis.tables.Report): ``windows`` the cell table, ``seeds`` the
    seed windows, ``runs`` the run verdicts, ``rungs`` the validation curves, ``records`` the run table."""
    info = records[records.state_size.notna()].groupby("model").agg(
        family=("family", "first"), state_size=("state_size", "median"),
        state_grows=("state_grows_with_length", lambda v: bool(v.fillna(False).any())),
        num_symbols=("run_dir", lambda d: alphabet(records, d, "num_symbols")),
        instances=("run_dir", lambda d: alphabet(records, d, "instances")))
    sized = windows[windows.model.isin(info.index)]
    rows = []
    for cell in sized.itertuples(index=False):
        key = tuple(getattr(cell, k) for k in KEYS)
        size = info.loc[cell.model]
        cell_runs = runs[of_cell(runs, key)]
        needed = floor_bits(cell.task, cell.window, size.num_symbols, size.instances)
        rows.append({"model": size.family, "variant": cell.model, **{k: getattr(cell, k) for k in SETTING},
                     "state_size": size.state_size, "state_grows": size.state_grows, "params": cell.params,
                     "lr": cell.lr, "n_seeds": cell.n_seeds, "window": cell.window, "censored": cell.censored,
                     "window_text": cell.window_text, "range_text": cell.range_text, "verdict": cell.verdict,
                     "claim": cell.claim, "limited_by": limited_by(cell.verdict, cell_runs),
                     "min_distance": cell.min_distance, "max_distance": cell.max_distance,
                     "steps_max": cell.steps_max, "bits_needed": needed, "bits_per_number": needed / size.state_size,
                     "in_fit": False})
    table = pd.DataFrame(rows, columns=SIZE_COLUMNS)
    fits = fit_table(table, seeds, info)
    table["in_fit"] = [any(f.model == r.model and all(getattr(f, k) == getattr(r, k) for k in SETTING) and
                           str(int(r.state_size)) in str(f.sizes_used).split() for f in fits.itertuples())
                       for r in table.itertuples()]
    return Capacity(table.sort_values(["task", "protocol", "model", "state_size"]).reset_index(drop=True), fits,
                    growth_table(rungs, info, fraction), floors(table, info))


def alphabet(records: pd.DataFrame, run_dirs, key: str) -> float:
    """The task's alphabet size K or item count k (task config ``num_symbols`` / ``instances``), NaN if absent."""
    values = records[records.run_dir.isin(run_dirs)].config.map(lambda c: (c.get("task") or {}).get(key))
    values = values.dropna().unique()
    return float(values[0]) if len(values) == 1 else math.nan


def limited_by(cell_verdict: str, runs: pd.DataFrame) -> str:
    """The clause of the module docstring that applies to one size."""
    if cell_verdict == "budget_bound":
        return "budget" if runs.still_growing.fillna(False).astype(bool).any() else "undetermined"
    return {"measured": "capacity", "at_least": "beyond_range"}.get(cell_verdict, cell_verdict)


def least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(slope, intercept, R²) of y on x."""
    slope, intercept = np.polyfit(x, y, 1)
    residual, total = np.sum((y - (slope * x + intercept)) ** 2), np.sum((y - y.mean()) ** 2)
    return float(slope), float(intercept), float(1 - residual / total) if total > 0 else 1.0


def fit_table(table: pd.DataFrame, seeds: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Per fixed-state family and setting: α over the measured, uncensored sizes, and its range over seeds."""
    rows = []
    for key, group in table.groupby(["model", *SETTING], sort=True):
        used = group[(group.verdict == "measured") & (group.censored == "none")].sort_values("state_size")
        left = group[~group.index.isin(used.index)]
        row = {**dict(zip(["model", *SETTING], key)), "n_points": len(used),
               "sizes_used": " ".join(f"{s:.0f}" for s in used.state_size),
               "sizes_left_out": "; ".join(f"S={r.state_size:.0f}: {LIMITS.get(r.limited_by, r.limited_by)} "
                                           f"({r.window_text if r.window == r.window else 'no window'})"
                                           for r in left.itertuples())}
        if group.state_grows.any():
            row["note"] = "state grows with the sequence (a key-value cache): drawn, not fitted"
        elif len(used) < 2:
            row["note"] = f"{len(used)} size(s) measured with a window inside the distances: no fit"
        else:
            x, y = np.log2(used.state_size.to_numpy(float)), np.log2(used.window.to_numpy(float))
            row["alpha"], row["intercept"], row["r_squared"] = least_squares(x, y)
            per_seed = seed_alphas(used, seeds)
            if per_seed:
                row["alpha_min"], row["alpha_max"] = min(per_seed), max(per_seed)
            bits = used.bits_per_number.dropna()
            if len(bits):
                row["bits_text"] = f"{bits.iloc[-1]:.2g} at S={used.state_size.iloc[-1]:.0f}"
        rows.append(row)
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def seed_alphas(used: pd.DataFrame, seeds: pd.DataFrame) -> list[float]:
    """α fitted on each seed's own windows in this fit's setting (at each size's lr), over the sizes where that
    seed's window is uncensored."""
    alphas = []
    same = np.logical_and.reduce([seeds[k] == used[k].iloc[0] for k in SETTING])  # this fit's setting only
    cells = pd.MultiIndex.from_arrays([seeds.model, seeds.lr]).isin(list(zip(used.variant, used.lr)))
    picked = seeds[same & cells & (seeds.censored == "none") & seeds.window.notna()]
    sizes = used.set_index("variant").state_size
    for _, rows in picked.groupby("seed"):
        if rows.model.nunique() >= 2:
            x = np.log2(rows.model.map(sizes).to_numpy(float))
            alphas.append(least_squares(x, np.log2(rows.window.to_numpy(float)))[0])
    return alphas


def growth_table(rungs: pd.DataFrame, info: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """The window of each run's validation curve at each rung, median over seeds, per size."""
    sized = rungs[rungs.model.isin(info.index)]
    rows = []
    for (variant, task, protocol, batch, step), group in sized.groupby(["model", "task", "protocol", "batch_size",
                                                                        "rung"], sort=True):
        at = verdict.threshold(group.chance_accuracy.max(), fraction)
        windows = [verdict.locate(curve_of(run), at) for _, run in group.groupby("run_dir")]
        middle = verdict.median_window(windows)[0]
        rows.append({"model": info.loc[variant].family, "variant": variant, "task": task, "protocol": protocol,
                     "batch_size": batch, "state_size": info.loc[variant].state_size, "step": step,
                     "window": middle.value, "censored": middle.censored, "steps_max": group.steps.max()})
    return pd.DataFrame(rows, columns=GROWTH_COLUMNS)


def floor_bits(task: str, window: float, num_symbols, instances) -> float:
    """Bits a state must hold for a window on ``task``: n-back d·log2 K; recall k·log2 K at any d; else NaN."""
    kind = FLOORS.get(task)
    if kind is None or pd.isna(num_symbols) or pd.isna(window) or (kind == "flat" and pd.isna(instances)):
        return math.nan
    return float((window if kind == "per_distance" else instances) * math.log2(num_symbols))


def floors(table: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Per task: the kind of floor (per_distance, flat or none), log2 K, the flat floor's bits, and a sentence."""
    rows = []
    for task, cells in table.groupby("task", sort=True):
        variants = info.loc[cells.variant.unique()]
        symbols, items = variants.num_symbols.dropna().unique(), variants.instances.dropna().unique()
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
            text = f"{task}: no floor drawn; the bits a window needs are defined here for n-back and recall only."
        rows.append({"task": task, "kind": kind, "bits_per_symbol": per_symbol, "flat_bits": flat, "text": text})
    return pd.DataFrame(rows, columns=["task", "kind", "bits_per_symbol", "flat_bits", "text"])


def findings(capacity: Capacity) -> list[str]:
    """One plain sentence per family and setting, generated from the numbers."""
    lines = []
    for fit in capacity.fits.itertuples(index=False):
        cells = capacity.windows[(capacity.windows.model == fit.model) & np.logical_and.reduce(
            [capacity.windows[k] == getattr(fit, k) for k in SETTING])]
        sizes = ", ".join(f"S={s:.0f}: {LIMITS.get(k, k)}, {c}" for s, k, c in
                          zip(cells.state_size, cells.limited_by, cells.claim))
        text = f"**{fit.model}** on {fit.task} ({fit.protocol}): "
        if pd.notna(fit.alpha):
            spread = (f", α over seeds {fit.alpha_min:.2f} to {fit.alpha_max:.2f}" if pd.notna(fit.alpha_min)
                      else "")
            text += f"window ∝ S^{fit.alpha:.2f} (R² {fit.r_squared:.2f}, sizes {fit.sizes_used}{spread}). "
        else:
            text += f"{fit.note}. "
        lines.append(text + sizes + ".")
    return lines


READING = (
    "Each model size is its own cell, with the window and verdict of the effective-window table. **Window against "
    "state size** (log-log): filled circles are measured windows, triangles censored ones at their bound, hollow "
    "markers windows no verdict allows. **The fit**: for each family with a fixed state and at least 2 measured "
    "sizes with a window inside the distances, the least-squares slope α of log window on log state size (window ∝ "
    "S^α; dashed), with its range over seeds (each seed fitted alone). **Limited by**, from the budget ladder "
    "(harness/verdict.py, clause 4): capacity-limited when more training did not move the window; budget-limited "
    "when it still grew at the top rung; undetermined when neither growth nor a plateau was shown. **The "
    "information floor** (grey): the window a state of S numbers could hold at b bits per number, for b = {bits}; "
    "{reference} Tables: [capacity_fit.csv](capacity_fit.csv), [capacity_windows.csv](capacity_windows.csv).")
REFERENCE_TEXT = ("1 bit is a binary code per number; 5 bits follows Collins, Sohl-Dickstein & Sussillo (2017, "
                  "ICLR), who found common RNNs store about 5 bits per parameter and about one real number per "
                  "hidden unit.")
NOT_ENOUGH = ("The capacity analysis needs one model on one task at two or more state sizes (for example "
              "`model.hidden_size=16,64,256`); no (model, task) here has finished runs at more than one recorded "
              "state_size.")


def reading() -> str:
    return READING.format(bits=" and ".join(f"{b:g}" for b in REFERENCE_BITS), reference=REFERENCE_TEXT)


def fit_rows(fits: pd.DataFrame) -> pd.DataFrame:
    """The fit table as the report shows it: numbers formatted, '' where undefined."""
    return fits.assign(alpha=[f"{a:.2f}" if pd.notna(a) else "not fitted" for a in fits.alpha],
                       spread=[f"{lo:.2f} to {hi:.2f}" if pd.notna(lo) else "" for lo, hi in
                               zip(fits.alpha_min, fits.alpha_max)],
                       r_squared=fits.r_squared.map(lambda v: f"{v:.2f}" if pd.notna(v) else ""),
                       bits_text=fits.bits_text.fillna(""))


# ---------------------------------------------------------------------------------------------- items held


HELD_INPUT = ["model", "state_size", "seed", "items_held", "decided"]  # optional: task, verdict, bits_per_item, lr
SAME_ACROSS = ("lr", "rungs")  # settings every point of one fit should share; the note says where they differ
HELD_FIT_COLUMNS = ["alpha", "alpha_min", "alpha_max", "seeds_fitted", "sizes_used", "left_out", "status", "reason",
                    "text"]
WHY_NOT = {"budget_bound": "budget-bound", "all_reach": "every load reaches the longest distance",
           "none_reach": "no load reaches the longest distance", "undecided": "bracket undecided",
           "non_monotone": "loads not monotone"}


def held_input(points: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The checked input of the items-held law and the columns one fit is of (model, and task where given)."""
    missing = [c for c in HELD_INPUT if c not in points.columns]
    if missing:
        raise ValueError(f"items held: missing columns {missing}; needs {HELD_INPUT}, got {list(points.columns)}")
    keys = ["model"] + (["task"] if "task" in points.columns else [])
    repeated = points[points.duplicated([*keys, "state_size", "seed"], keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        raise ValueError(f"items held: more than one row for {', '.join(f'{k}={first[k]}' for k in keys)}, "
                         f"state_size={first.state_size}, seed={first.seed}; give one row per size and seed")
    if not points.decided.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        raise ValueError(f"items held: decided must be True or False, got {sorted(map(repr, set(points.decided)))}")
    bad = points[points.decided.astype(bool) & ~(points.items_held.astype(float) >= 1)]
    if len(bad):
        raise ValueError(f"items held: a decided point needs items_held >= 1, got {bad.items_held.tolist()[0]!r} at "
                         f"state_size={bad.state_size.iloc[0]}")
    return points.assign(decided=points.decided.astype(bool)), keys


def why_not(point) -> str:
    verdict = getattr(point, "verdict", None)
    return WHY_NOT.get(verdict, verdict) if isinstance(verdict, str) else "not decided"


def fit_items_held(points: pd.DataFrame) -> pd.DataFrame:
    """Per model (and task): α of items held ∝ state_size^α, from ``points`` (HELD_INPUT: one row per size and
    seed, ``decided`` False for any point whose items held is not decided; ``verdict``, analysis.load_axis's,
    names why). α is the median of the seeds' own fits over their decided sizes, with their range."""
    points, keys = held_input(points)
    rows = []
    for key, group in points.groupby(keys, sort=True):
        used = group[group.decided]
        alphas = held_alphas(used)
        row = {**dict(zip(keys, key)), "seeds_fitted": len(alphas),
               "sizes_used": " ".join(f"{s:g}" for s in sorted(used.state_size.unique())),
               "left_out": "; ".join(f"S={p.state_size:g} seed {p.seed}: {why_not(p)}"
                                     for p in group[~group.decided].itertuples())}
        unfitted = [str(seed) for seed in sorted(group.seed.unique()) if seed not in alphas]
        notes = [f"seed {', '.join(unfitted)} with fewer than 2 decided sizes"] if alphas and unfitted else []
        notes += [f"points differ in {c}: {', '.join(sorted(group[c].astype(str).unique()))}"
                  for c in SAME_ACROSS if c in group.columns and group[c].astype(str).nunique() > 1]
        if alphas:
            low, high, seeds = min(alphas.values()), max(alphas.values()), len(alphas)
            row.update(alpha=float(np.median(list(alphas.values()))), alpha_min=low, alpha_max=high,
                       status="fitted", reason="; ".join(notes))
            row["text"] = (f"items held ∝ S^{row['alpha']:.2f} ({low:.2f} to {high:.2f} over {seeds} seed"
                           f"{'s' * (seeds > 1)}; sizes {row['sizes_used']})")
        else:
            row.update(status="undetermined", reason="; ".join([undetermined_reason(group), *notes]))
            row["text"] = f"α undetermined: {row['reason']}"
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *HELD_FIT_COLUMNS])


def held_alphas(used: pd.DataFrame) -> dict:
    """{seed: α} of each seed's decided points, for the seeds with at least 2 decided sizes."""
    alphas = {}
    for seed, seed_points in used.groupby("seed", sort=True):
        if seed_points.state_size.nunique() >= 2:
            x = np.log2(seed_points.state_size.to_numpy(float))
            alphas[seed] = least_squares(x, np.log2(seed_points.items_held.to_numpy(float)))[0]
    return alphas


def undetermined_reason(group: pd.DataFrame) -> str:
    """Why no seed has 2 decided sizes: items held censored at every size, or which points are not decided."""
    verdicts = set(group.verdict) if "verdict" in group.columns else set()
    if verdicts == {"all_reach"}:
        return "items held censored at every size (every load reaches the longest distance): raise the largest load"
    decided = group[group.decided]
    named = ", ".join(f"S={s:g} seed {seed}" for s, seed in zip(decided.state_size, decided.seed)) or "none"
    others = pd.Series([why_not(p) for p in group[~group.decided].itertuples()]).value_counts()
    return (f"fewer than 2 decided sizes in every seed (decided: {named}; not decided: "
            f"{', '.join(f'{count} {why}' for why, count in others.items())})")


def items_floor(state_size: float, bits_per_item: float, bits_per_number: float) -> float:
    """The most items a state of ``state_size`` numbers at ``bits_per_number`` bits each can hold."""
    return state_size * bits_per_number / bits_per_item


def items_held_points(points: pd.DataFrame) -> pd.DataFrame:
    """Per model (and task) and size: the median items held over its decided seeds (NaN where none is decided: drawn
    as not decided, never as a value), how many seeds are decided, and the floor in items at each REFERENCE_BITS
    (from an optional ``bits_per_item`` column; NaN without it)."""
    points, keys = held_input(points)
    rows = []
    for key, group in points.groupby([*keys, "state_size"], sort=True):
        decided = group[group.decided]
        bits = group.bits_per_item.iloc[0] if "bits_per_item" in group.columns else math.nan
        left = "; ".join(f"seed {p.seed}: {why_not(p)}" for p in group[~group.decided].itertuples())
        rows.append({**dict(zip([*keys, "state_size"], key)), "items_held": decided.items_held.median(),
                     "seeds_decided": len(decided), "seeds": len(group), "not_decided": left,
                     **{f"floor_{b:g}_bits": items_floor(key[-1], bits, b) for b in REFERENCE_BITS}})
    return pd.DataFrame(rows)


def bits_per_item(num_values: int) -> float:
    """The bits of one held item that is one of ``num_values`` equally likely values (recall's num_symbols,
    assoc_recall's num_values): a lower bound, so the floor in items is an upper bound on what a state holds."""
    return math.log2(num_values)
