"""Fixtures shared by the tests (never imported from: the helpers they wrap live in tests/support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support import TINY_TRAIN, execute_tiny, run_script

torch.set_num_threads(1)  # tests run one process at a time on a small machine; keep it predictable


@pytest.fixture(autouse=True)
def _close_figures():
    """A test that draws a figure without saving it (analysis.plots.save closes what it saves) leaves it open."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture
def outputs(tmp_path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture
def tiny_run():
    """``execute_tiny``: tiny_run(overrides, out_root, model_name, task_name) -> the run's Record."""
    return execute_tiny


@pytest.fixture
def script():
    """``run_script``: script(args) runs a repository script in a fresh interpreter, one thread, output captured."""
    return run_script


@pytest.fixture
def tiny_train() -> list[str]:
    """The tiny training overrides (TINY_TRAIN), as a fresh list."""
    return list(TINY_TRAIN)


@pytest.fixture
def synthetic_sweep(tmp_path) -> Path:
    """A directory of synthetic new-schema records (tests/synthetic_runs.py write_small_sweep, two seeds)."""
    from synthetic_runs import write_small_sweep

    write_small_sweep(tmp_path / "sweep")
    return tmp_path / "sweep"


HOST_SYNCS = ["item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"]


@pytest.fixture
def sync_counter(monkeypatch):
    """Counts of every Python-level call that copies a tensor's value to the host (by method), from now on."""
    counts = {name: 0 for name in HOST_SYNCS}
    for name in HOST_SYNCS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    return counts
