# %% [markdown]
# # Exploring a sweep
#
# A worked example of `analysis` as a library. It runs as a script,
#
#     python examples/explore.py                 # the demo sweep, outputs/quick (make demo)
#     python examples/explore.py outputs/NAME    # any results directory
#
# and as a notebook: Jupyter (with jupytext) and VS Code open the `# %%` cells. It reads stored records only;
# nothing is trained.

# %%
import sys
from pathlib import Path

here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()  # a notebook has no __file__
REPO = here.parent if (here.parent / "analysis").is_dir() else here
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

import analysis  # noqa: E402
from analysis.plots import model_palette, save  # noqa: E402
from analysis.tables import Report  # noqa: E402

# the first argument that is a directory (a notebook kernel passes its own arguments, which are not)
DIRECTORY = next((Path(a) for a in sys.argv[1:] if Path(a).is_dir()), REPO / "outputs" / "quick")

# %% [markdown]
# ## Load
# `analysis.load` reads every `result.json` under the directory once. `results.table` is the tidy table: one row
# per run and evaluated distance, with every scalar field of the record (model, task, seed, lr, params, steps,
# stop_reason, ...) and every field of its distance score (accuracy on the test set, val_accuracy, n, trained,
# heldout). `results.runs`, `results.history` and `results.live` are the other tables.

# %%
results = analysis.load(DIRECTORY)
if not results.records:
    raise SystemExit(f"no result.json records under {DIRECTORY}: run a sweep first (make demo)")
table = results.table
print(f"{len(results.records)} runs, {len(table)} rows; columns: {', '.join(table.columns[:12])}, ...")

# %% [markdown]
# ## The window table, with verdicts
# `Report` is what `python -m analysis.report` computes from the loaded results: the lr chosen per cell on
# validation accuracy (successive halving up the budget ladder), then the windows at that lr with their verdicts
# (measured, at_least, budget_bound, not_learned, offset_shortcut), by the rule stated once in
# harness/verdict.py. `window_text` is the median over seeds of each seed's located window, `range_text` the
# range over seeds; `claim` is what may be said, with the budget: no number where none is claimed.

# %%
report = Report(results)
windows = report.windows
columns = ["task", "protocol", "model", "lr", "verdict", "window_text", "range_text", "resolution", "n_seeds",
           "budget_text"]
with pd.option_context("display.width", 200, "display.max_colwidth", 60):
    print(windows[columns].to_string(index=False))
    print("\n".join(f"{w.task} / {w.model}: {w.claim}" for w in windows.itertuples()))

# %% [markdown]
# ## Each seed, and each run up the ladder
# `report.seed_windows` holds every seed's window (on its test curve) and the validation window its verdict
# read; `report.run_verdicts` every run's verdict at its last rung and why; `results.rungs` the validation
# curve of every run at every rung it reached.

# %%
with pd.option_context("display.width", 200):
    print(report.seed_windows[["task", "model", "seed", "verdict", "window_text", "val_window", "steps"]]
          .to_string(index=False))
    print(report.run_verdicts.sort_values(["task", "model", "seed", "steps"])[
        ["task", "model", "seed", "steps", "stop_reason", "verdict", "why"]].to_string(index=False))

# %% [markdown]
# ## A plot of your own
# Any seaborn call on the tidy table. Here: does validation accuracy predict test accuracy at the end of
# training? One point per run and distance; points on the diagonal mean the two streams agree.

# %%
scored = report.table.dropna(subset=["accuracy", "val_accuracy"])
grid = sns.relplot(data=scored, x="val_accuracy", y="accuracy", hue="model", palette=model_palette(scored.model),
                   style="trained", col="task", col_wrap=3, height=3, kind="scatter")
for ax in grid.axes.flat:
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
grid.set_axis_labels("validation accuracy (end of training)", "test accuracy")
paths = save(grid, DIRECTORY / "explore_validation_vs_test")
print(f"figure: {paths[0]}")
