"""One loaded directory and every table the report's sections share, each computed once (``Report``).

The sections (analysis.sections) and the results pages (analysis.pages) read these tables and return text and
figures; analysis.report alone writes files.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from analysis.beyond import extrapolation_table
from analysis.learning_rate import at_chosen_lr, awaiting_candidates, held_across_loads, lr_selection
from analysis.records import CELL, Results
from analysis.window import DEFAULT_FRACTION, heldout_gaps, run_verdicts, seed_windows, window_table

RESAMPLES = 2000  # bootstrap resamples of the median window, with enough seeds for an interval


@dataclass
class Report:
    """One loaded directory and what the sections share, each table computed once: the tables at each cell's
    chosen lr, the run verdicts, the seeds' windows, the held-out checks and the windows with their verdicts."""

    results: Results
    fraction: float = DEFAULT_FRACTION
    resamples: int = RESAMPLES

    @property
    def directory(self) -> Path:
        return self.results.directory

    @property
    def run_records(self) -> list:
        """The records in the order of ``results.runs``."""
        by_dir = {r.run_dir: r for r in self.results.records}
        return [by_dir[d] for d in self.results.runs.run_dir]

    @cached_property
    def lr_choice(self) -> pd.DataFrame:
        chosen = held_across_loads(lr_selection(self.results.rungs, self.results.runs), self.results.runs)
        return awaiting_candidates(chosen, self.results.pending)

    @cached_property
    def table(self) -> pd.DataFrame:
        return at_chosen_lr(self.results.table, self.lr_choice)

    @cached_property
    def history(self) -> pd.DataFrame:
        return at_chosen_lr(self.results.history, self.lr_choice)

    @cached_property
    def rungs(self) -> pd.DataFrame:
        return at_chosen_lr(self.results.rungs, self.lr_choice)

    @cached_property
    def run_verdicts(self) -> pd.DataFrame:
        return run_verdicts(self.rungs, self.fraction)

    @cached_property
    def seed_windows(self) -> pd.DataFrame:
        return seed_windows(self.table, self.run_verdicts, self.fraction)

    @cached_property
    def extended(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The test table and the rungs table with the rows past the training length added (at the chosen lr)."""
        test, val = (at_chosen_lr(frame, self.lr_choice) for frame in self.results.beyond)
        return pd.concat([self.table, test], ignore_index=True), pd.concat([self.rungs, val], ignore_index=True)

    @cached_property
    def gaps(self) -> pd.DataFrame:
        return heldout_gaps(self.rungs, self.fraction)

    @cached_property
    def windows(self) -> pd.DataFrame:
        return window_table(self.table, self.rungs, self.fraction, self.resamples, self.run_verdicts,
                            self.seed_windows, self.gaps, self.pending)

    @cached_property
    def pending(self) -> pd.DataFrame:
        """Runs still to run that keep a shown row from being an answer (KEYS, seed, and the rate each will run
        at, ``pending_lr``): a cell's other seeds at its chosen rate, and the candidates still to come of a cell
        whose choice waits on them while only one candidate has a record (with two or more, the page already
        shows a row per candidate). The seeds of a cell still choosing wait for the choice and are not counted."""
        pending = self.results.pending.assign(pending_lr=self.results.pending.lr)
        choice = self.lr_choice
        chosen = pending.merge(choice[choice.chosen][CELL + ["lr"]], on=CELL + ["lr"])
        alone = choice.groupby(CELL).filter(lambda cell: len(cell) == 1 and not cell.chosen.any())
        candidates = pending.drop(columns="lr").merge(alone[CELL + ["lr", "seed"]], on=CELL + ["seed"])
        return pd.concat([chosen, candidates[candidates.pending_lr != candidates.lr]], ignore_index=True)

    @cached_property
    def extrapolation(self) -> pd.DataFrame:
        """Windows past the training length beside the in-range ones (analysis.beyond); empty without any."""
        table, rungs = self.extended
        return extrapolation_table(table, rungs, self.windows, at_chosen_lr(self.results.runs, self.lr_choice),
                                   self.fraction)

    @cached_property
    def without_choosing_seed(self) -> pd.DataFrame:
        """Per cell whose rate was chosen among several: its verdict and window again without the seed that chose
        the rate, beside the ones it has, so a reader can see whether counting that seed changes anything."""
        swept = self.lr_choice[self.lr_choice.chosen & self.lr_choice.set_index(CELL).index.isin(
            list(self.swept_cells()))]
        columns = CELL + ["lr", "seed", "verdict", "window_text", "verdict_without", "window_without", "changed"]
        if swept.empty:
            return pd.DataFrame(columns=columns)
        chooser = swept.set_index(CELL).seed
        keys = [tuple(k) for k in self.table[CELL].itertuples(index=False)]
        others = pd.Series([chooser.get(k, -1) for k in keys], index=self.table.index)
        keys = [tuple(k) for k in self.rungs[CELL].itertuples(index=False)]
        rung_others = pd.Series([chooser.get(k, -1) for k in keys], index=self.rungs.index)
        table, rungs = self.table[self.table.seed != others], self.rungs[self.rungs.seed != rung_others]
        after = window_table(table, rungs, self.fraction, self.resamples).set_index(CELL)
        rows = []
        for row in self.windows.itertuples(index=False):
            key = tuple(getattr(row, c) for c in CELL)
            if key not in chooser.index:
                continue
            found = after.loc[[key]].iloc[0] if key in after.index else None
            verdict_without = found.verdict if found is not None else "no other seed"
            window_without = found.window_text if found is not None else ""
            rows.append({**dict(zip(CELL, key)), "lr": row.lr, "seed": int(chooser[key]), "verdict": row.verdict,
                         "window_text": row.window_text, "verdict_without": verdict_without,
                         "window_without": window_without, "changed": verdict_without != row.verdict})
        return pd.DataFrame(rows, columns=columns)

    @cached_property
    def loads(self):
        """The load analysis (analysis.load_axis.load_tables) of every model trained at two or more loads."""
        from analysis.load_axis import load_tables

        return load_tables(self.windows, self.seed_windows, at_chosen_lr(self.results.runs, self.lr_choice),
                           self.table)

    def swept_cells(self) -> set[tuple]:
        """(task, protocol, model, batch_size) of the cells whose lr was chosen among several."""
        counts = self.lr_choice.groupby(CELL).lr.nunique()
        return set(counts[counts > 1].index)
