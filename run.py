"""Train one model on one task, measure accuracy per dependency distance, write result.json.

    python run.py                                   # one run, conf/config.yaml's defaults
    python run.py model=gru task.distances=16       # any key can be overridden
    python run.py -m experiment=quick               # the demo sweep (attention, gru, lstm x n-back d=2..64)

Each run lands in a directory named after its model, task and a hash of its
config, so the same command always lands in the same place, and a run whose
result.json is complete is skipped on the next invocation (``+force=true``
reruns it). result.json is the one flat record that analysis/ reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from tasks.base import IGNORE, data_generator

log = logging.getLogger("run")
REPO_ROOT = Path(__file__).resolve().parent
SCHEMA_VERSION = 1
TOP_LEVEL_KEYS = {"task", "model", "train", "seed", "device", "threads", "name", "out_root", "force"}
# Keys that say where or how fast a run executes, not what it computes: they stay out of the config hash,
# so a sweep resumed on another machine, with other threads, still finds its finished runs.
NOT_HASHED = {"force", "threads", "device", "name", "out_root", "hydra"}
TASK_SUPPLIED = {"vocab_size", "num_classes", "max_len"}  # model arguments that come from the task


class ConfigError(ValueError):
    """A bad setting, found before any compute. The message names the key, its value and what is allowed."""


# ---------------------------------------------------------------------------------------------- config


def config_hash(cfg: DictConfig) -> str:
    """A stable hash of everything that defines what a run computes (task, model, train, seed)."""
    defining = {key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
                for key in cfg if key not in NOT_HASHED}
    return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()[:12]


OmegaConf.register_new_resolver("run_hash", lambda *, _root_: config_hash(_root_), replace=True)
OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT), replace=True)


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """conf/train/*.yaml, checked field by field (see conf/train/default.yaml for what each means)."""

    protocol: str
    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_steps: int
    min_lr_ratio: float
    grad_clip: float
    log_every: int
    eval_every: int
    eval_sequences: int
    eval_batch_size: int
    target_accuracy: float
    bf16: bool
    save_model: bool

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kind = {"int": int, "float": (int, float), "bool": bool, "str": str}[field.type]
            if isinstance(value, bool) != (field.type == "bool") or not isinstance(value, kind):
                raise ConfigError(f"train.{field.name}={value!r}: must be of type {field.type}")
        positive = ["steps", "batch_size", "log_every", "eval_every", "eval_sequences", "eval_batch_size", "lr",
                    "grad_clip"]
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"train.{name}={getattr(self, name)!r}: must be > 0")
        for name in ["weight_decay", "warmup_steps"]:
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name}={getattr(self, name)!r}: must be >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"train.min_lr_ratio={self.min_lr_ratio!r}: must lie in [0, 1]")
        if not 0.0 < self.target_accuracy <= 1.0:
            raise ConfigError(f"train.target_accuracy={self.target_accuracy!r}: must lie in (0, 1]")
        if self.protocol not in ("per_distance", "mixed"):
            raise ConfigError(f"train.protocol={self.protocol!r}: allowed are per_distance, mixed")


def check_keys(where: str, node: DictConfig, allowed) -> None:
    """Refuse keys a component does not take, so a typo or a stray ``+key=`` is never silently ignored."""
    unknown = sorted(set(node.keys()) - set(allowed) - {"_target_", "hydra"})
    if unknown:
        key = unknown[0]
        value = OmegaConf.to_container(node, resolve=False)[key]
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{prefix}{key}={value!r}: unknown key; allowed are {', '.join(sorted(allowed))}")


def constructor_keys(group: str, node: DictConfig) -> set[str]:
    """The settings a component's constructor takes, so a typo or a stray ``+key=`` is refused, not ignored."""
    target = node.get("_target_")
    if target is None:
        raise ConfigError(f"{group}._target_: missing; every {group} YAML names its class")
    try:
        cls = get_class(target)
    except Exception as error:
        raise ConfigError(f"{group}._target_={target!r}: cannot import it ({error})") from None
    accepted = set()
    for klass in cls.__mro__:  # a constructor that forwards **kwargs accepts its parent's arguments too
        if "__init__" not in vars(klass) or klass is object:
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        accepted |= {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return accepted - {"self"} - TASK_SUPPLIED


def build(cfg: DictConfig, build_model: bool = True):
    """Check the whole config and build the task, the model and the train settings: all before any compute.

    The sweeper calls it with ``build_model=False`` on every job of a sweep before the first one starts."""
    check_keys("", cfg, TOP_LEVEL_KEYS)
    for group in ("task", "model"):
        check_keys(group, cfg[group], constructor_keys(group, cfg[group]))
    check_keys("train", cfg.train, [f.name for f in dataclasses.fields(TrainSettings)])
    settings = TrainSettings(**OmegaConf.to_container(cfg.train, resolve=True))
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"seed={cfg.seed!r}: must be a non-negative integer")
    if cfg.device not in ("auto", "cpu", "cuda") and not str(cfg.device).startswith("cuda:"):
        raise ConfigError(f"device={cfg.device!r}: allowed are auto, cpu, cuda, cuda:N")
    if cfg.threads != "auto" and (isinstance(cfg.threads, bool) or not isinstance(cfg.threads, int)
                                  or cfg.threads < 1):
        raise ConfigError(f"threads={cfg.threads!r}: must be auto or a positive integer")

    try:
        task = instantiate(cfg.task, _convert_="all")
    except Exception as error:  # the task's own check names the setting and its limit
        raise ConfigError(str(_root_cause(error))) from None
    if settings.protocol == "per_distance" and len(task.distances) != 1:
        raise ConfigError(f"task.distances={task.distances}: train.protocol=per_distance trains on one distance; "
                          "sweep over distances, or set train.protocol=mixed")
    if settings.protocol == "mixed" and len(task.distances) < 2:
        raise ConfigError(f"task.distances={task.distances}: train.protocol=mixed needs at least two distances")
    if not build_model:
        return task, None, settings
    torch.manual_seed(cfg.seed)  # model initialisation follows the seed
    try:
        model = instantiate(cfg.model, vocab_size=task.vocab_size, num_classes=task.num_classes,
                            max_len=task.seq_len, _convert_="all")
    except Exception as error:
        raise ConfigError(str(_root_cause(error))) from None
    return task, model, settings


def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None:  # hydra wraps constructor errors in InstantiationException
        error = error.__cause__
    return error


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={requested!r}: CUDA is not available on this machine; use auto or cpu")
    return torch.device(requested)


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


# ---------------------------------------------------------------------------------------------- records


def write_json_atomic(path: Path, record: dict) -> None:
    """Write to a temporary file, then rename: a kill at any moment leaves the old file or the new one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w") as handle:
        json.dump(record, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_complete_result(run_dir: Path, expected_hash: str) -> dict | None:
    """The stored record if this exact config already finished here, else None."""
    try:
        record = json.loads((run_dir / "result.json").read_text())
    except (OSError, ValueError):
        return None
    if record.get("status") == "finished" and record.get("config_hash") == expected_hash:
        return record
    return None


def environment(device: torch.device) -> dict:
    """Where and with what a run executed: enough to tell whether two numbers should agree bit for bit."""
    import numpy
    import omegaconf

    return {"device": str(device), "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
            "python_version": platform.python_version(), "numpy_version": numpy.__version__,
            "hydra_version": hydra.__version__, "omegaconf_version": omegaconf.__version__,
            "hostname": platform.node(), "cpu": platform.processor() or platform.machine(),
            "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "cudnn_version": torch.backends.cudnn.version() if device.type == "cuda" else None}


# ---------------------------------------------------------------------------------------------- training


def learning_rate(step: int, settings: TrainSettings) -> float:
    """Linear warmup, then cosine decay to min_lr_ratio * lr at the last step."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return settings.lr * (settings.min_lr_ratio + (1.0 - settings.min_lr_ratio) * cosine)


@torch.inference_mode()
def evaluate(model, eval_sets, batch_size: int, autocast) -> dict[int, tuple[float, int]]:
    """Accuracy and count per dependency distance, over scored positions only.

    Positions are grouped by their own distance tag, so a task whose sequences hold
    several distances is counted correctly. One host sync per evaluation."""
    model.eval()
    largest = max(int(batch.distance.max()) for batch in eval_sets.values())
    device = next(iter(eval_sets.values())).inputs.device
    correct = torch.zeros(largest + 1, device=device)
    counts = torch.zeros(largest + 1, device=device)
    for batch in eval_sets.values():
        for start in range(0, batch.inputs.shape[0], batch_size):
            inputs, targets, distance = (t[start:start + batch_size] for t in
                                         (batch.inputs, batch.targets, batch.distance))
            with autocast:
                predictions = model(inputs).argmax(dim=-1)  # (B, L)
            scored = distance >= 0
            hits = (predictions == targets)[scored].float()
            correct += torch.bincount(distance[scored], weights=hits, minlength=largest + 1)
            counts += torch.bincount(distance[scored], minlength=largest + 1).float()
    model.train()
    correct, counts = correct.tolist(), counts.tolist()
    return {d: (correct[d] / counts[d], int(counts[d])) for d in range(largest + 1) if counts[d] > 0}


class Diverged(RuntimeError):
    pass


def uses_bf16(settings: TrainSettings, model, device: torch.device) -> bool:
    """bf16 autocast on CUDA, for models that declare support (attention); never on CPU."""
    return settings.bf16 and device.type == "cuda" and getattr(model, "supports_bf16_autocast", False)


def make_autocast(settings: TrainSettings, model, device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(settings, model, device))


class TrainingStep:
    """One optimizer step on a fresh batch, exactly as run.py trains; benchmarks time this same object.

    Loss and divergence are accumulated on the device, so a step issues no host sync; ``drain()``, called
    only at log and eval intervals, syncs once and raises ``Diverged`` naming the first non-finite step."""

    def __init__(self, task, model, settings: TrainSettings, seed: int, device: torch.device):
        self.task, self.model, self.settings = task, model, settings
        # fused: one kernel per step, and no per-parameter .item() on the step counters (the foreach path
        # reads each one back to the host every step)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                                           fused=True)
        self.autocast = make_autocast(settings, model, device)
        self.stream = data_generator(task.name, seed, "train", device=device)
        self.loss_sum = torch.zeros((), device=device)
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)
        self.steps_since_drain = 0

    def __call__(self, step: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step - 1, self.settings)
        batch = self.task.sample(self.settings.batch_size, self.stream)
        with self.autocast:
            logits = self.model(batch.inputs)  # (B, L, C)
        loss = F.cross_entropy(logits.float().flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        loss = loss.detach()
        self.loss_sum += loss
        self.first_bad_step = torch.where((self.first_bad_step < 0) & ~torch.isfinite(loss), step,
                                          self.first_bad_step)
        self.steps_since_drain += 1

    def drain(self) -> float:
        """Mean loss since the last drain (one host sync); raises Diverged after a non-finite loss."""
        bad_step = self.first_bad_step.item()
        if bad_step >= 0:
            raise Diverged(f"diverged at step {bad_step}: non-finite loss")
        mean_loss = self.loss_sum.item() / max(1, self.steps_since_drain)
        self.loss_sum.zero_()
        self.steps_since_drain = 0
        return mean_loss


def train(task, model, settings: TrainSettings, seed: int, device: torch.device, progress: bool) -> dict:
    """Fresh samples every step, AdamW with warmup and cosine decay, clipped gradients, periodic evaluation,
    and early stopping once every training distance reaches the target accuracy."""
    model.to(device).train()
    step_once = TrainingStep(task, model, settings, seed, device)
    eval_at = sorted(set(task.distances) | set(task.eval_distances))
    eval_sets = {d: task.sample(settings.eval_sequences, data_generator(task.name, seed, "eval", d, device), d)
                 for d in eval_at}

    history, accuracy, incidental, step, mean_loss, train_seconds = [], {}, {}, 0, float("nan"), 0.0
    bar = tqdm(total=settings.steps, desc="train", disable=not progress, leave=False, dynamic_ncols=True)
    started = time.perf_counter()
    for step in range(1, settings.steps + 1):
        step_once(step)
        bar.update()
        is_eval = step % settings.eval_every == 0 or step == settings.steps
        if step % settings.log_every == 0 or is_eval:
            mean_loss = step_once.drain()
            bar.set_postfix(loss=f"{mean_loss:.3f}")
        if is_eval:
            train_seconds += time.perf_counter() - started
            every_distance = evaluate(model, eval_sets, settings.eval_batch_size, step_once.autocast)
            # the curve holds the requested distances; tasks with several dependencies per sequence also score
            # positions at other, incidental distances, kept apart so they never pose as points of the curve
            accuracy = {d: every_distance[d] for d in eval_at if d in every_distance}
            incidental = {d: value for d, value in every_distance.items() if d not in accuracy}
            history.extend({"step": step, "distance": d, "accuracy": acc} for d, (acc, _) in accuracy.items())
            if not progress:
                summary = " ".join(f"d={d}:{acc:.3f}" for d, (acc, _) in accuracy.items())
                log.info(f"step {step}/{settings.steps} loss {mean_loss:.4f} acc {summary}")
            if all(accuracy.get(d, (0.0, 0))[0] >= settings.target_accuracy for d in task.distances):
                break
            started = time.perf_counter()
    bar.close()
    return {"accuracy": accuracy, "incidental": incidental, "history": history, "steps_run": step,
            "train_seconds": train_seconds, "early_stopped": step < settings.steps}


# ---------------------------------------------------------------------------------------------- entry point


def execute(cfg: DictConfig, run_dir: Path, model_name: str, task_name: str, multirun: bool) -> dict:
    """Everything one run does, without Hydra's globals, so tests and the sweep launcher call it directly."""
    run_dir = Path(run_dir)
    task, model, settings = build(cfg)  # raises ConfigError before any compute, even for a finished run
    device = resolve_device(cfg.device)
    digest = config_hash(cfg)
    if not OmegaConf.select(cfg, "force", default=False):
        stored = read_complete_result(run_dir, digest)
        if stored is not None:
            log.info(f"skip {run_dir.name}: complete result.json for this config (+force=true reruns it)")
            return {**stored, "skipped": True}

    torch.set_num_threads(resolve_threads(cfg.threads))
    record = {
        "schema_version": SCHEMA_VERSION, "status": "running", "model": model_name, "task": task_name,
        "seed": cfg.seed, "protocol": settings.protocol, "train_distances": task.distances,
        "eval_distances": task.eval_distances, "chance_accuracy": task.chance_accuracy,
        "memoryless_cross_entropy": getattr(task, "memoryless_cross_entropy", None),
        "params": sum(p.numel() for p in model.parameters()), "max_steps": settings.steps,
        "batch_size": settings.batch_size, "seq_len": task.seq_len, "config_hash": digest,
        "run_dir": str(run_dir), "config": OmegaConf.to_container(cfg, resolve=True), **environment(device),
    }
    started = time.perf_counter()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in run_dir.glob(".*.tmp"):  # left by a run killed mid-write; never read as a result
            stale.unlink()
        outcome = train(task, model, settings, cfg.seed, device, progress=not multirun)
        if settings.save_model:
            temporary = run_dir / f".model.pt.{os.getpid()}.tmp"
            torch.save(model.state_dict(), temporary)
            os.replace(temporary, run_dir / "model.pt")
        trained = set(task.distances)
        record.update(
            status="finished", reason=None, steps=outcome["steps_run"], early_stopped=outcome["early_stopped"],
            accuracy_by_distance=[{"distance": d, "accuracy": acc, "n": n, "trained": d in trained}
                                  for d, (acc, n) in sorted(outcome["accuracy"].items())],
            incidental_accuracy_by_distance=[{"distance": d, "accuracy": acc, "n": n}
                                             for d, (acc, n) in sorted(outcome["incidental"].items())],
            history=outcome["history"], wall_time_s=time.perf_counter() - started,
            train_time_s=outcome["train_seconds"],
            tokens_per_s=outcome["steps_run"] * settings.batch_size * task.seq_len / max(outcome["train_seconds"],
                                                                                        1e-9),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        write_json_atomic(run_dir / "result.json", record)  # written last: its presence marks the run complete
    except Exception as error:  # recorded, never dropped: the sweep goes on
        reason = str(error) if isinstance(error, Diverged) else f"{type(error).__name__}: {error}"
        log.error(f"run failed: {reason}")
        record.update(status="failed", reason=reason, wall_time_s=time.perf_counter() - started,
                      finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        for key in ("steps", "accuracy_by_distance", "incidental_accuracy_by_distance", "history", "early_stopped",
                    "train_time_s", "tokens_per_s"):
            record.pop(key, None)
        try:
            write_json_atomic(run_dir / "result.json", record)
        except OSError as write_error:  # a full or read-only disk: say so; the sweeper lists the run as failed
            log.error(f"could not write {run_dir / 'result.json'}: {write_error}")
            print(f"run failed and its result could not be written to {run_dir}: {reason}; {write_error}",
                  file=sys.stderr)
    return record


def mean_eval_accuracy(record: dict) -> float:
    wanted = set(record.get("eval_distances", []))
    values = [row["accuracy"] for row in record.get("accuracy_by_distance", []) if row["distance"] in wanted]
    return sum(values) / len(values) if values else float("nan")


# An absolute path to conf/ (the same directory as config_path="conf"), so the entry point also works when
# called as run.main from the importable module, which is what launchers pickle (see the end of this file).
@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    choices = hydra_cfg.runtime.choices
    try:
        record = execute(cfg, Path(hydra_cfg.runtime.output_dir), choices.get("model"), choices.get("task"),
                         multirun=hydra_cfg.mode == RunMode.MULTIRUN)
    except ConfigError as error:
        discard_if_empty(Path(hydra_cfg.runtime.output_dir))
        print(f"config error: {error}", file=sys.stderr)  # the last line names the key, value and what is allowed
        raise SystemExit(2) from None
    if hydra_cfg.mode == RunMode.MULTIRUN and not record.get("skipped"):
        print(progress_line(record, Path(hydra_cfg.sweep.dir)), flush=True)
    elif record["status"] == "finished" and not record.get("skipped"):
        log.info(f"done: {record['run_dir']}/result.json  mean accuracy {mean_eval_accuracy(record):.3f}")
    return mean_eval_accuracy(record)


def discard_if_empty(run_dir: Path) -> None:
    """Remove the directory Hydra made for a config that was refused, if it holds only Hydra's own files."""
    import shutil

    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "run.log"}:
        shutil.rmtree(run_dir, ignore_errors=True)


def progress_line(record: dict, sweep_dir: Path) -> str:
    """`[k/N] model=... task=... d=... acc=... in 12.3 s`; k counts jobs finished so far in this sweep, across
    parallel processes, through a counter file the sweeper resets (a lock makes the increments atomic)."""
    import fcntl

    counter, position = sweep_dir / ".progress.json", "?"
    try:
        with open(sweep_dir / ".progress.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(counter.read_text())
            state["done"] += 1
            counter.write_text(json.dumps(state))
            position = f"{state['done']}/{state['total']}"
    except (OSError, ValueError, KeyError):  # no sweeper manifest (e.g. hydra/sweeper=basic): no count
        pass
    distances = record["train_distances"]
    shown = str(distances[0]) if len(distances) == 1 else f"{distances[0]}..{distances[-1]}"
    outcome = (f"acc={mean_eval_accuracy(record):.3f}" if record["status"] == "finished"
               else f"FAILED ({record['reason']})")
    return (f"[{position}] model={record['model']} task={record['task']} d={shown} seed={record['seed']} "
            f"{outcome} in {record.get('wall_time_s', 0.0):.1f} s")


def explain_composition_error(error: Exception, argv: list[str]) -> str:
    """One line for a Hydra composition error: the key, the value given, and what is allowed."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, option = error.missing_cfg_file.rpartition("/")
        allowed = ", ".join(error.options or []) or f"the YAML files in conf/{group}/"
        return f"{group}={option!r}: no such {group}; allowed are {allowed}"
    if isinstance(error, OverrideParseException):
        first_line = str(error).splitlines()[0]
        return f"{error.override}: cannot parse ({first_line}); see Hydra's override grammar"
    message = str(error)
    if message.startswith("Could not override '"):
        key = message.split("'")[1]
        given = next((arg.split("=", 1)[1] for arg in argv if arg.lstrip("+~").split("=", 1)[0] == key), "?")
        parent, _, leaf = key.rpartition(".")
        allowed = ", ".join(known_keys(parent, argv)) or "(see: python run.py --cfg job)"
        return f"{key}={given}: unknown key {leaf!r}; allowed are {allowed}"
    return message.splitlines()[0]


def known_keys(parent: str, argv: list[str]) -> list[str]:
    """The keys under ``parent`` in the config the user selected (group choices from argv, nothing else)."""
    from hydra import compose, initialize_config_dir

    groups = {p.name for p in (REPO_ROOT / "conf").iterdir() if p.is_dir()}
    choices = [arg.split(",")[0] for arg in argv if "=" in arg and arg.split("=", 1)[0] in groups]  # a,b -> a
    try:
        with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=choices)
        node = OmegaConf.select(cfg, parent) if parent else cfg
        return sorted(str(k) for k in node.keys())
    except Exception:  # the explanation is best effort; the error itself is already reported
        return []


def cli() -> None:
    """Hydra's entry point, with composition errors (unknown group, unknown key, bad syntax) reported by a
    last line that names the key and what is allowed, instead of Hydra's hint about HYDRA_FULL_ERROR."""
    from hydra.errors import ConfigCompositionException, OverrideParseException

    os.environ["HYDRA_FULL_ERROR"] = "1"  # composition errors reach us instead of Hydra's generic printer
    try:
        main()
    except (ConfigCompositionException, OverrideParseException) as error:
        print(str(error), file=sys.stderr)
        print(f"config error: {explain_composition_error(error, sys.argv[1:])}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    # Hand over to the module imported under its own name: joblib and submitit then pickle the task function
    # by reference (workers import run.py) instead of by value with every global it touches.
    import run

    run.cli()
