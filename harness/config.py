"""Config checks, the config hash, and the one place where tasks, models and loggers are built.

Hydra composes the config and checks types: conf/train/*.yaml sit on the ``TrainConfig`` schema registered
below, so ``train.lr=abc`` or ``train.stepz=10`` is refused while composing. What Hydra cannot know (ranges,
constructor arguments, protocols that need several distances) is checked here, before any compute, with a
one-line message that names the key, its value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.utils import get_class, instantiate
from omegaconf import MISSING, DictConfig, OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL_KEYS = {"task", "model", "train", "logger", "seed", "device", "threads", "name", "out_root", "force"}
# Keys that say where, how fast or how visibly a run executes, not what it computes: they stay out of the config
# hash, so a sweep resumed on another machine, with other threads or another logger, still finds its runs.
NOT_HASHED = {"force", "threads", "device", "name", "out_root", "logger", "hydra"}
# How often a run saves itself changes no result; nor do the rungs it is judged at or where it pauses, under a
# schedule that does not depend on them: a run that climbs further continues, it does not start again.
NOT_HASHED_TRAIN = {"checkpoint_every", "keep_checkpoint", "rungs", "climb_to"}
MODEL_ARGS_FROM_TASK = {"vocab_size", "num_classes", "max_len"}  # model arguments the task supplies
PROTOCOLS = ("per_distance", "mixed", "dense")
SCHEDULES = ("constant", "cosine")
HELDOUT = ("auto", "none")


class ConfigError(ValueError):
    """A bad setting, found before any compute. The message names the key, its value and what is allowed."""


@dataclass
class TrainConfig:
    """The schema of conf/train/*.yaml: the types live here, the values and their comments in the YAML."""

    protocol: str = MISSING
    heldout: str = MISSING
    rungs: list[int] = MISSING
    climb_to: int | None = MISSING
    schedule: str = MISSING
    batch_size: int = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    warmup_steps: int = MISSING
    min_lr_ratio: float = MISSING
    grad_clip: float = MISSING
    log_every: int = MISSING
    eval_every: int = MISSING
    eval_sequences: int = MISSING
    val_sequences: int = MISSING
    eval_batch_size: int = MISSING
    target_accuracy: float = MISSING
    bf16: bool = MISSING
    save_model: bool = MISSING
    checkpoint_every: int = MISSING
    keep_checkpoint: bool = MISSING
    extrapolate: list[int] = MISSING


ConfigStore.instance().store(group="train", name="schema", node=TrainConfig)


def check_train(train: TrainConfig) -> TrainConfig:
    """Ranges and choices of the train group (types were checked by Hydra while composing)."""
    def refuse(key, rule):
        raise ConfigError(f"train.{key}={getattr(train, key)!r}: {rule}")

    rungs = train.rungs
    if not rungs or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in rungs):
        refuse("rungs", "give a non-empty list of positive step counts, e.g. [500, 1000, 2000, 4000]")
    if any(b <= a for a, b in zip(rungs, rungs[1:])):
        refuse("rungs", "each rung must be above the one before it (the last is the top of the ladder)")
    if train.climb_to is not None and train.climb_to not in rungs:
        refuse("climb_to", f"must be null (the top) or one of train.rungs={list(rungs)}")
    for key in ("batch_size", "log_every", "eval_every", "eval_sequences", "eval_batch_size", "lr",
                "grad_clip"):
        if not getattr(train, key) > 0:
            refuse(key, "must be > 0")
    for key in ("weight_decay", "warmup_steps", "checkpoint_every"):
        if getattr(train, key) < 0:
            refuse(key, "must be >= 0")
    if not math.isfinite(train.lr):
        refuse("lr", "must be a finite number > 0")
    if not 0.0 <= train.min_lr_ratio <= 1.0:
        refuse("min_lr_ratio", "must lie in [0, 1]")
    if not 0.0 < train.target_accuracy <= 1.0:
        refuse("target_accuracy", "must lie in (0, 1]")
    if train.val_sequences < 1:
        refuse("val_sequences", "must be > 0: validation decides stopping, the ladder and the learning rate; the "
                                "test sets decide nothing")
    for key, allowed in (("protocol", PROTOCOLS), ("schedule", SCHEDULES), ("heldout", HELDOUT)):
        if getattr(train, key) not in allowed:
            refuse(key, f"allowed are {', '.join(allowed)}")
    return train


def check_keys(where: str, node: DictConfig, allowed) -> None:
    """Refuse keys a component does not take, so a typo or a stray ``+key=`` is never silently ignored."""
    unknown = sorted(set(node.keys()) - set(allowed) - {"_target_", "hydra"})
    if unknown:
        value = OmegaConf.to_container(node, resolve=False)[unknown[0]]
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{prefix}{unknown[0]}={value!r}: unknown key; allowed are {', '.join(sorted(allowed))}")


def constructor_keys(group: str, node: DictConfig) -> set[str]:
    """The keyword arguments a component's constructor takes, following ``**kwargs`` up the class hierarchy."""
    target = node.get("_target_")
    if target is None:
        raise ConfigError(f"{group}._target_: missing; every {group} YAML names its class")
    try:
        cls = get_class(target)
    except Exception as error:
        raise ConfigError(f"{group}._target_={target!r}: cannot import it ({error})") from None
    accepted = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        accepted |= {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return accepted - {"self"}


def config_hash(cfg: DictConfig) -> str:
    """A stable hash of everything that defines what a run computes (task, model, train, seed)."""
    defining = {key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
                for key in cfg if key not in NOT_HASHED}
    if isinstance(defining.get("train"), dict):
        train = defining["train"]
        defining["train"] = {k: v for k, v in train.items() if k not in NOT_HASHED_TRAIN}
        if train.get("schedule") == "cosine" and train.get("rungs"):  # its decay ends at the top rung
            defining["train"]["cosine_top"] = train["rungs"][-1]
        if not train.get("extrapolate"):  # nothing beyond the training length: the hash of a run without the key
            defining["train"].pop("extrapolate", None)
    return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()[:12]


OmegaConf.register_new_resolver("run_hash", lambda *, _root_: config_hash(_root_), replace=True)
OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT), replace=True)


@dataclass(frozen=True)
class DistancePlan:
    """Which distances a run trains on, with what weights, and which it evaluates.

    ``heldout`` lie inside the training range and are never trained on, not even by a task's incidental
    dependencies (the loop ignores those positions): a model that learned the task's rule answers them as well
    as their trained neighbours; one that memorised offsets does not. ``fine`` is the curve a window is
    located on: every distance the task can produce from the shortest to the longest listed one."""

    train: list[int]
    weights: list[float] | None  # relative sampling weights of ``train`` (see log_weights); None: uniform
    heldout: list[int]
    evaluated: list[int]  # evaluated during training: task.distances, task.eval_distances and the held-out ones
    fine: list[int]  # evaluated at every rung end: ``evaluated`` and every producible distance between them


def log_weights(distances: list[int]) -> list[float]:
    """Equal mass per octave: each distance weighs the log-gap to the one before it (the first, to the one
    after), so contiguous distances get about 1/d and log-spaced ones (n-back's lags) get equal shares."""
    gaps = [math.log(b / a) for a, b in zip(distances, distances[1:])]
    return [gaps[0], *gaps] if gaps else [1.0]


def plan_distances(task, train: TrainConfig) -> DistancePlan:
    """per_distance: the one distance in task.distances. mixed: every distance listed in task.distances.
    dense: every producible integer from the smallest to the largest of task.distances, log-uniform per octave.
    With ``heldout=auto`` (mixed, dense), the rounded geometric midpoint of each pair of neighbouring listed
    distances is held out of training and evaluated."""
    listed = list(task.distances)
    if train.protocol == "per_distance" and len(listed) != 1:
        raise ConfigError(f"task.distances={listed}: train.protocol=per_distance trains on one distance; sweep over "
                          "distances, or set train.protocol=mixed or dense")
    if train.protocol != "per_distance" and len(listed) < 2:
        raise ConfigError(f"task.distances={listed}: train.protocol={train.protocol} needs at least two distances")
    heldout = []
    if train.protocol != "per_distance" and train.heldout == "auto" and task.supports_untrained_distances:
        midpoints = {round(math.sqrt(a * b)) for a, b in zip(listed, listed[1:])}
        heldout = sorted(d for d in midpoints if d not in listed and task.producible(d))
    if train.protocol == "dense":
        trained = [d for d in range(listed[0], listed[-1] + 1) if task.producible(d) and d not in heldout]
        weights = log_weights(trained)
    else:
        trained, weights = listed, None
    evaluated = sorted(set(listed) | set(task.eval_distances) | set(heldout))
    between = range(evaluated[0], evaluated[-1] + 1) if train.protocol != "per_distance" else []
    fine = sorted(set(evaluated) | {d for d in between if task.producible(d)})
    return DistancePlan(trained, weights, heldout, evaluated, fine)


EXTRAPOLATION_MARGIN = 8  # positions beyond the shortest sequence that can hold a distance


@dataclass(frozen=True)
class Beyond:
    """Sets past the training length (``train.extrapolate``): each distance past the longest trained one, in
    sequences of its own length (the shortest that holds it, plus a margin), and the listed trained distances
    at the longest of those lengths, where only the positions are new."""

    distances: dict[int, tuple[object, int]]  # distance -> (the task at that length, the length)
    positions: tuple[object, int, list[int]] | None  # (the task at the longest length, that length, distances)


@dataclass
class Built:
    task: object
    model: object | None
    train: TrainConfig
    plan: DistancePlan
    beyond: Beyond | None = None


def build(cfg: DictConfig, build_model: bool = True) -> Built:
    """Check the whole config and build the task, the model, the train settings and the distance plan, all
    before any compute. The one place where tasks and models are instantiated; the sweeper calls it with
    ``build_model=False`` on every job of a sweep before the first one starts."""
    check_keys("", cfg, TOP_LEVEL_KEYS)
    check_keys("task", cfg.task, constructor_keys("task", cfg.task))
    check_keys("model", cfg.model, constructor_keys("model", cfg.model) - MODEL_ARGS_FROM_TASK)
    check_keys("train", cfg.train, [f.name for f in dataclasses.fields(TrainConfig)])
    train = check_train(TrainConfig(**OmegaConf.to_container(cfg.train, resolve=True)))
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"seed={cfg.seed!r}: must be a non-negative integer")
    if cfg.device not in ("auto", "cpu", "cuda") and not str(cfg.device).startswith("cuda:"):
        raise ConfigError(f"device={cfg.device!r}: allowed are auto, cpu, cuda, cuda:N")
    if cfg.threads != "auto" and (isinstance(cfg.threads, bool) or not isinstance(cfg.threads, int)
                                  or cfg.threads < 1):
        raise ConfigError(f"threads={cfg.threads!r}: must be auto or a positive integer")
    task = instantiate_checked(cfg.task)
    plan = plan_distances(task, train)
    beyond = plan_beyond(cfg.task, task, train, plan)
    if not build_model:
        return Built(task, None, train, plan, beyond)
    import torch

    torch.manual_seed(cfg.seed)  # model initialisation follows the seed
    model = instantiate_checked(cfg.model, vocab_size=task.vocab_size, num_classes=task.num_classes,
                                max_len=task.seq_len)
    return Built(task, model, train, plan, beyond)


def plan_beyond(node: DictConfig, task, train: TrainConfig, plan: DistancePlan) -> Beyond | None:
    """The sets of ``train.extrapolate``, each task rebuilt from its YAML at a longer seq_len; refused before any
    compute when a distance is not past the longest trained one, or no length lets the task make it."""
    if not train.extrapolate:
        return None
    longest = max(plan.train)
    key = f"train.extrapolate={list(train.extrapolate)}"
    if not task.supports_untrained_distances:
        raise ConfigError(f"{key}: {task.name} cannot be evaluated at distances it never trained on (its tokens "
                          "name the distance); no extrapolation distance is meaningful for it")
    distances = {}
    for distance in sorted(train.extrapolate):
        if isinstance(distance, bool) or not isinstance(distance, int) or distance <= longest:
            raise ConfigError(f"{key}: every extrapolation distance must be longer than the longest trained "
                              f"distance, {longest}; got {distance}")
        distances[distance] = task_holding(node, task, distance, key)
    length = max(at for _, at in distances.values())
    listed = [d for d in task.distances if d in set(plan.train)]
    positions = (instantiate_checked(node, seq_len=length), length, listed) if listed else None
    return Beyond(distances, positions)


def task_holding(node: DictConfig, task, distance: int, key: str) -> tuple[object, int]:
    """(the task at the shortest seq_len that can make ``distance``, plus EXTRAPOLATION_MARGIN; that length)."""
    for length in range(distance + 1, 2 * distance + 64):
        try:
            candidate = instantiate(node, seq_len=length, _convert_="all", _recursive_=False)
        except Exception:  # too short for the task's layout: try a longer one
            continue
        if candidate.producible(distance):
            length += EXTRAPOLATION_MARGIN
            return instantiate_checked(node, seq_len=length), length
    raise ConfigError(f"{key}: {task.name} cannot make distance {distance} at any sequence length up to "
                      f"{2 * distance + 63} ({task.distance_limits(distance)})")


def instantiate_checked(node: DictConfig, **supplied):
    """instantiate, with the component's own check (which names the setting and its limit) as a ConfigError."""
    try:
        return instantiate(node, **supplied, _convert_="all", _recursive_=False)  # shallow: plain keyword arguments
    except Exception as error:
        while error.__cause__ is not None:  # Hydra wraps constructor errors in InstantiationException
            error = error.__cause__
        raise ConfigError(str(error)) from None


def build_logger(cfg: DictConfig, run_dir: Path):
    """The optional external logger of the ``logger`` group (none, tensorboard, wandb), or None."""
    node = cfg.get("logger")
    if not node or node.get("_target_") is None:
        return None
    check_keys("logger", node, constructor_keys("logger", node) - {"run_dir", "run_name", "run_config"})
    return instantiate_checked(node, run_dir=str(run_dir), run_name=Path(run_dir).name,
                               run_config=OmegaConf.to_container(cfg, resolve=True))


def explain_composition_error(error: Exception, argv: list[str]) -> str:
    """One line for a Hydra composition error: the key, the value given, and what is allowed."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, option = error.missing_cfg_file.rpartition("/")
        allowed = ", ".join(o for o in error.options or [] if o != "schema") or f"the YAML files in conf/{group}/"
        return f"{group}={option!r}: no such {group}; allowed are {allowed}"
    if isinstance(error, OverrideParseException):
        return f"{error.override}: cannot parse ({str(error).splitlines()[0]}); see Hydra's override grammar"
    message = str(error)
    cause = error.__cause__
    key = getattr(cause, "full_key", None) or (message.split("'")[1] if message.startswith("Could not") else None)
    if key is None:
        return message.splitlines()[0]
    given = next((arg.split("=", 1)[1] for arg in argv if arg.lstrip("+~").split("=", 1)[0] == key), "?")
    parent, _, leaf = key.rpartition(".")
    if type(cause).__name__ == "ValidationError":  # the train schema refused a type
        field_type = type(getattr(cause, "object_type", None) or "")
        wanted = str(cause).splitlines()[0].rsplit("to ", 1)[-1] if "converted to" in str(cause) else field_type
        return f"{key}={given!r}: must be of type {wanted.lower()}"
    allowed = ", ".join(known_keys(parent, argv)) or "(see: python run.py --cfg job)"
    return f"{key}={given}: unknown key {leaf!r}; allowed are {allowed}"


def known_keys(parent: str, argv: list[str]) -> list[str]:
    """The keys under ``parent`` in the config the user selected (group choices from argv, nothing else)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    groups = {p.name for p in (REPO_ROOT / "conf").iterdir() if p.is_dir()}
    choices = [arg.split(",")[0] for arg in argv if "=" in arg and arg.split("=", 1)[0] in groups]  # a,b -> a
    try:
        with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=choices)
        node = OmegaConf.select(cfg, parent) if parent else cfg
        return sorted(str(k) for k in node.keys())
    except Exception:  # the explanation is best effort; the error itself is already reported
        return []
