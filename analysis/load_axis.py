"""The load as an axis (issue 25): how many items a model holds out to the longest distance, and what each load asks.

A task names its load (``load_key``: recall's ``instances``, assoc_recall's ``num_pairs``) and counts, at every
scored position, the items a model must hold there (``pending``; docs/adding-a-task.md). A load sweep trains each
model at several loads with everything else fixed, and reads, per model and task:

- **Items held at D** (``items_held``): the largest load whose window still reaches the longest distance D,
  bracketed by the next load up, whose window is decided below D. Only decided windows bracket: a budget-bound
  load, one not learned or one whose curve stops short of D leaves the bracket open, and the text says which.
  Nothing is interpolated between loads; a smaller load decided below D while a larger one reaches it is named,
  not averaged away.
- **What a load asks** (``pending_by_distance``): the mean items pending at the queries of each distance, from
  the task's own sampler. The key's value is not the load a query meets: on recall it grows with the distance
  (longer instances overlap more others), on assoc_recall it falls (a far query comes after most others).
- **The heatmap** (``load_heatmap``): accuracy over distance and load, one panel per model, budget-bound loads
  hatched, missing cells blank.

Pure functions of plain columns, and ``load_tables``, which reads them off a report's tables (and samples each
task's sequences for ``pending``); nothing here trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from analysis.plots import ordered_models  # noqa: E402
from analysis.window import agree  # noqa: E402
from tasks.base import data_generator  # noqa: E402

WINDOW_INPUT = ["model", "task", "load", "verdict", "window", "censored"]  # items_held's columns (seed optional)
CENSORED = ("none", "above", "below")
CHOOSING = "choosing_lr"  # a cell whose rate is still being chosen (one_row_per_cell)
SOLVED = ("measured", "at_least")  # verdicts whose window is a number (harness/verdict.py, clause 5)
HELD_COLUMNS = ["model", "task", "longest", "held", "bracket", "upper", "verdict", "text", "loads"]
HELD_VERDICTS = ("decided", "all_reach", "none_reach", "budget_bound", "undecided", "non_monotone")
HEATMAP_INPUT = ["model", "task", "load", "distance", "accuracy"]  # load_heatmap's columns (verdict optional)
PANELS_PER_ROW = 4  # a state axis has a panel per size: wrapped, so each stays readable on a page
PENDING_COLUMNS = ["load", "distance", "pending", "least", "most", "positions"]


# ---------------------------------------------------------------------------------------------- items held


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}; needs {list(columns)}, got {list(frame.columns)}")


def load_status(row, longest: int) -> str:
    """``reaches`` D, ``below`` it (decided), ``short`` (at least a window below D: the curve stops before D),
    ``edge`` (the validation curves and the test curve disagree on whether it reaches D), or the verdict itself
    where no window is claimed (budget_bound, not_learned, offset_shortcut, ...)."""
    if row.verdict not in SOLVED:
        return str(row.verdict)
    if not agree(row.verdict, row.censored):  # validation and test differ on reaching D: neither reading stands
        return "edge"
    if row.window >= longest:
        return "reaches"
    return "short" if row.censored == "above" else "below"


STATUS_TEXT = {"reaches": "reaches {D}", "below": "decided below {D}", "short": "its curve stops before {D}",
               "edge": "at the edge: validation and test disagree on reaching {D}",
               "budget_bound": "budget-bound", "not_learned": "not learned", "offset_shortcut": "offset shortcut",
               CHOOSING: "still choosing its learning rate"}


def describe(load: int, status: str, longest: int) -> str:
    return f"{load} " + STATUS_TEXT.get(status, status).format(D=longest)


def items_held(windows: pd.DataFrame, longest: int) -> pd.DataFrame:
    """Per model and task (and seed, where the input has one), the items held out to ``longest`` (module docstring).

    ``windows``: one row per (model, task, load[, seed]) with ``verdict`` (harness.verdict's cell verdicts),
    ``window`` (int; NaN without a claim) and ``censored`` (none | above | below). Output: ``held`` (the largest
    load that reaches D, NaN if none), ``bracket`` (the next load up), ``upper`` (the smallest load above
    ``held`` decided below D), ``verdict`` (one of HELD_VERDICTS), ``text`` and ``loads`` (every load's status)."""
    require_columns(windows, WINDOW_INPUT, "items_held(windows)")
    if isinstance(longest, bool) or not isinstance(longest, (int, np.integer)) or longest < 1:
        raise ValueError(f"longest={longest!r}: must be a positive integer distance")
    bad = sorted(set(windows.censored) - set(CENSORED))
    if bad:
        raise ValueError(f"items_held(windows): censored={bad[0]!r}: allowed are {', '.join(CENSORED)}")
    solved = windows[windows.verdict.isin(SOLVED)]
    if solved.window.isna().any():
        raise ValueError("items_held(windows): a measured or at_least row has no window")
    keys = ["model", "task"] + (["seed"] if "seed" in windows.columns else [])
    repeated = windows[windows.duplicated([*keys, "load"], keep=False)]
    if len(repeated):
        where = ", ".join(f"{k}={v}" for k, v in zip([*keys, "load"], repeated[[*keys, "load"]].iloc[0].tolist()))
        raise ValueError(f"items_held(windows): more than one row for {where}; give one row per load (a cell, or "
                         "a seed with a seed column)")
    rows = [{**dict(zip(keys, key)), **held_at(group.sort_values("load"), int(longest))}
            for key, group in windows.groupby(keys, sort=True)]
    return pd.DataFrame(rows, columns=[*keys, *HELD_COLUMNS[2:]])


def held_at(group: pd.DataFrame, longest: int) -> dict:
    """The reading of one model's loads (ascending) at D = longest."""
    loads = [int(load) for load in group.load]
    status = [load_status(row, longest) for row in group.itertuples(index=False)]
    reaching = [i for i, s in enumerate(status) if s == "reaches"]
    top = reaching[-1] if reaching else -1  # the largest load that reaches D
    above = range(top + 1, len(loads))
    upper = next((loads[i] for i in above if status[i] == "below"), np.nan)
    row = {"longest": longest, "held": loads[top] if reaching else np.nan, "upper": upper,
           "bracket": loads[top + 1] if above else np.nan,
           "loads": "; ".join(describe(load, s, longest) for load, s in zip(loads, status))}
    lower = [i for i in range(top) if status[i] == "below"]
    if lower:
        return {**row, "verdict": "non_monotone", "text": f"not read: {loads[lower[0]]} is decided below "
                                                          f"{longest} while {loads[top]} reaches it"}
    if not above:
        every = "every load reaches" if len(reaching) == len(loads) else "the largest load reaches"
        return {**row, "verdict": "all_reach", "text": f"≥ {loads[top]} ({every} {longest})"}
    nxt = top + 1
    if status[nxt] == "below":
        held, verdict = (f"{loads[top]}", "decided") if reaching else (f"< {loads[nxt]}", "none_reach")
        return {**row, "verdict": verdict, "text": f"{held} ({loads[nxt]} decided below {longest})"}
    known = f"≥ {loads[top]}" if reaching else "no load reaches"
    bound = f", < {upper}" if upper == upper else ""
    return {**row, "verdict": "budget_bound" if status[nxt] == "budget_bound" else "undecided",
            "text": f"{known}{bound}, undecided ({describe(loads[nxt], status[nxt], longest)})"}


# ---------------------------------------------------------------------------------------------- what a load asks


def pending_by_distance(task, distances: Sequence[int], sequences: int = 256, seed: int = 0,
                        weights: Sequence[float] | None = None, mixed: bool = False) -> pd.DataFrame:
    """Mean, least and most items pending at the queries of each distance, from ``task``'s sampler (eval stream).

    ``mixed=False`` plants every dependency of a sequence at d, one batch per distance: the load a sequence at d
    holds. ``mixed=True`` draws one batch from the mixture of ``distances`` (with ``weights``, as training does)
    and groups its queries by distance: the load a training batch holds, where a short query shares its sequence
    with long ones."""
    if not hasattr(task, "pending") or not hasattr(task, "load_key"):
        raise ValueError(f"task {task.name}: declares no load (load_key and pending; docs/adding-a-task.md)")
    if weights is not None and not mixed:
        raise ValueError(f"weights={list(weights)}: weights need mixed=True")
    listed = [int(d) for d in distances]
    if mixed:
        batches = [task.sample(sequences, data_generator(task.name, seed, "eval"), listed, weights)]
    else:
        batches = [task.sample(sequences, data_generator(task.name, seed, "eval", d), d) for d in listed]
    pending = torch.cat([task.pending(batch).flatten() for batch in batches])
    distance = torch.cat([batch.distance.flatten() for batch in batches])
    rows = []
    for d in listed:
        at = pending[distance == d].double()
        rows.append({"load": getattr(task, task.load_key), "distance": d, "pending": at.mean().item(),
                     "least": int(at.min()), "most": int(at.max()), "positions": at.numel()})
    return pd.DataFrame(rows, columns=PENDING_COLUMNS)


# ---------------------------------------------------------------------------------------------- the heatmap


def load_heatmap(frame: pd.DataFrame):
    """Accuracy (colour) over distance (x) and load (y), one panel per model, for one task: where along the
    distances each load's accuracy falls. ``frame``: HEATMAP_INPUT, accuracy the mean over seeds; an optional
    ``verdict`` column hatches the loads that are budget-bound. A missing or NaN cell stays blank, never 0."""
    require_columns(frame, HEATMAP_INPUT, "load_heatmap(frame)")
    tasks = sorted(frame.task.unique())
    if len(tasks) != 1:
        raise ValueError(f"load_heatmap(frame): one task per figure, got {tasks}")
    models = ordered_models(frame.model.unique())
    distances, loads = sorted(frame.distance.unique()), sorted(frame.load.unique())
    panel = min(0.35 * len(distances), 4.5)  # a fine curve has ~60 distances: a readable panel, not one inch each
    columns = min(len(models), PANELS_PER_ROW)
    rows = -(-len(models) // columns)
    size = (panel * columns + 2, (0.3 * len(loads) + 1.2) * rows + 0.6)
    labelled = [i for i, d in enumerate(distances) if int(d) & (int(d) - 1) == 0] if len(distances) > 12 else []
    labelled = labelled or list(range(0, len(distances), max(1, len(distances) // 8)))
    figure, axes = plt.subplots(rows, columns, figsize=size, squeeze=False, sharey=True, layout="constrained")
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    for ax, model in zip(axes.flat, models):
        subset = frame[frame.model == model]
        matrix = subset.pivot_table(index="load", columns="distance", values="accuracy", aggfunc="mean", dropna=False)
        matrix = matrix.reindex(index=loads, columns=distances)
        image = ax.imshow(np.ma.masked_invalid(matrix.to_numpy(float)), origin="lower", aspect="auto",
                          cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        if "verdict" in subset.columns:
            bound = set(subset[subset.verdict == "budget_bound"].load)
            for row, load in enumerate(loads):
                if load in bound:
                    ax.add_patch(plt.Rectangle((-0.5, row - 0.5), len(distances), 1, fill=False, hatch="///",
                                               edgecolor="white", linewidth=0))
        ax.set_title(model, fontsize=9)
        ax.set_xticks(labelled, [str(distances[i]) for i in labelled], fontsize=7)
        ax.set_yticks(range(len(loads)), [str(load) for load in loads], fontsize=7)
        ax.set_xlabel("distance")
    for row in axes:
        row[0].set_ylabel("load (items)")
    figure.colorbar(image, ax=axes.ravel().tolist(), label="accuracy", shrink=0.9)
    figure.suptitle(f"{tasks[0]}: accuracy over distance and load (/// budget-bound; blank: no measurement)",
                    fontsize=8)
    return figure


# ---------------------------------------------------------------------------------------------- from a report


class LoadTables(NamedTuple):
    windows: pd.DataFrame  # one row per cell of a load axis: the window table's columns plus family, task_family, load
    held: pd.DataFrame  # items held per model (its label: one per state size) and task family (items_held)
    held_by_seed: pd.DataFrame  # the same per seed: the points of the law
    fits: pd.DataFrame  # items held ∝ state^α per model family and task (analysis.capacity.fit_items_held)
    heatmap: pd.DataFrame  # HEATMAP_INPUT and verdict, accuracy the mean over seeds
    pending: pd.DataFrame  # items pending at the queries of each listed distance, per task and load


def load_tables(windows: pd.DataFrame, seeds: pd.DataFrame, runs: pd.DataFrame, table: pd.DataFrame) -> LoadTables:
    """The load analysis of one report (analysis.tables.Report's windows, seed_windows, runs and test table at the
    chosen rates): every (model, task) that was trained at two or more loads. Empty tables when there is none."""
    from analysis.capacity import fit_items_held

    keys = ["task", "model"]
    info = runs.dropna(subset=["load"]).groupby(keys).agg(
        task_family=("task_family", "first"), family=("family", "first"), load=("load", "first"),
        state_size=("state_size", "median"), params=("params", "median"), lr=("lr", "first"),
        rungs=("rungs", "first"), config=("run_dir", "first")).reset_index()
    by_load = one_row_per_cell(windows, keys).merge(info.drop(columns=["lr", "params"]), on=keys, how="inner")
    axes = by_load.groupby(["model", "task_family"]).load.transform("nunique")
    by_load = by_load[axes >= 2].reset_index(drop=True)
    if by_load.empty:
        empty = pd.DataFrame()
        return LoadTables(by_load, empty, empty, empty, empty, empty)
    longest = int(by_load.max_distance.max())
    cells = by_load.assign(task=by_load.task_family, load=by_load.load.astype(int))
    held = items_held(cells[WINDOW_INPUT], longest)
    on_axis = set(zip(by_load.task, by_load.model))
    per_seed = one_row_per_cell(seeds, [*keys, "seed"]).merge(info.drop(columns=["lr", "params"]), on=keys)
    per_seed = per_seed[[pair in on_axis for pair in zip(per_seed.task, per_seed.model)]]
    seed_cells = per_seed.assign(task=per_seed.task_family, load=per_seed.load.astype(int),
                                 verdict=per_seed.verdict.fillna("budget_bound"),
                                 censored=per_seed.censored.fillna("none"))
    held_by_seed = items_held(seed_cells[[*WINDOW_INPUT, "seed"]], longest)
    points = held_by_seed.merge(info.drop_duplicates("model").set_index("model")[["family", "state_size"]],
                                left_on="model", right_index=True)
    by_cell = per_seed.groupby(["model", "task_family"])
    rates = by_cell.lr.agg(lambda lr: " ".join(f"{r:g}" for r in sorted(set(lr))))
    ladders = by_cell.rungs.agg(lambda rungs: " | ".join(sorted(set(map(str, rungs)))))
    points = points.assign(variant=points.model, model=points.family, items_held=points.held,
                           decided=points.verdict == "decided",
                           lr=[rates.get((v, t), "") for v, t in zip(points.model, points.task)],
                           rungs=[ladders.get((v, t), "") for v, t in zip(points.model, points.task)])
    fits = fit_items_held(points[["model", "task", "state_size", "seed", "items_held", "decided", "verdict", "lr",
                                  "rungs"]])
    waiting = by_load[by_load.verdict == CHOOSING]
    answered = on_axis - set(zip(waiting.task, waiting.model))
    measured = table[table.accuracy.notna() & np.array([pair in answered for pair in zip(table.task, table.model)])]
    heat = measured.groupby(keys + ["distance"], as_index=False).accuracy.mean().merge(
        by_load[keys + ["task_family", "load", "verdict"]], on=keys)
    heat = heat.assign(task=heat.task_family, load=heat.load.astype(int))[[*HEATMAP_INPUT, "verdict"]]
    trained = runs[np.array([pair in on_axis for pair in zip(runs.task, runs.model)], dtype=bool)]
    return LoadTables(by_load, held, held_by_seed, fits, heat, pending_table(trained))


def one_row_per_cell(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A cell still choosing its rate has a row per candidate and no answer yet: it becomes one row whose verdict
    says so (CHOOSING), so a sweep in progress reads as undecided at that load instead of as several answers."""
    several = frame.groupby(keys).lr.transform("nunique") > 1
    if not several.any():
        return frame
    waiting = frame[several].drop_duplicates(keys).assign(verdict=CHOOSING, window=np.nan, censored="none")
    return pd.concat([frame[~several], waiting]).sort_index().reset_index(drop=True)


def pending_table(runs: pd.DataFrame) -> pd.DataFrame:
    """What each load asks, measured from the task's own sampler at the settings the runs trained with: the mean
    items pending at the queries of each listed distance (every dependency of a sequence planted there)."""
    from hydra.utils import instantiate

    from harness.record import read

    frames = []
    for _, group in runs.dropna(subset=["load"]).groupby(["task_family", "load"]):
        record, _ = read(Path(group.run_dir.iloc[0]) / "result.json")
        if record is None:
            continue
        config = dict(record.config["task"])
        task = instantiate(config, _convert_="all", _recursive_=False)
        listed = [d for d in config["distances"] if task.producible(d)]
        frames.append(pending_by_distance(task, listed, sequences=128).assign(task=record.task))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def answer(tables: LoadTables) -> list[str]:
    """One paragraph per model family, from the numbers: how many items it holds out to the longest distance at
    its headline size, how that grows with its state (where it was trained at several), and its parameters."""
    held, fits, cells = tables.held, tables.fits, tables.windows
    lines = []
    for family in ordered_models(cells.family.unique()):
        variants = cells[cells.family == family]
        sizes = variants.groupby("model").params.median().sort_values()
        headline = sizes.index[(sizes - 1e5).abs().argmin()]  # the size nearest the headline's 100k
        parts = []
        for task in sorted(variants.task_family.unique()):
            row = held[(held.model == headline) & (held.task == task)]
            params = variants[(variants.model == headline) & (variants.task_family == task)].params.median()
            if len(row):  # the parameters per task: a task's vocabulary sizes the embedding
                parts.append(f"on {task} ({params:,.0f} parameters) {row.text.iloc[0]}")
        longest = int(held.longest.max())
        text = f"**{family}**, items held out to distance {longest}: " + "; ".join(parts) + "."
        family_fits = fits[fits.model == family] if len(fits) else fits
        if len(family_fits) and variants.model.nunique() > 1:
            text += " With its state: " + "; ".join(f"{r.task}: {r.text}" for r in family_fits.itertuples()) + "."
        lines.append(text)
    return lines
