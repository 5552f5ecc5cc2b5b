"""Train one model on one task, measure accuracy per dependency distance, write result.json.

    python run.py                                   # one run, conf/config.yaml's defaults
    python run.py model=gru task.distances=16       # any key can be overridden
    python run.py -m experiment=quick               # the demo sweep (attention, gru, lstm x n-back d=2..64)

Each run lands in a directory named after its model, task and a hash of its config, so the same command
always lands in the same place. A run whose result.json is complete for the same config and the same code is
skipped on the next invocation (``+force=true`` reruns it). This file is the Hydra entry point only: the
checks live in harness/config.py, the loop in harness/train.py, the record in harness/record.py.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness.config import REPO_ROOT, ConfigError
from harness.record import Record
from harness.train import execute

log = logging.getLogger("run")


# An absolute path to conf/, so the entry point also works when called as run.main from the importable module,
# which is what launchers pickle (see the end of this file).
@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    choices, run_dir = hydra_cfg.runtime.choices, Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        record, reused, locked = execute(cfg, run_dir, choices.get("model"), choices.get("task"), multirun)
    except ConfigError as error:
        discard_if_empty(run_dir)
        print(f"config error: {error}", file=sys.stderr)  # the last line names the key, value and what is allowed
        raise SystemExit(2) from None
    if locked:
        print(f"skip: {locked}", flush=True)
        return float("nan")
    if multirun and not reused:
        print(progress_line(record, Path(hydra_cfg.sweep.dir)), flush=True)
    elif record.complete and not reused:
        log.info(f"done: {record.run_dir}/result.json  mean accuracy {record.mean_accuracy():.3f}")
    return record.mean_accuracy()


def discard_if_empty(run_dir: Path) -> None:
    """Remove the directory Hydra made for a config that was refused, if it holds only Hydra's own files."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "run.log"}:
        shutil.rmtree(run_dir, ignore_errors=True)


def progress_line(record: Record, sweep_dir: Path) -> str:
    """`[k/N] model=... task=... d=... seed=... acc=... in 12.3 s`; k counts jobs finished so far in this sweep,
    across parallel processes, through a counter file the sweeper resets (a lock makes increments atomic)."""
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
    distances = record.train_distances
    shown = str(distances[0]) if len(distances) == 1 else f"{distances[0]}..{distances[-1]}"
    outcome = (f"acc={record.mean_accuracy():.3f} ({record.stop_reason} at step {record.steps})" if record.complete
               else f"FAILED ({record.reason})")
    return (f"[{position}] model={record.model} task={record.task} d={shown} seed={record.seed} lr={record.lr:g} "
            f"{outcome} in {record.wall_time_s or 0.0:.1f} s")


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


def cli() -> None:
    """Hydra's entry point, with composition errors (unknown group, unknown key, wrong type, bad syntax)
    reported by a last line that names the key and what is allowed."""
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
