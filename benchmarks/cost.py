"""The price of attention's unlimited window: time and peak memory against sequence length, of one training step
(--mode train) or of reading sequences at inference (--mode inference: the "given compute" of reaching further).

    python -m benchmarks.cost --out outputs/cost
    python -m benchmarks.cost --out outputs/cost --mode inference --lengths 128,256,512,1024,2048
    python -m benchmarks.cost --out outputs/quick --lengths 64,128,256 --models attention,gru --budget-seconds 60

Each model is built by harness.config.build from its conf/model/*.yaml (default sizes, matched to about 0.1 M
parameters) on n-back at distance 1 with seq_len = L, and one training step is exactly harness.train.TrainingStep,
the object runs train with: a fresh batch, forward, loss,
backward, gradient clipping and an AdamW step. Per (model, L): one warm-up step, which is also the memory
measurement, then the median time of --repeats steps. ``attention_explicit`` is the same attention model on
its explicit path (the six steps of the seed note, materialising the (L, L) weights) instead of the fused
kernel that training uses.

Memory, and what it means (the memory_kind column):
- cuda: torch.cuda.max_memory_allocated over the warm-up step: the allocator's true peak (parameters,
  gradients, AdamW state, activations and temporaries).
- cpu: there is no allocator peak to read, so it is the bytes of tensors saved for backward during the step
  (deduplicated by storage, via torch.autograd.graph.saved_tensors_hooks) plus parameters, gradients and AdamW
  state. Temporaries freed within the forward pass are not counted.

A (model, L) is skipped, with the reason recorded, when the time of its steps, extrapolated from the previous
length with the measured slope, would exceed what is left of that model's share of --budget-seconds, or its
memory would not fit. Slopes are fitted in log-log over the longest half of the lengths measured.

Inference: each (model, L) runs in a fresh process, which reads a batch of sequences under inference_mode:
the time per sequence is the median over --repeats forward passes divided by the batch; the memory is how far
one forward pass raises the process's peak resident memory above its resident memory just before, per
sequence (on CUDA: the allocator's peak). The peak is reset first (Linux /proc/self/clear_refs), since an
earlier transient, such as importing torch, would otherwise hide a forward pass smaller than itself.

Outputs in --out: cost.csv (training) or cost_inference.csv (one row per model and length, skipped ones
included) with cost_slopes.csv or cost_inference_slopes.csv. This module writes tables only; analysis.report
draws them when they lie in the report's directory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from benchmarks.compose import built as composed_build
from harness.config import REPO_ROOT, ConfigError
from harness.runtime import resolve_device
from harness.train import TrainingStep

MEMORY_MEANING = {  # memory_kind, in words (cost.csv carries it as memory_meaning, which the report prints)
    "cuda_max_allocated": "peak allocated by the CUDA allocator (torch.cuda.max_memory_allocated)",
    "cpu_saved_for_backward+params+grads+adamw": "tensors saved for backward + parameters, gradients and AdamW "
                                                 "state; CPU has no allocator peak",
    "cpu_peak_rss_increase": "rise of the process's peak resident memory (VmHWM, reset just before) over its "
                             "resident memory, during one forward pass in a fresh process"}
MODES = ("train", "inference")
FILES = {"train": "cost", "inference": "cost_inference"}  # the table's file stem for each mode
DEFAULT_LENGTHS = [64, 128, 256, 512, 1024, 2048, 4096]
DEFAULT_MODELS = ["attention", "attention_explicit", "gru", "lstm"]
COST_COLUMNS = ["model", "config", "path", "params", "seq_len", "batch_size", "status", "reason", "step_time_s",
                "step_time_min_s", "repeats", "tokens_per_s", "memory_bytes", "memory_kind", "memory_meaning",
                "state_bytes", "device", "device_name", "torch_threads", "torch_version", "mode"]
SLOPE_COLUMNS = ["model", "metric", "slope", "lengths", "n_points"]
CPU_TRANSIENT_FACTOR = 4  # on CPU, temporaries of the forward pass come on top of saved tensors; guard with margin


class CostError(ValueError):
    """A bad option; the message names it, its value and what is allowed."""


# ---------------------------------------------------------------------------------------------- building


def model_config(name: str):
    """conf/model/<name>.yaml; ``<name>_explicit`` is that model on its explicit attention path."""
    base, explicit = (name[: -len("_explicit")], True) if name.endswith("_explicit") else (name, False)
    path = REPO_ROOT / "conf" / "model" / f"{base}.yaml"
    if not path.is_file():
        allowed = sorted(p.stem for p in (REPO_ROOT / "conf" / "model").glob("*.yaml"))
        raise CostError(f"--models: {name!r}: no such model; allowed are {', '.join(allowed)} "
                        "(and <attention model>_explicit)")
    config = OmegaConf.load(path)
    if explicit:
        if "path" not in config:
            raise CostError(f"--models: {name!r}: {base} has no explicit path; only attention models do")
        config.path = "explicit"
    return base, config


def built(name: str, seq_len: int, batch_size: int):
    """Task, model, train settings and plan from conf/ through harness.config.build: n-back at distance 1, and a
    schedule long enough to stay at full lr."""
    base, config = model_config(name)
    overrides = [f"model={base}", "task=nback", "task.distances=1", f"task.seq_len={seq_len}",
                 f"train.batch_size={batch_size}", "train.rungs=[1000000000]", "train.warmup_steps=0", "seed=0"]
    overrides += ["model.path=explicit"] if config.get("path") == "explicit" else []
    return composed_build(overrides)


# ---------------------------------------------------------------------------------------------- measuring


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def saved_tensor_bytes(step, index: int, model) -> int:
    """Bytes of the distinct storages autograd saves for backward during one training step, parameters excluded
    (they are counted once, with the state)."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step(index)
    return sum(storages.values())


def state_bytes(model, optimizer) -> int:
    """Parameters, their gradients and the optimizer's state (AdamW: two moments per parameter)."""
    tensors = [p for p in model.parameters()] + [p.grad for p in model.parameters() if p.grad is not None]
    tensors += [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
    return sum(t.numel() * t.element_size() for t in tensors)


def measure_training(name: str, seq_len: int, batch_size: int, repeats: int, device: torch.device) -> dict:
    """Time and memory of one training step of model ``name`` at sequence length ``seq_len``."""
    base, config = model_config(name)
    setup = built(name, seq_len, batch_size)
    model = setup.model.to(device).train()
    step = TrainingStep(setup.task, model, setup.train, setup.plan, seed=0, device=device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        step(1)  # warm-up, and the memory measurement
        synchronize(device)
        memory, kind = torch.cuda.max_memory_allocated(device), "cuda_max_allocated"
    else:
        memory = saved_tensor_bytes(step, 1, model) + state_bytes(model, step.optimizer)
        kind = "cpu_saved_for_backward+params+grads+adamw"
    times = []
    for index in range(2, repeats + 2):
        started = time.perf_counter()
        step(index)
        synchronize(device)
        times.append(time.perf_counter() - started)
    step.drain()  # raises if the loss went non-finite
    return {"model": name, "config": base, "path": config.get("path", "recurrent"),
            "params": sum(p.numel() for p in model.parameters()), "seq_len": seq_len, "batch_size": batch_size,
            "status": "measured", "reason": None, "step_time_s": statistics.median(times),
            "step_time_min_s": min(times), "repeats": repeats,
            "tokens_per_s": batch_size * seq_len / statistics.median(times), "memory_bytes": memory,
            "memory_kind": kind, "memory_meaning": MEMORY_MEANING[kind],
            "state_bytes": state_bytes(model, step.optimizer)}


def measure_inference(name: str, seq_len: int, batch_size: int, repeats: int, device: torch.device) -> dict:
    """Time per sequence and peak memory of reading ``batch_size`` sequences of ``seq_len`` at inference, in a
    fresh process (peak resident memory is a high-water mark: one process per point keeps it honest)."""
    probe = [sys.executable, "-m", "benchmarks.cost", "--probe", json.dumps([name, seq_len, batch_size, repeats,
                                                                            str(device), torch.get_num_threads()])]
    done = subprocess.run(probe, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"inference probe failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:200]}")
    return json.loads(lines[-1])


def process_memory(key: str) -> int:
    """Bytes of ``key`` (VmRSS, VmHWM) in /proc/self/status."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) * 1024


def reset_peak_rss() -> int:
    """Lower the peak resident memory to the present one and return it; refuses where Linux cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as error:
        raise RuntimeError(f"inference memory needs Linux's /proc/self/clear_refs to reset its peak: {error}") \
            from error
    return process_memory("VmRSS")


def probe(name: str, seq_len: int, batch_size: int, repeats: int, device_name: str, threads: int) -> dict:
    """One inference point, measured inside this (fresh) process; see measure_inference."""
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    base, config = model_config(name)
    setup = built(name, seq_len, batch_size)
    model, task = setup.model.to(device).eval(), setup.task
    tokens = torch.randint(task.vocab_size, (batch_size, seq_len), device=device)
    with torch.inference_mode():
        model(tokens[:1, : min(seq_len, 8)])  # warm-up at a short length: kernels, allocator
        synchronize(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        before = 0 if device.type == "cuda" else reset_peak_rss()
        model(tokens)
        synchronize(device)
        memory = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else \
            process_memory("VmHWM") - before
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            model(tokens)
            synchronize(device)
            times.append(time.perf_counter() - started)
    kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_peak_rss_increase"
    median = statistics.median(times)
    return {"model": name, "config": base, "path": config.get("path", "recurrent"),
            "params": sum(p.numel() for p in model.parameters()), "seq_len": seq_len, "batch_size": batch_size,
            "status": "measured", "reason": None, "step_time_s": median / batch_size,
            "step_time_min_s": min(times) / batch_size, "repeats": repeats,
            "tokens_per_s": batch_size * seq_len / median, "memory_bytes": max(memory, 0) / batch_size,
            "memory_kind": kind, "memory_meaning": MEMORY_MEANING[kind], "state_bytes": None}


def extrapolate(points: list[tuple[int, float]], length: int, default_slope: float = 2.0) -> float:
    """The value at ``length`` predicted from the last measured points, by the log-log slope of the last two
    (clamped to [1, 3]; ``default_slope`` with a single point)."""
    l1, v1 = points[-1]
    slope = default_slope
    if len(points) > 1:
        l0, v0 = points[-2]
        slope = float(np.clip(np.log(v1 / v0) / np.log(l1 / l0), 1.0, 3.0))
    return v1 * (length / l1) ** slope


def skip_reason(measured: list[dict], length: int, steps: int, seconds_left: float, share: float, budget: float,
                memory_limit: float, device: torch.device) -> str | None:
    """Why (model, length) should not be measured, or None. Predictions come from the model's measured lengths."""
    if not measured:
        return None
    time_points = [(m["seq_len"], max(m["step_time_s"], 1e-6)) for m in measured]
    predicted = steps * extrapolate(time_points, length)
    if predicted > seconds_left:
        return (f"predicted {predicted:.1f} s for {steps} steps (extrapolated from L={time_points[-1][0]}) exceeds "
                f"the {max(seconds_left, 0):.1f} s left of this model's {share:.0f} s share of "
                f"--budget-seconds={budget:g}")
    memory = extrapolate([(m["seq_len"], m["memory_bytes"]) for m in measured], length)
    peak = memory if device.type == "cuda" else memory * CPU_TRANSIENT_FACTOR
    if peak > memory_limit:
        return (f"predicted memory {peak / 2 ** 30:.1f} GiB exceeds the limit of {memory_limit / 2 ** 30:.1f} GiB "
                "(--max-memory-gb)")
    return None


def sweep(models: list[str], lengths: list[int], batch_size: int, repeats: int, budget: float, device: torch.device,
          memory_limit: float, log=print, mode: str = "train") -> pd.DataFrame:
    """Every (model, length), shortest first; each model gets an equal share of the time budget. In inference
    mode a row's times and memory are per sequence."""
    share = budget / len(models)
    measure = measure_training if mode == "train" else measure_inference
    if mode == "train":
        measure(models[0], lengths[0], batch_size, 1, device)  # warm the process up (allocator, kernels); discarded
    rows = []
    for name in models:
        measured: list[dict] = []
        spent, first_skipped = 0.0, None
        for length in lengths:
            reason = (f"longer than L={first_skipped}, which was skipped" if first_skipped else
                      skip_reason(measured, length, repeats + 1, share - spent, share, budget, memory_limit, device))
            if reason is None:
                started = time.perf_counter()
                try:
                    row = measure(name, length, batch_size, repeats, device)
                    measured.append(row)
                except (torch.OutOfMemoryError, RuntimeError) as error:
                    if not isinstance(error, torch.OutOfMemoryError) and "memory" not in str(error).lower():
                        raise
                    reason = f"out of memory: {str(error).splitlines()[0][:200]}"
                spent += time.perf_counter() - started
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            if reason is not None:
                row = {"model": name, "seq_len": length, "batch_size": batch_size, "status": "skipped",
                       "reason": reason}
                first_skipped = first_skipped or length
            unit = "step" if mode == "train" else "sequence"
            log(f"{name:>20} L={length:>5}: " + (f"{row['step_time_s'] * 1e3:9.2f} ms/{unit}, "
                                                  f"{row['memory_bytes'] / 2 ** 20:9.2f} MiB"
                                                  if reason is None else f"skipped: {reason}"))
            rows.append(row)
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def fit_slopes(cost: pd.DataFrame) -> pd.DataFrame:
    """log-log slope of time and memory per model over the longest half of its measured lengths (>= 2 points)."""
    rows = []
    for model, group in cost[cost.status == "measured"].groupby("model", sort=False):
        group = group.sort_values("seq_len")
        top = group.iloc[len(group) // 2:] if len(group) >= 4 else group.iloc[-2:]
        for metric, column in (("time", "step_time_s"), ("memory", "memory_bytes")):
            slope = np.polyfit(np.log2(top.seq_len), np.log2(top[column].astype(float)), 1)[0] if len(top) > 1 \
                else np.nan
            rows.append({"model": model, "metric": metric, "slope": slope, "n_points": len(top),
                         "lengths": f"{int(top.seq_len.min())}-{int(top.seq_len.max())}"})
    return pd.DataFrame(rows, columns=SLOPE_COLUMNS)


# ---------------------------------------------------------------------------------------------- CLI


def parse_list(option: str, text: str, kind=str) -> list:
    try:
        values = [kind(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise CostError(f"{option}={text!r}: give a comma-separated list") from None
    if not values:
        raise CostError(f"{option}={text!r}: give at least one value")
    return values


def memory_limit_bytes(requested: float | None, device: torch.device) -> float:
    if requested is not None:
        return requested * 2 ** 30
    if device.type == "cuda":
        return 0.9 * torch.cuda.get_device_properties(device).total_memory
    try:
        available = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo")
                         if line.startswith("MemAvailable"))
    except (OSError, StopIteration):
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return 0.25 * available  # a shared machine: leave most of it to others


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="directory for the table and its slopes (required)")
    parser.add_argument("--mode", default="train", help="train (one training step) or inference (reading "
                                                        "sequences, per sequence); default %(default)s")
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # one inference point, in a fresh process
    parser.add_argument("--lengths", default=",".join(map(str, DEFAULT_LENGTHS)),
                        help="comma-separated sequence lengths; default %(default)s")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated conf/model names, <name>_explicit for the explicit attention path; "
                             "default %(default)s")
    parser.add_argument("--budget-seconds", type=float, default=120.0,
                        help="total time budget, shared equally among models; default %(default)s")
    parser.add_argument("--batch-size", type=int, default=8, help="sequences per step; default %(default)s")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per point (median); default %(default)s")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="torch threads; default: torch's own choice")
    parser.add_argument("--max-memory-gb", type=float, default=None,
                        help="skip points predicted to need more; default 90%% of the GPU, or 25%% of free RAM")
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(*json.loads(args.probe))))
        return 0
    try:
        if args.out is None:
            raise CostError("--out: required (the directory for the table)")
        if args.mode not in MODES:
            raise CostError(f"--mode={args.mode!r}: allowed are {', '.join(MODES)}")
        lengths = sorted(set(parse_list("--lengths", args.lengths, int)))
        models = parse_list("--models", args.models)
        for name in models:
            model_config(name)
        if lengths[0] < 3:
            raise CostError(f"--lengths={args.lengths}: every length must be >= 3")
        for option, value in (("--budget-seconds", args.budget_seconds), ("--batch-size", args.batch_size),
                              ("--repeats", args.repeats), ("--threads", args.threads or 1)):
            if value <= 0:
                raise CostError(f"{option}={value}: must be positive")
        device = resolve_device(args.device)
    except (CostError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    cost = sweep(models, lengths, args.batch_size, args.repeats, args.budget_seconds, device,
                 memory_limit_bytes(args.max_memory_gb, device), log=lambda line: print(line, flush=True),
                 mode=args.mode)
    cost = cost.assign(device=str(device), torch_threads=torch.get_num_threads(), torch_version=torch.__version__,
                       device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                       mode=args.mode)
    slopes = fit_slopes(cost)
    stem = FILES[args.mode]
    cost.to_csv(args.out / f"{stem}.csv", index=False)
    slopes.to_csv(args.out / f"{stem}_slopes.csv", index=False)
    print(slopes.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"cost: {args.out / f'{stem}.csv'}\nslopes: {args.out / f'{stem}_slopes.csv'}\n"
          f"figure: python -m analysis.report {args.out} draws it")
    return 0

if __name__ == "__main__":
    sys.exit(main())
