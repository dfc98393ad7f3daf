"""NaN resets during training (issue #20's stability measure, on the policy's own actions): every
humanoid iteration logs ``nonfinite_resets``, the envs reset after a non-finite or exploding physics
state; this sums them over a run and divides by its env steps. Runs made since 2026-12-06 (session 43) also log
``launch_resets``, the part of them that the launch guard (task.max_root_up_speed) ended; older runs' rows
have None there.

    python benchmarks/report_nan_resets.py LABEL=RUN_DIR ... [--name nan_resets_training]

bench_humanoid_physics.py counts the same resets under uniformly random PD targets, a much harsher input;
this is the rate that training itself meets.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import labelled_runs, merge_rows, read_result_rows, write_result

from near.utils.logging import read_metrics


def nan_resets(run_dir: str) -> dict:
    """Resets and env steps over a run's per-iteration records (evaluation records carry no count)."""
    if not os.path.exists(os.path.join(run_dir, "metrics.jsonl")):
        raise SystemExit(f"{run_dir}: no metrics.jsonl (not a training run folder)")
    columns = read_metrics(run_dir)
    counts = np.asarray(columns.get("nonfinite_resets", []), np.float64)
    logged = np.isfinite(counts)  # NaN: a record without the count
    if not logged.any():
        raise SystemExit(f"{run_dir}: no iteration logs nonfinite_resets")
    resets = float(counts[logged].sum())
    steps = float(np.nanmax(np.asarray(columns["env_steps"], np.float64)[logged]))
    iterations = int(logged.sum())
    launch_counts = np.asarray(columns.get("launch_resets", [np.nan] * len(counts)), np.float64)[logged]
    launches = float(launch_counts.sum()) if np.isfinite(launch_counts).all() else None
    with open(os.path.join(run_dir, "config.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    return {"task": cfg["task"]["name"], "motion": os.path.basename(str(cfg.get("motion", ""))),
            "seed": cfg.get("seed"), "physics": cfg["task"].get("physics"), "iterations": iterations,
            "env_steps": steps, "nan_resets": resets, "nan_resets_per_million": resets / steps * 1e6,
            "launch_resets": launches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--name", default="nan_resets_training")
    parser.add_argument("--replace", action="store_true",
                        help="drop the rows already in the file (default: keep those with other labels)")
    args = parser.parse_args()
    rows = [{"label": label, **nan_resets(run_dir)} for label, run_dir in labelled_runs(args.runs)]
    print("| run | env steps (M) | NaN resets | per million steps | of them launches |\n|---|---:|---:|---:|---:|")
    for r in rows:
        launches = "not logged" if r["launch_resets"] is None else f"{r['launch_resets']:.0f}"
        print(f"| {r['label']} | {r['env_steps'] / 1e6:.1f} | {r['nan_resets']:.0f} | {r['nan_resets_per_million']:.2f} "
              f"| {launches} |")
    if not args.replace:
        rows = merge_rows(read_result_rows(args.name), rows)  # runs of several sessions add up
    print(write_result(args.name, "NaN resets during training (metrics.jsonl nonfinite_resets)", rows))


if __name__ == "__main__":
    main()
