"""Reads stored runs and draws; never trains. ``analysis.load(DIR)`` returns a ``Results`` (analysis.records):
the records, unreadable files, sweep progress, and the tables ``.table``, ``.runs``, ``.history``, ``.live``.
``analysis.tables.Report(results)`` adds what the report shows: the lr chosen per cell on validation accuracy
(analysis.learning_rate) and the windows at that lr with their verdicts (analysis.window, by harness.verdict).
Steps to learn are in analysis.steps; analysis.plots draws FacetGrids from any of these tables; analysis.report
writes report.md from the list of sections in analysis.sections."""

from analysis.records import Results, load

__all__ = ["Results", "load"]
