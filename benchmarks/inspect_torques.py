"""Can the character's actuators make the clips' motion? Joint torques of each motion set by inverse dynamics.

For every clip of each motion set, at the clip's frame rate: the pose from the motion library, the
velocity and acceleration by central differences of ``qpos`` (``mj_differentiatePos``), then MuJoCo's
inverse dynamics without contacts gives the generalised force the motion needs. Its six root rows
are what the ground must supply; they are split between the feet that are on the ground (sole
within 5 cm of the floor) as the least-norm pair of foot wrenches, and the joint torques follow as
the remaining rows. Frames with no foot down (flight) or a root residual the feet cannot explain are
left out (the clip is not physical there). Printed per joint group: the 99th percentile of |torque|
against the environment's torque limit (the MJCF motor gear), and the share of frames over it.

The spring part of the PD law is what the environment clips (damping is the joint's, unclipped), so
the torque compared with the limit is the inverse-dynamics torque plus kd * qdot.

    PYTHONPATH=src python benchmarks/inspect_torques.py [--data FOLDER] [--sets walk run ...]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result

DATA = "/work/shared/data/humanoid"
SETS = ("walk", "run", "mummy_walk", "crane_pose", "single_left_punch", "spin_kick")
GROUPS = {  # joint group -> DOF indices (spec near-environments.md §5.2)
    "abdomen": [0, 1, 2], "neck": [3, 4, 5], "shoulders": [6, 7, 8, 10, 11, 12], "elbows": [9, 13],
    "hips": [14, 15, 16, 21, 22, 23], "knees": [17, 24], "ankles": [18, 19, 20, 25, 26, 27],
}


def clip_trajectories(lib, layout, hm, ml) -> list[tuple[np.ndarray, float]]:
    """(qpos of every frame (frames, nq), fps) of each clip, in one call of the motion library."""
    import jax.numpy as jnp

    frames, fps = np.asarray(lib.clip_frames), np.asarray(lib.clip_fps)
    clips = np.repeat(np.arange(len(frames)), frames)
    times = np.concatenate([np.arange(n) / f for n, f in zip(frames, fps)])
    m = ml.motion_state(lib, jnp.asarray(clips), jnp.asarray(times, jnp.float32))
    qpos = np.asarray(hm.qpos_from_pose(layout, m.root_pos, m.root_rot, m.dof_pos), np.float64)
    return [(q, float(f)) for q, f in zip(np.split(qpos, np.cumsum(frames)[:-1]), fps)]


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time (mocap noise would dominate second differences)."""
    if sigma <= 0:
        return x
    r = int(3 * sigma)
    w = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    w /= w.sum()
    pad = np.pad(x, ((r, r), (0, 0)), mode="edge")
    return np.stack([np.convolve(pad[:, j], w, mode="valid") for j in range(x.shape[1])], 1)


def joint_torques(model, data, qpos: np.ndarray, fps: float, feet: list[int], foot_geoms: list[int],
                  smooth_frames: float = 2.0):
    """(frames, 28) net joint torques and PD spring torques needed, |joint speeds|, and the frames kept."""
    import mujoco

    n, nv = len(qpos), model.nv
    dt = 1.0 / fps
    qvel = np.zeros((n, nv))
    for i in range(1, n - 1):  # central difference of positions on the manifold
        mujoco.mj_differentiatePos(model, qvel[i], 2 * dt, qpos[i - 1], qpos[i + 1])
    qvel = _smooth(qvel, smooth_frames)
    qacc = np.zeros((n, nv))
    qacc[2:-2] = (qvel[3:-1] - qvel[1:-3]) / (2 * dt)
    kd = model.dof_damping[6:]
    net, kept = np.zeros((n, nv - 6)), np.zeros(n, bool)
    jacp, jacr = np.zeros((3, nv)), np.zeros((3, nv))
    for i in range(2, n - 2):
        data.qpos[:], data.qvel[:], data.qacc[:] = qpos[i], qvel[i], qacc[i]
        mujoco.mj_inverse(model, data)
        need = data.qfrc_inverse - model.dof_damping * qvel[i]  # inverse dynamics counts the joints' damping as load
        down = [b for b, g in zip(feet, foot_geoms) if _geom_bottom(model, data, g) < 0.05]
        if not down:
            continue
        rows = []
        for b in down:  # each foot's wrench (force and torque at its body origin) in generalised coordinates
            mujoco.mj_jacBody(model, data, jacp, jacr, b)
            rows.append(np.vstack([jacp, jacr]))
        jac = np.vstack(rows)  # (6 k, nv)
        wrench, *_ = np.linalg.lstsq(jac[:, :6].T, need[:6], rcond=None)
        if np.linalg.norm(jac[:, :6].T @ wrench - need[:6]) > 1e-3 * max(1.0, np.linalg.norm(need[:6])):
            continue
        net[i] = need[6:] - jac[:, 6:].T @ wrench
        kept[i] = True
    return net, net + kd * qvel[:, 6:], np.abs(qvel[:, 6:]), kept


def _geom_bottom(model, data, g: int) -> float:
    """Lowest point of a box geom (the feet)."""
    return float(data.geom_xpos[g, 2] - np.abs(data.geom_xmat[g].reshape(3, 3)[2]) @ model.geom_size[g])


def inspect_set(path: str, limit_scale: float = 1.0) -> dict:
    import mujoco

    from near.envs.humanoid import model as hm
    from near.motion import library as ml

    model = hm.load_mj_model(hm.PhysicsConfig(floor_contacts="all"))
    model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONTACT
    layout = hm.make_layout(model)
    data = mujoco.MjData(model)
    feet = [model.body(n).id for n in hm.CONTACT_BODIES]
    foot_geoms = [int(np.flatnonzero(model.geom_bodyid == b)[0]) for b in feet]
    lib = ml.load_library(path)
    nets, springs, speeds, frames = [], [], [], 0
    for qpos, fps in clip_trajectories(lib, layout, hm, ml):
        net, spring, speed, kept = joint_torques(model, data, qpos, fps, feet, foot_geoms)
        nets.append(net[kept]), springs.append(spring[kept]), speeds.append(speed[2:-2])
        frames += len(qpos)
    net, spring = np.abs(np.concatenate(nets)), np.abs(np.concatenate(springs))
    speed = np.concatenate(speeds)
    limit = layout.torque_limit * limit_scale
    top_speed = limit / model.dof_damping[6:]  # where the clipped spring only balances the damping
    groups = {}
    for name, idx in GROUPS.items():
        lim = limit[idx]
        groups[name] = {
            "limit_nm": float(lim.max()),
            "net_p50_nm": float(np.percentile(net[:, idx].max(1), 50)),
            "net_p99_nm": float(np.percentile(net[:, idx].max(1), 99)),
            "net_over_limit_pct": float(100 * (net[:, idx] > lim).any(1).mean()),
            "spring_p99_nm": float(np.percentile(spring[:, idx].max(1), 99)),
            "spring_over_limit_pct": float(100 * (spring[:, idx] > lim).any(1).mean()),
            "speed_cap_rad_s": float(top_speed[idx].min()),
            "speed_p99_rad_s": float(np.percentile(speed[:, idx].max(1), 99)),
            "speed_over_cap_pct": float(100 * (speed[:, idx] > top_speed[idx]).any(1).mean()),
        }
    return {"frames": frames, "frames_used": int(len(net)),
            "net_over_any_limit_pct": float(100 * (net > limit).any(1).mean()),
            "spring_over_any_limit_pct": float(100 * (spring > limit).any(1).mean()), "groups": groups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--name", default="torques_humanoid")
    args = parser.parse_args()
    rows = []
    for name in args.sets:
        path = os.path.join(args.data, f"amp_humanoid_{name}.yaml")
        result = inspect_set(path)
        rows.append({"motion": name, **result})
        g = result["groups"]
        print(f"\n{name}: {result['frames_used']}/{result['frames']} frames with a foot down; over some limit: "
              f"net torque {result['net_over_any_limit_pct']:.0f} %, PD spring {result['spring_over_any_limit_pct']:.0f} %")
        print(f"  {'group':<10} {'limit':>6} {'net p50':>8} {'net p99':>8} {'% over':>7} {'spring p99':>11} {'% over':>7}"
              f" {'speed cap':>10} {'speed p99':>10} {'% over':>7}")
        for k, v in g.items():
            print(f"  {k:<10} {v['limit_nm']:>6.0f} {v['net_p50_nm']:>8.0f} {v['net_p99_nm']:>8.0f} "
                  f"{v['net_over_limit_pct']:>7.1f} {v['spring_p99_nm']:>11.0f} {v['spring_over_limit_pct']:>7.1f} "
                  f"{v['speed_cap_rad_s']:>10.1f} {v['speed_p99_rad_s']:>10.1f} {v['speed_over_cap_pct']:>7.1f}")
    print(write_result(args.name, "joint torques the clips need (inverse dynamics) against the torque limits", rows))


if __name__ == "__main__":
    main()
