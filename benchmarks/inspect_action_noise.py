"""How much action noise does a trained humanoid policy stand? (issue #16)

PPO trains with actions drawn around the policy's mean at a fixed std (exp(-2.9) on the humanoid, frozen as the
original's AMP); evaluations take the mean. This plays a trained policy's evaluation episodes (64, the env's
random reference-state starts) with its mean, then with actions drawn at other fixed stds (its log-std replaced),
and reports the fall rate, height ratio and episode length of each: how close to the edge of its own noise a
policy stands, and what a larger or smaller std would start from.

    PYTHONPATH=src python benchmarks/inspect_action_noise.py LABEL=RUN_DIR ... --motion SET.yaml
        [--log-stds -3.5 -3.2 -2.9 -2.6 -2.4 -2.0] [--physics task.physics.KEY=VALUE ...] [--name action_noise_humanoid]

``--physics`` plays the policies under other physics than they trained with (a MuJoCo Warp run under MJX,
more solver iterations): whether a stance stays up is the physics' as much as the policy's.
Rows add up in benchmarks/results/NAME.json (one per label, physics and std).
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


def noise_rows(label: str, run_dir: str, motion: str, log_stds: list[float], episodes: int, seed: int,
               physics: tuple[str, ...] = ()) -> list[dict]:
    from near.eval.policy_eval import make_policy_evaluator
    from near.restore import load_policy
    from near.rl.ppo import with_log_std

    physics = physics_overrides(physics)  # checked before any run is read
    cfg, env = policy_env(run_dir, motion, physics)
    run_cfg, params, obs_stats, _ = load_policy(cfg, run_dir)
    trained = float(np.mean(params["actor"]["params"]["log_std"]))
    # two programs (the mean action, drawn actions), each built once: the std travels in the parameters
    mean_action, drawn = (make_policy_evaluator(cfg, env, episodes, deterministic=d, train_cfg=run_cfg.train)
                          for d in (True, False))
    rows = []
    for log_std in [None, *log_stds]:
        if log_std is None:
            result = mean_action(params, obs_stats, jax.random.PRNGKey(seed))
        else:
            result = drawn(with_log_std(params, log_std), obs_stats, jax.random.PRNGKey(seed))
        h = result["humanoid"]
        rows.append({"label": label, "run": run_dir, "physics": " ".join(physics) or "as trained",
                     "actions": "mean" if log_std is None else "drawn",
                     "log_std": log_std, "trained_log_std": trained, "episodes": episodes,
                     "fall_rate": float(h["fall_rate"]), "root_height_ratio": float(h["root_height_ratio"]),
                     "root_speed_ratio": float(h["root_speed_ratio"]),
                     # the gait under the noise: does a sliding shuffle turn into steps, or a stepping gait slide?
                     "foot_slide": float(h["foot_slide"]), "stride_length_ratio": float(h["stride_length_ratio"]),
                     "episode_length": float(np.mean(result["episode_length"]))})
        print(f"{label} ({rows[-1]['physics']}): {'mean' if log_std is None else f'log-std {log_std:+.2f}'}: falls {rows[-1]['fall_rate']:.2f}, "
              f"length {rows[-1]['episode_length']:.0f}, feet while down {rows[-1]['foot_slide']:.2f} m/s, "
              f"strides {rows[-1]['stride_length_ratio']:.2f} x", flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR (humanoid policies of one motion set; the task from the run's config)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--log-stds", nargs="+", type=float, default=[-3.5, -3.2, -2.9, -2.6, -2.4, -2.0])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--physics", nargs="+", default=[], help="task.physics.KEY=VALUE: play under other physics")
    parser.add_argument("--name", default="action_noise_humanoid")
    args = parser.parse_args(argv)
    new = [row for label, run_dir in labelled_runs(args.runs)
           for row in noise_rows(label, run_dir, args.motion, args.log_stds, args.episodes, args.seed, tuple(args.physics))]
    rows = merge_rows(read_result_rows(args.name), new,
                      key=lambda r: (r["label"], r.get("physics", "as trained"), r["log_std"]))
    write_result(args.name, "a humanoid policy's falls under actions drawn at fixed stds", rows)
    print("| policy | physics | actions | falls | height ratio | speed ratio | feet while down, m/s | strides (x the clips') | episode length (steps) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        actions = "mean" if r["log_std"] is None else f"drawn, log-std {r['log_std']:+.1f} (std {np.exp(r['log_std']):.3f})"
        gait = " | ".join(f"{r[k]:.2f}" if k in r else "-" for k in ("foot_slide", "stride_length_ratio"))  # rows written before 2026-12-07 have neither
        print(f"| {r['label']} | {r.get('physics', 'as trained')} | {actions} | {r['fall_rate']:.2f} | {r['root_height_ratio']:.3f} "
              f"| {r.get('root_speed_ratio', float('nan')):.3f} | {gait} | {r['episode_length']:.0f} |")


if __name__ == "__main__":
    main()
