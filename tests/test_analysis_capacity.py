"""The capacity analysis on synthetic sweeps whose answer is known: located windows that follow 2 * S^0.5 exactly,
α's spread over seeds, what limited each size (read from the ladder's verdicts), a family whose state grows
with the sequence (never fitted), the information floor, and the figures."""

from __future__ import annotations

import math
import re

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
import seaborn as sns
from synthetic_runs import (
    CAPACITY_ALPHA,
    CAPACITY_DISTANCES,
    CAPACITY_SIZES,
    CHANCE,
    LADDER,
    law,
    sized_run,
    step,
    write,
    write_capacity_sweep,
)

import analysis
from analysis import capacity, plots, sections
from analysis.tables import Report
from harness.verdict import STABLE_RUNGS

MEASURED = [step(16, CAPACITY_DISTANCES)] * STABLE_RUNGS


def analysed(directory) -> tuple[capacity.Capacity, Report]:
    """analysis.capacity on a directory, exactly as the report's capacity section calls it."""
    report = Report(analysis.load(directory), resamples=50)
    found = capacity.analyse(report.windows, report.seed_windows, report.run_verdicts, report.rungs,
                             report.results.runs.assign(config=[r.config for r in report.run_records]),
                             report.fraction)
    return found, report


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("capacity")
    write_capacity_sweep(directory)
    return directory


@pytest.fixture(scope="module")
def found(sweep) -> capacity.Capacity:
    return analysed(sweep)[0]


def row(frame: pd.DataFrame, **where) -> pd.Series:
    mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
    (index,) = np.flatnonzero(mask)
    return frame.iloc[index]


def test_every_size_is_its_own_cell_with_its_located_window(found):
    gru = found.windows[found.windows.model == "gru"].set_index("state_size")
    assert list(gru.index) == CAPACITY_SIZES and list(gru.variant) == [f"gru hidden_size={s}" for s in CAPACITY_SIZES]
    for size in CAPACITY_SIZES:
        assert (gru.loc[size, "window"], gru.loc[size, "verdict"], gru.loc[size, "limited_by"]) == (
            law(size), "measured", "capacity")
        assert gru.loc[size, "params"] == 100 * size and gru.loc[size, "n_seeds"] == 3
    assert list(found.windows.columns) == capacity.SIZE_COLUMNS and gru.in_fit.all()


def test_the_fit_recovers_alpha_with_r_squared_one(found):
    fit = row(found.fits, model="gru")
    assert fit.alpha == pytest.approx(CAPACITY_ALPHA) and fit.r_squared == pytest.approx(1.0)
    assert fit.n_points == 4 and fit.sizes_used == "16 64 256 1024" and fit.sizes_left_out == ""
    assert fit.alpha_min == pytest.approx(CAPACITY_ALPHA) and fit.alpha_max == pytest.approx(CAPACITY_ALPHA)
    assert list(found.fits.columns) == capacity.FIT_COLUMNS


def test_alpha_over_seeds_is_the_range_of_each_seeds_own_fit(tmp_path):
    """Seed 1 stops 4 short at S = 1024 (a shallower slope) and seed 2 one short at S = 16 (a steeper one): the
    median windows still follow the law exactly, and α over seeds spans the seeds' own fits, never a bootstrap
    over 3 seeds. The planted slope lies strictly inside the range, by more than rounding."""
    write_capacity_sweep(tmp_path, offsets={1: {1024: -4}, 2: {16: -1}})
    fit = row(analysed(tmp_path)[0].fits, model="gru")
    x = np.log2(CAPACITY_SIZES)
    per_seed = [np.polyfit(x, np.log2(windows), 1)[0] for windows in ([8, 16, 32, 64], [8, 16, 32, 60],
                                                                      [7, 16, 32, 64])]
    assert fit.alpha == pytest.approx(CAPACITY_ALPHA)
    assert (fit.alpha_min, fit.alpha_max) == (pytest.approx(min(per_seed)), pytest.approx(max(per_seed)))
    assert fit.alpha_min < CAPACITY_ALPHA - 0.01 and fit.alpha_max > CAPACITY_ALPHA + 0.01


def test_alpha_over_seeds_fits_each_setting_on_its_own_windows(tmp_path):
    """The same family on dense n-back (windows 2 * S^0.5) and mixed n-back (a window of 8 at every size): each
    setting's seeds are fitted on that setting's windows alone."""
    for seed in (0, 1):
        for size in CAPACITY_SIZES:
            write(tmp_path, sized_run("gru", "nback", seed, size, [step(law(size), CAPACITY_DISTANCES)] * STABLE_RUNGS))
            write(tmp_path, sized_run("gru", "nback", seed, size, [step(8, CAPACITY_DISTANCES)] * STABLE_RUNGS,
                                      protocol="mixed"))
    fits = analysed(tmp_path)[0].fits.set_index("protocol")
    assert fits.loc["dense", ["alpha", "alpha_min", "alpha_max"]].tolist() == pytest.approx([CAPACITY_ALPHA] * 3)
    assert fits.loc["mixed", ["alpha", "alpha_min", "alpha_max"]].tolist() == pytest.approx([0.0] * 3, abs=1e-9)


def one_size(directory, rungs, seeds=(0, 1), size: int = 64, **options) -> pd.Series:
    for seed in seeds:
        write(directory, sized_run("gru", "nback", seed, size, rungs, **options))
    return analysed(directory)[0].windows.iloc[0]


def test_measured_is_capacity_limited(tmp_path):
    cell = one_size(tmp_path, MEASURED)
    assert (cell.verdict, cell.limited_by, cell.window) == ("measured", "capacity", 16)


def test_a_window_still_moving_up_at_the_top_is_budget_limited(tmp_path):
    moving = [step(w, CAPACITY_DISTANCES) for w in (8, 10, 13, 16, 19)]
    cell = one_size(tmp_path, moving)
    assert (cell.verdict, cell.limited_by) == ("budget_bound", "budget")


def test_accuracy_rising_past_a_steady_window_is_budget_limited(tmp_path):
    """The window sits at 16 at every rung while the accuracy at the distances past it climbs from chance to
    0.4: growth shown on the accuracy, which the window alone would not show."""
    rising = [{**step(16, CAPACITY_DISTANCES), **{d: a for d in range(17, 34)}}
              for a in (CHANCE, 0.2, 0.25, 0.3, 0.4)]
    cell = one_size(tmp_path, rising)
    assert (cell.verdict, cell.window, cell.limited_by) == ("budget_bound", 16, "budget")


def test_budget_bound_without_growth_or_plateau_shown_is_undetermined(tmp_path):
    """Unchanged at every rung, but on 16 validation positions per distance: no change under 0.05 can be shown
    past the window (at 0.5, well above chance, so not guessing either), and no growth. Not capacity by default:
    undetermined."""
    cell = one_size(tmp_path, [step(16, CAPACITY_DISTANCES, low=0.5)] * len(LADDER), val_n=16)
    assert (cell.verdict, cell.limited_by) == ("budget_bound", "undetermined")


def test_at_least_the_longest_distance_and_not_learned_say_so(tmp_path):
    cell = one_size(tmp_path / "long", [step(1000, CAPACITY_DISTANCES)])
    assert (cell.verdict, cell.window_text, cell.limited_by) == ("at_least", "≥ 128", "beyond_range")
    cell = one_size(tmp_path / "none", [{d: CHANCE for d in CAPACITY_DISTANCES}] * len(LADDER))
    assert (cell.verdict, cell.limited_by) == ("not_learned", "not_learned")


def test_limited_by_maps_every_cell_verdict():
    growing = pd.DataFrame({"still_growing": [False, True]})
    flat = pd.DataFrame({"still_growing": [False, None]})
    assert capacity.limited_by("budget_bound", growing) == "budget"  # one growing seed is enough
    assert capacity.limited_by("budget_bound", flat) == "undetermined"
    assert [capacity.limited_by(v, flat) for v in ("measured", "at_least", "not_learned", "offset_shortcut")] == \
        ["capacity", "beyond_range", "not_learned", "offset_shortcut"]
    assert set(capacity.LIMITS) >= {"capacity", "budget", "undetermined", "beyond_range", "not_learned",
                                    "offset_shortcut"}


def test_sizes_without_a_measured_window_are_left_out_of_the_fit_and_say_why(tmp_path):
    write_capacity_sweep(tmp_path, seeds=(0, 1))
    for seed in (0, 1):
        write(tmp_path, sized_run("gru", "nback", seed, 4096, [step(1000, CAPACITY_DISTANCES)]))
        write(tmp_path, sized_run("gru", "nback", seed, 4, [step(w, CAPACITY_DISTANCES) for w in (4, 6, 8, 10, 12)]))
    found = analysed(tmp_path)[0]
    fit = row(found.fits, model="gru")
    assert fit.sizes_used == "16 64 256 1024" and fit.alpha == pytest.approx(CAPACITY_ALPHA)
    assert fit.sizes_left_out == "S=4: budget-limited (12); S=4096: not limited within the distances measured (≥ 128)"
    gru = found.windows.set_index("state_size")
    assert not gru.loc[[4, 4096], "in_fit"].any() and gru.loc[CAPACITY_SIZES, "in_fit"].all()


def test_a_family_whose_state_grows_with_the_sequence_is_drawn_but_never_fitted(tmp_path):
    for size, window in ((1024, 16), (4096, 32)):
        for seed in (0, 1):
            write(tmp_path, sized_run("attention", "nback", seed, size, [step(window, CAPACITY_DISTANCES)] *
                                      STABLE_RUNGS, grows=True))
    found = analysed(tmp_path)[0]
    fit = row(found.fits, model="attention")
    assert math.isnan(fit.alpha) and fit.n_points == 2 and "key-value cache" in fit.note
    assert found.windows.state_grows.all() and (found.windows.verdict == "measured").all()


def test_bits_per_state_number_and_the_floors(found):
    gru = found.windows[found.windows.model == "gru"].set_index("state_size")
    assert gru.loc[256, "bits_needed"] == pytest.approx(32 * 3) and gru.loc[256, "bits_per_number"] == \
        pytest.approx(32 * 3 / 256)  # a window of 32 on n-back with K = 8: 96 bits in 256 numbers
    assert row(found.fits, model="gru").bits_text == "0.19 at S=1024"
    floor = found.floors.set_index("task").loc["nback"]
    assert floor.kind == "per_distance" and floor.bits_per_symbol == pytest.approx(3.0)
    assert "d = S·b / 3" in floor.text


def test_floor_bits_per_distance_flat_and_none():
    assert capacity.floor_bits("nback", 10.0, 8, None) == pytest.approx(30.0)
    assert capacity.floor_bits("recall", 10.0, 8, 4) == capacity.floor_bits("recall", 100.0, 8, 4) == 12.0
    assert math.isnan(capacity.floor_bits("copy", 10.0, 8, None))
    assert math.isnan(capacity.floor_bits("nback", np.nan, 8, None))  # no window, no bits
    table = pd.DataFrame({"task": ["nback", "recall", "copy"], "variant": ["a", "b", "c"]})
    info = pd.DataFrame({"num_symbols": [8, 8, 8], "instances": [np.nan, 4, np.nan]}, index=["a", "b", "c"])
    floors = capacity.floors(table, info).set_index("task")
    assert list(floors.kind) == ["none", "per_distance", "flat"] and floors.loc["recall", "flat_bits"] == 12.0
    assert "no floor drawn" in floors.loc["copy", "text"] and "flat in d" in floors.loc["recall", "text"]


def test_the_growth_table_is_the_median_validation_window_at_each_rung(tmp_path):
    for seed, windows in enumerate([(8, 10, 13, 16, 19), (8, 11, 14, 17, 20), (9, 12, 15, 18, 21)]):
        write(tmp_path, sized_run("gru", "nback", seed, 64, [step(w, CAPACITY_DISTANCES) for w in windows]))
    growth = analysed(tmp_path)[0].growth
    assert list(growth.step) == LADDER and list(growth.window) == [8, 11, 14, 17, 20]
    assert set(growth.censored) == {"none"} and list(growth.columns) == capacity.GROWTH_COLUMNS


def test_the_lr_is_chosen_per_size(tmp_path):
    """Two rates per size, the better one different at each size: a choice pooled over sizes gets one wrong."""
    learned, behind = step(16, CAPACITY_DISTANCES), step(6, CAPACITY_DISTANCES)
    for size, good in ((16, 1e-3), (64, 3e-3)):
        for lr in (1e-3, 3e-3):
            write(tmp_path, sized_run("gru", "nback", 0, size, [learned if lr == good else behind] *
                                      (STABLE_RUNGS if lr == good else 2), lr=lr))
    windows = analysed(tmp_path)[0].windows.set_index("state_size")
    assert windows.loc[16, "lr"] == 1e-3 and windows.loc[64, "lr"] == 3e-3
    assert list(windows.window) == [16, 16]


def test_one_size_is_not_enough_and_the_section_says_what_is_needed(tmp_path):
    one_size(tmp_path, MEASURED)
    found, report = analysed(tmp_path)
    assert not found.enough
    assert sections.capacity_section(report).text == f"## Capacity\n\n{capacity.NOT_ENOUGH}"
    assert not (tmp_path / "capacity_fit.csv").exists()


def test_findings_are_one_sentence_per_family_from_the_numbers(found):
    (line,) = capacity.findings(found)
    assert line.startswith("**gru** on nback (dense): window ∝ S^0.50 (R² 1.00, sizes 16 64 256 1024, α over seeds "
                           "0.50 to 0.50). S=16: capacity-limited, 8 (seeds 8), to 1 step;")


def hollow_points(grid) -> int:
    white = mcolors.to_rgba("white")
    return sum(tuple(face) == white for ax in grid.axes.flat for c in ax.collections for face in c.get_facecolors())


def test_the_figures_draw_budget_bound_sizes_hollow_and_name_what_limited_each(tmp_path):
    write_capacity_sweep(tmp_path, seeds=(0, 1))
    for seed in (0, 1):
        write(tmp_path, sized_run("gru", "nback", seed, 4, [step(w, CAPACITY_DISTANCES) for w in (4, 6, 8, 10, 12)]))
    found = analysed(tmp_path)[0]
    grid = plots.capacity_plot(found.windows, found.fits, found.floors)
    assert isinstance(grid, sns.FacetGrid) and hollow_points(grid) == 1  # S=4, budget-bound
    legend = " ".join(t.get_text() for t in grid.legend.get_texts())
    assert "floor at 1 bit per state number" in legend and "floor at 5 bits per state number" in legend
    assert "offset shortcut" not in legend  # named only where one is drawn
    shortcut = found.windows.assign(verdict=["offset_shortcut"] + list(found.windows.verdict.iloc[1:]))
    legend = plots.capacity_plot(shortcut, found.fits, found.floors).legend.get_texts()
    assert "cross: offset shortcut (not fitted)" in [t.get_text() for t in legend]
    growth = plots.window_growth_plot(found.growth, found.windows, "nback")
    labels = [t.get_text() for ax in growth.axes.flat if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert isinstance(growth, sns.FacetGrid) and "S=4 budget" in labels and "S=64 capacity" in labels
    assert not list(tmp_path.glob("*.png"))  # drawing saves nothing


def test_window_growth_draws_no_empty_panel(tmp_path):
    """GRU on dense n-back only, LSTM on dense and mixed: three panels, each with lines (a family x setting grid
    would leave GRU's mixed panel empty)."""
    for size in (16, 64):
        write(tmp_path, sized_run("gru", "nback", 0, size, MEASURED))
        for protocol in ("dense", "mixed"):
            write(tmp_path, sized_run("lstm", "nback", 0, size, MEASURED, protocol=protocol))
    found = analysed(tmp_path)[0]
    grid = plots.window_growth_plot(found.growth, found.windows, "nback")
    assert len(grid.axes.flat) == 3 and all(ax.lines for ax in grid.axes.flat)


def test_the_capacity_section_of_the_report(sweep):
    found, report = analysed(sweep)
    part = sections.capacity_section(report)
    text = part.text
    assert "](capacity_window_vs_state.png)" in text and "](capacity_growth_nback.png)" in text
    assert "| gru | nback | dense | 0.50 | 0.50 to 0.50 | 1.00 | 4 |" in text
    assert "Collins, Sohl-Dickstein & Sussillo (2017" in text and "d = S·b / 3" in text
    assert "undetermined when neither growth nor a plateau was shown" in text
    fit = part.tables["capacity_fit"]
    assert list(fit.columns) == capacity.FIT_COLUMNS and len(part.tables["capacity_windows"]) == 4


# ---------------------------------------------------------------------------------------------- items held


HELD_SIZES = [16, 32, 64, 128]


def held_points(per_seed: dict[int, list], verdicts: dict | None = None, **columns) -> pd.DataFrame:
    """Rows of the items-held law: ``per_seed`` maps a seed to its items held at HELD_SIZES; ``verdicts`` maps
    (seed, size) to analysis.load_axis's verdict of a point that is not decided."""
    verdicts = verdicts or {}
    rows = [{"model": "gru", "task": "recall", "state_size": size, "seed": seed, "items_held": held,
             "decided": (seed, size) not in verdicts, "verdict": verdicts.get((seed, size), "decided"), **columns}
            for seed, values in per_seed.items() for size, held in zip(HELD_SIZES, values)]
    return pd.DataFrame(rows)


def slope(values) -> float:
    return float(np.polyfit(np.log2(HELD_SIZES[:len(values)]), np.log2(values), 1)[0])


def test_items_held_recovers_a_planted_law_and_its_range_over_seeds():
    """Seed 0 doubles its items with every doubling of the state (α = 1); seed 1 stops at 8 and seed 2 starts at
    1: α is the median of the three seeds' own fits, and the range spans them."""
    per_seed = {0: [2, 4, 8, 16], 1: [2, 4, 8, 8], 2: [1, 4, 8, 16]}
    fit = capacity.fit_items_held(held_points(per_seed)).iloc[0]
    alphas = sorted(slope(values) for values in per_seed.values())
    assert fit.status == "fitted" and fit.seeds_fitted == 3 and fit.sizes_used == "16 32 64 128"
    assert fit.alpha == pytest.approx(alphas[1]) and slope([2, 4, 8, 16]) == pytest.approx(1.0)
    assert (fit.alpha_min, fit.alpha_max) == (pytest.approx(alphas[0]), pytest.approx(alphas[2]))
    assert fit.alpha_min < 1.0 - 0.1 and fit.alpha_max > 1.0 + 0.1
    assert fit.text.startswith(f"items held ∝ S^{fit.alpha:.2f} (")


def test_a_budget_bound_point_is_never_fitted():
    """A budget-bound point carries a number that would bend the fit: it is left out, and named."""
    points = held_points({0: [2, 4, 8, 1], 1: [2, 4, 8, 16]}, verdicts={(0, 128): "budget_bound"})
    fit = capacity.fit_items_held(points).iloc[0]
    assert fit.alpha_min == pytest.approx(1.0) and fit.alpha_max == pytest.approx(1.0)
    assert fit.left_out == "S=128 seed 0: budget-bound"


@pytest.mark.parametrize("verdicts, reason", [
    ({(0, s): "budget_bound" for s in HELD_SIZES[1:]}, r"fewer than 2 decided sizes in every seed \(decided: S=16 "
                                                        r"seed 0; not decided: 3 budget-bound\)"),
    ({(0, s): "all_reach" for s in HELD_SIZES}, "items held censored at every size"),
    ({(0, s): "undecided" for s in HELD_SIZES}, r"in every seed \(decided: none; not decided: 4 bracket undecided\)"),
], ids=["one_decided_size", "censored_everywhere", "none_decided"])
def test_items_held_without_two_decided_sizes_is_undetermined_with_the_reason(verdicts, reason):
    fit = capacity.fit_items_held(held_points({0: [2, 4, 8, 16]}, verdicts)).iloc[0]
    assert fit.status == "undetermined" and math.isnan(fit.alpha) and fit.seeds_fitted == 0
    assert re.search(reason, fit.reason) and fit.text.startswith("α undetermined: ")


def test_points_at_different_rates_are_named_beside_the_law():
    points = held_points({0: [2, 4, 8, 16]}).assign(lr=[0.001, 0.001, 0.003, 0.003])
    fit = capacity.fit_items_held(points).iloc[0]
    assert fit.status == "fitted" and fit.reason == "points differ in lr: 0.001, 0.003"


def test_the_floor_in_items_beside_the_median_of_decided_seeds():
    """Recall with 8 symbols: 3 bits an item, so S numbers at b bits hold at most S·b / 3 items."""
    points = held_points({0: [2, 4, 8, 16], 1: [4, 4, 16, 16]}, verdicts={(0, 128): "budget_bound",
                                                                      (1, 128): "budget_bound"},
                         bits_per_item=capacity.bits_per_item(8)).drop(columns="task")
    table = capacity.items_held_points(points).set_index("state_size")
    assert table.items_held[16] == pytest.approx(3.0) and table.items_held[64] == pytest.approx(12.0)
    assert math.isnan(table.items_held[128]) and table.seeds_decided[128] == 0
    assert table.not_decided[128] == "seed 0: budget-bound; seed 1: budget-bound"
    assert table.floor_1_bits[128] == pytest.approx(128 / 3) and table.floor_5_bits[16] == pytest.approx(80 / 3)


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns="decided"), r"missing columns \['decided'\]"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "more than one row for model=gru, task=recall, state_size=16, seed=0"),
    (lambda f: f.assign(items_held=0), "a decided point needs items_held >= 1, got 0"),
    (lambda f: f.assign(decided=np.nan), "decided must be True or False, got"),
])
def test_bad_items_held_input_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        capacity.fit_items_held(change(held_points({0: [2, 4, 8, 16]})))
