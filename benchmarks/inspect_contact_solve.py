"""How far from converged is the humanoid's contact solve, per physics setting? (issue #20)

MJX (JAX) and MuJoCo Warp both run Newton with the shipped 3 iterations, and neither converges there
when the feet land. From the same states, every physics substep is taken once per setting and once
with a converged solve (Newton, 100 iterations, 50 line-search steps, MJX): the largest joint-velocity
difference after the substep is that setting's error. The states follow the shipped setting from
reference-state resets on the clips under small random PD targets (the character stays up), so the
substeps are those a policy meets: feet landing and pushing.

    PYTHONPATH=src python benchmarks/inspect_contact_solve.py --motion SET.yaml [--envs 32] [--steps 4]
        [--variants jax warp jax_newton10 warp_newton10] [--name contact_solve]

``warp`` variants need warp-lang (``pip install warp-lang``; on a CPU Warp runs, slowly). ``c`` variants
are MuJoCo's own C library (``mujoco.mj_step``, float64), the reference both MJX and Warp follow.
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

SHIPPED = hm.PhysicsConfig(floor_contacts="feet", foot_contact="box")  # the physics shipped until 2026-12-04
VARIANTS = {
    "jax": SHIPPED,
    "warp": dataclasses.replace(SHIPPED, impl="warp"),
    "jax_newton10": dataclasses.replace(SHIPPED, iterations=10),
    "warp_newton10": dataclasses.replace(SHIPPED, impl="warp", iterations=10),
    "jax_newton30": dataclasses.replace(SHIPPED, iterations=30, ls_iterations=20),
    "warp_newton30": dataclasses.replace(SHIPPED, impl="warp", iterations=30, ls_iterations=20),
    "jax_corners": dataclasses.replace(SHIPPED, foot_contact="corners"),
    "jax_corners_newton10": dataclasses.replace(SHIPPED, foot_contact="corners", iterations=10),
    "c": SHIPPED,  # names starting with "c" run MuJoCo's C library (c_substep_fn)
    "c_newton100": dataclasses.replace(SHIPPED, iterations=100, ls_iterations=50),
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


def c_substep_fn(env: HumanoidEnv, physics: hm.PhysicsConfig):
    """The same substep through MuJoCo's C library, one env at a time (qpos, qvel come back as numpy)."""
    import mujoco

    model = hm.load_mj_model(physics)
    data = mujoco.MjData(model)
    torque = jax.jit(jax.vmap(lambda q, b, h: hm.pd_torque(env.layout, q, b, h)))

    def substep(qpos, qvel, warmstart, ball_target, hinge_target):
        tau = np.asarray(torque(qpos, ball_target, hinge_target), np.float64)
        q, v, w = (np.asarray(x, np.float64) for x in (qpos, qvel, warmstart))
        out_q, out_v = np.empty_like(q), np.empty_like(v)
        for i in range(q.shape[0]):
            data.qpos[:], data.qvel[:], data.qacc_warmstart[:] = q[i], v[i], w[i]
            data.qfrc_applied[:6], data.qfrc_applied[6:] = 0.0, tau[i]
            mujoco.mj_step(model, data)
            out_q[i], out_v[i] = data.qpos, data.qvel
        return out_q, out_v, None, None

    return substep


def contact_counter(env: HumanoidEnv):
    """qpos -> the penetrating contacts (dist < 0) per env found by MJX's collision and by MuJoCo C's."""
    import mujoco

    mjx, model = env._mjx, env.mj_model
    data = mujoco.MjData(model)

    @jax.jit
    @jax.vmap
    def mjx_count(qpos):  # collision alone: the contacts need no solve
        data = mjx.kinematics(env.mjx_model, env._template.replace(qpos=qpos))
        return jnp.sum(mjx.collision(env.mjx_model, data)._impl.contact.dist < 0)

    def count(qpos):
        c = []
        for q in np.asarray(qpos, np.float64):
            data.qpos[:] = q
            mujoco.mj_kinematics(model, data)
            mujoco.mj_collision(model, data)
            c.append(int(np.sum(data.contact.dist[: data.ncon] < 0)))
        return np.asarray(mjx_count(qpos)), np.asarray(c)

    return count


def measure(motion: str, variants: list[str], envs: int, steps: int, seed: int, reference: str = "mjx") -> list[dict]:
    library = load_library(motion)

    def make(physics):
        return HumanoidEnv(library, HumanoidConfig(physics=dataclasses.replace(physics, warp_envs=envs)))

    shipped = make(SHIPPED)
    converged_mjx = substep_fn(make(CONVERGED))  # also says which substeps have a contact force
    fns = {name: c_substep_fn(shipped, VARIANTS[name]) if name.startswith("c") else substep_fn(make(VARIANTS[name]))
           for name in variants}
    advance = fns["jax"] if "jax" in fns else substep_fn(shipped)  # the states follow the shipped setting
    # the converged solve every setting is held against: MJX's, or MuJoCo C's (--reference c)
    c_reference = c_substep_fn(shipped, CONVERGED) if reference == "c" else None
    state, _ = jax.vmap(shipped._reset)(jax.random.split(jax.random.PRNGKey(seed), envs))
    qpos, qvel, warm = state.qpos, state.qvel, state.warmstart
    errors = {name: [] for name in variants}
    in_contact, counts = [], []
    count_contacts = contact_counter(shipped)
    for step in range(steps):
        action = 0.2 * jax.random.normal(jax.random.PRNGKey(seed + 1 + step), (envs, shipped.action_dim))
        ball, hinge = jax.vmap(lambda a: hm.action_to_targets(shipped.layout, a))(action)
        for _ in range(shipped.config.physics.substeps):
            _, v_ref, _, force = converged_mjx(qpos, qvel, warm, ball, hinge)
            if c_reference is not None:
                _, v_ref, _, _ = c_reference(qpos, qvel, warm, ball, hinge)
            in_contact.append(np.asarray(force) > 1.0)
            counts.append(count_contacts(qpos))
            outputs = {name: fn(qpos, qvel, warm, ball, hinge) for name, fn in fns.items()}
            for name, (_, v, _, _) in outputs.items():
                errors[name].append(np.abs(np.asarray(v) - np.asarray(v_ref)).max(axis=1))
            qpos, qvel, warm, _ = outputs["jax"] if "jax" in outputs else advance(qpos, qvel, warm, ball, hinge)
    contact = np.stack(in_contact)
    mjx_counts, c_counts = (np.stack([c[i] for c in counts]) for i in (0, 1))
    rows = [{"variant": "contacts", "penetrating_contacts_mjx": int(mjx_counts.sum()),
             "penetrating_contacts_c": int(c_counts.sum()),
             "share_of_states_mjx_fewer": float(np.mean(mjx_counts < c_counts)),
             "share_of_states_mjx_more": float(np.mean(mjx_counts > c_counts)), "states": int(mjx_counts.size)}]
    for name in variants:
        err = np.stack(errors[name])[contact]  # substeps of an env with a contact force
        physics = VARIANTS[name]
        rows.append({"variant": name, "impl": "mujoco (C)" if name.startswith("c") else physics.impl, "iterations": physics.iterations,
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
    parser.add_argument("--reference", choices=("mjx", "c"), default="mjx",
                        help="the converged solve (Newton, 100 iterations) to compare with: MJX's or MuJoCo C's")
    parser.add_argument("--name", default="contact_solve")
    args = parser.parse_args()
    if args.envs < 1 or args.steps < 1:
        raise SystemExit("--envs and --steps must be >= 1")
    rows = measure(args.motion, args.variants, args.envs, args.steps, args.seed, args.reference)
    counted, rows = rows[0], rows[1:]
    print(f"penetrating contacts over {counted['states']} states: MJX's collision {counted['penetrating_contacts_mjx']}, "
          f"MuJoCo C's {counted['penetrating_contacts_c']}; MJX finds fewer in "
          f"{100 * counted['share_of_states_mjx_fewer']:.1f} % of the states, more in {100 * counted['share_of_states_mjx_more']:.1f} %")
    print(f"{'variant':<15} {'contact substeps':>16} {'median':>8} {'p95':>8} {'max':>8} {'> 1 rad/s':>10}")
    for r in rows:
        print(f"{r['variant']:<15} {r['contact_substeps']:>16} {r['median_error']:>8.3f} {r['p95_error']:>8.3f} "
              f"{r['max_error']:>8.2f} {100 * r['share_over_1']:>9.1f} %")
    note = (f"largest joint-velocity error (rad/s or m/s) after one substep, against Newton 100 iterations "
            f"({'MJX' if args.reference == 'mjx' else 'MuJoCo C'}), from the same state; substeps with a contact force only")
    rows = [counted] + [{**r, "reference": args.reference, "motion": args.motion, "envs": args.envs, "control_steps": args.steps}
            for r in rows]
    print(write_result(args.name, f"humanoid contact solve against a converged one: {note}", rows))


if __name__ == "__main__":
    main()
