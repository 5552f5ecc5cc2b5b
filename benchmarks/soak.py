"""Soak: many tiny runs through the joblib launcher. Every result must land exactly once, and the memory of
the sweep's parent process must stay flat.

    python -m benchmarks.soak                 # 200 runs; records the figures in benchmarks/RESULTS.md
    python -m benchmarks.soak --runs 20 --out /tmp/r.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results_file import update_section

REPO = Path(__file__).resolve().parents[1]
TINY = ["model=gru,lstm", "train=quick", "train.rungs=[3]", "train.eval_every=3", "train.log_every=3",
        "train.eval_sequences=4", "task.seq_len=12", "task.distances=2", "train.save_model=false"]


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def soak(runs: int, n_jobs: int, out_root: Path) -> dict:
    seeds = runs // 2  # two models per seed
    command = [sys.executable, "run.py", "-m", *TINY, f"seed=range(0,{seeds})", f"out_root={out_root}",
               "name=soak", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}"]
    started = time.perf_counter()
    # The sweep's output goes to a file, not a pipe: 200 progress lines would fill a pipe that nobody reads
    # until the end, and the sweep would block on it.
    log_path = out_root / "sweep.log"
    with open(log_path, "w") as log:
        sweep = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
    samples = []  # (seconds, results landed, parent RSS KiB)
    while sweep.poll() is None:
        landed = sum(1 for _ in (out_root / "soak").rglob("result.json")) if (out_root / "soak").exists() else 0
        rss = rss_kib(sweep.pid)
        if rss is not None:
            samples.append((time.perf_counter() - started, landed, rss))
        time.sleep(0.5)
    output = log_path.read_text()
    wall = time.perf_counter() - started
    records = [json.loads(p.read_text()) for p in (out_root / "soak").rglob("result.json")]
    hashes = [r["config_hash"] for r in records]
    after_quarter = [rss for _, landed, rss in samples if landed >= runs // 4]
    after_half = [rss for _, landed, rss in samples if landed >= runs // 2]
    return {"runs": runs, "n_jobs": n_jobs, "exit_code": sweep.returncode, "wall_s": wall,
            "results": len(records), "finished": sum(r["status"] == "finished" for r in records),
            "duplicates": len(hashes) - len(set(hashes)), "rss_first_kib": samples[0][2] if samples else None,
            "rss_quarter_kib": after_quarter[0] if after_quarter else None,
            "rss_half_kib": after_half[0] if after_half else None,
            "rss_peak_kib": max((s[2] for s in samples), default=None),
            "rss_last_kib": samples[-1][2] if samples else None, "samples": len(samples),
            "tail": output[-1500:]}


# "Flat": over the second half of the runs the parent grows by less than a tenth of what holding every run's
# JobReturn cost (~160 KiB per run, the leak this soak found). Allocator noise is a few hundred KiB in all.
FLAT_KIB_PER_RUN = 16


def growth_per_run_kib(result: dict) -> float:
    """Parent RSS growth per run over the second half of the soak (after warm-up and the first batches)."""
    if not (result["rss_last_kib"] and result["rss_half_kib"]):
        return float("nan")
    return (result["rss_last_kib"] - result["rss_half_kib"]) / (result["runs"] - result["runs"] // 2)


def passed(result: dict) -> bool:
    landed = result["results"] == result["finished"] == result["runs"] and not result["duplicates"]
    return landed and result["exit_code"] == 0 and growth_per_run_kib(result) < FLAT_KIB_PER_RUN


def markdown(result: dict) -> str:
    mib = lambda kib: f"{kib / 1024:.0f} MiB" if kib else "n/a"  # noqa: E731
    growth = growth_per_run_kib(result)
    landed = result["results"] == result["finished"] == result["runs"] and not result["duplicates"]
    verdict = ("all landed, no duplicates" if landed else "PROBLEM: see counts") + "; " + (
        "memory flat" if growth < FLAT_KIB_PER_RUN else "PROBLEM: memory grows")
    return "\n".join([
        f"## Soak ({datetime.date.today().isoformat()})", "",
        f"`python -m benchmarks.soak --runs {result['runs']}`: {result['runs']} tiny runs (GRU and LSTM, 3 steps) "
        f"through hydra/launcher=joblib with n_jobs={result['n_jobs']}.", "",
        "| runs | results | finished | duplicates | exit code | wall | parent RSS at 1/4 | at 1/2 | at end | peak |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {result['runs']} | {result['results']} | {result['finished']} | {result['duplicates']} | "
        f"{result['exit_code']} | {result['wall_s']:.0f} s | {mib(result['rss_quarter_kib'])} | "
        f"{mib(result['rss_half_kib'])} | {mib(result['rss_last_kib'])} | {mib(result['rss_peak_kib'])} |", "",
        f"Verdict: {verdict}. Over the second half of the runs the parent grew {growth:+.1f} KiB per run "
        f"(flat means under {FLAT_KIB_PER_RUN}; {result['samples']} samples of /proc/PID/status VmRSS)."])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="number of runs (even)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="joblib n_jobs")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    if args.runs < 2 or args.runs % 2:
        parser.error(f"--runs={args.runs}: must be an even number >= 2 (two models per seed)")
    with tempfile.TemporaryDirectory() as scratch:
        result = soak(args.runs, args.jobs, Path(scratch))
    print(result["tail"])
    text = markdown(result)
    update_section(args.out, "soak", text)
    print(text)
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
