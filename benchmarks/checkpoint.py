"""What a checkpoint costs: the time of one save against the training time between two saves.

    python -m benchmarks.checkpoint                 # headline shape; writes its section of benchmarks/RESULTS.md
    python -m benchmarks.checkpoint --smallest --out /tmp/r.md   # seconds; what the test suite runs

For each model at the headline shape (batch 32, 136 tokens, n-back, one thread per job as under joblib), in one
process: the median time of a training step (harness.train.TrainingStep) and of one checkpoint write
(harness.runtime.save_checkpoint of exactly what the loop saves: weights, AdamW state, data stream, RNG,
history; temporary file, fsync, rename), interleaved so that noise touches both. The overhead of an interval
k is save / (k x step). The default ``train.checkpoint_every`` must keep it at or below 2% for every model.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.results_file import update_section
from benchmarks.speed import REPO, build, machine, timed
from harness import runtime, train
from harness.record import HistoryPoint

INTERVALS = [50, 100, 200, 500]
TARGET = 0.02


def save_seconds(model, step, directory: Path, history_points: int) -> float:
    """One checkpoint write of what the loop saves, with a history of a long run's length."""
    history = [dataclasses.asdict(HistoryPoint(s, d, 0.5, 256, 0.5, 256)) for s in range(history_points)
               for d in (8, 16, 32, 64, 128)]
    started = time.perf_counter()
    runtime.save_checkpoint(directory, {"config_hash": "x", "source_hash": "y", "step": 1,
                                        "model": model.state_dict(), "training_step": step.state_dict(),
                                        "rng": torch.get_rng_state(), "history": history, "train_seconds": 1.0,
                                        "resumed_from": []})
    return time.perf_counter() - started


def measure(models: list[str], length: int, batch: int, steps: int, rounds: int) -> list[dict]:
    rows = []
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as scratch:
        for name in models:
            task, model, settings, plan = build([f"model={name}", f"task.seq_len={length}", "task.distances=8",
                                                 f"train.batch_size={batch}", "threads=1"], device)
            step = train.TrainingStep(task, model, settings, plan, seed=0, device=device)
            timed(step, 2, device)
            step_times, save_times = [], []
            for _ in range(rounds):  # interleaved: a block of steps, then a save
                step_times.append(timed(step, steps, device))
                save_times.append(save_seconds(model, step, Path(scratch), history_points=30))
            step_s, save_s = statistics.median(step_times), statistics.median(save_times)
            size = (Path(scratch) / runtime.CHECKPOINT_FILE).stat().st_size
            rows.append({"model": name, "params": sum(p.numel() for p in model.parameters()), "step_ms": 1e3 * step_s,
                         "save_ms": 1e3 * save_s, "size_kib": size / 1024,
                         **{f"every_{k}": save_s / (k * step_s) for k in INTERVALS}})
            print(f"{name:16s} step {1e3 * step_s:7.1f} ms  save {1e3 * save_s:6.1f} ms  "
                  + "  ".join(f"k={k}: {100 * rows[-1][f'every_{k}']:.2f}%" for k in INTERVALS), flush=True)
    return rows


def markdown(rows: list[dict], setting: dict, default: int) -> str:
    m = machine()
    worst = max(row[f"every_{default}"] for row in rows) if f"every_{default}" in rows[0] else float("nan")
    lines = [f"## Checkpoint overhead: {m['device']} ({m['cores']} cores), torch {m['torch']}, {m['date']}", "",
             f"One training step at batch {setting['batch']} x length {setting['length']} (1 thread) against one "
             f"checkpoint write (fsync included), medians of {setting['rounds']} interleaved rounds. Overhead at "
             "interval k = save / (k x step).", "",
             "| model | params | step (ms) | save (ms) | size (KiB) | " + " | ".join(f"every {k}" for k in INTERVALS)
             + " |", "|---|---|---|---|---|" + "---|" * len(INTERVALS)]
    for row in rows:
        lines.append(f"| {row['model']} | {row['params']:,} | {row['step_ms']:.1f} | {row['save_ms']:.1f} | "
                     f"{row['size_kib']:.0f} | " + " | ".join(f"{100 * row[f'every_{k}']:.2f}%" for k in INTERVALS)
                     + " |")
    verdict = "met" if worst <= TARGET else "MISSED"
    lines += ["", f"Default `train.checkpoint_every={default}`: worst overhead {100 * worst:.2f}% "
                  f"(target <= {100 * TARGET:.0f}%): {verdict}."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smallest", action="store_true", help="tiny sizes: seconds, numbers meaningless")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md", help="Markdown output")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    setting = {"batch": 4, "length": 16, "steps": 2, "rounds": 1} if args.smallest else \
        {"batch": 32, "length": 136, "steps": 20, "rounds": 5}
    models = sorted(p.stem for p in (REPO / "conf" / "model").glob("*.yaml"))
    rows = measure(models, setting["length"], setting["batch"], setting["steps"], setting["rounds"])
    from omegaconf import OmegaConf

    default = int(OmegaConf.load(REPO / "conf" / "train" / "default.yaml").checkpoint_every)
    update_section(args.out, "checkpoint", markdown(rows, setting, default))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
