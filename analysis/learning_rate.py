"""The learning rate of each cell, chosen on validation accuracy only, never on the test set.

A cell is (model, task, protocol, budget). When its finished runs hold several ``lr`` values, the chosen one has
the best mean validation accuracy (DistanceScore.val_accuracy at the end of training): averaged over seeds at
each of the cell's curve distances (held-out distances excluded), then over the distances every lr measured.
Ties go to the smaller lr. Windows and curves are then reported at that lr only. The test accuracy of a run
is never read here, so the test set stays an unbiased estimate of the chosen configuration.

If a cell's lr was swept but its runs have no validation data (train.val_sequences=0, so decisions_on ==
"eval", or no val_accuracy), there is nothing honest to choose on: ``LearningRateError`` says so.
"""

from __future__ import annotations

import pandas as pd

from analysis.records import CELL

SELECTION_COLUMNS = CELL + ["lr", "val_accuracy", "runs", "chosen"]


class LearningRateError(ValueError):
    """The lr was swept without validation data; the message names the key and the fix."""


def lr_selection(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, lr): mean validation accuracy, finished runs, and whether it is the cell's choice."""
    finished = table[(table.status == "finished") & (table.heldout != True)]  # noqa: E712
    rows = []
    for key, cell in finished.groupby(CELL, sort=True):
        lrs = sorted(cell.lr.unique())
        if len(lrs) > 1 and ((cell.decisions_on != "val") | cell.val_accuracy.isna()).any():
            raise LearningRateError(
                f"train.lr was swept over [{', '.join(f'{lr:g}' for lr in lrs)}] for {key[2]} on {key[0]}, but the "
                "runs have no validation data (train.val_sequences=0); rerun with train.val_sequences > 0")
        per_distance = cell.groupby(["lr", "distance"]).val_accuracy.mean().unstack("distance")
        scores = per_distance.dropna(axis=1).mean(axis=1)  # over the distances every lr measured
        best = min(lrs, key=lambda lr: (-scores.get(lr, float("-inf")), lr)) if len(lrs) > 1 else lrs[0]
        for lr in lrs:
            rows.append({**dict(zip(CELL, key)), "lr": lr, "val_accuracy": scores.get(lr),
                         "runs": cell[cell.lr == lr].run_dir.nunique(), "chosen": lr == best})
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


def at_chosen_lr(frame: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` (any table with the cell's columns and lr) at their cell's chosen lr. Cells with no
    finished run have no choice and keep every row, so their failures stay visible."""
    chosen = selection[selection.chosen][CELL + ["lr"]].rename(columns={"lr": "chosen_lr"})
    merged = frame[CELL + ["lr"]].merge(chosen, on=CELL, how="left")  # a left merge keeps frame's row order
    keep = merged.chosen_lr.isna() | (merged.lr == merged.chosen_lr)
    return frame[keep.to_numpy()].reset_index(drop=True)
