"""How far from converged is the humanoid's contact solve, per physics setting? (issue #20)

MJX (JAX) and MuJoCo Warp both run Newton with the shipped 3 iterations, and neither converges there
when the feet land. From the same states, every physics substep is taken once per setting and once
with a converged solve (Newton, 100 iterations, 50 line-search steps, MJX): the largest joint-velocity
difference after the substep is that setting's error. The states follow the shipped setting from
reference-state resets on the clips under small random PD targets (the character stays up), so the
substeps are those a policy meets: feet landing and pushing.

    PYTHONPATH=src python benchmarks/inspect_contact_solve.py --motion SET.yaml [--envs 32] [--steps 4]
        [--variants jax warp jax_newton10 warp_newton10] [--name contact_solve]

``warp`` variants need warp-lang (``pip install warp-lang``; on a CPU Warp runs, slowly).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result

import near.envs.humanoid.model as hm
from near.envs.humanoid.env import HumanoidConfig, HumanoidEnv
from near.motion.library import load_library

SHIPPED = hm.PhysicsConfig(floor_contacts="feet")
VARIANTS = {
    "jax": SHIPPED,
    "warp": dataclasses.replace(SHIPPED, impl="warp"),
    "jax_newton10": dataclasses.replace(SHIPPED, iterations=10),
    "warp_newton10": dataclasses.replace(SHIPPED, impl="warp", iterations=10),
    "jax_newton30": dataclasses.replace(SHIPPED, iterations=30, ls_iterations=20),
    "warp_newton30": dataclasses.replace(SHIPPED, impl="warp", iterations=30, ls_iterations=20),
}
CONVERGED = dataclasses.replace(SHIPPED, iterations=100, ls_iterations=50)


def substep_fn(env: HumanoidEnv):
    """(qpos, qvel, warmstart, ball target, hinge target) -> (qpos, qvel, warmstart, contact force), batched."""
    mjx, layout = env._mjx, env.layout

    def substep(qpos, qvel, warmstart, ball_target, hinge_target):
        data = env._template.replace(qpos=qpos, qvel=qvel, qacc_warmstart=warmstart)
        tau = hm.pd_torque(layout, qpos, ball_target, hinge_target)
        data = mjx.step(env.mjx_model, data.replace(qfrc_applied=jnp.concatenate([jnp.zeros(6), tau])))
        return data.qpos, data.qvel, data.qacc_warmstart, jnp.abs(data.qfrc_constraint).sum()

    return jax.jit(jax.vmap(substep))


def measure(motion: str, variants: list[str], envs: int, steps: int, seed: int) -> list[dict]:
    library = load_library(motion)

    def make(physics):
        return HumanoidEnv(library, HumanoidConfig(physics=dataclasses.replace(physics, warp_envs=envs)))

    shipped, converged = make(SHIPPED), make(CONVERGED)
    fns = {name: substep_fn(make(VARIANTS[name])) for name in variants}
    reference = substep_fn(converged)
    state, _ = jax.vmap(shipped._reset)(jax.random.split(jax.random.PRNGKey(seed), envs))
    qpos, qvel, warm = state.qpos, state.qvel, state.warmstart
    errors = {name: [] for name in variants}
    in_contact = []
    for step in range(steps):
        action = 0.2 * jax.random.normal(jax.random.PRNGKey(seed + 1 + step), (envs, shipped.action_dim))
        ball, hinge = jax.vmap(lambda a: hm.action_to_targets(shipped.layout, a))(action)
        for _ in range(shipped.config.physics.substeps):
            _, v_ref, _, force = reference(qpos, qvel, warm, ball, hinge)
            in_contact.append(np.asarray(force) > 1.0)
            for name, fn in fns.items():
                _, v, _, _ = fn(qpos, qvel, warm, ball, hinge)
                errors[name].append(np.abs(np.asarray(v) - np.asarray(v_ref)).max(axis=1))
            qpos, qvel, warm, _ = fns["jax"](qpos, qvel, warm, ball, hinge) if "jax" in fns else reference(
                qpos, qvel, warm, ball, hinge)
    contact = np.stack(in_contact)
    rows = []
    for name in variants:
        err = np.stack(errors[name])[contact]  # substeps of an env with a contact force
        physics = VARIANTS[name]
        rows.append({"variant": name, "impl": physics.impl, "iterations": physics.iterations,
                     "ls_iterations": physics.ls_iterations, "contact_substeps": int(contact.sum()),
                     "median_error": float(np.median(err)), "p95_error": float(np.percentile(err, 95)),
                     "max_error": float(err.max()), "share_over_1": float(np.mean(err > 1.0))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--motion", required=True, help="the clips' yaml (resets are drawn from them)")
    parser.add_argument("--variants", nargs="+", default=["jax", "warp", "jax_newton10", "warp_newton10"],
                        choices=sorted(VARIANTS))
    parser.add_argument("--envs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="control steps (each is the shipped 6 substeps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="contact_solve")
    args = parser.parse_args()
    if args.envs < 1 or args.steps < 1:
        raise SystemExit("--envs and --steps must be >= 1")
    rows = measure(args.motion, args.variants, args.envs, args.steps, args.seed)
    print(f"{'variant':<15} {'contact substeps':>16} {'median':>8} {'p95':>8} {'max':>8} {'> 1 rad/s':>10}")
    for r in rows:
        print(f"{r['variant']:<15} {r['contact_substeps']:>16} {r['median_error']:>8.3f} {r['p95_error']:>8.3f} "
              f"{r['max_error']:>8.2f} {100 * r['share_over_1']:>9.1f} %")
    note = ("largest joint-velocity error (rad/s or m/s) after one substep, against Newton 100 iterations "
            "(MJX), from the same state; substeps with a contact force only")
    rows = [{**r, "motion": args.motion, "envs": args.envs, "control_steps": args.steps} for r in rows]
    print(write_result(args.name, f"humanoid contact solve against a converged one: {note}", rows))


if __name__ == "__main__":
    main()
