"""Write DIR/report.md: the effective context window of every model on every task, with its uncertainty and its
verdict, the figures behind it, the runs it rests on and the budget that qualifies it.

    python -m analysis.report outputs/quick
    python -m analysis.report outputs/quick --threshold-fraction 0.8
    python -m analysis.report outputs/context_window --markdown docs/results/context_window.md --readme README.md

It reads stored records only (result.json; sweep.json when a sweep wrote one; the metrics.jsonl of runs still
training) and never trains or runs a model, so running it again on the same directory gives the same bytes.
Outputs, all in DIR: report.md; results.csv (one row per run and distance), runs.csv, training_history.csv,
effective_window.csv, seed_windows.csv, run_verdicts.csv, rungs.csv, heldout_gaps.csv, steps_to_learn.csv,
lr_selection.csv, live_metrics.csv; each figure as
PNG and PDF. Attention maps (python -m analysis.attention RUN_DIR) and cost curves (python -m benchmarks.cost
--out DIR) are included when they have been made.

Exit codes: 0 written; 1 no result record under DIR (report.md still says so); 2 a bad option.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from analysis import pages, plots
from analysis.pages import PageError
from analysis.records import NoResults, load
from analysis.sections import SECTIONS, Part, header, live_section
from analysis.sweep import Skipped
from analysis.tables import RESAMPLES, Report
from analysis.window import DEFAULT_FRACTION
from harness.verdict import ThresholdError, threshold


def build_report(directory: Path, fraction: float = DEFAULT_FRACTION, resamples: int = RESAMPLES,
                 markdown: Path | None = None, readme: Path | None = None, block: str = pages.BLOCK
                 ) -> dict[str, Path]:
    """Write every table, figure and report.md into DIR (and the results page and README block when asked): the
    one place that writes. Raises NoResults (after writing report.md) if DIR holds no result records."""
    threshold(0.0, fraction)  # refuse a bad threshold before any work
    report = Report(load(directory, fraction), fraction, resamples)
    sections = SECTIONS if report.results.records else [header, live_section]
    parts = [section(report) for section in sections]
    if report.results.records:
        parts.insert(0, Part(tables={"results": report.results.table, "runs": report.results.runs,
                                     "training_history": report.results.history}))
    outputs = {}
    for part in parts:
        for stem, frame in part.tables.items():
            outputs[stem] = report.directory / f"{stem}.csv"
            frame.to_csv(outputs[stem], index=False)
        for stem, figure in part.figures.items():
            outputs[part.labels[stem]] = plots.save(figure, report.directory / stem)[0]
    if "live_metrics" not in outputs:  # nothing training now: what a report made while the sweep ran is stale
        for name in ("live_metrics.csv", "live.png", "live.pdf"):
            (report.directory / name).unlink(missing_ok=True)
    text = "\n\n".join(part.text.strip() for part in parts if part.text.strip())
    outputs["report"] = report.directory / "report.md"
    outputs["report"].write_text(text + "\n")
    if not report.results.records:
        raise NoResults(f"no result.json records found under {directory} (report: {outputs['report']})")
    if markdown is not None:
        outputs.update(pages.write_page(report, markdown))
        if readme is not None:
            outputs["readme"] = pages.write_readme(report, markdown, readme, block)
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, help="a results directory, e.g. outputs/quick")
    parser.add_argument("--threshold-fraction", type=float, default=DEFAULT_FRACTION,
                        help="where the window threshold sits between chance (0) and 1.0 (1); default %(default)s")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="also write a results page (analysis.pages) here, stamped from the records, with its "
                             "figure in a folder of the same name")
    parser.add_argument("--readme", type=Path, default=None,
                        help="with --markdown: replace this README's headline block with the compact table")
    parser.add_argument("--block", default=pages.BLOCK,
                        help="with --readme: the README block to fill, between <!-- BLOCK:start --> and "
                             "<!-- BLOCK:end -->; default %(default)s")
    parser.add_argument("--resamples", type=int, default=RESAMPLES,
                        help="bootstrap resamples of the median window (cells with 5 or more seeds); default "
                             "%(default)s")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        print(f"error: {args.directory} is not a directory", file=sys.stderr)
        return 2
    if args.resamples < 1:
        print(f"error: --resamples={args.resamples}: must be a positive integer", file=sys.stderr)
        return 2
    if args.readme is not None:
        try:
            if args.markdown is None or not args.readme.is_file():
                raise PageError(f"--readme={args.readme}: needs --markdown and an existing README")
            pages.check_readme(args.readme, args.block)
        except PageError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    with warnings.catch_warnings(record=True) as caught:  # each skipped file: one line on stderr naming it
        warnings.simplefilter("always")
        try:
            outputs = build_report(args.directory, args.threshold_fraction, args.resamples, args.markdown,
                                   args.readme, args.block)
        except (ThresholdError, NoResults, PageError) as error:
            outputs = error
    for warning in caught:
        if issubclass(warning.category, Skipped):
            print(f"warning: {warning.message}", file=sys.stderr)
    if isinstance(outputs, Exception):
        print(f"error: {outputs}", file=sys.stderr)
        return 1 if isinstance(outputs, NoResults) else 2
    for label, path in outputs.items():
        print(f"{label}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
