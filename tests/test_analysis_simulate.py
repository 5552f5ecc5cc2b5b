"""analysis/simulate.py: the calibration page of the rule on simulated gentle declines, and its bad input."""

from __future__ import annotations

from analysis import simulate


def test_the_page_sets_every_located_window_beside_its_truth_and_the_last_crossing(tmp_path):
    page = tmp_path / "docs" / "simulated.md"
    assert simulate.main(["--markdown", str(page), "--draws", "60"]) == 0
    text = page.read_text()
    assert text.count("| met |") == len(simulate.WINDOWS) * len(simulate.CHANCES) and "missed" not in text
    assert "60 fixed draws per row, 64 positions per distance" in text and "last crossing" in text


def test_a_draw_count_below_one_is_refused_naming_the_option(capsys):
    assert simulate.main(["--draws", "0"]) == 2
    assert "--draws=0: must be a positive integer" in capsys.readouterr().err


def test_a_missed_target_is_printed_as_missed(tmp_path, monkeypatch):
    """Two positions per distance cannot locate a window to 10%: the page says so instead of hiding it."""
    monkeypatch.setattr(simulate, "POSITIONS", 2)
    table = simulate.calibration_table(draws=40, n=2)
    assert not table.meets_target.all() and "**missed**" in simulate.page(table)
