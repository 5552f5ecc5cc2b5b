"""harness/loggers.py and the logger group: external loggers get every metric; a missing package is a clear error
before any compute."""

from __future__ import annotations

import sys
import types

import pytest
from support import TINY_TRAIN, compose_config, execute_tiny, run_script

from harness.config import ConfigError, build_logger


class FakeWriter:
    instances: list = []

    def __init__(self, log_dir):
        self.log_dir, self.scalars, self.closed = log_dir, [], False
        FakeWriter.instances.append(self)

    def add_text(self, name, text):
        pass

    def add_scalar(self, name, value, step):
        self.scalars.append((name, value, step))

    def close(self):
        self.closed = True


def test_tensorboard_logger_receives_loss_and_accuracy_per_distance(monkeypatch, outputs):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    execute_tiny(["logger=tensorboard", "task.seq_len=12", "task.distances=2"], outputs)
    [writer] = FakeWriter.instances[-1:]
    names = {name for name, _, _ in writer.scalars}
    assert {"loss", "lr", "val_accuracy/d=2"} <= names and writer.closed
    assert writer.log_dir == str(outputs / "run" / "tensorboard")
    assert sorted({step for _, _, step in writer.scalars}) == [2, 4]


def test_a_missing_logger_package_is_refused_before_any_compute(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(ConfigError, match=r"logger=wandb needs the wandb package: .* -m pip install wandb"):
        build_logger(compose_config(["logger=wandb"]), tmp_path)


def test_the_command_line_names_the_missing_package(tmp_path):
    (tmp_path / "wandb.py").write_text("raise ImportError('not installed here')\n")
    result = run_script(["run.py", *TINY_TRAIN, "logger=wandb", "task.seq_len=12", "task.distances=2",
                         f"out_root={tmp_path}"], extra_env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2
    assert "logger=wandb needs the wandb package" in result.stderr.strip().splitlines()[-1]
    assert not list(tmp_path.rglob("result.json"))


def test_the_default_logger_is_none_and_adds_nothing(tmp_path):
    assert build_logger(compose_config([]), tmp_path) is None
