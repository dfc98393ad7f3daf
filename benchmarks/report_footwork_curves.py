"""Footwork over training: how each reward's periodic evaluations step, against the clips.

Reads the periodic evaluations (``eval/...`` records of metrics.jsonl) of humanoid runs on one motion
set and, where a run's periodic evaluations predate a metric, its final evaluation (eval/eval.json, or
the run's summary.json) as one point. Writes benchmarks/results/<name>.json and docs/<name>.png (one
panel per metric, env steps on x), and prints a Markdown table of each run's last evaluation.

    python benchmarks/report_footwork_curves.py "tracking=RUN" "AMP=RUN" "NEAR=RUN" ... \
        [--name humanoid_footwork_walk] [--title "walk set, seed 42"]
"""

from __future__ import annotations

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from _report import labelled_runs, write_result

# (metric, label, the clips' value key or None, the clips' value when it is a constant)
METRICS = (
    ("stride_length_ratio", "stride length / clips'", None, 1.0),
    ("landing_rate", "foot landings per s", "landing_rate_clips", None),
    ("foot_slide", "feet while down, m/s", "foot_slide_clips", None),
    ("fall_rate", "falls (tracking: strays)", None, None),
    ("joint_angle_distance", "joint-angle distance, rad", None, 0.0),
)


def _final(run_dir: str) -> dict:
    """The run's summary.json (env_steps, its last evaluation) overlaid by `near eval`'s eval/eval.json."""
    final: dict = {}
    for path in (os.path.join(run_dir, "summary.json"), os.path.join(run_dir, "eval", "eval.json")):
        if os.path.exists(path):
            with open(path) as fh:
                final.update(json.load(fh))
    return final


def read_curves(run_dir: str) -> dict:
    """{metric: [(env_steps, value), ...]} from the periodic evaluations, plus the final evaluation."""
    curves: dict[str, list] = {m: [] for m, *_ in METRICS}
    clips: dict[str, float] = {}
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        for line in fh:
            record = json.loads(line)
            steps = record.get("env_steps")
            for metric, _, clip_key, _ in METRICS:
                value = record.get(f"eval/{metric}")
                if steps is not None and value is not None:
                    curves[metric].append((float(steps), float(value)))
                if clip_key and record.get(f"eval/{clip_key}") is not None:
                    clips[metric] = float(record[f"eval/{clip_key}"])
    final = _final(run_dir)
    steps = final.get("env_steps")
    for metric, _, clip_key, _ in METRICS:
        if steps is not None and final.get(metric) is not None and (not curves[metric] or curves[metric][-1][0] < steps):
            curves[metric].append((float(steps), float(final[metric])))
        if clip_key and final.get(clip_key) is not None:
            clips.setdefault(metric, float(final[clip_key]))
    return {"run": run_dir, "curves": curves, "clips": clips}


def plot(runs: dict[str, dict], path: str, title: str) -> None:
    fig, grid = plt.subplots(2, 3, figsize=(13, 7))
    axes = grid.ravel()
    for ax, (metric, label, _, constant) in zip(axes, METRICS):
        for name, run in runs.items():
            points = run["curves"][metric]
            if points:
                xs, ys = zip(*points)
                ax.plot([x / 1e6 for x in xs], ys, marker="o", ms=3, label=name)
        clip = next((r["clips"][metric] for r in runs.values() if metric in r["clips"]), constant)
        if clip is not None:
            ax.axhline(clip, color="k", ls="--", lw=1, label="clips")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("env steps (M)")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[-1].axis("off")
    axes[-1].legend(handles, labels, loc="center", fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    parser.add_argument("--name", default="humanoid_footwork_walk")
    parser.add_argument("--title", default="walk set, seed 42")
    parser.add_argument("--device", default="", help="where the runs were trained (recorded in the JSON)")
    args = parser.parse_args()
    runs = {name: read_curves(run_dir) for name, run_dir in labelled_runs(args.runs)}
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    figure = os.path.join(repo, "docs", f"{args.name}.png")
    plot(runs, figure, args.title)
    path = write_result(args.name, "humanoid footwork over training", [{"device": args.device, "runs": runs}])
    print("| run | env steps (M) | " + " | ".join(label for _, label, *_ in METRICS) + " |")
    print("|---|---:|" + "---:|" * len(METRICS))
    for name, run in runs.items():
        last = {m: run["curves"][m][-1] for m, *_ in METRICS if run["curves"][m]}
        steps = max((p[0] for p in last.values()), default=0.0)
        cells = [f"{last[m][1]:.3f}" if m in last else "-" for m, *_ in METRICS]
        print(f"| {name} | {steps / 1e6:.1f} | " + " | ".join(cells) + " |")
    clips = {m: v for r in runs.values() for m, v in r["clips"].items()}
    print("| clips | | 1 | " + " | ".join(f"{clips[m]:.3f}" if m in clips else "-" for m, *_ in METRICS[1:]) + " |")
    print(f"\nwrote {path} and {figure}")


if __name__ == "__main__":
    main()
