"""Summarise humanoid training runs made on the GPU (NEAR, AMP, ... over seeds): learning curves of
the periodic evaluation (``train.eval_every``) and of training, steady throughput, the final
evaluation beside the expert's reference values, and the time to a policy that no longer falls.

    python benchmarks/report_humanoid_walk.py NEAR/42=RUN_DIR AMP/42=RUN_DIR NEAR/700=RUN_DIR ... \
        [--name humanoid_walk_h100] [--motion walk] [--setup NEAR=77 AMP=16]

A name is METHOD or METHOD/SEED. ``--setup METHOD=S`` (or METHOD/SEED=S) adds S seconds from launch to the start of
policy training (energy-model training and start-up) to the time-to-walk figures. Writes
benchmarks/results/<name>.json and docs/<name>_curves.png, prints a Markdown table.
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

from near.eval.metrics import EXPERT_VALUES  # the original plotter's expert SPARC and root motion

TRAIN_KEYS = ("episode_length", "style_reward")
EVAL_KEYS = ("eval/episode_length", "eval/fall_rate", "eval/pose_error")
FINAL = ("env_steps", "wall_seconds", "episode_length", "success_rate", "fall_rate", "pose_error", "sparc",
         "root_velocity", "root_acceleration", "root_jerk", "task_return", "sigma_level_last", "eval_episodes")
FALL_THRESHOLDS = (0.5, 0.1)  # time to the first evaluation with at most this fraction of falls


def load_run(run_dir: str, setup_s: float) -> dict:
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        rows = [json.loads(line) for line in fh]
    with open(os.path.join(run_dir, "summary.json")) as fh:
        summary = json.load(fh)
    train = [r for r in rows if "episode_length" in r]
    evals = [r for r in rows if "eval/fall_rate" in r]
    skip = min(20, len(train) // 3)  # past compilation and the first chunks
    a, b = train[skip], train[-1]
    rate = (b["env_steps"] - a["env_steps"]) / max(b["wall_seconds"] - a["wall_seconds"], 1e-9)
    to_walk = {}
    # the periodic evaluations, then the final one (a run stopped by its time limit ends between two)
    points = evals + [{"env_steps": summary["env_steps"], "wall_seconds": summary["wall_seconds"],
                       "eval/fall_rate": summary["fall_rate"], "final": True}]
    for threshold in FALL_THRESHOLDS:
        hit = next((r for r in points if r["eval/fall_rate"] <= threshold), None)
        to_walk[f"fall_rate<={threshold}"] = None if hit is None else {
            "env_steps": hit["env_steps"], "training_s": hit["wall_seconds"],
            "from_launch_s": round(hit["wall_seconds"] + setup_s, 1), "final_evaluation": hit.get("final", False)}
    return {"run_dir": run_dir, "steady_env_steps_per_s": rate, "first_log_wall_s": train[0]["wall_seconds"],
            "setup_s": setup_s, "final": {k: summary.get(k) for k in FINAL}, "time_to_walk": to_walk,
            "curves": {**{k: [[r["env_steps"], r[k]] for r in train if k in r] for k in TRAIN_KEYS},
                       **{k: [[r["env_steps"], r[k]] for r in evals] for k in EVAL_KEYS}}}


def mean_std(values) -> tuple[float, float] | None:
    values = [v for v in values if v is not None]
    return (float(np.mean(values)), float(np.std(values))) if values else None


def aggregate(runs: dict[str, dict]) -> dict[str, dict]:
    methods: dict[str, list[dict]] = {}
    for name, run in runs.items():
        methods.setdefault(name.split("/")[0], []).append(run)
    out = {}
    for method, group in methods.items():
        agg = {"seeds": len(group), "steady_env_steps_per_s": mean_std([r["steady_env_steps_per_s"] for r in group])}
        for key in FINAL:
            if all(isinstance(r["final"].get(key), (int, float)) for r in group):
                agg[key] = mean_std([r["final"][key] for r in group])
        for threshold in FALL_THRESHOLDS:
            hits = [r["time_to_walk"][f"fall_rate<={threshold}"] for r in group]
            agg[f"reached_fall_rate<={threshold}"] = sum(h is not None for h in hits)
            agg[f"from_launch_s_fall_rate<={threshold}"] = mean_std([h["from_launch_s"] for h in hits if h])
            agg[f"env_steps_fall_rate<={threshold}"] = mean_std([h["env_steps"] for h in hits if h])
        out[method] = agg
    return out


def eval_by_step(runs: dict[str, dict]) -> dict:
    """Per method, each periodic evaluation's metrics over the runs that reached it: {method: {steps: {key: [..]}}}."""
    out: dict = {}
    for name, run in runs.items():
        for key in EVAL_KEYS:
            for steps, value in run["curves"][key]:
                cell = out.setdefault(name.split("/")[0], {}).setdefault(int(steps), {k: [] for k in EVAL_KEYS})
                cell[key].append(value)
    return {m: dict(sorted(d.items())) for m, d in out.items()}


def at_common_budget(by_step: dict, methods: dict[str, dict]) -> dict:
    """Evaluation metrics of every method at the largest env-step count that every run evaluated."""
    if set(by_step) != set(methods):  # a method without periodic evaluations
        return {}
    steps = [s for s in set.intersection(*(set(d) for d in by_step.values()))
             if all(len(by_step[m][s][EVAL_KEYS[0]]) == methods[m]["seeds"] for m in by_step)]
    if not steps:
        return {}
    budget = max(steps)
    return {"env_steps": budget, "methods": {m: {k: mean_std(v) for k, v in d[budget].items()} for m, d in by_step.items()}}


def plot(runs: dict[str, dict], path: str, title: str) -> None:
    keys = EVAL_KEYS + TRAIN_KEYS[:1]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.3))
    colours = {}
    for name, run in runs.items():
        method = name.split("/")[0]
        colour = colours.setdefault(method, f"C{len(colours)}")
        for ax, key in zip(axes, keys):
            data = np.asarray(run["curves"][key], float)
            if not len(data):
                continue
            if key in TRAIN_KEYS and len(data) > 10:
                data = np.column_stack([data[9:, 0], np.convolve(data[:, 1], np.ones(10) / 10, mode="valid")])
            label = method if ax is axes[0] and name == next(n for n in runs if n.split("/")[0] == method) else None
            ax.plot(data[:, 0] / 1e6, data[:, 1], color=colour, alpha=0.8, lw=1.3, label=label,
                    marker="o" if key in EVAL_KEYS else None, ms=2.5)
    titles = {"eval/episode_length": "evaluation episode length (of 299)", "eval/fall_rate": "evaluation fall rate",
              "eval/pose_error": "evaluation pose error (DTW / joint, m)", "episode_length": "training episode length"}
    for ax, key in zip(axes, keys):
        ax.set_xlabel("env steps (M)")
        ax.set_title(titles.get(key, key), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt(ms, digits=2) -> str:
    if ms is None:
        return ""
    mean, std = ms
    return f"{mean:,.{digits}f} ± {std:,.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="METHOD[/SEED]=RUN_DIR")
    parser.add_argument("--name", default="humanoid_walk_h100")
    parser.add_argument("--motion", default="walk", help="the motion whose expert values go in the table")
    parser.add_argument("--setup", nargs="*", default=[], help="METHOD[/SEED]=SECONDS from launch to policy training")
    parser.add_argument("--device", default="NVIDIA H100 80GB HBM3, one GPU of an nvidia-h100-x2 machine per run, JAX 0.11.2",
                        help="where the runs ran (this script's own machine is recorded too)")
    parser.add_argument("--title", default="humanoid walk set, one H100 per run, 4,096 envs")
    args = parser.parse_args()
    setup = {k: float(v) for k, v in (s.split("=", 1) for s in args.setup)}
    runs = {}
    for spec in args.runs:
        name, run_dir = spec.split("=", 1)
        runs[name] = load_run(run_dir, setup.get(name, setup.get(name.split("/")[0], 0.0)))
    methods = aggregate(runs)
    by_step = eval_by_step(runs)
    common = at_common_budget(by_step, methods)
    png = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", f"{args.name}_curves.png")
    plot(runs, png, args.title)
    expert = EXPERT_VALUES.get(args.motion, {})
    rows = [{"name": name, **{k: v for k, v in run.items()}} for name, run in runs.items()]
    path = write_result(args.name, "humanoid imitation runs over seeds: evaluation and training curves, throughput, "
                        "final evaluation, time to walk", {"runs_device": args.device, "runs": rows,
                                                           "methods": methods, "at_common_budget": common,
                                                           "eval_by_step": by_step,
                                                           "expert": {args.motion: expert}})
    print("| method | seeds | env steps (M) | eval episode length | fall rate | pose error | SPARC | root velocity "
          "| root acceleration | root jerk | training env steps/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for method, agg in methods.items():
        steps = agg["env_steps"]
        print(f"| {method} | {agg['seeds']} | {fmt((steps[0] / 1e6, steps[1] / 1e6), 1)} | {fmt(agg.get('episode_length'), 0)} "
              f"| {fmt(agg.get('fall_rate'))} | {fmt(agg.get('pose_error'), 3)} | {fmt(agg.get('sparc'))} "
              f"| {fmt(agg.get('root_velocity'))} | {fmt(agg.get('root_acceleration'))} | {fmt(agg.get('root_jerk'), 0)} "
              f"| {fmt(agg['steady_env_steps_per_s'], 0)} |")
    if expert:
        print(f"| expert ({args.motion}) | | | | | | {expert['sparc']:.2f} | {expert['root_velocity']:.2f} "
              f"| {expert['root_acceleration']:.2f} | {expert['root_jerk']:.0f} | |")
    if common:
        print(f"\nEvaluation at {common['env_steps'] / 1e6:.1f} M env steps, the largest budget every run reached:\n")
        print("| method | eval episode length | fall rate | pose error |\n|---|---:|---:|---:|")
        for method, d in common["methods"].items():
            print(f"| {method} | {fmt(d['eval/episode_length'], 0)} | {fmt(d['eval/fall_rate'])} | {fmt(d['eval/pose_error'], 3)} |")
    print("\nEach periodic evaluation, mean over the runs that reached it (n):\n")
    print("| env steps (M) | " + " | ".join(f"{m}: episode length | {m}: pose error" for m in by_step) + " |")
    print("|---:|" + "---:|---:|" * len(by_step))
    for steps in sorted({s for d in by_step.values() for s in d}):
        cells = []
        for d in by_step.values():
            c = d.get(steps)
            cells += ["", ""] if c is None else [f"{np.mean(c['eval/episode_length']):.0f} (n={len(c['eval/episode_length'])})",
                                                 f"{np.mean(c['eval/pose_error']):.3f}"]
        print(f"| {steps / 1e6:.1f} | " + " | ".join(cells) + " |")
    print("\n| run | env steps at fall rate <= 0.5 | from launch s | env steps at fall rate <= 0.1 | from launch s |")
    print("|---|---:|---:|---:|---:|")
    for name, run in runs.items():
        cells = []
        for threshold in FALL_THRESHOLDS:
            hit = run["time_to_walk"][f"fall_rate<={threshold}"]
            cells += ["not reached", ""] if hit is None else [f"{hit['env_steps'] / 1e6:.1f} M", f"{hit['from_launch_s']:.0f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("wrote", path, "and", os.path.normpath(png))


if __name__ == "__main__":
    main()
