"""Steps to learn: how long each distance took, not only whether it was learned in the end.

For every run and evaluated distance (so for every model, task, distance and seed), the first evaluation step
at which the validation accuracy at that distance reached the window's threshold, chance + f x (1 - chance)
(analysis.window), or NaN if it never did within the steps the run took. Evaluations happen every
``train.eval_every`` steps, so a value is an upper bound on the true step, to within that interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.window import DEFAULT_FRACTION, KEYS
from harness.verdict import threshold

STEPS_COLUMNS = KEYS + ["seed", "distance", "trained", "heldout", "threshold", "steps_to_learn", "steps",
                        "stop_reason", "run_dir"]


def steps_to_learn(history: pd.DataFrame, fraction: float = DEFAULT_FRACTION) -> pd.DataFrame:
    """One row per (run, distance): the first step at or above the threshold, NaN if never."""
    rows = []
    for (run_dir, distance), points in history.sort_values("step").groupby(["run_dir", "distance"], sort=True):
        first = points.iloc[0]
        at = threshold(first.chance_accuracy, fraction)
        learned = points[points.accuracy >= at].step
        rows.append({**{k: first[k] for k in STEPS_COLUMNS if k in points}, "distance": distance,
                     "threshold": at, "steps_to_learn": learned.iloc[0] if len(learned) else np.nan,
                     "run_dir": run_dir})
    table = pd.DataFrame(rows, columns=STEPS_COLUMNS)
    return table.sort_values(["task", "model", "protocol", "seed", "distance"], kind="stable").reset_index(drop=True)
