"""The run folder every command writes: its default path and the resolved config."""

from __future__ import annotations

import os
import time

from near.config import Config, to_yaml


def default_out(cfg: Config, command: str) -> str:
    return cfg.out or os.path.join("runs", f"{cfg.task.name}-{command}-{time.strftime('%Y%m%d-%H%M%S')}")


def beside_checkpoint(cfg: Config, subfolder: str = "") -> str:
    """Where eval, play and viz write: out=DIR when given, else the checkpoint's run folder (or ``subfolder``
    of it); made if missing."""
    out = os.path.expanduser(cfg.out) if cfg.out else os.path.join(
        os.path.abspath(os.path.expanduser(cfg.checkpoint)), subfolder)
    os.makedirs(out, exist_ok=True)
    return out


def write_config(run_dir: str, cfg: Config) -> None:
    """config.yaml, written whole or not at all (a kill mid-write must leave a folder that loads)."""
    path = os.path.join(run_dir, "config.yaml")
    with open(path + ".tmp", "w") as fh:
        fh.write(to_yaml(cfg))
    os.replace(path + ".tmp", path)
