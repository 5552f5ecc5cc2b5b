"""Figures from the tables: each function takes DataFrames and returns a seaborn FacetGrid; ``save`` writes one.

Every model keeps one colour across every figure (its place among conf/model/*.yaml), and every figure states
the training budget behind it: a curve measured after 400 steps says nothing about 20,000. Hollow markers
are points to read with care: held-out distances (the offset-shortcut check) and windows no verdict allows.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from harness.record import REPO_ROOT  # noqa: E402

CENSORED_MARKERS = {"none": "o", "above": "^", "below": "v"}
STOPPED_ITSELF = ("target", "decided")  # harness.train.stop_reason; not top (the ladder ended) or paused (climbs on)
HELDOUT_TEXT = "held out of training (offset check)"


def natural(name: str) -> tuple:
    """Sort key that reads the numbers in a label as numbers: ``recall instances=2`` before ``instances=16``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(name)))


def model_order(models=()) -> list[str]:
    """conf/model/*.yaml in sorted order, then models found only in the data (``gru hidden_size=16``), in
    natural order."""
    known = sorted(path.stem for path in (REPO_ROOT / "conf" / "model").glob("*.yaml"))
    return known + sorted(set(models) - set(known), key=natural)


def model_palette(models=()) -> dict[str, tuple]:
    order = model_order(models)
    return dict(zip(order, sns.color_palette("colorblind", len(order))))


def ordered_models(models) -> list[str]:
    present = set(models)
    return [m for m in model_order(present) if m in present]


def save(figure, stem: Path, formats=(".png", ".pdf")) -> list[Path]:
    """PNG for reading, PDF for papers; no timestamps in either, so regenerating gives the same bytes."""
    figure = getattr(figure, "figure", figure)  # a FacetGrid holds its Figure
    paths = [Path(stem).with_suffix(suffix) for suffix in formats]
    for path in paths:
        figure.savefig(path, dpi=150, bbox_inches="tight",
                       metadata={"CreationDate": None} if path.suffix == ".pdf" else None)
    plt.close(figure)
    return paths


def budget_text(frame: pd.DataFrame) -> str:
    """'500–4000 steps x 32 sequences' over the runs in the frame (each ran up the ladder until decided)."""
    steps = frame.steps.dropna() if "steps" in frame else frame.steps_max.dropna()
    if steps.empty:
        return "budget unknown"
    low, high = int(steps.min()), int(steps.max())
    batches = ", ".join(f"{b:.0f}" for b in sorted(frame.batch_size.dropna().unique()))
    return f"{low}{'' if low == high else f'–{high}'} steps x {batches} sequences, up the budget ladder"


def with_setting(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``setting`` (the protocol, plus the batch size when the frame holds several) and ``panel`` (task ·
    setting, or the task alone)."""
    setting = frame.protocol.fillna("?").astype(str)
    if frame.batch_size.nunique() > 1:
        setting = setting + " · batch " + frame.batch_size.map("{:.0f}".format)
    panel = frame.task + " · " + setting if setting.nunique() > 1 else frame.task
    return frame.assign(setting=setting, panel=panel)


def setting_order(settings) -> list[str]:
    """per_distance before mixed and dense, then by batch size."""
    def key(setting: str):
        protocol, _, batch = setting.partition(" · batch ")
        return protocol != "per_distance", protocol, int(batch) if batch else 0
    return sorted(set(settings), key=key)


def panel_order(frame: pd.DataFrame) -> list[str]:
    """Panels by task, then setting."""
    order = setting_order(frame.setting)
    pairs = frame[["panel", "task", "setting"]].drop_duplicates()
    return [p.panel for p in sorted(pairs.itertuples(), key=lambda p: (natural(p.task), order.index(p.setting)))]


def model_handles(models, palette, params: pd.Series | None = None) -> dict:
    """Legend entries for models, each named with its parameter count when known."""
    def name(m):
        return f"{m} ({params[m] / 1e3:.0f}k params)" if params is not None and m in params else m
    return {name(m): Line2D([], [], color=palette[m], marker="o") for m in models}


def log2_axis(ax, which: str = "x", base: int = 2) -> None:
    """A log axis labelled with plain numbers (8, not 2³; 600, not 6 x 10²)."""
    getattr(ax, f"set_{which}scale")("log", base=base)
    for set_formatter in ("set_major_formatter", "set_minor_formatter"):
        getattr(getattr(ax, f"{which}axis"), set_formatter)(FuncFormatter(lambda value, _: f"{value:g}"))


def hollow(marker: str = "o") -> Line2D:
    return Line2D([], [], linestyle="", marker=marker, markerfacecolor="white", markeredgecolor="black")


# ------------------------------------------------------------------------------------ accuracy against distance


def accuracy_vs_distance(table: pd.DataFrame, windows: pd.DataFrame | None = None):
    """Accuracy against dependency distance (log2), one panel per task and protocol, one line per model through
    every measured distance (mean over seeds, band from the lowest to the highest seed), chance dashed. Marked on
    top: each model's located window on the threshold line with a bar to the next measured distance (its
    resolution), held-out distances (hollow squares), and distances beyond training (grey)."""
    finished = with_setting(table[(table.status == "finished") & table.accuracy.notna()])
    if finished.empty:
        raise ValueError("no finished runs to plot")
    models, panels = ordered_models(finished.model), panel_order(finished)
    palette = model_palette(models)
    dense = finished.groupby("run_dir").distance.transform("nunique").max() > 12  # a fine curve: no markers
    grid = sns.relplot(data=finished, kind="line", x="distance", y="accuracy", hue="model", hue_order=models,
                       palette=palette, col="panel", col_order=panels, col_wrap=min(3, len(panels)),
                       marker=None if dense else "o", estimator="mean", errorbar=("pi", 100), height=3.2,
                       aspect=1.25, legend=False, facet_kws={"sharex": False})
    windows = with_setting(windows) if windows is not None else None
    entries = model_handles(models, palette, finished.groupby("model").params.median())
    entries["chance"] = Line2D([], [], color="grey", linestyle="--")
    for panel, ax in grid.axes_dict.items():
        subset = finished[finished.panel == panel]
        for chance in sorted(subset.chance_accuracy.dropna().unique()):
            ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
        heldout = subset[subset.heldout == True].groupby(["model", "distance"]).accuracy.mean()  # noqa: E712
        for (model, distance), accuracy in heldout.items():
            ax.scatter([distance], [accuracy], marker="s", s=30, facecolor="white", edgecolor=palette[model], zorder=5)
            entries[HELDOUT_TEXT] = hollow("s")
        trained = subset[subset.trained == True].distance  # noqa: E712
        if len(trained) and subset.distance.max() > trained.max():
            ax.axvspan(trained.max() * 2 ** 0.25, subset.distance.max() * 2 ** 0.25, color="grey", alpha=0.12, lw=0)
            entries["beyond training"] = Patch(color="grey", alpha=0.12)
        if windows is not None:
            entries.update(mark_windows(ax, windows[windows.panel == panel], palette))
        log2_axis(ax)
        ax.set_ylim(-0.02, 1.05)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("dependency distance (steps back)", "accuracy on scored positions")
    grid.add_legend(legend_data=entries, label_order=list(entries), fontsize=8)
    seeds = finished.seed.nunique()
    grid.figure.suptitle(f"Accuracy vs dependency distance: mean over {seeds} seed{'s' * (seeds > 1)}, band = min to "
                         f"max over seeds\nbudget: {budget_text(finished)}", fontsize=9, y=1.1)
    return grid


def mark_windows(ax, windows: pd.DataFrame, palette) -> dict:
    """A marker on the threshold line at each model's located window, with a bar to its deciding distance (the
    next measured one: the window lies in between): triangles when censored, a cross for an offset shortcut,
    hollow where no window is claimed. Returns the legend entries it used."""
    entries = {}
    for threshold in sorted(windows.threshold.unique()):
        ax.axhline(threshold, color="black", linestyle=":", linewidth=0.8)
        entries[f"window threshold {threshold:.2f}"] = Line2D([], [], color="black", linestyle=":")
    for row in windows[windows.window.notna()].itertuples(index=False):
        marker = "X" if row.verdict == "offset_shortcut" else {"none": "D", "above": ">", "below": "<"}[row.censored]
        face = palette[row.model] if row.verdict in ("measured", "at_least") else "white"
        if row.censored == "none" and row.deciding_distance == row.deciding_distance:
            ax.plot([row.window, row.deciding_distance], [row.threshold] * 2, color=palette[row.model], linewidth=3,
                    alpha=0.6, zorder=5)
        ax.scatter([row.window], [row.threshold], marker=marker, s=50, facecolor=face, edgecolor="black",
                   linewidth=0.6, zorder=6)
    if len(windows):
        entries["located window (▶ ≥, ◀ <), bar: to the next measured distance"] = \
            Line2D([], [], linestyle="", marker="D", color="grey")
    if (windows.verdict == "offset_shortcut").any():
        entries["offset shortcut: no window"] = Line2D([], [], linestyle="", marker="X", color="grey")
    return entries


# ------------------------------------------------------------------------------------------ effective window


def effective_window_plot(windows: pd.DataFrame):
    """The effective window per model (colour) and task (x), log2 y axis, the range over seeds as bars, one panel
    per setting. Triangles: censored (up: >= the largest measured distance; down: < the smallest); hollow: no
    window claimed (budget-bound, not learned); a cross: offset shortcut. A grey bar behind each task spans the
    distances measured."""
    frame = with_setting(windows[windows.window.notna()])
    if frame.empty:
        frame = with_setting(windows).assign(window=np.nan)
    models, settings = ordered_models(frame.model), setting_order(frame.setting)
    tasks = sorted(frame.task.unique(), key=natural)
    palette = model_palette(models)
    grid = sns.FacetGrid(frame, col="setting", col_order=settings, col_wrap=min(2, len(settings)), hue="model",
                         hue_order=models, palette=palette, height=3.8, aspect=max(1.0, 0.3 * len(tasks) + 0.4),
                         sharey=False)
    grid.map_dataframe(draw_windows, tasks=tasks, models=models)
    for setting, ax in grid.axes_dict.items():
        subset = frame[frame.setting == setting]
        for x, task in enumerate(tasks):
            measured = subset[subset.task == task]
            if len(measured) and measured.min_distance.notna().any():
                ax.fill_between([x - 0.4, x + 0.4], measured.min_distance.min(), measured.max_distance.max(),
                                color="grey", alpha=0.15, linewidth=0, zorder=0)
        ax.set_xticks(range(len(tasks)), tasks)
        ax.set_xlim(-0.6, len(tasks) - 0.4)
        log2_axis(ax, "y")
        if subset.min_distance.notna().any():
            ax.set_ylim(subset.min_distance.min() / 1.5, subset.max_distance.max() * 1.5)
    grid.set_titles("protocol: {col_name}", size=9)
    grid.set_axis_labels("", "effective window (steps back)")
    entries = model_handles(models, palette)
    entries.update({"≥ max measured": Line2D([], [], linestyle="", marker="^", color="grey"),
                    "< min measured": Line2D([], [], linestyle="", marker="v", color="grey"),
                    "hollow: no window claimed (budget-bound, not learned)": hollow(),
                    "cross: offset shortcut": Line2D([], [], linestyle="", marker="X", color="grey")})
    grid.add_legend(legend_data=entries, label_order=list(entries), fontsize=7)
    seeds = ", ".join(map(str, sorted(frame.n_seeds.unique())))
    grid.figure.suptitle(f"Effective context window: median over seeds of the largest measured distance whose fitted "
                         f"decreasing accuracy ≥ chance + {frame.threshold_fraction.iloc[0]:g} x (1 - chance)\nbars: "
                         "range over seeds "
                         f"(seeds per point: {seeds}); grey: distances measured\nbudget: {budget_text(frame)}",
                         fontsize=8, y=1.08)
    return grid


def draw_windows(data: pd.DataFrame, color, label: str, tasks: list[str], models: list[str]) -> None:
    """One model's windows on the current axes (FacetGrid.map_dataframe calls it per panel and model)."""
    ax = plt.gca()
    offset = (models.index(label) - (len(models) - 1) / 2) * 0.12
    for row in data[data.window.notna()].itertuples(index=False):
        x = tasks.index(row.task) + offset
        low, high = seed_extremes(row.seed_windows)
        if low != high:
            ax.plot([x, x], [low, high], color=color, linewidth=1.5)
        marker = "X" if row.verdict == "offset_shortcut" else CENSORED_MARKERS[row.censored]
        claimed = row.verdict in ("measured", "at_least")
        ax.scatter([x], [row.window], marker=marker, s=55, facecolor=color if claimed else "white",
                   edgecolor="black" if claimed else color, linewidth=1, zorder=3)


def seed_extremes(text: str) -> tuple[float, float]:
    """The shortest and longest of the seeds' windows ('15 15 ≥ 32' -> 15, 32), censored ones at their bound."""
    values = [float(part) for part in str(text).replace("≥", "").replace("<", "").split()] or [np.nan]
    return min(values), max(values)


def extrapolation_plot(table: pd.DataFrame, extrapolation: pd.DataFrame):
    """Accuracy against distance inside and past the training range, one panel per task, one line per model
    (mean over seeds; attention under each encoding is its own model). A vertical line marks the longest trained
    distance; points right of it were never trained on and sit in longer sequences than any seen in training.
    Models that cannot take the longer inputs are named in the panel's legend, never drawn as zeros."""
    finished = table[(table.status == "finished") & table.accuracy.notna() & table.task.isin(extrapolation.task)]
    finished = finished[finished.length.isna() | ~finished.trained.astype(bool)]  # positions-only rows aside
    models = ordered_models(finished.model.unique())
    palette = dict(zip(models, sns.color_palette("colorblind", len(models))))
    tasks = sorted(finished.task.unique(), key=natural)
    grid = sns.relplot(data=finished, kind="line", x="distance", y="accuracy", hue="model", hue_order=models,
                       palette=palette, col="task", col_order=tasks, col_wrap=min(3, len(tasks)), marker=None,
                       estimator="mean", errorbar=("pi", 100), height=3.3, aspect=1.3, legend=False,
                       facet_kws={"sharex": False})
    entries = model_handles(models, palette)
    for task, ax in grid.axes_dict.items():
        subset, cells = finished[finished.task == task], extrapolation[extrapolation.task == task]
        for chance in sorted(subset.chance_accuracy.dropna().unique()):
            ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
        longest = cells.max_trained_distance.dropna()
        if len(longest):
            ax.axvline(longest.max(), color="black", linestyle="-.", linewidth=1)
        cannot = ", ".join(cells[cells.verdict == "cannot"].model)
        if cannot:
            ax.text(0.02, 0.04, f"cannot: {cannot}", transform=ax.transAxes, fontsize=6)
        log2_axis(ax)
        ax.set_ylim(-0.02, 1.05)
    entries["chance"] = Line2D([], [], color="grey", linestyle="--")
    entries["longest trained distance"] = Line2D([], [], color="black", linestyle="-.")
    grid.set_titles("{col_name}")
    grid.set_axis_labels("dependency distance (steps back)", "accuracy on scored positions")
    grid.add_legend(legend_data=entries, label_order=list(entries), fontsize=7)
    grid.figure.suptitle(f"Past the trained length: right of the dash-dot line nothing was trained on, and each "
                         f"distance sits in a sequence just long enough to hold it\nbudget: {budget_text(finished)}",
                         fontsize=8, y=1.08)
    return grid


# ----------------------------------------------------------------------------------------- training dynamics


def dynamics_matrix(history: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, float]]:
    """(distance x step) mean accuracy over runs, and the median step at which runs stopped themselves, per
    distance. A run that stopped itself keeps its last accuracy afterwards: its weights no longer change."""
    steps = sorted(history.step.unique())
    per_run = []
    for _, run in history.groupby("run_dir"):
        matrix = run.pivot_table(index="distance", columns="step", values="accuracy", aggfunc="mean")
        matrix = matrix.reindex(columns=steps)
        per_run.append(matrix.ffill(axis=1) if run.stop_reason.iloc[0] in STOPPED_ITSELF else matrix)
    mean = pd.concat(per_run).groupby(level=0).mean().sort_index()
    stopped = history[history.stop_reason.isin(STOPPED_ITSELF)].groupby(["run_dir", "distance"]).step.max()
    return mean, stopped.groupby(level="distance").median().to_dict() if len(stopped) else {}


def training_dynamics(history: pd.DataFrame, task: str):
    """Heatmaps of validation accuracy (colour) against evaluation step (x) and distance (y), one per model
    (columns) and setting (rows) for one task: whether long distances are learned late, or never."""
    subset = with_setting(history[history.task == task])
    models, settings = ordered_models(subset.model), setting_order(subset.setting)
    grid = sns.FacetGrid(subset, row="setting", col="model", row_order=settings, col_order=models, sharex=False,
                         sharey=False, height=2.9, aspect=1.1)
    grid.map_dataframe(heatmap)
    grid.set_titles("{col_name} · {row_name}" if len(settings) > 1 else "{col_name}", size=9)
    grid.set_axis_labels("training step", "distance")
    colours = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0, 1), "viridis")
    grid.figure.colorbar(colours, ax=grid.axes.ravel().tolist(), label="validation accuracy", shrink=0.9)
    chance = ", ".join(f"{c:.3g}" for c in sorted(subset.chance_accuracy.dropna().unique()))
    seeds = subset.seed.nunique()
    grid.figure.suptitle(f"{task}: accuracy per distance during training (mean over {seeds} seed{'s' * (seeds > 1)}; "
                         f"chance {chance}); | = stopped itself, later cells repeat the final accuracy; * = not "
                         f"trained on\nbudget: {budget_text(subset)}", fontsize=8, y=1.06)
    return grid


def heatmap(data: pd.DataFrame, **_) -> None:
    ax = plt.gca()
    matrix, stop_steps = dynamics_matrix(data)
    ax.imshow(matrix.to_numpy(), origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1,
              interpolation="nearest")
    steps, distances = list(matrix.columns), list(matrix.index)
    for d, step in stop_steps.items():
        ax.scatter([int(np.argmin([abs(s - step) for s in steps]))], [distances.index(d)], marker="|", s=60,
                   color="white")
    trained = set(data[data.trained.astype(bool)].distance)
    ax.set_yticks(range(len(distances)), [f"{d}" if d in trained else f"{d}*" for d in distances], fontsize=7)
    shown = range(len(steps)) if len(steps) <= 10 else np.unique(np.linspace(0, len(steps) - 1, 6).round().astype(int))
    ax.set_xticks(list(shown), [str(int(steps[i])) for i in shown], fontsize=7)


# ----------------------------------------------------------------------------------------- steps to learn


def steps_to_learn_plot(steps: pd.DataFrame):
    """Steps to reach the threshold against distance, log-log, one line per model (median over the seeds that
    learned it, band from the fastest to the slowest); a hollow triangle above the budget line for every run
    that never did."""
    frame = with_setting(steps)
    models, panels = ordered_models(frame.model), panel_order(frame)
    palette = model_palette(models)
    grid = sns.FacetGrid(frame, col="panel", col_order=panels, col_wrap=min(3, len(panels)), hue="model",
                         hue_order=models, palette=palette, height=3.2, aspect=1.25, sharex=False, sharey=False)
    grid.map_dataframe(draw_steps)
    entries = model_handles(models, palette)
    for panel, ax in grid.axes_dict.items():
        subset = frame[frame.panel == panel]
        budget = subset.steps.max()
        ax.axhline(budget, color="grey", linestyle="--", linewidth=0.8)
        never = subset[subset.steps_to_learn.isna()]
        for m, model in enumerate(models):
            distances = never[never.model == model].distance.unique()
            ax.scatter(distances, [budget * 1.5 * 1.1 ** m] * len(distances), marker="^", s=36, facecolor="white",
                       edgecolor=palette[model], zorder=4)
        if len(never):
            ax.text(subset.distance.min(), budget * 2.1, f"▲ not learned in {budget:.0f} steps", fontsize=7)
            entries["not learned within the run's steps"] = hollow("^")
        log2_axis(ax)
        log2_axis(ax, "y", base=10)
        ax.set_ylim(top=budget * 3)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("dependency distance (steps back)", "steps to reach the threshold")
    grid.add_legend(legend_data=entries, label_order=list(entries), fontsize=8)
    thresholds = ", ".join(f"{t:.3f}" for t in sorted(frame.threshold.unique()))
    grid.figure.suptitle(f"Steps to learn: first evaluation whose validation accuracy reached the window threshold "
                         f"({thresholds})\nbudget: {budget_text(frame)}", fontsize=9, y=1.1)
    return grid


def draw_steps(data: pd.DataFrame, color, **_) -> None:
    """One model's median steps over the seeds that learned each distance, with a band from fastest to slowest."""
    learned = data.dropna(subset=["steps_to_learn"]).groupby("distance").steps_to_learn
    if len(learned):
        spread = learned.agg(["min", "median", "max"])
        plt.gca().fill_between(spread.index, spread["min"], spread["max"], color=color, alpha=0.15, linewidth=0)
        plt.gca().plot(spread.index, spread["median"], marker="o", color=color)


# ----------------------------------------------------------------------------------------- live


def live_plot(live: pd.DataFrame):
    """Runs still training: validation accuracy per distance (top) and training loss (bottom) against step, one
    column per run, read from their metrics.jsonl."""
    distances = sorted(live.distance.dropna().unique())
    series = [f"d={d:.0f}" for d in distances] + ["loss"]
    palette = dict(zip(series, sns.color_palette("viridis", len(distances)))) | {"loss": (0.0, 0.0, 0.0)}
    quantities = [q for q in ("validation accuracy", "loss") if q in set(live.quantity)]
    grid = sns.relplot(data=live, kind="line", x="step", y="value", hue="series", hue_order=series, palette=palette,
                       row="quantity", row_order=quantities, col="run", col_order=sorted(live.run.unique()),
                       height=2.6, aspect=1.3, facet_kws={"sharey": "row", "sharex": "col"})
    last = live.groupby("run").step.max()
    for (quantity, run), ax in grid.axes_dict.items():
        ax.set_title(f"{run}\n(in progress, step {last[run]:.0f})" if quantity == grid.row_names[0] else "", fontsize=8)
        ax.set_ylabel(quantity)
    grid.figure.suptitle("Live: runs with a metrics.jsonl and no result.json yet (still training, or interrupted)",
                         fontsize=9, y=1.04)
    return grid


# ----------------------------------------------------------------------------------------- capacity


def capacity_plot(windows: pd.DataFrame, fits: pd.DataFrame, floors: pd.DataFrame, reference_bits=(1.0, 5.0)):
    """Effective window against state size, log-log, one panel per task and setting, one colour per model family
    (analysis.capacity's tables). Filled circles joined per family: measured windows; triangles: censored, at
    their bound (▲ ≥ the largest distance, ▼ < the smallest); hollow: budget-bound (no window claimed, not
    fitted); a cross: offset shortcut. Dashed: each fitted family's least-squares line over its fitted sizes.
    Grey: the task's information floor at each of ``reference_bits`` bits per state number (n-back: d = S·b /
    log2 K; recall: a vertical line at S = k·log2 K / b). Dotted: the smallest and largest distance measured."""
    frame, fits = with_setting(windows), with_setting(fits) if len(fits) else fits.assign(panel=[])
    models, panels = ordered_models(frame.model), panel_order(frame)
    palette = model_palette(models)
    grid = sns.FacetGrid(frame, col="panel", col_order=panels, col_wrap=min(3, len(panels)), hue="model",
                         hue_order=models, palette=palette, height=3.4, aspect=1.25, sharex=False, sharey=False)
    grid.map_dataframe(draw_capacity)
    styles = dict(zip(reference_bits, ["-", "-.", ":", "--"]))
    entries = model_handles(models, palette)
    for panel, ax in grid.axes_dict.items():
        subset = frame[frame.panel == panel]
        low, high = subset.state_size.min() / 1.6, subset.state_size.max() * 1.6
        for fit in fits[(fits.panel == panel) & fits.alpha.notna()].itertuples(index=False):
            sizes = np.array([float(s) for s in fit.sizes_used.split()])
            ax.plot(sizes, 2.0 ** (fit.intercept + fit.alpha * np.log2(sizes)), color=palette[fit.model],
                    linestyle="--", linewidth=1.8, zorder=5)
            entries["least-squares fit (fitted sizes)"] = Line2D([], [], color="grey", linestyle="--")
        floor = floors[floors.task == subset.task.iloc[0]]
        for bits in reference_bits if len(floor) and floor.kind.iloc[0] != "none" else ():
            label = f"floor at {bits:g} bit{'s' * (bits != 1)} per state number"
            if floor.kind.iloc[0] == "per_distance":
                sizes = np.geomspace(low, high, 50)
                ax.plot(sizes, sizes * bits / floor.bits_per_symbol.iloc[0], color="grey", linestyle=styles[bits],
                        linewidth=1)
            else:
                ax.axvline(floor.flat_bits.iloc[0] / bits, color="grey", linestyle=styles[bits], linewidth=1)
            entries[label] = Line2D([], [], color="grey", linestyle=styles[bits])
        for distance in (subset.min_distance.min(), subset.max_distance.max()):
            ax.axhline(distance, color="grey", linestyle=":", linewidth=0.7)
        log2_axis(ax)
        log2_axis(ax, "y")
        ax.set_xlim(low, high)
        ax.set_ylim(subset.min_distance.min() / 1.6, subset.max_distance.max() * 1.6)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("state size S (numbers carried per step)", "effective window (steps back)")
    entries.update({"≥ largest distance": Line2D([], [], linestyle="", marker="^", color="grey"),
                    "< smallest distance": Line2D([], [], linestyle="", marker="v", color="grey"),
                    "hollow: no window claimed (not fitted)": hollow()})
    if (frame.verdict == "offset_shortcut").any():
        entries["cross: offset shortcut (not fitted)"] = Line2D([], [], linestyle="", marker="X", color="grey")
    grid.add_legend(legend_data=entries, label_order=list(entries), fontsize=7)
    bound = int((~frame.verdict.isin(["measured", "at_least"])).sum())
    growing = ", ".join(ordered_models(frame[frame.state_grows.astype(bool)].model))
    growing = f"; {growing}: state grows with the sequence (key-value cache), not fitted" if growing else ""
    grid.figure.suptitle(f"Effective window against state size (log-log); windows as in the effective-window table, "
                         f"each size its own cell\n{bound} cell{'s' * (bound != 1)} without a window drawn hollow and "
                         f"not fitted{growing}; dotted: smallest and largest distance measured\nbudget: "
                         f"{budget_text(frame)}", fontsize=8, y=1.1)
    return grid


def draw_capacity(data: pd.DataFrame, color, **_) -> None:
    """One family's windows against state size on the current axes (FacetGrid.map_dataframe, per panel)."""
    ax = plt.gca()
    data = data.sort_values("state_size")
    data = data[data.window.notna()]
    claimed = data.verdict.isin(["measured", "at_least"])
    measured = data[claimed & (data.censored == "none")]
    ax.plot(measured.state_size, measured.window, color=color, marker="o", markeredgecolor="black",
            markeredgewidth=0.6, linewidth=0.8, alpha=0.8, zorder=3)
    for row in data[~claimed | (data.censored != "none")].itertuples(index=False):
        marker = "X" if row.verdict == "offset_shortcut" else CENSORED_MARKERS[row.censored]
        unclaimed = row.verdict not in ("measured", "at_least")
        ax.scatter([row.state_size], [row.window], marker=marker, s=50, facecolor="white" if unclaimed else color,
                   edgecolor=color if unclaimed else "black", linewidth=1, zorder=4)


def window_growth_plot(growth: pd.DataFrame, windows: pd.DataFrame, task: str):
    """One task: the median over seeds of the validation window at every rung of the ladder, one panel per model
    family (and setting), one line per state size (light to dark: small to large), log2 window axis. Triangles:
    censored at that rung. Each size's legend entry says what limited it."""
    frame = with_setting(growth[growth.task == task])
    limited = with_setting(windows[windows.task == task])
    models, settings = ordered_models(frame.model), setting_order(frame.setting)
    # one panel per (family, setting) that exists: a family run at one budget only gets no empty panel
    present = set(zip(frame.model, frame.setting))
    panels = [f"{m} · {s}" if len(settings) > 1 else m for m in models for s in settings if (m, s) in present]
    frame = frame.assign(panel=[f"{m} · {s}" if len(settings) > 1 else m for m, s in zip(frame.model, frame.setting)])
    grid = sns.FacetGrid(frame, col="panel", col_order=panels, col_wrap=min(5, len(panels)), sharex=False,
                         sharey=False, height=2.9, aspect=1.2)
    grid.map_dataframe(draw_growth, limited=limited)
    for ax in grid.axes.flat:
        if ax.lines:  # FacetGrid drops legends drawn while mapping
            ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    grid.set_titles("{col_name}", size=9)
    grid.set_axis_labels("training step", "effective window")
    grid.figure.suptitle(f"{task}: validation window at each rung of the ladder (median over seeds), per state size "
                         f"S; ▲ ≥ largest, ▼ < smallest distance\nbudget: {budget_text(frame)}", fontsize=8, y=1.06)
    grid.figure.subplots_adjust(wspace=0.9)  # room for each panel's legend of sizes
    return grid


def draw_growth(data: pd.DataFrame, limited: pd.DataFrame, **_) -> None:
    """One family's window against step, a line per state size, on the current axes."""
    ax = plt.gca()
    sizes = sorted(data.state_size.unique())
    colours = sns.color_palette("viridis_r", len(sizes) + 1)[1:]  # small (light) to large (dark), no pale yellow
    first = data.iloc[0]
    kinds = limited[(limited.model == first.model) & (limited.setting == first.setting)]
    kinds = kinds.drop_duplicates("state_size").set_index("state_size")
    for size, colour in zip(sizes, colours):
        series = data[data.state_size == size].sort_values("step")
        kind = kinds.limited_by.get(size, "")
        ax.plot(series.step, series.window, color=colour, linewidth=1.2, label=f"S={size:g} {kind.replace('_', ' ')}")
        for censored, marker in (("above", "^"), ("below", "v")):
            points = series[series.censored == censored]
            ax.scatter(points.step, points.window, marker=marker, s=18, color=colour, zorder=3)
    log2_axis(ax, "y")


# ---------------------------------------------------------------------------------------------- cost


def cost_plot(cost: pd.DataFrame, slopes: pd.DataFrame):
    """Time and memory against sequence length (benchmarks.cost's tables: one training step, or reading one
    sequence at inference), log-log, one panel each, one line per model (colour: its conf/model, dashed: the
    explicit attention path) named with its fitted slopes; slope-1 and slope-2 guides in grey."""
    measured = cost[cost.status == "measured"]
    inference = str(measured["mode"].iloc[0]) == "inference" if "mode" in measured else False
    what = "reading one sequence at inference" if inference else "one training step"
    fitted = slopes.pivot_table(index="model", columns="metric", values="slope")
    label = {m: f"{m} (slope time {fitted.loc[m].get('time', np.nan):.2f}, memory "
                f"{fitted.loc[m].get('memory', np.nan):.2f})" if m in fitted.index else m for m in measured.model}
    colour = model_palette(measured.config)
    measured = measured.assign(label=measured.model.map(label))
    long = pd.concat([measured.assign(metric=f"time of {what} (ms)", value=measured.step_time_s * 1e3),
                      measured.assign(metric=f"memory of {what} (MiB)", value=measured.memory_bytes * 2.0 ** -20)])
    grid = sns.relplot(data=long, kind="line", x="seq_len", y="value", hue="label", style="path", marker="o",
                       palette={label[m]: colour[c] for m, c in zip(measured.model, measured.config)}, col="metric",
                       height=3.6, aspect=1.2, facet_kws={"sharey": False})
    low, high = measured.seq_len.min(), measured.seq_len.max()
    for metric, ax in grid.axes_dict.items():
        lines = long[long.metric == metric]
        anchor = lines[lines.seq_len == low].value.median()
        for power, style in ((1, (0, (1, 3))), (2, (0, (4, 4)))):
            ax.plot([low, high], [anchor, anchor * (high / low) ** power], color="grey", linestyle=style, lw=0.8)
        log2_axis(ax)
        ax.set_yscale("log")
    grid.set_titles("{col_name}", size=9)
    grid.set_axis_labels("sequence length L", "")
    first = cost.iloc[0]
    skipped = int((cost.status == "skipped").sum())
    params = ", ".join(f"{m} {p / 1e3:.0f}k" for m, p in measured.groupby("model", sort=False).params.median().items())
    grid.figure.suptitle(f"Cost of {what} (batch {int(first.batch_size)}) on {first.device_name or first.device}, "
                         f"{first.torch_threads} thread(s); params: {params}\ntime: median of "
                         f"{int(measured.repeats.max())} repeats; memory: {measured.memory_meaning.iloc[0]}\nslopes "
                         "fitted over the longest half of the lengths measured; grey: slope 1 (dotted) and 2 "
                         f"(dashed); {skipped} (model, length) skipped for the time or memory budget",
                         fontsize=8, y=1.12)
    return grid
