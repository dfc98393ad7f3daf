"""How far a trained humanoid policy leaves the original's per-axis joint ranges, against its clips.

Isaac Gym limits every hinge of the original's three-hinge joints; this MuJoCo model makes them ball
joints and enforces no per-axis range (README, "The model"). This script measures whether policies
use that freedom: the share of control steps in which each joint group is outside the original's
ranges (0.5 degree tolerance) and by how much (95th percentile of the excess, degrees), for a policy's
deterministic evaluation episodes (`near eval`'s, up to each episode's end) and for its clips' frames.

    python benchmarks/inspect_joint_ranges.py --policy RUN --motion SET.yaml [--task HumanoidAMP] \
        [--episodes 16] [--name joint_ranges_walk_NEAR]

It also breaks the posture down per DOF (which joints make a crouch or a wrong arm pose): each DOF's
mean angle, policy and clips, and the DOF's share of the joint-angle distance of the evaluation
(the 1-D Wasserstein distance of its angle distribution), the DOFs that contribute most first.

Writes benchmarks/results/<name>.json and prints two tables (CPU: about a minute per policy).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result

from near.cli import configure_jax
from near.eval.gait import joint_angle_distance
from near.motion import humanoid

TOLERANCE = np.radians(0.5)


def outside_ranges(dof: np.ndarray) -> dict:
    """Per joint group: share of frames outside the original's ranges and the p95 excess (deg)."""
    excess = humanoid.dof_range_excess(dof, TOLERANCE)
    out = {}
    for group in humanoid.DOF_GROUPS:
        worst = excess[:, group.start:group.start + group.size].max(-1)
        out[group.name] = {"share": float((worst > 0).mean()),
                           "p95_excess_deg": float(np.degrees(np.percentile(worst, 95)))}
    out["any"] = {"share": float((excess.max(-1) > 0).mean()),
                  "p95_excess_deg": float(np.degrees(np.percentile(excess.max(-1), 95)))}
    return out


def per_dof_posture(policy: np.ndarray, clips: np.ndarray) -> list[dict]:
    """Per DOF: mean angle (deg) of policy and clips and the DOF's Wasserstein distance (rad); largest first."""
    rows = [{"dof": name, "policy_mean_deg": float(np.degrees(policy[:, i].mean())),
             "clips_mean_deg": float(np.degrees(clips[:, i].mean())),
             "distance": joint_angle_distance(policy[:, i:i + 1], clips[:, i:i + 1])}
            for i, name in enumerate(humanoid.DOF_NAMES)]
    return sorted(rows, key=lambda r: -r["distance"])


def clip_dofs(motion: str) -> np.ndarray:
    from near.motion.library import load_library

    return np.asarray(humanoid.dof_from_local_rot(load_library(motion).local_rot))


def policy_dofs(task: str, motion: str, run: str, episodes: int, seed: int) -> np.ndarray:
    """The DOFs of a policy's deterministic evaluation episodes (``near eval``'s), up to each one's end."""
    from near.config import compose_config
    from near.envs.humanoid import model as hm
    from near.eval.policy_eval import evaluate_policy, with_run_physics
    from near.factories import make_env

    cfg = with_run_physics(compose_config([f"task={task}", f"motion={motion}", f"checkpoint={run}"]), [])
    env = make_env(cfg)
    out = evaluate_policy(cfg, run, env=env, episodes=episodes, seed=seed)
    qpos = np.concatenate([out["qpos"][:length, i] for i, length in enumerate(out["episode_length"])])
    return np.asarray(hm.dof_pos_from_qpos(env.layout, qpos))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="a trained humanoid policy's run folder")
    parser.add_argument("--motion", required=True, help="its motion set (.yaml) or clip")
    parser.add_argument("--task", default="HumanoidNEAR")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="joint_ranges")
    args = parser.parse_args(argv)
    configure_jax()
    clips, policy = clip_dofs(args.motion), policy_dofs(args.task, args.motion, args.policy, args.episodes, args.seed)
    rows = {"clips": outside_ranges(clips), "policy": outside_ranges(policy)}
    posture = per_dof_posture(policy, clips)
    path = write_result(args.name, "humanoid joints outside the original's per-axis ranges; posture per DOF",
                        [{"policy": args.policy, "motion": args.motion, "task": args.task, **rows,
                          "posture_per_dof": posture}])
    print("| joint group | clips: share outside | clips: p95 excess (deg) | policy: share outside | policy: p95 excess (deg) |")
    print("|---|---:|---:|---:|---:|")
    for name in rows["clips"]:
        c, p = rows["clips"][name], rows["policy"][name]
        print(f"| {name} | {c['share']:.3f} | {c['p95_excess_deg']:.1f} | {p['share']:.3f} | {p['p95_excess_deg']:.1f} |")
    total = sum(r["distance"] for r in posture)
    print("\n| DOF | mean angle, policy (deg) | mean angle, clips (deg) | share of the joint-angle distance |")
    print("|---|---:|---:|---:|")
    for r in posture[:10]:
        print(f"| {r['dof']} | {r['policy_mean_deg']:.1f} | {r['clips_mean_deg']:.1f} | {100 * r['distance'] / total:.0f} % |")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
