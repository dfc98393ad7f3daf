"""The per-step state of the humanoid: the original's 105-number observation (spec §5.5).

One function serves the environment (from simulator state) and the demonstrations (from motion
clips), so that demo pairs and rollout pairs are built identically.

| index  | size | content                                                                  |
|--------|------|--------------------------------------------------------------------------|
| 0      | 1    | root height                                                              |
| 1-6    | 6    | tan-norm of the root rotation (global; heading-free if `local_root`)     |
| 7-9    | 3    | root linear velocity in the heading frame                                |
| 10-12  | 3    | root angular velocity in the heading frame                               |
| 13-64  | 52   | DOF positions: tan-norm (6) per ball joint, the angle per hinge          |
| 65-92  | 28   | DOF velocities                                                           |
| 93-104 | 12   | hands and feet relative to the root, in the heading frame                |
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from near.utils import rotations as rot

OBS_DIM = 105
# the 105 numbers of observation(), by feature group
FEATURE_GROUPS = {"root height": range(0, 1), "root rotation": range(1, 7), "root velocity": range(7, 10),
                  "root angular velocity": range(10, 13), "joint angles": range(13, 65),
                  "joint velocities": range(65, 93), "key bodies": range(93, 105)}
# the velocities among them: the root's linear and angular and the joints'
VELOCITY_DIMS = np.concatenate([np.asarray(FEATURE_GROUPS[g]) for g in ("root velocity", "root angular velocity",
                                                                         "joint velocities")])
ANGLE_DIMS = np.asarray(FEATURE_GROUPS["joint angles"])

# DOF groups of the 28-vector in joint order: (start, width).
DOF_GROUPS = ((0, 3), (3, 3), (6, 3), (9, 1), (10, 3), (13, 1), (14, 3), (17, 1), (18, 3), (21, 3), (24, 1), (25, 3))


def dof_obs(dof_pos: jnp.ndarray) -> jnp.ndarray:
    """52 numbers: each 3-DOF exp map as the tan-norm of its rotation, each hinge angle as is."""
    parts = []
    for start, width in DOF_GROUPS:
        value = dof_pos[..., start : start + width]
        parts.append(rot.tan_norm(rot.from_exp_map(value)) if width == 3 else value)
    return jnp.concatenate(parts, axis=-1)


def observation(root_pos, root_rot, root_vel, root_ang_vel, dof_pos, dof_vel, key_pos, local_root: bool = False):
    """The 105-number state. Velocities are world-frame; key_pos (..., 4, 3) are world positions."""
    heading_inv = rot.heading_quat_inverse(root_rot)
    root_obs = rot.multiply(heading_inv, root_rot) if local_root else root_rot
    local_vel = rot.rotate(heading_inv, root_vel)
    local_ang_vel = rot.rotate(heading_inv, root_ang_vel)
    rel_key = rot.rotate(heading_inv[..., None, :], key_pos - root_pos[..., None, :])
    return jnp.concatenate(
        [
            root_pos[..., 2:3],
            rot.tan_norm(root_obs),
            local_vel,
            local_ang_vel,
            dof_obs(dof_pos),
            dof_vel,
            rel_key.reshape(rel_key.shape[:-2] + (12,)),
        ],
        axis=-1,
    )


# Feature masks of spatial composition (spec §5.10), over one 105-half.
_ROOT = np.arange(0, 13)
_DOF_OBS_SLICES = {  # joint -> indices into the 105-vector (positions, then velocities)
    "abdomen": (range(13, 19), range(65, 68)),
    "neck": (range(19, 25), range(68, 71)),
    "right_shoulder": (range(25, 31), range(71, 74)),
    "right_elbow": (range(31, 32), range(74, 75)),
    "left_shoulder": (range(32, 38), range(75, 78)),
    "left_elbow": (range(38, 39), range(78, 79)),
    "right_hip": (range(39, 45), range(79, 82)),
    "right_knee": (range(45, 46), range(82, 83)),
    "right_ankle": (range(46, 52), range(83, 86)),
    "left_hip": (range(52, 58), range(86, 89)),
    "left_knee": (range(58, 59), range(89, 90)),
    "left_ankle": (range(59, 65), range(90, 93)),
}
_UPPER = ("neck", "right_shoulder", "right_elbow", "left_shoulder", "left_elbow")
_LOWER = ("abdomen", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")


def feature_mask(kind: str) -> np.ndarray:
    """(105,) 0/1 mask: 'upper_body' or 'lower_body' (the root block is always kept)."""
    if kind not in ("upper_body", "lower_body"):
        raise ValueError(f"feature mask must be 'upper_body' or 'lower_body', got {kind!r}")
    joints, keys = (_UPPER, range(93, 99)) if kind == "upper_body" else (_LOWER, range(99, 105))
    mask = np.zeros(OBS_DIM, np.float32)
    mask[_ROOT] = 1.0
    for j in joints:
        pos, vel = _DOF_OBS_SLICES[j]
        mask[list(pos)] = 1.0
        mask[list(vel)] = 1.0
    mask[list(keys)] = 1.0
    return mask
