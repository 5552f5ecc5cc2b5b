"""The sections of report.md, in order. Each is a pure function of one ``Report`` (analysis.report): it returns a
``Part``, its markdown with the figures and tables it refers to, and writes nothing; analysis.report writes them
all in one place. A new plot is one function here plus one entry in ``SECTIONS``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis import beyond, capacity, plots
from analysis.records import CELL, model_labels
from analysis.records import relative as rel
from analysis.steps import steps_to_learn
from analysis.sweep import job_label

if TYPE_CHECKING:
    from analysis.tables import Report

@dataclass
class Part:
    """A section's markdown, and the files it refers to by name: figures (stem -> figure, written as PNG and PDF)
    and tables (stem -> frame, written as CSV). ``labels`` names outputs for the report's list of files."""

    text: str = ""
    figures: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)

    def figure(self, figure, stem: str, label: str | None = None) -> Path:
        self.figures[stem], self.labels[stem] = figure, label or stem
        return Path(f"{stem}.png")

    def table(self, frame: pd.DataFrame, stem: str) -> pd.DataFrame:
        self.tables[stem] = frame
        return frame

    def done(self, text: str) -> Part:
        self.text = text
        return self


CAVEAT = ("Every window here holds for the stated training budget only: 'measured' means more training up the ladder "
          "did not change it, not that no budget ever would. A '≥' value is bounded by the longest distance measured, "
          "not by the model.")


def header(report: Report) -> Part:
    found, directory = report.results, report.directory
    count = len(found.records)
    lines = [f"# Context-window report: `{directory.name}`", "",
             f"Built by `python -m analysis.report {directory}` from {count} stored result.json "
             f"record{'s' * (count != 1)}; nothing was trained or run to write it. Threshold: "
             f"{report.fraction:g} of the way from chance to 1.0."]
    for sweep in found.sweeps:
        where = f"Sweep `{sweep.name}` (`{rel(sweep.path, directory)}`, state: {sweep.state})"
        no_result = f", {len(sweep.failed)} failed without writing one" if sweep.failed else ""
        if sweep.partial:
            lines.append(f"\n> **Partial results.** {where}: {sweep.with_results} of {len(sweep.jobs)} runs have "
                         f"results, {len(sweep.pending)} pending{no_result}. The sweep is still running or was "
                         f"interrupted{' (its manifest says it is running)' if sweep.state == 'running' else ''}; "
                         "every number below covers the finished runs only. Rerun this report when it is done.")
        elif sweep.failed:
            lines.append(f"\n{where} finished: {sweep.with_results} of {len(sweep.jobs)} runs have results"
                         f"{no_result} (see [Runs](#runs)).")
        else:
            lines.append(f"\n{where} finished: all {len(sweep.jobs)} runs have results.")
    if not found.sweeps:
        lines.append(f"\nNo sweep manifest (sweep.json) was read here: the report covers the {count} result files it "
                     "found and cannot tell whether any run is missing.")
    failed = sum(not r.complete for r in found.records) + sum(len(s.failed) for s in found.sweeps)
    if failed:
        lines.append(f"\n{failed} run{'s' * (failed > 1)} failed; see [Runs](#runs).")
    if found.unreadable:
        lines.append(f"\n{len(found.unreadable)} result file{'s' * (len(found.unreadable) > 1)} could not be read and "
                     f"{'were' if len(found.unreadable) > 1 else 'was'} skipped; see [Runs](#runs).")
        stale = [why for _, why in found.unreadable if "lacks what the rule needs" in why]
        if stale:
            cells = sorted({why.split(", seed")[0] for why in stale})
            lines.append(f"\n**Not judged:** {len(stale)} record{'s' * (len(stale) > 1)} made before the evidence "
                         f"the rule reads was stored ({'; '.join(cells[:12])}{' ...' if len(cells) > 12 else ''}). "
                         f"{stale[0].split('; ', 1)[1].capitalize()}.")
    if found.live_dirs:
        lines.append(f"\n{len(found.live_dirs)} run(s) are in progress (a metrics.jsonl and no result.json yet); "
                     "their curves so far are under [Live](#live).")
    if not count:
        lines.append(f"\n**No results.** No result.json record was found under `{directory}`. Run a sweep first, "
                     "e.g. `python run.py -m experiment=quick`, then rerun this report.")
    return Part("\n".join(lines))


def findings(report: Report) -> Part:
    windows, table = report.windows, report.table
    lines = ["## What was found", ""]
    failures = table[table.status != "finished"].drop_duplicates("run_dir")
    swept = report.swept_cells()
    for (task, protocol), group in windows.groupby(["task", "protocol"], sort=True):
        measured = f"distances {group.min_distance.min():.0f}–{group.max_distance.max():.0f}" \
            if group.min_distance.notna().any() else "no test curve yet"
        parts = [claim(row, swept) for row in group.set_index("model").loc[plots.ordered_models(group.model)]
                 .reset_index().itertuples()]
        failed = failures[(failures.task == task) & (failures.protocol == protocol)]
        failed_text = "".join(f" {model}: {n} run{'s' * (n > 1)} failed (not counted)."
                              for model, n in failed.groupby("model").size().items())
        lines.append(f"- **{task}** ({protocol}; {measured}): {'; '.join(parts)}.{failed_text}")
    measured_groups = set(zip(windows.task, windows.protocol))
    for (task, protocol), failed in failures.groupby(["task", "protocol"]):
        if (task, protocol) not in measured_groups:
            lines.append(f"- **{task}** ({protocol}): no finished run, so no window; {len(failed)} run(s) failed "
                         f"({', '.join(sorted(set(failed.model)))}); see [Runs](#runs).")
    lines += [f"- {line}" for line in attention_findings(report.directory) + cost_findings(report.directory)]
    return Part("\n".join(lines + ["", f"*{CAVEAT}*"]))


def claim(row, swept: set) -> str:
    """One model's finding: a window only where its verdict allows one, with its budget and the chosen lr."""
    text = f"{row.model} ({row.params / 1e3:.0f}k params): {row.claim}" \
        if row.params == row.params else f"{row.model}: {row.claim}"
    if (row.task, row.protocol, row.model, row.batch_size) in swept:
        text += f", at lr {row.lr:g} (chosen on validation)"
    return text


def attention_findings(directory: Path) -> list[str]:
    """Per model and task: how much attention the best head of the best layer puts on the answer position."""
    paths = [p for p in sorted(directory.rglob("attention_mass.csv")) if (p.parent / "result.json").exists()]
    if not paths:
        return []
    mass = pd.concat([pd.read_csv(path).assign(run_dir=str(path.parent)) for path in paths], ignore_index=True)
    if not {"model", "task", "layer", "head", "distance", "uniform_baseline"} <= set(mass.columns):
        return []
    lines = []
    for (model, task), group in mass.groupby(["model", "task"]):
        best = group.groupby(["run_dir", "layer", "distance"]).mass_on_answer.max().reset_index()
        layer = best.groupby("layer").mass_on_answer.mean().idxmax()
        chosen = best[best.layer == layer]
        distances = sorted(chosen.distance.unique())
        lines.append(f"**Attention maps**, {model} on {task} ({group.run_dir.nunique()} run(s), distances "
                     f"{distances[0]}–{distances[-1]}): the best head of layer {layer} puts "
                     f"{chosen.mass_on_answer.min():.2f}–{chosen.mass_on_answer.max():.2f} of a scored query's "
                     f"attention on its answer position (uniform attention: {group.uniform_baseline.min():.2f}–"
                     f"{group.uniform_baseline.max():.2f}).")
    return lines


def cost_findings(directory: Path) -> list[str]:
    """The fitted log-log slopes of time and memory per model, with the device they were measured on."""
    if not (directory / "cost_slopes.csv").exists() or not (directory / "cost.csv").exists():
        return []
    slopes, cost = pd.read_csv(directory / "cost_slopes.csv"), pd.read_csv(directory / "cost.csv")
    measured = cost[cost.status == "measured"]
    if slopes.empty or measured.empty:
        return []
    per_metric = {metric: ", ".join(f"{row.model} L^{row.slope:.2f}" for row in group.itertuples())
                  for metric, group in slopes.dropna(subset=["slope"]).groupby("metric", sort=False)}
    first = measured.iloc[0]
    return [f"**Cost** (one training step on {first.device_name}, {first.torch_threads} thread(s), batch "
            f"{first.batch_size}, L = {measured.seq_len.min()}–{measured.seq_len.max()}; slopes over the longest half "
            f"of the lengths): time grows as {per_metric.get('time', 'n/a')}; memory "
            f"({first.get('memory_meaning', first.memory_kind)}) as {per_metric.get('memory', 'n/a')}."]


WINDOW_DEFINITION = (
    "Each seed's window is located on its test curve: the curve is fitted by the closest decreasing step function "
    "(isotonic regression, each distance weighed by its positions), and the window is the largest measured distance "
    "whose fitted accuracy reaches chance + {f:g} x (1 − chance), to the resolution of the curve (1 step where the "
    "task can place a dependency at every distance). Nothing between measured distances is interpolated. The table "
    "gives the median over seeds and the range; an interval only with 5 or more seeds. Verdicts come from the "
    "validation curves at the rungs of the budget ladder, by the rule stated once in `harness/verdict.py` "
    "(clauses 4 and 5): **measured** when more training did not move the window, **at least** when the longest "
    "distance is still reached, **budget-bound** when it still moved at the top rung, **not learned** when at "
    "chance at the last two rungs or held still below the threshold at every distance, **offset shortcut** when a "
    "held-out distance fails against its trained neighbours on most seeds. Where the test and validation curves "
    "disagree on whether the window reaches the longest distance, the verdict column says so. Full tables: "
    "[effective_window.csv](effective_window.csv), [seed_windows.csv](seed_windows.csv), "
    "[run_verdicts.csv](run_verdicts.csv), [rungs.csv](rungs.csv).")


def window_section(report: Report) -> Part:
    part = Part()
    windows = report.windows
    part.table(windows, "effective_window")
    part.table(report.seed_windows, "seed_windows")
    part.table(report.run_verdicts, "run_verdicts")
    part.table(report.results.rungs.drop(columns="answers"), "rungs")
    if windows.empty:
        return part.done("## Effective context window\n\nNo run finished, so there is no window to measure; see "
                         "[Runs](#runs).")
    lines = ["## Effective context window", "", WINDOW_DEFINITION.format(f=report.fraction), ""]
    shown = windows.assign(params=windows.params.map(lambda p: f"{p:,.0f}" if p == p else ""),
                           resolution=windows.resolution.map(lambda r: f"{r:.0f}" if r == r else ""),
                           verdict=windows.verdict_text)
    lines.append(markdown_table(shown, {"task": "task", "protocol": "protocol", "model": "model", "params": "params",
                                        "lr": "lr", "verdict": "verdict", "window_text": "window",
                                        "range_text": "seeds' range", "resolution": "resolution",
                                        "interval_text": "95% interval", "n_seeds": "seeds",
                                        "budget_text": "trained (up to the deciding rung)", "why": "why"}))
    path = part.figure(plots.effective_window_plot(windows), "effective_window", "effective_window_figure")
    return part.done("\n".join(lines + ["", image(path, "Effective window per model and task")]))


def accuracy_section(report: Report) -> Part:
    part = Part()
    table = report.table
    if not ((table.status == "finished") & table.accuracy.notna()).any():
        return part.done("## Accuracy against distance\n\nNo finished run to plot.")
    extended = report.extended[0]  # distances past training drawn on the same curve; positions-only rows aside
    shown = extended[extended.length.isna() | extended.beyond.fillna(False).astype(bool)]
    path = part.figure(plots.accuracy_vs_distance(shown, report.windows), "accuracy_vs_distance", "figure")
    return part.done(f"## Accuracy against distance\n\n{image(path, 'Accuracy against distance')}\n\nMean "
                     "accuracy (test sets) over seeds at every measured distance (log2), with a band from the lowest "
                     "to the highest seed; dashed: chance; dotted: the window threshold. Each model's located window "
                     "is marked on it (a diamond at the window and a bar to the next measured distance, its "
                     "resolution; triangles when censored; hollow when no window is claimed; a cross for an offset "
                     "shortcut). Hollow squares: held-out distances. Grey region: distances past the longest "
                     "trained one (train.extrapolate), each in a sequence just long enough to hold it.")


def heldout_section(report: Report) -> Part:
    part = Part()
    gaps = part.table(report.gaps, "heldout_gaps")
    lines = ["## Held-out distances", ""]
    if gaps.empty:
        return part.done("\n".join(lines + ["No held-out distances were evaluated (they need train.protocol=mixed or "
                                  "dense, "
                                  "train.heldout=auto, and a task that can place a dependency at a distance it was "
                                  "not trained on), so nothing here checks for an offset shortcut."]))
    shown = gaps.assign(**{c: gaps[c].map("{:.3f}".format) for c in ("accuracy", "expected", "gap", "noise")},
                        neighbours=[f"{a:.0f}, {b:.0f}" for a, b in zip(gaps.below, gaps.above)],
                        shortcut=gaps.shortcut.map({True: "**yes**", False: "no"}))
    lines += ["Validation accuracy at each distance held out of training (never trained on, incidental positions "
              "included), against the interpolation (linear in log2 distance) of its nearest trained neighbours, at "
              "each run's last rung, positions pooled over seeds; a shortcut when the gap is below −2 × noise and "
              "below −0.05 (harness/verdict.py, clause 5). Table: [heldout_gaps.csv](heldout_gaps.csv).", "",
              markdown_table(shown, {"task": "task", "protocol": "protocol", "model": "model", "distance": "held out",
                                     "accuracy": "accuracy", "neighbours": "trained neighbours",
                                     "expected": "interpolated", "gap": "gap", "noise": "noise",
                                     "shortcut": "shortcut"})]
    return part.done("\n".join(lines))


def steps_section(report: Report) -> Part:
    part = Part()
    steps = part.table(steps_to_learn(report.history, report.fraction), "steps_to_learn")
    if steps.empty:
        return part.done("## Steps to learn\n\nNo finished run with an evaluation history.")
    path = part.figure(plots.steps_to_learn_plot(steps), "steps_to_learn", "steps_to_learn_figure")
    never = steps.steps_to_learn.isna().sum()
    return (part.done(f"## Steps to learn\n\n{image(path, 'Steps to learn')}\n\nFor every run and distance, the "
            "first evaluation "
            "step at which the validation accuracy at that distance reached the window threshold (an upper bound, to "
            f"within train.eval_every). {never} of {len(steps)} (run, distance) pairs never did within the steps "
            "their run took (hollow triangles above the budget line). Table: "
            "[steps_to_learn.csv](steps_to_learn.csv)."))


def dynamics_section(report: Report) -> Part:
    part = Part()
    history = report.history
    if history.empty:
        return part.done("## Training dynamics\n\nNo finished run with an evaluation history to plot.")
    lines = ["## Training dynamics", "",
             "Validation accuracy at every evaluation (colour) by training step (x) and distance (y), mean over seeds. "
             "A run that stopped itself (at its target, or decided on the ladder) keeps its final accuracy after the "
             "white tick; "
             "`*` marks distances it was not trained on. Table: [training_history.csv](training_history.csv).", ""]
    for task in sorted(history.task.unique()):
        path = part.figure(plots.training_dynamics(history, task), f"training_dynamics_{task}", f"dynamics_{task}")
        lines += [image(path, path.stem.replace("_", " ")), ""]
    return part.done("\n".join(lines))


def capacity_section(report: Report) -> Part:
    """Effective window against state size and against the budget ladder (analysis.capacity)."""
    part = Part()
    found = capacity.analyse(report.windows, report.seed_windows, report.run_verdicts, report.rungs,
                             report.results.runs.assign(config=[r.config for r in report.run_records]),
                             report.fraction)
    if not found.enough:
        return part.done(f"## Capacity\n\n{capacity.NOT_ENOUGH}")
    windows, fits = part.table(found.windows, "capacity_windows"), part.table(found.fits, "capacity_fit")
    grid = plots.capacity_plot(windows, fits, found.floors, capacity.REFERENCE_BITS)
    lines = ["## Capacity", "", capacity.reading(), "",
             image(part.figure(grid, "capacity_window_vs_state", "capacity_figure"), "Window against state size"),
             "", *[f"- {text}" for text in found.floors.text], "",
             markdown_table(capacity.fit_rows(fits), {"model": "model", "task": "task", "protocol": "protocol",
                                                       "alpha": "α", "spread": "α over seeds", "r_squared": "R²",
                                                       "n_points": "sizes fitted", "sizes_left_out": "left out",
                                                       "bits_text": "bits per state number"}), "",
             *[f"- {text}" for text in capacity.findings(found)], ""]
    for task in sorted(found.growth.task.unique()):
        path = part.figure(plots.window_growth_plot(found.growth, windows, task), f"capacity_growth_{task}")
        lines += [image(path, f"{task}: window at each rung of the ladder"), ""]
    return part.done("\n".join(lines))


def beyond_section(report: Report) -> Part:
    """Windows past the training length beside the windows inside it (analysis.beyond)."""
    part = Part()
    table, _ = report.extended
    found = report.extrapolation
    if found.empty:
        return part.done("")
    part.table(found, "extrapolation")
    positions = part.table(beyond.position_table(table), "positions_beyond_training")
    lines = ["## Beyond the trained length", "",
             "Each run was also scored past the length it trained on: at distances past the longest trained one, "
             "each in sequences of its own length, and at its trained distances in the longest of those sequences "
             "(where only the positions are new). The extended window is located on the in-range curve plus the "
             "distances beyond, and judged by the same rule (`harness/verdict.py`). Tables: "
             "[extrapolation.csv](extrapolation.csv), [positions_beyond_training.csv]"
             "(positions_beyond_training.csv).", "",
             *[f"- {line}" for line in beyond.summary(found)], "",
             markdown_table(found.assign(cannot=found.cannot.fillna(""), resolution=found.resolution.map(
                                 lambda r: f"{r:.0f}" if r == r and r is not None else "")),
                            {"task": "task", "model": "model", "lr": "lr", "in_range_text": "window in range",
                             "in_range_verdict_text": "its verdict", "max_trained_distance": "longest trained",
                             "train_length": "trained at length", "window_text": "window past training",
                             "resolution": "resolution", "range_text": "seeds' range", "verdict_text": "verdict",
                             "max_distance": "longest measured", "read_at": "read at (steps)",
                             "cannot": "cannot because", "budget_text": "trained"}), ""]
    if len(positions):
        shown = positions.assign(**{c: positions[c].map("{:.3f}".format) for c in ("accuracy", "accuracy_long",
                                                                                   "change")})
        lines += ["Trained distances at a longer length (position only):", "",
                  markdown_table(shown, {"task": "task", "model": "model", "distance": "distance",
                                         "train_length": "trained at length", "accuracy": "accuracy there",
                                         "length": "longer length", "accuracy_long": "accuracy at it",
                                         "change": "change"}), ""]
    path = part.figure(plots.extrapolation_plot(table, found), "extrapolation", "extrapolation_figure")
    return part.done("\n".join(lines + [image(path, "Accuracy past the training length")]))


def live_section(report: Report) -> Part:
    part = Part()
    live = report.results.live
    if live.empty:  # nothing training: analysis.report removes what a report made while the sweep ran
        return part.done("")
    part.table(live, "live_metrics")
    path = part.figure(plots.live_plot(live), "live")
    latest = live.sort_values("step").groupby(["run", "series"]).value.last().unstack("series")
    latest.insert(0, "step", live.groupby("run").step.max())
    frame = latest.reset_index().rename(columns=str)
    return part.done("\n".join(["## Live", "", f"**In progress.** {len(latest)} run(s) have a metrics.jsonl and no "
                      "result.json: "
                      "still training, or interrupted. Their curves so far (validation accuracy per distance, and "
                      "training loss, against step); nothing above counts them. Table: "
                      "[live_metrics.csv](live_metrics.csv).", "", image(path, "Live runs"), "",
                      markdown_table(frame.map(lambda v: f"{v:.3f}" if isinstance(v, float) else v))]))


def attention_section(report: Report) -> Part:
    part = Part()
    directory = report.directory
    trained = {str(Path(r.run_dir).resolve()): r for r in report.results.records}
    maps = sorted(directory.rglob("attention_maps.png"), key=lambda p: (
        p.parent.name.rsplit("_", 1)[0], min(getattr(trained.get(str(p.parent.resolve())), "train_distances", [-1])),
        p.parent.name))
    combined = directory / "attention_mass.png"
    lines = ["## Attention maps", ""]
    if not maps and not combined.exists():
        return part.done("\n".join(lines + ["None made yet. `python -m analysis.attention RUN_DIR [RUN_DIR ...]` "
                                  "draws one test "
                                  "example's attention weights (every layer and head, explicit path) for finished runs "
                                  "of attention models and measures the attention mass on the answer position per "
                                  "distance; this report includes them once they exist."]))
    lines.append("Each map is one test example: rows are query positions, columns the keys they attend to; the "
                 "cyan boxes mark where the answer lies (t − distance) for the scored queries. The mass plot gives, "
                 "per distance, the mean attention weight a scored query puts on its answer position.")
    if combined.exists():
        lines += ["", image(combined, "attention mass on the answer position", directory)]
        if (directory / "attention_mass.csv").exists():
            lines += ["", mass_summary(pd.read_csv(directory / "attention_mass.csv"))]
    for path in maps:
        run_dir, record = path.parent, trained.get(str(path.parent.resolve()))
        what = f": {record.model} on {record.task}, trained on {record.train_distances}, seed {record.seed}" \
            if record else ""
        lines += ["", f"### `{rel(run_dir, directory)}`{what}", "", image(path, "attention maps", directory)]
        if not combined.exists() and (run_dir / "attention_mass.png").exists():
            lines += ["", image(run_dir / "attention_mass.png", "attention mass on the answer position", directory)]
        if not combined.exists() and (run_dir / "attention_mass.csv").exists():
            lines += ["", mass_summary(pd.read_csv(run_dir / "attention_mass.csv"))]
    return part.done("\n".join(lines))


def mass_summary(mass: pd.DataFrame) -> str:
    """Per (model, task,) layer and distance: the largest mean mass any head puts on the answer position."""
    keys = [key for key in ("model", "task", "layer") if key in mass.columns]
    best = mass.groupby([*keys, "distance"]).mass_on_answer.max().unstack("distance").map("{:.2f}".format)
    return "\n".join(["Largest mean mass on the answer position over heads (mean over runs where several):", "",
                      markdown_table(best.rename(columns=lambda d: f"d={d}").reset_index())])


COST_READING = (
    "How to read it: the explicit attention path materialises the (L, L) weights, so its memory and time grow "
    "quadratically. The fused kernel that training uses never stores them, so its memory grows linearly; its time "
    "is quadratic in the attention scores but linear in the projections and MLP, and the quadratic part dominates "
    "only once L is large against the model width, so its slope approaches 2 from below. Recurrent models are "
    "linear in both, but run L steps one after another. Times on a shared CPU are noisy; the curves, not single "
    "points, carry the conclusion.")


def cost_section(report: Report) -> Part:
    """benchmarks.cost's tables, when they lie in the report's directory: one training step and, with --mode
    inference, reading one sequence (the compute that reaching further costs), each drawn here."""
    part = Part()
    directory, lines = report.directory, ["## Cost scaling", ""]
    for stem, what in (("cost", "one training step"), ("cost_inference", "reading one sequence at inference")):
        table, slopes = directory / f"{stem}.csv", directory / f"{stem}_slopes.csv"
        if not table.exists() or not slopes.exists():
            continue
        cost, fitted = pd.read_csv(table), pd.read_csv(slopes)
        if not (cost.status == "measured").any():
            continue
        path = part.figure(plots.cost_plot(cost, fitted), stem, f"{stem}_figure")
        shown = fitted.assign(slope=fitted.slope.map("{:.2f}".format))
        lines += [f"**{what.capitalize()}.** Log-log slopes over the longest half of the lengths measured (2 = "
                  f"quadratic, 1 = linear). Table: [{stem}.csv]({stem}.csv).", "", image(path, f"cost of {what}"), "",
                  markdown_table(shown), ""]
    if len(lines) == 2:
        return (part.done("## Cost scaling\n\nNone measured yet. `python -m benchmarks.cost --out DIR` times one "
                "training step "
                "and measures its memory per model at sequence lengths 64 … 4096 (`--mode inference`: reading one "
                "sequence); this report draws them once the tables lie here."))
    return part.done("\n".join(lines + [COST_READING]))


def runs_section(report: Report) -> Part:
    part = Part()
    found, directory, runs = report.results, report.directory, report.results.runs
    lines = ["## Runs", ""]
    outcomes = {job.get("config_hash"): job.get("outcome") for s in found.sweeps for job in s.jobs}
    counts = runs.assign(finished=runs.status == "finished", failed=runs.status != "finished")
    counts = counts.groupby(["task", "protocol", "model"])[["finished", "failed"]].sum().reset_index()
    lines += [markdown_table(counts), ""]
    skipped = sum(outcomes.get(h) == "skipped" for h in runs.config_hash)
    if skipped:
        lines += [f"{skipped} finished run(s) were skipped by the sweep because an earlier invocation had already "
                  "finished them; their stored results are used.", ""]
    failed = runs[runs.status != "finished"]
    if len(failed):
        lines += ["Failed runs (kept out of every curve and window, never counted as zero accuracy):", "",
                  markdown_table(failed.assign(run=[rel(Path(p), directory) for p in failed.run_dir]),
                                 {"model": "model", "task": "task", "seed": "seed", "train_distances": "distances",
                                  "reason": "reason", "run": "run"}), ""]
    for title, jobs, columns in (
            ("Pending runs (listed in a sweep manifest, no result.json yet)", "pending", ["sweep", "model", "task",
                                                                                          "overrides"]),
            ("Runs the sweep marked failed that left no result.json", "failed", ["sweep", "model", "task",
                                                                                "overrides", "reason"])):
        listed = [job_label(job) | {"sweep": s.name} for s in found.sweeps for job in getattr(s, jobs)]
        if listed:
            lines += [f"{title}: {len(listed)}", "", markdown_table(pd.DataFrame(listed), {c: c for c in columns}), ""]
    if found.unreadable:
        lines += ["Unreadable result files (skipped):", ""]
        lines += [f"- `{rel(path, directory)}`: {escape(problem)}" for path, problem in found.unreadable] + [""]
    shown = runs.assign(steps=[f"{s:.0f}/{m:.0f}" if pd.notna(s) else f"–/{m:.0f}" for s, m in
                               zip(runs.steps, runs.max_steps)], verdict=runs.verdict.fillna(""),
                        wall=runs.wall_time_s.map(lambda v: f"{v:.1f}" if pd.notna(v) else ""),
                        run=[rel(Path(p), directory) for p in runs.run_dir])
    columns = {"model": "model", "task": "task", "protocol": "protocol", "lr": "lr", "seed": "seed",
               "train_distances": "trained on", "status": "status", "steps": "steps", "stop_reason": "stopped by",
               "verdict": "verdict",
               "params": "params", "wall": "wall s", "run": "run"}
    lines += ["<details><summary>Every run (also in <a href=\"runs.csv\">runs.csv</a>)</summary>", "",
              markdown_table(shown, columns), "", "</details>"]
    return part.done("\n".join(lines))


def settings_section(report: Report) -> Part:
    part = Part()
    records, runs = report.results.records, report.results.runs
    train = pd.DataFrame([r.config.get("train", {}) for r in records])
    lines = ["## Settings", "", "The numbers above rest on these settings (from each run's resolved config).", "",
             "**Training** (identical in every run unless several values are listed): " + "; ".join(
                 f"{key} = {', '.join(sorted({str(v) for v in train[key].dropna()}))}" for key in train.columns) + ".",
             "", learning_rates(report, part), ""]

    def settings(group: str) -> pd.Series:  # one text per run: its component's settings
        return pd.Series(["; ".join(f"{k}={v}" for k, v in r.config.get(group, {}).items()
                                    if k not in ("_target_", "distances", "eval_distances")) for r in records])

    labels = model_labels(records)
    models = pd.DataFrame({"model": [labels[r.run_dir] for r in records], "params": [r.params for r in records],
                           "settings": settings("model")}).groupby("model").agg(
        params=("params", lambda p: f"{min(p):,}" if p.nunique() == 1 else f"{min(p):,}–{max(p):,}"),
        settings=("settings", lambda s: " / ".join(sorted(set(s))))).loc[plots.ordered_models(runs.model)]
    def union(lists) -> str:
        return " ".join(map(str, sorted(set(sum(lists, [])))))

    tasks = pd.DataFrame({"task": [r.task for r in records], "settings": settings("task"),
                          "trained on": [r.train_distances for r in records],
                          "evaluated at": [r.eval_distances for r in records],
                          "chance": [r.chance_accuracy for r in records]}).groupby("task").agg(
        {"settings": lambda s: " / ".join(sorted(set(s))), "trained on": union, "evaluated at": union,
         "chance": lambda c: ", ".join(f"{v:.3g}" for v in sorted(set(c)))})
    lines += ["**Models** (parameter counts at each task's vocabulary):", "", markdown_table(models.reset_index()), "",
              "**Tasks:**", "", markdown_table(tasks.reset_index()), ""]

    def values(key):  # distinct values, in order
        return ", ".join(map(str, sorted(runs[key].dropna().unique()))) or "unknown"

    devices = sorted({r.device + (f" ({r.cuda_device})" if r.cuda_device else "") for r in records})
    lines += [f"**Protocols:** {values('protocol')}. **Seeds:** {values('seed')}. **Devices:** {', '.join(devices)}. "
              f"**Torch threads:** {values('torch_threads')}. **torch:** {values('torch_version')}. **Python:** "
              f"{values('python_version')}. **Code:** git {values('git_commit')}, sources {values('source_hash')}."]
    return part.done("\n".join(lines))


def learning_rates(report: Report, part: Part) -> str:
    """The lr grid of every cell where several were tried, the one the ladder chose on validation, whether it sits
    at an edge of the rates tried, and whether leaving out the seed that chose it changes any cell's verdict."""
    selection = part.table(report.lr_choice, "lr_selection")
    swept = selection[selection.groupby(CELL).lr.transform("nunique") > 1]
    if swept.empty:
        rates = ", ".join(f"{lr:g}" for lr in sorted(selection.lr.unique()))
        return (f"**Learning rate:** fixed, one per cell ({rates}); nothing was chosen. Table: "
                "[lr_selection.csv](lr_selection.csv).")
    edges = swept.groupby(CELL).lr.agg(["min", "max"])
    grid = swept.assign(tried=[f"{r.lr:g} ({r.val_accuracy:.3f} ± {r.val_error:.3f})" for r in swept.itertuples()],
                        chosen=swept.lr.where(swept.chosen)).groupby(CELL).agg(
        tried=("tried", ", ".join), seed=("seed", "first"), rung=("rung", "max"),
        chosen=("chosen", lambda c: f"{c.max():g}" if c.notna().any() else "still choosing")).reset_index()
    grid["edge"] = [("highest tried" if float(c) == edges.loc[tuple(k), "max"] else "lowest tried"
                     if float(c) == edges.loc[tuple(k), "min"] else "") if c != "still choosing" else ""
                    for c, k in zip(grid.chosen, grid[CELL].itertuples(index=False))]
    check = part.table(report.without_choosing_seed, "without_choosing_seed")
    changed = check[check.changed]
    listed = "; ".join(f"{r.task} {r.model} ({r.verdict} to {r.verdict_without})" for r in changed.itertuples())
    seed_line = (f"Leaving out the seed that chose the rate changes the verdict of {len(changed)} of {len(check)} "
                 f"cells{': ' + listed if listed else ''} (table: "
                 "[without_choosing_seed.csv](without_choosing_seed.csv)).")
    return "\n".join(["**Learning rate**, chosen per cell on its first seed by successive halving up the budget ladder "
                      "(harness/verdict.py, clause 6): from the second rung on, a rate whose mean validation accuracy "
                      "over the curve's distances is more than 3 standard errors behind the best stops climbing; a "
                      "choice at an edge of the grid adds the next rate past it, judged at the same rungs, while the "
                      "new one wins (at most three). Test accuracy never enters the choice; every window and curve "
                      "above is at the chosen lr. A chosen rate still at an edge is marked. Table: "
                      "[lr_selection.csv](lr_selection.csv).", "",
                      markdown_table(grid.rename(columns={"tried": "lr (mean validation accuracy at the rung)",
                                                          "edge": "at the edge"})), "", seed_line])


def load_lines(report: Report, figure_dir: str = "") -> tuple[list[str], dict]:
    """The load axis (analysis/load_axis.py) as markdown lines and figures, for report.md and the results page:
    the answer per model, items held per model and task, each load's window, what each load asks, the law
    against state where several sizes were trained, and one heatmap per task."""
    loads = report.loads
    if loads.windows.empty:
        return [], {}
    from analysis.load_axis import CHOOSING, answer, load_heatmap
    from analysis.pages import window_cell

    cells = loads.windows
    grid = cells.assign(cell=["choosing lr" if r.verdict == CHOOSING else window_cell(r)
                              for r in cells.itertuples()], load=cells.load.astype(int))
    by_load = grid.pivot_table(index=["task_family", "model"], columns="load", values="cell", aggfunc="first")
    by_load.columns = [f"k = {k}" for k in by_load.columns]
    lines = ["## The load a model must hold", "",
             "Each model trained at several loads (items a sequence holds: recall's `instances`, assoc_recall's "
             "`num_pairs`), everything else fixed. **Items held at D**: the largest load whose window still "
             "reaches the longest distance D, bracketed by the next load up, decided below D "
             "(analysis/load_axis.py); nothing is interpolated between loads.", "",
             *[f"- {line}" for line in answer(loads)], "",
             markdown_table(loads.held, {"task": "task", "model": "model", "text": "items held", "loads":
                                         "every load"}), "",
             "The window at each load (budget-bound and other verdicts where no window is claimed):", "",
             markdown_table(by_load.reset_index().rename(columns={"task_family": "task"})), ""]
    if len(loads.pending):
        pending = loads.pending.assign(cell=loads.pending.pending.map("{:.1f}".format))
        asks = pending.pivot_table(index=["task", "load"], columns="distance", values="cell", aggfunc="first")
        asks.columns = [f"d = {d}" for d in asks.columns]
        lines += ["What each load asks: the mean items pending at a query of each distance (stored before it, "
                  "asked at or after it), from the task's own sampler with every dependency planted there:", "",
                  markdown_table(asks.reset_index()), ""]
    if len(loads.fits) and cells.groupby("family").model.nunique().max() > 1:
        lines += ["Items held against state (numbers carried per step), per model family; budget-bound and "
                  "undecided points are left out and named:", "",
                  markdown_table(loads.fits, {"model": "model", "task": "task", "text": "law",
                                              "left_out": "left out", "reason": "note"}), ""]
    figures = {}
    for task in sorted(loads.heatmap.task.unique()):
        name = f"{figure_dir}load_{task}.png"
        figures[name] = load_heatmap(loads.heatmap[loads.heatmap.task == task])
        lines += [f"![{task}: accuracy over distance and load]({name})", ""]
    return lines, figures


def load_section(report: Report) -> Part:
    part = Part()
    lines, figures = load_lines(report)
    if not lines:
        return part.done("")
    part.table(report.loads.held, "items_held")
    part.table(report.loads.windows, "load_windows")
    if len(report.loads.pending):
        part.table(report.loads.pending, "pending_items")
    for name, figure in figures.items():
        part.figure(figure, name.removesuffix(".png"))
    return part.done("\n".join(lines))


SECTIONS = [header, findings, window_section, load_section, accuracy_section, heldout_section, beyond_section,
            steps_section, dynamics_section, capacity_section, live_section, attention_section, cost_section,
            runs_section, settings_section]


# ---------------------------------------------------------------------------------------------- helpers


def escape(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def image(path: Path, alt: str, directory: Path | None = None) -> str:
    """An inline PNG with a link to its PDF, relative to the report (or to ``directory``)."""
    png = rel(path, directory) if directory else path.name
    return f"![{alt}]({png}) ([PDF]({Path(png).with_suffix('.pdf')}))"


def markdown_table(frame: pd.DataFrame, columns: dict[str, str] | None = None) -> str:
    """A markdown table of ``columns`` (column -> header; default every column under its own name)."""
    columns = columns or {c: c for c in frame.columns}
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    for values in frame[list(columns)].itertuples(index=False, name=None):
        lines.append("| " + " | ".join(escape("" if pd.isna(v) else v) for v in values) + " |")
    return "\n".join(lines)
