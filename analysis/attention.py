"""Look inside a trained attention model: where does each query look, and does it find its answer?

    python -m analysis.attention outputs/quick/attention_nback_<hash>
    python -m analysis.attention RUN_DIR --distance 32 --example 3

The seed note's example: to resolve "it" in "The animal didn't cross the street because it was too tired",
the model must look back at "animal". Here the answer's position is known exactly: a scored position t
answers from t - distance. For one test example the script draws every layer's and head's attention
weights, from the model's explicit path (the six steps of the note, softmax(QKᵀ/√d_k)), cropped around the
scored query, with a box on the answer's position. Over the test set of every evaluated distance it
measures the mean weight a scored query puts on its answer position, per layer and head, against the weight
uniform causal attention would put there.

Outputs, in RUN_DIR: attention_maps.png/.pdf, attention_mass.csv (one row per distance, layer and head) and
attention_mass.png/.pdf. It reads the run's model.pt and config; it never trains.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from analysis.plots import budget_text, log2_axis, model_palette, save  # noqa: E402
from harness import record as records  # noqa: E402
from harness.config import build  # noqa: E402
from harness.record import Record  # noqa: E402
from tasks.base import data_generator  # noqa: E402

MASS_COLUMNS = ["model", "task", "seed", "distance", "trained", "layer", "head", "mass_on_answer", "uniform_baseline",
                "n_positions", "accuracy"]  # plus run_dir
MAX_WEIGHT_ELEMENTS = 2 ** 24  # attention weights held at once while measuring (64 MB of float32)


class RefusedRun(ValueError):
    """A run this script cannot draw; the message says why and what it accepts."""


def has_attention_weights(record: Record) -> bool:
    """Whether the run's model class can return its attention weights (``forward(..., return_attention=True)``)."""
    module, _, name = str(record.config.get("model", {}).get("_target_", "")).rpartition(".")
    try:
        model_class = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):  # not importable here: nothing this script can load
        return False
    return "return_attention" in inspect.signature(model_class.forward).parameters


def load_run(run_dir: Path):
    """The record, task and trained model of an attention run, or RefusedRun naming what is wrong."""
    record, problem = records.read(run_dir / records.RESULT_FILE)
    if record is None:
        raise RefusedRun(f"{run_dir}/result.json: {problem}")
    if not record.complete:
        raise RefusedRun(f"{run_dir} is a {record.status} run ({record.reason}); only finished runs have "
                         "trained weights to draw")
    if not has_attention_weights(record):
        raise RefusedRun(f"{run_dir} is a {record.model!r} run ({record.config['model'].get('_target_', '?')}), which "
                         "has no attention weights; analysis.attention draws runs of attention models "
                         "(models.attention.AttentionModel: model=attention, or a sliding-window attention model)")
    weights = run_dir / "model.pt"
    if not weights.is_file():
        raise RefusedRun(f"{run_dir} has no model.pt: the run was made with train.save_model=false; rerun it with "
                         "train.save_model=true +force=true")
    built = build(OmegaConf.create(record.config))  # the one place tasks and models are built
    built.model.load_state_dict(torch.load(weights, weights_only=True, map_location="cpu"))
    return record, built.task, built.model.eval()


def test_set(task, record: Record, distance: int):
    """The test set harness/train.py scores at this distance (same generator, same size)."""
    sequences = int(record.config["train"]["eval_sequences"])
    return task.sample(sequences, data_generator(task.name, record.seed, "eval", distance), distance)


def answer_positions(distance_row: torch.Tensor) -> list[tuple[int, int]]:
    """(query, source) for every scored position of one sequence: the answer lies at query - distance."""
    queries = torch.nonzero(distance_row >= 0).flatten().tolist()
    return [(q, q - int(distance_row[q])) for q in queries]


# ---------------------------------------------------------------------------------------------- mass on answer


@torch.inference_mode()
def attention_mass(model, task, record: Record, distances: list[int], sequences: int) -> pd.DataFrame:
    """Per distance, layer and head: the mean attention weight scored queries put on their answer position,
    next to the weight uniform attention over the visible keys would put there (1 / number visible)."""
    trained = set(record.train_distances)
    window = record.config["model"].get("window")  # a sliding window limits the keys a query sees
    rows = []
    for distance in distances:
        batch = test_set(task, record, distance)
        inputs, targets, tags = (t[:sequences] for t in (batch.inputs, batch.targets, batch.distance))
        chunk = max(1, MAX_WEIGHT_ELEMENTS // (16 * inputs.shape[1] ** 2))  # assumes <= 16 heads
        mass, count, correct, uniform = 0.0, 0, 0, 0.0
        for start in range(0, len(inputs), chunk):
            x, y, tag = inputs[start:start + chunk], targets[start:start + chunk], tags[start:start + chunk]
            logits, maps = model(x, return_attention=True)  # maps: per layer (b, H, L, L)
            rows_at, queries = torch.nonzero(tag >= 0, as_tuple=True)  # every scored position
            sources = queries - tag[rows_at, queries]  # where its answer lies
            mass = mass + torch.stack([weights[rows_at, :, queries, sources].double().sum(dim=0)
                                       for weights in maps])  # (layers, H)
            visible = queries + 1 if window is None else torch.clamp(queries + 1, max=window)
            uniform += float((1.0 / visible.double()).sum())
            correct += int((logits.argmax(-1)[rows_at, queries] == y[rows_at, queries]).sum())
            count += len(queries)
        if count == 0:  # nothing scored at this distance: nothing to measure
            continue
        for layer in range(mass.shape[0]):
            for head in range(mass.shape[1]):
                rows.append({"model": record.model, "task": record.task, "seed": record.seed,
                             "distance": distance, "trained": distance in trained, "layer": layer + 1,
                             "head": head + 1, "mass_on_answer": float(mass[layer, head]) / count,
                             "uniform_baseline": uniform / count, "n_positions": count, "accuracy": correct / count})
    return pd.DataFrame(rows, columns=MASS_COLUMNS)


def mass_plot(mass: pd.DataFrame, budget: str):
    """Mean attention mass on the answer position against distance, one panel per layer: per model, the head that
    puts most mass there (solid) and the mean over heads (dotted); thin grey lines per head when there is one run."""
    one_run = mass.run_dir.nunique() == 1
    per_run = mass.groupby(["model", "layer", "run_dir", "distance"]).mass_on_answer.agg(
        **{"best head": "max", "mean of heads": "mean"}).reset_index()
    curves = per_run.groupby(["model", "layer", "distance"])[["best head", "mean of heads"]].mean().reset_index()
    long = curves.melt(id_vars=["model", "layer", "distance"], var_name="statistic", value_name="mass")  # over runs
    grid = sns.relplot(data=long, kind="line", x="distance", y="mass", hue="model", palette=model_palette(mass.model),
                       style="statistic", markers={"best head": "o", "mean of heads": "."},
                       dashes={"best head": "", "mean of heads": (1, 2)}, col="layer", height=3.4, aspect=1.1)
    for layer, ax in grid.axes_dict.items():
        subset = mass[mass.layer == layer]
        for _, line in subset.groupby("head") if one_run else []:
            ax.plot(line.distance, line.mass_on_answer, color="grey", linewidth=0.7, alpha=0.6)
        baseline = subset.groupby("distance").uniform_baseline.mean()
        ax.plot(baseline.index, baseline.values, color="grey", linestyle="--")
        untrained = subset[~subset.trained.astype(bool)].distance.unique()
        ax.scatter(untrained, [-0.01] * len(untrained), marker="^", color="black", s=14)
        log2_axis(ax)
        ax.set_ylim(-0.03, 1.03)
    grid.set_titles("layer {col_name}" + (" (grey: each head)" if one_run else ""), size=9)
    grid.set_axis_labels("dependency distance (steps back)", "mean attention weight on the answer")
    accuracy = mass.drop_duplicates(["run_dir", "distance"]).groupby("distance").accuracy.mean()
    tasks = ", ".join(sorted(set(mass.task)))
    grid.figure.suptitle("Attention mass a scored query puts on its answer position (test sets; "
                         f"{mass.run_dir.nunique()} run{'s' * (not one_run)}; tasks: {tasks}); dashed grey: uniform "
                         "attention; ▲: not trained on\naccuracy at those positions: "
                         f"{', '.join(f'd={d}: {a:.2f}' for d, a in accuracy.items())}\nbudget: {budget}",
                         fontsize=8, y=1.12)
    return grid


# ---------------------------------------------------------------------------------------------- maps


def token_names(task) -> dict[int, str]:
    """Letters for symbols (a vocabulary that is a multiple of the alphabet, as n-back's lag-tagged tokens, repeats
    them), and the task's named special tokens (e.g. marker -> M) where it has them."""
    symbols = getattr(task, "num_symbols", 0)
    repeats = task.vocab_size // symbols if symbols and task.vocab_size % symbols == 0 else 1
    names = {i: chr(ord("a") + i % symbols) for i in range(symbols * repeats) if symbols <= 26}
    for attribute, value in vars(task).items():
        if isinstance(value, int) and not isinstance(value, bool) and attribute in ("marker", "query", "separator",
                                                                                   "blank", "delimiter"):
            names[value] = attribute[0].upper()
    return names


def crop_range(pairs: list[tuple[int, int]], seq_len: int, minimum: int = 24) -> tuple[int, int]:
    """Positions [low, high) around the last scored query and its answer, padded, at least ``minimum`` wide."""
    query, source = pairs[-1]
    pad = max(3, (query - source) // 4)
    low, high = max(0, source - pad), min(seq_len, query + pad + 1)
    while high - low < minimum and (low > 0 or high < seq_len):
        low, high = max(0, low - 1), min(seq_len, high + 1)
    return low, high


@torch.inference_mode()
def attention_maps(model, task, record: Record, distance: int, example: int, stem: Path) -> list[Path]:
    """Every layer's and head's weights for one test example, cropped around its last scored query, with a box
    on each scored query's answer position."""
    batch = test_set(task, record, distance)
    if not 0 <= example < len(batch.inputs):
        raise RefusedRun(f"--example={example}: the test set has {len(batch.inputs)} sequences; allowed are "
                         f"0..{len(batch.inputs) - 1}")
    tokens, targets, tags = batch.inputs[example:example + 1], batch.targets[example], batch.distance[example]
    logits, maps = model(tokens, return_attention=True)
    pairs = answer_positions(tags)
    if not pairs:
        raise RefusedRun(f"--example={example}: this test sequence has no scored position; choose another")
    low, high = crop_range(pairs, tokens.shape[1])
    names = token_names(task)
    labels = [names.get(int(t), f"#{int(t)}") for t in tokens[0, low:high]]
    layers, heads = len(maps), maps[0].shape[1]
    panel = min(5.0, max(2.6, 0.055 * (high - low)))  # inches: at least ~8 pixels per position, so boxes leave
    panels = pd.DataFrame([{"layer": layer, "head": head} for layer in range(1, layers + 1)  # the weight inside
                           for head in range(1, heads + 1)])  # them visible
    grid = sns.FacetGrid(panels, row="layer", col="head", height=panel, sharex=False, sharey=False)
    for (layer, head), ax in grid.axes_dict.items():
        ax.imshow(maps[layer - 1][0, head - 1, low:high, low:high].numpy(), cmap="magma", vmin=0, vmax=1,
                  interpolation="nearest")
        for query, source in pairs:
            if low <= query < high and low <= source < high:
                ax.add_patch(Rectangle((source - low - 0.5, query - low - 0.5), 1, 1, fill=False, edgecolor="cyan",
                                       linewidth=0.5))
        label_axes(ax, labels, low, high, first_column=head == 1, last_row=layer == layers)
    grid.set_titles("layer {row_name} · head {col_name}", size=8)
    grid.figure.colorbar(ScalarMappable(Normalize(0, 1), "magma"), ax=grid.axes.ravel().tolist(),
                         label="attention weight", shrink=0.8)
    correct = int((logits[0].argmax(-1) == targets)[tags >= 0].sum())
    last_query, last_source = pairs[-1]
    grid.figure.suptitle(f"{record.model} on {record.task}, distance {distance}, test example {example}: "
                         f"rows = queries, columns = keys (positions {low}..{high - 1}); cyan boxes: the answer's "
                         f"position (t − {distance})\nlast scored query t={last_query} ← answer at {last_source}; "
                         f"{correct}/{len(pairs)} scored positions correct\n"
                         f"budget: {budget_text(pd.DataFrame([record_budget(record)]))}; {record.steps} steps run",
                         fontsize=8, y=1.05)
    return save(grid, stem)


def label_axes(ax, labels: list[str], low: int, high: int, first_column: bool, last_row: bool) -> None:
    """Token names on the ticks when they fit, else positions."""
    if len(labels) <= 40:
        ticks = list(range(len(labels)))
        ax.set_xticks(ticks, labels if last_row else [], fontsize=5)
        ax.set_yticks(ticks, labels if first_column else [], fontsize=5)
    else:
        ticks = list(range(0, high - low, max(1, (high - low) // 6)))
        ax.set_xticks(ticks, [str(low + t) for t in ticks] if last_row else [], fontsize=6)
        ax.set_yticks(ticks, [str(low + t) for t in ticks] if first_column else [], fontsize=6)
    if last_row:
        ax.set_xlabel("key position", fontsize=7)
    if first_column:
        ax.set_ylabel("query position", fontsize=7)


def record_budget(record: Record) -> dict:
    return {"steps": record.steps, "batch_size": record.batch_size, "target_accuracy": record.target_accuracy}


# ---------------------------------------------------------------------------------------------- CLI


def run(run_dir: Path, distance: int | None = None, example: int = 0, sequences: int = 128):
    """Maps and attention mass of one run, written into its directory. Returns (outputs, mass table, budget)."""
    record, task, model = load_run(run_dir)
    measured = record.eval_distances
    distance = max(task.distances) if distance is None else distance
    if distance not in measured:
        raise RefusedRun(f"--distance={distance}: {run_dir} was evaluated at {', '.join(map(str, measured))}; "
                         "choose one of those")
    outputs = {"maps": attention_maps(model, task, record, distance, example, run_dir / "attention_maps")[0]}
    mass = attention_mass(model, task, record, measured, sequences).assign(run_dir=str(run_dir))
    budget = budget_text(pd.DataFrame([record_budget(record)]))
    outputs["mass_csv"] = run_dir / "attention_mass.csv"
    mass.to_csv(outputs["mass_csv"], index=False)
    steps_run = f"{budget}; {record.steps} steps run"
    outputs["mass_figure"] = save(mass_plot(mass, steps_run), run_dir / "attention_mass")[0]
    return outputs, mass, budget


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.attention",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                        help="finished attention runs (each holds result.json and model.pt); several runs of a "
                             "per-distance sweep give the attention mass across their distances")
    parser.add_argument("--distance", type=int, default=None,
                        help="distance of the example to draw; default: each run's largest trained distance")
    parser.add_argument("--example", type=int, default=0, help="which test sequence to draw; default 0")
    parser.add_argument("--sequences", type=int, default=128,
                        help="test sequences per distance for the attention mass; default %(default)s")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the combined attention_mass.csv/png of several runs go; default: their common "
                             "parent directory")
    parser.add_argument("--threads", type=int, default=1, help="torch threads; default %(default)s")
    args = parser.parse_args(argv)
    if args.sequences < 1 or args.threads < 1:
        print("error: --sequences and --threads must be positive integers", file=sys.stderr)
        return 2
    missing = [str(d) for d in args.run_dirs if not (d / "result.json").is_file()]
    if missing:
        print(f"error: no result.json in {', '.join(missing)}; give run directories such as "
              "outputs/quick/attention_nback_<hash>", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    try:
        for run_dir in args.run_dirs:  # refuse before drawing anything
            load_run(run_dir)
        results = [run(run_dir, args.distance, args.example, args.sequences) for run_dir in args.run_dirs]
    except RefusedRun as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    mass = pd.concat([m for _, m, _ in results], ignore_index=True)
    best = mass.groupby(["model", "task", "layer", "distance"]).mass_on_answer.max().unstack("distance")
    print("largest mean attention mass on the answer position over heads (columns: distance):")
    print(best.round(3).to_string())
    for outputs, _, _ in results:
        for label, path in outputs.items():
            print(f"{label}: {path}")
    if len(results) > 1:
        out = args.out or Path(os.path.commonpath([str(d.resolve()) for d in args.run_dirs]))
        out.mkdir(parents=True, exist_ok=True)
        mass.to_csv(out / "attention_mass.csv", index=False)
        budgets = "; ".join(sorted({b for _, _, b in results}))
        print(f"mass_csv: {out / 'attention_mass.csv'}")
        print(f"mass_figure: {save(mass_plot(mass, budgets), out / 'attention_mass')[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
