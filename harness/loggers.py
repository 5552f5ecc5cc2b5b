"""Optional external loggers, one class per YAML in conf/logger/ (metrics.jsonl is always written).

Each takes ``run_dir``, ``run_name`` and ``run_config`` (the resolved config) from the harness plus its YAML's
keys, and offers ``log(values)`` (a dict with ``step``, ``loss``, ``lr``, ``elapsed_s`` and, at evaluations,
``val_accuracy`` per distance) and ``close()``. Their packages are optional extras, imported only when chosen.
"""

from __future__ import annotations

from pathlib import Path


def _require(module: str, logger: str, extra: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ImportError(f"logger={logger} needs the {extra} package: .venv/bin/python -m pip install {extra} "
                          "(pinned in pyproject.toml's optional-dependencies), or choose logger=none") from None


def flat(values: dict) -> dict[str, float]:
    """{'loss': .., 'val_accuracy/d=8': ..}: one scalar per name."""
    scalars = {key: value for key, value in values.items() if key != "val_accuracy" and key != "step"}
    scalars.update({f"val_accuracy/d={d}": a for d, a in values.get("val_accuracy", {}).items()})
    return scalars


class TensorBoardLogger:
    def __init__(self, run_dir: str, run_name: str, run_config: dict):
        tensorboard = _require("torch.utils.tensorboard", "tensorboard", "tensorboard")
        self.writer = tensorboard.SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        self.writer.add_text("config", f"```\n{run_config}\n```")

    def log(self, values: dict) -> None:
        for name, value in flat(values).items():
            self.writer.add_scalar(name, value, values["step"])

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    def __init__(self, run_dir: str, run_name: str, run_config: dict, project: str = "context-window-bench",
                 mode: str = "offline"):
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(f"logger.mode={mode!r}: allowed are offline, online, disabled")
        wandb = _require("wandb", "wandb", "wandb")
        self.run = wandb.init(project=project, name=run_name, dir=run_dir, config=run_config, mode=mode, reinit=True)

    def log(self, values: dict) -> None:
        self.run.log(flat(values), step=values["step"])

    def close(self) -> None:
        self.run.finish()
