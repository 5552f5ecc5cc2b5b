"""analysis.load: one object holding the records and every table derived from them, read by the one reader."""

from __future__ import annotations

import json

import pytest
from synthetic_runs import LADDER, RECALL, N, run, step, write

import analysis
from analysis.records import RUNG_COLUMNS, load_records
from harness.record import DISTANCE_FIELDS, HISTORY_FIELDS, RUN_FIELDS, MetricsLog
from harness.verdict import STABLE_RUNGS


def test_tables_derive_their_columns_from_the_record_dataclasses(synthetic_sweep):
    results = analysis.load(synthetic_sweep)
    assert len(results.records) == 3 * 2 * (1 + 3) and not results.unreadable and not results.live_dirs
    assert list(results.table.columns) == RUN_FIELDS + DISTANCE_FIELDS + ["family", "task_family", "load"]
    assert set(RUN_FIELDS) <= set(results.runs.columns) and "fine_distances" in results.runs.columns
    assert set(HISTORY_FIELDS) <= set(results.history.columns)
    assert list(results.rungs.columns) == RUNG_COLUMNS + ["family", "task_family", "load"]
    recall = results.table[(results.table.task == "recall") & (results.table.model == "gru") &
                           (results.table.seed == 0)]
    assert list(recall.distance) == RECALL and list(recall[recall.heldout].distance) == [11, 23]
    assert not recall[recall.heldout].trained.any() and recall.val_accuracy.notna().all()


def test_the_rung_table_holds_each_runs_validation_and_test_curves_at_every_rung(tmp_path):
    measured = write(tmp_path, run("gru", "recall", 0, [step(12, RECALL)] + [step(15, RECALL)] * STABLE_RUNGS,
                                   test=step(14, RECALL)))
    results = analysis.load(tmp_path)
    rungs = results.rungs
    assert len(rungs) == (1 + STABLE_RUNGS) * len(RECALL) and set(rungs.run_dir) == {str(measured)}
    assert sorted(rungs.rung.unique()) == LADDER[:1 + STABLE_RUNGS]
    assert results.runs.verdict.tolist() == ["measured"] and results.runs.steps.tolist() == [LADDER[STABLE_RUNGS]]
    first = rungs[rungs.rung == LADDER[0]].set_index("distance")
    assert first.accuracy[12] == 1.0 and first.accuracy[13] < 1.0  # the rung's own curve, not the last one
    assert first.test_accuracy[12] == 1.0 and first.test_accuracy[13] < 1.0 and (first.test_n == N).all()
    last = rungs[rungs.rung == LADDER[STABLE_RUNGS]].set_index("distance")
    assert last.test_accuracy[14] == 1.0 and last.test_accuracy[15] < 1.0  # the test curve scored beside it
    assert set(rungs.answers) == {""}  # no right-or-wrong answers were kept for these runs


def test_a_paused_run_has_its_rungs_and_its_test_curve_at_the_last_one(tmp_path):
    write(tmp_path, run("gru", "recall", 0, [step(12, RECALL), step(15, RECALL)]))
    results = analysis.load(tmp_path)
    assert len(results.rungs) == 2 * len(RECALL)
    table = results.table.set_index("distance")
    assert list(table.index) == RECALL and table.accuracy[15] == 1.0 and table.accuracy[16] < 1.0
    assert results.runs.stop_reason.tolist() == ["paused"] and results.runs.verdict.tolist() == ["climbing"]


def test_a_run_the_rule_stops_earlier_than_it_trained_is_read_at_that_rung(tmp_path):
    """Evidence apart from judgment: a run that trained to the top under another rule, whose curve was unchanged
    from the first rung on, is read where the rule as it is now calls it final: its budget, its rungs and its
    test curve are those of that rung, and the later evidence stays in the record."""
    curves = [step(15, RECALL)] * STABLE_RUNGS + [step(20, RECALL), step(25, RECALL)]
    run_dir = write(tmp_path, run("gru", "recall", 0, curves, beyond_final=True))
    results = analysis.load(tmp_path)
    assert results.runs.verdict.tolist() == ["measured"] and results.runs.steps.tolist() == [LADDER[STABLE_RUNGS - 1]]
    assert results.runs.trained_steps.tolist() == [LADDER[len(curves) - 1]]
    assert sorted(results.rungs.rung.unique()) == LADDER[:STABLE_RUNGS]
    table = results.table.set_index("distance")
    assert table.accuracy[15] == 1.0 and table.accuracy[16] < 1.0
    stored = json.loads((run_dir / "result.json").read_text())
    assert [rung["step"] for rung in stored["rung_results"]] == LADDER[:len(curves)]


def test_sizes_of_one_model_are_never_pooled(tmp_path):
    """A capacity sweep runs one conf/model at several sizes: each goes by its name and the settings that differ;
    a model with one setting keeps its plain name, whatever its parameter count on each task's vocabulary."""
    curve = [{8: 0.5}]
    write(tmp_path, run("gru", "nback", 0, curve, protocol="per_distance", model_config={"hidden_size": 16},
                        params=1000))
    write(tmp_path, run("gru", "nback", 0, curve, protocol="per_distance", model_config={"hidden_size": 256},
                        params=9000))
    write(tmp_path, run("lstm", "nback", 0, curve, protocol="per_distance", model_config={"hidden_size": 112},
                        params=2000))
    write(tmp_path, run("lstm", "recall", 0, curve, protocol="per_distance", model_config={"hidden_size": 112},
                        params=2500))
    results = analysis.load(tmp_path)
    for table in (results.table, results.rungs, results.runs):
        assert sorted(set(table.model)) == ["gru hidden_size=16", "gru hidden_size=256", "lstm"]
        assert sorted(set(table.family)) == ["gru", "lstm"]


def test_failed_runs_stay_visible_and_are_not_zeros(tmp_path):
    write(tmp_path, run("gru", "recall", 0, [step(15, RECALL)] * STABLE_RUNGS))
    write(tmp_path, run("gru", "recall", 1, [step(15, RECALL)], status="failed", reason="diverged at step 3"))
    results = analysis.load(tmp_path)
    failed = results.table[results.table.status == "failed"]
    assert len(failed) == len(RECALL) and failed.accuracy.isna().all()  # a row per distance it should have measured
    assert set(failed.reason) == {"diverged at step 3"} and list(failed.distance) == RECALL
    assert set(results.rungs.seed) == {0} and set(results.history.seed) == {0}  # nothing of it is a curve


def test_malformed_foreign_and_old_schema_files_are_skipped_with_a_warning(tmp_path):
    for name, content in {"truncated": '{"status": "fini', "foreign": '{"loss": 0.1}',
                          "old": json.dumps({"schema_version": 2, "status": "finished"})}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "result.json").write_text(content)
    write(tmp_path, run("gru", "recall", 0, [step(15, RECALL)] * STABLE_RUNGS))
    with pytest.warns(UserWarning) as caught:
        results = analysis.load(tmp_path)
    assert len(results.records) == 1
    messages = " ".join(str(w.message) for w in caught)
    assert "truncated" in messages and "foreign" in messages and "schema_version 2" in messages
    assert sorted(path.parent.name for path, _ in results.unreadable) == ["foreign", "old", "truncated"]
    with pytest.warns(UserWarning):
        assert len(load_records(tmp_path)) == 1


def test_runs_still_training_are_read_from_their_metrics_file(tmp_path):
    finished = write(tmp_path, run("gru", "recall", 0, [step(15, RECALL)] * STABLE_RUNGS))
    MetricsLog(finished / "metrics.jsonl").write(step=10, loss=1.0)  # finished: not live
    running = tmp_path / "attention_nback_live"
    running.mkdir()
    metrics = MetricsLog(running / "metrics.jsonl")
    metrics.write(step=50, loss=2.0, lr=1e-3, elapsed_s=1.0)
    metrics.write(step=100, loss=1.5, lr=1e-3, elapsed_s=2.0, val_accuracy={"4": 0.25, "8": 0.125})
    metrics.write(step=100, rung="climbing", window="< 4")  # a rung line has no loss and no accuracies
    metrics.handle.write('{"step": 150, "lo')  # being written right now
    metrics.handle.flush()
    results = analysis.load(tmp_path)
    assert results.live_dirs == [running]
    live = results.live
    assert set(live.run) == {"attention_nback_live"} and live.step.max() == 100
    assert sorted(live[live.quantity == "validation accuracy"].series) == ["d=4", "d=8"]
    assert list(live[live.quantity == "loss"].value) == [2.0, 1.5]


def test_loads_of_one_task_are_never_pooled_and_each_row_carries_its_load(tmp_path):
    """A load sweep runs one conf/task at several loads: each goes by its name and the setting that differs, and
    its load is read from the key the task's class names (recall's instances); the distances are no setting."""
    for load in (1, 4):
        write(tmp_path, run("gru", "recall", 0, [step(15, RECALL)], task_config={
            "_target_": "tasks.recall.Recall", "instances": load, "vocab_instances": 4, "seq_len": 40}))
    write(tmp_path, run("gru", "flipflop", 0, [step(15, RECALL)], task_config={"_target_": "tasks.flipflop.FlipFlop"}))
    runs = analysis.load(tmp_path).runs.set_index("task")
    assert sorted(runs.index) == ["flipflop", "recall instances=1", "recall instances=4"]
    assert runs.loc["recall instances=4", "load"] == 4 and runs.loc["recall instances=4", "task_family"] == "recall"
    assert runs.loc["flipflop", "load"] != runs.loc["flipflop", "load"]  # NaN: flip-flop names no load
