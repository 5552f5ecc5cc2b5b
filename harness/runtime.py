"""What a run needs from the machine it runs on, so that long runs survive: its threads and device (one GPU per
parallel worker), a lock on its run directory (no run twice at once), checkpoints it can resume from, and a
handler for the signal SLURM sends before preemption or the time limit.

Checkpoints hold only tensors and plain containers, are written atomically (a temporary file, fsync, rename)
and are loaded with ``weights_only=True``. A checkpoint from another config or other code is refused, with
one line that says why, and the run starts over.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import platform
import signal
import socket
import threading
import time
from pathlib import Path

import hydra
import numpy
import omegaconf
import torch
from hydra.core.hydra_config import HydraConfig

from harness.config import ConfigError
from harness.files import write_atomic

CHECKPOINT_FILE = "checkpoint.pt"
LOCK_FILE = "run.lock"
HEARTBEAT_S = 30.0  # how often a running run refreshes its lock
STALE_AFTER_S = 180.0  # a lock not refreshed for this long (on another host) belongs to a dead process


# ---------------------------------------------------------------------------------------------- threads, device


def resolve_threads(requested) -> int:
    """Threads per run: explicit, or the machine's cores shared among the jobs that run at once.

    Two jobs that each take every core oversubscribe the CPU and run tens of times slower, so with
    a parallel launcher each job gets cores // n_jobs (submitit: its cpus_per_task)."""
    if requested != "auto":
        return int(requested)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    launcher = HydraConfig.get().launcher if HydraConfig.initialized() else {}
    if launcher.get("cpus_per_task"):
        return int(launcher.cpus_per_task)
    parallel_jobs = launcher.get("n_jobs") or 1
    parallel_jobs = cores if parallel_jobs < 0 else parallel_jobs
    return max(1, cores // parallel_jobs)


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={requested!r}: CUDA is not available on this machine; use auto or cpu")
    return torch.device(requested)


class DeviceClaim:
    """The device a run trains on. With ``device=auto`` and several GPUs, each run holds an exclusive lock on
    one GPU's slot file in the sweep directory while it trains: parallel workers start at GPU (job number mod
    GPUs), take the first free one, and wait only when every GPU is busy. So n_jobs <= GPUs puts one worker
    on each GPU, round-robin, whatever order the jobs finish in."""

    def __init__(self, requested: str, job_number: int, slot_dir: Path):
        self.device, self.handle = resolve_device(requested), None
        count = torch.cuda.device_count() if self.device.type == "cuda" else 0
        if requested != "auto" or count < 2:
            return
        slot_dir.mkdir(parents=True, exist_ok=True)
        order = [(job_number + offset) % count for offset in range(count)]
        for index in order:  # the first free GPU, starting from this job's own
            if self.take(slot_dir, index, wait=False):
                return
        self.take(slot_dir, order[0], wait=True)  # every GPU busy: queue for this job's own

    def take(self, slot_dir: Path, index: int, wait: bool) -> bool:
        handle = open(slot_dir / f".gpu-{index}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.device, self.handle = torch.device(f"cuda:{index}"), handle
        return True

    def release(self) -> None:
        if self.handle:
            self.handle.close()  # closing releases the flock


def job_number() -> int:
    return int(HydraConfig.get().job.get("num") or 0) if HydraConfig.initialized() else 0


def environment(device: torch.device) -> dict:
    """Where and with what a run executed: enough to tell whether two numbers should agree bit for bit."""
    return {"device": str(device), "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
            "python_version": platform.python_version(), "numpy_version": numpy.__version__,
            "hydra_version": hydra.__version__, "omegaconf_version": omegaconf.__version__,
            "hostname": platform.node(), "cpu": platform.processor() or platform.machine(),
            "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "cudnn_version": torch.backends.cudnn.version() if device.type == "cuda" else None}


# ---------------------------------------------------------------------------------------------- run lock


class RunLocked(RuntimeError):
    """Another live process holds this run's lock; the message names host, pid and heartbeat age."""


def lock_holder(run_dir: Path) -> str | None:
    """'host h, pid p, heartbeat 12 s ago' if a live process holds the run's lock, else None (none, or stale)."""
    try:
        lock = json.loads((Path(run_dir) / LOCK_FILE).read_text())
        host, pid, age = lock["host"], int(lock["pid"]), time.time() - float(lock["heartbeat"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # the process is gone
        except PermissionError:
            pass  # alive, another user's
    elif age > STALE_AFTER_S:
        return None
    return f"host {host}, pid {pid}, heartbeat {age:.0f} s ago"


class RunLock:
    """run.lock in the run directory: host, pid and a heartbeat refreshed every HEARTBEAT_S by a daemon thread.
    A fresh lock held by another process raises RunLocked; a stale one (process gone) is taken over."""

    def __init__(self, run_dir: Path):
        self.path, self.stop = Path(run_dir) / LOCK_FILE, threading.Event()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        holder = lock_holder(self.path.parent)
        if holder is not None:
            raise RunLocked(f"{self.path.parent.name} is running elsewhere ({holder})")
        self.path.unlink(missing_ok=True)  # stale or absent
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:  # another process took it between our check and our create
            raise RunLocked(f"{self.path.parent.name} is running elsewhere ({lock_holder(self.path.parent)})") \
                from None
        os.close(descriptor)
        self.beat()
        self.thread = threading.Thread(target=self.keep_alive, daemon=True)
        self.thread.start()

    def beat(self) -> None:
        content = {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}
        write_atomic(self.path, lambda handle: json.dump(content, handle))

    def keep_alive(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            try:
                self.beat()
            except OSError:
                pass  # a full disk: the next beat may succeed; a stale lock only costs a duplicate run

    def release(self) -> None:
        self.stop.set()
        self.thread.join()
        self.path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- checkpoints


def save_checkpoint(run_dir: Path, state: dict) -> None:
    write_atomic(Path(run_dir) / CHECKPOINT_FILE, lambda handle: torch.save(state, handle), binary=True)


def snapshot(tag: dict, step: int, model, training_step, history, rungs, train_seconds: float,
             resumed: list, cannot: str | None = None) -> dict:
    """Everything a killed or paused run needs to go on exactly as it would have: weights, the optimizer, the
    data stream and loss accumulators (training_step.state_dict()), the global RNG (dropout), the validation
    history and the rungs scored so far."""
    return {**tag, "step": step, "model": model.state_dict(), "training_step": training_step.state_dict(),
            "rng": torch.get_rng_state(), "history": [dataclasses.asdict(point) for point in history],
            "rungs": [dataclasses.asdict(rung) for rung in rungs], "train_seconds": train_seconds,
            "resumed_from": resumed, "cannot": cannot}


def restore(state: dict, model, training_step) -> tuple[list[dict], list[dict], float, list[int]]:
    """Load a snapshot into the model and the training step; returns (history, rungs, train_seconds,
    resumed_from)."""
    model.load_state_dict(state["model"])
    training_step.load_state_dict(state["training_step"])
    torch.set_rng_state(state["rng"].cpu())
    return state["history"], state["rungs"], state["train_seconds"], [*state["resumed_from"], state["step"]]


def save_weights(run_dir: Path, model) -> None:
    """model.pt, the trained state_dict."""
    write_atomic(Path(run_dir) / "model.pt", lambda handle: torch.save(model.state_dict(), handle), binary=True)


def load_checkpoint(run_dir: Path, config_hash: str, source_hash: str, device) -> tuple[dict | None, str | None]:
    """(state, None) for a checkpoint of this config and code; (None, why it was refused) otherwise, or
    (None, None) when there is none."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None, None
    try:
        state = torch.load(path, weights_only=True, map_location=device)
    except Exception as error:  # truncated by a kill during a write that was not ours, or foreign
        return None, f"checkpoint unreadable ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
    if state.get("config_hash") != config_hash:
        return None, "checkpoint from another config"
    if state.get("source_hash") != source_hash:
        return None, "checkpoint from other code (a source file changed since it was written)"
    return state, None


# ---------------------------------------------------------------------------------------------- preemption


class Preempted(BaseException):
    """Raised after a checkpoint was saved on SLURM's warning signal: not a failure, the job is requeued."""


class PreemptionSignal:
    """Defers the signal submitit uses for preemption and time limits (SIGUSR2 unless SUBMITIT_PREEMPT_SIGNAL
    says otherwise) until the current training step ends, so that a checkpoint can be saved first; then hands
    it to the handler that was installed before (submitit's, which requeues the job)."""

    def __init__(self):
        self.signum = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))
        self.pending, self.previous = None, None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(self.signum, self.defer)

    def defer(self, signum, frame) -> None:
        self.pending = (signum, frame)

    def hand_over(self) -> None:
        """Call the previous handler (submitit requeues and exits); if it returns, stop the run anyway."""
        signum, frame = self.pending
        previous = self.previous
        self.restore()
        if callable(previous):
            previous(signum, frame)
        raise Preempted(f"stopped by {signal.Signals(signum).name} after a checkpoint")

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(self.signum, self.previous)
            self.previous = None
