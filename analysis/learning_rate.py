"""The learning rate of each cell: harness.verdict.choose_rate replayed on the stored validation curves, the same
function the sweeper ran while it climbed the ladder, so the report names the rate the sweep chose and why. The
test sets are never read here.

A cell is (task, protocol, model, batch size). With several rates, the choice is made on the cell's first seed:
at each rung, the mean validation accuracy over the curve's distances of every rate still climbing, and the
rates that clause 6 cuts. Cells with one rate have nothing to choose.
"""

from __future__ import annotations

import pandas as pd

from analysis.records import CELL
from analysis.window import curve_of
from harness import verdict

SELECTION_COLUMNS = CELL + ["lr", "seed", "rung", "val_accuracy", "val_error", "runs", "chosen"]


def lr_selection(rungs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, lr): the score at the rung where the choice was made, its standard error, the runs at
    that rate (``runs``: analysis.records' run table), and whether it is the cell's choice."""
    finished = runs[runs.status == "finished"]
    rows = []
    for key, cell in finished.groupby(CELL, sort=True):
        lrs = sorted(cell.lr.unique())
        seed = int(cell.seed.min())
        first = rungs[rungs.run_dir.isin(cell[cell.seed == seed].run_dir)]
        candidates, final, chance = {}, {}, float(cell.chance_accuracy.max())
        for lr in lrs:
            run = first[first.lr == lr]
            candidates[lr] = [curve_of(points) for _, points in run.groupby("rung", sort=True)]
            final[lr] = bool(len(run)) and run.verdict.iloc[0] in verdict.RUN_FINAL
        candidates = {lr: c for lr, c in candidates.items() if c}  # a rate whose run failed is no candidate
        if not candidates:
            continue
        ladder = len(str(cell.rungs.iloc[0]).split())  # the run table joins the list with spaces
        _, chosen, rung = verdict.choose_rate(candidates, final, chance, ladder) if len(candidates) > 1 else \
            (None, next(iter(candidates)), 0)
        for lr, curves in candidates.items():
            score = verdict.rate_score(lr, curves[min(rung, len(curves) - 1)], chance)
            steps = sorted(first[first.lr == lr].rung.unique())
            rows.append({**dict(zip(CELL, key)), "lr": lr, "seed": seed, "rung": steps[min(rung, len(steps) - 1)],
                         "val_accuracy": score.accuracy, "val_error": score.error,
                         "runs": cell[cell.lr == lr].run_dir.nunique(), "chosen": lr == chosen})
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


def held_across_loads(selection: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """A load axis holds one rate (hydra.sweeper.rate_chosen_at): where a load still has candidates left from an
    earlier choice, the rate held by every load of the same model and task that trained one rate is the one read
    there, as the sweep reads it, not a choice of its own among the leftovers."""
    if selection.empty or "load" not in runs.columns or runs.load.isna().all():
        return selection
    family = runs.dropna(subset=["load"]).groupby(["task", "model"]).task_family.first()
    axis = [family.get((t, m)) for t, m in zip(selection.task, selection.model)]
    chosen = selection.chosen.copy()
    rows = selection.assign(axis=axis).dropna(subset=["axis"])
    for _, group in rows.groupby(["axis", "protocol", "model", "batch_size"]):
        size = group.groupby("task").lr.transform("size")
        held = set(group[size == 1].lr)
        if len(held) != 1 or group.task.nunique() < 2:
            continue
        rate = held.pop()
        for _, cell in group[size > 1].groupby("task"):
            if (cell.lr == rate).any():
                chosen[cell.index] = cell.lr == rate
    return selection.assign(chosen=chosen)


def awaiting_candidates(selection: pd.DataFrame, pending: pd.DataFrame) -> pd.DataFrame:
    """A cell whose choosing seed still has a rate to run (one its sweep has not reached, or an extension past a
    winning edge) has chosen nothing yet: the candidates it has are not all there are. ``pending``:
    analysis.records' Results.pending."""
    if selection.empty or pending.empty:
        return selection
    chosen = selection.chosen.copy()
    for key, cell in selection.groupby(CELL):
        waiting = pending[(pending[CELL] == pd.Series(key, index=CELL)).all(axis=1)]
        if (waiting.seed.eq(cell.seed.iloc[0]) & ~waiting.lr.isin(cell.lr)).any():
            chosen[cell.index] = False
    return selection.assign(chosen=chosen)


def at_chosen_lr(frame: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` (any table with the cell's columns and lr) at their cell's chosen lr. Cells with no
    choice (no finished run, or still choosing) keep every row, so their failures stay visible."""
    chosen = selection[selection.chosen][CELL + ["lr"]].rename(columns={"lr": "chosen_lr"})
    merged = frame[CELL + ["lr"]].merge(chosen, on=CELL, how="left")  # a left merge keeps frame's row order
    keep = merged.chosen_lr.isna() | (merged.lr == merged.chosen_lr)
    return frame[keep.to_numpy()].reset_index(drop=True)
