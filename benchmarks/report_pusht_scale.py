"""Push-T at scale (issue #19): each method's runs, their final evaluation, the targets checked, and curves.

Reads trained push-T run folders (``summary.json``: the final evaluation of ``near train``; ``config.yaml``:
the settings; ``metrics.jsonl``: the periodic evaluations), merges them into
``benchmarks/results/pusht_scale.json`` (runs of earlier sessions are kept; a run of the same method,
seed and device is replaced), prints the README table and draws the curves:

    python benchmarks/report_pusht_scale.py PPO=RUN NEAR=RUN AMP=RUN NEAR/LABEL=RUN --device "one NVIDIA H200, DATE" \\
        [--plot docs/pusht_scale.png]

METHOD/LABEL names a variant (other settings, e.g. reward weights): a row of its own beside the method's
unlabelled run of the same seed and device, which a new unlabelled run replaces.

Targets (seed 42, at most 1 B env steps): the best method reaches >= 50 % success; NEAR's success is at
least PPO's at the same budget; NEAR's path SPARC is closer to the demonstrations' than PPO's. PPO "at the
same budget" is its final evaluation where a PPO run has NEAR's env steps (within 2 %), else the last
periodic evaluation of its longest run at or before NEAR's env steps (64 episodes). The same checks follow for
every other seed (700, 8125), each NEAR run against PPO of its own seed (PPO's unlabelled runs: a PPO
variant is not the baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import merge_rows
from report_run_evals import evaluations
from report_run_evals import plot as plot_evaluations

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "pusht_scale.json")
METHODS = ("PPO", "NEAR", "AMP", "CEM")
KEYS = ("seed", "env_steps", "success_rate", "final_coverage", "path_sparc", "wall_seconds")
SETTINGS = ("num_envs", "minibatch_size", "total_env_steps")  # train.*
TASK_SETTINGS = ("state_init", "success_bonus", "max_episode_steps")  # task.*
REWARD_SETTINGS = ("task_weight", "style_weight")  # reward.* (NEAR and AMP)
CURVE_KEYS = ("success_rate", "final_coverage", "path_sparc")


def read_run(run_dir: str) -> dict:
    """The run's final evaluation, its settings and its periodic evaluations (curve)."""
    try:
        with open(os.path.join(run_dir, "summary.json")) as fh:
            summary = json.load(fh)
        with open(os.path.join(run_dir, "config.yaml")) as fh:
            config = yaml.safe_load(fh)
    except OSError as exc:
        raise SystemExit(f"{run_dir}: not a finished run folder ({exc}); a run stopped early has no summary.json yet: "
                         f"resume it (resume=True) to its end") from None
    if not str(summary.get("task", "")).startswith("pushT"):
        raise SystemExit(f"{run_dir}: a {summary.get('task')!r} run, not push-T")
    row = {k: summary.get(k) for k in KEYS}
    row["settings"] = {**{f"train.{k}": config["train"].get(k) for k in SETTINGS},
                       **{f"task.{k}": config["task"].get(k) for k in TASK_SETTINGS}}
    if summary.get("algo") in ("NEAR", "AMP"):
        row["settings"].update({f"reward.{k}": config.get("reward", {}).get(k) for k in REWARD_SETTINGS})
    row["curve"] = curve(run_dir)
    return row


def curve(run_dir: str) -> list[dict]:
    """``[{"env_steps", "success_rate", "final_coverage", "path_sparc"}]`` of every periodic evaluation."""
    try:
        points = evaluations(run_dir)
    except SystemExit:  # trained without train.eval_every: no curve
        return []
    return [{k: p[k] for k in ("env_steps", *CURVE_KEYS) if k in p} for p in points]


def run_name(method: str, row: dict) -> str:
    return f"{method} ({row['label']})" if row.get("label") else method


def merge(results: dict, method: str, row: dict) -> None:
    runs = merge_rows(results["methods"].get(method, []), [row], key=lambda r: (r.get("seed"), r.get("device"), r.get("label")))
    results["methods"][method] = sorted(runs, key=lambda r: (r.get("device", ""), r["seed"], r.get("label") or ""))


def table(results: dict) -> str:
    lines = ["| method | seed | device | env steps (M) | success (64 episodes) | final coverage | path SPARC | wall (min) | settings |",
             "|---|---:|---|---:|---:|---:|---:|---:|---|"]
    shown = ("train.num_envs", "task.state_init", "task.success_bonus", "reward.task_weight", "reward.style_weight")
    for method in METHODS:
        for r in results["methods"].get(method, []):
            s = r.get("settings", {})
            settings = ", ".join(f"{k.split('.')[1]}={v}" for k, v in s.items() if k in shown and v is not None)
            lines.append(f"| {run_name(method, r)} | {r['seed']} | {r.get('device', '')} | {r['env_steps'] / 1e6:.1f} "
                         f"| {100 * r['success_rate']:.1f} % | {r['final_coverage']:.3f} | {r['path_sparc']:.2f} "
                         f"| {r['wall_seconds'] / 60:.0f} | {settings} |")
    return "\n".join(lines)


def same_budget(runs: list[dict], env_steps: int) -> dict | None:
    """``{"env_steps", "success_rate", "path_sparc", "from"}`` of ``runs`` (one method, one seed) at ``env_steps``:
    a run's final evaluation where its budget is within 2 %, else the last periodic evaluation of the longest
    run at or before ``env_steps``; None where neither exists."""
    for r in runs:
        if abs(r["env_steps"] - env_steps) <= 0.02 * env_steps:
            return {**{k: r[k] for k in ("env_steps", "success_rate", "path_sparc")}, "from": "final evaluation"}
    longest = max(runs, key=lambda r: r["env_steps"])
    before = [p for p in longest.get("curve", []) if p["env_steps"] <= env_steps and "success_rate" in p]
    if not before:
        return None
    point = before[-1]
    return {"env_steps": point["env_steps"], "success_rate": point["success_rate"],
            "path_sparc": point.get("path_sparc", float("nan")), "from": "periodic evaluation"}


def targets(results: dict, seed: int = 42) -> list[str]:
    """The issue's three targets on ``seed`` (at most 1 B env steps), each met or missed and by how much.
    Seed 42 is the issue's; seeds 700 and 8125 repeat them for the methods that succeed."""
    runs = {m: [r for r in results["methods"].get(m, []) if r["seed"] == seed and r["env_steps"] <= 1e9]
            for m in ("PPO", "NEAR", "AMP")}
    best = {m: max(rs, key=lambda r: r["success_rate"]) for m, rs in runs.items() if rs}  # the best method
    if not best:
        return [f"no seed-{seed} run yet"]
    top = max(best, key=lambda m: best[m]["success_rate"])
    prefix = "" if seed == 42 else f"seed {seed}: "
    out = [f"{prefix}best success: {top} {100 * best[top]['success_rate']:.1f} % (target 50 %): "
           + ("met" if best[top]["success_rate"] >= 0.5 else "missed")]
    if not runs["NEAR"] or not runs["PPO"]:
        return out
    plain_ppo = [r for r in runs["PPO"] if not r.get("label")] or runs["PPO"]  # PPO's variants are not the baseline
    for near in sorted(runs["NEAR"], key=lambda r: r["env_steps"]):  # every NEAR run against PPO at its budget
        ppo = same_budget(plain_ppo, near["env_steps"])
        name = run_name("NEAR", near)
        if ppo is None:
            out.append(f"{prefix}{name} at {near['env_steps'] / 1e6:.1f} M steps: no PPO evaluation at that budget")
            continue
        budget = f"at {near['env_steps'] / 1e6:.1f} M steps; PPO's {ppo['from']} at {ppo['env_steps'] / 1e6:.1f} M"
        out.append(f"{prefix}{name} success {100 * near['success_rate']:.1f} % vs PPO {100 * ppo['success_rate']:.1f} % "
                   f"({budget}): " + ("met" if near["success_rate"] >= ppo["success_rate"] else "missed"))
        out.append(f"  path SPARC {name} {near['path_sparc']:.2f} vs PPO {ppo['path_sparc']:.2f} "
                   "(closer to 0 is smoother, as the demonstrations): "
                   + ("met" if near["path_sparc"] > ppo["path_sparc"] else "missed"))
    return out


def seeds(results: dict) -> list[int]:
    """Every seed with a run, 42 first."""
    found = {r["seed"] for rows in results["methods"].values() for r in rows}
    return sorted(found, key=lambda s: (s != 42, s))


def plot(results: dict, path: str) -> str:
    """Every run's periodic evaluations, a panel per metric (report_run_evals.plot)."""
    rows = [{"label": f"{run_name(method, r)}, seed {r['seed']}, {r.get('device', '')}", "evaluations": r.get("curve", [])}
            for method in METHODS for r in results["methods"].get(method, [])]
    return plot_evaluations(rows, list(CURVE_KEYS), path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", help="METHOD=RUN_DIR or METHOD/LABEL=RUN_DIR (a variant)")
    parser.add_argument("--device", default="", help="where the runs trained, stored with them")
    parser.add_argument("--plot", default="", help="a PNG of every run's periodic evaluations")
    parser.add_argument("--results", default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    results = {"methods": {}}
    if os.path.exists(args.results):
        with open(args.results) as fh:
            results = json.load(fh)
    for spec in args.runs:
        name, _, run_dir = spec.partition("=")
        method, _, label = name.partition("/")
        if method not in METHODS or not run_dir:
            raise SystemExit(f"{spec}: expected METHOD=RUN_DIR or METHOD/LABEL=RUN_DIR with METHOD one of {', '.join(METHODS)}")
        row = read_run(run_dir)
        row["device"], row["label"] = args.device, label or None
        merge(results, method, row)
    with open(args.results, "w") as fh:
        json.dump(results, fh, indent=2)
    print(table(results))
    for seed in seeds(results):
        print("\n" + "\n".join(targets(results, seed)))
    if args.plot:
        print(f"wrote {plot(results, args.plot)}")
    print(args.results)


if __name__ == "__main__":
    main()
