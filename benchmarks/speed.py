"""Side-by-side speed benchmark: every comparison is measured in one process, interleaved, so noise cancels.

    python -m benchmarks.speed                      # everything; writes benchmarks/RESULTS.md (about 15 min)
    python -m benchmarks.speed --smallest --out /tmp/r.md   # seconds; what the test suite runs

Sections:
1. harness vs bare loop: harness.train.TrainingStep (exactly what a run executes per step: fresh batch from the task,
   learning-rate schedule, AdamW, clipping, on-device loss and divergence bookkeeping) against a minimal
   hand-written loop (fresh random batch, forward, cross-entropy, backward, clip, AdamW) on the same model,
   batch and length; tokens/s and their ratio, per model.
2. attention paths: one training step through the fused kernel (scaled_dot_product_attention) against the
   explicit six-step path, at several lengths.
3. sweep throughput: the same 8-run sweep sequentially (threads = cores) and through the joblib launcher
   (n_jobs = cores, one thread each).
4. headline cost: the wall time of experiment=quick, and an estimate of experiment=context_window built from
   measured per-step times of its model/task/length combinations.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.compose import built, composed
from benchmarks.results_file import update_section
from harness import runtime, train
from tasks.base import IGNORE

REPO = Path(__file__).resolve().parents[1]
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def build(overrides: list[str], device: torch.device):
    made = built(overrides)
    return made.task, made.model.to(device), made.train, made.plan


def timed(fn, steps: int, device: torch.device) -> float:
    """Seconds per call of fn over `steps` calls (synchronised on CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for step in range(1, steps + 1):
        fn(step)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def bare_loop(model, task, settings, device):
    """The minimal training step a researcher would write by hand (the same fused AdamW as the harness)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                                  fused=True)
    generator = torch.Generator(device=device).manual_seed(0)

    def step(_):
        inputs = torch.randint(task.vocab_size, (settings.batch_size, task.seq_len), generator=generator,
                               device=device)
        targets = torch.randint(task.num_classes, (settings.batch_size, task.seq_len), generator=generator,
                                device=device)
        loss = F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()

    return step


def interleaved(contenders: dict, steps: int, repeats: int, warmup: int, device) -> dict[str, float]:
    """Median seconds per step of each contender, measured in alternating rounds."""
    for fn in contenders.values():
        timed(fn, warmup, device)
    samples = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            samples[name].append(timed(fn, steps, device))
    return {name: statistics.median(values) for name, values in samples.items()}


def harness_vs_bare(models, length, batch, steps, repeats, device) -> list[dict]:
    rows = []
    for model_name in models:
        overrides = [f"model={model_name}", f"task.seq_len={length}", "task.distances=4",
                     f"train.batch_size={batch}", "train.rungs=[1000000]"]
        task, model, settings, plan = build(overrides, device)
        harness_step = train.TrainingStep(task, model, settings, plan, seed=0, device=device)
        _, bare_model, _, _ = build(overrides, device)
        seconds = interleaved({"harness": harness_step, "bare": bare_loop(bare_model, task, settings, device)},
                              steps, repeats, warmup=3, device=device)
        harness_step.drain()
        tokens = batch * length
        rows.append({"model": model_name, "harness_tok_s": tokens / seconds["harness"],
                     "bare_tok_s": tokens / seconds["bare"], "ratio": seconds["bare"] / seconds["harness"]})
        print(f"  {model_name:15s} harness {rows[-1]['harness_tok_s']:9.0f} tok/s  bare "
              f"{rows[-1]['bare_tok_s']:9.0f} tok/s  ratio {rows[-1]['ratio']:.3f}", flush=True)
    return rows


def attention_paths(lengths, batch, steps, repeats, device) -> list[dict]:
    rows = []
    for length in lengths:
        contenders = {}
        for path in ("fused", "explicit"):
            overrides = [f"model.path={path}", f"task.seq_len={length}", "task.distances=4",
                         f"train.batch_size={batch}", "train.rungs=[1000000]"]
            task, model, settings, plan = build(overrides, device)
            contenders[path] = train.TrainingStep(task, model, settings, plan, seed=0, device=device)
        seconds = interleaved(contenders, steps, repeats, warmup=2, device=device)
        rows.append({"length": length, "fused_ms": 1e3 * seconds["fused"], "explicit_ms": 1e3 * seconds["explicit"],
                     "speedup": seconds["explicit"] / seconds["fused"]})
        print(f"  L={length:5d} fused {rows[-1]['fused_ms']:8.1f} ms  explicit {rows[-1]['explicit_ms']:8.1f} ms  "
              f"fused is {rows[-1]['speedup']:.2f}x faster", flush=True)
    return rows


def run_sweep(overrides: list[str], out_root: Path, timeout: float | None = None) -> tuple[float | None, str]:
    """Wall seconds of one sweep in a fresh process (None if it ran past `timeout` and was stopped).

    The sweep runs in its own process group, so a stopped sweep takes its joblib workers with it (killing only
    the parent would leave them running, and every later measurement would be slowed by them)."""
    started = time.perf_counter()
    sweep = subprocess.Popen([sys.executable, "run.py", "-m", f"out_root={out_root}", *overrides], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = sweep.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.communicate()
        return None, ""
    if sweep.returncode != 0:
        raise RuntimeError(f"sweep failed ({' '.join(overrides)}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
    return time.perf_counter() - started, stdout


SWEEP_MODES = {  # name: overrides; the first is the baseline of the speedups
    "sequential, threads = cores": lambda: [f"threads={CORES}"],
    "sequential, 1 thread": lambda: ["threads=1"],
    "joblib, n_jobs = cores, 1 thread each": lambda: ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={CORES}"],
}
OVERSUBSCRIBED = "joblib, n_jobs = cores, threads = cores each (oversubscribed)"


def sweep_throughput(runs_overrides: list[str], repeats: int) -> dict:
    """The same sweep under each mode, median wall time; plus, once and with a time limit, the oversubscribed
    setting that `threads=auto` prevents, to show what it prevents."""
    samples = {mode: [] for mode in SWEEP_MODES}
    with tempfile.TemporaryDirectory() as scratch:
        for attempt in range(repeats):
            for index, (mode, extra) in enumerate(SWEEP_MODES.items()):
                seconds, _ = run_sweep([*runs_overrides, *extra(), f"name=mode{index}_{attempt}"], Path(scratch))
                samples[mode].append(seconds)
        medians = {mode: statistics.median(values) for mode, values in samples.items()}
        limit = 4 * medians["joblib, n_jobs = cores, 1 thread each"]
        over, _ = run_sweep([*runs_overrides, "hydra/launcher=joblib", f"hydra.launcher.n_jobs={CORES}",
                             f"threads={CORES}", "name=over"], Path(scratch) / "over", timeout=limit)
    baseline = medians["sequential, threads = cores"]
    rows = [{"mode": mode, "seconds": seconds, "speedup": baseline / seconds} for mode, seconds in medians.items()]
    rows.append({"mode": OVERSUBSCRIBED, "seconds": over, "speedup": baseline / over if over else None,
                 "limit": limit})
    for row in rows:
        shown = f"{row['seconds']:.1f} s" if row["seconds"] else f"> {row['limit']:.0f} s (stopped)"
        print(f"  {row['mode']:62s} {shown}", flush=True)
    return {"rows": rows, "n_jobs": CORES, "repeats": repeats}


def sweep_jobs(experiment: str) -> tuple[list[str], list[str], int]:
    """Models, tasks and the number of seeds that an experiment's sweeper params span."""
    cfg = composed([f"experiment={experiment}"], hydra=True)
    params = cfg.hydra.sweeper.params
    split = lambda key, default: str(params[key]).split(",") if key in params else [default]  # noqa: E731
    return split("model", cfg.model._target_), split("task", "default"), len(split("seed", "0"))


def headline_estimate(experiment: str, steps: int, device, extra: tuple[str, ...] = ()) -> dict:
    """An upper bound on an experiment's wall time from measured costs: for every (task, model) pair, the time
    of a training step and of the evaluations, as if every run climbed to the top rung (deciding early, and the
    sweeper's successive halving of learning rates, only shorten it): a watched-distance evaluation every
    eval_every steps and the fine curve at every rung; summed over seeds and divided among the cores, one
    single-threaded job per core (hydra/launcher=joblib)."""
    models, tasks, seeds = sweep_jobs(experiment)
    torch.set_num_threads(1)
    rows = []
    for task_name in tasks:
        for model_name in models:
            overrides = [f"experiment={experiment}", f"model={model_name}", "threads=1", *extra]
            if task_name != "default":
                overrides.append(f"task={task_name}")
            task, model, settings, plan = build(overrides, device)
            step = train.TrainingStep(task, model, settings, plan, seed=0, device=device)
            timed(step, 2, device)
            step_seconds = timed(step, steps, device)
            step.drain()
            val_sets = train.held_out_sets(task, plan.fine, settings.val_sequences, 0, "val", device)
            started = time.perf_counter()
            train.evaluate(model, {d: val_sets[d] for d in plan.evaluated}, settings.eval_batch_size, step.autocast)
            eval_seconds = time.perf_counter() - started
            started = time.perf_counter()
            train.evaluate(model, val_sets, settings.eval_batch_size, step.autocast)
            fine_seconds = time.perf_counter() - started
            top = settings.rungs[-1]
            run_seconds = (top * step_seconds + (top // settings.eval_every) * eval_seconds
                           + len(settings.rungs) * fine_seconds)
            rows.append({"task": task_name, "model": model_name, "step_ms": 1e3 * step_seconds,
                         "eval_s": eval_seconds, "run_s_max": run_seconds})
            print(f"  {task_name:14s} {model_name:15s} step {1e3 * step_seconds:7.1f} ms  eval {eval_seconds:5.2f} s"
                  f"  run <= {run_seconds:6.0f} s", flush=True)
    torch.set_num_threads(CORES)
    serial = seeds * sum(row["run_s_max"] for row in rows)
    return {"experiment": experiment, "rows": rows, "runs": len(rows) * seeds, "seeds": seeds,
            "serial_s_max": serial, "parallel_s_max": serial / CORES}


def machine() -> dict:
    return {"date": datetime.date.today().isoformat(), "cores": CORES, "torch": torch.__version__,
            "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"## {m['device']} ({m['cores']} cores), torch {m['torch']}, python {m['python']}, {m['date']}", ""]
    setting = results["settings"]
    lines += ["### Harness vs bare loop", "",
              f"One training step, batch {setting['batch']} x length {setting['length']}, median of "
              f"{setting['repeats']} interleaved rounds of {setting['steps']} steps, {setting['threads']} threads.",
              "", "| model | harness tok/s | bare tok/s | harness / bare |", "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['harness_tok_s']:.0f} | {r['bare_tok_s']:.0f} | {r['ratio']:.3f} |"
              for r in results["harness"]]
    lines += ["", "### Attention paths (one training step, fused vs explicit)", "",
              "| length | fused ms | explicit ms | fused speedup |", "|---|---|---|---|"]
    lines += [f"| {r['length']} | {r['fused_ms']:.1f} | {r['explicit_ms']:.1f} | {r['speedup']:.2f}x |"
              for r in results["paths"]]
    if results.get("sweep"):
        sweep = results["sweep"]
        lines += ["", "### Sweep throughput (the same 8-run sweep, a fresh process each)", "",
                  f"Median of {sweep['repeats']}; speedup relative to the first row.", "",
                  "| mode | wall | speedup |", "|---|---|---|"]
        baseline = sweep["rows"][0]["seconds"]
        for row in sweep["rows"]:
            wall = f"{row['seconds']:.1f} s" if row["seconds"] else f"> {row['limit']:.0f} s (stopped)"
            speedup = f"{row['speedup']:.2f}x" if row["speedup"] else f"< {baseline / row['limit']:.2f}x"
            lines.append(f"| {row['mode']} | {wall} | {speedup} |")
    lines += ["", "### Headline cost", ""]
    if results.get("quick_s") is not None:
        lines += [f"- `python run.py -m experiment=quick` (fresh output directory): {results['quick_s']:.0f} s."]
    else:
        lines += ["- `experiment=quick`: not run (--smallest or --skip-sweeps)."]
    if results.get("estimate"):
        estimate = results["estimate"]
        lines += [f"- `experiment={estimate['experiment']}`: {estimate['runs']} runs; upper bound from measured "
                  f"step and eval times (every run using its whole step budget): "
                  f"{estimate['serial_s_max'] / 60:.0f} min serial, {estimate['parallel_s_max'] / 60:.0f} min with "
                  f"{m['cores']} single-threaded joblib jobs.", "",
                  "| task | model | step ms | one eval s | run <= s |", "|---|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['model']} | {r['step_ms']:.1f} | {r['eval_s']:.2f} | {r['run_s_max']:.0f} |"
                  for r in estimate["rows"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smallest", action="store_true", help="tiny sizes: seconds, numbers meaningless")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md", help="Markdown output")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers as JSON")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--skip-sweeps", action="store_true", help="skip the sweep throughput and quick sections")
    parser.add_argument("--experiment", default="context_window", help="experiment to estimate (headline)")
    args = parser.parse_args(argv)

    device = runtime.resolve_device(args.device)
    torch.set_num_threads(CORES)
    small = args.smallest
    setting = {"batch": 4 if small else 32, "length": 16 if small else 128, "steps": 2 if small else 20,
               "repeats": 1 if small else 5, "threads": CORES}
    models = sorted(p.stem for p in (REPO / "conf" / "model").glob("*.yaml"))
    results = {"machine": machine(), "settings": setting}
    print("harness vs bare loop", flush=True)
    results["harness"] = harness_vs_bare(models, setting["length"], setting["batch"], setting["steps"],
                                         setting["repeats"], device)
    print("attention paths", flush=True)
    results["paths"] = attention_paths([16, 32] if small else [128, 256, 512, 1024], setting["batch"],
                                       1 if small else 5, setting["repeats"], device)
    if not args.skip_sweeps:
        print("sweep throughput", flush=True)
        tiny = ["train=quick", "train.rungs=[2]", "train.eval_every=2", "train.eval_sequences=4", "task.seq_len=8"]
        eight = ["model=attention,gru,lstm,rnn", "task.distances=4,16", "train=quick", "train.target_accuracy=1.0"]
        results["sweep"] = sweep_throughput(["model=attention,gru", "task.distances=2", *tiny] if small else eight,
                                            1 if small else 2)
    if not args.skip_sweeps and not small:  # the full demo sweep takes minutes; --smallest leaves it out
        print("headline cost: experiment=quick", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            results["quick_s"], _ = run_sweep(["experiment=quick"], Path(scratch))
    print("headline estimate", flush=True)
    results["estimate"] = (headline_estimate("quick", 1, device, ("train.val_sequences=2",)) if small  # runs, no more
                           else headline_estimate(args.experiment, 5, device))
    update_section(args.out, f"speed-{results['machine']['device'].replace(' ', '_')}", markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
