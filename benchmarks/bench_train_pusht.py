"""End-to-end push-T training throughput (rollout + NEAR energy / AMP discriminator / no style reward +
PPO update) at several numbers of parallel envs, for issue #19's GPU scale-up.

The energy model and discriminator have the shipped configs' sizes and fresh weights (speed does not
depend on them); AMP reads its expert pairs from the demonstration store. The minibatch grows with the
batch (``--minibatches`` per epoch) so that large env counts are not timed on thousands of tiny updates.

    python benchmarks/bench_train_pusht.py --data .../pusht_cchi_v7_replay.zarr --runs NEAR:1024 AMP:4096 PPO:16384

Writes benchmarks/results/train_pusht_<backend>.json and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses

import jax

jax.config.update("jax_default_matmul_precision", "highest")  # as the CLI does
import numpy as np
from _report import time_train_chunks, untrained_style, write_result

from near.config import compose_config
from near.envs.core import AutoReset
from near.factories import make_env
from near.rl.ppo import make_train


def measure(data: str, algo: str, num_envs: int, minibatches: int, iterations: int, repeats: int,
            extra: list[str]) -> dict:
    task = "pushT" if algo == "PPO" else f"pushT{algo}"  # PPO: the task reward alone
    cfg = compose_config([f"task={task}", f"task.data={data}", f"train.num_envs={num_envs}", *extra])
    # the minibatch is set in the config itself, before the style reward is built: AMP takes its number of
    # discriminator steps from it (epochs x minibatches), as a training with that minibatch would
    train_cfg = dataclasses.replace(cfg.train, minibatch_size=max(cfg.train.minibatch_size, cfg.train.batch_size // minibatches))
    cfg = dataclasses.replace(cfg, train=train_cfg)
    env = make_env(cfg)
    style = untrained_style(cfg, env)
    init, train_chunk = make_train(train_cfg, AutoReset(env), style, cfg.reward)
    rates, first = time_train_chunks(train_chunk, init(jax.random.PRNGKey(0)), iterations, repeats, train_cfg.batch_size)
    return {"algo": algo, "num_envs": num_envs, "horizon": train_cfg.horizon, "minibatch_size": train_cfg.minibatch_size,
            "update_epochs": train_cfg.update_epochs, "style_updates_per_iteration": getattr(style, "updates_per_iteration", 0),
            "env_steps_per_s": float(np.median(rates)), "runs": rates, "first_call_s": first}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the push-T demonstration store (zarr)")
    parser.add_argument("--runs", nargs="+", default=["NEAR:1024", "AMP:1024", "PPO:1024"], help="ALGO:ENVS")
    parser.add_argument("--minibatches", type=int, default=8, help="minibatches per epoch at large batches")
    parser.add_argument("--iterations", type=int, default=3, help="PPO iterations per timed call")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--name", default=f"train_pusht_{jax.default_backend()}")
    parser.add_argument("overrides", nargs="*", help="extra key=value config overrides")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'algo':>5} {'envs':>6} {'minibatch':>9} {'env steps/s':>12} {'first s':>8}", flush=True)
    for spec in args.runs:
        algo, envs = spec.split(":")
        row = measure(args.data, algo, int(envs), args.minibatches, args.iterations, args.repeats, args.overrides)
        rows.append(row)
        print(f"{algo:>5} {row['num_envs']:>6} {row['minibatch_size']:>9} {row['env_steps_per_s']:>12,.0f} "
              f"{row['first_call_s']:>8.1f}", flush=True)
        path = write_result(args.name, "push-T training throughput, end to end (rollout + reward + PPO)", rows)
    print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
