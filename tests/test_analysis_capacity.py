"""The capacity analysis on synthetic sweeps whose answer is known: windows that follow 0.5 * S^0.75 exactly, sizes
the fit must leave out, attention (never fitted), bits per state number, and the capacity-or-budget test on
histories that stopped growing, still grow, are noisy but flat, or stopped at the target."""

from __future__ import annotations

import math

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
import seaborn as sns
from synthetic_runs import (
    ATTENTION,
    CAPACITY_ALPHA,
    CAPACITY_SIZES,
    centred_noise,
    sized_record,
    write,
    write_capacity_sweep,
)

import analysis
from analysis import capacity, plots, report

RESAMPLES = 300


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("capacity")
    write_capacity_sweep(directory)
    return directory


@pytest.fixture(scope="module")
def found(sweep) -> capacity.Capacity:
    return capacity.analyse(analysis.load(sweep), resamples=RESAMPLES)


def row(frame: pd.DataFrame, **where) -> pd.Series:
    mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
    (index,) = np.flatnonzero(mask)
    return frame.iloc[index]


def test_the_fit_recovers_alpha_with_r_squared_one_and_a_ci_around_it(found):
    fit = row(found.fits, model="gru")
    assert fit.alpha == pytest.approx(CAPACITY_ALPHA, abs=0.02) and fit.r_squared == pytest.approx(1.0, abs=1e-3)
    assert fit.alpha_low <= CAPACITY_ALPHA <= fit.alpha_high and fit.alpha_high - fit.alpha_low < 0.1
    assert fit.n_points == len(CAPACITY_SIZES) and fit.sizes_used == " ".join(map(str, CAPACITY_SIZES))
    assert fit.resamples == RESAMPLES


def test_censored_and_budget_bound_sizes_are_left_out_and_say_why(found):
    fit = row(found.fits, model="gru")
    assert fit.sizes_left_out == ("2 (< 2: below the smallest distance); 512 (budget-bound); "
                                  "4096 (≥ 128: beyond the largest distance)")
    gru = found.windows[found.windows.model == "gru"].set_index("state_size")
    assert gru.in_fit.sum() == len(CAPACITY_SIZES) and not gru.loc[[2, 512, 4096], "in_fit"].any()
    assert (gru.loc[2, "censored"], gru.loc[4096, "censored"], gru.loc[512, "verdict"]) == (
        "below", "above", "budget_bound")


def test_every_size_is_its_own_cell_and_windows_follow_the_law(found):
    gru = found.windows[found.windows.model == "gru"].set_index("state_size")
    assert sorted(gru.index) == sorted([*CAPACITY_SIZES, 2, 512, 4096])  # never pooled into one gru window
    for size in CAPACITY_SIZES:
        assert gru.loc[size, "window"] == pytest.approx(0.5 * size ** CAPACITY_ALPHA, rel=1e-9)
        assert gru.loc[size, "params"] == 100 * size and gru.loc[size, "n_seeds"] == 3


def test_attention_is_drawn_but_never_fitted(found):
    fit = row(found.fits, model="attention")
    assert math.isnan(fit.alpha) and fit.n_points == 0 and "key-value cache" in fit.note
    assert (found.windows[found.windows.model == "attention"].censored == "none").sum() == 2  # fittable, yet not
    assert capacity.state_depends_on_length(ATTENTION)
    assert not capacity.state_depends_on_length("models.recurrent.RecurrentModel")
    assert not capacity.state_depends_on_length("models.mamba.MambaModel")
    assert not capacity.state_depends_on_length("models.nowhere.Model")


def test_bits_per_state_number_at_the_largest_measured_window(found):
    gru = found.windows[found.windows.model == "gru"].set_index("state_size")
    assert gru.loc[256, "bits_needed"] == pytest.approx(32 * 3) and gru.loc[256, "bits_per_number"] == \
        pytest.approx(32 * 3 / 256)  # window 32 on n-back with K = 8: 96 bits in 256 numbers
    fit = row(found.fits, model="gru")
    assert fit.bits_per_number == pytest.approx(0.375) and fit.floor_bits == pytest.approx(96)
    assert fit.bits_text == "0.38 at S = 256 (window 32)"
    assert found.floors.set_index("task").loc["nback", "kind"] == "per_distance"


def test_floors_per_distance_flat_and_none():
    assert capacity.floor_bits("nback", 10.0, 8, None) == pytest.approx(30.0)
    assert capacity.floor_bits("recall", 10.0, 8, 4) == capacity.floor_bits("recall", 100.0, 8, 4) == 12.0
    assert math.isnan(capacity.floor_bits("copy", 10.0, 8, None))
    windows = pd.DataFrame({"task": ["nback", "recall", "copy"], "num_symbols": [8, 8, 8],
                            "instances": [np.nan, 4, np.nan]})
    floors = capacity.floors(windows).set_index("task")
    assert list(floors.kind) == ["none", "per_distance", "flat"] and floors.loc["recall", "flat_bits"] == 12.0
    assert "no floor drawn" in floors.loc["copy", "text"] and "flat in d" in floors.loc["recall", "text"]


def test_independent_noise_still_recovers_alpha(tmp_path):
    rng = np.random.default_rng(1)
    for size in CAPACITY_SIZES:
        for seed in range(3):
            noise = dict(zip([2, 4, 8, 16, 32, 64, 128], rng.normal(0, 0.01, 7)))
            write(tmp_path, sized_record("lstm", "nback", seed, size, 0.5 * size ** CAPACITY_ALPHA, noise=noise))
    fit = row(capacity.analyse(analysis.load(tmp_path), resamples=RESAMPLES).fits, model="lstm")
    assert fit.alpha == pytest.approx(CAPACITY_ALPHA, abs=0.1) and fit.r_squared > 0.98


GROWING = [2 * 2 ** (k / 2) for k in range(8)]  # log2 window linear in step: still growing at the cap
HISTORIES = {
    "stopped growing": ([2, 4, 8, 12, 16, 16, 16, 16], "cap", "capacity"),
    "still growing": (GROWING, "cap", "budget"),
    "noisy but flat": ([16 * 2 ** (0.2 * s) for s in [1, -1, -1, 1, 1, -1, -1, 1]], "cap", "capacity"),
    "stopped at its target": (GROWING, "target", "capacity"),
    "beyond the distances measured": ([16, 32, 64, 128, 128, 128, 128, 128], "cap", "beyond_range"),
}


@pytest.mark.parametrize("name", list(HISTORIES))
def test_capacity_or_budget_limited(tmp_path, name):
    windows, stop_reason, expected = HISTORIES[name]
    for seed in (0, 1):
        write(tmp_path, sized_record("gru", "nback", seed, 64, windows[-1], windows=windows, stop_reason=stop_reason))
    cell = capacity.analyse(analysis.load(tmp_path), resamples=50).windows.iloc[0]
    assert cell.limited_by == expected, name
    if name == "still growing":
        assert cell.growth_per_1k_steps == pytest.approx(0.5 / 50 * 1000) and cell.growth_z > 2


def test_growth_slope_from_the_residuals():
    steps = [50 * k for k in range(1, 9)]
    assert capacity.growth_slope(steps, [3.0] * 8) == (0.0, 0.0)
    slope, z = capacity.growth_slope(steps, [0.01 * s + 0.1 * (-1) ** k for k, s in enumerate(steps)])
    assert slope == pytest.approx(10.0, rel=0.5) and z > 2  # only the last half (4 points) is fitted
    assert all(math.isnan(v) for v in capacity.growth_slope(steps[:3], [1.0, 2.0, 3.0]))


def test_the_lr_is_chosen_per_size(tmp_path):
    """Two lrs per size, the better one different at each size: a choice pooled over sizes would get one wrong."""
    for size, good_lr in ((16, 1e-3), (64, 3e-3)):
        for lr in (1e-3, 3e-3):
            window, val = (8.0, None) if lr == good_lr else (2.5, {d: 0.2 for d in [2, 4, 8, 16, 32, 64, 128]})
            for seed in (0, 1):
                write(tmp_path, sized_record("gru", "nback", seed, size, window, lr=lr, val=val))
    windows = capacity.analyse(analysis.load(tmp_path), resamples=50).windows.set_index("state_size")
    assert windows.loc[16, "lr"] == 1e-3 and windows.loc[64, "lr"] == 3e-3
    assert windows.window.to_numpy() == pytest.approx([8.0, 8.0])


def test_limit_summary_in_one_line():
    cells = pd.DataFrame({"state_size": [16, 64, 128, 256], "limited_by": ["capacity", "capacity", "budget", "budget"]})
    assert capacity.limit_summary(cells) == "capacity-limited at S ≤ 64; budget-limited at S ≥ 128"
    assert capacity.limit_summary(cells.assign(limited_by="capacity")) == \
        "capacity-limited at every size (S = 16, 64, 128, 256)"


def test_capacity_figures_are_facet_grids_with_hollow_budget_bound_points(found, tmp_path):
    grid = plots.capacity_plot(found.windows, found.fits, found.floors)
    white = mcolors.to_rgba("white")
    hollow = sum(tuple(face) == white for ax in grid.axes.flat for c in ax.collections for face in c.get_facecolors())
    assert isinstance(grid, sns.FacetGrid) and hollow == (found.windows.verdict == "budget_bound").sum() == 1
    markers = {c.get_paths()[0].vertices.round(2).tobytes() for ax in grid.axes.flat for c in ax.collections}
    assert len(markers) >= 2  # censored triangles besides the hollow circle
    legend = " ".join(t.get_text() for t in grid.legend.get_texts())
    assert "floor at 1 bit per state number" in legend and "floor at 5 bits per state number" in legend
    assert "offset shortcut" not in legend  # named only where one is drawn
    shortcut = found.windows.assign(verdict=["offset_shortcut"] + list(found.windows.verdict.iloc[1:]))
    legend = plots.capacity_plot(shortcut, found.fits, found.floors).legend.get_texts()
    assert "cross: offset shortcut (not fitted)" in [t.get_text() for t in legend]
    growth = plots.window_growth_plot(found.growth, found.windows, "nback")
    assert isinstance(growth, sns.FacetGrid) and "S=512 budget" in [
        t.get_text() for ax in growth.axes.flat if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert not list(tmp_path.glob("*.png"))


def test_the_report_has_the_capacity_section(sweep, capsys):
    assert report.main([str(sweep), "--resamples", "200"]) == 0
    capsys.readouterr()
    text = (sweep / "report.md").read_text()
    section = text.split("## Capacity")[1].split("\n## ")[0]
    assert "](capacity_window_vs_state.png)" in section and "](capacity_growth_nback.png)" in section
    assert "| gru | nback | mixed | 400 | 0.75 |" in section
    assert "| attention | nback | mixed | 400 | not fitted |" in section
    assert "Collins, Sohl-Dickstein & Sussillo (2017" in section and "d = S·b / 3" in section
    assert "budget-limited at S = 512" in section and "Left out of the fit: 2 (< 2" in section
    fit = pd.read_csv(sweep / "capacity_fit.csv")
    assert list(fit.columns) == capacity.FIT_COLUMNS and len(pd.read_csv(sweep / "capacity_windows.csv")) == 10


def test_a_single_size_gives_one_line_saying_what_is_needed(tmp_path, capsys):
    for seed, noise in zip((0, 1), centred_noise((0, 1), 0.003, np.random.default_rng(0))):
        write(tmp_path, sized_record("gru", "nback", seed, 64, 8.0, noise=noise))
    assert report.main([str(tmp_path), "--resamples", "50"]) == 0
    capsys.readouterr()
    section = (tmp_path / "report.md").read_text().split("## Capacity\n\n")[1].split("\n\n## ")[0]
    assert section == capacity.NOT_ENOUGH and "\n" not in section
    assert not (tmp_path / "capacity_fit.csv").exists()


def test_growth_that_is_significant_but_immaterial_is_not_budget_limited(tmp_path):
    """A window creeping 0.01 doublings per evaluation, without noise: z is infinite, but over the last half it
    grows 0.03 doublings (2%), under GROWTH_TOLERANCE: the window had stopped growing in any sense that matters."""
    creeping = [8 * 2 ** (0.01 * k) for k in range(8)]
    for seed in (0, 1):
        write(tmp_path, sized_record("gru", "nback", seed, 64, creeping[-1], windows=creeping))
    cell = capacity.analyse(analysis.load(tmp_path), resamples=50).windows.iloc[0]
    assert cell.growth_z > 2 and cell.limited_by == "capacity"


def test_alpha_at_budget_includes_budget_bound_sizes(tmp_path):
    """Every size still rising at the cap: no capacity fit, but the windows reached follow the law, and the fit at
    this budget recovers α."""
    for size in CAPACITY_SIZES:
        for seed in (0, 1):
            write(tmp_path, sized_record("lstm", "nback", seed, size, 0.5 * size ** CAPACITY_ALPHA, shape="rising"))
    fit = row(capacity.analyse(analysis.load(tmp_path), resamples=RESAMPLES).fits, model="lstm")
    assert math.isnan(fit.alpha) and fit.alpha_at_budget == pytest.approx(CAPACITY_ALPHA, abs=0.05)
    assert fit.alpha_at_budget_low - 1e-9 <= fit.alpha_at_budget <= fit.alpha_at_budget_high + 1e-9


def test_window_growth_draws_no_empty_panel_for_a_family_run_at_one_budget_only(tmp_path):
    """GRU at 400 steps only, LSTM at 400 and 800: three panels, each with lines (a model x budget grid would
    leave GRU's 800-step panel empty)."""
    for size in (16, 64):
        for seed in (0, 1):
            write(tmp_path, sized_record("gru", "nback", seed, size, 4.0, max_steps=400))
            for steps in (400, 800):
                write(tmp_path, sized_record("lstm", "nback", seed, size, 4.0, max_steps=steps))
    found = capacity.analyse(analysis.load(tmp_path), resamples=50)
    grid = plots.window_growth_plot(found.growth, found.windows, "nback")
    assert len(grid.axes.flat) == 3 and all(ax.lines for ax in grid.axes.flat)
