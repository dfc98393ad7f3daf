"""Physics-only throughput and stability of the batched humanoid (no policy, no learning).

Each timed call is one jitted ``lax.scan`` of control steps of ``jax.vmap(AutoReset(HumanoidEnv))``
with uniformly random PD targets in [-1, 1]^28 (a harsh, violent input: most episodes end in a
fall within a second and reset from a random reference state of the walk clips). Counts falls and
non-finite states. Reports control steps/s (30 Hz env steps) and physics steps/s.

    python benchmarks/bench_humanoid_physics.py --motion .../amp_humanoid_walk.yaml \
        [--envs 1024 4096 16384] [--variants default newton2 ...] [--name humanoid_physics_gpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from _report import write_result

from near.envs.core import AutoReset
from near.envs.humanoid.env import HumanoidConfig, HumanoidEnv
from near.envs.humanoid.model import PhysicsConfig
from near.motion.library import load_library

VARIANTS = {
    "default": PhysicsConfig(),  # Newton 3 iterations, 6 x 5.55 ms
    "newton2": PhysicsConfig(iterations=2, ls_iterations=4),
    "sub4": PhysicsConfig(timestep=0.00833, substeps=4),  # the original's 8.33 ms PhysX substep, Newton 3
    "newton2_4sub": PhysicsConfig(timestep=0.00833, substeps=4, iterations=2, ls_iterations=4),
    "cg3_4sub": PhysicsConfig(timestep=0.00833, substeps=4, solver="CG", iterations=3, ls_iterations=4),
    "newton1": PhysicsConfig(iterations=1, ls_iterations=4),
    # a converged contact solve (MJX's 100-iteration answer within p95 0.085 rad/s per substep): a still stance
    # stands on it and falls at the default 3 (docs/humanoid_moving_like_the_clips.md, item 68)
    "newton10": PhysicsConfig(iterations=10),
    "feet": PhysicsConfig(floor_contacts="feet"),
    "feet_newton2": PhysicsConfig(floor_contacts="feet", iterations=2, ls_iterations=4),
    "feet_newton2_4sub": PhysicsConfig(floor_contacts="feet", timestep=0.00833, substeps=4, iterations=2, ls_iterations=4),
    # each foot box's floor contact made by spheres at its 8 corners (MJX's plane-box drops corners)
    "corners": PhysicsConfig(foot_contact="corners"),  # = default since 2026-12-04
    "box": PhysicsConfig(foot_contact="box"),  # the default until then
    # MuJoCo Warp through MJX (needs warp-lang; benchmarks/gpu_warp_parts.sh brings it to the device)
    "warp": PhysicsConfig(impl="warp"),
    "warp_sub4": PhysicsConfig(impl="warp", timestep=0.00833, substeps=4),
    "warp_newton2_4sub": PhysicsConfig(impl="warp", timestep=0.00833, substeps=4, iterations=2, ls_iterations=4),
}


def measure(library, physics: PhysicsConfig, num_envs: int, steps: int, repeats: int) -> dict:
    physics = dataclasses.replace(physics, warp_envs=num_envs)  # Warp's contact buffer for this batch
    env = AutoReset(HumanoidEnv(library, HumanoidConfig(physics=physics)))

    @jax.jit
    def run(state, key):
        def body(carry, k):
            state, falls, nonfinite = carry
            action = jax.random.uniform(k, (num_envs, env.action_dim), minval=-1.0, maxval=1.0)
            state, _, _, _, info = jax.vmap(env.step)(state, action)
            return (state, falls + info["fallen"].sum(), nonfinite + info["nonfinite"].sum()), None

        zero = jnp.zeros((), jnp.int32)
        (state, falls, nonfinite), _ = jax.lax.scan(body, (state, zero, zero), jax.random.split(key, steps))
        return state, falls, nonfinite

    state, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), num_envs))
    start = time.perf_counter()
    state, falls, nonfinite = run(state, jax.random.PRNGKey(1))
    jax.block_until_ready(state)
    first = time.perf_counter() - start
    rates, total_falls, total_nonfinite = [], int(falls), int(nonfinite)
    for r in range(repeats):
        start = time.perf_counter()
        state, falls, nonfinite = run(state, jax.random.PRNGKey(2 + r))
        jax.block_until_ready(state)
        rates.append(steps * num_envs / (time.perf_counter() - start))
        total_falls += int(falls)
        total_nonfinite += int(nonfinite)
    control = float(np.median(rates))
    env_steps = steps * num_envs * (repeats + 1)
    return {
        "num_envs": num_envs, "floor_contacts": physics.floor_contacts, "timestep": physics.timestep, "substeps": physics.substeps, "solver": physics.solver,
        "iterations": physics.iterations, "ls_iterations": physics.ls_iterations,
        "control_steps_per_s": control, "physics_steps_per_s": control * physics.substeps, "runs": rates,
        "first_call_s": first, "falls_per_1k_steps": 1000.0 * total_falls / env_steps,
        "nonfinite_per_1m_steps": 1e6 * total_nonfinite / env_steps, "env_steps": env_steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--motion", required=True, help="motion-set yaml or clip for the reference-state resets")
    parser.add_argument("--envs", type=int, nargs="+", default=[64])
    parser.add_argument("--variants", nargs="+", default=["default"], choices=sorted(VARIANTS))
    parser.add_argument("--variant-envs", type=int, default=None,
                        help="run the non-default variants at this many envs only (default: all --envs)")
    parser.add_argument("--steps", type=int, default=100, help="control steps per timed call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default=f"humanoid_physics_{jax.default_backend()}")
    args = parser.parse_args()
    library = load_library(args.motion)
    rows = []
    print(f"{'variant':>13} {'envs':>6} {'ctrl steps/s':>13} {'physics/s':>11} {'falls/1k':>9} {'NaN/1M':>7} {'first s':>8}")
    for variant in args.variants:
        envs = args.envs if variant == "default" or args.variant_envs is None else [args.variant_envs]
        for n in envs:
            row = {"variant": variant, **measure(library, VARIANTS[variant], n, args.steps, args.repeats)}
            rows.append(row)
            print(f"{variant:>13} {n:>6} {row['control_steps_per_s']:>13,.0f} {row['physics_steps_per_s']:>11,.0f} "
                  f"{row['falls_per_1k_steps']:>9.1f} {row['nonfinite_per_1m_steps']:>7.1f} {row['first_call_s']:>8.1f}",
                  flush=True)
    print("wrote", write_result(args.name, "humanoid physics-only throughput (random PD targets, RSI resets)", rows))


if __name__ == "__main__":
    main()
