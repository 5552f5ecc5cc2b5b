"""Every benchmark builds what it times from conf/, as run.py would, so a benchmark times the configured models."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from harness.config import REPO_ROOT, Built, build


def composed(overrides: list[str], hydra: bool = False) -> DictConfig:
    """conf/config.yaml under ``overrides``; with ``hydra``, the hydra node too (a sweep's params live there)."""
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=hydra)


def built(overrides: list[str]) -> Built:
    """Task, model, train settings and plan, checked by harness.config.build."""
    return build(composed(overrides))
