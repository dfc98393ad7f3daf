"""When does a humanoid run take its gait? The periodic evaluations of each run (``eval/*`` records of its
metrics.jsonl, one every ``train.eval_every`` iterations), with its final 64-episode evaluation
(summary.json) as the last point: fall rate, speed, strides, cadence (the pelvis's bobbing, and the feet's
landings per second: the pelvis's strongest frequency can be a limp's once-per-stride sway, half the
steps), feet while down, height and pose reach against env steps. A table gives each run's gait at its first evaluation that stands (fall rate at
most --stand, the issue's 0.10) and at its end, so a gait settled before the policy stands (and so before an
early-exploration window of train.explore_env_steps ends) shows as such; --plot draws the curves, one panel
per measure, one line per run.

    python benchmarks/report_gait_over_training.py LABEL=RUN_DIR ... [--plot PNG] [--name gait_over_training]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import labelled_runs, merge_rows, read_result_rows, write_result

from near.utils.logging import read_metrics

GAIT_KEYS = ("fall_rate", "root_speed_ratio", "stride_length_ratio", "cadence_ratio", "landing_ratio", "foot_slide",
             "root_height_ratio", "pose_reach")
TITLES = {"fall_rate": "falls", "root_speed_ratio": "speed / clips'", "stride_length_ratio": "strides / clips'",
          "cadence_ratio": "cadence (pelvis) / clips'",
          "landing_ratio": "landings per s / clips'", "foot_slide": "feet while down, m/s",
          "root_height_ratio": "height / clips'", "pose_reach": "pose reach"}


def finite_or_none(value):
    """A measure as a float, or None where an evaluation has none (missing, NaN: no stride to measure)."""
    return None if value is None or not np.isfinite(value) else float(value)


def gait_point(get, keys=GAIT_KEYS) -> dict:
    """One evaluation's measures from ``get(key)`` (an ``eval/*`` record or summary.json): None where it has none,
    and ``landing_ratio``, the feet's cadence (the pelvis's can read a limp's stride for the step), derived."""
    point = {k: finite_or_none(get(k)) for k in (*keys, "landing_rate", "landing_rate_clips") if k != "landing_ratio"}
    rate, clips = point.pop("landing_rate"), point.pop("landing_rate_clips")
    point["landing_ratio"] = None if rate is None or not clips else rate / clips
    return {k: point[k] for k in keys}


def gait_series(run_dir: str, keys=GAIT_KEYS) -> dict:
    """{"env_steps": [...], KEY: [...]} over the run's evaluations, the final one (summary.json) last when it
    is later than the periodic ones; a key an evaluation lacks is None there."""
    columns = read_metrics(run_dir)
    steps = np.asarray(columns.get("env_steps", []), np.float64)
    falls = np.asarray(columns.get("eval/fall_rate", [np.nan] * len(steps)), np.float64)
    rows = np.flatnonzero(np.isfinite(falls) & np.isfinite(steps))
    if not rows.size:
        raise SystemExit(f"{run_dir}: no periodic evaluation in its metrics.jsonl (eval/fall_rate)")
    at_steps = [float(steps[i]) for i in rows]
    points = [gait_point(lambda k, i=i: columns.get(f"eval/{k}", [None] * len(steps))[i], keys) for i in rows]
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as fh:
            summary = json.load(fh)
        if float(summary.get("env_steps", 0)) > at_steps[-1] and "fall_rate" in summary:
            at_steps.append(float(summary["env_steps"]))
            points.append(gait_point(summary.get, keys))
    return {"env_steps": at_steps, **{k: [p[k] for p in points] for k in keys}}


def first_standing(series: dict, stand: float) -> int | None:
    """Index of the first evaluation whose fall rate is at most ``stand`` (None: it never stands)."""
    for i, falls in enumerate(series["fall_rate"]):
        if falls is not None and falls <= stand:
            return i
    return None


def gait_row(run_dir: str, stand: float = 0.10) -> dict:
    series = gait_series(run_dir)
    with open(os.path.join(run_dir, "config.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    i = first_standing(series, stand)

    def at(j):
        return {k: series[k][j] for k in series}

    return {"task": cfg["task"]["name"], "motion": os.path.basename(str(cfg.get("motion", ""))),
            "seed": cfg.get("seed"), "physics": (cfg["task"].get("physics") or {}).get("impl"),
            "explore_env_steps": (cfg.get("train") or {}).get("explore_env_steps", 0), "stand": stand,
            "stands_from_env_steps": None if i is None else series["env_steps"][i],
            "at_standing": None if i is None else at(i), "final": at(-1), "series": series}


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def gait_cell(point: dict | None) -> str:
    if point is None:
        return "never stands"
    return (f"{fmt(point['root_speed_ratio'])} / {fmt(point['stride_length_ratio'])} / "
            f"{fmt(point['cadence_ratio'])} ({fmt(point['landing_ratio'])}) / {fmt(point['foot_slide'])}")


def plot(rows: list[dict], path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in GAIT_KEYS if any(v is not None for r in rows for v in r["series"][k])]
    ncols = min(3, len(keys))
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.9 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for j, r in enumerate(rows):
            x = np.asarray(r["series"]["env_steps"]) / 1e6
            y = np.asarray([np.nan if v is None else v for v in r["series"][key]], np.float64)
            ax.plot(x, y, marker=".", linewidth=1.3, label=r["label"], color=f"C{j % 10}",
                    linestyle=("-", "--", ":")[j // 10 % 3])  # past ten runs the colours come round again
        if key.endswith("_ratio"):
            ax.axhline(1.0, color="0.5", linestyle="--", linewidth=0.8)
        ax.set_title(TITLES[key], fontsize=10)
        ax.set_xlabel("env steps (M)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if len(keys) < nrows * ncols:  # the legend in the first empty panel, clear of the curves
        axes.flat[len(keys)].legend(handles, labels, loc="upper left", fontsize=8)
    else:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(rows)), fontsize=8)
        fig.subplots_adjust(bottom=0.1 + 0.03 * (len(rows) // 4))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--stand", type=float, default=0.10, help="fall rate at which a run counts as standing")
    parser.add_argument("--plot", default=None, help="PNG of the curves")
    parser.add_argument("--name", default="gait_over_training")
    parser.add_argument("--replace", action="store_true",
                        help="drop the rows already in the file (default: keep those with other labels)")
    args = parser.parse_args()
    rows = [{"label": label, **gait_row(run_dir, args.stand)} for label, run_dir in labelled_runs(args.runs)]
    print("speed / strides / cadence of the pelvis (of the feet's landings), each against the clips' / feet while down "
          f"(m/s); stands: falls <= {args.stand}\n")
    print("| run | stands from (M) | gait then | end (M) | gait at the end |\n|---|---:|---|---:|---|")
    for r in rows:
        start = r["stands_from_env_steps"]
        print(f"| {r['label']} | {fmt(None if start is None else start / 1e6, '.1f')} | {gait_cell(r['at_standing'])} "
              f"| {r['final']['env_steps'] / 1e6:.1f} | {gait_cell(r['final'])} |")
    if args.plot:
        print(plot(rows, args.plot))
    if not args.replace:
        rows = merge_rows(read_result_rows(args.name), rows)  # runs of several sessions add up
    print(write_result(args.name, "the periodic evaluations' gait over training (metrics.jsonl eval/*)", rows))


if __name__ == "__main__":
    main()
