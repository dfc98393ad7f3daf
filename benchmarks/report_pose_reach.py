"""How close trained humanoid policies ever come to their clips' poses (issue #16: the punch never thrown, the
crane's knee never lifted): ``pose_reach`` of ``near eval`` (near.eval.gait.pose_reach) for runs trained before
the metric existed, beside a statue's.

For every clip frame, the RMS joint-angle difference to the policy's nearest frame, averaged over the clip frames
(rad; per body part too, each part's nearest frame found for it alone; each episode's first second, which starts
in a clip's pose, left out). The baselines bound the scale: a statue holding the clips' mean pose (one pose,
whatever the clips do) and the clips against themselves (0). Each run is evaluated under the physics it trained
on (a MuJoCo Warp run plays under Warp on this CPU), with the policy's mean action:

    python benchmarks/report_pose_reach.py LABEL=RUN_DIR ... [--episodes 8] [--name pose_reach_humanoid]

Rows add up in benchmarks/results/NAME.json (a label measured again replaces its row).
"""

from __future__ import annotations

import argparse
import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import labelled_runs, merge_rows, read_result_rows, write_result  # noqa: E402

from near.cli import configure_jax  # noqa: E402

PARTS_SHOWN = ("trunk", "right_arm", "left_arm", "right_leg", "left_leg")


def measure(run_dir: str, episodes: int) -> dict:
    from near.config import compose_config
    from near.eval import gait as G
    from near.eval.policy_eval import evaluate_policy, reference_trajectories, with_run_physics
    from near.factories import make_env
    from near.motion.humanoid import BODY_PARTS

    with open(os.path.join(run_dir, "config.yaml")) as fh:
        saved = yaml.safe_load(fh)
    motion, task = saved.get("motion"), saved.get("task", {}).get("name", "")
    if not motion or not os.path.exists(motion) or not task.startswith("Humanoid"):
        raise SystemExit(f"{run_dir}: not a humanoid run whose motion file is here (motion {motion!r}, task {task!r})")
    overrides = [f"task={task}", f"motion={motion}", f"checkpoint={run_dir}"]
    cfg = with_run_physics(compose_config(overrides), overrides)
    env = make_env(cfg)
    result = evaluate_policy(cfg, run_dir, env=env, episodes=episodes)
    metrics = result["humanoid"]
    statue = G.statue_pose_reach(reference_trajectories(env).dof, BODY_PARTS)
    method = task.removeprefix("Humanoid") or "PPO"
    return {"run": run_dir, "motion": os.path.basename(motion), "method": method, "seed": saved.get("seed"),
            "episodes": episodes, "physics": cfg.task.physics.impl,
            **{k: v for k, v in metrics.items() if k.startswith(("pose_reach", "joint_angle_distance", "fall_rate"))},
            **{f"statue_{k}": v for k, v in statue.items()}}


def table(rows: list[dict]) -> str:
    head = ("| run | episodes | falls | pose reach (a statue in the clips' mean pose) | "
            + " | ".join(p.replace("_", " ") for p in PARTS_SHOWN) + " | joint-angle distance |")
    lines = [head, "|---|---:|---:|---:|" + "---:|" * len(PARTS_SHOWN) + "---:|"]
    for r in rows:
        parts = " | ".join(f"{r[f'pose_reach_{p}']:.3f} ({r[f'statue_pose_reach_{p}']:.3f})" for p in PARTS_SHOWN)
        lines.append(f"| {r['label']} | {r['episodes']} | {r['fall_rate']:.2f} | {r['pose_reach']:.3f} "
                     f"({r['statue_pose_reach']:.3f}) | {parts} | {r['joint_angle_distance']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--name", default="pose_reach_humanoid")
    args = parser.parse_args(argv)
    runs = labelled_runs(args.runs)
    configure_jax()
    rows = []
    for label, run_dir in runs:
        rows.append({"label": label, **measure(run_dir, args.episodes)})
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    rows = merge_rows(read_result_rows(args.name), rows)
    print(table(rows))
    print(write_result(args.name, "report_pose_reach", rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
