"""analysis/load_axis.py on planted windows and accuracies with known answers, and on the tasks' own samplers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.load_axis import items_held, load_heatmap, pending_by_distance
from tasks.assoc_recall import AssocRecall
from tasks.copy import Copy
from tasks.recall import Recall

LONGEST = 128
REACHES = ("at_least", 128, "above")  # verdict, window, censored of a load whose window reaches the longest distance


def windows_of(model: str, loads: dict, task: str = "recall") -> list[dict]:
    """Rows of items_held's input: ``loads`` maps each load to (verdict, window, censored)."""
    return [{"model": model, "task": task, "load": load, "verdict": v, "window": w, "censored": c}
            for load, (v, w, c) in loads.items()]


def held(rows: list[dict], longest: int = LONGEST) -> pd.DataFrame:
    return items_held(pd.DataFrame(rows), longest).set_index("model")


# ---------------------------------------------------------------------------------------------- items held


def test_items_held_is_the_largest_load_that_reaches_bracketed_by_the_next_one_decided_below():
    table = held(windows_of("gru", {1: REACHES, 2: REACHES, 4: REACHES, 8: ("measured", 40, "none"),
                                    16: ("measured", 9, "none")}))
    gru = table.loc["gru"]
    assert (gru.held, gru.bracket, gru.upper, gru.verdict) == (4, 8, 8, "decided")
    assert gru.text == "4 (8 decided below 128)"
    assert gru.loads.startswith("1 reaches 128; 2 reaches 128; 4 reaches 128; 8 decided below 128")


def test_a_budget_bound_next_load_leaves_items_held_undecided():
    table = held(windows_of("lstm", {1: REACHES, 2: REACHES, 4: ("budget_bound", np.nan, "none"),
                                     8: ("measured", 20, "none")}))
    lstm = table.loc["lstm"]
    assert (lstm.held, lstm.bracket, lstm.upper, lstm.verdict) == (2, 4, 8, "budget_bound")
    assert lstm.text == "≥ 2, < 8, undecided (4 budget-bound)"


@pytest.mark.parametrize("loads, verdict, text", [
    ({1: REACHES, 32: REACHES}, "all_reach", "≥ 32 (every load reaches 128)"),
    ({1: ("budget_bound", np.nan, "none"), 32: REACHES}, "all_reach", "≥ 32 (the largest load reaches 128)"),
    ({1: ("measured", 64, "none"), 2: ("measured", 8, "below")}, "none_reach", "< 1 (1 decided below 128)"),
    ({1: ("budget_bound", np.nan, "none"), 2: ("measured", 9, "none")}, "budget_bound",
     "no load reaches, < 2, undecided (1 budget-bound)"),
    ({1: REACHES, 2: ("at_least", 64, "above")}, "undecided", "≥ 1, undecided (2 its curve stops before 128)"),
    ({1: REACHES, 2: ("not_learned", np.nan, "none"), 4: ("measured", 3, "none")}, "undecided",
     "≥ 1, < 4, undecided (2 not learned)"),
    ({1: REACHES, 2: ("measured", 50, "none"), 4: REACHES, 8: ("measured", 5, "none")}, "non_monotone",
     "not read: 2 is decided below 128 while 4 reaches it"),
    ({1: ("measured", 128, "none"), 2: ("measured", 127, "none")}, "decided", "1 (2 decided below 128)"),
], ids=["all_reach", "all_reach_above_a_budget_bound_one", "none_reach", "smallest_budget_bound", "curve_too_short",
        "not_learned_next", "non_monotone", "window_exactly_at_the_longest"])
def test_every_way_a_reading_can_end(loads, verdict, text):
    row = held(windows_of("m", loads)).loc["m"]
    assert (row.verdict, row.text) == (verdict, text)


def test_a_load_whose_curves_disagree_on_reaching_d_decides_nothing():
    """Recall at 8 instances: validation reaches 64 on both seeds (at_least), the test curve of one ends at 63. The
    load is at the edge, so items held is not bracketed by it; a test window that reaches D under a measured
    verdict is at the edge too."""
    edge = held(windows_of("gru", {4: REACHES, 8: ("at_least", 63, "none"), 16: ("measured", 40, "none")}))
    assert edge.loc["gru", "verdict"] == "undecided"
    assert edge.loc["gru", "text"] == ("≥ 4, < 16, undecided (8 at the edge: validation and test disagree on "
                                       "reaching 128)")
    other = held(windows_of("gru", {4: REACHES, 8: ("measured", 128, "above")}))
    assert other.loc["gru", "text"].endswith("(8 at the edge: validation and test disagree on reaching 128)")


def test_nothing_is_interpolated_between_loads():
    """A window of 127 at load 8 is below 128: items held stays 4, never a fraction between 4 and 8."""
    row = held(windows_of("m", {4: REACHES, 8: ("measured", 127, "none")})).loc["m"]
    assert row.held == 4 and float(row.held).is_integer()


def test_each_model_task_and_seed_is_read_on_its_own():
    rows = [{**r, "seed": seed} for seed, top in ((0, 4), (1, 8)) for r in windows_of(
        "gru", {load: REACHES if load <= top else ("measured", 16, "none") for load in (1, 2, 4, 8, 16)})]
    rows += windows_of("gru", {1: REACHES, 2: ("measured", 3, "none")}, task="assoc_recall")
    with_seed = items_held(pd.DataFrame(rows).fillna({"seed": 0}), LONGEST)
    assert list(with_seed.columns[:3]) == ["model", "task", "seed"]
    recall = with_seed[with_seed.task == "recall"].set_index("seed")
    assert recall.held.to_dict() == {0: 4, 1: 8}
    assert with_seed[with_seed.task == "assoc_recall"].held.tolist() == [1]


@pytest.mark.parametrize("change, longest, message", [
    (lambda f: f.drop(columns="censored"), LONGEST, r"missing columns \['censored'\]"),
    (lambda f: f.assign(censored="up"), LONGEST, "censored='up': allowed are none, above, below"),
    (lambda f: pd.concat([f, f.iloc[:1]]), LONGEST, "more than one row for model=gru, task=recall, load=1"),
    (lambda f: f.assign(window=np.nan), LONGEST, "a measured or at_least row has no window"),
    (lambda f: f, 0, "longest=0: must be a positive integer"),
])
def test_bad_input_is_refused_naming_what_is_wrong(change, longest, message):
    frame = pd.DataFrame(windows_of("gru", {1: REACHES, 2: ("measured", 8, "none")}))
    with pytest.raises(ValueError, match=message):
        items_held(change(frame), longest)


# ---------------------------------------------------------------------------------------------- the heatmap


def heatmap_frame() -> pd.DataFrame:
    rows = [{"model": model, "task": "recall", "load": load, "distance": d,
             "accuracy": 1.0 if d * load <= 256 else 0.2, "verdict": "measured"}
            for model in ("attention", "gru", "lstm") for load in (1, 2, 4, 8) for d in (8, 16, 32, 64, 128)]
    frame = pd.DataFrame(rows)
    failed = (frame.model == "gru") & (frame.load == 8) & (frame.distance == 128)
    frame.loc[failed, "accuracy"] = np.nan  # a failed measurement
    frame.loc[(frame.model == "lstm") & (frame.load == 4), "verdict"] = "budget_bound"
    return frame[~((frame.model == "attention") & (frame.load == 2) & (frame.distance == 16))]  # a missing cell


def test_the_heatmap_has_one_panel_per_model_and_leaves_failures_blank():
    figure = load_heatmap(heatmap_frame())
    panels = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["attention", "gru", "lstm"]
    loads, distances = [1, 2, 4, 8], [8, 16, 32, 64, 128]
    for ax in panels:
        cells = ax.images[0].get_array()
        assert cells.shape == (4, 5)
        for row, load in enumerate(loads):
            for column, d in enumerate(distances):
                blank = (ax.get_title(), load, d) in {("gru", 8, 128), ("attention", 2, 16)}
                assert bool(np.ma.getmaskarray(cells)[row, column]) == blank, (ax.get_title(), load, d)
                if not blank:
                    assert cells[row, column] == pytest.approx(1.0 if d * load <= 256 else 0.2)


def test_the_heatmap_hatches_budget_bound_loads_only():
    figure = load_heatmap(heatmap_frame())
    hatched = {ax.get_title(): [patch.get_y() + 0.5 for patch in ax.patches if patch.get_hatch()]
               for ax in figure.axes if ax.images}
    assert hatched == {"attention": [], "gru": [], "lstm": [2.0]}  # load 4 is the third row


def test_a_fine_curve_draws_readable_panels_labelled_at_the_powers_of_two():
    distances = list(range(8, 65))  # the fine curve: every distance from 8 to 64
    frame = pd.DataFrame([{"model": model, "task": "recall", "load": load, "distance": d, "accuracy": 0.5}
                          for model in ("attention", "gru", "lstm") for load in (1, 2, 4) for d in distances])
    figure = load_heatmap(frame)
    width, _ = figure.get_size_inches()
    assert width <= 3 * 4.5 + 2 + 1e-9  # before: 0.35 inch per distance, a 62-inch-wide figure
    for ax in (ax for ax in figure.axes if ax.images):
        assert [label.get_text() for label in ax.get_xticklabels()] == ["8", "16", "32", "64"]
        assert ax.images[0].get_array().shape == (3, len(distances))


def test_a_state_axis_wraps_its_panels_into_rows_of_readable_width():
    models = ["attention", *(f"gru hidden_size={h}" for h in (16, 32, 64, 128)),
              *(f"lstm hidden_size={h}" for h in (14, 28, 56, 112))]
    frame = pd.DataFrame([{"model": model, "task": "recall", "load": load, "distance": d, "accuracy": 0.5}
                          for model in models for load in (1, 2) for d in range(8, 65)])
    figure = load_heatmap(frame)
    panels = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in panels] == models  # sizes in their numeric order, every one drawn
    rows = sorted({round(ax.get_position().y0, 3) for ax in panels})
    assert len(rows) == 3 and figure.get_size_inches()[0] <= 4 * 4.5 + 2 + 1e-9  # 9 panels: 4 + 4 + 1 per row
    assert not [ax for ax in figure.axes if ax.get_visible() and not ax.images and ax.get_label() != "<colorbar>"]


def test_the_heatmap_draws_one_task():
    frame = heatmap_frame()
    with pytest.raises(ValueError, match=r"one task per figure, got \['assoc_recall', 'recall'\]"):
        load_heatmap(pd.concat([frame, frame.assign(task="assoc_recall")]))
    with pytest.raises(ValueError, match=r"missing columns \['accuracy'\]"):
        load_heatmap(frame.drop(columns="accuracy"))


# ---------------------------------------------------------------------------------------------- what a load asks


def test_one_instance_or_one_query_pends_a_known_number_of_items():
    """A lone recall instance is all a query holds; assoc_recall with one query of five pairs holds all five."""
    lone = pending_by_distance(Recall(distances=8, seq_len=64, instances=1), [1, 8, 63], sequences=32)
    assert lone.pending.tolist() == [1.0, 1.0, 1.0] and lone.least.eq(1).all() and lone.most.eq(1).all()
    one_query = pending_by_distance(AssocRecall(distances=8, seq_len=40, num_pairs=5, num_queries=1), [4, 38],
                                    sequences=32)
    assert one_query.pending.tolist() == [5.0, 5.0] and one_query.load.eq(5).all()


def test_recall_at_load_32_holds_more_the_further_it_reaches():
    """The numbers of issue 25: 32 instances in 249 steps leave about 1.9 pending at d = 8 and 16.5 at 128, the
    expectation of 1 + 31 * overlap; drawn from the mixture, a short query shares its sequence with long ones."""
    task = Recall(distances=[8, 128], seq_len=249, instances=32, vocab_instances=32)
    planted = pending_by_distance(task, [8, 16, 32, 64, 128], sequences=128).set_index("distance")
    assert planted.pending[8] == pytest.approx(1.9, abs=0.15) and planted.pending[128] == pytest.approx(16.5, abs=0.4)
    assert all(planted.pending.diff().dropna() > 0.5) and planted.positions.eq(128 * 32).all()
    mixed = pending_by_distance(task, [8, 128], sequences=128, mixed=True).set_index("distance")
    assert mixed.pending[8] > planted.pending[8] + 3 and math.isclose(mixed.positions.sum(), 128 * 32)


def test_a_task_without_a_load_is_refused():
    with pytest.raises(ValueError, match="task Copy: declares no load"):
        pending_by_distance(Copy(distances=8), [8])
    with pytest.raises(ValueError, match="weights need mixed=True"):
        pending_by_distance(Recall(distances=8), [8, 16], weights=[1, 1])


# ---------------------------------------------------------------------------------------------- from records


def write_load_sweep(directory, small_ladder=None) -> None:
    """Recall at loads 1, 2, 4, 8 (vocabulary and length fixed), two seeds: attention reaches 32 at every load; a
    GRU of 128 units reaches it at loads 1 and 2 and is measured below it at 4 and 8; one of 16 units reaches it
    at load 1 only. Items held: ≥ 8, 2 and 1; with the state, 1 item at S = 16 and 2 at S = 128: α = 1/3."""
    from synthetic_runs import RECALL, run, step, write

    from harness.verdict import STABLE_RUNGS

    windows = {"attention": {1: 32, 2: 32, 4: 32, 8: 32}, "gru": {1: 32, 2: 32, 4: 20, 8: 10},
               "gru16": {1: 32, 2: 12, 4: 9, 8: 8}}
    for name, by_load in windows.items():
        model, size = ("gru", 16) if name == "gru16" else (name, 128)
        for load, window in by_load.items():
            for seed in (0, 1):
                task = {"_target_": "tasks.recall.Recall", "instances": load, "vocab_instances": 8, "seq_len": 64}
                rungs = [step(window, RECALL)] * (1 if window >= max(RECALL) else STABLE_RUNGS)
                ladder = {"ladder": small_ladder} if small_ladder and size == 16 else {}
                write(directory, run(model, "recall", seed, rungs, task_config=task, **ladder,
                                     model_config={"hidden_size": size}, state_size=size, params=100 * size))


def test_a_report_reads_items_held_the_law_and_what_each_load_asks(tmp_path):
    from analysis import load
    from analysis.load_axis import answer
    from analysis.tables import Report

    write_load_sweep(tmp_path)
    tables = Report(load(tmp_path), resamples=10).loads
    held_by = tables.held.set_index("model").text.to_dict()
    assert held_by == {"attention": "≥ 8 (every load reaches 32)", "gru hidden_size=128": "2 (4 decided below 32)",
                       "gru hidden_size=16": "1 (2 decided below 32)"}
    fit = tables.fits.set_index("model").loc["gru"]
    assert fit.status == "fitted" and fit.alpha == pytest.approx(1 / 3) and fit.seeds_fitted == 2
    pending = tables.pending.set_index(["load", "distance"]).pending
    assert pending[(1, 8)] == pytest.approx(1.0) and pending[(8, 32)] > pending[(8, 8)] >= 1.0
    assert set(tables.heatmap.model) == {"attention", "gru hidden_size=128", "gru hidden_size=16"}
    lines = answer(tables)
    assert lines[0].startswith("**attention**, items held out to distance 32: on recall (12,800 parameters) ≥ 8")
    assert "on recall (12,800 parameters) 2 (4 decided below 32)" in lines[1] and "items held ∝ S^0.33" in lines[1]


def test_a_sweep_still_choosing_a_rate_reads_as_undecided_at_that_load(tmp_path):
    from synthetic_runs import RECALL, run, step, write

    from analysis import load
    from analysis.tables import Report

    write_load_sweep(tmp_path)
    for lr in (3e-3, 1e-2):  # two more candidates on the choosing seed, each paused after its first rung
        task = {"_target_": "tasks.recall.Recall", "instances": 4, "vocab_instances": 8, "seq_len": 64}
        write(tmp_path, run("gru", "recall", 0, [step(20, RECALL)], task_config=task, lr=lr, status="finished",
                            model_config={"hidden_size": 128}, state_size=128, params=12800))
        other = {"_target_": "tasks.assoc_recall.AssocRecall", "num_pairs": 4}  # one load only: no axis
        write(tmp_path, run("attention", "assoc_recall", 0, [step(20, RECALL)], task_config=other, lr=lr,
                            model_config={"hidden_size": 128}))
    for load_, lr in [(4, 1e-3), (4, 3e-3), (8, 1e-3), (8, 3e-3)]:  # an LSTM whose every load is a candidate
        task = {"_target_": "tasks.recall.Recall", "instances": load_, "vocab_instances": 8, "seq_len": 64}
        write(tmp_path, run("lstm", "recall", 0, [step(20, RECALL)], task_config=task, lr=lr,
                            model_config={"hidden_size": 128}, state_size=128, params=12800))
    tables = Report(load(tmp_path), resamples=10).loads
    held = tables.held.set_index("model").text.to_dict()
    assert held["lstm"] == "no load reaches, undecided (4 still choosing its learning rate)"
    # The GRU's other loads all trained at 1e-3: that is the rate its axis holds, and load 4 is read at it.
    assert held["gru hidden_size=128"] == "2 (4 decided below 32)"
    assert held["attention"] == "≥ 8 (every load reaches 32)"
    assert set(tables.windows.task_family) == {"recall"} and len(tables.held_by_seed)


def test_a_law_across_sizes_trained_on_different_ladders_says_so(tmp_path):
    from synthetic_runs import LADDER

    from analysis import load
    from analysis.tables import Report

    write_load_sweep(tmp_path, small_ladder=[step * 2 for step in LADDER])
    fit = Report(load(tmp_path), resamples=10).loads.fits.set_index("model").loc["gru"]
    assert fit.status == "fitted" and fit.reason.startswith("points differ in rungs: ")
    same = tmp_path / "same"
    write_load_sweep(same)
    assert Report(load(same), resamples=10).loads.fits.set_index("model").loc["gru"].reason == ""


def test_the_page_and_the_readme_block_state_the_answer(tmp_path):
    from analysis import pages
    from analysis.report import main

    write_load_sweep(tmp_path / "load")
    readme = tmp_path / "README.md"
    start, end = pages.markers("load")
    readme.write_text(f"# T\n{start}\nold\n{end}\n")
    page = tmp_path / "docs" / "load.md"
    assert main([str(tmp_path / "load"), "--markdown", str(page), "--readme", str(readme), "--block", "load"]) == 0
    text = page.read_text()
    assert "## The load a model must hold" in text and "| recall | gru hidden_size=128 | 2 (4 decided below 32) |" \
        in text and (page.parent / "load" / "load_recall.png").exists()
    block = readme.read_text()
    assert "\nold\n" not in block
    assert "- **gru**, items held out to distance 32: on recall (12,800 parameters) 2" in block
