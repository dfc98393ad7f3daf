"""Do a humanoid policy's feet slide while they touch the floor? (issue #16)

Rolls a trained policy out (deterministic actions, from the env's resets) and records every physics
substep's foot boxes. For each foot, the corner lowest at one substep is followed to the next: where
both are within 2 mm of the floor, its horizontal speed is how fast the touching foot slides. Binned by
the corner's depth in the floor (the deeper, the more load the soft contact carries). Extra
``key=value`` arguments are config overrides, e.g. ``task.physics.impratio=10``: the same policy under
other friction settings (a policy that keeps up only by sliding falls there).

    PYTHONPATH=src python benchmarks/inspect_foot_slip.py --run RUN_DIR --motion SET.yaml [--envs 16]
        [--steps 150] [--out foot_slip] [--append] [task.physics.impratio=10 ...]

``--creep`` instead checks the friction model itself: one foot box (the humanoid's size, contact
parameters and solver options) loaded with the character's 49 kg, pushed sideways with a fraction of
mu x load while the load swings at 0-15 Hz. Under Coulomb friction it would not move at all; the
centimetres per second it creeps are MuJoCo's soft friction.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result

from near.cli import configure_jax

TOUCH = 0.002  # m: a corner this close to the floor (or in it) touches
DEPTHS = ((-1.0, -0.002), (-0.002, 0.0), (0.0, TOUCH))  # corner height bins, m


def foot_frames(run: str, motion: str, overrides: list[str], envs: int, steps: int, seed: int):
    """World positions and rotations of both foot boxes every substep (envs, steps * substeps, 2, ...),
    which substeps are before the env's first termination, the root's horizontal travel of the envs
    still up at the end, the foot boxes' half sizes and the substep length."""
    import jax
    import jax.numpy as jnp

    from near.config import compose_config
    from near.envs.humanoid import model as hm
    from near.eval.policy_eval import with_run_physics
    from near.factories import make_env
    from near.restore import load_policy
    from near.rl.ppo import act

    # the run's own physics unless the overrides name task.physics keys (as near play / near eval)
    cfg = with_run_physics(compose_config(["task=HumanoidNEAR", f"motion={motion}", f"checkpoint={run}", *overrides]),
                           list(overrides))
    env = make_env(cfg)
    run_cfg, params, obs_stats, _ = load_policy(cfg, run)
    feet = jnp.array([env.mj_model.geom(n).id for n in hm.CONTACT_BODIES])

    def step(state, action):  # env.step, keeping the feet of every substep
        data, frames = env.simulate(state, action, record=lambda d: (d.geom_xpos[feet], d.geom_xmat[feet]))
        new, _, _, done, _ = env.finish_step(state, data)
        return new, done, frames

    @jax.jit
    def rollout(key):
        start, _ = jax.vmap(env.reset)(jax.random.split(key, envs))

        def body(carry, _):
            state, alive = carry
            action = act(params, run_cfg.train, obs_stats, jax.vmap(env.policy_obs)(state), env.action_dim)
            new, done, frames = jax.vmap(step)(state, action)
            return (new, alive & ~done), (frames, alive)

        (end, up), (frames, alive) = jax.lax.scan(body, (start, jnp.ones(envs, bool)), None, length=steps)
        return frames, alive, up, jnp.linalg.norm(end.qpos[:, :2] - start.qpos[:, :2], axis=-1)

    (pos, mat), alive, up, travel = jax.device_get(rollout(jax.random.PRNGKey(seed)))
    sub = pos.shape[2]
    pos = pos.transpose(1, 0, 2, 3, 4).reshape(envs, steps * sub, 2, 3)
    mat = mat.transpose(1, 0, 2, 3, 4, 5).reshape(envs, steps * sub, 2, 3, 3)
    alive = np.repeat(alive.T, sub, axis=1)
    size = np.asarray(env.mj_model.geom_size)[np.asarray(feet)]
    return pos, mat, alive, travel[up], float(up.mean()), size, float(env.mj_model.opt.timestep)


def slide_speeds(pos, mat, alive, size, dt) -> np.ndarray:
    """(n, 2): horizontal speed and height of each touching lowest corner, substep to substep."""
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    rows = []
    for e in range(pos.shape[0]):
        for f in range(2):
            corners = pos[e, :, f, None, :] + np.einsum("tij,cj->tci", mat[e, :, f], signs * size[f])
            low = np.argmin(corners[..., 2], axis=1)[:-1]
            t = np.arange(len(low))
            here, after = corners[t, low], corners[t + 1, low]  # one material corner, one substep apart
            touching = (here[:, 2] < TOUCH) & (after[:, 2] < TOUCH) & alive[e, :-1] & alive[e, 1:]
            speed = np.linalg.norm(after[:, :2] - here[:, :2], axis=1) / dt
            rows.append(np.stack([speed[touching], here[touching, 2]], -1))
    return np.concatenate(rows)


def creep(fraction: float, swing_hz: float, cone: str = "pyramidal", impratio: float = 1.0, mass: float = 49.0) -> float:
    """cm/s a foot box on the floor drifts under a push of ``fraction`` x mu x its load, the load swinging
    by +-70 % at ``swing_hz``, with the humanoid's contact parameters and solver options."""
    import mujoco

    from near.envs.humanoid import model as hm

    human = hm.load_mj_model(hm.PhysicsConfig(cone=cone, impratio=impratio))
    foot, opt = human.geom("right_foot").id, human.opt
    half = " ".join(f"{v:g}" for v in human.geom_size[foot])
    xml = f"""<mujoco><option timestep="{opt.timestep:g}" iterations="{opt.iterations}" ls_iterations="{opt.ls_iterations}"
      solver="Newton" integrator="Euler" cone="{cone}" impratio="{impratio:g}"/>
      <worldbody><geom type="plane" size="0 0 .25" condim="3" friction="{' '.join(f'{v:g}' for v in human.geom_friction[0])}"/>
      <body pos="0 0 {human.geom_size[foot][2] + 0.002:g}"><freejoint/>
        <geom type="box" size="{half}" mass="{mass:g}" condim="{human.geom_condim[foot]}"
          friction="{' '.join(f'{v:g}' for v in human.geom_friction[foot])}"
          solref="{' '.join(f'{v:g}' for v in human.geom_solref[foot])}" solimp="{' '.join(f'{v:g}' for v in human.geom_solimp[foot][:3])}"/>
      </body></worldbody></mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    for _ in range(200):  # settle
        mujoco.mj_step(model, data)
    x0, weight, mu = data.qpos[0], mass * 9.81, float(human.geom_friction[foot][0])
    steps = round(1.0 / model.opt.timestep)
    for k in range(steps):
        extra = 0.7 * weight * np.sin(2 * np.pi * swing_hz * k * model.opt.timestep)
        data.xfrc_applied[1, 2] = -extra  # pressed down, then lifted: the load swings
        data.xfrc_applied[1, 0] = fraction * mu * (weight + extra)  # always inside the friction cone
        mujoco.mj_step(model, data)
    return float(100 * (data.qpos[0] - x0) / (steps * model.opt.timestep))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a humanoid policy's run folder")
    parser.add_argument("--motion")
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="foot_slip")
    parser.add_argument("--append", action="store_true", help="add the row to benchmarks/results/OUT.json's")
    parser.add_argument("--creep", action="store_true", help="check the friction model on one foot box instead")
    args, overrides = parser.parse_known_args(argv)
    if args.creep:
        rows = [{"cone": cone, "impratio": imp, "push_of_mu_load": frac, "load_swing_hz": hz,
                 "creep_cm_per_s": creep(frac, hz, cone, imp)}
                for cone, imp in (("pyramidal", 1.0), ("elliptic", 10.0)) for frac, hz in ((0.5, 0), (0.5, 15), (0.8, 15))]
        for r in rows:
            print(f"{r['cone']:9s} impratio {r['impratio']:4.1f}: push {r['push_of_mu_load']:.1f} mu load, load swinging at "
                  f"{r['load_swing_hz']:2.0f} Hz -> {r['creep_cm_per_s']:.2f} cm/s")
        print(write_result(f"{args.out}_creep", "inspect_foot_slip --creep", rows))
        return 0
    if not (args.run and args.motion):
        parser.error("--run and --motion are needed (or --creep)")
    configure_jax()
    pos, mat, alive, travel, up, size, dt = foot_frames(args.run, args.motion, overrides, args.envs, args.steps, args.seed)
    slides = slide_speeds(pos, mat, alive, size, dt)
    speed, depth = slides[:, 0], slides[:, 1]
    row = {"run": args.run, "motion": os.path.basename(args.motion), "overrides": overrides, "envs": args.envs,
           "steps": args.steps, "up_at_end": up, "root_travel_m": float(travel.mean()) if len(travel) else None,
           "touching_substeps": len(speed),
           "slide_speed_median": float(np.median(speed)) if len(speed) else None,
           "slide_speed_p90": float(np.percentile(speed, 90)) if len(speed) else None,
           "share_above_0.1": float(np.mean(speed > 0.1)) if len(speed) else None}
    for lo, hi in DEPTHS:
        inside = (depth >= lo) & (depth < hi)
        row[f"slide_speed_median_{lo * 1000:+.0f}_{hi * 1000:+.0f}mm"] = float(np.median(speed[inside])) if inside.any() else None
    for key, value in row.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    rows = [row]
    previous = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{args.out}.json")
    if args.append and os.path.exists(previous):
        with open(previous) as fh:
            rows = json.load(fh)["results"] + rows
    print(write_result(args.out, "inspect_foot_slip", rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
