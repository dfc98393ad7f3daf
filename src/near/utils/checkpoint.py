"""Orbax checkpoints of a run: pytrees of arrays plus a JSON metadata record.

Layout: ``<run>/checkpoints/<step>/{model,train,rollout,meta}``. ``model`` holds what inference
needs, ``train`` what learning goes on from (optimiser, RNG, counters), ``rollout`` (policy runs only)
the bulky state that a resumed run can also start afresh (environments, replay buffers), ``meta``
says what the checkpoint is (kind, task, shapes) so that loading the wrong one fails with a clear
message.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

import jax
import numpy as np
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


ITEMS = ("model", "train", "rollout", "meta")
_TRASH = "deleted"  # old steps are renamed here (atomic), then removed: a kill mid-removal leaves no half step


class Checkpointer:
    def __init__(self, directory: str, max_to_keep: int = 3):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False,
                                               todelete_subdir=_TRASH)
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)

    def save(self, step: int, model: Any, train: Any, meta: dict, rollout: Any = None) -> None:
        """Write one step. Orbax writes to a temporary folder and renames it when complete, so a
        killed save leaves the previous checkpoint intact; a failed one (a full disk) raises
        CheckpointError and leaves it intact too."""
        try:
            items = {"model": ocp.args.StandardSave(model), "train": ocp.args.StandardSave(train),
                     "meta": ocp.args.JsonSave(meta)}
            if rollout is not None:
                items["rollout"] = ocp.args.StandardSave(rollout)
            self.manager.save(step, args=ocp.args.Composite(**items), force=True)
            self.manager.wait_until_finished()
        except Exception as exc:  # noqa: BLE001 - orbax and tensorstore raise OSError, ValueError, ...
            self._discard_partial(step)
            latest = self.latest_step()
            raise CheckpointError(
                f"cannot write checkpoint {step} to {self.directory}: {_brief(exc)}; "
                + (f"the previous checkpoint ({latest}) is intact" if latest is not None else "no earlier checkpoint exists")
            ) from exc
        shutil.rmtree(os.path.join(self.directory, _TRASH), ignore_errors=True)

    def _discard_partial(self, step: int) -> None:
        """Remove what a failed save left (its temporary folder), so that it is not mistaken for a step.
        Orbax writes the items in threads: the others may still be writing when one has failed."""
        import time

        try:
            self.manager.wait_until_finished()
        except Exception:  # noqa: BLE001 - the same failure again
            pass
        for _ in range(50):
            left = [n for n in os.listdir(self.directory) if n.startswith(f"{step}.") and "tmp" in n]
            for name in left:
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
            if not left:
                break
            time.sleep(0.1)
        try:
            self.manager.reload()
        except Exception:  # noqa: BLE001 - best effort: the error being reported matters more
            pass

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
    try:
        handlers = {item: ocp.StandardCheckpointHandler() for item in ITEMS if item != "meta"}
        manager = ocp.CheckpointManager(directory, options=options, item_names=ITEMS,
                                        item_handlers=dict(handlers, meta=ocp.JsonCheckpointHandler()))
        step = step_hint if step_hint is not None else manager.latest_step()
    except Exception as exc:  # noqa: BLE001 - a folder orbax cannot list (a file, unreadable step names)
        raise CheckpointError(f"cannot read checkpoints in {directory}: {_brief(exc)}") from None
    if step is None:
        raise CheckpointError(f"no checkpoint found in {directory}")
    return manager, step


def _brief(exc: BaseException) -> str:
    """The first line of an orbax/tensorstore error, bounded (they quote whole tensorstore specs)."""
    text = (str(exc).strip().splitlines() or [""])[0]
    text = text.split(" [tensorstore_spec", 1)[0]
    return f"{type(exc).__name__}: {text[:400]}"


def load_meta(path: str) -> dict:
    manager, step = _manager_for(path)
    try:
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as exc:  # noqa: BLE001 - orbax raises many types; report one clear error
        raise CheckpointError(f"cannot read checkpoint metadata at {manager.directory}/{step}: {_brief(exc)}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint metadata at {manager.directory}/{step} is a {type(meta).__name__}, "
                              "not a record (corrupt or not written by near)")
    return dict(meta, step=step)


def _key(path) -> str:
    return ".".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def _shapes(tree) -> dict[str, tuple]:
    return {_key(p): tuple(getattr(leaf, "shape", ())) for p, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _check_target(manager, step: int, item: str, target: Any) -> None:
    """Compare the arrays a run's config asks for with those stored, before anything is allocated:
    a checkpoint whose metadata was edited (or belongs to another config) gets a clear error, not
    a multi-gigabyte allocation or a shape error deep inside orbax. ``target`` may be abstract
    (``jax.eval_shape``): nothing is allocated here."""
    where = f"checkpoint {manager.directory}/{step}"
    try:
        stored = _shapes(manager.item_metadata(step)[item])
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"cannot read the array metadata of {where} ({item}): {_brief(exc)}") from None
    wanted = _shapes(target)
    for key, shape in wanted.items():
        if key not in stored:
            raise CheckpointError(f"{where} has no array '{item}.{key}' (missing or written by another version/config)")
        if stored[key] != shape:
            raise CheckpointError(f"{where}: '{item}.{key}' is stored with shape {stored[key]}, but the run's "
                                  f"config makes {shape} (wrong or edited checkpoint metadata)")
    nbytes = sum(int(np.prod(s, dtype=np.float64)) * 8 for s in wanted.values())
    on_disk = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(os.path.join(manager.directory, str(step)))
                  for f in fs)
    if nbytes > 64 * on_disk + (64 << 20):  # fill values could stand in for missing data: refuse, like demo stores
        raise CheckpointError(f"{where}: its arrays declare {nbytes:,} bytes but {on_disk:,} are stored (corrupt metadata)")


def _on_this_machine(target: Any) -> Any:
    """Abstract leaves placed on this machine's default device: without a sharding orbax would use the
    one stored with the checkpoint, and a checkpoint written on a GPU would not restore on a CPU
    ("topology mismatch")."""
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])

    def place(leaf):
        if isinstance(leaf, jax.ShapeDtypeStruct) and leaf.sharding is None:
            return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device)
        return leaf

    return jax.tree.map(place, target)


def stored_items(path: str) -> set[str]:
    """The items the latest (or the given) checkpoint step holds: a run folder brought back without
    its ``rollout`` (or ``train``) has fewer."""
    manager, step = _manager_for(path)
    return {item for item in ITEMS if os.path.isdir(os.path.join(manager.directory, str(step), item))}


def stored_arrays(path: str, item: str) -> set[str]:
    """The dotted names of the arrays one item of the latest (or the given) checkpoint step holds."""
    manager, step = _manager_for(path)
    try:
        return set(_shapes(manager.item_metadata(step)[item]))
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"cannot read the array metadata of checkpoint {manager.directory}/{step} "
                              f"({item}): {_brief(exc)}") from None


def load(path: str, model_target: Any = None, train_target: Any = None, items: tuple[str, ...] = ("model", "meta"),
         rollout_target: Any = None):
    """Restore the named items of the latest (or the given) checkpoint step.

    Targets may be concrete pytrees or abstract ones (``jax.eval_shape``); their shapes are checked
    against the stored arrays first."""
    manager, step = _manager_for(path)
    args = {}
    for item in items:
        if item == "meta":
            args[item] = ocp.args.JsonRestore()
        else:
            target = {"model": model_target, "train": train_target, "rollout": rollout_target}[item]
            if target is not None:
                _check_target(manager, step, item, target)
                target = _on_this_machine(target)
            args[item] = ocp.args.StandardRestore(target) if target is not None else ocp.args.StandardRestore()
    try:
        restored = manager.restore(step, args=ocp.args.Composite(**args))
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"cannot restore checkpoint {manager.directory}/{step}: {_brief(exc)}") from None
    out = {k: restored[k] for k in items}
    if "meta" in out:
        if not isinstance(out["meta"], dict):
            raise CheckpointError(f"checkpoint metadata at {manager.directory}/{step} is not a record (corrupt)")
        out["meta"] = dict(out["meta"], step=step)
    if "model" in out:  # weights are written only after training's finiteness check: NaN here is corruption
        bad = [k for k, v in _flat_arrays(out["model"]).items() if not np.all(np.isfinite(v))]
        if bad:
            raise CheckpointError(f"checkpoint {manager.directory}/{step} holds non-finite values in "
                                  f"'model.{bad[0]}' ({len(bad)} arrays): corrupt")
    return out


def _flat_arrays(tree) -> dict[str, np.ndarray]:
    out = {}
    for p, leaf in jax.tree_util.tree_leaves_with_path(tree):
        a = np.asarray(leaf)
        if a.dtype.kind == "f":
            out[_key(p)] = a
    return out
