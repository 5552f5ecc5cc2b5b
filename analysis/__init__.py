"""Reads stored runs and draws; never trains. ``analysis.load(DIR)`` returns a ``Results`` (analysis.records):
the records, unreadable files, sweep progress, and the tables ``.table``, ``.runs``, ``.history``, ``.live``.
The window (analysis.window, with its verdicts from analysis.trust), steps to learn (analysis.steps) and the
lr choice (analysis.learning_rate) are functions of those tables; analysis.plots draws them; analysis.report
writes report.md from the list of sections in analysis.sections."""

from analysis.records import Results, load

__all__ = ["Results", "load"]
