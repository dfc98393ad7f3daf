"""End-to-end humanoid training throughput: MJX rollout + NEAR energy (or AMP discriminator) reward +
PPO update, one compiled chunk, on 1..k devices, beside the physics-only rate of the same env.

The energy model and discriminator have the original's sizes and fresh weights (speed does not
depend on them). Each row is written to the JSON as soon as it is measured.

    python benchmarks/bench_train_humanoid.py --motion .../amp_humanoid_walk.yaml \
        --runs NEAR:1:4096 NEAR:2:8192 NEAR:2:4096 AMP:1:4096 [--physics] [--name train_humanoid_gpu]

ALGO PPO is the task reward alone (no style reward: task=Humanoid); a fourth field sets PPO's epochs per
iteration. Where the step's time goes beyond the physics (issue #20's training / physics ratio), by
differences of rows in one process: ``--runs PPO:1:4096 NEAR:1:4096 NEAR:1:4096:1 --physics`` (the energy
reward = NEAR - PPO; one epoch of the update = (NEAR - NEAR with 1 epoch) / (epochs - 1); each row's
microseconds per env step are printed and kept).

``--physics`` also times the physics alone (random actions, same env settings, same process) at each
one-device row's env count, and reports training / physics.
"""

from __future__ import annotations

import argparse

import jax

jax.config.update("jax_default_matmul_precision", "highest")  # as the CLI does
import numpy as np
from _report import time_train_chunks, untrained_style, write_result

from near.config import compose_config
from near.envs.core import AutoReset
from near.factories import make_env
from near.rl.ppo import data_mesh, make_train


def measure(motion: str, algo: str, devices: int, num_envs: int, iterations: int, repeats: int, extra: list[str],
            physics: dict, epochs: int | None = None) -> dict:
    task = "Humanoid" if algo == "PPO" else f"Humanoid{algo}"
    row_overrides = [] if epochs is None else [f"train.update_epochs={epochs}"]
    cfg = compose_config([f"task={task}", f"motion={motion}", f"train.num_envs={num_envs}", *extra, *row_overrides])
    env = make_env(cfg)
    style = untrained_style(cfg, env)
    # each task's own PPO settings (AMP's config freezes its std as the original's; PPO keeps NEAR's, so NEAR - PPO
    # is the style reward alone), as `near train` uses them
    train_cfg = cfg.train
    init, train_chunk = make_train(train_cfg, AutoReset(env), style, cfg.reward, mesh=data_mesh(jax.devices()[:devices]))
    rates, first = time_train_chunks(train_chunk, init(jax.random.PRNGKey(0)), iterations, repeats, train_cfg.batch_size)
    ratio = {}
    if devices == 1 and physics is not None:
        if num_envs not in physics:  # physics alone, same env settings, in this process
            import bench_humanoid_physics

            physics[num_envs] = bench_humanoid_physics.measure(env.library, env.config.physics, num_envs, 100, repeats)
        ratio = {"physics_only_steps_per_s": physics[num_envs]["control_steps_per_s"],
                 "training_over_physics": float(np.median(rates)) / physics[num_envs]["control_steps_per_s"]}
    return {**ratio, "algo": algo, "devices": devices, "num_envs": num_envs, "envs_per_device": num_envs // devices,
            "horizon": train_cfg.horizon, "minibatch_size": train_cfg.minibatch_size, "update_epochs": train_cfg.update_epochs,
            "floor_contacts": env.config.physics.floor_contacts, "env_steps_per_s": float(np.median(rates)),
            "us_per_env_step": 1e6 / float(np.median(rates)),
            "runs": rates, "first_call_s": first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--motion", required=True)
    parser.add_argument("--runs", nargs="+", default=["NEAR:1:4096"], help="ALGO:DEVICES:ENVS[:EPOCHS] (ALGO: NEAR, AMP, PPO)")
    parser.add_argument("--iterations", type=int, default=3, help="PPO iterations per timed call")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--physics", action="store_true", help="also time the physics alone (one-device rows)")
    parser.add_argument("--name", default=f"train_humanoid_{jax.default_backend()}")
    parser.add_argument("overrides", nargs="*", help="extra key=value config overrides")
    args = parser.parse_args()
    rows, physics = [], ({} if args.physics else None)
    print(f"{'algo':>5} {'devices':>7} {'envs':>6} {'epochs':>6} {'env steps/s':>12} {'us/step':>8} {'first s':>8}", flush=True)
    for spec in args.runs:
        fields = spec.split(":")
        if len(fields) not in (3, 4) or fields[0] not in ("NEAR", "AMP", "PPO"):
            parser.error(f"--runs wants ALGO:DEVICES:ENVS[:EPOCHS] with ALGO NEAR, AMP or PPO, got {spec!r}")
        algo, devices, envs = fields[:3]
        row = measure(args.motion, algo, int(devices), int(envs), args.iterations, args.repeats, args.overrides,
                      physics, epochs=int(fields[3]) if len(fields) == 4 else None)
        if row["devices"] > 1:  # efficiency = rate_k / (k * rate_1): weak if the 1-device row has this many
            # envs per device, strong if it has this many in total (weak preferred when both were run)
            ones = {r["num_envs"]: r for r in rows if r["algo"] == algo and r["devices"] == 1
                    and r["update_epochs"] == row["update_epochs"]}
            for scaling, envs in (("weak", row["envs_per_device"]), ("strong", row["num_envs"])):
                if envs in ones:
                    row["scaling"], row["baseline_envs"] = scaling, envs
                    row["scaling_efficiency"] = row["env_steps_per_s"] / (row["devices"] * ones[envs]["env_steps_per_s"])
                    break
        rows.append(row)
        print(f"{algo:>5} {row['devices']:>7} {row['num_envs']:>6} {row['update_epochs']:>6} {row['env_steps_per_s']:>12,.0f} "
              f"{row['us_per_env_step']:>8.2f} {row['first_call_s']:>8.1f}"
              + (f"  {row['scaling']} efficiency {row['scaling_efficiency']:.2f}" if "scaling" in row else "")
              + (f"  physics alone {row['physics_only_steps_per_s']:,.0f} (training/physics {row['training_over_physics']:.2f})"
                 if "physics_only_steps_per_s" in row else ""), flush=True)
        path = write_result(args.name, "humanoid training throughput, end to end (rollout + reward + PPO)", rows)
    print("wrote", path)


if __name__ == "__main__":
    main()
