"""Summarise humanoid training runs (NEAR, AMP, ...) made on the GPU: learning curves (episode length,
task return, style reward against env steps), steady-state throughput and the final evaluation.

    python benchmarks/report_humanoid_walk.py NAME=RUN_DIR [NAME=RUN_DIR ...] [--name humanoid_walk_h100]

Writes benchmarks/results/<name>.json and docs/<name>_curves.png, prints a table.
"""

from __future__ import annotations

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from _report import write_result

KEYS = ("episode_length", "episode_return", "style_reward")
FINAL = ("env_steps", "wall_seconds", "episode_length", "task_return", "pose_error", "sparc", "root_velocity",
         "fall_rate", "sigma_level_last", "eval_episodes")


def load_run(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        rows = [json.loads(line) for line in fh]
    with open(os.path.join(run_dir, "summary.json")) as fh:
        summary = json.load(fh)
    skip = min(20, len(rows) // 3)  # past compilation and the first chunks
    a, b = rows[skip], rows[-1]
    rate = (b["env_steps"] - a["env_steps"]) / max(b["wall_seconds"] - a["wall_seconds"], 1e-9)
    return {"run_dir": run_dir, "steady_env_steps_per_s": rate, "first_log_wall_s": rows[0]["wall_seconds"],
            "final": {k: summary.get(k) for k in FINAL},
            "curves": {k: [[r["env_steps"], r[k]] for r in rows if k in r] for k in KEYS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    parser.add_argument("--name", default="humanoid_walk_h100")
    args = parser.parse_args()
    runs = {spec.split("=", 1)[0]: load_run(spec.split("=", 1)[1]) for spec in args.runs}
    fig, axes = plt.subplots(1, len(KEYS), figsize=(4.2 * len(KEYS), 3.2))
    for name, run in runs.items():
        for ax, key in zip(axes, KEYS):
            data = np.asarray(run["curves"][key], float)
            if len(data):
                smooth = np.convolve(data[:, 1], np.ones(10) / 10, mode="valid")
                ax.plot(data[9:, 0] / 1e6, smooth, label=name)
    for ax, key in zip(axes, KEYS):
        ax.set_xlabel("env steps (M)")
        ax.set_title(key.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    png = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", f"{args.name}_curves.png")
    fig.savefig(png, dpi=110)
    rows = [{"method": name, **{k: v for k, v in run.items() if k != "curves"}, "curves": run["curves"]}
            for name, run in runs.items()]
    path = write_result(args.name, "humanoid imitation runs: learning curves, throughput, final evaluation", rows)
    print(f"{'method':>6} {'env steps':>10} {'steady steps/s':>15} {'ep len (eval)':>14} {'pose err':>9} {'SPARC':>7}")
    for name, run in runs.items():
        f = run["final"]
        print(f"{name:>6} {f['env_steps']:>10,} {run['steady_env_steps_per_s']:>15,.0f} {f['episode_length']:>14.1f} "
              f"{f['pose_error']:>9.3f} {f['sparc']:>7.2f}")
    print("wrote", path, "and", os.path.normpath(png))


if __name__ == "__main__":
    main()
