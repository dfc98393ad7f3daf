"""Run folders and metric logs: TensorBoard event files plus a metrics.jsonl that plots read."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, Mapping

import numpy as np


class RunFolderError(RuntimeError):
    pass


def prepare_run_dir(path: str, *, resume: bool = False) -> str:
    """Create a run folder; refuse to reuse one that holds a run unless resuming."""
    path = os.path.abspath(os.path.expanduser(path))
    has_run = os.path.isdir(os.path.join(path, "checkpoints")) or os.path.exists(os.path.join(path, "summary.json"))
    if has_run and not resume:
        raise RunFolderError(
            f"run folder {path} already holds a run; pass resume=True to continue it or choose another out=DIR"
        )
    if resume and not has_run:  # killed before its first checkpoint, or a job script that always resumes
        print(f"near: nothing to resume in {path} yet; starting the run from the beginning", file=sys.stderr)
    os.makedirs(path, exist_ok=True)
    return path


def _to_float(value: Any) -> float:
    value = float(np.asarray(value))
    return value if math.isfinite(value) else float("nan")


class MetricLogger:
    """Scalars to TensorBoard (``tb/``) and to ``metrics.jsonl`` (one JSON record per log step)."""

    def __init__(self, run_dir: str, *, tensorboard: bool = True):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, "metrics.jsonl")
        self.writer = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(os.path.join(run_dir, "tb"), flush_secs=10)
        self.start = time.time()

    def log(self, step: int, scalars: Mapping[str, Any]) -> dict:
        record = {"step": int(step), "wall_seconds": round(time.time() - self.start, 3)}
        record.update({k: _to_float(v) for k, v in scalars.items()})
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and not math.isnan(value):
                    self.writer.add_scalar(key, value, step)
        return record

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


def read_metrics(run_dir: str) -> dict[str, list[float]]:
    """metrics.jsonl as columns; keys missing from a record become NaN."""
    path = os.path.join(run_dir, "metrics.jsonl")
    records = []
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:  # a line cut short by a kill (dropped by truncate_metrics on resume)
                    continue
                if isinstance(record, dict):
                    records.append(record)
    keys = sorted({k for r in records for k in r})
    return {k: [r.get(k, float("nan")) for r in records] for k in keys}


def last_record(run_dir: str, key: str) -> dict:
    """The last complete record of metrics.jsonl that has ``key`` ({} if none): what a run resumed
    after its last logged step reports as its final metrics (NaN stays NaN, as logged)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    last: dict = {}
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and key in record:
                    last = record
    return last


def truncate_metrics(run_dir: str, after_step: int) -> None:
    """Drop records logged after a checkpoint, so a resumed run does not log them twice."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return
    keep = []
    with open(path) as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:  # the last line of a process killed while writing it
                continue
            if isinstance(record, dict) and record.get("step", math.inf) <= after_step:
                keep.append(line if line.endswith("\n") else line + "\n")
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.writelines(keep)
    os.replace(tmp, path)


def write_json(path: str, data: Mapping[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    os.replace(tmp, path)


class NonFiniteError(FloatingPointError):
    pass


class LineProgress:
    """What ``progress=False`` shows instead of the bar: one plain line every ``every_s`` seconds (for
    batch-job logs, where a bar is noise but silence hides a stuck job); nothing for shorter work.
    ``NEAR_PROGRESS_EVERY_S`` sets the interval (0: silent)."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self.tasks: dict[int, dict] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, description: str, total: int, completed: int = 0, info: str = "") -> int:
        now = time.time()
        self.tasks[len(self.tasks)] = {"description": description, "total": total, "first": completed,
                                       "completed": completed, "start": now, "printed": now}
        return len(self.tasks) - 1

    def update(self, task_id: int, completed: int | None = None, info: str = "") -> None:
        task = self.tasks[task_id]
        if completed is not None:
            task["completed"] = completed
        now = time.time()
        if self.every_s <= 0 or now - task["printed"] < self.every_s:
            return
        task["printed"] = now
        done, total, elapsed = task["completed"], task["total"], now - task["start"]
        rate = (done - task["first"]) / elapsed if elapsed > 0 else 0.0
        eta = f", about {(total - done) / rate / 60:.1f} min left" if rate > 0 else ""
        print(f"{task['description']}: {done}/{total} ({100 * done / max(total, 1):.0f} %) after "
              f"{elapsed / 60:.1f} min{eta}{'; ' + info if info else ''}", flush=True)


def progress_bar(description: str, total: int, *, disable: bool = False):
    """A rich progress bar; disabled, a :class:`LineProgress` (a plain line a minute)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if disable:
        return LineProgress(float(os.environ.get("NEAR_PROGRESS_EVERY_S", "60"))), description, total
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    ), description, total


def rolling_mean(values, window: int) -> np.ndarray:
    """NaN-aware trailing mean over ``window`` records (per-iteration episode stats are sparse)."""
    x = np.asarray(values, float)
    ok = np.isfinite(x)
    csum = np.cumsum(np.where(ok, x, 0.0))
    ccount = np.cumsum(ok)
    lo = np.maximum(np.arange(len(x)) - window, -1)
    total = csum - np.where(lo >= 0, csum[np.maximum(lo, 0)], 0.0)
    count = ccount - np.where(lo >= 0, ccount[np.maximum(lo, 0)], 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


SMOOTHED = ("success_rate", "episode_return", "episode_length", "style_reward", "energy", "combined_reward")


def smoothed_metrics(run_dir: str, window: int = 10) -> dict[str, list[float]]:
    """metrics.jsonl with the noisy per-iteration episode statistics smoothed for plotting."""
    history = read_metrics(run_dir)
    for key in SMOOTHED:
        if key in history:
            history[key] = rolling_mean(history[key], window).tolist()
    return history
