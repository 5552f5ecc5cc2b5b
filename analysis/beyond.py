"""Beyond the trained length: does a window reach past what the model was trained on?

Runs with ``train.extrapolate`` score, at every rung and on the test sets, distances past the longest trained
one, each in sequences of its own length, and the listed trained distances at the longest of those lengths
(analysis.records keeps their sequence length in ``length``; in-range rows have none). Two tables, each a pure
function of the tidy tables:

- ``extrapolation_table``: per cell, the window on the curve extended past training (the in-range fine curve
  plus the distances beyond), located and judged by harness.verdict exactly as the window inside the training
  range (clause 4 on the extended validation curves at each rung, clause 5 over seeds), beside the in-range
  window. A model that cannot take the longer inputs at all (learned positions) is ``cannot``, with its reason.
- ``position_table``: per cell and trained distance, accuracy at the training length and at the longest
  length, where only the positions are new.
"""

from __future__ import annotations

import pandas as pd

from analysis.window import KEYS, agree, budget_text, of_cell, verdict_text
from harness import verdict

EXTRAPOLATION_COLUMNS = KEYS + ["verdict", "verdict_text", "window", "censored", "window_text", "resolution",
                                "val_window_text", "agree", "range_text", "in_range_verdict", "in_range_verdict_text",
                                "in_range_text",
                                "max_trained_distance", "train_length", "longest_length", "max_distance", "n_seeds",
                                "read_at", "budget_text", "cannot", "params"]
IN_RANGE_FINAL = ("target", "decided")  # harness.train.stop_reason of a run whose in-range window is final
POSITION_COLUMNS = KEYS + ["distance", "train_length", "accuracy", "length", "accuracy_long", "change", "n_seeds"]


def extended_curve(points: pd.DataFrame, longest_trained: int) -> list[verdict.Point]:
    """In-range rows and rows past the longest trained distance, one per distance (mean over runs), ascending."""
    keep = points[points.length.isna() | (points.distance > longest_trained)]
    merged = keep.groupby("distance", as_index=False)[["accuracy", "n"]].mean()
    return [verdict.Point(int(d), float(a), int(n)) for d, a, n in zip(merged.distance, merged.accuracy, merged.n)]


def run_extended_verdicts(rungs: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Per run with distances past training: clause 4 on its extended validation curves at each rung
    (``rungs``: the in-range rows and the rows past training, the latter with their ``length``). The loop
    stops a run once its in-range window is final and never trains on for the distances past training, so
    the extended window of such a run is read where it stopped: ``measured`` there (``at_least`` when it
    reaches the longest distance), with that budget beside it, unless the rule already calls it final."""
    rows = []
    beyond = rungs[rungs.length.notna()]
    for run_dir, run in rungs[rungs.run_dir.isin(beyond.run_dir)].groupby("run_dir", sort=True):
        first = run.iloc[0]
        longest = int(run[run.trained.astype(bool)].distance.max())
        curves = []
        for _, points in run.groupby("rung", sort=True):
            keep = points[points.length.isna() | (points.distance > longest)].sort_values("distance")
            curves.append([verdict.Point(int(d), float(a), int(n), str(s)) for d, a, n, s in
                           zip(keep.distance, keep.accuracy, keep.n, keep.answers.fillna(""))])
        made = verdict.decide_run(curves, first.chance_accuracy, top=run.rung.max() >= first.max_steps,
                                  at_target=first.stop_reason == "target", fraction=fraction)
        verdict_text = made.verdict
        if first.stop_reason in IN_RANGE_FINAL and made.verdict not in verdict.RUN_FINAL or made.verdict == "target":
            verdict_text = "at_least" if made.window.censored == "above" else "measured"
        rows.append({**{k: first[k] for k in KEYS}, "seed": first.seed, "run_dir": run_dir, "verdict": verdict_text})
    return pd.DataFrame(rows, columns=KEYS + ["seed", "run_dir", "verdict"])


def extrapolation_table(table: pd.DataFrame, rungs: pd.DataFrame, windows: pd.DataFrame, runs: pd.DataFrame,
                        fraction: float = verdict.FRACTION) -> pd.DataFrame:
    """Per cell with distances past training (or a model that could not take them): the extended window and its
    verdict, beside the in-range one. ``table`` and ``rungs``: the in-range tables concatenated with
    Results.beyond's (rows past training carry a ``length``); ``windows``: analysis.window.window_table;
    ``runs``: the run table."""
    past = set(table[table.length.notna()].run_dir) | set(rungs[rungs.length.notna()].run_dir)  # paused: rungs only
    tried = runs[runs.run_dir.isin(past) | runs.cannot.notna()]
    if tried.empty:
        return pd.DataFrame(columns=EXTRAPOLATION_COLUMNS)
    extended = run_extended_verdicts(rungs, fraction)
    measured = table[(table.status == "finished") & table.accuracy.notna()]
    rows = []
    for key, cell in tried.groupby(KEYS, sort=True, dropna=False):
        inside = windows[of_cell(windows, key)]
        steps = sorted({int(s) for s in cell.steps.dropna()})
        row = {**dict(zip(KEYS, key)), "n_seeds": cell.seed.nunique(), "params": cell.params.median(),
               "train_length": int(cell.seq_len.max()), "budget_text": budget_text(cell, key[KEYS.index("batch_size")]),
               "read_at": " and ".join(map(str, steps)),
               "in_range_verdict": inside.verdict.iloc[0] if len(inside) else "",
               "in_range_verdict_text": inside.verdict_text.iloc[0] if len(inside) else "",
               "in_range_text": inside.window_text.iloc[0] if len(inside) else ""}
        if cell.cannot.notna().any():
            rows.append({**row, "verdict": "cannot", "verdict_text": "cannot", "agree": True,
                         "cannot": cell.cannot.dropna().iloc[0]})
            continue
        points = measured[measured.run_dir.isin(cell.run_dir)]
        inside_rungs = rungs[rungs.run_dir.isin(cell.run_dir) & rungs.length.isna()]
        longest = int(inside_rungs[inside_rungs.trained.astype(bool)].distance.max())
        at = verdict.threshold(cell.chance_accuracy.max(), fraction)
        windows_by_seed = [verdict.locate(extended_curve(seed_points, longest), at)
                           for _, seed_points in points.groupby("seed")]
        last = rungs[rungs.run_dir.isin(cell.run_dir)]
        last = last[last.rung == last.groupby("run_dir").rung.transform("max")]
        val_windows = [verdict.locate(extended_curve(seed_points, longest), at)  # validation decides
                       for _, seed_points in last.groupby("seed")]
        run_verdicts = list(extended[extended.run_dir.isin(cell.run_dir)].verdict)
        run_verdicts += ["climbing"] * (cell.run_dir.nunique() - len(run_verdicts))  # paused: no extended curve
        past_rows = pd.concat([points[points.length.notna()], last[last.length.notna()]])
        decided = verdict.decide_cell(run_verdicts, val_windows, [])
        row.update(verdict=decided, max_trained_distance=longest, longest_length=int(past_rows.length.max()),
                   max_distance=int(past_rows.distance.max()))
        if windows_by_seed:
            middle, low, high = verdict.median_window(windows_by_seed)
            row.update(window=middle.value, censored=middle.censored, window_text=middle.text,
                       resolution=middle.resolution, range_text=middle.text if low == high else
                       f"{low.text}–{high.text}", val_window_text=verdict.median_window(val_windows)[0].text
                       if val_windows else "")
        row["agree"] = agree(decided, row.get("censored"))
        row["verdict_text"] = verdict_text(decided, row["agree"], row.get("val_window_text"))
        rows.append(row)
    return pd.DataFrame(rows, columns=EXTRAPOLATION_COLUMNS)


def position_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per cell and trained distance scored at a longer length: accuracy at the training length and there."""
    measured = table[(table.status == "finished") & table.accuracy.notna()]
    long = measured[measured.length.notna() & measured.trained.astype(bool)]
    rows = []
    for key, cell in long.groupby(KEYS + ["distance", "length"], sort=True, dropna=False):
        short = measured[of_cell(measured, key[:len(KEYS)]) & measured.length.isna() & (measured.distance == key[-2])]
        rows.append({**dict(zip(KEYS, key[:len(KEYS)])), "distance": key[-2], "length": key[-1],
                     "train_length": int(cell.seq_len.max()), "accuracy": short.accuracy.mean(),
                     "accuracy_long": cell.accuracy.mean(), "change": cell.accuracy.mean() - short.accuracy.mean(),
                     "n_seeds": cell.seed.nunique()})
    return pd.DataFrame(rows, columns=POSITION_COLUMNS)


def resolution_note(cell) -> str:
    """', to 128 steps (an octave)' beside a window located at or past the longest trained distance, where the
    next distance measured is an octave away; '' where no window is claimed (a verdict that withholds it, or a
    lower bound) or where the window lies inside the fine range."""
    resolution = getattr(cell, "resolution", None)
    claimed = cell.verdict == "measured" and getattr(cell, "censored", "none") == "none"
    if not claimed or resolution is None or resolution != resolution or cell.window < cell.max_trained_distance:
        return ""
    return f", to {int(resolution)} steps (an octave)"


def summary(extrapolation: pd.DataFrame) -> list[str]:
    """One sentence per model: how far its window reaches past its training length on each task, with the
    verdict; models in the order of their names (settings, such as each positional encoding, side by side)."""
    lines = []
    for model in sorted(extrapolation.model.unique()):
        cells = extrapolation[extrapolation.model == model].sort_values("task")
        trained = cells[cells.verdict != "cannot"]
        where = (f" (trained to {trained.max_trained_distance.max():.0f} at length {trained.train_length.max()})"
                 if len(trained) else "")
        if (cells.verdict == "cannot").all():
            lines.append(f"**{model}**: cannot on any task ({cells.cannot.iloc[0]}).")
            continue
        parts = []
        for task, group in cells.groupby("task", sort=True):
            if group.lr.nunique() > 1:  # a row per rate candidate, none chosen yet: no answer to give
                parts.append(f"{task} still choosing its learning rate")
                continue
            for cell in group.itertuples(index=False):
                if cell.verdict == "cannot":
                    parts.append(f"{cell.task} cannot ({cell.cannot})")
                elif cell.verdict in ("measured", "at_least") and cell.window == cell.window:
                    parts.append(f"{cell.task} {cell.window_text} ({cell.verdict_text}{resolution_note(cell)}; "
                                 f"read at {cell.read_at} steps)")
                else:
                    parts.append(f"{cell.task} {cell.verdict.replace('_', '-')}")
        lines.append(f"**{model}**{where}: " + ", ".join(parts) + ".")
    return lines
