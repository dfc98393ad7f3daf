"""Orbax checkpoints of a run: pytrees of arrays plus a JSON metadata record.

Layout: ``<run>/checkpoints/<step>/{model,train,meta}``. ``model`` holds what inference needs,
``train`` what resuming needs (optimiser, RNG, counters), ``meta`` says what the checkpoint is
(kind, task, shapes) so that loading the wrong one fails with a clear message.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import orbax.checkpoint as ocp


class _QuietReadOnly(logging.Filter):
    """Orbax warns on every read-only manager (which is how a checkpoint is loaded); say nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "read only" not in (msg := record.getMessage()) and "read_only" not in msg


logging.getLogger("absl").addFilter(_QuietReadOnly())


class CheckpointError(RuntimeError):
    pass


def checkpoint_dir(path: str) -> str:
    """Accept a run folder, its checkpoints/ folder or one step folder; return the manager folder."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    if os.path.isdir(os.path.join(path, "checkpoints")):
        return os.path.join(path, "checkpoints")
    if os.path.isdir(os.path.join(path, "meta")) and os.path.basename(path).isdigit():
        return os.path.dirname(path)
    return path


class Checkpointer:
    def __init__(self, directory: str, max_to_keep: int = 3):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=("model", "train", "meta"))

    def save(self, step: int, model: Any, train: Any, meta: dict) -> None:
        # Orbax writes to a temporary folder and renames it when complete: a killed save leaves
        # the previous checkpoint intact.
        self.manager.save(
            step,
            args=ocp.args.Composite(
                model=ocp.args.StandardSave(model), train=ocp.args.StandardSave(train), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )
        self.manager.wait_until_finished()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def close(self) -> None:
        self.manager.close()


def _manager_for(path: str) -> tuple[ocp.CheckpointManager, int]:
    directory = checkpoint_dir(path)
    step_hint = None
    base = os.path.basename(os.path.abspath(path))
    if base.isdigit() and os.path.isdir(os.path.join(path, "meta")):
        step_hint = int(base)
    options = ocp.CheckpointManagerOptions(create=False, read_only=True)
    manager = ocp.CheckpointManager(directory, options=options, item_names=("model", "train", "meta"))
    step = step_hint if step_hint is not None else manager.latest_step()
    if step is None:
        raise CheckpointError(f"no checkpoint found in {directory}")
    return manager, step


def load_meta(path: str) -> dict:
    manager, step = _manager_for(path)
    try:
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as exc:  # noqa: BLE001 - orbax raises many types; report one clear error
        raise CheckpointError(f"cannot read checkpoint metadata at {manager.directory}/{step}: {exc}") from exc
    return dict(meta, step=step)


def load(path: str, model_target: Any = None, train_target: Any = None, items: tuple[str, ...] = ("model", "meta")):
    """Restore the named items of the latest (or the given) checkpoint step."""
    manager, step = _manager_for(path)
    args = {}
    for item in items:
        if item == "meta":
            args[item] = ocp.args.JsonRestore()
        else:
            target = model_target if item == "model" else train_target
            args[item] = ocp.args.StandardRestore(target) if target is not None else ocp.args.StandardRestore()
    try:
        restored = manager.restore(step, args=ocp.args.Composite(**args))
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"cannot restore checkpoint {manager.directory}/{step}: {exc}") from exc
    out = {k: restored[k] for k in items}
    if "meta" in out:
        out["meta"] = dict(out["meta"], step=step)
    return out
