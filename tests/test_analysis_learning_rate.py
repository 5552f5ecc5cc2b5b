"""The learning rate is chosen per cell on validation accuracy, never on the test set."""

from __future__ import annotations

import pytest
from synthetic_runs import record, write, write_per_distance

import analysis
from analysis import report
from analysis.learning_rate import LearningRateError, at_chosen_lr, lr_selection

CURVE = {2: 1.0, 4: 1.0, 8: 0.2}


def two_lrs(directory, test_prefers_fast: bool = True, **options):
    """gru at lr 1e-3 and 3e-3, two seeds. Validation favours 1e-3; the test set favours 3e-3."""
    for seed in (0, 1):
        for lr, val_at_8, test_at_8 in ((1e-3, 0.6, 0.3), (3e-3, 0.4, 0.9 if test_prefers_fast else 0.1)):
            write(directory, record("gru", "recall", seed, {**CURVE, 8: test_at_8}, protocol="mixed", lr=lr,
                                    val={**CURVE, 8: val_at_8}, **options))


def test_the_lr_with_the_best_validation_accuracy_is_chosen_and_test_accuracy_has_no_say(tmp_path):
    two_lrs(tmp_path / "a", test_prefers_fast=True)
    two_lrs(tmp_path / "b", test_prefers_fast=False)
    choices = [lr_selection(analysis.load(tmp_path / name).table) for name in ("a", "b")]
    for selection in choices:
        assert selection[selection.chosen].lr.tolist() == [1e-3]
        assert selection.val_accuracy.tolist() == pytest.approx([(1 + 1 + 0.6) / 3, (1 + 1 + 0.4) / 3])
    assert choices[0].equals(choices[1])  # the test accuracies differ between a and b; nothing else does


def test_selection_is_blind_to_the_accuracy_column(tmp_path):
    """Scramble test accuracy (and its count) in the table: the choice must not move."""
    two_lrs(tmp_path)
    table = analysis.load(tmp_path).table
    scrambled = table.assign(accuracy=table.accuracy[::-1].to_numpy(), n=0)
    assert lr_selection(scrambled).equals(lr_selection(table))


def test_windows_and_curves_are_reported_at_the_chosen_lr_only(tmp_path):
    two_lrs(tmp_path)
    results = analysis.load(tmp_path)
    chosen = at_chosen_lr(results.table, lr_selection(results.table))
    assert set(chosen.lr) == {1e-3} and len(chosen) == len(results.table) / 2
    assert report.main([str(tmp_path), "--resamples", "50"]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "at lr 0.001 (chosen on validation accuracy)" in text
    assert "| recall | mixed | gru | 400 x 32 | 0.001 (0.867), 0.003 (0.800) | 0.001 |" in text
    assert (tmp_path / "lr_selection.csv").read_text().count("True") == 1


def test_one_lr_per_cell_needs_no_choice_and_no_validation_data(tmp_path):
    write_per_distance(tmp_path, "gru", "nback", 0, CURVE, decisions_on="eval")
    selection = lr_selection(analysis.load(tmp_path).table)
    assert selection.chosen.all() and len(selection) == 1


def test_a_swept_lr_without_validation_data_is_refused_naming_the_key(tmp_path, capsys):
    two_lrs(tmp_path, decisions_on="eval")
    with pytest.raises(LearningRateError) as error:
        lr_selection(analysis.load(tmp_path).table)
    assert str(error.value) == ("train.lr was swept over [0.001, 0.003] for gru on recall, but the runs have no "
                                "validation data (train.val_sequences=0); rerun with train.val_sequences > 0")
    assert report.main([str(tmp_path)]) == 2
    assert "train.val_sequences > 0" in capsys.readouterr().err and not (tmp_path / "report.md").exists()
