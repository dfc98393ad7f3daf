"""End-to-end NEAR PPO training throughput on the maze (rollout + energy reward + PPO update).

Env steps per second of the compiled training chunk, after compilation, at several numbers of
parallel environments. The energy model is freshly initialised (speed does not depend on its
weights). Writes benchmarks/results/train_maze_<platform>.json and prints a table.

    python benchmarks/bench_train_maze.py [--envs 16 64 256 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse

import jax

jax.config.update("jax_default_matmul_precision", "highest")  # as the CLI does
import numpy as np
from _report import time_train_chunks, write_result

from near.energy.reward import RewardConfig
from near.energy.train import EnergyConfig, make_trainer, model_from_state
from near.envs.core import AutoReset
from near.envs.maze import MazeEnv
from near.rl.near import NEARReward
from near.rl.ppo import PPOConfig, make_train


def measure(num_envs: int, horizon: int, iterations: int, repeats: int) -> dict:
    env = AutoReset(MazeEnv())
    ecfg = EnergyConfig()
    init_e, *_ = make_trainer(ecfg, env.pair_dim)
    style = NEARReward(model_from_state(ecfg, init_e(jax.random.PRNGKey(0))), RewardConfig())
    minibatch = max(64, num_envs * horizon // 4)
    cfg = PPOConfig(num_envs=num_envs, horizon=horizon, minibatch_size=minibatch, update_epochs=4)
    init, train_chunk = make_train(cfg, env, style, RewardConfig())
    rates, compile_s = time_train_chunks(train_chunk, init(jax.random.PRNGKey(0)), iterations, repeats, cfg.batch_size)
    return {"num_envs": num_envs, "horizon": horizon, "minibatch_size": minibatch, "update_epochs": 4,
            "env_steps_per_s": float(np.median(rates)), "runs": rates, "first_call_s": compile_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--envs", type=int, nargs="+", default=[16, 64, 256, 1024])
    parser.add_argument("--horizon", type=int, default=32)
    parser.add_argument("--steps", type=int, default=65536, help="env steps per timed call")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for n in args.envs:
        iterations = max(1, args.steps // (n * args.horizon))
        rows.append(measure(n, args.horizon, iterations, args.repeats))
        print(f"envs {n:5d}: {rows[-1]['env_steps_per_s']:10.0f} env steps/s (first call {rows[-1]['first_call_s']:.1f} s)")
    backend = jax.default_backend()
    path = write_result(f"train_maze_{backend}", "NEAR PPO training on the maze, end to end", rows)
    print("\n| envs | env steps/s | first call (compile) s |\n|---:|---:|---:|")
    for r in rows:
        print(f"| {r['num_envs']} | {r['env_steps_per_s']:.0f} | {r['first_call_s']:.1f} |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
