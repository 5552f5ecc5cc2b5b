"""analysis.load: one object holding the records and every table derived from them, read by the one reader."""

from __future__ import annotations

import json

import pytest
from synthetic_runs import record, write

import analysis
from analysis.records import load_records
from harness.record import DISTANCE_FIELDS, HISTORY_FIELDS, RUN_FIELDS, MetricsLog


def test_tables_derive_their_columns_from_the_record_dataclasses(synthetic_sweep):
    results = analysis.load(synthetic_sweep)
    assert len(results.records) == 3 * (2 * 4 + 1) and not results.unreadable and not results.live_dirs
    assert list(results.table.columns) == RUN_FIELDS + DISTANCE_FIELDS + ["family"]
    assert set(RUN_FIELDS) <= set(results.runs.columns) and "train_distances" in results.runs.columns
    assert set(HISTORY_FIELDS) <= set(results.history.columns)
    recall = results.table[(results.table.task == "recall") & (results.table.model == "gru")]
    assert list(recall.distance) == [2, 4, 8, 16] and list(recall.trained) == [True, True, False, False]
    assert (results.history.groupby("run_dir").step.nunique() == 8).all()  # every evaluation is kept


def test_sizes_of_one_model_are_never_pooled(tmp_path):
    """A capacity sweep runs one conf/model at several sizes: each goes by its name and the settings that differ;
    a model with one setting keeps its plain name, whatever its parameter count on each task's vocabulary."""
    write(tmp_path, record("gru", "nback", 0, {4: 0.5}, model_config={"hidden_size": 16}, params=1000))
    write(tmp_path, record("gru", "nback", 0, {4: 0.9}, model_config={"hidden_size": 256}, params=9000))
    write(tmp_path, record("lstm", "nback", 0, {4: 0.7}, model_config={"hidden_size": 112}, params=2000))
    write(tmp_path, record("lstm", "recall", 0, {4: 0.7}, model_config={"hidden_size": 112}, params=2500))
    table = analysis.load(tmp_path).table
    assert sorted(table.model) == ["gru hidden_size=16", "gru hidden_size=256", "lstm", "lstm"]
    assert sorted(table.family) == ["gru", "gru", "lstm", "lstm"]


def test_failed_runs_stay_visible_and_are_not_zeros(tmp_path):
    write(tmp_path, record("gru", "nback", 0, {4: 0.5}))
    write(tmp_path, record("gru", "nback", 1, {4: 0.5}, status="failed", reason="diverged at step 3"))
    table = analysis.load(tmp_path).table
    failed = table[table.status == "failed"]
    assert len(failed) == 1 and failed.accuracy.isna().all() and failed.reason.iloc[0] == "diverged at step 3"
    assert failed.distance.iloc[0] == 4  # the distance it should have measured


def test_malformed_foreign_and_old_schema_files_are_skipped_with_a_warning(tmp_path):
    for name, content in {"truncated": '{"status": "fini', "foreign": '{"loss": 0.1}',
                          "old": json.dumps({"schema_version": 1, "status": "finished"})}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "result.json").write_text(content)
    write(tmp_path, record("gru", "nback", 0, {4: 0.5}))
    with pytest.warns(UserWarning) as caught:
        results = analysis.load(tmp_path)
    assert len(results.records) == 1
    messages = " ".join(str(w.message) for w in caught)
    assert "truncated" in messages and "foreign" in messages and "schema_version 1" in messages
    assert sorted(path.parent.name for path, _ in results.unreadable) == ["foreign", "old", "truncated"]
    with pytest.warns(UserWarning):
        assert len(load_records(tmp_path)) == 1


def test_runs_still_training_are_read_from_their_metrics_file(tmp_path):
    finished = write(tmp_path, record("gru", "nback", 0, {4: 0.5}))
    MetricsLog(finished / "metrics.jsonl").write(step=10, loss=1.0)  # finished: not live
    running = tmp_path / "attention_nback_live"
    running.mkdir()
    metrics = MetricsLog(running / "metrics.jsonl")
    metrics.write(step=50, loss=2.0, lr=1e-3, elapsed_s=1.0)
    metrics.write(step=100, loss=1.5, lr=1e-3, elapsed_s=2.0, val_accuracy={"4": 0.25, "8": 0.125})
    metrics.handle.write('{"step": 150, "lo')  # being written right now
    metrics.handle.flush()
    results = analysis.load(tmp_path)
    assert results.live_dirs == [running]
    live = results.live
    assert set(live.run) == {"attention_nback_live"} and live.step.max() == 100
    assert sorted(live[live.quantity == "validation accuracy"].series) == ["d=4", "d=8"]
    assert list(live[live.quantity == "loss"].value) == [2.0, 1.5]
