"""How high the humanoid clips float above the floor (issue #16): each frame's pose is placed in MuJoCo
and the lowest point of the character's geoms (boxes, spheres, capsules) is taken. A simulated
character stands on the floor, so a clip whose lowest point sits h above it is h higher than any
physical policy can be: the root height ratio's ceiling against that clip is about 1 - h / root height.

    PYTHONPATH=src python benchmarks/inspect_clip_clearance.py [--data FOLDER] [--sets walk run ...]

Writes benchmarks/results/clip_clearance.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys

import mujoco
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import add_motion_set_args, motion_set_paths, write_result

from near.envs.humanoid import model as hm
from near.motion.humanoid import dof_from_local_rot
from near.motion.library import load_library



def lowest_point(model: mujoco.MjModel, data: mujoco.MjData) -> float:
    """The lowest z of the character's geoms (the floor, body 0, excluded)."""
    low = np.inf
    for g in range(model.ngeom):
        if model.geom_bodyid[g] == 0:
            continue
        kind, size = model.geom_type[g], model.geom_size[g]
        rot, centre = data.geom_xmat[g].reshape(3, 3), data.geom_xpos[g]
        if kind == mujoco.mjtGeom.mjGEOM_BOX:
            z = centre[2] - np.abs(rot[2]) @ size
        elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            z = centre[2] - size[0]
        elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
            z = centre[2] - abs(rot[2, 2]) * size[1] - size[0]
        else:
            continue
        low = min(low, z)
    return float(low)


def clearance(path: str) -> dict:
    model = hm.load_mj_model(hm.PhysicsConfig())
    layout = hm.make_layout(model, "none")
    data = mujoco.MjData(model)
    lib = load_library(path)
    dof = dof_from_local_rot(lib.local_rot)
    qpos = np.asarray(hm.qpos_from_pose(layout, lib.root_pos, lib.local_rot[:, 0], dof))
    low = np.empty(len(qpos))
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        low[i] = lowest_point(model, data)
    root_z = float(np.median(np.asarray(lib.root_pos)[:, 2]))
    median = float(np.median(low))
    return {"frames": len(low), "lowest_point_median_m": median, "lowest_point_p10_m": float(np.percentile(low, 10)),
            "lowest_point_p90_m": float(np.percentile(low, 90)), "root_height_median_m": root_z,
            "height_ratio_ceiling": 1.0 - max(median, 0.0) / root_z}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_motion_set_args(parser)
    args = parser.parse_args(argv)
    rows = []
    print("| motion set | frames | lowest point: median (p10, p90) | root height (median) | height-ratio ceiling |\n|---|---:|---:|---:|---:|")
    for name, path in motion_set_paths(args, 5):
        row = {"set": name, **clearance(path)}
        rows.append(row)
        print(f"| {name} | {row['frames']} | {100 * row['lowest_point_median_m']:.1f} cm ({100 * row['lowest_point_p10_m']:.1f}, "
              f"{100 * row['lowest_point_p90_m']:.1f}) | {row['root_height_median_m']:.3f} m | {row['height_ratio_ceiling']:.3f} |")
    print(write_result("clip_clearance", "inspect_clip_clearance", rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
