"""Does a humanoid policy leave the floor faster than any body can jump? (issue #16, item 69)

MJX's contact solve at the shipped 3 Newton iterations can hand a landing body an impulse no floor gives,
and a policy can learn to use it: in flight it cannot fall. The environment ends such a step since
2026-12-06 (``task.max_root_up_speed``, 5 m/s); this plays a trained policy's evaluation episodes with that
guard off (64, the mean action, the env's random reference-state starts) under the physics it trained with,
or under others given by ``--physics``, and counts per episode:

* launches: the root rose faster than ``--launch-speed`` (m/s, over one control step) at some step;
* the highest root height and upward root speed, against the clips' (at most 2.05 m/s up: the spin kick);
* episodes ended before the cap (falls, and non-finite states);
* how often a foot is above ``--foot-height`` (a kick or a jump), against the clips' frames.

    PYTHONPATH=src python benchmarks/inspect_launches.py LABEL=RUN_DIR ... --motion SET.yaml
        [--physics "task.physics.iterations=10" "task.physics.foot_contact=box"] [--name launches_humanoid]

Each ``--physics`` entry is one variant (space-separated overrides); the run's own physics is always played.
Rows add up in benchmarks/results/NAME.json (one per label and physics).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import (
    labelled_runs,
    merge_rows,
    physics_overrides,
    policy_env,
    read_result_rows,
    write_result,
)


def per_episode(qpos: np.ndarray, feet_z: np.ndarray, lengths: np.ndarray, dt: float) -> list[dict]:
    """Per episode: the highest root, its fastest rise (m/s over one step) and the feet's highest point at
    each step, from the evaluation's records (T, n_envs, ...) cut at each episode's length."""
    out = []
    for i, n in enumerate(np.maximum(lengths.astype(int), 1)):
        root_z = qpos[:n, i, 2]
        rise = np.diff(root_z) / dt if n > 1 else np.zeros(1)
        out.append({"length": int(n), "max_height": float(root_z.max()), "max_up_speed": float(rise.max()),
                    "feet_z": feet_z[:n, i].max(-1)})
    return out


def clip_rows(references, feet: list[int], dt: float, foot_height: float) -> dict:
    up = max(float((np.diff(np.asarray(r)[:, 2]) / dt).max()) for r in references.root)
    feet_z = np.concatenate([np.asarray(c)[:, feet, 2].max(-1) for c in references.body_pos])
    return {"clips_max_up_speed": up, "clips_max_height": max(float(np.asarray(r)[:, 2].max()) for r in references.root),
            "clips_foot_above": float((feet_z > foot_height).mean())}


def launch_rows(label: str, run_dir: str, motion: str, variants: list[str], episodes: int, seed: int | None,
                launch_speed: float, foot_height: float) -> list[dict]:
    from near.eval.policy_eval import make_policy_evaluator, reference_trajectories
    from near.motion.humanoid import CONTACT_BODIES
    from near.restore import load_policy

    variants = [physics_overrides(v.split()) for v in variants]  # checked before any run is read
    feet = list(CONTACT_BODIES)  # rows of the evaluation's body_pos (the motion data's bodies)
    rows, policy, clips = [], None, None
    for physics in [[], *variants]:
        cfg, env = policy_env(run_dir, motion, ["task.max_root_up_speed=0", *physics])
        if policy is None:  # the weights and the clips are the same under every physics variant
            policy = load_policy(cfg, run_dir)
            clips = clip_rows(reference_trajectories(env), feet, env.control_dt, foot_height)
        run_cfg, params, obs_stats, _ = policy
        result = make_policy_evaluator(cfg, env, episodes, train_cfg=run_cfg.train)(
            params, obs_stats, jax.random.PRNGKey(cfg.seed + 10_000 if seed is None else seed))
        body_pos = np.asarray(result["body_pos"])
        eps = per_episode(np.asarray(result["qpos"]), body_pos[:, :, feet, 2], np.asarray(result["episode_length"]),
                          env.control_dt)
        feet_z = np.concatenate([e["feet_z"] for e in eps])
        launched = [i for i, e in enumerate(eps) if e["max_up_speed"] > launch_speed]
        rows.append({"label": label, "run": run_dir, "physics": " ".join(physics) or "as trained", "episodes": episodes,
                     "launch_speed": launch_speed, "launches": len(launched), "launched_episodes": launched,
                     "max_up_speed": max(e["max_up_speed"] for e in eps),
                     "max_up_speed_unlaunched": max((e["max_up_speed"] for i, e in enumerate(eps) if i not in launched),
                                                    default=float("nan")),
                     "max_height": max(e["max_height"] for e in eps),
                     "ended_early": sum(e["length"] < cfg.task.max_episode_steps - 1 for e in eps),
                     "foot_height": foot_height, "foot_above": float((feet_z > foot_height).mean()),
                     **clips})
        r = rows[-1]
        print(f"{label} ({r['physics']}): {r['launches']} launches of {episodes}, highest root {r['max_height']:.2f} m, "
              f"fastest rise {r['max_up_speed']:.1f} m/s", flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR (humanoid policies of one motion set)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--physics", nargs="*", default=[], help="variants, each 'task.physics.KEY=VALUE ...'")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=None, help="evaluation key; default near eval's (the seed + 10,000)")
    parser.add_argument("--launch-speed", type=float, default=5.0)
    parser.add_argument("--foot-height", type=float, default=0.7)
    parser.add_argument("--name", default="launches_humanoid")
    args = parser.parse_args(argv)
    new = [row for label, run_dir in labelled_runs(args.runs)
           for row in launch_rows(label, run_dir, args.motion, args.physics, args.episodes, args.seed,
                                  args.launch_speed, args.foot_height)]
    rows = merge_rows(read_result_rows(args.name), new, key=lambda r: (r["label"], r["physics"]))
    write_result(args.name, "humanoid policies leaving the floor faster than a body can jump (guard off)", rows)
    print(f"| policy | physics | launches (root up > {args.launch_speed:g} m/s) | fastest rise, m/s (others'; clips') "
          f"| highest root, m (clips') | ended early | foot above {args.foot_height:g} m (clips' frames) |")
    print("|---|---|---:|---|---|---:|---|")
    for r in rows:
        print(f"| {r['label']} | {r['physics']} | {r['launches']} of {r['episodes']} | {r['max_up_speed']:.1f} "
              f"({r['max_up_speed_unlaunched']:.1f}; {r['clips_max_up_speed']:.2f}) | {r['max_height']:.2f} "
              f"({r['clips_max_height']:.2f}) | {r['ended_early']} | {r['foot_above']:.3f} ({r['clips_foot_above']:.3f}) |")


if __name__ == "__main__":
    main()
