"""The effective context window of every cell, located on the measured curves and judged by harness.verdict.

Three tables, each a pure function of the tidy tables (analysis.records):

- ``run_verdicts(rungs)``: per run, harness.verdict.decide_run on its validation curves at each rung, at the
  report's threshold (the loop judged at the default one; a run it stopped that the rule would still let climb
  at another threshold counts as still climbing);
- ``seed_windows(table, runs)``: per cell and seed, the window located on the seed's test curve (the union of
  its runs' fine curves), with its resolution, and the seed's verdict;
- ``window_table(table, rungs)``: per cell, the median window over seeds with the range, an interval only with
  enough seeds, the budget each seed trained on, and the cell's verdict (clause 5, held-out checks included).

The rule itself is stated once, in harness/verdict.py; nothing here decides anything on its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.records import CELL
from harness import verdict

KEYS = CELL + ["lr"]  # a window's cell (task, protocol, model, batch size), at one learning rate
DEFAULT_FRACTION = verdict.FRACTION
RUN_COLUMNS = KEYS + ["seed", "run_dir", "steps", "max_steps", "stop_reason", "verdict", "val_window", "why",
                      "change", "change_error", "moved", "still_growing"]
SEED_COLUMNS = KEYS + ["seed", "verdict", "window", "censored", "window_text", "resolution", "deciding_distance",
                       "val_window", "val_censored", "steps", "sequences", "params"]
GAP_COLUMNS = KEYS + ["distance", "accuracy", "n", "below", "above", "expected", "gap", "noise", "seeds",
                      "seeds_flagged", "shortcut"]
PENDING_COLUMNS = KEYS + ["seed", "pending_lr"]  # runs a sweep still owes a cell, and the rate each will run at
WINDOW_COLUMNS = KEYS + ["verdict", "verdict_text", "claim", "window", "censored", "window_text", "resolution",
                         "deciding_distance", "val_window_text", "agree", "range_text", "interval_text",
                         "seed_windows", "n_seeds", "seeds", "steps_min", "steps_max",
                         "sequences_max", "budget_text", "min_distance", "max_distance", "max_trained_distance",
                         "chance_accuracy", "threshold_fraction", "threshold", "params", "why"]


def curve_of(points: pd.DataFrame) -> list[verdict.Point]:
    """A verdict curve from rows with distance, accuracy, n and optionally answers (one row per distance)."""
    points = points.sort_values("distance")
    answers = points.answers.fillna("") if "answers" in points else [""] * len(points)
    return [verdict.Point(int(d), float(a), int(k), str(s)) for d, a, k, s in zip(points.distance, points.accuracy,
                                                                                  points.n, answers)]


def run_verdicts(rungs: pd.DataFrame, fraction: float = DEFAULT_FRACTION) -> pd.DataFrame:
    """One row per run: the rule's verdict from its validation curves at each rung (clause 4)."""
    rows = []
    for run_dir, run in rungs.groupby("run_dir", sort=True):
        first = run.iloc[0]
        curves = [curve_of(points) for _, points in run.groupby("rung", sort=True)]
        made = verdict.decide_run(curves, first.chance_accuracy, top=run.rung.max() >= first.max_steps,
                                  at_target=first.stop_reason == "target", fraction=fraction)
        rows.append({**{k: first[k] for k in KEYS}, "seed": first.seed, "run_dir": run_dir, "steps": first.steps,
                     "max_steps": first.max_steps, "stop_reason": first.stop_reason, "verdict": made.verdict,
                     "val_window": made.window.text, "why": made.why, "change": made.change,
                     "change_error": made.change_error, "moved": made.moved, "still_growing": made.still_growing})
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def seed_windows(table: pd.DataFrame, runs: pd.DataFrame, fraction: float = DEFAULT_FRACTION) -> pd.DataFrame:
    """One row per cell and seed: the window of the seed's test curve (None while no run of it is final), and the
    window of its validation curve at the last rung (``val_window``), which is what the verdict reads."""
    measured = table[(table.status == "finished") & table.accuracy.notna()]
    rows = []
    for key, seed_runs in runs.groupby(KEYS + ["seed"], sort=True, dropna=False):
        points = measured[measured.run_dir.isin(seed_runs.run_dir)]
        row = {**dict(zip(KEYS + ["seed"], key)), "steps": seed_runs.steps.max(),
               "sequences": seed_runs.steps.max() * key[KEYS.index("batch_size")],
               "params": points.params.median() if len(points) else np.nan}
        windows = []
        if len(points):
            at = verdict.threshold(points.chance_accuracy.max(), fraction)
            window = verdict.locate(curve_of(points.groupby("distance", as_index=False)[["accuracy", "n"]].mean()),
                                    at)
            val = points.groupby("distance", as_index=False).agg(accuracy=("val_accuracy", "mean"),
                                                                 n=("val_n", "mean"))
            val_window = verdict.locate(curve_of(val), at)
            row.update(window=window.value, censored=window.censored, window_text=window.text,
                       resolution=window.resolution, deciding_distance=window.deciding,
                       val_window=val_window.value, val_censored=val_window.censored)
            windows.append(val_window)
        row["verdict"] = verdict.decide_cell(list(seed_runs.verdict), windows, [])
        rows.append(row)
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


def heldout_gaps(rungs: pd.DataFrame, fraction: float = DEFAULT_FRACTION) -> pd.DataFrame:
    """Per cell and held-out distance with trained neighbours: clause 5's check on the validation curve of each
    run's last read rung, each seed on its own (flagged where a majority of seeds show the deficit); the
    accuracies shown pool the seeds' positions."""
    last = rungs[rungs.rung == rungs.groupby("run_dir").rung.transform("max")]
    rows = []
    for key, cell in last.groupby(KEYS, sort=True, dropna=False):
        curves = [curve_of(run) for _, run in cell.groupby("run_dir", sort=True)]
        at = verdict.threshold(float(cell.chance_accuracy.max()), fraction)
        checks = verdict.shortcut_check(curves, set(cell.distance[cell.trained.astype(bool)]),
                                        set(cell.distance[cell.heldout.astype(bool)]), at)
        rows += [{**dict(zip(KEYS, key)), "distance": c.distance, "accuracy": c.accuracy, "n": c.n, "below": c.below,
                  "above": c.above, "expected": c.expected, "gap": c.gap, "noise": c.noise, "seeds": c.seeds,
                  "seeds_flagged": c.seeds_flagged, "shortcut": c.flagged} for c in checks]
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


def windows_by_rung(rungs: pd.DataFrame, windows: pd.DataFrame, fraction: float = DEFAULT_FRACTION) -> pd.DataFrame:
    """Per cell not yet decided (budget-bound), its window at every rung it reached: the median over seeds of the
    window located on each seed's test curve there. What a sweep that ran out of time can still show."""
    open_cells = windows[windows.verdict == "budget_bound"]
    rows = []
    for cell in open_cells.itertuples(index=False):
        key = tuple(getattr(cell, k) for k in KEYS)
        points = rungs[of_cell(rungs, key) & rungs.test_accuracy.notna()]
        if points.empty:
            continue
        at = verdict.threshold(float(points.chance_accuracy.max()), fraction)
        for step, at_rung in points.groupby("rung", sort=True):
            found = [verdict.locate(curve_of(run.assign(accuracy=run.test_accuracy, n=run.test_n)), at)
                     for _, run in at_rung.groupby("run_dir")]
            middle, low, high = verdict.median_window(found)
            rows.append({**dict(zip(KEYS, key)), "rung": int(step), "seeds": len(found), "window_text": middle.text,
                         "range_text": middle.text if low == high else f"{low.text}–{high.text}"})
    return pd.DataFrame(rows, columns=KEYS + ["rung", "seeds", "window_text", "range_text"])


def as_window(row, stream: str = "") -> verdict.Window:
    """A seed's window from its row: the test curve's, or with stream="val_" the validation curve's."""
    return verdict.Window(int(getattr(row, f"{stream}window")), getattr(row, f"{stream}censored"), None, None, 0)


def window_table(table: pd.DataFrame, rungs: pd.DataFrame, fraction: float = DEFAULT_FRACTION,
                 resamples: int = 2000, runs: pd.DataFrame | None = None, seeds: pd.DataFrame | None = None,
                 gaps: pd.DataFrame | None = None, pending: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per cell: its verdict and, where one is claimed, the median window over seeds with its range.
    ``runs``, ``seeds`` and ``gaps`` (run_verdicts, seed_windows, heldout_gaps) are computed here unless given;
    ``pending`` (KEYS, seed and the rate it will run at, ``pending_lr``) lists runs of a cell its sweep has still
    to run: until they have, the cell is budget-bound, as one with a run paused on the ladder is."""
    verdict.threshold(0.0, fraction)  # refuse a bad fraction before any work
    pending = pd.DataFrame(columns=PENDING_COLUMNS) if pending is None else pending
    runs = run_verdicts(rungs, fraction) if runs is None else runs
    seeds = seed_windows(table, runs, fraction) if seeds is None else seeds
    gaps = heldout_gaps(rungs, fraction) if gaps is None else gaps
    measured = table[(table.status == "finished") & table.accuracy.notna()]
    rows = []
    for key, cell in seeds.groupby(KEYS, sort=True, dropna=False):
        cell_runs = runs[of_cell(runs, key)]
        located = cell[cell.window.notna()]
        windows = [as_window(r) for r in located.itertuples()]
        checks = [verdict.Shortcut(*r[len(KEYS):]) for r in gaps[of_cell(gaps, key)].itertuples(index=False)]
        val_windows = [as_window(r, "val_") for r in located.itertuples()]
        owed = pending[of_cell(pending, key)]
        decided = verdict.decide_cell(list(cell_runs.verdict) + ["climbing"] * len(owed), val_windows,
                                      checks)  # validation decides
        points = measured[of_cell(measured, key)]
        chance = float(rungs[of_cell(rungs, key)].chance_accuracy.max())
        row = {**dict(zip(KEYS, key)), "verdict": decided, "n_seeds": len(cell), "seeds": " ".join(
            str(int(s)) for s in cell.seed), "steps_min": cell.steps.min(), "steps_max": cell.steps.max(),
            "sequences_max": cell.sequences.max(), "chance_accuracy": chance, "threshold_fraction": fraction,
            "threshold": verdict.threshold(chance, fraction), "params": cell.params.median(),
            "seed_windows": " ".join(located.window_text), "why": why(decided, cell_runs, checks, owed)}
        row["budget_text"] = budget_text(cell, key[KEYS.index("batch_size")])
        if len(points):
            trained = points[points.trained.fillna(False).astype(bool)].distance
            row.update(min_distance=points.distance.min(), max_distance=points.distance.max(),
                       max_trained_distance=trained.max() if len(trained) else np.nan)
        if windows:
            middle, low, high = verdict.median_window(windows)
            resolution = located.resolution[located.window_text == middle.text].dropna()
            interval = verdict.seed_interval(windows, resamples)
            row.update(window=middle.value, censored=middle.censored, window_text=middle.text,
                       resolution=resolution.iloc[0] if len(resolution) else np.nan,
                       deciding_distance=located.deciding_distance[located.window_text == middle.text].iloc[0],
                       range_text=middle.text if low == high else f"{low.text}–{high.text}",
                       interval_text=f"[{interval[0].text}, {interval[1].text}]" if interval else "",
                       val_window_text=verdict.median_window(val_windows)[0].text)
        row["agree"] = agree(decided, row.get("censored"))
        row["verdict_text"] = verdict_text(decided, row["agree"], row.get("val_window_text"))
        row["claim"] = claim(row)
        rows.append(row)
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


def budget_text(seeds: pd.DataFrame, batch_size: int) -> str:
    """'500–2000 steps x 32 (16k–64k sequences)': what each seed trained on, up to the rung that decided it."""
    low, high = int(seeds.steps.min()), int(seeds.steps.max())
    steps = f"{low}" if low == high else f"{low}–{high}"
    sequences = f"{low * batch_size / 1000:g}k" if low == high else \
        f"{low * batch_size / 1000:g}k–{high * batch_size / 1000:g}k"
    return f"{steps} steps x {batch_size} ({sequences} sequences)"


def why(decided: str, runs: pd.DataFrame, checks, owed: pd.DataFrame) -> str:
    """The one line behind a cell's verdict (``owed``: its runs the sweep has still to run, window_table's)."""
    if decided == "offset_shortcut":
        first = min((c for c in checks if c.flagged), key=lambda c: c.distance)
        return (f"held-out d={first.distance}: {first.accuracy:.2f} against {first.expected:.2f} from trained "
                f"{first.below} and {first.above}")
    if decided == "budget_bound":
        moving = runs[~runs.verdict.isin(verdict.RUN_FINAL) | (runs.verdict == "budget_bound")]
        paused = moving[moving.verdict == "climbing"]
        parts = [f"{len(paused)} run(s) paused on the ladder at step {int(paused.steps.max())}"] if len(paused) \
            else []
        seeds = sorted(int(s) for s in owed.seed[owed.pending_lr == owed.lr])
        rates = sorted(set(owed.pending_lr[owed.pending_lr != owed.lr]))
        if seeds:
            parts.append(f"{len(seeds)} run(s) not yet run (seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))})")
        if rates:
            parts.append(f"the rate is still being chosen: candidate{'s' * (len(rates) > 1)} "
                         f"{', '.join(f'{r:g}' for r in rates)} not yet run")
        if parts:
            return "; ".join(parts)
        return f"still moving at the top rung ({int(moving.steps.max())} steps): {moving.why.iloc[0]}"
    if decided == "not_learned":
        return f"at chance everywhere at the last two rungs ({int(runs.steps.max())} steps)"
    counts = runs.verdict.value_counts()
    parts = [f"{counts[v]} {text}" for v, text in (("target", "at the target"), ("at_least", "above the threshold "
             "at the longest distance"), ("measured", "unchanged over the last two steps up the ladder"),
             ("not_learned", "not learned")) if v in counts]
    changes = runs.change[runs.verdict == "measured"].dropna().abs()
    largest = f" (largest change past the window {changes.max():.3f})" if len(changes) else ""
    return f"of {len(runs)} runs: " + ", ".join(parts) + largest


def agree(decided: str, censored) -> bool:
    """Whether the test curve (the number) and the validation curves (the verdict) agree on whether the window
    reaches the longest distance; only a claimed window can disagree."""
    if decided not in ("measured", "at_least") or not isinstance(censored, str):
        return True
    return (decided == "at_least") == (censored == "above")


def verdict_text(decided: str, agrees: bool, val_text) -> str:
    """The verdict as pages print it beside the test number: never "at least" beside a smaller number."""
    if agrees:
        return decided.replace("_", " ")
    return f"{decided.replace('_', ' ')} on validation ({val_text}); the test curve disagrees"


def claim(row: dict) -> str:
    """What may be said of a cell: a number only where its verdict allows one, with its budget."""
    budget = row["budget_text"]
    if row["verdict"] in ("measured", "at_least") and not row.get("agree", True):
        return (f"{row['window_text']} on test, {row['val_window_text']} on validation: the curves disagree on "
                f"whether the window reaches the longest distance; {budget}")
    if row["verdict"] in ("measured", "at_least"):
        resolution = row.get("resolution")
        step = f", to {int(resolution)} step{'s' * int(resolution != 1)}" if resolution == resolution and \
            resolution is not None and row["censored"] == "none" else ""
        spread = f" (seeds {row['range_text']})" if row["n_seeds"] > 1 else ""
        return f"{row['window_text']}{spread}{step}; {budget}"
    name = {"budget_bound": "budget-bound", "not_learned": "not learned", "offset_shortcut": "offset shortcut"}
    return f"{name[row['verdict']]} ({row['why']}); {budget}"


def of_cell(frame: pd.DataFrame, key: tuple) -> pd.Series:
    """Rows of ``frame`` whose KEYS equal ``key``: the one cell mask."""
    mask = pd.Series(True, index=frame.index)
    for column, value in zip(KEYS, key):
        mask &= frame[column] == value
    return mask
