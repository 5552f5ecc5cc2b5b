"""Every model side by side: training-step time, its ratio to the LSTM's, FLOPs counted by torch, and the fraction of
this machine's matmul peak that the step achieves.

    python -m benchmarks.models                          # writes its section of benchmarks/RESULTS.md (minutes)
    python -m benchmarks.models --smallest --out /tmp/r.md   # seconds; what the test suite runs

In ONE process, interleaved (round after round, every model in turn) so that noise from other processes on the
machine lands on all models alike: for every YAML in conf/model, the median time of one training step
(harness.train.TrainingStep: fresh n-back batch, forward, backward, clipping, fused AdamW) at batch 32 x 136 tokens.

FLOP convention: the forward pass's matmul and convolution FLOPs (2 per multiply-add), counted by
torch.utils.flop_counter.FlopCounterMode on one forward pass of the model itself, times 3 for forward +
backward; a new model needs no entry here. The fused oneDNN LSTM and CPU's fused attention are invisible to
the counter, so the counting pass runs their plain paths (``visible_kernels``): attention is counted as its
explicit path computes it, over the whole L x L score matrix. Elementwise work (gates, norms, scans, softmax) is
not counted: it is what keeps a model below the matmul peak. The peak is a large fp32 torch.matmul timed in the
same run at the same thread count.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.compose import built
from benchmarks.results_file import update_section
from harness.train import TrainingStep

REPO = Path(__file__).resolve().parents[1]
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
BASELINE = "lstm"
PEAK_FRACTION_GOAL = 0.5


def build_step(name: str, batch: int, length: int) -> TrainingStep:
    made = built([f"model={name}", f"task.seq_len={length}", f"train.batch_size={batch}", "threads=1"])
    return TrainingStep(made.task, made.model, made.train, made.plan, seed=0, device=torch.device("cpu"))


# ---------------------------------------------------------------------------------------------- FLOPs


@contextmanager
def visible_kernels():
    """Run the forward on paths torch's FlopCounterMode can see. It has no formula for the fused oneDNN LSTM nor
    for CPU's fused attention kernel (both count 0); with oneDNN off and the math attention backend, the same
    products run as plain matmuls, which it counts."""
    mkldnn_enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mkldnn.enabled = mkldnn_enabled


def forward_flops(model: nn.Module, batch: int, length: int) -> int:
    """Matmul and convolution FLOPs of one forward pass on (batch, length) tokens, as FlopCounterMode counts them."""
    tokens = torch.zeros(batch, length, dtype=torch.long)
    with torch.no_grad(), visible_kernels(), FlopCounterMode(display=False) as counter:
        model(tokens)
    return counter.get_total_flops()


def training_flops(model: nn.Module, batch: int, length: int) -> int:
    """FLOPs of one training step: 3 x the forward's (the backward is about twice the forward)."""
    return 3 * forward_flops(model, batch, length)


# ---------------------------------------------------------------------------------------------- timing


def matmul_peak(size: int, repeats: int) -> float:
    """FLOP/s of a large fp32 torch.matmul at the current thread count (best of `repeats`)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best


def interleaved_step_times(steps: dict, per_round: int, rounds: int) -> dict[str, float]:
    """Median seconds per training step, each model timed in turn within every round."""
    times = {name: [] for name in steps}
    counter = 0
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for _ in range(per_round):
                counter += 1
                step(counter)
            times[name].append((time.perf_counter() - started) / per_round)
    for step in steps.values():
        step.drain()
    return {name: statistics.median(values) for name, values in times.items()}


def where_time_goes(step, calls: int, top: int = 3) -> str:
    """The operators with the most self CPU time over `calls` training steps, as shares of the total."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for index in range(calls):
            step(index + 1)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    return ", ".join(f"{e.key} {100 * e.self_cpu_time_total / total:.0f}%" for e in events[:top])


def measure(names, setting, threads: int) -> dict:
    torch.set_num_threads(threads)
    steps = {name: build_step(name, setting["batch"], setting["length"]) for name in names}
    for step in steps.values():  # warm-up: allocator, caches, lazy initialisation
        step(1)
    peak = matmul_peak(setting["matmul"], 3)
    seconds = interleaved_step_times(steps, setting["steps"], setting["rounds"])
    rows = []
    for name, step in steps.items():
        flops = training_flops(step.model, setting["batch"], setting["length"])
        achieved = flops / seconds[name]
        rows.append({"model": name, "params": sum(p.numel() for p in step.model.parameters()),
                     "state": step.model.state_size(setting["length"]), "step_ms": 1e3 * seconds[name],
                     "ratio": seconds[name] / seconds[BASELINE], "gflop": flops / 1e9,
                     "gflop_s": achieved / 1e9, "peak_fraction": achieved / peak})
    if setting["profile"]:
        for row in rows:
            if row["peak_fraction"] < PEAK_FRACTION_GOAL:
                row["profile"] = where_time_goes(steps[row["model"]], setting["profile"])
    print(f"threads={threads}: matmul peak {peak / 1e9:.1f} GFLOP/s", flush=True)
    for row in rows:
        print(f"  {row['model']:17s} {row['step_ms']:7.1f} ms  x{row['ratio']:.2f} of {BASELINE}  "
              f"{row['gflop_s']:6.1f} GFLOP/s = {100 * row['peak_fraction']:4.1f}% of peak", flush=True)
    return {"threads": threads, "peak_gflop_s": peak / 1e9, "rows": rows}


# ---------------------------------------------------------------------------------------------- report


def markdown(results: dict) -> str:
    s = results["setting"]
    lines = [f"## Models side by side: cpu ({CORES} cores), torch {torch.__version__}, python "
             f"{platform.python_version()}, {results['date']}", "",
             f"`python -m benchmarks.models`: one training step (harness.train.TrainingStep, n-back) at batch "
             f"{s['batch']} x "
             f"{s['length']} tokens, default model sizes, median of {s['rounds']} interleaved rounds of "
             f"{s['steps']} steps. FLOPs: 3 x the forward's matmul and convolution FLOPs, counted by torch's "
             "FlopCounterMode (elementwise work not counted); peak: a fp32 torch.matmul of "
             f"{s['matmul']} x {s['matmul']} at the same thread count. {results['note']}", ""]
    for block in results["blocks"]:
        lines += [f"### {block['threads']} thread{'s' if block['threads'] > 1 else ''} "
                  f"(matmul peak {block['peak_gflop_s']:.1f} GFLOP/s)", "",
                  f"| model | params | state (numbers, L={s['length']}) | step ms | / {BASELINE} | GFLOP/step "
                  "| GFLOP/s | of peak |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['params']} | {r['state']} | {r['step_ms']:.1f} | {r['ratio']:.2f}x | "
                  f"{r['gflop']:.2f} | {r['gflop_s']:.1f} | {100 * r['peak_fraction']:.0f}% |"
                  for r in block["rows"]]
        profiled = [r for r in block["rows"] if "profile" in r]
        if profiled:
            lines += ["", f"Where the time goes (torch.profiler, self CPU time, models below "
                      f"{100 * PEAK_FRACTION_GOAL:.0f}% of peak):", ""]
            lines += [f"- {r['model']}: {r['profile']}" for r in profiled]
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smallest", action="store_true", help="tiny sizes: seconds, numbers meaningless")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md", help="Markdown output")
    parser.add_argument("--note", default="Measured while other processes shared the machine; rerun alone "
                        "for clean numbers.", help="a sentence stored with the numbers")
    args = parser.parse_args(argv)
    small = args.smallest
    setting = {"batch": 2 if small else 32, "length": 12 if small else 136, "steps": 1 if small else 3,
               "rounds": 1 if small else 5, "matmul": 128 if small else 2048, "profile": 1 if small else 3}
    names = sorted(p.stem for p in (REPO / "conf" / "model").glob("*.yaml"))
    thread_counts = [1] if small else sorted({1, CORES})
    results = {"date": datetime.date.today().isoformat(), "setting": setting, "note": args.note,
               "blocks": [measure(names, setting, threads) for threads in thread_counts]}
    update_section(args.out, "models", markdown(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
