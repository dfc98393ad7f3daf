"""Can the body hold a clip's pose with the PD targets set to it? (issue #16)

Starts the humanoid in a clip's frame (pose and velocities, as the reference-state init does) and
holds the action whose PD targets are that frame's joint angles, with no feedback: a pose that stays
up so asks nothing of the policy but to stay put; one that falls asks it to balance actively. For
each motion set it takes frames at a few fractions of every clip, runs them side by side (vmap) for
``--seconds`` and reports how many stay up, how long the others last, and how far the root drifts.
Frames of the crane pose's held one-legged stance against its two-footed start and the other sets'
frames say whether balancing on one foot is what the policies avoid.

    PYTHONPATH=src python benchmarks/inspect_pose_hold.py --data FOLDER [--sets crane_pose walk ...]
        [--fractions 0.05 0.5 0.7 0.9] [--seconds 3] [--still]

Writes benchmarks/results/pose_hold.json (pose_hold_still.json with --still: each frame's pose at
rest, without the clip's velocities) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import add_motion_set_args, motion_set_paths, write_result

from near.envs.humanoid import model as hm
from near.envs.humanoid.env import HumanoidConfig, HumanoidEnv
from near.motion import humanoid
from near.motion import library as ml



def hold_action(layout: hm.Layout, dof_pos: jax.Array) -> jax.Array:
    """The action whose PD targets are ``dof_pos`` (hm.action_to_targets inverted, clipped to [-1, 1])."""
    action = jnp.zeros(dof_pos.shape)
    action = action.at[..., layout.ball_dof].set(dof_pos[..., layout.ball_dof] / jnp.pi)
    lo, hi = layout.hinge_range[:, 0], layout.hinge_range[:, 1]
    action = action.at[..., layout.hinge_dof].set((dof_pos[..., layout.hinge_dof] - 0.5 * (lo + hi)) / (0.7 * (hi - lo)))
    return jnp.clip(action, -1.0, 1.0)


def make_hold(env: HumanoidEnv, steps: int, still: bool = False):
    """``hold(clips, times) -> dict`` per start: whether it stayed up, control steps until the first
    fall (``steps`` if none), the root's horizontal drift at the end (or at the fall) and the height
    between the clip's two foot origins at the start. One compiled program per set, for every fraction."""
    feet = jnp.array([humanoid.BODY_NAMES.index("right_foot"), humanoid.BODY_NAMES.index("left_foot")])

    @jax.jit
    def run(clips, times):
        motion = ml.motion_state(env.library, clips, times)
        if still:  # the frame's pose at rest: no momentum carried in from the clip
            motion = motion._replace(root_vel=jnp.zeros_like(motion.root_vel), dof_vel=jnp.zeros_like(motion.dof_vel),
                                     root_ang_vel=jnp.zeros_like(motion.root_ang_vel))
        state = jax.vmap(env.state_from_motion)(motion)
        action = hold_action(env.layout, motion.dof_pos)
        start_xy = state.qpos[:, :2]

        def body(carry, _):
            state, alive, lasted, drift = carry
            new, _, _, _, info = jax.vmap(env.step)(state, action)
            lasted = lasted + alive.astype(jnp.int32)
            drift = jnp.where(alive, jnp.linalg.norm(new.qpos[:, :2] - start_xy, axis=-1), drift)
            return (new, alive & ~info["fallen"], lasted, drift), None

        n = clips.shape[0]
        carry = (state, jnp.ones(n, bool), jnp.zeros(n, jnp.int32), jnp.zeros(n))
        (_, alive, lasted, drift), _ = jax.lax.scan(body, carry, None, length=steps)
        feet_z = motion.body_pos[:, feet, 2]
        return {"stayed_up": alive, "steps": lasted, "drift_m": drift,
                "feet_gap_m": jnp.abs(feet_z[:, 0] - feet_z[:, 1])}

    return lambda clips, times: {k: np.asarray(v) for k, v in run(jnp.asarray(clips), jnp.asarray(times)).items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_motion_set_args(parser)
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.05, 0.5, 0.7, 0.9])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--still", action="store_true", help="start at rest (velocities zero), not with the clip's")
    args = parser.parse_args(argv)
    rows = []
    print("| motion set | clip time (share of each clip) | starts | one foot up (> 15 cm) | stay up | "
          "time up, median (s) | root drift, median (m) |\n|---|---:|---:|---:|---:|---:|---:|")
    for name, path in motion_set_paths(args, 7):
        lib = ml.load_library(path)
        env = HumanoidEnv(lib, HumanoidConfig())
        hold = make_hold(env, int(round(args.seconds / env.control_dt)), args.still)
        clips = np.arange(lib.num_clips, dtype=np.int32)
        for fraction in args.fractions:
            times = (fraction * np.asarray(lib.clip_length)).astype(np.float32)
            out = hold(clips, times)
            one_foot = float(np.mean(out["feet_gap_m"] > 0.15))
            row = {"set": name, "fraction": fraction, "starts": len(clips), "one_foot_up_share": one_foot,
                   "stayed_up_share": float(out["stayed_up"].mean()),
                   "seconds_up_median": float(np.median(out["steps"]) * env.control_dt),
                   "drift_m_median": float(np.median(out["drift_m"])), "seconds": args.seconds,
                   "still": args.still}
            rows.append(row)
            print(f"| {name} | {fraction:.2f} | {len(clips)} | {100 * one_foot:.0f} % | {100 * row['stayed_up_share']:.0f} % | "
                  f"{row['seconds_up_median']:.2f} | {row['drift_m_median']:.2f} |", flush=True)
    print(write_result("pose_hold_still" if args.still else "pose_hold", "inspect_pose_hold", rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
