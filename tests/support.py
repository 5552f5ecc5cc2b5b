"""Helpers the tests share: compose configs the way run.py does, run the real scripts with tiny settings.

A plain module, imported by tests (``from support import ...``); tests/conftest.py holds only fixtures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

import harness.config  # noqa: F401  registers the run_hash and repo_root resolvers and the train schema
from run import execute

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
TASK_CONFIGS = sorted(p.stem for p in (CONF / "task").glob("*.yaml"))
MODEL_CONFIGS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))

# Small enough for a quick test, large enough to mean something.
TINY_TRAIN = ["train=quick", "train.rungs=[2,4]", "train.eval_every=2", "train.log_every=2", "train.eval_sequences=8",
              "train.val_sequences=8", "train.warmup_steps=1", "threads=1"]

def compose_config(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def run_script(args: list[str], cwd: Path = REPO, timeout: int = 300, extra_env: dict | None = None
               ) -> subprocess.CompletedProcess:
    """Run a repository script in a fresh interpreter, one torch thread, output captured."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0",
           **(extra_env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)



def execute_tiny(overrides: list[str], out_root: Path, model_name="model", task_name="task"):
    """One tiny real run in out_root/run; returns its Record."""
    cfg = compose_config([*TINY_TRAIN, f"out_root={out_root}", *overrides])
    return execute(cfg, out_root / "run", model_name, task_name, multirun=True).record


FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def example_files(page: Path) -> dict[str, str]:
    """{path: text} for a docs page's python and yaml blocks (its bash blocks are commands); each names its file
    on its first line."""
    blocks = {}
    for language, text in FENCE.findall(page.read_text()):
        if language in ("python", "yaml"):
            first_line = text.splitlines()[0]
            assert first_line.startswith("# "), f"a {language} block must name its file on its first line"
            blocks[first_line[2:].strip()] = text
    return blocks


def scratch_repository(root: Path, page: Path, kind: str) -> str:
    """A copy of the repository's source at ``root`` (no .git, .venv or outputs) plus the page's two files, one
    under ``kind``/ (tasks, models) and one under conf/; returns the new component's name."""
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".git", ".venv", "outputs", "multirun", "__pycache__",
                                                               "*.pyc", ".pytest_cache", ".ruff_cache"))
    blocks = example_files(page)
    [yaml_file] = [path for path in blocks if path.startswith("conf/") and path.endswith(".yaml")]
    assert [path for path in blocks if path.startswith(f"{kind}/") and path.endswith(".py")]
    assert len(blocks) == 2, f"the example is exactly two files, got {sorted(blocks)}"
    for path, text in blocks.items():
        assert not (REPO / path).exists(), f"{path} already exists in the repository: pick a new name for the example"
        (root / path).write_text(text)
    return Path(yaml_file).stem


def contract_passes(root: Path, test_file: str, selection: str) -> None:
    """The contract tests of ``test_file`` selected by ``selection`` pass in the scratch repository at ``root``."""
    result = run_script(["-m", "pytest", "-q", test_file, "-k", selection], cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr  # 0 also means some tests were selected
    assert re.search(r"\d+ passed", result.stdout) and "failed" not in result.stdout
