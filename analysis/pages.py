"""Results pages for docs/ and the README's headline block, generated from run records, never pasted.

    python -m analysis.report outputs/context_window --markdown docs/results/context_window.md --readme README.md

A page states where its numbers come from: the state of the training code behind the records, the commits they
span and how many came from uncommitted code (``provenance``), the dates, the machine, and the wall time over
every sitting of the sweep (sweep.json).
Its figure is written beside it, in a folder named after the page. The README block (between the markers
``<!-- headline:start -->`` and ``<!-- headline:end -->``) is a compact model-by-task table of the same windows
with a link to the page, and, for runs scored past their training length, one sentence per task on how far each
window reaches there (``--block extrapolation`` fills ``<!-- extrapolation:start -->``). Every number comes from
analysis.report's tables; nothing here decides anything.
"""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis import beyond, plots, sections
from analysis.learning_rate import at_chosen_lr
from analysis.records import CELL, relative
from analysis.sections import markdown_table
from analysis.sweep import read_manifests
from harness.record import REPO_ROOT, git_state

if TYPE_CHECKING:
    from analysis.tables import Report

BLOCK = "headline"  # the README block a report fills unless told another (``--block``)
SHORT = {"budget_bound": "budget-bound", "not_learned": "not learned", "offset_shortcut": "offset shortcut",
         "cannot": "cannot"}


class PageError(ValueError):
    """A README without the markers, or a page path that cannot be written; the message says which."""


def parse_time(text: str | None) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z") if text else None
    except ValueError:
        return None


def wall_time(directory: Path, finished: list[str] = (), started: list[str] = ()) -> tuple[float | None, int]:
    """(seconds, sittings) of the sweeps under ``directory``: every sitting from its start to its last sign of
    work, the later of its last manifest write and the last record finished before the next sitting began
    (``finished``: the records' finished_at), so a sitting that was stopped still counts what it did. Records
    finished before the first sitting the manifests know of (a manifest that kept no sittings then) count as
    one more sitting, from the first of them to start (``started``: the records' started_at) to the last. A sitting
    that ended normally without finishing a run (every run a sweep launches ends in a record) trained nothing and
    is not counted."""
    done = sorted(filter(None, map(parse_time, finished)))
    seconds, count, first = 0.0, 0, None
    for manifest in read_manifests(directory).values():
        sittings = manifest.get("sittings") or [{"started_at": manifest.get("started_at"),
                                                  "updated_at": manifest.get("finished_at")}]
        starts = [parse_time(s.get("started_at")) for s in sittings]
        first = min(filter(None, [first, *starts]), default=None)
        for k, sitting in enumerate(sittings):
            start, end = starts[k], parse_time(sitting.get("updated_at"))
            if not start:
                continue
            following = min((s for s in starts[k + 1:] if s and s > start), default=None)
            worked = [t for t in done if t >= start and (following is None or t < following)]
            if done and not worked and sitting.get("state") == "finished":
                continue  # it ended without finishing a run, so it trained nothing: a pass over a finished sweep
            end = max(filter(None, [end, *worked[-1:]]), default=None)
            if end:
                seconds, count = seconds + (end - start).total_seconds(), count + 1
    earlier = [t for t in done if first and t < first]
    begun = [t for t in filter(None, map(parse_time, started)) if first and t < first]
    if earlier and begun:
        seconds, count = seconds + (max(earlier) - min(begun)).total_seconds(), count + 1
    return (seconds if count else None), count


def judging_code() -> tuple[str | None, bool | None]:
    """(commit, whether harness/ or analysis/ differ from it): the code that turns records into verdicts. A page
    or README being rewritten is not a change to that code."""
    commit, _ = git_state()
    if commit is None:
        return None, None
    try:
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "harness", "analysis"],
                                 cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return commit, None
    return commit, bool(changed.strip())


def stamp(report: Report) -> str:
    """One paragraph: which code, when, on what, and how long, taken from the records and sweep.json."""
    runs = report.results.runs
    started = min(filter(None, map(parse_time, runs.started_at)), default=None)
    finished = max(filter(None, map(parse_time, runs.finished_at)), default=None)
    machines = sorted({f"{cpu} ({host})" for cpu, host in zip(runs.cpu, runs.hostname)})
    seconds, sittings = wall_time(report.directory, list(runs.finished_at.dropna()), list(runs.started_at.dropna()))
    wall = (f"{seconds / 60:.0f} min of wall time over {sittings} sitting{'s' * (sittings != 1)} of the sweep"
            if seconds else "wall time unknown (no sweep.json)")
    judged, dirty = judging_code()
    judged = f"{judged[:10]}{' (uncommitted changes)' if dirty else ''}" if judged else "unknown"
    return (f"Made from {len(runs)} run records in `{report.directory.name}`: {provenance(report.results.records)}; "
            f"{started:%Y-%m-%d %H:%M} to {finished:%Y-%m-%d %H:%M} UTC, on {', '.join(machines)}, torch "
            f"{', '.join(sorted(set(runs.torch_version)))}, {', '.join(map(str, sorted(set(runs.torch_threads))))} "
            f"thread(s) per run; {wall}. Verdicts by harness/verdict.py at commit {judged}.")


def provenance(records: list) -> str:
    """The training code the records came from, in one clause: its state (one hash over every source file the
    records name, or how many states and which files differ), the commit range, and how many records were made
    from uncommitted training code (each keeps its diff; one whose diff no longer applies to its commit is
    named)."""
    files: dict[str, set] = {}
    for record in records:
        for name, digest in record.source_files.items():
            files.setdefault(name, set()).add(digest)
    changed = sorted(name for name, digests in files.items() if len(digests) > 1)
    union = {name: sorted(digests)[0] for name, digests in files.items()}
    from harness.record import combined_hash

    code = (f"training code {combined_hash(union)} (one state of its {len(files)} source files)" if not changed else
            f"training code in more than one state ({', '.join(f'{n}: {len(files[n])} hashes' for n in changed)})")
    ordered = sorted((r for r in records if r.git_commit), key=lambda r: r.started_at)
    commits = list(dict.fromkeys(r.git_commit[:10] for r in ordered))
    span = ("no commit recorded" if not commits else f"commit {commits[0]}" if len(commits) == 1 else
            f"commits {commits[0]} to {commits[-1]} ({len(commits)} commits)")
    diffs = [r for r in records if r.code_diff]
    stale = [Path(r.run_dir).name for r in diffs if not diff_applies(r.git_commit, r.code_diff)]
    uncommitted = (f"{len(diffs)} record{'s' * (len(diffs) != 1)} from uncommitted training code (diff stored)"
                   if diffs else "every record from committed training code")
    if stale:
        uncommitted += f"; {len(stale)} whose stored diff no longer applies to its commit: {', '.join(stale)}"
    return f"{code}, {span}, {uncommitted}"


def diff_applies(commit: str | None, diff: str) -> bool:
    """Whether a record's stored diff applies to its commit (checked in a scratch index; nothing is touched)."""
    if not commit:
        return False
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        try:
            subprocess.run(["git", "read-tree", commit], cwd=REPO_ROOT, env=env, capture_output=True, timeout=30,
                           check=True)
            subprocess.run(["git", "apply", "--cached", "--check", "-"], input=diff, cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            return False
    return True


def unfinished(report: Report) -> list[str]:
    """A warning line when a sweep behind the page is not finished: what it has done and what is left."""
    partial = [sweep for sweep in report.results.sweeps if sweep.partial]
    if not partial:
        return []
    paused = int((at_chosen_lr(report.results.runs, report.lr_choice).stop_reason == "paused").sum())
    parts = [f"`{s.name}` has records for {s.with_results} of its {len(s.jobs)} jobs; of the others "
             f"{sum(job.get('outcome') == 'not_chosen' for job in s.failed)} are learning-rate candidates not "
             f"chosen and {len(s.pending)} are still to run" for s in partial]
    return [f"**This sweep is not finished**: {'; '.join(parts)}; {paused} run{'s' * (paused != 1)} at a chosen "
            "or still undecided rate paused on the ladder. Rerunning its command continues it; every verdict below "
            "is that of the records so far, and a cell with a paused run, a seed or a rate candidate still to run is "
            "budget-bound until it has run.",
            ""]


def window_cell(row) -> str:
    """A window as the compact table prints it: the number where a verdict allows one (with validation's beside
    it where the two curves disagree), else the verdict."""
    if row.verdict in ("measured", "at_least"):
        return row.window_text if row.agree else f"{row.window_text} (validation {row.val_window_text})"
    return SHORT.get(row.verdict, row.verdict)


def choosing(windows: pd.DataFrame) -> pd.Series:
    """Rows of cells whose learning rate is still being chosen: one row per candidate rate, none of them the
    cell's answer yet."""
    return windows.groupby(CELL).lr.transform("nunique") > 1


def compact_table(windows: pd.DataFrame) -> pd.DataFrame:
    """Tasks down, models across, each cell its window or verdict."""
    cells = [window_cell(r) for r in windows.itertuples()]
    shown = windows.assign(cell=["choosing lr" if c else cell for cell, c in zip(cells, choosing(windows))])
    table = shown.pivot_table(index="task", columns="model", values="cell", aggfunc="first")
    return table[[m for m in plots.ordered_models(table.columns)]].reset_index()


def results_page(report: Report, page: Path) -> tuple[str, dict]:
    """(markdown, {file name: figure}) of the page at ``page``; figures go in the folder named after it."""
    windows, name = report.windows, page.stem
    figures = {}
    lines = [f"# Results: `{report.directory.name}`", "",
             f"<!-- generated by `python -m analysis.report {report.directory} --markdown {page}` from "
             "run records; do not edit by hand -->", "", stamp(report), "",
             "Windows are located on the measured curves and judged by the rule stated once in "
             "[harness/verdict.py](../../harness/verdict.py); the method is in [docs/method.md](../method.md).", ""]
    lines += unfinished(report)
    if windows.empty:
        return "\n".join(lines + ["No run finished."]), figures
    undecided = choosing(windows)
    counts = windows[~undecided].verdict.value_counts()
    still = windows[undecided].groupby(CELL).ngroups
    lines += [f"**{windows.groupby(CELL).ngroups} cells**: " + ", ".join(
                  [f"{counts[v]} {v.replace('_', ' ')}" for v in ("measured", "at_least", "not_learned",
                                                                 "offset_shortcut", "budget_bound") if v in counts]
                  + ([f"{still} still choosing their learning rate (a row per candidate below)"] if still else []))
              + ".", "",
              markdown_table(compact_table(windows)), "",
              "Each cell: the median window over seeds where one is measured (≥: the longest distance is still "
              "reached), else the verdict.", ""]
    figures[f"{name}/accuracy_vs_distance.png"] = plots.accuracy_vs_distance(report.table, windows)
    lines += [f"![Accuracy against distance]({name}/accuracy_vs_distance.png)", "", "## Every cell", ""]
    swept = report.swept_cells()
    shown = windows.assign(params=windows.params.map(lambda p: f"{p:,.0f}" if p == p else ""),
                           resolution=windows.resolution.map(lambda r: f"{r:.0f}" if r == r else ""),
                           verdict=windows.verdict_text,
                           lr=[f"{r.lr:g}" if tuple(getattr(r, c) for c in CELL) in swept else f"{r.lr:g} (fixed)"
                               for r in windows.itertuples()])
    lines += [markdown_table(shown, {"task": "task", "model": "model", "params": "params", "lr": "lr",
                                     "verdict": "verdict", "window_text": "window", "range_text": "seeds' range",
                                     "resolution": "resolution", "n_seeds": "seeds",
                                     "budget_text": "trained (to the deciding rung)", "why": "why"}), ""]
    lines += budget_bound_lines(report)
    load_lines, load_figures = sections.load_lines(report, f"{name}/")
    lines += load_lines
    figures.update(load_figures)
    table, found = report.extended[0], report.extrapolation
    if len(found):
        lines += ["## Beyond the trained length", "", *[f"- {line}" for line in beyond.summary(found)], "",
                  markdown_table(side_by_side(found)), "",
                  "In range: the window on the distances trained on (and held out between them). Past training: "
                  "located on that curve extended by the distances past the longest trained one, each scored in "
                  "sequences just long enough to hold it, and judged by the same rule.", ""]
        figures[f"{name}/extrapolation.png"] = plots.extrapolation_plot(table, found)
        lines += [f"![Past the trained length]({name}/extrapolation.png)", ""]
        lines += cost_lines(report.directory)
    return "\n".join(lines), figures


def budget_bound_lines(report: Report) -> list[str]:
    """Every budget-bound cell's window at each rung it reached (test curves, median over seeds): a cell the
    ladder has not decided still shows how it moved."""
    from analysis.window import windows_by_rung

    found = windows_by_rung(report.rungs, report.windows[~choosing(report.windows)], report.fraction)
    if found.empty:
        return []
    found = found.assign(cell=[f"{t} ({s})" for t, s in zip(found.window_text, found.seeds)])
    table = found.pivot_table(index=["task", "model"], columns="rung", values="cell", aggfunc="first")
    table.columns = [f"{c} steps" for c in table.columns]
    return ["## Budget-bound cells, rung by rung", "",
            "Not claimed: each cell's window on the test curves at every rung it reached (median over the seeds "
            "there, their count in brackets), to show how it was still moving.", "",
            markdown_table(table.reset_index().fillna("")), ""]


def with_verdict(text, decided: str, shown: str | None = None) -> str:
    """'256 (measured)', '≥ 64 (at least)', or the verdict alone where it withholds the window; ``shown``: the
    verdict as printed (analysis.window.verdict_text), where the curves can disagree."""
    if decided in ("measured", "at_least") and isinstance(text, str) and text:
        return f"{text} ({shown or decided.replace('_', ' ')})"
    return SHORT.get(decided, decided or "")


def side_by_side(found: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the window inside the training range and past it, each with its verdict, and the budget."""
    return pd.DataFrame({
        "task": found.task, "model": found.model, "params": found.params.map(lambda p: f"{p:,.0f}"),
        "in range": [with_verdict(t, v, shown) for t, v, shown in zip(found.in_range_text, found.in_range_verdict,
                                                                      found.in_range_verdict_text)],
        "past training": [with_verdict(cell.window_text, cell.verdict, cell.verdict_text) + beyond.resolution_note(cell)
                          for cell in found.itertuples(index=False)],
        "read at (steps)": found.read_at,
        "seeds' range": found.range_text.fillna(""),
        "trained to / at length": [f"{d:.0f} / {n:.0f}" if d == d else f"— / {n:.0f}"
                                   for d, n in zip(found.max_trained_distance, found.train_length)],
        "longest measured": found.max_distance.map(lambda d: f"{d:.0f}" if d == d else ""),
        "trained": found.budget_text})


def cost_lines(directory: Path) -> list[str]:
    """What reading one sequence costs at each length (benchmarks.cost --mode inference in the directory)."""
    path = directory / "cost_inference.csv"
    if not path.exists():
        return ["No inference cost measured here: `python -m benchmarks.cost --out DIR --mode inference` gives the "
                "time and memory per sequence at each length.", ""]
    cost = pd.read_csv(path)
    cost = cost[cost.status == "measured"]
    cells = cost.assign(cell=[f"{1e3 * t:.2f} ms, {m / 2 ** 20:.2f} MiB" for t, m in
                              zip(cost.step_time_s, cost.memory_bytes)])
    table = cells.pivot_table(index="model", columns="seq_len", values="cell", aggfunc="first")
    table = table.loc[plots.ordered_models(table.index)]
    table.columns = [f"L = {c}" for c in table.columns]
    return ["**The cost of reaching further**: time and peak memory to read one sequence at inference, per "
            f"sequence length, one thread (`{relative(path.resolve(), REPO_ROOT)}`; "
            f"memory: {cost.memory_meaning.iloc[0]}).", "",
            markdown_table(table.reset_index()), ""]


def markers(block: str) -> tuple[str, str]:
    return f"<!-- {block}:start -->", f"<!-- {block}:end -->"


def readme_block(report: Report, page: Path, readme: Path, block: str = BLOCK) -> str:
    """A README block: the compact table (or, past the training length, one sentence per task), the stamp and a
    link to the full page."""
    link = os.path.relpath(page, readme.parent)
    start, end = markers(block)
    if not report.loads.windows.empty:
        from analysis.load_axis import answer

        body = ["How many items each model holds out to the longest distance, and how that grows with its state "
                "(the windows at every load, what each load asks and the law are on the page):", "",
                *[f"- {line}" for line in answer(report.loads)]]
    elif len(report.extrapolation):
        body = ["How far each window reaches past the longest distance it was trained on, per model and task, with "
                "its verdict (the in-range window, the budget and the cost per sequence beside it on the page):", "",
                *[f"- {line}" for line in beyond.summary(report.extrapolation)]]
    else:
        body = [markdown_table(compact_table(report.windows))]
    return "\n".join([start, "<!-- generated by `python -m analysis.report ... --readme`; do not edit by hand -->",
                      "", *body, "", *unfinished(report), stamp(report),
                      f"Every cell with its budget and verdict: [{link}]({link}).", end])


def write_page(report: Report, page: Path) -> dict[str, Path]:
    """Write the page and its figures; returns what was written."""
    text, figures = results_page(report, page)
    page.parent.mkdir(parents=True, exist_ok=True)
    written = {"page": page}
    for name, figure in figures.items():
        target = page.parent / name
        target.parent.mkdir(parents=True, exist_ok=True)
        written[name] = plots.save(figure, target.with_suffix(""), formats=(".png",))[0]
    page.write_text(text + "\n")
    return written


def check_readme(readme: Path, block: str = BLOCK) -> str:
    """The README's text, or PageError when it has no such block to replace (checked before any work)."""
    text = readme.read_text()
    start, end = markers(block)
    if start not in text or end not in text:
        raise PageError(f"--readme={readme}: no {start} ... {end} block to replace")
    return text


def write_readme(report: Report, page: Path, readme: Path, block: str = BLOCK) -> Path:
    """Replace the README's block between its markers with the generated one."""
    start, end = markers(block)
    head, rest = check_readme(readme, block).split(start, 1)
    readme.write_text(head + readme_block(report, page, readme, block) + rest.split(end, 1)[1])
    return readme
