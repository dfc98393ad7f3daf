"""Where a push-T policy leaves the T: placed but turned, or not placed (issue #19, "what stops learning").

Runs a trained policy's deterministic episodes from the original's random starts and reports, per
episode, the coverage at the end and the best along the way, and the block's final distance to the
goal position (px) and its angle to the goal angle (degrees, wrapped to +-180). Then counts the
episodes that end near the goal position (< 15 px) but turned (> 15 degrees), those that end turned
right but away, and those that are neither: which of the two the policy has not learnt.

    python benchmarks/inspect_pusht_policy.py --policy RUN [--task pushT] [--episodes 64] \
        [--episode-steps N] [--name pusht_policy_ppo]

``--episode-steps`` evaluates with episodes of another length than the 150 steps the policy trained
with (does it finish the job given more time, or has it stopped?).

Writes benchmarks/results/<name>.json and prints a table (CPU: well under a minute).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result

from near.cli import configure_jax

NEAR_PX, NEAR_DEG = 15.0, 15.0


def evaluation_episodes(task: str, run: str, episodes: int, seed: int, overrides=()) -> tuple:
    """(env, result) of `near eval`'s deterministic episodes of a push-T policy from the original's random starts."""
    from near.config import compose_config
    from near.eval.policy_eval import evaluate_policy
    from near.factories import make_env

    cfg = compose_config([f"task={task}", f"checkpoint={run}", "task.state_init=random", *overrides])
    env = make_env(cfg)
    return env, evaluate_policy(cfg, run, env=env, episodes=episodes, seed=seed)


def final_poses(task: str, run: str, episodes: int, seed: int, episode_steps: int = 0) -> dict:
    import jax

    from near.envs.pusht import coverage

    length = [f"task.max_episode_steps={episode_steps}"] if episode_steps else []
    env, out = evaluation_episodes(task, run, episodes, seed, length)
    obs = out["observations"]  # (T + 1, episodes, 5): agent xy, block xy, block angle
    cov = np.asarray(jax.vmap(jax.vmap(coverage))(obs[..., 2:4], obs[..., 4]))
    goal = np.asarray(env.config.goal_pose, np.float64)
    final = obs[-1]
    turn = (final[:, 4] - goal[2] + np.pi) % (2 * np.pi) - np.pi
    return {"final_coverage": cov[-1], "best_coverage": cov.max(0), "success": out["success"],
            "distance_px": np.linalg.norm(final[:, 2:4] - goal[:2], axis=-1), "angle_deg": np.degrees(turn)}


def summary(poses: dict) -> dict:
    near_xy, right_angle = poses["distance_px"] < NEAR_PX, np.abs(poses["angle_deg"]) < NEAR_DEG
    return {
        "episodes": len(poses["success"]), "success_rate": float(np.mean(poses["success"])),
        "final_coverage_median": float(np.median(poses["final_coverage"])),
        "best_coverage_median": float(np.median(poses["best_coverage"])),
        "distance_px_median": float(np.median(poses["distance_px"])),
        "abs_angle_deg_median": float(np.median(np.abs(poses["angle_deg"]))),
        "placed_and_turned_right": float(np.mean(near_xy & right_angle)),
        "placed_but_turned": float(np.mean(near_xy & ~right_angle)),
        "turned_right_but_away": float(np.mean(~near_xy & right_angle)),
        "neither": float(np.mean(~near_xy & ~right_angle)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="a trained push-T policy's run folder")
    parser.add_argument("--task", default="pushT", help="its task (pushT, pushTNEAR, pushTAMP)")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episode-steps", type=int, default=0, help="episode length (default: the task's, 150)")
    parser.add_argument("--name", default="pusht_policy")
    args = parser.parse_args(argv)
    configure_jax()
    poses = final_poses(args.task, args.policy, args.episodes, args.seed, args.episode_steps)
    row = {"policy": args.policy, "task": args.task, "episode_steps": args.episode_steps or None, **summary(poses),
           "per_episode": {k: np.asarray(v, float).round(4).tolist() for k, v in poses.items()}}
    path = write_result(args.name, "push-T policy: where it leaves the T", [row])
    print("| figure | value |\n|---|---:|")
    for key, value in summary(poses).items():
        print(f"| {key} | {value:.3f} |")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
