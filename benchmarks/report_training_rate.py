"""Training throughput of finished runs, from their own logs: env steps per second while training,
the periodic evaluations, start-up and checkpoints left out.

    python benchmarks/report_training_rate.py "walk TF32=runs/device/walk_tf32" "crane float32=runs/device/crane_af" \\
        [--name training_rate_h100] [--device "one NVIDIA H100, DATE"]

Between two periodic evaluations a run logs one record per PPO iteration; the rate of a window is
(env steps of its last record - its first) / (wall seconds between them). The table gives the median
window and their spread; comparing runs is fair only within one machine (one lease).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import labelled_runs, write_result

from near.utils.logging import read_metrics

MIN_WINDOW_S = 1.0  # seconds: a shorter stretch of records is one chunk's, logged at once


def training_windows(run_dir: str) -> list[float]:
    """Env steps/s of each stretch of training records between two evaluations (>= 2 records each)."""
    columns = read_metrics(run_dir)
    steps, wall = columns.get("env_steps", []), columns.get("wall_seconds", [])
    evals = [any(not math.isnan(v[i]) for k, v in columns.items() if k.startswith("eval/")) for i in range(len(steps))]
    windows, stretch = [], []
    for i in range(len(steps) + 1):
        if i == len(steps) or evals[i]:
            # a chunk's records are logged together when it returns: a stretch inside one chunk (a call's cut
            # at its deadline) spans milliseconds of wall time and no training, so it gives no rate
            if len(stretch) >= 2 and wall[stretch[-1]] - wall[stretch[0]] >= MIN_WINDOW_S:
                windows.append((steps[stretch[-1]] - steps[stretch[0]]) / (wall[stretch[-1]] - wall[stretch[0]]))
            stretch = []
        elif not (math.isnan(steps[i]) or math.isnan(wall[i])):
            stretch.append(i)
    if not windows:
        raise SystemExit(f"{run_dir}/metrics.jsonl: no stretch of training records between evaluations")
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--name", default="training_rate")
    parser.add_argument("--device", default="", help="where the runs trained")
    args = parser.parse_args()
    rows = []
    for label, run_dir in labelled_runs(args.runs):
        windows = training_windows(run_dir)
        with open(os.path.join(run_dir, "config.yaml")) as f:
            num_envs = (yaml.safe_load(f).get("train") or {}).get("num_envs")
        rows.append({"run": label, "run_dir": run_dir, "num_envs": num_envs, "windows": len(windows),
                     "env_steps_per_s_median": statistics.median(windows), "env_steps_per_s_min": min(windows),
                     "env_steps_per_s_max": max(windows), "device": args.device})
    print("| run | envs | windows | env steps/s (median) | min | max |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['num_envs']} | {r['windows']} | {r['env_steps_per_s_median']:,.0f} | "
              f"{r['env_steps_per_s_min']:,.0f} | {r['env_steps_per_s_max']:,.0f} |")
    if len(rows) > 1:
        base = rows[-1]["env_steps_per_s_median"]
        for r in rows[:-1]:
            print(f"{r['run']} / {rows[-1]['run']}: {r['env_steps_per_s_median'] / base:.2f}")
    print(write_result(args.name, "training throughput from run logs", rows))


if __name__ == "__main__":
    main()
